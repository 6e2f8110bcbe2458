//! One 3×3 convolution, 64 → 64 channels on 56×56, padding 1 (a ResNet stage-1 layer), batch 1.
//! Throughput is in FLOP (two per multiply-accumulate); the machine's FMA peak puts it in context.

use std::hint::black_box;

use cnn::{Network, Weights, cnn};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

cnn! {
    pub struct Conv3x3 {
        input: [64, 56, 56],
        conv: Conv2d(64, 3, padding = 1),
    }
}

/// Deterministic values in [-1, 1).
fn values(n: usize, mut seed: u32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 23) as f32 - 1.0
        })
        .collect()
}

fn conv3x3(c: &mut Criterion) {
    let net =
        Conv3x3::from_weights(Weights::Owned(values(Conv3x3::WEIGHTS_LEN, 1))).expect("weights");
    let input = values(Conv3x3::INPUT_LEN, 2);
    let mut output = vec![0.0; Conv3x3::OUTPUT_LEN];
    let mut arena = vec![0.0; Conv3x3::ARENA_LEN];
    let mut group = c.benchmark_group("conv3x3");
    group.throughput(Throughput::Elements(2 * Conv3x3::MACS));
    group.bench_function("c64_56x56_p1", |b| {
        b.iter(|| {
            net.forward(black_box(&input), &mut output, &mut arena)
                .expect("runs")
        })
    });
    group.finish();
}

criterion_group!(benches, conv3x3);
criterion_main!(benches);
