//! Stage 2, lower: the syntax tree to typed layers. Resolves each layer's name against the
//! layer table, its arguments against PyTorch's signature, and their values to numbers; every
//! problem is recorded and lowering goes on, so that all of them are reported together.

use proc_macro2::Span;
use syn::Ident;

use crate::ctxt::Ctxt;
use crate::suggest::did_you_mean;
use crate::syntax::{Arg, Entry, LayerCall, NetworkDecl, Value, ValueKind};

mod args;
use args::Args;

/// A network's declaration with its input and output shapes read.
pub struct Network<'a> {
    pub decl: &'a NetworkDecl,
    pub input: Option<Shape>,
    pub output: Option<Shape>,
}

/// A declared shape and where it was written.
pub struct Shape {
    pub dims: Vec<u64>,
    pub span: Span,
}

/// One layer call with its arguments typed.
pub struct Layer {
    /// The layer's type as written, e.g. `Conv2d`.
    pub kind: Ident,
    pub span: Span,
    pub op: Op,
}

impl Layer {
    /// Whether the layer has tensors in the state_dict (and so needs a name).
    pub fn has_weights(&self) -> bool {
        matches!(self.op, Op::Conv(_) | Op::Linear(_) | Op::BatchNorm(_))
    }
}

/// A size the author wrote although it could be inferred, to be checked.
#[derive(Clone, Copy)]
pub struct Checked {
    pub value: u64,
    pub span: Span,
}

pub enum Op {
    Conv(Conv),
    Pool(Pool),
    Adaptive(Adaptive),
    BatchNorm(BatchNorm),
    Linear(Linear),
    Flatten {
        start_dim: i64,
        end_dim: i64,
    },
    Act(Act),
    Softmax {
        dim: Option<i64>,
    },
    Identity,
    /// `Dropout(p)`: the identity at inference; in training, each value zeroed with probability
    /// `p` and the rest scaled by `1 / (1 - p)`.
    Dropout(f64),
    /// A layer whose arguments were wrong; the errors are recorded and shapes stop here.
    Invalid,
}

pub struct Conv {
    pub dims: usize,
    pub in_channels: Option<Checked>,
    pub out_channels: u64,
    pub kernel: Vec<u64>,
    pub stride: Vec<u64>,
    pub padding: Padding,
    pub dilation: Vec<u64>,
    pub groups: u64,
    pub bias: bool,
    /// Spans of `kernel_size` and `padding`, for window and padding errors.
    pub kernel_span: Span,
}

pub enum Padding {
    Explicit(Vec<u64>),
    /// `padding = "same"`: the output has the input's size; needs stride 1.
    Same(Span),
}

pub struct Pool {
    pub max: bool,
    pub dims: usize,
    pub kernel: Vec<u64>,
    pub stride: Vec<u64>,
    pub padding: Vec<u64>,
    pub dilation: Vec<u64>,
    pub ceil_mode: bool,
    pub count_include_pad: bool,
    pub divisor_override: Option<u64>,
    pub padding_span: Span,
}

pub struct Adaptive {
    pub max: bool,
    pub dims: usize,
    /// `None` keeps the input's size on that axis.
    pub output: Vec<Option<u64>>,
}

pub struct BatchNorm {
    pub dims: usize,
    pub num_features: Option<Checked>,
    pub eps: f64,
    /// `None` for PyTorch's cumulative average (`momentum = None`).
    pub momentum: Option<f64>,
    pub affine: bool,
}

pub struct Linear {
    pub in_features: Option<Checked>,
    pub out_features: u64,
    pub bias: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    Relu,
    Relu6,
    LeakyRelu(f64),
    Sigmoid,
    Tanh,
}

#[derive(Clone, Copy, PartialEq)]
enum Family {
    Conv,
    MaxPool,
    AvgPool,
    AdaptiveAvg,
    AdaptiveMax,
    BatchNorm,
    Linear,
    Flatten,
    Relu,
    Relu6,
    LeakyRelu,
    Sigmoid,
    Tanh,
    Softmax,
    Dropout,
    Identity,
}

/// Every layer the language knows: name, family, spatial dims (0 for none).
const LAYERS: &[(&str, Family, usize)] = &[
    ("Conv1d", Family::Conv, 1),
    ("Conv2d", Family::Conv, 2),
    ("Conv3d", Family::Conv, 3),
    ("MaxPool1d", Family::MaxPool, 1),
    ("MaxPool2d", Family::MaxPool, 2),
    ("MaxPool3d", Family::MaxPool, 3),
    ("AvgPool1d", Family::AvgPool, 1),
    ("AvgPool2d", Family::AvgPool, 2),
    ("AvgPool3d", Family::AvgPool, 3),
    ("AdaptiveAvgPool1d", Family::AdaptiveAvg, 1),
    ("AdaptiveAvgPool2d", Family::AdaptiveAvg, 2),
    ("AdaptiveAvgPool3d", Family::AdaptiveAvg, 3),
    ("AdaptiveMaxPool1d", Family::AdaptiveMax, 1),
    ("AdaptiveMaxPool2d", Family::AdaptiveMax, 2),
    ("AdaptiveMaxPool3d", Family::AdaptiveMax, 3),
    ("BatchNorm1d", Family::BatchNorm, 1),
    ("BatchNorm2d", Family::BatchNorm, 2),
    ("BatchNorm3d", Family::BatchNorm, 3),
    ("Linear", Family::Linear, 0),
    ("Flatten", Family::Flatten, 0),
    ("ReLU", Family::Relu, 0),
    ("ReLU6", Family::Relu6, 0),
    ("LeakyReLU", Family::LeakyRelu, 0),
    ("Sigmoid", Family::Sigmoid, 0),
    ("Tanh", Family::Tanh, 0),
    ("Softmax", Family::Softmax, 0),
    ("Dropout", Family::Dropout, 0),
    ("Identity", Family::Identity, 0),
];

/// A family's signature: positional parameters in PyTorch's order (without the inferred input
/// size), then keyword-only ones.
fn signature(family: Family, dims: usize) -> (&'static [&'static str], &'static [&'static str]) {
    match family {
        Family::Conv => (
            &[
                "out_channels",
                "kernel_size",
                "stride",
                "padding",
                "dilation",
                "groups",
                "bias",
                "padding_mode",
            ],
            &["in_channels"],
        ),
        Family::MaxPool => (
            &["kernel_size", "stride", "padding", "dilation", "ceil_mode"],
            &["return_indices"],
        ),
        Family::AvgPool if dims == 1 => (
            &[
                "kernel_size",
                "stride",
                "padding",
                "ceil_mode",
                "count_include_pad",
            ],
            &[],
        ),
        Family::AvgPool => (
            &[
                "kernel_size",
                "stride",
                "padding",
                "ceil_mode",
                "count_include_pad",
                "divisor_override",
            ],
            &[],
        ),
        Family::AdaptiveAvg => (&["output_size"], &[]),
        Family::AdaptiveMax => (&["output_size", "return_indices"], &[]),
        Family::BatchNorm => (
            &["eps", "momentum", "affine", "track_running_stats"],
            &["num_features"],
        ),
        Family::Linear => (&["out_features", "bias"], &["in_features"]),
        Family::Flatten => (&["start_dim", "end_dim"], &[]),
        Family::Relu | Family::Relu6 | Family::Sigmoid | Family::Tanh => (&["inplace"], &[]),
        Family::LeakyRelu => (&["negative_slope", "inplace"], &[]),
        Family::Softmax => (&["dim"], &[]),
        Family::Dropout => (&["p", "inplace"], &[]),
        Family::Identity => (&[], &[]),
    }
}

/// Reads a declaration's `input` and `output` shapes; problems go to `cx`. The layers are
/// elaborated with their shapes by `check::elaborate`.
pub fn declare<'a>(decl: &'a NetworkDecl, cx: &mut Ctxt) -> Network<'a> {
    let mut net = Network {
        decl,
        input: None,
        output: None,
    };
    let last = decl.entries.len().saturating_sub(1);
    for (i, entry) in decl.entries.iter().enumerate() {
        match entry {
            Entry::Shape { key, dims, span } => {
                let which = key.to_string();
                let shape = shape_dims(dims, &which, *span, cx);
                match which.as_str() {
                    "input" if i == 0 => net.input = shape,
                    "input" => cx.error(key.span(), "`input` must come first, before the layers"),
                    "output" if i == last && i > 0 => net.output = shape,
                    "output" => cx.error(key.span(), "`output` must come last, after the layers"),
                    other => cx.error(
                        key.span(),
                        format!(
                            "unknown entry `{other}: [..]`{}",
                            did_you_mean(
                                other,
                                &["input", "output"],
                                "a shape is given as `input: [..]` first or `output: [..]` last"
                            )
                        ),
                    ),
                }
            }
            Entry::Node(_) => {}
        }
    }
    let input_written = decl
        .entries
        .iter()
        .any(|e| matches!(e, Entry::Shape { key, .. } if key == "input"));
    let shape_first = matches!(decl.entries.first(), Some(Entry::Shape { .. }));
    if net.input.is_none() && !input_written && !shape_first {
        cx.error(
            decl.name.span(),
            format!(
                "network `{}` has no input shape (hint: begin with `input: [channels, height, width]`, e.g. `input: [1, 28, 28]`)",
                decl.name
            ),
        );
    }
    net
}

fn shape_dims(dims: &[(i128, Span)], which: &str, span: Span, cx: &mut Ctxt) -> Option<Shape> {
    if dims.is_empty() {
        cx.error(span, format!("`{which}` shape is empty"));
        return None;
    }
    let mut ok = true;
    let mut out = Vec::new();
    for &(d, s) in dims {
        if d <= 0 {
            cx.error(s, format!("`{which}` sizes must be positive, found `{d}`"));
            ok = false;
        } else if d > u64::MAX as i128 {
            cx.error(s, format!("`{which}` size `{d}` does not fit in 64 bits"));
            ok = false;
        } else {
            out.push(d as u64);
        }
    }
    ok.then_some(Shape { dims: out, span })
}

/// Arguments bound to parameter names.
struct Bound<'a> {
    layer: String,
    values: Vec<(&'static str, &'a Value)>,
}

impl<'a> Bound<'a> {
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

fn bind<'a>(call: &'a LayerCall, family: Family, dims: usize, cx: &mut Ctxt) -> Bound<'a> {
    let layer = call.kind.to_string();
    let (positional, keyword) = signature(family, dims);
    let mut bound = Bound {
        layer: layer.clone(),
        values: Vec::new(),
    };
    let mut next = 0;
    for Arg { key, value } in &call.args {
        let name: &'static str = match key {
            None => {
                if family == Family::Identity {
                    continue;
                }
                if next >= positional.len() {
                    cx.error(
                        value.span,
                        format!(
                            "`{layer}` takes {} positional argument{}, found more (hint: `{layer}({})`)",
                            positional.len(),
                            if positional.len() == 1 { "" } else { "s" },
                            positional.join(", ")
                        ),
                    );
                    continue;
                }
                next += 1;
                positional[next - 1]
            }
            Some(key) => {
                let k = key.to_string();
                if family == Family::Identity {
                    continue;
                }
                match positional.iter().chain(keyword).find(|p| **p == k) {
                    Some(p) => p,
                    None => {
                        let all: Vec<&str> = positional.iter().chain(keyword).copied().collect();
                        cx.error(
                            key.span(),
                            format!(
                                "`{layer}` has no argument `{k}`{}",
                                did_you_mean(
                                    &k,
                                    &all,
                                    &if all.is_empty() {
                                        format!("`{layer}` takes no arguments")
                                    } else {
                                        format!("its arguments are {}", quoted(&all))
                                    }
                                )
                            ),
                        );
                        continue;
                    }
                }
            }
        };
        if bound.get(name).is_some() {
            cx.error(
                value.span,
                format!("argument `{name}` of `{layer}` is given twice"),
            );
            continue;
        }
        bound.values.push((name, value));
    }
    bound
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Types a layer call whose argument values are concrete (no block parameters left); `blocks`
/// are the invocation's block names, for suggestions.
pub fn lower_layer(call: &LayerCall, blocks: &[&str], cx: &mut Ctxt) -> Layer {
    let kind = call.kind.to_string();
    let Some(&(_, family, dims)) = LAYERS.iter().find(|(n, _, _)| *n == kind) else {
        let mut names: Vec<&str> = LAYERS.iter().map(|(n, _, _)| *n).collect();
        names.extend(blocks);
        cx.error(
            call.kind.span(),
            format!(
                "unknown layer `{kind}`{}",
                did_you_mean(&kind, &names, "the layers are PyTorch's: `Conv2d`, `MaxPool2d`, `BatchNorm2d`, `Linear`, `ReLU`, ...")
            ),
        );
        return Layer {
            kind: call.kind.clone(),
            span: call.span,
            op: Op::Invalid,
        };
    };
    let bound = bind(call, family, dims, cx);
    let errors_before = cx.len();
    let mut a = Args {
        bound: &bound,
        cx,
        span: call.kind.span(),
    };
    let op = match family {
        Family::Conv => {
            let out_channels = a.count("out_channels", None);
            let kernel = a.sizes("kernel_size", dims, None, 1);
            let stride = a.sizes("stride", dims, Some(1), 1);
            let padding = match a.bound.get("padding") {
                Some(Value {
                    kind: ValueKind::Str(s),
                    span,
                }) => match s.as_str() {
                    "same" => Some(Padding::Same(*span)),
                    "valid" => Some(Padding::Explicit(vec![0; dims])),
                    other => {
                        a.cx.error(*span, format!("`padding` takes an integer, a tuple, `\"same\"` or `\"valid\"`, found `\"{other}\"`"));
                        None
                    }
                },
                _ => a.sizes("padding", dims, Some(0), 0).map(Padding::Explicit),
            };
            let dilation = a.sizes("dilation", dims, Some(1), 1);
            let groups = a.count("groups", Some(1));
            let bias = a.boolean("bias", true);
            if let Some(v) = a.bound.get("padding_mode") {
                match &v.kind {
                    ValueKind::Str(m) if m == "zeros" => {}
                    ValueKind::Str(m) => a.cx.error(
                        v.span,
                        format!(
                            "`padding_mode = \"{m}\"` is not supported (hint: only `\"zeros\"` is)"
                        ),
                    ),
                    other => a.cx.error(
                        v.span,
                        format!("`padding_mode` takes a string, found {}", other.describe()),
                    ),
                }
            }
            let in_channels = a.checked("in_channels");
            let kernel_span = a
                .bound
                .get("kernel_size")
                .map_or(call.kind.span(), |v| v.span);
            match (out_channels, kernel, stride, padding, dilation, groups) {
                (
                    Some(out_channels),
                    Some(kernel),
                    Some(stride),
                    Some(padding),
                    Some(dilation),
                    Some(groups),
                ) => Op::Conv(Conv {
                    dims,
                    in_channels,
                    out_channels,
                    kernel,
                    stride,
                    padding,
                    dilation,
                    groups,
                    bias,
                    kernel_span,
                }),
                _ => Op::Invalid,
            }
        }
        Family::MaxPool | Family::AvgPool => {
            let max = family == Family::MaxPool;
            let kernel = a.sizes("kernel_size", dims, None, 1);
            // PyTorch's `stride=None` means the kernel size.
            let stride = match a.bound.get("stride") {
                None
                | Some(Value {
                    kind: ValueKind::None,
                    ..
                }) => kernel.clone(),
                Some(_) => a.sizes("stride", dims, None, 1),
            };
            let padding = a.sizes("padding", dims, Some(0), 0);
            let dilation = if max {
                a.sizes("dilation", dims, Some(1), 1)
            } else {
                Some(vec![1; dims])
            };
            let ceil_mode = a.boolean("ceil_mode", false);
            let count_include_pad = a.boolean("count_include_pad", true);
            let divisor_override = match a.bound.get("divisor_override") {
                None
                | Some(Value {
                    kind: ValueKind::None,
                    ..
                }) => None,
                Some(_) => a.count("divisor_override", None),
            };
            if a.boolean("return_indices", false) {
                a.refuse(
                    "return_indices",
                    "`return_indices = true` is not supported: a network returns one tensor",
                );
            }
            let padding_span = a.bound.get("padding").map_or(call.kind.span(), |v| v.span);
            match (kernel, stride, padding, dilation) {
                (Some(kernel), Some(stride), Some(padding), Some(dilation)) => Op::Pool(Pool {
                    max,
                    dims,
                    kernel,
                    stride,
                    padding,
                    dilation,
                    ceil_mode,
                    count_include_pad,
                    divisor_override,
                    padding_span,
                }),
                _ => Op::Invalid,
            }
        }
        Family::AdaptiveAvg | Family::AdaptiveMax => {
            let max = family == Family::AdaptiveMax;
            if a.boolean("return_indices", false) {
                a.refuse(
                    "return_indices",
                    "`return_indices = true` is not supported: a network returns one tensor",
                );
            }
            match a.optional_sizes("output_size", dims) {
                Some(output) => Op::Adaptive(Adaptive { max, dims, output }),
                None => Op::Invalid,
            }
        }
        Family::BatchNorm => {
            let eps = a.float("eps", 1e-5);
            if eps <= 0.0 {
                a.refuse("eps", "`eps` must be positive");
            }
            let momentum = match a.bound.get("momentum") {
                Some(Value {
                    kind: ValueKind::None,
                    ..
                }) => None,
                _ => Some(a.float("momentum", 0.1)),
            };
            let affine = a.boolean("affine", true);
            if !a.boolean("track_running_stats", true) {
                a.refuse("track_running_stats", "`track_running_stats = false` is not supported: inference normalises with the running statistics");
            }
            let num_features = a.checked("num_features");
            Op::BatchNorm(BatchNorm {
                dims,
                num_features,
                eps,
                momentum,
                affine,
            })
        }
        Family::Linear => {
            let out_features = a.count("out_features", None);
            let bias = a.boolean("bias", true);
            let in_features = a.checked("in_features");
            match out_features {
                Some(out_features) => Op::Linear(Linear {
                    in_features,
                    out_features,
                    bias,
                }),
                None => Op::Invalid,
            }
        }
        Family::Flatten => Op::Flatten {
            start_dim: a.int("start_dim", 1),
            end_dim: a.int("end_dim", -1),
        },
        Family::Relu | Family::Relu6 | Family::Sigmoid | Family::Tanh | Family::LeakyRelu => {
            let _inplace = a.boolean("inplace", false);
            Op::Act(match family {
                Family::Relu => Act::Relu,
                Family::Relu6 => Act::Relu6,
                Family::Sigmoid => Act::Sigmoid,
                Family::Tanh => Act::Tanh,
                _ => Act::LeakyRelu(a.float("negative_slope", 0.01)),
            })
        }
        Family::Softmax => Op::Softmax {
            dim: match a.bound.get("dim") {
                None
                | Some(Value {
                    kind: ValueKind::None,
                    ..
                }) => None,
                Some(_) => Some(a.int("dim", 1)),
            },
        },
        Family::Dropout => {
            let p = a.float("p", 0.5);
            if !(0.0..=1.0).contains(&p) {
                a.refuse(
                    "p",
                    &format!("dropout probability has to be between 0 and 1, found `{p}`"),
                );
            }
            let _inplace = a.boolean("inplace", false);
            Op::Dropout(p)
        }
        Family::Identity => Op::Identity,
    };
    let op = if cx.len() > errors_before {
        Op::Invalid
    } else {
        op
    };
    Layer {
        kind: call.kind.clone(),
        span: call.span,
        op,
    }
}

/// Whether `name` is a layer of the language.
pub fn is_layer(name: &str) -> bool {
    LAYERS.iter().any(|(n, _, _)| *n == name)
}
