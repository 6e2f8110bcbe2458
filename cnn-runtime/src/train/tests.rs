use super::{cos, exp, ln, powi};

/// The `std`-free functions against `std`'s, over their ranges.
#[test]
fn elementary_functions_match_std() {
    for i in -2000..=2000 {
        let x = f64::from(i) * 0.37;
        let want = x.exp();
        // Subnormal results are rounded twice (a few of their units, 1e-321 at most).
        let got = exp(x);
        assert!(
            got == want || (got - want).abs() <= 4.0 * f64::EPSILON * want + 1e-321,
            "exp({x}) is {got}, std's {want}"
        );
    }
    for x in [1e-300, 1e-5, 0.1, 0.5, 1.0, 1.5, 2.0, 3.7, 1e5, 1e300] {
        assert!(
            (ln(x) - x.ln()).abs() <= 4.0 * f64::EPSILON * x.ln().abs().max(1.0),
            "ln({x})"
        );
    }
    for i in 0..=400 {
        let x = f64::from(i) * 0.1;
        assert!((cos(x) - x.cos()).abs() <= 1e-14, "cos({x})");
    }
    assert_eq!(powi(0.9, 0), 1.0);
    // Ten roundings at most: far below what an f32 learning rate resolves.
    assert!((powi(0.999, 1000) - 0.999f64.powf(1000.0)).abs() < 1e-14);
    assert!(exp(f64::NAN).is_nan());
    assert_eq!(exp(-800.0), 0.0);
    assert_eq!(ln(0.0), f64::NEG_INFINITY);
}
