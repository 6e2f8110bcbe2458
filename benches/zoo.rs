//! Whole networks with synthetic weights (`cnn::__private::synthetic`, the generator
//! `tools/compare_onnxruntime.py` gives ONNX Runtime too): the CIFAR ResNet-20 at 32×32,
//! MobileNetV2 of width 0.5 at 96×96 and ResNet-50 at 224×224 at batch 1 on one thread (LeNet-5's
//! is `benches/lenet5.rs`, on its trained weights), and all four at batch 32. Throughput is in
//! FLOP (two per multiply-accumulate) at batch 1, in images at batch 32.

use std::hint::black_box;

use cnn::Network;
use cnn::zoo::{LeNet5, MobileNetV2Half, ResNet20, ResNet50};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

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

/// A batch of 32 through `infer_many`: on all cores with the `parallel` feature
/// (`cargo bench --bench zoo --features parallel`), else one after the other. Throughput in
/// images.
fn batch<N: Network>(c: &mut Criterion, id: &str, samples: usize) {
    let net: N = cnn::__private::synthetic_network();
    let input = cnn::__private::synthetic_input(32 * N::INPUT_LEN);
    let mut group = c.benchmark_group(id);
    group.sample_size(samples);
    group.throughput(Throughput::Elements(32));
    group.bench_function("batch32", |b| {
        b.iter(|| net.infer_many(black_box(&input)).expect("runs"))
    });
    group.finish();
}

fn zoo(c: &mut Criterion) {
    bench::<ResNet20>(c, "resnet20", 100);
    bench::<MobileNetV2Half>(c, "mobilenet_v2_0.5_96", 100);
    bench::<ResNet50>(c, "resnet50", 10);
    batch::<LeNet5>(c, "lenet5", 50);
    batch::<ResNet20>(c, "resnet20", 20);
    batch::<MobileNetV2Half>(c, "mobilenet_v2_0.5_96", 20);
    batch::<ResNet50>(c, "resnet50", 10);
}

criterion_group!(benches, zoo);
criterion_main!(benches);
