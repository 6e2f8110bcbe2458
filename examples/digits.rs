//! Trains a small CNN on the UCI handwritten digits from Rust alone, then runs it for inference.
//!
//! The data are the 1,797 8×8 images of `examples/data/digits.csv.gz` (E. Alpaydin and C.
//! Kaynak, UCI Machine Learning Repository, CC BY 4.0), split 80/20 once and for all: every
//! fifth image (index 4, 9, 14, ...) is held out. The network below is trained with Adam and a
//! cosine schedule on batches of 32, images shifted by up to a pixel; then its weights are saved
//! as safetensors, loaded back into the inference struct, and scored on the held-out fifth
//! with a confusion matrix.
//!
//! ```text
//! cargo run --release --example digits                  # train every layer
//! cargo run --release --example digits -- --fine-tune   # then retrain the head alone
//! ```
//!
//! `--fine-tune` starts from the saved weights (training them first if there are none), draws
//! the head anew and trains only it, the convolutions frozen: they keep no activations and no
//! gradients, and the example prints how much less memory that takes. Other flags: `--epochs
//! N`, `--seed S`, `--out PATH` (default `target/digits.safetensors`).

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::time::Instant;

use cnn::train::{Adam, Optimizer, Rng, Train, TrainLayout, Trainer, cosine_lr, cross_entropy};
use cnn::{Layer, Network, Weights, cnn};

cnn! {
    /// Two 3×3 convolutions with batch norm, a pooling, and a two-layer head with dropout.
    #[budget(params <= 40_000, train_memory <= 4 MiB, train_batch = 32)]
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
        output: [10],
    }
}

const DATA: &[u8] = include_bytes!("data/digits.csv.gz");
const BATCH: usize = 32;
const CLASSES: usize = 10;

/// Images (pixels scaled to `[0, 1]`) and labels.
struct Set {
    images: Vec<f32>,
    labels: Vec<usize>,
}

impl Set {
    fn len(&self) -> usize {
        self.labels.len()
    }
}

/// The CSV rows: 64 pixel counts in `0..=16`, then the label; every fifth row held out.
fn load() -> Result<(Set, Set), String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(DATA)
        .read_to_string(&mut text)
        .map_err(|e| format!("digits.csv.gz: {e}"))?;
    let (mut train, mut test) = (
        Set {
            images: Vec::new(),
            labels: Vec::new(),
        },
        Set {
            images: Vec::new(),
            labels: Vec::new(),
        },
    );
    for (i, line) in text.lines().enumerate() {
        let values: Vec<u8> = line
            .split(',')
            .map(|v| v.trim().parse::<u8>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("digits.csv.gz line {}: {e}", i + 1))?;
        if values.len() != 65 || values[64] > 9 || values[..64].iter().any(|&p| p > 16) {
            return Err(format!(
                "digits.csv.gz line {}: expected 64 pixels in 0..=16 and a label",
                i + 1
            ));
        }
        let set = if i % 5 == 4 { &mut test } else { &mut train };
        set.images
            .extend(values[..64].iter().map(|&p| f32::from(p) / 16.0));
        set.labels.push(usize::from(values[64]));
    }
    Ok((train, test))
}

struct Options {
    epochs: Option<u64>,
    seed: u64,
    fine_tune: bool,
    out: String,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        epochs: None,
        seed: 1,
        fine_tune: false,
        out: "target/digits.safetensors".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| args.next().ok_or(format!("{arg} needs {what}"));
        match arg.as_str() {
            "--fine-tune" => o.fine_tune = true,
            "--epochs" => {
                o.epochs = Some(
                    value("a number")?
                        .parse()
                        .map_err(|e| format!("--epochs: {e}"))?,
                )
            }
            "--seed" => {
                o.seed = value("a number")?
                    .parse()
                    .map_err(|e| format!("--seed: {e}"))?
            }
            "--out" => o.out = value("a path")?,
            _ => {
                return Err(format!(
                    "unknown argument `{arg}` (flags: --fine-tune, --epochs N, --seed S, --out PATH)"
                ));
            }
        }
    }
    Ok(o)
}

/// The index of the largest of each row of `CLASSES` scores.
fn predictions(outputs: &[f32]) -> impl Iterator<Item = usize> + '_ {
    outputs
        .chunks_exact(CLASSES)
        .map(|row| (0..CLASSES).fold(0, |best, c| if row[c] > row[best] { c } else { best }))
}

/// Accuracy of `net` on `set` and its confusion matrix (`[truth][prediction]`).
fn evaluate(net: &Digits, set: &Set) -> Result<(f64, [[u32; CLASSES]; CLASSES]), cnn::Error> {
    let outputs = net.infer_many(&set.images)?;
    let mut confusion = [[0u32; CLASSES]; CLASSES];
    for (p, &t) in predictions(&outputs).zip(&set.labels) {
        confusion[t][p] += 1;
    }
    let right: u32 = (0..CLASSES).map(|c| confusion[c][c]).sum();
    Ok((f64::from(right) / set.len() as f64, confusion))
}

/// Trains with the first `frozen` layers frozen for `epochs` epochs; prints a progress bar per
/// epoch. Returns the trained network and the trainer's memory.
fn train(
    net: Digits,
    frozen: usize,
    epochs: u64,
    seed: u64,
    data: (&Set, &Set),
) -> Result<(Digits, TrainLayout), cnn::Error> {
    let (train, test) = data;
    let base_lr = 3e-3;
    let mut trainer =
        Trainer::with_frozen(net, BATCH, Optimizer::Adam(Adam::new(base_lr)), frozen)?;
    trainer.set_seed(seed);
    let mut rng = Rng::new(seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut batch = vec![0.0; BATCH * Digits::INPUT_LEN];
    let mut labels = Vec::with_capacity(BATCH);
    let steps = train.len().div_ceil(BATCH);
    // The bar moves in a terminal; elsewhere each epoch prints one line.
    let live = std::io::stdout().is_terminal();
    for epoch in 0..epochs {
        let started = Instant::now();
        trainer
            .optimizer_mut()
            .set_lr(cosine_lr(base_lr, epochs, 0.0, epoch));
        // Fisher and Yates.
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let (mut loss_sum, mut right, mut seen) = (0.0f64, 0usize, 0usize);
        for (step, chunk) in order.chunks(BATCH).enumerate() {
            labels.clear();
            for (k, &i) in chunk.iter().enumerate() {
                let image = &train.images[i * 64..][..64];
                let dst = &mut batch[k * 64..][..64];
                // Shifted by up to a pixel each way (RandomCrop(8, padding = 1)).
                cnn::train::random_crop(image, [1, 8, 8], 1, &mut rng, dst);
                labels.push(train.labels[i]);
            }
            let n = chunk.len();
            let loss = trainer.step(&batch[..n * 64], |outputs, grad| {
                right += predictions(outputs)
                    .zip(&labels)
                    .filter(|(p, t)| p == *t)
                    .count();
                cross_entropy(outputs, &labels, CLASSES, 0.0, grad)
            })?;
            loss_sum += f64::from(loss) * n as f64;
            seen += n;
            let done = (step + 1) * 30 / steps;
            if !live && step + 1 < steps {
                continue;
            }
            print!(
                "\repoch {:>2}/{epochs} [{}{}] loss {:.4}",
                epoch + 1,
                "#".repeat(done),
                ".".repeat(30 - done),
                loss_sum / seen as f64
            );
            let _ = std::io::stdout().flush();
        }
        let (test_acc, _) = evaluate(trainer.network(), test)?;
        println!(
            " | train acc {:5.1}% | held-out acc {:5.1}% | {:.2} s",
            100.0 * right as f64 / seen as f64,
            100.0 * test_acc,
            started.elapsed().as_secs_f64()
        );
    }
    let layout = trainer.layout();
    Ok((trainer.into_network(), layout))
}

fn show_memory(what: &str, l: &TrainLayout) {
    let kib = |values: usize| 4.0 * values as f64 / 1024.0;
    println!(
        "  {what:<34} {:>8.1} KiB  (activations {:.1}, their gradients {:.1}, parameter gradients {:.1}, Adam state {:.1})",
        kib(l.len()),
        kib(l.activations + l.scratch),
        kib(l.activation_grads),
        kib(l.grads),
        kib(l.state),
    );
}

fn report(net: &Digits, test: &Set, out: &str) -> Result<bool, Box<dyn std::error::Error>> {
    let (acc, _) = evaluate(net, test)?;
    std::fs::write(out, net.to_safetensors())?;
    let reloaded = Digits::from_safetensors(&std::fs::read(out)?)?;
    let (acc_reloaded, confusion) = evaluate(&reloaded, test)?;
    println!(
        "\nsaved {out}; reloaded into the inference struct: held-out accuracy {:.2}% ({} of {})",
        100.0 * acc_reloaded,
        (acc_reloaded * test.len() as f64).round(),
        test.len()
    );
    println!("confusion matrix (rows: true digit, columns: predicted):");
    println!(
        "     {}",
        (0..CLASSES).map(|c| format!("{c:>4}")).collect::<String>()
    );
    for (t, row) in confusion.iter().enumerate() {
        println!(
            "  {t}: {}",
            row.iter().map(|n| format!("{n:>4}")).collect::<String>()
        );
    }
    if acc_reloaded != acc {
        println!("the reloaded network scores {acc_reloaded}, the trained one {acc}");
        return Ok(false);
    }
    Ok(true)
}

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
    let o = options()?;
    let (train_set, test_set) = load()?;
    print!("{}", Digits::SUMMARY);
    println!(
        "\n{} training images, {} held out\n",
        train_set.len(),
        test_set.len()
    );
    let started = Instant::now();
    // The convolutions: every layer before `Flatten`.
    let features = Digits::LAYERS
        .iter()
        .position(|l| matches!(l, Layer::Flatten { .. }))
        .ok_or("a network with a Flatten")?;
    let full = TrainLayout::of::<Digits>(BATCH, 0, 2);
    let head_only = TrainLayout::of::<Digits>(BATCH, features, 2);
    let trained = if o.fine_tune && std::path::Path::new(&o.out).exists() {
        println!("fine-tuning the head of {}", o.out);
        Digits::from_safetensors(&std::fs::read(&o.out)?)?
    } else {
        let mut w = vec![0.0; Digits::WEIGHTS_LEN];
        cnn::train::init_weights(Digits::LAYERS, Digits::TENSORS, &mut w, o.seed);
        let net = Digits::from_weights(Weights::Owned(w))?;
        println!("training every layer");
        let (net, layout) = train(
            net,
            0,
            o.epochs.unwrap_or(20),
            o.seed,
            (&train_set, &test_set),
        )?;
        assert_eq!(layout, full);
        net
    };
    let net = if o.fine_tune {
        // The head drawn anew, the convolutions kept and frozen.
        let mut w = trained.weights()[..].to_vec();
        let head: Vec<_> = Digits::TENSORS
            .iter()
            .filter(|t| t.name.starts_with("head."))
            .copied()
            .collect();
        cnn::train::init_weights(Digits::LAYERS, &head, &mut w, o.seed + 1);
        let net = Digits::from_weights(Weights::Owned(w))?;
        let (before, _) = evaluate(&net, &test_set)?;
        println!(
            "\nhead drawn anew (held-out accuracy {:.1}%); training it alone, the {features} layers before it frozen",
            100.0 * before
        );
        let (net, layout) = train(
            net,
            features,
            o.epochs.unwrap_or(10),
            o.seed + 1,
            (&train_set, &test_set),
        )?;
        assert_eq!(layout, head_only);
        net
    } else {
        trained
    };
    println!("\ntrained in {:.1} s", started.elapsed().as_secs_f64());
    println!("training memory for batches of {BATCH} with Adam:");
    show_memory("every layer", &full);
    show_memory("the head alone (convolutions frozen)", &head_only);
    println!(
        "  (the compile-time constant Digits::TRAIN_MEMORY_BYTES: {} bytes)",
        Digits::TRAIN_MEMORY_BYTES
    );
    report(&net, &test_set, &o.out)
}
