use core::ops::{Deref, DerefMut};

#[cfg(feature = "alloc")]
use alloc::{vec, vec::Vec};

use crate::{Error, Layer};

/// One tensor of a network's state_dict and where it lives in the network's weight buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    /// The PyTorch state_dict key, e.g. `conv1.weight` or `bn1.running_var`.
    pub name: &'static str,
    /// The shape PyTorch gives the tensor, e.g. `[6, 1, 5, 5]` for a `Conv2d(1, 6, 5)` weight.
    pub shape: &'static [usize],
    /// First index of the tensor in the weight buffer.
    pub offset: usize,
}

impl TensorSpec {
    /// Number of values: the product of the shape.
    pub const fn len(&self) -> usize {
        let mut n = 1;
        let mut i = 0;
        while i < self.shape.len() {
            n *= self.shape[i];
            i += 1;
        }
        n
    }

    /// Whether the tensor has no values.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The weight buffer of a network: the state_dict tensors at the offsets of `Network::TENSORS`,
/// followed by values derived from them at load time (for instance batch-norm scales).
#[derive(Debug)]
pub enum Weights {
    /// Owned by the network.
    #[cfg(feature = "alloc")]
    Owned(Vec<f32>),
    /// A buffer the caller provides, for devices without an allocator.
    Borrowed(&'static mut [f32]),
}

impl Deref for Weights {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match self {
            #[cfg(feature = "alloc")]
            Weights::Owned(v) => v,
            Weights::Borrowed(s) => s,
        }
    }
}

impl DerefMut for Weights {
    fn deref_mut(&mut self) -> &mut [f32] {
        match self {
            #[cfg(feature = "alloc")]
            Weights::Owned(v) => v,
            Weights::Borrowed(s) => s,
        }
    }
}

/// A network compiled by `cnn!`.
///
/// Shapes are channels first and have no batch axis; buffers hold the values of one input (or
/// output) in row-major order (NCHW without N).
pub trait Network: Sized + Send + Sync {
    /// The name of the declared struct.
    const NAME: &'static str;
    /// Shape of one input, e.g. `[1, 28, 28]`.
    const INPUT_SHAPE: &'static [usize];
    /// Shape of one output, e.g. `[10]`.
    const OUTPUT_SHAPE: &'static [usize];
    /// Values in one input.
    const INPUT_LEN: usize;
    /// Values in one output.
    const OUTPUT_LEN: usize;
    /// Number of trained parameters (weights, biases, batch-norm affine parameters), as PyTorch's
    /// `sum(p.numel() for p in model.parameters())` counts them.
    const PARAMS: usize;
    /// Bytes of all state_dict tensors (parameters and batch-norm running statistics), as `f32`.
    const WEIGHT_BYTES: usize;
    /// Multiply-accumulates of one forward pass (convolutions and linear layers).
    const MACS: u64;
    /// Bytes of the activation arena `forward` needs.
    const ARENA_BYTES: usize;
    /// `f32` values in the activation arena.
    const ARENA_LEN: usize;
    /// Bytes of activations if every intermediate tensor had a buffer of its own.
    const NAIVE_ARENA_BYTES: usize;
    /// Bytes of the tensors live together at the busiest step: no plan needs less.
    const PEAK_LIVE_BYTES: usize;
    /// `f32` values in the weight buffer, derived values included.
    const WEIGHTS_LEN: usize;
    /// The layers in execution order, blocks and repetitions expanded.
    const LAYERS: &'static [Layer];
    /// Where each layer reads: 0 is the network input, `i + 1` the output of layer `i`. The
    /// network's output is the last layer's.
    const INPUTS: &'static [&'static [usize]];
    /// The state_dict tensors the network loads.
    const TENSORS: &'static [TensorSpec];
    /// A table of the layers: output shape, parameters, MACs and activation bytes, with totals.
    const SUMMARY: &'static str;
    /// The steps of the forward pass, in order: a layer with the batch norm and activation
    /// fused into it, a pool, an add, ... Each names the state_dict prefix of its first layer,
    /// the kinds of its layers and its output shape (`layer1.0.conv1 Conv2d+BatchNorm2d+ReLU
    /// [16, 32, 32]`). With the `profile` feature, [`profile`](crate::profile) times them.
    const STEPS: &'static [&'static str];

    /// One clock per step of `STEPS`, which the forward pass runs (see [`crate::profile`]).
    #[doc(hidden)]
    fn __clocks() -> &'static [crate::profile::Clock] {
        &[]
    }

    /// Builds the network around a weight buffer of `WEIGHTS_LEN` values whose tensors are in
    /// place (see `TENSORS`); computes the derived values.
    ///
    /// # Errors
    /// [`Error::WeightsLength`] if the buffer does not have `WEIGHTS_LEN` values.
    fn from_weights(weights: Weights) -> Result<Self, Error>;

    /// The weight buffer.
    fn weights(&self) -> &[f32];

    /// Inputs that [`forward_batch`](Network::forward_batch) runs together at most (where its
    /// arena holds as many): the layers whose weights outweigh their activations run layer by
    /// layer over the group, each reading its weights from memory once for all of it (a
    /// `Linear` layer multiplies them by every input in one pass); the others image by image,
    /// each image's activations kept in cache from one layer to the next. 1 for a network
    /// without such layers. The macro chooses it so that the group's arenas take at most 32
    /// MiB (and 16 inputs).
    const GROUP: usize;

    /// Runs the network on one input, writing one output, using `arena` for the intermediate
    /// activations. Allocates nothing.
    ///
    /// # Shapes
    /// `input`: `INPUT_LEN` values; `output`: `OUTPUT_LEN`; `arena`: at least `ARENA_LEN`.
    ///
    /// # Errors
    /// [`Error::InputLength`], [`Error::OutputLength`] or [`Error::ArenaTooSmall`].
    fn forward(&self, input: &[f32], output: &mut [f32], arena: &mut [f32]) -> Result<(), Error> {
        check_buffers::<Self>(input, output, arena)?;
        self.__forward_group(input, output, &mut arena[..Self::ARENA_LEN], 1);
        Ok(())
    }

    /// Runs the network on `n` inputs one after the other in `input`, writing their `n`
    /// outputs: in groups of as many inputs as `arena` holds arenas of `ARENA_LEN` values, at
    /// most [`GROUP`](Network::GROUP). Allocates nothing; the outputs are
    /// [`forward`](Network::forward)'s on each input, bit for bit.
    ///
    /// # Shapes
    /// `input`: `n * INPUT_LEN` values; `output`: `n * OUTPUT_LEN`; `arena`: at least
    /// `ARENA_LEN` (`GROUP * ARENA_LEN` for the whole benefit).
    ///
    /// # Errors
    /// [`Error::InputLength`] if `input.len()` is not a multiple of `INPUT_LEN`;
    /// [`Error::OutputLength`] or [`Error::ArenaTooSmall`].
    fn forward_batch(
        &self,
        input: &[f32],
        output: &mut [f32],
        arena: &mut [f32],
    ) -> Result<(), Error> {
        let n = batch_len::<Self>(input)?;
        if output.len() != n * Self::OUTPUT_LEN {
            return Err(Error::OutputLength {
                expected: n * Self::OUTPUT_LEN,
                found: output.len(),
            });
        }
        if arena.len() < Self::ARENA_LEN {
            return Err(Error::ArenaTooSmall {
                expected: Self::ARENA_LEN,
                found: arena.len(),
            });
        }
        let group = match Self::ARENA_LEN {
            0 => Self::GROUP,
            len => (arena.len() / len).min(Self::GROUP),
        }
        .max(1);
        let mut first = 0;
        while first < n {
            let k = group.min(n - first);
            self.__forward_group(
                &input[first * Self::INPUT_LEN..(first + k) * Self::INPUT_LEN],
                &mut output[first * Self::OUTPUT_LEN..(first + k) * Self::OUTPUT_LEN],
                &mut arena[..k * Self::ARENA_LEN],
                k,
            );
            first += k;
        }
        Ok(())
    }

    /// The forward pass of `images` inputs (`images <= GROUP`): `input`, `output` and `arena`
    /// hold exactly `images` of each, one after the other.
    #[doc(hidden)]
    fn __forward_group(&self, input: &[f32], output: &mut [f32], arena: &mut [f32], images: usize);

    /// Loads a safetensors file with PyTorch's state_dict names (as
    /// `safetensors.torch.save_file(model.state_dict(), path)` writes it).
    ///
    /// F32, F64, F16 and BF16 tensors are converted to `f32`; PyTorch's `num_batches_tracked`
    /// entries are ignored. Reads nothing outside `bytes` and allocates only the weight buffer
    /// and the error, whatever the file's header claims.
    ///
    /// # Errors
    /// [`Error::Format`] for a file that is not safetensors; [`Error::Tensors`] listing every
    /// missing, unexpected, duplicated, mis-shaped, mis-typed or non-finite tensor.
    #[cfg(feature = "alloc")]
    fn from_safetensors(bytes: &[u8]) -> Result<Self, Error> {
        let weights = crate::load::read_safetensors(bytes, Self::TENSORS, Self::WEIGHTS_LEN)?;
        Self::from_weights(Weights::Owned(weights))
    }

    /// Loads a safetensors file into `buffer` without allocating: for a device, with the file
    /// embedded by `include_bytes!` and the buffer a `static`. The file is checked as
    /// [`from_safetensors`](Network::from_safetensors) checks it; the first problem is returned.
    ///
    /// # Shapes
    /// `buffer`: `WEIGHTS_LEN` values (the tensors, then what the network derives from them).
    ///
    /// # Errors
    /// [`Error::WeightsLength`] if `buffer` does not hold `WEIGHTS_LEN` values;
    /// [`Error::Format`] for a file that is not safetensors; [`Error::Tensor`] for the first
    /// tensor that does not fit.
    fn from_safetensors_in(bytes: &[u8], buffer: &'static mut [f32]) -> Result<Self, Error> {
        if buffer.len() != Self::WEIGHTS_LEN {
            return Err(Error::WeightsLength {
                expected: Self::WEIGHTS_LEN,
                found: buffer.len(),
            });
        }
        crate::load::read_safetensors_into(bytes, Self::TENSORS, buffer)?;
        Self::from_weights(Weights::Borrowed(buffer))
    }

    /// The network's state_dict tensors as a safetensors file, F32, under the names PyTorch
    /// gives them: `from_safetensors` on it gives a network with the same outputs, bit for bit,
    /// and `safetensors.torch.load_file` gives a state_dict PyTorch's model loads.
    #[cfg(feature = "alloc")]
    fn to_safetensors(&self) -> Vec<u8> {
        crate::load::write_safetensors(Self::TENSORS, self.weights())
            .expect("the weight buffer has WEIGHTS_LEN values, every tensor inside it")
    }

    /// Runs the network on one input (flattened, `INPUT_SHAPE`) and returns its output.
    ///
    /// # Errors
    /// [`Error::InputLength`] if `input` does not have `INPUT_LEN` values.
    #[cfg(feature = "alloc")]
    fn infer(&self, input: &[f32]) -> Result<Vec<f32>, Error> {
        let mut output = vec![0.0; Self::OUTPUT_LEN];
        let mut arena = vec![0.0; Self::ARENA_LEN];
        self.forward(input, &mut output, &mut arena)?;
        Ok(output)
    }

    /// Runs the network on a batch: `input` holds `n` inputs one after the other; the result
    /// holds their `n` outputs, as [`forward_batch`](Network::forward_batch) computes them.
    /// With the `parallel` feature the groups of inputs are shared out over all cores, each
    /// thread with its own arenas; the outputs are the same.
    ///
    /// # Errors
    /// [`Error::InputLength`] if `input.len()` is not a multiple of `INPUT_LEN`.
    #[cfg(feature = "alloc")]
    fn infer_many(&self, input: &[f32]) -> Result<Vec<f32>, Error> {
        let n = batch_len::<Self>(input)?;
        let mut output = vec![0.0; n * Self::OUTPUT_LEN];
        // Groups of `GROUP` inputs, fewer where that leaves a thread idle.
        #[cfg(feature = "parallel")]
        let group = Self::GROUP
            .min(n.div_ceil(rayon::current_num_threads()))
            .max(1);
        #[cfg(not(feature = "parallel"))]
        let group = Self::GROUP.min(n).max(1);
        // Each thread takes an equal share of the inputs, group after group through one arena
        // (`try_for_each_init` may make an arena for each piece rayon splits the work into).
        #[cfg(feature = "parallel")]
        {
            use rayon::prelude::*;
            let share = n.div_ceil(rayon::current_num_threads()).max(1);
            input
                .par_chunks(share * Self::INPUT_LEN)
                .zip(output.par_chunks_mut(share * Self::OUTPUT_LEN))
                .try_for_each(|(x, y)| {
                    let mut arena = vec![0.0; group * Self::ARENA_LEN];
                    x.chunks(group * Self::INPUT_LEN)
                        .zip(y.chunks_mut(group * Self::OUTPUT_LEN))
                        .try_for_each(|(x, y)| self.forward_batch(x, y, &mut arena))
                })?;
        }
        #[cfg(not(feature = "parallel"))]
        {
            let mut arena = vec![0.0; group * Self::ARENA_LEN];
            self.forward_batch(input, &mut output, &mut arena)?;
        }
        Ok(output)
    }

    /// Runs the network on a batch with a leading batch axis: `[N, INPUT_SHAPE...]` in,
    /// `[N, OUTPUT_SHAPE...]` out.
    ///
    /// # Errors
    /// [`Error::BatchShape`] if the batch's shape is not `[N, INPUT_SHAPE...]`.
    #[cfg(feature = "ndarray")]
    fn infer_batch<D: ndarray::Dimension>(
        &self,
        batch: ndarray::ArrayView<'_, f32, D>,
    ) -> Result<ndarray::ArrayD<f32>, Error> {
        crate::nd::infer_batch(self, batch.into_dyn())
    }
}

/// The number of inputs in `input`, which holds whole inputs of `N` one after the other.
fn batch_len<N: Network>(input: &[f32]) -> Result<usize, Error> {
    if N::INPUT_LEN == 0 || !input.len().is_multiple_of(N::INPUT_LEN) {
        return Err(Error::InputLength {
            expected: N::INPUT_LEN,
            found: input.len(),
        });
    }
    Ok(input.len() / N::INPUT_LEN)
}

/// Checks the buffers given to `forward`.
#[doc(hidden)]
pub fn check_buffers<N: Network>(
    input: &[f32],
    output: &[f32],
    arena: &[f32],
) -> Result<(), Error> {
    if input.len() != N::INPUT_LEN {
        return Err(Error::InputLength {
            expected: N::INPUT_LEN,
            found: input.len(),
        });
    }
    if output.len() != N::OUTPUT_LEN {
        return Err(Error::OutputLength {
            expected: N::OUTPUT_LEN,
            found: output.len(),
        });
    }
    if arena.len() < N::ARENA_LEN {
        return Err(Error::ArenaTooSmall {
            expected: N::ARENA_LEN,
            found: arena.len(),
        });
    }
    Ok(())
}

/// Convolution weights re-laid out at load time in the order the SIMD kernels of this
/// processor read them (see [`conv_pack`](crate::kernels::conv_pack)); each layer's packed
/// weights take the same range as its weights. Without an allocator there is nothing to pack
/// into, and the kernels pack small parts as they go.
#[derive(Debug, Default)]
pub struct Packed {
    #[cfg(feature = "alloc")]
    data: Vec<f32>,
}

impl Packed {
    /// `len` values, which `fill` writes (with an allocator; without one, nothing).
    pub fn new(len: usize, fill: impl FnOnce(&mut [f32])) -> Packed {
        #[cfg(feature = "alloc")]
        {
            if crate::kernels::level() == crate::kernels::Level::Portable {
                return Packed::default();
            }
            let mut data = vec![0.0; len];
            fill(&mut data);
            Packed { data }
        }
        #[cfg(not(feature = "alloc"))]
        {
            let _ = (len, fill);
            Packed {}
        }
    }

    /// The packed weights at `offset..offset + len`, if there are any.
    #[inline(always)]
    pub fn get(&self, offset: usize, len: usize) -> Option<&[f32]> {
        #[cfg(feature = "alloc")]
        {
            self.data.get(offset..offset + len)
        }
        #[cfg(not(feature = "alloc"))]
        {
            let _ = (offset, len);
            None
        }
    }
}
