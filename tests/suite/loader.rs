//! Weight loading and run-time errors: every problem of a weight file named at once, dtype
//! conversions, PyTorch's extra entries, wrong buffer sizes, the corpus of bad files
//! (`tests/data/corrupt`, made by `tools/make_corrupt.py`), random corruptions, and saving.

use cnn::{Error, Network, TensorProblem, Weights, cnn};
use safetensors::{Dtype, tensor::TensorView};

use crate::common::{Rng, data_path, random_weights};

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
            matches!(Small::from_safetensors(bad), Err(Error::Format { .. })),
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
    // A batch: whole inputs, as many outputs, room for one input's arena at least.
    let arena = &mut vec![0.0; Small::ARENA_LEN];
    assert_eq!(
        net.forward_batch(&[0.0; 150], &mut [0.0; 8], arena),
        Err(Error::InputLength {
            expected: 72,
            found: 150
        })
    );
    assert_eq!(
        net.forward_batch(&[0.0; 144], &mut [0.0; 12], arena),
        Err(Error::OutputLength {
            expected: 8,
            found: 12
        })
    );
    assert_eq!(
        net.forward_batch(&[0.0; 144], &mut [0.0; 8], &mut arena[1..]),
        Err(Error::ArenaTooSmall {
            expected: Small::ARENA_LEN,
            found: Small::ARENA_LEN - 1
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

/// A buffer for `from_safetensors_in`, which keeps it for the network's life, as a device's
/// `static` would be; tests leak one per call.
fn leaked_buffer<N: Network>() -> &'static mut [f32] {
    Box::leak(vec![0.0; N::WEIGHTS_LEN].into_boxed_slice())
}

/// Every file of the corpus fails with exactly the error its `.expected` file states, with and
/// without an allocator (the latter reports the first problem of the same list).
#[test]
fn each_bad_file_gives_its_error() {
    let dir = data_path("corrupt");
    let good = std::fs::read(dir.join("good.safetensors")).expect("good.safetensors");
    let net = Small::from_safetensors(&good).expect("the corpus's good file loads");
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/data/corrupt") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_none_or(|e| e != "expected") {
            continue;
        }
        let name = path.file_stem().and_then(|s| s.to_str()).expect("a name");
        let expected = std::fs::read_to_string(&path).expect("the expected error");
        let bytes = std::fs::read(path.with_extension("safetensors")).expect("the bad file");
        let error = match Small::from_safetensors(&bytes) {
            Ok(_) => panic!("{name}: loads, but should fail with\n{expected}"),
            Err(e) => e,
        };
        assert_eq!(error.to_string(), expected.trim_end(), "{name}");
        let first = Small::from_safetensors_in(&bytes, leaked_buffer::<Small>())
            .err()
            .unwrap_or_else(|| panic!("{name}: loads without an allocator"));
        match (&error, &first) {
            (Error::Tensors(all), Error::Tensor(fault)) => {
                let said = fault.to_string();
                assert!(
                    all.iter().any(|p| p.to_string() == said)
                        || (matches!(fault, cnn::Fault::Unexpected { .. })
                            && said.starts_with("unexpected tensor (its name at byte")),
                    "{name}: {said}"
                );
                if !matches!(fault, cnn::Fault::Unexpected { .. }) {
                    assert_eq!(all[0].to_string(), said, "{name}: not the first problem");
                }
            }
            _ => assert_eq!(first, error, "{name}"),
        }
        cases += 1;
    }
    assert!(cases >= 30, "only {cases} bad files");
    // Nothing of the good network was touched by the failures.
    assert_eq!(
        net.weights(),
        Small::from_safetensors(&good).unwrap().weights()
    );
}

/// One random corruption of a weight file: a bit flipped, a byte of JSON's alphabet written into
/// the header, digits rewritten, the file cut, the header length changed, or header bytes
/// inserted or removed.
fn corrupt(file: &mut Vec<u8>, rng: &mut Rng) {
    let header_end = 8 + u64::from_le_bytes(file[..8].try_into().unwrap()).min(1 << 20) as usize;
    let header_end = header_end.min(file.len()).max(9);
    let pick = |rng: &mut Rng, n: usize| (rng.next_u64() % n.max(1) as u64) as usize;
    match rng.next_u64() % 8 {
        0 => {
            let i = pick(rng, file.len());
            file[i] ^= 1 << (rng.next_u64() % 8);
        }
        1 => {
            let alphabet = b"{}[]\":,0123456789-.eE \\u";
            let i = 8 + pick(rng, header_end - 8);
            file[i] = alphabet[pick(rng, alphabet.len())];
        }
        2 => {
            let digits: Vec<usize> = (8..header_end)
                .filter(|&i| file[i].is_ascii_digit())
                .collect();
            if let Some(&i) = digits.get(pick(rng, digits.len())) {
                let end = (i + 1 + pick(rng, 20)).min(header_end);
                for byte in &mut file[i..end] {
                    *byte = b'0' + (rng.next_u64() % 10) as u8;
                }
            }
        }
        3 => file.truncate(pick(rng, file.len())),
        4 => {
            let n = match rng.next_u64() % 3 {
                0 => rng.next_u64(),
                1 => (header_end - 8) as u64 ^ (1 << (rng.next_u64() % 64)),
                _ => ((header_end - 8) as u64)
                    .wrapping_add(rng.next_u64() % 17)
                    .wrapping_sub(8),
            };
            file[..8].copy_from_slice(&n.to_le_bytes());
        }
        5 | 6 => {
            let i = 8 + pick(rng, header_end - 8);
            let n = 1 + pick(rng, 12);
            let inserted = rng.next_u64().is_multiple_of(2);
            if inserted {
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                file.splice(i..i, bytes);
            } else {
                file.drain(i..(i + n).min(header_end));
            }
            if !rng.next_u64().is_multiple_of(4) {
                let len = (header_end - 8) as i64 + if inserted { n as i64 } else { -(n as i64) };
                file[..8].copy_from_slice(&(len.max(0) as u64).to_le_bytes());
            }
        }
        _ => {
            // A tensor's data overwritten with NaNs or huge values.
            let i = header_end + pick(rng, file.len().saturating_sub(header_end + 4));
            if i + 4 <= file.len() {
                file[i..i + 4].copy_from_slice(&f32::NAN.to_le_bytes());
            }
        }
    }
}

/// 10,000 random corruptions of a good file: never a panic; both loaders agree on what loads
/// and, for a malformed file, on the error; the tensors that load are finite. Reads outside the file cannot
/// happen (the loader has no `unsafe`), and nothing it allocates is sized by a number from the
/// file (only the weight buffer, by the network, and lists bounded by the header's length).
#[test]
fn random_corruptions_fail_cleanly() {
    let good = std::fs::read(data_path("corrupt/good.safetensors")).expect("good.safetensors");
    let mut rng = Rng::new(0xbad_f11e);
    let (mut loaded, mut format, mut tensors) = (0, 0, 0);
    for case in 0..10_000 {
        let mut file = good.clone();
        for _ in 0..1 + rng.next_u64() % 3 {
            if file.len() > 8 {
                corrupt(&mut file, &mut rng);
            }
        }
        let all = Small::from_safetensors(&file);
        let first = Small::from_safetensors_in(&file, leaked_buffer::<Small>());
        match (&all, &first) {
            (Ok(a), Ok(b)) => {
                // Derived values may be NaN (a negative variance loads, as in PyTorch).
                let bits = |n: &Small| n.weights().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(a), bits(b), "case {case}");
                assert!(
                    Small::TENSORS
                        .iter()
                        .all(|t| a.weights()[t.offset..t.offset + t.len()]
                            .iter()
                            .all(|v| v.is_finite())),
                    "case {case}"
                );
                loaded += 1;
            }
            (Err(e @ Error::Format { .. }), f) => {
                assert_eq!(Some(e), f.as_ref().err(), "case {case}");
                format += 1;
            }
            (Err(Error::Tensors(_)), Err(Error::Tensor(_))) => tensors += 1,
            _ => panic!("case {case}: {:?} but {:?}", all.err(), first.err()),
        }
    }
    // The corruptions reach every outcome, often.
    assert!(
        loaded > 300 && format > 3000 && tensors > 300,
        "{loaded} {format} {tensors}"
    );
}

/// `to_safetensors` writes what `from_safetensors` reads back bit for bit, under PyTorch's names,
/// in a file the safetensors package reads.
#[test]
fn saved_weights_load_back_identical() {
    let mut rng = Rng::new(77);
    let net = Small::from_weights(Weights::Owned(random_weights::<Small>(&mut rng))).unwrap();
    let bytes = net.to_safetensors();
    let back = Small::from_safetensors(&bytes).expect("loads what was saved");
    let x = rng.vec(Small::INPUT_LEN, -1.0, 1.0);
    let (y, z) = (net.infer(&x).unwrap(), back.infer(&x).unwrap());
    assert_eq!(
        y.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        z.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("the package reads it");
    assert_eq!(file.len(), Small::TENSORS.len());
    for t in Small::TENSORS {
        let view = file.tensor(t.name).expect("saved under its name");
        assert_eq!((view.dtype(), view.shape()), (Dtype::F32, t.shape));
        let saved: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(saved, &net.weights()[t.offset..t.offset + t.len()]);
    }
    // A PyTorch file (LeNet-5's golden weights) saved again is the same state_dict.
    let lenet = std::fs::read(data_path("golden/lenet5.safetensors")).unwrap();
    let a = cnn::zoo::LeNet5::from_safetensors(&lenet).unwrap();
    let b = cnn::zoo::LeNet5::from_safetensors(&a.to_safetensors()).unwrap();
    assert_eq!(a.weights(), b.weights());
}

/// The loader without an allocator gives the network `from_safetensors` gives.
#[test]
fn loading_into_a_buffer_gives_the_same_network() {
    let lenet = std::fs::read(data_path("golden/lenet5.safetensors")).unwrap();
    let a = cnn::zoo::LeNet5::from_safetensors(&lenet).unwrap();
    let b =
        cnn::zoo::LeNet5::from_safetensors_in(&lenet, leaked_buffer::<cnn::zoo::LeNet5>()).unwrap();
    assert_eq!(a.weights(), b.weights());
    assert_eq!(
        cnn::zoo::LeNet5::from_safetensors_in(&lenet, Box::leak(Box::new([0.0; 3]))).err(),
        Some(Error::WeightsLength {
            expected: cnn::zoo::LeNet5::WEIGHTS_LEN,
            found: 3
        })
    );
}
