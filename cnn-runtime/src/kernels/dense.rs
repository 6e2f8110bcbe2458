use super::{Norm, finish};
use crate::Activation;

/// Applies `act` to every value in place.
#[inline]
pub fn activate(values: &mut [f32], act: Activation) {
    match act {
        Activation::Identity => {}
        Activation::Relu => values.iter_mut().for_each(|v| *v = relu(*v)),
        Activation::Relu6 => values.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0)),
        Activation::LeakyRelu(slope) => values.iter_mut().for_each(|v| *v = leaky(*v, slope)),
        Activation::Sigmoid => values.iter_mut().for_each(|v| *v = sigmoid(*v)),
        Activation::Tanh => values.iter_mut().for_each(|v| *v = tanh(*v)),
    }
}

/// ReLU by a comparison rather than `max`: a NaN stays NaN, as in PyTorch. Every value is
/// written (a select, not a conditional store), so that the loops over them vectorise.
#[inline(always)]
fn relu(v: f32) -> f32 {
    if v < 0.0 { 0.0 } else { v }
}

/// Leaky ReLU of slope `slope`, the same way.
#[inline(always)]
fn leaky(v: f32, slope: f32) -> f32 {
    if v < 0.0 { v * slope } else { v }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + libm_exp(-x))
}

fn tanh(x: f32) -> f32 {
    if x.abs() < 0.4 {
        // Taylor series: the closed form below cancels near 0.
        let x2 = x * x;
        return x
            * (1.0
                + x2 * (-1.0 / 3.0
                    + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0 + x2 * (62.0 / 2835.0)))));
    }
    // tanh(x) = 1 - 2 / (exp(2x) + 1): saturates cleanly for large |x|; NaN stays NaN.
    1.0 - 2.0 / (libm_exp(2.0 * x) + 1.0)
}

/// `exp` without `std`: range reduction `x = n ln2 + r`, then a degree-7 polynomial for `e^r`
/// on `|r| <= ln2 / 2`; relative error below 2e-7 across the `f32` range.
pub(crate) fn libm_exp(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x > 88.72284 {
        return f32::INFINITY;
    }
    if x < -103.97208 {
        return 0.0;
    }
    let n = (x * core::f32::consts::LOG2_E + if x < 0.0 { -0.5 } else { 0.5 }) as i32;
    let r = (x - n as f32 * 0.693_145_75) - n as f32 * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r / 5040.0))))));
    // 2^n as two factors so that n down to -149 (subnormal results) stays representable.
    let half = n / 2;
    p * pow2(half) * pow2(n - half)
}

fn pow2(n: i32) -> f32 {
    f32::from_bits(((n + 127).clamp(0, 255) as u32) << 23)
}

/// Fully connected layer: `y[o] = act(norm(bias[o] + sum_i w[o, i] * x[i]))`.
///
/// # Shapes
/// `x`: `[IN]`; `weight`: `[OUT, IN]` (PyTorch's layout); `bias`: `[OUT]`; `y`: `[OUT]`.
#[inline(never)]
pub fn linear<const IN: usize, const OUT: usize>(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    norm: Option<Norm<'_>>,
    act: Activation,
    y: &mut [f32],
) {
    linear_at::<IN, OUT>(super::level(), x, weight, bias, norm, act, y);
}

/// [`linear`] on the given instruction set (the tests compare them).
#[doc(hidden)]
pub fn linear_at<const IN: usize, const OUT: usize>(
    level: super::Level,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    norm: Option<Norm<'_>>,
    act: Activation,
    y: &mut [f32],
) {
    linear_many_at::<IN, OUT>(level, &[x], weight, bias, norm, act, &mut [y]);
}

/// [`linear`] on several inputs at once: `ys[b]` from `xs[b]`, the weights read from memory
/// once for all of them. Each output equals [`linear`]'s on its input alone, bit for bit.
///
/// # Shapes
/// Each of `xs`: `[IN]`; `weight`: `[OUT, IN]`; `bias`: `[OUT]`; each of `ys`: `[OUT]`;
/// as many `ys` as `xs`.
///
/// # Panics
/// If a slice is shorter than its shape says, or `xs` and `ys` differ in number.
#[inline(never)]
pub fn linear_many<const IN: usize, const OUT: usize>(
    xs: &[&[f32]],
    weight: &[f32],
    bias: Option<&[f32]>,
    norm: Option<Norm<'_>>,
    act: Activation,
    ys: &mut [&mut [f32]],
) {
    linear_many_at::<IN, OUT>(super::level(), xs, weight, bias, norm, act, ys);
}

/// [`linear_many`] on the given instruction set.
#[doc(hidden)]
pub fn linear_many_at<const IN: usize, const OUT: usize>(
    level: super::Level,
    xs: &[&[f32]],
    weight: &[f32],
    bias: Option<&[f32]>,
    norm: Option<Norm<'_>>,
    act: Activation,
    ys: &mut [&mut [f32]],
) {
    assert_eq!(xs.len(), ys.len(), "as many outputs as inputs");
    for y in ys.iter_mut() {
        *y = &mut core::mem::take(y)[..OUT];
    }
    let weight = &weight[..IN * OUT];
    if !super::simd::dots(level, xs, weight, IN, ys) {
        for (x, y) in xs.iter().zip(ys.iter_mut()) {
            let x = &x[..IN];
            for (row, out) in weight.chunks_exact(IN).zip(y.iter_mut()) {
                let mut lanes = [0.0f32; 8];
                let (rows, row_tail) = row.as_chunks::<8>();
                let (xs, x_tail) = x.as_chunks::<8>();
                for (w8, x8) in rows.iter().zip(xs) {
                    for l in 0..8 {
                        lanes[l] += w8[l] * x8[l];
                    }
                }
                let mut sum = lanes.iter().sum::<f32>();
                for (w, x) in row_tail.iter().zip(x_tail) {
                    sum += w * x;
                }
                *out = sum;
            }
        }
    }
    for y in ys.iter_mut() {
        if let Some(b) = bias {
            for (v, b) in y.iter_mut().zip(b) {
                *v += b;
            }
        }
        if let Some(n) = norm {
            for (o, v) in y.iter_mut().enumerate() {
                *v = (*v - n.mean[o]) * n.scale[o] + n.shift[o];
            }
        }
        activate(y, act);
    }
}

/// `dst = act(dst + src)`, elementwise (a residual connection and the activation after it),
/// in one pass over the two.
#[inline(never)]
pub fn add(dst: &mut [f32], src: &[f32], act: Activation) {
    #[cfg(target_arch = "x86_64")]
    if super::level() >= super::Level::Avx2 {
        // SAFETY: the processor has AVX2 and FMA (the level says so).
        unsafe { add_avx2(dst, src, act) };
        return;
    }
    add_then(dst, src, act);
}

/// [`add`] compiled for AVX2 (eight lanes; the portable build's vectors have four).
///
/// # Safety
/// The processor has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn add_avx2(dst: &mut [f32], src: &[f32], act: Activation) {
    add_then(dst, src, act);
}

/// [`add`] for the instruction set of its caller: the piecewise-linear activations in the same
/// loop, the others after it.
#[inline(always)]
fn add_then(dst: &mut [f32], src: &[f32], act: Activation) {
    let pairs = dst.iter_mut().zip(src);
    match act {
        Activation::Identity => pairs.for_each(|(d, s)| *d += s),
        Activation::Relu => pairs.for_each(|(d, s)| *d = relu(*d + s)),
        Activation::Relu6 => pairs.for_each(|(d, s)| *d = (*d + s).clamp(0.0, 6.0)),
        Activation::LeakyRelu(slope) => pairs.for_each(|(d, s)| *d = leaky(*d + s, slope)),
        Activation::Sigmoid | Activation::Tanh => {
            pairs.for_each(|(d, s)| *d += s);
            activate(dst, act);
        }
    }
}

/// Inference batch norm over `channels` planes of `plane` values, in place, then `act`.
#[inline(never)]
pub fn batch_norm(values: &mut [f32], plane: usize, norm: Norm<'_>, act: Activation) {
    for (c, chunk) in values.chunks_exact_mut(plane.max(1)).enumerate() {
        finish(chunk, c, Some(norm), act);
    }
}

/// Softmax along an axis of `len` values, for a tensor viewed as `[outer, len, inner]`, in place.
#[inline(never)]
pub fn softmax(values: &mut [f32], len: usize, inner: usize) {
    let block = len * inner;
    if block == 0 {
        return;
    }
    for chunk in values.chunks_exact_mut(block) {
        for j in 0..inner {
            let mut m = f32::NEG_INFINITY;
            for t in 0..len {
                m = m.max(chunk[t * inner + j]);
            }
            let mut sum = 0.0;
            for t in 0..len {
                let e = libm_exp(chunk[t * inner + j] - m);
                chunk[t * inner + j] = e;
                sum += e;
            }
            for t in 0..len {
                chunk[t * inner + j] /= sum;
            }
        }
    }
}

/// The gradients of [`linear`] (without its epilogue) given `dy`: adds `weight^T dy` to `dx`,
/// `dy x^T` to `dw` and `dy` to `db`, each when asked for.
///
/// # Shapes
/// `x`, `dx`: `[IN]`; `weight`, `dw`: `[OUT, IN]`; `dy`, `db`: `[OUT]`.
#[inline(never)]
pub fn linear_backward<const IN: usize, const OUT: usize>(
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    mut dx: Option<&mut [f32]>,
    mut dw: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
) {
    let (x, dy) = (&x[..IN], &dy[..OUT]);
    if let Some(db) = db {
        for (b, g) in db[..OUT].iter_mut().zip(dy) {
            *b += g;
        }
    }
    for (o, &g) in dy.iter().enumerate() {
        if let Some(dw) = dw.as_deref_mut() {
            for (w, xv) in dw[o * IN..][..IN].iter_mut().zip(x) {
                *w += g * xv;
            }
        }
        if let Some(dx) = dx.as_deref_mut() {
            for (d, w) in dx[..IN].iter_mut().zip(&weight[o * IN..][..IN]) {
                *d += g * w;
            }
        }
    }
}

/// The gradient of [`activate`] with input `x` and output `y`: `dx += dy * act'(x)`, the
/// slope PyTorch's at the kinks (ReLU's is 0 at 0).
#[inline(never)]
pub fn activate_backward(x: &[f32], y: &[f32], dy: &[f32], act: Activation, dx: &mut [f32]) {
    for (((d, &g), &x), &y) in dx.iter_mut().zip(dy).zip(x).zip(y) {
        let slope = match act {
            Activation::Identity => 1.0,
            Activation::Relu => f32::from(u8::from(x > 0.0)),
            Activation::Relu6 => f32::from(u8::from(x > 0.0 && x < 6.0)),
            Activation::LeakyRelu(s) => {
                if x > 0.0 {
                    1.0
                } else {
                    s
                }
            }
            Activation::Sigmoid => y * (1.0 - y),
            Activation::Tanh => 1.0 - y * y,
        };
        *d += g * slope;
    }
}

/// The gradient of [`softmax`] from its output `y`: along each line,
/// `dx += y * (dy - sum(dy * y))`.
#[inline(never)]
pub fn softmax_backward(y: &[f32], dy: &[f32], len: usize, inner: usize, dx: &mut [f32]) {
    let block = len * inner;
    if block == 0 {
        return;
    }
    for ((y, g), d) in y
        .chunks_exact(block)
        .zip(dy.chunks_exact(block))
        .zip(dx.chunks_exact_mut(block))
    {
        for j in 0..inner {
            let dot: f32 = (0..len).map(|t| g[t * inner + j] * y[t * inner + j]).sum();
            for t in 0..len {
                let at = t * inner + j;
                d[at] += y[at] * (g[at] - dot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::libm_exp;

    #[test]
    fn exp_is_accurate_over_the_range() {
        let mut x = -103.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let got = libm_exp(x) as f64;
            let tol = if want < 1.2e-38 { 1.5e-45 } else { want * 3e-7 };
            assert!((got - want).abs() <= tol, "exp({x}) = {got}, want {want}");
            x += 0.0137;
        }
        assert_eq!(libm_exp(0.0), 1.0);
        assert_eq!(libm_exp(200.0), f32::INFINITY);
        assert_eq!(libm_exp(-200.0), 0.0);
    }
}
