//! Weight files: safetensors as PyTorch writes them (`safetensors.torch.save_file(model.state_dict(),
//! path)`), read with or without an allocator, and written back.
//!
//! The reader is our own rather than the `safetensors` crate's so that a device without an
//! allocator loads the same files through the same checks; the tests read what we write, and we
//! read what that crate writes.

mod header;
#[cfg(feature = "alloc")]
mod save;

use core::ops::ControlFlow;

pub use header::{Dims, MAX_RANK};
use header::{Entry, Header, Name};
#[cfg(feature = "alloc")]
pub(crate) use save::write_safetensors;

use crate::{Error, Fault, TensorSpec};

/// A tensor of a weight file that does not fit the network, as the reader meets it.
enum Found<'s, 'a> {
    Missing(&'s TensorSpec),
    Shape(&'s TensorSpec, Dims),
    Dtype(&'s TensorSpec, &'static str),
    NonFinite(&'s TensorSpec, usize),
    Duplicate(&'s TensorSpec),
    Unexpected(Name<'a>),
}

/// Checks that every spec's range lies inside `dst`, so that no later slice can fail.
fn check_room(specs: &[TensorSpec], dst: &[f32]) -> Result<(), Error> {
    let needed = specs
        .iter()
        .map(|s| s.offset.saturating_add(s.len()))
        .max()
        .unwrap_or(0);
    if needed > dst.len() {
        return Err(Error::WeightsLength {
            expected: needed,
            found: dst.len(),
        });
    }
    Ok(())
}

/// Reads each tensor `specs` names into `dst` at its offset and tells `report` about every tensor
/// that does not fit, the specs' problems in their order, then the file's unexpected tensors in
/// the file's order; stops early if `report` breaks. `entries` gives the file's (checked)
/// tensors, afresh at each call; `dst` has room for every spec (`check_room`).
fn read<'s, 'a, I: Iterator<Item = Entry<'a>>>(
    entries: impl Fn() -> I,
    specs: &'s [TensorSpec],
    dst: &mut [f32],
    report: &mut dyn FnMut(Found<'s, 'a>) -> ControlFlow<()>,
) {
    for spec in specs {
        let mut named = entries().filter(|e| e.name.is(spec.name));
        let problem = match (named.next(), named.next()) {
            (None, _) => Some(Found::Missing(spec)),
            (Some(_), Some(_)) => Some(Found::Duplicate(spec)),
            (Some(entry), None) if entry.shape.as_slice() != spec.shape => {
                Some(Found::Shape(spec, entry.shape))
            }
            (Some(entry), None) => {
                let range = spec.offset..spec.offset + spec.len();
                match convert(entry.dtype, entry.data, &mut dst[range]) {
                    None => Some(Found::Dtype(spec, entry.dtype)),
                    Some(0) => None,
                    Some(count) => Some(Found::NonFinite(spec, count)),
                }
            }
        };
        if let Some(p) = problem
            && report(p).is_break()
        {
            return;
        }
    }
    for entry in entries() {
        if !entry.name.ends_with("num_batches_tracked")
            && !specs.iter().any(|s| entry.name.is(s.name))
            && report(Found::Unexpected(entry.name)).is_break()
        {
            return;
        }
    }
}

/// Reads the tensors `specs` names from a safetensors file into a new weight buffer of
/// `weights_len` values, each at its spec's offset.
///
/// Floating-point tensors (F32, F64, F16, BF16) are converted to `f32`. PyTorch's
/// `num_batches_tracked` entries are ignored.
///
/// # Errors
/// [`Error::Format`] if `bytes` is not a safetensors file; [`Error::Tensors`] listing every
/// missing, unexpected, duplicated, mis-shaped, mis-typed or non-finite tensor;
/// [`Error::WeightsLength`] if a spec lies outside `weights_len` values.
#[cfg(feature = "alloc")]
pub(crate) fn read_safetensors(
    bytes: &[u8],
    specs: &[TensorSpec],
    weights_len: usize,
) -> Result<alloc::vec::Vec<f32>, Error> {
    use crate::TensorProblem;
    use alloc::{string::ToString, vec, vec::Vec};

    let header = Header::parse(bytes)?;
    let mut weights = vec![0.0f32; weights_len];
    check_room(specs, &weights)?;
    // One pass over the header; the entries are bounded by its length.
    let entries: Vec<Entry<'_>> = header.entries().filter_map(Result::ok).collect();
    let mut problems = Vec::new();
    let mut unexpected = Vec::new();
    read(
        || entries.iter().copied(),
        specs,
        &mut weights,
        &mut |found| {
            let name = |s: &TensorSpec| s.name.into();
            match found {
                Found::Missing(s) => problems.push(TensorProblem::Missing {
                    name: name(s),
                    shape: s.shape.to_vec(),
                }),
                Found::Shape(s, dims) => problems.push(TensorProblem::Shape {
                    name: name(s),
                    expected: s.shape.to_vec(),
                    found: dims.as_slice().to_vec(),
                }),
                Found::Dtype(s, dtype) => problems.push(TensorProblem::Dtype {
                    name: name(s),
                    found: dtype.into(),
                }),
                Found::NonFinite(s, count) => problems.push(TensorProblem::NonFinite {
                    name: name(s),
                    count,
                }),
                Found::Duplicate(s) => problems.push(TensorProblem::Duplicate { name: name(s) }),
                Found::Unexpected(n) => unexpected.push(n.to_string()),
            }
            ControlFlow::Continue(())
        },
    );
    unexpected.sort();
    problems.extend(
        unexpected
            .into_iter()
            .map(|name| TensorProblem::Unexpected { name }),
    );
    if problems.is_empty() {
        Ok(weights)
    } else {
        Err(Error::Tensors(problems))
    }
}

/// Reads the tensors `specs` names from a safetensors file into `dst`, each at its spec's
/// offset, without allocating: what a device without an allocator calls on weights embedded with
/// `include_bytes!`. The checks are [`read_safetensors`]'s; the first problem is returned.
///
/// # Errors
/// [`Error::Format`] if `bytes` is not a safetensors file; [`Error::Tensor`] with the first tensor
/// that does not fit; [`Error::WeightsLength`] if a spec lies outside `dst`.
pub(crate) fn read_safetensors_into(
    bytes: &[u8],
    specs: &'static [TensorSpec],
    dst: &mut [f32],
) -> Result<(), Error> {
    let header = Header::parse(bytes)?;
    check_room(specs, dst)?;
    let mut first = None;
    read(
        || header.entries().filter_map(Result::ok),
        specs,
        dst,
        &mut |found| {
            first = Some(match found {
                Found::Missing(s) => Fault::Missing {
                    name: s.name,
                    shape: s.shape,
                },
                Found::Shape(s, found) => Fault::Shape {
                    name: s.name,
                    expected: s.shape,
                    found,
                },
                Found::Dtype(s, found) => Fault::Dtype {
                    name: s.name,
                    found,
                },
                Found::NonFinite(s, count) => Fault::NonFinite {
                    name: s.name,
                    count,
                },
                Found::Duplicate(s) => Fault::Duplicate { name: s.name },
                Found::Unexpected(n) => Fault::Unexpected { at: n.at },
            });
            ControlFlow::Break(())
        },
    );
    first.map_or(Ok(()), |f| Err(Error::Tensor(f)))
}

/// Converts little-endian `data` of type `dtype` into `dst` and counts the values that are not
/// finite in `f32` (NaN, infinities, and F64 values beyond `f32`'s range); `None` if the type is
/// not a floating-point type or the byte count does not match `dst`.
fn convert(dtype: &str, data: &[u8], dst: &mut [f32]) -> Option<usize> {
    let width = match dtype {
        "F32" => 4,
        "F64" => 8,
        "F16" | "BF16" => 2,
        _ => return None,
    };
    if data.len() != dst.len() * width {
        return None;
    }
    let chunks = data.chunks_exact(width);
    match dtype {
        "F32" => {
            for (d, c) in dst.iter_mut().zip(chunks) {
                *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        "F64" => {
            for (d, c) in dst.iter_mut().zip(chunks) {
                let b = [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]];
                *d = f64::from_le_bytes(b) as f32;
            }
        }
        "BF16" => {
            for (d, c) in dst.iter_mut().zip(chunks) {
                *d = f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16);
            }
        }
        _ => {
            for (d, c) in dst.iter_mut().zip(chunks) {
                *d = f16_to_f32(u16::from_le_bytes([c[0], c[1]]));
            }
        }
    }
    Some(dst.iter().filter(|v| !v.is_finite()).count())
}

/// IEEE 754 half precision to single precision, exact for every value (subnormals, infinities
/// and NaNs included).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: value = man * 2^-24, exactly representable in f32.
            let v = man as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, _) => sign | 0x7f80_0000 | (man << 13),
        _ => sign | ((exp + 112) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests;
