//! The vector types, one per instruction set: 16 lanes (AVX-512) and 8 (AVX2 with FMA).

use core::arch::x86_64::*;

use crate::Activation;

/// A vector of `N` lanes. Every method is `unsafe`: the caller's function enables the
/// instruction set, and pointers are valid for the lanes used.
pub(in super::super) trait Lanes: Copy {
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
pub(in super::super) struct Zmm(__m512);

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
pub(in super::super) struct Ymm(__m256);

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
