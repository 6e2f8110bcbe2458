//! Gradients of the reference network, in `f64`: the truth the generated backward passes will be
//! checked against, itself checked against finite differences.
//!
//! Each layer's gradient is the transpose of what [`apply`](super::apply) computed, walking the
//! same terms and windows; where a function has a kink, the derivative chosen is PyTorch's
//! (ReLU's is 0 at 0, a max pool's goes to the first largest value of its window).

use alloc::{collections::BTreeMap, format, string::String, vec, vec::Vec};

use super::{Tensor64, axis_of, forward_all, lines, norm_affine, pool_windows, weighted_sums};
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
    let values = forward_all(layers, inputs, input_shape, input, tensor);
    let mut grads: Vec<Vec<f64>> = values.iter().map(|v| vec![0.0; v.data.len()]).collect();
    let last = grads.last_mut().expect("the input at least");
    assert_eq!(last.len(), grad_output.len(), "one gradient per output");
    last.copy_from_slice(grad_output);
    let mut tensors = BTreeMap::new();
    for (i, (layer, reads)) in layers.iter().zip(inputs).enumerate().rev() {
        // Every layer reading this one's output comes later and has already given its share.
        let gy = core::mem::take(&mut grads[i + 1]);
        match layer {
            Layer::Add => {
                for &r in reads.iter() {
                    add_into(&mut grads[r], &gy);
                }
            }
            Layer::Concat => {
                let mut start = 0;
                for &r in reads.iter() {
                    let n = values[r].data.len();
                    add_into(&mut grads[r], &gy[start..start + n]);
                    start += n;
                }
            }
            _ => {
                let x = &values[reads[0]];
                let gx = layer_backward(layer, x, &values[i + 1], &gy, tensor, &mut tensors);
                add_into(&mut grads[reads[0]], &gx);
            }
        }
    }
    Gradients {
        input: core::mem::take(&mut grads[0]),
        tensors,
    }
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
        Layer::BatchNorm {
            name,
            num_features,
            affine,
            ..
        } => {
            let scales = norm_affine(layer, tensor);
            let plane = x.data.len() / num_features;
            for (i, g) in gy.iter().enumerate() {
                gx[i] = g * scales[i / plane].0;
            }
            if affine {
                // y = gamma * xhat + beta, xhat = (x - mean) / sqrt(var + eps).
                let Layer::BatchNorm { eps, .. } = *layer else {
                    unreachable!("a batch norm")
                };
                let mean = tensor(&format!("{name}.running_mean"));
                let var = tensor(&format!("{name}.running_var"));
                let mut gg = vec![0.0; num_features];
                let mut gb = vec![0.0; num_features];
                for (i, g) in gy.iter().enumerate() {
                    let c = i / plane;
                    gg[c] += g * (x.data[i] - mean[c]) / (var[c] + f64::from(eps)).sqrt();
                    gb[c] += g;
                }
                add_into(
                    grad_of(tensors, format!("{name}.weight"), num_features),
                    &gg,
                );
                add_into(grad_of(tensors, format!("{name}.bias"), num_features), &gb);
            }
        }
        Layer::Flatten { .. } | Layer::Identity => gx.copy_from_slice(gy),
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
        Layer::Add | Layer::Concat => {
            unreachable!("`backward` handles the layers with several inputs")
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
