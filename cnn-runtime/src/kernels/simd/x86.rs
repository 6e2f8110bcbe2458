//! The x86-64 kernels: one vector type per instruction set (`lanes`), one tile loop for both.
//! Here the dispatch of a convolution, the row tiles and the 1×1 layers' panels; the channel
//! tile, the patch panels of first layers, the depthwise and the Winograd kernels in modules of
//! their own.

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use super::Geometry;
use crate::Activation;
use crate::kernels::Epilogue;

mod channels;
mod depthwise;
mod expand_depthwise;
mod lanes;
mod patches;
mod winograd;
mod winograd_channels;

#[cfg(test)]
pub(super) use depthwise::{Flat, Interleaved};
pub(super) use depthwise::{depthwise_avx2, depthwise_avx512};
pub(super) use expand_depthwise::{expand_depthwise_avx2, expand_depthwise_avx512};
pub(super) use lanes::{Lanes, Ymm, Zmm};
pub(super) use patches::PATCH_ROWS;
pub(super) use winograd::{winograd_avx2, winograd_avx512};
pub(super) use winograd_channels::{winograd_channels_avx2, winograd_channels_avx512};

/// # Safety
/// The processor has AVX-512F; each of `inputs` and `outputs` holds the shapes `g` describes
/// (as many outputs as inputs), the epilogue's slices its output channels, `packed` (if given)
/// the weights packed for this level.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn conv_avx512(
    g: &Geometry,
    inputs: &[&[f32]],
    weight: &[f32],
    packed: Option<&[f32]>,
    ep: &Epilogue<'_>,
    outputs: &mut [&mut [f32]],
) {
    // SAFETY: forwarded from the caller.
    unsafe { conv::<Zmm>(g, inputs, weight, packed, ep, outputs) }
}

/// # Safety
/// The processor has AVX2 and FMA; otherwise as for [`conv_avx512`].
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn conv_avx2(
    g: &Geometry,
    inputs: &[&[f32]],
    weight: &[f32],
    packed: Option<&[f32]>,
    ep: &Epilogue<'_>,
    outputs: &mut [&mut [f32]],
) {
    // SAFETY: forwarded from the caller.
    unsafe { conv::<Ymm>(g, inputs, weight, packed, ep, outputs) }
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

/// The drivers of the tile families, each compiled as a function of its own for each
/// instruction set (and each row tile's shape), which the dispatch calls: inlined into one
/// function, the AVX-512 convolution was 880 KB of code that the optimiser took ten minutes
/// over, alone on one core.
trait Drivers: Lanes {
    /// [`rows`] of `MR` channels, kernel width `KW`, stride `SW`.
    ///
    /// # Safety
    /// As for [`rows`].
    unsafe fn rows<const MR: usize, const KW: usize, const SW: usize>(
        g: &Geometry,
        x: &[f32],
        w: &[f32],
        y: &mut [f32],
        t: &Tile,
        b: Block,
    );
    /// [`channels::channels`].
    ///
    /// # Safety
    /// As for [`channels::channels`].
    unsafe fn channels(
        g: &Geometry,
        inputs: &[&[f32]],
        weights: &mut Weights<'_>,
        ep: &Epilogue<'_>,
        outputs: &mut [&mut [f32]],
    );
    /// [`pointwise`].
    ///
    /// # Safety
    /// As for [`pointwise`].
    unsafe fn pointwise(
        g: &Geometry,
        input: &[f32],
        packed: &[f32],
        ep: &Epilogue<'_>,
        output: &mut [f32],
    );
    /// [`patches::patches`].
    ///
    /// # Safety
    /// As for [`patches::patches`].
    unsafe fn patches(
        g: &Geometry,
        input: &[f32],
        packed: &[f32],
        ep: &Epilogue<'_>,
        output: &mut [f32],
    );
}

/// [`Drivers`] for the vector type `$v`, compiled with `$features`.
macro_rules! drivers {
    ($v:ty, $features:literal) => {
        impl Drivers for $v {
            #[target_feature(enable = $features)]
            #[inline(never)]
            unsafe fn rows<const MR: usize, const KW: usize, const SW: usize>(
                g: &Geometry,
                x: &[f32],
                w: &[f32],
                y: &mut [f32],
                t: &Tile,
                b: Block,
            ) {
                // SAFETY: forwarded from the caller, whose level enables `$features`.
                unsafe { rows::<Self, MR, KW, SW>(g, x, w, y, t, b) }
            }
            #[target_feature(enable = $features)]
            #[inline(never)]
            unsafe fn channels(
                g: &Geometry,
                inputs: &[&[f32]],
                weights: &mut Weights<'_>,
                ep: &Epilogue<'_>,
                outputs: &mut [&mut [f32]],
            ) {
                // SAFETY: as above.
                unsafe { channels::channels::<Self>(g, inputs, weights, ep, outputs) }
            }
            #[target_feature(enable = $features)]
            #[inline(never)]
            unsafe fn pointwise(
                g: &Geometry,
                input: &[f32],
                packed: &[f32],
                ep: &Epilogue<'_>,
                output: &mut [f32],
            ) {
                // SAFETY: as above.
                unsafe { pointwise::<Self>(g, input, packed, ep, output) }
            }
            #[target_feature(enable = $features)]
            #[inline(never)]
            unsafe fn patches(
                g: &Geometry,
                input: &[f32],
                packed: &[f32],
                ep: &Epilogue<'_>,
                output: &mut [f32],
            ) {
                // SAFETY: as above.
                unsafe { patches::patches::<Self>(g, input, packed, ep, output) }
            }
        }
    };
}
drivers!(Zmm, "avx512f");
drivers!(Ymm, "avx2,fma");

/// Blocks of output rows (or of columns, for a flattened layer's single row) whose input fits
/// in [`BLOCK_BYTES`]; each group's channel tiles all pass over a block before the next.
#[inline(always)]
unsafe fn conv<V: Drivers>(
    g: &Geometry,
    inputs: &[&[f32]],
    weight: &[f32],
    packed: Option<&[f32]>,
    ep: &Epilogue<'_>,
    outputs: &mut [&mut [f32]],
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
        unsafe { V::channels(g, inputs, &mut weights, ep, outputs) };
        return;
    }
    for (input, output) in inputs.iter().zip(outputs.iter_mut()) {
        // SAFETY: forwarded from the caller.
        unsafe { one_by_one::<V>(g, input, &mut weights, packed, ep, output) };
    }
}

/// [`conv`] of one input, in the tile families other than the channel tile.
///
/// # Safety
/// As for [`conv`], with one input and its output.
#[inline(always)]
unsafe fn one_by_one<V: Drivers>(
    g: &Geometry,
    input: &[f32],
    weights: &mut Weights<'_>,
    packed: Option<&[f32]>,
    ep: &Epilogue<'_>,
    output: &mut [f32],
) {
    if let (true, Some(packed)) = (g.flat || g.gather, packed) {
        // SAFETY: forwarded from the caller.
        unsafe { V::pointwise(g, input, packed, ep, output) };
        return;
    }
    if let (true, Some(packed)) = (g.patches, packed) {
        // SAFETY: forwarded from the caller.
        unsafe { V::patches(g, input, packed, ep, output) };
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
                unsafe { tiles::<V>(g, x, weights, ep, output, group, block) };
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
unsafe fn tiles<V: Drivers>(
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
unsafe fn by_width<V: Drivers, const MR: usize>(
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
            (1, 1) => V::rows::<MR, 1, 1>(g, x, w, y, t, b),
            (1, 3) => V::rows::<MR, 3, 1>(g, x, w, y, t, b),
            (1, 5) => V::rows::<MR, 5, 1>(g, x, w, y, t, b),
            (1, 7) => V::rows::<MR, 7, 1>(g, x, w, y, t, b),
            (1, _) => V::rows::<MR, 0, 1>(g, x, w, y, t, b),
            (_, 1) => V::rows::<MR, 1, 2>(g, x, w, y, t, b),
            (_, 3) => V::rows::<MR, 3, 2>(g, x, w, y, t, b),
            (_, 7) => V::rows::<MR, 7, 2>(g, x, w, y, t, b),
            (_, _) => V::rows::<MR, 0, 2>(g, x, w, y, t, b),
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
/// The processor has AVX-512F; each of `xs` holds `inputs` values, `w` `outputs` rows of
/// `inputs`, each of `ys` `outputs` values.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn dots_avx512(xs: &[&[f32]], w: &[f32], inputs: usize, ys: &mut [&mut [f32]]) {
    // SAFETY: forwarded from the caller.
    unsafe { dots::<Zmm>(xs, w, inputs, ys) }
}

/// # Safety
/// The processor has AVX2 and FMA; each of `xs` holds `inputs` values, `w` `outputs` rows of
/// `inputs`, each of `ys` `outputs` values.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dots_avx2(xs: &[&[f32]], w: &[f32], inputs: usize, ys: &mut [&mut [f32]]) {
    // SAFETY: forwarded from the caller.
    unsafe { dots::<Ymm>(xs, w, inputs, ys) }
}

/// Rows of `w` in a tile of [`dots`] for several inputs (twice as many for one).
const DOT_ROWS: usize = 4;

/// `ys[b][o] = sum over i of w[o, i] xs[b][i]` for every input `b`: four rows of `w` at a time,
/// read once for two inputs, each pair of row and input with two vectors of partial sums (so
/// that a load of a row serves two inputs, a load of an input four rows, and sixteen
/// independent chains of multiply-adds keep both units busy); the tail of a row is a masked
/// load. A single input takes eight rows at a time, so that eight streams of weights are in
/// flight (MobileNetV2's 1280 → 1000 classifier, its 5 MB of weights from the level-3 cache,
/// ran in 69-82 µs in the network against 76-98 with four, on Zen 4). Each output is summed in
/// the same order whatever the number of inputs (lanes `i mod 2N` in order of `i`, then the two
/// vectors added, then their lanes), so a batch gives each input's outputs bit for bit.
///
/// # Safety
/// The instruction set is enabled; as for [`dots_avx512`].
#[inline(always)]
unsafe fn dots<V: Lanes>(xs: &[&[f32]], w: &[f32], inputs: usize, ys: &mut [&mut [f32]]) {
    let outputs = ys.first().map_or(0, |y| y.len());
    if let [x] = xs {
        // One input: eight rows at a time, eight streams of weights in flight.
        let mut o = 0;
        while o < outputs {
            let rows = (outputs - o).min(2 * DOT_ROWS);
            // SAFETY: forwarded from the caller: rows `o..o + rows` of `w` exist.
            let sums = unsafe { dot_tile::<V, 1, { 2 * DOT_ROWS }>([x], w, o, rows, inputs) };
            for (r, s) in sums.iter().enumerate().take(rows) {
                ys[0][o + r] = s[0];
            }
            o += rows;
        }
        return;
    }
    // The next tile's rows are asked for into the level-2 cache while this one's serve the
    // inputs, a share before each pair: the first pair would otherwise wait for them, from
    // memory where a group's activations pushed them out of the caches (MobileNetV2's
    // classifier in groups of 16: 47.7 -> 37-39 µs per input on Zen 4; into the level-1 cache,
    // it pushed out the tile's own rows: 435 -> 490 µs for 16 inputs alone).
    let pairs = xs.len().div_ceil(2);
    let mut o = 0;
    while o < outputs {
        let rows = (outputs - o).min(DOT_ROWS);
        let next = w.as_ptr().wrapping_add((o + rows) * inputs);
        let lines = ((outputs - o - rows).min(DOT_ROWS) * inputs).div_ceil(16);
        let share = lines.div_ceil(pairs);
        let mut b = 0;
        while b < xs.len() {
            for line in b / 2 * share..((b / 2 + 1) * share).min(lines) {
                // SAFETY: a prefetch reads no memory and cannot fault.
                unsafe { _mm_prefetch::<_MM_HINT_T1>(next.wrapping_add(line * 16) as *const i8) };
            }
            // SAFETY: forwarded from the caller: rows `o..o + rows` of `w` and inputs
            // `b..b + 2` (or `b`) exist.
            unsafe {
                if b + 1 < xs.len() {
                    let sums = dot_tile::<V, 2, DOT_ROWS>([xs[b], xs[b + 1]], w, o, rows, inputs);
                    for (r, s) in sums.iter().enumerate().take(rows) {
                        ys[b][o + r] = s[0];
                        ys[b + 1][o + r] = s[1];
                    }
                    b += 2;
                } else {
                    let sums = dot_tile::<V, 1, DOT_ROWS>([xs[b]], w, o, rows, inputs);
                    for (r, s) in sums.iter().enumerate().take(rows) {
                        ys[b][o + r] = s[0];
                    }
                    b += 1;
                }
            }
        }
        o += rows;
    }
}

/// The dot products of rows `o..o + rows` of `w` (`rows <= R`) with each of the `B`
/// inputs `x`, `[row][input]`.
///
/// # Safety
/// The instruction set is enabled; each of `x` holds `inputs` values, `w` the rows.
#[inline(always)]
unsafe fn dot_tile<V: Lanes, const B: usize, const R: usize>(
    x: [&[f32]; B],
    w: &[f32],
    o: usize,
    rows: usize,
    inputs: usize,
) -> [[f32; B]; R] {
    assert!(rows <= R && w.len() >= (o + rows) * inputs);
    assert!(x.iter().all(|x| x.len() >= inputs));
    let wp = w.as_ptr();
    let step = 2 * V::N;
    // SAFETY (whole body): every load reads `lanes <= N` values at `i < inputs` of an input or
    // of a row `o + r < o + rows` of `w`, inside the slices (the assertions above).
    unsafe {
        let mut acc = [[[V::splat(0.0); 2]; B]; R];
        // Whole steps of two vectors with plain loads, then the tail with masked ones: the
        // same multiply-adds in the same order either way.
        let whole = inputs / step * step;
        let mut i = 0;
        while i < whole {
            dot_step::<V, B, R>(
                &mut acc,
                &x,
                wp.add(o * inputs + i),
                inputs,
                rows,
                i,
                V::N,
                V::N,
            );
            i += step;
        }
        if i < inputs {
            let left = inputs - i;
            let (n0, n1) = (left.min(V::N), left.saturating_sub(V::N));
            dot_step::<V, B, R>(
                &mut acc,
                &x,
                wp.add(o * inputs + i),
                inputs,
                rows,
                i,
                n0,
                n1,
            );
        }
        let mut sums = [[0.0; B]; R];
        for (s, a) in sums.iter_mut().zip(&acc) {
            for (s, a) in s.iter_mut().zip(a) {
                *s = a[0].add(a[1]).sum();
            }
        }
        sums
    }
}

/// One step of [`dot_tile`]: `n0` and `n1` lanes of the two vectors from input point `i`, of
/// each input and of each of the `rows` rows from `w` (a row's values `inputs` apart).
///
/// # Safety
/// The instruction set is enabled; the lanes are inside the inputs and rows.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dot_step<V: Lanes, const B: usize, const R: usize>(
    acc: &mut [[[V; 2]; B]; R],
    x: &[&[f32]; B],
    w: *const f32,
    inputs: usize,
    rows: usize,
    i: usize,
    n0: usize,
    n1: usize,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        let mut xv = [[V::splat(0.0); 2]; B];
        for (xv, x) in xv.iter_mut().zip(x) {
            let p = x.as_ptr();
            *xv = [V::load(p.add(i), n0), V::load(p.wrapping_add(i + V::N), n1)];
        }
        for (r, a) in acc.iter_mut().enumerate().take(rows) {
            let row = w.add(r * inputs);
            let (w0, w1) = (V::load(row, n0), V::load(row.wrapping_add(V::N), n1));
            for (a, xv) in a.iter_mut().zip(&xv) {
                a[0] = w0.fma(xv[0], a[0]);
                a[1] = w1.fma(xv[1], a[1]);
            }
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
