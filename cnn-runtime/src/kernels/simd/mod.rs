//! SIMD convolution for the layers whose width axis has stride 1 and dilation 1 (most layers of
//! real networks: every 3×3 and 1×1 convolution of stride 1, and strided ones along the height),
//! with run-time dispatch between AVX-512, AVX2 with FMA, and the portable code.
//!
//! The register tile is `MR` output channels × `NV` vectors of consecutive output pixels of one
//! row; for each input channel and kernel tap, `NV` input vectors are loaded once and each of the
//! `MR` weights is broadcast into `NV` fused multiply-adds. Output columns whose taps all fall
//! inside the input (the interior) take this path; the few border columns that read padding take
//! a scalar loop with bounds checks. A 1×1 convolution of stride 1 without padding is one long
//! row over the whole plane.

use core::sync::atomic::{AtomicU8, Ordering};

use super::conv::ConvSpec;
use super::{Epilogue, Extent};
use crate::Activation;

/// An instruction set the kernels can use, from the most portable to the fastest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Plain Rust that the compiler vectorises for the target it was built for.
    Portable,
    /// x86-64 AVX2 and FMA: 8 lanes.
    Avx2,
    /// x86-64 AVX-512F: 16 lanes.
    Avx512,
}

static DETECTED: AtomicU8 = AtomicU8::new(0);

/// The level the kernels run at: the fastest this processor has, detected once (with `std`;
/// without it, the level the code was compiled for). The `portable` feature forces
/// [`Level::Portable`]; with `std`, the environment variable `CNN_KERNELS` (`portable`, `avx2`
/// or `avx512`) caps it at the first call, so that one build can test every level's code. A
/// cap never raises the level above what the processor has.
pub fn level() -> Level {
    // A constant, so that a `portable` build's binary holds no SIMD code at all.
    if cfg!(feature = "portable") {
        return Level::Portable;
    }
    match DETECTED.load(Ordering::Relaxed) {
        1 => Level::Portable,
        2 => Level::Avx2,
        3 => Level::Avx512,
        _ => {
            let found = detect();
            DETECTED.store(found as u8 + 1, Ordering::Relaxed);
            found
        }
    }
}

fn detect() -> Level {
    let found = hardware();
    #[cfg(feature = "std")]
    if let Some(cap) = requested() {
        return found.min(cap);
    }
    found
}

/// The level `CNN_KERNELS` asks for, if it is set; a value that names no level is reported on
/// standard error when the level is detected, and ignored.
#[cfg(feature = "std")]
fn requested() -> Option<Level> {
    let value = std::env::var("CNN_KERNELS").ok()?;
    match value.trim().to_ascii_lowercase().as_str() {
        "portable" => Some(Level::Portable),
        "avx2" => Some(Level::Avx2),
        "avx512" => Some(Level::Avx512),
        "" => None,
        _ => {
            std::eprintln!(
                "cnn: CNN_KERNELS={value:?} names no kernel level (portable, avx2, avx512); ignored"
            );
            None
        }
    }
}

/// The fastest level this processor runs.
fn hardware() -> Level {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return Level::Avx512;
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Level::Avx2;
        }
    }
    #[cfg(all(target_arch = "x86_64", not(feature = "std")))]
    {
        if cfg!(target_feature = "avx512f") {
            return Level::Avx512;
        }
        if cfg!(all(target_feature = "avx2", target_feature = "fma")) {
            return Level::Avx2;
        }
    }
    Level::Portable
}

/// The convolution of each of `xs` into the same place of `ys` with its epilogue (bias, batch
/// norm, activation) at `level`, if `level` runs here and the layer's width axis has stride 1
/// or 2 and dilation 1; returns whether it did. Each of `ys` holds exactly the layer's output;
/// `packed`, if given, the weights as [`pack`] lays them out for `level`. Layers in the channel
/// tile take every input with each block of weights (read from memory once for all); the
/// others go input by input. Either way each output is the one its input gets alone.
pub(super) fn conv_fused<S: ConvSpec>(
    level: Level,
    xs: &[&[f32]],
    weight: &[f32],
    packed: Option<&[f32]>,
    epilogue: &Epilogue<'_>,
    ys: &mut [&mut [f32]],
) -> bool {
    // A kernel whose taps for one input channel of 16 output channels overflow the packing
    // buffer (more than 144 taps) stays portable.
    #[cfg(target_arch = "x86_64")]
    if S::KERNEL.volume() * 16 > x86::PACK {
        return false;
    }
    if S::STRIDE.w > 2 || S::DILATION.w != 1 || level > self::level() {
        return false;
    }
    let g = Geometry::of::<S>();
    // The kernels apply the piecewise-linear activations in registers; the others after.
    let (in_registers, after) = match epilogue.act {
        act @ (Activation::Identity
        | Activation::Relu
        | Activation::Relu6
        | Activation::LeakyRelu(_)) => (act, None),
        act => (Activation::Identity, Some(act)),
    };
    let ep = Epilogue {
        act: in_registers,
        ..*epilogue
    };
    // 3×3 layers of stride 1 with their weights transformed at load time take the Winograd
    // kernel (2.25 times fewer multiply-adds).
    let winograd = match (level, packed) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as for `conv_avx512` below; `packed` holds the weights `pack` transformed
        // for this level (`g.winograd`), `S::PACKED_LEN` of them.
        (Level::Avx512, Some(p)) if g.winograd => unsafe {
            let walk = winograd_channels::<S>(<x86::Zmm as x86::Lanes>::N);
            for (x, y) in xs.iter().zip(ys.iter_mut()) {
                match &walk {
                    Some(l) => x86::winograd_channels_avx512(&g, l, x, p, &ep, y),
                    None => x86::winograd_avx512(&g, x, p, &ep, y),
                }
            }
            true
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, with AVX2 and FMA.
        (Level::Avx2, Some(p)) if g.winograd => unsafe {
            let walk = winograd_channels::<S>(<x86::Ymm as x86::Lanes>::N);
            for (x, y) in xs.iter().zip(ys.iter_mut()) {
                match &walk {
                    Some(l) => x86::winograd_channels_avx2(&g, l, x, p, &ep, y),
                    None => x86::winograd_avx2(&g, x, p, &ep, y),
                }
            }
            true
        },
        _ => false,
    };
    // Layers whose output channels each read one input channel (depthwise layers, and first
    // layers of one channel) take their own kernel where it fits them (which the layer's
    // sizes decide: it takes every input or none).
    let depthwise = !winograd && g.in_per_group == 1;
    let done = depthwise
        && match level {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as for `conv_avx512` below.
            Level::Avx512 => unsafe {
                xs.iter()
                    .zip(ys.iter_mut())
                    .all(|(x, y)| x86::depthwise_avx512(&g, x, weight, &ep, y))
            },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as for `conv_avx2` below.
            Level::Avx2 => unsafe {
                xs.iter()
                    .zip(ys.iter_mut())
                    .all(|(x, y)| x86::depthwise_avx2(&g, x, weight, &ep, y))
            },
            _ => false,
        };
    match level {
        _ if done || winograd => {}
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `level <= self::level()`, so the processor has AVX-512F; `conv_at` checked that
        // the slices hold the shapes of `S` (and the epilogue's its channels), which `g`
        // describes and which is all the kernel reads and writes.
        Level::Avx512 => unsafe { x86::conv_avx512(&g, xs, weight, packed, &ep, ys) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, with AVX2 and FMA.
        Level::Avx2 => unsafe { x86::conv_avx2(&g, xs, weight, packed, &ep, ys) },
        _ => return false,
    }
    if let Some(act) = after {
        for y in ys.iter_mut() {
            super::activate(y, act);
        }
    }
    true
}

/// `ys[b][o] = sum over i of w[o, i] xs[b][i]` for the rows of `w` (as many as each of `ys`
/// holds, `inputs` long) and every input `b`, at `level`, if it runs here; returns whether it
/// did. Each output is summed in the same order however many inputs come together.
pub(super) fn dots(
    level: Level,
    xs: &[&[f32]],
    w: &[f32],
    inputs: usize,
    ys: &mut [&mut [f32]],
) -> bool {
    let outputs = ys.first().map_or(0, |y| y.len());
    assert!(xs.len() == ys.len() && w.len() >= inputs * outputs);
    assert!(xs.iter().all(|x| x.len() >= inputs) && ys.iter().all(|y| y.len() == outputs));
    if level > self::level() {
        return false;
    }
    match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the processor has AVX-512F (`level <= self::level()`); the assertions above
        // are what the kernel reads and writes.
        Level::Avx512 => unsafe { x86::dots_avx512(xs, w, inputs, ys) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, with AVX2 and FMA.
        Level::Avx2 => unsafe { x86::dots_avx2(xs, w, inputs, ys) },
        _ => return false,
    }
    true
}

/// A convolution `E` (1×1, or a first layer) and the depthwise layer `D` that reads its
/// output, in one pass (see
/// `x86::expand_depthwise`), at `level`, if it runs here and takes the pair; returns whether it
/// did. `y` holds exactly `D`'s output; the weights come packed for `level` by
/// [`pack_expand_depthwise`].
pub(super) fn expand_depthwise_fused<E: ConvSpec, D: ConvSpec>(
    level: Level,
    x: &[f32],
    (we, ep_e): (&[f32], &Epilogue<'_>),
    (wd, ep_d): (&[f32], &Epilogue<'_>),
    y: &mut [f32],
) -> bool {
    if level > self::level() {
        return false;
    }
    let Some(l) = lanes(level).and_then(ExpandDepthwise::of::<E, D>) else {
        return false;
    };
    assert!(
        we.len() >= E::OUT_CHANNELS * E::IN_CHANNELS * E::KERNEL.volume()
            && wd.len() >= D::OUT_CHANNELS * D::KERNEL.volume()
    );
    let (e, d) = (Geometry::of::<E>(), Geometry::of::<D>());
    match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `level <= self::level()`, so the processor has AVX-512F; the caller checked
        // that the slices hold the shapes of `E` and `D` (and the epilogues' their channels),
        // which `e`, `d` and `l` describe.
        Level::Avx512 => unsafe {
            x86::expand_depthwise_avx512(&l, &e, &d, x, (we, ep_e), (wd, ep_d), y)
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, with AVX2 and FMA.
        Level::Avx2 => unsafe {
            x86::expand_depthwise_avx2(&l, &e, &d, x, (we, ep_e), (wd, ep_d), y)
        },
        _ => return false,
    }
    true
}

/// Lanes of a vector at `level`, if it has vectors.
const fn lanes(level: Level) -> Option<usize> {
    match channel_tile(level) {
        Some((lanes, _)) => Some(lanes),
        None => None,
    }
}

/// Packs the weights of the pair `E`, `D` for [`expand_depthwise_fused`] at `level`, if it
/// takes the pair there (else packs nothing and returns `false`): for each vector of the
/// expanded channels, from its first channel's place, the expansion's weights `[input
/// channel][lane]` and the depthwise layer's `[tap][lane]`.
pub(super) fn pack_expand_depthwise<E: ConvSpec, D: ConvSpec>(
    level: Level,
    (we, pe): (&[f32], &mut [f32]),
    (wd, pd): (&[f32], &mut [f32]),
) -> bool {
    let Some(n) = lanes(level).filter(|&n| ExpandDepthwise::of::<E, D>(n).is_some()) else {
        return false;
    };
    // The expansion's input values per output: its input channels × taps.
    let (ci, mid, taps) = (
        E::IN_CHANNELS * E::KERNEL.volume(),
        E::OUT_CHANNELS,
        D::KERNEL.volume(),
    );
    for c0 in (0..mid).step_by(n) {
        for j in 0..n {
            for c in 0..ci {
                pe[c0 * ci + c * n + j] = we[(c0 + j) * ci + c];
            }
            for t in 0..taps {
                pd[c0 * taps + t * n + j] = wd[(c0 + j) * taps + t];
            }
        }
    }
    true
}

/// How `x86::expand_depthwise` walks a layer and the depthwise layer over its output: padded
/// rows of `padded_w` points, bands of `band` output rows; the first layer read point by point
/// (`pointwise`: 1×1, stride 1) or window by window, each tap in place.
pub(super) struct ExpandDepthwise {
    padded_w: usize,
    band: usize,
    pointwise: bool,
}

impl ExpandDepthwise {
    /// The walk of the pair `E`, `D` at a level of `lanes` lanes, if the kernel takes it: `E`
    /// a layer without groups over a plane, of a multiple of 16 output channels, either 1×1
    /// of stride 1 without padding and at most 512 input channels, or (a first layer, the
    /// bounds the patch panels set, which read the pair's input before it was read in place)
    /// of at most 256 input values per output, stride 1 or 2 along the width, dilation 1; `D` a depthwise layer (a channel multiplier of one) over `E`'s
    /// output, a window of at most 5 × 5, stride 1 or 2, dilation 1; both with activations
    /// the kernels apply in registers; and a band of at least one output row whose padded rows
    /// fit the buffer. (The macro pairs the layers by the same rules, `plan::expands` and
    /// `plan::is_depthwise_of`.)
    pub(super) const fn of<E: ConvSpec, D: ConvSpec>(lanes: usize) -> Option<ExpandDepthwise> {
        let one = Extent { d: 1, h: 1, w: 1 };
        let zero = Extent { d: 0, h: 0, w: 0 };
        let (mid, k, s, p) = (E::OUT_CHANNELS, D::KERNEL, D::STRIDE, D::PADDING);
        let (i, o) = (D::INPUT, D::OUTPUT);
        let pointwise = same(E::KERNEL, one)
            && same(E::STRIDE, one)
            && same(E::PADDING, zero)
            && same(E::INPUT, E::OUTPUT)
            && E::IN_CHANNELS * 16 <= x86_sizes::EXPAND_WEIGHTS;
        let patches = E::IN_CHANNELS * E::KERNEL.volume() <= PATCH_ROWS
            && E::KERNEL.w <= 16
            && E::STRIDE.d == 1
            && E::STRIDE.w <= 2
            && same(E::DILATION, one);
        let takes = E::GROUPS == 1
            && (pointwise || patches)
            && E::INPUT.d == 1
            && E::KERNEL.d == 1
            && mid.is_multiple_of(16)
            && D::IN_CHANNELS == mid
            && D::OUT_CHANNELS == mid
            && D::GROUPS == mid
            && same(D::INPUT, E::OUTPUT)
            && k.d == 1
            && k.h <= 5
            && k.w <= 5
            && s.d == 1
            && (s.h == 1 || s.h == 2)
            && (s.w == 1 || s.w == 2)
            && same(D::DILATION, one)
            && p.d == 0
            && p.h < k.h
            && p.w < k.w
            && in_registers(E::ACTIVATION)
            && in_registers(D::ACTIVATION);
        if !takes {
            return None;
        }
        let right = (o.w - 1) * s.w + k.w;
        let padded_w = if right > p.w + i.w { right } else { p.w + i.w };
        let row = padded_w * lanes;
        let rows = x86_sizes::EXPANDED_BAND / row;
        if rows < k.h {
            return None;
        }
        // Bands of at most the plane's rows, so that a small plane zeroes only its own.
        let band = (rows - k.h) / s.h + 1;
        Some(ExpandDepthwise {
            padded_w,
            band: if band < o.h { band } else { o.h },
            pointwise,
        })
    }
}

/// Whether the SIMD kernels apply activation `a` in registers (the piecewise-linear ones).
const fn in_registers(a: Activation) -> bool {
    matches!(
        a,
        Activation::Identity | Activation::Relu | Activation::Relu6 | Activation::LeakyRelu(_)
    )
}

/// Whether two extents are equal (`==` is not `const`).
const fn same(a: Extent, b: Extent) -> bool {
    a.d == b.d && a.h == b.h && a.w == b.w
}

/// The buffer sizes of the x86 kernels that the rules here depend on.
mod x86_sizes {
    /// Floats of `x86::expand_depthwise`'s band of expanded rows.
    pub(super) const EXPANDED_BAND: usize = 1 << 14;
    /// Floats of `x86::expand_depthwise`'s expansion weights of one vector of channels.
    pub(super) const EXPAND_WEIGHTS: usize = 1 << 13;
}

/// Independent chains of fused multiply-adds in registers, as many as keep both FMA units
/// busy: the machine's peak, against which the kernels' FLOP/s are read.
pub const FMA_CHAINS: usize = 12;

/// Runs `rounds` rounds of [`FMA_CHAINS`] independent vector chains `a = a * m + c` at `level`
/// (chain `i`'s lanes start at `i`), touching no memory; returns the sum of the final lanes and
/// the FLOPs done (two per lane per multiply-add), or `None` if `level` has no vector FMA here.
/// Timed by the `peak` benchmark: its FLOP/s is the ceiling for every kernel.
pub fn fma_peak(level: Level, rounds: usize, m: f32, c: f32) -> Option<(f32, u64)> {
    if level > self::level() {
        return None;
    }
    let (sum, lanes) = match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the processor has AVX-512F (`level <= self::level()`); nothing is read.
        Level::Avx512 => (unsafe { x86::fma_chains_avx512(rounds, m, c) }, 16),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, with AVX2 and FMA.
        Level::Avx2 => (unsafe { x86::fma_chains_avx2(rounds, m, c) }, 8),
        _ => return None,
    };
    Some((sum, 2 * (rounds * FMA_CHAINS * lanes) as u64))
}

/// Whether a layer takes the Winograd kernel (F(2×2, 3×3): each 2×2 block of outputs from a
/// 4×4 block of inputs, in 16 multiply-adds per pair of channels where the window takes 36):
/// a 3×3 window of stride and dilation 1 over a plane, no groups, at least 16 input and 16
/// output channels, at least 16 blocks of outputs (a 7×7 plane), so that a vector of blocks is
/// full, and rows of at most 1024 outputs (its input lines' buffer). Its transformed weights,
/// 16/9 of the direct layer's, each serve the blocks of the plane once: where there are fewer
/// than 64 blocks (a 16×16 plane) they must fit [`WINOGRAD_WEIGHTS`], else streaming them in
/// costs more than the multiply-adds saved (on Zen 5, in ResNet-50, its 14×14 layers of 256
/// channels ran in 1.79 ms against 1.16 in the channel tile, its 7×7 ones of 512 in 3.04 ms
/// against 1.40; CIFAR ResNet-20's 8×8 layers of 64 channels, 256 KiB of weights, ran faster
/// with it). Sizes as in [`ConvSpec`].
pub(super) const fn winograd(
    in_channels: usize,
    out_channels: usize,
    groups: usize,
    sizes: [Extent; 3],
    steps: [Extent; 3],
) -> bool {
    let [_, output, _] = sizes;
    winograd_shape(in_channels, out_channels, groups, sizes, steps)
        && output.h.div_ceil(2) * output.w.div_ceil(2) >= 16
        && (output.h.div_ceil(2) * output.w.div_ceil(2) >= 64
            || WinogradChannels::of(in_channels, out_channels, sizes, steps, 16).is_some()
            || 16 * in_channels * out_channels <= WINOGRAD_WEIGHTS)
        && output.w <= 1024
}

/// A 3×3 window of stride and dilation 1 over a plane, no groups, at least 16 input and 16
/// output channels: the layers Winograd's F(2×2, 3×3) computes (see [`winograd`]).
const fn winograd_shape(
    in_channels: usize,
    out_channels: usize,
    groups: usize,
    [input, output, kernel]: [Extent; 3],
    [stride, _, dilation]: [Extent; 3],
) -> bool {
    groups == 1
        && kernel.d == 1
        && kernel.h == 3
        && kernel.w == 3
        && input.d == 1
        && output.d == 1
        && stride.volume() == 1
        && dilation.volume() == 1
        && in_channels >= 16
        && out_channels >= 16
}

/// How the Winograd kernel with the output channels in lanes (`x86::winograd_channels`) walks
/// a layer: `down × across` 2×2 blocks of outputs, `blocks` in all; padded input rows of `row`
/// floats, even (the blocks' columns and the input's); register tiles of `tile` blocks; the sums
/// kept in the output planes where they fit there.
pub(super) struct WinogradChannels {
    down: usize,
    across: usize,
    blocks: usize,
    row: usize,
    tile: usize,
    sums_in_output: bool,
}

impl WinogradChannels {
    /// The walk of a layer Winograd's F(2×2, 3×3) computes ([`winograd_shape`]) at a level
    /// of `lanes` lanes, if the kernel takes it: fewer than 64 blocks (below a 16×16 plane,
    /// where a vector of blocks in lanes leaves lanes idle and each weight serves few blocks)
    /// and transformed weights over 1 MiB ([`WINOGRAD_WEIGHTS`]; below, the blocks in lanes
    /// ran faster: on Zen 4, CIFAR ResNet-20's 8×8 layers of 64 channels in 26 µs against 40),
    /// output channels in whole groups of 16, and its padded rows, one point's transformed
    /// inputs and (for planes of an odd size) the sums within the stack buffer. On Zen 4,
    /// ResNet-50's 3×3 layers of 256 channels on 14×14 ran in 1.09-1.15 ms against 2.09-2.15
    /// in the channel tile, its 7×7 ones of 512 in 1.64-1.84 ms against 2.21-2.49.
    pub(super) const fn of(
        in_channels: usize,
        out_channels: usize,
        sizes: [Extent; 3],
        steps: [Extent; 3],
        lanes: usize,
    ) -> Option<WinogradChannels> {
        let [input, output, _] = sizes;
        let padding = steps[1];
        if !winograd_shape(in_channels, out_channels, 1, sizes, steps) {
            return None;
        }
        let (down, across) = (output.h.div_ceil(2), output.w.div_ceil(2));
        let blocks = down * across;
        let row = if 2 * across + 2 > padding.w + input.w {
            2 * across + 2
        } else {
            (padding.w + input.w).next_multiple_of(2)
        };
        let sums_in_output = output.h % 2 == 0 && output.w % 2 == 0;
        let floats = in_channels * down * row
            + in_channels * blocks
            + if sums_in_output {
                0
            } else {
                out_channels * blocks * 4
            };
        if blocks >= 64
            || 16 * in_channels * out_channels <= WINOGRAD_WEIGHTS
            || !out_channels.is_multiple_of(16)
            || floats > WINOGRAD_CHANNELS_BUFFER
        {
            return None;
        }
        // The wider tile where it wastes no more of its last tile's rows than the narrower.
        let (wide, narrow) = if lanes == 16 { (9, 7) } else { (6, 4) };
        let tile = if blocks.div_ceil(wide) * wide <= blocks.div_ceil(narrow) * narrow {
            wide
        } else {
            narrow
        };
        Some(WinogradChannels {
            down,
            across,
            blocks,
            row,
            tile,
            sums_in_output,
        })
    }
}

/// [`WinogradChannels::of`] the layer `S` at a level of `lanes` lanes.
const fn winograd_channels<S: ConvSpec>(lanes: usize) -> Option<WinogradChannels> {
    WinogradChannels::of(
        S::IN_CHANNELS / S::GROUPS,
        S::OUT_CHANNELS / S::GROUPS,
        [S::INPUT, S::OUTPUT, S::KERNEL],
        [S::STRIDE, S::PADDING, S::DILATION],
        lanes,
    )
}

/// Floats of the stack buffer of `x86::winograd_channels` (256 KiB), which bounds the layers it
/// takes.
pub(super) const WINOGRAD_CHANNELS_BUFFER: usize = 1 << 16;

/// Most transformed weights (floats) of a Winograd layer of fewer than 64 blocks: 1 MiB, a
/// level-2 cache (ResNet-50's 128 channels).
const WINOGRAD_WEIGHTS: usize = 1 << 18;

/// Floats of a layer's packed weights (see [`ConvSpec::PACKED_LEN`]).
pub(crate) const fn packed_len(
    in_channels: usize,
    out_channels: usize,
    groups: usize,
    sizes: [Extent; 3],
    steps: [Extent; 3],
) -> usize {
    if winograd(in_channels, out_channels, groups, sizes, steps) {
        16 * in_channels * out_channels
    } else {
        out_channels * (in_channels / groups) * sizes[2].volume()
    }
}

/// Output channels in the widest register tile at `level`.
pub(super) const fn tile_most(level: Level) -> usize {
    match level {
        Level::Avx512 => 8,
        Level::Avx2 => 4,
        Level::Portable => 1,
    }
}

/// The output channels of the next register tile, `left` channels of the group remaining and
/// at most `most` in a tile: the widest of `most`, 8, 4 and 1 that fits.
#[inline(always)]
pub(super) const fn tile_width(most: usize, left: usize) -> usize {
    if left >= most {
        most
    } else if left >= 8 {
        8
    } else if left >= 4 {
        4
    } else {
        1
    }
}

/// Packs the weights of a tile of `mr` output channels, input channels `c0..c1`, as the
/// kernels read them: `out[((cl - c0) * taps + tap) * mr + j] = w[(j * in_per_group + cl) *
/// taps + tap]`, `w` starting at the tile's first channel.
#[inline(always)]
pub(super) fn pack_tile(
    w: &[f32],
    out: &mut [f32],
    mr: usize,
    in_per_group: usize,
    taps: usize,
    (c0, c1): (usize, usize),
) {
    pack_by(w, out, mr, in_per_group, taps, (c0, c1), |cl, tap| {
        cl * taps + tap
    });
}

/// Packs `mr` output channels' weights for input channels `c0..c1`, channel after channel:
/// `out[at(cl - c0, tap) * mr + j] = w[(j * in_per_group + cl) * taps + tap]`, where `at`
/// orders the chunk's (input channel, tap) pairs.
#[inline(always)]
fn pack_by(
    w: &[f32],
    out: &mut [f32],
    mr: usize,
    in_per_group: usize,
    taps: usize,
    (c0, c1): (usize, usize),
    at: impl Fn(usize, usize) -> usize,
) {
    let out = &mut out[..(c1 - c0) * taps * mr];
    for (j, row) in w.chunks_exact(in_per_group * taps).take(mr).enumerate() {
        for (cl, from) in row[c0 * taps..c1 * taps].chunks_exact(taps).enumerate() {
            for (tap, &v) in from.iter().enumerate() {
                out[at(cl, tap) * mr + j] = v;
            }
        }
    }
}

/// Lanes of a vector and vectors of output channels in a channel tile at `level` (see
/// `x86::channels`), if it has one: the kernels' own constants, so that packing and kernel
/// agree.
const fn channel_tile(level: Level) -> Option<(usize, usize)> {
    #[cfg(target_arch = "x86_64")]
    {
        use x86::Lanes;
        match level {
            Level::Avx512 => return Some((x86::Zmm::N, x86::Zmm::CNV)),
            Level::Avx2 => return Some((x86::Ymm::N, x86::Ymm::CNV)),
            Level::Portable => {}
        }
    }
    let _ = level;
    None
}

/// The output channels of the next block of a channel tile, `left` of the group remaining:
/// `vectors` whole vectors of `lanes` where they fit, then as many whole vectors as are left,
/// then the rest (fewer than a vector).
#[inline(always)]
pub(super) const fn channel_block(left: usize, lanes: usize, vectors: usize) -> usize {
    if left >= vectors * lanes {
        vectors * lanes
    } else if left >= lanes {
        left / lanes * lanes
    } else {
        left
    }
}

/// Packs the weights of a channel tile's block of `nb` output channels, input channels
/// `c0..c1`, tap after tap: `out[(tap * (c1 - c0) + cl - c0) * nb + j] = w[(j * in_per_group +
/// cl) * taps + tap]`, `w` starting at the block's first channel. A tap's pass over the input
/// channels then reads its weights in order.
#[inline(always)]
pub(super) fn pack_block(
    w: &[f32],
    out: &mut [f32],
    nb: usize,
    in_per_group: usize,
    taps: usize,
    (c0, c1): (usize, usize),
) {
    let n = c1 - c0;
    pack_by(w, out, nb, in_per_group, taps, (c0, c1), |cl, tap| {
        tap * n + cl
    });
}

/// The weights of the layer `S`, each register tile packed (see [`pack_tile`]) for `level`
/// into the range its channels' weights take.
pub(super) fn pack<S: ConvSpec>(level: Level, weight: &[f32], out: &mut [f32]) {
    let (ipg, opg, taps) = (
        S::IN_CHANNELS / S::GROUPS,
        S::OUT_CHANNELS / S::GROUPS,
        S::KERNEL.volume(),
    );
    let most = tile_most(level);
    if Geometry::of::<S>().winograd {
        match channel_tile(level).filter(|&(lanes, _)| winograd_channels::<S>(lanes).is_some()) {
            Some(tile) => pack_winograd_channels(weight, out, tile, ipg, opg),
            None => pack_winograd(weight, out, most, ipg, opg),
        }
        return;
    }
    let blocks = channel_tile(level).filter(|&(lanes, _)| Geometry::of::<S>().by_channels(lanes));
    for group in 0..S::GROUPS {
        let mut co = 0;
        while co < opg {
            let base = (group * opg + co) * ipg * taps;
            let (w, o) = (&weight[base..], &mut out[base..]);
            co += match blocks {
                Some((lanes, vectors)) => {
                    let nb = channel_block(opg - co, lanes, vectors);
                    pack_block(w, o, nb, ipg, taps, (0, ipg));
                    nb
                }
                None => {
                    let mr = tile_width(most, opg - co);
                    pack_tile(w, o, mr, ipg, taps, (0, ipg));
                    mr
                }
            };
        }
    }
}

/// The weights of a layer the Winograd kernel takes, transformed (`u = G w Gᵀ` for each pair of
/// channels, `G` the 4 × 3 matrix of F(2, 3)) and packed for its tiles of output channels: the
/// tile of `mr` channels from channel `first` takes `out[16 first ipg..]`, ordered `[point of
/// the 4×4 transform][input channel][output channel]`, so that each point's pass over the input
/// channels reads its weights in order.
fn pack_winograd(w: &[f32], out: &mut [f32], most: usize, ipg: usize, opg: usize) {
    let mut first = 0;
    while first < opg {
        let mr = tile_width(most, opg - first);
        pack_winograd_block(w, out, first, mr, ipg);
        first += mr;
    }
}

/// The weights of a layer the Winograd kernel with the output channels in lanes takes
/// (`x86::winograd_channels`), transformed as for [`pack_winograd`] and packed for its blocks
/// of output channels (those of the channel tile, `vectors` vectors of `lanes`): the block of
/// `nb` channels from channel `first` takes `out[16 first ipg..]`, ordered `[point][input
/// channel][output channel]`.
fn pack_winograd_channels(
    w: &[f32],
    out: &mut [f32],
    (lanes, vectors): (usize, usize),
    ipg: usize,
    opg: usize,
) {
    let mut first = 0;
    while first < opg {
        let nb = channel_block(opg - first, lanes, vectors);
        pack_winograd_block(w, out, first, nb, ipg);
        first += nb;
    }
}

/// Output channels `first..first + n`'s weights transformed (`u = G w Gᵀ` for each pair of
/// channels) into `out[16 first ipg..16 (first + n) ipg]`, ordered `[point of the 4×4
/// transform][input channel][output channel]`.
fn pack_winograd_block(w: &[f32], out: &mut [f32], first: usize, n: usize, ipg: usize) {
    let tile = &mut out[16 * first * ipg..16 * (first + n) * ipg];
    for j in 0..n {
        for ci in 0..ipg {
            let g = &w[((first + j) * ipg + ci) * 9..][..9];
            // `G g` (4 × 3), then `(G g) Gᵀ` (4 × 4).
            let rows = |k: usize| {
                let (a, b, c) = (g[k], g[3 + k], g[6 + k]);
                [a, (a + b + c) * 0.5, (a - b + c) * 0.5, c]
            };
            let cols = [rows(0), rows(1), rows(2)];
            for r in 0..4 {
                let (a, b, c) = (cols[0][r], cols[1][r], cols[2][r]);
                let u = [a, (a + b + c) * 0.5, (a - b + c) * 0.5, c];
                for (s, &v) in u.iter().enumerate() {
                    tile[((4 * r + s) * ipg + ci) * n + j] = v;
                }
            }
        }
    }
}

/// A convolution's sizes as the SIMD kernels walk them: rows of `out_w` outputs reading rows of
/// `in_w` inputs. The kernels are shared by every layer (compiled once, in this crate), generic
/// only in their register tile and kernel width; the rest of the sizes come from here.
#[derive(Clone, Copy)]
pub(super) struct Geometry {
    groups: usize,
    in_per_group: usize,
    out_per_group: usize,
    in_plane: usize,
    out_plane: usize,
    in_d: usize,
    in_h: usize,
    in_w: usize,
    /// Output rows along depth and height (1 and 1 for a flattened 1×1 convolution).
    rows_d: usize,
    rows_h: usize,
    out_w: usize,
    /// Stride and dilation 1, output as large as the input, one plane deep, a window of at
    /// most 8 × 8: tap `(kh, kw)` of output point `f` of the flattened plane reads input point
    /// `f + (kh - p.h) in_w + kw - p.w`, so tiles may span rows (masking what falls outside).
    same: bool,
    /// A 1×1 layer of stride 1 without padding, flattened to one row: output point `f` of a
    /// plane reads input point `f`.
    flat: bool,
    /// A 1×1 layer of a larger stride without padding, one plane deep: where its weights come
    /// packed, it takes the flattened layer's tiles over panels gathered from every stride-th
    /// input point (ResNet shortcuts; on Zen 4, ResNet-50's of 56×56 and 28×28 ran in 2.07-2.15
    /// ms against 2.65-3.16 in row tiles, ResNet-20's of 16×16 in 4.5 µs against 7.2).
    gather: bool,
    /// The layer takes the Winograd kernel where its weights come packed (see [`winograd`]).
    winograd: bool,
    /// A layer of a window larger than one point, few input values per output (at most
    /// `PATCH_ROWS`, from at most 16 input channels) and 32 output channels or more per group,
    /// one plane deep: where its weights come packed, each tile of points has its patches
    /// copied into a panel, which the flattened 1×1 layer's tiles multiply (`x86::patches`).
    /// The copy pays where enough output channels share it: on Zen 5, ResNet's stem (3 → 64,
    /// 7×7, stride 2) ran in 1.30 ms against 1.63-1.72 in row tiles; MobileNetV2's (3 → 16,
    /// 3×3, stride 2) even; the CIFAR ResNets' (3 → 16, 3×3) in 9.3 µs against 6.6, LeNet-5's
    /// second layer (6 → 16, 5×5) in 6.2 against 4.6.
    patches: bool,
    /// Output columns `lo..hi` whose taps all read inside the input row.
    lo: usize,
    hi: usize,
    kernel: Extent,
    stride: Extent,
    padding: Extent,
    dilation: Extent,
}

impl Geometry {
    fn of<S: ConvSpec>() -> Geometry {
        let (i, o, k, p) = (S::INPUT, S::OUTPUT, S::KERNEL, S::PADDING);
        let in_plane = i.volume();
        let out_plane = o.volume();
        let mut g = Geometry {
            groups: S::GROUPS,
            in_per_group: S::IN_CHANNELS / S::GROUPS,
            out_per_group: S::OUT_CHANNELS / S::GROUPS,
            in_plane,
            out_plane,
            in_d: i.d,
            in_h: i.h,
            in_w: i.w,
            rows_d: o.d,
            rows_h: o.h,
            out_w: o.w,
            lo: 0,
            hi: 0,
            same: false,
            flat: false,
            gather: false,
            patches: false,
            winograd: winograd(
                S::IN_CHANNELS,
                S::OUT_CHANNELS,
                S::GROUPS,
                [i, o, k],
                [S::STRIDE, p, S::DILATION],
            ),
            kernel: k,
            stride: S::STRIDE,
            padding: p,
            dilation: S::DILATION,
        };
        let flat =
            k.volume() == 1 && p.d + p.h + p.w == 0 && S::STRIDE.d * S::STRIDE.h * S::STRIDE.w == 1;
        if flat {
            // One row over the whole plane.
            let one = Extent { d: 1, h: 1, w: 1 };
            (g.in_d, g.in_h, g.in_w, g.rows_d, g.rows_h, g.out_w) =
                (1, 1, in_plane, 1, 1, out_plane);
            (g.stride, g.dilation) = (one, one);
            g.hi = out_plane;
            g.flat = true;
            return g;
        }
        g.gather = k.volume() == 1 && p.d + p.h + p.w == 0 && i.d == 1;
        g.patches = k.volume() > 1
            && k.d == 1
            && i.d == 1
            && g.in_per_group <= 16
            && g.in_per_group * k.volume() <= PATCH_ROWS
            && k.w <= 16
            && g.out_per_group >= 32
            && !g.winograd;
        let one = |e: Extent| e.d * e.h * e.w == 1;
        g.same = one(S::STRIDE)
            && one(S::DILATION)
            && i == o
            && i.d == 1
            && k.d == 1
            && k.h <= 8
            && k.w <= 8;
        // Tap kw of output ow reads column ow * s + kw - p.w: inside for every tap from
        // ceil(p.w / s) to (i.w + p.w - k.w) / s.
        let s = S::STRIDE.w;
        g.lo = p.w.div_ceil(s).min(o.w);
        g.hi = if i.w + p.w >= k.w {
            ((i.w + p.w - k.w) / s + 1).clamp(g.lo, o.w)
        } else {
            g.lo
        };
        g
    }

    /// Whether the layer takes the channel tile (output channels in lanes, see
    /// `x86::channels`) at a level of `lanes` lanes: an output plane of fewer than four vectors
    /// of points (7×7 at AVX-512, where the row tiles leave a third of the lanes idle and the
    /// channel tile runs 15-20% faster), or of at most 14×14 points with 64 output channels or
    /// more per group (on Zen 5, in ResNet-50, the 14×14 layers ran in 0.52-0.59 ms against
    /// 0.63-0.66 in the flattened 1×1 tiles and 1.16 against 1.40 ms in row tiles, at both
    /// levels; its 28×28 ones ran even or slower), or a window larger than one point at a
    /// stride above 1, whatever the plane (the row tiles' strided loads cost a permutation
    /// each; on Zen 4, ResNet-20's two 3×3 layers of stride 2 ran in 30 and 29 µs in the
    /// channel tile against 42 and 48 µs in row tiles, ResNet-50's 28×28 and 14×14 ones in 1.12
    /// and 2.19 ms against 1.52 and 2.59), in two dimensions, at least a vector of output
    /// channels per group, at least 128 input values per output, and a window of at most 5 × 5
    /// (so that a chunk of one input channel's weights fits the packing buffer). MobileNetV2
    /// (width 0.5, 96×96) ran 5-8% faster with its 6×6 and 3×3 layers of 128 to 511 input
    /// values in the channel tile (Zen 4, tiles of 9 points) than without; 64 measured no
    /// faster than 128. (On a Xeon, with tiles of 8 points, the same layers had run 7-11%
    /// slower, and the bound was 512.) And windows over rows that leave lanes idle (see
    /// [`Geometry::rows_idle`]).
    /// Whether a window larger than a point over rows that leave more lanes of the row tiles
    /// idle than the channel tile leaves of its vectors of output channels (a layer whose output
    /// is the input's size runs over the flattened plane instead, with no lanes idle; a first
    /// layer of 32 output channels or more takes the patch panels): LeNet-5's second layer,
    /// rows of 10 in vectors of 16 and 16 output channels, ran in 5.8-6.4 µs in the channel
    /// tile against 7.2-7.8 in row tiles on Zen 4 (8.3 against 11.7-12.5 µs at AVX2).
    fn rows_idle(&self, lanes: usize) -> bool {
        let row_lanes = self.out_w.div_ceil(lanes) * lanes;
        let channel_lanes = self.out_per_group.div_ceil(lanes) * lanes;
        self.kernel.volume() > 1
            && !self.same
            && !self.patches
            && self.out_per_group * row_lanes > self.out_w * channel_lanes
    }

    pub(super) fn by_channels(&self, lanes: usize) -> bool {
        self.in_d == 1
            && self.in_per_group * self.kernel.volume() >= 128
            && self.rows_d == 1
            && self.kernel.d == 1
            && self.kernel.volume() <= 25
            && self.out_per_group >= lanes
            && (self.out_plane < 4 * lanes
                || (self.out_plane <= 14 * 14 && self.out_per_group >= 64)
                || (self.stride.h * self.stride.w > 1 && self.kernel.volume() > 1)
                || self.rows_idle(lanes))
    }
}

#[cfg(target_arch = "x86_64")]
mod x86;
#[cfg(target_arch = "x86_64")]
use x86::PATCH_ROWS;
#[cfg(not(target_arch = "x86_64"))]
const PATCH_ROWS: usize = 0;

#[cfg(test)]
mod tests;
