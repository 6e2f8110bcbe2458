//! Data augmentation for small images, seeded: shifts and random crops with zero padding
//! (torchvision's `RandomCrop(size, padding)`), horizontal flips, Gaussian noise. Images are one
//! sample, channels first (`[C, H, W]`, row-major), and nothing is allocated.

use super::Rng;

/// Writes `src` moved down by `dy` rows and right by `dx` columns into `dst`; what comes in from
/// outside the image is 0.
///
/// # Shapes
/// `src`, `dst`: `channels * height * width`.
pub fn shift(
    src: &[f32],
    [channels, height, width]: [usize; 3],
    dy: isize,
    dx: isize,
    dst: &mut [f32],
) {
    assert_eq!(src.len(), channels * height * width, "one image");
    assert_eq!(dst.len(), src.len(), "one image out");
    for c in 0..channels {
        for y in 0..height {
            let sy = y as isize - dy;
            for x in 0..width {
                let sx = x as isize - dx;
                let inside =
                    (0..height as isize).contains(&sy) && (0..width as isize).contains(&sx);
                dst[(c * height + y) * width + x] = if inside {
                    src[(c * height + sy as usize) * width + sx as usize]
                } else {
                    0.0
                };
            }
        }
    }
}

/// torchvision's `RandomCrop((height, width), padding)`: the image padded with `padding` zeros
/// on every side, then a window of its own size at a uniformly drawn place, which is `src`
/// shifted by up to `padding` in each direction.
///
/// # Shapes
/// `src`, `dst`: `channels * height * width`.
pub fn random_crop(src: &[f32], shape: [usize; 3], padding: usize, rng: &mut Rng, dst: &mut [f32]) {
    let span = 2 * padding as u64 + 1;
    let top = rng.below(span) as isize;
    let left = rng.below(span) as isize;
    shift(
        src,
        shape,
        padding as isize - top,
        padding as isize - left,
        dst,
    );
}

/// Mirrors each row of `src` into `dst` (left becomes right).
///
/// # Shapes
/// `src`, `dst`: `channels * height * width`.
pub fn hflip(src: &[f32], [channels, height, width]: [usize; 3], dst: &mut [f32]) {
    assert_eq!(src.len(), channels * height * width, "one image");
    assert_eq!(dst.len(), src.len(), "one image out");
    for (row, out) in src.chunks_exact(width).zip(dst.chunks_exact_mut(width)) {
        for (o, v) in out.iter_mut().zip(row.iter().rev()) {
            *o = *v;
        }
    }
}

/// torchvision's `RandomHorizontalFlip(p)`: `src` mirrored with probability `p`, else copied.
/// Returns whether it was mirrored.
pub fn random_hflip(
    src: &[f32],
    shape: [usize; 3],
    p: f64,
    rng: &mut Rng,
    dst: &mut [f32],
) -> bool {
    let flip = rng.uniform() < p;
    if flip {
        hflip(src, shape, dst);
    } else {
        dst.copy_from_slice(src);
    }
    flip
}

/// Adds Gaussian noise of standard deviation `std` to every value.
pub fn gaussian_noise(data: &mut [f32], std: f32, rng: &mut Rng) {
    for v in data {
        *v += (rng.normal() * f64::from(std)) as f32;
    }
}
