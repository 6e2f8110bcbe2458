//! Weight loading from safetensors files written by PyTorch.

use alloc::{format, string::ToString, vec, vec::Vec};

use safetensors::{Dtype, SafeTensors};

use crate::{Error, TensorProblem, TensorSpec};

/// Reads the tensors `specs` names from a safetensors file into a new weight buffer of
/// `weights_len` values, each at its spec's offset.
///
/// Floating-point tensors (F32, F64, F16, BF16) are converted to `f32`. PyTorch's
/// `num_batches_tracked` entries are ignored.
///
/// # Errors
/// [`Error::Format`] if `bytes` is not a safetensors file; [`Error::Tensors`] listing every
/// missing, unexpected, mis-shaped or mis-typed tensor.
pub fn read_safetensors(
    bytes: &[u8],
    specs: &[TensorSpec],
    weights_len: usize,
) -> Result<Vec<f32>, Error> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| Error::Format(e.to_string()))?;
    let mut weights = vec![0.0f32; weights_len];
    let mut problems = Vec::new();
    for spec in specs {
        let view = match file.tensor(spec.name) {
            Ok(view) => view,
            Err(_) => {
                problems.push(TensorProblem::Missing {
                    name: spec.name.to_string(),
                    shape: spec.shape.to_vec(),
                });
                continue;
            }
        };
        if view.shape() != spec.shape {
            problems.push(TensorProblem::Shape {
                name: spec.name.to_string(),
                expected: spec.shape.to_vec(),
                found: view.shape().to_vec(),
            });
            continue;
        }
        let dst = &mut weights[spec.offset..spec.offset + spec.len()];
        if !convert(view.dtype(), view.data(), dst) {
            problems.push(TensorProblem::Dtype {
                name: spec.name.to_string(),
                found: format!("{:?}", view.dtype()),
            });
        }
    }
    let mut unexpected: Vec<_> = file
        .iter()
        .map(|(name, _)| name)
        .filter(|name| !name.ends_with("num_batches_tracked"))
        .filter(|name| specs.iter().all(|s| s.name != *name))
        .map(|name| TensorProblem::Unexpected {
            name: name.to_string(),
        })
        .collect();
    unexpected.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    problems.extend(unexpected);
    if problems.is_empty() {
        Ok(weights)
    } else {
        Err(Error::Tensors(problems))
    }
}

/// Converts little-endian `data` of type `dtype` into `dst`; false if the type is not a float
/// type or the byte count does not match (safetensors already checks the latter).
fn convert(dtype: Dtype, data: &[u8], dst: &mut [f32]) -> bool {
    let width = match dtype {
        Dtype::F32 => 4,
        Dtype::F64 => 8,
        Dtype::F16 | Dtype::BF16 => 2,
        _ => return false,
    };
    if data.len() != dst.len() * width {
        return false;
    }
    let chunks = data.chunks_exact(width);
    match dtype {
        Dtype::F32 => {
            for (d, c) in dst.iter_mut().zip(chunks) {
                *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        Dtype::F64 => {
            for (d, c) in dst.iter_mut().zip(chunks) {
                let b = [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]];
                *d = f64::from_le_bytes(b) as f32;
            }
        }
        Dtype::BF16 => {
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
    true
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
mod tests {
    use super::f16_to_f32;

    #[test]
    fn f16_conversion_matches_known_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
    }
}
