//! LeNet-5 (LeCun, Bottou, Bengio and Haffner, "Gradient-based learning applied to document
//! recognition", Proc. IEEE 1998), in its common modern form: ReLU and max pooling.
//!
//! Prints the network's summary, loads weights that PyTorch trained (on the UCI handwritten
//! digits, upscaled to 28×28; `tools/make_golden.py`), classifies the bundled digits and checks
//! every output against the one PyTorch computed.
//!
//! ```text
//! cargo run --release --example lenet5
//! ```

use std::process::ExitCode;

use cnn::{Network, cnn};

cnn! {
    /// LeNet-5 for 28×28 grayscale digits.
    #[budget(params <= 62_000, macs <= 500_000, memory <= 32 KiB)]
    pub struct LeNet5 {
        input: [1, 28, 28],
        conv1: Conv2d(6, 5, padding = 2),
        ReLU,
        pool1: MaxPool2d(2),
        conv2: Conv2d(16, 5),
        ReLU,
        pool2: MaxPool2d(2),
        Flatten,
        fc1: Linear(120),
        ReLU,
        fc2: Linear(84),
        ReLU,
        fc3: Linear(10),
        output: [10],
    }
}

const WEIGHTS: &[u8] = include_bytes!("../tests/data/golden/lenet5.safetensors");
const SAMPLES: &[u8] = include_bytes!("../tests/data/golden/lenet5.io.safetensors");

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    print!("{}", LeNet5::SUMMARY);
    println!();
    let net = LeNet5::from_safetensors(WEIGHTS)?;
    let samples = safetensors::SafeTensors::deserialize(SAMPLES)?;
    let floats = |name: &str| -> Result<Vec<f32>, Box<dyn std::error::Error>> {
        let t = samples.tensor(name)?;
        Ok(t.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    };
    let (inputs, golden) = (floats("input")?, floats("output")?);
    let labels = floats("label")?;
    let mut arena = vec![0.0; LeNet5::ARENA_LEN];
    let mut output = [0.0; 10];
    let (mut correct, mut worst) = (0, 0.0f32);
    println!("digit  predicted  score   PyTorch score  |difference|");
    for (i, x) in inputs.chunks_exact(LeNet5::INPUT_LEN).enumerate() {
        net.forward(x, &mut output, &mut arena)?;
        let want = &golden[i * 10..][..10];
        let diff = output
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        worst = worst.max(diff);
        let predicted = argmax(&output);
        correct += usize::from(predicted == labels[i] as usize);
        println!(
            "{:>5}  {predicted:>9}  {:>6.3}  {:>13.3}  {diff:>12.2e}",
            labels[i],
            output[predicted],
            want[argmax(want)]
        );
    }
    let n = inputs.len() / LeNet5::INPUT_LEN;
    println!("\n{correct} of {n} digits classified correctly");
    let ok = worst <= 1e-4;
    println!(
        "largest difference from PyTorch's outputs: {worst:.2e} ({})",
        if ok { "match" } else { "MISMATCH" }
    );
    Ok(ok)
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}
