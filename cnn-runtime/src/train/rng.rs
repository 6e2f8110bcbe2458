//! The seeded generator of initialisation and augmentation.

use super::math::{cos, ln};
use crate::__private::sqrt;

/// SplitMix64 (Steele, Lea and Flood, 2014): seeded, portable, and the same sequence on every
/// machine, so that a training run can be repeated.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, 53 bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`), without modulo bias (Lemire's multiply-shift; the bias of
    /// at most `n / 2^64` is below anything a training run can see).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Standard normal, by Box and Muller's transform.
    pub fn normal(&mut self) -> f64 {
        // 1 - u lies in (0, 1], so the logarithm is finite.
        let (u1, u2) = (1.0 - self.uniform(), self.uniform());
        sqrt(-2.0 * ln(u1)) * cos(2.0 * core::f64::consts::PI * u2)
    }
}
