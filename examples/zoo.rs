//! The parameter and memory analysis that textbooks do by hand, computed by the compiler: for
//! each network of `cnn::zoo`, its parameters, weight bytes, multiply-accumulates, and the
//! activation memory of the macro's plan next to one buffer per tensor and to the lower bound
//! (the tensors live together at the busiest step).
//!
//! ```text
//! cargo run --release --example zoo
//! ```

use cnn::Network;
use cnn::zoo::*;

struct Row {
    name: &'static str,
    input: &'static [usize],
    params: usize,
    weight_bytes: usize,
    macs: u64,
    planned: usize,
    naive: usize,
    bound: usize,
}

fn row<N: Network>() -> Row {
    Row {
        name: N::NAME,
        input: N::INPUT_SHAPE,
        params: N::PARAMS,
        weight_bytes: N::WEIGHT_BYTES,
        macs: N::MACS,
        planned: N::ARENA_BYTES,
        naive: N::NAIVE_ARENA_BYTES,
        bound: N::PEAK_LIVE_BYTES,
    }
}

fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(bytes: usize) -> String {
    format!("{:.2} MiB", bytes as f64 / (1 << 20) as f64)
}

fn main() {
    let rows = [
        row::<LeNet5>(),
        row::<AlexNet>(),
        row::<Vgg11>(),
        row::<Vgg16>(),
        row::<GoogLeNet>(),
        row::<ResNet18>(),
        row::<ResNet34>(),
        row::<ResNet50>(),
        row::<ResNet20>(),
        row::<DenseNet121>(),
        row::<MobileNetV2>(),
        row::<MobileNetV2Half>(),
    ];
    println!(
        "{:<15} {:<14} {:>13} {:>11} {:>15} {:>11} {:>11} {:>11} {:>7}",
        "network", "input", "params", "weights", "MACs", "planned", "naive", "bound", "saved"
    );
    for r in &rows {
        let input = format!("{:?}", r.input);
        println!(
            "{:<15} {:<14} {:>13} {:>11} {:>15} {:>11} {:>11} {:>11} {:>6.0}%",
            r.name,
            input,
            count(r.params as u64),
            mib(r.weight_bytes),
            count(r.macs),
            mib(r.planned),
            mib(r.naive),
            mib(r.bound),
            100.0 * (1.0 - r.planned as f64 / r.naive as f64),
        );
    }
    println!();
    println!("planned: the arena of the macro's memory plan (ARENA_BYTES); naive: one buffer per");
    println!("intermediate tensor; bound: the tensors live together at the busiest step, which no");
    println!("plan can beat. Weights are f32 parameters and batch-norm running statistics.");
}
