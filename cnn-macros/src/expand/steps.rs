//! One step of the forward pass: a spec type carrying the step's sizes as constants, and the
//! call of the runtime kernel on the step's buffers.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{activation, spec_ident, usize_lit};
use crate::check::{Node, Resolved, Src};
use crate::ir::Act;
use crate::plan::{Buf, Fused, Plan, Schedule, Step, StepKind};

/// `__cnn::Extent { d, h, w }` from the spatial sizes of a 1-d, 2-d or 3-d layer; missing
/// leading axes get `fill`.
fn extent(spatial: &[u64], fill: u64) -> TokenStream {
    let mut e = vec![fill; 3 - spatial.len().min(3)];
    e.extend(spatial);
    let (d, h, w) = (usize_lit(e[0]), usize_lit(e[1]), usize_lit(e[2]));
    quote!(__cnn::Extent { d: #d, h: #h, w: #w })
}

/// A weight tensor's slice of the buffer.
pub(super) fn slice(offset: u64, len: u64) -> TokenStream {
    let (a, b) = (usize_lit(offset), usize_lit(offset + len));
    quote!(&w[#a..#b])
}

fn norm(nodes: &[Node], plan: &Plan, bn: Option<usize>) -> TokenStream {
    let Some(i) = bn else {
        return quote!(::core::option::Option::None);
    };
    let Resolved::BatchNorm { channels, .. } = nodes[i].op else {
        unreachable!("fused norm is a batch norm")
    };
    let mean = slice(plan.tensor(nodes, i, "running_mean").unwrap_or(0), channels);
    let slot = plan.norm_slots[i].unwrap_or(0);
    let (scale, shift) = (slice(slot, channels), slice(slot + channels, channels));
    quote!(::core::option::Option::Some(__cnn::Norm { mean: #mean, scale: #scale, shift: #shift }))
}

pub(super) fn bias(nodes: &[Node], plan: &Plan, node: usize, has: bool, len: u64) -> TokenStream {
    match plan.tensor(nodes, node, "bias") {
        Some(off) if has => {
            let s = slice(off, len);
            quote!(::core::option::Option::Some(#s))
        }
        _ => quote!(::core::option::Option::None),
    }
}

/// Binds `src` (read) and `dst` (written; `sub` narrows it to `(start, len)`) for a step that
/// reads one buffer and writes another. The plan never gives both the same tensor.
fn bind_pair(src: Buf, dst: Buf, sub: Option<(u64, u64)>) -> TokenStream {
    let range = |offset: u64, len: u64| (usize_lit(offset), usize_lit(offset + len));
    let dst = match (dst, sub) {
        (Buf::Arena { offset, .. }, Some((start, len))) => Buf::Arena {
            offset: offset + start,
            len,
        },
        (d, _) => d,
    };
    match (src, dst) {
        (
            Buf::Arena {
                offset: so,
                len: sl,
            },
            Buf::Arena {
                offset: d_o,
                len: dl,
            },
        ) => {
            let (so, sl, d_o, dl) = (usize_lit(so), usize_lit(sl), usize_lit(d_o), usize_lit(dl));
            quote!(let (src, dst) = __cnn::split(arena, (#so, #sl), (#d_o, #dl));)
        }
        (src, dst) => {
            let src = match src {
                Buf::Input => quote!(input),
                Buf::Arena { offset, len } => {
                    let (a, b) = range(offset, len);
                    quote!(&arena[#a..#b])
                }
                Buf::Output => quote!(&*output),
            };
            let dst = match (dst, sub) {
                (Buf::Output, None) => quote!(&mut *output),
                (Buf::Output, Some((start, len))) => {
                    let (a, b) = range(start, len);
                    quote!(&mut output[#a..#b])
                }
                (Buf::Arena { offset, len }, _) => {
                    let (a, b) = range(offset, len);
                    quote!(&mut arena[#a..#b])
                }
                (Buf::Input, _) => unreachable!("the input is never written"),
            };
            quote!(let (src, dst): (&[f32], &mut [f32]) = (#src, #dst);)
        }
    }
}

/// Binds `src` (read), `mid` (an arena range, written and read) and `dst` (written) for an
/// [`StepKind::ExpandDepthwise`] step; the plan gives each a tensor of its own.
fn bind_three(src: Buf, (mo, ml): (u64, u64), dst: Buf) -> TokenStream {
    let range = |offset: u64, len: u64| {
        let (o, l) = (usize_lit(offset), usize_lit(len));
        quote!((#o, #l))
    };
    let mid = range(mo, ml);
    match (src, dst) {
        (
            Buf::Arena { offset, len },
            Buf::Arena {
                offset: d_o,
                len: dl,
            },
        ) => {
            let (s, d) = (range(offset, len), range(d_o, dl));
            quote!(let [src, mid, dst] = __cnn::regions(arena, [#s, #mid, #d]);)
        }
        (Buf::Arena { offset, len }, Buf::Output) => {
            let s = range(offset, len);
            quote!(let [src, mid] = __cnn::regions(arena, [#s, #mid]); let dst = &mut *output;)
        }
        (Buf::Input, Buf::Arena { offset, len }) => {
            let d = range(offset, len);
            quote!(let src = input; let [mid, dst] = __cnn::regions(arena, [#mid, #d]);)
        }
        (Buf::Input, Buf::Output) => {
            quote!(let src = input; let [mid] = __cnn::regions(arena, [#mid]); let dst = &mut *output;)
        }
        (Buf::Output, _) | (_, Buf::Input) => {
            unreachable!("a step reads no output and writes no input")
        }
    }
}

/// The buffer a step rewrites in place.
fn target(dst: Buf) -> TokenStream {
    match dst {
        Buf::Output => quote!(&mut *output),
        Buf::Arena { offset, len } => {
            let (a, b) = (usize_lit(offset), usize_lit(offset + len));
            quote!(&mut arena[#a..#b])
        }
        Buf::Input => unreachable!("the input is never written"),
    }
}

/// An in-place step: on its buffer, or on a copy of its input.
fn in_place(src: Buf, dst: Buf, op: TokenStream) -> TokenStream {
    let t = target(dst);
    let copy = (src != dst).then(|| {
        let pair = bind_pair(src, dst, None);
        quote!({ #pair dst.copy_from_slice(src); })
    });
    quote!(#copy let dst: &mut [f32] = #t; #op)
}

/// Values in the `k`-th input of a node.
fn src_len(nodes: &[Node], node: usize, k: usize) -> u64 {
    match nodes[node].inputs[k] {
        Src::Input => nodes[node].input.iter().product(),
        Src::Node(p) => nodes[p].output.iter().product(),
    }
}

/// Convolution node `node` with batch norm `bn` and activation `act` fused: its `ConvSpec`
/// item `spec`, and the expressions of its weights, bias and batch norm in the weight buffer.
fn conv_parts(
    nodes: &[Node],
    plan: &Plan,
    spec: &proc_macro2::Ident,
    node: usize,
    bn: Option<usize>,
    act: Option<Act>,
) -> [TokenStream; 4] {
    let n = &nodes[node];
    let Resolved::Conv {
        out_channels,
        bias: has_bias,
        ..
    } = &n.op
    else {
        unreachable!("a convolution step's node is a convolution")
    };
    let len: u64 = n.tensors[0].1.iter().product();
    [
        conv_spec(spec, n, act),
        slice(plan.tensor(nodes, node, "weight").unwrap_or(0), len),
        bias(nodes, plan, node, *has_bias, *out_channels),
        norm(nodes, plan, bn),
    ]
}

/// The `ConvSpec` item `spec` for convolution node `n`, with `act` fused.
pub(super) fn conv_spec(spec: &proc_macro2::Ident, n: &Node, act: Option<Act>) -> TokenStream {
    let Resolved::Conv {
        in_channels,
        out_channels,
        kernel,
        stride,
        padding,
        dilation,
        groups,
        ..
    } = &n.op
    else {
        unreachable!()
    };
    let (ci, co, g) = (
        usize_lit(*in_channels),
        usize_lit(*out_channels),
        usize_lit(*groups),
    );
    let (input, output) = (extent(&n.input[1..], 1), extent(&n.output[1..], 1));
    let (k, s, p, d) = (
        extent(kernel, 1),
        extent(stride, 1),
        extent(padding, 0),
        extent(dilation, 1),
    );
    let act = activation(act);
    quote! {
        struct #spec;
        impl __cnn::ConvSpec for #spec {
            const IN_CHANNELS: usize = #ci;
            const OUT_CHANNELS: usize = #co;
            const GROUPS: usize = #g;
            const INPUT: __cnn::Extent = #input;
            const OUTPUT: __cnn::Extent = #output;
            const KERNEL: __cnn::Extent = #k;
            const STRIDE: __cnn::Extent = #s;
            const PADDING: __cnn::Extent = #p;
            const DILATION: __cnn::Extent = #d;
            const ACTIVATION: __cnn::Activation = #act;
        }
    }
}

/// The `PoolSpec` item `spec` for pool node `n`, and the name of its kernel.
pub(super) fn pool_spec(spec: &proc_macro2::Ident, n: &Node) -> (TokenStream, TokenStream) {
    let c = usize_lit(n.input[0]);
    let (input, output) = (extent(&n.input[1..], 1), extent(&n.output[1..], 1));
    let one = extent(&[], 1);
    let zero = extent(&[], 0);
    let (k, s, p, d, cip, div, kernel_fn) = match &n.op {
        Resolved::Pool {
            max,
            kernel,
            stride,
            padding,
            dilation,
            count_include_pad,
            divisor_override,
            ..
        } => (
            extent(kernel, 1),
            extent(stride, 1),
            extent(padding, 0),
            extent(dilation, 1),
            *count_include_pad,
            usize_lit(divisor_override.unwrap_or(0)),
            if *max {
                quote!(max_pool)
            } else {
                quote!(avg_pool)
            },
        ),
        Resolved::Adaptive { max, .. } => (
            one.clone(),
            one.clone(),
            zero,
            one,
            false,
            usize_lit(0),
            if *max {
                quote!(adaptive_max_pool)
            } else {
                quote!(adaptive_avg_pool)
            },
        ),
        _ => unreachable!(),
    };
    let item = quote! {
        struct #spec;
        impl __cnn::PoolSpec for #spec {
            const CHANNELS: usize = #c;
            const INPUT: __cnn::Extent = #input;
            const OUTPUT: __cnn::Extent = #output;
            const KERNEL: __cnn::Extent = #k;
            const STRIDE: __cnn::Extent = #s;
            const PADDING: __cnn::Extent = #p;
            const DILATION: __cnn::Extent = #d;
            const COUNT_INCLUDE_PAD: bool = #cip;
            const DIVISOR_OVERRIDE: usize = #div;
        }
    };
    (item, kernel_fn)
}

/// The spec items and the forward-pass statements of every step.
/// The steps of the forward pass: each step's spec type and kernel call, and how the
/// convolutions' weights are packed at load time.
pub struct Steps {
    pub specs: Vec<TokenStream>,
    /// Per step: its statements, and whether they run the whole group at once (a layer-major
    /// `Linear` step) rather than one input's buffers.
    pub calls: Vec<(TokenStream, bool)>,
    /// Statements packing each convolution's weights from `weights` into `packed`.
    pub packs: Vec<TokenStream>,
    /// Values of the packed weights of all convolutions: an expression, as each layer's
    /// length is the runtime's to choose (`ConvSpec::PACKED_LEN`).
    pub packed_len: TokenStream,
}

/// The place of a buffer in each input's buffers, for a step over a group.
fn place(buf: Buf) -> TokenStream {
    match buf {
        Buf::Input => quote!(__cnn::Place::Input),
        Buf::Output => quote!(__cnn::Place::Output),
        Buf::Arena { offset, .. } => {
            let o = usize_lit(offset);
            quote!(__cnn::Place::Arena(#o))
        }
    }
}

/// The call of step `i` once over the whole group (layer-major), timed as `images` laps:
/// `call` makes the kernel's call from the group's buffers and the step's `(source,
/// destination)` places in them.
fn over_group(
    i: usize,
    step: &Step,
    call: impl FnOnce(TokenStream, TokenStream) -> TokenStream,
) -> (TokenStream, bool) {
    let (src, dst) = (place(step.srcs[0]), place(step.dst));
    let lap = usize_lit(i as u64);
    let call = call(
        quote!(__cnn::Group {
            input,
            output: &mut *output,
            arena: &mut *arena,
            images
        }),
        quote!((#src, #dst)),
    );
    (
        quote!({ let _lap = __CNN_CLOCKS[#lap].lap(images); #call }),
        true,
    )
}

pub fn steps(nodes: &[Node], plan: &Plan, schedule: &Schedule) -> Steps {
    let mut specs = Vec::new();
    let mut calls = Vec::new();
    let mut packs = Vec::new();
    // Where the next convolution's packed weights start: each one's offset is a constant
    // beside its spec, the previous offset plus the previous layer's length.
    let mut packed_len = quote!(0usize);
    for (i, step) in plan.steps.iter().enumerate() {
        let spec = spec_ident(i);
        let pair = bind_pair(step.srcs[0], step.dst, None);
        let call = match &step.kind {
            StepKind::Conv {
                node,
                norm: bn,
                act,
            } => {
                let [item, weight, b, nm] = conv_parts(nodes, plan, &spec, *node, *bn, *act);
                specs.push(item);
                let at = format_ident!("__PACKED_AT{}", i);
                let packed_here = quote!(<#spec as __cnn::ConvSpec>::PACKED_LEN);
                specs.push(quote!(const #at: usize = #packed_len;));
                packs.push(quote!(
                    __cnn::conv_pack::<#spec>(#weight, &mut packed[#at..#at + #packed_here]);
                ));
                let packed = quote!(self.packed.get(#at, #packed_here));
                packed_len = quote!(#at + #packed_here);
                if schedule.layer_major[i] {
                    calls.push(over_group(i, step, |group, places| {
                        quote!(__cnn::conv_group::<#spec, Self>(
                            #group, #places, #weight, #packed, #b, #nm,
                        );)
                    }));
                    continue;
                }
                quote!(__cnn::conv::<#spec>(src, #weight, #packed, #b, #nm, dst);)
            }
            StepKind::ExpandDepthwise { expand, depthwise } => {
                let spec_d = format_ident!("{}Depthwise", spec);
                let part = |spec, f: &Fused| conv_parts(nodes, plan, spec, f.node, f.norm, f.act);
                let [item_e, we, be, ne] = part(&spec, expand);
                let [item_d, wd, bd, nd] = part(&spec_d, depthwise);
                specs.extend([item_e, item_d]);
                // The two layers' packed weights one after the other, packed together (the
                // runtime lays them out for its kernel of the pair where it takes them).
                let at = format_ident!("__PACKED_AT{}", i);
                let (len_e, len_d) = (
                    quote!(<#spec as __cnn::ConvSpec>::PACKED_LEN),
                    quote!(<#spec_d as __cnn::ConvSpec>::PACKED_LEN),
                );
                specs.push(quote!(const #at: usize = #packed_len;));
                packs.push(quote!({
                    let (pe, pd) = packed[#at..#at + #len_e + #len_d].split_at_mut(#len_e);
                    __cnn::conv_pack_expand_depthwise::<#spec, #spec_d>((#we, pe), (#wd, pd));
                }));
                let (pe, pd) = (
                    quote!(self.packed.get(#at, #len_e)),
                    quote!(self.packed.get(#at + #len_e, #len_d)),
                );
                packed_len = quote!(#at + #len_e + #len_d);
                let Some(Buf::Arena {
                    offset: mo,
                    len: ml,
                }) = step.scratch
                else {
                    unreachable!("the pair's scratch is in the arena")
                };
                let bind = bind_three(step.srcs[0], (mo, ml), step.dst);
                quote!(#bind __cnn::conv_expand_depthwise::<#spec, #spec_d>(
                    src, mid, dst, (#we, #pe, #be, #ne), (#wd, #pd, #bd, #nd),
                );)
            }
            StepKind::Linear {
                node,
                norm: bn,
                act,
            } => {
                let n = &nodes[*node];
                let Resolved::Linear {
                    in_features,
                    out_features,
                    bias: has_bias,
                } = n.op
                else {
                    unreachable!()
                };
                let (fi, fo) = (usize_lit(in_features), usize_lit(out_features));
                let weight = slice(
                    plan.tensor(nodes, *node, "weight").unwrap_or(0),
                    in_features * out_features,
                );
                let b = bias(nodes, plan, *node, has_bias, out_features);
                let nm = norm(nodes, plan, *bn);
                let act = activation(*act);
                if schedule.layer_major[i] {
                    calls.push(over_group(i, step, |group, places| {
                        quote!(__cnn::linear_group::<Self, #fi, #fo>(
                            #group, #places, #weight, #b, #nm, #act,
                        );)
                    }));
                    continue;
                }
                quote!(__cnn::linear::<#fi, #fo>(src, #weight, #b, #nm, #act, dst);)
            }
            StepKind::Pool { node } | StepKind::Adaptive { node } => {
                let (item, kernel_fn) = pool_spec(&spec, &nodes[*node]);
                specs.push(item);
                quote!(__cnn::#kernel_fn::<#spec>(src, dst);)
            }
            StepKind::BatchNorm { node, act } => {
                let n = &nodes[*node];
                let plane = usize_lit(n.input[1..].iter().product());
                let nm = norm(nodes, plan, Some(*node));
                let act = activation(*act);
                in_place(
                    step.srcs[0],
                    step.dst,
                    quote!(if let ::core::option::Option::Some(norm) = #nm { __cnn::batch_norm(dst, #plane, norm, #act); }),
                )
            }
            StepKind::Act(a) => {
                let act = activation(Some(*a));
                in_place(step.srcs[0], step.dst, quote!(__cnn::activate(dst, #act);))
            }
            StepKind::Softmax { len, inner } => {
                let (l, n) = (usize_lit(*len), usize_lit(*inner));
                in_place(step.srcs[0], step.dst, quote!(__cnn::softmax(dst, #l, #n);))
            }
            StepKind::Add { act, .. } => {
                // dst = a + b: in place into whichever input the plan reused, else a copy of a.
                let act = activation(*act);
                let (a, b) = (step.srcs[0], step.srcs[1]);
                let (copy, other) = if step.dst == a {
                    (None, b)
                } else if step.dst == b {
                    (None, a)
                } else {
                    let pair = bind_pair(a, step.dst, None);
                    (Some(quote!({ #pair dst.copy_from_slice(src); })), b)
                };
                let pair = bind_pair(other, step.dst, None);
                quote!(#copy { #pair __cnn::add(dst, src, #act); })
            }
            StepKind::Concat { node } => {
                let mut start = 0;
                let mut copies = TokenStream::new();
                for (k, src) in step.srcs.iter().enumerate() {
                    let len = src_len(nodes, *node, k);
                    let pair = bind_pair(*src, step.dst, Some((start, len)));
                    copies.extend(quote!({ #pair dst.copy_from_slice(src); }));
                    start += len;
                }
                copies
            }
        };
        let writes_new = matches!(
            step.kind,
            StepKind::Conv { .. }
                | StepKind::Linear { .. }
                | StepKind::Pool { .. }
                | StepKind::Adaptive { .. }
        );
        let call = if writes_new {
            quote!(#pair #call)
        } else {
            call
        };
        let i = usize_lit(i as u64);
        calls.push((quote!({ let _lap = __CNN_CLOCKS[#i].lap(1); #call }), false));
    }
    Steps {
        specs,
        calls,
        packs,
        packed_len,
    }
}
