//! Where a network's forward pass spends its time, step by step: the benchmarks' networks with
//! their synthetic weights, run for about two seconds after a warm-up, on one thread.
//!
//! ```text
//! cargo run --release --features profile --example profile -- mobilenet_v2_0.5_96
//! cargo run --release --features profile --example profile -- mobilenet_v2_0.5_96 --group
//! ```
//!
//! With `--group`, each run is one `forward_batch` over a group of `Network::GROUP` inputs, and
//! the times are per input.
//! Networks: `lenet5`, `resnet20`, `mobilenet_v2_0.5_96`, `resnet50` (the names of
//! `benches/zoo.rs`). The table gives each step's mean time; `tools/profile_onnxruntime.py`
//! gives ONNX Runtime's per node for the same networks.

use std::time::{Duration, Instant};

use cnn::Network;
use cnn::zoo::{LeNet5, MobileNetV2Half, ResNet20, ResNet50};

fn profile<N: Network>(group: bool) {
    let net: N = cnn::__private::synthetic_network();
    let images = if group { N::GROUP } else { 1 };
    let input = cnn::__private::synthetic_input(images * N::INPUT_LEN);
    let mut output = vec![0.0; images * N::OUTPUT_LEN];
    let mut arena = vec![0.0; images * N::ARENA_LEN];
    let mut run_for = |time: Duration| {
        let (start, mut runs) = (Instant::now(), 0u32);
        while start.elapsed() < time || runs < 10 {
            net.forward_batch(&input, &mut output, &mut arena)
                .expect("runs");
            runs += 1;
        }
        start.elapsed() / (runs * images as u32)
    };
    run_for(Duration::from_millis(500));
    cnn::profile::reset::<N>();
    let whole = run_for(Duration::from_secs(2));
    print!("{}", cnn::profile::table::<N>());
    println!(
        "{:<w$}  {:>10.2}",
        format!("forward pass (mean per input, groups of {images})"),
        whole.as_secs_f64() * 1e6,
        w = N::STEPS.iter().map(|s| s.len()).max().unwrap_or(0)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let group = args.iter().any(|a| a == "--group");
    match args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map_or("", |a| a.as_str())
    {
        "lenet5" => profile::<LeNet5>(group),
        "resnet20" => profile::<ResNet20>(group),
        "mobilenet_v2_0.5_96" => profile::<MobileNetV2Half>(group),
        "resnet50" => profile::<ResNet50>(group),
        _ => {
            eprintln!(
                "usage: profile (lenet5 | resnet20 | mobilenet_v2_0.5_96 | resnet50) [--group]"
            );
            std::process::exit(2);
        }
    }
}
