//! ndarray interop.

use alloc::vec::Vec;

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::{Error, Network};

pub(crate) fn infer_batch<N: Network>(
    net: &N,
    batch: ArrayViewD<'_, f32>,
) -> Result<ArrayD<f32>, Error> {
    let shape = batch.shape();
    if shape.len() != N::INPUT_SHAPE.len() + 1 || &shape[1..] != N::INPUT_SHAPE {
        let mut expected = Vec::from([shape.first().copied().unwrap_or(1)]);
        expected.extend_from_slice(N::INPUT_SHAPE);
        return Err(Error::BatchShape {
            expected,
            found: shape.to_vec(),
        });
    }
    let n = shape[0];
    // A standard-layout view is used as it is; any other is copied once into row-major order.
    let owned;
    let input = match batch.as_slice() {
        Some(s) => s,
        None => {
            owned = batch.iter().copied().collect::<Vec<f32>>();
            &owned
        }
    };
    let output = net.infer_many(input)?;
    let mut out_shape = Vec::from([n]);
    out_shape.extend_from_slice(N::OUTPUT_SHAPE);
    ArrayD::from_shape_vec(IxDyn(&out_shape), output).map_err(|_| Error::OutputLength {
        expected: n * N::OUTPUT_LEN,
        found: 0,
    })
}
