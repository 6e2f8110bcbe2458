//! Layers of few input values per output over large planes (first layers: ResNet's 7×7 stem
//! of 3 channels, stride 2; the 3×3 stems of MobileNetV2 and the CIFAR ResNets): each tile of
//! points has its patches copied into a panel, one row per input channel and tap (im2col), and
//! every tile of output channels multiplies that panel as the flattened 1×1 layer multiplies
//! its own.

use super::{Epilogue, Geometry, Lanes, PanelRows, SEGMENTS, Segment, panel_tiles, segments};

/// Most rows of a patch panel (input values per output): see `Geometry::patches`.
pub(in super::super) const PATCH_ROWS: usize = 256;

/// A layer `Geometry::patches` takes, its weights packed as for the row tiles
/// (`[input channel][tap][output channel]` per tile, which is the panel's order of rows): for
/// each tile of `V::NV V::N` points of the flattened output plane, every row is copied from the
/// input (zero where a tap reads padding), then every tile of output channels multiplies the
/// panel. The copy costs one masked load (two and a permutation at stride 2) and a store per
/// vector of a row, against a vector of multiply-adds per row for each output channel.
///
/// # Safety
/// The instruction set is enabled; the slices hold the shapes `g` describes, `packed` the
/// weights packed for this level.
#[inline(always)]
pub(super) unsafe fn patches<V: Lanes>(
    g: &Geometry,
    input: &[f32],
    packed: &[f32],
    ep: &Epilogue<'_>,
    output: &mut [f32],
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        if g.stride.w == 1 {
            patches_by::<V, 1>(g, input, packed, ep, output)
        } else {
            patches_by::<V, 2>(g, input, packed, ep, output)
        }
    }
}

/// [`patches`] at stride `SW` along the width.
#[inline(always)]
unsafe fn patches_by<V: Lanes, const SW: usize>(
    g: &Geometry,
    input: &[f32],
    packed: &[f32],
    ep: &Epilogue<'_>,
    output: &mut [f32],
) {
    let (ipg, plane) = (g.in_per_group, g.out_plane);
    let rows = ipg * g.kernel.h * g.kernel.w;
    let width = V::NV * V::N;
    // The SIMD kernels take strides of 1 and 2 along the width (`conv_fused`).
    assert!(g.kernel.d == 1 && g.in_d == 1 && g.stride.w == SW && SW <= 2);
    assert!(rows <= PATCH_ROWS && width <= SEGMENTS && V::NV <= 3);
    let mut panel = [0.0f32; PATCH_ROWS * SEGMENTS];
    let mut segs = [Segment::default(); SEGMENTS];
    for group in 0..g.groups {
        let x = &input[group * ipg * g.in_plane..(group + 1) * ipg * g.in_plane];
        let mut f = 0;
        while f < plane {
            let n = width.min(plane - f);
            let count = segments(g, f, n, &mut segs);
            for seg in &segs[..count] {
                // SAFETY: the caller enables the instruction set; the panel holds `rows` rows
                // of `width` floats, and the segment lies inside a row.
                unsafe { patch_segment::<V, SW>(g, x, seg, &mut panel[..rows * width]) };
            }
            let rows = PanelRows {
                rows: (0, rows),
                of: rows,
                points: (f, n),
            };
            // SAFETY: forwarded from the caller; the panel holds every row of the tile's
            // points.
            unsafe { panel_tiles::<V>(&mut panel, None, rows, packed, ep, output, g, group) };
            f += n;
        }
    }
}

/// One segment of a tile's points, every row: row `(c kh_n + kh) kw_n + kw` of the panel (each
/// `width = V::NV V::N` floats) gets, from place `seg.to`, `x(c, seg.oh sh + kh dh - ph,
/// (seg.ow + l) SW + kw dw - pw)` for the segment's points `l`, zero where that falls outside
/// the plane. The columns' bounds are worked out once for each tap along the width, and serve
/// every input channel and tap along the height.
///
/// # Safety
/// The instruction set is enabled; `panel` holds the layer's rows of `width` floats, and the
/// segment lies inside a row of them.
#[inline(always)]
unsafe fn patch_segment<V: Lanes, const SW: usize>(
    g: &Geometry,
    x: &[f32],
    seg: &Segment,
    panel: &mut [f32],
) {
    let (k, s, p, d) = (g.kernel, g.stride, g.padding, g.dilation);
    let width = V::NV * V::N;
    let (ipg, in_w) = (g.in_per_group, g.in_w as isize);
    assert!(x.len() >= ipg * g.in_plane && g.in_plane == g.in_h * g.in_w);
    assert!(panel.len() >= ipg * k.h * k.w * width && seg.to + seg.len <= width);
    let vectors = seg.len.div_ceil(V::N);
    for kw in 0..k.w {
        // Point `l` of the segment reads column `start + l SW`: inside for `lo <= l < hi`.
        let start = (seg.ow * SW + kw * d.w) as isize - p.w as isize;
        let lo = if start >= 0 {
            0
        } else {
            ((-start) as usize).div_ceil(SW)
        };
        let hi = if start >= in_w {
            0
        } else {
            ((in_w - start) as usize).div_ceil(SW)
        };
        let (lo, hi) = (lo.min(seg.len), hi.min(seg.len).max(lo.min(seg.len)));
        // Lanes `a..b` of each vector `v` of the segment read inside the row.
        let mut lanes = [(0, 0); 3];
        for (v, l) in lanes.iter_mut().enumerate().take(vectors) {
            let (j, m) = (v * V::N, (seg.len - v * V::N).min(V::N));
            let a = lo.saturating_sub(j).min(m);
            *l = (a, hi.saturating_sub(j).min(m).max(a));
        }
        for kh in 0..k.h {
            let ih = (seg.oh * s.h + kh * d.h) as isize - p.h as isize;
            let inside = ih >= 0 && ih < g.in_h as isize;
            for c in 0..ipg {
                let r = (c * k.h + kh) * k.w + kw;
                let to = &mut panel[r * width + seg.to..r * width + seg.to + seg.len];
                if !inside {
                    to.fill(0.0);
                    continue;
                }
                let row = &x[c * g.in_plane + ih as usize * g.in_w..][..g.in_w];
                for (v, &(a, b)) in lanes.iter().enumerate().take(vectors) {
                    let (j, m) = (v * V::N, (seg.len - v * V::N).min(V::N));
                    // SAFETY: lanes `a..b` of vector `v` are points `j + a..j + b` of the
                    // segment, which read columns `start + (j + l) SW` inside the row (`lo <=
                    // j + l < hi`); `load_range` reads only those lanes from `p`, `load_even`
                    // only elements `2a..2b - 1` (the columns of lanes `a..b`), so `p` itself
                    // may lie outside the row. The store writes `m` floats from `to + j`,
                    // inside `to`.
                    unsafe {
                        let q = row.as_ptr().wrapping_offset(start + (j * SW) as isize);
                        let vec = if SW == 1 {
                            V::load_range(q, a, b)
                        } else {
                            V::load_even(q, a, b)
                        };
                        vec.store(to.as_mut_ptr().add(j), m);
                    }
                }
            }
        }
    }
}
