//! Depthwise layers (one input channel per group): rows of a padded band of one channel, channels in lanes for small planes (interleaved), and flattened planes.

use super::*;

/// Floats of the stack buffer into which the depthwise kernel pads a band of one channel's
/// rows (16 KiB).
const BAND: usize = 4096;

/// Taps of the largest depthwise window the kernel takes (8 × 8).
const DEPTHWISE_TAPS: usize = 64;

/// # Safety
/// The processor has AVX-512F; the slices hold the shapes `g` describes, the epilogue's
/// slices its channels.
#[target_feature(enable = "avx512f")]
pub(in super::super) unsafe fn depthwise_avx512(
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
pub(in super::super) unsafe fn depthwise_avx2(
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
pub(in super::super) struct Interleaved {
    row: usize,
    span: usize,
    band: usize,
}

impl Interleaved {
    /// The bands of a depthwise layer (channel multiplier 1) of a 3×3 or 5×5 window with
    /// `lanes`-lane vectors, if it has a vector of channels or more, a band of its padded rows
    /// fits the buffer, and its rows of vectors would run slower: an output plane of at most 256
    /// points, or a layer whose output rows leave a quarter of their vectors' lanes idle or
    /// more, strided or of at most 576 points (24×24: on Zen 5 at AVX-512, MobileNetV2's
    /// 24×24 layer of 96 channels ran in 17.6-21.6 µs against 22.3-24.5 in rows of vectors;
    /// 28×28, whose rows leave an eighth idle, ran even, 56×56 slower). On Zen 4 at AVX-512, MobileNetV2's layers (3×3) ran in 0.4-0.7 of the
    /// time of rows of vectors on planes of 3×3 to 14×14, 0.26-0.67 strided to 3×3 and 12×12,
    /// 0.8 from 48×48 to 24×24; even at 24×24, slower at 28×28 (1.1-1.2) and 48×48 (1.3-1.5);
    /// at AVX2 in 0.5-0.9 up to 14×14, 2 at 24×24, whose rows fill their vectors.
    pub(in super::super) fn of(g: &Geometry, lanes: usize) -> Option<Interleaved> {
        let (k, s, p, d) = (g.kernel, g.stride, g.padding, g.dilation);
        let idle = 4 * g.out_w <= 3 * g.out_w.next_multiple_of(lanes);
        if g.in_per_group != 1
            || g.out_per_group != 1
            || g.in_d != 1
            || g.rows_d != 1
            || k.d != 1
            || !matches!(k.h * k.w, 9 | 25)
            || g.groups < lanes
            || !(g.out_plane <= 256 || (idle && (s.h * s.w > 1 || g.out_plane <= 576)))
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
pub(super) unsafe fn channel_vectors<V: Lanes>(ep: &Epilogue<'_>, c0: usize, m: usize) -> (V, V) {
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
pub(in super::super) struct Flat {
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
    pub(in super::super) fn of(g: &Geometry, lanes: usize) -> Option<Flat> {
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
pub(super) unsafe fn pad_columns<V: Lanes>(
    row: &[f32],
    dst: *mut f32,
    pw: usize,
    sw: usize,
    apart: usize,
) {
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
