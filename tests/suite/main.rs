//! The test suite, one binary: the generated code against the reference implementation and
//! against PyTorch, the ONNX conformance cases, the loader, and the compile errors (trybuild).

mod common;
mod conformance;
mod golden;
mod grad;
mod layers;
mod loader;
mod train;
mod trainer;
mod ui;
#[cfg(feature = "zoo")]
mod zoo;
