//! Whole networks against PyTorch: weights and outputs from `tools/make_golden.py`, whose
//! modules these declarations mirror layer for layer.

use cnn::zoo::LeNet5;
use cnn::{Network, cnn};

use crate::common::{assert_close, check_against_reference, data_path, read_tensor};

cnn! {
    /// Every 1-d layer kind and option.
    pub struct Net1d {
        input: [3, 40],
        conv1: Conv1d(8, 5, stride = 2, padding = 3, dilation = 2),
        bn1: BatchNorm1d(eps = 1e-3),
        act1: LeakyReLU(0.2),
        pool1: MaxPool1d(3, stride = 2, padding = 1, dilation = 2, ceil_mode = true),
        conv2: Conv1d(8, 3, padding = "same", groups = 4, bias = false),
        act2: Tanh,
        pool2: AvgPool1d(3, stride = 2, padding = 1, ceil_mode = true, count_include_pad = false),
        conv3: Conv1d(6, 4, padding = "same"),
        pool3: AdaptiveAvgPool1d(7),
        pool4: AdaptiveMaxPool1d(5),
        flat: Flatten,
        fc1: Linear(16),
        bn2: BatchNorm1d,
        act3: ReLU,
        drop: Dropout(0.3),
        fc2: Linear(5),
        soft: Softmax(dim = 1),
    }

    /// Every 2-d layer kind and option.
    pub struct Net2d {
        input: [3, 19, 16],
        conv1: Conv2d(12, (3, 5), stride = (2, 1), padding = (1, 2)),
        bn1: BatchNorm2d,
        act1: ReLU6,
        conv2: Conv2d(12, 3, padding = 1, groups = 12),
        bn2: BatchNorm2d(affine = false),
        act2: ReLU,
        pool1: MaxPool2d((3, 2), stride = (2, 1), padding = (1, 0), dilation = (1, 2)),
        conv3: Conv2d(8, 1, bias = false),
        act3: Sigmoid,
        pool2: AvgPool2d(3, stride = 2, padding = 1, ceil_mode = true, divisor_override = 5),
        bn3: BatchNorm2d,
        conv4: Conv2d(10, 2, dilation = 2, padding = "same"),
        pool3: AdaptiveAvgPool2d((3, 2)),
        pool4: AdaptiveMaxPool2d((None, 1)),
        ident: Identity,
        flat: Flatten,
        fc: Linear(7, bias = false),
    }

    /// Every 3-d layer kind and option.
    pub struct Net3d {
        input: [2, 7, 12, 10],
        conv1: Conv3d(6, (3, 3, 2), stride = (1, 2, 1), padding = (1, 1, 0)),
        bn1: BatchNorm3d,
        act1: ReLU,
        pool1: MaxPool3d(2, stride = (1, 2, 2), padding = (1, 0, 1)),
        conv2: Conv3d(6, 3, padding = (0, 2, 2), dilation = (1, 2, 2), groups = 3),
        pool2: AvgPool3d((1, 2, 2), ceil_mode = true),
        pool3: AdaptiveMaxPool3d((2, 3, None)),
        pool4: AdaptiveAvgPool3d((1, 2, 2)),
        flat: Flatten(start_dim = 2),
        soft: Softmax(dim = -1),
        flat2: Flatten,
        fc: Linear(4),
    }
}

/// Loads `name.safetensors` into `N`, runs the batch of `name.io.safetensors` and compares with
/// PyTorch's outputs; returns the network.
fn against_pytorch<N: Network>(name: &str) -> N {
    let bytes =
        std::fs::read(data_path(&format!("golden/{name}.safetensors"))).expect("golden weights");
    let net = N::from_safetensors(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let io = format!("golden/{name}.io.safetensors");
    let (shape, input) = read_tensor(&io, "input");
    assert_eq!(&shape[1..], N::INPUT_SHAPE, "{name}: input shape");
    let (out_shape, want) = read_tensor(&io, "output");
    assert_eq!(&out_shape[1..], N::OUTPUT_SHAPE, "{name}: output shape");
    let got = net.infer_many(&input).expect("a whole batch");
    assert_close(&got, &want, 1e-4, name);
    net
}

#[test]
fn lenet5_matches_pytorch() {
    let net: LeNet5 = against_pytorch("lenet5");
    // The trained network classifies the 20 bundled held-out digits correctly.
    let (_, input) = read_tensor("golden/lenet5.io.safetensors", "input");
    let (_, labels) = read_tensor("golden/lenet5.io.safetensors", "label");
    for (x, label) in input.chunks_exact(LeNet5::INPUT_LEN).zip(labels) {
        let y = net.infer(x).expect("one digit");
        let best = (0..10).fold(0, |b, i| if y[i] > y[b] { i } else { b });
        assert_eq!(best, label as usize);
    }
}

#[test]
fn lenet5_figures_are_the_textbook_ones() {
    // 6*25+6 + 16*6*25+16 + 400*120+120 + 120*84+84 + 84*10+10
    assert_eq!(LeNet5::PARAMS, 61_706);
    assert_eq!(LeNet5::MACS, 117_600 + 240_000 + 48_000 + 10_080 + 840);
    // conv1's output and pool1's output live together at the peak.
    assert_eq!(LeNet5::ARENA_BYTES, 4 * (6 * 28 * 28 + 6 * 14 * 14));
    assert_eq!(LeNet5::WEIGHT_BYTES, 4 * 61_706);
    assert!(LeNet5::SUMMARY.contains("fc1    Linear     [120]           48,120"));
}

#[test]
fn net1d_matches_pytorch() {
    against_pytorch::<Net1d>("net1d");
}

#[test]
fn net2d_matches_pytorch() {
    against_pytorch::<Net2d>("net2d");
}

#[test]
fn net3d_matches_pytorch() {
    against_pytorch::<Net3d>("net3d");
}

#[test]
fn golden_networks_match_the_reference() {
    check_against_reference::<LeNet5>(1);
    check_against_reference::<Net1d>(2);
    check_against_reference::<Net2d>(3);
    check_against_reference::<Net3d>(4);
}
