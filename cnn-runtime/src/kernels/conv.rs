use super::{Epilogue, Extent, Norm, finish};
use crate::Activation;

/// The sizes of one convolution, written by the macro as associated constants.
pub trait ConvSpec {
    const IN_CHANNELS: usize;
    const OUT_CHANNELS: usize;
    const GROUPS: usize;
    const INPUT: Extent;
    const OUTPUT: Extent;
    const KERNEL: Extent;
    const STRIDE: Extent;
    /// Padding before each axis (the padding after it is implied by `OUTPUT`).
    const PADDING: Extent;
    const DILATION: Extent;
    const ACTIVATION: Activation;
    /// Floats of the weights as [`conv_pack`] lays them out: as many as the weights, or, for a
    /// layer the Winograd kernel takes, its 16 transformed values per pair of channels.
    const PACKED_LEN: usize = super::simd::packed_len(
        Self::IN_CHANNELS,
        Self::OUT_CHANNELS,
        Self::GROUPS,
        [Self::INPUT, Self::OUTPUT, Self::KERNEL],
        [Self::STRIDE, Self::PADDING, Self::DILATION],
    );
}

/// The output indices `o` in `0..out_len` whose tap `k` reads inside the input:
/// `0 <= o * stride + k * dilation - padding < in_len`. This is the interior of the tap; the
/// outputs outside it read padding (zeros) and get nothing from the tap.
#[inline(always)]
pub(super) const fn tap_range(
    out_len: usize,
    in_len: usize,
    stride: usize,
    padding: usize,
    offset: usize,
) -> (usize, usize) {
    let lo = if offset >= padding {
        0
    } else {
        (padding - offset).div_ceil(stride)
    };
    let hi = if in_len + padding <= offset {
        0
    } else {
        (in_len + padding - offset - 1) / stride + 1
    };
    let hi = if hi < out_len { hi } else { out_len };
    if lo < hi { (lo, hi) } else { (0, 0) }
}

/// Convolution, `y[co] = act(norm(bias[co] + sum over ci in co's group, taps k of
/// w[co, ci, k] * x[ci, o * stride + k * dilation - padding]))`, zero padding, on the fastest
/// instruction set this processor has (see [`level`](super::level)).
///
/// # Shapes
/// `input`: `[IN_CHANNELS, INPUT]`; `weight`: `[OUT_CHANNELS, IN_CHANNELS / GROUPS, KERNEL]`
/// (PyTorch's layout); `bias`: `[OUT_CHANNELS]`; `output`: `[OUT_CHANNELS, OUTPUT]`.
///
/// # Panics
/// If a slice is shorter than its shape says (the generated code passes exact slices).
/// `packed`, if given, holds the same weights as [`conv_pack`] laid them out.
#[inline(never)]
pub fn conv<S: ConvSpec>(
    input: &[f32],
    weight: &[f32],
    packed: Option<&[f32]>,
    bias: Option<&[f32]>,
    norm: Option<Norm<'_>>,
    output: &mut [f32],
) {
    conv_at::<S>(super::level(), input, weight, packed, bias, norm, output);
}

/// Lays the weights of a convolution out in the order the SIMD kernels of this processor read
/// them (`packed` holds [`ConvSpec::PACKED_LEN`] values): each register tile of output
/// channels takes the range its channels' weights take, ordered `[input channel][tap][output
/// channel]`; a layer the Winograd kernel takes gets its weights transformed instead.
pub fn conv_pack<S: ConvSpec>(weight: &[f32], packed: &mut [f32]) {
    let len = S::OUT_CHANNELS * (S::IN_CHANNELS / S::GROUPS) * S::KERNEL.volume();
    assert!(
        weight.len() >= len && packed.len() >= S::PACKED_LEN,
        "convolution weights shorter than their shape"
    );
    super::simd::pack::<S>(super::level(), weight, packed);
}

/// [`conv`] on the given instruction set (the tests compare them all); a level the processor
/// lacks falls back to the portable code. `packed` is used only at the processor's own level,
/// the one [`conv_pack`] packs for.
#[doc(hidden)]
pub fn conv_at<S: ConvSpec>(
    level: super::Level,
    input: &[f32],
    weight: &[f32],
    packed: Option<&[f32]>,
    bias: Option<&[f32]>,
    norm: Option<Norm<'_>>,
    output: &mut [f32],
) {
    conv_many_at::<S>(level, &[input], weight, packed, bias, norm, &mut [output]);
}

/// [`conv`] on several inputs at once: `ys[b]` from `xs[b]`. Layers whose output channels go
/// in vector lanes (small planes, strided windows) take every input with each block of
/// weights, which is then read from memory once for all of them; the others go input by
/// input. Each output equals [`conv`]'s on its input alone, bit for bit.
///
/// # Shapes
/// As [`conv`], for each of `xs` and `ys`; as many `ys` as `xs`.
///
/// # Panics
/// If a slice is shorter than its shape says, or `xs` and `ys` differ in number.
#[inline(never)]
pub fn conv_many<S: ConvSpec>(
    xs: &[&[f32]],
    weight: &[f32],
    packed: Option<&[f32]>,
    bias: Option<&[f32]>,
    norm: Option<Norm<'_>>,
    ys: &mut [&mut [f32]],
) {
    conv_many_at::<S>(super::level(), xs, weight, packed, bias, norm, ys);
}

/// [`conv_many`] on the given instruction set.
#[doc(hidden)]
pub fn conv_many_at<S: ConvSpec>(
    level: super::Level,
    xs: &[&[f32]],
    weight: &[f32],
    packed: Option<&[f32]>,
    bias: Option<&[f32]>,
    norm: Option<Norm<'_>>,
    ys: &mut [&mut [f32]],
) {
    let out_plane = S::OUTPUT.volume();
    let len = S::OUT_CHANNELS * (S::IN_CHANNELS / S::GROUPS) * S::KERNEL.volume();
    assert!(
        xs.len() == ys.len()
            && xs
                .iter()
                .all(|x| x.len() >= S::IN_CHANNELS * S::INPUT.volume())
            && weight.len() >= len
            && ys.iter().all(|y| y.len() >= S::OUT_CHANNELS * out_plane)
            && bias.is_none_or(|b| b.len() >= S::OUT_CHANNELS)
            && norm.is_none_or(|n| {
                n.mean.len().min(n.scale.len()).min(n.shift.len()) >= S::OUT_CHANNELS
            }),
        "convolution buffers shorter than their shapes"
    );
    for y in ys.iter_mut() {
        *y = &mut core::mem::take(y)[..S::OUT_CHANNELS * out_plane];
    }
    let epilogue = Epilogue {
        bias,
        norm,
        act: S::ACTIVATION,
    };
    let packed = packed.filter(|p| level == super::level() && p.len() >= S::PACKED_LEN);
    if super::simd::conv_fused::<S>(level, xs, weight, packed, &epilogue, ys) {
        return;
    }
    for (input, output) in xs.iter().zip(ys.iter_mut()) {
        for (co, out) in output.chunks_exact_mut(out_plane).enumerate() {
            out.fill(bias.map_or(0.0, |b| b[co]));
        }
        accumulate::<S>(input, weight, output);
        for (co, out) in output.chunks_exact_mut(out_plane).enumerate() {
            finish(out, co, norm, S::ACTIVATION);
        }
    }
}

/// A convolution's weights and what follows it: PyTorch's weights, those [`conv_pack`] laid
/// out (if packed), the bias and the batch norm.
pub type ConvWeights<'a> = (
    &'a [f32],
    Option<&'a [f32]>,
    Option<&'a [f32]>,
    Option<Norm<'a>>,
);

/// A convolution `E` without groups and the depthwise layer `D` that alone reads its output
/// (MobileNetV2's 1×1 expansions and depthwise layers, and its stem and first depthwise
/// layer): `output = D(E(input))`, each with its bias, batch norm and activation. The expanded tensor never exists whole: where the SIMD kernel takes the pair, it
/// runs both layers in one pass a vector of channels at a time, the expanded rows in a small
/// buffer; otherwise each expanded channel in turn is computed into `mid`, one plane, and the
/// depthwise layer's channel from it (a depthwise channel reads one expanded channel alone).
///
/// # Shapes
/// `input`: `[E::IN_CHANNELS, E::INPUT]`; `mid`: `[E::OUTPUT]`, one plane of `D`'s input;
/// `output`: `[D::OUT_CHANNELS, D::OUTPUT]`; the weights as for [`conv`].
///
/// # Panics
/// If a slice is shorter than its shape says, `E` has groups, `D` is not depthwise (a channel
/// multiplier of one), or `E`'s output is not `D`'s input.
#[inline(never)]
pub fn conv_expand_depthwise<E: ConvSpec, D: ConvSpec>(
    input: &[f32],
    mid: &mut [f32],
    output: &mut [f32],
    expand: ConvWeights<'_>,
    depthwise: ConvWeights<'_>,
) {
    conv_expand_depthwise_at::<E, D>(super::level(), input, mid, output, expand, depthwise);
}

/// Lays the weights of the pair of [`conv_expand_depthwise`] out as this processor's kernels
/// read them: for the kernel that runs both layers in one pass where it takes them, else each
/// layer's as [`conv_pack`] lays it out (`packed_e` and `packed_d` hold `E::PACKED_LEN` and
/// `D::PACKED_LEN` values).
pub fn conv_pack_expand_depthwise<E: ConvSpec, D: ConvSpec>(
    (we, packed_e): (&[f32], &mut [f32]),
    (wd, packed_d): (&[f32], &mut [f32]),
) {
    assert!(
        we.len() >= E::OUT_CHANNELS * E::IN_CHANNELS / E::GROUPS * E::KERNEL.volume()
            && wd.len() >= D::OUT_CHANNELS * D::IN_CHANNELS / D::GROUPS * D::KERNEL.volume()
            && packed_e.len() >= E::PACKED_LEN
            && packed_d.len() >= D::PACKED_LEN,
        "convolution weights shorter than their shape"
    );
    let level = super::level();
    if !super::simd::pack_expand_depthwise::<E, D>(level, (we, packed_e), (wd, packed_d)) {
        conv_pack::<E>(we, packed_e);
        conv_pack::<D>(wd, packed_d);
    }
}

/// [`conv_expand_depthwise`] on the given instruction set.
#[doc(hidden)]
pub fn conv_expand_depthwise_at<E: ConvSpec, D: ConvSpec>(
    level: super::Level,
    input: &[f32],
    mid: &mut [f32],
    output: &mut [f32],
    (we, packed_e, bias_e, norm_e): ConvWeights<'_>,
    (wd, packed_d, bias_d, norm_d): ConvWeights<'_>,
) {
    let plane = E::OUTPUT.volume();
    assert!(
        E::GROUPS == 1
            && E::OUT_CHANNELS == D::IN_CHANNELS
            && D::GROUPS == D::IN_CHANNELS
            && D::OUT_CHANNELS == D::IN_CHANNELS
            && E::OUTPUT == D::INPUT
            && input.len() >= E::IN_CHANNELS * E::INPUT.volume()
            && mid.len() >= plane
            && output.len() >= D::OUT_CHANNELS * D::OUTPUT.volume()
            && we.len() >= E::OUT_CHANNELS * E::IN_CHANNELS / E::GROUPS * E::KERNEL.volume()
            && wd.len() >= D::OUT_CHANNELS * D::IN_CHANNELS / D::GROUPS * D::KERNEL.volume()
            && bias_e.is_none_or(|b| b.len() >= E::OUT_CHANNELS)
            && bias_d.is_none_or(|b| b.len() >= D::OUT_CHANNELS)
            && norm_e.is_none_or(|n| {
                n.mean.len().min(n.scale.len()).min(n.shift.len()) >= E::OUT_CHANNELS
            })
            && norm_d.is_none_or(|n| {
                n.mean.len().min(n.scale.len()).min(n.shift.len()) >= D::OUT_CHANNELS
            }),
        "convolution buffers shorter than their shapes"
    );
    let output = &mut output[..D::OUT_CHANNELS * D::OUTPUT.volume()];
    let ep_e = Epilogue {
        bias: bias_e,
        norm: norm_e,
        act: E::ACTIVATION,
    };
    let ep_d = Epilogue {
        bias: bias_d,
        norm: norm_d,
        act: D::ACTIVATION,
    };
    // The pair's weights packed for it at this processor's level (`conv_pack_expand_depthwise`).
    if let (true, Some(pe), Some(pd)) = (level == super::level(), packed_e, packed_d)
        && super::simd::expand_depthwise_fused::<E, D>(
            level,
            input,
            (pe, &ep_e),
            (pd, &ep_d),
            output,
        )
    {
        return;
    }
    // Each expanded channel's weights (all input channels × taps), each depthwise channel's.
    let (per_e, per_d) = (E::IN_CHANNELS * E::KERNEL.volume(), D::KERNEL.volume());
    let out_plane = D::OUTPUT.volume();
    let mid = &mut mid[..plane];
    fn one<'a>(n: Option<Norm<'a>>, c: usize) -> Option<Norm<'a>> {
        n.map(|n| Norm {
            mean: &n.mean[c..c + 1],
            scale: &n.scale[c..c + 1],
            shift: &n.shift[c..c + 1],
        })
    }
    for (c, y) in output.chunks_exact_mut(out_plane).enumerate() {
        let (be, bd) = (bias_e.map(|b| &b[c..c + 1]), bias_d.map(|b| &b[c..c + 1]));
        let we = &we[c * per_e..(c + 1) * per_e];
        conv_at::<OneChannel<E>>(level, input, we, None, be, one(norm_e, c), mid);
        let wd = &wd[c * per_d..(c + 1) * per_d];
        conv_at::<OneChannel<D>>(level, mid, wd, None, bd, one(norm_d, c), y);
    }
}

/// One output channel of the layer `S`, reading all of `S`'s input channels where `S` has no
/// groups, or the one its group has where `S` is depthwise (one input channel a group).
struct OneChannel<S>(core::marker::PhantomData<S>);

impl<S: ConvSpec> ConvSpec for OneChannel<S> {
    const IN_CHANNELS: usize = S::IN_CHANNELS / S::GROUPS;
    const OUT_CHANNELS: usize = 1;
    const GROUPS: usize = 1;
    const INPUT: Extent = S::INPUT;
    const OUTPUT: Extent = S::OUTPUT;
    const KERNEL: Extent = S::KERNEL;
    const STRIDE: Extent = S::STRIDE;
    const PADDING: Extent = S::PADDING;
    const DILATION: Extent = S::DILATION;
    const ACTIVATION: Activation = S::ACTIVATION;
}

/// The portable accumulation: `output += conv(input, weight)`, weight-stationary over rows so
/// that the compiler vectorises the innermost loop.
fn accumulate<S: ConvSpec>(input: &[f32], weight: &[f32], output: &mut [f32]) {
    let (i, o, k, s, p, d) = (
        S::INPUT,
        S::OUTPUT,
        S::KERNEL,
        S::STRIDE,
        S::PADDING,
        S::DILATION,
    );
    let in_plane = i.volume();
    let out_plane = o.volume();
    let taps = k.volume();
    let in_per_group = S::IN_CHANNELS / S::GROUPS;
    let out_per_group = S::OUT_CHANNELS / S::GROUPS;
    for (co, out) in output
        .chunks_exact_mut(out_plane)
        .take(S::OUT_CHANNELS)
        .enumerate()
    {
        let group = co / out_per_group;
        for cl in 0..in_per_group {
            let x = &input[(group * in_per_group + cl) * in_plane..][..in_plane];
            let w = &weight[(co * in_per_group + cl) * taps..][..taps];
            for kd in 0..k.d {
                let (d_lo, d_hi) = tap_range(o.d, i.d, s.d, p.d, kd * d.d);
                for kh in 0..k.h {
                    let (h_lo, h_hi) = tap_range(o.h, i.h, s.h, p.h, kh * d.h);
                    for kw in 0..k.w {
                        let (w_lo, w_hi) = tap_range(o.w, i.w, s.w, p.w, kw * d.w);
                        if w_lo == w_hi {
                            continue;
                        }
                        let wv = w[(kd * k.h + kh) * k.w + kw];
                        let x_w0 = w_lo * s.w + kw * d.w - p.w;
                        for od in d_lo..d_hi {
                            let xd = od * s.d + kd * d.d - p.d;
                            for oh in h_lo..h_hi {
                                let xh = oh * s.h + kh * d.h - p.h;
                                let y_row = &mut out[(od * o.h + oh) * o.w..][w_lo..w_hi];
                                let x_row = &x[(xd * i.h + xh) * i.w..][x_w0..i.w];
                                if s.w == 1 {
                                    for (y, x) in y_row.iter_mut().zip(x_row) {
                                        *y += wv * x;
                                    }
                                } else {
                                    for (y, x) in y_row.iter_mut().zip(x_row.iter().step_by(s.w)) {
                                        *y += wv * x;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Output channels whose weight gradients [`weight_grad_blocked`] sums together, in one vector.
const CO_BLOCK: usize = 8;
/// The largest output plane [`weight_grad_blocked`] takes (its transposed gradients, 32 KiB,
/// live on the stack).
const BLOCKED_PLANE: usize = 1024;

/// A convolution's weight gradient with the output channels in vector lanes: the output
/// gradient of `CO_BLOCK` channels transposed to `[point][channel]`, each input value is
/// broadcast and multiplied with a point's channels, two points at a time into two accumulators,
/// so that the sums run in vectors and in parallel instead of one scalar chain per weight.
/// Over the same per-tap interior ranges as the forward pass. For planes of at most
/// `BLOCKED_PLANE` points.
fn weight_grad_blocked<S: ConvSpec>(input: &[f32], dy: &[f32], dw: &mut [f32]) {
    let (i, o, k, s, p, d) = (
        S::INPUT,
        S::OUTPUT,
        S::KERNEL,
        S::STRIDE,
        S::PADDING,
        S::DILATION,
    );
    let (in_plane, out_plane, taps) = (i.volume(), o.volume(), k.volume());
    let in_per_group = S::IN_CHANNELS / S::GROUPS;
    let out_per_group = S::OUT_CHANNELS / S::GROUPS;
    let mut gt = [[0.0f32; CO_BLOCK]; BLOCKED_PLANE];
    let gt = &mut gt[..out_plane];
    for group in 0..S::GROUPS {
        for c0 in (0..out_per_group).step_by(CO_BLOCK) {
            let width = CO_BLOCK.min(out_per_group - c0);
            let first = group * out_per_group + c0;
            for (pt, lanes) in gt.iter_mut().enumerate() {
                for (c, l) in lanes.iter_mut().enumerate() {
                    *l = if c < width {
                        dy[(first + c) * out_plane + pt]
                    } else {
                        0.0
                    };
                }
            }
            for cl in 0..in_per_group {
                let x = &input[(group * in_per_group + cl) * in_plane..][..in_plane];
                for kd in 0..k.d {
                    let (d_lo, d_hi) = tap_range(o.d, i.d, s.d, p.d, kd * d.d);
                    for kh in 0..k.h {
                        let (h_lo, h_hi) = tap_range(o.h, i.h, s.h, p.h, kh * d.h);
                        for kw in 0..k.w {
                            let (w_lo, w_hi) = tap_range(o.w, i.w, s.w, p.w, kw * d.w);
                            if w_lo == w_hi {
                                continue;
                            }
                            let x_w0 = w_lo * s.w + kw * d.w - p.w;
                            let (mut even, mut odd) = ([0.0f32; CO_BLOCK], [0.0f32; CO_BLOCK]);
                            for od in d_lo..d_hi {
                                let xd = od * s.d + kd * d.d - p.d;
                                for oh in h_lo..h_hi {
                                    let xh = oh * s.h + kh * d.h - p.h;
                                    let x_row = &x[(xd * i.h + xh) * i.w + x_w0..];
                                    let g_row = &gt[(od * o.h + oh) * o.w..][w_lo..w_hi];
                                    let mut pairs = g_row.chunks_exact(2);
                                    for (n, pair) in pairs.by_ref().enumerate() {
                                        let (x0, x1) =
                                            (x_row[2 * n * s.w], x_row[(2 * n + 1) * s.w]);
                                        for c in 0..CO_BLOCK {
                                            even[c] += pair[0][c] * x0;
                                            odd[c] += pair[1][c] * x1;
                                        }
                                    }
                                    if let [last] = pairs.remainder() {
                                        let xv = x_row[(g_row.len() - 1) * s.w];
                                        for c in 0..CO_BLOCK {
                                            even[c] += last[c] * xv;
                                        }
                                    }
                                }
                            }
                            let tap = (kd * k.h + kh) * k.w + kw;
                            for c in 0..width {
                                dw[((first + c) * in_per_group + cl) * taps + tap] +=
                                    even[c] + odd[c];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The gradients of a convolution (without its epilogue) given `dy`, its output's gradient:
/// adds `conv_transpose(dy, weight)` to `dx`, the correlation of `input` with `dy` to `dw`
/// and the sum of `dy` over each channel's positions to `db`. Each is skipped when not asked
/// for (a frozen layer's weights; a first layer's input). The loops are [`conv`]'s portable
/// ones, transposed: the same tap ranges, so padding and strides cost no branches.
///
/// # Shapes
/// As [`conv`]: `input` and `dx` `[IN_CHANNELS, INPUT]`, `weight` and `dw` PyTorch's
/// `[OUT_CHANNELS, IN_CHANNELS / GROUPS, KERNEL]`, `dy` `[OUT_CHANNELS, OUTPUT]`, `db`
/// `[OUT_CHANNELS]`.
///
/// # Panics
/// If a slice is shorter than its shape says.
#[inline(never)]
pub fn conv_backward<S: ConvSpec>(
    input: &[f32],
    weight: &[f32],
    dy: &[f32],
    mut dx: Option<&mut [f32]>,
    mut dw: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
) {
    let (i, o, k, s, p, d) = (
        S::INPUT,
        S::OUTPUT,
        S::KERNEL,
        S::STRIDE,
        S::PADDING,
        S::DILATION,
    );
    let (in_plane, out_plane, taps) = (i.volume(), o.volume(), k.volume());
    let in_per_group = S::IN_CHANNELS / S::GROUPS;
    let out_per_group = S::OUT_CHANNELS / S::GROUPS;
    let len = S::OUT_CHANNELS * in_per_group * taps;
    assert!(
        input.len() >= S::IN_CHANNELS * in_plane
            && weight.len() >= len
            && dy.len() >= S::OUT_CHANNELS * out_plane
            && dx
                .as_ref()
                .is_none_or(|g| g.len() >= S::IN_CHANNELS * in_plane)
            && dw.as_ref().is_none_or(|g| g.len() >= len)
            && db.as_ref().is_none_or(|g| g.len() >= S::OUT_CHANNELS),
        "convolution gradient buffers shorter than their shapes"
    );
    if let Some(db) = db {
        for (b, g) in db.iter_mut().zip(dy.chunks_exact(out_plane.max(1))) {
            // In f64: a bias before a batch norm in training has a gradient that vanishes, a
            // sum of values that cancel.
            *b += g.iter().map(|&v| f64::from(v)).sum::<f64>() as f32;
        }
    }
    if out_plane == 0 {
        return;
    }
    if out_plane <= BLOCKED_PLANE
        && let Some(dw) = dw.take()
    {
        weight_grad_blocked::<S>(input, dy, dw);
    }
    if dx.is_none() && dw.is_none() {
        return;
    }
    for (co, g) in dy.chunks_exact(out_plane).take(S::OUT_CHANNELS).enumerate() {
        let group = co / out_per_group;
        for cl in 0..in_per_group {
            let ci = group * in_per_group + cl;
            let at = (co * in_per_group + cl) * taps;
            for kd in 0..k.d {
                let (d_lo, d_hi) = tap_range(o.d, i.d, s.d, p.d, kd * d.d);
                for kh in 0..k.h {
                    let (h_lo, h_hi) = tap_range(o.h, i.h, s.h, p.h, kh * d.h);
                    for kw in 0..k.w {
                        let (w_lo, w_hi) = tap_range(o.w, i.w, s.w, p.w, kw * d.w);
                        if w_lo == w_hi {
                            continue;
                        }
                        let tap = (kd * k.h + kh) * k.w + kw;
                        let wv = weight[at + tap];
                        let x_w0 = w_lo * s.w + kw * d.w - p.w;
                        let mut wsum = 0.0;
                        for od in d_lo..d_hi {
                            let xd = od * s.d + kd * d.d - p.d;
                            for oh in h_lo..h_hi {
                                let xh = oh * s.h + kh * d.h - p.h;
                                let g_row = &g[(od * o.h + oh) * o.w..][w_lo..w_hi];
                                let row = (ci * i.d + xd) * i.h + xh;
                                if dw.is_some() {
                                    let x_row = &input[row * i.w..][x_w0..i.w];
                                    for (gv, xv) in g_row.iter().zip(x_row.iter().step_by(s.w)) {
                                        wsum += gv * xv;
                                    }
                                }
                                if let Some(dx) = dx.as_deref_mut() {
                                    let dx_row = &mut dx[row * i.w..][x_w0..i.w];
                                    if s.w == 1 {
                                        for (gv, xv) in g_row.iter().zip(dx_row.iter_mut()) {
                                            *xv += wv * gv;
                                        }
                                    } else {
                                        for (gv, xv) in
                                            g_row.iter().zip(dx_row.iter_mut().step_by(s.w))
                                        {
                                            *xv += wv * gv;
                                        }
                                    }
                                }
                            }
                        }
                        if let Some(dw) = dw.as_deref_mut() {
                            dw[at + tap] += wsum;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tap_range;
    use std::vec::Vec;

    #[test]
    fn tap_range_matches_brute_force() {
        for in_len in 1..9 {
            for stride in 1..4 {
                for padding in 0..4 {
                    for offset in 0..7 {
                        for out_len in 1..9 {
                            let valid: Vec<usize> = (0..out_len)
                                .filter(|&o| {
                                    let x = (o * stride + offset) as isize - padding as isize;
                                    x >= 0 && x < in_len as isize
                                })
                                .collect();
                            let (lo, hi) = tap_range(out_len, in_len, stride, padding, offset);
                            assert_eq!((lo..hi).collect::<Vec<_>>(), valid);
                        }
                    }
                }
            }
        }
    }
}
