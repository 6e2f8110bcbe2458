//! Winograd F(2×2, 3×3) with the output channels in lanes, for planes of few blocks (see
//! `super::super::WinogradChannels`).

use super::depthwise::channel_vectors;
use super::*;
use crate::kernels::simd::{WINOGRAD_CHANNELS_BUFFER, WinogradChannels};

/// Floats of one group's sums set aside before they are written to the output planes: 63
/// blocks of 4 sums of 16 channels at most.
const GROUP_SUMS: usize = 64 * 4 * 16;

/// # Safety
/// The processor has AVX-512F; the slices hold the shapes `g` describes (a layer that
/// [`WinogradChannels::of`] takes), the epilogue's slices its output channels, `packed` the
/// weights `pack_winograd_channels` transformed for this level.
#[target_feature(enable = "avx512f")]
pub(in super::super) unsafe fn winograd_channels_avx512(
    g: &Geometry,
    l: &WinogradChannels,
    input: &[f32],
    packed: &[f32],
    ep: &Epilogue<'_>,
    output: &mut [f32],
) {
    // SAFETY: forwarded from the caller.
    unsafe { winograd_channels::<Zmm>(g, l, input, packed, ep, output) }
}

/// # Safety
/// As for [`winograd_channels_avx512`], with AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(in super::super) unsafe fn winograd_channels_avx2(
    g: &Geometry,
    l: &WinogradChannels,
    input: &[f32],
    packed: &[f32],
    ep: &Epilogue<'_>,
    output: &mut [f32],
) {
    // SAFETY: forwarded from the caller.
    unsafe { winograd_channels::<Ymm>(g, l, input, packed, ep, output) }
}

/// The rows of the input transform `Bᵀ d B` (`Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]`):
/// row `r` adds `(first, sign)` and `(second, sign)` of a block's four rows (or columns).
const TERMS: [[(usize, bool); 2]; 4] = [
    [(0, true), (2, false)],
    [(1, true), (2, true)],
    [(1, false), (2, true)],
    [(1, true), (3, false)],
];

/// `Aᵀ = [1 1 1 0; 0 1 -1 -1]` of the output transform `Aᵀ m A`: `AT[i][r]` is the weight of
/// row `r` of a block's products in row `i` of its outputs.
const AT: [[i8; 4]; 2] = [[1, 1, 1, 0], [0, 1, -1, -1]];

/// Winograd's F(2×2, 3×3) where the plane has few 2×2 blocks of outputs (ResNet-50's 14×14 and
/// 7×7 layers: 49 and 16): the blocks' transformed inputs are broadcast and the output channels
/// fill the lanes, as in the channel tile, so that no lane idles and each weight loaded serves a
/// tile of blocks. The 16 points of the transform go one after the other: each point's
/// transformed inputs (`[input channel][block]`) are made from lines that combine the input's
/// rows (made once for the four points of a row of the transform), then each block of output
/// channels multiplies them by its transformed weights (packed `[point][input channel][channel]`
/// per block, read once per tile of blocks from the level-2 cache), every input channel in one
/// pass, and adds the products, signed, into the 2×2 outputs they count for (`Aᵀ m A` spread
/// over the points). The sums are kept `[group of N channels][block][output of the block][N]`,
/// in the output planes themselves where they have room (the planes' sizes even), and go to the
/// output planes at the end, transposed a group at a time, with the epilogue.
///
/// # Safety
/// The instruction set is enabled; as for [`winograd_channels_avx512`].
#[inline(always)]
unsafe fn winograd_channels<V: Lanes>(
    g: &Geometry,
    l: &WinogradChannels,
    x: &[f32],
    packed: &[f32],
    ep: &Epilogue<'_>,
    output: &mut [f32],
) {
    let (ci, co) = (g.in_per_group, g.out_per_group);
    let blocks = l.blocks;
    assert!(g.groups == 1 && co.is_multiple_of(V::N) && V::CNV <= 3);
    assert!(x.len() >= ci * g.in_plane && output.len() >= co * g.out_plane);
    assert!(packed.len() >= 16 * ci * co && blocks * 4 * V::N <= GROUP_SUMS);
    let lines_len = ci * l.down * l.row;
    let inputs_len = ci * blocks;
    let sums_len = co * blocks * 4;
    let stack_sums = if l.sums_in_output { 0 } else { sums_len };
    assert!(lines_len + inputs_len + stack_sums <= WINOGRAD_CHANNELS_BUFFER);
    let mut buffer = Aligned([MaybeUninit::<f32>::uninit(); WINOGRAD_CHANNELS_BUFFER]);
    let base = buffer.0.as_mut_ptr() as *mut f32;
    // SAFETY (whole body): the three parts of the buffer lie apart inside it (asserted above),
    // and every float of a part is written before it is read (the lines and transformed inputs
    // by each row and point of the transform, the sums zeroed here); the sums in the output
    // planes take `sums_len <= co out_plane` floats of them (`sums_in_output`).
    unsafe {
        let lines = base;
        let inputs = base.add(lines_len);
        let sums = if l.sums_in_output {
            output.as_mut_ptr()
        } else {
            base.add(lines_len + inputs_len)
        };
        assert!(!l.sums_in_output || sums_len <= output.len());
        for i in (0..sums_len).step_by(V::N) {
            V::splat(0.0).store(sums.add(i), V::N);
        }
        for (r, terms) in TERMS.iter().enumerate() {
            winograd_rows::<V>(g, l, x, *terms, lines);
            for (s, &[(f, fs), (k, ks)]) in TERMS.iter().enumerate() {
                winograd_points::<V>(l, ci, lines, [(f, fs), (k, ks)], inputs);
                let point = 4 * r + s;
                let mut c0 = 0;
                while c0 < co {
                    let nb = super::super::channel_block(co - c0, V::N, V::CNV);
                    let w = &packed[16 * c0 * ci + point * ci * nb..][..ci * nb];
                    let into = Targets {
                        sums: sums.add(c0 * blocks * 4),
                        rows: [AT[0][r], AT[1][r]],
                        cols: [AT[0][s], AT[1][s]],
                    };
                    let mut b0 = 0;
                    while b0 < blocks {
                        let n = l.tile.min(blocks - b0);
                        let at = (inputs.add(b0).cast_const(), w.as_ptr());
                        macro_rules! tile {
                            ($mr:literal) => {
                                match nb / V::N {
                                    1 => block_tile::<V, $mr, 1>(at, ci, blocks, nb, &into, b0, n),
                                    2 => block_tile::<V, $mr, 2>(at, ci, blocks, nb, &into, b0, n),
                                    _ => block_tile::<V, $mr, 3>(at, ci, blocks, nb, &into, b0, n),
                                }
                            };
                        }
                        match l.tile {
                            9 => tile!(9),
                            7 => tile!(7),
                            6 => tile!(6),
                            _ => tile!(4),
                        }
                        b0 += n;
                    }
                    c0 += nb;
                }
            }
        }
        let mut group = [0.0f32; GROUP_SUMS];
        for c0 in (0..co).step_by(V::N) {
            let from = sums.add(c0 * blocks * 4);
            for (i, v) in group.iter_mut().enumerate().take(blocks * 4 * V::N) {
                *v = *from.add(i);
            }
            winograd_out::<V>(g, l, &group, ep, c0, output);
        }
    }
}

/// Row `r` of the input transform for every input channel and row of blocks: `first.1
/// d(first.0) + second.1 d(second.0)` of the block row's four rows `d` (signed), along the
/// padded row (the padding zero), its even columns at `lines + (c down + by) row` and its odd
/// ones `row / 2` floats later. The rows are read from the input with masks that leave the
/// padding out, and split into their even and odd columns in registers (a copy into a padded
/// row, read back at once, waited on the store each time), so that each of the 16 points reads
/// consecutive lanes ([`winograd_points`]).
///
/// # Safety
/// The instruction set is enabled; `x` holds the layer's input planes, `lines` the
/// `in_per_group down row` floats.
#[inline(always)]
unsafe fn winograd_rows<V: Lanes>(
    g: &Geometry,
    l: &WinogradChannels,
    x: &[f32],
    [(first, first_sign), (second, second_sign)]: [(usize, bool); 2],
    lines: *mut f32,
) {
    let (half, pw, in_w) = (l.row / 2, g.padding.w, g.in_w);
    assert!(l.row.is_multiple_of(2) && pw + in_w <= l.row);
    for c in 0..g.in_per_group {
        let plane = &x[c * g.in_plane..(c + 1) * g.in_plane];
        for by in 0..l.down {
            // The two rows, where they are inside the plane.
            let mut rows = [None; 2];
            for (k, row) in [first, second].into_iter().enumerate() {
                let ir = (2 * by + row) as isize - g.padding.h as isize;
                if ir >= 0 && ir < g.in_h as isize {
                    rows[k] = Some(plane[ir as usize * in_w..].as_ptr());
                }
            }
            let to = lines.wrapping_add((c * l.down + by) * l.row);
            // Padded columns `j..j + 2N`, split into `N` even and `N` odd ones.
            for j in (0..l.row).step_by(2 * V::N) {
                // SAFETY: the caller enables the instruction set; the loads read input
                // columns of the row only (`combined`), the stores `(row - j) / 2` floats of
                // each half of the block row's `row`.
                unsafe {
                    let lo = combined::<V>(rows, [first_sign, second_sign], j, pw, in_w);
                    let hi = combined::<V>(rows, [first_sign, second_sign], j + V::N, pw, in_w);
                    let n = ((l.row - j) / 2).min(V::N);
                    V::even(lo, hi).store(to.add(j / 2), n);
                    V::odd(lo, hi).store(to.add(half + j / 2), n);
                }
            }
        }
    }
}

/// Padded columns `j..j + N` of `signs[0] rows[0] + signs[1] rows[1]` (a row outside the plane
/// counts as zeros, as do the padding columns: lanes outside `p.w..p.w + in_w`).
///
/// # Safety
/// The instruction set is enabled; each row holds `in_w` floats.
#[inline(always)]
unsafe fn combined<V: Lanes>(
    rows: [Option<*const f32>; 2],
    signs: [bool; 2],
    j: usize,
    pw: usize,
    in_w: usize,
) -> V {
    // Lanes `a..b` are input columns `j + a - p.w..j + b - p.w`.
    let (a, b) = (
        pw.saturating_sub(j).min(V::N),
        (pw + in_w).saturating_sub(j).min(V::N),
    );
    // SAFETY: the caller enables the instruction set; the loads read lanes `a..b` from `row +
    // j - p.w`, the row's input columns only.
    unsafe {
        let mut v = V::splat(0.0);
        if a >= b {
            return v;
        }
        for (row, positive) in rows.into_iter().zip(signs) {
            if let Some(row) = row {
                let u = V::load_range(row.wrapping_add(j).wrapping_sub(pw), a, b);
                v = if positive { v.add(u) } else { v.sub(u) };
            }
        }
        v
    }
}

/// One point's transformed inputs, `[input channel][block]` at `inputs`, from the lines of its
/// row of the transform: column `s` of the transform adds `(first, sign)` and `(second, sign)`
/// of a block's four columns, `e[bx], o[bx], e[bx + 1], o[bx + 1]` of the line's even and odd
/// columns.
///
/// # Safety
/// The instruction set is enabled; `lines` holds the lines [`winograd_rows`] wrote, `inputs`
/// room for `ci blocks` floats.
#[inline(always)]
unsafe fn winograd_points<V: Lanes>(
    l: &WinogradChannels,
    ci: usize,
    lines: *const f32,
    [(first, first_sign), (second, second_sign)]: [(usize, bool); 2],
    inputs: *mut f32,
) {
    // Column `k` of block `bx` is float `bx + k / 2` of the even (`k` even) or odd half.
    let at = |k: usize| (k % 2) * (l.row / 2) + k / 2;
    let (f, k) = (at(first), at(second));
    // The lanes of a vector of blocks are the same for every channel and row of blocks.
    for bx in (0..l.across).step_by(V::N) {
        let n = (l.across - bx).min(V::N);
        for c in 0..ci {
            for by in 0..l.down {
                let from = lines.wrapping_add((c * l.down + by) * l.row + bx);
                let to = inputs.wrapping_add(c * l.blocks + by * l.across + bx);
                // SAFETY: the caller enables the instruction set; the loads read floats `bx +
                // k / 2..bx + k / 2 + n` of a half, `<= across + 1 <= row / 2`; the `n` floats
                // written are the block row's.
                unsafe {
                    let mut v = V::load(from.add(f), n);
                    if !first_sign {
                        v = V::splat(0.0).sub(v);
                    }
                    let u = V::load(from.add(k), n);
                    v = if second_sign { v.add(u) } else { v.sub(u) };
                    v.store(to, n);
                }
            }
        }
    }
}

/// Where a tile's products go: the sums of its block of channels (`[group][block][output][N]`
/// from `sums`, `blocks` blocks to a group), each product added, with the sign `rows[i]
/// cols[j]`, to the block's output `(i, j)` where that sign is not zero.
struct Targets {
    sums: *mut f32,
    rows: [i8; 2],
    cols: [i8; 2],
}

/// `MR` blocks `b0..b0 + n` (`n <= MR`; the missing ones repeat the last and are not added) ×
/// `NV` vectors of output channels: the products of one point of the transform over every
/// input channel, the blocks' transformed inputs broadcast from `at.0` (a channel's `blocks`
/// apart) and the channels' transformed weights loaded from `at.1` (a channel's `nb` apart),
/// added into the sums.
///
/// # Safety
/// The instruction set is enabled; `at.0` holds `ci` channels' blocks, `at.1` `ci` rows of
/// `nb = NV N` weights, and the sums of `into` the block of channels' groups.
#[inline(always)]
unsafe fn block_tile<V: Lanes, const MR: usize, const NV: usize>(
    (x, w): (*const f32, *const f32),
    ci: usize,
    blocks: usize,
    nb: usize,
    into: &Targets,
    b0: usize,
    n: usize,
) {
    assert!(n >= 1 && n <= MR && nb == NV * V::N);
    let mut off = [0usize; MR];
    for (i, o) in off.iter_mut().enumerate() {
        *o = i.min(n - 1);
    }
    // SAFETY (whole body): forwarded from the caller; each broadcast reads block `b0 + off[i]
    // < blocks` of a channel, each load a channel's row of weights, each sum a vector of the
    // tile's blocks' outputs in its group.
    unsafe {
        let mut acc = [[V::splat(0.0); NV]; MR];
        let (mut xp, mut wp) = (x, w);
        for _ in 0..ci {
            let mut wv = [V::splat(0.0); NV];
            for (v, wv) in wv.iter_mut().enumerate() {
                *wv = V::load(wp.add(v * V::N), V::N);
            }
            for (a, &o) in acc.iter_mut().zip(&off) {
                let b = V::splat(*xp.add(o));
                for v in 0..NV {
                    a[v] = b.fma(wv[v], a[v]);
                }
            }
            xp = xp.add(blocks);
            wp = wp.add(nb);
        }
        for (i, a) in acc.iter().enumerate().take(n) {
            for (v, a) in a.iter().enumerate() {
                let block = into.sums.add(((v * blocks) + b0 + i) * 4 * V::N);
                for (oi, &rs) in into.rows.iter().enumerate() {
                    for (oj, &cs) in into.cols.iter().enumerate() {
                        let sign = rs * cs;
                        if sign != 0 {
                            let at = block.add((2 * oi + oj) * V::N);
                            let s = V::load(at, V::N);
                            let s = if sign > 0 { s.add(*a) } else { s.sub(*a) };
                            s.store(at, V::N);
                        }
                    }
                }
            }
        }
    }
}

/// One group of `N` output channels from `c0`: its sums (`[block][output][N]`) with the
/// epilogue applied, transposed into the channels' output planes, row by row of outputs and
/// `N` columns at a time (the outputs of an odd size's last row or column of blocks that fall
/// outside the plane are dropped).
///
/// # Safety
/// The instruction set is enabled; `output` holds the layer's output planes.
#[inline(always)]
unsafe fn winograd_out<V: Lanes>(
    g: &Geometry,
    l: &WinogradChannels,
    group: &[f32; GROUP_SUMS],
    ep: &Epilogue<'_>,
    c0: usize,
    output: &mut [f32],
) {
    let (oh_all, ow_all) = (g.rows_h, g.out_w);
    assert!(output.len() >= (c0 + V::N) * g.out_plane && l.blocks * 4 * V::N <= group.len());
    // SAFETY (whole body): the caller enables the instruction set; loads read a block's
    // output `(i, j)` inside `group`, stores `n` floats of a row of one of the group's planes.
    unsafe {
        let (scale, shift) = channel_vectors::<V>(ep, c0, V::N);
        let y = output.as_mut_ptr().add(c0 * g.out_plane);
        for oh in 0..oh_all {
            let (by, i) = (oh / 2, oh % 2);
            for ow0 in (0..ow_all).step_by(V::N) {
                let n = (ow_all - ow0).min(V::N);
                let mut m = [V::splat(0.0); 16];
                for (k, m) in m.iter_mut().enumerate().take(n) {
                    let ow = ow0 + k;
                    let block = by * l.across + ow / 2;
                    let at = (block * 4 + 2 * i + ow % 2) * V::N;
                    *m = V::load(group.as_ptr().add(at), V::N)
                        .fma(scale, shift)
                        .activate(ep.act);
                }
                V::transpose(&mut m);
                for (j, m) in m.iter().enumerate().take(V::N) {
                    m.store(y.add(j * g.out_plane + oh * ow_all + ow0), n);
                }
            }
        }
    }
}
