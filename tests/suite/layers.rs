//! Every layer kind and option, generated code against the reference implementation
//! (`cnn::reference`), on awkward sizes: 1, primes, odd and even, windows that hit the border.
//! Each case declares a small network; weights and inputs are random under a seed.

use crate::common::check_against_reference;

macro_rules! against_reference {
    ($($test:ident => { $($body:tt)* })*) => {$(
        #[test]
        fn $test() {
            cnn::cnn! { struct Net { $($body)* } }
            check_against_reference::<Net>(line!() as u64);
        }
    )*};
}

against_reference! {
    conv1d_plain => { input: [3, 17], c: Conv1d(5, 3) }
    conv1d_stride_padding_dilation => { input: [2, 23], c: Conv1d(4, 4, stride = 3, padding = 2, dilation = 2) }
    conv1d_groups => { input: [6, 11], c: Conv1d(4, 3, groups = 2, padding = 1) }
    conv1d_same_even_kernel => { input: [2, 9], c: Conv1d(3, 4, padding = "same") }
    conv1d_same_dilated => { input: [2, 10], c: Conv1d(3, 3, padding = "same", dilation = 3) }
    conv1d_valid_no_bias => { input: [3, 8], c: Conv1d(2, 8, padding = "valid", bias = false) }
    conv1d_length_one => { input: [4, 1], c: Conv1d(3, 3, padding = 1) }
    conv1d_keyword_in_channels => { input: [4, 7], c: Conv1d(in_channels = 4, out_channels = 5, kernel_size = 2) }
    conv2d_3x3_pad1 => { input: [3, 7, 5], c: Conv2d(5, 3, padding = 1) }
    conv2d_5x5_stride2 => { input: [2, 13, 11], c: Conv2d(3, 5, stride = 2) }
    conv2d_rect_kernel => { input: [2, 9, 8], c: Conv2d(4, (3, 1), stride = (1, 2), padding = (0, 1)) }
    conv2d_dilation => { input: [1, 12, 13], c: Conv2d(2, 3, dilation = (2, 3), padding = 2) }
    conv2d_groups => { input: [6, 6, 7], c: Conv2d(9, 3, groups = 3, padding = 1) }
    conv2d_depthwise_strided => { input: [5, 9, 9], c: Conv2d(5, 3, stride = 2, padding = 1, groups = 5) }
    conv2d_depth_multiplier => { input: [3, 6, 6], c: Conv2d(6, 3, groups = 3) }
    conv2d_same_even => { input: [2, 7, 6], c: Conv2d(3, 4, padding = "same") }
    conv2d_pointwise_stride => { input: [7, 9, 5], c: Conv2d(11, 1, stride = 2) }
    conv2d_kernel_equals_input => { input: [2, 5, 4], c: Conv2d(3, (5, 4)) }
    conv2d_large_padding => { input: [1, 3, 3], c: Conv2d(2, 3, padding = 3, stride = 2) }
    conv2d_one_by_one_input => { input: [3, 1, 1], c: Conv2d(4, 3, padding = 1) }
    conv2d_stride_larger_than_kernel => { input: [2, 11, 10], c: Conv2d(2, 2, stride = 3) }
    conv3d_plain => { input: [2, 5, 6, 7], c: Conv3d(3, 3, padding = 1) }
    conv3d_mixed => { input: [4, 7, 6, 9], c: Conv3d(6, (2, 3, 1), stride = (2, 1, 2), dilation = (1, 2, 1), groups = 2, padding = (1, 0, 1)) }
    conv3d_same => { input: [1, 4, 5, 6], c: Conv3d(2, (2, 3, 4), padding = "same") }
    conv_fused_bn_relu => { input: [3, 8, 8], c: Conv2d(4, 3, padding = 1), bn: BatchNorm2d, ReLU }
    conv_fused_bn_no_affine => { input: [3, 8, 8], c: Conv2d(4, 3, bias = false), bn: BatchNorm2d(affine = false, eps = 0.01), ReLU6 }
    conv_fused_leaky => { input: [2, 6], c: Conv1d(3, 2), LeakyReLU(0.3) }
    conv_fused_sigmoid_tanh => { input: [2, 5, 5], c: Conv2d(3, 2), Sigmoid, c2: Conv2d(2, 2), Tanh }
    maxpool1d_all_options => { input: [3, 19], MaxPool1d(4, stride = 3, padding = 2, dilation = 2, ceil_mode = true) }
    maxpool1d_default_stride => { input: [2, 9], MaxPool1d(2) }
    maxpool2d_ceil => { input: [2, 7, 8], MaxPool2d(3, stride = 2, ceil_mode = true) }
    maxpool2d_overlapping_windows => { input: [2, 9, 11], MaxPool2d(3, stride = 2) }
    maxpool2d_padding_dilation => { input: [2, 9, 10], MaxPool2d((3, 2), stride = (2, 1), padding = (1, 1), dilation = (2, 1)) }
    maxpool3d => { input: [2, 5, 6, 7], MaxPool3d((2, 3, 2), stride = (1, 2, 2), padding = (1, 1, 0), ceil_mode = true) }
    avgpool1d_options => { input: [2, 13], AvgPool1d(4, stride = 3, padding = 2, ceil_mode = true, count_include_pad = false) }
    avgpool1d_include_pad => { input: [2, 13], AvgPool1d(3, stride = 2, padding = 1) }
    avgpool2d_ceil_include_pad => { input: [3, 7, 6], AvgPool2d(3, stride = 2, padding = 1, ceil_mode = true) }
    avgpool2d_exclude_pad => { input: [3, 7, 6], AvgPool2d(3, stride = 2, padding = 1, ceil_mode = true, count_include_pad = false) }
    avgpool2d_divisor => { input: [2, 8, 9], AvgPool2d((2, 3), divisor_override = 7) }
    avgpool3d => { input: [2, 5, 5, 6], AvgPool3d(2, stride = (1, 2, 2), padding = (1, 0, 1), count_include_pad = false) }
    adaptive_avg1d_uneven => { input: [3, 7], AdaptiveAvgPool1d(3) }
    adaptive_max1d_upsample => { input: [2, 3], AdaptiveMaxPool1d(5) }
    adaptive_avg2d_none => { input: [2, 9, 5], AdaptiveAvgPool2d((4, None)) }
    adaptive_max2d => { input: [2, 10, 7], AdaptiveMaxPool2d(3) }
    adaptive_avg3d => { input: [2, 5, 7, 3], AdaptiveAvgPool3d((2, 3, 2)) }
    adaptive_max3d_global => { input: [3, 4, 5, 6], AdaptiveMaxPool3d(1) }
    batchnorm1d_features => { input: [7], bn: BatchNorm1d }
    batchnorm1d_sequence => { input: [3, 5], bn: BatchNorm1d(eps = 0.1, affine = false) }
    batchnorm2d_standalone_after_pool => { input: [4, 6, 6], MaxPool2d(2), bn: BatchNorm2d, ReLU }
    batchnorm3d => { input: [2, 3, 4, 5], bn: BatchNorm3d(num_features = 2) }
    linear_plain => { input: [13], fc: Linear(7) }
    linear_no_bias => { input: [1], fc: Linear(3, bias = false) }
    linear_long_rows => { input: [37], fc: Linear(5), bn: BatchNorm1d, ReLU, fc2: Linear(2) }
    linear_positional_bias => { input: [9], fc: Linear(4, false), Tanh }
    flatten_partial => { input: [2, 3, 4], Flatten(2), Softmax(dim = -1), Flatten, fc: Linear(3) }
    flatten_range => { input: [2, 3, 4, 5], Flatten(start_dim = 1, end_dim = 2), c: Conv2d(2, 3) }
    activations_standalone => { input: [2, 5, 5], MaxPool2d(1), ReLU6, LeakyReLU, Sigmoid, Tanh, ReLU }
    activation_on_input => { input: [3, 4], ReLU }
    softmax_channels_2d => { input: [4, 3, 3], Softmax(dim = 1) }
    softmax_implicit_dim => { input: [5], fc: Linear(6), Softmax }
    softmax_middle_axis => { input: [3, 4, 5], Softmax(dim = 2) }
    dropout_identity => { input: [2, 6], Dropout(0.5), c: Conv1d(2, 3), Identity, Dropout(p = 0.1, inplace = true) }
    only_flatten => { input: [2, 3], Flatten }
    python_spellings => { input: [2, 8, 8], c: Conv2d(4, 3, bias = False), MaxPool2d(2, ceil_mode = True), ReLU(inplace = True) }
}

/// Graph networks: the macro's graph, fusion and memory plan against the reference's own
/// interpretation of `LAYERS` and `INPUTS`.
macro_rules! graph_against_reference {
    ($($test:ident => { $($body:tt)* })*) => {$(
        #[test]
        fn $test() {
            cnn::cnn! { $($body)* }
            check_against_reference::<Net>(line!() as u64);
        }
    )*};
}

graph_against_reference! {
    residual_identity => {
        struct Net { input: [4, 6, 6], residual { c1: Conv2d(4, 3, padding = 1), bn: BatchNorm2d, ReLU, c2: Conv2d(4, 3, padding = 1) }, ReLU }
    }
    residual_projection_when_shapes_differ => {
        block Basic(planes, stride = 1) {
            residual {
                conv1: Conv2d(planes, 3, stride, 1, bias = false), bn1: BatchNorm2d, ReLU,
                conv2: Conv2d(planes, 3, 1, 1, bias = false), bn2: BatchNorm2d,
            } + downsample?: [Conv2d(planes, 1, stride, bias = false), BatchNorm2d],
            ReLU,
        }
        struct Net { input: [3, 9, 9], layer1: [Basic(3), Basic(5, 2), Basic(5)], AdaptiveAvgPool2d(1), Flatten, fc: Linear(2) }
    }
    residual_optional => {
        block Inverted(out, stride) {
            residual? { conv: [Conv2d(in_channels * 2, 1, bias = false), BatchNorm2d, ReLU6, Conv2d(in_channels * 2, 3, stride, 1, groups = in_channels * 2, bias = false), BatchNorm2d, ReLU6, Conv2d(out, 1, bias = false), BatchNorm2d] }
        }
        struct Net { input: [4, 8, 8], features: [Inverted(4, 1), Inverted(6, 2), Inverted(6, 1)] }
    }
    residual_of_the_input => {
        struct Net { input: [3, 5], residual { ReLU } }
    }
    residual_where_the_result_is_read_twice => {
        struct Net { input: [2, 7], a: Conv1d(2, 3, padding = 1), residual { b: Conv1d(2, 3, padding = 1) }, residual { Tanh }, Sigmoid }
    }
    concat_branches => {
        block Branchy(c) {
            cat {
                b1: Conv2d(c, 1),
                b2: [Conv2d(c, 1), ReLU, Conv2d(c, 3, padding = 1)],
                b3: [MaxPool2d(3, 1, 1, ceil_mode = true), Conv2d(2, 1)],
            }
        }
        struct Net { input: [3, 7, 7], i1: Branchy(2), i2: Branchy(3), AdaptiveAvgPool2d(1), Flatten, fc: Linear(3) }
    }
    dense_concat_with_identity => {
        block DenseLayer {
            cat { Identity, { norm1: BatchNorm2d, relu1: ReLU, conv1: Conv2d(4, 1, bias = false), norm2: BatchNorm2d, relu2: ReLU, conv2: Conv2d(2, 3, padding = 1, bias = false) } }
        }
        struct Net { input: [3, 6, 6], block1: { denselayer{1..=3}: DenseLayer }, norm: BatchNorm2d, ReLU }
    }
    nested_blocks_and_expressions => {
        block Conv(out, k, s = 1) { conv: Conv2d(out, k, s, k / 2, bias = false), bn: BatchNorm2d(eps = 0.001), ReLU }
        block Pair(c) { first: Conv(c, 3), second: Conv(c * 2 - 1, 1, 2) }
        struct Net { input: [2, 9, 9], p: Pair(3), q: Pair(in_channels + 1), Flatten, fc: Linear(4) }
    }
    concat_feeding_residual => {
        struct Net { input: [4, 5, 5], residual { cat { a: Conv2d(2, 3, padding = 1), b: Conv2d(2, 1) } }, ReLU, cat { Identity, MaxPool2d(3, 1, 1) } }
    }
}

/// Batch norm folded at load time into the convolution or linear layer before it (one scale and
/// one shift per channel, applied with the bias) gives the unfolded outputs of the reference,
/// which computes each layer on its own in `f64`, to 1e-6 of the largest output; the summary
/// names each fold.
#[test]
fn folded_batch_norms_give_the_unfolded_outputs() {
    use cnn::{Network, Weights};

    use crate::common::{Rng, assert_close, random_weights, tensor};

    cnn::cnn! {
        struct Folded {
            input: [4, 9, 8],
            conv: Conv2d(6, 3, padding = 1), bn: BatchNorm2d, ReLU,
            plain: Conv2d(5, 3, stride = 2, bias = false), bn2: BatchNorm2d,
            Flatten,
            fc: Linear(7), bn3: BatchNorm1d, Tanh,
        }
    }
    let fused = Folded::SUMMARY.lines().find(|l| l.starts_with("fused:"));
    assert_eq!(
        fused
            .map(str::split_whitespace)
            .map(Iterator::collect::<Vec<_>>),
        Some(vec!["fused:", "conv+bn+ReLU,", "plain+bn2,", "fc+bn3+Tanh"]),
        "{}",
        Folded::SUMMARY
    );
    let mut rng = Rng::new(6);
    for _ in 0..3 {
        let w = random_weights::<Folded>(&mut rng);
        let net = Folded::from_weights(Weights::Owned(w.clone())).unwrap();
        let x = rng.vec(Folded::INPUT_LEN, -2.0, 2.0);
        let got = net.infer(&x).unwrap();
        let want = cnn::reference::forward(
            Folded::LAYERS,
            Folded::INPUTS,
            Folded::INPUT_SHAPE,
            &x,
            |n| tensor::<Folded>(&w, n),
        );
        let scale = want.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scaled = |v: &[f32]| v.iter().map(|a| a / scale).collect::<Vec<_>>();
        assert_close(&scaled(&got), &scaled(&want.data), 1e-6, "folded");
    }
}
