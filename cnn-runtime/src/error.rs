use core::fmt;

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
    /// The weight file is not a valid safetensors file.
    #[cfg(feature = "alloc")]
    Format(String),
    /// The weight file is valid but its tensors do not fit the network; every problem is listed.
    #[cfg(feature = "alloc")]
    Tensors(Vec<TensorProblem>),
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
}

#[cfg(feature = "alloc")]
struct Shape<'a>(&'a [usize]);

#[cfg(feature = "alloc")]
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
            #[cfg(feature = "alloc")]
            Error::Format(msg) => write!(f, "not a valid safetensors file: {msg}"),
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
        match self {
            TensorProblem::Missing { name, shape } => {
                write!(f, "missing tensor `{name}` of shape {}", Shape(shape))
            }
            TensorProblem::Unexpected { name } => {
                write!(
                    f,
                    "unexpected tensor `{name}`: no layer of the network has it"
                )
            }
            TensorProblem::Shape {
                name,
                expected,
                found,
            } => write!(
                f,
                "tensor `{name}` has shape {} but the layer needs {}",
                Shape(found),
                Shape(expected)
            ),
            TensorProblem::Dtype { name, found } => write!(
                f,
                "tensor `{name}` has element type {found}; only floating-point tensors (F32, F64, F16, BF16) load"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
