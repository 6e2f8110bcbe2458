//! Training: [`Trainer`] runs a generated network's forward and backward passes over a batch
//! and steps an optimiser; and what training needs besides gradients, as PyTorch defines it: losses with their gradients,
//! optimisers, learning-rate schedules. Everything works on flat `f32` slices and state the
//! caller owns, so it runs without an allocator.
//!
//! Each follows PyTorch's formula, operation for operation where the order changes the rounding
//! (`torch.optim.SGD`, `Adam` and `AdamW` in their single-tensor form; `nn.CrossEntropyLoss` with
//! `label_smoothing`; `nn.MSELoss`; `lr_scheduler.StepLR` and `CosineAnnealingLR`), and the tests
//! compare step by step with PyTorch (`tools/make_train_golden.py`).

mod augment;
mod init;
mod loss;
mod math;
mod optim;
mod rng;
mod trainer;

pub use augment::{gaussian_noise, hflip, random_crop, random_hflip, shift};
pub use init::init_weights;
pub use loss::{cross_entropy, mse};
pub use optim::{Adam, Sgd, cosine_lr, step_lr};
pub use rng::Rng;
pub use trainer::{Optimizer, Train, TrainLayout, Trainer};

#[cfg(test)]
mod tests;
