//! The x86-64 kernels: one vector type per instruction set, one tile loop for both.

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use super::Geometry;
use crate::Activation;
use crate::kernels::Epilogue;

mod patches;

pub(super) use patches::PATCH_ROWS;

/// A vector of `N` lanes. Every method is `unsafe`: the caller's function enables the
/// instruction set, and pointers are valid for the lanes used.
pub(super) trait Lanes: Copy {
    /// Lanes in a vector.
    const N: usize;
    /// Output channels in a register tile (the accumulators must fit the register file).
    const MR: usize;
    /// Vectors of a row in a register tile: the `MR` weights of a tap are each used `NV`
    /// times.
    const NV: usize;
    /// Output points in a channel tile (see [`channels`]): `CMR` points × `CNV` vectors of
    /// output channels of sums, plus the `CNV` weight vectors and a broadcast, fit the
    /// register file.
    const CMR: usize;
    /// Vectors of output channels in a channel tile.
    const CNV: usize;
    /// The first `n` lanes from `p` (`n <= N`), the rest zero; reads only those `n`.
    unsafe fn load(p: *const f32, n: usize) -> Self;
    /// Lanes `a..b` from `p` (`a <= b <= N`), the rest zero; reads only those, so `p` itself
    /// may point outside the buffer when `a > 0`.
    unsafe fn load_range(p: *const f32, a: usize, b: usize) -> Self;
    /// The lanes of `p` whose bit is set in `bits` (bit `l` for lane `l`), the rest zero;
    /// reads only those, so `p` may point outside the buffer where bits are clear.
    unsafe fn load_bits(p: *const f32, bits: u32) -> Self;
    /// The even lanes of `first` then of `second`: `[f0, f2, ..., s0, s2, ...]`.
    unsafe fn even(first: Self, second: Self) -> Self;
    /// The odd lanes of `first` then of `second`: `[f1, f3, ..., s1, s3, ...]`.
    unsafe fn odd(first: Self, second: Self) -> Self;
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
    /// Stores lanes `a..b` at `p` (`a <= b <= N`); writes only those, so `p` itself may point
    /// outside the buffer when `a > 0`.
    unsafe fn store_range(self, p: *mut f32, a: usize, b: usize);
    unsafe fn splat(x: f32) -> Self;
    /// `x` in every lane where `keep` is all ones, zero where it is zero (the only two values
    /// it takes).
    unsafe fn splat_keep(x: f32, keep: u32) -> Self;
    /// `self * b + c`, fused.
    unsafe fn fma(self, b: Self, c: Self) -> Self;
    /// `self + b`.
    unsafe fn add(self, b: Self) -> Self;
    /// `self - b`.
    unsafe fn sub(self, b: Self) -> Self;
    /// The first halves of `first` and `second`, lane by lane in turn: `[f0, s0, f1, s1, ...]`.
    unsafe fn zip_low(first: Self, second: Self) -> Self;
    /// The second halves, in turn: `[f(N/2), s(N/2), ...]`.
    unsafe fn zip_high(first: Self, second: Self) -> Self;
    /// Transposes the first `N` vectors as an `N × N` matrix: lane `j` of vector `i` becomes
    /// lane `i` of vector `j` (the vectors from `N` on, at AVX2, are left as they are).
    unsafe fn transpose(v: &mut [Self; 16]);
    /// The sum of the lanes.
    unsafe fn sum(self) -> f32;
    /// `max(self, 0)`, NaN kept.
    unsafe fn relu(self) -> Self;
    /// `min(max(self, 0), 6)`, NaN kept.
    unsafe fn relu6(self) -> Self;
    /// `self * slope` in the lanes below 0, NaN kept.
    unsafe fn leaky(self, slope: f32) -> Self;
    /// `act(self)` for the activations the kernels apply in registers (the others are left
    /// to the caller, and are the identity here).
    #[inline(always)]
    unsafe fn activate(self, act: Activation) -> Self {
        // SAFETY: the caller enables the instruction set.
        unsafe {
            match act {
                Activation::Relu => self.relu(),
                Activation::Relu6 => self.relu6(),
                Activation::LeakyRelu(slope) => self.leaky(slope),
                _ => self,
            }
        }
    }
}

#[derive(Clone, Copy)]
pub(super) struct Zmm(__m512);

impl Lanes for Zmm {
    const N: usize = 16;
    // 8 channels × 3 vectors of 16 points: 24 accumulators, and 11 loads (3 vectors, 8
    // broadcasts) per 24 multiply-adds, which leaves the load ports room for the vectors that
    // straddle cache lines.
    const MR: usize = 8;
    const NV: usize = 3;
    // 9 points × 3 vectors of 16 channels: 27 sums, 3 weight vectors and a broadcast; 12
    // loads per 27 multiply-adds. A 3×3 plane is one tile, a 6×6 plane four (8 points made
    // a 3×3 plane two tiles, the second computing one point eight times).
    const CMR: usize = 9;
    const CNV: usize = 3;
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
    unsafe fn load_bits(p: *const f32, bits: u32) -> Self {
        // SAFETY: the caller enables AVX-512F and makes the lanes whose bit is set readable; a
        // masked-off lane is neither read nor able to fault.
        unsafe { Zmm(_mm512_maskz_loadu_ps(bits as __mmask16, p)) }
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
    unsafe fn odd(first: Self, second: Self) -> Self {
        // SAFETY: the caller enables AVX-512F.
        unsafe {
            let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
            Zmm(_mm512_permutex2var_ps(first.0, odd, second.0))
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
    unsafe fn store_range(self, p: *mut f32, a: usize, b: usize) {
        let mask = (((1u32 << b) - 1) & !((1u32 << a) - 1)) as __mmask16;
        // SAFETY: as for `load_range`, writing.
        unsafe { _mm512_mask_storeu_ps(p, mask, self.0) }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY: the caller enables AVX-512F.
        unsafe { Zmm(_mm512_set1_ps(x)) }
    }
    #[inline(always)]
    unsafe fn splat_keep(x: f32, keep: u32) -> Self {
        // SAFETY: the caller enables AVX-512F.
        unsafe { Zmm(_mm512_maskz_mov_ps(keep as __mmask16, _mm512_set1_ps(x))) }
    }
    #[inline(always)]
    unsafe fn fma(self, b: Self, c: Self) -> Self {
        // SAFETY: the caller enables AVX-512F.
        unsafe { Zmm(_mm512_fmadd_ps(self.0, b.0, c.0)) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        // SAFETY: the caller enables AVX-512F.
        unsafe { Zmm(_mm512_add_ps(self.0, b.0)) }
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        // SAFETY: the caller enables AVX-512F.
        unsafe { Zmm(_mm512_sub_ps(self.0, b.0)) }
    }
    #[inline(always)]
    unsafe fn zip_low(first: Self, second: Self) -> Self {
        // SAFETY: the caller enables AVX-512F.
        unsafe {
            let low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
            Zmm(_mm512_permutex2var_ps(first.0, low, second.0))
        }
    }
    #[inline(always)]
    unsafe fn zip_high(first: Self, second: Self) -> Self {
        // SAFETY: the caller enables AVX-512F.
        unsafe {
            let high =
                _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
            Zmm(_mm512_permutex2var_ps(first.0, high, second.0))
        }
    }
    #[inline(always)]
    unsafe fn transpose(v: &mut [Self; 16]) {
        // SAFETY (whole body): the caller enables AVX-512F. (Loops over constant bounds, not
        // closures: see `panel_tile`.)
        unsafe {
            // Pairs of rows zipped within each 128-bit block, then quads: vector `4 g + c`
            // holds, in block `b`, column `4 b + c` of rows `4 g..4 g + 4`.
            let mut t = [_mm512_setzero_ps(); 16];
            for i in 0..8 {
                t[2 * i] = _mm512_unpacklo_ps(v[2 * i].0, v[2 * i + 1].0);
                t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i].0, v[2 * i + 1].0);
            }
            let mut u = t;
            for i in 0..4 {
                u[4 * i] = _mm512_shuffle_ps::<0x44>(t[4 * i], t[4 * i + 2]);
                u[4 * i + 1] = _mm512_shuffle_ps::<0xEE>(t[4 * i], t[4 * i + 2]);
                u[4 * i + 2] = _mm512_shuffle_ps::<0x44>(t[4 * i + 1], t[4 * i + 3]);
                u[4 * i + 3] = _mm512_shuffle_ps::<0xEE>(t[4 * i + 1], t[4 * i + 3]);
            }
            // Then the 4 × 4 blocks of each column `c` of a quad transposed: output row
            // `4 b + c` is block `b` of vectors `c`, `4 + c`, `8 + c`, `12 + c`.
            for c in 0..4 {
                let (a, b) = (u[c], u[4 + c]);
                let (d, e) = (u[8 + c], u[12 + c]);
                let (low_ab, high_ab) = (
                    _mm512_shuffle_f32x4::<0x44>(a, b),
                    _mm512_shuffle_f32x4::<0xEE>(a, b),
                );
                let (low_de, high_de) = (
                    _mm512_shuffle_f32x4::<0x44>(d, e),
                    _mm512_shuffle_f32x4::<0xEE>(d, e),
                );
                v[c] = Zmm(_mm512_shuffle_f32x4::<0x88>(low_ab, low_de));
                v[4 + c] = Zmm(_mm512_shuffle_f32x4::<0xDD>(low_ab, low_de));
                v[8 + c] = Zmm(_mm512_shuffle_f32x4::<0x88>(high_ab, high_de));
                v[12 + c] = Zmm(_mm512_shuffle_f32x4::<0xDD>(high_ab, high_de));
            }
        }
    }
    #[inline(always)]
    unsafe fn sum(self) -> f32 {
        // SAFETY: the caller enables AVX-512F.
        unsafe { _mm512_reduce_add_ps(self.0) }
    }
    #[inline(always)]
    unsafe fn relu(self) -> Self {
        // SAFETY: the caller enables AVX-512F. `max` returns its second operand when either is
        // NaN, so a NaN stays NaN.
        unsafe { Zmm(_mm512_max_ps(_mm512_setzero_ps(), self.0)) }
    }
    #[inline(always)]
    unsafe fn relu6(self) -> Self {
        // SAFETY: as for `relu`.
        unsafe { Zmm(_mm512_min_ps(_mm512_set1_ps(6.0), self.relu().0)) }
    }
    #[inline(always)]
    unsafe fn leaky(self, slope: f32) -> Self {
        // SAFETY: the caller enables AVX-512F; a NaN compares false and is kept.
        unsafe {
            let below = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(self.0, _mm512_setzero_ps());
            Zmm(_mm512_mask_mul_ps(
                self.0,
                below,
                self.0,
                _mm512_set1_ps(slope),
            ))
        }
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
    const NV: usize = 2;
    // 6 points × 2 vectors of 8 channels: 12 sums, 2 weight vectors and a broadcast, 15 of
    // the 16 registers.
    const CMR: usize = 6;
    const CNV: usize = 2;
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
    unsafe fn load_bits(p: *const f32, bits: u32) -> Self {
        // SAFETY: the caller enables AVX2 and makes the lanes whose bit is set readable; a
        // masked-off lane is neither read nor able to fault.
        unsafe {
            let lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
            let set = _mm256_and_si256(_mm256_set1_epi32(bits as i32), lane_bit);
            Ymm(_mm256_maskload_ps(p, _mm256_cmpeq_epi32(set, lane_bit)))
        }
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
    unsafe fn odd(first: Self, second: Self) -> Self {
        // SAFETY: the caller enables AVX2.
        unsafe {
            // [f1 f3 s1 s3 | f5 f7 s5 s7], then as for `even`.
            let mixed = _mm256_shuffle_ps::<0b11_01_11_01>(first.0, second.0);
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
    unsafe fn store_range(self, p: *mut f32, a: usize, b: usize) {
        // SAFETY: as for `load_range`, writing.
        unsafe { _mm256_maskstore_ps(p, Self::mask_range(a, b), self.0) }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY: the caller enables AVX.
        unsafe { Ymm(_mm256_set1_ps(x)) }
    }
    #[inline(always)]
    unsafe fn splat_keep(x: f32, keep: u32) -> Self {
        // SAFETY: the caller enables AVX.
        unsafe {
            let mask = _mm256_castsi256_ps(_mm256_set1_epi32(keep as i32));
            Ymm(_mm256_and_ps(_mm256_set1_ps(x), mask))
        }
    }
    #[inline(always)]
    unsafe fn fma(self, b: Self, c: Self) -> Self {
        // SAFETY: the caller enables FMA.
        unsafe { Ymm(_mm256_fmadd_ps(self.0, b.0, c.0)) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        // SAFETY: the caller enables AVX.
        unsafe { Ymm(_mm256_add_ps(self.0, b.0)) }
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        // SAFETY: the caller enables AVX.
        unsafe { Ymm(_mm256_sub_ps(self.0, b.0)) }
    }
    #[inline(always)]
    unsafe fn zip_low(first: Self, second: Self) -> Self {
        // SAFETY: the caller enables AVX.
        unsafe {
            // [f0 s0 f1 s1 | f4 s4 f5 s5] and [f2 s2 f3 s3 | f6 s6 f7 s7]: the low halves.
            let (low, high) = (
                _mm256_unpacklo_ps(first.0, second.0),
                _mm256_unpackhi_ps(first.0, second.0),
            );
            Ymm(_mm256_permute2f128_ps::<0x20>(low, high))
        }
    }
    #[inline(always)]
    unsafe fn zip_high(first: Self, second: Self) -> Self {
        // SAFETY: the caller enables AVX.
        unsafe {
            // As for `zip_low`: the high halves.
            let (low, high) = (
                _mm256_unpacklo_ps(first.0, second.0),
                _mm256_unpackhi_ps(first.0, second.0),
            );
            Ymm(_mm256_permute2f128_ps::<0x31>(low, high))
        }
    }
    #[inline(always)]
    unsafe fn transpose(v: &mut [Self; 16]) {
        // SAFETY (whole body): the caller enables AVX.
        unsafe {
            // As at AVX-512 (`Zmm::transpose`), with two 128-bit blocks: vector `4 g + c`
            // holds, in block `b`, column `4 b + c` of rows `4 g..4 g + 4`.
            let mut t = [_mm256_setzero_ps(); 8];
            for i in 0..4 {
                t[2 * i] = _mm256_unpacklo_ps(v[2 * i].0, v[2 * i + 1].0);
                t[2 * i + 1] = _mm256_unpackhi_ps(v[2 * i].0, v[2 * i + 1].0);
            }
            let mut u = t;
            for i in 0..2 {
                u[4 * i] = _mm256_shuffle_ps::<0x44>(t[4 * i], t[4 * i + 2]);
                u[4 * i + 1] = _mm256_shuffle_ps::<0xEE>(t[4 * i], t[4 * i + 2]);
                u[4 * i + 2] = _mm256_shuffle_ps::<0x44>(t[4 * i + 1], t[4 * i + 3]);
                u[4 * i + 3] = _mm256_shuffle_ps::<0xEE>(t[4 * i + 1], t[4 * i + 3]);
            }
            for c in 0..4 {
                v[c] = Ymm(_mm256_permute2f128_ps::<0x20>(u[c], u[4 + c]));
                v[4 + c] = Ymm(_mm256_permute2f128_ps::<0x31>(u[c], u[4 + c]));
            }
        }
    }
    #[inline(always)]
    unsafe fn sum(self) -> f32 {
        // SAFETY: the caller enables AVX.
        unsafe {
            let half = _mm_add_ps(
                _mm256_castps256_ps128(self.0),
                _mm256_extractf128_ps::<1>(self.0),
            );
            let pairs = _mm_add_ps(half, _mm_movehl_ps(half, half));
            _mm_cvtss_f32(_mm_add_ss(pairs, _mm_movehdup_ps(pairs)))
        }
    }
    #[inline(always)]
    unsafe fn relu(self) -> Self {
        // SAFETY: the caller enables AVX. `max` returns its second operand when either is NaN,
        // so a NaN stays NaN.
        unsafe { Ymm(_mm256_max_ps(_mm256_setzero_ps(), self.0)) }
    }
    #[inline(always)]
    unsafe fn relu6(self) -> Self {
        // SAFETY: as for `relu`.
        unsafe { Ymm(_mm256_min_ps(_mm256_set1_ps(6.0), self.relu().0)) }
    }
    #[inline(always)]
    unsafe fn leaky(self, slope: f32) -> Self {
        // SAFETY: the caller enables AVX; a NaN compares false and is kept.
        unsafe {
            let below = _mm256_cmp_ps::<_CMP_LT_OQ>(self.0, _mm256_setzero_ps());
            let scaled = _mm256_mul_ps(self.0, _mm256_set1_ps(slope));
            Ymm(_mm256_blendv_ps(self.0, scaled, below))
        }
    }
}

/// # Safety
/// The processor has AVX-512F; the slices hold the shapes `g` describes, the epilogue's slices
/// its output channels, `packed` (if given) the weights packed for this level.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn conv_avx512(
    g: &Geometry,
    input: &[f32],
    weight: &[f32],
    packed: Option<&[f32]>,
    ep: &Epilogue<'_>,
    output: &mut [f32],
) {
    // SAFETY: forwarded from the caller.
    unsafe { conv::<Zmm>(g, input, weight, packed, ep, output) }
}

/// # Safety
/// The processor has AVX2 and FMA; the slices hold the shapes `g` describes, the epilogue's
/// slices its output channels, `packed` (if given) the weights packed for this level.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn conv_avx2(
    g: &Geometry,
    input: &[f32],
    weight: &[f32],
    packed: Option<&[f32]>,
    ep: &Epilogue<'_>,
    output: &mut [f32],
) {
    // SAFETY: forwarded from the caller.
    unsafe { conv::<Ymm>(g, input, weight, packed, ep, output) }
}

/// Input bytes one block of output rows (or columns, for a flattened 1×1 layer) may read: the
/// block's input stays in the level-2 cache while every channel tile of the layer passes over
/// it, instead of each tile streaming the whole input from further away.
const BLOCK_BYTES: usize = 512 << 10;

/// A part of the output planes: rows `rows` (along depth × height), columns `cols` of each.
#[derive(Clone, Copy)]
struct Block {
    rows: (usize, usize),
    cols: (usize, usize),
}

/// Blocks of output rows (or of columns, for a flattened layer's single row) whose input fits
/// in [`BLOCK_BYTES`]; each group's channel tiles all pass over a block before the next.
#[inline(always)]
unsafe fn conv<V: Lanes>(
    g: &Geometry,
    input: &[f32],
    weight: &[f32],
    packed: Option<&[f32]>,
    ep: &Epilogue<'_>,
    output: &mut [f32],
) {
    // Where the weights come unpacked, each tile packs a chunk of them at a time here.
    let mut scratch;
    let mut weights = match packed {
        Some(p) => Weights::Packed(p),
        None => {
            scratch = [0.0f32; PACK];
            Weights::Unpacked(weight, &mut scratch)
        }
    };
    if g.by_channels(V::N) {
        // SAFETY: forwarded from the caller.
        unsafe { channels::<V>(g, input, &mut weights, ep, output) };
        return;
    }
    if let (true, Some(packed)) = (g.flat || g.gather, packed) {
        // SAFETY: forwarded from the caller.
        unsafe { pointwise::<V>(g, input, packed, ep, output) };
        return;
    }
    if let (true, Some(packed)) = (g.patches, packed) {
        // SAFETY: forwarded from the caller.
        unsafe { patches::patches::<V>(g, input, packed, ep, output) };
        return;
    }
    let rows = g.rows_d * g.rows_h;
    let channel_bytes = g.in_per_group * size_of::<f32>();
    let (row_step, col_step) = if rows == 1 {
        let tile = V::NV * V::N;
        let cols = (BLOCK_BYTES / channel_bytes.max(1)) / tile * tile;
        (1, cols.max(tile))
    } else {
        let row_bytes = channel_bytes * g.stride.d * g.stride.h * g.in_w;
        ((BLOCK_BYTES / row_bytes.max(1)).max(1), g.out_w)
    };
    for group in 0..g.groups {
        let x = &input[group * g.in_per_group * g.in_plane..];
        for r0 in (0..rows).step_by(row_step) {
            for c0 in (0..g.out_w).step_by(col_step) {
                let block = Block {
                    rows: (r0, (r0 + row_step).min(rows)),
                    cols: (c0, (c0 + col_step).min(g.out_w)),
                };
                // SAFETY: forwarded from the caller; the block lies inside the output planes.
                unsafe { tiles::<V>(g, x, &mut weights, ep, output, group, block) };
            }
        }
    }
}

/// Floats of a panel of a flattened 1×1 layer's input: a tile's columns of a chunk of input
/// channels, copied one after the other (24 KiB, on the stack).
const PANEL: usize = 6144;

/// A flattened 1×1 layer (see `Geometry::flat`) with its weights packed: for each tile of
/// `V::NV` vectors of points and chunk of input channels, the chunk's columns are copied into
/// one contiguous panel, which every tile of output channels then reads from the level-1
/// cache (the input planes lie a plane apart, each channel on other pages). The first tile of
/// output channels copies the columns as it multiplies them (a copy of its own, before the
/// tiles, waited on the input's cache misses: ResNet-50's 256 → 64 layer on 56×56 took 9%
/// longer, MobileNetV2's 96 → 16 on 24×24 14%); a strided layer's are gathered first.
///
/// # Safety
/// The instruction set is enabled; the slices hold the shapes `g` describes, `packed` the
/// weights packed for this level.
#[inline(always)]
unsafe fn pointwise<V: Lanes>(
    g: &Geometry,
    input: &[f32],
    packed: &[f32],
    ep: &Epilogue<'_>,
    output: &mut [f32],
) {
    let (ipg, plane) = (g.in_per_group, g.out_plane);
    let width = V::NV * V::N;
    let chunk = PANEL / width;
    let mut panel = [0.0f32; PANEL];
    for group in 0..g.groups {
        let x = &input[group * ipg * g.in_plane..(group + 1) * ipg * g.in_plane];
        let mut f = 0;
        while f < plane {
            let n = width.min(plane - f);
            // A strided layer's segments of points, the same for every channel.
            let mut segs = [Segment::default(); SEGMENTS];
            let count = if g.gather {
                segments(g, f, n, &mut segs)
            } else {
                0
            };
            let mut c0 = 0;
            while c0 < ipg {
                let c1 = (c0 + chunk).min(ipg);
                if g.gather {
                    for c in c0..c1 {
                        let to = &mut panel[(c - c0) * width..(c - c0 + 1) * width];
                        let from = &x[c * g.in_plane..(c + 1) * g.in_plane];
                        // SAFETY: the caller enables the instruction set.
                        unsafe { gather::<V>(g, from, &segs[..count], n, to) };
                    }
                }
                // A flattened layer's panel is filled by its first tile of output channels as
                // it reads the input (so that the loads from the input planes overlap
                // multiply-adds); a strided layer's was gathered above.
                let fill = (!g.gather).then(|| (&x[c0 * g.in_plane + f..], g.in_plane));
                let rows = PanelRows {
                    rows: (c0, c1),
                    of: ipg,
                    points: (f, n),
                };
                // SAFETY: forwarded from the caller; the panel holds rows `c0..c1` of the
                // tile's points, or is filled from `x`.
                unsafe { panel_tiles::<V>(&mut panel, fill, rows, packed, ep, output, g, group) };
                c0 = c1;
            }
            f += n;
        }
    }
}

/// Rows `rows` of a panel (of `of` in all, the reduction of every output), for output points
/// `points.0..points.0 + points.1` of a plane.
#[derive(Clone, Copy)]
struct PanelRows {
    rows: (usize, usize),
    of: usize,
    points: (usize, usize),
}

/// Every register tile of one group's output channels over a panel of `r.rows` (`V::NV V::N`
/// floats a row), weights packed `[row][MR]` per tile (from `first * r.of` for the tile from
/// channel `first`): the sums of the rows before are read back from `output`, and the epilogue
/// applies after the last rows. With `fill` (the input from the first row's point on, and the
/// floats from one row's to the next), the first tile copies the panel's rows as it reads them.
///
/// # Safety
/// The instruction set is enabled; the panel holds the rows (unless `fill` gives them), the
/// points lie inside the output planes of `g`, `packed` holds the layer's packed weights.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn panel_tiles<V: Lanes>(
    panel: &mut [f32],
    fill: Option<(&[f32], usize)>,
    r: PanelRows,
    packed: &[f32],
    ep: &Epilogue<'_>,
    output: &mut [f32],
    g: &Geometry,
    group: usize,
) {
    let (opg, plane) = (g.out_per_group, g.out_plane);
    let ((r0, r1), (f, n)) = (r.rows, r.points);
    let width = V::NV * V::N;
    let mut co = 0;
    while co < opg {
        let first = group * opg + co;
        let mr = super::tile_width(V::MR, opg - co);
        let mut tile = Tile {
            channels: (r0, r1),
            first: r0 == 0,
            last: r1 == r.of,
            scale: [1.0; 16],
            shift: [0.0; 16],
            act: ep.act,
        };
        for j in 0..mr {
            (tile.scale[j], tile.shift[j]) = ep.channel(first + j);
        }
        let w = &packed[first * r.of + r0 * mr..first * r.of + r1 * mr];
        let y = &mut output[first * plane + f..];
        // The last tile of a plane takes only the vectors it fills (a 7×7 plane is a tile of
        // 48 points and one of 1).
        // SAFETY: the tile reads the panel's `r1 - r0` rows, its packed weights `w` and
        // writes points `f..f + n` of its `mr` channels' planes.
        unsafe {
            macro_rules! tile {
                ($mr:literal) => {{
                    let source = match fill {
                        Some((from, apart)) if co == 0 => Panel::Filling {
                            panel: &mut panel[..],
                            from,
                            apart,
                        },
                        _ => Panel::Filled(&panel[..]),
                    };
                    match n.div_ceil(V::N) {
                        1 => panel_tile::<V, $mr, 1>(source, width, w, y, plane, &tile, n),
                        2 => panel_tile::<V, $mr, 2>(source, width, w, y, plane, &tile, n),
                        _ => panel_tile::<V, $mr, 3>(source, width, w, y, plane, &tile, n),
                    }
                }};
            }
            match mr {
                8 if V::MR >= 8 => tile!(8),
                4 => tile!(4),
                1 => tile!(1),
                _ => unreachable!("tile_width gives 8, 4 or 1 channels, at most V::MR"),
            }
        };
        co += mr;
    }
}

/// Most segments of a tile of points: one per point (rows of one point), at most `V::NV V::N`
/// points.
const SEGMENTS: usize = 48;

/// The points of a tile along one output row: `len` points from place `to` of the tile, the
/// first at column `ow` of row `oh` of the output plane.
#[derive(Clone, Copy, Default)]
struct Segment {
    oh: usize,
    ow: usize,
    to: usize,
    len: usize,
}

/// The segments of points `f..f + n` of the flattened output plane along its rows; returns how
/// many it wrote to `out`.
fn segments(g: &Geometry, f: usize, n: usize, out: &mut [Segment; SEGMENTS]) -> usize {
    assert!(f + n <= g.out_plane && n <= SEGMENTS);
    let (mut k, mut count) = (0, 0);
    while k < n {
        let (oh, ow) = ((f + k) / g.out_w, (f + k) % g.out_w);
        let len = (g.out_w - ow).min(n - k);
        out[count] = Segment { oh, ow, to: k, len };
        count += 1;
        k += len;
    }
    count
}

/// One input plane's points of a strided 1×1 layer's tile (see `Geometry::gather`: output
/// point `(oh, ow)` reads input point `(oh sh, ow sw)`), its `segs`, into the panel's row `to`;
/// lanes `n..` (past the last segment) are zeroed.
///
/// # Safety
/// The instruction set is enabled.
#[inline(always)]
unsafe fn gather<V: Lanes>(g: &Geometry, from: &[f32], segs: &[Segment], n: usize, to: &mut [f32]) {
    let (sh, sw) = (g.stride.h, g.stride.w);
    // The SIMD kernels take strides of 1 and 2 along the width (`conv_fused`).
    assert!(sw <= 2 && n <= to.len());
    for s in segs {
        let at = s.oh * sh * g.in_w + s.ow * sw;
        assert!(at + (s.len - 1) * sw < from.len() && s.to + s.len <= n);
        let mut j = 0;
        while j < s.len {
            let m = (s.len - j).min(V::N);
            // SAFETY: lanes `0..m` read input points `at + (j + l) sw`, `l < m`, inside
            // `from` as the segment's last is (asserted above); `load_even` reads elements
            // `0..2m - 1` and no further. The store writes `m` floats of `to` from `to + j`,
            // inside it as the segment ends by `n`.
            unsafe {
                let src = from.as_ptr().add(at + j * sw);
                let v = if sw == 1 {
                    V::load(src, m)
                } else {
                    V::load_even(src, 0, m)
                };
                v.store(to.as_mut_ptr().add(s.to + j), m);
            }
            j += m;
        }
    }
    to[n..].fill(0.0);
}

/// A tile's sums `acc` plus `count` input channels' products: each channel's `NV` vectors
/// read from the panel row at `xp` (rows `width` floats apart), or with `FILL` read from `sp`
/// (`lanes[v]` floats of vector `v`, channels `apart` floats apart) and written to the panel
/// row; its `MR` weights from `wp` (rows of `MR`).
///
/// # Safety
/// The instruction set is enabled; the pointers cover what they are read (written) for: `xp`
/// is written only with `FILL`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn panel_sums<V: Lanes, const MR: usize, const NV: usize, const FILL: bool>(
    mut acc: [[V; NV]; MR],
    mut xp: *mut f32,
    mut sp: *const f32,
    apart: usize,
    width: usize,
    mut wp: *const f32,
    count: usize,
    lanes: &[usize; NV],
) -> [[V; NV]; MR] {
    for _ in 0..count {
        // SAFETY: forwarded from the caller; the next row's pointers are inside (or one past)
        // what the caller covers.
        unsafe {
            // A loop, not `array::from_fn`: a closure does not inherit the instruction set,
            // and where it is not inlined its vector loads become calls.
            let mut xv = [V::splat(0.0); NV];
            for (v, x) in xv.iter_mut().enumerate() {
                if FILL {
                    *x = V::load(sp.wrapping_add(v * V::N), lanes[v]);
                    x.store(xp.add(v * V::N), V::N);
                } else {
                    *x = V::load(xp.add(v * V::N), V::N);
                }
            }
            fma_tap(&mut acc, wp, &xv);
            (xp, sp, wp) = (xp.wrapping_add(width), sp.wrapping_add(apart), wp.add(MR));
        }
    }
    acc
}

/// A panel of input channels, `width` floats a channel, for a tile to read.
enum Panel<'a> {
    /// Rows already in place.
    Filled(&'a [f32]),
    /// Rows the tile copies into `panel` as it reads them: the first `n` floats of each
    /// channel in `from`, `apart` floats apart (lanes past `n` as zeros).
    Filling {
        panel: &'a mut [f32],
        from: &'a [f32],
        apart: usize,
    },
}

/// `MR` output channels × `NV` vectors of points (`n` of them) of a flattened 1×1 layer, from
/// a panel of `t.channels` input channels `width` floats apart, weights packed `[channel][MR]`.
///
/// # Safety
/// The instruction set is enabled.
#[inline(always)]
unsafe fn panel_tile<V: Lanes, const MR: usize, const NV: usize>(
    panel: Panel<'_>,
    width: usize,
    w: &[f32],
    y: &mut [f32],
    plane: usize,
    t: &Tile,
    n: usize,
) {
    let (c0, c1) = t.channels;
    let count = c1 - c0;
    assert!(NV * V::N <= width && n <= NV * V::N);
    assert!(w.len() >= count * MR);
    assert!(y.len() >= (MR - 1) * plane + n);
    let lanes = lanes::<V, NV>(n);
    // SAFETY (both arms): the assertions above and in each arm: the panel holds `count` rows
    // of `width` floats (of which the tile reads, or writes, the first `NV N`), `from` the
    // `n` floats read from each of `count` channels `apart` floats apart (a masked load reads
    // `lanes[v]` from `v N`), `w` `count` rows of `MR`, and the tile's points of each of its
    // planes are inside `y`.
    unsafe {
        let acc = load_sums::<V, MR, NV>(t, y.as_ptr(), plane, &lanes);
        let acc = match panel {
            Panel::Filled(panel) => {
                assert!(count * width <= panel.len());
                let xp = panel.as_ptr().cast_mut();
                panel_sums::<V, MR, NV, false>(acc, xp, xp, 0, width, w.as_ptr(), count, &lanes)
            }
            Panel::Filling { panel, from, apart } => {
                assert!(count * width <= panel.len());
                assert!(count == 0 || (count - 1) * apart + n <= from.len());
                let (xp, sp) = (panel.as_mut_ptr(), from.as_ptr());
                panel_sums::<V, MR, NV, true>(acc, xp, sp, apart, width, w.as_ptr(), count, &lanes)
            }
        };
        store_sums::<V, MR, NV>(&acc, t, y.as_mut_ptr(), plane, &lanes);
    }
}

/// Floats of a channel tile's partial sums, `[point][channel]`, for a piece of a plane and one
/// block of output channels: 64 points × 3 × 16 channels (12 KiB, on the stack).
const SUMS: usize = 3072;

/// Output channels in lanes, for layers whose planes are too small to fill vectors along their
/// rows (see `Geometry::by_channels`): a tile is `V::CMR` points of the flattened output plane
/// × up to `V::CNV` vectors of output channels; for each input channel and tap, the channels'
/// weights are loaded once (packed `[tap][input channel][output channel]`, the order
/// [`super::pack_block`] gives a block) and each point's input value is broadcast into them.
/// Every lane does work whatever the plane's shape; taps that read padding broadcast zero.
/// The plane goes in pieces (the whole of it where it fits): a piece's sums go to a
/// `[point][channel]` buffer between chunks of input channels, and to the output planes,
/// transposed, after the last.
///
/// # Safety
/// The instruction set is enabled; the slices hold the shapes `g` describes, packed weights
/// (if given) as [`super::pack`] lays them out for this level.
#[inline(always)]
unsafe fn channels<V: Lanes>(
    g: &Geometry,
    input: &[f32],
    weights: &mut Weights<'_>,
    ep: &Epilogue<'_>,
    output: &mut [f32],
) {
    let (ipg, opg, plane) = (g.in_per_group, g.out_per_group, g.out_plane);
    let taps = g.kernel.volume();
    // A block has at most `V::CNV` vectors of channels.
    assert!(V::CNV <= 3 && V::N <= 16 && V::CMR * V::CNV * V::N <= SUMS);
    let mut sums = [0.0f32; SUMS];
    for group in 0..g.groups {
        let x = &input[group * ipg * g.in_plane..(group + 1) * ipg * g.in_plane];
        let mut co = 0;
        while co < opg {
            let nb = super::channel_block(opg - co, V::N, V::CNV);
            let first = group * opg + co;
            let base = first * ipg * taps;
            let mut scale = [1.0f32; 64];
            let mut shift = [0.0f32; 64];
            for j in 0..nb {
                (scale[j], shift[j]) = ep.channel(first + j);
            }
            // Packed weights are read in place, every input channel in one pass (each point
            // tile streams the block's weights from the level-2 cache: on Zen 5, ResNet-50's
            // 7×7 layers ran 10-20% faster so than in chunks of 16 KiB, whose sums went through
            // `sums` between chunks). Weights packed here fill the packing buffer.
            let chunk = match weights {
                Weights::Packed(_) => ipg,
                Weights::Unpacked(..) => (PACK / (taps * nb)).max(1),
            };
            // The plane in pieces whose sums fit `sums`: the whole plane where it fits, else
            // whole tiles of points.
            let most = SUMS / nb;
            let piece = if plane <= most {
                plane
            } else {
                most / V::CMR * V::CMR
            };
            let mut p0 = 0;
            while p0 < plane {
                let p1 = (p0 + piece).min(plane);
                let mut c0 = 0;
                while c0 < ipg {
                    let c1 = (c0 + chunk).min(ipg);
                    // The chunk's weights from its first channel's at the first tap, and the
                    // distance from one tap's to the next.
                    let (w, tap_step): (&[f32], usize) = match weights {
                        Weights::Packed(p) => (
                            &p[base + c0 * nb..base + ((taps - 1) * ipg + c1) * nb],
                            ipg * nb,
                        ),
                        Weights::Unpacked(w, scratch) => {
                            super::pack_block(
                                &w[base..],
                                &mut scratch[..],
                                nb,
                                ipg,
                                taps,
                                (c0, c1),
                            );
                            (&scratch[..(c1 - c0) * taps * nb], (c1 - c0) * nb)
                        }
                    };
                    let t = ChannelTile {
                        channels: (c0, c1),
                        tap_step,
                        nb,
                        first: c0 == 0,
                        last: (c1 == ipg).then_some((&scale, &shift, ep.act)),
                    };
                    let mut f = p0;
                    while f < p1 {
                        let np = V::CMR.min(p1 - f);
                        let s = &mut sums[(f - p0) * nb..(f - p0 + np) * nb];
                        // SAFETY: the tile reads input planes `c0..c1` of the group from `x`
                        // and their packed weights from `w`, and writes the sums of points
                        // `f..f + np`, `nb` channels each, in `s`.
                        unsafe {
                            macro_rules! tile {
                                ($mr:literal) => {
                                    match (nb.div_ceil(V::N), nb % V::N == 0) {
                                        (1, false) => {
                                            point_tile::<V, $mr, 1, true>(g, x, w, s, &t, f, np)
                                        }
                                        (1, true) => {
                                            point_tile::<V, $mr, 1, false>(g, x, w, s, &t, f, np)
                                        }
                                        (2, _) => {
                                            point_tile::<V, $mr, 2, false>(g, x, w, s, &t, f, np)
                                        }
                                        _ => point_tile::<V, $mr, 3, false>(g, x, w, s, &t, f, np),
                                    }
                                };
                            }
                            match V::CMR {
                                9 => tile!(9),
                                _ => tile!(6),
                            }
                        }
                        f += np;
                    }
                    c0 = c1;
                }
                // The piece's sums, epilogue applied, to the output planes.
                for j in 0..nb {
                    let y = &mut output[(first + j) * plane + p0..(first + j) * plane + p1];
                    for (i, out) in y.iter_mut().enumerate() {
                        *out = sums[i * nb + j];
                    }
                }
                p0 = p1;
            }
            co += nb;
        }
    }
}

/// A channel tile's block of `nb` output channels, the input channels it adds this pass, and
/// the epilogue (scale, shift per channel, activation) after the last.
struct ChannelTile<'a> {
    channels: (usize, usize),
    /// Floats from a tap's weights to the next tap's (the channels of a tap are `nb` apart).
    tap_step: usize,
    nb: usize,
    first: bool,
    last: Option<(&'a [f32; 64], &'a [f32; 64], Activation)>,
}

/// `MR` points of the flattened output plane, `f0..f0 + np` (`np <= MR`; the missing ones
/// repeat the last and are not stored) × `NV` vectors of the block's output channels (the last
/// partial, `nb < N`, with `TAIL`). Sums `[point][channel]` in `s`, `nb` apart.
///
/// # Safety
/// The instruction set is enabled; `x` holds the group's input planes, `w` the chunk's packed
/// weights, tap `tap`'s from `tap * t.tap_step`, `s` `np * nb` sums.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
// The point indices address offsets, masks and sums at once.
#[allow(clippy::needless_range_loop)]
unsafe fn point_tile<V: Lanes, const MR: usize, const NV: usize, const TAIL: bool>(
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    s: &mut [f32],
    t: &ChannelTile<'_>,
    f0: usize,
    np: usize,
) {
    let (k, st, p, d) = (g.kernel, g.stride, g.padding, g.dilation);
    let taps = k.volume();
    let (c0, c1) = t.channels;
    let nb = t.nb;
    assert!(np >= 1 && np <= MR && NV * V::N >= nb && s.len() >= np * nb);
    assert!(w.len() >= (taps - 1) * t.tap_step + (c1 - c0) * nb && x.len() >= c1 * g.in_plane);
    assert!(TAIL == (nb < V::N) && (TAIL || nb == NV * V::N));
    // Lanes of each vector of channels (all but a tail block's are whole).
    let bits: u32 = if TAIL { (1 << nb) - 1 } else { !0 };
    let lanes = if TAIL { nb } else { V::N };
    // Input row and column of each point's first tap (may be negative: padding).
    let mut row0 = [0isize; MR];
    let mut col0 = [0isize; MR];
    for i in 0..MR {
        let f = f0 + i.min(np - 1);
        let (oh, ow) = (f / g.out_w, f % g.out_w);
        row0[i] = (oh * st.h) as isize - p.h as isize;
        col0[i] = (ow * st.w) as isize - p.w as isize;
    }
    let (in_h, in_w) = (g.in_h as isize, g.in_w as isize);
    let sp = s.as_mut_ptr();
    // SAFETY (whole body): the sums of point `i < np` and vector `v` are `lanes` floats at
    // `i nb + v N`, inside `s`; each broadcast reads input point `off[i]` of a channel plane
    // `c0..c1` of `x`, where `off[i]` is a point inside the plane (0 for a tap that reads
    // padding, whose value is then dropped); packed weights at `tap tap_step + (cl - c0) nb +
    // v N`, `lanes` of them, are inside the chunk (the assertion above).
    unsafe {
        let mut acc = [[V::splat(0.0); NV]; MR];
        if !t.first {
            for i in 0..MR {
                if i < np {
                    for v in 0..NV {
                        acc[i][v] = V::load(sp.add(i * nb + v * V::N), lanes);
                    }
                }
            }
        }
        let x0 = x.as_ptr().add(c0 * g.in_plane);
        for kh in 0..k.h {
            for kw in 0..k.w {
                let tap = kh * k.w + kw;
                let mut off = [0isize; MR];
                let mut keep = [0u32; MR];
                let (mut all, mut any) = (true, false);
                for i in 0..MR {
                    let r = row0[i] + (kh * d.h) as isize;
                    let c = col0[i] + (kw * d.w) as isize;
                    let inside = r >= 0 && r < in_h && c >= 0 && c < in_w;
                    off[i] = if inside { r * in_w + c } else { 0 };
                    keep[i] = if inside { !0 } else { 0 };
                    all &= inside;
                    any |= inside;
                }
                if !any {
                    continue;
                }
                let w0 = w.as_ptr().add(tap * t.tap_step);
                if all {
                    point_taps::<V, MR, NV, TAIL, false>(&mut acc, x0, w0, &off, &keep, t, g, bits);
                } else {
                    point_taps::<V, MR, NV, TAIL, true>(&mut acc, x0, w0, &off, &keep, t, g, bits);
                }
            }
        }
        if let Some((scale, shift, act)) = t.last {
            for v in 0..NV {
                let sc = V::load(scale.as_ptr().add(v * V::N), lanes);
                let sh = V::load(shift.as_ptr().add(v * V::N), lanes);
                for i in 0..MR {
                    acc[i][v] = acc[i][v].fma(sc, sh).activate(act);
                }
            }
        }
        for i in 0..MR {
            if i < np {
                for v in 0..NV {
                    acc[i][v].store(sp.add(i * nb + v * V::N), lanes);
                }
            }
        }
    }
}

/// One tap of a channel tile over the chunk's input channels: the `NV` weight vectors of each
/// channel, times each point's input value broadcast (zero where `MASKED` and the point's
/// `keep` is clear).
///
/// # Safety
/// The instruction set is enabled; as in [`point_tile`], for the pointers it passes.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn point_taps<
    V: Lanes,
    const MR: usize,
    const NV: usize,
    const TAIL: bool,
    const MASKED: bool,
>(
    acc: &mut [[V; NV]; MR],
    x0: *const f32,
    w0: *const f32,
    off: &[isize; MR],
    keep: &[u32; MR],
    t: &ChannelTile<'_>,
    g: &Geometry,
    bits: u32,
) {
    let (c0, c1) = t.channels;
    let (mut xp, mut wp) = (x0, w0);
    // The sums as a local array for the loop, written back after it: the loop's stores then
    // go to registers (working on `acc` itself left each sum stored to the stack on every
    // pass).
    let mut sums = *acc;
    // SAFETY: forwarded from the caller.
    unsafe {
        for _ in c0..c1 {
            let wv: [V; NV] = core::array::from_fn(|v| {
                if TAIL {
                    V::load_bits(wp, bits)
                } else {
                    V::load(wp.add(v * V::N), V::N)
                }
            });
            for (a, (&o, &k)) in sums.iter_mut().zip(off.iter().zip(keep)) {
                let b = if MASKED {
                    V::splat_keep(*xp.offset(o), k)
                } else {
                    V::splat(*xp.offset(o))
                };
                for v in 0..NV {
                    a[v] = b.fma(wv[v], a[v]);
                }
            }
            xp = xp.add(g.in_plane);
            wp = wp.add(t.nb);
        }
    }
    *acc = sums;
}

/// Floats of the packed weights of one register tile and chunk of input channels: 32
/// channels of a 3×3 kernel for 8 output channels (9 KiB; on the stack where weights are
/// packed as the layer runs).
pub(super) const PACK: usize = 32 * 9 * 8;

/// The weights as a layer's tiles read them: packed at load time, or in PyTorch's layout with
/// a buffer to pack a chunk of a tile into.
enum Weights<'a> {
    Packed(&'a [f32]),
    Unpacked(&'a [f32], &'a mut [f32; PACK]),
}

/// Tiles of `V::MR` output channels, then 8, 4 and 1, over one group's channels in `block`.
/// Each tile reads its weights packed in the order the kernel uses them,
/// `[channel][tap][output channel]`: one pointer walks them, and the `MR` broadcasts of a tap
/// read one or two cache lines. Input channels go by chunks whose weights stay in the level-1
/// cache while the block's rows run; weights not packed at load time are packed here, a chunk
/// at a time.
#[inline(always)]
unsafe fn tiles<V: Lanes>(
    g: &Geometry,
    x: &[f32],
    weights: &mut Weights<'_>,
    ep: &Epilogue<'_>,
    output: &mut [f32],
    group: usize,
    block: Block,
) {
    let taps = g.kernel.volume();
    let mut co = 0;
    while co < g.out_per_group {
        let first = group * g.out_per_group + co;
        let y = &mut output[first * g.out_plane..];
        let mr = super::tile_width(V::MR, g.out_per_group - co);
        let mut scale = [1.0; 16];
        let mut shift = [0.0; 16];
        for j in 0..mr {
            (scale[j], shift[j]) = ep.channel(first + j);
        }
        let base = first * g.in_per_group * taps;
        // Chunks of input channels whose weights stay in the level-1 cache beside the input
        // rows (packed weights are read in place: a chunk is a part of the tile's range).
        let chunk = (PACK / (taps * mr)).max(1);
        let mut c0 = 0;
        while c0 < g.in_per_group {
            let c1 = (c0 + chunk).min(g.in_per_group);
            let w: &[f32] = match weights {
                Weights::Packed(p) => &p[base + c0 * taps * mr..base + c1 * taps * mr],
                Weights::Unpacked(w, scratch) => {
                    super::pack_tile(
                        &w[base..],
                        &mut scratch[..],
                        mr,
                        g.in_per_group,
                        taps,
                        (c0, c1),
                    );
                    &scratch[..(c1 - c0) * taps * mr]
                }
            };
            let tile = Tile {
                channels: (c0, c1),
                first: c0 == 0,
                last: c1 == g.in_per_group,
                scale,
                shift,
                act: ep.act,
            };
            // SAFETY: the tile reads input planes `c0..c1` of the group from `x`, its packed
            // weights from `w` and writes its channels' planes in `y`, all inside the shapes
            // of `g`.
            unsafe {
                // Only the widths `tile_width` gives (8, 4, 1; never more than `V::MR`): each
                // width is a whole tree of tiles for the compiler to build. (At AVX2 the
                // 8-channel arm is still instantiated, and left for the optimiser to drop.)
                match mr {
                    8 if V::MR >= 8 => by_width::<V, 8>(g, x, w, y, &tile, block),
                    4 => by_width::<V, 4>(g, x, w, y, &tile, block),
                    1 => by_width::<V, 1>(g, x, w, y, &tile, block),
                    _ => unreachable!("tile_width gives 8, 4 or 1 channels, at most V::MR"),
                }
            };
            c0 = c1;
        }
        co += mr;
    }
}

/// One register tile's output channels, the chunk of input channels it adds this pass, and
/// what the epilogue applies after the last.
struct Tile {
    channels: (usize, usize),
    /// The first chunk starts from zero, the others from what the previous one stored.
    first: bool,
    /// The last chunk applies the epilogue; the others store the sums as they are.
    last: bool,
    scale: [f32; 16],
    shift: [f32; 16],
    act: Activation,
}

/// The kernel widths of real networks get an unrolled tap loop, others a loop; stride 1 and
/// 2 along the width each have their loads.
#[inline(always)]
unsafe fn by_width<V: Lanes, const MR: usize>(
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    y: &mut [f32],
    t: &Tile,
    b: Block,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match (g.stride.w, g.kernel.w) {
            (1, 1) => rows::<V, MR, 1, 1>(g, x, w, y, t, b),
            (1, 3) => rows::<V, MR, 3, 1>(g, x, w, y, t, b),
            (1, 5) => rows::<V, MR, 5, 1>(g, x, w, y, t, b),
            (1, 7) => rows::<V, MR, 7, 1>(g, x, w, y, t, b),
            (1, _) => rows::<V, MR, 0, 1>(g, x, w, y, t, b),
            (_, 1) => rows::<V, MR, 1, 2>(g, x, w, y, t, b),
            (_, 3) => rows::<V, MR, 3, 2>(g, x, w, y, t, b),
            (_, 7) => rows::<V, MR, 7, 2>(g, x, w, y, t, b),
            (_, _) => rows::<V, MR, 0, 2>(g, x, w, y, t, b),
        }
    }
}

/// The block's output rows of the tile's `MR` channels. `KW`
/// is the kernel width, or 0 for "as `g` says". Tiles inside the interior load whole vectors;
/// the others mask the lanes that would read padding.
#[inline(always)]
unsafe fn rows<V: Lanes, const MR: usize, const KW: usize, const SW: usize>(
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    y: &mut [f32],
    t: &Tile,
    b: Block,
) {
    debug_assert!(KW == 0 || KW == g.kernel.w);
    // One output channel (depthwise layers) has no weight to share between channels, so it
    // takes up to 4 vectors of the row at a time; wider tiles take `V::NV`.
    let most = if MR == 1 { 4 } else { V::NV };
    if g.same && !g.out_w.is_multiple_of(V::N) && KW != 0 && MR > 1 {
        // Rows that do not fill whole vectors: tiles over the flattened plane instead (not for
        // one channel, where the tile is too short to pay for its masks).
        let end = b.rows.1 * g.out_w;
        let mut f = b.rows.0 * g.out_w;
        while f < end {
            let width = (most * V::N).min(end - f);
            // SAFETY: points `f..f + width` are inside the plane.
            unsafe {
                match width.div_ceil(V::N) {
                    1 => flat_tile::<V, MR, KW, 1>(g, x, w, y, t, f, width),
                    2 => flat_tile::<V, MR, KW, 2>(g, x, w, y, t, f, width),
                    3 => flat_tile::<V, MR, KW, 3>(g, x, w, y, t, f, width),
                    _ => unreachable!("tiles of several channels are at most 3 vectors wide"),
                }
            }
            f += width;
        }
        return;
    }
    for r in b.rows.0..b.rows.1 {
        let (od, oh) = (r / g.rows_h, r % g.rows_h);
        let mut ow = b.cols.0;
        while ow < b.cols.1 {
            let width = (most * V::N).min(b.cols.1 - ow);
            let inside = ow >= g.lo && ow + width <= g.hi;
            let nv = width.div_ceil(V::N);
            // SAFETY: columns `ow..ow + width` are inside the row; `inside` says whether
            // every tap of them reads inside the input row.
            unsafe {
                macro_rules! tile {
                    ($nv:literal) => {
                        if inside {
                            row_tile::<V, MR, KW, SW, $nv, false>(g, x, w, y, t, od, oh, ow, width)
                        } else {
                            row_tile::<V, MR, KW, SW, $nv, true>(g, x, w, y, t, od, oh, ow, width)
                        }
                    };
                }
                match nv {
                    1 => tile!(1),
                    2 => tile!(2),
                    3 if MR > 1 => tile!(3),
                    _ if MR == 1 => tile!(4),
                    _ => unreachable!("tiles of several channels are at most 3 vectors wide"),
                }
            }
            ow += width;
        }
    }
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
    t: &Tile,
    od: usize,
    oh: usize,
    ow: usize,
    width: usize,
) {
    let (k, s, p, d) = (g.kernel, g.stride, g.padding, g.dilation);
    let kw_count = if KW == 0 { k.w } else { KW };
    let taps = k.volume();
    let lanes = lanes::<V, NV>(width);
    let row = (od * g.rows_h + oh) * g.out_w + ow;
    let yp = y.as_mut_ptr();
    let (c0, c1) = t.channels;
    // SAFETY (whole body): `row + lanes` stays inside an output plane and channel `j < MR` of
    // the tile has its plane at `j * out_plane`; input rows are checked to be inside; input
    // columns `ow - p.w + kw + lane` are inside the row for every lane read (interior tiles),
    // or the lanes outside are masked off (`EDGE`); a vector with no lanes reads and writes
    // nothing. Vector pointers are formed with wrapping arithmetic, as a masked or empty
    // vector's may leave the buffer. Packed weights at `((cl - c0) * taps + tap) * MR + j`
    // are inside the chunk's `(c1 - c0) * taps * MR`.
    unsafe {
        let mut acc = load_sums::<V, MR, NV>(t, yp.wrapping_add(row), g.out_plane, &lanes);
        // The taps along depth and height that read inside the input, so that the loops
        // below have no branches to break the accumulators' registers.
        let (kd_lo, kd_hi) = inside(od * s.d, p.d, d.d, k.d, g.in_d);
        let (kh_lo, kh_hi) = inside(oh * s.h, p.h, d.h, k.h, g.in_h);
        // Taps outside, channels inside: a tap's input offsets and masks hold for every
        // channel of the chunk, so the innermost loop is loads and multiply-adds only.
        let x0 = x.as_ptr().add(c0 * g.in_plane);
        let w0 = w.as_ptr();
        for kd in kd_lo..kd_hi {
            let xd = od * s.d + kd * d.d - p.d;
            for kh in kh_lo..kh_hi {
                let xh = oh * s.h + kh * d.h - p.h;
                let x_row = x0.add((xd * g.in_h + xh) * g.in_w);
                for kw in 0..kw_count {
                    let tap = (kd * k.h + kh) * k.w + kw;
                    // Input column of lane 0 of each vector (lane l reads c + SW l), and the
                    // lanes a..b of it that read inside the row.
                    let mut at = [x_row; NV];
                    let mut range = [(0, 0); NV];
                    for v in 0..NV {
                        let c = ((ow + v * V::N) * SW + kw) as isize - p.w as isize;
                        let n = lanes[v] as isize;
                        let step = SW as isize;
                        range[v] = if EDGE {
                            let a = ((-c).max(0) + step - 1).div_euclid(step).clamp(0, n);
                            let b = (g.in_w as isize - c + step - 1)
                                .div_euclid(step)
                                .clamp(a, n);
                            (a as usize, b as usize)
                        } else {
                            (0, lanes[v])
                        };
                        at[v] = x_row.wrapping_offset(c);
                    }
                    let mut wp = w0.add(tap * MR);
                    for _ in c0..c1 {
                        if kw == 0 {
                            prefetch_next::<V, NV>(at[0], SW);
                        }
                        let mut xv = [V::splat(0.0); NV];
                        for v in 0..NV {
                            let (a, b) = range[v];
                            xv[v] = match (SW, EDGE) {
                                (1, false) => V::load(at[v], b),
                                (1, true) => V::load_range(at[v], a, b),
                                _ => V::load_even(at[v], a, b),
                            };
                            at[v] = at[v].wrapping_add(g.in_plane);
                        }
                        fma_tap(&mut acc, wp, &xv);
                        wp = wp.add(taps * MR);
                    }
                }
            }
        }
        store_sums::<V, MR, NV>(&acc, t, yp.wrapping_add(row), g.out_plane, &lanes);
    }
}

/// `MR` channels × `NV` vectors of the flattened output plane of a "same" layer (see
/// `Geometry::same`), points `f0..f0 + width`: the tile may span rows, and each tap masks the
/// lanes whose input point falls outside the plane or wraps to another row.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
// The tap indices address weights, offsets and masks of every vector at once.
#[allow(clippy::needless_range_loop)]
unsafe fn flat_tile<V: Lanes, const MR: usize, const KW: usize, const NV: usize>(
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    y: &mut [f32],
    t: &Tile,
    f0: usize,
    width: usize,
) {
    let (k, p) = (g.kernel, g.padding);
    let taps = k.volume();
    let (in_h, in_w) = (g.in_h as isize, g.in_w as isize);
    let lanes = lanes::<V, NV>(width);
    // Bit l of rows[kh] (cols[kw]): lane l of the tile (lane l - v N of vector v) reads an
    // input row (column) inside the plane at that tap. Built a row segment of the tile at a
    // time: a tile of at most 64 lanes spans few rows.
    debug_assert!(NV * V::N <= 64);
    let span = |a: isize, b: isize| -> u64 {
        let ones = |n: isize| if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
        ones(b) & !ones(a)
    };
    let mut rows = [0u64; 8];
    let mut cols = [0u64; 8];
    let (mut oy, mut ox) = ((f0 / g.out_w) as isize, (f0 % g.out_w) as isize);
    let (out_w, pw) = (g.out_w as isize, p.w as isize);
    let mut l = 0;
    while l < width as isize {
        // Lanes l..l + seg are columns ox..ox + seg of output row oy.
        let seg = (out_w - ox).min(width as isize - l);
        for (kh, bits) in rows.iter_mut().enumerate().take(k.h) {
            let iy = oy + kh as isize - p.h as isize;
            if iy >= 0 && iy < in_h {
                *bits |= span(l, l + seg);
            }
        }
        for (kw, bits) in cols.iter_mut().enumerate().take(KW) {
            // Column ox' reads input column ox' + kw - p.w: inside for ox' in lo..hi.
            let lo = (pw - kw as isize).max(ox);
            let hi = (in_w + pw - kw as isize).min(ox + seg);
            if lo < hi {
                *bits |= span(l + lo - ox, l + hi - ox);
            }
        }
        (l, oy, ox) = (l + seg, oy + 1, 0);
    }
    let yp = y.as_mut_ptr();
    let (c0, c1) = t.channels;
    // SAFETY (whole body): output points `f0 + v N + lane` (lane < lanes[v]) are inside the
    // plane of each of the tile's `MR` channels; an input lane is read only where its bit is
    // set, that is where its row and column are inside the plane, so at an input point of
    // channel `cl`'s plane; pointers are formed with wrapping arithmetic, as a masked lane's
    // may leave the buffer. Packed weights as in `row_tile`.
    unsafe {
        let mut acc = load_sums::<V, MR, NV>(t, yp.wrapping_add(f0), g.out_plane, &lanes);
        // Taps outside, channels inside (as in `row_tile`).
        let x0 = x.as_ptr().add(c0 * g.in_plane);
        for kh in 0..k.h {
            let dy = (kh as isize - p.h as isize) * in_w;
            for kw in 0..KW {
                let shift = dy + kw as isize - p.w as isize;
                let both = rows[kh] & cols[kw];
                let bits: [u32; NV] = core::array::from_fn(|v| (both >> (v * V::N)) as u32);
                let mut at = x0.wrapping_offset(f0 as isize + shift);
                let mut wp = w.as_ptr().add((kh * KW + kw) * MR);
                for _ in c0..c1 {
                    if kw == 0 {
                        prefetch_next::<V, NV>(at, 1);
                    }
                    let mut xv = [V::splat(0.0); NV];
                    for v in 0..NV {
                        xv[v] = V::load_bits(at.wrapping_add(v * V::N), bits[v]);
                    }
                    fma_tap(&mut acc, wp, &xv);
                    at = at.wrapping_add(g.in_plane);
                    wp = wp.add(taps * MR);
                }
            }
        }
        store_sums::<V, MR, NV>(&acc, t, yp.wrapping_add(f0), g.out_plane, &lanes);
    }
}

/// One tap of a tile: each of the `MR` weights at `w` (broadcast) times each of the tap's `NV`
/// input vectors, added to the sums.
///
/// # Safety
/// The instruction set is enabled; `MR` floats at `w` are readable.
#[inline(always)]
unsafe fn fma_tap<V: Lanes, const MR: usize, const NV: usize>(
    acc: &mut [[V; NV]; MR],
    w: *const f32,
    xv: &[V; NV],
) {
    for (j, a) in acc.iter_mut().enumerate() {
        // SAFETY: forwarded from the caller; `j < MR`.
        unsafe {
            let wj = V::splat(*w.add(j));
            for v in 0..NV {
                a[v] = wj.fma(xv[v], a[v]);
            }
        }
    }
}

/// Asks for the lines the next tile along the row reads where this one reads from `at` (a
/// row of channel after channel, a plane apart: no hardware prefetcher follows that). A hint:
/// it reads nothing, so `at` may point anywhere.
#[inline(always)]
unsafe fn prefetch_next<V: Lanes, const NV: usize>(at: *const f32, stride: usize) {
    let next = at.wrapping_add(NV * V::N * stride);
    for line in 0..NV * stride * V::N / 16 {
        // SAFETY: a prefetch reads no memory and cannot fault.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(next.wrapping_add(line * 16) as *const i8) };
    }
}

/// Lanes used in each of a tile's `NV` vectors, `width` points in all.
#[inline(always)]
fn lanes<V: Lanes, const NV: usize>(width: usize) -> [usize; NV] {
    core::array::from_fn(|v| width.saturating_sub(v * V::N).min(V::N))
}

/// A tile's sums at the start of a chunk: zero for the first, else what the previous chunk
/// stored. `y` points at the tile's first point of its first channel's plane.
///
/// # Safety
/// The instruction set is enabled; `lanes[v]` values from `y + j plane + v N` are readable for
/// every channel `j < MR`.
#[inline(always)]
unsafe fn load_sums<V: Lanes, const MR: usize, const NV: usize>(
    t: &Tile,
    y: *const f32,
    plane: usize,
    lanes: &[usize; NV],
) -> [[V; NV]; MR] {
    // SAFETY: the caller enables the instruction set.
    let mut acc = unsafe { [[V::splat(0.0); NV]; MR] };
    if !t.first {
        for (j, a) in acc.iter_mut().enumerate() {
            for (v, lane) in a.iter_mut().enumerate() {
                // SAFETY: forwarded from the caller.
                *lane = unsafe { V::load(y.wrapping_add(j * plane + v * V::N), lanes[v]) };
            }
        }
    }
    acc
}

/// Stores a tile's sums: with the epilogue after the last chunk, as they are otherwise.
///
/// # Safety
/// As for [`load_sums`], writing.
#[inline(always)]
unsafe fn store_sums<V: Lanes, const MR: usize, const NV: usize>(
    acc: &[[V; NV]; MR],
    t: &Tile,
    y: *mut f32,
    plane: usize,
    lanes: &[usize; NV],
) {
    for (j, a) in acc.iter().enumerate() {
        // SAFETY: the caller enables the instruction set.
        let (scale, shift) = unsafe { (V::splat(t.scale[j]), V::splat(t.shift[j])) };
        for (v, lane) in a.iter().enumerate() {
            // SAFETY: forwarded from the caller: the lanes written are inside the plane.
            unsafe {
                let out = if t.last {
                    lane.fma(scale, shift).activate(t.act)
                } else {
                    *lane
                };
                out.store(y.wrapping_add(j * plane + v * V::N), lanes[v]);
            }
        }
    }
}

/// The taps `lo..hi` (of `taps`, `dilation` apart) that read inside an input axis of `len` from
/// an output whose first tap reads `start - padding`.
#[inline(always)]
fn inside(
    start: usize,
    padding: usize,
    dilation: usize,
    taps: usize,
    len: usize,
) -> (usize, usize) {
    let lo = padding.saturating_sub(start).div_ceil(dilation).min(taps);
    let hi = if len + padding > start {
        ((len + padding - start - 1) / dilation + 1).min(taps)
    } else {
        0
    };
    (lo, hi.max(lo))
}

/// # Safety
/// The processor has AVX-512F; `x` holds `inputs` values, `w` `y.len()` rows of `inputs`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn dots_avx512(x: &[f32], w: &[f32], inputs: usize, y: &mut [f32]) {
    // SAFETY: forwarded from the caller.
    unsafe { dots::<Zmm>(x, w, inputs, y) }
}

/// # Safety
/// The processor has AVX2 and FMA; `x` holds `inputs` values, `w` `y.len()` rows of `inputs`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dots_avx2(x: &[f32], w: &[f32], inputs: usize, y: &mut [f32]) {
    // SAFETY: forwarded from the caller.
    unsafe { dots::<Ymm>(x, w, inputs, y) }
}

/// `y[o] = sum over i of w[o, i] x[i]`: four rows at a time, each with two vectors of
/// partial sums, so that one load of `x` serves four rows and eight independent chains of
/// multiply-adds keep both units busy; the tail of a row is a masked load.
#[inline(always)]
unsafe fn dots<V: Lanes>(x: &[f32], w: &[f32], inputs: usize, y: &mut [f32]) {
    const ROWS: usize = 4;
    let (xp, wp) = (x.as_ptr(), w.as_ptr());
    let step = 2 * V::N;
    // SAFETY (whole body): every load reads `lanes <= N` values at `i < inputs` of `x` or of
    // a row `o < y.len()` of `w`, inside the slices the caller vouches for.
    unsafe {
        let mut o = 0;
        while o < y.len() {
            let rows = (y.len() - o).min(ROWS);
            let mut acc = [[V::splat(0.0); 2]; ROWS];
            let mut i = 0;
            while i < inputs {
                let n0 = (inputs - i).min(V::N);
                let n1 = (inputs - i).saturating_sub(V::N).min(V::N);
                let x0 = V::load(xp.add(i), n0);
                let x1 = V::load(xp.wrapping_add(i + V::N), n1);
                for (r, a) in acc.iter_mut().enumerate().take(rows) {
                    let row = wp.add((o + r) * inputs + i);
                    a[0] = V::load(row, n0).fma(x0, a[0]);
                    a[1] = V::load(row.wrapping_add(V::N), n1).fma(x1, a[1]);
                }
                i += step;
            }
            for (r, a) in acc.iter().enumerate().take(rows) {
                y[o + r] = a[0].add(a[1]).sum();
            }
            o += rows;
        }
    }
}

/// # Safety
/// The processor has AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn fma_chains_avx512(rounds: usize, m: f32, c: f32) -> f32 {
    // SAFETY: forwarded from the caller.
    unsafe { fma_chains::<Zmm>(rounds, m, c) }
}

/// # Safety
/// The processor has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn fma_chains_avx2(rounds: usize, m: f32, c: f32) -> f32 {
    // SAFETY: forwarded from the caller.
    unsafe { fma_chains::<Ymm>(rounds, m, c) }
}

/// `rounds` rounds of `a = a * m + c` on [`super::FMA_CHAINS`] vectors held in registers
/// (vector `i` starting at `i` in every lane); the sum of their lanes at the end.
#[inline(always)]
unsafe fn fma_chains<V: Lanes>(rounds: usize, m: f32, c: f32) -> f32 {
    // SAFETY (whole body): the caller enables the instruction set; nothing is read or written
    // through a pointer.
    unsafe {
        let mut acc: [V; super::FMA_CHAINS] = core::array::from_fn(|i| V::splat(i as f32));
        let (m, c) = (V::splat(m), V::splat(c));
        for _ in 0..rounds {
            for a in &mut acc {
                *a = a.fma(m, c);
            }
        }
        acc.iter().fold(0.0, |s, a| s + a.sum())
    }
}

/// Floats of the stack buffer into which the depthwise kernel pads a band of one channel's
/// rows (16 KiB).
const BAND: usize = 4096;

/// Taps of the largest depthwise window the kernel takes (8 × 8).
const DEPTHWISE_TAPS: usize = 64;

/// # Safety
/// The processor has AVX-512F; the slices hold the shapes `g` describes, the epilogue's
/// slices its channels.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn depthwise_avx512(
    g: &Geometry,
    input: &[f32],
    weight: &[f32],
    ep: &Epilogue<'_>,
    output: &mut [f32],
) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe { depthwise::<Zmm>(g, input, weight, ep, output) }
}

/// # Safety
/// The processor has AVX2 and FMA; otherwise as for [`depthwise_avx512`].
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn depthwise_avx2(
    g: &Geometry,
    input: &[f32],
    weight: &[f32],
    ep: &Epilogue<'_>,
    output: &mut [f32],
) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe { depthwise::<Ymm>(g, input, weight, ep, output) }
}

/// A convolution whose output channels each read one input channel (depthwise layers, with
/// any channel multiplier, and first layers of one input channel), one input channel at a
/// time: a band of the channel's rows is copied into a stack buffer with its padding written out as
/// zeros, and, for stride 2 along the width, its even and odd columns apart; then every tap of
/// every output vector is one unmasked load from the buffer and one multiply-add, with no
/// border cases. Depthwise layers on small planes take [`depthwise_flat`] instead. Returns
/// `false` (and does nothing) for the layers it does not take: windows
/// of more than 64 taps, dilation along the width, rows too long for the buffer.
///
/// # Safety
/// The instruction set is enabled; the slices hold the shapes `g` describes.
#[inline(always)]
unsafe fn depthwise<V: Lanes>(
    g: &Geometry,
    input: &[f32],
    weight: &[f32],
    ep: &Epilogue<'_>,
    output: &mut [f32],
) -> bool {
    let (k, s, d) = (g.kernel, g.stride, g.dilation);
    let taps = k.h * k.w;
    if g.in_per_group != 1
        || g.in_d != 1
        || g.rows_d != 1
        || k.d != 1
        || taps > DEPTHWISE_TAPS
        || d.w != 1
        || s.w > 2
    {
        return false;
    }
    // SAFETY: forwarded from the caller.
    if unsafe { depthwise_interleaved::<V>(g, input, weight, ep, output) } {
        return true;
    }
    // SAFETY: forwarded from the caller.
    if unsafe { depthwise_flat::<V>(g, input, weight, ep, output) } {
        return true;
    }
    // Each output row goes in vectors over `cover` columns; tap `kw` of column `ow` reads
    // padded column `ow + kw` (stride 1), or column `ow + kw / 2` of the even (`kw` even) or
    // odd plane (stride 2). A plane's row holds `ls` columns, whole vectors.
    let cover = g.out_w.div_ceil(V::N) * V::N;
    let reach = if s.w == 1 {
        cover + k.w - 1
    } else {
        cover + (k.w - 1) / 2
    };
    // The row holds the whole padded input row too (its last columns may be read by no
    // window, but are copied all the same).
    let reach = reach.max((g.padding.w + g.in_w).div_ceil(s.w));
    let ls = reach.next_multiple_of(V::N);
    let row_len = ls * s.w;
    // Padded rows one output row reads, and output rows per band.
    let span = (k.h - 1) * d.h + 1;
    let capacity = BAND / row_len;
    if capacity < span {
        return false;
    }
    let band = (capacity - span) / s.h + 1;
    let mut offsets = [0usize; DEPTHWISE_TAPS];
    for kh in 0..k.h {
        for kw in 0..k.w {
            let column = if s.w == 1 { kw } else { (kw % 2) * ls + kw / 2 };
            offsets[kh * k.w + kw] = kh * d.h * row_len + column;
        }
    }
    let offsets = &offsets[..taps];
    let mut buf = [0.0f32; BAND];
    let bp = buf.as_mut_ptr();
    let opg = g.out_per_group;
    for c in 0..g.groups {
        let x = &input[c * g.in_plane..(c + 1) * g.in_plane];
        let mut o0 = 0;
        while o0 < g.rows_h {
            let o1 = (o0 + band).min(g.rows_h);
            let r0 = o0 * s.h;
            let r1 = (o1 - 1) * s.h + span;
            for r in r0..r1 {
                // SAFETY: `(r1 - r0) <= capacity` rows of `row_len` fit in the buffer.
                unsafe { pad_row::<V>(g, x, bp.add((r - r0) * row_len), r, ls) };
            }
            // Every output channel of the group reads the same band: two at a time where the
            // group has several (a channel multiplier, a first layer of one input channel), so
            // that each vector loaded serves both.
            let mut co = c * opg;
            while co < (c + 1) * opg {
                let pair = (c + 1) * opg - co >= 2;
                let m = if pair { 2 } else { 1 };
                let mut scale = [0.0; 2];
                let mut shift = [0.0; 2];
                for j in 0..m {
                    (scale[j], shift[j]) = ep.channel(co + j);
                }
                // The channels' weights, `taps` apart, and output planes, `out_plane` apart.
                let w = &weight[co * taps..(co + m) * taps];
                let y = &mut output[co * g.out_plane..(co + m) * g.out_plane];
                let mut oh = o0;
                while oh < o1 {
                    // Four rows at a time (eight or four chains of multiply-adds per channel),
                    // then one.
                    let rows = if o1 - oh >= 4 { 4 } else { 1 };
                    // SAFETY: output rows `oh..oh + rows` read padded rows from `oh s.h` to
                    // `(oh + rows - 1) s.h + span`, in the band; the tile's vectors read
                    // columns below `reach`, inside the rows written; `m` channels' weights
                    // and output planes are in `w` and `y`.
                    unsafe {
                        let base = bp.add((oh * s.h - r0) * row_len);
                        let row = y.as_mut_ptr().add(oh * g.out_w);
                        let step = (s.h * row_len, g.out_w, g.out_plane);
                        let mut ow = 0;
                        while ow < g.out_w {
                            let width = (2 * V::N).min(g.out_w - ow);
                            let (b, o) = (base.add(ow), row.add(ow));
                            let at = (w.as_ptr(), offsets, scale, shift, ep.act);
                            macro_rules! tile {
                                ($m:literal) => {
                                    match (width > V::N, rows) {
                                        (false, 1) => {
                                            depthwise_tile::<V, 1, 1, $m>(b, at, o, step, width)
                                        }
                                        (false, _) => {
                                            depthwise_tile::<V, 1, 4, $m>(b, at, o, step, width)
                                        }
                                        (true, 1) => {
                                            depthwise_tile::<V, 2, 1, $m>(b, at, o, step, width)
                                        }
                                        (true, _) => {
                                            depthwise_tile::<V, 2, 4, $m>(b, at, o, step, width)
                                        }
                                    }
                                };
                            }
                            if pair {
                                tile!(2)
                            } else {
                                tile!(1)
                            }
                            ow += width;
                        }
                    }
                    oh += rows;
                }
                co += m;
            }
            o0 = o1;
        }
    }
    true
}

/// Floats of the buffer of [`depthwise_interleaved`]: a band of padded rows whose points are
/// each a vector of channels (16 KiB).
const INTERLEAVED: usize = 4096;

/// How [`depthwise_interleaved`] walks a layer: bands of `band` output rows, each reading
/// `(band - 1) s.h + span` padded rows of `row` floats (a vector of channels per padded point).
pub(super) struct Interleaved {
    row: usize,
    span: usize,
    band: usize,
}

impl Interleaved {
    /// The bands of a depthwise layer (channel multiplier 1) of a 3×3 or 5×5 window with
    /// `lanes`-lane vectors, if it has a vector of channels or more, a band of its padded rows
    /// fits the buffer, and its rows of vectors would run slower: an output plane of at most 256
    /// points, or a strided layer whose output rows leave a quarter of their vectors' lanes
    /// idle or more. On Zen 4 at AVX-512, MobileNetV2's layers (3×3) ran in 0.4-0.7 of the
    /// time of rows of vectors on planes of 3×3 to 14×14, 0.26-0.67 strided to 3×3 and 12×12,
    /// 0.8 from 48×48 to 24×24; even at 24×24, slower at 28×28 (1.1-1.2) and 48×48 (1.3-1.5);
    /// at AVX2 in 0.5-0.9 up to 14×14, 2 at 24×24, whose rows fill their vectors.
    pub(super) fn of(g: &Geometry, lanes: usize) -> Option<Interleaved> {
        let (k, s, p, d) = (g.kernel, g.stride, g.padding, g.dilation);
        let idle = 4 * g.out_w <= 3 * g.out_w.next_multiple_of(lanes);
        if g.in_per_group != 1
            || g.out_per_group != 1
            || g.in_d != 1
            || g.rows_d != 1
            || k.d != 1
            || !matches!(k.h * k.w, 9 | 25)
            || g.groups < lanes
            || !(g.out_plane <= 256 || (s.h * s.w > 1 && idle))
        {
            return None;
        }
        let row = (g.in_w + 2 * p.w) * lanes;
        let span = (k.h - 1) * d.h + 1;
        let capacity = INTERLEAVED / row;
        (capacity >= span).then(|| Interleaved {
            row,
            span,
            band: (capacity - span) / s.h + 1,
        })
    }
}

/// A depthwise layer (see [`Interleaved::of`]) with the channels in lanes, if it takes it: for
/// each vector of channels, a band of the padded input rows is transposed, a block of a vector
/// of points at a time, into a buffer of `[point][channel]` (the padding zeros), and the taps'
/// weights into a vector each; then every tap of every output point is one load and one
/// multiply-add of whole vectors, four points at a time, and each block of a vector of output
/// points is transposed back and stored to the channels' planes. No lane idles on a plane's
/// edges, whatever its size or stride. Returns `false` (and does nothing) for the layers it
/// does not take.
///
/// # Safety
/// The instruction set is enabled; the slices hold the shapes `g` describes.
#[inline(always)]
unsafe fn depthwise_interleaved<V: Lanes>(
    g: &Geometry,
    input: &[f32],
    weight: &[f32],
    ep: &Epilogue<'_>,
    output: &mut [f32],
) -> bool {
    let Some(l) = Interleaved::of(g, V::N) else {
        return false;
    };
    assert!(input.len() >= g.groups * g.in_plane && output.len() >= g.groups * g.out_plane);
    // SAFETY: forwarded from the caller; the slices were checked.
    unsafe {
        match g.kernel.h * g.kernel.w {
            9 => interleaved::<V, 9>(g, &l, input, weight, ep, output),
            _ => interleaved::<V, 25>(g, &l, input, weight, ep, output),
        }
    }
    true
}

/// The epilogue's scale and shift ([`Epilogue::channel`]) of channels `c0..c0 + m` (`m <=
/// N`), a lane each, zero past `m`.
///
/// # Safety
/// The instruction set is enabled.
#[inline(always)]
unsafe fn channel_vectors<V: Lanes>(ep: &Epilogue<'_>, c0: usize, m: usize) -> (V, V) {
    // (A function, not a closure: see `depthwise_flat`.)
    #[inline(always)]
    unsafe fn lanes<V: Lanes>(values: &[f32]) -> V {
        // SAFETY: the caller enables the instruction set; the load reads `values` only.
        unsafe { V::load(values.as_ptr(), values.len()) }
    }
    // SAFETY: forwarded from the caller; each load reads the `m` channels' values only.
    unsafe {
        let bias = match ep.bias {
            Some(b) => lanes::<V>(&b[c0..c0 + m]),
            None => V::splat(0.0),
        };
        match ep.norm {
            Some(n) => {
                let scale = lanes::<V>(&n.scale[c0..c0 + m]);
                let mean = lanes::<V>(&n.mean[c0..c0 + m]);
                let shift = lanes::<V>(&n.shift[c0..c0 + m]);
                (scale, bias.sub(mean).fma(scale, shift))
            }
            None => (V::splat(1.0), bias),
        }
    }
}

/// [`depthwise_interleaved`] for a window of `T` taps.
///
/// # Safety
/// The instruction set is enabled; `input` and `output` hold the layer's planes, `weight`
/// `T` weights per channel; `l` is the layer's [`Interleaved`].
#[inline(always)]
unsafe fn interleaved<V: Lanes, const T: usize>(
    g: &Geometry,
    l: &Interleaved,
    input: &[f32],
    weight: &[f32],
    ep: &Epilogue<'_>,
    output: &mut [f32],
) {
    let (k, s, p, d) = (g.kernel, g.stride, g.padding, g.dilation);
    assert!(k.h * k.w == T && weight.len() >= g.groups * T);
    // Tap `(kh, kw)` of the output point whose window starts at `base` reads the point at
    // `base + offsets[kh k.w + kw]`.
    let mut offsets = [0usize; T];
    for kh in 0..k.h {
        for kw in 0..k.w {
            offsets[kh * k.w + kw] = kh * d.h * l.row + kw * d.w * V::N;
        }
    }
    let wide = g.in_w + 2 * p.w;
    // The padding columns are written once, as zeros: every band writes the same columns.
    let mut buf = Aligned([MaybeUninit::uninit(); INTERLEAVED]);
    let rows = (l.band.min(g.rows_h) - 1) * s.h + l.span;
    let bp = zeroed(&mut buf.0, rows * l.row).as_mut_ptr();
    // Where each input point of a band goes in the buffer, and where each output point's
    // window starts, from the band's first input row and first output point (the same for
    // every band and every vector of channels). A band's points fit the buffer, and so do
    // these tables (a point is a vector of at least 8 floats).
    let (band_in, band_out) = (rows.min(g.in_h) * g.in_w, l.band.min(g.rows_h) * g.out_w);
    assert!(band_in <= INTERLEAVED / 8 && band_out <= INTERLEAVED / 8);
    let (mut into, mut from) = ([0u16; INTERLEAVED / 8], [0u16; INTERLEAVED / 8]);
    for (e, to) in into.iter_mut().enumerate().take(band_in) {
        *to = (((e / g.in_w) * wide + e % g.in_w + p.w) * V::N) as u16;
    }
    for (e, to) in from.iter_mut().enumerate().take(band_out) {
        *to = (((e / g.out_w) * s.h * wide + (e % g.out_w) * s.w) * V::N) as u16;
    }
    let mut c0 = 0;
    while c0 < g.groups {
        let m = (g.groups - c0).min(V::N);
        // SAFETY (whole body): loads read the `m` channels' planes, weights and epilogue only
        // (the lanes of the others masked off); the buffer's reads and writes stay inside the
        // band's `(band - 1) s.h + span` rows of `l.row` floats, which fit it (`of`); output
        // stores write the `m` channels' planes only.
        unsafe {
            // Each tap's weights, a vector of the channels'.
            let mut w = [V::splat(0.0); T];
            for t0 in (0..T).step_by(V::N) {
                let len = (T - t0).min(V::N);
                let mut v = [V::splat(0.0); 16];
                for (c, v) in v.iter_mut().enumerate().take(V::N) {
                    let at = weight.as_ptr().wrapping_add((c0 + c) * T + t0);
                    *v = V::load(at, if c < m { len } else { 0 });
                }
                V::transpose(&mut v);
                for (j, v) in v.iter().enumerate().take(len) {
                    w[t0 + j] = *v;
                }
            }
            let (scale, shift) = channel_vectors::<V>(ep, c0, m);
            let x = input.as_ptr().add(c0 * g.in_plane);
            let y = output.as_mut_ptr().add(c0 * g.out_plane);
            let mut o0 = 0;
            while o0 < g.rows_h {
                let o1 = (o0 + l.band).min(g.rows_h);
                // Padded rows `r0..r1` in the buffer, input rows `i0..i1` among them.
                let (r0, r1) = (o0 * s.h, (o1 - 1) * s.h + l.span);
                // The rows of padding in a band hold zeros (as the buffer starts) unless an
                // earlier band wrote input rows there: a layer of one band never rewrites them.
                for r in r0..r1 {
                    if l.band < g.rows_h && (r < p.h || r >= p.h + g.in_h) {
                        for j in (0..l.row).step_by(V::N) {
                            V::splat(0.0).store(bp.add((r - r0) * l.row + j), V::N);
                        }
                    }
                }
                let (i0, i1) = (r0.max(p.h) - p.h, r1.min(p.h + g.in_h).saturating_sub(p.h));
                let (start, end) = (i0 * g.in_w, i1 * g.in_w);
                let first = (i0 + p.h - r0) * l.row;
                let mut q = start;
                while q < end {
                    let n = (end - q).min(V::N);
                    let mut v = [V::splat(0.0); 16];
                    for (c, v) in v.iter_mut().enumerate().take(V::N) {
                        let at = x.wrapping_add(c * g.in_plane + q);
                        *v = V::load(at, if c < m { n } else { 0 });
                    }
                    V::transpose(&mut v);
                    let into = &into[q - start..];
                    for (j, v) in v.iter().enumerate().take(V::N) {
                        if j < n {
                            v.store(bp.add(first + into[j] as usize), V::N);
                        }
                    }
                    q += n;
                }
                // Output points `o0 out_w..o1 out_w`, a vector of them at a time.
                let (start, end) = (o0 * g.out_w, o1 * g.out_w);
                let mut q = start;
                while q < end {
                    let n = (end - q).min(V::N);
                    // Where each point's window starts (the last point's for the lanes past
                    // `n`: computed, never stored).
                    let mut base = [0usize; 16];
                    for (j, b) in base.iter_mut().enumerate().take(V::N) {
                        *b = from[(q + j).min(end - 1) - start] as usize;
                    }
                    let mut v = [V::splat(0.0); 16];
                    for j0 in (0..V::N).step_by(4) {
                        if j0 < n {
                            let mut acc = [V::splat(0.0); 4];
                            for (t, &off) in offsets.iter().enumerate() {
                                for (a, &b) in acc.iter_mut().zip(&base[j0..j0 + 4]) {
                                    *a = V::load(bp.add(b + off), V::N).fma(w[t], *a);
                                }
                            }
                            for (j, a) in acc.iter().enumerate() {
                                v[j0 + j] = a.fma(scale, shift).activate(ep.act);
                            }
                        }
                    }
                    V::transpose(&mut v);
                    for (c, v) in v.iter().enumerate().take(V::N) {
                        v.store(
                            y.wrapping_add(c * g.out_plane + q),
                            if c < m { n } else { 0 },
                        );
                    }
                    q += n;
                }
                o0 = o1;
            }
        }
        c0 += m;
    }
}

/// Floats of the stack buffer of [`depthwise_flat`]: two sets of [`FLAT_CHANNELS`] slots, each
/// a channel's padded plane split by stride phase (16 KiB).
const FLAT_BUF: usize = 4096;

/// Channels a [`depthwise_flat`] tile computes at once: independent chains of multiply-adds
/// where a small plane is a vector or two.
const FLAT_CHANNELS: usize = 4;

/// Runs of output lanes a [`depthwise_flat`] layer may store: one per output row and vector.
const FLAT_RUNS: usize = 160;

/// How [`depthwise_flat`] lays a layer out: padded planes split into `s.h × s.w` stride phases
/// of `hq × wq` (padded row `r`, column `c` at row `r / s.h`, column `c / s.w` of phase `(r %
/// s.h, c % s.w)`), a slot of `slot` floats per channel, output point `(oh, ow)` at lane `oh wq
/// + ow` of lanes `0..cover` (`nv` vectors at a time), and tap `(kh, kw)` reading lane `q` at
/// `q + offsets[kh k.w + kw]`.
pub(super) struct Flat {
    hq: usize,
    wq: usize,
    slot: usize,
    cover: usize,
    nv: usize,
    taps: usize,
    offsets: [usize; DEPTHWISE_TAPS],
}

impl Flat {
    /// Each tap's offset, in the kernel's order.
    fn offsets(&self) -> &[usize] {
        &self.offsets[..self.taps]
    }

    /// The layout of a depthwise layer of dilation 1 and stride at most 2 with `lanes`-lane
    /// vectors, if it fills the lanes at least a quarter better than rows of vectors do (a 3×3
    /// or 6×6 plane at 16 lanes: 9 of 16 lanes against 3 of 16 per row, 36 of 48 against 6 of
    /// 16; 12×12 and 24×24 planes keep their rows, the flat layout measured no faster) and two
    /// sets of slots fit the buffer.
    pub(super) fn of(g: &Geometry, lanes: usize) -> Option<Flat> {
        let (k, s, p, d) = (g.kernel, g.stride, g.padding, g.dilation);
        let taps = k.h * k.w;
        if g.in_per_group != 1
            || g.out_per_group != 1
            || g.in_d != 1
            || g.rows_d != 1
            || k.d != 1
            || taps > DEPTHWISE_TAPS
            || d.h != 1
            || d.w != 1
            || s.h > 2
            || s.w > 2
        {
            return None;
        }
        let (hq, wq) = (
            (g.in_h + 2 * p.h).div_ceil(s.h),
            (g.in_w + 2 * p.w).div_ceil(s.w),
        );
        let mut offsets = [0usize; DEPTHWISE_TAPS];
        for kh in 0..k.h {
            for kw in 0..k.w {
                let phase = (kh % s.h) * s.w + kw % s.w;
                offsets[kh * k.w + kw] = phase * hq * wq + (kh / s.h) * wq + kw / s.w;
            }
        }
        // Lanes from the first output point to the last, in vectors of one or two.
        let span = (g.rows_h - 1) * wq + g.out_w;
        let nv = if span <= lanes { 1 } else { 2 };
        let cover = span.next_multiple_of(nv * lanes);
        let reach = cover + offsets[..taps].iter().max().copied().unwrap_or(0);
        let slot = reach.max(s.h * s.w * hq * wq).next_multiple_of(lanes);
        let rows = g.out_w.next_multiple_of(lanes);
        let better = 4 * g.rows_h * rows >= 5 * cover;
        let runs = g.rows_h + cover / lanes;
        (better && 2 * FLAT_CHANNELS * slot <= FLAT_BUF && runs <= FLAT_RUNS).then_some(Flat {
            hq,
            wq,
            slot,
            cover,
            nv,
            taps,
            offsets,
        })
    }
}

/// A depthwise layer on planes whose rows fill vectors badly (see [`Flat::of`]), if it is one:
/// each channel's padded plane is copied whole into a slot, and the output computed over the
/// flattened slot, rows `wq` apart, so that the lanes run on across rows; the lanes of the
/// padding columns are computed and not stored. Tiles take [`FLAT_CHANNELS`] channels at a
/// time; the next tile's planes are copied in before a tile runs, so that its loads do not
/// wait on the stores that copied its own. Returns `false` (and does nothing) for the layers
/// [`Flat::of`] leaves to rows.
///
/// # Safety
/// The instruction set is enabled; the slices hold the shapes `g` describes.
#[inline(always)]
unsafe fn depthwise_flat<V: Lanes>(
    g: &Geometry,
    input: &[f32],
    weight: &[f32],
    ep: &Epilogue<'_>,
    output: &mut [f32],
) -> bool {
    let Some(f) = Flat::of(g, V::N) else {
        return false;
    };
    let taps = f.taps;
    assert!(input.len() >= g.groups * g.in_plane && output.len() >= g.groups * g.out_plane);
    assert!(weight.len() >= g.groups * taps);
    // The output runs of each vector: lanes `a..b` of vector `v` go to output points from
    // `at + a` (`at` may be negative: only lanes from `a` are stored).
    let mut runs = [(0usize, 0isize, 0usize, 0usize); FLAT_RUNS];
    let mut n = 0;
    for v in 0..f.cover / V::N {
        let q = v * V::N;
        for oh in q / f.wq..((q + V::N - 1) / f.wq + 1).min(g.rows_h) {
            let row = oh * f.wq;
            let (a, b) = (
                row.max(q) - q,
                (row + g.out_w).min(q + V::N).saturating_sub(q),
            );
            if a < b {
                runs[n] = (
                    v,
                    (oh * g.out_w) as isize - (row as isize - q as isize),
                    a,
                    b,
                );
                n += 1;
            }
        }
    }
    let runs = &runs[..n];
    // The padding is written once, as zeros: every channel writes the same places of a slot.
    let mut buf = [0.0f32; FLAT_BUF];
    let set = FLAT_CHANNELS * f.slot;
    let width = |c: usize| {
        if g.groups - c >= FLAT_CHANNELS {
            FLAT_CHANNELS
        } else {
            1
        }
    };
    // (A function, not a closure: a closure would not inherit the instruction set, and its
    // vector operations would be calls.)
    #[inline(always)]
    unsafe fn copy<V: Lanes>(g: &Geometry, f: &Flat, x: &[f32], slots: &mut [f32], m: usize) {
        for j in 0..m {
            let x = &x[j * g.in_plane..(j + 1) * g.in_plane];
            let slot = &mut slots[j * f.slot..(j + 1) * f.slot];
            // SAFETY: the instruction set is enabled (forwarded from the caller); the slot
            // holds the `s.h × s.w` phases of the padded plane.
            unsafe { flat_plane::<V>(g, x, slot, f.hq, f.wq) };
        }
    }
    let channels = |c: usize| &input[c * g.in_plane..(c + width(c)) * g.in_plane];
    // SAFETY: forwarded from the caller.
    unsafe { copy::<V>(g, &f, channels(0), &mut buf[..set], width(0)) };
    let (mut c, mut which) = (0, 0);
    while c < g.groups {
        let m = width(c);
        if c + m < g.groups {
            let next = &mut buf[(1 - which) * set..(2 - which) * set];
            // SAFETY: forwarded from the caller.
            unsafe { copy::<V>(g, &f, channels(c + m), next, width(c + m)) };
        }
        let mut scale = [0.0; FLAT_CHANNELS];
        let mut shift = [0.0; FLAT_CHANNELS];
        for j in 0..m {
            (scale[j], shift[j]) = ep.channel(c + j);
        }
        let y = &mut output[c * g.out_plane..(c + m) * g.out_plane];
        let at = (
            buf[which * set..].as_ptr(),
            weight[c * taps..(c + m) * taps].as_ptr(),
            &f,
            (scale, shift, ep.act),
        );
        // SAFETY: the tile reads each of its `m` slots (`f.slot` apart) below `f.slot`, the
        // `m` channels' weights, and writes the runs' lanes, output points of its `m` planes.
        unsafe {
            match (m, f.nv) {
                (FLAT_CHANNELS, 1) => flat_tile_dw::<V, FLAT_CHANNELS, 1>(at, runs, y, g.out_plane),
                (FLAT_CHANNELS, _) => flat_tile_dw::<V, FLAT_CHANNELS, 2>(at, runs, y, g.out_plane),
                (_, 1) => flat_tile_dw::<V, 1, 1>(at, runs, y, g.out_plane),
                _ => flat_tile_dw::<V, 1, 2>(at, runs, y, g.out_plane),
            }
        }
        (c, which) = (c + m, 1 - which);
    }
    true
}

/// Copies one channel's plane `x` into `slot` split by stride phase (see [`depthwise_flat`]):
/// input row `r` is padded row `r + p.h`, row `(r + p.h) / s.h` of the phases of parity
/// `(r + p.h) % s.h`; its even and odd padded columns go to the phases of column parity 0 and
/// 1 (both to the one phase for stride 1). The padding is left as it is.
///
/// # Safety
/// The instruction set is enabled; `slot` holds `s.h s.w hq wq` floats, `hq` and `wq` the
/// padded plane's rows and columns divided by the stride, rounded up.
#[inline(always)]
unsafe fn flat_plane<V: Lanes>(g: &Geometry, x: &[f32], slot: &mut [f32], hq: usize, wq: usize) {
    let (p, s, n) = (g.padding, g.stride, g.in_w);
    assert!(slot.len() >= s.h * s.w * hq * wq && x.len() >= g.in_h * n);
    let phase = hq * wq;
    for (r, src) in x.chunks_exact(n).take(g.in_h).enumerate() {
        let (parity, row) = ((r + p.h) % s.h, (r + p.h) / s.h);
        let first = parity * s.w * phase + row * wq;
        // SAFETY: padded column `p.w + i` of a row of `wq s.w` columns lands inside its
        // phase's row (phases `phase` apart), so every store stays inside `slot`.
        unsafe { pad_columns::<V>(src, slot.as_mut_ptr().add(first), p.w, s.w, phase) };
    }
}

/// `M` channels over lanes `0..cover` of their slots (`f.slot` apart from `at.0`), `NV`
/// vectors at a time: every tap one load per channel and vector at the tap's offset and one
/// multiply-add by the channel's weight (channel `m`'s at `at.1 + m taps`); the epilogue in
/// registers, then each run of a vector stored to channel `m`'s plane, `plane` floats apart
/// in `y`.
///
/// # Safety
/// The instruction set is enabled; each slot is readable to `f.slot`, which is at least
/// `f.cover` plus the largest offset; the runs' lanes are output points of a plane.
#[inline(always)]
#[allow(clippy::type_complexity)]
// The channel and vector indices address the sums of every channel at once.
#[allow(clippy::needless_range_loop)]
unsafe fn flat_tile_dw<V: Lanes, const M: usize, const NV: usize>(
    (slots, w, f, (scale, shift, act)): (
        *const f32,
        *const f32,
        &Flat,
        ([f32; FLAT_CHANNELS], [f32; FLAT_CHANNELS], Activation),
    ),
    runs: &[(usize, isize, usize, usize)],
    y: &mut [f32],
    plane: usize,
) {
    let taps = f.taps;
    let yp = y.as_mut_ptr();
    let mut next = 0;
    // SAFETY: forwarded from the caller.
    unsafe {
        for q in (0..f.cover).step_by(NV * V::N) {
            let mut acc = [[V::splat(0.0); NV]; M];
            for (t, &off) in f.offsets().iter().enumerate() {
                for m in 0..M {
                    let wv = V::splat(*w.add(m * taps + t));
                    let at = slots.add(m * f.slot + q + off);
                    for v in 0..NV {
                        acc[m][v] = V::load(at.add(v * V::N), V::N).fma(wv, acc[m][v]);
                    }
                }
            }
            for m in 0..M {
                let (scale, shift) = (V::splat(scale[m]), V::splat(shift[m]));
                for v in 0..NV {
                    acc[m][v] = acc[m][v].fma(scale, shift).activate(act);
                }
            }
            let last = q / V::N + NV;
            while next < runs.len() && runs[next].0 < last {
                let (v, from, a, b) = runs[next];
                let v = v - q / V::N;
                for m in 0..M {
                    acc[m][v].store_range(yp.wrapping_offset(from).wrapping_add(m * plane), a, b);
                }
                next += 1;
            }
        }
    }
}

/// Writes padded row `r` of one channel's plane `x` at `dst`: input row `r - p.h` at column
/// `p.w`, or, for stride 2 along the width, its even and odd padded columns in two planes
/// `ls` floats apart (padded column `2 j + parity` at `parity ls + j`). A row outside the input
/// is all zeros. The other columns are left as they are: zero, as the buffer starts and as only
/// these columns of a row are ever written.
///
/// # Safety
/// The instruction set is enabled; `dst` has room for `ls * g.stride.w` floats, a multiple of
/// the vector width, and `ls` covers the padded row.
#[inline(always)]
unsafe fn pad_row<V: Lanes>(g: &Geometry, x: &[f32], dst: *mut f32, r: usize, ls: usize) {
    let (p, sw, n) = (g.padding, g.stride.w, g.in_w);
    // SAFETY (whole body): stores stay inside the `ls * sw` floats at `dst`: the input row's
    // `n` values land at padded columns `p.w..p.w + n`, inside the row; loads read the `n`
    // values of input row `r - p.h` only.
    unsafe {
        if r < p.h || r - p.h >= g.in_h {
            for j in (0..ls * sw).step_by(V::N) {
                V::splat(0.0).store(dst.add(j), V::N);
            }
            return;
        }
        let row = &x[(r - p.h) * n..(r - p.h + 1) * n];
        pad_columns::<V>(row, dst, p.w, sw, ls);
    }
}

/// Writes `row` to padded columns `pw..pw + row.len()` at `dst`: in place for stride 1; for
/// stride 2, padded column `2 j + parity` to `dst + parity apart + j` (the even and odd
/// columns in two planes `apart` floats apart).
///
/// # Safety
/// The instruction set is enabled; the padded columns' places are writable at `dst`.
#[inline(always)]
unsafe fn pad_columns<V: Lanes>(row: &[f32], dst: *mut f32, pw: usize, sw: usize, apart: usize) {
    let (src, n) = (row.as_ptr(), row.len());
    // SAFETY (whole body): loads read the `n` floats of `row` only; stores write the padded
    // columns' places (the caller's guarantee).
    unsafe {
        if sw == 1 {
            for i in (0..n).step_by(V::N) {
                let lanes = (n - i).min(V::N);
                V::load(src.add(i), lanes).store(dst.add(pw + i), lanes);
            }
            return;
        }
        // Input column `i` is padded column `i + pw`: the even input columns go to the plane
        // of parity `pw % 2` from `pw / 2`, the odd ones to the other from `(pw + 1) / 2`.
        let even_at = dst.add((pw % 2) * apart + pw / 2);
        let odd_at = dst.add(((pw + 1) % 2) * apart + pw.div_ceil(2));
        for i in (0..n).step_by(2 * V::N) {
            let left = n - i;
            let first = V::load(src.add(i), left.min(V::N));
            let second = V::load(
                src.wrapping_add(i + V::N),
                left.saturating_sub(V::N).min(V::N),
            );
            let j = i / 2;
            V::even(first, second).store(even_at.add(j), left.div_ceil(2).min(V::N));
            V::odd(first, second).store(odd_at.add(j), (left / 2).min(V::N));
        }
    }
}

/// `R` output rows × `NV` vectors of `M` output channels that read the same input channel,
/// `width` columns from `y`: every tap a broadcast weight per channel and one load per row and
/// vector at `base + offsets[tap]` (rows `step.0` floats apart in the buffer, `step.1` in the
/// output), shared by the channels; the epilogue in registers. Channel `m`'s weights are at
/// `w + m taps`, its output at `y + m step.2`.
///
/// # Safety
/// The instruction set is enabled; `NV` vectors at `base + r step.0 + offsets[tap]` are
/// readable for every row `r < R` and tap; `M * offsets.len()` weights at `w` are readable;
/// `width` floats at `y + m step.2 + r step.1` are writable for every `m < M`, `r < R`.
#[inline(always)]
#[allow(clippy::type_complexity)]
// The row and vector indices address the sums of every channel at once.
#[allow(clippy::needless_range_loop)]
unsafe fn depthwise_tile<V: Lanes, const NV: usize, const R: usize, const M: usize>(
    base: *const f32,
    (w, offsets, scale, shift, act): (*const f32, &[usize], [f32; 2], [f32; 2], Activation),
    y: *mut f32,
    step: (usize, usize, usize),
    width: usize,
) {
    let taps = offsets.len();
    // SAFETY: forwarded from the caller.
    unsafe {
        let mut acc = [[[V::splat(0.0); NV]; R]; M];
        for (t, &off) in offsets.iter().enumerate() {
            let wv: [V; M] = core::array::from_fn(|m| V::splat(*w.add(m * taps + t)));
            for r in 0..R {
                let at = base.add(r * step.0 + off);
                for v in 0..NV {
                    let x = V::load(at.add(v * V::N), V::N);
                    for m in 0..M {
                        acc[m][r][v] = x.fma(wv[m], acc[m][r][v]);
                    }
                }
            }
        }
        let lanes = lanes::<V, NV>(width);
        for (m, channel) in acc.iter().enumerate() {
            let (scale, shift) = (V::splat(scale[m]), V::splat(shift[m]));
            for (r, row) in channel.iter().enumerate() {
                for (v, a) in row.iter().enumerate() {
                    a.fma(scale, shift)
                        .activate(act)
                        .store(y.add(m * step.2 + r * step.1 + v * V::N), lanes[v]);
                }
            }
        }
    }
}

/// Floats of the Winograd kernel's transformed inputs for a chunk of input channels, `[point]
/// [input channel][block]`: 16 points × 64 channels × two vectors of blocks at AVX-512 (or 128
/// channels × one), a skew apart (129 KiB, on the stack).
const WINOGRAD_INPUTS: usize = 16 * (64 * 32 + WINOGRAD_SKEW);

/// Floats between one point's panel of transformed inputs and the next, past the panel: a
/// cache line, so that the 16 points of a block, stored a panel apart, do not all fall in one
/// set of the level-1 cache (panels of 1024 floats are 4 KiB apart: that cost a fifth of the
/// time of a 32-channel layer).
const WINOGRAD_SKEW: usize = 16;

/// Floats of its input lines for one pass (see [`winograd_lines`]): the rows of the pass's
/// block rows, at most 2 (31 / across + 1) + 4 of `across + 1` columns rounded up to a vector,
/// twice (even and odd columns). 32 KiB: up to 1024 columns of outputs.
const WINOGRAD_LINES: usize = 8192;

/// Floats of its products for a chunk of output channels, `[point][channel][block]`: 32
/// channels of two vectors of blocks at AVX-512, or 64 of one, a skew apart (66 KiB).
const WINOGRAD_PRODUCTS: usize = 16 * (64 * 16 + WINOGRAD_SKEW);

/// # Safety
/// The processor has AVX-512F; the slices hold the shapes `g` describes (a layer
/// [`winograd`](super::winograd) takes), the epilogue's slices its output channels, `packed`
/// the weights `pack_winograd` transformed for this level.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn winograd_avx512(
    g: &Geometry,
    input: &[f32],
    packed: &[f32],
    ep: &Epilogue<'_>,
    output: &mut [f32],
) {
    // SAFETY: forwarded from the caller.
    unsafe { winograd::<Zmm>(g, input, packed, ep, output) }
}

/// # Safety
/// As for [`winograd_avx512`], with AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn winograd_avx2(
    g: &Geometry,
    input: &[f32],
    packed: &[f32],
    ep: &Epilogue<'_>,
    output: &mut [f32],
) {
    // SAFETY: forwarded from the caller.
    unsafe { winograd::<Ymm>(g, input, packed, ep, output) }
}

/// Lanes `a..b` of a vector of output blocks that lie on one row of blocks: lane `l` holds
/// block `(row, col + l - a)`, whose outputs start at `(2 row, 2 (col + l - a))`.
#[derive(Clone, Copy, Default)]
struct Run {
    a: usize,
    b: usize,
    row: usize,
    col: usize,
}

/// The runs of the vector of blocks from block `first` (of `count` blocks, `across` to a row,
/// numbered row after row); returns how many it wrote to `out`.
fn block_runs<V: Lanes>(first: usize, count: usize, across: usize, out: &mut [Run; 16]) -> usize {
    let (mut n, mut l) = (0, 0);
    while l < V::N && first + l < count {
        let q = first + l;
        let (row, col) = (q / across, q % across);
        let len = (across - col).min(V::N - l).min(count - q);
        out[n] = Run {
            a: l,
            b: l + len,
            row,
            col,
        };
        (n, l) = (n + 1, l + len);
    }
    n
}

/// Winograd's F(2×2, 3×3) with the blocks of outputs in lanes. For each pass over one or two
/// vectors of blocks and each chunk of output channels: each chunk of input channels has its
/// 4×4 input blocks transformed (`Bᵀ d B`) into the 16 points' panels (once per pass when the
/// layer has one chunk of them), and each tile of output channels multiplies each point's panel
/// by its transformed weights (the flattened 1×1 layer's tile, [`panel_tile`]), adding to the
/// chunks before; then the 16 products of each block are transformed back (`Aᵀ m A`) into its
/// 2×2 outputs, to which the epilogue applies before they are stored.
#[inline(always)]
unsafe fn winograd<V: Lanes>(
    g: &Geometry,
    input: &[f32],
    packed: &[f32],
    ep: &Epilogue<'_>,
    output: &mut [f32],
) {
    let count = g.rows_h.div_ceil(2) * g.out_w.div_ceil(2);
    // SAFETY: forwarded from the caller.
    unsafe {
        // Passes of one vector of blocks for planes of at most one, and for layers of more
        // than 64 input channels (whose chunks of inputs would otherwise hold 64 channels).
        if count <= V::N || g.in_per_group > 64 {
            winograd_passes::<V, 1>(g, input, packed, ep, output)
        } else {
            winograd_passes::<V, 2>(g, input, packed, ep, output)
        }
    }
}

/// [`winograd`] in passes of `NV` vectors of blocks.
#[inline(always)]
unsafe fn winograd_passes<V: Lanes, const NV: usize>(
    g: &Geometry,
    x: &[f32],
    packed: &[f32],
    ep: &Epilogue<'_>,
    output: &mut [f32],
) {
    let (ci, co) = (g.in_per_group, g.out_per_group);
    let across = g.out_w.div_ceil(2);
    let count = g.rows_h.div_ceil(2) * across;
    let width = NV * V::N;
    assert!(g.groups == 1 && ci >= 1 && width <= 32);
    assert!(V::MR <= 8 && NV <= 2);
    assert!(x.len() >= ci * g.in_plane && output.len() >= co * g.out_plane);
    assert!(packed.len() >= 16 * ci * co);
    // Input channels transformed at a time (64 for passes of 32 blocks, 128 of 16), and
    // output channels whose products are summed over them (32 and 64, whole tiles; 8 where
    // the input channels are one chunk, as nothing is summed across chunks then).
    let chunk_in = ci.min((WINOGRAD_INPUTS / 16 - WINOGRAD_SKEW) / width);
    let chunk_out = if chunk_in == ci {
        8
    } else {
        (WINOGRAD_PRODUCTS / 16 - WINOGRAD_SKEW) / width / 8 * 8
    };
    // Floats from one point's panel of transformed inputs, and of products, to the next.
    let apart = chunk_in * width + WINOGRAD_SKEW;
    let products_apart = chunk_out * width + WINOGRAD_SKEW;
    assert!(16 * apart <= WINOGRAD_INPUTS && 16 * products_apart <= WINOGRAD_PRODUCTS);
    // Each line of a block row holds its columns and the next (`across + 1`).
    let line = (across + 1).next_multiple_of(V::N);
    let most_rows = 2 * (width - 1).div_ceil(across) + 4;
    assert!(2 * most_rows * line <= WINOGRAD_LINES);
    // The buffers are not zeroed whole (225 KiB, a tenth of a small layer's time): the lines
    // and products only as far as this layer uses them; the transformed inputs not at all, as
    // each chunk's input transform writes every value its products read.
    let mut lines = [MaybeUninit::<f32>::uninit(); WINOGRAD_LINES];
    let lines = zeroed(&mut lines, 2 * most_rows * line);
    let mut products = [MaybeUninit::<f32>::uninit(); WINOGRAD_PRODUCTS];
    let products = zeroed(&mut products, 16 * products_apart);
    let mut inputs = [MaybeUninit::<f32>::uninit(); WINOGRAD_INPUTS];
    let inputs = inputs.as_mut_ptr() as *mut f32;
    let mut runs = [[Run::default(); 16]; NV];
    let mut counts = [0; NV];
    for first in (0..count).step_by(width) {
        for v in 0..NV {
            counts[v] = block_runs::<V>(first + v * V::N, count, across, &mut runs[v]);
        }
        // The input rows of the pass's block rows, `top..=bottom`.
        let (top, bottom) = (first / across, ((first + width).min(count) - 1) / across);
        let rows = (
            2 * top as isize - g.padding.h as isize,
            2 * (bottom - top) + 4,
        );
        let n = (count - first).min(width);
        for o0 in (0..co).step_by(chunk_out) {
            let o1 = (o0 + chunk_out).min(co);
            for c0 in (0..ci).step_by(chunk_in) {
                let c1 = (c0 + chunk_in).min(ci);
                // With one chunk of input channels, its transform serves every chunk of
                // output channels.
                if c1 - c0 < ci || o0 == 0 {
                    for c in c0..c1 {
                        let plane = &x[c * g.in_plane..(c + 1) * g.in_plane];
                        // SAFETY: the caller enables the instruction set; `line` is a multiple
                        // of `V::N`, the lines fit (asserted above), `2 line >= 2 across + 2 >=
                        // out_w + 2 >= p.w + in_w`, and the padding columns are zero (`zeroed`,
                        // and no line writes them).
                        unsafe { winograd_lines::<V>(g, plane, rows, lines, line) };
                        for v in 0..NV {
                            // SAFETY: the caller enables the instruction set; the 16 vectors
                            // written start at `p apart + (c - c0) width + v N` for points `p
                            // < 16`, inside `inputs` as `c - c0 < chunk_in`, `v < NV` and `16
                            // apart <= WINOGRAD_INPUTS` (asserted above); the lines hold the
                            // runs' block rows, each to column `across`.
                            unsafe {
                                winograd_input::<V>(
                                    lines,
                                    (top, line),
                                    &runs[v][..counts[v]],
                                    inputs.add((c - c0) * width + v * V::N),
                                    apart,
                                )
                            };
                        }
                    }
                }
                // The products as they are, the first chunk's from zero, the others added
                // to what the chunks before stored: no epilogue until they are transformed
                // back.
                let plain = Tile {
                    channels: (c0, c1),
                    first: c0 == 0,
                    last: false,
                    scale: [1.0; 16],
                    shift: [0.0; 16],
                    act: Activation::Identity,
                };
                let mut o = o0;
                while o < o1 {
                    let mr = super::tile_width(V::MR, o1 - o);
                    let w = &packed[16 * o * ci..16 * (o + mr) * ci];
                    for p in 0..16 {
                        // SAFETY: floats `p apart..p apart + (c1 - c0) width` of `inputs`,
                        // every one of which this chunk's input transform wrote (each channel
                        // and vector of blocks: `N` floats from `p apart + (c - c0) width + v
                        // N`).
                        let panel = unsafe {
                            core::slice::from_raw_parts(inputs.add(p * apart), (c1 - c0) * width)
                        };
                        let wp = &w[(p * ci + c0) * mr..(p * ci + c1) * mr];
                        let y =
                            &mut products[p * products_apart + (o - o0) * width..][..mr * width];
                        // SAFETY: the panel holds `c1 - c0` rows of `width` floats, `wp` as
                        // many rows of `mr` weights, `y` `mr` rows of `width` products (as
                        // `panel_tile` asserts).
                        unsafe {
                            let panel = Panel::Filled(panel);
                            match mr {
                                8 if V::MR >= 8 => {
                                    panel_tile::<V, 8, NV>(panel, width, wp, y, width, &plain, n)
                                }
                                4 => panel_tile::<V, 4, NV>(panel, width, wp, y, width, &plain, n),
                                1 => panel_tile::<V, 1, NV>(panel, width, wp, y, width, &plain, n),
                                _ => unreachable!(
                                    "tile_width gives 8, 4 or 1 channels, at most V::MR"
                                ),
                            }
                        };
                    }
                    o += mr;
                }
            }
            for o in o0..o1 {
                let (scale, shift) = ep.channel(o);
                let y = &mut output[o * g.out_plane..(o + 1) * g.out_plane];
                for v in 0..NV {
                    // SAFETY: the caller enables the instruction set; the 16 vectors read
                    // start at `p products_apart + (o - o0) width + v N` for `p < 16`, inside
                    // `products` (asserted above).
                    unsafe {
                        winograd_output::<V>(
                            g,
                            products.as_ptr().add((o - o0) * width + v * V::N),
                            products_apart,
                            &runs[v][..counts[v]],
                            (scale, shift, ep.act),
                            y,
                        )
                    };
                }
            }
        }
    }
}

/// A buffer on a cache line's boundary: vectors loaded from it at multiples of 16 floats do
/// not straddle two lines.
#[repr(C, align(64))]
struct Aligned<const N: usize>([MaybeUninit<f32>; N]);

/// The first `len` values of `buffer`, set to zero.
fn zeroed(buffer: &mut [MaybeUninit<f32>], len: usize) -> &mut [f32] {
    let part = &mut buffer[..len];
    part.fill(MaybeUninit::new(0.0));
    // SAFETY: every value of `part` was just written; `MaybeUninit<f32>` has the layout of
    // `f32`.
    unsafe { &mut *(part as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// One input channel's rows `first..first + count` (of the plane padded with zeros), split
/// into their even and odd columns: line `i` holds, at `lines[2 i stride..]`, `e[j] = x(first
/// plus i, 2 j - p.w)` and then, `stride` later, `o[j] = x(first plus i, 2 j + 1 - p.w)`, for
/// `j < stride`. Block column `j`'s four input columns are then `e[j], o[j], e[j + 1], o[j + 1]`:
/// loads of consecutive lanes, where gathering every other column of the input for each block
/// took two masked loads and a permutation each. The rows inside the plane are split as the
/// stride-2 depthwise kernel pads its rows ([`pad_columns`]), which writes only the input's
/// columns: the padding columns keep the zeros the caller put there, the same for every line of
/// a layer; rows outside the plane are written as zeros.
///
/// # Safety
/// The instruction set is enabled; `stride` is a multiple of `V::N`, `2 count stride <=
/// lines.len()`, `2 stride >= p.w + in_w`, and the lines' padding columns are zero; `x` is one
/// input plane of `g`.
#[inline(always)]
unsafe fn winograd_lines<V: Lanes>(
    g: &Geometry,
    x: &[f32],
    (first, count): (isize, usize),
    lines: &mut [f32],
    stride: usize,
) {
    assert!(x.len() >= g.in_h * g.in_w && 2 * count * stride <= lines.len());
    assert!(stride.is_multiple_of(V::N) && 2 * stride >= g.padding.w + g.in_w);
    for (i, pair) in lines[..2 * count * stride]
        .chunks_exact_mut(2 * stride)
        .enumerate()
    {
        let ir = first + i as isize;
        if ir < 0 || ir >= g.in_h as isize {
            pair.fill(0.0);
            continue;
        }
        let row = &x[ir as usize * g.in_w..(ir as usize + 1) * g.in_w];
        // SAFETY: the caller enables the instruction set; padded column `p.w + c` of the row
        // goes to `pair[(p.w + c) % 2 * stride + (p.w + c) / 2]`, inside the pair as `p.w +
        // in_w <= 2 stride` (asserted above).
        unsafe { pad_columns::<V>(row, pair.as_mut_ptr(), g.padding.w, 2, stride) };
    }
}

/// Transforms one input channel's 4×4 blocks for a vector of output blocks (`runs`; lanes in
/// none are zero), `v = Bᵀ d B` with `Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]`, and
/// stores point `p` of the 16 at `to + p stride`. The input rows come split into lines (see
/// [`winograd_lines`]), the first the top row of block row `top`.
///
/// # Safety
/// The instruction set is enabled; a vector is writable at `to + p stride` for `p < 16`;
/// `lines` holds the lines of every block row of the runs, `line` floats apart, each long
/// enough for its run's columns and the next.
#[inline(always)]
unsafe fn winograd_input<V: Lanes>(
    lines: &[f32],
    (top, line): (usize, usize),
    runs: &[Run],
    to: *mut f32,
    stride: usize,
) {
    // SAFETY: the caller enables the instruction set.
    let mut d = unsafe { [[V::splat(0.0); 4]; 4] };
    for run in runs {
        let (a, b) = (run.a, run.b);
        for (r, row) in d.iter_mut().enumerate() {
            let at = 2 * (2 * (run.row - top) + r) * line + run.col;
            assert!(at + b - a + 1 + line <= lines.len());
            // Lane `l` of the run reads `e[col + l - a]` and the three after it.
            let e = lines[at..].as_ptr().wrapping_sub(a);
            // SAFETY: lanes `a..b` from `e` (and from `e + 1`, `e + line`, `e + line + 1`)
            // are inside `lines`, as asserted; the loads read no others.
            unsafe {
                let (e0, o0) = (run_lanes::<V>(e, a, b), run_lanes::<V>(e.add(line), a, b));
                let (e1, o1) = (
                    run_lanes::<V>(e.add(1), a, b),
                    run_lanes::<V>(e.add(line + 1), a, b),
                );
                if runs.len() == 1 {
                    *row = [e0, o0, e1, o1];
                } else {
                    *row = [
                        row[0].add(e0),
                        row[1].add(o0),
                        row[2].add(e1),
                        row[3].add(o1),
                    ];
                }
            }
        }
    }
    // SAFETY: the caller enables the instruction set and makes the 16 vectors writable.
    unsafe {
        // Along each row of the block, then along its columns. (Loops, not closures: see
        // `panel_tile`.)
        let mut t = d;
        for (t, &[d0, d1, d2, d3]) in t.iter_mut().zip(&d) {
            *t = [d0.sub(d2), d1.add(d2), d2.sub(d1), d1.sub(d3)];
        }
        let [t0s, t1s, t2s, t3s] = t;
        for (c, (((&t0, &t1), &t2), &t3)) in t0s.iter().zip(&t1s).zip(&t2s).zip(&t3s).enumerate() {
            let v = [t0.sub(t2), t1.add(t2), t2.sub(t1), t1.sub(t3)];
            for (r, v) in v.iter().enumerate() {
                v.store(to.add((4 * r + c) * stride), V::N);
            }
        }
    }
}

/// Lanes `a..b` from `p`, the rest zero (a whole vector without a mask). A function, not a
/// closure: a closure does not inherit the instruction set.
///
/// # Safety
/// As for [`Lanes::load_range`].
#[inline(always)]
unsafe fn run_lanes<V: Lanes>(p: *const f32, a: usize, b: usize) -> V {
    // SAFETY: forwarded from the caller.
    unsafe {
        if b - a == V::N {
            V::load(p, V::N)
        } else {
            V::load_range(p, a, b)
        }
    }
}

/// Transforms one output channel's products for a vector of output blocks back, `y = Aᵀ m A`
/// with `Aᵀ = [1 1 1 0; 0 1 -1 -1]` (point `p` of the 16 at `m + p stride`), applies the
/// epilogue `act(y scale + shift)`, and stores each run's 2×2 blocks into the output plane `y`
/// (the parts inside it: an odd size's last row or column of blocks is half outside).
///
/// # Safety
/// The instruction set is enabled; a vector is readable at `m + p stride` for `p < 16`, and
/// the runs' blocks are inside the output of `g`.
#[inline(always)]
unsafe fn winograd_output<V: Lanes>(
    g: &Geometry,
    m: *const f32,
    stride: usize,
    runs: &[Run],
    (scale, shift, act): (f32, f32, Activation),
    y: &mut [f32],
) {
    assert!(y.len() >= g.rows_h * g.out_w);
    // SAFETY: the caller enables the instruction set and makes the 16 vectors readable.
    let out = unsafe {
        // (Loops, not closures: see `panel_tile`.)
        let mut sums = [V::splat(0.0); 16];
        for (p, v) in sums.iter_mut().enumerate() {
            *v = V::load(m.add(p * stride), V::N);
        }
        let m = sums;
        // Along the block's columns (rows of `Aᵀ m`), then along its rows.
        let (mut upper, mut lower) = ([V::splat(0.0); 4], [V::splat(0.0); 4]);
        for (c, (u, l)) in upper.iter_mut().zip(&mut lower).enumerate() {
            let (m0, m1, m2, m3) = (m[c], m[4 + c], m[8 + c], m[12 + c]);
            *u = m0.add(m1).add(m2);
            *l = m1.sub(m2).sub(m3);
        }
        let s = [upper, lower];
        let (scale, shift) = (V::splat(scale), V::splat(shift));
        let mut out = [[V::splat(0.0); 2]; 2];
        for (o, &[s0, s1, s2, s3]) in out.iter_mut().zip(&s) {
            o[0] = s0.add(s1).add(s2).fma(scale, shift).activate(act);
            o[1] = s1.sub(s2).sub(s3).fma(scale, shift).activate(act);
        }
        out
    };
    for run in runs {
        let (oh, ow) = (2 * run.row, 2 * run.col);
        // Float `f` of the pair of rows zipped is column `ow - 2 a + f`, for `f` in
        // `2a..end` (the run's lanes, cut at the plane's edge).
        let end = (2 * run.b).min(2 * run.a + g.out_w - ow);
        for (i, [even, odd]) in out.iter().enumerate() {
            if oh + i >= g.rows_h {
                break;
            }
            let line = y[(oh + i) * g.out_w..].as_mut_ptr();
            let at = line.wrapping_offset(ow as isize - 2 * run.a as isize);
            // SAFETY: the caller enables the instruction set; each store writes only the
            // floats `f` of `2a..end`, columns `ow..ow + end - 2a` of the row, inside it.
            unsafe {
                if 2 * run.a < V::N {
                    V::zip_low(*even, *odd).store_range(at, 2 * run.a, end.min(V::N));
                }
                if end > V::N {
                    V::zip_high(*even, *odd).store_range(
                        at.wrapping_add(V::N),
                        (2 * run.a).saturating_sub(V::N),
                        end - V::N,
                    );
                }
            }
        }
    }
}
