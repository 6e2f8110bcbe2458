use alloc::{format, string::String, vec, vec::Vec};

use super::header::Header;
use super::{f16_to_f32, read_safetensors, read_safetensors_into, write_safetensors};
use crate::{Error, Fault, TensorProblem, TensorSpec};

#[test]
fn f16_conversion_matches_known_values() {
    assert_eq!(f16_to_f32(0x3c00), 1.0);
    assert_eq!(f16_to_f32(0xc000), -2.0);
    assert_eq!(f16_to_f32(0x7bff), 65504.0);
    assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
    assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
    assert!(f16_to_f32(0x7c00).is_infinite());
    assert!(f16_to_f32(0x7e00).is_nan());
}

/// A file with header `json` and `data` after it.
fn file(json: &str, data: &[u8]) -> Vec<u8> {
    let mut f = (json.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(json.as_bytes());
    f.extend_from_slice(data);
    f
}

const SPECS: &[TensorSpec] = &[
    TensorSpec {
        name: "w",
        shape: &[2],
        offset: 0,
    },
    TensorSpec {
        name: "b",
        shape: &[1],
        offset: 2,
    },
];

fn values(bytes: &[u8]) -> Result<Vec<f32>, Error> {
    read_safetensors(bytes, SPECS, 3)
}

fn data() -> Vec<u8> {
    [1.0f32, 2.0, 3.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

#[test]
fn json_escapes_and_layout_are_read() {
    // Escaped names, fields in any order, unknown fields and metadata skipped, whitespace.
    let json = r#" { "__metadata__" : {"format": "pt", "nested": {"a": [1, -2.5e3, true, null]}},
        "\u0077" : {"shape": [2], "extra": {"x": [[]]}, "dtype": "F32", "data_offsets": [0, 8]},
        "b": {"data_offsets": [8,12], "dtype": "F32", "shape": [1]} }   "#;
    assert_eq!(values(&file(json, &data())), Ok(vec![1.0, 2.0, 3.0]));
}

#[test]
fn surrogate_pairs_decode() {
    let json = r#"{"w\ud83d\ude00":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#;
    let Err(Error::Tensors(problems)) = values(&file(json, &data())) else {
        panic!("the emoji name is not `w`");
    };
    assert_eq!(
        problems[1],
        TensorProblem::Unexpected {
            name: String::from("w\u{1f600}")
        }
    );
}

/// Each malformed header, with the reason the reader gives and the byte it points at.
#[test]
fn malformed_headers_say_what_and_where() {
    let cases: &[(&str, &str)] = &[
        ("[]", "the header is not a JSON object"),
        ("{", "expected a string"),
        (r#"{"w" 1}"#, "expected `:`"),
        (
            r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#,
            "expected `,` or `}`",
        ),
        (
            r#"{"w":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}"#,
            "unknown dtype",
        ),
        (
            r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#,
            "a tensor's data ends before it begins",
        ),
        (
            r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,800]}}"#,
            "a tensor's data runs past the end of the file",
        ),
        (
            r#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
            "a tensor's byte count is not what its dtype and shape make",
        ),
        (
            r#"{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#,
            "expected a non-negative integer",
        ),
        (
            r#"{"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#,
            "expected an integer",
        ),
        (
            r#"{"w":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}"#,
            "a number too large",
        ),
        (
            r#"{"w":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,2],"data_offsets":[0,8]}}"#,
            "a shape of more than 8 dimensions",
        ),
        (
            r#"{"w":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
            "`dtype` given twice",
        ),
        (
            r#"{"w":{"dtype":"F32","data_offsets":[0,8]}}"#,
            "a tensor lacks `dtype`, `shape` or `data_offsets`",
        ),
        (
            r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#,
            "`data_offsets` needs two offsets",
        ),
        (
            r#"{"w":{}}"#,
            "a tensor lacks `dtype`, `shape` and `data_offsets`",
        ),
        (r#"{"w":"F32"}"#, "a tensor's description is not an object"),
        (r#"{"__metadata__":[]}"#, "`__metadata__` is not an object"),
        (r#"{"w\x":1}"#, "invalid escape in a string"),
        (r#"{"w\ud800":1}"#, "lone surrogate in a string escape"),
        (r#"{"w\u12":1}"#, "invalid unicode escape"),
        ("{\"w\n\":1}", "control character in a string"),
        (
            r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":[1 2]}}"#,
            "expected `,` or `]`",
        ),
        (
            r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":tru}}"#,
            "expected a value",
        ),
        (
            r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1.2.3}}"#,
            "invalid number",
        ),
        (r#"{} {}"#, "text after the header's JSON object"),
        (r#"{"unterminated"#, "unterminated string"),
    ];
    for (json, what) in cases {
        match values(&file(json, &data())) {
            Err(Error::Format { what: w, at }) => {
                assert_eq!(w, *what, "{json}");
                assert!((8..=8 + json.len()).contains(&at), "{json}: at {at}");
            }
            other => panic!("{json}: {other:?}"),
        }
    }
    let deep = format!(
        "{{\"__metadata__\":{{\"a\":{}{}}}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    assert!(matches!(
        values(&file(&deep, &[])),
        Err(Error::Format {
            what: "values nested too deeply",
            ..
        })
    ));
}

#[test]
fn the_header_length_is_checked_before_use() {
    assert_eq!(
        values(&[1, 2, 3]),
        Err(Error::Format {
            what: "shorter than the 8-byte header length",
            at: 0
        })
    );
    let mut f = file("{}", &[]);
    f[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(
        values(&f),
        Err(Error::Format {
            what: "the header length runs past the end of the file",
            at: 0
        })
    );
    let f = file("{\"\u{ff}\":1}", &[]);
    let mut bad = f.clone();
    bad[11] = 0xff;
    assert!(matches!(
        values(&bad),
        Err(Error::Format {
            what: "the header is not UTF-8",
            at: 10
        })
    ));
    assert!(Header::parse(&file("{}", &[])).is_ok());
}

#[test]
fn the_reader_without_an_allocator_reports_the_first_problem() {
    static SPECS_STATIC: &[TensorSpec] = SPECS;
    let json = r#"{"w":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},"zz":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#;
    let mut dst = [0.0; 3];
    assert_eq!(
        read_safetensors_into(&file(json, &data()), SPECS_STATIC, &mut dst),
        Err(Error::Tensor(Fault::Dtype {
            name: "w",
            found: "I32"
        }))
    );
    let json = r#"{"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"zz":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#;
    let f = file(json, &data());
    let at = 8 + json.find("\"zz\"").expect("in the header");
    assert_eq!(
        read_safetensors_into(&f, SPECS_STATIC, &mut dst),
        Err(Error::Tensor(Fault::Unexpected { at }))
    );
    assert_eq!(
        read_safetensors_into(&f, SPECS_STATIC, &mut [0.0; 2]),
        Err(Error::WeightsLength {
            expected: 3,
            found: 2
        })
    );
}

#[test]
fn what_is_written_reads_back() {
    let weights = [0.5, -1.25, f32::MIN_POSITIVE];
    let f = write_safetensors(SPECS, &weights).expect("room");
    assert_eq!(values(&f), Ok(weights.to_vec()));
    // Tensors sorted by name, header padded to 8 bytes, as safetensors writes them.
    let n = u64::from_le_bytes(f[..8].try_into().expect("8 bytes")) as usize;
    assert_eq!(n % 8, 0);
    let json = core::str::from_utf8(&f[8..8 + n]).expect("UTF-8");
    assert!(json.find("\"b\"") < json.find("\"w\""), "{json}");
    assert!(write_safetensors(SPECS, &weights[..2]).is_none());
}
