//! The machine's FMA peak and each kind of kernel on one layer of a real network, batch 1, one
//! thread. Throughput is in FLOP (two per multiply-accumulate) for the layers that multiply, so
//! that criterion's rate reads directly against `peak/fma_*`; in input bytes for the pools.
//!
//! `cargo bench --bench kernels` runs them all; `-- conv3x3` one group.

use std::hint::black_box;

use cnn::Network;
use cnn::cnn;
use cnn::kernels::{FMA_CHAINS, Level, fma_peak, level};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

cnn! {
    /// ResNet stage 1: the general 3×3 tile.
    pub struct Conv3x3 { input: [64, 56, 56], conv: Conv2d(64, 3, padding = 1) }
}
cnn! {
    /// ResNet-50's bottleneck reduction: a flattened 1×1 layer.
    pub struct Pointwise { input: [256, 56, 56], conv: Conv2d(64, 1) }
}
cnn! {
    /// CIFAR ResNet-20's stage 2: rows of 16 points, one vector each.
    pub struct Rows16 { input: [32, 16, 16], conv: Conv2d(32, 3, padding = 1) }
}
cnn! {
    /// ResNet-50's stage 3 entry: stride 2 to rows of 14 points.
    pub struct Strided14 { input: [256, 28, 28], conv: Conv2d(256, 3, stride = 2, padding = 1) }
}
cnn! {
    /// ResNet-50's stage 3: 3×3 on a 14×14 plane.
    pub struct Plane14 { input: [256, 14, 14], conv: Conv2d(256, 3, padding = 1) }
}
cnn! {
    /// ResNet-50's stage 4: 3×3 on a 7×7 plane.
    pub struct Plane7 { input: [512, 7, 7], conv: Conv2d(512, 3, padding = 1) }
}
cnn! {
    /// ResNet-50's stage 4 bottleneck reduction: 1×1 on a 7×7 plane.
    pub struct Pointwise7 { input: [2048, 7, 7], conv: Conv2d(512, 1) }
}
cnn! {
    /// ResNet-50's stage 3 bottleneck expansion: 1×1 on a 14×14 plane.
    pub struct Pointwise14 { input: [256, 14, 14], conv: Conv2d(1024, 1) }
}
cnn! {
    /// ResNet-50's stage 2 shortcut: 1×1 of stride 2, 56×56 → 28×28.
    pub struct Shortcut28 { input: [256, 56, 56], conv: Conv2d(512, 1, stride = 2) }
}
cnn! {
    /// ResNet-50's stage 3 shortcut: 1×1 of stride 2, 28×28 → 14×14.
    pub struct Shortcut14 { input: [512, 28, 28], conv: Conv2d(1024, 1, stride = 2) }
}
cnn! {
    /// CIFAR ResNet-20's stem: 3×3, 3 → 16 channels on a 32×32 plane.
    pub struct CifarStem { input: [3, 32, 32], conv: Conv2d(16, 3, padding = 1) }
}
cnn! {
    /// CIFAR ResNet-20's stage 1: 3×3 on a 32×32 plane.
    pub struct Plane32 { input: [16, 32, 32], conv: Conv2d(16, 3, padding = 1) }
}
cnn! {
    /// CIFAR ResNet-20's first layer of stage 2: 3×3 of stride 2, 32×32 → 16×16.
    pub struct CifarStride16 { input: [16, 32, 32], conv: Conv2d(32, 3, stride = 2, padding = 1) }
}
cnn! {
    /// CIFAR ResNet-20's first layer of stage 3: 3×3 of stride 2, 16×16 → 8×8.
    pub struct CifarStride8 { input: [32, 16, 16], conv: Conv2d(64, 3, stride = 2, padding = 1) }
}
cnn! {
    /// CIFAR ResNet-20's stage 3 shortcut: 1×1 of stride 2, 16×16 → 8×8.
    pub struct CifarShortcut8 { input: [32, 16, 16], conv: Conv2d(64, 1, stride = 2) }
}
cnn! {
    /// CIFAR ResNet-20's stage 3: 3×3 on an 8×8 plane.
    pub struct Plane8 { input: [64, 8, 8], conv: Conv2d(64, 3, padding = 1) }
}
cnn! {
    /// LeNet-5's second layer: 6 -> 16 channels, 5×5, no padding, rows of 10.
    pub struct Second { input: [6, 14, 14], conv: Conv2d(16, 5) }
}
cnn! {
    /// A stage's first 3×3 layer, stride 2.
    pub struct Strided { input: [64, 56, 56], conv: Conv2d(128, 3, stride = 2, padding = 1) }
}
cnn! {
    /// ResNet's stem: 3 input channels, 7×7, stride 2.
    pub struct Stem { input: [3, 224, 224], conv: Conv2d(64, 7, stride = 2, padding = 3) }
}
cnn! {
    /// LeNet-5's first layer: one input channel, six output channels, 5×5.
    pub struct First { input: [1, 28, 28], conv: Conv2d(6, 5, padding = 2) }
}
cnn! {
    /// MobileNetV2 (width 0.5, 96×96) after its first expansion: depthwise 3×3.
    pub struct Depthwise { input: [96, 24, 24], conv: Conv2d(96, 3, padding = 1, groups = 96) }
}
cnn! {
    /// The same, stride 2.
    pub struct DepthwiseStride2 {
        input: [96, 48, 48],
        conv: Conv2d(96, 3, stride = 2, padding = 1, groups = 96),
    }
}
cnn! {
    /// MobileNetV2 (width 0.5, 96×96), stage 4: depthwise 3×3 on a 6×6 plane.
    pub struct Depthwise6 { input: [288, 6, 6], conv: Conv2d(288, 3, padding = 1, groups = 288) }
}
cnn! {
    /// MobileNetV2 (width 0.5, 96×96), stage 6: depthwise 3×3 on a 3×3 plane.
    pub struct Depthwise3 { input: [480, 3, 3], conv: Conv2d(480, 3, padding = 1, groups = 480) }
}
cnn! {
    /// MobileNetV2 (width 0.5, 96×96), stage 3: depthwise 3×3 on a 12×12 plane.
    pub struct Depthwise12 { input: [96, 12, 12], conv: Conv2d(96, 3, padding = 1, groups = 96) }
}
cnn! {
    /// MobileNetV2 (width 0.5, 96×96), stage 5's entry: depthwise 3×3, stride 2, 6×6 to 3×3.
    pub struct Depthwise6Stride2 {
        input: [288, 6, 6],
        conv: Conv2d(288, 3, stride = 2, padding = 1, groups = 288),
    }
}
cnn! {
    /// MobileNetV2 (width 0.5, 96×96), its first block: depthwise 3×3 on 16 channels, 48×48.
    pub struct Depthwise48 { input: [16, 48, 48], conv: Conv2d(16, 3, padding = 1, groups = 16) }
}
cnn! {
    /// MobileNetV2 (width 0.5, 96×96), stage 3's entry: depthwise 3×3, stride 2, 24×24 to 12×12.
    pub struct Depthwise24Stride2 {
        input: [96, 24, 24],
        conv: Conv2d(96, 3, stride = 2, padding = 1, groups = 96),
    }
}
cnn! {
    /// MobileNetV2 (width 1.0, 224×224), stage 2: depthwise 3×3 on 144 channels, 56×56.
    pub struct Depthwise56 { input: [144, 56, 56], conv: Conv2d(144, 3, padding = 1, groups = 144) }
}
cnn! {
    /// MobileNetV2 (width 1.0, 224×224), stage 3: depthwise 3×3 on 192 channels, 28×28.
    pub struct Depthwise28 { input: [192, 28, 28], conv: Conv2d(192, 3, padding = 1, groups = 192) }
}
cnn! {
    /// MobileNetV2 (width 1.0, 224×224), stage 5: depthwise 3×3 on 576 channels, 14×14.
    pub struct Depthwise14 { input: [576, 14, 14], conv: Conv2d(576, 3, padding = 1, groups = 576) }
}
cnn! {
    /// MobileNetV2's classifier: a matrix-vector product that reads 5 MB of weights.
    pub struct Classifier { input: [1280], fc: Linear(1000) }
}
cnn! {
    /// MobileNetV2 (width 0.5, 96×96): its stem, 3 → 16 channels, stride 2.
    pub struct MobileStem { input: [3, 96, 96], conv: Conv2d(16, 3, stride = 2, padding = 1) }
}
cnn! {
    /// MobileNetV2 (width 0.5, 96×96): its stem and first depthwise layer, one step.
    pub struct MobileStemDepthwise {
        input: [3, 96, 96],
        stem: Conv2d(16, 3, stride = 2, padding = 1), ReLU6,
        dw: Conv2d(16, 3, padding = 1, groups = 16), ReLU6,
    }
}
cnn! {
    /// MobileNetV2 (width 0.5, 96×96), stage 2: expansion and depthwise layer on 24×24, one step.
    pub struct ExpandDepthwise24 {
        input: [16, 24, 24],
        expand: Conv2d(96, 1), ReLU6,
        dw: Conv2d(96, 3, padding = 1, groups = 96), ReLU6,
    }
}
cnn! {
    /// MobileNetV2 (width 0.5, 96×96), stage 1: expansion and depthwise layer of stride 2 from
    /// 48×48, one step.
    pub struct ExpandDepthwise48 {
        input: [8, 48, 48],
        expand: Conv2d(48, 1), ReLU6,
        dw: Conv2d(48, 3, stride = 2, padding = 1, groups = 48), ReLU6,
    }
}
cnn! {
    /// MobileNetV2 (width 0.5, 96×96), stage 2: expansion on a 24×24 plane.
    pub struct Expand24 { input: [16, 24, 24], conv: Conv2d(96, 1) }
}
cnn! {
    /// MobileNetV2 (width 0.5, 96×96), stage 2: projection on a 24×24 plane.
    pub struct Project24 { input: [96, 24, 24], conv: Conv2d(16, 1) }
}
cnn! {
    /// MobileNetV2 (width 0.5, 96×96), stage 4: expansion on a 6×6 plane.
    pub struct Expand6 { input: [48, 6, 6], conv: Conv2d(288, 1) }
}
cnn! {
    /// MobileNetV2 (width 0.5, 96×96), stage 4: projection on a 6×6 plane.
    pub struct Project6 { input: [288, 6, 6], conv: Conv2d(48, 1) }
}
cnn! {
    /// MobileNetV2 (width 0.5, 96×96), stage 6: expansion on a 3×3 plane.
    pub struct Expand3 { input: [80, 3, 3], conv: Conv2d(480, 1) }
}
cnn! {
    /// MobileNetV2 (width 0.5, 96×96): its last convolution, 160 → 1280 channels on 3×3.
    pub struct Last3 { input: [160, 3, 3], conv: Conv2d(1280, 1) }
}
cnn! {
    /// A 1×1 layer of 256 channels on ResNet-50's 56×56 plane, with the ReLU after it...
    pub struct Expand56 { input: [256, 56, 56], conv: Conv2d(256, 1), ReLU }
}
cnn! {
    /// ...and the same layer in a residual connection, added to its input before the ReLU: the
    /// difference is the cost of the add (a bottleneck's end).
    pub struct Residual56 { input: [256, 56, 56], residual { conv: Conv2d(256, 1) }, ReLU }
}
cnn! {
    /// ResNet's pool after the stem.
    pub struct MaxPool { input: [64, 112, 112], pool: MaxPool2d(3, 2, 1) }
}

/// One forward pass of `N` (synthetic weights and input) per iteration.
fn layer<N: Network>(c: &mut Criterion, group: &str, id: &str, throughput: Throughput) {
    let net: N = cnn::__private::synthetic_network();
    let input = cnn::__private::synthetic_input(N::INPUT_LEN);
    let mut output = vec![0.0; N::OUTPUT_LEN];
    let mut arena = vec![0.0; N::ARENA_LEN];
    let mut g = c.benchmark_group(group);
    g.throughput(throughput);
    g.bench_function(id, |b| {
        b.iter(|| {
            net.forward(black_box(&input), &mut output, &mut arena)
                .expect("runs")
        })
    });
    g.finish();
}

/// A group of `N::GROUP` inputs through `forward_batch` per iteration: a layer whose weights
/// are read once for the whole group. Throughput in FLOP over the group.
fn group_layer<N: Network>(c: &mut Criterion, group: &str, id: &str) {
    let net: N = cnn::__private::synthetic_network();
    let input = cnn::__private::synthetic_input(N::GROUP * N::INPUT_LEN);
    let mut output = vec![0.0; N::GROUP * N::OUTPUT_LEN];
    let mut arena = vec![0.0; N::GROUP * N::ARENA_LEN];
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(2 * N::MACS * N::GROUP as u64));
    g.bench_function(id, |b| {
        b.iter(|| {
            net.forward_batch(black_box(&input), &mut output, &mut arena)
                .expect("runs")
        })
    });
    g.finish();
}

fn flops<N: Network>() -> Throughput {
    Throughput::Elements(2 * N::MACS)
}

/// Independent multiply-add chains in registers at each level this processor runs: the
/// ceiling for every figure above, measured in the same run.
fn peak(c: &mut Criterion) {
    const ROUNDS: usize = 100_000;
    let mut g = c.benchmark_group("peak");
    for (l, id) in [(Level::Avx512, "fma_avx512"), (Level::Avx2, "fma_avx2")] {
        let Some((_, flops)) = fma_peak(l, ROUNDS, 0.999, 0.5) else {
            continue;
        };
        g.throughput(Throughput::Elements(flops));
        g.bench_function(id, |b| {
            b.iter(|| fma_peak(l, black_box(ROUNDS), black_box(0.999), black_box(0.5)))
        });
    }
    g.finish();
    eprintln!("peak: {FMA_CHAINS} chains; kernels run at {:?}", level());
}

fn kernels(c: &mut Criterion) {
    peak(c);
    layer::<Conv3x3>(c, "conv3x3", "c64_56x56_p1", flops::<Conv3x3>());
    layer::<Pointwise>(c, "conv1x1", "c256_64_56x56", flops::<Pointwise>());
    layer::<Rows16>(c, "conv3x3", "c32_16x16_p1", flops::<Rows16>());
    layer::<Plane14>(c, "conv3x3", "c256_14x14_p1", flops::<Plane14>());
    layer::<Plane7>(c, "conv3x3", "c512_7x7_p1", flops::<Plane7>());
    layer::<Plane8>(c, "conv3x3", "c64_8x8_p1", flops::<Plane8>());
    layer::<Pointwise7>(c, "conv1x1", "c2048_512_7x7", flops::<Pointwise7>());
    layer::<Pointwise14>(c, "conv1x1", "c256_1024_14x14", flops::<Pointwise14>());
    layer::<Shortcut28>(c, "conv1x1_s2", "c256_512_56x56", flops::<Shortcut28>());
    layer::<Shortcut14>(c, "conv1x1_s2", "c512_1024_28x28", flops::<Shortcut14>());
    layer::<CifarStem>(c, "cifar", "stem_c3_16_32x32", flops::<CifarStem>());
    layer::<Plane32>(c, "cifar", "c16_32x32_p1", flops::<Plane32>());
    layer::<CifarStride16>(c, "cifar", "s2_c16_32_32x32", flops::<CifarStride16>());
    layer::<CifarStride8>(c, "cifar", "s2_c32_64_16x16", flops::<CifarStride8>());
    layer::<CifarShortcut8>(c, "cifar", "1x1_s2_c32_64_16x16", flops::<CifarShortcut8>());
    layer::<Second>(c, "conv5x5", "c6_16_14x14", flops::<Second>());
    layer::<Strided>(c, "conv3x3_s2", "c64_128_56x56", flops::<Strided>());
    layer::<Strided14>(c, "conv3x3_s2", "c256_28x28", flops::<Strided14>());
    layer::<Stem>(c, "stem7x7_s2", "c3_64_224x224", flops::<Stem>());
    layer::<First>(c, "conv5x5", "c1_6_28x28_p2", flops::<First>());
    layer::<Depthwise>(c, "depthwise3x3", "c96_24x24", flops::<Depthwise>());
    layer::<DepthwiseStride2>(
        c,
        "depthwise3x3_s2",
        "c96_48x48",
        flops::<DepthwiseStride2>(),
    );
    layer::<Depthwise12>(c, "depthwise3x3", "c96_12x12", flops::<Depthwise12>());
    layer::<Depthwise6>(c, "depthwise3x3", "c288_6x6", flops::<Depthwise6>());
    layer::<Depthwise3>(c, "depthwise3x3", "c480_3x3", flops::<Depthwise3>());
    layer::<Depthwise48>(c, "depthwise3x3", "c16_48x48", flops::<Depthwise48>());
    layer::<Depthwise56>(c, "depthwise3x3", "c144_56x56", flops::<Depthwise56>());
    layer::<Depthwise14>(c, "depthwise3x3", "c576_14x14", flops::<Depthwise14>());
    layer::<Depthwise28>(c, "depthwise3x3", "c192_28x28", flops::<Depthwise28>());
    layer::<Depthwise24Stride2>(
        c,
        "depthwise3x3_s2",
        "c96_24x24",
        flops::<Depthwise24Stride2>(),
    );
    layer::<Depthwise6Stride2>(
        c,
        "depthwise3x3_s2",
        "c288_6x6",
        flops::<Depthwise6Stride2>(),
    );
    layer::<MobileStem>(c, "mobilenet", "stem_c3_16_96x96_s2", flops::<MobileStem>());
    layer::<MobileStemDepthwise>(
        c,
        "mobilenet",
        "stem_dw_c3_16_96x96_s2",
        flops::<MobileStemDepthwise>(),
    );
    layer::<ExpandDepthwise24>(
        c,
        "mobilenet",
        "expand_dw_c16_96_24x24",
        flops::<ExpandDepthwise24>(),
    );
    layer::<ExpandDepthwise48>(
        c,
        "mobilenet",
        "expand_dw_c8_48_48x48_s2",
        flops::<ExpandDepthwise48>(),
    );
    layer::<Expand24>(c, "mobilenet", "1x1_c16_96_24x24", flops::<Expand24>());
    layer::<Project24>(c, "mobilenet", "1x1_c96_16_24x24", flops::<Project24>());
    layer::<Expand6>(c, "mobilenet", "1x1_c48_288_6x6", flops::<Expand6>());
    layer::<Project6>(c, "mobilenet", "1x1_c288_48_6x6", flops::<Project6>());
    layer::<Expand3>(c, "mobilenet", "1x1_c80_480_3x3", flops::<Expand3>());
    layer::<Last3>(c, "mobilenet", "1x1_c160_1280_3x3", flops::<Last3>());
    layer::<Classifier>(c, "linear", "1280_1000", flops::<Classifier>());
    group_layer::<Classifier>(c, "linear", "1280_1000_x16");
    layer::<Expand56>(c, "residual", "c256_56x56_conv", flops::<Expand56>());
    layer::<Residual56>(c, "residual", "c256_56x56_conv_add", flops::<Residual56>());
    let bytes = Throughput::Bytes(4 * MaxPool::INPUT_LEN as u64);
    layer::<MaxPool>(c, "maxpool3x3_s2", "c64_112x112", bytes);
}

criterion_group!(benches, kernels);
criterion_main!(benches);
