use core::fmt;

use crate::Dims;

#[cfg(feature = "alloc")]
use alloc::{string::String, vec::Vec};

/// What went wrong while loading weights or running a network.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The input slice does not hold one input of the network.
    InputLength { expected: usize, found: usize },
    /// The output slice does not hold one output of the network.
    OutputLength { expected: usize, found: usize },
    /// The arena given to `forward` is smaller than `Network::ARENA_LEN`.
    ArenaTooSmall { expected: usize, found: usize },
    /// The weight buffer given to `from_weights` does not have `Network::WEIGHTS_LEN` entries.
    WeightsLength { expected: usize, found: usize },
    /// The batch given to a batched call has the wrong shape.
    #[cfg(feature = "alloc")]
    BatchShape {
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// The weight file is not a valid safetensors file: what is wrong, and the byte of the file
    /// where the reader found it.
    Format { what: &'static str, at: usize },
    /// The weight file is valid but its tensors do not fit the network; every problem is listed.
    #[cfg(feature = "alloc")]
    Tensors(Vec<TensorProblem>),
    /// The weight file is valid but a tensor does not fit the network: the first problem, as
    /// the loader that needs no allocator (`Network::from_safetensors_in`) reports it.
    Tensor(Fault),
    /// A trainer was asked to freeze `frozen` layers of a network of `layers`: nothing would
    /// train.
    NothingToTrain { frozen: usize, layers: usize },
    /// A training batch of `found` samples: a trainer takes 1 to `max` (the batch it was made
    /// for).
    TrainBatch { max: usize, found: usize },
}

/// One tensor of a weight file that does not fit the network.
#[cfg(feature = "alloc")]
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TensorProblem {
    /// The network needs this tensor and the file lacks it.
    Missing { name: String, shape: Vec<usize> },
    /// The file has a tensor the network does not know.
    Unexpected { name: String },
    /// The tensor has another shape than the layer needs.
    Shape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// The tensor's element type cannot be converted to `f32`.
    Dtype { name: String, found: String },
    /// The tensor holds values that are not finite numbers in `f32` (NaN, infinities, or `f64`
    /// values beyond `f32`'s range): `count` of them.
    NonFinite { name: String, count: usize },
    /// The file names the tensor more than once.
    Duplicate { name: String },
}

/// A tensor of a weight file that does not fit the network, without an allocator: names are the
/// network's; an unexpected tensor is located by the byte of the file where its name starts.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// The network needs this tensor and the file lacks it.
    Missing {
        name: &'static str,
        shape: &'static [usize],
    },
    /// The file has a tensor the network does not know; its name starts at byte `at`.
    Unexpected { at: usize },
    /// The tensor has another shape than the layer needs.
    Shape {
        name: &'static str,
        expected: &'static [usize],
        found: Dims,
    },
    /// The tensor's element type cannot be converted to `f32`.
    Dtype {
        name: &'static str,
        found: &'static str,
    },
    /// The tensor holds `count` values that are not finite numbers in `f32`.
    NonFinite { name: &'static str, count: usize },
    /// The file names the tensor more than once.
    Duplicate { name: &'static str },
}

/// What [`TensorProblem`] and [`Fault`] say, from either.
enum Said<'a> {
    Missing(&'a str, &'a [usize]),
    Unexpected(&'a dyn fmt::Display),
    Shape(&'a str, &'a [usize], &'a [usize]),
    Dtype(&'a str, &'a str),
    NonFinite(&'a str, usize),
    Duplicate(&'a str),
}

impl fmt::Display for Said<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Said::Missing(name, shape) => {
                write!(f, "missing tensor `{name}` of shape {}", Shape(shape))
            }
            Said::Unexpected(which) => {
                write!(
                    f,
                    "unexpected tensor {which}: no layer of the network has it"
                )
            }
            Said::Shape(name, expected, found) => write!(
                f,
                "tensor `{name}` has shape {} but the layer needs {}",
                Shape(found),
                Shape(expected)
            ),
            Said::Dtype(name, found) => write!(
                f,
                "tensor `{name}` has element type {found}; only floating-point tensors (F32, F64, F16, BF16) load"
            ),
            Said::NonFinite(name, count) => write!(
                f,
                "tensor `{name}` has {count} value{} that {} not finite in f32 (NaN, infinite, or beyond f32's range)",
                if count == 1 { "" } else { "s" },
                if count == 1 { "is" } else { "are" }
            ),
            Said::Duplicate(name) => {
                write!(f, "tensor `{name}` appears more than once in the file")
            }
        }
    }
}

pub(crate) struct Shape<'a>(pub &'a [usize]);

impl fmt::Display for Shape<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InputLength { expected, found } => write!(
                f,
                "input has {found} values but the network takes {expected}"
            ),
            Error::OutputLength { expected, found } => write!(
                f,
                "output buffer has {found} values but the network produces {expected}"
            ),
            Error::ArenaTooSmall { expected, found } => write!(
                f,
                "arena has {found} values but the network needs {expected}"
            ),
            Error::WeightsLength { expected, found } => write!(
                f,
                "weight buffer has {found} values but the network needs {expected}"
            ),
            #[cfg(feature = "alloc")]
            Error::BatchShape { expected, found } => write!(
                f,
                "batch has shape {} but the network takes {} (a leading batch axis, then the input shape)",
                Shape(found),
                Shape(expected)
            ),
            Error::Format { what, at } => {
                write!(f, "not a valid safetensors file: {what} (at byte {at})")
            }
            Error::Tensor(fault) => write!(f, "the weights do not fit the network: {fault}"),
            Error::NothingToTrain { frozen, layers } => write!(
                f,
                "{frozen} frozen layers of {layers}: the last layer must train"
            ),
            Error::TrainBatch { max, found } => write!(
                f,
                "a training batch of {found} samples; this trainer takes 1 to {max}"
            ),
            #[cfg(feature = "alloc")]
            Error::Tensors(problems) => {
                write!(f, "the weights do not fit the network:")?;
                for p in problems {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(feature = "alloc")]
impl fmt::Display for TensorProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted;
        match self {
            TensorProblem::Missing { name, shape } => Said::Missing(name, shape),
            TensorProblem::Unexpected { name } => {
                quoted = alloc::format!("`{name}`");
                Said::Unexpected(&quoted)
            }
            TensorProblem::Shape {
                name,
                expected,
                found,
            } => Said::Shape(name, expected, found),
            TensorProblem::Dtype { name, found } => Said::Dtype(name, found),
            TensorProblem::NonFinite { name, count } => Said::NonFinite(name, *count),
            TensorProblem::Duplicate { name } => Said::Duplicate(name),
        }
        .fmt(f)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at;
        match *self {
            Fault::Missing { name, shape } => Said::Missing(name, shape),
            Fault::Unexpected { at: byte } => {
                at = ByteAt(byte);
                Said::Unexpected(&at)
            }
            Fault::Shape {
                name,
                expected,
                ref found,
            } => Said::Shape(name, expected, found.as_slice()),
            Fault::Dtype { name, found } => Said::Dtype(name, found),
            Fault::NonFinite { name, count } => Said::NonFinite(name, count),
            Fault::Duplicate { name } => Said::Duplicate(name),
        }
        .fmt(f)
    }
}

/// An unexpected tensor's place, where its name cannot be kept.
struct ByteAt(usize);

impl fmt::Display for ByteAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(its name at byte {})", self.0)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
