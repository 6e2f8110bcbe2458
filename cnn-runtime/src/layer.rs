//! A network's layers as the author declared them, in PyTorch's terms.
//!
//! The macro emits one [`Layer`] per layer of the network, blocks expanded (`Network::LAYERS`),
//! and where each reads its inputs (`Network::INPUTS`). The reference
//! implementation runs from these descriptions alone, computing shapes with its own formulas, so
//! that it checks the macro's shape inference instead of repeating it.

/// An elementwise activation, applied on its own or fused into the layer that produces its input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `x`
    Identity,
    /// `max(x, 0)`
    Relu,
    /// `min(max(x, 0), 6)`
    Relu6,
    /// `x` if `x >= 0`, else `slope * x`
    LeakyRelu(f32),
    /// `1 / (1 + exp(-x))`
    Sigmoid,
    /// `tanh(x)`
    Tanh,
}

/// One layer, with PyTorch's parameters. Spatial parameters (`kernel`, `stride`, ...) have one
/// entry per spatial axis, in PyTorch's order (`[D, H, W]`, `[H, W]` or `[L]`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Layer {
    /// `ConvNd`; `padding` is the padding before each axis, `padding_end` after it (they differ
    /// only for `padding = "same"` with an even window).
    Conv {
        name: &'static str,
        in_channels: usize,
        out_channels: usize,
        kernel: &'static [usize],
        stride: &'static [usize],
        padding: &'static [usize],
        padding_end: &'static [usize],
        dilation: &'static [usize],
        groups: usize,
        bias: bool,
    },
    /// `MaxPoolNd`.
    MaxPool {
        kernel: &'static [usize],
        stride: &'static [usize],
        padding: &'static [usize],
        dilation: &'static [usize],
        ceil_mode: bool,
    },
    /// `AvgPoolNd`.
    AvgPool {
        kernel: &'static [usize],
        stride: &'static [usize],
        padding: &'static [usize],
        ceil_mode: bool,
        count_include_pad: bool,
        divisor_override: Option<usize>,
    },
    /// `AdaptiveAvgPoolNd` with the given output size.
    AdaptiveAvgPool { output: &'static [usize] },
    /// `AdaptiveMaxPoolNd` with the given output size.
    AdaptiveMaxPool { output: &'static [usize] },
    /// `BatchNormNd`: at inference the running statistics normalise; in training the batch's,
    /// and the running ones move towards them by `momentum` (`None`: PyTorch's cumulative
    /// average). `eps`, optional affine weight and bias.
    BatchNorm {
        name: &'static str,
        num_features: usize,
        eps: f32,
        momentum: Option<f32>,
        affine: bool,
    },
    /// `Linear`, applied to the last axis.
    Linear {
        name: &'static str,
        in_features: usize,
        out_features: usize,
        bias: bool,
    },
    /// `Flatten(start_dim, end_dim)`, dims counted as PyTorch does, with the batch axis as 0.
    Flatten { start_dim: isize, end_dim: isize },
    /// An elementwise activation.
    Activation(Activation),
    /// `Softmax(dim)`, the dim counted with the batch axis as 0.
    Softmax { dim: isize },
    /// `Identity`.
    Identity,
    /// `Dropout(p)`: nothing at inference; in training each value is zeroed with probability
    /// `p` and the others scaled by `1 / (1 - p)`.
    Dropout { p: f32 },
    /// The sum of two tensors of one shape (a residual connection).
    Add,
    /// Tensors concatenated along channels (the first axis).
    Concat,
}
