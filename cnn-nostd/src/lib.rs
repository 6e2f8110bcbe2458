//! LeNet-5 on a device: a `#![no_std]` library without an allocator. The weights, trained in
//! PyTorch and saved with `safetensors.torch.save_file`, are embedded with `include_bytes!` and
//! checked and copied once into a buffer the caller provides; the activations live in an arena
//! the caller provides. `cargo build -p cnn-nostd` (in `.ci/run`) proves that the runtime and
//! the generated code need neither `std` nor `alloc`; the tests run it against PyTorch's outputs.
//!
//! On a device the two buffers are `static`s, for instance with the `static_cell` crate:
//! `StaticCell::<[f32; WEIGHTS_LEN]>::new().init([0.0; WEIGHTS_LEN])`.
#![no_std]

use cnn::{Error, Network, cnn};

cnn! {
    /// LeNet-5 (LeCun et al., 1998) for 28×28 grayscale digits.
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

/// The weight file, in the program's read-only data (flash on a microcontroller).
pub static WEIGHTS_FILE: &[u8] = include_bytes!("../../tests/data/golden/lenet5.safetensors");

/// Values of the weight buffer [`load`] fills.
pub const WEIGHTS_LEN: usize = <LeNet5 as Network>::WEIGHTS_LEN;

/// Values of the activation arena [`classify`] uses.
pub const ARENA_LEN: usize = <LeNet5 as Network>::ARENA_LEN;

/// Checks the embedded weight file and copies its tensors into `buffer` (the file's bytes are
/// not aligned for `f32`, and the network adds values derived from the tensors).
///
/// # Errors
/// What [`Network::from_safetensors_in`] returns for a file that does not fit the network.
pub fn load(buffer: &'static mut [f32; WEIGHTS_LEN]) -> Result<LeNet5, Error> {
    LeNet5::from_safetensors_in(WEIGHTS_FILE, buffer)
}

/// Classifies one digit (784 values, the 28×28 image row by row): the index of the largest of
/// LeNet-5's ten scores, which are written to `scores`.
///
/// # Errors
/// [`Error::InputLength`] if `image` does not hold 784 values.
pub fn classify(
    net: &LeNet5,
    image: &[f32],
    scores: &mut [f32; 10],
    arena: &mut [f32; ARENA_LEN],
) -> Result<usize, Error> {
    net.forward(image, scores, arena)?;
    Ok((0..10).fold(0, |best, i| if scores[i] > scores[best] { i } else { best }))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::{boxed::Box, vec::Vec};

    use super::*;

    fn tensor(file: &safetensors::SafeTensors<'_>, name: &str) -> Vec<f32> {
        let view = file.tensor(name).expect("in the golden file");
        view.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    /// The embedded weights give PyTorch's scores (`tools/make_golden.py`) on its 20 digits.
    #[test]
    fn the_device_build_gives_pytorch_s_outputs() {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/golden/lenet5.io.safetensors"
        ))
        .expect("the golden outputs");
        let file = safetensors::SafeTensors::deserialize(&bytes).expect("a safetensors file");
        let (inputs, outputs) = (tensor(&file, "input"), tensor(&file, "output"));
        let net = load(Box::leak(Box::new([0.0; WEIGHTS_LEN]))).expect("the embedded weights load");
        let mut arena = [0.0; ARENA_LEN];
        for (x, want) in inputs.chunks_exact(784).zip(outputs.chunks_exact(10)) {
            let mut scores = [0.0; 10];
            let best = classify(&net, x, &mut scores, &mut arena).expect("784 values");
            for (g, w) in scores.iter().zip(want) {
                assert!(
                    (g - w).abs() <= 1e-4 * w.abs().max(1.0),
                    "{scores:?} vs {want:?}"
                );
            }
            let want_best = (0..10).fold(0, |b, i| if want[i] > want[b] { i } else { b });
            assert_eq!(best, want_best);
        }
        assert_eq!(
            classify(&net, &[0.0; 783], &mut [0.0; 10], &mut arena),
            Err(Error::InputLength {
                expected: 784,
                found: 783
            })
        );
    }
}
