//! Convolutional networks declared in Rust, proved at compile time, run with kernels specialised
//! to their exact sizes.
//!
//! ```
//! use cnn::{Network, cnn};
//!
//! cnn! {
//!     /// A tiny classifier.
//!     #[budget(params <= 1_000, memory <= 4 KiB)]
//!     pub struct Tiny {
//!         input: [1, 8, 8],
//!         conv: Conv2d(4, 3, padding = 1),
//!         ReLU,
//!         MaxPool2d(2),
//!         Flatten,
//!         fc: Linear(10),
//!     }
//! }
//!
//! assert_eq!(Tiny::OUTPUT_SHAPE, &[10]);
//! assert_eq!(Tiny::PARAMS, 4 * 9 + 4 + 64 * 10 + 10);
//! ```
//!
//! See the README for the language: layers, arguments, budgets, and the errors it reports.
#![no_std]

// The generated code names the runtime `::cnn::__private`, in this crate too (the zoo).
extern crate self as cnn;

pub use cnn_macros::cnn;
pub use cnn_runtime::*;

#[cfg(feature = "zoo")]
pub mod zoo;
