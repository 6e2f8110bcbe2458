//! Every SIMD level against the portable code on awkward shapes.

use std::vec::Vec;

use super::{Geometry, Level, conv_fused, hardware, level, pack};
use crate::Activation;
use crate::kernels::{ConvSpec, Epilogue, Extent, Norm, conv_at, conv_pack};

macro_rules! spec {
    ($name:ident: $ci:expr => $co:expr, groups $g:expr, in $i:expr, out $o:expr, kernel $k:expr, stride $s:expr, pad $p:expr, dil $d:expr) => {
        spec!($name: $ci => $co, groups $g, in $i, out $o, kernel $k, stride $s, pad $p, dil $d, act Activation::Identity);
    };
    ($name:ident: $ci:expr => $co:expr, groups $g:expr, in $i:expr, out $o:expr, kernel $k:expr, stride $s:expr, pad $p:expr, dil $d:expr, act $a:expr) => {
        struct $name;
        impl ConvSpec for $name {
            const IN_CHANNELS: usize = $ci;
            const OUT_CHANNELS: usize = $co;
            const GROUPS: usize = $g;
            const INPUT: Extent = ext($i);
            const OUTPUT: Extent = ext($o);
            const KERNEL: Extent = ext($k);
            const STRIDE: Extent = ext($s);
            const PADDING: Extent = ext($p);
            const DILATION: Extent = ext($d);
            const ACTIVATION: Activation = $a;
        }
    };
}

const fn ext(v: [usize; 3]) -> Extent {
    Extent {
        d: v[0],
        h: v[1],
        w: v[2],
    }
}

// Output sizes by PyTorch's formula, written out: (in + 2p - d(k - 1) - 1) / s + 1.
spec!(Pointwise: 13 => 17, groups 1, in [1, 5, 7], out [1, 5, 7], kernel [1, 1, 1], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1]);
spec!(PointwiseLong: 9 => 8, groups 1, in [1, 1, 1000], out [1, 1, 1000], kernel [1, 1, 1], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1]);
// More input channels than a panel holds at either level (partial sums between chunks), a
// plane of one whole tile and a partial one, and groups of flattened 1×1 layers.
spec!(PointwiseDeep: 401 => 21, groups 1, in [1, 7, 11], out [1, 7, 11], kernel [1, 1, 1], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1], act Activation::Relu);
spec!(PointwiseGrouped: 12 => 10, groups 2, in [1, 3, 17], out [1, 3, 17], kernel [1, 1, 1], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1]);
spec!(Three: 5 => 9, groups 1, in [1, 17, 33], out [1, 17, 33], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
spec!(Wide: 3 => 8, groups 1, in [1, 6, 56], out [1, 6, 56], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
spec!(Five: 1 => 6, groups 1, in [1, 28, 28], out [1, 28, 28], kernel [1, 5, 5], stride [1, 1, 1], pad [0, 2, 2], dil [1, 1, 1]);
spec!(NoPad: 6 => 16, groups 1, in [1, 14, 14], out [1, 10, 10], kernel [1, 5, 5], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1]);
// Valid convolutions (no padding) with rows shorter than a vector: 8- and 4-channel tiles with
// a short last vector; a 7-wide kernel; input channels in several chunks.
spec!(ValidShort: 3 => 13, groups 1, in [1, 11, 23], out [1, 9, 19], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1], act Activation::Relu);
spec!(ValidSeven: 2 => 8, groups 1, in [1, 12, 30], out [1, 6, 24], kernel [1, 7, 7], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1]);
spec!(ValidChunks: 40 => 9, groups 1, in [1, 9, 13], out [1, 5, 9], kernel [1, 5, 5], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1]);
spec!(StrideH: 4 => 5, groups 1, in [1, 11, 15], out [1, 6, 15], kernel [1, 3, 3], stride [1, 2, 1], pad [0, 1, 1], dil [1, 2, 1]);
spec!(Depthwise: 7 => 7, groups 7, in [1, 9, 16], out [1, 9, 16], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
spec!(Grouped: 6 => 12, groups 3, in [1, 4, 19], out [1, 4, 19], kernel [1, 3, 2], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
spec!(WideKernel: 2 => 3, groups 1, in [1, 3, 4], out [1, 3, 6], kernel [1, 3, 7], stride [1, 1, 1], pad [0, 1, 4], dil [1, 1, 1]);
spec!(OneColumn: 3 => 4, groups 1, in [1, 5, 1], out [1, 5, 1], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
spec!(ThreeD: 2 => 9, groups 1, in [4, 5, 18], out [3, 5, 18], kernel [2, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
spec!(Conv1d: 3 => 4, groups 1, in [1, 1, 37], out [1, 1, 38], kernel [1, 1, 4], stride [1, 1, 1], pad [0, 0, 2], dil [1, 1, 1]);
spec!(Stride2: 5 => 9, groups 1, in [1, 13, 35], out [1, 7, 18], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1]);
spec!(Stride2Stem: 3 => 8, groups 1, in [1, 23, 70], out [1, 12, 35], kernel [1, 7, 7], stride [1, 2, 2], pad [0, 3, 3], dil [1, 1, 1]);
spec!(Stride2Pointwise: 16 => 12, groups 1, in [1, 9, 9], out [1, 5, 5], kernel [1, 1, 1], stride [1, 2, 2], pad [0, 0, 0], dil [1, 1, 1]);
spec!(Stride2Depthwise: 6 => 6, groups 6, in [1, 8, 33], out [1, 4, 17], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1]);
spec!(ReluNorm: 19 => 21, groups 1, in [1, 9, 20], out [1, 9, 20], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu);
spec!(Relu6Pointwise: 24 => 13, groups 1, in [1, 7, 7], out [1, 7, 7], kernel [1, 1, 1], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1], act Activation::Relu6);
spec!(LeakyStride2: 3 => 10, groups 1, in [1, 15, 21], out [1, 8, 11], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1], act Activation::LeakyRelu(0.1));
spec!(SigmoidDepthwise: 5 => 5, groups 5, in [1, 6, 18], out [1, 6, 18], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Sigmoid);
spec!(DepthwiseWide: 4 => 4, groups 4, in [1, 5, 70], out [1, 5, 70], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu6);
spec!(DepthwiseWideStride2: 3 => 3, groups 3, in [1, 9, 131], out [1, 5, 66], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu6);
// Depthwise layers around the depthwise kernel's edges: bands of rows (several per plane),
// dilation along the height, wide padding, strides along one axis, 5×5 windows, odd widths, a
// row too long for its buffer and a window too large (both left to the general kernel).
spec!(DepthwiseBands: 5 => 5, groups 5, in [1, 70, 200], out [1, 70, 200], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu);
spec!(DepthwiseBandsStride2: 3 => 3, groups 3, in [1, 61, 150], out [1, 31, 75], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1]);
spec!(DepthwiseDilated: 3 => 3, groups 3, in [1, 13, 29], out [1, 13, 29], kernel [1, 5, 5], stride [1, 1, 1], pad [0, 4, 2], dil [1, 2, 1]);
spec!(DepthwiseFiveStride2: 4 => 4, groups 4, in [1, 11, 37], out [1, 6, 19], kernel [1, 5, 5], stride [1, 2, 2], pad [0, 2, 2], dil [1, 1, 1], act Activation::LeakyRelu(0.2));
spec!(DepthwiseStrideH: 7 => 7, groups 7, in [1, 9, 40], out [1, 5, 40], kernel [1, 3, 3], stride [1, 2, 1], pad [0, 1, 1], dil [1, 1, 1]);
spec!(DepthwiseNoPad: 4 => 4, groups 4, in [1, 10, 21], out [1, 4, 10], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 0, 0], dil [1, 1, 1]);
spec!(DepthwiseWidePad: 2 => 2, groups 2, in [1, 5, 6], out [1, 9, 10], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 3, 3], dil [1, 1, 1]);
spec!(DepthwiseMultiplier: 3 => 6, groups 3, in [1, 17, 23], out [1, 9, 12], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu);
// Channel multipliers taken three at a time (rows not a multiple of four, a partial vector).
spec!(DepthwiseTriple: 2 => 6, groups 2, in [1, 11, 37], out [1, 11, 37], kernel [1, 5, 5], stride [1, 1, 1], pad [0, 2, 2], dil [1, 1, 1], act Activation::Relu);
spec!(OneChannelNine: 1 => 9, groups 1, in [1, 7, 19], out [1, 4, 10], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1]);
spec!(OneChannelStem: 1 => 5, groups 1, in [1, 30, 41], out [1, 15, 21], kernel [1, 7, 7], stride [1, 2, 2], pad [0, 3, 3], dil [1, 1, 1]);
spec!(DepthwiseLongRow: 2 => 2, groups 2, in [1, 3, 5000], out [1, 3, 5000], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
spec!(DepthwiseNine: 2 => 2, groups 2, in [1, 12, 12], out [1, 12, 12], kernel [1, 9, 9], stride [1, 1, 1], pad [0, 4, 4], dil [1, 1, 1]);
// Big enough that the kernels split it into blocks of rows, and of columns once flattened.
// Depthwise layers on small planes (the flattened path): tiles of four channels and the one
// left over, a plane of one point, stride 2 from odd sizes, planes of one and two vectors.
spec!(DepthwiseTiny: 7 => 7, groups 7, in [1, 3, 3], out [1, 3, 3], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu6);
spec!(DepthwiseSixStride2: 9 => 9, groups 9, in [1, 6, 6], out [1, 3, 3], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu6);
spec!(DepthwiseOnePoint: 5 => 5, groups 5, in [1, 1, 1], out [1, 1, 1], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
spec!(DepthwiseOddStride2: 6 => 6, groups 6, in [1, 7, 9], out [1, 4, 5], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1], act Activation::LeakyRelu(0.1));
spec!(DepthwiseTwelve: 8 => 8, groups 8, in [1, 12, 12], out [1, 12, 12], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu6);
spec!(DepthwiseFiveSix: 4 => 4, groups 4, in [1, 6, 7], out [1, 6, 7], kernel [1, 5, 5], stride [1, 1, 1], pad [0, 2, 2], dil [1, 1, 1]);
// Depthwise layers with the channels in lanes (`x86::depthwise_interleaved`): channels in
// whole vectors and a partial one, planes of one point and of a partial block of points,
// stride 2 from odd sizes, stride along the height only, 5×5 windows (taps in two vectors at
// AVX2), bands of rows (several per plane: strided, and 16×16 at AVX-512), dilation along the
// height, padding wider than the window reaches.
spec!(InterleavedSix: 40 => 40, groups 40, in [1, 6, 6], out [1, 6, 6], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu6);
spec!(InterleavedThree: 20 => 20, groups 20, in [1, 3, 3], out [1, 3, 3], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
spec!(InterleavedOnePoint: 16 => 16, groups 16, in [1, 1, 1], out [1, 1, 1], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
spec!(InterleavedStride2: 35 => 35, groups 35, in [1, 13, 11], out [1, 7, 6], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1], act Activation::LeakyRelu(0.1));
spec!(InterleavedStrideH: 16 => 16, groups 16, in [1, 9, 10], out [1, 5, 10], kernel [1, 3, 3], stride [1, 2, 1], pad [0, 1, 1], dil [1, 1, 1]);
spec!(InterleavedFive: 17 => 17, groups 17, in [1, 6, 7], out [1, 6, 7], kernel [1, 5, 5], stride [1, 1, 1], pad [0, 2, 2], dil [1, 1, 1], act Activation::Relu);
spec!(InterleavedBands: 24 => 24, groups 24, in [1, 60, 18], out [1, 30, 9], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu);
spec!(InterleavedTwentyFour: 20 => 20, groups 20, in [1, 24, 24], out [1, 24, 24], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu);
spec!(InterleavedSixteen: 20 => 20, groups 20, in [1, 16, 16], out [1, 16, 16], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu6);
spec!(InterleavedDilated: 16 => 16, groups 16, in [1, 20, 9], out [1, 20, 9], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 2, 1], dil [1, 2, 1]);
spec!(InterleavedWidePad: 16 => 16, groups 16, in [1, 2, 3], out [1, 4, 5], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 2, 2], dil [1, 1, 1]);
spec!(BlockedRows: 160 => 9, groups 1, in [1, 40, 30], out [1, 40, 30], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu);
spec!(BlockedColumns: 300 => 5, groups 1, in [1, 30, 30], out [1, 30, 30], kernel [1, 1, 1], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1]);
// Small planes with many output channels: the channel tile (output channels in lanes; planes
// below 32 points at AVX2, 64 at AVX-512, 512 or more input values per output). Blocks of
// whole vectors and a partial one, padding on every side (and rows that read only padding),
// stride 2, dilation along the height, input channels in several chunks, groups.
spec!(ChannelsSeven: 60 => 40, groups 1, in [1, 7, 7], out [1, 7, 7], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu);
spec!(ChannelsFive: 60 => 40, groups 1, in [1, 5, 5], out [1, 5, 5], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu);
spec!(ChannelsStride2: 61 => 19, groups 1, in [1, 9, 11], out [1, 5, 6], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1], act Activation::LeakyRelu(0.1));
spec!(ChannelsPointwise: 520 => 53, groups 1, in [1, 3, 9], out [1, 3, 9], kernel [1, 1, 1], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1], act Activation::Relu6);
spec!(ChannelsDeep: 300 => 24, groups 1, in [1, 6, 5], out [1, 6, 5], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
spec!(ChannelsDilatedH: 57 => 16, groups 1, in [1, 11, 6], out [1, 5, 6], kernel [1, 3, 3], stride [1, 2, 1], pad [0, 1, 1], dil [1, 2, 1]);
spec!(ChannelsGrouped: 120 => 34, groups 2, in [1, 5, 6], out [1, 5, 6], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
spec!(ChannelsWidePad: 60 => 16, groups 1, in [1, 2, 3], out [1, 4, 5], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 2, 2], dil [1, 1, 1]);
// A 14×14 plane of 64 output channels or more (in pieces of the sums' buffer), every input
// channel in one pass.
spec!(ChannelsFourteen: 70 => 70, groups 1, in [1, 14, 14], out [1, 14, 14], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu);
// A 3×3 plane, one tile of 9 points at AVX-512, of 150 input values per output (the channel
// tile's bound is 128), output channels three vectors and a tail.
spec!(ChannelsNine: 150 => 50, groups 1, in [1, 3, 3], out [1, 3, 3], kernel [1, 1, 1], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1], act Activation::Relu6);
// Layers the Winograd kernel takes (3×3, stride 1, 16 input and output channels or more, at
// least 16 blocks of 2×2 outputs): one vector of blocks at AVX-512 and two at AVX2; odd sizes
// (blocks half outside the plane) with tiles of 8, 4 and 1 output channels; no padding,
// padding 2, padding along one axis; blocks that run across rows of blocks (two and 15 to a
// row), several passes.
spec!(WinogradEight: 16 => 16, groups 1, in [1, 8, 8], out [1, 8, 8], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu);
spec!(WinogradOdd: 17 => 21, groups 1, in [1, 9, 13], out [1, 9, 13], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::LeakyRelu(0.1));
spec!(WinogradValid: 20 => 16, groups 1, in [1, 12, 19], out [1, 10, 17], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1]);
spec!(WinogradWidePad: 16 => 24, groups 1, in [1, 7, 9], out [1, 9, 11], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 2, 2], dil [1, 1, 1], act Activation::Relu6);
spec!(WinogradRowPad: 18 => 17, groups 1, in [1, 10, 10], out [1, 8, 10], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 0, 1], dil [1, 1, 1]);
spec!(WinogradNarrow: 16 => 16, groups 1, in [1, 40, 3], out [1, 40, 3], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
// Chunks: 150 input channels (128 and 22 at a time) into 70 output channels (64 and 6);
// 100 into 80, one chunk of inputs serving two of outputs; 24 into 40 in passes of 32 blocks
// (output chunks of 32 and 8).
spec!(WinogradChunks: 150 => 70, groups 1, in [1, 9, 11], out [1, 9, 11], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu);
spec!(WinogradReuse: 100 => 80, groups 1, in [1, 10, 10], out [1, 10, 10], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
spec!(WinogradWideOut: 24 => 40, groups 1, in [1, 12, 12], out [1, 12, 12], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu6);
// The Winograd kernel with the output channels in lanes (fewer than 64 blocks, transformed
// weights over 1 MiB, output channels in groups of 16): a 14×14 plane (49 blocks, tiles of 7,
// the sums kept in the output planes; blocks of 48 and 16 channels at AVX-512), a 7×7 one (16
// blocks, the sums on the stack, blocks of 48 and 32), an odd valid plane, rows of 17 blocks
// (more than a vector), padding of 2.
spec!(WinogradChannels14: 130 => 160, groups 1, in [1, 14, 14], out [1, 14, 14], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu);
spec!(WinogradChannels7: 211 => 80, groups 1, in [1, 7, 7], out [1, 7, 7], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::LeakyRelu(0.1));
spec!(WinogradChannelsValid: 520 => 32, groups 1, in [1, 12, 11], out [1, 10, 9], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1]);
spec!(WinogradChannelsLong: 1040 => 16, groups 1, in [1, 2, 34], out [1, 2, 34], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu6);
spec!(WinogradChannelsPad2: 345 => 48, groups 1, in [1, 5, 6], out [1, 7, 8], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 2, 2], dil [1, 1, 1]);
spec!(WinogradDeep: 64 => 19, groups 1, in [1, 30, 30], out [1, 30, 30], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu);
// Strided layers over planes of any size in the channel tile: planes in several pieces (their
// sums do not fit the buffer at once), with input channels in several chunks, stride along the
// width only.
spec!(ChannelsStride2Pieces: 20 => 40, groups 1, in [1, 30, 41], out [1, 15, 21], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu);
spec!(ChannelsStride2Chunks: 150 => 20, groups 1, in [1, 41, 19], out [1, 21, 10], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1]);
spec!(ChannelsStrideW: 16 => 16, groups 1, in [1, 12, 30], out [1, 12, 15], kernel [1, 3, 3], stride [1, 1, 2], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu6);
// Strided 1×1 layers, gathered into the flattened layer's panels: tiles that cross output
// rows and a partial last one, strides 3 × 2, input channels in several panels, stride along
// the height only.
spec!(GatherWide: 40 => 20, groups 1, in [1, 15, 37], out [1, 8, 19], kernel [1, 1, 1], stride [1, 2, 2], pad [0, 0, 0], dil [1, 1, 1]);
spec!(GatherMixed: 10 => 9, groups 1, in [1, 7, 20], out [1, 3, 10], kernel [1, 1, 1], stride [1, 3, 2], pad [0, 0, 0], dil [1, 1, 1], act Activation::LeakyRelu(0.1));
spec!(GatherDeep: 300 => 17, groups 1, in [1, 20, 17], out [1, 10, 9], kernel [1, 1, 1], stride [1, 2, 2], pad [0, 0, 0], dil [1, 1, 1], act Activation::Relu);
spec!(GatherStrideH: 12 => 10, groups 1, in [1, 9, 13], out [1, 5, 13], kernel [1, 1, 1], stride [1, 2, 1], pad [0, 0, 0], dil [1, 1, 1]);
// First layers of few input values per output, in patch panels (`x86::patches`): ResNet's
// stem on an odd plane (147 rows), 10 input channels of a 5×5 window (250 rows, tiles of 8, 4
// and 1 output channels), rows of 10 points (a tile of several segments), dilation along the
// height with padding past the window's reach, stride along the height only, groups.
spec!(PatchesStem: 3 => 40, groups 1, in [1, 31, 37], out [1, 16, 19], kernel [1, 7, 7], stride [1, 2, 2], pad [0, 3, 3], dil [1, 1, 1], act Activation::Relu);
spec!(PatchesDeep: 10 => 37, groups 1, in [1, 12, 20], out [1, 12, 20], kernel [1, 5, 5], stride [1, 1, 1], pad [0, 2, 2], dil [1, 1, 1]);
spec!(PatchesRows: 6 => 32, groups 1, in [1, 14, 14], out [1, 10, 10], kernel [1, 5, 5], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1], act Activation::Relu);
spec!(PatchesDilated: 4 => 33, groups 1, in [1, 13, 21], out [1, 13, 21], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 3, 1], dil [1, 2, 1], act Activation::LeakyRelu(0.1));
spec!(PatchesStrideH: 3 => 36, groups 1, in [1, 17, 29], out [1, 9, 29], kernel [1, 3, 3], stride [1, 2, 1], pad [0, 1, 1], dil [1, 1, 1]);
spec!(PatchesGrouped: 6 => 64, groups 2, in [1, 11, 50], out [1, 6, 25], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu6);
spec!(Stride2Even: 2 => 3, groups 1, in [1, 6, 8], out [1, 3, 4], kernel [1, 2, 2], stride [1, 2, 2], pad [0, 0, 0], dil [1, 1, 1]);

fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) as f32 / (1 << 23) as f32 - 1.0
        })
        .collect()
}

/// Every level that runs here gives the portable result; returns the levels that ran.
fn compare<S: ConvSpec>() -> Vec<Level> {
    let x = values(S::IN_CHANNELS * S::INPUT.volume(), 1);
    let w = values(
        S::OUT_CHANNELS * (S::IN_CHANNELS / S::GROUPS) * S::KERNEL.volume(),
        2,
    );
    let b = values(S::OUT_CHANNELS, 3);
    let (mean, scale, shift) = (
        values(S::OUT_CHANNELS, 4),
        values(S::OUT_CHANNELS, 5),
        values(S::OUT_CHANNELS, 6),
    );
    let norm = Norm {
        mean: &mean,
        scale: &scale,
        shift: &shift,
    };
    let n = S::OUT_CHANNELS * S::OUTPUT.volume();
    // The two sum in different orders; rounding errors grow like the square root of the
    // number of terms (1e-5 up to 64 terms, 4.7e-5 at 1,440).
    let terms = (S::IN_CHANNELS / S::GROUPS * S::KERNEL.volume()) as f32;
    let tolerance = 1e-5 * (terms.sqrt() / 8.0).max(1.0);
    let mut ran = Vec::new();
    for (bias, norm) in [
        (Some(&b[..]), None),
        (None, Some(norm)),
        (Some(&b[..]), Some(norm)),
    ] {
        let mut want = std::vec![0.0; n];
        conv_at::<S>(Level::Portable, &x, &w, None, bias, norm, &mut want);
        let check = |got: &[f32], what: &str| {
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - e).abs() <= tolerance * e.abs().max(1.0),
                    "{}, {what}: value {i} is {g}, portable gives {e}",
                    core::any::type_name::<S>()
                );
            }
        };
        for l in [Level::Avx2, Level::Avx512] {
            // Poisoned, so that a value the kernel fails to write shows.
            let mut got = std::vec![f32::NAN; n];
            conv_at::<S>(l, &x, &w, None, bias, norm, &mut got);
            check(&got, &std::format!("{l:?}"));
            let mut scratch = std::vec![0.0; n];
            let ep = Epilogue {
                bias,
                norm,
                act: S::ACTIVATION,
            };
            if conv_fused::<S>(l, &[&x], &w, None, &ep, &mut [&mut scratch]) && !ran.contains(&l) {
                ran.push(l);
            }
            // Weights packed for this level (the Winograd kernel runs only on packed ones).
            let mut packed = std::vec![f32::NAN; S::PACKED_LEN];
            pack::<S>(l, &w, &mut packed);
            let mut got = std::vec![f32::NAN; n];
            if conv_fused::<S>(l, &[&x], &w, Some(&packed), &ep, &mut [&mut got]) {
                check(&got, &std::format!("{l:?}, packed"));
            }
        }
        // Weights packed at load time, for this processor's level.
        let mut packed = std::vec![f32::NAN; S::PACKED_LEN];
        conv_pack::<S>(&w, &mut packed);
        let mut got = std::vec![f32::NAN; n];
        conv_at::<S>(level(), &x, &w, Some(&packed), bias, norm, &mut got);
        check(&got, "packed");
        // Three inputs together give each one's output, bit for bit, at every level, with
        // weights packed or not.
        let xs = [x.clone(), values(x.len(), 11), values(x.len(), 12)];
        for (l, p) in [
            (Level::Portable, None),
            (Level::Avx2, None),
            (Level::Avx512, None),
            (level(), Some(&packed[..])),
        ] {
            let alone: Vec<Vec<u32>> = xs
                .iter()
                .map(|x| {
                    let mut y = std::vec![f32::NAN; n];
                    conv_at::<S>(l, x, &w, p, bias, norm, &mut y);
                    y.iter().map(|v| v.to_bits()).collect()
                })
                .collect();
            let mut outs = std::vec![std::vec![f32::NAN; n]; xs.len()];
            let inputs: Vec<&[f32]> = xs.iter().map(|x| &x[..]).collect();
            let mut ys: Vec<&mut [f32]> = outs.iter_mut().map(|y| &mut y[..]).collect();
            crate::kernels::conv_many_at::<S>(l, &inputs, &w, p, bias, norm, &mut ys);
            for (k, (got, want)) in outs.iter().zip(&alone).enumerate() {
                let got: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
                assert!(
                    &got == want,
                    "{}, {l:?}, packed {}: input {k} of three differs from alone",
                    core::any::type_name::<S>(),
                    p.is_some()
                );
            }
        }
    }
    ran
}

#[test]
fn simd_levels_equal_the_portable_code_on_awkward_sizes() {
    let runs = [
        compare::<Pointwise>(),
        compare::<PointwiseLong>(),
        compare::<PointwiseDeep>(),
        compare::<PointwiseGrouped>(),
        compare::<Three>(),
        compare::<Wide>(),
        compare::<Five>(),
        compare::<NoPad>(),
        compare::<ValidShort>(),
        compare::<ValidSeven>(),
        compare::<ValidChunks>(),
        compare::<StrideH>(),
        compare::<Depthwise>(),
        compare::<Grouped>(),
        compare::<WideKernel>(),
        compare::<OneColumn>(),
        compare::<ThreeD>(),
        compare::<Conv1d>(),
        compare::<Stride2>(),
        compare::<Stride2Stem>(),
        compare::<Stride2Pointwise>(),
        compare::<Stride2Depthwise>(),
        compare::<Stride2Even>(),
        compare::<ReluNorm>(),
        compare::<Relu6Pointwise>(),
        compare::<LeakyStride2>(),
        compare::<SigmoidDepthwise>(),
        compare::<DepthwiseWide>(),
        compare::<DepthwiseWideStride2>(),
        compare::<DepthwiseBands>(),
        compare::<DepthwiseBandsStride2>(),
        compare::<DepthwiseDilated>(),
        compare::<DepthwiseFiveStride2>(),
        compare::<DepthwiseStrideH>(),
        compare::<DepthwiseNoPad>(),
        compare::<DepthwiseWidePad>(),
        compare::<DepthwiseMultiplier>(),
        compare::<OneChannelStem>(),
        compare::<DepthwiseTriple>(),
        compare::<OneChannelNine>(),
        compare::<DepthwiseLongRow>(),
        compare::<DepthwiseNine>(),
        compare::<DepthwiseTiny>(),
        compare::<DepthwiseSixStride2>(),
        compare::<DepthwiseOnePoint>(),
        compare::<DepthwiseOddStride2>(),
        compare::<DepthwiseTwelve>(),
        compare::<DepthwiseFiveSix>(),
        compare::<InterleavedSix>(),
        compare::<InterleavedThree>(),
        compare::<InterleavedOnePoint>(),
        compare::<InterleavedStride2>(),
        compare::<InterleavedStrideH>(),
        compare::<InterleavedFive>(),
        compare::<InterleavedBands>(),
        compare::<InterleavedSixteen>(),
        compare::<InterleavedTwentyFour>(),
        compare::<InterleavedDilated>(),
        compare::<InterleavedWidePad>(),
        compare::<BlockedRows>(),
        compare::<BlockedColumns>(),
        compare::<ChannelsSeven>(),
        compare::<ChannelsFive>(),
        compare::<ChannelsStride2>(),
        compare::<ChannelsPointwise>(),
        compare::<ChannelsDeep>(),
        compare::<ChannelsDilatedH>(),
        compare::<ChannelsGrouped>(),
        compare::<ChannelsWidePad>(),
        compare::<ChannelsNine>(),
        compare::<ChannelsFourteen>(),
        compare::<ChannelsStride2Pieces>(),
        compare::<ChannelsStride2Chunks>(),
        compare::<ChannelsStrideW>(),
        compare::<GatherWide>(),
        compare::<GatherMixed>(),
        compare::<GatherDeep>(),
        compare::<GatherStrideH>(),
        compare::<WinogradEight>(),
        compare::<WinogradOdd>(),
        compare::<WinogradValid>(),
        compare::<WinogradWidePad>(),
        compare::<WinogradRowPad>(),
        compare::<WinogradNarrow>(),
        compare::<WinogradDeep>(),
        compare::<WinogradChunks>(),
        compare::<WinogradReuse>(),
        compare::<WinogradWideOut>(),
        compare::<WinogradChannels14>(),
        compare::<WinogradChannels7>(),
        compare::<WinogradChannelsValid>(),
        compare::<WinogradChannelsLong>(),
        compare::<WinogradChannelsPad2>(),
        compare::<PatchesStem>(),
        compare::<PatchesDeep>(),
        compare::<PatchesRows>(),
        compare::<PatchesDilated>(),
        compare::<PatchesStrideH>(),
        compare::<PatchesGrouped>(),
    ];
    // The SIMD paths this test claims to check did run, on a processor that has them (and only
    // the levels at or below the one the kernels run at).
    for (i, ran) in runs.iter().enumerate() {
        assert_eq!(ran, &simd_levels(), "spec {i}");
    }
}

// Pairs of a 1×1 expansion and the depthwise layer over it (`ExpandDepthwise`): MobileNetV2's
// stride-2 block with several bands of rows (a 40-point row takes 42 × 16 floats, so a band is
// 24 rows), a stride-1 one of two vectors of channels on an odd plane, a 5×5 window of padding 2
// on rows shorter than the expansion's tile, no padding, one input channel, a 3×3 plane, a row
// of 3 points (a tile of 4 whose last lane repeats).
spec!(PairExpandS2: 8 => 48, groups 1, in [1, 50, 40], out [1, 50, 40], kernel [1, 1, 1], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1], act Activation::Relu6);
spec!(PairDepthwiseS2: 48 => 48, groups 48, in [1, 50, 40], out [1, 25, 20], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu6);
spec!(PairExpandOdd: 17 => 32, groups 1, in [1, 13, 11], out [1, 13, 11], kernel [1, 1, 1], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1], act Activation::LeakyRelu(0.1));
spec!(PairDepthwiseOdd: 32 => 32, groups 32, in [1, 13, 11], out [1, 13, 11], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
spec!(PairExpandFive: 3 => 16, groups 1, in [1, 9, 5], out [1, 9, 5], kernel [1, 1, 1], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1], act Activation::Relu);
spec!(PairDepthwiseFive: 16 => 16, groups 16, in [1, 9, 5], out [1, 5, 3], kernel [1, 5, 5], stride [1, 2, 2], pad [0, 2, 2], dil [1, 1, 1], act Activation::Relu6);
spec!(PairExpandValid: 1 => 16, groups 1, in [1, 7, 8], out [1, 7, 8], kernel [1, 1, 1], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1]);
spec!(PairDepthwiseValid: 16 => 16, groups 16, in [1, 7, 8], out [1, 5, 6], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1], act Activation::Relu);
// A stem (3×3, stride 2) and a 5×5 first layer before the depthwise layer, read in place:
// odd planes, points along the padding on every side, tiles shorter than 8 inside.
spec!(PairStem: 3 => 16, groups 1, in [1, 13, 21], out [1, 7, 11], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu6);
spec!(PairStemDepthwise: 16 => 16, groups 16, in [1, 7, 11], out [1, 7, 11], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu6);
spec!(PairFirstFive: 2 => 32, groups 1, in [1, 9, 10], out [1, 9, 10], kernel [1, 5, 5], stride [1, 1, 1], pad [0, 2, 2], dil [1, 1, 1]);
spec!(PairFirstFiveDepthwise: 32 => 32, groups 32, in [1, 9, 10], out [1, 5, 5], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu);
spec!(PairExpandTiny: 80 => 480, groups 1, in [1, 3, 3], out [1, 3, 3], kernel [1, 1, 1], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1], act Activation::Relu6);
spec!(PairDepthwiseTiny: 480 => 480, groups 480, in [1, 3, 3], out [1, 3, 3], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu6);
spec!(PairExpandRow: 16 => 32, groups 1, in [1, 1, 3], out [1, 1, 3], kernel [1, 1, 1], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1], act Activation::Relu6);
spec!(PairDepthwiseRow: 32 => 32, groups 32, in [1, 1, 3], out [1, 1, 3], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1], act Activation::Relu6);

/// `D(E(x))` at every level, its weights packed or not, through a scratch of one plane, equals
/// the portable layers one after the other; returns the levels at which the kernel for the
/// pair ran.
fn compare_pair<E: ConvSpec, D: ConvSpec>() -> Vec<Level> {
    use crate::kernels::conv_expand_depthwise_at;
    let (ci, mid) = (E::IN_CHANNELS, E::OUT_CHANNELS);
    let x = values(ci * E::INPUT.volume(), 31);
    let (we, wd) = (
        values(mid * ci * E::KERNEL.volume(), 32),
        values(mid * D::KERNEL.volume(), 33),
    );
    let (be, bd) = (values(mid, 34), values(mid, 35));
    let stats: Vec<Vec<f32>> = (36..42).map(|seed| values(mid, seed)).collect();
    let ne = Norm {
        mean: &stats[0],
        scale: &stats[1],
        shift: &stats[2],
    };
    let nd = Norm {
        mean: &stats[3],
        scale: &stats[4],
        shift: &stats[5],
    };
    let mut mid_want = std::vec![0.0; mid * E::OUTPUT.volume()];
    let mut want = std::vec![0.0; mid * D::OUTPUT.volume()];
    conv_at::<E>(
        Level::Portable,
        &x,
        &we,
        None,
        Some(&be),
        Some(ne),
        &mut mid_want,
    );
    conv_at::<D>(
        Level::Portable,
        &mid_want,
        &wd,
        None,
        Some(&bd),
        Some(nd),
        &mut want,
    );
    let terms = (ci * E::KERNEL.volume()) as f32;
    let tolerance = 1e-5 * (terms.sqrt() / 8.0).max(1.0) * 4.0;
    let (mut pe, mut pd) = (
        std::vec![f32::NAN; E::PACKED_LEN],
        std::vec![f32::NAN; D::PACKED_LEN],
    );
    crate::kernels::conv_pack_expand_depthwise::<E, D>((&we, &mut pe), (&wd, &mut pd));
    let mut ran = Vec::new();
    for l in [Level::Portable, Level::Avx2, Level::Avx512] {
        for packed in [false, true] {
            let mut scratch = std::vec![f32::NAN; E::OUTPUT.volume()];
            let mut got = std::vec![f32::NAN; mid * D::OUTPUT.volume()];
            let (pe, pd) = if packed {
                (Some(&pe[..]), Some(&pd[..]))
            } else {
                (None, None)
            };
            conv_expand_depthwise_at::<E, D>(
                l,
                &x,
                &mut scratch,
                &mut got,
                (&we, pe, Some(&be), Some(ne)),
                (&wd, pd, Some(&bd), Some(nd)),
            );
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - e).abs() <= tolerance * e.abs().max(1.0),
                    "{}, {l:?}, packed {packed}: value {i} is {g}, the layers apart give {e}",
                    core::any::type_name::<E>()
                );
            }
            // The kernel for the pair leaves the scratch as it was (it keeps the expanded
            // rows to itself); the layers apart, a channel at a time, write it.
            if scratch.iter().all(|v| v.is_nan()) && !ran.contains(&l) {
                ran.push(l);
            }
        }
    }
    ran
}

#[test]
fn expansion_and_depthwise_pairs_equal_the_layers_apart() {
    let runs = [
        compare_pair::<PairExpandS2, PairDepthwiseS2>(),
        compare_pair::<PairExpandOdd, PairDepthwiseOdd>(),
        compare_pair::<PairExpandFive, PairDepthwiseFive>(),
        compare_pair::<PairExpandValid, PairDepthwiseValid>(),
        compare_pair::<PairExpandTiny, PairDepthwiseTiny>(),
        compare_pair::<PairExpandRow, PairDepthwiseRow>(),
        compare_pair::<PairStem, PairStemDepthwise>(),
        compare_pair::<PairFirstFive, PairFirstFiveDepthwise>(),
    ];
    // The kernel for the pair ran with weights packed for it, at this processor's level only
    // (the others fall back to the layers apart).
    for (i, ran) in runs.iter().enumerate() {
        let want: Vec<Level> = simd_levels()
            .into_iter()
            .filter(|&l| l == level())
            .collect();
        assert_eq!(ran, &want, "pair {i}");
    }
    // Its bands: the 40-point rows of 16 lanes fit 24 padded rows of the buffer, so a band of
    // the stride-2 pair is 11 output rows; a 3×3 plane is one band of its 3 rows.
    let band = |l: Option<super::ExpandDepthwise>| l.map(|l| l.band);
    assert_eq!(
        band(super::ExpandDepthwise::of::<PairExpandS2, PairDepthwiseS2>(
            16
        )),
        Some(11)
    );
    assert_eq!(
        band(super::ExpandDepthwise::of::<
            PairExpandTiny,
            PairDepthwiseTiny,
        >(16)),
        Some(3)
    );
    // Not a pair: a strided expansion, 24 expanded channels, a dilated depthwise layer.
    assert!(super::ExpandDepthwise::of::<Stride2Pointwise, PairDepthwiseS2>(16).is_none());
    assert!(super::ExpandDepthwise::of::<PairExpandOdd, DepthwiseDilated>(16).is_none());
}

/// The SIMD levels the kernels may use here: those at or below [`level`].
fn simd_levels() -> Vec<Level> {
    [Level::Avx2, Level::Avx512]
        .into_iter()
        .filter(|&l| cfg!(target_arch = "x86_64") && l <= level())
        .collect()
}

/// The level is the processor's best unless the `portable` feature or `CNN_KERNELS` caps it;
/// CI runs the tests with `CNN_KERNELS=portable` to test the portable code on this machine.
#[test]
fn the_level_is_the_best_the_processor_has_unless_capped() {
    let cap = std::env::var("CNN_KERNELS").unwrap_or_default();
    let best = if cfg!(feature = "portable") {
        Level::Portable
    } else {
        hardware()
    };
    let want = match cap.trim().to_ascii_lowercase().as_str() {
        "portable" => Level::Portable,
        "avx2" => best.min(Level::Avx2),
        _ => best,
    };
    assert_eq!(level(), want, "CNN_KERNELS={cap:?}");
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        assert_eq!(hardware(), Level::Avx512);
    }
}

/// `linear` at every level against the portable code, for lengths around the vector and tile
/// sizes (1, primes, one past two vectors) and row counts around the four-row tile.
fn compare_linear<const IN: usize, const OUT: usize>() -> Vec<Level> {
    use crate::kernels::linear_at;
    let (x, w, b) = (values(IN, 7), values(IN * OUT, 8), values(OUT, 9));
    let mut want = std::vec![0.0; OUT];
    linear_at::<IN, OUT>(
        Level::Portable,
        &x,
        &w,
        Some(&b),
        None,
        Activation::Relu,
        &mut want,
    );
    let tolerance = 1e-5 * ((IN as f32).sqrt() / 8.0).max(1.0);
    let mut ran = Vec::new();
    for l in [Level::Avx2, Level::Avx512] {
        let mut got = std::vec![f32::NAN; OUT];
        linear_at::<IN, OUT>(l, &x, &w, Some(&b), None, Activation::Relu, &mut got);
        for (o, (g, e)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - e).abs() <= tolerance * e.abs().max(1.0),
                "linear {IN}->{OUT}, {l:?}: output {o} is {g}, portable gives {e}"
            );
        }
        if super::dots(l, &[&x], &w, IN, &mut [&mut got]) {
            ran.push(l);
        }
        // Several inputs together give each one's outputs, bit for bit (1 to 5 inputs: the
        // tile's pairs and a single one).
        let xs: Vec<Vec<f32>> = (0..5).map(|b| values(IN, 20 + b)).collect();
        let alone: Vec<Vec<f32>> = xs
            .iter()
            .map(|x| {
                let mut y = std::vec![0.0; OUT];
                linear_at::<IN, OUT>(l, x, &w, Some(&b), None, Activation::Relu, &mut y);
                y
            })
            .collect();
        for n in 1..=5 {
            let inputs: Vec<&[f32]> = xs[..n].iter().map(|x| &x[..]).collect();
            let mut outs = std::vec![std::vec![f32::NAN; OUT]; n];
            let mut ys: Vec<&mut [f32]> = outs.iter_mut().map(|y| &mut y[..]).collect();
            crate::kernels::linear_many_at::<IN, OUT>(
                l,
                &inputs,
                &w,
                Some(&b),
                None,
                Activation::Relu,
                &mut ys,
            );
            for (k, (got, want)) in outs.iter().zip(&alone).enumerate() {
                let (got, want): (Vec<u32>, Vec<u32>) = (
                    got.iter().map(|v| v.to_bits()).collect(),
                    want.iter().map(|v| v.to_bits()).collect(),
                );
                assert_eq!(got, want, "linear {IN}->{OUT}, {l:?}: input {k} of {n}");
            }
        }
    }
    ran
}

#[test]
fn simd_linear_equals_the_portable_code() {
    let runs = [
        compare_linear::<1, 1>(),
        compare_linear::<7, 3>(),
        compare_linear::<16, 4>(),
        compare_linear::<33, 5>(),
        compare_linear::<100, 9>(),
        compare_linear::<1280, 10>(),
        compare_linear::<65, 6>(),
    ];
    for (i, ran) in runs.iter().enumerate() {
        assert_eq!(ran, &simd_levels(), "spec {i}");
    }
}

#[test]
fn fma_peak_computes_its_chains_exactly() {
    let (rounds, m, c) = (1000, 0.999, 0.5);
    // Each lane of chain `i` is the scalar recurrence from `i`, with the same rounding.
    let want: f32 = (0..super::FMA_CHAINS)
        .map(|i| {
            let mut a = i as f32;
            for _ in 0..rounds {
                a = a.mul_add(m, c);
            }
            a
        })
        .sum();
    for (l, lanes) in [(Level::Avx2, 8), (Level::Avx512, 16)] {
        match super::fma_peak(l, rounds, m, c) {
            Some((sum, flops)) => {
                assert!(l <= level());
                assert_eq!(flops, (2 * rounds * super::FMA_CHAINS * lanes) as u64);
                let expect = want * lanes as f32;
                assert!(
                    (sum - expect).abs() <= 1e-5 * expect,
                    "{l:?}: {sum}, expected {expect}"
                );
            }
            None => assert!(l > level()),
        }
    }
    assert_eq!(super::fma_peak(Level::Portable, rounds, m, c), None);
    assert_eq!(
        super::fma_peak(Level::Avx512, 0, m, c).map(|r| r.1),
        (Level::Avx512 <= level()).then_some(0)
    );
}

/// The depthwise kernel takes the layers it is meant for (one input channel per output
/// channel's group) (and its results are checked with
/// the others above), and leaves the ones it cannot take to the general kernel.
#[test]
#[cfg(target_arch = "x86_64")]
fn depthwise_kernel_takes_what_it_claims() {
    use super::{Geometry, x86};
    fn takes<S: ConvSpec>(l: Level) -> bool {
        let g = Geometry::of::<S>();
        let x = values(S::IN_CHANNELS * S::INPUT.volume(), 1);
        let w = values(S::OUT_CHANNELS * S::KERNEL.volume(), 2);
        let mut y = std::vec![0.0; S::OUT_CHANNELS * S::OUTPUT.volume()];
        let ep = Epilogue {
            bias: None,
            norm: None,
            act: Activation::Identity,
        };
        // SAFETY: the level runs here (checked by the caller); the buffers hold the shapes.
        unsafe {
            match l {
                Level::Avx512 => x86::depthwise_avx512(&g, &x, &w, &ep, &mut y),
                _ => x86::depthwise_avx2(&g, &x, &w, &ep, &mut y),
            }
        }
    }
    for l in [Level::Avx2, Level::Avx512]
        .into_iter()
        .filter(|&l| l <= level())
    {
        assert!(takes::<Depthwise>(l));
        assert!(takes::<Stride2Depthwise>(l));
        assert!(takes::<DepthwiseBands>(l));
        assert!(takes::<DepthwiseBandsStride2>(l));
        assert!(takes::<DepthwiseDilated>(l));
        assert!(takes::<DepthwiseFiveStride2>(l));
        assert!(takes::<DepthwiseStrideH>(l));
        assert!(takes::<DepthwiseNoPad>(l));
        assert!(takes::<DepthwiseWidePad>(l));
        assert!(takes::<DepthwiseMultiplier>(l));
        assert!(takes::<OneChannelStem>(l));
        assert!(takes::<DepthwiseTriple>(l) && takes::<OneChannelNine>(l));
        assert!(takes::<Five>(l));
        assert!(!takes::<NoPad>(l));
        assert!(!takes::<Stride2Stem>(l));
        assert!(!takes::<DepthwiseLongRow>(l));
        assert!(!takes::<DepthwiseNine>(l));
        assert!(!takes::<Grouped>(l));
    }
}

/// The channel tile takes the small planes with a vector of output channels or more, at both
/// levels (so the comparisons above check it), and leaves the others to the row tiles.
#[test]
fn channel_tile_takes_what_it_claims() {
    use super::Geometry;
    fn takes<S: ConvSpec>(lanes: usize) -> bool {
        Geometry::of::<S>().by_channels(lanes)
    }
    for lanes in [8, 16] {
        assert!(takes::<ChannelsFive>(lanes));
        assert!(takes::<ChannelsStride2>(lanes));
        assert!(takes::<ChannelsPointwise>(lanes));
        assert!(takes::<ChannelsDeep>(lanes));
        assert!(takes::<ChannelsDilatedH>(lanes));
        assert!(takes::<ChannelsGrouped>(lanes));
        assert!(takes::<ChannelsWidePad>(lanes));
        assert!(takes::<ChannelsNine>(lanes));
        assert!(takes::<ChannelsFourteen>(lanes));
        // LeNet-5's second layer: rows of 10 leave 6 of 16 lanes idle (of 16 at AVX2), 16
        // output channels none.
        assert!(takes::<NoPad>(lanes));
        assert!(!takes::<Three>(lanes));
        assert!(!takes::<ThreeD>(lanes));
        assert!(!takes::<Depthwise>(lanes));
        assert!(!takes::<BlockedRows>(lanes));
        // Strided windows whatever the plane, not strided 1×1 layers (gathered) nor windows
        // of too few input values.
        assert!(takes::<ChannelsStride2Pieces>(lanes));
        assert!(takes::<ChannelsStride2Chunks>(lanes));
        assert!(takes::<ChannelsStrideW>(lanes));
        assert!(!takes::<GatherWide>(lanes));
        assert!(!takes::<GatherDeep>(lanes));
        assert!(!takes::<Stride2>(lanes));
    }
    assert!(takes::<ChannelsSeven>(16) && !takes::<ChannelsSeven>(8));
    // A 14×14 plane of fewer than 64 output channels, a 15×15 one of more.
    spec!(Fourteen63: 70 => 63, groups 1, in [1, 14, 14], out [1, 14, 14], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(Fifteen: 70 => 70, groups 1, in [1, 15, 15], out [1, 15, 15], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    assert!(!takes::<Fourteen63>(16) && !takes::<Fifteen>(16) && !takes::<Fifteen>(8));
}

/// Strided 1×1 layers without padding, one plane deep, and only they, are gathered into the
/// flattened layer's panels.
#[test]
fn gather_takes_strided_pointwise_layers() {
    use super::Geometry;
    fn takes<S: ConvSpec>() -> bool {
        Geometry::of::<S>().gather
    }
    assert!(takes::<GatherWide>());
    assert!(takes::<GatherMixed>());
    assert!(takes::<GatherDeep>());
    assert!(takes::<GatherStrideH>());
    assert!(takes::<Stride2Pointwise>());
    assert!(!takes::<Pointwise>());
    assert!(!takes::<Stride2>());
    assert!(!takes::<Stride2Even>());
}

/// The flattened depthwise path takes the small planes it is meant for at each vector width
/// (its results are checked with the others above), and leaves to rows of vectors the planes
/// whose rows fill the vectors nearly as well, and the layers it cannot take.
#[test]
#[cfg(target_arch = "x86_64")]
fn flat_depthwise_takes_small_planes() {
    use super::{Geometry, x86::Flat};
    fn takes<S: ConvSpec>(lanes: usize) -> bool {
        Flat::of(&Geometry::of::<S>(), lanes).is_some()
    }
    for lanes in [8, 16] {
        assert!(takes::<DepthwiseTiny>(lanes));
        assert!(takes::<DepthwiseSixStride2>(lanes));
        assert!(!takes::<DepthwiseTwelve>(lanes));
        assert!(!takes::<DepthwiseOnePoint>(lanes));
        assert!(!takes::<Depthwise>(lanes));
        assert!(!takes::<DepthwiseMultiplier>(lanes));
        assert!(!takes::<DepthwiseDilated>(lanes));
        assert!(!takes::<DepthwiseBands>(lanes));
        assert!(!takes::<DepthwiseNine>(lanes));
        assert!(!takes::<Five>(lanes));
    }
    assert!(takes::<DepthwiseOddStride2>(16) && !takes::<DepthwiseOddStride2>(8));
    assert!(takes::<DepthwiseFiveSix>(16) && !takes::<DepthwiseFiveSix>(8));
}

/// The depthwise kernel with the channels in lanes takes the layers of a vector of channels or
/// more on small planes, and the strided ones whose rows fill their vectors badly, at each
/// vector width (its results are checked with the others above); it leaves the others to rows
/// of vectors.
#[test]
#[cfg(target_arch = "x86_64")]
fn interleaved_depthwise_takes_small_planes() {
    use super::{Geometry, x86::Interleaved};
    fn takes<S: ConvSpec>(lanes: usize) -> bool {
        Interleaved::of(&Geometry::of::<S>(), lanes).is_some()
    }
    // A stride-1 plane of more than 256 points whose rows leave less than a quarter of the
    // lanes idle (28 of 32); one of more than 576 whose rows leave a quarter (36 of 48); a
    // strided one whose output rows are 16 wide.
    spec!(LargePlane: 16 => 16, groups 16, in [1, 28, 28], out [1, 28, 28], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(Plane36: 16 => 16, groups 16, in [1, 36, 36], out [1, 36, 36], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(FullRows: 16 => 16, groups 16, in [1, 40, 32], out [1, 20, 16], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1]);
    // Rows too long for the buffer to hold a window's three.
    spec!(LongRows: 16 => 16, groups 16, in [1, 9, 200], out [1, 5, 100], kernel [1, 3, 3], stride [1, 2, 2], pad [0, 1, 1], dil [1, 1, 1]);
    for lanes in [8, 16] {
        assert!(takes::<InterleavedSix>(lanes) && takes::<InterleavedThree>(lanes));
        assert!(takes::<InterleavedOnePoint>(lanes) && takes::<InterleavedStride2>(lanes));
        assert!(takes::<InterleavedStrideH>(lanes) && takes::<InterleavedFive>(lanes));
        assert!(takes::<InterleavedBands>(lanes) && takes::<InterleavedSixteen>(lanes));
        assert!(takes::<InterleavedDilated>(lanes) && takes::<InterleavedWidePad>(lanes));
        assert!(!takes::<LargePlane>(lanes) && !takes::<FullRows>(lanes));
        assert!(!takes::<Plane36>(lanes));
        assert!(!takes::<LongRows>(lanes));
        // Fewer channels than lanes, a channel multiplier, a 9×9 window.
        assert!(!takes::<DepthwiseTiny>(lanes) && !takes::<DepthwiseMultiplier>(lanes));
        assert!(!takes::<DepthwiseNine>(lanes));
    }
    // 24×24: rows of 24 leave 8 of 32 lanes idle at 16 lanes, none at 8.
    assert!(takes::<InterleavedTwentyFour>(16) && !takes::<InterleavedTwentyFour>(8));
}

/// The Winograd kernel takes the 3×3 layers of stride 1 that fill a vector of blocks, with 16
/// input and 16 output channels or more, rows of at most 1024, and 64 blocks or transformed
/// weights of at most 1 MiB, and no others; its packed weights are 16 per pair of channels.
#[test]
fn winograd_takes_what_it_claims() {
    fn takes<S: ConvSpec>() -> bool {
        Geometry::of::<S>().winograd
    }
    assert!(takes::<WinogradEight>() && takes::<WinogradOdd>() && takes::<WinogradValid>());
    assert!(takes::<WinogradWidePad>() && takes::<WinogradRowPad>());
    assert!(takes::<WinogradNarrow>() && takes::<WinogradDeep>());
    assert_eq!(WinogradOdd::PACKED_LEN, 16 * 17 * 21);
    // Too few input channels, too few output channels, a 5×5 window, stride 2, groups,
    // dilation, a plane of fewer than 16 blocks (7×7 is 16: 6×6 is 9), rows too long.
    spec!(FewIn: 15 => 16, groups 1, in [1, 8, 8], out [1, 8, 8], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(FewOut: 16 => 15, groups 1, in [1, 8, 8], out [1, 8, 8], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(SixBySix: 16 => 16, groups 1, in [1, 6, 6], out [1, 6, 6], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(SevenBySeven: 16 => 16, groups 1, in [1, 7, 7], out [1, 7, 7], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(DilatedThree: 16 => 16, groups 1, in [1, 9, 9], out [1, 9, 9], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 2, 2], dil [1, 2, 2]);
    spec!(GroupedThree: 32 => 32, groups 2, in [1, 8, 8], out [1, 8, 8], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    assert!(!takes::<FewIn>() && !takes::<FewOut>());
    assert!(!takes::<SixBySix>() && takes::<SevenBySeven>());
    spec!(LongRows: 16 => 16, groups 1, in [1, 8, 1025], out [1, 8, 1025], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    assert!(!takes::<DilatedThree>() && !takes::<GroupedThree>() && !takes::<LongRows>());
    assert!(!takes::<Five>() && !takes::<Stride2>() && !takes::<ThreeD>());
    assert_eq!(FewIn::PACKED_LEN, 15 * 16 * 9);
    assert!(takes::<WinogradChunks>() && takes::<WinogradReuse>() && takes::<WinogradWideOut>());
    // Below 64 blocks, the kernel with the output channels in lanes, or transformed weights of
    // at most 1 MiB (128 × 128 channels).
    spec!(Wide14: 256 => 256, groups 1, in [1, 14, 14], out [1, 14, 14], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(Wide16: 256 => 256, groups 1, in [1, 16, 16], out [1, 16, 16], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(Mid14: 128 => 128, groups 1, in [1, 14, 14], out [1, 14, 14], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(Vgg14: 512 => 512, groups 1, in [1, 14, 14], out [1, 14, 14], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(Odd14: 256 => 248, groups 1, in [1, 14, 14], out [1, 14, 14], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    assert!(takes::<Wide14>() && takes::<Wide16>() && takes::<Mid14>());
    assert!(!takes::<Vgg14>() && !takes::<Odd14>());
}

/// The Winograd kernel with the output channels in lanes takes the Winograd layers of fewer
/// than 64 blocks and transformed weights over 1 MiB whose output channels come in groups of
/// 16 and whose buffers fit its stack buffer (ResNet-50's 14×14 and 7×7 layers, not ResNet-20's
/// 8×8 ones); the weights are packed for it at its level, so the others (and the portable
/// level) keep the blocks in lanes.
#[test]
fn winograd_channels_take_small_planes() {
    fn takes<S: ConvSpec>(lanes: usize) -> bool {
        Geometry::of::<S>().winograd && super::winograd_channels::<S>(lanes).is_some()
    }
    spec!(ResNet14: 256 => 256, groups 1, in [1, 14, 14], out [1, 14, 14], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(ResNet7: 512 => 512, groups 1, in [1, 7, 7], out [1, 7, 7], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(Cifar8: 64 => 64, groups 1, in [1, 8, 8], out [1, 8, 8], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(Vgg14: 512 => 512, groups 1, in [1, 14, 14], out [1, 14, 14], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    for lanes in [8, 16] {
        assert!(takes::<ResNet14>(lanes) && takes::<ResNet7>(lanes));
        assert!(takes::<WinogradChannels14>(lanes) && takes::<WinogradChannels7>(lanes));
        assert!(takes::<WinogradChannelsValid>(lanes) && takes::<WinogradChannelsLong>(lanes));
        assert!(takes::<WinogradChannelsPad2>(lanes));
        // Weights of 1 MiB; its buffers overflow the stack buffer; 64 blocks or more; 21 or 40
        // output channels; not a Winograd layer.
        assert!(!takes::<Cifar8>(lanes));
        assert!(!takes::<Vgg14>(lanes) && !takes::<WinogradDeep>(lanes));
        assert!(!takes::<WinogradOdd>(lanes) && !takes::<WinogradWideOut>(lanes));
        assert!(!takes::<Stride2>(lanes) && !takes::<Five>(lanes));
    }
    // The tile that computes fewest blocks, the wider where they tie: 49 blocks in tiles of 7
    // at AVX-512 (9 would compute 54), 16 in tiles of 9 (7 would compute 21); at AVX2, 49 and
    // 16 in tiles of 4 (6 would compute 54 and 18), 36 in tiles of 6.
    let tile = |l: Option<super::WinogradChannels>| l.map(|l| l.tile);
    assert_eq!(tile(super::winograd_channels::<ResNet14>(16)), Some(7));
    assert_eq!(tile(super::winograd_channels::<ResNet7>(16)), Some(9));
    assert_eq!(tile(super::winograd_channels::<ResNet14>(8)), Some(4));
    assert_eq!(tile(super::winograd_channels::<ResNet7>(8)), Some(4));
    spec!(Twelve: 256 => 256, groups 1, in [1, 12, 12], out [1, 12, 12], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    assert_eq!(tile(super::winograd_channels::<Twelve>(8)), Some(6));
}

/// The patches kernel takes the layers of a window larger than a point, at most 256 input
/// values per output from at most 16 input channels, and 32 output channels or more per group
/// (first layers), and leaves the others.
#[test]
fn patches_take_first_layers() {
    fn takes<S: ConvSpec>() -> bool {
        let g = Geometry::of::<S>();
        g.patches && !g.by_channels(8) && !g.by_channels(16)
    }
    assert!(takes::<PatchesStem>() && takes::<PatchesDeep>() && takes::<PatchesRows>());
    assert!(takes::<PatchesDilated>() && takes::<PatchesStrideH>() && takes::<PatchesGrouped>());
    // Fewer than 32 output channels per group (a stem of 8, LeNet-5's second layer), 1×1
    // layers, 17 input channels, 16 of a 9×9 window (1,296 values), a depth axis.
    assert!(!takes::<Stride2Stem>() && !takes::<NoPad>());
    spec!(SeventeenIn: 17 => 32, groups 1, in [1, 9, 9], out [1, 9, 9], kernel [1, 3, 3], stride [1, 1, 1], pad [0, 1, 1], dil [1, 1, 1]);
    spec!(NineByNine: 16 => 32, groups 1, in [1, 20, 20], out [1, 12, 12], kernel [1, 9, 9], stride [1, 1, 1], pad [0, 0, 0], dil [1, 1, 1]);
    assert!(!takes::<Pointwise>() && !takes::<Stride2Pointwise>() && !takes::<SeventeenIn>());
    assert!(!takes::<NineByNine>() && !takes::<ThreeD>() && !takes::<WideKernel>());
}
