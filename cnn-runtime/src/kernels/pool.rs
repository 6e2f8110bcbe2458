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
    let (i, o, k, s, p, d) = (
        S::INPUT,
        S::OUTPUT,
        S::KERNEL,
        S::STRIDE,
        S::PADDING,
        S::DILATION,
    );
    let taps = |start: isize, count: usize, dil: usize, len: usize| {
        (0..count)
            .map(move |t| start + (t * dil) as isize)
            .filter(move |&x| x >= 0 && x < len as isize)
            .map(|x| x as usize)
    };
    for (x, y) in input
        .chunks_exact(i.volume())
        .zip(output.chunks_exact_mut(o.volume()))
        .take(S::CHANNELS)
    {
        for od in 0..o.d {
            for oh in 0..o.h {
                for ow in 0..o.w {
                    let mut m = f32::NEG_INFINITY;
                    for xd in taps(window(od, s.d, p.d), k.d, d.d, i.d) {
                        for xh in taps(window(oh, s.h, p.h), k.h, d.h, i.h) {
                            for xw in taps(window(ow, s.w, p.w), k.w, d.w, i.w) {
                                let v = x[(xd * i.h + xh) * i.w + xw];
                                if v > m || v.is_nan() {
                                    m = v;
                                }
                            }
                        }
                    }
                    y[(od * o.h + oh) * o.w + ow] = m;
                }
            }
        }
    }
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

/// Average pooling with PyTorch's divisor rules (`count_include_pad`, `divisor_override`,
/// windows past the padded input under `ceil_mode`).
///
/// # Shapes
/// `input`: `[CHANNELS, INPUT]`; `output`: `[CHANNELS, OUTPUT]`.
#[inline(never)]
pub fn avg_pool<S: PoolSpec>(input: &[f32], output: &mut [f32]) {
    let (i, o, k, s, p) = (S::INPUT, S::OUTPUT, S::KERNEL, S::STRIDE, S::PADDING);
    for (x, y) in input
        .chunks_exact(i.volume())
        .zip(output.chunks_exact_mut(o.volume()))
        .take(S::CHANNELS)
    {
        for od in 0..o.d {
            let (d0, d1, dn) = avg_window(od, i.d, k.d, s.d, p.d);
            for oh in 0..o.h {
                let (h0, h1, hn) = avg_window(oh, i.h, k.h, s.h, p.h);
                for ow in 0..o.w {
                    let (w0, w1, wn) = avg_window(ow, i.w, k.w, s.w, p.w);
                    let mut sum = 0.0;
                    for xd in d0..d1 {
                        for xh in h0..h1 {
                            for v in &x[(xd * i.h + xh) * i.w..][w0..w1] {
                                sum += v;
                            }
                        }
                    }
                    let divisor = if S::DIVISOR_OVERRIDE != 0 {
                        S::DIVISOR_OVERRIDE
                    } else if S::COUNT_INCLUDE_PAD {
                        dn * hn * wn
                    } else {
                        (d1 - d0) * (h1 - h0) * (w1 - w0)
                    };
                    y[(od * o.h + oh) * o.w + ow] = if divisor == 0 {
                        0.0
                    } else {
                        sum / divisor as f32
                    };
                }
            }
        }
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
    for (x, y) in input
        .chunks_exact(i.volume())
        .zip(output.chunks_exact_mut(o.volume()))
        .take(channels)
    {
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
                                if !MAX {
                                    acc += v;
                                } else if v > acc || v.is_nan() {
                                    acc = v;
                                }
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
