//! The reference implementation: every layer as plain loops over index tuples, accumulating in
//! `f64`, with shapes computed here from PyTorch's formulas. Slow and obviously right; the tests
//! compare the generated code with it.

use alloc::{format, vec, vec::Vec};

use crate::{Activation, Layer};

/// A tensor without batch axis: shape and row-major values.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    fn zeros(shape: Vec<usize>) -> Self {
        let n = shape.iter().product();
        Tensor {
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
/// state_dict tensor. The result is the last layer's output.
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
    let mut values = vec![Tensor {
        shape: input_shape.to_vec(),
        data: input.to_vec(),
    }];
    for (layer, reads) in layers.iter().zip(inputs) {
        let args: Vec<&Tensor> = reads.iter().map(|&r| &values[r]).collect();
        let out = match layer {
            Layer::Add => {
                let mut y = args[0].clone();
                assert_eq!(args[0].shape, args[1].shape, "the two inputs of an add");
                for (v, w) in y.data.iter_mut().zip(&args[1].data) {
                    *v = (f64::from(*v) + f64::from(*w)) as f32;
                }
                y
            }
            Layer::Concat => {
                let mut shape = args[0].shape.clone();
                shape[0] = args.iter().map(|a| a.shape[0]).sum();
                let data = args.iter().flat_map(|a| a.data.iter().copied()).collect();
                Tensor { shape, data }
            }
            _ => apply(layer, args[0], &tensor),
        };
        values.push(out);
    }
    values.pop().expect("the input at least")
}

/// Runs one layer.
pub fn apply<'a>(layer: &Layer, x: &Tensor, tensor: &impl Fn(&str) -> &'a [f32]) -> Tensor {
    let get = |name: &str, what: &str| tensor(&format!("{name}.{what}"));
    match *layer {
        Layer::Conv {
            name,
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
            padding_end,
            dilation,
            groups,
            bias,
        } => {
            let weight = get(name, "weight");
            let bias = bias.then(|| get(name, "bias"));
            let spatial = &x.shape[1..];
            let mut shape = vec![out_channels];
            for a in 0..spatial.len() {
                let span =
                    spatial[a] + padding[a] + padding_end[a] - dilation[a] * (kernel[a] - 1) - 1;
                shape.push(span / stride[a] + 1);
            }
            let mut y = Tensor::zeros(shape.clone());
            let (cin_g, cout_g) = (in_channels / groups, out_channels / groups);
            let taps = indices(kernel);
            for o in indices(&shape) {
                let co = o[0];
                let mut sum = bias.map_or(0.0, |b| f64::from(b[co]));
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
                        let mut wshape = vec![out_channels, cin_g];
                        wshape.extend(kernel);
                        sum += f64::from(weight[offset(&wshape, &widx)])
                            * f64::from(x.data[offset(&x.shape, &pos)]);
                    }
                }
                let at = offset(&shape, &o);
                y.data[at] = sum as f32;
            }
            y
        }
        Layer::MaxPool {
            kernel,
            stride,
            padding,
            dilation,
            ceil_mode,
        } => pool(
            x,
            kernel,
            |a, len| {
                pool_len(
                    len,
                    kernel[a],
                    stride[a],
                    padding[a],
                    dilation[a],
                    ceil_mode,
                )
            },
            |x, c, o| {
                let mut m: Option<f32> = None;
                'tap: for k in indices(kernel) {
                    let mut pos = vec![c];
                    for a in 0..k.len() {
                        match tap(
                            o[a],
                            k[a],
                            stride[a],
                            dilation[a],
                            padding[a],
                            x.shape[a + 1],
                        ) {
                            Some(p) => pos.push(p),
                            None => continue 'tap,
                        }
                    }
                    let v = x.data[offset(&x.shape, &pos)];
                    m = Some(match m {
                        Some(m) if m.is_nan() || m >= v => m,
                        _ => v,
                    });
                }
                m.unwrap_or(f32::NEG_INFINITY)
            },
        ),
        Layer::AvgPool {
            kernel,
            stride,
            padding,
            ceil_mode,
            count_include_pad,
            divisor_override,
        } => pool(
            x,
            kernel,
            |a, len| pool_len(len, kernel[a], stride[a], padding[a], 1, ceil_mode),
            |x, c, o| {
                // The window in padded coordinates, clipped to the padded input, then to the input.
                let (mut sum, mut inside, mut padded) = (0.0f64, 1usize, 1usize);
                let mut ranges = Vec::new();
                for a in 0..o.len() {
                    let len = x.shape[a + 1] as isize;
                    let start = (o[a] * stride[a]) as isize - padding[a] as isize;
                    let end = (start + kernel[a] as isize).min(len + padding[a] as isize);
                    padded *= (end - start) as usize;
                    let (s, e) = (start.max(0), end.min(len));
                    inside *= (e - s).max(0) as usize;
                    ranges.push((s as usize, e.max(s) as usize - s as usize));
                }
                let extent: Vec<usize> = ranges.iter().map(|r| r.1).collect();
                for k in indices(&extent) {
                    let mut pos = vec![c];
                    pos.extend(k.iter().zip(&ranges).map(|(k, r)| r.0 + k));
                    sum += f64::from(x.data[offset(&x.shape, &pos)]);
                }
                let divisor =
                    divisor_override.unwrap_or(if count_include_pad { padded } else { inside });
                if divisor == 0 {
                    0.0
                } else {
                    (sum / divisor as f64) as f32
                }
            },
        ),
        Layer::AdaptiveAvgPool { output } | Layer::AdaptiveMaxPool { output } => {
            let is_max = matches!(layer, Layer::AdaptiveMaxPool { .. });
            pool(
                x,
                output,
                |a, _| output[a],
                |x, c, o| {
                    let mut ranges = Vec::new();
                    for a in 0..o.len() {
                        let (len, out) = (x.shape[a + 1], output[a]);
                        let start = o[a] * len / out;
                        let end = ((o[a] + 1) * len).div_ceil(out);
                        ranges.push((start, end - start));
                    }
                    let extent: Vec<usize> = ranges.iter().map(|r| r.1).collect();
                    let mut values = Vec::new();
                    for k in indices(&extent) {
                        let mut pos = vec![c];
                        pos.extend(k.iter().zip(&ranges).map(|(k, r)| r.0 + k));
                        values.push(x.data[offset(&x.shape, &pos)]);
                    }
                    if is_max {
                        values.iter().copied().fold(f32::NEG_INFINITY, |m, v| {
                            if m.is_nan() || m >= v { m } else { v }
                        })
                    } else {
                        (values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64)
                            as f32
                    }
                },
            )
        }
        Layer::BatchNorm {
            name, eps, affine, ..
        } => {
            let (mean, var) = (get(name, "running_mean"), get(name, "running_var"));
            let (gamma, beta) = if affine {
                (Some(get(name, "weight")), Some(get(name, "bias")))
            } else {
                (None, None)
            };
            let mut y = x.clone();
            for (idx, v) in indices(&x.shape).iter().zip(y.data.iter_mut()) {
                let c = idx[0];
                let norm = (f64::from(*v) - f64::from(mean[c]))
                    / (f64::from(var[c]) + f64::from(eps)).sqrt();
                *v = (norm * gamma.map_or(1.0, |g| f64::from(g[c]))
                    + beta.map_or(0.0, |b| f64::from(b[c]))) as f32;
            }
            y
        }
        Layer::Linear {
            name,
            in_features,
            out_features,
            bias,
        } => {
            let weight = get(name, "weight");
            let bias = bias.then(|| get(name, "bias"));
            let mut shape = x.shape.clone();
            *shape.last_mut().expect("linear on a scalar") = out_features;
            let rows = x.data.len() / in_features;
            let mut data = Vec::new();
            for r in 0..rows {
                for o in 0..out_features {
                    let mut sum = bias.map_or(0.0, |b| f64::from(b[o]));
                    for i in 0..in_features {
                        sum += f64::from(weight[o * in_features + i])
                            * f64::from(x.data[r * in_features + i]);
                    }
                    data.push(sum as f32);
                }
            }
            Tensor { shape, data }
        }
        Layer::Flatten { start_dim, end_dim } => {
            // Dims count the batch axis as 0.
            let rank = x.shape.len() as isize + 1;
            let norm = |d: isize| (if d < 0 { d + rank } else { d }) as usize - 1;
            let (s, e) = (norm(start_dim), norm(end_dim));
            let mut shape = x.shape[..s].to_vec();
            shape.push(x.shape[s..=e].iter().product());
            shape.extend(&x.shape[e + 1..]);
            Tensor {
                shape,
                data: x.data.clone(),
            }
        }
        Layer::Activation(act) => {
            let mut y = x.clone();
            for v in &mut y.data {
                let z = f64::from(*v);
                *v = match act {
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
                } as f32;
                if z.is_nan() {
                    *v = f32::NAN;
                }
            }
            y
        }
        Layer::Softmax { dim } => {
            let rank = x.shape.len() as isize + 1;
            let axis = (if dim < 0 { dim + rank } else { dim }) as usize - 1;
            let mut y = x.clone();
            for idx in indices(&x.shape).into_iter().filter(|i| i[axis] == 0) {
                let at = |t: usize| {
                    let mut j = idx.clone();
                    j[axis] = t;
                    offset(&x.shape, &j)
                };
                let n = x.shape[axis];
                let m = (0..n)
                    .map(|t| f64::from(x.data[at(t)]))
                    .fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = (0..n).map(|t| (f64::from(x.data[at(t)]) - m).exp()).sum();
                for t in 0..n {
                    y.data[at(t)] = ((f64::from(x.data[at(t)]) - m).exp() / sum) as f32;
                }
            }
            y
        }
        Layer::Identity => x.clone(),
        Layer::Add | Layer::Concat => unreachable!("`forward` runs the layers with several inputs"),
    }
}

/// A pooling layer: output shape `[C, out_len(axis, in_len)...]`, each value from `value(x, c, o)`.
fn pool(
    x: &Tensor,
    window: &[usize],
    out_len: impl Fn(usize, usize) -> usize,
    value: impl Fn(&Tensor, usize, &[usize]) -> f32,
) -> Tensor {
    let mut shape = vec![x.shape[0]];
    shape.extend((0..window.len()).map(|a| out_len(a, x.shape[a + 1])));
    let mut y = Tensor::zeros(shape.clone());
    for (i, idx) in indices(&shape).iter().enumerate() {
        y.data[i] = value(x, idx[0], &idx[1..]);
    }
    y
}
