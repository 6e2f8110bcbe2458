use proc_macro2::Span;

use super::code_shape;
use crate::ctxt::Ctxt;
use crate::ir::{Act, Checked, Layer, Op, Padding};

/// State_dict tensors of a layer: key suffix and shape.
pub type Tensors = Vec<(&'static str, Vec<u64>)>;

/// A layer's operation with everything inferred (input sizes, padding, output sizes).
#[derive(Clone, Debug)]
pub enum Resolved {
    Conv {
        in_channels: u64,
        out_channels: u64,
        kernel: Vec<u64>,
        stride: Vec<u64>,
        padding: Vec<u64>,
        padding_end: Vec<u64>,
        dilation: Vec<u64>,
        groups: u64,
        bias: bool,
    },
    Pool {
        max: bool,
        kernel: Vec<u64>,
        stride: Vec<u64>,
        padding: Vec<u64>,
        dilation: Vec<u64>,
        ceil_mode: bool,
        count_include_pad: bool,
        divisor_override: Option<u64>,
    },
    Adaptive {
        max: bool,
        output: Vec<u64>,
    },
    BatchNorm {
        channels: u64,
        eps: f64,
        momentum: Option<f64>,
        affine: bool,
    },
    Linear {
        in_features: u64,
        out_features: u64,
        bias: bool,
    },
    Flatten {
        start_dim: i64,
        end_dim: i64,
    },
    Act(Act),
    /// `dim` counts the batch axis as 0, as written (or as PyTorch picks it).
    Softmax {
        dim: i64,
        axis: usize,
    },
    Identity,
    /// `Dropout(p)`: the identity but in training.
    Dropout {
        p: f64,
    },
    /// The sum of two tensors of one shape (a residual connection).
    Add,
    /// Tensors concatenated along channels.
    Concat,
}

/// Number of values of a shape, if it fits in 64 bits.
pub fn count(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

/// Parameters, MACs and state_dict tensors of a layer, with overflow checked.
pub fn cost(op: &Resolved, output: &[u64]) -> Option<(u64, u64, Tensors)> {
    Some(match op {
        Resolved::Conv {
            in_channels,
            out_channels,
            kernel,
            groups,
            bias,
            ..
        } => {
            let per_group = in_channels / groups;
            let taps = count(kernel)?;
            let weights = out_channels.checked_mul(per_group)?.checked_mul(taps)?;
            let mut shape = vec![*out_channels, per_group];
            shape.extend(kernel);
            let mut tensors = vec![("weight", shape)];
            if *bias {
                tensors.push(("bias", vec![*out_channels]));
            }
            let params = weights.checked_add(if *bias { *out_channels } else { 0 })?;
            let macs = count(output)?.checked_mul(per_group)?.checked_mul(taps)?;
            (params, macs, tensors)
        }
        Resolved::Linear {
            in_features,
            out_features,
            bias,
        } => {
            let weights = in_features.checked_mul(*out_features)?;
            let mut tensors = vec![("weight", vec![*out_features, *in_features])];
            if *bias {
                tensors.push(("bias", vec![*out_features]));
            }
            (
                weights.checked_add(if *bias { *out_features } else { 0 })?,
                weights,
                tensors,
            )
        }
        Resolved::BatchNorm {
            channels, affine, ..
        } => {
            let c = *channels;
            let mut tensors = Vec::new();
            if *affine {
                tensors.push(("weight", vec![c]));
                tensors.push(("bias", vec![c]));
            }
            tensors.push(("running_mean", vec![c]));
            tensors.push(("running_var", vec![c]));
            (if *affine { c.checked_mul(2)? } else { 0 }, 0, tensors)
        }
        _ => (0, 0, Vec::new()),
    })
}

/// One layer's inference, with what messages need to say where it stands.
pub struct At<'a, 'c> {
    pub layer: &'a Layer,
    /// How messages name the layer.
    pub label: String,
    pub input: &'a [u64],
    /// Where the input comes from, e.g. "`pool1`" or "the network input".
    pub from: &'a str,
    pub cx: &'c mut Ctxt,
}

const AXES: [&str; 4] = [
    "",
    "[channels, length]",
    "[channels, height, width]",
    "[channels, depth, height, width]",
];

impl At<'_, '_> {
    fn label(&self) -> String {
        self.label.clone()
    }

    fn fail(&mut self, span: Span, msg: String) -> Option<(Resolved, Vec<u64>)> {
        self.cx.error(span, msg);
        None
    }

    /// "`conv2` receives `[16, 3, 3]` from `pool1`"
    fn receives(&self) -> String {
        format!(
            "{} receives {} from {}",
            self.label(),
            code_shape(self.input),
            self.from
        )
    }

    /// "it receives `[16, 3, 3]` from `pool1`"
    fn it_receives(&self) -> String {
        format!("it receives {} from {}", code_shape(self.input), self.from)
    }

    /// Spatial layers need `[C, spatial...]` with `dims` spatial axes.
    fn need_rank(&mut self, dims: usize) -> Option<()> {
        if self.input.len() == dims + 1 {
            return Some(());
        }
        let got = self.input.len().saturating_sub(1);
        let hint = if self.input.len() == 1 {
            " (hint: a vector of features has no spatial axes; spatial layers go before `Flatten`)"
                .to_string()
        } else if (1..=3).contains(&got) {
            let kind = self.layer.kind.to_string();
            let fixed = format!("{}{}d", &kind[..kind.len() - 2], got);
            format!(" (hint: for {got}-d data use `{fixed}`)")
        } else {
            String::new()
        };
        self.cx.error(
            self.layer.kind.span(),
            format!(
                "{} is a {}-d layer and takes {}, but {}{hint}",
                self.label(),
                dims,
                AXES[dims],
                self.it_receives(),
            ),
        );
        None
    }

    /// An input size written by the author must equal the inferred one.
    fn check_size(&mut self, checked: Option<Checked>, name: &str, actual: u64) {
        if let Some(c) = checked
            && c.value != actual
        {
            let msg = format!(
                "`{name} = {}` does not match: {}, which has {actual} {}{}",
                c.value,
                self.receives(),
                if name == "in_features" {
                    "feature"
                } else {
                    "channel"
                },
                if actual == 1 { "" } else { "s" }
            );
            self.cx.error(c.span, msg);
        }
    }

    pub fn infer(&mut self) -> Option<(Resolved, Vec<u64>)> {
        let input = self.input.to_vec();
        match &self.layer.op {
            Op::Invalid => None,
            Op::Conv(c) => {
                self.need_rank(c.dims)?;
                let in_channels = input[0];
                self.check_size(c.in_channels, "in_channels", in_channels);
                let mut bad = false;
                for (what, n) in [
                    ("in_channels", in_channels),
                    ("out_channels", c.out_channels),
                ] {
                    if n % c.groups != 0 {
                        self.cx.error(
                            self.layer.kind.span(),
                            format!(
                                "{what} {n} of {} is not divisible by `groups = {}` ({})",
                                self.label(),
                                c.groups,
                                self.receives()
                            ),
                        );
                        bad = true;
                    }
                }
                let (padding, padding_end) = match &c.padding {
                    Padding::Explicit(p) => (p.clone(), p.clone()),
                    Padding::Same(span) => {
                        if c.stride.iter().any(|&s| s != 1) {
                            return self.fail(
                                *span,
                                format!(
                                    "`padding = \"same\"` needs stride 1, but {} has stride {}",
                                    self.label(),
                                    code_shape(&c.stride)
                                ),
                            );
                        }
                        let total: Vec<u64> = c
                            .kernel
                            .iter()
                            .zip(&c.dilation)
                            .map(|(k, d)| d * (k - 1))
                            .collect();
                        (
                            total.iter().map(|t| t / 2).collect(),
                            total.iter().map(|t| t - t / 2).collect(),
                        )
                    }
                };
                let mut out = vec![c.out_channels];
                for a in 0..c.dims {
                    let padded = input[a + 1] + padding[a] + padding_end[a];
                    let window = c.dilation[a] * (c.kernel[a] - 1) + 1;
                    if window > padded {
                        return self.window_error(
                            c.kernel_span,
                            &c.kernel,
                            &c.dilation,
                            &padding,
                            &padding_end,
                        );
                    }
                    out.push((padded - window) / c.stride[a] + 1);
                }
                if bad {
                    return None;
                }
                Some((
                    Resolved::Conv {
                        in_channels,
                        out_channels: c.out_channels,
                        kernel: c.kernel.clone(),
                        stride: c.stride.clone(),
                        padding,
                        padding_end,
                        dilation: c.dilation.clone(),
                        groups: c.groups,
                        bias: c.bias,
                    },
                    out,
                ))
            }
            Op::Pool(p) => {
                self.need_rank(p.dims)?;
                for a in 0..p.dims {
                    if p.padding[a] > p.kernel[a] / 2 {
                        return self.fail(p.padding_span, format!(
                            "padding {} of {} is more than half its kernel {} (hint: PyTorch allows at most `kernel_size / 2`)",
                            code_shape(&p.padding), self.label(), code_shape(&p.kernel)
                        ));
                    }
                }
                let mut out = vec![input[0]];
                for a in 0..p.dims {
                    let (len, k, s, pad, d) = (
                        input[a + 1],
                        p.kernel[a],
                        p.stride[a],
                        p.padding[a],
                        p.dilation[a],
                    );
                    let window = d * (k - 1) + 1;
                    if window > len + 2 * pad {
                        return self.window_error(
                            self.layer.kind.span(),
                            &p.kernel,
                            &p.dilation,
                            &p.padding,
                            &p.padding,
                        );
                    }
                    let span = len + 2 * pad - window;
                    let mut o = if p.ceil_mode {
                        span.div_ceil(s)
                    } else {
                        span / s
                    } + 1;
                    // PyTorch: the last window must start inside the input or its left padding.
                    if p.ceil_mode && (o - 1) * s >= len + pad {
                        o -= 1;
                    }
                    out.push(o);
                }
                Some((
                    Resolved::Pool {
                        max: p.max,
                        kernel: p.kernel.clone(),
                        stride: p.stride.clone(),
                        padding: p.padding.clone(),
                        dilation: p.dilation.clone(),
                        ceil_mode: p.ceil_mode,
                        count_include_pad: p.count_include_pad,
                        divisor_override: p.divisor_override,
                    },
                    out,
                ))
            }
            Op::Adaptive(ad) => {
                self.need_rank(ad.dims)?;
                let output: Vec<u64> = ad
                    .output
                    .iter()
                    .zip(&input[1..])
                    .map(|(o, i)| o.unwrap_or(*i))
                    .collect();
                let mut out = vec![input[0]];
                out.extend(&output);
                Some((
                    Resolved::Adaptive {
                        max: ad.max,
                        output,
                    },
                    out,
                ))
            }
            Op::BatchNorm(bn) => {
                let ok = match bn.dims {
                    1 => input.len() == 1 || input.len() == 2,
                    d => input.len() == d + 1,
                };
                if !ok {
                    let takes = if bn.dims == 1 {
                        "[features] or [channels, length]"
                    } else {
                        AXES[bn.dims]
                    };
                    return self.fail(
                        self.layer.kind.span(),
                        format!(
                            "{} is a `{}` and takes {takes}, but {}",
                            self.label(),
                            self.layer.kind,
                            self.it_receives()
                        ),
                    );
                }
                self.check_size(bn.num_features, "num_features", input[0]);
                Some((
                    Resolved::BatchNorm {
                        channels: input[0],
                        eps: bn.eps,
                        momentum: bn.momentum,
                        affine: bn.affine,
                    },
                    input,
                ))
            }
            Op::Linear(l) => {
                if input.len() != 1 {
                    return self.fail(self.layer.kind.span(), format!(
                        "{} is a `Linear` layer and takes a vector of features, but {} (hint: insert `Flatten` before it)",
                        self.label(),
                        self.it_receives()
                    ));
                }
                self.check_size(l.in_features, "in_features", input[0]);
                Some((
                    Resolved::Linear {
                        in_features: input[0],
                        out_features: l.out_features,
                        bias: l.bias,
                    },
                    vec![l.out_features],
                ))
            }
            Op::Flatten { start_dim, end_dim } => {
                let rank = input.len() as i64 + 1;
                let norm = |d: i64| if d < 0 { d + rank } else { d };
                let (s, e) = (norm(*start_dim), norm(*end_dim));
                if s == 0 {
                    return self.fail(self.layer.span, format!("{} would fold the batch axis into the features (`start_dim` is 0; hint: dims count the batch axis as 0, so `start_dim = 1` flattens one sample)", self.label()));
                }
                if !(1..rank).contains(&s) || !(1..rank).contains(&e) || s > e {
                    return self.fail(self.layer.span, format!(
                        "`Flatten({start_dim}, {end_dim})` does not fit: {}, which with its batch axis has dims 0 to {}",
                        self.receives(),
                        rank - 1
                    ));
                }
                let (s, e) = (s as usize - 1, e as usize - 1);
                let mut out = input[..s].to_vec();
                out.push(input[s..=e].iter().product());
                out.extend(&input[e + 1..]);
                Some((
                    Resolved::Flatten {
                        start_dim: *start_dim,
                        end_dim: *end_dim,
                    },
                    out,
                ))
            }
            Op::Act(a) => Some((Resolved::Act(*a), input)),
            Op::Softmax { dim } => {
                let rank = input.len() as i64 + 1;
                // PyTorch's legacy choice when `dim` is not given.
                let d = dim.unwrap_or(if matches!(rank, 0 | 1 | 3) { 0 } else { 1 });
                let n = if d < 0 { d + rank } else { d };
                if n == 0 {
                    let why = if dim.is_none() {
                        "PyTorch's implicit choice for this rank"
                    } else {
                        "as written"
                    };
                    return self.fail(self.layer.span, format!("{} would normalise over the batch axis ({why}; hint: write the axis, e.g. `Softmax(dim = 1)`)", self.label()));
                }
                if n < 0 || n >= rank {
                    return self.fail(self.layer.span, format!("`dim = {d}` is out of range: {}, which with its batch axis has dims 0 to {}", self.receives(), rank - 1));
                }
                Some((
                    Resolved::Softmax {
                        dim: d,
                        axis: n as usize - 1,
                    },
                    input,
                ))
            }
            Op::Identity => Some((Resolved::Identity, input)),
            Op::Dropout(p) => Some((Resolved::Dropout { p: *p }, input)),
        }
    }

    fn window_error(
        &mut self,
        span: Span,
        kernel: &[u64],
        dilation: &[u64],
        pb: &[u64],
        pe: &[u64],
    ) -> Option<(Resolved, Vec<u64>)> {
        let window: Vec<u64> = kernel
            .iter()
            .zip(dilation)
            .map(|(k, d)| d * (k - 1) + 1)
            .collect();
        let padded: Vec<u64> = self.input[1..]
            .iter()
            .zip(pb.iter().zip(pe))
            .map(|(i, (b, e))| i + b + e)
            .collect();
        let dilated = if dilation.iter().any(|&d| d != 1) {
            format!(" (dilated to {})", code_shape(&window))
        } else {
            String::new()
        };
        let padding = if pb.iter().chain(pe).any(|&p| p != 0) {
            format!(", padded to {}", code_shape(&padded))
        } else {
            String::new()
        };
        let msg = format!(
            "the window {}{dilated} of {} is larger than its input: {}{padding}",
            code_shape(kernel),
            self.label(),
            self.it_receives(),
        );
        self.fail(span, msg)
    }
}
