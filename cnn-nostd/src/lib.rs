//! A `#![no_std]` library without an allocator that declares LeNet-5 and runs it on buffers its
//! caller provides. `cargo build -p cnn-nostd` (in `.ci/run`) proves that the runtime and the
//! generated code need neither `std` nor `alloc`.
#![no_std]

use cnn::{Error, Network, Weights, cnn};

cnn! {
    /// LeNet-5 for 28×28 grayscale digits.
    #[budget(params <= 62_000, memory <= 32 KiB)]
    pub struct LeNet5 {
        input: [1, 28, 28],
        conv1: Conv2d(6, 5, padding = 2),
        ReLU,
        pool1: MaxPool2d(2),
        conv2: Conv2d(16, 5),
        ReLU,
        pool2: MaxPool2d(2),
        Flatten,
        fc1: Linear(120),
        ReLU,
        fc2: Linear(84),
        ReLU,
        fc3: Linear(10),
    }
}

/// Classifies one digit: the index of the largest of LeNet-5's ten outputs.
///
/// # Errors
/// [`Error::WeightsLength`] if `weights` does not hold `LeNet5::WEIGHTS_LEN` values;
/// [`Error::InputLength`] if `image` does not hold 784.
pub fn classify(weights: &'static mut [f32], image: &[f32]) -> Result<usize, Error> {
    let net = LeNet5::from_weights(Weights::Borrowed(weights))?;
    let mut arena = [0.0f32; LeNet5::ARENA_LEN];
    let mut scores = [0.0f32; 10];
    net.forward(image, &mut scores, &mut arena)?;
    Ok((0..10).fold(0, |best, i| if scores[i] > scores[best] { i } else { best }))
}
