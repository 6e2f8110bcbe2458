//! torchvision's ResNet-18 and MobileNetV2, saved by PyTorch with
//! `safetensors.torch.save_file(model.state_dict(), path)`, loaded into `cnn::zoo`'s declarations
//! without renaming a tensor, and run on PyTorch's inputs: the outputs are compared with
//! PyTorch's. Each network is then saved back with `to_safetensors` as `NAME.saved.safetensors`,
//! which `--check` loads into torchvision's model (`load_state_dict(..., strict=True)`).
//!
//! ```text
//! python3 tools/export_torchvision.py /tmp/tv      # needs torch and torchvision
//! cargo run --release --example torchvision -- /tmp/tv
//! python3 tools/export_torchvision.py --check /tmp/tv
//! ```

use std::{path::Path, process::ExitCode, time::Instant};

use cnn::Network;
use cnn::zoo::{MobileNetV2, ResNet18};

/// The largest difference allowed, relative to the largest output.
const TOLERANCE: f32 = 1e-4;

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: cargo run --release --example torchvision -- DIR");
        eprintln!("(DIR made by `python3 tools/export_torchvision.py DIR`)");
        return ExitCode::FAILURE;
    };
    let dir = Path::new(&dir);
    let mut ok = true;
    for result in [
        compare::<ResNet18>(dir, "resnet18"),
        compare::<MobileNetV2>(dir, "mobilenet_v2"),
    ] {
        match result {
            Ok(within) => ok &= within,
            Err(e) => {
                eprintln!("error: {e}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Loads `dir/name.safetensors` into `N`, runs it on the inputs of `dir/name.io.safetensors` and
/// prints how far its outputs are from PyTorch's; true if within [`TOLERANCE`].
fn compare<N: Network>(dir: &Path, name: &str) -> Result<bool, Box<dyn std::error::Error>> {
    let read = |file: String| {
        std::fs::read(dir.join(&file)).map_err(|e| format!("{}: {e}", dir.join(file).display()))
    };
    let weights = read(format!("{name}.safetensors"))?;
    let start = Instant::now();
    let net = N::from_safetensors(&weights)?;
    let loaded = start.elapsed();
    let io = read(format!("{name}.io.safetensors"))?;
    let io = safetensors::SafeTensors::deserialize(&io)?;
    let floats = |tensor: &str| -> Result<Vec<f32>, Box<dyn std::error::Error>> {
        Ok(io
            .tensor(tensor)?
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    };
    let (input, want) = (floats("input")?, floats("output")?);
    let got = net.infer_many(&input)?;
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = got
        .iter()
        .zip(&want)
        .fold(0.0f32, |m, (g, w)| m.max((g - w).abs()));
    let within = got.len() == want.len() && worst <= TOLERANCE * scale;
    std::fs::write(
        dir.join(format!("{name}.saved.safetensors")),
        net.to_safetensors(),
    )?;
    println!(
        "{:<12} {} tensors loaded in {:.0} ms; {} outputs, largest |difference| {worst:.2e} \
         ({:.1e} of the largest output): {}",
        N::NAME,
        N::TENSORS.len(),
        loaded.as_secs_f64() * 1e3,
        got.len(),
        worst / scale,
        if within { "matches PyTorch" } else { "DIFFERS" }
    );
    Ok(within)
}
