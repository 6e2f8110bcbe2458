use super::init_weights;
use super::math::{cos, exp, ln, powi};
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
            momentum: Some(0.1),
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

/// Shifts and crops against the padded image cut by hand, flips against reversed rows, the
/// crops' places drawn uniformly, the noise's spread, and every draw repeated by its seed.
#[test]
fn augmentations_do_what_torchvision_s_do() {
    use super::{Rng, gaussian_noise, hflip, random_crop, random_hflip, shift};

    let shape = [2, 3, 4];
    let src: alloc::vec::Vec<f32> = (0..24).map(|v| v as f32 + 1.0).collect();
    let mut dst = vec![0.0; 24];
    // Padding 2 around [2, 3, 4] makes [2, 7, 8]; the crop at (top, left) = (3, 1) is the
    // image shifted up by 1 and right by 1.
    let pad = 2;
    let padded = |c: usize, y: usize, x: usize| {
        let (sy, sx) = (y as isize - pad, x as isize - pad);
        if (0..3).contains(&sy) && (0..4).contains(&sx) {
            src[(c * 3 + sy as usize) * 4 + sx as usize]
        } else {
            0.0
        }
    };
    for (top, left) in [(0, 0), (3, 1), (4, 4), (2, 2)] {
        shift(&src, shape, pad - top, pad - left, &mut dst);
        for c in 0..2 {
            for y in 0..3 {
                for x in 0..4 {
                    let want = padded(c, y + top as usize, x + left as usize);
                    assert_eq!(dst[(c * 3 + y) * 4 + x], want, "crop at ({top}, {left})");
                }
            }
        }
    }
    // Every place of the 5 x 5 is drawn, and about equally often: in a 5 x 5 image numbered
    // 1 to 25, the value the centre receives tells the shift (at most 2 either way).
    let numbered: alloc::vec::Vec<f32> = (1..=25).map(|v| v as f32).collect();
    let mut out = vec![0.0; 25];
    let mut seen = [0usize; 25];
    let mut rng = Rng::new(3);
    for _ in 0..10_000 {
        random_crop(&numbered, [1, 5, 5], 2, &mut rng, &mut out);
        seen[out[12] as usize - 1] += 1;
    }
    assert!(seen.iter().all(|&n| (300..500).contains(&n)), "{seen:?}");
    hflip(&src, shape, &mut dst);
    assert_eq!(&dst[..4], &[4.0, 3.0, 2.0, 1.0]);
    let mut back = vec![0.0; 24];
    hflip(&dst, shape, &mut back);
    assert_eq!(back, src);
    let mut rng = Rng::new(5);
    let flips = (0..1000)
        .filter(|_| random_hflip(&src, shape, 0.3, &mut rng, &mut dst))
        .count();
    assert!(
        (250..350).contains(&flips),
        "{flips} flips of 1000 at p = 0.3"
    );
    let mut noise = vec![0.0f32; 100_000];
    gaussian_noise(&mut noise, 0.5, &mut Rng::new(9));
    let mean = noise.iter().map(|&v| f64::from(v)).sum::<f64>() / 1e5;
    let var = noise
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / 1e5;
    assert!(
        mean.abs() < 0.01 && (var.sqrt() - 0.5).abs() < 0.01,
        "{mean} {var}"
    );
    let mut again = vec![0.0f32; 100_000];
    gaussian_noise(&mut again, 0.5, &mut Rng::new(9));
    assert_eq!(noise, again);
}
