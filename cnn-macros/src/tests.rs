//! The stages on token streams, without compiling anything: output sizes against PyTorch's
//! formulas (values PyTorch 2.15 printed for the same modules), the memory plan, and the errors.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ctxt::Ctxt;
use crate::syntax::Declarations;
use crate::{check, ir, plan};

/// The output shape of every layer, or every error message.
fn shapes(body: TokenStream) -> Result<Vec<Vec<u64>>, Vec<String>> {
    graph(quote!(struct Net { #body }))
        .map(|(nodes, _)| nodes.iter().map(|n| n.output.clone()).collect())
}

/// The graph of the (first) network of an invocation, or every error message.
fn graph(tokens: TokenStream) -> Result<(Vec<check::Node>, check::Src), Vec<String>> {
    let decls: Declarations = syn::parse2(tokens).map_err(|e| vec![e.to_string()])?;
    let mut cx = Ctxt::default();
    check::check_blocks(&decls.blocks, &mut cx);
    let net = ir::declare(&decls.networks[0], &mut cx);
    let graph = check::elaborate(&net, &decls.blocks, &mut cx);
    if !cx.is_empty() {
        return Err(cx.messages());
    }
    Ok(graph.expect("no errors"))
}

fn last(body: TokenStream) -> Vec<u64> {
    shapes(body)
        .expect("a valid network")
        .pop()
        .expect("a layer")
}

#[test]
fn convolution_sizes_follow_pytorch() {
    // nn.Conv2d(3, 8, 5, stride=2, padding=1, dilation=2)(torch.zeros(1, 3, 32, 32)).shape
    assert_eq!(
        last(quote!(input: [3, 32, 32], c: Conv2d(8, 5, 2, 1, 2))),
        [8, 13, 13]
    );
    // nn.Conv1d(1, 1, 4, padding="same")(torch.zeros(1, 1, 9)).shape
    assert_eq!(
        last(quote!(input: [1, 9], c: Conv1d(1, 4, padding = "same"))),
        [1, 9]
    );
    assert_eq!(
        last(quote!(input: [2, 5, 6, 7], c: Conv3d(4, (1, 2, 3), stride = (1, 2, 3)))),
        [4, 5, 3, 2]
    );
    assert_eq!(
        last(quote!(input: [4, 7, 7], c: Conv2d(8, 3, groups = 4, padding = "valid"))),
        [8, 5, 5]
    );
}

#[test]
fn pooling_sizes_follow_pytorch() {
    // nn.MaxPool1d(2, 2, ceil_mode=True)(torch.zeros(1, 1, 7)).shape[-1] == 4
    assert_eq!(
        last(quote!(input: [1, 7], MaxPool1d(2, ceil_mode = true))),
        [1, 4]
    );
    // The last window would start past the input: nn.MaxPool1d(1, 2, ceil_mode=True) on 2 gives 1.
    assert_eq!(
        last(quote!(input: [1, 2], MaxPool1d(1, 2, ceil_mode = true))),
        [1, 1]
    );
    // nn.AvgPool2d(3, 3, 1, ceil_mode=True)(torch.zeros(1, 3, 2, 2)).shape == (1, 3, 1, 1)
    assert_eq!(
        last(quote!(input: [3, 2, 2], AvgPool2d(3, 3, 1, true))),
        [3, 1, 1]
    );
    // nn.MaxPool2d(3, 2, 1, dilation=2)(torch.zeros(1, 1, 10, 9)).shape == (1, 1, 4, 4)
    assert_eq!(
        last(quote!(input: [1, 10, 9], MaxPool2d(3, 2, 1, 2))),
        [1, 4, 4]
    );
    assert_eq!(
        last(quote!(input: [2, 9, 5], AdaptiveAvgPool2d((4, None)))),
        [2, 4, 5]
    );
}

#[test]
fn flatten_and_softmax_count_the_batch_axis() {
    assert_eq!(last(quote!(input: [2, 3, 4, 5], Flatten(2))), [2, 60]);
    assert_eq!(last(quote!(input: [2, 3, 4, 5], Flatten(1, 2))), [6, 4, 5]);
    assert_eq!(last(quote!(input: [2, 3, 4, 5], Flatten(-2))), [2, 3, 20]);
    assert_eq!(last(quote!(input: [4, 2, 2], Softmax)), [4, 2, 2]);
    let errors = shapes(quote!(input: [4, 2], Softmax)).unwrap_err();
    assert!(errors[0].contains("batch axis"), "{errors:?}");
}

#[test]
fn all_errors_of_a_declaration_come_together() {
    let errors = shapes(quote!(
        input: [1, 28, 28],
        conv1: Conv2d(6, 0),
        Conv2d(16, 5),
        pool: MaxPool2d(2, stirde = 2),
        pool: Sigmoidd,
    ))
    .unwrap_err();
    // Five errors; the duplicate name points at its first use too.
    assert_eq!(errors.len(), 6, "{errors:#?}");
    assert!(errors.iter().any(|e| e.contains("did you mean `stride`")));
    assert!(errors.iter().any(|e| e.contains("did you mean `Sigmoid`")));
    assert!(errors.iter().any(|e| e.contains("needs a name")));
    assert!(errors.iter().any(|e| e.contains("`pool` is used twice")));
}

#[test]
fn shape_errors_say_what_came_from_where() {
    let errors = shapes(quote!(
        input: [1, 12, 12],
        conv1: Conv2d(6, 5),
        ReLU,
        pool1: MaxPool2d(2),
        conv2: Conv2d(16, 5),
    ))
    .unwrap_err();
    assert_eq!(
        errors,
        [
            "the window `[5, 5]` of `conv2` is larger than its input: it receives `[6, 4, 4]` from `pool1`"
        ]
    );
}

#[test]
fn a_chain_reuses_memory_as_soon_as_a_tensor_dies() {
    let body = quote!(
        input: [1, 28, 28],
        conv1: Conv2d(6, 5, padding = 2), ReLU, pool1: MaxPool2d(2),
        conv2: Conv2d(16, 5), ReLU, pool2: MaxPool2d(2),
        Flatten, fc1: Linear(120), ReLU, fc2: Linear(84), ReLU, fc3: Linear(10),
    );
    let (nodes, result) = graph(quote!(struct Net { #body })).unwrap();
    let plan = plan::plan(&nodes, result);
    // conv1's 4,704 values and pool1's 1,176 live together; everything later fits beside them.
    assert_eq!(plan.arena_len, 4704 + 1176);
    assert_eq!(plan.lower_bound, plan.arena_len);
    assert_eq!(plan.naive, 4704 + 1176 + 1600 + 400 + 120 + 84);
    // Four fused steps, two pools, the last layer writes the output directly.
    assert_eq!(plan.steps.len(), 7);
    assert_eq!(plan.steps.last().unwrap().dst, plan::Buf::Output);
}

/// The schedule of a batch: LeNet-5's convolutions and pools image by image (their weights are
/// smaller than their activations), its three linear layers over a group (weights of 192 KB,
/// 40 KB and 3.4 KB against at most 2 KB of activations), the ReLUs fused into them; the
/// arena of 23 KB allows the largest group. A network of light layers stays one by one.
#[test]
fn heavy_layers_run_over_a_group() {
    let (nodes, result) = graph(quote!(struct LeNet5 {
        input: [1, 28, 28],
        conv1: Conv2d(6, 5, padding = 2), ReLU, pool1: MaxPool2d(2),
        conv2: Conv2d(16, 5), ReLU, pool2: MaxPool2d(2),
        Flatten, fc1: Linear(120), ReLU, fc2: Linear(84), ReLU, fc3: Linear(10),
    }))
    .expect("LeNet-5");
    let p = plan::plan(&nodes, result);
    let s = plan::schedule(&nodes, &p, 4 * p.arena_len);
    assert_eq!(
        s.layer_major,
        [false, false, false, false, true, true, true]
    );
    assert_eq!(s.group, 16);
    // An arena of 4 MiB leaves room for 8 in 32 MiB.
    assert_eq!(plan::schedule(&nodes, &p, 4 << 20).group, 8);
    let (nodes, result) = graph(quote!(struct Light {
        input: [16, 32, 32],
        a: Conv2d(16, 3, padding = 1), ReLU, MaxPool2d(2), b: Conv2d(16, 3, padding = 1),
    }))
    .expect("a light network");
    let p = plan::plan(&nodes, result);
    let s = plan::schedule(&nodes, &p, 4 * p.arena_len);
    assert_eq!((s.layer_major, s.group), (vec![false; 3], 1));
}
