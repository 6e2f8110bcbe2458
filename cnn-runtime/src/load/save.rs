//! Writing a network's state_dict tensors as a safetensors file, the way
//! `safetensors.torch.save_file` lays it out.

use alloc::{format, string::String, vec::Vec};
use core::fmt::Write;

use crate::TensorSpec;

/// The safetensors file of the tensors `specs` names, as F32, their values taken from `weights`
/// at each spec's offset; `None` if a spec lies outside `weights`.
///
/// As `safetensors.torch.save_file` writes it: tensors sorted by name (all have the same type),
/// `{"format": "pt"}` as metadata, the header padded with spaces to a multiple of 8 bytes.
pub(crate) fn write_safetensors(specs: &[TensorSpec], weights: &[f32]) -> Option<Vec<u8>> {
    let mut sorted: Vec<&TensorSpec> = specs.iter().collect();
    sorted.sort_by_key(|s| s.name);
    let mut json = String::from(r#"{"__metadata__":{"format":"pt"}"#);
    let mut begin = 0usize;
    for spec in &sorted {
        let end = begin + 4 * spec.len();
        let shape: Vec<String> = spec.shape.iter().map(|d| format!("{d}")).collect();
        // Writing to a `String` cannot fail.
        let _ = write!(
            json,
            r#","{}":{{"dtype":"F32","shape":[{}],"data_offsets":[{begin},{end}]}}"#,
            Escaped(spec.name),
            shape.join(",")
        );
        begin = end;
    }
    json.push('}');
    while json.len() % 8 != 0 {
        json.push(' ');
    }
    let mut file = Vec::with_capacity(8 + json.len() + begin);
    file.extend_from_slice(&(json.len() as u64).to_le_bytes());
    file.extend_from_slice(json.as_bytes());
    for spec in sorted {
        let values = weights.get(spec.offset..spec.offset + spec.len())?;
        file.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    }
    Some(file)
}

/// A string's JSON escaping (the macro's names never need it; a hand-built spec might).
struct Escaped<'a>(&'a str);

impl core::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}
