//! Weight loading and run-time errors: every problem of a weight file named at once, dtype
//! conversions, PyTorch's extra entries, and wrong buffer sizes.

use cnn::{Error, Network, TensorProblem, Weights, cnn};
use safetensors::{Dtype, tensor::TensorView};

cnn! {
    struct Small {
        input: [2, 6, 6],
        conv: Conv2d(3, 3),
        bn: BatchNorm2d,
        ReLU,
        MaxPool2d(2),
        Flatten,
        fc: Linear(4),
    }
}

/// A safetensors file from `(name, dtype, shape, bytes)` entries.
fn file(entries: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = entries
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.to_string(),
                TensorView::new(*d, s.clone(), b).expect("consistent entry"),
            )
        })
        .collect();
    safetensors::serialize(views, None).expect("serialisable")
}

fn f32_bytes(values: impl IntoIterator<Item = f32>) -> Vec<u8> {
    values.into_iter().flat_map(f32::to_le_bytes).collect()
}

/// Every tensor of `Small`, as F32 with values `i * 0.01`, plus PyTorch's `num_batches_tracked`.
fn complete() -> Vec<(&'static str, Dtype, Vec<usize>, Vec<u8>)> {
    let mut out: Vec<_> = Small::TENSORS
        .iter()
        .map(|t| {
            let values = (0..t.len()).map(|i| {
                if t.name.ends_with("var") {
                    1.0
                } else {
                    i as f32 * 0.01
                }
            });
            (t.name, Dtype::F32, t.shape.to_vec(), f32_bytes(values))
        })
        .collect();
    out.push((
        "bn.num_batches_tracked",
        Dtype::I64,
        vec![],
        7i64.to_le_bytes().to_vec(),
    ));
    out
}

#[test]
fn a_pytorch_state_dict_loads_with_num_batches_tracked() {
    let net = Small::from_safetensors(&file(&complete())).expect("loads");
    let w = net.weights();
    let conv = Small::TENSORS
        .iter()
        .find(|t| t.name == "conv.weight")
        .unwrap();
    assert_eq!(w[conv.offset + 5], 5.0 * 0.01);
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut entries = complete();
    entries.retain(|e| e.0 != "conv.bias" && e.0 != "fc.weight");
    for e in &mut entries {
        if e.0 == "bn.running_mean" {
            e.2 = vec![4];
            e.3 = f32_bytes([0.0; 4]);
        }
        if e.0 == "fc.bias" {
            *e = ("fc.bias", Dtype::I32, vec![4], vec![0; 16]);
        }
    }
    entries.push(("head.weight", Dtype::F32, vec![1], f32_bytes([1.0])));
    let Err(Error::Tensors(problems)) = Small::from_safetensors(&file(&entries)) else {
        panic!("expected tensor problems");
    };
    let expected = vec![
        TensorProblem::Missing {
            name: "conv.bias".into(),
            shape: vec![3],
        },
        TensorProblem::Shape {
            name: "bn.running_mean".into(),
            expected: vec![3],
            found: vec![4],
        },
        TensorProblem::Missing {
            name: "fc.weight".into(),
            shape: vec![4, 12],
        },
        TensorProblem::Dtype {
            name: "fc.bias".into(),
            found: "I32".into(),
        },
        TensorProblem::Unexpected {
            name: "head.weight".into(),
        },
    ];
    assert_eq!(problems, expected);
    let text = Error::Tensors(problems).to_string();
    assert!(
        text.contains("missing tensor `conv.bias` of shape [3]"),
        "{text}"
    );
    assert!(
        text.contains("tensor `bn.running_mean` has shape [4] but the layer needs [3]"),
        "{text}"
    );
}

#[test]
fn float_types_are_converted() {
    let f32_net = Small::from_safetensors(&file(&complete())).expect("f32 loads");
    let converted: Vec<_> = complete()
        .into_iter()
        .enumerate()
        .map(|(i, (name, dtype, shape, bytes))| {
            if dtype != Dtype::F32 {
                return (name, dtype, shape, bytes);
            }
            let values = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            match i % 3 {
                0 => (
                    name,
                    Dtype::F64,
                    shape,
                    values.flat_map(|v| f64::from(v).to_le_bytes()).collect(),
                ),
                // bf16 keeps the top half of the f32 bits.
                1 => (
                    name,
                    Dtype::BF16,
                    shape,
                    values
                        .flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())
                        .collect(),
                ),
                _ => (name, Dtype::F32, shape, bytes),
            }
        })
        .collect();
    let net = Small::from_safetensors(&file(&converted)).expect("f64 and bf16 load");
    for (t, (a, b)) in Small::TENSORS
        .iter()
        .flat_map(|t| (t.offset..t.offset + t.len()).map(move |i| (t, i)))
        .map(|(t, i)| (t, (net.weights()[i], f32_net.weights()[i])))
    {
        assert!((a - b).abs() <= b.abs() / 128.0, "{}: {a} vs {b}", t.name);
    }
}

#[test]
fn a_file_that_is_not_safetensors_is_an_error() {
    let good = file(&complete());
    for bad in [
        &good[..5],
        &good[..good.len() - 1],
        b"not a safetensors file at all",
        &[0xff; 16][..],
    ] {
        assert!(
            matches!(Small::from_safetensors(bad), Err(Error::Format(_))),
            "{:?}",
            Small::from_safetensors(bad).err()
        );
    }
}

#[test]
fn wrong_buffer_sizes_are_errors() {
    let net = Small::from_safetensors(&file(&complete())).expect("loads");
    assert_eq!(
        net.infer(&[0.0; 71]),
        Err(Error::InputLength {
            expected: 72,
            found: 71
        })
    );
    let mut out = [0.0; 4];
    let mut arena = vec![0.0; Small::ARENA_LEN - 1];
    assert_eq!(
        net.forward(&[0.0; 72], &mut out, &mut arena),
        Err(Error::ArenaTooSmall {
            expected: Small::ARENA_LEN,
            found: Small::ARENA_LEN - 1
        })
    );
    assert_eq!(
        net.forward(&[0.0; 72], &mut [0.0; 3], &mut vec![0.0; Small::ARENA_LEN]),
        Err(Error::OutputLength {
            expected: 4,
            found: 3
        })
    );
    assert!(matches!(
        Small::from_weights(Weights::Owned(vec![0.0; 3])),
        Err(Error::WeightsLength { found: 3, .. })
    ));
    assert!(matches!(
        net.infer_many(&[0.0; 100]),
        Err(Error::InputLength { .. })
    ));
}

#[test]
fn nan_and_infinity_propagate() {
    let net = Small::from_safetensors(&file(&complete())).expect("loads");
    let mut x = vec![0.5; 72];
    x[0] = f32::NAN;
    let y = net.infer(&x).expect("runs");
    assert!(y.iter().all(|v| v.is_nan()), "{y:?}");
    x[0] = f32::INFINITY;
    let y = net.infer(&x).expect("runs");
    assert!(y.iter().any(|v| !v.is_finite()), "{y:?}");
}

#[cfg(feature = "ndarray")]
#[test]
fn ndarray_batches_keep_their_shape() {
    let net = Small::from_safetensors(&file(&complete())).expect("loads");
    let batch = ndarray::Array4::<f32>::from_shape_fn((3, 2, 6, 6), |(n, c, h, w)| {
        (n + c + h * w) as f32 * 0.01
    });
    let y = net.infer_batch(batch.view()).expect("a batch of three");
    assert_eq!(y.shape(), &[3, 4]);
    let one = net
        .infer(batch.index_axis(ndarray::Axis(0), 1).as_slice().unwrap())
        .unwrap();
    assert_eq!(
        y.index_axis(ndarray::Axis(0), 1)
            .iter()
            .copied()
            .collect::<Vec<f32>>(),
        one
    );
    let wrong = ndarray::Array3::<f32>::zeros((2, 6, 6));
    assert!(matches!(
        net.infer_batch(wrong.view()),
        Err(Error::BatchShape { .. })
    ));
}

#[test]
fn a_batch_gives_the_outputs_of_its_inputs_one_by_one() {
    // With the `parallel` feature the batch is shared out over threads; the outputs stay the
    // same, bit for bit.
    let net = Small::from_safetensors(&file(&complete())).expect("loads");
    let batch: Vec<f32> = (0..72 * 7)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.02)
        .collect();
    let together = net.infer_many(&batch).expect("a batch of seven");
    let one_by_one: Vec<f32> = batch
        .chunks_exact(72)
        .flat_map(|x| net.infer(x).expect("one"))
        .collect();
    assert_eq!(together, one_by_one);
}
