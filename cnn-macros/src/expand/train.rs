//! The `Train` implementation: each layer's output shape and tensors, and for each
//! convolution, linear layer and pool a forward and a backward call of the runtime's kernels
//! specialised to the layer's sizes (without the forward pass's fusions: training keeps each
//! layer's output).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::steps::{bias, conv_spec, pool_spec, slice};
use super::{usize_lit, usizes};
use crate::check::{Figures, Node, Resolved};
use crate::plan::Plan;

/// The arms of `layer_forward` and `layer_backward` for node `i`, and the spec items they use.
struct Arms {
    specs: Vec<TokenStream>,
    forward: Vec<TokenStream>,
    backward: Vec<TokenStream>,
}

/// Splits `grads` (the layer's gradients from its first tensor) into the weight's `wlen`
/// values and, if the layer has one, the bias's.
fn split_grads(has_bias: bool, wlen: u64) -> TokenStream {
    let wlen = usize_lit(wlen);
    if has_bias {
        quote! {
            let (dw, db) = match grads {
                ::core::option::Option::Some(g) => {
                    let (a, b) = g.split_at_mut(#wlen);
                    (::core::option::Option::Some(a), ::core::option::Option::Some(b))
                }
                ::core::option::Option::None => (::core::option::Option::None, ::core::option::Option::None),
            };
        }
    } else {
        quote!(let (dw, db) = (grads, ::core::option::Option::None);)
    }
}

fn arms(nodes: &[Node], plan: &Plan) -> Arms {
    let mut arms = Arms {
        specs: Vec::new(),
        forward: Vec::new(),
        backward: Vec::new(),
    };
    for (i, n) in nodes.iter().enumerate() {
        let at = usize_lit(i as u64);
        let spec = format_ident!("__Layer{}", i);
        match &n.op {
            Resolved::Conv {
                out_channels,
                bias: has_bias,
                ..
            } => {
                arms.specs.push(conv_spec(&spec, n, None));
                let wlen: u64 = n.tensors[0].1.iter().product();
                let weight = slice(plan.tensor(nodes, i, "weight").unwrap_or(0), wlen);
                let b = bias(nodes, plan, i, *has_bias, *out_channels);
                arms.forward.push(quote!(#at => __cnn::conv::<#spec>(x, #weight, ::core::option::Option::None, #b, ::core::option::Option::None, y),));
                let split = split_grads(*has_bias, wlen);
                arms.backward.push(quote!(#at => {
                    #split
                    __cnn::conv_backward::<#spec>(x, #weight, dy, dx, dw, db);
                }));
            }
            Resolved::Linear {
                in_features,
                out_features,
                bias: has_bias,
            } => {
                let (fi, fo) = (usize_lit(*in_features), usize_lit(*out_features));
                let wlen = in_features * out_features;
                let weight = slice(plan.tensor(nodes, i, "weight").unwrap_or(0), wlen);
                let b = bias(nodes, plan, i, *has_bias, *out_features);
                arms.forward.push(quote!(#at => __cnn::linear::<#fi, #fo>(x, #weight, #b, ::core::option::Option::None, __cnn::Activation::Identity, y),));
                let split = split_grads(*has_bias, wlen);
                arms.backward.push(quote!(#at => {
                    #split
                    __cnn::linear_backward::<#fi, #fo>(x, #weight, dy, dx, dw, db);
                }));
            }
            Resolved::Pool { .. } | Resolved::Adaptive { .. } => {
                let (item, kernel) = pool_spec(&spec, n);
                arms.specs.push(item);
                arms.forward
                    .push(quote!(#at => __cnn::#kernel::<#spec>(x, y),));
                let call = match &n.op {
                    Resolved::Pool { max: true, .. } => {
                        quote!(__cnn::max_pool_backward::<#spec>(x, dy, dx))
                    }
                    Resolved::Pool { max: false, .. } => {
                        quote!(__cnn::avg_pool_backward::<#spec>(dy, dx))
                    }
                    Resolved::Adaptive { max: true, .. } => {
                        quote!(__cnn::adaptive_max_pool_backward::<#spec>(x, dy, dx))
                    }
                    _ => quote!(__cnn::adaptive_avg_pool_backward::<#spec>(dy, dx)),
                };
                arms.backward.push(quote!(#at => {
                    let _ = (&x, &grads);
                    if let ::core::option::Option::Some(dx) = dx { #call; }
                }));
            }
            _ => {}
        }
    }
    arms
}

/// `impl Train for Name`, for a network that passed every check.
pub fn train_impl(
    name: &syn::Ident,
    nodes: &[Node],
    plan: &Plan,
    figures: &Figures,
) -> TokenStream {
    let shapes = nodes.iter().map(|n| usizes(&n.output));
    let layer_tensors = nodes.iter().enumerate().map(|(i, n)| {
        let first = n
            .tensors
            .first()
            .and_then(|(suffix, _)| plan.tensor(nodes, i, suffix));
        let len: u64 = n.tensors.iter().map(|t| t.1.iter().product::<u64>()).sum();
        let (o, l) = (
            usize_lit(first.unwrap_or(0)),
            usize_lit(first.map_or(0, |_| len)),
        );
        quote!((#o, #l))
    });
    let tensors_end = usize_lit(
        plan.tensors
            .iter()
            .map(|t| t.offset + t.shape.iter().product::<u64>())
            .max()
            .unwrap_or(0),
    );
    let frozen = usize_lit(figures.frozen as u64);
    let batch = usize_lit(figures.train_batch);
    let bytes = usize_lit(figures.train.bytes());
    let Arms {
        specs,
        forward,
        backward,
    } = arms(nodes, plan);
    quote! {
        #(#specs)*
        impl __cnn::Train for #name {
            const SHAPES: &'static [&'static [usize]] = &[#(#shapes),*];
            const LAYER_TENSORS: &'static [(usize, usize)] = &[#(#layer_tensors),*];
            const FROZEN: usize = #frozen;
            const TRAIN_BATCH: usize = #batch;
            const TRAIN_MEMORY_BYTES: usize = #bytes;

            fn layer_forward(&self, layer: usize, x: &[f32], y: &mut [f32]) {
                let w: &[f32] = &self.weights;
                let _ = (&w, &x, &y);
                match layer {
                    #(#forward)*
                    _ => ::core::panic!("layer {} is not a convolution, linear layer or pool", layer),
                }
            }

            fn layer_backward(
                &self,
                layer: usize,
                x: &[f32],
                dy: &[f32],
                dx: ::core::option::Option<&mut [f32]>,
                grads: ::core::option::Option<&mut [f32]>,
            ) {
                let w: &[f32] = &self.weights;
                let _ = (&w, &x, &dy, &dx, &grads);
                match layer {
                    #(#backward)*
                    _ => ::core::panic!("layer {} is not a convolution, linear layer or pool", layer),
                }
            }

            fn update_weights<F: ::core::ops::FnOnce(&mut [f32])>(&mut self, change: F) {
                change(&mut self.weights[..#tensors_end]);
                self.packed = Self::__cnn_derive(&mut self.weights);
            }
        }
    }
}
