//! LeNet-5 at batch 1: one forward pass on a bundled digit, weights trained in PyTorch.
//! Throughput is in FLOP (two per multiply-accumulate).

use std::hint::black_box;

use cnn::Network;
use cnn::zoo::LeNet5;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn lenet5(c: &mut Criterion) {
    let net = LeNet5::from_safetensors(include_bytes!("../tests/data/golden/lenet5.safetensors"))
        .expect("the bundled weights load");
    let digits = safetensors::SafeTensors::deserialize(include_bytes!(
        "../tests/data/golden/lenet5.io.safetensors"
    ))
    .expect("the bundled digits load");
    let input: Vec<f32> = digits.tensor("input").expect("inputs").data()[..4 * LeNet5::INPUT_LEN]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let mut output = [0.0; 10];
    let mut arena = vec![0.0; LeNet5::ARENA_LEN];
    let mut group = c.benchmark_group("lenet5");
    group.throughput(Throughput::Elements(2 * LeNet5::MACS));
    group.bench_function("batch1", |b| {
        b.iter(|| {
            net.forward(black_box(&input), &mut output, &mut arena)
                .expect("runs")
        })
    });
    group.finish();
}

criterion_group!(benches, lenet5);
criterion_main!(benches);
