//! The generated backward passes, driven by `cnn::train::Trainer`: gradients and batch-norm
//! statistics against the `f64` reference's (itself checked against finite differences) and
//! against PyTorch's autograd; frozen layers; the training memory the macro computes against
//! the trainer's workspace; an optimiser step; the trainer's errors.

use cnn::reference::grad::{Mode, backward_batch};
use cnn::train::{Optimizer, Sgd, Train, TrainLayout, Trainer};
use cnn::zoo::LeNet5;
use cnn::{Error, Network, Weights, cnn};

use crate::common::{Rng, random_weights};
use crate::golden::{Net1d, Net2d, Net3d};
use crate::grad::{f64_tensors, golden_weights};

cnn! {
    /// A residual block with a projection, a concatenation, every activation, both batch-norm
    /// momenta.
    pub struct Graph2d {
        input: [3, 8, 8],
        stem: Conv2d(6, 3, padding = 1),
        bn: BatchNorm2d(momentum = None),
        ReLU,
        block: residual {
            conv1: Conv2d(8, 3, stride = 2, padding = 1, bias = false),
            bn1: BatchNorm2d,
            act: LeakyReLU(0.2),
            conv2: Conv2d(8, 3, padding = 1),
        } + down: [Conv2d(8, 1, stride = 2, bias = false), BatchNorm2d(affine = false)],
        Tanh,
        mix: cat {
            a: Conv2d(4, 1),
            b: [MaxPool2d(3, stride = 1, padding = 1), Conv2d(4, 3, padding = 1, groups = 2)],
            Identity,
        },
        Sigmoid,
        pool: AdaptiveAvgPool2d(2),
        Flatten,
        fc: Linear(5),
        Softmax(dim = 1),
    }

    /// `golden::Net1d` without its dropout (here the reference has none): every 1-d layer kind
    /// and option.
    pub struct Plain1d {
        input: [3, 40],
        conv1: Conv1d(8, 5, stride = 2, padding = 3, dilation = 2),
        bn1: BatchNorm1d(eps = 1e-3),
        act1: LeakyReLU(0.2),
        pool1: MaxPool1d(3, stride = 2, padding = 1, dilation = 2, ceil_mode = true),
        conv2: Conv1d(8, 3, padding = "same", groups = 4, bias = false),
        act2: Tanh,
        pool2: AvgPool1d(3, stride = 2, padding = 1, ceil_mode = true, count_include_pad = false),
        conv3: Conv1d(6, 4, padding = "same"),
        pool3: AdaptiveAvgPool1d(7),
        pool4: AdaptiveMaxPool1d(5),
        flat: Flatten,
        fc1: Linear(16),
        bn2: BatchNorm1d,
        act3: ReLU,
        fc2: Linear(5),
        soft: Softmax(dim = 1),
    }

    /// Convolutions and pools of awkward sizes: prime extents, strides past the kernel,
    /// dilations, even kernels with "same" padding, groups, windows cut by `ceil_mode`.
    pub struct Awkward2d {
        input: [6, 13, 11],
        a: Conv2d(9, (4, 3), stride = (3, 2), padding = (2, 1), dilation = (1, 2), groups = 3),
        ReLU,
        b: Conv2d(7, 2, padding = "same", dilation = 3),
        ReLU6,
        p1: MaxPool2d((2, 3), stride = (3, 2), padding = 1, dilation = (2, 1), ceil_mode = true),
        c: Conv2d(5, 1, stride = 2, bias = false),
        p2: AvgPool2d(2, stride = 1, padding = 1, count_include_pad = true),
        d: Conv2d(5, 3, padding = 2, groups = 5),
        p3: AdaptiveMaxPool2d((2, 3)),
        Flatten,
        fc: Linear(4),
    }

    /// The same in 3-d.
    pub struct Awkward3d {
        input: [4, 5, 7, 6],
        a: Conv3d(6, (2, 3, 2), stride = (2, 1, 3), padding = (1, 2, 0), dilation = (2, 1, 1), groups = 2),
        Sigmoid,
        p: AvgPool3d((2, 2, 1), stride = (1, 2, 1), ceil_mode = true, count_include_pad = false),
        b: Conv3d(3, 3, padding = "same", bias = false),
        q: AdaptiveAvgPool3d((2, 2, 1)),
        Flatten,
        fc: Linear(3),
    }

    /// Dropout between two linear layers: with MSE the loss is quadratic in each weight, so
    /// central differences are exact but for rounding.
    pub struct Dropped {
        input: [40],
        fc1: Linear(2000),
        drop: Dropout(0.4),
        fc2: Linear(3),
    }

    /// The network of `examples/digits.rs`.
    pub struct Digits {
        input: [1, 8, 8],
        features: [
            Conv2d(16, 3, padding = 1), BatchNorm2d, ReLU,
            Conv2d(32, 3, padding = 1), BatchNorm2d, ReLU,
            MaxPool2d(2),
        ],
        Flatten,
        dropout: Dropout(0.25),
        head: [Linear(64), ReLU, Linear(10)],
    }

    /// Features frozen by the declaration; the head trains.
    #[budget(train_memory <= 20 KiB, train_batch = 8)]
    pub struct Frozen {
        input: [1, 8, 8],
        #[frozen] features: [Conv2d(4, 3, padding = 1), BatchNorm2d, ReLU, MaxPool2d(2)],
        head: [Flatten, Linear(10), ReLU, Linear(3)],
    }
}

/// The values of a weight buffer's tensor `name`, in `f64`.
fn tensor_fn<N: Network>(w: Vec<f32>) -> impl Fn(&str) -> Vec<f64> {
    move |name: &str| {
        let t = N::TENSORS
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no tensor `{name}`"));
        w[t.offset..t.offset + t.len()]
            .iter()
            .map(|&v| f64::from(v))
            .collect()
    }
}

/// `got` within `tol` of the largest `want` of each, or within `floor`: for gradients that
/// vanish in exact arithmetic, a bias before a batch norm in training (the batch mean takes it
/// away), where the reference has 1e-12 and `f32` leaves the rounding of the values that
/// cancel (1.2e-4 on Net2d's depthwise `conv2`, 1.2e-5 of its largest gradient).
fn close_or(got: &[f32], want: &[f64], tol: f64, floor: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (f64::from(*g) - w).abs() <= tol * scale + floor,
            "{what}[{i}] is {g}, want {w} (largest {scale})"
        );
    }
}

fn close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    close_or(got, want, tol, 1e-6, what);
}

/// The floor for a network's gradients: 1e-4 of the largest.
fn floor<'a>(grads: impl IntoIterator<Item = &'a Vec<f64>>) -> f64 {
    1e-4 * grads
        .into_iter()
        .flatten()
        .fold(1e-2f64, |m, v| m.max(v.abs()))
}

/// A trainer's pass over a batch with `r` as the output gradient: the outputs.
fn pass<N: Train>(trainer: &mut Trainer<N>, x: &[f32], r: &[f32]) -> Vec<f32> {
    let mut out = Vec::new();
    trainer
        .forward_backward(x, |y, g| {
            out = y.to_vec();
            g.copy_from_slice(r);
            0.0
        })
        .expect("a whole batch");
    out
}

fn samples(v: &[f32], len: usize) -> Vec<Vec<f64>> {
    v.chunks_exact(len)
        .map(|c| c.iter().map(|&v| f64::from(v)).collect())
        .collect()
}

/// With random weights, inputs and output gradients on a batch of `batch`: the outputs, every
/// trained tensor's gradient and the running statistics equal the reference's in training
/// mode.
fn against_reference<N: Train>(seed: u64, batch: usize) {
    against_reference_in::<N>(seed, batch, false);
}

/// As [`against_reference`]; with `running`, the batch norms use their running statistics
/// (`Trainer::freeze_batch_norm_statistics`), against the reference at inference, and the
/// statistics stay as they were.
fn against_reference_in<N: Train>(seed: u64, batch: usize, running: bool) {
    let mut rng = Rng::new(seed);
    let w = random_weights::<N>(&mut rng);
    let net = N::from_weights(Weights::Owned(w.clone())).expect("weights");
    let x = rng.vec(batch * N::INPUT_LEN, -2.0, 2.0);
    let r = rng.vec(batch * N::OUTPUT_LEN, -1.0, 1.0);
    let mut trainer = Trainer::new(net, batch, Optimizer::Sgd(Sgd::new(0.1))).expect("a trainer");
    trainer.freeze_batch_norm_statistics(running);
    let out = pass(&mut trainer, &x, &r);
    let want = backward_batch(
        N::LAYERS,
        N::INPUTS,
        N::INPUT_SHAPE,
        &samples(&x, N::INPUT_LEN),
        &tensor_fn::<N>(w.clone()),
        &samples(&r, N::OUTPUT_LEN),
        if running {
            Mode::Eval
        } else {
            Mode::Train { batches: 0 }
        },
    );
    if running {
        for t in N::TENSORS.iter().filter(|t| t.name.contains(".running_")) {
            let range = t.offset..t.offset + t.len();
            assert_eq!(
                &trainer.network().weights()[range.clone()],
                &w[range],
                "{}",
                t.name
            );
        }
    }
    let name = N::NAME;
    close(
        &out,
        &want.outputs.concat(),
        1e-5,
        &format!("{name}: outputs"),
    );
    assert!(!want.tensors.is_empty());
    let floor = floor(want.tensors.values());
    for (t, g) in &want.tensors {
        let got = trainer
            .gradient(t)
            .unwrap_or_else(|| panic!("{name}: no gradient for {t}"));
        close_or(got, g, 2e-4, floor, &format!("{name}: grad {t}"));
    }
    let trained = N::TENSORS
        .iter()
        .filter(|t| trainer.gradient(t.name).is_some())
        .count();
    assert_eq!(
        trained,
        want.tensors.len(),
        "{name}: the same tensors train"
    );
    let weights = trainer.network().weights();
    for (t, v) in &want.running {
        let spec = N::TENSORS.iter().find(|s| s.name == t).expect("a tensor");
        close(
            &weights[spec.offset..spec.offset + spec.len()],
            v,
            1e-5,
            &format!("{name}: {t}"),
        );
    }
}

#[test]
fn generated_gradients_match_the_reference() {
    against_reference::<Graph2d>(1, 3);
    against_reference::<Plain1d>(2, 4);
    against_reference::<Net2d>(3, 3);
    against_reference::<Net3d>(4, 2);
    against_reference::<LeNet5>(5, 2);
    against_reference::<Awkward2d>(11, 3);
    against_reference::<Awkward3d>(12, 2);
    // Batch norms with their running statistics, as PyTorch's `model.eval()` fine-tuning.
    against_reference_in::<Graph2d>(13, 3, true);
    against_reference_in::<Plain1d>(14, 2, true);
    against_reference_in::<Net2d>(15, 3, true);
    against_reference_in::<Net3d>(16, 2, true);
}

/// The golden batch of `name.train.grad.safetensors` (or `name.grad.safetensors` for a network
/// without batch norms, where training and inference agree): PyTorch's gradients and running
/// statistics.
fn against_autograd<N: Train>(name: &str, file: &str) {
    against_autograd_in::<N>(name, file, false);
}

/// As [`against_autograd`]; with `running`, against PyTorch's gradients at inference
/// (`NAME.grad.safetensors`), the batch norms' statistics frozen.
fn against_autograd_in<N: Train>(name: &str, file: &str, running: bool) {
    let golden = f64_tensors(&format!("golden/{file}"));
    let tensor = golden_weights::<N>(name);
    let mut w = vec![0.0; N::WEIGHTS_LEN];
    for t in N::TENSORS {
        for (d, v) in w[t.offset..].iter_mut().zip(tensor(t.name)) {
            *d = v as f32;
        }
    }
    let net = N::from_weights(Weights::Owned(w)).expect("weights");
    let f32s = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<_>>();
    let (x, r) = (f32s(&golden["input"]), f32s(&golden["r"]));
    let batch = x.len() / N::INPUT_LEN;
    let mut trainer = Trainer::new(net, batch, Optimizer::Sgd(Sgd::new(0.1))).expect("a trainer");
    trainer.set_batches_seen(7);
    trainer.freeze_batch_norm_statistics(running);
    pass(&mut trainer, &x, &r);
    let mut compared = 0;
    for (key, want) in &golden {
        if let Some(t) = key.strip_prefix("grad.") {
            if t == "input" {
                continue;
            }
            let got = trainer.gradient(t).unwrap_or_else(|| panic!("{name}: {t}"));
            close(got, want, 2e-4, &format!("{name}: PyTorch's grad {t}"));
            compared += 1;
        } else if let Some(t) = key.strip_prefix("running.") {
            let spec = N::TENSORS.iter().find(|s| s.name == t).expect("a tensor");
            let got = &trainer.network().weights()[spec.offset..][..spec.len()];
            close(got, want, 1e-5, &format!("{name}: PyTorch's {t}"));
            compared += 1;
        }
    }
    assert!(compared >= 4, "{name}: {compared} tensors compared");
}

#[test]
fn generated_gradients_match_pytorch_s() {
    against_autograd::<LeNet5>("lenet5", "lenet5.grad.safetensors");
    against_autograd::<Net2d>("net2d", "net2d.train.grad.safetensors");
    against_autograd::<Net3d>("net3d", "net3d.train.grad.safetensors");
    against_autograd_in::<Net2d>("net2d", "net2d.grad.safetensors", true);
    against_autograd_in::<Net3d>("net3d", "net3d.grad.safetensors", true);
}

/// With the first `frozen` layers frozen: they run as at inference (running statistics) and
/// have no gradients; the trained layers' gradients are the reference's for the rest of the
/// network, fed with the frozen part's output.
fn frozen_against_reference<N: Train>(seed: u64, batch: usize, frozen: usize) {
    let mut rng = Rng::new(seed);
    let w = random_weights::<N>(&mut rng);
    let net = N::from_weights(Weights::Owned(w.clone())).expect("weights");
    let x = rng.vec(batch * N::INPUT_LEN, -2.0, 2.0);
    let r = rng.vec(batch * N::OUTPUT_LEN, -1.0, 1.0);
    let opt = Optimizer::Sgd(Sgd::new(0.1));
    let mut trainer = Trainer::with_frozen(net, batch, opt, frozen).expect("a trainer");
    let full = TrainLayout::of::<N>(batch, 0, 1);
    assert!(trainer.layout().len() < full.len(), "freezing saves memory");
    pass(&mut trainer, &x, &r);
    let tensor = tensor_fn::<N>(w);
    // The frozen part at inference, in the reference: its output is the rest's input.
    let head_input: Vec<Vec<f64>> = samples(&x, N::INPUT_LEN)
        .iter()
        .map(|s| {
            let values = cnn::reference::forward_all(
                &N::LAYERS[..frozen],
                &N::INPUTS[..frozen],
                N::INPUT_SHAPE,
                s,
                &tensor,
            );
            values[frozen].data.clone()
        })
        .collect();
    let inputs: Vec<Vec<usize>> = N::INPUTS[frozen..]
        .iter()
        .map(|reads| {
            reads
                .iter()
                .map(|&v| {
                    assert!(v >= frozen, "the rest reads only the frozen part's output");
                    v - frozen
                })
                .collect()
        })
        .collect();
    let inputs: Vec<&[usize]> = inputs.iter().map(Vec::as_slice).collect();
    let want = backward_batch(
        &N::LAYERS[frozen..],
        &inputs,
        N::SHAPES[frozen - 1],
        &head_input,
        &tensor,
        &samples(&r, N::OUTPUT_LEN),
        Mode::Train { batches: 0 },
    );
    let floor = floor(want.tensors.values());
    for t in N::TENSORS {
        match (trainer.gradient(t.name), want.tensors.get(t.name)) {
            (Some(got), Some(g)) => close_or(
                got,
                g,
                2e-4,
                floor,
                &format!("{}: grad {}", N::NAME, t.name),
            ),
            (None, None) => {}
            (got, _) => panic!("{}: {} has a gradient: {}", N::NAME, t.name, got.is_some()),
        }
    }
}

#[test]
fn frozen_layers_keep_no_activations_nor_gradients() {
    assert_eq!(Frozen::FROZEN, 4);
    assert_eq!(Frozen::TRAIN_BATCH, 8);
    frozen_against_reference::<Frozen>(6, 3, 4);
    frozen_against_reference::<LeNet5>(7, 2, 4);
    frozen_against_reference::<Net2d>(8, 3, 6);
    // A frozen layer's output that no trained layer reads is computed one sample at a time.
    let layout = TrainLayout::of::<LeNet5>(32, 4, 2);
    let full = TrainLayout::of::<LeNet5>(32, 0, 2);
    assert_eq!(layout.scratch, 6 * 28 * 28 + 6 * 28 * 28 + 6 * 14 * 14);
    assert_eq!(full.scratch, 0);
    assert!(
        layout.bytes() * 2 < full.bytes(),
        "{layout:?} against {full:?}"
    );
}

#[test]
fn training_memory_is_known_at_compile_time() {
    fn agree<N: Train>() {
        let layout = TrainLayout::of::<N>(N::TRAIN_BATCH, N::FROZEN, 2);
        assert_eq!(N::TRAIN_MEMORY_BYTES, layout.bytes(), "{}", N::NAME);
        assert!(N::SUMMARY.contains("train:"), "{}", N::SUMMARY);
    }
    agree::<Graph2d>();
    agree::<Frozen>();
    agree::<LeNet5>();
    agree::<Net1d>();
    agree::<Net2d>();
    agree::<Net3d>();
    assert!(
        Frozen::SUMMARY.contains("for a batch of 8 (budget 20.00 KiB"),
        "{}",
        Frozen::SUMMARY
    );
    assert!(Frozen::SUMMARY.contains("4 layers frozen"));
}

#[test]
fn a_step_moves_only_the_trained_parameters() {
    let mut rng = Rng::new(9);
    let w = random_weights::<Frozen>(&mut rng);
    let net = Frozen::from_weights(Weights::Owned(w.clone())).expect("weights");
    let x = rng.vec(2 * Frozen::INPUT_LEN, -1.0, 1.0);
    let lr = 0.25;
    let mut trainer = Trainer::new(net, 4, Optimizer::Sgd(Sgd::new(lr))).expect("a trainer");
    let loss = trainer
        .forward_backward(&x, |y, g| cnn::train::cross_entropy(y, &[0, 2], 3, 0.0, g))
        .expect("a batch");
    assert!(loss.is_finite() && loss > 0.0);
    let grads: Vec<(usize, Vec<f32>)> = Frozen::TENSORS
        .iter()
        .filter_map(|t| trainer.gradient(t.name).map(|g| (t.offset, g.to_vec())))
        .collect();
    assert_eq!(grads.len(), 4, "the two linear layers' weights and biases");
    trainer.update();
    let after = trainer.network().weights();
    let mut moved = 0;
    for t in Frozen::TENSORS {
        let (old, new) = (&w[t.offset..][..t.len()], &after[t.offset..][..t.len()]);
        match grads.iter().find(|(o, _)| *o == t.offset) {
            Some((_, g)) => {
                for ((o, n), g) in old.iter().zip(new).zip(g) {
                    assert_eq!(*n, o + -lr * g, "{}", t.name);
                }
                moved += 1;
            }
            None => assert_eq!(old, new, "{} is frozen", t.name),
        }
    }
    assert_eq!(moved, 4);
    // The network runs with the new weights: the same outputs as one loaded with them.
    let reloaded = Frozen::from_weights(Weights::Owned(after[..].to_vec())).expect("weights");
    let y = trainer
        .network()
        .infer(&x[..Frozen::INPUT_LEN])
        .expect("one sample");
    assert_eq!(
        y,
        reloaded.infer(&x[..Frozen::INPUT_LEN]).expect("one sample")
    );
}

#[test]
fn a_trainer_refuses_what_does_not_fit() {
    let net = || cnn::__private::synthetic_network::<LeNet5>();
    let sgd = Optimizer::Sgd(Sgd::new(0.1));
    assert_eq!(
        Trainer::with_frozen(net(), 4, sgd, 12).err(),
        Some(Error::NothingToTrain {
            frozen: 12,
            layers: 12
        })
    );
    let mut trainer = Trainer::new(net(), 4, sgd).expect("a trainer");
    let five = vec![0.0; 5 * LeNet5::INPUT_LEN];
    let e = trainer.step(&five, |_, _| 0.0).err();
    assert_eq!(e, Some(Error::TrainBatch { max: 4, found: 5 }));
    assert_eq!(
        e.map(|e| e.to_string()).as_deref(),
        Some("a training batch of 5 samples; this trainer takes 1 to 4")
    );
    let e = trainer.step(&[0.0; 3], |_, _| 0.0).err();
    assert_eq!(
        e,
        Some(Error::InputLength {
            expected: LeNet5::INPUT_LEN,
            found: 3
        })
    );
    assert_eq!(
        trainer.step(&[], |_, _| 0.0).err(),
        Some(Error::TrainBatch { max: 4, found: 0 })
    );
    let small: &'static mut [f32] = Box::leak(vec![0.0; 100].into_boxed_slice());
    let needed = TrainLayout::of::<LeNet5>(4, 0, 1).len();
    assert_eq!(
        Trainer::in_buffer(net(), 4, sgd, 0, small).err(),
        Some(Error::ArenaTooSmall {
            expected: needed,
            found: 100
        })
    );
}

/// The loss of `Dropped` with weights `w` on `x` against `t`, and its trainer (seeded with
/// `seed`, so that every trainer made here draws the same masks).
fn dropped(w: &[f32], x: &[f32], t: &[f32], seed: u64) -> (f32, Trainer<Dropped>, Vec<f32>) {
    let net = Dropped::from_weights(Weights::Owned(w.to_vec())).expect("weights");
    let mut trainer = Trainer::new(net, 2, Optimizer::Sgd(Sgd::new(0.1))).expect("a trainer");
    trainer.set_seed(seed);
    let mut out = Vec::new();
    let loss = trainer
        .forward_backward(x, |y, g| {
            out = y.to_vec();
            cnn::train::mse(y, t, g)
        })
        .expect("a batch");
    (loss, trainer, out)
}

#[test]
fn dropout_trains_with_seeded_masks() {
    let mut rng = Rng::new(10);
    let mut w = random_weights::<Dropped>(&mut rng);
    for v in &mut w {
        *v *= 0.1;
    }
    let x = rng.vec(2 * 40, -1.0, 1.0);
    let t = rng.vec(2 * 3, -1.0, 1.0);
    let (loss, trainer, out) = dropped(&w, &x, &t, 1);
    // The same seed draws the same masks; another seed others.
    assert_eq!(dropped(&w, &x, &t, 1).0, loss);
    assert_ne!(dropped(&w, &x, &t, 2).0, loss);
    // About 40% of fc1's outputs are dropped: the network at inference differs.
    let eval = trainer.network().infer_many(&x).expect("a batch");
    assert_ne!(eval, out);
    // The gradient through the mask, against central differences of the same masks.
    let fc1 = Dropped::TENSORS[0];
    let g = trainer.gradient("fc1.weight").expect("fc1 trains").to_vec();
    let mut checked = 0;
    for k in (0..fc1.len()).step_by(997) {
        let h = 0.05;
        let mut plus = w.clone();
        plus[fc1.offset + k] += h;
        let mut minus = w.clone();
        minus[fc1.offset + k] -= h;
        let fd = (f64::from(dropped(&plus, &x, &t, 1).0) - f64::from(dropped(&minus, &x, &t, 1).0))
            / (2.0 * f64::from(h));
        assert!(
            (fd - f64::from(g[k])).abs() <= 1e-3 * fd.abs().max(1e-2),
            "fc1.weight[{k}]: {} against {fd}",
            g[k]
        );
        checked += usize::from(g[k] != 0.0);
    }
    // Some of the checked weights feed dropped units (gradient 0), most kept ones.
    assert!(checked > 40, "{checked} nonzero gradients checked");
    assert!(checked < 80, "{checked} nonzero gradients checked");
}

/// The CIFAR ResNet-20 in training mode on a batch of two, against PyTorch's autograd
/// (`tools/make_grad_golden.py`): too large for the reference, so the generated backward pass
/// is compared with PyTorch directly. Weights, inputs and output weighting come from the
/// generator both sides share; the golden file holds the gradients (every `step`-th value of
/// the large ones) and the running statistics after the pass.
#[test]
fn resnet20_gradients_match_pytorch_s() {
    use cnn::zoo::ResNet20;
    let signed = |name: &str, n: usize| -> Vec<f32> {
        cnn::__private::uniform_by_name(name, n)
            .map(|u| (2.0 * u - 1.0) as f32)
            .collect()
    };
    let x = signed("resnet20.train.input", 2 * ResNet20::INPUT_LEN);
    let r = signed("resnet20.train.r", 2 * ResNet20::OUTPUT_LEN);
    let net = cnn::__private::synthetic_network::<ResNet20>();
    let mut trainer = Trainer::new(net, 2, Optimizer::Sgd(Sgd::new(0.1))).expect("a trainer");
    pass(&mut trainer, &x, &r);
    let golden = f64_tensors("golden/resnet20.train.grad.safetensors");
    let floor = floor(
        golden
            .iter()
            .filter(|(k, _)| k.starts_with("grad."))
            .map(|(_, v)| v),
    );
    let (mut grads, mut running) = (0, 0);
    for (key, want) in &golden {
        if let Some(t) = key.strip_prefix("grad.") {
            let step = golden
                .get(&format!("step.{t}"))
                .map_or(1, |s| s[0] as usize);
            let got: Vec<f32> = trainer
                .gradient(t)
                .unwrap_or_else(|| panic!("resnet20: no gradient for {t}"))
                .iter()
                .step_by(step)
                .copied()
                .collect();
            close_or(&got, want, 2e-4, floor, &format!("resnet20: grad {t}"));
            grads += 1;
        } else if let Some(t) = key.strip_prefix("running.") {
            let spec = ResNet20::TENSORS
                .iter()
                .find(|s| s.name == t)
                .expect("a tensor");
            let got = &trainer.network().weights()[spec.offset..][..spec.len()];
            close(got, want, 1e-5, &format!("resnet20: {t}"));
            running += 1;
        }
    }
    // 21 convolutions (the stem, two per block, two projections), 21 batch norms (weight and
    // bias), the linear layer's weight and bias.
    assert_eq!(grads, 21 + 2 * 21 + 2);
    assert_eq!(running, 2 * 21);
}

/// The UCI digits of `examples/data/digits.csv.gz`: (images scaled to `[0, 1]`, labels) of
/// the training part and of the held-out fifth (every fifth row), as the example splits them.
type Split = ((Vec<f32>, Vec<usize>), (Vec<f32>, Vec<usize>));

fn digits() -> Split {
    use std::io::Read;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/digits.csv.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("the digits"))
        .read_to_string(&mut text)
        .expect("gzip");
    let (mut train, mut test) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for (i, line) in text.lines().enumerate() {
        let v: Vec<f32> = line
            .split(',')
            .map(|x| x.parse().expect("a number"))
            .collect();
        let set = if i % 5 == 4 { &mut test } else { &mut train };
        set.0.extend(v[..64].iter().map(|p| p / 16.0));
        set.1.push(v[64] as usize);
    }
    (train, test)
}

fn accuracy(net: &Digits, images: &[f32], labels: &[usize]) -> f64 {
    let out = net.infer_many(images).expect("whole images");
    let right = out
        .chunks_exact(10)
        .zip(labels)
        .filter(|(row, t)| (0..10).fold(0, |b, c| if row[c] > row[b] { c } else { b }) == **t)
        .count();
    right as f64 / labels.len() as f64
}

/// Three epochs of the example's recipe on the real digits, then the head alone with the
/// convolutions frozen: what the example does, shorter.
#[test]
fn digits_train_and_fine_tune() {
    let ((xs, ys), (xt, yt)) = digits();
    assert_eq!((ys.len(), yt.len()), (1438, 359));
    let mut w = vec![0.0; Digits::WEIGHTS_LEN];
    cnn::train::init_weights(Digits::LAYERS, Digits::TENSORS, &mut w, 1);
    let net = Digits::from_weights(Weights::Owned(w)).expect("weights");
    let before = accuracy(&net, &xt, &yt);
    let run = |net: Digits, frozen: usize, epochs: u64| -> Digits {
        let opt = Optimizer::Adam(cnn::train::Adam::new(3e-3));
        let mut trainer = Trainer::with_frozen(net, 32, opt, frozen).expect("a trainer");
        let mut rng = cnn::train::Rng::new(frozen as u64);
        let mut batch = vec![0.0; 32 * 64];
        let mut order: Vec<usize> = (0..ys.len()).collect();
        for _ in 0..epochs {
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            }
            for chunk in order.chunks(32) {
                let mut labels = Vec::new();
                for (k, &i) in chunk.iter().enumerate() {
                    let dst = &mut batch[k * 64..][..64];
                    cnn::train::random_crop(&xs[i * 64..][..64], [1, 8, 8], 1, &mut rng, dst);
                    labels.push(ys[i]);
                }
                trainer
                    .step(&batch[..chunk.len() * 64], |y, g| {
                        cnn::train::cross_entropy(y, &labels, 10, 0.0, g)
                    })
                    .expect("a batch");
            }
        }
        trainer.into_network()
    };
    let net = run(net, 0, 3);
    let trained = accuracy(&net, &xt, &yt);
    assert!(before < 0.3 && trained > 0.93, "{before} then {trained}");
    // The head drawn anew and trained alone: the frozen convolutions do not move.
    let mut w = net.weights()[..].to_vec();
    let head: Vec<_> = Digits::TENSORS
        .iter()
        .filter(|t| t.name.starts_with("head."))
        .copied()
        .collect();
    cnn::train::init_weights(Digits::LAYERS, &head, &mut w, 2);
    let net = Digits::from_weights(Weights::Owned(w.clone())).expect("weights");
    let tuned = run(net, 7, 2);
    let conv_end = head[0].offset;
    assert_eq!(&tuned.weights()[..conv_end], &w[..conv_end]);
    let acc = accuracy(&tuned, &xt, &yt);
    assert!(acc > 0.93, "{acc} after fine-tuning the head");
}
