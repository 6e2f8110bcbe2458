//! The x86-64 kernels: one vector type per instruction set, one tile loop for both.

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
    /// The even lanes of `first` then of `second`: `[f0, f2, ..., s0, s2, ...]`.
    unsafe fn even(first: Self, second: Self) -> Self;
    /// Lanes `a..b` of the even elements from `p` (lane `l` is `p[2 l]`), the rest zero; reads
    /// only elements `2a..2b - 1`, so `p` may point outside the buffer when `a > 0`.
    #[inline(always)]
    unsafe fn load_even(p: *const f32, a: usize, b: usize) -> Self {
        // Elements 2a..2b - 1 span two vectors: 0..N and N..2N.
        let (lo, hi) = (2 * a, (2 * b).saturating_sub(1).max(2 * a));
        // SAFETY: the caller enables the instruction set and makes elements `lo..hi` at `p`
        // readable; each masked load reads only its part of them.
        unsafe {
            let first = Self::load_range(p, lo.min(Self::N), hi.min(Self::N));
            let second = Self::load_range(
                p.wrapping_add(Self::N),
                lo.saturating_sub(Self::N),
                hi.saturating_sub(Self::N),
            );
            Self::even(first, second)
        }
    }
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
    unsafe fn even(first: Self, second: Self) -> Self {
        // SAFETY: the caller enables AVX-512F.
        unsafe {
            let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
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
    unsafe fn even(first: Self, second: Self) -> Self {
        // SAFETY: the caller enables AVX2.
        unsafe {
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
pub(super) unsafe fn conv_avx512(g: &Geometry, input: &[f32], weight: &[f32], output: &mut [f32]) {
    // SAFETY: forwarded from the caller.
    unsafe { conv::<Zmm>(g, input, weight, output) }
}

/// # Safety
/// The processor has AVX2 and FMA; the slices hold the shapes `g` describes.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn conv_avx2(g: &Geometry, input: &[f32], weight: &[f32], output: &mut [f32]) {
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
                        (true, true) => {
                            row_tile::<V, MR, KW, SW, 2, false>(g, x, w, y, mr, od, oh, ow, width)
                        }
                        (true, false) => {
                            row_tile::<V, MR, KW, SW, 2, true>(g, x, w, y, mr, od, oh, ow, width)
                        }
                        (false, true) => {
                            row_tile::<V, MR, KW, SW, 1, false>(g, x, w, y, mr, od, oh, ow, width)
                        }
                        (false, false) => {
                            row_tile::<V, MR, KW, SW, 1, true>(g, x, w, y, mr, od, oh, ow, width)
                        }
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
