//! What training needs besides gradients, as PyTorch defines it: losses with their gradients,
//! optimisers, learning-rate schedules. Everything works on flat `f32` slices and state the
//! caller owns, so it runs without an allocator.
//!
//! Each follows PyTorch's formula, operation for operation where the order changes the rounding
//! (`torch.optim.SGD`, `Adam` and `AdamW` in their single-tensor form; `nn.CrossEntropyLoss` with
//! `label_smoothing`; `nn.MSELoss`; `lr_scheduler.StepLR` and `CosineAnnealingLR`), and the tests
//! compare step by step with PyTorch (`tools/make_train_golden.py`).

use crate::__private::sqrt;
use crate::{Layer, TensorSpec};

/// The mean cross-entropy of a batch of `logits` (`targets.len()` rows of `classes` scores)
/// against class indices `targets`, with `label_smoothing` as PyTorch's `CrossEntropyLoss`:
/// each target becomes `(1 - s)` on its class plus `s / classes` on every class. Writes the
/// loss's gradient with respect to the logits into `grad`.
///
/// # Shapes
/// `logits`, `grad`: `targets.len() * classes`.
///
/// # Panics
/// If the lengths disagree or a target is not below `classes`.
pub fn cross_entropy(
    logits: &[f32],
    targets: &[usize],
    classes: usize,
    label_smoothing: f32,
    grad: &mut [f32],
) -> f32 {
    assert_eq!(
        logits.len(),
        targets.len() * classes,
        "one row of logits per target"
    );
    assert_eq!(grad.len(), logits.len(), "one gradient per logit");
    let n = targets.len() as f64;
    let s = f64::from(label_smoothing);
    let mut loss = 0.0f64;
    for ((row, g), &t) in logits
        .chunks_exact(classes)
        .zip(grad.chunks_exact_mut(classes))
        .zip(targets)
    {
        assert!(t < classes, "target {t} of {classes} classes");
        let max = row
            .iter()
            .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
        let sum: f64 = row.iter().map(|&v| exp(f64::from(v) - max)).sum();
        let log_sum = max + ln(sum);
        // -log p_j = log_sum - z_j
        let nll = log_sum - f64::from(row[t]);
        let smooth = row.iter().map(|&v| log_sum - f64::from(v)).sum::<f64>() / classes as f64;
        loss += (1.0 - s) * nll + s * smooth;
        for (j, (gj, &v)) in g.iter_mut().zip(row).enumerate() {
            let p = exp(f64::from(v) - log_sum);
            let q = s / classes as f64 + if j == t { 1.0 - s } else { 0.0 };
            *gj = ((p - q) / n) as f32;
        }
    }
    (loss / n) as f32
}

/// The mean squared error of `output` against `target` (PyTorch's `MSELoss`, mean over every
/// value); writes the loss's gradient with respect to `output` into `grad`.
///
/// # Panics
/// If the three lengths differ.
pub fn mse(output: &[f32], target: &[f32], grad: &mut [f32]) -> f32 {
    assert_eq!(output.len(), target.len(), "one target per output");
    assert_eq!(grad.len(), output.len(), "one gradient per output");
    let n = output.len() as f64;
    let mut loss = 0.0f64;
    for ((g, &y), &t) in grad.iter_mut().zip(output).zip(target) {
        let d = f64::from(y) - f64::from(t);
        loss += d * d;
        *g = (2.0 * d / n) as f32;
    }
    (loss / n) as f32
}

/// Stochastic gradient descent, as `torch.optim.SGD`: weight decay added to the gradient,
/// momentum with dampening, Nesterov's variant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd {
    pub lr: f32,
    pub momentum: f32,
    pub dampening: f32,
    pub weight_decay: f32,
    pub nesterov: bool,
}

impl Sgd {
    /// Plain SGD with learning rate `lr` (PyTorch's defaults for the rest: no momentum, no
    /// weight decay).
    pub fn new(lr: f32) -> Self {
        Sgd {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }

    /// One step on `params` with their `grads`; `velocity` is the momentum buffer (unused
    /// without momentum) and `step` counts the steps taken before this one (the first step
    /// fills the buffer with the gradient, as PyTorch does).
    ///
    /// # Shapes
    /// `params`, `grads`, `velocity`: the same length.
    pub fn step(&self, params: &mut [f32], grads: &[f32], velocity: &mut [f32], step: u64) {
        let (lr, mu, wd) = (self.lr, self.momentum, self.weight_decay);
        for ((p, &g), b) in params.iter_mut().zip(grads).zip(velocity.iter_mut()) {
            let mut g = if wd != 0.0 { g + wd * *p } else { g };
            if mu != 0.0 {
                *b = if step == 0 {
                    g
                } else {
                    *b * mu + (1.0 - self.dampening) * g
                };
                g = if self.nesterov { g + mu * *b } else { *b };
            }
            *p += -lr * g;
        }
    }
}

/// Adam (Kingma and Ba, 2015) as `torch.optim.Adam`, and AdamW (Loshchilov and Hutter, 2019)
/// as `torch.optim.AdamW`: the same but for the weight decay, added to the gradient by Adam and
/// taken from the weights directly by AdamW.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// AdamW's decoupled weight decay.
    pub decoupled: bool,
}

impl Adam {
    /// `torch.optim.Adam(lr=lr)`: betas (0.9, 0.999), eps 1e-8, no weight decay.
    pub fn new(lr: f32) -> Self {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        }
    }

    /// `torch.optim.AdamW(lr=lr)`: as Adam, with decoupled weight decay 0.01.
    pub fn adamw(lr: f32) -> Self {
        Adam {
            weight_decay: 0.01,
            decoupled: true,
            ..Adam::new(lr)
        }
    }

    /// One step on `params` with their `grads`; `m` and `v` are the first and second moment
    /// estimates (zeros before the first step) and `step` counts the steps taken before this
    /// one.
    ///
    /// # Shapes
    /// `params`, `grads`, `m`, `v`: the same length.
    pub fn step(&self, params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32], step: u64) {
        let t = step + 1;
        let (b1, b2) = (f64::from(self.beta1), f64::from(self.beta2));
        let lr = f64::from(self.lr);
        let step_size = (lr / (1.0 - powi(b1, t))) as f32;
        let bias2_sqrt = sqrt(1.0 - powi(b2, t)) as f32;
        let decay = (1.0 - lr * f64::from(self.weight_decay)) as f32;
        let (w1, w2) = (1.0 - self.beta1, 1.0 - self.beta2);
        for (((p, &g), m), v) in params.iter_mut().zip(grads).zip(m).zip(v) {
            let g = if self.weight_decay != 0.0 && !self.decoupled {
                g + self.weight_decay * *p
            } else {
                g
            };
            if self.decoupled {
                *p *= decay;
            }
            // torch.lerp for a weight below 1/2.
            *m += w1 * (g - *m);
            *v = *v * self.beta2 + w2 * (g * g);
            let denom = sqrt(f64::from(*v)) as f32 / bias2_sqrt + self.eps;
            *p += -step_size * (*m / denom);
        }
    }
}

/// `lr_scheduler.StepLR`: the learning rate of epoch `epoch` (from 0) is
/// `base * gamma^(epoch / step_size)`.
pub fn step_lr(base: f32, step_size: u64, gamma: f32, epoch: u64) -> f32 {
    (f64::from(base) * powi(f64::from(gamma), epoch / step_size.max(1))) as f32
}

/// `lr_scheduler.CosineAnnealingLR` in its closed form: the learning rate of epoch `epoch`
/// (from 0) is `eta_min + (base - eta_min) * (1 + cos(pi * epoch / t_max)) / 2`.
pub fn cosine_lr(base: f32, t_max: u64, eta_min: f32, epoch: u64) -> f32 {
    let (base, low) = (f64::from(base), f64::from(eta_min));
    let x = core::f64::consts::PI * epoch as f64 / t_max.max(1) as f64;
    (low + (base - low) * (1.0 + cos(x)) / 2.0) as f32
}

/// Initialises the state_dict tensors `specs` of the network `layers` in `weights` as PyTorch's
/// layers initialise themselves, from a seeded generator: convolution and linear weights uniform
/// in `±1/sqrt(fan_in)` (`kaiming_uniform_(a=sqrt(5))`), biases likewise; batch norms' weights
/// 1, biases 0, running means 0 and running variances 1. The same seed gives the same weights;
/// they are not PyTorch's values, which come from its own generator.
///
/// # Panics
/// If a spec lies outside `weights`.
pub fn init_weights(layers: &[Layer], specs: &[TensorSpec], weights: &mut [f32], seed: u64) {
    let mut state = seed;
    let mut uniform = move |bound: f64| {
        // SplitMix64, 53 bits.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        ((2.0 * ((z >> 11) as f64 / (1u64 << 53) as f64) - 1.0) * bound) as f32
    };
    for spec in specs {
        let values = &mut weights[spec.offset..spec.offset + spec.len()];
        let (layer, what) = spec.name.rsplit_once('.').unwrap_or(("", spec.name));
        let owner = layers.iter().find(|l| match l {
            Layer::Conv { name, .. }
            | Layer::Linear { name, .. }
            | Layer::BatchNorm { name, .. } => *name == layer,
            _ => false,
        });
        let fan_in = match owner {
            Some(Layer::Conv {
                in_channels,
                groups,
                kernel,
                ..
            }) => in_channels / groups * kernel.iter().product::<usize>(),
            Some(Layer::Linear { in_features, .. }) => *in_features,
            _ => 0,
        };
        match (owner, what) {
            (Some(Layer::BatchNorm { .. }), "weight" | "running_var") => values.fill(1.0),
            (Some(Layer::BatchNorm { .. }), _) => values.fill(0.0),
            _ if fan_in > 0 => {
                let bound = 1.0 / sqrt(fan_in as f64);
                values.iter_mut().for_each(|v| *v = uniform(bound));
            }
            _ => values.fill(0.0),
        }
    }
}

/// `x^n` by repeated squaring (no `std`).
fn powi(x: f64, mut n: u64) -> f64 {
    let (mut base, mut out) = (x, 1.0);
    while n > 0 {
        if n & 1 == 1 {
            out *= base;
        }
        base *= base;
        n >>= 1;
    }
    out
}

/// `e^x` without `std`: `2^k * e^r` with `|r| <= ln 2 / 2` (Cody and Waite's reduction), `e^r`
/// by its Taylor series (the terms fall below `f64`'s precision by the 20th).
fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 709.782_712_893_384 {
        return f64::INFINITY;
    }
    if x < -745.0 {
        return 0.0;
    }
    // ln 2 in two parts (fdlibm's), the first with few enough bits that `k * LN2_HI` is exact.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    let k = (x / core::f64::consts::LN_2 + if x < 0.0 { -0.5 } else { 0.5 }) as i64;
    let r = (x - k as f64 * LN2_HI) - k as f64 * LN2_LO;
    let (mut term, mut sum) = (1.0f64, 1.0f64);
    for i in 1..20 {
        term *= r / f64::from(i);
        sum += term;
    }
    // 2^k, in two factors so that neither over- nor underflows on its own.
    let half = k / 2;
    sum * f64::from_bits(((1023 + half) as u64) << 52)
        * f64::from_bits(((1023 + k - half) as u64) << 52)
}

/// `ln x` for `x > 0` without `std`: `x = m * 2^e` with `m` in `[1, 2)`, then
/// `ln m = 2 atanh((m - 1) / (m + 1))` by its series.
fn ln(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return x;
    }
    let (mut m, mut e) = (x, 0i32);
    while m >= 2.0 {
        m /= 2.0;
        e += 1;
    }
    while m < 1.0 {
        m *= 2.0;
        e -= 1;
    }
    let z = (m - 1.0) / (m + 1.0);
    let (z2, mut term, mut sum) = (z * z, z, 0.0f64);
    for i in 0..40 {
        sum += term / f64::from(2 * i + 1);
        term *= z2;
    }
    2.0 * sum + f64::from(e) * core::f64::consts::LN_2
}

/// `cos x` for `x >= 0` by its Taylor series, after reducing `x` to `[0, pi / 2]`.
fn cos(x: f64) -> f64 {
    use core::f64::consts::PI;
    // cos is even and 2 pi periodic: into [0, pi]; then cos x = -cos(pi - x).
    let x = x % (2.0 * PI);
    let x = if x > PI { 2.0 * PI - x } else { x };
    let (x, sign) = if x > core::f64::consts::FRAC_PI_2 {
        (core::f64::consts::PI - x, -1.0)
    } else {
        (x, 1.0)
    };
    let (x2, mut term, mut sum) = (x * x, 1.0f64, 1.0f64);
    for i in 1..20 {
        term *= -x2 / f64::from((2 * i - 1) * (2 * i));
        sum += term;
    }
    sign * sum
}

#[cfg(test)]
mod tests;
