use super::Extent;

/// The sizes of one pooling layer, written by the macro as associated constants.
pub trait PoolSpec {
    const CHANNELS: usize;
    const INPUT: Extent;
    const OUTPUT: Extent;
    const KERNEL: Extent;
    const STRIDE: Extent;
    const PADDING: Extent;
    /// Max pooling only; average pooling has no dilation.
    const DILATION: Extent;
    /// Average pooling: whether padded points count in the divisor.
    const COUNT_INCLUDE_PAD: bool;
    /// Average pooling: a fixed divisor, or 0 for none.
    const DIVISOR_OVERRIDE: usize;
}

/// Window of output `o` along one axis: `(first, last + 1)` of the taps inside the input, the
/// start of the window in padded coordinates being `o * stride - padding`.
#[inline(always)]
fn window(o: usize, stride: usize, padding: usize) -> isize {
    (o * stride) as isize - padding as isize
}

/// Max pooling: `y[c, o] = max over taps k inside the input of x[c, o * stride + k * dilation -
/// padding]`. A NaN in the window gives NaN, as in PyTorch.
///
/// # Shapes
/// `input`: `[CHANNELS, INPUT]`; `output`: `[CHANNELS, OUTPUT]`.
#[inline(never)]
pub fn max_pool<S: PoolSpec>(input: &[f32], output: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::level() >= super::Level::Avx2 {
        // SAFETY: the processor has AVX2 and FMA (the level says so).
        unsafe { max_pool_avx2::<S>(input, output) };
        return;
    }
    max_pool_runs::<S>(input, output);
}

/// [`max_pool`] compiled for AVX2, so that its loops over a run's columns are vectorised eight
/// lanes at a time (ResNet-50's pool, 64 × 112 × 112 → 56 × 56, took 0.31 ms in the portable
/// build, 16-byte vectors).
///
/// # Safety
/// The processor has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn max_pool_avx2<S: PoolSpec>(input: &[f32], output: &mut [f32]) {
    max_pool_runs::<S>(input, output);
}

/// [`max_pool`] for the instruction set of its caller.
#[inline(always)]
fn max_pool_runs<S: PoolSpec>(input: &[f32], output: &mut [f32]) {
    let (i, o, k, s, p, d) = (
        S::INPUT,
        S::OUTPUT,
        S::KERNEL,
        S::STRIDE,
        S::PADDING,
        S::DILATION,
    );
    // Separable: each output row first takes the maximum down the rows of its windows, for a
    // run of columns at a time (vectorised), then along each window of that run. The run's
    // columns are in padded coordinates, those outside the input left at minus infinity (which
    // no maximum takes, as a tap in the padding is none), so every window of the run reads
    // `k.w` columns of it whether or not it reaches the padding.
    const RUN: usize = 256;
    let span = (k.w - 1) * d.w + 1;
    if 2 * span > RUN {
        return max_pool_direct::<S>(input, output);
    }
    // Output columns per run: their windows span at most `RUN` columns.
    let per_run = ((RUN - span) / s.w + 1).min(o.w.max(1));
    let mut column = [f32::NEG_INFINITY; RUN];
    for (x, y) in input
        .chunks_exact(i.volume())
        .zip(output.chunks_exact_mut(o.volume()))
        .take(S::CHANNELS)
    {
        for od in 0..o.d {
            let (d0, d1) = taps(window(od, s.d, p.d), k.d, d.d, i.d);
            for oh in 0..o.h {
                let (h0, h1) = taps(window(oh, s.h, p.h), k.h, d.h, i.h);
                let row = &mut y[(od * o.h + oh) * o.w..][..o.w];
                for (run, out) in row.chunks_mut(per_run).enumerate() {
                    // The run's windows cover padded columns `first..first + len`, of which
                    // input columns `c0..c1` lie inside the row, from `c0 - first` on.
                    let first = window(run * per_run, s.w, p.w);
                    let len = (out.len() - 1) * s.w + span;
                    let c0 = first.max(0) as usize;
                    let c1 = ((first + len as isize).max(0) as usize).min(i.w).max(c0);
                    let column = &mut column[..len];
                    column.fill(f32::NEG_INFINITY);
                    let at = ((c0 as isize - first) as usize).min(len);
                    let inside = &mut column[at..][..c1 - c0];
                    for td in d0..d1 {
                        let xd = (window(od, s.d, p.d) + (td * d.d) as isize) as usize;
                        for th in h0..h1 {
                            let xh = (window(oh, s.h, p.h) + (th * d.h) as isize) as usize;
                            let line = &x[(xd * i.h + xh) * i.w..][c0..c1];
                            for (m, &v) in inside.iter_mut().zip(line) {
                                *m = max_nan(*m, v);
                            }
                        }
                    }
                    along_row(column, out, k.w, s.w, d.w);
                }
            }
        }
    }
}

/// `out[j] = max over t < k of column[j s + t d]`: the windows of a run along its row. The
/// common windows have their own loops, which the compiler vectorises.
#[inline(always)]
fn along_row(column: &[f32], out: &mut [f32], k: usize, s: usize, d: usize) {
    match (k, s, d) {
        (3, 2, 1) => {
            // Each window is a pair and the next pair's first column.
            for (out, w) in out.iter_mut().zip(column.windows(3).step_by(2)) {
                *out = max_nan(max_nan(w[0], w[1]), w[2]);
            }
        }
        (2, 2, 1) => {
            for (out, w) in out.iter_mut().zip(column.chunks_exact(2)) {
                *out = max_nan(w[0], w[1]);
            }
        }
        _ => {
            for (j, out) in out.iter_mut().enumerate() {
                let mut m = f32::NEG_INFINITY;
                for t in 0..k {
                    m = max_nan(m, column[j * s + t * d]);
                }
                *out = m;
            }
        }
    }
}

/// Max pooling one output at a time: for windows too wide for [`max_pool`]'s runs.
fn max_pool_direct<S: PoolSpec>(input: &[f32], output: &mut [f32]) {
    let (i, o, k, s, p, d) = (
        S::INPUT,
        S::OUTPUT,
        S::KERNEL,
        S::STRIDE,
        S::PADDING,
        S::DILATION,
    );
    for (x, y) in input
        .chunks_exact(i.volume())
        .zip(output.chunks_exact_mut(o.volume()))
        .take(S::CHANNELS)
    {
        for od in 0..o.d {
            let (d0, d1) = taps(window(od, s.d, p.d), k.d, d.d, i.d);
            for oh in 0..o.h {
                let (h0, h1) = taps(window(oh, s.h, p.h), k.h, d.h, i.h);
                for ow in 0..o.w {
                    let start = window(ow, s.w, p.w);
                    let (w0, w1) = taps(start, k.w, d.w, i.w);
                    let mut m = f32::NEG_INFINITY;
                    for td in d0..d1 {
                        let xd = (window(od, s.d, p.d) + (td * d.d) as isize) as usize;
                        for th in h0..h1 {
                            let xh = (window(oh, s.h, p.h) + (th * d.h) as isize) as usize;
                            let line = &x[(xd * i.h + xh) * i.w..][..i.w];
                            for tw in w0..w1 {
                                m = max_nan(m, line[(start + (tw * d.w) as isize) as usize]);
                            }
                        }
                    }
                    y[(od * o.h + oh) * o.w + ow] = m;
                }
            }
        }
    }
}

/// `v` if it is larger than `m` or NaN, else `m`: a NaN in a window wins, as in PyTorch.
#[inline(always)]
fn max_nan(m: f32, v: f32) -> f32 {
    if v > m || v.is_nan() { v } else { m }
}

/// The taps `first..last` of a window starting at padded coordinate `start` (`count` taps,
/// `dil` apart) that fall inside an axis of `len` points.
#[inline(always)]
fn taps(start: isize, count: usize, dil: usize, len: usize) -> (usize, usize) {
    // Tap t is at start + t dil: inside from ceil(-start / dil) to ceil((len - start) / dil).
    let first = if start >= 0 {
        0
    } else {
        start.unsigned_abs().div_ceil(dil)
    };
    let last = if start >= len as isize {
        0
    } else {
        (len as isize - start) as usize
    }
    .div_ceil(dil);
    (first.min(count), last.min(count).max(first.min(count)))
}

/// Clipped window of output `o` along one axis, as PyTorch's `avg_pool` computes it: the
/// window clipped to the padded input (its length counts for `count_include_pad`), then to the
/// input.
#[inline(always)]
fn avg_window(o: usize, len: usize, k: usize, s: usize, p: usize) -> (usize, usize, usize) {
    let start = window(o, s, p);
    let end = (start + k as isize).min((len + p) as isize);
    let padded = (end - start) as usize;
    let start = start.max(0) as usize;
    let end = end.min(len as isize).max(0) as usize;
    (start, end.max(start), padded)
}

/// Each output of an average pool, in order: its window's input ranges along depth, height
/// and width and its divisor (PyTorch's rules: `count_include_pad`, `divisor_override`; 0 for a
/// window past the padded input under `ceil_mode`).
#[inline(always)]
fn avg_cells<S: PoolSpec>(mut cell: impl FnMut(usize, [(usize, usize); 3], usize)) {
    let (i, o, k, s, p) = (S::INPUT, S::OUTPUT, S::KERNEL, S::STRIDE, S::PADDING);
    for od in 0..o.d {
        let (d0, d1, dn) = avg_window(od, i.d, k.d, s.d, p.d);
        for oh in 0..o.h {
            let (h0, h1, hn) = avg_window(oh, i.h, k.h, s.h, p.h);
            for ow in 0..o.w {
                let (w0, w1, wn) = avg_window(ow, i.w, k.w, s.w, p.w);
                let divisor = if S::DIVISOR_OVERRIDE != 0 {
                    S::DIVISOR_OVERRIDE
                } else if S::COUNT_INCLUDE_PAD {
                    dn * hn * wn
                } else {
                    (d1 - d0) * (h1 - h0) * (w1 - w0)
                };
                cell(
                    (od * o.h + oh) * o.w + ow,
                    [(d0, d1), (h0, h1), (w0, w1)],
                    divisor,
                );
            }
        }
    }
}

/// Average pooling with PyTorch's divisor rules (`count_include_pad`, `divisor_override`,
/// windows past the padded input under `ceil_mode`).
///
/// # Shapes
/// `input`: `[CHANNELS, INPUT]`; `output`: `[CHANNELS, OUTPUT]`.
#[inline(never)]
pub fn avg_pool<S: PoolSpec>(input: &[f32], output: &mut [f32]) {
    let (i, o) = (S::INPUT, S::OUTPUT);
    for (x, y) in input
        .chunks_exact(i.volume())
        .zip(output.chunks_exact_mut(o.volume()))
        .take(S::CHANNELS)
    {
        avg_cells::<S>(|at, [(d0, d1), (h0, h1), (w0, w1)], divisor| {
            let mut sum = 0.0;
            for xd in d0..d1 {
                for xh in h0..h1 {
                    for v in &x[(xd * i.h + xh) * i.w..][w0..w1] {
                        sum += v;
                    }
                }
            }
            y[at] = if divisor == 0 {
                0.0
            } else {
                sum / divisor as f32
            };
        });
    }
}

/// Adaptive window of output `o`: `floor(o * in / out) .. ceil((o + 1) * in / out)`.
#[inline(always)]
fn adaptive_window(o: usize, len: usize, out: usize) -> (usize, usize) {
    (o * len / out, ((o + 1) * len).div_ceil(out))
}

fn adaptive<const MAX: bool>(
    channels: usize,
    i: Extent,
    o: Extent,
    input: &[f32],
    output: &mut [f32],
) {
    let planes = input
        .chunks_exact(i.volume())
        .zip(output.chunks_exact_mut(o.volume()))
        .take(channels);
    // A global pool (the usual one, before a classifier): one window, the whole plane, with
    // none of the windows' bounds to work out per channel (their divisions cost more than the
    // sum of a 3×3 or 7×7 plane). The values are taken in the same order as below.
    if o.volume() == 1 {
        let count = i.volume() as f32;
        for (x, y) in planes {
            y[0] = if MAX {
                x.iter().fold(f32::NEG_INFINITY, |m, &v| max_nan(m, v))
            } else {
                x.iter().fold(0.0, |acc, &v| acc + v) / count
            };
        }
        return;
    }
    for (x, y) in planes {
        for od in 0..o.d {
            let (d0, d1) = adaptive_window(od, i.d, o.d);
            for oh in 0..o.h {
                let (h0, h1) = adaptive_window(oh, i.h, o.h);
                for ow in 0..o.w {
                    let (w0, w1) = adaptive_window(ow, i.w, o.w);
                    let mut acc = if MAX { f32::NEG_INFINITY } else { 0.0 };
                    for xd in d0..d1 {
                        for xh in h0..h1 {
                            for &v in &x[(xd * i.h + xh) * i.w..][w0..w1] {
                                acc = if MAX { max_nan(acc, v) } else { acc + v };
                            }
                        }
                    }
                    if !MAX {
                        acc /= ((d1 - d0) * (h1 - h0) * (w1 - w0)) as f32;
                    }
                    y[(od * o.h + oh) * o.w + ow] = acc;
                }
            }
        }
    }
}

/// Adaptive average pooling (`AdaptiveAvgPoolNd`): output `o` averages the input window
/// `floor(o * in / out) .. ceil((o + 1) * in / out)` on each axis.
///
/// # Shapes
/// `input`: `[CHANNELS, INPUT]`; `output`: `[CHANNELS, OUTPUT]`.
#[inline(never)]
pub fn adaptive_avg_pool<S: PoolSpec>(input: &[f32], output: &mut [f32]) {
    adaptive::<false>(S::CHANNELS, S::INPUT, S::OUTPUT, input, output);
}

/// Adaptive max pooling (`AdaptiveMaxPoolNd`), windows as in [`adaptive_avg_pool`].
///
/// # Shapes
/// `input`: `[CHANNELS, INPUT]`; `output`: `[CHANNELS, OUTPUT]`.
#[inline(never)]
pub fn adaptive_max_pool<S: PoolSpec>(input: &[f32], output: &mut [f32]) {
    adaptive::<true>(S::CHANNELS, S::INPUT, S::OUTPUT, input, output);
}

/// The running argmax of a window after value `at`: the first largest value, a NaN counting as
/// largest (PyTorch's choice where values tie).
#[inline(always)]
fn first_max(x: &[f32], best: Option<usize>, at: usize) -> Option<usize> {
    match best {
        Some(b) if x[b].is_nan() || x[b] >= x[at] => Some(b),
        _ => Some(at),
    }
}

/// The gradient of [`max_pool`]: each output's gradient is added to `dx` at the first largest
/// value of its window (a NaN counts as largest), PyTorch's choice where values tie.
///
/// # Shapes
/// `input`, `dx`: `[CHANNELS, INPUT]`; `dy`: `[CHANNELS, OUTPUT]`.
#[inline(never)]
pub fn max_pool_backward<S: PoolSpec>(input: &[f32], dy: &[f32], dx: &mut [f32]) {
    let (i, o, k, s, p, d) = (
        S::INPUT,
        S::OUTPUT,
        S::KERNEL,
        S::STRIDE,
        S::PADDING,
        S::DILATION,
    );
    let planes = input
        .chunks_exact(i.volume())
        .zip(dy.chunks_exact(o.volume()))
        .zip(dx.chunks_exact_mut(i.volume()))
        .take(S::CHANNELS);
    for ((x, g), gx) in planes {
        for od in 0..o.d {
            let sd = window(od, s.d, p.d);
            let (d0, d1) = taps(sd, k.d, d.d, i.d);
            for oh in 0..o.h {
                let sh = window(oh, s.h, p.h);
                let (h0, h1) = taps(sh, k.h, d.h, i.h);
                for ow in 0..o.w {
                    let sw = window(ow, s.w, p.w);
                    let (w0, w1) = taps(sw, k.w, d.w, i.w);
                    let mut best: Option<usize> = None;
                    for td in d0..d1 {
                        let xd = (sd + (td * d.d) as isize) as usize;
                        for th in h0..h1 {
                            let xh = (sh + (th * d.h) as isize) as usize;
                            for tw in w0..w1 {
                                let at =
                                    (xd * i.h + xh) * i.w + (sw + (tw * d.w) as isize) as usize;
                                best = first_max(x, best, at);
                            }
                        }
                    }
                    if let Some(b) = best {
                        gx[b] += g[(od * o.h + oh) * o.w + ow];
                    }
                }
            }
        }
    }
}

/// The gradient of [`avg_pool`]: each output's gradient, divided by its window's divisor, is
/// added to `dx` over the window.
///
/// # Shapes
/// `dy`: `[CHANNELS, OUTPUT]`; `dx`: `[CHANNELS, INPUT]`.
#[inline(never)]
pub fn avg_pool_backward<S: PoolSpec>(dy: &[f32], dx: &mut [f32]) {
    let (i, o) = (S::INPUT, S::OUTPUT);
    for (g, gx) in dy
        .chunks_exact(o.volume())
        .zip(dx.chunks_exact_mut(i.volume()))
        .take(S::CHANNELS)
    {
        avg_cells::<S>(|at, [(d0, d1), (h0, h1), (w0, w1)], divisor| {
            if divisor == 0 {
                return;
            }
            let share = g[at] / divisor as f32;
            for xd in d0..d1 {
                for xh in h0..h1 {
                    for v in &mut gx[(xd * i.h + xh) * i.w..][w0..w1] {
                        *v += share;
                    }
                }
            }
        });
    }
}

/// The gradients of the adaptive pools: an average's spread over its window, a maximum's to
/// the first largest value of its window.
fn adaptive_backward<const MAX: bool>(
    channels: usize,
    i: Extent,
    o: Extent,
    input: &[f32],
    dy: &[f32],
    dx: &mut [f32],
) {
    let planes = dy
        .chunks_exact(o.volume())
        .zip(dx.chunks_exact_mut(i.volume()))
        .enumerate()
        .take(channels);
    for (c, (g, gx)) in planes {
        let x = if MAX {
            &input[c * i.volume()..][..i.volume()]
        } else {
            &[][..]
        };
        for od in 0..o.d {
            let (d0, d1) = adaptive_window(od, i.d, o.d);
            for oh in 0..o.h {
                let (h0, h1) = adaptive_window(oh, i.h, o.h);
                for ow in 0..o.w {
                    let (w0, w1) = adaptive_window(ow, i.w, o.w);
                    let gv = g[(od * o.h + oh) * o.w + ow];
                    let count = (d1 - d0) * (h1 - h0) * (w1 - w0);
                    let mut best: Option<usize> = None;
                    for xd in d0..d1 {
                        for xh in h0..h1 {
                            let row = (xd * i.h + xh) * i.w;
                            if MAX {
                                for at in row + w0..row + w1 {
                                    best = first_max(x, best, at);
                                }
                            } else {
                                for v in &mut gx[row + w0..row + w1] {
                                    *v += gv / count as f32;
                                }
                            }
                        }
                    }
                    if let Some(b) = best {
                        gx[b] += gv;
                    }
                }
            }
        }
    }
}

/// The gradient of [`adaptive_avg_pool`], added to `dx`.
///
/// # Shapes
/// `dy`: `[CHANNELS, OUTPUT]`; `dx`: `[CHANNELS, INPUT]`.
#[inline(never)]
pub fn adaptive_avg_pool_backward<S: PoolSpec>(dy: &[f32], dx: &mut [f32]) {
    adaptive_backward::<false>(S::CHANNELS, S::INPUT, S::OUTPUT, &[], dy, dx);
}

/// The gradient of [`adaptive_max_pool`], added to `dx`.
///
/// # Shapes
/// `input`, `dx`: `[CHANNELS, INPUT]`; `dy`: `[CHANNELS, OUTPUT]`.
#[inline(never)]
pub fn adaptive_max_pool_backward<S: PoolSpec>(input: &[f32], dy: &[f32], dx: &mut [f32]) {
    adaptive_backward::<true>(S::CHANNELS, S::INPUT, S::OUTPUT, input, dy, dx);
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! pool {
        ($name:ident: $c:expr, in $i:expr, out $o:expr, kernel $k:expr, stride $s:expr, pad $p:expr, dil $d:expr) => {
            struct $name;
            impl PoolSpec for $name {
                const CHANNELS: usize = $c;
                const INPUT: Extent = ext($i);
                const OUTPUT: Extent = ext($o);
                const KERNEL: Extent = ext($k);
                const STRIDE: Extent = ext($s);
                const PADDING: Extent = ext($p);
                const DILATION: Extent = ext($d);
                const COUNT_INCLUDE_PAD: bool = false;
                const DIVISOR_OVERRIDE: usize = 0;
            }
        };
    }

    const fn ext(v: [usize; 3]) -> Extent {
        Extent {
            d: v[0],
            h: v[1],
            w: v[2],
        }
    }

    // Output sizes by PyTorch's formula (ceil mode for `Ceil`): rows of several runs, strides,
    // padding, dilation, a depth axis.
    pool!(LongRows: 2, in [1, 5, 700], out [1, 3, 350], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1]);
    pool!(Overlap: 3, in [1, 9, 600], out [1, 9, 600], kernel [1, 3, 5], stride [1, 1, 1], pad [0, 1, 2], dil [1, 1, 1]);
    pool!(Dilated: 2, in [1, 11, 300], out [1, 7, 146], kernel [1, 3, 3], stride [1, 1, 2], pad [0, 1, 1], dil [1, 3, 4]);
    pool!(Ceil: 1, in [1, 7, 7], out [1, 4, 4], kernel [1, 2, 2], stride [1, 2, 2], pad [0, 0, 0], dil [1, 1, 1]);
    pool!(Deep: 2, in [4, 6, 9], out [2, 3, 5], kernel [2, 2, 3], stride [2, 2, 2], pad [0, 0, 1], dil [1, 1, 1]);

    /// The run-wise max pool equals the one-output-at-a-time one, NaNs included.
    fn same<S: PoolSpec>() {
        let n = S::CHANNELS * S::INPUT.volume();
        let mut seed = 7u32;
        let x: std::vec::Vec<f32> = (0..n)
            .map(|i| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                if i % 97 == 5 {
                    f32::NAN
                } else {
                    (seed >> 8) as f32 / (1 << 23) as f32 - 1.0
                }
            })
            .collect();
        let m = S::CHANNELS * S::OUTPUT.volume();
        let (mut got, mut want) = (std::vec![0.0; m], std::vec![0.0; m]);
        max_pool::<S>(&x, &mut got);
        max_pool_direct::<S>(&x, &mut want);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                "{}: output {i} is {g}, expected {w}",
                core::any::type_name::<S>()
            );
        }
    }

    #[test]
    fn max_pool_runs_equal_the_direct_loop() {
        same::<LongRows>();
        same::<Overlap>();
        same::<Dilated>();
        same::<Ceil>();
        same::<Deep>();
    }
}
