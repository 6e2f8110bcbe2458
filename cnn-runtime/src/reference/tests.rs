//! The reference gradients against central finite differences in `f64`, layer kind by layer
//! kind and option by option, on small random sizes, and through graphs (residual adds,
//! concatenations, a value read twice).

use alloc::{collections::BTreeMap, string::String, vec, vec::Vec};

use super::forward_all;
use super::grad::{Mode, backward_batch};
use crate::train::Rng;
use crate::{Activation, Layer};

/// `n` values uniform in `[lo, hi)`.
fn uniform(rng: &mut Rng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| lo + (hi - lo) * rng.uniform()).collect()
}

/// Checks every gradient of `Σ r · output` (r random) against central differences: with respect
/// to each input value and each value of each trained tensor; and that exactly the trained
/// tensors (all of `shapes` but running statistics) get gradients. One sample at inference.
fn check(
    layers: &[Layer],
    inputs: &[&[usize]],
    input_shape: &[usize],
    shapes: &[(&str, &[usize])],
    seed: u64,
) {
    check_batch(layers, inputs, input_shape, shapes, seed, 1, Mode::Eval);
}

/// [`check`] on a batch of `n` samples in `mode`, the loss summed over the batch.
fn check_batch(
    layers: &[Layer],
    inputs: &[&[usize]],
    input_shape: &[usize],
    shapes: &[(&str, &[usize])],
    seed: u64,
    n: usize,
    mode: Mode,
) {
    let mut rng = Rng::new(seed);
    let mut tensors: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (name, shape) in shapes {
        let len = shape.iter().product();
        let values = if name.ends_with("running_var") {
            uniform(&mut rng, len, 0.5, 1.5)
        } else {
            uniform(&mut rng, len, -1.0, 1.0)
        };
        tensors.insert(String::from(*name), values);
    }
    let len: usize = input_shape.iter().product();
    let x = uniform(&mut rng, n * len, -2.0, 2.0);
    let split = |x: &[f64]| -> Vec<Vec<f64>> { x.chunks_exact(len).map(<[f64]>::to_vec).collect() };
    let pass = |x: &[f64], t: &BTreeMap<String, Vec<f64>>, r: &[Vec<f64>]| {
        backward_batch(
            layers,
            inputs,
            input_shape,
            &split(x),
            &|name| t[name].clone(),
            r,
            mode,
        )
    };
    // The output's length is the same in both modes: one sample at inference gives it.
    let out_len = forward_all(layers, inputs, input_shape, &x[..len], &|name| {
        tensors[name].clone()
    })
    .last()
    .expect("an output")
    .data
    .len();
    let zeros = vec![vec![0.0; out_len]; n];
    let r: Vec<Vec<f64>> = zeros
        .iter()
        .map(|z| uniform(&mut rng, z.len(), -1.0, 1.0))
        .collect();
    let loss = |x: &[f64], t: &BTreeMap<String, Vec<f64>>| -> f64 {
        let out = pass(x, t, &zeros).outputs;
        out.iter()
            .flatten()
            .zip(r.iter().flatten())
            .map(|(y, r)| y * r)
            .sum()
    };
    let grads = pass(&x, &tensors, &r);
    let grad_input: Vec<f64> = grads.inputs.concat();
    let h = 1e-6;
    let close = |what: &str, i: usize, analytic: f64, numeric: f64| {
        assert!(
            (analytic - numeric).abs() <= 1e-6 * analytic.abs().max(1.0),
            "{what}[{i}]: backward gives {analytic}, finite differences {numeric}"
        );
    };
    for i in 0..x.len() {
        let (mut plus, mut minus) = (x.clone(), x.clone());
        plus[i] += h;
        minus[i] -= h;
        let numeric = (loss(&plus, &tensors) - loss(&minus, &tensors)) / (2.0 * h);
        close("input", i, grad_input[i], numeric);
    }
    let trained: Vec<&str> = shapes
        .iter()
        .map(|s| s.0)
        .filter(|n| !n.contains("running_"))
        .collect();
    let mut got: Vec<&str> = grads.tensors.keys().map(String::as_str).collect();
    got.sort_unstable();
    let mut want = trained.clone();
    want.sort_unstable();
    assert_eq!(got, want, "the tensors with gradients");
    for name in trained {
        for j in 0..tensors[name].len() {
            let mut t = tensors.clone();
            let v = t.get_mut(name).expect("a tensor");
            v[j] += h;
            let plus = loss(&x, &t);
            t.get_mut(name).expect("a tensor")[j] -= 2.0 * h;
            let numeric = (plus - loss(&x, &t)) / (2.0 * h);
            close(name, j, grads.tensors[name][j], numeric);
        }
    }
}

/// One layer reading the input.
fn one(layer: Layer, input_shape: &[usize], shapes: &[(&str, &[usize])], seed: u64) {
    check(&[layer], &[&[0]], input_shape, shapes, seed);
}

#[allow(clippy::too_many_arguments)]
fn conv(
    in_channels: usize,
    out_channels: usize,
    kernel: &'static [usize],
    stride: &'static [usize],
    padding: &'static [usize],
    padding_end: &'static [usize],
    dilation: &'static [usize],
    groups: usize,
    bias: bool,
) -> Layer {
    Layer::Conv {
        name: "c",
        in_channels,
        out_channels,
        kernel,
        stride,
        padding,
        padding_end,
        dilation,
        groups,
        bias,
    }
}

#[test]
fn convolutions() {
    let c = conv(3, 4, &[3, 2], &[2, 1], &[1, 0], &[1, 0], &[1, 2], 1, true);
    one(
        c,
        &[3, 7, 6],
        &[("c.weight", &[4, 3, 3, 2]), ("c.bias", &[4])],
        1,
    );
    // Grouped 1-d, "same" padding with an even window (one more at the end).
    let c = conv(4, 6, &[4], &[1], &[1], &[2], &[1], 2, true);
    one(c, &[4, 9], &[("c.weight", &[6, 2, 4]), ("c.bias", &[6])], 2);
    // Depthwise, strided, no bias.
    let c = conv(3, 3, &[3, 3], &[2, 2], &[1, 1], &[1, 1], &[1, 1], 3, false);
    one(c, &[3, 6, 5], &[("c.weight", &[3, 1, 3, 3])], 3);
    let c = conv(
        2,
        2,
        &[2, 1, 2],
        &[1, 1, 2],
        &[0, 1, 1],
        &[0, 1, 1],
        &[1, 1, 1],
        1,
        true,
    );
    one(
        c,
        &[2, 3, 2, 4],
        &[("c.weight", &[2, 2, 2, 1, 2]), ("c.bias", &[2])],
        4,
    );
}

#[test]
fn pools() {
    let max = Layer::MaxPool {
        kernel: &[3, 2],
        stride: &[2, 2],
        padding: &[1, 1],
        dilation: &[1, 2],
        ceil_mode: true,
    };
    one(max, &[2, 7, 8], &[], 5);
    for (count_include_pad, divisor_override) in [(true, None), (false, None), (true, Some(5))] {
        let avg = Layer::AvgPool {
            kernel: &[3, 2],
            stride: &[2, 1],
            padding: &[1, 1],
            ceil_mode: true,
            count_include_pad,
            divisor_override,
        };
        one(avg, &[2, 6, 5], &[], 6);
    }
    one(
        Layer::AdaptiveAvgPool { output: &[3, 2] },
        &[2, 7, 5],
        &[],
        7,
    );
    one(Layer::AdaptiveMaxPool { output: &[4] }, &[3, 9], &[], 8);
    one(
        Layer::AdaptiveMaxPool { output: &[2, 3, 2] },
        &[1, 3, 5, 4],
        &[],
        9,
    );
}

#[test]
fn batch_norm_linear_and_reshapes() {
    let stats: [(&str, &[usize]); 4] = [
        ("bn.running_mean", &[3]),
        ("bn.running_var", &[3]),
        ("bn.weight", &[3]),
        ("bn.bias", &[3]),
    ];
    let bn = |affine| Layer::BatchNorm {
        name: "bn",
        num_features: 3,
        eps: 1e-5,
        momentum: Some(0.1),
        affine,
    };
    one(bn(true), &[3, 4, 2], &stats, 10);
    one(bn(false), &[3, 5], &stats[..2], 11);
    let linear = |bias| Layer::Linear {
        name: "fc",
        in_features: 5,
        out_features: 4,
        bias,
    };
    // Applied to the last axis of a [3, 5] input: three rows.
    one(
        linear(true),
        &[3, 5],
        &[("fc.weight", &[4, 5]), ("fc.bias", &[4])],
        12,
    );
    check(
        &[
            Layer::Flatten {
                start_dim: 1,
                end_dim: -1,
            },
            linear(false),
        ],
        &[&[0], &[1]],
        &[1, 5],
        &[("fc.weight", &[4, 5])],
        13,
    );
}

#[test]
fn activations_and_softmax() {
    for (i, act) in [
        Activation::Identity,
        Activation::Relu,
        Activation::Relu6,
        Activation::LeakyRelu(0.1),
        Activation::Sigmoid,
        Activation::Tanh,
    ]
    .into_iter()
    .enumerate()
    {
        // A batch norm before, so that the activation's input has a gradient of its own kind.
        check(
            &[
                Layer::BatchNorm {
                    name: "bn",
                    num_features: 2,
                    eps: 0.0,
                    momentum: Some(0.1),
                    affine: true,
                },
                Layer::Activation(act),
            ],
            &[&[0], &[1]],
            &[2, 7],
            &[
                ("bn.running_mean", &[2]),
                ("bn.running_var", &[2]),
                ("bn.weight", &[2]),
                ("bn.bias", &[2]),
            ],
            20 + i as u64,
        );
    }
    one(Layer::Softmax { dim: 1 }, &[4, 3], &[], 30);
    one(Layer::Softmax { dim: -1 }, &[2, 3, 4], &[], 31);
    one(Layer::Identity, &[2, 3], &[], 32);
}

/// A residual block whose input is read three times (the main path, the shortcut, a
/// concatenation), so that gradients from several readers add up.
#[test]
fn graphs() {
    let c = conv(2, 2, &[3], &[1], &[1], &[1], &[1], 1, true);
    check(
        &[
            c,
            Layer::Activation(Activation::Tanh),
            Layer::Add,
            Layer::Concat,
            Layer::AdaptiveMaxPool { output: &[3] },
        ],
        &[&[0], &[1], &[2, 0], &[3, 0, 2], &[4]],
        &[2, 6],
        &[("c.weight", &[2, 2, 3]), ("c.bias", &[2])],
        40,
    );
}

/// Batch norm in training mode: the batch's statistics depend on every sample, so each input's
/// gradient reaches every other sample's output; with a convolution before and an activation
/// after, affine and not.
#[test]
fn batch_norm_in_training() {
    for (affine, momentum) in [(true, Some(0.1)), (false, None)] {
        let layers = [
            conv(2, 3, &[3], &[1], &[1], &[1], &[1], 1, true),
            Layer::BatchNorm {
                name: "bn",
                num_features: 3,
                eps: 1e-5,
                momentum,
                affine,
            },
            Layer::Activation(Activation::Tanh),
        ];
        let mut shapes: Vec<(&str, &[usize])> = vec![
            ("c.weight", &[3, 2, 3]),
            ("c.bias", &[3]),
            ("bn.running_mean", &[3]),
            ("bn.running_var", &[3]),
        ];
        if affine {
            shapes.extend([("bn.weight", &[3][..]), ("bn.bias", &[3][..])]);
        }
        let mode = Mode::Train { batches: 4 };
        check_batch(&layers, &[&[0], &[1], &[2]], &[2, 5], &shapes, 50, 3, mode);
    }
}
