//! The training components against PyTorch (`tools/make_train_golden.py`): each optimiser's
//! parameters after each of six steps, the losses and their gradients, the learning-rate
//! schedules.

use cnn::train::{Adam, Sgd, cosine_lr, cross_entropy, mse, step_lr};

use crate::common::{assert_close, read_tensor};

const FILE: &str = "golden/train.safetensors";

fn tensor(name: &str) -> Vec<f32> {
    read_tensor(FILE, name).1
}

/// Runs `step(params, grad, step_index)` over the golden gradients and compares every step with
/// PyTorch's trajectory.
fn trajectory(name: &str, mut step: impl FnMut(&mut [f32], &[f32], u64)) {
    let mut params = tensor("params");
    let want = tensor(&format!("{name}.trajectory"));
    for (i, (grad, want)) in tensor("grads")
        .chunks_exact(7)
        .zip(want.chunks_exact(7))
        .enumerate()
    {
        step(&mut params, grad, i as u64);
        assert_close(&params, want, 1e-6, &format!("{name}, step {}", i + 1));
    }
}

#[test]
fn optimisers_follow_pytorch_s_steps() {
    let sgd = |opt: Sgd| {
        let mut velocity = vec![0.0; 7];
        move |p: &mut [f32], g: &[f32], i| opt.step(p, g, &mut velocity, i)
    };
    trajectory("sgd", sgd(Sgd::new(0.1)));
    let momentum = Sgd {
        momentum: 0.9,
        dampening: 0.1,
        weight_decay: 0.01,
        ..Sgd::new(0.1)
    };
    trajectory("sgd_momentum", sgd(momentum));
    let nesterov = Sgd {
        momentum: 0.9,
        nesterov: true,
        weight_decay: 0.001,
        ..Sgd::new(0.05)
    };
    trajectory("sgd_nesterov", sgd(nesterov));
    let adam = |opt: Adam| {
        let (mut m, mut v) = (vec![0.0; 7], vec![0.0; 7]);
        move |p: &mut [f32], g: &[f32], i| opt.step(p, g, &mut m, &mut v, i)
    };
    trajectory("adam", adam(Adam::new(0.01)));
    let decay = Adam {
        beta1: 0.8,
        beta2: 0.99,
        eps: 1e-6,
        weight_decay: 0.1,
        ..Adam::new(0.01)
    };
    trajectory("adam_decay", adam(decay));
    trajectory("adamw", adam(Adam::adamw(0.01)));
    let decay = Adam {
        weight_decay: 0.3,
        ..Adam::adamw(0.02)
    };
    trajectory("adamw_decay", adam(decay));
}

#[test]
fn losses_and_their_gradients_are_pytorch_s() {
    let logits = tensor("ce.logits");
    let (_, targets) = read_tensor_i64("ce.targets");
    for s in ["0.0", "0.1"] {
        let mut grad = vec![0.0; logits.len()];
        let smoothing: f32 = s.parse().unwrap();
        let loss = cross_entropy(&logits, &targets, 4, smoothing, &mut grad);
        assert_close(
            &[loss],
            &tensor(&format!("ce.{s}.loss")),
            1e-6,
            "cross-entropy",
        );
        assert_close(
            &grad,
            &tensor(&format!("ce.{s}.grad")),
            1e-6,
            "its gradient",
        );
    }
    let (y, t) = (tensor("mse.output"), tensor("mse.target"));
    let mut grad = vec![0.0; y.len()];
    let loss = mse(&y, &t, &mut grad);
    assert_close(&[loss], &tensor("mse.loss"), 1e-6, "mse");
    assert_close(&grad, &tensor("mse.grad"), 1e-6, "its gradient");
}

#[test]
fn schedules_give_pytorch_s_rates() {
    let step: Vec<f32> = (0..12).map(|e| step_lr(0.1, 3, 0.5, e)).collect();
    assert_close(&step, &tensor("lr.step"), 1e-6, "StepLR");
    let cosine: Vec<f32> = (0..12).map(|e| cosine_lr(0.1, 7, 0.001, e)).collect();
    assert_close(&cosine, &tensor("lr.cosine"), 1e-6, "CosineAnnealingLR");
}

/// An I64 tensor of the golden file, as indices.
fn read_tensor_i64(name: &str) -> (Vec<usize>, Vec<usize>) {
    let bytes = std::fs::read(crate::common::data_path(FILE)).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = file.tensor(name).unwrap();
    let values = t
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as usize)
        .collect();
    (t.shape().to_vec(), values)
}
