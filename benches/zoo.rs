//! Whole networks at batch 1, one thread, synthetic weights (`cnn::__private::synthetic`, the
//! generator `tools/compare_onnxruntime.py` gives ONNX Runtime too): the CIFAR ResNet-20 at
//! 32×32, MobileNetV2 of width 0.5 at 96×96, ResNet-50 at 224×224. Throughput is in FLOP (two
//! per multiply-accumulate).

use std::hint::black_box;

use cnn::zoo::{ResNet20, ResNet50};
use cnn::{Network, cnn};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

cnn! {
    block ConvBNReLU6(out, kernel = 3, stride = 1, groups = 1) {
        [Conv2d(out, kernel, stride, (kernel - 1) / 2, groups = groups, bias = false), BatchNorm2d, ReLU6]
    }

    block InvertedResidual1(out, stride) {
        residual? {
            conv: [ConvBNReLU6(in_channels, 3, stride, in_channels), Conv2d(out, 1, bias = false), BatchNorm2d],
        }
    }

    block InvertedResidual6(out, stride) {
        residual? {
            conv: [
                ConvBNReLU6(in_channels * 6, 1),
                ConvBNReLU6(in_channels * 6, 3, stride, in_channels * 6),
                Conv2d(out, 1, bias = false), BatchNorm2d,
            ],
        }
    }

    /// torchvision's `mobilenet_v2(width_mult=0.5)` at 96×96.
    pub struct MobileNetV2Half {
        input: [3, 96, 96],
        features: [
            ConvBNReLU6(16, 3, 2),
            InvertedResidual1(8, 1),
            InvertedResidual6(16, 2), InvertedResidual6(16, 1),
            InvertedResidual6(16, 2), InvertedResidual6(16, 1) * 2,
            InvertedResidual6(32, 2), InvertedResidual6(32, 1) * 3,
            InvertedResidual6(48, 1) * 3,
            InvertedResidual6(80, 2), InvertedResidual6(80, 1) * 2,
            InvertedResidual6(160, 1),
            ConvBNReLU6(1280, 1),
        ],
        AdaptiveAvgPool2d(1), Flatten,
        classifier: [Dropout(0.2), Linear(1000)],
    }
}

// torchvision's count for `mobilenet_v2(width_mult=0.5)`.
const _: () = assert!(MobileNetV2Half::PARAMS == 1_968_680);

fn bench<N: Network>(c: &mut Criterion, id: &str, samples: usize) {
    let net: N = cnn::__private::synthetic_network();
    let input = cnn::__private::synthetic_input(N::INPUT_LEN);
    let mut output = vec![0.0; N::OUTPUT_LEN];
    let mut arena = vec![0.0; N::ARENA_LEN];
    let mut group = c.benchmark_group(id);
    group.sample_size(samples);
    group.throughput(Throughput::Elements(2 * N::MACS));
    group.bench_function("batch1", |b| {
        b.iter(|| {
            net.forward(black_box(&input), &mut output, &mut arena)
                .expect("runs")
        })
    });
    group.finish();
}

fn zoo(c: &mut Criterion) {
    bench::<ResNet20>(c, "resnet20", 100);
    bench::<MobileNetV2Half>(c, "mobilenet_v2_0.5_96", 100);
    bench::<ResNet50>(c, "resnet50", 10);
}

criterion_group!(benches, zoo);
criterion_main!(benches);
