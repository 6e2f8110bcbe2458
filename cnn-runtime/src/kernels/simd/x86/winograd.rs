//! Winograd F(2×2, 3×3) for 3×3 layers of stride 1 (see `super::super::winograd`).

use super::depthwise::pad_columns;
use super::*;

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
pub(in super::super) unsafe fn winograd_avx512(
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
pub(in super::super) unsafe fn winograd_avx2(
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
                    let mr = super::super::tile_width(V::MR, o1 - o);
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
