//! Output channels in lanes: the tile for layers whose planes are too small to fill vectors
//! along their rows (see `Geometry::by_channels`).

use super::*;

/// Floats of a channel tile's partial sums, `[point][channel]`, for a piece of a plane and one
/// block of output channels: 64 points × 3 × 16 channels (12 KiB, on the stack).
const SUMS: usize = 3072;

/// Output channels in lanes, for layers whose planes are too small to fill vectors along their
/// rows (see `Geometry::by_channels`): a tile is `V::CMR` points of the flattened output plane
/// × up to `V::CNV` vectors of output channels; for each input channel and tap, the channels'
/// weights are loaded once (packed `[tap][input channel][output channel]`, the order
/// [`super::super::pack_block`] gives a block) and each point's input value is broadcast into
/// them. Every lane does work whatever the plane's shape; taps that read padding broadcast
/// zero. The plane goes in pieces (the whole of it where it fits): a piece's sums go to a
/// `[point][channel]` buffer (between chunks of input channels, where the weights are packed
/// as the layer runs), and to the output planes, transposed, after the last input channel.
///
/// With several inputs, each block of output channels runs over every input before the next
/// block, so that its weights are read from memory once for all of them (each input's sums
/// are computed as they would be alone).
///
/// # Safety
/// The instruction set is enabled; each of `inputs` and `outputs` holds the shapes `g`
/// describes (as many outputs as inputs), packed weights (if given) as [`super::pack`] lays
/// them out for this level.
#[inline(always)]
pub(super) unsafe fn channels<V: Lanes>(
    g: &Geometry,
    inputs: &[&[f32]],
    weights: &mut Weights<'_>,
    ep: &Epilogue<'_>,
    outputs: &mut [&mut [f32]],
) {
    let (ipg, opg, plane) = (g.in_per_group, g.out_per_group, g.out_plane);
    let taps = g.kernel.volume();
    // A block has at most `V::CNV` vectors of channels.
    assert!(V::CNV <= 3 && V::N <= 16 && V::CMR * V::CNV * V::N <= SUMS);
    let mut sums = [0.0f32; SUMS];
    for group in 0..g.groups {
        let mut co = 0;
        while co < opg {
            let nb = super::super::channel_block(opg - co, V::N, V::CNV);
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
            let direct = chunk >= ipg;
            // The plane in pieces whose sums fit `sums`: the whole plane where it fits, else
            // whole tiles of points.
            let most = SUMS / nb;
            let (piece, mr) = if plane <= most {
                (plane, point_tile_width::<V>(plane))
            } else {
                (most / V::CMR * V::CMR, V::CMR)
            };
            for (input, output) in inputs.iter().zip(outputs.iter_mut()) {
                let x = &input[group * ipg * g.in_plane..(group + 1) * ipg * g.in_plane];
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
                                super::super::pack_block(
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
                            let np = mr.min(p1 - f);
                            // A block that takes every input channel in one pass stores its
                            // points straight into the output planes; one in chunks keeps its
                            // sums in `sums` between chunks.
                            let to = if direct {
                                To::Planes(&mut output[first * plane..(first + nb) * plane], plane)
                            } else {
                                To::Sums(&mut sums[(f - p0) * nb..(f - p0 + np) * nb])
                            };
                            // SAFETY: the tile reads input planes `c0..c1` of the group from `x`
                            // and their packed weights from `w`, and writes the sums of points
                            // `f..f + np`, `nb` channels each, to `to`.
                            unsafe {
                                macro_rules! tile {
                                    ($mr:literal) => {
                                        match (nb.div_ceil(V::N), nb % V::N == 0) {
                                            (1, false) => point_tile::<V, $mr, 1, true>(
                                                g, x, w, to, &t, f, np,
                                            ),
                                            (1, true) => point_tile::<V, $mr, 1, false>(
                                                g, x, w, to, &t, f, np,
                                            ),
                                            (2, _) => point_tile::<V, $mr, 2, false>(
                                                g, x, w, to, &t, f, np,
                                            ),
                                            _ => point_tile::<V, $mr, 3, false>(
                                                g, x, w, to, &t, f, np,
                                            ),
                                        }
                                    };
                                }
                                if V::CMR == 9 {
                                    match mr {
                                        9 => tile!(9),
                                        8 => tile!(8),
                                        _ => tile!(7),
                                    }
                                } else {
                                    match mr {
                                        6 => tile!(6),
                                        5 => tile!(5),
                                        _ => tile!(4),
                                    }
                                }
                            }
                            f += np;
                        }
                        c0 = c1;
                    }
                    // The piece's sums, epilogue applied, to the output planes (a block of
                    // one chunk stored its points there itself).
                    if !direct {
                        for j in 0..nb {
                            let y = &mut output[(first + j) * plane + p0..(first + j) * plane + p1];
                            for (i, out) in y.iter_mut().enumerate() {
                                *out = sums[i * nb + j];
                            }
                        }
                    }
                    p0 = p1;
                }
            }
            co += nb;
        }
    }
}

/// The points of a channel tile over a plane (or a piece of one) of `count` points: of `V::CMR`
/// and the two sizes below it, the one that computes fewest points, the largest where they tie.
/// A 7×7 plane of 49 points goes in tiles of 7 (tiles of 9 computed 54), 8×8 in tiles of 8 (9
/// computed 72), 6×6 in 9. On Zen 4, ResNet-50's 1×1 layer of 2048 → 512 channels on 7×7 ran in
/// 0.96-0.99 ms against 1.02-1.05 in tiles of 9, ResNet-20's stride-2 layer of 32 → 64 channels to
/// 8×8 in 24.2-26.5 µs against 27.8-28.8.
pub(super) fn point_tile_width<V: Lanes>(count: usize) -> usize {
    let mut best = V::CMR;
    for mr in [V::CMR - 1, V::CMR - 2] {
        if count.div_ceil(mr) * mr < count.div_ceil(best) * best {
            best = mr;
        }
    }
    best
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

/// Where a channel tile's sums go: to the `[point][channel]` sums of its piece (`nb` apart),
/// or, transposed, to the block's output planes (`plane` apart), epilogue applied.
enum To<'a> {
    Sums(&'a mut [f32]),
    Planes(&'a mut [f32], usize),
}

/// `MR` points of the flattened output plane, `f0..f0 + np` (`np <= MR`; the missing ones
/// repeat the last and are not stored) × `NV` vectors of the block's output channels (the last
/// partial, `nb < N`, with `TAIL`), to `to`: with [`To::Sums`], `[point][channel]` sums `nb`
/// apart, which a chunk after the first starts from; with [`To::Planes`] (a block of one
/// chunk), the block's output planes.
///
/// # Safety
/// The instruction set is enabled; `x` holds the group's input planes, `w` the chunk's packed
/// weights, tap `tap`'s from `tap * t.tap_step`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn point_tile<V: Lanes, const MR: usize, const NV: usize, const TAIL: bool>(
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    to: To<'_>,
    t: &ChannelTile<'_>,
    f0: usize,
    np: usize,
) {
    let nb = t.nb;
    assert!(np >= 1 && np <= MR && NV * V::N >= nb);
    assert!(TAIL == (nb < V::N) && (TAIL || nb == NV * V::N));
    // Lanes of each vector of channels (all but a tail block's are whole).
    let lanes = if TAIL { nb } else { V::N };
    match to {
        To::Sums(s) => {
            assert!(s.len() >= np * nb);
            let sp = s.as_mut_ptr();
            // SAFETY: the sums of point `i < np` and vector `v` are `lanes` floats at `i nb + v
            // N`, inside `s`; the rest as the caller vouches.
            unsafe {
                let from = (!t.first).then_some(sp.cast_const());
                let acc = point_sums::<V, MR, NV, TAIL>(g, x, w, t, f0, np, from);
                for (i, a) in acc.iter().enumerate().take(np) {
                    for (v, a) in a.iter().enumerate() {
                        a.store(sp.add(i * nb + v * V::N), lanes);
                    }
                }
            }
        }
        To::Planes(y, plane) => {
            assert!(t.first && t.last.is_some() && MR <= V::N && f0 + np <= plane);
            assert!(y.len() >= nb * plane);
            // SAFETY: point `f0 + i` of channel `v N + j < nb` is inside `y`'s planes; the
            // rest as the caller vouches.
            unsafe {
                let acc = point_sums::<V, MR, NV, TAIL>(g, x, w, t, f0, np, None);
                for v in 0..NV {
                    // Vector `i` holds point `i`'s channels; transposed, vector `j` holds
                    // channel `v N + j`'s points.
                    let mut m = [V::splat(0.0); 16];
                    for (m, a) in m.iter_mut().zip(&acc) {
                        *m = a[v];
                    }
                    V::transpose(&mut m);
                    for (j, m) in m.iter().enumerate().take(V::N) {
                        if v * V::N + j < nb {
                            m.store(y.as_mut_ptr().add((v * V::N + j) * plane + f0), np);
                        }
                    }
                }
            }
        }
    }
}

/// The sums of a channel tile (see [`point_tile`]) in registers, from `from`'s `[point][channel]`
/// sums (`t.nb` apart) or from zero, with the epilogue applied after the last chunk.
///
/// # Safety
/// The instruction set is enabled; as for [`point_tile`], and `from` holds `np` points' sums.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
// The point indices address offsets, masks and sums at once.
#[allow(clippy::needless_range_loop)]
unsafe fn point_sums<V: Lanes, const MR: usize, const NV: usize, const TAIL: bool>(
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    t: &ChannelTile<'_>,
    f0: usize,
    np: usize,
    from: Option<*const f32>,
) -> [[V; NV]; MR] {
    let (k, st, p, d) = (g.kernel, g.stride, g.padding, g.dilation);
    let taps = k.volume();
    let (c0, c1) = t.channels;
    let nb = t.nb;
    assert!(w.len() >= (taps - 1) * t.tap_step + (c1 - c0) * nb && x.len() >= c1 * g.in_plane);
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
    // SAFETY (whole body): each broadcast reads input point `off[i]` of a channel plane
    // `c0..c1` of `x`, where `off[i]` is a point inside the plane (0 for a tap that reads
    // padding, whose value is then dropped); packed weights at `tap tap_step + (cl - c0) nb +
    // v N`, `lanes` of them, are inside the chunk (the assertion above); `from` as the caller
    // vouches.
    unsafe {
        let mut acc = [[V::splat(0.0); NV]; MR];
        if let Some(sp) = from {
            for i in 0..MR {
                if i < np {
                    for v in 0..NV {
                        acc[i][v] = V::load(sp.add(i * nb + v * V::N), lanes);
                    }
                }
            }
        }
        let x0 = x.as_ptr().add(c0 * g.in_plane);
        // A tile whose every tap reads inside the input (every tile of a layer without
        // padding, the inner ones of the others) moves its points' offsets by the tap's
        // distance, without checking each point against the borders.
        let (last_row, last_col) = (((k.h - 1) * d.h) as isize, ((k.w - 1) * d.w) as isize);
        let mut interior = true;
        for i in 0..MR {
            interior &= row0[i] >= 0
                && row0[i] + last_row < in_h
                && col0[i] >= 0
                && col0[i] + last_col < in_w;
        }
        for kh in 0..k.h {
            for kw in 0..k.w {
                let tap = kh * k.w + kw;
                let mut off = [0isize; MR];
                let mut keep = [!0u32; MR];
                let (mut all, mut any) = (true, true);
                if interior {
                    let moved = (kh * d.h) as isize * in_w + (kw * d.w) as isize;
                    for i in 0..MR {
                        off[i] = row0[i] * in_w + col0[i] + moved;
                    }
                } else {
                    any = false;
                    for i in 0..MR {
                        let r = row0[i] + (kh * d.h) as isize;
                        let c = col0[i] + (kw * d.w) as isize;
                        let inside = r >= 0 && r < in_h && c >= 0 && c < in_w;
                        off[i] = if inside { r * in_w + c } else { 0 };
                        keep[i] = if inside { !0 } else { 0 };
                        all &= inside;
                        any |= inside;
                    }
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
        acc
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
