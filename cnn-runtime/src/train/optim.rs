//! Optimisers and learning-rate schedules.

use super::math::{cos, powi};
use crate::__private::sqrt;

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
