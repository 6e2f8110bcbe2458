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

use super::Extent;
use super::conv::ConvSpec;

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

/// The fastest level this processor runs, detected once (with `std`; without it, the level the
/// code was compiled for). The `portable` feature forces [`Level::Portable`], so that a build can
/// test the portable code on any machine.
pub fn level() -> Level {
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
    if cfg!(feature = "portable") {
        return Level::Portable;
    }
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

/// Accumulates the convolution into `output` (already holding the bias) at `level`, if `level`
/// runs here and the layer's width axis has stride 1 and dilation 1; returns whether it did.
pub(super) fn conv_accumulate<S: ConvSpec>(
    level: Level,
    input: &[f32],
    weight: &[f32],
    output: &mut [f32],
) -> bool {
    if S::STRIDE.w > 2 || S::DILATION.w != 1 || level > self::level() {
        return false;
    }
    let g = Geometry::of::<S>();
    match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `level <= self::level()`, so the processor has AVX-512F; `conv_at` checked that
        // the slices hold the shapes of `S`, which `g` describes and which is all the kernel
        // reads and writes.
        Level::Avx512 => unsafe { x86::conv_avx512(&g, input, weight, output) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, with AVX2 and FMA.
        Level::Avx2 => unsafe { x86::conv_avx2(&g, input, weight, output) },
        _ => return false,
    }
    true
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
            kernel: k,
            stride: S::STRIDE,
            padding: p,
            dilation: S::DILATION,
        };
        let flat = k.volume() == 1 && p.d + p.h + p.w == 0 && S::STRIDE.d * S::STRIDE.h == 1;
        if flat {
            // One row over the whole plane.
            let one = Extent { d: 1, h: 1, w: 1 };
            (g.in_d, g.in_h, g.in_w, g.rows_d, g.rows_h, g.out_w) =
                (1, 1, in_plane, 1, 1, out_plane);
            (g.stride, g.dilation) = (one, one);
            g.hi = out_plane;
            return g;
        }
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
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    use super::Geometry;

    /// A vector of `N` lanes. Every method is `unsafe`: the caller's function enables the
    /// instruction set, and pointers are valid for the lanes used.
    pub(super) trait Lanes: Copy {
        /// Lanes in a vector.
        const N: usize;
        /// Output channels in a register tile (the accumulators must fit the register file).
        const MR: usize;
        /// The first `n` lanes from `p` (`n <= N`), the rest zero; reads only those `n`.
        unsafe fn load(p: *const f32, n: usize) -> Self;
        /// Lanes `a..b` from `p` (`a <= b <= N`), the rest zero; reads only those, so `p` itself
        /// may point outside the buffer when `a > 0`.
        unsafe fn load_range(p: *const f32, a: usize, b: usize) -> Self;
        /// Lanes `a..b` of the even elements from `p` (lane `l` is `p[2 l]`), the rest zero; reads
        /// only elements `2a..2b - 1`, so `p` may point outside the buffer when `a > 0`.
        unsafe fn load_even(p: *const f32, a: usize, b: usize) -> Self;
        /// Writes the first `n` lanes to `p`; writes only those `n`.
        unsafe fn store(self, p: *mut f32, n: usize);
        unsafe fn splat(x: f32) -> Self;
        /// `self * b + c`, fused.
        unsafe fn fma(self, b: Self, c: Self) -> Self;
    }

    #[derive(Clone, Copy)]
    pub(super) struct Zmm(__m512);

    impl Lanes for Zmm {
        const N: usize = 16;
        const MR: usize = 8;
        #[inline(always)]
        unsafe fn load(p: *const f32, n: usize) -> Self {
            // SAFETY: the caller enables AVX-512F and makes the `n` lanes at `p` readable; the
            // masked load reads no others.
            unsafe {
                if n == 16 {
                    Zmm(_mm512_loadu_ps(p))
                } else {
                    Zmm(_mm512_maskz_loadu_ps(((1u32 << n) - 1) as __mmask16, p))
                }
            }
        }
        #[inline(always)]
        unsafe fn load_range(p: *const f32, a: usize, b: usize) -> Self {
            let mask = (((1u32 << b) - 1) & !((1u32 << a) - 1)) as __mmask16;
            // SAFETY: the caller enables AVX-512F and makes lanes `a..b` at `p` readable; a
            // masked-off lane is neither read nor able to fault.
            unsafe { Zmm(_mm512_maskz_loadu_ps(mask, p)) }
        }
        #[inline(always)]
        unsafe fn load_even(p: *const f32, a: usize, b: usize) -> Self {
            // Elements 2a..2b - 1 span two vectors: 0..16 and 16..32.
            let (lo, hi) = (2 * a, (2 * b).saturating_sub(1).max(2 * a));
            // SAFETY: the caller enables AVX-512F and makes elements `lo..hi` at `p` readable;
            // each masked load reads only its part of them.
            unsafe {
                let first = Self::load_range(p, lo.min(16), hi.min(16));
                let second = Self::load_range(
                    p.wrapping_add(16),
                    lo.saturating_sub(16),
                    hi.saturating_sub(16),
                );
                let even =
                    _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                Zmm(_mm512_permutex2var_ps(first.0, even, second.0))
            }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32, n: usize) {
            // SAFETY: as for `load`, writing.
            unsafe {
                if n == 16 {
                    _mm512_storeu_ps(p, self.0)
                } else {
                    _mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as __mmask16, self.0)
                }
            }
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            // SAFETY: the caller enables AVX-512F.
            unsafe { Zmm(_mm512_set1_ps(x)) }
        }
        #[inline(always)]
        unsafe fn fma(self, b: Self, c: Self) -> Self {
            // SAFETY: the caller enables AVX-512F.
            unsafe { Zmm(_mm512_fmadd_ps(self.0, b.0, c.0)) }
        }
    }

    #[derive(Clone, Copy)]
    pub(super) struct Ymm(__m256);

    impl Ymm {
        /// All ones in the first `n` lanes.
        #[inline(always)]
        unsafe fn mask(n: usize) -> __m256i {
            // SAFETY: the caller enables AVX2.
            unsafe {
                _mm256_cmpgt_epi32(
                    _mm256_set1_epi32(n as i32),
                    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                )
            }
        }

        /// All ones in lanes `a..b`.
        #[inline(always)]
        unsafe fn mask_range(a: usize, b: usize) -> __m256i {
            // SAFETY: the caller enables AVX2.
            unsafe {
                let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                _mm256_and_si256(
                    _mm256_cmpgt_epi32(_mm256_set1_epi32(b as i32), lane),
                    _mm256_cmpgt_epi32(lane, _mm256_set1_epi32(a as i32 - 1)),
                )
            }
        }
    }

    impl Lanes for Ymm {
        const N: usize = 8;
        const MR: usize = 4;
        #[inline(always)]
        unsafe fn load(p: *const f32, n: usize) -> Self {
            // SAFETY: the caller enables AVX2 and makes the `n` lanes at `p` readable; the masked
            // load reads no others.
            unsafe {
                if n == 8 {
                    Ymm(_mm256_loadu_ps(p))
                } else {
                    Ymm(_mm256_maskload_ps(p, Self::mask(n)))
                }
            }
        }
        #[inline(always)]
        unsafe fn load_range(p: *const f32, a: usize, b: usize) -> Self {
            // SAFETY: the caller enables AVX2 and makes lanes `a..b` at `p` readable; a masked-off
            // lane is neither read nor able to fault.
            unsafe { Ymm(_mm256_maskload_ps(p, Self::mask_range(a, b))) }
        }
        #[inline(always)]
        unsafe fn load_even(p: *const f32, a: usize, b: usize) -> Self {
            let (lo, hi) = (2 * a, (2 * b).saturating_sub(1).max(2 * a));
            // SAFETY: the caller enables AVX2 and makes elements `lo..hi` at `p` readable; each
            // masked load reads only its part of them.
            unsafe {
                let first = Self::load_range(p, lo.min(8), hi.min(8));
                let second = Self::load_range(
                    p.wrapping_add(8),
                    lo.saturating_sub(8),
                    hi.saturating_sub(8),
                );
                // [f0 f2 s0 s2 | f4 f6 s4 s6], then the 64-bit pairs reordered to f.. s...
                let mixed = _mm256_shuffle_ps::<0b10_00_10_00>(first.0, second.0);
                Ymm(_mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(
                    _mm256_castps_pd(mixed),
                )))
            }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32, n: usize) {
            // SAFETY: as for `load`, writing.
            unsafe {
                if n == 8 {
                    _mm256_storeu_ps(p, self.0)
                } else {
                    _mm256_maskstore_ps(p, Self::mask(n), self.0)
                }
            }
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            // SAFETY: the caller enables AVX.
            unsafe { Ymm(_mm256_set1_ps(x)) }
        }
        #[inline(always)]
        unsafe fn fma(self, b: Self, c: Self) -> Self {
            // SAFETY: the caller enables FMA.
            unsafe { Ymm(_mm256_fmadd_ps(self.0, b.0, c.0)) }
        }
    }

    /// # Safety
    /// The processor has AVX-512F; the slices hold the shapes `g` describes.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn conv_avx512(
        g: &Geometry,
        input: &[f32],
        weight: &[f32],
        output: &mut [f32],
    ) {
        // SAFETY: forwarded from the caller.
        unsafe { conv::<Zmm>(g, input, weight, output) }
    }

    /// # Safety
    /// The processor has AVX2 and FMA; the slices hold the shapes `g` describes.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn conv_avx2(
        g: &Geometry,
        input: &[f32],
        weight: &[f32],
        output: &mut [f32],
    ) {
        // SAFETY: forwarded from the caller.
        unsafe { conv::<Ymm>(g, input, weight, output) }
    }

    /// Tiles of `V::MR` output channels, then 4, then 1, over each group.
    #[inline(always)]
    unsafe fn conv<V: Lanes>(g: &Geometry, input: &[f32], weight: &[f32], output: &mut [f32]) {
        let taps = g.kernel.volume();
        for group in 0..g.groups {
            let mut co = 0;
            while co < g.out_per_group {
                let first = group * g.out_per_group + co;
                let x = &input[group * g.in_per_group * g.in_plane..];
                let w = &weight[first * g.in_per_group * taps..];
                let y = &mut output[first * g.out_plane..];
                let left = g.out_per_group - co;
                // SAFETY: the tile reads `in_per_group` input planes from `x`, the weights of its
                // channels from `w` and writes their planes in `y`, all inside the shapes of `g`.
                co += unsafe {
                    if left >= V::MR {
                        by_width::<V, 8>(g, x, w, y, V::MR)
                    } else if left >= 4 {
                        by_width::<V, 4>(g, x, w, y, 4)
                    } else {
                        by_width::<V, 1>(g, x, w, y, 1)
                    }
                };
            }
        }
    }

    /// The kernel widths of real networks get an unrolled tap loop, others a loop; stride 1 and
    /// 2 along the width each have their loads.
    #[inline(always)]
    unsafe fn by_width<V: Lanes, const MR: usize>(
        g: &Geometry,
        x: &[f32],
        w: &[f32],
        y: &mut [f32],
        mr: usize,
    ) -> usize {
        // SAFETY: forwarded from the caller.
        unsafe {
            match (g.stride.w, g.kernel.w) {
                (1, 1) => channels::<V, MR, 1, 1>(g, x, w, y, mr),
                (1, 3) => channels::<V, MR, 3, 1>(g, x, w, y, mr),
                (1, 5) => channels::<V, MR, 5, 1>(g, x, w, y, mr),
                (1, 7) => channels::<V, MR, 7, 1>(g, x, w, y, mr),
                (1, _) => channels::<V, MR, 0, 1>(g, x, w, y, mr),
                (_, 1) => channels::<V, MR, 1, 2>(g, x, w, y, mr),
                (_, 3) => channels::<V, MR, 3, 2>(g, x, w, y, mr),
                (_, 7) => channels::<V, MR, 7, 2>(g, x, w, y, mr),
                (_, _) => channels::<V, MR, 0, 2>(g, x, w, y, mr),
            }
        }
    }

    /// Every output row of `mr <= MR` channels (`MR` bounds the accumulator array); returns
    /// `mr`. `KW` is the kernel width, or 0 for "as `g` says". Tiles inside the interior load
    /// whole vectors; the others mask the lanes that would read padding.
    #[inline(always)]
    unsafe fn channels<V: Lanes, const MR: usize, const KW: usize, const SW: usize>(
        g: &Geometry,
        x: &[f32],
        w: &[f32],
        y: &mut [f32],
        mr: usize,
    ) -> usize {
        debug_assert!(mr <= MR && (KW == 0 || KW == g.kernel.w));
        for od in 0..g.rows_d {
            for oh in 0..g.rows_h {
                let mut ow = 0;
                while ow < g.out_w {
                    let width = (2 * V::N).min(g.out_w - ow);
                    let inside = ow >= g.lo && ow + width <= g.hi;
                    // SAFETY: columns `ow..ow + width` are inside the row; `inside` says whether
                    // every tap of them reads inside the input row.
                    unsafe {
                        match (width > V::N, inside) {
                            (true, true) => row_tile::<V, MR, KW, SW, 2, false>(
                                g, x, w, y, mr, od, oh, ow, width,
                            ),
                            (true, false) => row_tile::<V, MR, KW, SW, 2, true>(
                                g, x, w, y, mr, od, oh, ow, width,
                            ),
                            (false, true) => row_tile::<V, MR, KW, SW, 1, false>(
                                g, x, w, y, mr, od, oh, ow, width,
                            ),
                            (false, false) => row_tile::<V, MR, KW, SW, 1, true>(
                                g, x, w, y, mr, od, oh, ow, width,
                            ),
                        }
                    }
                    ow += width;
                }
            }
        }
        mr
    }

    /// `MR` channels × `NV` vectors of output row `(od, oh)`, columns `ow..ow + width`
    /// (`width <= NV * N`; lanes past it are masked). With `EDGE`, input lanes outside the row
    /// (padding) are masked off too.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn row_tile<
        V: Lanes,
        const MR: usize,
        const KW: usize,
        const SW: usize,
        const NV: usize,
        const EDGE: bool,
    >(
        g: &Geometry,
        x: &[f32],
        w: &[f32],
        y: &mut [f32],
        mr: usize,
        od: usize,
        oh: usize,
        ow: usize,
        width: usize,
    ) {
        let (k, s, p, d) = (g.kernel, g.stride, g.padding, g.dilation);
        let kw_count = if KW == 0 { k.w } else { KW };
        let taps = k.volume();
        let w_stride = g.in_per_group * taps;
        let mut lanes = [0; NV];
        for (v, l) in lanes.iter_mut().enumerate() {
            *l = width.saturating_sub(v * V::N).min(V::N);
        }
        let row = (od * g.rows_h + oh) * g.out_w + ow;
        let yp = y.as_mut_ptr();
        // SAFETY (whole body): `row + lanes` stays inside an output plane and channel `j < mr` of
        // the tile has its plane at `j * out_plane`; input rows are checked to be inside; input
        // columns `ow - p.w + kw + lane` are inside the row for every lane read (interior tiles),
        // or the lanes outside are masked off (`EDGE`); a vector with no lanes reads and writes
        // nothing. Vector pointers are formed with wrapping arithmetic, as a masked or empty
        // vector's may leave the buffer;
        // weights at `j * w_stride + cl * taps + tap` are inside the tile's `mr * w_stride`.
        unsafe {
            let mut acc = [[V::splat(0.0); NV]; MR];
            for (j, a) in acc.iter_mut().enumerate().take(mr) {
                for (v, lane) in a.iter_mut().enumerate() {
                    *lane = V::load(yp.wrapping_add(j * g.out_plane + row + v * V::N), lanes[v]);
                }
            }
            let xp = x.as_ptr();
            let wp = w.as_ptr();
            for cl in 0..g.in_per_group {
                for kd in 0..k.d {
                    let xd = (od * s.d + kd * d.d) as isize - p.d as isize;
                    if xd < 0 || xd as usize >= g.in_d {
                        continue;
                    }
                    for kh in 0..k.h {
                        let xh = (oh * s.h + kh * d.h) as isize - p.h as isize;
                        if xh < 0 || xh as usize >= g.in_h {
                            continue;
                        }
                        let (xd, xh) = (xd as usize, xh as usize);
                        let x_row = xp.add(cl * g.in_plane + (xd * g.in_h + xh) * g.in_w);
                        let w_tap = wp.add(cl * taps + (kd * k.h + kh) * k.w);
                        for kw in 0..kw_count {
                            let mut xv = [V::splat(0.0); NV];
                            for (v, xv) in xv.iter_mut().enumerate() {
                                // Input column of lane 0 (lane l reads c0 + SW l); lanes a..b
                                // of this vector read inside the row.
                                let c0 = ((ow + v * V::N) * SW + kw) as isize - p.w as isize;
                                let n = lanes[v] as isize;
                                let step = SW as isize;
                                let (a, b) = if EDGE {
                                    let a = ((-c0).max(0) + step - 1).div_euclid(step).clamp(0, n);
                                    let b = (g.in_w as isize - c0 + step - 1)
                                        .div_euclid(step)
                                        .clamp(a, n);
                                    (a as usize, b as usize)
                                } else {
                                    (0, lanes[v])
                                };
                                let at = x_row.wrapping_offset(c0);
                                *xv = match (SW, EDGE) {
                                    (1, false) => V::load(at, b),
                                    (1, true) => V::load_range(at, a, b),
                                    _ => V::load_even(at, a, b),
                                };
                            }
                            for (j, a) in acc.iter_mut().enumerate().take(mr) {
                                let wj = V::splat(*w_tap.add(j * w_stride + kw));
                                for v in 0..NV {
                                    a[v] = wj.fma(xv[v], a[v]);
                                }
                            }
                        }
                    }
                }
            }
            for (j, a) in acc.iter().enumerate().take(mr) {
                for (v, lane) in a.iter().enumerate() {
                    lane.store(yp.wrapping_add(j * g.out_plane + row + v * V::N), lanes[v]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::vec::Vec;

    use super::{Level, conv_accumulate, level};
    use crate::Activation;
    use crate::kernels::{ConvSpec, Extent, conv_at};

    macro_rules! spec {
        ($name:ident: $ci:expr => $co:expr, groups $g:expr, in $i:expr, out $o:expr, kernel $k:expr, stride $s:expr, pad $p:expr, dil $d:expr) => {
            struct $name;
            impl ConvSpec for $name {
                const IN_CHANNELS: usize = $ci;
                const OUT_CHANNELS: usize = $co;
                const GROUPS: usize = $g;
                const INPUT: Extent = ext($i);
                const OUTPUT: Extent = ext($o);
                const KERNEL: Extent = ext($k);
                const STRIDE: Extent = ext($s);
                const PADDING: Extent = ext($p);
                const DILATION: Extent = ext($d);
                const ACTIVATION: Activation = Activation::Identity;
            }
        };
    }

    const fn ext(v: [usize; 3]) -> Extent {
        Extent {
            d: v[0],
            h: v[1],
            w: v[2],
        }
    }

    // Output sizes by PyTorch's formula, written out: (in + 2p - d(k - 1) - 1) / s + 1.
    spec!(Pointwise: 13 => 17, groups 1, in [1, 5, 7], out [1, 5, 7], kernel [1, 1, 1], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1]);
    spec!(PointwiseLong: 9 => 8, groups 1, in [1, 1, 1000], out [1, 1, 1000], kernel [1, 1, 1], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1]);
    spec!(Three: 5 => 9, groups 1, in [1, 17, 33], out [1, 17, 33], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(Wide: 3 => 8, groups 1, in [1, 6, 56], out [1, 6, 56], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(Five: 1 => 6, groups 1, in [1, 28, 28], out [1, 28, 28], kernel [1, 5, 5], stride [1, 1, 1], pad [0, 2, 2], dil [1, 1, 1]);
    spec!(NoPad: 6 => 16, groups 1, in [1, 14, 14], out [1, 10, 10], kernel [1, 5, 5], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1]);
    spec!(StrideH: 4 => 5, groups 1, in [1, 11, 15], out [1, 6, 15], kernel [1, 3, 3], stride [1, 2, 1], pad [0, 1, 1], dil [1, 2, 1]);
    spec!(Depthwise: 7 => 7, groups 7, in [1, 9, 16], out [1, 9, 16], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(Grouped: 6 => 12, groups 3, in [1, 4, 19], out [1, 4, 19], kernel [1, 3, 2], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(WideKernel: 2 => 3, groups 1, in [1, 3, 4], out [1, 3, 6], kernel [1, 3, 7], stride [1, 1, 1], pad [0, 1, 4], dil [1, 1, 1]);
    spec!(OneColumn: 3 => 4, groups 1, in [1, 5, 1], out [1, 5, 1], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(ThreeD: 2 => 9, groups 1, in [4, 5, 18], out [3, 5, 18], kernel [2, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(Conv1d: 3 => 4, groups 1, in [1, 1, 37], out [1, 1, 38], kernel [1, 1, 4], stride [1, 1, 1], pad [0, 0, 2], dil [1, 1, 1]);
    spec!(Stride2: 5 => 9, groups 1, in [1, 13, 35], out [1, 7, 18], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(Stride2Stem: 3 => 8, groups 1, in [1, 23, 70], out [1, 12, 35], kernel [1, 7, 7], stride [1, 2, 2], pad [0, 3, 3], dil [1, 1, 1]);
    spec!(Stride2Pointwise: 16 => 12, groups 1, in [1, 9, 9], out [1, 5, 5], kernel [1, 1, 1], stride [1, 2, 2], pad [0, 0, 0], dil [1, 1, 1]);
    spec!(Stride2Depthwise: 6 => 6, groups 6, in [1, 8, 33], out [1, 4, 17], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(Stride2Even: 2 => 3, groups 1, in [1, 6, 8], out [1, 3, 4], kernel [1, 2, 2], stride [1, 2, 2], pad [0, 0, 0], dil [1, 1, 1]);

    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// Every level that runs here gives the portable result; returns the levels that ran.
    fn compare<S: ConvSpec>() -> Vec<Level> {
        let x = values(S::IN_CHANNELS * S::INPUT.volume(), 1);
        let w = values(
            S::OUT_CHANNELS * (S::IN_CHANNELS / S::GROUPS) * S::KERNEL.volume(),
            2,
        );
        let b = values(S::OUT_CHANNELS, 3);
        let n = S::OUT_CHANNELS * S::OUTPUT.volume();
        let mut want = std::vec![0.0; n];
        conv_at::<S>(Level::Portable, &x, &w, Some(&b), None, &mut want);
        let mut ran = Vec::new();
        for l in [Level::Avx2, Level::Avx512] {
            let mut got = std::vec![0.0; n];
            conv_at::<S>(l, &x, &w, Some(&b), None, &mut got);
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - e).abs() <= 1e-5 * e.abs().max(1.0),
                    "{l:?}: value {i} is {g}, portable gives {e}"
                );
            }
            let mut scratch = std::vec![0.0; n];
            if conv_accumulate::<S>(l, &x, &w, &mut scratch) {
                ran.push(l);
            }
        }
        ran
    }

    #[test]
    fn simd_levels_equal_the_portable_code_on_awkward_sizes() {
        let runs = [
            compare::<Pointwise>(),
            compare::<PointwiseLong>(),
            compare::<Three>(),
            compare::<Wide>(),
            compare::<Five>(),
            compare::<NoPad>(),
            compare::<StrideH>(),
            compare::<Depthwise>(),
            compare::<Grouped>(),
            compare::<WideKernel>(),
            compare::<OneColumn>(),
            compare::<ThreeD>(),
            compare::<Conv1d>(),
            compare::<Stride2>(),
            compare::<Stride2Stem>(),
            compare::<Stride2Pointwise>(),
            compare::<Stride2Depthwise>(),
            compare::<Stride2Even>(),
        ];
        // The SIMD paths this test claims to check did run, on a processor that has them.
        #[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
        {
            let expect: Vec<Level> = [Level::Avx2, Level::Avx512]
                .into_iter()
                .filter(|&l| l <= level())
                .collect();
            if std::is_x86_feature_detected!("avx512f") {
                assert_eq!(level(), Level::Avx512);
            }
            for ran in &runs {
                assert_eq!(ran, &expect);
            }
        }
        #[cfg(feature = "portable")]
        {
            assert_eq!(level(), Level::Portable);
            assert!(runs.iter().all(Vec::is_empty));
        }
    }
}
