//! tract and candle on the networks of cnn's benchmarks, with the same weights and inputs, for
//! `tools/compare_onnxruntime.py`, which writes the cases and prints the table.
//!
//! ```text
//! cnn-compare DIR
//! ```
//!
//! `DIR/cases.txt` lists one case per line, `<benchmark id> <stem>`; for each, `DIR/<stem>.onnx`
//! is the network as ONNX, `DIR/<stem>.io.safetensors` holds `input` and the `output` it must
//! give, and `DIR/<stem>.weights.safetensors` the PyTorch state_dict the candle networks load.
//! Each engine's output is checked against `output` before it is timed. One line per case and
//! engine goes to standard output, tab-separated: benchmark id, engine, then the median seconds
//! per run, or `unsupported` or `wrong` and why. Run it with `RAYON_NUM_THREADS=1` for one
//! thread (candle reads it; tract runs on one thread).

use std::collections::HashMap;
use std::error::Error;
use std::path::Path;
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Module, ModuleT, Tensor};
use candle_nn::{BatchNorm, Conv2d, Conv2dConfig, Linear, VarBuilder, batch_norm, conv2d, linear};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: cnn-compare DIR (a directory written by tools/compare_onnxruntime.py)");
        std::process::exit(2);
    };
    if let Err(e) = run(Path::new(&dir)) {
        eprintln!("cnn-compare: {e}");
        std::process::exit(1);
    }
}

fn run(dir: &Path) -> Result<()> {
    let cases = std::fs::read_to_string(dir.join("cases.txt"))
        .map_err(|e| format!("{}: {e}", dir.join("cases.txt").display()))?;
    for line in cases.lines().filter(|l| !l.trim().is_empty()) {
        let (bench, stem) = line
            .split_once(' ')
            .ok_or_else(|| format!("cases.txt: `{line}` is not `<benchmark id> <stem>`"))?;
        let io = read_tensors(&dir.join(format!("{stem}.io.safetensors")))?;
        let (shape, input) = io.get("input").ok_or("no `input` tensor")?.clone();
        let (_, want) = io.get("output").ok_or("no `output` tensor")?.clone();
        let budget = Duration::from_secs(if bench.starts_with("resnet50") { 5 } else { 3 });

        let onnx = dir.join(format!("{stem}.onnx"));
        report(bench, "tract", tract(&onnx, &shape, &input, &want, budget));

        let weights = dir.join(format!("{stem}.weights.safetensors"));
        report(
            bench,
            "candle",
            candle(bench, &weights, &shape, &input, &want, budget),
        );
    }
    Ok(())
}

/// What running one engine on one case gave.
enum Outcome {
    Median(f64),
    Unsupported(String),
    Wrong(String),
}

fn report(bench: &str, engine: &str, outcome: Result<Outcome>) {
    match outcome {
        Ok(Outcome::Median(s)) => println!("{bench}\t{engine}\t{s:e}"),
        Ok(Outcome::Unsupported(why)) => println!("{bench}\t{engine}\tunsupported\t{why}"),
        Ok(Outcome::Wrong(why)) => println!("{bench}\t{engine}\twrong\t{why}"),
        Err(e) => println!("{bench}\t{engine}\tunsupported\t{e}"),
    }
}

/// A tensor's shape and values.
type Values = (Vec<usize>, Vec<f32>);

/// The f32 tensors of a safetensors file, by name.
fn read_tensors(path: &Path) -> Result<HashMap<String, Values>> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = safetensors::SafeTensors::deserialize(&bytes)?;
    let mut out = HashMap::new();
    for (name, view) in file.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(format!("{}: `{name}` is not f32", path.display()).into());
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        out.insert(name, (view.shape().to_vec(), values));
    }
    Ok(out)
}

/// Whether `got` is `want` up to float rounding of a different order of sums; if not, why.
fn differs(got: &[f32], want: &[f32]) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!("{} values, expected {}", got.len(), want.len()));
    }
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    let (i, worst) = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() / (1e-3 * (w.abs() + scale)))
        .enumerate()
        .fold(
            (0, 0f32),
            |b, (i, r)| if r.is_nan() || r > b.1 { (i, r) } else { b },
        );
    (worst.is_nan() || worst > 1.0)
        .then(|| format!("value {i} is {}, expected {}", got[i], want[i]))
}

/// The median time of `run`, after a warm-up, over at least `budget` and 50 runs (the method
/// the script uses for ONNX Runtime).
fn median(budget: Duration, mut run: impl FnMut() -> Result<()>) -> Result<f64> {
    for _ in 0..20 {
        run()?;
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget || times.len() < 50 {
        let t = Instant::now();
        run()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn tract(
    path: &Path,
    shape: &[usize],
    input: &[f32],
    want: &[f32],
    budget: Duration,
) -> Result<Outcome> {
    use tract_onnx::prelude::*;
    let plan = (|| -> TractResult<_> {
        tract_onnx::onnx()
            .model_for_path(path)?
            .with_input_fact(0, f32::fact(shape).into())?
            .into_optimized()?
            .into_runnable()
    })();
    let plan = match plan {
        Ok(p) => p,
        Err(e) => return Ok(Outcome::Unsupported(format!("{e:#}").replace('\n', " "))),
    };
    // One state, run again and again: tract's steady state, without a plan's set-up per run.
    let mut state = plan.spawn()?;
    let x = tract_onnx::prelude::Tensor::from_shape(shape, input)?;
    let out = state.run(tvec!(x.clone().into_tvalue()))?;
    let got: Vec<f32> = out[0]
        .to_plain_array_view::<f32>()?
        .iter()
        .copied()
        .collect();
    if let Some(why) = differs(&got, want) {
        return Ok(Outcome::Wrong(why));
    }
    median(budget, || {
        state.run(tvec!(x.clone().into_tvalue()))?;
        Ok(())
    })
    .map(Outcome::Median)
}

fn candle(
    bench: &str,
    weights: &Path,
    shape: &[usize],
    input: &[f32],
    want: &[f32],
    budget: Duration,
) -> Result<Outcome> {
    let device = Device::Cpu;
    let vb = VarBuilder::from_buffered_safetensors(std::fs::read(weights)?, DType::F32, &device)?;
    let net: Box<dyn Module> = match bench.split('/').next().unwrap_or_default() {
        "lenet5" => Box::new(LeNet5::new(vb)?),
        "conv3x3" => Box::new(conv(64, 64, 3, 1, 1, vb.pp("conv"), true)?),
        "resnet20" => Box::new(ResNet::cifar20(vb)?),
        "resnet50" => Box::new(ResNet::imagenet50(vb)?),
        "mobilenet_v2_0.5_96" => Box::new(MobileNetV2::half(vb)?),
        other => return Ok(Outcome::Unsupported(format!("no candle network `{other}`"))),
    };
    let x = Tensor::from_slice(input, shape, &device)?;
    let got = net.forward(&x)?.flatten_all()?.to_vec1::<f32>()?;
    if let Some(why) = differs(&got, want) {
        return Ok(Outcome::Wrong(why));
    }
    median(budget, || {
        net.forward(&x)?;
        Ok(())
    })
    .map(Outcome::Median)
}

fn conv(
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    groups: usize,
    vb: VarBuilder,
    bias: bool,
) -> candle_core::Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding: k / 2,
        stride,
        groups,
        ..Default::default()
    };
    if bias {
        conv2d(cin, cout, k, cfg, vb)
    } else {
        candle_nn::conv2d_no_bias(cin, cout, k, cfg, vb)
    }
}

/// A convolution without bias and its batch norm (evaluation mode), as torchvision names them
/// (`<prefix>.<conv>` and `<prefix>.<bn>`).
struct ConvNorm {
    conv: Conv2d,
    norm: BatchNorm,
}

impl ConvNorm {
    #[allow(clippy::too_many_arguments)]
    fn new(
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        groups: usize,
        vb: &VarBuilder,
        conv_name: &str,
        norm_name: &str,
    ) -> candle_core::Result<ConvNorm> {
        Ok(ConvNorm {
            conv: conv(cin, cout, k, stride, groups, vb.pp(conv_name), false)?,
            norm: batch_norm(cout, 1e-5, vb.pp(norm_name))?,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.norm.forward_t(&self.conv.forward(x)?, false)
    }
}

struct LeNet5 {
    conv1: Conv2d,
    conv2: Conv2d,
    fc: [Linear; 3],
}

impl LeNet5 {
    fn new(vb: VarBuilder) -> candle_core::Result<LeNet5> {
        Ok(LeNet5 {
            conv1: conv(1, 6, 5, 1, 1, vb.pp("conv1"), true)?,
            conv2: conv2d(6, 16, 5, Conv2dConfig::default(), vb.pp("conv2"))?,
            fc: [
                linear(400, 120, vb.pp("fc1"))?,
                linear(120, 84, vb.pp("fc2"))?,
                linear(84, 10, vb.pp("fc3"))?,
            ],
        })
    }
}

impl Module for LeNet5 {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = self.conv1.forward(x)?.relu()?.max_pool2d(2)?;
        let x = self.conv2.forward(&x)?.relu()?.max_pool2d(2)?;
        let x = self.fc[0].forward(&x.flatten_from(1)?)?.relu()?;
        self.fc[2].forward(&self.fc[1].forward(&x)?.relu()?)
    }
}

/// A residual block: torchvision's basic block (two 3×3) or bottleneck (1×1, 3×3, 1×1).
struct Block {
    convs: Vec<ConvNorm>,
    downsample: Option<ConvNorm>,
}

impl Block {
    fn new(
        vb: VarBuilder,
        cin: usize,
        planes: usize,
        stride: usize,
        bottleneck: bool,
    ) -> candle_core::Result<Block> {
        let (convs, cout) = if bottleneck {
            let convs = vec![
                ConvNorm::new(cin, planes, 1, 1, 1, &vb, "conv1", "bn1")?,
                ConvNorm::new(planes, planes, 3, stride, 1, &vb, "conv2", "bn2")?,
                ConvNorm::new(planes, 4 * planes, 1, 1, 1, &vb, "conv3", "bn3")?,
            ];
            (convs, 4 * planes)
        } else {
            let convs = vec![
                ConvNorm::new(cin, planes, 3, stride, 1, &vb, "conv1", "bn1")?,
                ConvNorm::new(planes, planes, 3, 1, 1, &vb, "conv2", "bn2")?,
            ];
            (convs, planes)
        };
        let downsample = if stride != 1 || cin != cout {
            Some(ConvNorm::new(
                cin,
                cout,
                1,
                stride,
                1,
                &vb,
                "downsample.0",
                "downsample.1",
            )?)
        } else {
            None
        };
        Ok(Block { convs, downsample })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut y = x.clone();
        for (i, c) in self.convs.iter().enumerate() {
            y = c.forward(&y)?;
            if i + 1 < self.convs.len() {
                y = y.relu()?;
            }
        }
        let skip = match &self.downsample {
            Some(d) => d.forward(x)?,
            None => x.clone(),
        };
        (y + skip)?.relu()
    }
}

/// ResNet-20 for CIFAR (3×3 stem, no max pool) and torchvision's ResNet-50.
struct ResNet {
    stem: ConvNorm,
    max_pool: bool,
    blocks: Vec<Block>,
    fc: Linear,
}

impl ResNet {
    fn cifar20(vb: VarBuilder) -> candle_core::Result<ResNet> {
        ResNet::new(vb, 3, false, &[3, 3, 3], &[16, 32, 64], 10)
    }

    fn imagenet50(vb: VarBuilder) -> candle_core::Result<ResNet> {
        ResNet::new(vb, 7, true, &[3, 4, 6, 3], &[64, 128, 256, 512], 1000)
    }

    fn new(
        vb: VarBuilder,
        stem_kernel: usize,
        bottleneck: bool,
        depths: &[usize],
        planes: &[usize],
        classes: usize,
    ) -> candle_core::Result<ResNet> {
        let wide = stem_kernel == 7;
        let first = if wide { 64 } else { planes[0] };
        let stem = ConvNorm::new(
            3,
            first,
            stem_kernel,
            if wide { 2 } else { 1 },
            1,
            &vb,
            "conv1",
            "bn1",
        )?;
        let (mut blocks, mut cin) = (Vec::new(), first);
        for (stage, (&n, &p)) in depths.iter().zip(planes).enumerate() {
            for i in 0..n {
                let stride = if i == 0 && stage > 0 { 2 } else { 1 };
                let name = format!("layer{}.{i}", stage + 1);
                blocks.push(Block::new(vb.pp(name), cin, p, stride, bottleneck)?);
                cin = if bottleneck { 4 * p } else { p };
            }
        }
        Ok(ResNet {
            stem,
            max_pool: wide,
            blocks,
            fc: linear(cin, classes, vb.pp("fc"))?,
        })
    }
}

impl Module for ResNet {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = self.stem.forward(x)?.relu()?;
        if self.max_pool {
            // 3×3, stride 2, padding 1: after the ReLU every value is at least 0, so zeros pad
            // as minus infinity would.
            x = x.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?;
            x = x.max_pool2d_with_stride(3, 2)?;
        }
        for b in &self.blocks {
            x = b.forward(&x)?;
        }
        self.fc.forward(&x.mean((2, 3))?)
    }
}

/// torchvision's MobileNetV2 at width 0.5.
struct MobileNetV2 {
    stem: ConvNorm,
    blocks: Vec<(Vec<(ConvNorm, bool)>, bool)>,
    head: ConvNorm,
    fc: Linear,
}

impl MobileNetV2 {
    fn half(vb: VarBuilder) -> candle_core::Result<MobileNetV2> {
        // (expansion, channels at width 0.5, repeats, stride): torchvision's table with
        // `_make_divisible(c * 0.5, 8)` applied.
        let table = [
            (1, 8, 1, 1),
            (6, 16, 2, 2),
            (6, 16, 3, 2),
            (6, 32, 4, 2),
            (6, 48, 3, 1),
            (6, 80, 3, 2),
            (6, 160, 1, 1),
        ];
        let f = vb.pp("features");
        let stem = ConvNorm::new(3, 16, 3, 2, 1, &f.pp("0"), "0", "1")?;
        let (mut blocks, mut cin, mut index) = (Vec::new(), 16, 1);
        for (t, c, n, s) in table {
            for i in 0..n {
                let stride = if i == 0 { s } else { 1 };
                let vb = f.pp(index.to_string()).pp("conv");
                let hidden = cin * t;
                let mut layers = Vec::new();
                let mut next = 0;
                if t != 1 {
                    let v = vb.pp("0");
                    layers.push((ConvNorm::new(cin, hidden, 1, 1, 1, &v, "0", "1")?, true));
                    next = 1;
                }
                let v = vb.pp(next.to_string());
                layers.push((
                    ConvNorm::new(hidden, hidden, 3, stride, hidden, &v, "0", "1")?,
                    true,
                ));
                let (conv, norm) = ((next + 1).to_string(), (next + 2).to_string());
                layers.push((ConvNorm::new(hidden, c, 1, 1, 1, &vb, &conv, &norm)?, false));
                blocks.push((layers, stride == 1 && cin == c));
                cin = c;
                index += 1;
            }
        }
        let head = ConvNorm::new(cin, 1280, 1, 1, 1, &f.pp(index.to_string()), "0", "1")?;
        Ok(MobileNetV2 {
            stem,
            blocks,
            head,
            fc: linear(1280, 1000, vb.pp("classifier.1"))?,
        })
    }
}

fn relu6(x: &Tensor) -> candle_core::Result<Tensor> {
    x.clamp(0f32, 6f32)
}

impl Module for MobileNetV2 {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = relu6(&self.stem.forward(x)?)?;
        for (layers, residual) in &self.blocks {
            let mut y = x.clone();
            for (layer, act) in layers {
                y = layer.forward(&y)?;
                if *act {
                    y = relu6(&y)?;
                }
            }
            x = if *residual { (y + x)? } else { y };
        }
        let x = relu6(&self.head.forward(&x)?)?;
        self.fc.forward(&x.mean((2, 3))?)
    }
}
