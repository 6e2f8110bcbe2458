//! Training steps: forward over a batch keeping activations, backward, Adam's step. The
//! digits network of `examples/digits.rs` at batch 32 (every layer, and the head alone with the
//! convolutions frozen) and the CIFAR ResNet-20 at batch 8. Throughput in samples.
//! `python3 tools/train_digits.py --time` times PyTorch's steps on the same networks and
//! batches.

use std::hint::black_box;

use cnn::Network;
use cnn::train::{Adam, Optimizer, Train, Trainer, cross_entropy};
use cnn::zoo::ResNet20;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

cnn::cnn! {
    /// The network of `examples/digits.rs`.
    pub struct Digits {
        input: [1, 8, 8],
        features: [
            Conv2d(16, 3, padding = 1), BatchNorm2d, ReLU,
            Conv2d(32, 3, padding = 1), BatchNorm2d, ReLU,
            MaxPool2d(2),
        ],
        Flatten,
        dropout: Dropout(0.25),
        head: [Linear(64), ReLU, Linear(10)],
    }
}

/// Steps of a trainer of `N` on a batch of `batch` synthetic inputs, first `frozen` layers
/// frozen.
fn steps<N: Train>(c: &mut Criterion, group: &str, id: &str, batch: usize, frozen: usize) {
    let net = cnn::__private::synthetic_network::<N>();
    let x = cnn::__private::synthetic_input(batch * N::INPUT_LEN);
    let labels: Vec<usize> = (0..batch).map(|i| i % N::OUTPUT_LEN).collect();
    let opt = Optimizer::Adam(Adam::new(1e-4));
    let mut trainer = Trainer::with_frozen(net, batch, opt, frozen).expect("a trainer");
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(batch as u64));
    g.bench_function(id, |b| {
        b.iter(|| {
            trainer
                .step(black_box(&x), |y, grad| {
                    cross_entropy(y, &labels, N::OUTPUT_LEN, 0.0, grad)
                })
                .expect("a batch")
        })
    });
    g.finish();
}

fn train(c: &mut Criterion) {
    let features = Digits::LAYERS
        .iter()
        .position(|l| matches!(l, cnn::Layer::Flatten { .. }))
        .expect("a Flatten");
    steps::<Digits>(c, "train/digits", "batch32", 32, 0);
    steps::<Digits>(c, "train/digits", "batch32_head_only", 32, features);
    steps::<ResNet20>(c, "train/resnet20", "batch8", 8, 0);
}

criterion_group!(benches, train);
criterion_main!(benches);
