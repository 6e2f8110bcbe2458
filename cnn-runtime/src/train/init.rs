//! PyTorch's default initialisation.

use super::Rng;
use crate::__private::sqrt;
use crate::{Layer, TensorSpec};

/// Initialises the state_dict tensors `specs` of the network `layers` in `weights` as PyTorch's
/// layers initialise themselves, from a seeded generator: convolution and linear weights uniform
/// in `±1/sqrt(fan_in)` (`kaiming_uniform_(a=sqrt(5))`), biases likewise; batch norms' weights
/// 1, biases 0, running means 0 and running variances 1. The same seed gives the same weights;
/// they are not PyTorch's values, which come from its own generator.
///
/// # Panics
/// If a spec lies outside `weights`.
pub fn init_weights(layers: &[Layer], specs: &[TensorSpec], weights: &mut [f32], seed: u64) {
    let mut rng = Rng::new(seed);
    for spec in specs {
        let values = &mut weights[spec.offset..spec.offset + spec.len()];
        let (layer, what) = spec.name.rsplit_once('.').unwrap_or(("", spec.name));
        let owner = layers.iter().find(|l| match l {
            Layer::Conv { name, .. }
            | Layer::Linear { name, .. }
            | Layer::BatchNorm { name, .. } => *name == layer,
            _ => false,
        });
        let fan_in = match owner {
            Some(Layer::Conv {
                in_channels,
                groups,
                kernel,
                ..
            }) => in_channels / groups * kernel.iter().product::<usize>(),
            Some(Layer::Linear { in_features, .. }) => *in_features,
            _ => 0,
        };
        match (owner, what) {
            (Some(Layer::BatchNorm { .. }), "weight" | "running_var") => values.fill(1.0),
            (Some(Layer::BatchNorm { .. }), _) => values.fill(0.0),
            _ if fan_in > 0 => {
                let bound = 1.0 / sqrt(fan_in as f64);
                values
                    .iter_mut()
                    .for_each(|v| *v = ((2.0 * rng.uniform() - 1.0) * bound) as f32);
            }
            _ => values.fill(0.0),
        }
    }
}
