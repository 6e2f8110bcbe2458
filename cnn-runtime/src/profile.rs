//! Time spent in each step of a network's forward pass, to find the layers worth a faster
//! kernel.
//!
//! Every generated network keeps one [`Clock`] per step of its forward pass (a convolution with
//! its fused batch norm and activation is one step; so is a pool, a residual add or a
//! concatenation). Without the `profile` feature a clock has no fields and its laps compile to
//! nothing: the forward pass is the same code. With it, each step adds the time it took and a
//! count to its clock, from every thread, until [`reset`]:
//!
//! ```ignore
//! // cargo run --release --features profile ...
//! cnn::profile::reset::<ResNet20>();
//! for _ in 0..1000 {
//!     net.forward(&input, &mut output, &mut arena)?;
//! }
//! print!("{}", cnn::profile::table::<ResNet20>());
//! ```
//!
//! A lap reads the clock twice (`Instant::now`, tens of nanoseconds) and adds to two atomics:
//! the steps' times include that, the gaps between steps do not.

#[cfg(feature = "profile")]
use crate::Network;

/// A step's accumulated time and count of runs (nothing without the `profile` feature).
#[derive(Debug)]
pub struct Clock {
    #[cfg(feature = "profile")]
    nanos: core::sync::atomic::AtomicU64,
    #[cfg(feature = "profile")]
    runs: core::sync::atomic::AtomicU64,
}

impl Clock {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Clock {
        Clock {
            #[cfg(feature = "profile")]
            nanos: core::sync::atomic::AtomicU64::new(0),
            #[cfg(feature = "profile")]
            runs: core::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Starts timing `runs` runs of the step together (a group of inputs); the time counts
    /// when the lap is dropped.
    #[inline(always)]
    pub fn lap(&'static self, runs: usize) -> Lap {
        let _ = runs;
        Lap {
            #[cfg(feature = "profile")]
            clock: self,
            #[cfg(feature = "profile")]
            start: std::time::Instant::now(),
            #[cfg(feature = "profile")]
            runs: runs as u64,
        }
    }
}

/// One run of a step being timed (see [`Clock::lap`]).
pub struct Lap {
    #[cfg(feature = "profile")]
    clock: &'static Clock,
    #[cfg(feature = "profile")]
    start: std::time::Instant,
    #[cfg(feature = "profile")]
    runs: u64,
}

#[cfg(feature = "profile")]
impl Drop for Lap {
    fn drop(&mut self) {
        use core::sync::atomic::Ordering::Relaxed;
        let nanos = self.start.elapsed().as_nanos();
        self.clock
            .nanos
            .fetch_add(u64::try_from(nanos).unwrap_or(u64::MAX), Relaxed);
        self.clock.runs.fetch_add(self.runs, Relaxed);
    }
}

/// One step of a forward pass and the time it took (a step run over a group of inputs at once
/// counts one run per input).
#[cfg(feature = "profile")]
#[derive(Clone, Debug, PartialEq)]
pub struct StepTime {
    /// What the step runs, as `Network::STEPS` names it: the layers fused into it and its
    /// output shape, e.g. `layer1.0.conv1 Conv2d+BatchNorm2d+ReLU [16, 32, 32]`.
    pub step: &'static str,
    /// Runs since the last [`reset`].
    pub runs: u64,
    /// Time of all those runs.
    pub total: core::time::Duration,
}

#[cfg(feature = "profile")]
impl StepTime {
    /// The mean time of one run (zero if the step never ran).
    pub fn mean(&self) -> core::time::Duration {
        match u32::try_from(self.runs) {
            Ok(0) => core::time::Duration::ZERO,
            Ok(n) => self.total / n,
            Err(_) => {
                core::time::Duration::from_secs_f64(self.total.as_secs_f64() / self.runs as f64)
            }
        }
    }
}

/// Each step of `N`'s forward pass, in order, with the time it took since the last [`reset`].
#[cfg(feature = "profile")]
pub fn times<N: Network>() -> std::vec::Vec<StepTime> {
    use core::sync::atomic::Ordering::Relaxed;
    N::STEPS
        .iter()
        .zip(N::__clocks())
        .map(|(&step, clock)| StepTime {
            step,
            runs: clock.runs.load(Relaxed),
            total: core::time::Duration::from_nanos(clock.nanos.load(Relaxed)),
        })
        .collect()
}

/// Sets every step's time and count of `N` back to zero.
#[cfg(feature = "profile")]
pub fn reset<N: Network>() {
    use core::sync::atomic::Ordering::Relaxed;
    for clock in N::__clocks() {
        clock.nanos.store(0, Relaxed);
        clock.runs.store(0, Relaxed);
    }
}

/// The steps of `N` as a table, in the forward pass's order: mean time per run in
/// microseconds and share of the steps' sum, then the sum.
#[cfg(feature = "profile")]
pub fn table<N: Network>() -> std::string::String {
    use core::fmt::Write;
    let times = times::<N>();
    let sum: f64 = times.iter().map(|t| t.mean().as_secs_f64()).sum();
    let width = times.iter().map(|t| t.step.len()).max().unwrap_or(0);
    let mut out = std::format!("{:<width$}  {:>10}  {:>6}\n", "step", "µs", "share");
    for t in &times {
        let mean = t.mean().as_secs_f64();
        let _ = writeln!(
            out,
            "{:<width$}  {:>10.2}  {:>5.1}%",
            t.step,
            mean * 1e6,
            100.0 * mean / sum.max(f64::MIN_POSITIVE),
        );
    }
    let _ = writeln!(out, "{:<width$}  {:>10.2}", "sum of the steps", sum * 1e6);
    out
}
