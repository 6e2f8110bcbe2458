//! Gradients of the reference network, in `f64`: the truth the generated backward passes will be
//! checked against, itself checked against finite differences.
//!
//! Each layer's gradient is the transpose of what [`apply`](super::apply) computed, walking the
//! same terms and windows; where a function has a kink, the derivative chosen is PyTorch's
//! (ReLU's is 0 at 0, a max pool's goes to the first largest value of its window).

use alloc::{collections::BTreeMap, format, string::String, vec, vec::Vec};

use super::{
    Tensor64, apply, axis_of, combine, gamma_beta, lines, pool_windows, running_stats,
    weighted_sums,
};
use crate::{Activation, Layer};

/// The gradients of a scalar loss with respect to a network's input and its trained tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradients {
    /// The loss's gradient with respect to the input, one value per input value.
    pub input: Vec<f64>,
    /// The loss's gradient with respect to each trained tensor (convolution and linear weights
    /// and biases, batch-norm weights and biases), by state_dict name. Running statistics are
    /// not trained and have none.
    pub tensors: BTreeMap<String, Vec<f64>>,
}

/// Runs the network (as [`forward_all`]) and propagates `grad_output`, the loss's gradient with
/// respect to the network's output, back through every layer: batch norms at inference (running
/// statistics), dropout as the identity.
///
/// # Panics
/// As [`forward_all`]; and if `grad_output` does not have one value per output value.
pub fn backward(
    layers: &[Layer],
    inputs: &[&[usize]],
    input_shape: &[usize],
    input: &[f64],
    tensor: &dyn Fn(&str) -> Vec<f64>,
    grad_output: &[f64],
) -> Gradients {
    let mut batch = backward_batch(
        layers,
        inputs,
        input_shape,
        &[input.to_vec()],
        tensor,
        &[grad_output.to_vec()],
        Mode::Eval,
    );
    Gradients {
        input: batch.inputs.swap_remove(0),
        tensors: batch.tensors,
    }
}

/// How batch norms run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Inference: the running statistics normalise.
    Eval,
    /// Training: each batch norm normalises with the batch's statistics (over the samples and
    /// the positions; the variance biased), and its running statistics move towards them (the
    /// variance unbiased) by its momentum, or, with `momentum: None`, by `1 / (batches + 1)`
    /// where `batches` is how many batches it has seen before (PyTorch's `num_batches_tracked`).
    Train { batches: u64 },
}

/// What one pass over a batch gives.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchGradients {
    /// The network's output for each sample.
    pub outputs: Vec<Vec<f64>>,
    /// The loss's gradient with respect to each sample's input.
    pub inputs: Vec<Vec<f64>>,
    /// The loss's gradient with respect to each trained tensor, summed over the batch.
    pub tensors: BTreeMap<String, Vec<f64>>,
    /// In training mode, each batch norm's running statistics after the pass, by state_dict
    /// name (`bn1.running_mean`, `bn1.running_var`); empty at inference.
    pub running: BTreeMap<String, Vec<f64>>,
}

/// Runs the network on a batch and propagates `grad_outputs` (the loss's gradient with respect
/// to each sample's output) back; batch norms as `mode` says, dropout as the identity.
///
/// # Panics
/// As [`forward_all`]; and if there is not one gradient per output value.
pub fn backward_batch(
    layers: &[Layer],
    inputs: &[&[usize]],
    input_shape: &[usize],
    batch: &[Vec<f64>],
    tensor: &dyn Fn(&str) -> Vec<f64>,
    grad_outputs: &[Vec<f64>],
    mode: Mode,
) -> BatchGradients {
    // values[v][s]: value v (0 the input, i + 1 layer i's output) of sample s.
    let mut values: Vec<Vec<Tensor64>> = vec![
        batch
            .iter()
            .map(|x| Tensor64 {
                shape: input_shape.to_vec(),
                data: x.clone(),
            })
            .collect(),
    ];
    // Each batch norm's per-channel (mean, 1 / sqrt(var + eps)): the batch's or the running ones.
    let mut stats: Vec<Option<Vec<(f64, f64)>>> = Vec::new();
    let mut running = BTreeMap::new();
    for (layer, reads) in layers.iter().zip(inputs) {
        let (out, norm_stats) = match (layer, mode) {
            (Layer::BatchNorm { .. }, Mode::Train { batches }) => {
                let (out, st) = norm_train(layer, &values[reads[0]], tensor, batches, &mut running);
                (out, Some(st))
            }
            _ => {
                let out = (0..batch.len())
                    .map(|s| {
                        let args: Vec<&Tensor64> = reads.iter().map(|&r| &values[r][s]).collect();
                        combine(layer, &args).unwrap_or_else(|| apply(layer, args[0], tensor))
                    })
                    .collect();
                let st =
                    matches!(layer, Layer::BatchNorm { .. }).then(|| running_stats(layer, tensor));
                (out, st)
            }
        };
        values.push(out);
        stats.push(norm_stats);
    }
    let mut grads: Vec<Vec<Vec<f64>>> = values
        .iter()
        .map(|v| v.iter().map(|t| vec![0.0; t.data.len()]).collect())
        .collect();
    let last = grads.last_mut().expect("the input at least");
    assert_eq!(
        last.len(),
        grad_outputs.len(),
        "one output gradient per sample"
    );
    for (g, given) in last.iter_mut().zip(grad_outputs) {
        assert_eq!(g.len(), given.len(), "one gradient per output");
        g.copy_from_slice(given);
    }
    let mut tensors = BTreeMap::new();
    for (i, (layer, reads)) in layers.iter().zip(inputs).enumerate().rev() {
        // Every layer reading this one's output comes later and has already given its share.
        let gy = core::mem::take(&mut grads[i + 1]);
        match layer {
            Layer::Add => {
                for &r in reads.iter() {
                    for (g, gy) in grads[r].iter_mut().zip(&gy) {
                        add_into(g, gy);
                    }
                }
            }
            Layer::Concat => {
                let mut start = 0;
                for &r in reads.iter() {
                    let n = values[r][0].data.len();
                    for (g, gy) in grads[r].iter_mut().zip(&gy) {
                        add_into(g, &gy[start..start + n]);
                    }
                    start += n;
                }
            }
            _ => {
                let gx = match &stats[i] {
                    Some(st) => {
                        let batch = matches!(mode, Mode::Train { .. });
                        norm_backward(
                            layer,
                            &values[reads[0]],
                            &gy,
                            (st, batch),
                            tensor,
                            &mut tensors,
                        )
                    }
                    None => values[reads[0]]
                        .iter()
                        .zip(&values[i + 1])
                        .zip(&gy)
                        .map(|((x, y), gy)| layer_backward(layer, x, y, gy, tensor, &mut tensors))
                        .collect(),
                };
                for (g, gx) in grads[reads[0]].iter_mut().zip(&gx) {
                    add_into(g, gx);
                }
            }
        }
    }
    BatchGradients {
        outputs: values
            .pop()
            .expect("the input at least")
            .into_iter()
            .map(|t| t.data)
            .collect(),
        inputs: core::mem::take(&mut grads[0]),
        tensors,
        running,
    }
}

/// A batch norm in training mode over the batch `x`: the outputs, each channel's batch mean and
/// `1 / sqrt(var + eps)`; the updated running statistics go into `running`.
fn norm_train(
    layer: &Layer,
    x: &[Tensor64],
    tensor: &dyn Fn(&str) -> Vec<f64>,
    batches: u64,
    running: &mut BTreeMap<String, Vec<f64>>,
) -> (Vec<Tensor64>, Vec<(f64, f64)>) {
    let Layer::BatchNorm {
        name,
        num_features,
        eps,
        momentum,
        ..
    } = *layer
    else {
        unreachable!("a batch norm")
    };
    let plane = x[0].data.len() / num_features;
    let count = (x.len() * plane) as f64;
    let channel = |c: usize| {
        x.iter()
            .flat_map(move |t| t.data[c * plane..(c + 1) * plane].iter().copied())
    };
    let (gamma, beta) = gamma_beta(layer, tensor);
    let (mut mean_run, mut var_run) = (
        tensor(&format!("{name}.running_mean")),
        tensor(&format!("{name}.running_var")),
    );
    let factor = momentum.map_or(1.0 / (batches as f64 + 1.0), f64::from);
    let mut stats = Vec::new();
    for c in 0..num_features {
        let mean = channel(c).sum::<f64>() / count;
        let var = channel(c).map(|v| (v - mean) * (v - mean)).sum::<f64>() / count;
        stats.push((mean, 1.0 / (var + f64::from(eps)).sqrt()));
        mean_run[c] = (1.0 - factor) * mean_run[c] + factor * mean;
        var_run[c] = (1.0 - factor) * var_run[c] + factor * var * count / (count - 1.0);
    }
    running.insert(format!("{name}.running_mean"), mean_run);
    running.insert(format!("{name}.running_var"), var_run);
    let out = x
        .iter()
        .map(|t| {
            let mut y = t.clone();
            for (i, v) in y.data.iter_mut().enumerate() {
                let c = i / plane;
                *v = (*v - stats[c].0) * stats[c].1 * gamma[c] + beta[c];
            }
            y
        })
        .collect();
    (out, stats)
}

/// A batch norm's gradient over the batch `x`, normalised with `stats` (per channel `(mean,
/// inv_std)`), with `dxhat = gy * gamma`: each input's gradient is `inv_std * dxhat` when the
/// statistics are constants (the running ones), and `inv_std * (dxhat - mean(dxhat) - xhat *
/// mean(dxhat * xhat))` when they are the batch's, which depend on every sample (`batch`).
fn norm_backward(
    layer: &Layer,
    x: &[Tensor64],
    gy: &[Vec<f64>],
    (stats, batch): (&[(f64, f64)], bool),
    tensor: &dyn Fn(&str) -> Vec<f64>,
    tensors: &mut BTreeMap<String, Vec<f64>>,
) -> Vec<Vec<f64>> {
    let Layer::BatchNorm {
        name,
        num_features,
        affine,
        ..
    } = *layer
    else {
        unreachable!("a batch norm")
    };
    let plane = x[0].data.len() / num_features;
    let count = (x.len() * plane) as f64;
    let (gamma, _) = gamma_beta(layer, tensor);
    let xhat = |s: usize, i: usize| {
        let (mean, inv) = stats[i / plane];
        (x[s].data[i] - mean) * inv
    };
    let (mut sum_d, mut sum_dx) = (vec![0.0; num_features], vec![0.0; num_features]);
    let (mut gg, mut gb) = (vec![0.0; num_features], vec![0.0; num_features]);
    for (s, gy) in gy.iter().enumerate() {
        for (i, g) in gy.iter().enumerate() {
            let c = i / plane;
            sum_d[c] += g * gamma[c];
            sum_dx[c] += g * gamma[c] * xhat(s, i);
            gg[c] += g * xhat(s, i);
            gb[c] += g;
        }
    }
    if affine {
        add_into(
            grad_of(tensors, format!("{name}.weight"), num_features),
            &gg,
        );
        add_into(grad_of(tensors, format!("{name}.bias"), num_features), &gb);
    }
    gy.iter()
        .enumerate()
        .map(|(s, gy)| {
            gy.iter()
                .enumerate()
                .map(|(i, g)| {
                    let c = i / plane;
                    let d = g * gamma[c];
                    if batch {
                        stats[c].1 * (d - sum_d[c] / count - xhat(s, i) * sum_dx[c] / count)
                    } else {
                        stats[c].1 * d
                    }
                })
                .collect()
        })
        .collect()
}

/// The gradient of tensor `name` so far, zeros at first.
fn grad_of(tensors: &mut BTreeMap<String, Vec<f64>>, name: String, len: usize) -> &mut Vec<f64> {
    tensors.entry(name).or_insert_with(|| vec![0.0; len])
}

fn add_into(sum: &mut [f64], g: &[f64]) {
    for (s, g) in sum.iter_mut().zip(g) {
        *s += g;
    }
}

/// The gradient of one layer with input `x`, output `y` and output gradient `gy`: returns the
/// input's gradient and adds the trained tensors' gradients to `tensors`.
fn layer_backward(
    layer: &Layer,
    x: &Tensor64,
    y: &Tensor64,
    gy: &[f64],
    tensor: &dyn Fn(&str) -> Vec<f64>,
    tensors: &mut BTreeMap<String, Vec<f64>>,
) -> Vec<f64> {
    let mut gx = vec![0.0; x.data.len()];
    match *layer {
        Layer::Conv {
            name,
            out_channels,
            bias,
            ..
        }
        | Layer::Linear {
            name,
            out_features: out_channels,
            bias,
            ..
        } => {
            let sums = weighted_sums(layer, &x.shape);
            let weight = tensor(&format!("{name}.weight"));
            let gw = grad_of(tensors, format!("{name}.weight"), weight.len());
            for &(o, i, w) in &sums.terms {
                gx[i] += weight[w] * gy[o];
                gw[w] += x.data[i] * gy[o];
            }
            if bias {
                let gb = grad_of(tensors, format!("{name}.bias"), out_channels);
                for (o, g) in gy.iter().enumerate() {
                    gb[sums.channel(o)] += g;
                }
            }
        }
        Layer::MaxPool { .. }
        | Layer::AvgPool { .. }
        | Layer::AdaptiveAvgPool { .. }
        | Layer::AdaptiveMaxPool { .. } => {
            let w = pool_windows(layer, &x.shape);
            for (o, g) in gy.iter().enumerate() {
                if w.max {
                    if let Some(i) = w.argmax(&x.data, o) {
                        gx[i] += g;
                    }
                } else if w.divisors[o] != 0.0 {
                    for &i in &w.cells[o] {
                        gx[i] += g / w.divisors[o];
                    }
                }
            }
        }
        Layer::Flatten { .. } | Layer::Identity | Layer::Dropout { .. } => gx.copy_from_slice(gy),
        Layer::Activation(act) => {
            for (i, g) in gy.iter().enumerate() {
                gx[i] = g * activation_slope(act, x.data[i], y.data[i]);
            }
        }
        Layer::Softmax { dim } => {
            for line in lines(&x.shape, axis_of(dim, x.shape.len())) {
                let dot: f64 = line.iter().map(|&i| gy[i] * y.data[i]).sum();
                for &i in &line {
                    gx[i] = y.data[i] * (gy[i] - dot);
                }
            }
        }
        Layer::Add | Layer::Concat | Layer::BatchNorm { .. } => {
            unreachable!("`backward_batch` handles the layers with several inputs and batch norms")
        }
    }
    gx
}

/// `d act(x) / dx`, from the input `x` or the output `y`, with PyTorch's choice at kinks.
fn activation_slope(act: Activation, x: f64, y: f64) -> f64 {
    match act {
        Activation::Identity => 1.0,
        Activation::Relu => f64::from(u8::from(x > 0.0)),
        Activation::Relu6 => f64::from(u8::from(x > 0.0 && x < 6.0)),
        Activation::LeakyRelu(slope) => {
            if x > 0.0 {
                1.0
            } else {
                f64::from(slope)
            }
        }
        Activation::Sigmoid => y * (1.0 - y),
        Activation::Tanh => 1.0 - y * y,
    }
}
