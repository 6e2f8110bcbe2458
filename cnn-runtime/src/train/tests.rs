use super::{cos, exp, init_weights, ln, powi};
use alloc::vec;

use crate::{Layer, TensorSpec};

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

/// PyTorch's default initialisation: the bounds its layers use, batch norms' constants, the
/// spread of a uniform distribution, and the same values for the same seed.
#[test]
fn initialisation_is_pytorch_s_default() {
    let layers = [
        Layer::Conv {
            name: "conv",
            in_channels: 8,
            out_channels: 64,
            kernel: &[3, 3],
            stride: &[1, 1],
            padding: &[0, 0],
            padding_end: &[0, 0],
            dilation: &[1, 1],
            groups: 2,
            bias: true,
        },
        Layer::BatchNorm {
            name: "bn",
            num_features: 64,
            eps: 1e-5,
            affine: true,
        },
        Layer::Linear {
            name: "fc",
            in_features: 100,
            out_features: 10,
            bias: true,
        },
    ];
    let spec = |name, shape: &'static [usize], offset| TensorSpec {
        name,
        shape,
        offset,
    };
    let specs = [
        spec("conv.weight", &[64, 4, 3, 3], 0),
        spec("conv.bias", &[64], 2304),
        spec("bn.weight", &[64], 2368),
        spec("bn.bias", &[64], 2432),
        spec("bn.running_mean", &[64], 2496),
        spec("bn.running_var", &[64], 2560),
        spec("fc.weight", &[10, 100], 2624),
        spec("fc.bias", &[10], 3624),
    ];
    let mut w = vec![f32::NAN; 3634];
    init_weights(&layers, &specs, &mut w, 7);
    let part = |i: usize| &w[specs[i].offset..specs[i].offset + specs[i].len()];
    // fan_in 36 for the grouped convolution, 100 for the linear layer.
    for (i, bound) in [(0, 1.0 / 6.0), (1, 1.0 / 6.0), (6, 0.1), (7, 0.1)] {
        let v = part(i);
        assert!(v.iter().all(|x| x.abs() <= bound), "{}", specs[i].name);
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / v.len() as f32;
        // A uniform distribution in ±b has variance b² / 3.
        if v.len() > 1000 {
            assert!(mean.abs() < 0.05 * bound, "{}: mean {mean}", specs[i].name);
            assert!(
                (var / (bound * bound / 3.0) - 1.0).abs() < 0.1,
                "{}",
                specs[i].name
            );
        }
    }
    assert!(part(2).iter().chain(part(5)).all(|&x| x == 1.0));
    assert!(part(3).iter().chain(part(4)).all(|&x| x == 0.0));
    let mut again = vec![0.0; 3634];
    init_weights(&layers, &specs, &mut again, 7);
    assert_eq!(w, again);
    init_weights(&layers, &specs, &mut again, 8);
    assert_ne!(w, again);
}
