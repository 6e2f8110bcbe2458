//! A 1×1 convolution and the depthwise layer that alone reads it, in one pass with the
//! channels in lanes (MobileNetV2's expansion and depthwise layers; see
//! `super::super::ExpandDepthwise`).

use super::depthwise::channel_vectors;
use super::*;
use crate::kernels::simd::ExpandDepthwise;
use crate::kernels::simd::x86_sizes::EXPANDED_BAND;

/// Points of the expansion's register tile along a row.
const EXPAND_POINTS: usize = 8;

/// Taps of the largest depthwise window the kernel takes (5 × 5).
const TAPS: usize = 25;

/// # Safety
/// The processor has AVX-512F; the slices hold the shapes `e` and `d` describe (a pair that
/// [`ExpandDepthwise::of`] takes), the weights packed for this level, the epilogues' slices
/// their channels.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(in super::super) unsafe fn expand_depthwise_avx512(
    l: &ExpandDepthwise,
    e: &Geometry,
    d: &Geometry,
    x: &[f32],
    (we, ep_e): (&[f32], &Epilogue<'_>),
    (wd, ep_d): (&[f32], &Epilogue<'_>),
    y: &mut [f32],
) {
    // SAFETY: forwarded from the caller.
    unsafe { expand_depthwise::<Zmm>(l, e, d, x, (we, ep_e), (wd, ep_d), y) }
}

/// # Safety
/// As for [`expand_depthwise_avx512`], with AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(in super::super) unsafe fn expand_depthwise_avx2(
    l: &ExpandDepthwise,
    e: &Geometry,
    d: &Geometry,
    x: &[f32],
    (we, ep_e): (&[f32], &Epilogue<'_>),
    (wd, ep_d): (&[f32], &Epilogue<'_>),
    y: &mut [f32],
) {
    // SAFETY: forwarded from the caller.
    unsafe { expand_depthwise::<Ymm>(l, e, d, x, (we, ep_e), (wd, ep_d), y) }
}

/// The expansion `m = act_e(scale_e (We x) + shift_e)` (a 1×1 layer of `ci → mid` channels) and
/// the depthwise layer `y = act_d(scale_d dw(m) + shift_d)` over it, a vector of `N` expanded
/// channels at a time, without the expanded tensor: for each band of output rows, the expanded
/// rows it reads are computed with the channels in lanes (each input value broadcast, the
/// vector's weights loaded per input channel) into a buffer of padded rows, `[row][column][N]`
/// (padding zero, as the depthwise layer sees it); each tap of each output point is then one
/// load and one multiply-add of whole vectors, and each block of `N` output points is
/// transposed into the channels' planes. The rows two bands share are moved up, not computed
/// again. Where the two layers ran apart, the expansion wrote its whole tensor (`mid` planes)
/// and the depthwise layer read it back and transposed it into lanes. The weights come packed
/// by vector of channels: the expansion's `[input channel][N]`, the depthwise layer's
/// `[tap][N]` (`pack_expand_depthwise`).
///
/// # Safety
/// The instruction set is enabled; as for [`expand_depthwise_avx512`].
#[inline(always)]
unsafe fn expand_depthwise<V: Lanes>(
    l: &ExpandDepthwise,
    e: &Geometry,
    d: &Geometry,
    x: &[f32],
    (we, ep_e): (&[f32], &Epilogue<'_>),
    (wd, ep_d): (&[f32], &Epilogue<'_>),
    y: &mut [f32],
) {
    // The expansion's input values per output (its input channels × taps).
    let ci = e.in_per_group * e.kernel.volume();
    let mid = e.out_per_group;
    let (k, s, p) = (d.kernel, d.stride, d.padding);
    let (in_h, in_w, out_w, plane) = (d.in_h, d.in_w, d.out_w, d.out_plane);
    let taps = k.h * k.w;
    let (wp, band) = (l.padded_w, l.band);
    let rows_per_band = (band - 1) * s.h + k.h;
    assert!(mid.is_multiple_of(V::N) && taps <= TAPS && p.w + in_w <= wp);
    assert!(rows_per_band * wp * V::N <= EXPANDED_BAND);
    assert!(x.len() >= e.in_per_group * e.in_plane && y.len() >= mid * plane);
    assert!(we.len() >= mid * ci && wd.len() >= mid * taps);
    assert!(l.pointwise || ci <= PATCH_ROWS);
    // A first layer's taps, for every band (none for a 1×1 layer).
    let window_taps = (!l.pointwise).then(|| Taps::of(e));
    let mut buffer = Aligned([MaybeUninit::<f32>::uninit(); EXPANDED_BAND]);
    let rows = zeroed(&mut buffer.0, rows_per_band * wp * V::N).as_mut_ptr();
    // SAFETY (whole body): the buffer holds the band's rows (asserted above), written (or zero)
    // before the taps read them; loads of `x` read channel `c < ci`'s points `< in_h in_w`;
    // weights are read inside the vector's `ci N` and `taps N`; stores to `y` write points
    // `< plane` of the vector's `N` planes.
    unsafe {
        for c0 in (0..mid).step_by(V::N) {
            let wv = we.as_ptr().add(c0 * ci);
            // Each tap's weights, a vector of the channels'.
            let mut wt = [V::splat(0.0); TAPS];
            for (t, w) in wt.iter_mut().enumerate().take(taps) {
                *w = V::load(wd.as_ptr().add(c0 * taps + t * V::N), V::N);
            }
            let (scale_e, shift_e) = channel_vectors::<V>(ep_e, c0, V::N);
            let (scale_d, shift_d) = channel_vectors::<V>(ep_d, c0, V::N);
            // Padded rows `done.0..done.1` are in the buffer, from its first row.
            let mut done = (0, 0);
            let mut oh0 = 0;
            while oh0 < d.rows_h {
                let oh1 = (oh0 + band).min(d.rows_h);
                let (r0, r1) = (oh0 * s.h, (oh1 - 1) * s.h + k.h);
                // Rows the band before computed move up (rows only move up); rows of padding
                // are zero; the rest are the input's rows `i0..i1`, expanded in one pass.
                let (mut i0, mut i1) = (usize::MAX, 0);
                for r in r0..r1 {
                    let to = rows.add((r - r0) * wp * V::N);
                    if r < done.1 && r >= done.0 {
                        let from = rows.add((r - done.0) * wp * V::N);
                        for i in (0..wp * V::N).step_by(V::N) {
                            V::load(from.add(i), V::N).store(to.add(i), V::N);
                        }
                    } else if r < p.h || r >= p.h + in_h {
                        for i in (0..wp * V::N).step_by(V::N) {
                            V::splat(0.0).store(to.add(i), V::N);
                        }
                    } else {
                        (i0, i1) = (i0.min(r - p.h), r - p.h + 1);
                    }
                }
                // The first expanded row's first point in the band.
                let first = |i0: usize| rows.add(((i0 + p.h - r0) * wp + p.w) * V::N);
                let expand = (wv, (scale_e, shift_e, ep_e.act));
                if i0 < i1 && l.pointwise {
                    expand_rows::<V>(
                        x.as_ptr().add(i0 * in_w),
                        (ci, in_h * in_w, (i1 - i0) * in_w),
                        (in_w, wp),
                        expand,
                        first(i0),
                    );
                } else if let (true, Some(taps)) = (i0 < i1, &window_taps) {
                    expand_windows::<V>(e, taps, x, (i0, i1), wp, expand, first(i0));
                }
                done = (r0, r1);
                // The band's output points, flattened, `N` at a time.
                let (q0, q1) = (oh0 * out_w, oh1 * out_w);
                let mut q = q0;
                while q < q1 {
                    let n = (q1 - q).min(V::N);
                    let mut out = [V::splat(0.0); 16];
                    // Where each point's window starts in the band (the last point's for the
                    // lanes past `n`), the row and column counted along, not divided out.
                    let mut starts = [0usize; 16];
                    let (mut oh, mut ow) = (q / out_w, q % out_w);
                    for (i, start) in starts.iter_mut().enumerate().take(V::N) {
                        *start = ((oh * s.h - r0) * wp + ow * s.w) * V::N;
                        if i + 1 < n {
                            ow += 1;
                            if ow == out_w {
                                (oh, ow) = (oh + 1, 0);
                            }
                        }
                    }
                    let mut j = 0;
                    while j < n {
                        // Four points at a time (four chains of multiply-adds), the last
                        // repeated where fewer are left.
                        let mut base = [rows.cast_const(); 4];
                        for (i, b) in base.iter_mut().enumerate() {
                            *b = rows.add(starts[j + i]);
                        }
                        // The 3×3 window of MobileNets unrolled, its weights in registers.
                        let acc = if (k.h, k.w) == (3, 3) {
                            window::<V, 3>(&base, &wt, wp, (3, 3))
                        } else {
                            window::<V, 0>(&base, &wt, wp, (k.h, k.w))
                        };
                        for (i, a) in acc.iter().enumerate() {
                            if j + i < n {
                                out[j + i] = a.fma(scale_d, shift_d).activate(ep_d.act);
                            }
                        }
                        j += 4;
                    }
                    // Vector `i` holds point `q + i`'s channels; transposed, vector `c`
                    // holds channel `c0 + c`'s points.
                    V::transpose(&mut out);
                    for (c, v) in out.iter().enumerate().take(V::N) {
                        v.store(y.as_mut_ptr().add((c0 + c) * plane + q), n);
                    }
                    q += n;
                }
                oh0 = oh1;
            }
        }
    }
}

/// The sums of the window of four points, each a vector of channels, whose windows start at
/// `base` in the band's padded rows (`wp` points a row): each tap one load and one multiply-add
/// by the tap's weights `wt`. `K` is the window's size on both axes where it is constant (3:
/// unrolled, the weights kept in registers), 0 for `(kh, kw)`.
///
/// # Safety
/// The instruction set is enabled; the windows are inside the band.
#[inline(always)]
unsafe fn window<V: Lanes, const K: usize>(
    base: &[*const f32; 4],
    wt: &[V; TAPS],
    wp: usize,
    (kh, kw): (usize, usize),
) -> [V; 4] {
    let (kh, kw) = if K == 0 { (kh, kw) } else { (K, K) };
    // SAFETY: forwarded from the caller.
    unsafe {
        let mut acc = [V::splat(0.0); 4];
        for r in 0..kh {
            for c in 0..kw {
                let at = (r * wp + c) * V::N;
                let w = wt[r * kw + c];
                for (a, b) in acc.iter_mut().zip(base) {
                    *a = V::load(b.add(at), V::N).fma(w, *a);
                }
            }
        }
        acc
    }
}

/// The expansion for a vector of channels over `count` consecutive points of rows of `w` points
/// (`ci` values each, `apart` floats apart: the input channels of a 1×1 layer), from the
/// start of the first row: each point's `act(scale
/// (sum over c of wv[c] x[c]) + shift)`, stored as a vector at its place in the band's padded
/// rows (`wp` points a row) from `to`, the first row's first point. The points go in as few
/// tiles of at most [`EXPAND_POINTS`] as they fill, of sizes as even as they divide into (a
/// 3×3 plane's 9 points in tiles of 5 and 4, not 8 and 1 that computes 16).
///
/// # Safety
/// The instruction set is enabled; `x` has `ci` rows of `count` values, `wv` `ci` vectors of
/// weights, `to` room for the rows' vectors.
#[inline(always)]
unsafe fn expand_rows<V: Lanes>(
    x: *const f32,
    (ci, apart, count): (usize, usize, usize),
    (w, wp): (usize, usize),
    expand: (*const f32, (V, V, Activation)),
    to: *mut f32,
) {
    let tiles = count.div_ceil(EXPAND_POINTS);
    let mut j = 0;
    for t in 0..tiles {
        let n = (count - j).div_ceil(tiles - t);
        let run = (ci, apart, j, n);
        let place = (w, wp);
        // SAFETY: forwarded from the caller; points `j..j + n` are inside the run.
        unsafe {
            match n {
                8 => expand_tile::<V, 8>(x, run, place, expand, to),
                7 => expand_tile::<V, 7>(x, run, place, expand, to),
                6 => expand_tile::<V, 6>(x, run, place, expand, to),
                5 => expand_tile::<V, 5>(x, run, place, expand, to),
                _ => expand_tile::<V, 4>(x, run, place, expand, to),
            }
        }
        j += n;
    }
}

/// [`expand_rows`] for its points `j..j + n` (`n <= T`) in a tile of `T` points, the lanes
/// past `n` repeating point `j + n - 1`.
///
/// # Safety
/// As for [`expand_rows`], with `j + n <= count`.
#[inline(always)]
unsafe fn expand_tile<V: Lanes, const T: usize>(
    x: *const f32,
    (ci, apart, j, n): (usize, usize, usize, usize),
    (w, wp): (usize, usize),
    (wv, (scale, shift, act)): (*const f32, (V, V, Activation)),
    to: *mut f32,
) {
    // SAFETY: forwarded from the caller; the broadcasts read points `j + min(i, n - 1) <
    // count` of each channel, the stores the `n` points' vectors.
    unsafe {
        let mut at = [0usize; T];
        for (i, a) in at.iter_mut().enumerate() {
            *a = j + i.min(n - 1);
        }
        let mut acc = [V::splat(0.0); T];
        let (mut xp, mut wq) = (x, wv);
        for _ in 0..ci {
            let wc = V::load(wq, V::N);
            for (a, &i) in acc.iter_mut().zip(&at) {
                *a = V::splat(*xp.add(i)).fma(wc, *a);
            }
            xp = xp.add(apart);
            wq = wq.add(V::N);
        }
        // Point `f` of the run is column `f % w` of its row, a padded row `wp` long.
        let (mut row, mut col) = (j / w, j % w);
        for a in acc.iter().take(n) {
            a.fma(scale, shift)
                .activate(act)
                .store(to.add((row * wp + col) * V::N), V::N);
            col += 1;
            if col == w {
                (row, col) = (row + 1, 0);
            }
        }
    }
}

/// The expansion of a layer with a window (a first layer: each of its `ci` input values per
/// output, an input channel's tap, is a row of its weights) for its output rows `i0..i1`,
/// straight from the input: each tap of a tile of points one broadcast of the input value it
/// reads and one multiply-add by the tap's vector of weights, in the order of the taps (input
/// channel, then row, then column; so a patch panel's rows). Points whose windows lie inside
/// the input read it at each tap's offset; the others (along the padding) read their values
/// one by one, zero outside. Each point's vector is stored at its place in the band's padded
/// rows (`wp` points a row) from `to`, row `i0`'s first point. (Through patch panels, copied
/// and zeroed on every call, MobileNetV2's stem and depthwise layer in one pass took 47 µs on
/// Zen 4; with the input read in place, 38.)
///
/// # Safety
/// The instruction set is enabled; `x` holds the layer's input, `wv` its `ci` vectors of
/// weights, `to` room for the rows' vectors.
#[inline(always)]
unsafe fn expand_windows<V: Lanes>(
    e: &Geometry,
    window_taps: &Taps,
    x: &[f32],
    (i0, i1): (usize, usize),
    wp: usize,
    (wv, (scale, shift, act)): (*const f32, (V, V, Activation)),
    to: *mut f32,
) {
    let (k, s, p, dl) = (e.kernel, e.stride, e.padding, e.dilation);
    let (in_h, in_w) = (e.in_h as isize, e.in_w as isize);
    let ci = e.in_per_group * k.h * k.w;
    assert!(ci <= PATCH_ROWS && x.len() >= e.in_per_group * e.in_plane && e.lo <= e.hi);
    let Taps { taps, offsets } = window_taps;
    for r in i0..i1 {
        let top = (r * s.h) as isize - p.h as isize;
        let rows_inside = top >= 0 && top + (((k.h - 1) * dl.h) as isize) < in_h;
        let mut ow = 0;
        while ow < e.out_w {
            let inside = rows_inside && ow >= e.lo && ow < e.hi;
            let n = if inside {
                (e.hi - ow).min(EXPAND_POINTS)
            } else if ow < e.lo {
                (e.lo - ow).min(e.out_w - ow).min(EXPAND_POINTS)
            } else {
                (e.out_w - ow).min(EXPAND_POINTS)
            };
            // SAFETY: inside, point `ow + i`'s window lies in the input (rows `top..` and
            // columns from `(ow + i) s.w - p.w >= 0` to its last tap's `< in_w`), so each tap
            // reads an input value, the lanes past `n` repeating point `n - 1`'s; weights are
            // read inside `ci` vectors.
            unsafe {
                let mut acc = [V::splat(0.0); EXPAND_POINTS];
                if inside {
                    let first = x.as_ptr().add(top as usize * e.in_w + ow * s.w - p.w);
                    let mut at = [0usize; EXPAND_POINTS];
                    for (i, a) in at.iter_mut().enumerate() {
                        *a = i.min(n - 1) * s.w;
                    }
                    for (t, &offset) in offsets.iter().enumerate().take(ci) {
                        let wc = V::load(wv.add(t * V::N), V::N);
                        let xp = first.add(offset);
                        for (a, &i) in acc.iter_mut().zip(&at) {
                            *a = V::splat(*xp.add(i)).fma(wc, *a);
                        }
                    }
                } else {
                    for (t, &(c, kh, kw)) in taps.iter().enumerate().take(ci) {
                        let wc = V::load(wv.add(t * V::N), V::N);
                        let ih = top + kh;
                        for (i, a) in acc.iter_mut().enumerate().take(n) {
                            let iw = ((ow + i) * s.w) as isize - p.w as isize + kw;
                            let v = if ih >= 0 && ih < in_h && iw >= 0 && iw < in_w {
                                x[c * e.in_plane + (ih * in_w + iw) as usize]
                            } else {
                                0.0
                            };
                            *a = V::splat(v).fma(wc, *a);
                        }
                    }
                }
                let row = to.add((r - i0) * wp * V::N);
                for (i, a) in acc.iter().enumerate().take(n) {
                    a.fma(scale, shift)
                        .activate(act)
                        .store(row.add((ow + i) * V::N), V::N);
                }
            }
            ow += n;
        }
    }
}

/// A first layer's taps in the order of its weights' rows (input channel, then row, then column
/// of the window): each one's input channel, row and column in the window, and its offset from
/// the window's first value in the input (for [`expand_windows`]; made once for all bands).
struct Taps {
    taps: [(usize, isize, isize); PATCH_ROWS],
    offsets: [usize; PATCH_ROWS],
}

impl Taps {
    /// `e`'s taps (those past `PATCH_ROWS` left out: the pair takes no more).
    fn of(e: &Geometry) -> Taps {
        let (k, dl) = (e.kernel, e.dilation);
        let mut t = Taps {
            taps: [(0, 0, 0); PATCH_ROWS],
            offsets: [0; PATCH_ROWS],
        };
        for c in 0..e.in_per_group {
            for kh in 0..k.h {
                for kw in 0..k.w {
                    let i = (c * k.h + kh) * k.w + kw;
                    if i < PATCH_ROWS {
                        t.taps[i] = (c, (kh * dl.h) as isize, (kw * dl.w) as isize);
                        t.offsets[i] = c * e.in_plane + kh * dl.h * e.in_w + kw * dl.w;
                    }
                }
            }
        }
        t
    }
}
