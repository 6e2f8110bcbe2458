#!/usr/bin/env python3
"""Bad weight files for tests/suite/loader.rs, each with the exact error the loader must give.

    python3 tools/make_corrupt.py        (needs numpy and safetensors)

Writes tests/data/corrupt/NAME.safetensors and NAME.expected (the error's text) for the `Small`
network of tests/suite/loader.rs:

    input [2, 6, 6] -> conv: Conv2d(3, 3) -> bn: BatchNorm2d -> ReLU -> MaxPool2d(2) -> Flatten
    -> fc: Linear(4)

Every file starts from `good.safetensors`, which the safetensors package writes exactly as
`safetensors.torch.save_file(model.state_dict())` would (with PyTorch's `num_batches_tracked`);
the bad ones are truncated, corrupted, mistyped, mis-shaped, renamed, non-finite or adversarial
versions of it. The byte positions in the expected texts are computed here from the header, so
that they check where the loader says the problem is.
"""
import json
import os
import struct

import numpy as np
from safetensors.numpy import save

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "corrupt")

SHAPES = {
    "conv.weight": [3, 2, 3, 3],
    "conv.bias": [3],
    "bn.weight": [3],
    "bn.bias": [3],
    "bn.running_mean": [3],
    "bn.running_var": [3],
    "fc.weight": [4, 12],
    "fc.bias": [4],
}


def state_dict():
    out = {}
    for name, shape in SHAPES.items():
        n = int(np.prod(shape))
        if name.endswith("running_var"):
            v = np.linspace(0.5, 1.5, n)
        else:
            v = (np.arange(n) - n / 2) * 0.01
        out[name] = v.astype(np.float32).reshape(shape)
    out["bn.num_batches_tracked"] = np.array(7, dtype=np.int64)
    return out


def split(blob):
    n = struct.unpack("<Q", blob[:8])[0]
    return blob[8 : 8 + n], blob[8 + n :]


def join(header, data, n=None):
    """A file from a header (bytes) and data; `n` overrides the stated header length."""
    if n is None:
        n = len(header)
    return struct.pack("<Q", n) + header + data


def header_of(d):
    return json.dumps(d, separators=(",", ":")).encode()


def pad(header):
    return header + b" " * (-len(header) % 8)


def fmt(what, at):
    return f"not a valid safetensors file: {what} (at byte {at})"


def tensors(*problems):
    return "the weights do not fit the network:" + "".join(f"\n  - {p}" for p in problems)


def missing(name):
    shape = ", ".join(str(d) for d in SHAPES[name])
    return f"missing tensor `{name}` of shape [{shape}]"


def unexpected(name):
    return f"unexpected tensor `{name}`: no layer of the network has it"


def desc_at(header, name):
    """File offset of the `{` that opens `name`'s description."""
    key = json.dumps(name).encode() + b":"
    return 8 + header.index(key) + len(key)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    sd = state_dict()
    good = save(sd, metadata={"format": "pt"})
    h, data = split(good)
    meta = json.loads(h)
    cases = {}

    def case(name, blob, expected):
        assert name not in cases, name
        cases[name] = (blob, expected)

    def edited(edit, data=data, n=None):
        d = json.loads(h)
        edit(d)
        return join(pad(header_of(d)), data, n)

    # The reference: loads.
    with open(os.path.join(OUT, "good.safetensors"), "wb") as f:
        f.write(good)

    # --- Truncated and mis-sized.
    case("empty", b"", fmt("shorter than the 8-byte header length", 0))
    case("seven_bytes", good[:7], fmt("shorter than the 8-byte header length", 0))
    case("cut_in_header", good[: 8 + len(h) // 2], fmt("the header length runs past the end of the file", 0))
    last = max(meta, key=lambda k: meta[k]["data_offsets"][1] if k != "__metadata__" else -1)
    case("cut_in_data", good[:-4], fmt("a tensor's data runs past the end of the file", desc_at(h, last)))
    case("header_length_u64_max", join(h, data, 2**64 - 1), fmt("the header length runs past the end of the file", 0))
    case("header_length_2_63", join(h, data, 2**63), fmt("the header length runs past the end of the file", 0))
    case("header_length_one_over", join(h, data, len(h) + len(data) + 1), fmt("the header length runs past the end of the file", 0))
    case("header_length_zero", join(h, data, 0), fmt("the header is not a JSON object", 8))
    short = len(h.rstrip(b" ")) - 1
    case("header_length_short", join(h, data, short), fmt("expected `,` or `}`", 8 + short))
    case("text_file", b"this is not a safetensors file\n", fmt("the header length runs past the end of the file", 0))
    case("zeros", bytes(1024), fmt("the header is not a JSON object", 8))
    case("nul_header", join(bytes(16), b""), fmt("the header is not a JSON object", 8))
    case("blank_header", join(b" " * 16, b""), fmt("the header is not a JSON object", 24))

    # --- Corrupted header text.
    at = h.index(b"conv.weight")
    case("not_utf8", join(h[:at] + b"\xff" + h[at + 1 :], data), fmt("the header is not UTF-8", 8 + at))
    case("json_array", join(pad(b"[]"), b""), fmt("the header is not a JSON object", 8))
    case("unterminated_string", join(b'{"conv.weight', b""), fmt("unterminated string", 8 + 13))
    trailing = h.rstrip(b" ") + b"}   "
    case("text_after_object", join(trailing, data), fmt("text after the header's JSON object", 8 + len(h.rstrip(b" "))))
    at = h.index(b'"conv.weight"') + 5
    case("bad_escape", join(h[:at] + b"\\q" + h[at + 2 :], data), fmt("invalid escape in a string", 8 + at))
    case("lone_surrogate", join(h[:at] + b"\\ud800" + h[at + 6 :], data), fmt("lone surrogate in a string escape", 8 + at))
    case("control_character", join(h[:at] + b"\n" + h[at + 1 :], data), fmt("control character in a string", 8 + at))
    case(
        "deep_metadata",
        join(pad(b'{"__metadata__":{"a":' + b"[" * 1000 + b"]" * 1000 + b"}}"), b""),
        fmt("values nested too deeply", 8 + 21 + 127),
    )
    case(
        "metadata_not_object",
        edited(lambda d: d.__setitem__("__metadata__", ["format", "pt"])),
        fmt("`__metadata__` is not an object", 8 + len(b'{"__metadata__":')),
    )

    # --- Adversarial tensor descriptions.
    def tensor_edit(name, key, value):
        def edit(d):
            d[name][key] = value

        return edit

    def bad(name, key, value, what, where=None):
        blob = edited(tensor_edit("fc.weight", key, value))
        hh, _ = split(blob)
        at = desc_at(hh, "fc.weight") if where is None else 8 + where(hh)
        case(name, blob, fmt(what, at))

    bad("unknown_dtype", "dtype", "F31", "unknown dtype", lambda hh: hh.index(b'"F31"'))
    bad("offsets_reversed", "data_offsets", [8, 0], "a tensor's data ends before it begins")
    bad("offsets_past_end", "data_offsets", [0, 10**12], "a tensor's data runs past the end of the file")
    bad("offsets_u64_max", "data_offsets", [0, 2**64 - 1], "a tensor's data runs past the end of the file")
    bad("offsets_beyond_u64", "data_offsets", [0, 2**64], "a number too large", lambda hh: hh.index(b"18446744073709551616"))
    bad("shape_too_big_for_bytes", "shape", [4, 13], "a tensor's byte count is not what its dtype and shape make")
    bad("shape_product_overflows", "shape", [2**40, 2**40], "a tensor's byte count is not what its dtype and shape make")
    bad("shape_negative", "shape", [-4, 12], "expected a non-negative integer", lambda hh: hh.index(b"-4"))
    bad("shape_float", "shape", [4.0, 12], "expected an integer", lambda hh: hh.index(b"4.0"))
    bad("shape_string", "shape", "4x12", "`shape` is not an array", lambda hh: hh.index(b'"4x12"'))
    bad("rank_nine", "shape", [1] * 7 + [4, 12], "a shape of more than 8 dimensions", lambda hh: hh.index(b"1,1,1,1,1,1,1,4,12") + 16)
    bad("one_offset", "data_offsets", [0], "`data_offsets` needs two offsets", lambda hh: hh.index(b'"data_offsets":[0]') + 17)

    def drop_offsets(d):
        del d["fc.weight"]["data_offsets"]

    blob = edited(drop_offsets)
    case("no_offsets", blob, fmt("a tensor lacks `dtype`, `shape` or `data_offsets`", desc_at(split(blob)[0], "fc.weight")))
    dup = h.rstrip(b" ")[:-1] + b',"fc.bias":' + json.dumps(meta["fc.bias"], separators=(",", ":")).encode() + b"}"
    case("duplicate_tensor", join(pad(dup), data), tensors("tensor `fc.bias` appears more than once in the file"))

    # --- Valid files whose tensors do not fit the network.
    def saved(d):
        return save(d, metadata={"format": "pt"})

    case("no_tensors", join(pad(b"{}"), b""), tensors(*[missing(n) for n in SHAPES]))
    sd2 = dict(sd)
    del sd2["bn.running_var"]
    case("missing_tensor", saved(sd2), tensors(missing("bn.running_var")))
    sd2 = dict(sd, **{"fc.extra": np.zeros(2, np.float32)})
    case("unexpected_tensor", saved(sd2), tensors(unexpected("fc.extra")))
    # nn.DataParallel's prefix: every tensor missing, every tensor unexpected.
    sd2 = {"module." + k: v for k, v in sd.items()}
    case(
        "data_parallel_prefix",
        saved(sd2),
        tensors(*[missing(n) for n in SHAPES], *[unexpected("module." + n) for n in sorted(SHAPES)]),
    )
    sd2 = dict(sd, **{"fc.weight": sd["fc.weight"].T.copy()})
    case("transposed", saved(sd2), tensors("tensor `fc.weight` has shape [12, 4] but the layer needs [4, 12]"))
    sd2 = dict(sd, **{"conv.weight": sd["conv.weight"].astype(np.int32)})
    case("integer_weights", saved(sd2), tensors("tensor `conv.weight` has element type I32; only floating-point tensors (F32, F64, F16, BF16) load"))
    sd2 = dict(sd, **{"bn.weight": np.ones(3, np.bool_)})
    case("bool_weights", saved(sd2), tensors("tensor `bn.weight` has element type BOOL; only floating-point tensors (F32, F64, F16, BF16) load"))
    sd2 = dict(sd, **{"conv.weight": np.full((3, 2, 3, 3), np.nan, np.float32)})
    case("nan_filled", saved(sd2), tensors("tensor `conv.weight` has 54 values that are not finite in f32 (NaN, infinite, or beyond f32's range)"))
    v = sd["bn.running_var"].copy()
    v[1] = np.inf
    case("infinite_variance", saved(dict(sd, **{"bn.running_var": v})), tensors("tensor `bn.running_var` has 1 value that is not finite in f32 (NaN, infinite, or beyond f32's range)"))
    b = sd["fc.bias"].astype(np.float64)
    b[2] = 1e300
    case("f64_beyond_f32", saved(dict(sd, **{"fc.bias": b})), tensors("tensor `fc.bias` has 1 value that is not finite in f32 (NaN, infinite, or beyond f32's range)"))
    sd2 = {k: v for k, v in sd.items() if k not in ("conv.bias",)}
    sd2["bn.running_mean"] = np.zeros(4, np.float32)
    sd2["fc.bias"] = np.zeros(4, np.int32)
    sd2["head.weight"] = np.ones(1, np.float32)
    case(
        "many_problems",
        saved(sd2),
        tensors(
            missing("conv.bias"),
            "tensor `bn.running_mean` has shape [4] but the layer needs [3]",
            "tensor `fc.bias` has element type I32; only floating-point tensors (F32, F64, F16, BF16) load",
            unexpected("head.weight"),
        ),
    )

    for name, (blob, expected) in sorted(cases.items()):
        with open(os.path.join(OUT, f"{name}.safetensors"), "wb") as f:
            f.write(blob)
        with open(os.path.join(OUT, f"{name}.expected"), "w") as f:
            f.write(expected + "\n")
    print(f"{len(cases)} bad files and good.safetensors in {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
