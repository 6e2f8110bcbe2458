//! The ONNX conformance cases the language can express (`tools/convert_onnx_cases.py`; the ones
//! it cannot are listed with the reason in `tests/data/onnx/README.md`): each case's operator as a
//! network, its weights and data, and the output the ONNX reference computed.

use cnn::{Network, Weights};

use crate::common::{assert_close, data_path, read_tensor};

/// Runs the case `name` (data under `tests/data/onnx/`) on network `N`.
fn run_case<N: Network>(name: &str) {
    let net = if N::TENSORS.is_empty() {
        N::from_weights(Weights::Owned(vec![0.0; N::WEIGHTS_LEN])).expect("an empty weight buffer")
    } else {
        let bytes =
            std::fs::read(data_path(&format!("onnx/{name}.safetensors"))).expect("case weights");
        N::from_safetensors(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let io = format!("onnx/{name}.io.safetensors");
    let (shape, input) = read_tensor(&io, "input");
    assert_eq!(&shape[1..], N::INPUT_SHAPE, "{name}: input shape");
    let (out_shape, want) = read_tensor(&io, "output");
    assert_eq!(&out_shape[1..], N::OUTPUT_SHAPE, "{name}: output shape");
    let got = net.infer_many(&input).expect("a whole batch");
    assert_close(&got, &want, 1e-4, name);
}

macro_rules! conformance {
    ($($(#[$meta:meta])* $case:ident => { $($body:tt)* })*) => {$(
        #[test]
        #[allow(non_snake_case)]
        $(#[$meta])*
        fn $case() {
            cnn::cnn! { struct Net { $($body)* } }
            run_case::<Net>(stringify!($case));
        }
    )*};
}

include!("conformance_cases.rs");
