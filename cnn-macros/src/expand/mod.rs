//! Stage 5, emit: the network's struct, its `Network` implementation with the constants the
//! checks computed, and a forward pass of specialised steps over one arena.

mod steps;
mod summary;
mod train;

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use crate::check::Figures;
use crate::check::{Node, Resolved, Src};
use crate::ir::{Act, Network};
use crate::plan::Plan;

pub use summary::{step_names, summary};

pub(crate) fn usize_lit(n: u64) -> Literal {
    Literal::usize_unsuffixed(n as usize)
}

pub(crate) fn f32_lit(x: f64) -> Literal {
    Literal::f32_suffixed(x as f32)
}

pub(crate) fn usizes(values: &[u64]) -> TokenStream {
    let items = values.iter().map(|&v| usize_lit(v));
    quote!(&[#(#items),*])
}

pub(crate) fn activation(act: Option<Act>) -> TokenStream {
    match act {
        None => quote!(__cnn::Activation::Identity),
        Some(Act::Relu) => quote!(__cnn::Activation::Relu),
        Some(Act::Relu6) => quote!(__cnn::Activation::Relu6),
        Some(Act::LeakyRelu(s)) => {
            let s = f32_lit(s);
            quote!(__cnn::Activation::LeakyRelu(#s))
        }
        Some(Act::Sigmoid) => quote!(__cnn::Activation::Sigmoid),
        Some(Act::Tanh) => quote!(__cnn::Activation::Tanh),
    }
}

/// The struct as the author declared it, with its attributes and visibility.
fn struct_item(net: &Network) -> TokenStream {
    let decl = net.decl;
    let (attrs, vis, name) = (&decl.attrs, &decl.vis, &decl.name);
    quote! {
        #(#attrs)*
        #vis struct #name {
            weights: ::cnn::__private::Weights,
            packed: ::cnn::__private::Packed,
        }
    }
}

/// The full expansion of a network that passed every check.
pub fn expand(net: &Network, nodes: &[Node], plan: &Plan, figures: &Figures) -> TokenStream {
    let name = &net.decl.name;
    let name_str = name.to_string();
    let input_shape = usizes(&net.input.as_ref().map_or_else(Vec::new, |s| s.dims.clone()));
    let output_dims = nodes.last().map_or_else(
        || net.input.as_ref().map_or_else(Vec::new, |s| s.dims.clone()),
        |n| n.output.clone(),
    );
    let output_shape = usizes(&output_dims);
    let input_len = usize_lit(net.input.as_ref().map_or(0, |s| s.dims.iter().product()));
    let output_len = usize_lit(output_dims.iter().product());
    let params = usize_lit(figures.params);
    let macs = Literal::u64_suffixed(figures.macs);
    let weight_bytes = usize_lit(figures.weight_bytes);
    let arena_bytes = usize_lit(figures.arena_bytes);
    let arena_len = usize_lit(plan.arena_len);
    let naive = usize_lit(4 * plan.naive);
    let live = usize_lit(4 * plan.lower_bound);
    let weights_len = usize_lit(plan.weights_len);
    let layers = nodes.iter().map(layer_desc);
    let inputs = nodes.iter().map(|n| {
        let reads = n.inputs.iter().map(|s| match s {
            Src::Input => usize_lit(0),
            Src::Node(i) => usize_lit(*i as u64 + 1),
        });
        quote!(&[#(#reads),*])
    });
    let tensors = plan.tensors.iter().map(|t| {
        let (key, shape, offset) = (&t.key, usizes(&t.shape), usize_lit(t.offset));
        quote!(__cnn::TensorSpec { name: #key, shape: #shape, offset: #offset })
    });
    let summary = summary(net, nodes, plan, figures);
    let step_names = step_names(nodes, plan);
    let step_count = usize_lit(step_names.len() as u64);
    let prepare = nodes.iter().enumerate().filter_map(|(i, n)| {
        let Resolved::BatchNorm {
            channels,
            eps,
            affine,
            ..
        } = n.op
        else {
            return None;
        };
        let slot = usize_lit(plan.norm_slots[i]?);
        let var = usize_lit(plan.tensor(nodes, i, "running_var")?);
        let (gamma, beta) = if affine {
            let g = usize_lit(plan.tensor(nodes, i, "weight")?);
            let b = usize_lit(plan.tensor(nodes, i, "bias")?);
            (
                quote!(::core::option::Option::Some(#g)),
                quote!(::core::option::Option::Some(#b)),
            )
        } else {
            (
                quote!(::core::option::Option::None),
                quote!(::core::option::Option::None),
            )
        };
        let (c, eps) = (usize_lit(channels), f32_lit(eps));
        Some(quote!(__cnn::prepare_norm(weights, #c, #var, #gamma, #beta, #eps, #slot);))
    });
    let schedule = crate::plan::schedule(nodes, plan, 4 * plan.arena_len);
    let group = usize_lit(schedule.group);
    let steps::Steps {
        specs,
        calls,
        packs,
        packed_len,
    } = steps::steps(nodes, plan, &schedule);
    let body = group_body(&calls, &schedule.layer_major);
    let copy_through = plan
        .copy_through
        .then(|| quote!(output.copy_from_slice(input);));
    let item = struct_item(net);
    let train = train::train_impl(name, nodes, plan, figures);
    quote! {
        #item
        const _: () = {
            use ::cnn::__private as __cnn;
            #(#specs)*
            /// Time per step, with the runtime's `profile` feature (without it, nothing).
            static __CNN_CLOCKS: [__cnn::Clock; #step_count] = [const { __cnn::Clock::new() }; #step_count];
            impl #name {
                /// Computes what the network derives from its weights: batch-norm scales in
                /// the buffer, packed convolution weights beside it.
                fn __cnn_derive(weights: &mut [f32]) -> __cnn::Packed {
                    #(#prepare)*
                    let w: &[f32] = weights;
                    let _ = &w;
                    __cnn::Packed::new(#packed_len, |packed| {
                        let _ = &packed;
                        #(#packs)*
                    })
                }
            }
            #train
            impl __cnn::Network for #name {
                const NAME: &'static str = #name_str;
                const INPUT_SHAPE: &'static [usize] = #input_shape;
                const OUTPUT_SHAPE: &'static [usize] = #output_shape;
                const INPUT_LEN: usize = #input_len;
                const OUTPUT_LEN: usize = #output_len;
                const PARAMS: usize = #params;
                const WEIGHT_BYTES: usize = #weight_bytes;
                const MACS: u64 = #macs;
                const ARENA_BYTES: usize = #arena_bytes;
                const ARENA_LEN: usize = #arena_len;
                const NAIVE_ARENA_BYTES: usize = #naive;
                const PEAK_LIVE_BYTES: usize = #live;
                const WEIGHTS_LEN: usize = #weights_len;
                const LAYERS: &'static [__cnn::Layer] = &[#(#layers),*];
                const INPUTS: &'static [&'static [usize]] = &[#(#inputs),*];
                const TENSORS: &'static [__cnn::TensorSpec] = &[#(#tensors),*];
                const SUMMARY: &'static str = #summary;
                const STEPS: &'static [&'static str] = &[#(#step_names),*];
                const GROUP: usize = #group;

                fn __clocks() -> &'static [__cnn::Clock] {
                    &__CNN_CLOCKS
                }

                fn from_weights(mut weights: __cnn::Weights) -> ::core::result::Result<Self, __cnn::Error> {
                    if weights.len() != #weights_len {
                        return ::core::result::Result::Err(__cnn::Error::WeightsLength {
                            expected: #weights_len,
                            found: weights.len(),
                        });
                    }
                    let packed = Self::__cnn_derive(&mut weights);
                    ::core::result::Result::Ok(Self { weights, packed })
                }

                fn weights(&self) -> &[f32] {
                    &self.weights
                }

                fn __forward_group(&self, input: &[f32], output: &mut [f32], arena: &mut [f32], images: usize) {
                    let w: &[f32] = &self.weights;
                    let _ = (&w, &arena, images);
                    #body
                    #copy_through
                }
            }
        };
    }
}

/// The forward pass of a group of `images` inputs: runs of image-major steps in a loop over
/// the inputs, each input's buffers bound as `input`, `output` and `arena` (as a single
/// input's forward pass has them); each layer-major step in a loop of its own, or at once for
/// the whole group.
fn group_body(calls: &[(TokenStream, bool)], layer_major: &[bool]) -> TokenStream {
    let per_input = |steps: &[TokenStream]| {
        quote! {
            for __image in 0..images {
                let input = &input[__image * <Self as __cnn::Network>::INPUT_LEN..(__image + 1) * <Self as __cnn::Network>::INPUT_LEN];
                let output = &mut output[__image * <Self as __cnn::Network>::OUTPUT_LEN..(__image + 1) * <Self as __cnn::Network>::OUTPUT_LEN];
                let arena = &mut arena[__image * <Self as __cnn::Network>::ARENA_LEN..(__image + 1) * <Self as __cnn::Network>::ARENA_LEN];
                let _ = (&input, &output, &arena);
                #(#steps)*
            }
        }
    };
    let mut body = TokenStream::new();
    let mut run: Vec<TokenStream> = Vec::new();
    for ((call, whole_group), &layer) in calls.iter().zip(layer_major) {
        if layer && !run.is_empty() {
            body.extend(per_input(&run));
            run.clear();
        }
        match (layer, whole_group) {
            (_, true) => body.extend(call.clone()),
            (true, false) => body.extend(per_input(std::slice::from_ref(call))),
            (false, false) => run.push(call.clone()),
        }
    }
    if !run.is_empty() {
        body.extend(per_input(&run));
    }
    body
}

/// What a network that failed its checks expands to: the struct and an implementation that
/// cannot run, so that the author's code using it adds no errors of its own.
pub fn fallback(net: &Network) -> TokenStream {
    let name = &net.decl.name;
    let item = struct_item(net);
    quote! {
        #item
        const _: () = {
            use ::cnn::__private as __cnn;
            impl __cnn::Network for #name {
                const NAME: &'static str = "";
                const INPUT_SHAPE: &'static [usize] = &[];
                const OUTPUT_SHAPE: &'static [usize] = &[];
                const INPUT_LEN: usize = 0;
                const OUTPUT_LEN: usize = 0;
                const PARAMS: usize = 0;
                const WEIGHT_BYTES: usize = 0;
                const MACS: u64 = 0;
                const ARENA_BYTES: usize = 0;
                const ARENA_LEN: usize = 0;
                const NAIVE_ARENA_BYTES: usize = 0;
                const PEAK_LIVE_BYTES: usize = 0;
                const WEIGHTS_LEN: usize = 0;
                const LAYERS: &'static [__cnn::Layer] = &[];
                const INPUTS: &'static [&'static [usize]] = &[];
                const TENSORS: &'static [__cnn::TensorSpec] = &[];
                const SUMMARY: &'static str = "";
                const STEPS: &'static [&'static str] = &[];
                const GROUP: usize = 1;
                fn from_weights(_: __cnn::Weights) -> ::core::result::Result<Self, __cnn::Error> {
                    ::core::unimplemented!()
                }
                fn weights(&self) -> &[f32] {
                    ::core::unimplemented!()
                }
                fn __forward_group(&self, _: &[f32], _: &mut [f32], _: &mut [f32], _: usize) {
                    ::core::unimplemented!()
                }
            }
            impl __cnn::Train for #name {
                const SHAPES: &'static [&'static [usize]] = &[];
                const LAYER_TENSORS: &'static [(usize, usize)] = &[];
                const FROZEN: usize = 0;
                const TRAIN_BATCH: usize = 0;
                const TRAIN_MEMORY_BYTES: usize = 0;
                fn layer_forward(&self, _: usize, _: &[f32], _: &mut [f32]) {
                    ::core::unimplemented!()
                }
                fn layer_backward(&self, _: usize, _: &[f32], _: &[f32], _: ::core::option::Option<&mut [f32]>, _: ::core::option::Option<&mut [f32]>) {
                    ::core::unimplemented!()
                }
                fn update_weights<F: ::core::ops::FnOnce(&mut [f32])>(&mut self, _: F) {
                    ::core::unimplemented!()
                }
            }
        };
    }
}

/// The runtime's description of a layer (`Network::LAYERS`).
fn layer_desc(node: &Node) -> TokenStream {
    let name = node.path.clone().unwrap_or_default();
    match &node.op {
        Resolved::Conv {
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
            let (ci, co, g) = (
                usize_lit(*in_channels),
                usize_lit(*out_channels),
                usize_lit(*groups),
            );
            let (k, s, p, pe, d) = (
                usizes(kernel),
                usizes(stride),
                usizes(padding),
                usizes(padding_end),
                usizes(dilation),
            );
            quote!(__cnn::Layer::Conv { name: #name, in_channels: #ci, out_channels: #co, kernel: #k, stride: #s, padding: #p, padding_end: #pe, dilation: #d, groups: #g, bias: #bias })
        }
        Resolved::Pool {
            max: true,
            kernel,
            stride,
            padding,
            dilation,
            ceil_mode,
            ..
        } => {
            let (k, s, p, d) = (
                usizes(kernel),
                usizes(stride),
                usizes(padding),
                usizes(dilation),
            );
            quote!(__cnn::Layer::MaxPool { kernel: #k, stride: #s, padding: #p, dilation: #d, ceil_mode: #ceil_mode })
        }
        Resolved::Pool {
            max: false,
            kernel,
            stride,
            padding,
            ceil_mode,
            count_include_pad,
            divisor_override,
            ..
        } => {
            let (k, s, p) = (usizes(kernel), usizes(stride), usizes(padding));
            let div = match divisor_override {
                Some(d) => {
                    let d = usize_lit(*d);
                    quote!(::core::option::Option::Some(#d))
                }
                None => quote!(::core::option::Option::None),
            };
            quote!(__cnn::Layer::AvgPool { kernel: #k, stride: #s, padding: #p, ceil_mode: #ceil_mode, count_include_pad: #count_include_pad, divisor_override: #div })
        }
        Resolved::Adaptive { max, output } => {
            let o = usizes(output);
            if *max {
                quote!(__cnn::Layer::AdaptiveMaxPool { output: #o })
            } else {
                quote!(__cnn::Layer::AdaptiveAvgPool { output: #o })
            }
        }
        Resolved::BatchNorm {
            channels,
            eps,
            momentum,
            affine,
        } => {
            let (c, e) = (usize_lit(*channels), f32_lit(*eps));
            let m = match momentum {
                Some(m) => {
                    let m = f32_lit(*m);
                    quote!(::core::option::Option::Some(#m))
                }
                None => quote!(::core::option::Option::None),
            };
            quote!(__cnn::Layer::BatchNorm { name: #name, num_features: #c, eps: #e, momentum: #m, affine: #affine })
        }
        Resolved::Linear {
            in_features,
            out_features,
            bias,
        } => {
            let (i, o) = (usize_lit(*in_features), usize_lit(*out_features));
            quote!(__cnn::Layer::Linear { name: #name, in_features: #i, out_features: #o, bias: #bias })
        }
        Resolved::Flatten { start_dim, end_dim } => {
            let (s, e) = (
                Literal::isize_unsuffixed(*start_dim as isize),
                Literal::isize_unsuffixed(*end_dim as isize),
            );
            quote!(__cnn::Layer::Flatten { start_dim: #s, end_dim: #e })
        }
        Resolved::Act(a) => {
            let a = activation(Some(*a));
            quote!(__cnn::Layer::Activation(#a))
        }
        Resolved::Softmax { dim, .. } => {
            let d = Literal::isize_unsuffixed(*dim as isize);
            quote!(__cnn::Layer::Softmax { dim: #d })
        }
        Resolved::Identity => quote!(__cnn::Layer::Identity),
        Resolved::Dropout { p } => {
            let p = f32_lit(*p);
            quote!(__cnn::Layer::Dropout { p: #p })
        }
        Resolved::Add => quote!(__cnn::Layer::Add),
        Resolved::Concat => quote!(__cnn::Layer::Concat),
    }
}

pub(crate) fn spec_ident(step: usize) -> proc_macro2::Ident {
    format_ident!("__Step{}", step)
}
