//! The reference's gradients (`cnn::reference::grad`) against PyTorch's autograd, in `f64`, on
//! LeNet-5 and the golden networks that together use every layer kind and option
//! (`tools/make_grad_golden.py`): at inference (running statistics, dropout off), and in
//! training on a batch of three (batch statistics, running statistics updated).

use cnn::Network;
use cnn::zoo::LeNet5;

use crate::common::data_path;
use crate::golden::{Net1d, Net2d, Net3d};

/// The F64 tensors of a safetensors file, by name.
pub fn f64_tensors(rel: &str) -> std::collections::BTreeMap<String, Vec<f64>> {
    let bytes = std::fs::read(data_path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("a safetensors file");
    file.iter()
        .map(|(name, t)| {
            assert_eq!(t.dtype(), safetensors::Dtype::F64, "{rel}: {name}");
            let values = t
                .data()
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect();
            (name.to_string(), values)
        })
        .collect()
}

/// The golden weights of `name`, each state_dict tensor in `f64` by name.
pub fn golden_weights<N: Network>(name: &str) -> impl Fn(&str) -> Vec<f64> {
    let weights = std::fs::read(data_path(&format!("golden/{name}.safetensors"))).unwrap();
    let net = N::from_safetensors(&weights).expect("the golden weights");
    move |n: &str| {
        let t = N::TENSORS.iter().find(|t| t.name == n).expect("a tensor");
        net.weights()[t.offset..t.offset + t.len()]
            .iter()
            .map(|&v| f64::from(v))
            .collect()
    }
}

fn against_autograd<N: Network>(name: &str) {
    let tensor = golden_weights::<N>(name);
    let golden = f64_tensors(&format!("golden/{name}.grad.safetensors"));
    let grads = cnn::reference::grad::backward(
        N::LAYERS,
        N::INPUTS,
        N::INPUT_SHAPE,
        &golden["input"],
        &tensor,
        &golden["r"],
    );
    let mut compared = vec![("grad.input".to_string(), grads.input.clone())];
    compared.extend(
        grads
            .tensors
            .into_iter()
            .map(|(n, g)| (format!("grad.{n}"), g)),
    );
    compare(name, &golden, compared);
}

/// Compares each `(name, values)` with the golden tensor of that name, and checks that the
/// golden file has no other (but `input` and `r`).
fn compare(
    name: &str,
    golden: &std::collections::BTreeMap<String, Vec<f64>>,
    compared: Vec<(String, Vec<f64>)>,
) {
    assert_eq!(
        compared.len(),
        golden.len() - 2,
        "{name}: the same tensors have gradients"
    );
    for (tensor_name, got) in compared {
        let want = &golden[&tensor_name];
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert_eq!(got.len(), want.len(), "{name}: {tensor_name}");
        // Not closer: the layers keep `eps` and slopes as `f32` (1e-3 is 1.0000000475e-3). The
        // floor is for gradients that vanish (a bias before a softmax over its channel's axis:
        // 1e-17 here, 1e-16 there).
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-7 * scale + 1e-14,
                "{name}: {tensor_name}[{i}] is {g}, PyTorch's {w}"
            );
        }
    }
}

/// In training mode, on the batch of the golden file: gradients and updated running statistics.
fn against_autograd_training<N: Network>(name: &str) {
    use cnn::reference::grad::{Mode, backward_batch};

    let tensor = golden_weights::<N>(name);
    let golden = f64_tensors(&format!("golden/{name}.train.grad.safetensors"));
    let split =
        |v: &[f64], len: usize| v.chunks_exact(len).map(<[f64]>::to_vec).collect::<Vec<_>>();
    let batch = split(&golden["input"], N::INPUT_LEN);
    let r = split(&golden["r"], N::OUTPUT_LEN);
    assert_eq!(batch.len(), 3);
    // The golden weights' num_batches_tracked is 7; only `momentum = None` would use it.
    let grads = backward_batch(
        N::LAYERS,
        N::INPUTS,
        N::INPUT_SHAPE,
        &batch,
        &tensor,
        &r,
        Mode::Train { batches: 7 },
    );
    let mut compared = vec![("grad.input".to_string(), grads.inputs.concat())];
    compared.extend(
        grads
            .tensors
            .into_iter()
            .map(|(n, g)| (format!("grad.{n}"), g)),
    );
    compared.extend(
        grads
            .running
            .into_iter()
            .map(|(n, v)| (format!("running.{n}"), v)),
    );
    compare(name, &golden, compared);
}

#[test]
fn reference_gradients_match_pytorch_s() {
    against_autograd::<LeNet5>("lenet5");
    against_autograd::<Net1d>("net1d");
    against_autograd::<Net2d>("net2d");
    against_autograd::<Net3d>("net3d");
    against_autograd_training::<Net2d>("net2d");
    against_autograd_training::<Net3d>("net3d");
}

/// The declaration's `momentum` reaches the layer descriptions training reads.
#[test]
fn batch_norm_momentum_is_declared() {
    cnn::cnn! {
        struct Momenta {
            input: [2, 4, 4],
            a: BatchNorm2d,
            b: BatchNorm2d(momentum = 0.3),
            c: BatchNorm2d(momentum = None),
        }
    }
    let momenta: Vec<Option<f32>> = Momenta::LAYERS
        .iter()
        .map(|l| match l {
            cnn::Layer::BatchNorm { momentum, .. } => *momentum,
            _ => panic!("only batch norms"),
        })
        .collect();
    assert_eq!(momenta, [Some(0.1), Some(0.3), None]);
}
