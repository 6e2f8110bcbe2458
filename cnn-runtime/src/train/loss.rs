//! Losses and their gradients.

use super::math::{exp, ln};

/// The mean cross-entropy of a batch of `logits` (`targets.len()` rows of `classes` scores)
/// against class indices `targets`, with `label_smoothing` as PyTorch's `CrossEntropyLoss`:
/// each target becomes `(1 - s)` on its class plus `s / classes` on every class. Writes the
/// loss's gradient with respect to the logits into `grad`.
///
/// # Shapes
/// `logits`, `grad`: `targets.len() * classes`.
///
/// # Panics
/// If the lengths disagree or a target is not below `classes`.
pub fn cross_entropy(
    logits: &[f32],
    targets: &[usize],
    classes: usize,
    label_smoothing: f32,
    grad: &mut [f32],
) -> f32 {
    assert_eq!(
        logits.len(),
        targets.len() * classes,
        "one row of logits per target"
    );
    assert_eq!(grad.len(), logits.len(), "one gradient per logit");
    let n = targets.len() as f64;
    let s = f64::from(label_smoothing);
    let mut loss = 0.0f64;
    for ((row, g), &t) in logits
        .chunks_exact(classes)
        .zip(grad.chunks_exact_mut(classes))
        .zip(targets)
    {
        assert!(t < classes, "target {t} of {classes} classes");
        let max = row
            .iter()
            .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
        let sum: f64 = row.iter().map(|&v| exp(f64::from(v) - max)).sum();
        let log_sum = max + ln(sum);
        // -log p_j = log_sum - z_j
        let nll = log_sum - f64::from(row[t]);
        let smooth = row.iter().map(|&v| log_sum - f64::from(v)).sum::<f64>() / classes as f64;
        loss += (1.0 - s) * nll + s * smooth;
        for (j, (gj, &v)) in g.iter_mut().zip(row).enumerate() {
            let p = exp(f64::from(v) - log_sum);
            let q = s / classes as f64 + if j == t { 1.0 - s } else { 0.0 };
            *gj = ((p - q) / n) as f32;
        }
    }
    (loss / n) as f32
}

/// The mean squared error of `output` against `target` (PyTorch's `MSELoss`, mean over every
/// value); writes the loss's gradient with respect to `output` into `grad`.
///
/// # Panics
/// If the three lengths differ.
pub fn mse(output: &[f32], target: &[f32], grad: &mut [f32]) -> f32 {
    assert_eq!(output.len(), target.len(), "one target per output");
    assert_eq!(grad.len(), output.len(), "one gradient per output");
    let n = output.len() as f64;
    let mut loss = 0.0f64;
    for ((g, &y), &t) in grad.iter_mut().zip(output).zip(target) {
        let d = f64::from(y) - f64::from(t);
        loss += d * d;
        *g = (2.0 * d / n) as f32;
    }
    (loss / n) as f32
}
