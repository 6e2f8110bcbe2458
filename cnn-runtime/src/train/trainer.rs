//! Training a network `cnn!` generated: a forward pass over a batch that keeps what the
//! backward pass reads, the backward pass, and the optimiser's step, in one workspace whose
//! size is known before it runs.
//!
//! The convolutions, linear layers and pools run the kernels the macro specialised for each
//! layer ([`Train::layer_forward`], [`Train::layer_backward`]); batch norms (statistics over
//! the batch), activations, softmax, residual additions and concatenations run here, layer
//! by layer over the batch.
//!
//! Frozen layers are a prefix of the layers in execution order: they run as at inference
//! (batch norms with their running statistics, left unchanged), one sample at a time, and keep
//! neither their outputs (except those a trained layer reads) nor gradients.

use super::{Adam, Rng, Sgd};
use crate::__private::sqrt;
use crate::kernels::{activate, activate_backward, softmax, softmax_backward};
use crate::{Error, Layer, Network, Weights};

/// What the macro generates for training a network: each layer's output shape, where its
/// tensors are, and its specialised kernels. [`Trainer`] drives them.
pub trait Train: Network {
    /// Each layer's output shape (no batch axis), in the order of `LAYERS`.
    const SHAPES: &'static [&'static [usize]];
    /// Each layer's state_dict tensors in the weight buffer: `(offset, len)`, `(0, 0)` for a
    /// layer without any. A layer's tensors are contiguous (weight, bias, then a batch norm's
    /// running mean and variance) and layers' ranges follow one another in execution order.
    const LAYER_TENSORS: &'static [(usize, usize)];
    /// Layers the declaration freezes (`#[frozen]`): the first `FROZEN` layers.
    const FROZEN: usize;
    /// The batch `TRAIN_MEMORY_BYTES` is computed for (`#[budget(train_batch = ..)]`, 1 if
    /// not declared).
    const TRAIN_BATCH: usize;
    /// Bytes a [`Trainer`] needs for a batch of `TRAIN_BATCH` with the declared frozen layers
    /// and Adam (two values of state per trained parameter): kept activations, their
    /// gradients, batch statistics, parameter gradients, optimiser state. Equal to
    /// `TrainLayout::of::<Self>(TRAIN_BATCH, FROZEN, 2).bytes()`.
    const TRAIN_MEMORY_BYTES: usize;

    /// Runs layer `layer`, a convolution, linear layer or pool, on one sample: as `forward`
    /// runs it, without what it fuses (bias included, batch norm and activation not).
    ///
    /// # Panics
    /// If the layer is another kind, or a slice is shorter than its shape.
    fn layer_forward(&self, layer: usize, x: &[f32], y: &mut [f32]);

    /// The gradients of layer `layer`, a convolution, linear layer or pool, for one sample with
    /// input `x` and output gradient `dy`: adds the input's gradient to `dx` and the gradients
    /// of the layer's tensors to `grads` (laid out as the weight buffer from the layer's first
    /// tensor), each when given.
    ///
    /// # Panics
    /// If the layer is another kind, or a slice is shorter than its shape.
    fn layer_backward(
        &self,
        layer: usize,
        x: &[f32],
        dy: &[f32],
        dx: Option<&mut [f32]>,
        grads: Option<&mut [f32]>,
    );

    /// Lets `change` rewrite the state_dict tensors of the weight buffer, then recomputes
    /// what the network derives from them (batch-norm scales, packed convolution weights).
    fn update_weights<F: FnOnce(&mut [f32])>(&mut self, change: F);
}

/// The optimiser a [`Trainer`] steps with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    Sgd(Sgd),
    Adam(Adam),
}

impl Optimizer {
    /// Values of state per trained parameter: SGD's velocity; Adam's two moments.
    pub const fn state_per_param(&self) -> usize {
        match self {
            Optimizer::Sgd(_) => 1,
            Optimizer::Adam(_) => 2,
        }
    }

    /// The learning rate.
    pub const fn lr(&self) -> f32 {
        match self {
            Optimizer::Sgd(o) => o.lr,
            Optimizer::Adam(o) => o.lr,
        }
    }

    /// Sets the learning rate (a schedule's value for the coming epoch).
    pub fn set_lr(&mut self, lr: f32) {
        match self {
            Optimizer::Sgd(o) => o.lr = lr,
            Optimizer::Adam(o) => o.lr = lr,
        }
    }
}

/// How a trainer's workspace divides, in `f32` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrainLayout {
    /// The largest batch the workspace holds.
    pub batch: usize,
    /// Frozen layers (a prefix).
    pub frozen: usize,
    /// Kept outputs: every trained layer's, and each frozen one a trained layer reads, for
    /// `batch` samples.
    pub activations: usize,
    /// The other frozen layers' outputs, for one sample.
    pub scratch: usize,
    /// The gradients of the trained layers' outputs, for `batch` samples.
    pub activation_grads: usize,
    /// Each trained batch norm's batch mean and variance.
    pub stats: usize,
    /// Parameter gradients: the weight buffer's range from the first trained layer's tensors to
    /// the end of the state_dict tensors.
    pub grads: usize,
    /// The optimiser's state, `state_per_param` values per gradient.
    pub state: usize,
}

impl TrainLayout {
    /// The layout for `batch` samples with the first `frozen` layers frozen and an optimiser
    /// keeping `state_per_param` values per parameter.
    pub fn of<N: Train>(batch: usize, frozen: usize, state_per_param: usize) -> TrainLayout {
        let layers = N::LAYERS.len();
        let (mut activations, mut scratch, mut activation_grads, mut stats) = (0, 0, 0, 0);
        for i in 0..layers {
            let len = out_len::<N>(i);
            if kept::<N>(frozen, i) {
                activations += batch * len;
            } else {
                scratch += len;
            }
            if i >= frozen {
                activation_grads += batch * len;
                if let Layer::BatchNorm { num_features, .. } = N::LAYERS[i] {
                    stats += 2 * num_features;
                }
            }
        }
        let grads = tensors_end::<N>() - grads_base::<N>(frozen);
        TrainLayout {
            batch,
            frozen,
            activations,
            scratch,
            activation_grads,
            stats,
            grads,
            state: state_per_param * grads,
        }
    }

    /// Values of the whole workspace.
    pub const fn len(&self) -> usize {
        self.activations
            + self.scratch
            + self.activation_grads
            + self.stats
            + self.grads
            + self.state
    }

    /// Whether the workspace is empty (it never is for a network with layers).
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the whole workspace.
    pub const fn bytes(&self) -> usize {
        4 * self.len()
    }
}

fn out_len<N: Train>(layer: usize) -> usize {
    N::SHAPES[layer].iter().product()
}

/// The shape of value `v`: 0 the network's input, `i + 1` layer `i`'s output.
fn value_shape<N: Train>(v: usize) -> &'static [usize] {
    if v == 0 {
        N::INPUT_SHAPE
    } else {
        N::SHAPES[v - 1]
    }
}

/// Whether layer `i`'s output is kept for the whole batch: a trained layer's, the network's
/// output, or a frozen layer's that a trained layer reads.
fn kept<N: Train>(frozen: usize, i: usize) -> bool {
    i >= frozen
        || i + 1 == N::LAYERS.len()
        || N::INPUTS[frozen..]
            .iter()
            .any(|reads| reads.contains(&(i + 1)))
}

/// The end of the state_dict tensors in the weight buffer.
fn tensors_end<N: Train>() -> usize {
    N::TENSORS
        .iter()
        .map(|t| t.offset + t.len())
        .max()
        .unwrap_or(0)
}

/// Where the gradients start: the first tensor of the first trained layer that has any.
fn grads_base<N: Train>(frozen: usize) -> usize {
    N::LAYER_TENSORS[frozen.min(N::LAYER_TENSORS.len())..]
        .iter()
        .find(|t| t.1 > 0)
        .map_or_else(tensors_end::<N>, |t| t.0)
}

/// The trained parameters of layer `i`: `(offset, len)` in the weight buffer (a batch norm's
/// weight and bias, not its running statistics).
fn trained<N: Train>(i: usize) -> (usize, usize) {
    let (offset, len) = N::LAYER_TENSORS[i];
    match N::LAYERS[i] {
        Layer::BatchNorm {
            num_features,
            affine,
            ..
        } => (offset, if affine { 2 * num_features } else { 0 }),
        _ => (offset, len),
    }
}

/// A batch norm's per-channel tensors: `(weight, bias)` offsets if affine, and the running
/// mean's offset (the variance follows it).
fn norm_tensors<N: Train>(i: usize) -> (Option<(usize, usize)>, usize, usize) {
    let Layer::BatchNorm {
        num_features: c,
        affine,
        ..
    } = N::LAYERS[i]
    else {
        unreachable!("a batch norm")
    };
    let off = N::LAYER_TENSORS[i].0;
    if affine {
        (Some((off, off + c)), off + 2 * c, c)
    } else {
        (None, off, c)
    }
}

/// Where a value lives while training.
#[derive(Clone, Copy, Debug)]
enum At {
    /// The caller's batch of inputs.
    Input,
    /// The kept activations, from this offset, `batch` samples.
    Kept(usize),
    /// The frozen layers' scratch, one sample.
    Scratch(usize),
}

/// Offsets of each value (by value index) and of each trained layer's activation gradients.
struct Places<'a> {
    layout: &'a TrainLayout,
}

impl Places<'_> {
    fn value<N: Train>(&self, v: usize) -> At {
        if v == 0 {
            return At::Input;
        }
        let i = v - 1;
        let frozen = self.layout.frozen;
        let (mut kept_at, mut scratch_at) = (0, 0);
        for j in 0..i {
            if kept::<N>(frozen, j) {
                kept_at += self.layout.batch * out_len::<N>(j);
            } else {
                scratch_at += out_len::<N>(j);
            }
        }
        if kept::<N>(frozen, i) {
            At::Kept(kept_at)
        } else {
            At::Scratch(scratch_at)
        }
    }

    /// The offset of trained layer `i`'s output gradients.
    fn grad<N: Train>(&self, i: usize) -> usize {
        (self.layout.frozen..i)
            .map(|j| self.layout.batch * out_len::<N>(j))
            .sum()
    }

    /// The offset of trained batch norm `i`'s statistics.
    fn stats<N: Train>(&self, i: usize) -> usize {
        (self.layout.frozen..i)
            .map(|j| match N::LAYERS[j] {
                Layer::BatchNorm { num_features, .. } => 2 * num_features,
                _ => 0,
            })
            .sum()
    }
}

/// The workspace cut into its regions.
struct Regions<'a> {
    activations: &'a mut [f32],
    scratch: &'a mut [f32],
    activation_grads: &'a mut [f32],
    stats: &'a mut [f32],
    grads: &'a mut [f32],
    state: &'a mut [f32],
}

fn regions<'a>(layout: &TrainLayout, work: &'a mut [f32]) -> Regions<'a> {
    let (activations, rest) = work.split_at_mut(layout.activations);
    let (scratch, rest) = rest.split_at_mut(layout.scratch);
    let (activation_grads, rest) = rest.split_at_mut(layout.activation_grads);
    let (stats, rest) = rest.split_at_mut(layout.stats);
    let (grads, rest) = rest.split_at_mut(layout.grads);
    let state = &mut rest[..layout.state];
    Regions {
        activations,
        scratch,
        activation_grads,
        stats,
        grads,
        state,
    }
}

/// Trains a network generated by `cnn!`: [`step`](Trainer::step) runs a batch forward,
/// takes the loss and its gradient from the caller, runs backward and steps the optimiser.
/// Allocates nothing after it is made.
#[derive(Debug)]
pub struct Trainer<N: Train> {
    net: N,
    layout: TrainLayout,
    work: Weights,
    optimizer: Optimizer,
    /// Optimiser steps taken.
    steps: u64,
    /// Batches the batch norms have seen in training (PyTorch's `num_batches_tracked`).
    batches: u64,
    /// Samples in the batch last run forward.
    filled: usize,
    /// Draws each pass's dropout seed.
    rng: Rng,
    /// Batch norms normalise with their running statistics, left unchanged.
    running: bool,
}

impl<N: Train> Trainer<N> {
    /// A trainer for batches of up to `batch` samples, with the layers the declaration
    /// freezes frozen.
    ///
    /// # Errors
    /// [`Error::NothingToTrain`] if the declaration freezes every layer.
    #[cfg(feature = "alloc")]
    pub fn new(net: N, batch: usize, optimizer: Optimizer) -> Result<Self, Error> {
        Self::with_frozen(net, batch, optimizer, N::FROZEN)
    }

    /// A trainer with the first `frozen` layers frozen (at least those the declaration
    /// freezes): fine-tuning the rest. Its workspace is sized for that, smaller than a full
    /// trainer's.
    ///
    /// # Errors
    /// [`Error::NothingToTrain`] if `frozen` covers every layer.
    #[cfg(feature = "alloc")]
    pub fn with_frozen(
        net: N,
        batch: usize,
        optimizer: Optimizer,
        frozen: usize,
    ) -> Result<Self, Error> {
        let layout = Self::layout_for(batch, frozen, &optimizer)?;
        let work = Weights::Owned(alloc::vec![0.0; layout.len()]);
        Ok(Self::assemble(net, layout, work, optimizer))
    }

    /// A trainer over a workspace the caller provides, for devices without an allocator:
    /// `work` needs `TrainLayout::of::<N>(batch, frozen, optimizer.state_per_param()).len()`
    /// values.
    ///
    /// # Errors
    /// [`Error::NothingToTrain`] if `frozen` covers every layer; [`Error::ArenaTooSmall`] if
    /// `work` is too small.
    pub fn in_buffer(
        net: N,
        batch: usize,
        optimizer: Optimizer,
        frozen: usize,
        work: &'static mut [f32],
    ) -> Result<Self, Error> {
        let layout = Self::layout_for(batch, frozen, &optimizer)?;
        if work.len() < layout.len() {
            return Err(Error::ArenaTooSmall {
                expected: layout.len(),
                found: work.len(),
            });
        }
        work.fill(0.0);
        Ok(Self::assemble(
            net,
            layout,
            Weights::Borrowed(work),
            optimizer,
        ))
    }

    fn layout_for(
        batch: usize,
        frozen: usize,
        optimizer: &Optimizer,
    ) -> Result<TrainLayout, Error> {
        let frozen = frozen.max(N::FROZEN);
        if frozen >= N::LAYERS.len() {
            return Err(Error::NothingToTrain {
                frozen,
                layers: N::LAYERS.len(),
            });
        }
        Ok(TrainLayout::of::<N>(
            batch.max(1),
            frozen,
            optimizer.state_per_param(),
        ))
    }

    fn assemble(net: N, layout: TrainLayout, work: Weights, optimizer: Optimizer) -> Self {
        Trainer {
            net,
            layout,
            work,
            optimizer,
            steps: 0,
            batches: 0,
            filled: 0,
            rng: Rng::new(0),
            running: false,
        }
    }

    /// How the workspace divides; `layout().bytes()` is the training memory.
    pub fn layout(&self) -> TrainLayout {
        self.layout
    }

    /// The network being trained.
    pub fn network(&self) -> &N {
        &self.net
    }

    /// The trained network.
    pub fn into_network(self) -> N {
        self.net
    }

    /// Sets how many batches the batch norms have seen (PyTorch's `num_batches_tracked`, which
    /// a weight file does not carry here): only a batch norm declared with `momentum = None`
    /// uses it, its running statistics being the average over every batch seen. A new
    /// trainer starts from 0.
    pub fn set_batches_seen(&mut self, batches: u64) {
        self.batches = batches;
    }

    /// Seeds the dropout masks (a new trainer's seed is 0): the same seed, weights and batches
    /// give the same run.
    pub fn set_seed(&mut self, seed: u64) {
        self.rng = Rng::new(seed);
    }

    /// With `true`, the trained batch norms normalise with their running statistics and leave
    /// them unchanged, as at inference, while their weight and bias still train: PyTorch's
    /// `model.eval()` during fine-tuning, for batches too small or too unlike the training
    /// data for their own statistics. With `false` (a new trainer's setting), the batch's.
    pub fn freeze_batch_norm_statistics(&mut self, freeze: bool) {
        self.running = freeze;
    }

    /// The optimiser (to set the learning rate of a schedule).
    pub fn optimizer_mut(&mut self) -> &mut Optimizer {
        &mut self.optimizer
    }

    /// The gradient of the state_dict tensor `name` from the last backward pass, if it is
    /// trained (a running statistic or a frozen layer's tensor has none).
    pub fn gradient(&self, name: &str) -> Option<&[f32]> {
        let base = grads_base::<N>(self.layout.frozen);
        let t = N::TENSORS.iter().find(|t| t.name == name)?;
        let trained = N::LAYER_TENSORS
            .iter()
            .enumerate()
            .skip(self.layout.frozen)
            .any(|(i, _)| {
                let (off, len) = trained::<N>(i);
                off <= t.offset && t.offset + t.len() <= off + len && len > 0
            });
        let l = &self.layout;
        let grads = &self.work[l.len() - l.state - l.grads..][..l.grads];
        trained.then(|| &grads[t.offset - base..][..t.len()])
    }

    /// Runs `inputs` (1 to `batch` samples, one after the other) forward with the batch norms
    /// in training mode (batch statistics; running statistics updated), lets `loss` compute
    /// the loss from the outputs and write its gradient with respect to them, and propagates
    /// that gradient back to every trained tensor. Returns the loss.
    ///
    /// # Errors
    /// [`Error::InputLength`] if `inputs` is not whole samples; [`Error::TrainBatch`] if it
    /// holds none or more than the trainer's batch.
    pub fn forward_backward(
        &mut self,
        inputs: &[f32],
        loss: impl FnOnce(&[f32], &mut [f32]) -> f32,
    ) -> Result<f32, Error> {
        let n = self.check_batch(inputs)?;
        self.filled = n;
        // Backward redraws each dropout mask from this seed.
        let seed = self.rng.next_u64();
        let layout = self.layout;
        let places = Places { layout: &layout };
        let r = regions(&layout, &mut self.work);
        let last = N::LAYERS.len() - 1;
        let running = self.running;
        forward::<N>(
            &self.net,
            &places,
            (n, seed, running),
            inputs,
            r.activations,
            r.scratch,
            r.stats,
        );
        // Running statistics, as PyTorch updates them during the forward pass in training mode
        // (with frozen statistics neither they nor the count of batches move).
        if !running {
            let momentum_default = 1.0 / (self.batches + 1) as f64;
            self.batches += 1;
            let stats = &*r.stats;
            self.net.update_weights(|w| {
                for i in layout.frozen..N::LAYERS.len() {
                    if let Layer::BatchNorm { momentum, .. } = N::LAYERS[i] {
                        let m = momentum.map_or(momentum_default, f64::from);
                        let (_, mean_at, c) = norm_tensors::<N>(i);
                        let plane = out_len::<N>(i) / c.max(1);
                        let count = (n * plane) as f64;
                        let st = &stats[places.stats::<N>(i)..][..2 * c];
                        for ch in 0..c {
                            let (mean, var) = (f64::from(st[ch]), f64::from(st[c + ch]));
                            let unbiased = if count > 1.0 {
                                var * count / (count - 1.0)
                            } else {
                                var
                            };
                            let rm = &mut w[mean_at + ch];
                            *rm = ((1.0 - m) * f64::from(*rm) + m * mean) as f32;
                            let rv = &mut w[mean_at + c + ch];
                            *rv = ((1.0 - m) * f64::from(*rv) + m * unbiased) as f32;
                        }
                    }
                }
            });
        }
        let At::Kept(out_at) = places.value::<N>(last + 1) else {
            unreachable!("the output is kept")
        };
        let out_len = out_len::<N>(last);
        r.activation_grads.fill(0.0);
        r.grads.fill(0.0);
        let g_at = places.grad::<N>(last);
        let value = loss(
            &r.activations[out_at..][..n * out_len],
            &mut r.activation_grads[g_at..][..n * out_len],
        );
        backward::<N>(
            &self.net,
            &places,
            (n, seed, running),
            inputs,
            r.activations,
            r.activation_grads,
            r.stats,
            r.grads,
        );
        Ok(value)
    }

    /// Steps the optimiser with the gradients of the last backward pass: every trained
    /// parameter, not the running statistics nor the frozen layers.
    pub fn update(&mut self) {
        let layout = self.layout;
        let r = regions(&layout, &mut self.work);
        let base = grads_base::<N>(layout.frozen);
        let (optimizer, step) = (self.optimizer, self.steps);
        let (grads, state) = (&*r.grads, r.state);
        let g_len = grads.len();
        self.net.update_weights(|w| {
            for i in layout.frozen..N::LAYERS.len() {
                let (off, len) = trained::<N>(i);
                if len == 0 {
                    continue;
                }
                let at = off - base;
                let (p, g) = (&mut w[off..off + len], &grads[at..at + len]);
                match optimizer {
                    Optimizer::Sgd(o) => o.step(p, g, &mut state[at..at + len], step),
                    Optimizer::Adam(o) => {
                        let (m, v) = state.split_at_mut(g_len);
                        o.step(p, g, &mut m[at..at + len], &mut v[at..at + len], step);
                    }
                }
            }
        });
        self.steps += 1;
    }

    /// One training step: [`forward_backward`](Trainer::forward_backward), then
    /// [`update`](Trainer::update). Returns the loss.
    ///
    /// # Errors
    /// As [`forward_backward`](Trainer::forward_backward).
    pub fn step(
        &mut self,
        inputs: &[f32],
        loss: impl FnOnce(&[f32], &mut [f32]) -> f32,
    ) -> Result<f32, Error> {
        let value = self.forward_backward(inputs, loss)?;
        self.update();
        Ok(value)
    }

    fn check_batch(&self, inputs: &[f32]) -> Result<usize, Error> {
        if N::INPUT_LEN == 0 || !inputs.len().is_multiple_of(N::INPUT_LEN) {
            return Err(Error::InputLength {
                expected: N::INPUT_LEN,
                found: inputs.len(),
            });
        }
        let n = inputs.len() / N::INPUT_LEN;
        if n == 0 || n > self.layout.batch {
            return Err(Error::TrainBatch {
                max: self.layout.batch,
                found: n,
            });
        }
        Ok(n)
    }
}

/// Sample `s` of value `v`, read from the inputs, the kept activations (before `limit`, the
/// offset being written) or the scratch.
fn read<'a, N: Train>(
    at: At,
    v: usize,
    s: usize,
    inputs: &'a [f32],
    kept: &'a [f32],
    scratch: &'a [f32],
) -> &'a [f32] {
    let len = value_shape::<N>(v).iter().product::<usize>();
    match at {
        At::Input => &inputs[s * len..][..len],
        At::Kept(o) => &kept[o + s * len..][..len],
        At::Scratch(o) => &scratch[o..][..len],
    }
}

/// A dropout mask, drawn again by the backward pass from the pass's seed, the layer and the
/// sample: each value kept with probability `1 - p` and scaled by `1 / (1 - p)` (zeroed
/// entirely for `p = 1`, as PyTorch does).
struct Keep {
    rng: Rng,
    p: f64,
    scale: f32,
}

impl Keep {
    fn new(p: f32, seed: u64, layer: usize, sample: usize) -> Keep {
        let stream = ((layer as u64) << 40) ^ (sample as u64);
        let p = f64::from(p);
        Keep {
            rng: Rng::new(seed ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03)),
            p,
            scale: if p < 1.0 {
                (1.0 / (1.0 - p)) as f32
            } else {
                0.0
            },
        }
    }

    /// The factor of the next value: `1 / (1 - p)` or 0.
    fn next_factor(&mut self) -> f32 {
        if self.rng.uniform() >= self.p {
            self.scale
        } else {
            0.0
        }
    }
}

/// `(len, inner)` of a softmax over `dim` (counted with the batch axis) of `shape`.
fn softmax_axis(shape: &[usize], dim: isize) -> (usize, usize) {
    let rank = shape.len() as isize + 1;
    let axis = (if dim < 0 { dim + rank } else { dim }) as usize - 1;
    (shape[axis], shape[axis + 1..].iter().product())
}

/// One layer on one sample (every kind but a batch norm in training); `x(k)` is the sample's
/// `k`-th input.
/// `dropout`: the pass's seed and the sample, for a trained layer (a frozen one runs as at
/// inference).
fn apply<'a, N: Train>(
    net: &N,
    i: usize,
    x: impl Fn(usize) -> &'a [f32],
    w: &[f32],
    dropout: Option<(u64, usize)>,
    y: &mut [f32],
) {
    match N::LAYERS[i] {
        Layer::Conv { .. }
        | Layer::Linear { .. }
        | Layer::MaxPool { .. }
        | Layer::AvgPool { .. }
        | Layer::AdaptiveAvgPool { .. }
        | Layer::AdaptiveMaxPool { .. } => net.layer_forward(i, x(0), y),
        Layer::BatchNorm { eps, .. } => {
            // A frozen batch norm: its running statistics.
            let (affine, mean_at, c) = norm_tensors::<N>(i);
            let plane = y.len() / c.max(1);
            for ch in 0..c {
                let (g, b) = affine.map_or((1.0, 0.0), |(g, b)| (w[g + ch], w[b + ch]));
                let inv = 1.0 / sqrt(f64::from(w[mean_at + c + ch]) + f64::from(eps));
                let scale = (f64::from(g) * inv) as f32;
                let mean = w[mean_at + ch];
                for (o, &x) in y[ch * plane..][..plane].iter_mut().zip(&x(0)[ch * plane..]) {
                    *o = (x - mean) * scale + b;
                }
            }
        }
        Layer::Flatten { .. } | Layer::Identity => y.copy_from_slice(x(0)),
        Layer::Dropout { p } => match dropout {
            None => y.copy_from_slice(x(0)),
            Some((seed, s)) => {
                let mut keep = Keep::new(p, seed, i, s);
                for (o, &v) in y.iter_mut().zip(x(0)) {
                    *o = v * keep.next_factor();
                }
            }
        },
        Layer::Activation(act) => {
            y.copy_from_slice(x(0));
            activate(y, act);
        }
        Layer::Softmax { dim } => {
            y.copy_from_slice(x(0));
            let (len, inner) = softmax_axis(N::SHAPES[i], dim);
            softmax(y, len, inner);
        }
        Layer::Add => {
            for ((o, a), b) in y.iter_mut().zip(x(0)).zip(x(1)) {
                *o = a + b;
            }
        }
        Layer::Concat => {
            let mut at = 0;
            for k in 0..N::INPUTS[i].len() {
                let part = x(k);
                y[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
/// `pass`: the batch's samples, the dropout seed, and whether batch norms use their running
/// statistics.
fn forward<N: Train>(
    net: &N,
    places: &Places<'_>,
    (n, seed, running): (usize, u64, bool),
    inputs: &[f32],
    kept: &mut [f32],
    scratch: &mut [f32],
    stats: &mut [f32],
) {
    let frozen = places.layout.frozen;
    let w = net.weights();
    // The frozen prefix, a sample at a time.
    for s in 0..n {
        for i in 0..frozen {
            let out = places.value::<N>(i + 1);
            let len = out_len::<N>(i);
            let (k_lo, k_hi, s_lo, s_hi) = split_for(out, kept, scratch);
            let reads = N::INPUTS[i];
            let x =
                |k: usize| read::<N>(places.value::<N>(reads[k]), reads[k], s, inputs, k_lo, s_lo);
            let y = match out {
                At::Kept(_) => &mut k_hi[s * len..][..len],
                At::Scratch(_) => &mut s_hi[..len],
                At::Input => unreachable!("a layer's output"),
            };
            apply::<N>(net, i, x, w, None, y);
        }
    }
    // The trained layers, a layer at a time over the batch.
    for i in frozen..N::LAYERS.len() {
        let out = places.value::<N>(i + 1);
        let len = out_len::<N>(i);
        let (k_lo, k_hi, s_lo, _) = split_for(out, kept, scratch);
        let reads = N::INPUTS[i];
        if let Layer::BatchNorm { eps, .. } = N::LAYERS[i] {
            let st = &mut stats[places.stats::<N>(i)..];
            if running {
                // The running statistics where the backward pass reads the batch's.
                let (_, mean_at, c) = norm_tensors::<N>(i);
                st[..2 * c].copy_from_slice(&w[mean_at..mean_at + 2 * c]);
                for s in 0..n {
                    let x = |k: usize| {
                        read::<N>(places.value::<N>(reads[k]), reads[k], s, inputs, k_lo, s_lo)
                    };
                    apply::<N>(net, i, x, w, None, &mut k_hi[s * len..][..len]);
                }
                continue;
            }
            let x_at = places.value::<N>(reads[0]);
            norm_train_forward::<N>(
                i,
                eps,
                n,
                |s| read::<N>(x_at, reads[0], s, inputs, k_lo, s_lo),
                w,
                st,
                &mut k_hi[..n * len],
            );
            continue;
        }
        for s in 0..n {
            let x =
                |k: usize| read::<N>(places.value::<N>(reads[k]), reads[k], s, inputs, k_lo, s_lo);
            apply::<N>(net, i, x, w, Some((seed, s)), &mut k_hi[s * len..][..len]);
        }
    }
}

/// The kept activations and the scratch, each cut where `out` is written: what is before
/// (readable) and what starts at `out` (the writer's).
fn split_for<'a>(
    out: At,
    kept: &'a mut [f32],
    scratch: &'a mut [f32],
) -> (&'a [f32], &'a mut [f32], &'a [f32], &'a mut [f32]) {
    let (k, s) = match out {
        At::Kept(o) => (o, scratch.len()),
        At::Scratch(o) => (kept.len(), o),
        At::Input => unreachable!("a layer's output"),
    };
    let (k_lo, k_hi) = kept.split_at_mut(k);
    let (s_lo, s_hi) = scratch.split_at_mut(s);
    (k_lo, k_hi, s_lo, s_hi)
}

/// A batch norm in training: each channel normalised by the batch's mean and biased
/// variance (kept in `stats` for the backward pass and the running statistics).
fn norm_train_forward<'a, N: Train>(
    i: usize,
    eps: f32,
    n: usize,
    x: impl Fn(usize) -> &'a [f32],
    w: &[f32],
    stats: &mut [f32],
    y: &mut [f32],
) {
    let (affine, _, c) = norm_tensors::<N>(i);
    let len = out_len::<N>(i);
    let plane = len / c.max(1);
    let count = (n * plane) as f64;
    for ch in 0..c {
        let values =
            || (0..n).flat_map(|s| x(s)[ch * plane..][..plane].iter().map(|&v| f64::from(v)));
        let mean = values().sum::<f64>() / count;
        let var = values().map(|v| (v - mean) * (v - mean)).sum::<f64>() / count;
        stats[ch] = mean as f32;
        stats[c + ch] = var as f32;
        let inv = 1.0 / sqrt(var + f64::from(eps));
        let (g, b) = affine.map_or((1.0, 0.0), |(g, b)| {
            (f64::from(w[g + ch]), f64::from(w[b + ch]))
        });
        for s in 0..n {
            for (o, &v) in y[s * len + ch * plane..][..plane]
                .iter_mut()
                .zip(&x(s)[ch * plane..][..plane])
            {
                *o = ((f64::from(v) - mean) * inv * g + b) as f32;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn backward<N: Train>(
    net: &N,
    places: &Places<'_>,
    (n, seed, running): (usize, u64, bool),
    inputs: &[f32],
    kept: &[f32],
    dkept: &mut [f32],
    stats: &[f32],
    grads: &mut [f32],
) {
    let frozen = places.layout.frozen;
    let base = grads_base::<N>(frozen);
    let w = net.weights();
    for i in (frozen..N::LAYERS.len()).rev() {
        let len = out_len::<N>(i);
        let reads = N::INPUTS[i];
        let y_at = match places.value::<N>(i + 1) {
            At::Kept(o) => o,
            _ => unreachable!("a trained layer's output is kept"),
        };
        let (d_lo, d_hi) = dkept.split_at_mut(places.grad::<N>(i));
        let dy_all = &d_hi[..n * len];
        // Where each read value's gradient goes: a trained layer's, or nowhere.
        let dx_at = |k: usize| -> Option<(usize, usize)> {
            let v = reads[k];
            (v > frozen).then(|| {
                (
                    places.grad::<N>(v - 1),
                    value_shape::<N>(v).iter().product(),
                )
            })
        };
        // Where the first input lives, found once: batch norms read it per channel and sample.
        let first_at = places.value::<N>(reads[0]);
        let x_of = |k: usize, s: usize| {
            let at = if k == 0 {
                first_at
            } else {
                places.value::<N>(reads[k])
            };
            read::<N>(at, reads[k], s, inputs, kept, &[])
        };
        match N::LAYERS[i] {
            Layer::Conv { .. }
            | Layer::Linear { .. }
            | Layer::MaxPool { .. }
            | Layer::AvgPool { .. }
            | Layer::AdaptiveAvgPool { .. }
            | Layer::AdaptiveMaxPool { .. } => {
                let (off, t_len) = N::LAYER_TENSORS[i];
                let dx_place = dx_at(0);
                for s in 0..n {
                    let dx = dx_place.map(|(o, l)| &mut d_lo[o + s * l..][..l]);
                    let g = (t_len > 0).then(|| &mut grads[off - base..][..t_len]);
                    net.layer_backward(i, x_of(0, s), &dy_all[s * len..][..len], dx, g);
                }
            }
            Layer::BatchNorm { eps, .. } => {
                let (affine, _, c) = norm_tensors::<N>(i);
                let plane = len / c.max(1);
                let count = (n * plane) as f64;
                let st = &stats[places.stats::<N>(i)..][..2 * c];
                for ch in 0..c {
                    let (mean, var) = (f64::from(st[ch]), f64::from(st[c + ch]));
                    let inv = 1.0 / sqrt(var + f64::from(eps));
                    let (mut sum_dy, mut sum_dyx) = (0.0f64, 0.0f64);
                    for s in 0..n {
                        let x = &x_of(0, s)[ch * plane..][..plane];
                        let dy = &dy_all[s * len + ch * plane..][..plane];
                        for (&xv, &g) in x.iter().zip(dy) {
                            sum_dy += f64::from(g);
                            sum_dyx += f64::from(g) * (f64::from(xv) - mean) * inv;
                        }
                    }
                    let gamma = match affine {
                        Some((g_at, b_at)) => {
                            grads[g_at - base + ch] += sum_dyx as f32;
                            grads[b_at - base + ch] += sum_dy as f32;
                            f64::from(w[g_at + ch])
                        }
                        None => 1.0,
                    };
                    if let Some((o, l)) = dx_at(0) {
                        let k = gamma * inv;
                        for s in 0..n {
                            let x = &x_of(0, s)[ch * plane..][..plane];
                            let dy = &dy_all[s * len + ch * plane..][..plane];
                            let dx = &mut d_lo[o + s * l + ch * plane..][..plane];
                            for ((d, &xv), &g) in dx.iter_mut().zip(x).zip(dy) {
                                // With running statistics nothing depends on the batch.
                                *d += if running {
                                    k * f64::from(g)
                                } else {
                                    let xhat = (f64::from(xv) - mean) * inv;
                                    k * (f64::from(g) - sum_dy / count - xhat * sum_dyx / count)
                                } as f32;
                            }
                        }
                    }
                }
            }
            Layer::Dropout { p } => {
                if let Some((o, _)) = dx_at(0) {
                    for s in 0..n {
                        let mut keep = Keep::new(p, seed, i, s);
                        for (d, g) in d_lo[o + s * len..][..len]
                            .iter_mut()
                            .zip(&dy_all[s * len..][..len])
                        {
                            *d += g * keep.next_factor();
                        }
                    }
                }
            }
            Layer::Flatten { .. } | Layer::Identity => {
                if let Some((o, _)) = dx_at(0) {
                    for (d, g) in d_lo[o..][..n * len].iter_mut().zip(dy_all) {
                        *d += g;
                    }
                }
            }
            Layer::Activation(act) => {
                if let Some((o, _)) = dx_at(0) {
                    for s in 0..n {
                        let y = &kept[y_at + s * len..][..len];
                        activate_backward(
                            x_of(0, s),
                            y,
                            &dy_all[s * len..][..len],
                            act,
                            &mut d_lo[o + s * len..][..len],
                        );
                    }
                }
            }
            Layer::Softmax { dim } => {
                if let Some((o, _)) = dx_at(0) {
                    let (l, inner) = softmax_axis(N::SHAPES[i], dim);
                    softmax_backward(
                        &kept[y_at..][..n * len],
                        dy_all,
                        l,
                        inner,
                        &mut d_lo[o..][..n * len],
                    );
                }
            }
            Layer::Add => {
                for k in 0..reads.len() {
                    if let Some((o, _)) = dx_at(k) {
                        for (d, g) in d_lo[o..][..n * len].iter_mut().zip(dy_all) {
                            *d += g;
                        }
                    }
                }
            }
            Layer::Concat => {
                let mut start = 0;
                for (k, &v) in reads.iter().enumerate() {
                    let part = value_shape::<N>(v).iter().product::<usize>();
                    if let Some((o, l)) = dx_at(k) {
                        for s in 0..n {
                            for (d, g) in d_lo[o + s * l..][..l]
                                .iter_mut()
                                .zip(&dy_all[s * len + start..][..part])
                            {
                                *d += g;
                            }
                        }
                    }
                    start += part;
                }
            }
        }
    }
}
