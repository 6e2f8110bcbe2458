//! The reference implementation: every layer as plain loops over index tuples, in `f64`, with
//! shapes computed here from PyTorch's formulas. Slow and obviously right; the tests compare the
//! generated code with it.
//!
//! [`forward`] runs a network in `f64` and rounds its output to `f32`; [`grad::backward`] gives
//! the gradients of a network's output with respect to its input and its trained tensors. Both
//! walk the same description of each layer (which inputs and weights each output reads: a
//! convolution's terms, a pooling window's cells), so the gradient is the transpose of exactly
//! what the forward pass computed; finite differences check it (`tests.rs`).

pub mod grad;
#[cfg(test)]
mod tests;

use alloc::{format, vec, vec::Vec};

use crate::{Activation, Layer};

/// A tensor without batch axis: shape and row-major values.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// A tensor of `f64` values without batch axis: what the reference computes with.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor64 {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl Tensor64 {
    fn zeros(shape: Vec<usize>) -> Self {
        let n = shape.iter().product();
        Tensor64 {
            shape,
            data: vec![0.0; n],
        }
    }
}

/// Every index tuple of `shape`, in row-major order.
fn indices(shape: &[usize]) -> Vec<Vec<usize>> {
    let mut all = vec![Vec::new()];
    for &n in shape {
        all = all
            .into_iter()
            .flat_map(|prefix| {
                (0..n).map(move |i| {
                    let mut v = prefix.clone();
                    v.push(i);
                    v
                })
            })
            .collect();
    }
    all
}

/// Row-major offset of `index` in `shape`.
fn offset(shape: &[usize], index: &[usize]) -> usize {
    shape.iter().zip(index).fold(0, |acc, (n, i)| acc * n + i)
}

/// Position `o * stride + k * dilation - padding` if it lies in `0..len`.
fn tap(
    o: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    padding: usize,
    len: usize,
) -> Option<usize> {
    let x = (o * stride + k * dilation) as isize - padding as isize;
    (x >= 0 && (x as usize) < len).then_some(x as usize)
}

/// PyTorch's `pooling_output_shape`.
fn pool_len(len: usize, k: usize, s: usize, p: usize, d: usize, ceil_mode: bool) -> usize {
    let span = (len + 2 * p) as isize - (d * (k - 1)) as isize - 1;
    let extra = if ceil_mode { s as isize - 1 } else { 0 };
    let mut out = (span + extra).div_euclid(s as isize) + 1;
    if ceil_mode && (out - 1) * s as isize >= (len + p) as isize {
        out -= 1;
    }
    out.max(0) as usize
}

/// Runs a network's `layers`, layer `i` reading the values `inputs[i]` (0 the network input,
/// `j + 1` the output of layer `j`), on `input` of shape `input_shape`; `tensor(name)` gives a
/// state_dict tensor. The result is the last layer's output, computed in `f64` and rounded.
///
/// # Panics
/// If a tensor is missing or a layer does not fit the shapes that reach it (the reference
/// trusts its caller; the macro is what checks declarations).
pub fn forward<'a>(
    layers: &[Layer],
    inputs: &[&[usize]],
    input_shape: &[usize],
    input: &[f32],
    tensor: impl Fn(&str) -> &'a [f32],
) -> Tensor {
    let input: Vec<f64> = input.iter().map(|&v| f64::from(v)).collect();
    let tensor64 = |name: &str| tensor(name).iter().map(|&v| f64::from(v)).collect();
    let out = forward_all(layers, inputs, input_shape, &input, &tensor64)
        .pop()
        .expect("the input at least");
    Tensor {
        shape: out.shape,
        data: out.data.iter().map(|&v| v as f32).collect(),
    }
}

/// Runs a network in `f64` (see [`forward`]) and returns every value: the input first, then each
/// layer's output.
pub fn forward_all(
    layers: &[Layer],
    inputs: &[&[usize]],
    input_shape: &[usize],
    input: &[f64],
    tensor: &dyn Fn(&str) -> Vec<f64>,
) -> Vec<Tensor64> {
    let mut values = vec![Tensor64 {
        shape: input_shape.to_vec(),
        data: input.to_vec(),
    }];
    for (layer, reads) in layers.iter().zip(inputs) {
        let args: Vec<&Tensor64> = reads.iter().map(|&r| &values[r]).collect();
        let out = combine(layer, &args).unwrap_or_else(|| apply(layer, args[0], tensor));
        values.push(out);
    }
    values
}

/// The layers that read several values: a residual add and a concatenation along channels;
/// `None` for any other layer.
fn combine(layer: &Layer, args: &[&Tensor64]) -> Option<Tensor64> {
    match layer {
        Layer::Add => {
            assert_eq!(args[0].shape, args[1].shape, "the two inputs of an add");
            let mut y = args[0].clone();
            for (v, w) in y.data.iter_mut().zip(&args[1].data) {
                *v += w;
            }
            Some(y)
        }
        Layer::Concat => {
            let mut shape = args[0].shape.clone();
            shape[0] = args.iter().map(|a| a.shape[0]).sum();
            let data = args.iter().flat_map(|a| a.data.iter().copied()).collect();
            Some(Tensor64 { shape, data })
        }
        _ => None,
    }
}

/// A convolution's or linear layer's sums: `y[out] = bias[channel(out)] + Σ w[weight] · x[input]`
/// over `terms`.
struct Sums {
    shape: Vec<usize>,
    channel: Channel,
    terms: Vec<(usize, usize, usize)>,
}

/// Which bias an output offset takes.
enum Channel {
    /// A convolution's: channels first, `out / plane`.
    Plane(usize),
    /// A linear layer's: features last, `out % features`.
    Feature(usize),
}

/// The terms `(out, input, weight)` of a convolution on input shape `x` (offsets in the output,
/// the input and the weight tensor `[out_channels, in_channels / groups, kernel...]`).
fn conv_sums(layer: &Layer, x: &[usize]) -> Sums {
    let Layer::Conv {
        in_channels,
        out_channels,
        kernel,
        stride,
        padding,
        padding_end,
        dilation,
        groups,
        ..
    } = *layer
    else {
        unreachable!("a convolution")
    };
    let spatial = &x[1..];
    let mut shape = vec![out_channels];
    for a in 0..spatial.len() {
        let span = spatial[a] + padding[a] + padding_end[a] - dilation[a] * (kernel[a] - 1) - 1;
        shape.push(span / stride[a] + 1);
    }
    let (cin_g, cout_g) = (in_channels / groups, out_channels / groups);
    let mut wshape = vec![out_channels, cin_g];
    wshape.extend(kernel);
    let taps = indices(kernel);
    let mut terms = Vec::new();
    for o in indices(&shape) {
        let co = o[0];
        for cl in 0..cin_g {
            let ci = co / cout_g * cin_g + cl;
            'tap: for k in &taps {
                let mut pos = vec![ci];
                for a in 0..k.len() {
                    match tap(
                        o[a + 1],
                        k[a],
                        stride[a],
                        dilation[a],
                        padding[a],
                        spatial[a],
                    ) {
                        Some(p) => pos.push(p),
                        None => continue 'tap,
                    }
                }
                let mut widx = vec![co, cl];
                widx.extend(k);
                terms.push((offset(&shape, &o), offset(x, &pos), offset(&wshape, &widx)));
            }
        }
    }
    let plane = shape[1..].iter().product();
    Sums {
        shape,
        channel: Channel::Plane(plane),
        terms,
    }
}

/// The terms of a linear layer on input shape `x` (applied to the last axis).
fn linear_sums(in_features: usize, out_features: usize, x: &[usize]) -> Sums {
    let mut shape = x.to_vec();
    *shape.last_mut().expect("linear on a scalar") = out_features;
    let rows = x.iter().product::<usize>() / in_features;
    let mut terms = Vec::new();
    for r in 0..rows {
        for o in 0..out_features {
            for i in 0..in_features {
                terms.push((
                    r * out_features + o,
                    r * in_features + i,
                    o * in_features + i,
                ));
            }
        }
    }
    Sums {
        shape,
        channel: Channel::Feature(out_features),
        terms,
    }
}

/// The sums of a convolution or a linear layer on input shape `x`.
fn weighted_sums(layer: &Layer, x: &[usize]) -> Sums {
    match *layer {
        Layer::Linear {
            in_features,
            out_features,
            ..
        } => linear_sums(in_features, out_features, x),
        _ => conv_sums(layer, x),
    }
}

impl Sums {
    /// The bias index of output offset `out`.
    fn channel(&self, out: usize) -> usize {
        match self.channel {
            Channel::Plane(plane) => out / plane,
            Channel::Feature(features) => out % features,
        }
    }
}

/// How a pooling layer reads: the input cells of each output's window, in the order PyTorch
/// scans them, and the divisor of an average.
struct Windows {
    shape: Vec<usize>,
    cells: Vec<Vec<usize>>,
    divisors: Vec<f64>,
    max: bool,
}

fn pool_windows(layer: &Layer, x: &[usize]) -> Windows {
    let rank = x.len() - 1;
    let ranges_to_cells = |c: usize, ranges: &[(usize, usize)]| -> Vec<usize> {
        let extent: Vec<usize> = ranges.iter().map(|r| r.1).collect();
        indices(&extent)
            .into_iter()
            .map(|k| {
                let mut pos = vec![c];
                pos.extend(k.iter().zip(ranges).map(|(k, r)| r.0 + k));
                offset(x, &pos)
            })
            .collect()
    };
    let out_len = |a: usize| -> usize {
        match *layer {
            Layer::MaxPool {
                kernel,
                stride,
                padding,
                dilation,
                ceil_mode,
            } => pool_len(
                x[a + 1],
                kernel[a],
                stride[a],
                padding[a],
                dilation[a],
                ceil_mode,
            ),
            Layer::AvgPool {
                kernel,
                stride,
                padding,
                ceil_mode,
                ..
            } => pool_len(x[a + 1], kernel[a], stride[a], padding[a], 1, ceil_mode),
            Layer::AdaptiveAvgPool { output } | Layer::AdaptiveMaxPool { output } => output[a],
            _ => unreachable!("a pooling layer"),
        }
    };
    let mut shape = vec![x[0]];
    shape.extend((0..rank).map(out_len));
    let (mut cells, mut divisors) = (Vec::new(), Vec::new());
    for idx in indices(&shape) {
        let (c, o) = (idx[0], &idx[1..]);
        let (window, divisor) = match *layer {
            Layer::MaxPool {
                kernel,
                stride,
                padding,
                dilation,
                ..
            } => {
                let mut window = Vec::new();
                'tap: for k in indices(kernel) {
                    let mut pos = vec![c];
                    for a in 0..k.len() {
                        match tap(o[a], k[a], stride[a], dilation[a], padding[a], x[a + 1]) {
                            Some(p) => pos.push(p),
                            None => continue 'tap,
                        }
                    }
                    window.push(offset(x, &pos));
                }
                (window, 1.0)
            }
            Layer::AvgPool {
                kernel,
                stride,
                padding,
                count_include_pad,
                divisor_override,
                ..
            } => {
                // The window in padded coordinates, clipped to the padded input, then to the
                // input.
                let (mut inside, mut padded) = (1usize, 1usize);
                let mut ranges = Vec::new();
                for a in 0..rank {
                    let len = x[a + 1] as isize;
                    let start = (o[a] * stride[a]) as isize - padding[a] as isize;
                    let end = (start + kernel[a] as isize).min(len + padding[a] as isize);
                    padded *= (end - start) as usize;
                    let (s, e) = (start.max(0), end.min(len));
                    inside *= (e - s).max(0) as usize;
                    ranges.push((s as usize, e.max(s) as usize - s as usize));
                }
                let divisor =
                    divisor_override.unwrap_or(if count_include_pad { padded } else { inside });
                (ranges_to_cells(c, &ranges), divisor as f64)
            }
            Layer::AdaptiveAvgPool { output } | Layer::AdaptiveMaxPool { output } => {
                let ranges: Vec<(usize, usize)> = (0..rank)
                    .map(|a| {
                        let (len, out) = (x[a + 1], output[a]);
                        let start = o[a] * len / out;
                        let end = ((o[a] + 1) * len).div_ceil(out);
                        (start, end - start)
                    })
                    .collect();
                let window = ranges_to_cells(c, &ranges);
                let n = window.len() as f64;
                (window, n)
            }
            _ => unreachable!("a pooling layer"),
        };
        cells.push(window);
        divisors.push(divisor);
    }
    Windows {
        shape,
        cells,
        divisors,
        max: matches!(layer, Layer::MaxPool { .. } | Layer::AdaptiveMaxPool { .. }),
    }
}

impl Windows {
    /// The cell of output `o`'s window that a max takes: the first largest, or the first NaN
    /// (PyTorch's rule); `None` for an empty window.
    fn argmax(&self, x: &[f64], o: usize) -> Option<usize> {
        self.cells[o]
            .iter()
            .copied()
            .fold(None, |best, i| match best {
                Some(b) if x[b].is_nan() || x[b] >= x[i] => Some(b),
                _ => Some(i),
            })
    }
}

/// A batch norm's per-channel weight and bias (1 and 0 without affine parameters).
fn gamma_beta(layer: &Layer, tensor: &dyn Fn(&str) -> Vec<f64>) -> (Vec<f64>, Vec<f64>) {
    let Layer::BatchNorm {
        name,
        num_features,
        affine,
        ..
    } = *layer
    else {
        unreachable!("a batch norm")
    };
    if affine {
        (
            tensor(&format!("{name}.weight")),
            tensor(&format!("{name}.bias")),
        )
    } else {
        (vec![1.0; num_features], vec![0.0; num_features])
    }
}

/// A batch norm's per-channel `(mean, 1 / sqrt(var + eps))` from its running statistics: what
/// normalises at inference.
fn running_stats(layer: &Layer, tensor: &dyn Fn(&str) -> Vec<f64>) -> Vec<(f64, f64)> {
    let Layer::BatchNorm { name, eps, .. } = *layer else {
        unreachable!("a batch norm")
    };
    let mean = tensor(&format!("{name}.running_mean"));
    let var = tensor(&format!("{name}.running_var"));
    mean.iter()
        .zip(&var)
        .map(|(m, v)| (*m, 1.0 / (v + f64::from(eps)).sqrt()))
        .collect()
}

/// A batch norm's per-channel `(scale, shift)` at inference: `y = x * scale + shift`.
fn norm_affine(layer: &Layer, tensor: &dyn Fn(&str) -> Vec<f64>) -> Vec<(f64, f64)> {
    let (gamma, beta) = gamma_beta(layer, tensor);
    running_stats(layer, tensor)
        .iter()
        .zip(gamma.iter().zip(&beta))
        .map(|(&(mean, inv), (g, b))| (g * inv, b - mean * g * inv))
        .collect()
}

/// The normalised shape and axis of `dim` (counted with the batch axis as 0) on `rank` axes.
fn axis_of(dim: isize, rank: usize) -> usize {
    let rank = rank as isize + 1;
    (if dim < 0 { dim + rank } else { dim }) as usize - 1
}

/// Every offset of `shape` along `axis`, for each position of the other axes.
fn lines(shape: &[usize], axis: usize) -> Vec<Vec<usize>> {
    indices(shape)
        .into_iter()
        .filter(|i| i[axis] == 0)
        .map(|idx| {
            (0..shape[axis])
                .map(|t| {
                    let mut j = idx.clone();
                    j[axis] = t;
                    offset(shape, &j)
                })
                .collect()
        })
        .collect()
}

/// An activation's value.
fn activate(act: Activation, z: f64) -> f64 {
    if z.is_nan() {
        return z;
    }
    match act {
        Activation::Identity => z,
        Activation::Relu => z.max(0.0),
        Activation::Relu6 => z.clamp(0.0, 6.0),
        Activation::LeakyRelu(slope) => {
            if z >= 0.0 {
                z
            } else {
                z * f64::from(slope)
            }
        }
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        Activation::Tanh => z.tanh(),
    }
}

/// Runs one layer of one input.
pub fn apply(layer: &Layer, x: &Tensor64, tensor: &dyn Fn(&str) -> Vec<f64>) -> Tensor64 {
    let get = |name: &str, what: &str| tensor(&format!("{name}.{what}"));
    match *layer {
        Layer::Conv { name, bias, .. } | Layer::Linear { name, bias, .. } => {
            let sums = weighted_sums(layer, &x.shape);
            let weight = get(name, "weight");
            let mut y = Tensor64::zeros(sums.shape.clone());
            if bias {
                let b = get(name, "bias");
                for (o, v) in y.data.iter_mut().enumerate() {
                    *v = b[sums.channel(o)];
                }
            }
            for &(o, i, w) in &sums.terms {
                y.data[o] += weight[w] * x.data[i];
            }
            y
        }
        Layer::MaxPool { .. }
        | Layer::AvgPool { .. }
        | Layer::AdaptiveAvgPool { .. }
        | Layer::AdaptiveMaxPool { .. } => {
            let w = pool_windows(layer, &x.shape);
            let mut y = Tensor64::zeros(w.shape.clone());
            for (o, v) in y.data.iter_mut().enumerate() {
                *v = if w.max {
                    w.argmax(&x.data, o)
                        .map_or(f64::NEG_INFINITY, |i| x.data[i])
                } else if w.divisors[o] == 0.0 {
                    0.0
                } else {
                    w.cells[o].iter().map(|&i| x.data[i]).sum::<f64>() / w.divisors[o]
                };
            }
            y
        }
        Layer::BatchNorm { .. } => {
            let affine = norm_affine(layer, tensor);
            let plane = x.data.len() / x.shape[0];
            let mut y = x.clone();
            for (i, v) in y.data.iter_mut().enumerate() {
                let (scale, shift) = affine[i / plane];
                *v = *v * scale + shift;
            }
            y
        }
        Layer::Flatten { start_dim, end_dim } => {
            let (s, e) = (
                axis_of(start_dim, x.shape.len()),
                axis_of(end_dim, x.shape.len()),
            );
            let mut shape = x.shape[..s].to_vec();
            shape.push(x.shape[s..=e].iter().product());
            shape.extend(&x.shape[e + 1..]);
            Tensor64 {
                shape,
                data: x.data.clone(),
            }
        }
        Layer::Activation(act) => Tensor64 {
            shape: x.shape.clone(),
            data: x.data.iter().map(|&z| activate(act, z)).collect(),
        },
        Layer::Softmax { dim } => {
            let mut y = x.clone();
            for line in lines(&x.shape, axis_of(dim, x.shape.len())) {
                let m = line
                    .iter()
                    .map(|&i| x.data[i])
                    .fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = line.iter().map(|&i| (x.data[i] - m).exp()).sum();
                for &i in &line {
                    y.data[i] = (x.data[i] - m).exp() / sum;
                }
            }
            y
        }
        Layer::Identity | Layer::Dropout { .. } => x.clone(),
        Layer::Add | Layer::Concat => unreachable!("`forward` runs the layers with several inputs"),
    }
}
