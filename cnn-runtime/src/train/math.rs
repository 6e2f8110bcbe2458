//! Elementary functions without `std`, to `f64`'s precision.

/// `x^n` by repeated squaring (no `std`).
pub(crate) fn powi(x: f64, mut n: u64) -> f64 {
    let (mut base, mut out) = (x, 1.0);
    while n > 0 {
        if n & 1 == 1 {
            out *= base;
        }
        base *= base;
        n >>= 1;
    }
    out
}

/// `e^x` without `std`: `2^k * e^r` with `|r| <= ln 2 / 2` (Cody and Waite's reduction), `e^r`
/// by its Taylor series (the terms fall below `f64`'s precision by the 20th).
pub(crate) fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 709.782_712_893_384 {
        return f64::INFINITY;
    }
    if x < -745.0 {
        return 0.0;
    }
    // ln 2 in two parts (fdlibm's), the first with few enough bits that `k * LN2_HI` is exact.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    let k = (x / core::f64::consts::LN_2 + if x < 0.0 { -0.5 } else { 0.5 }) as i64;
    let r = (x - k as f64 * LN2_HI) - k as f64 * LN2_LO;
    let (mut term, mut sum) = (1.0f64, 1.0f64);
    for i in 1..20 {
        term *= r / f64::from(i);
        sum += term;
    }
    // 2^k, in two factors so that neither over- nor underflows on its own.
    let half = k / 2;
    sum * f64::from_bits(((1023 + half) as u64) << 52)
        * f64::from_bits(((1023 + k - half) as u64) << 52)
}

/// `ln x` for `x > 0` without `std`: `x = m * 2^e` with `m` in `[1, 2)`, then
/// `ln m = 2 atanh((m - 1) / (m + 1))` by its series.
pub(crate) fn ln(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return x;
    }
    let (mut m, mut e) = (x, 0i32);
    while m >= 2.0 {
        m /= 2.0;
        e += 1;
    }
    while m < 1.0 {
        m *= 2.0;
        e -= 1;
    }
    let z = (m - 1.0) / (m + 1.0);
    let (z2, mut term, mut sum) = (z * z, z, 0.0f64);
    for i in 0..40 {
        sum += term / f64::from(2 * i + 1);
        term *= z2;
    }
    2.0 * sum + f64::from(e) * core::f64::consts::LN_2
}

/// `cos x` for `x >= 0` by its Taylor series, after reducing `x` to `[0, pi / 2]`.
pub(crate) fn cos(x: f64) -> f64 {
    use core::f64::consts::PI;
    // cos is even and 2 pi periodic: into [0, pi]; then cos x = -cos(pi - x).
    let x = x % (2.0 * PI);
    let x = if x > PI { 2.0 * PI - x } else { x };
    let (x, sign) = if x > core::f64::consts::FRAC_PI_2 {
        (core::f64::consts::PI - x, -1.0)
    } else {
        (x, 1.0)
    };
    let (x2, mut term, mut sum) = (x * x, 1.0f64, 1.0f64);
    for i in 1..20 {
        term *= -x2 / f64::from((2 * i - 1) * (2 * i));
        sum += term;
    }
    sign * sum
}
