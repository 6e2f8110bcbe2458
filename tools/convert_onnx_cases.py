#!/usr/bin/env python3
"""Converts the ONNX conformance cases that the cnn! language can express into tests.

    python3 tools/convert_onnx_cases.py         (needs onnx, numpy, safetensors)

Sources, both shipped in the `onnx` package:
- onnx/backend/test/data/pytorch-converted/: PyTorch modules exported to ONNX, with data;
- the operator cases that onnx.backend.test.case.node generates, for the operators the language
  has: Conv, MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, BatchNormalization, Gemm,
  Relu, Sigmoid, Tanh, LeakyRelu, Softmax, Flatten.

Writes, for each case it can express:
- tests/data/onnx/CASE.safetensors: the weights under the state_dict names of the declaration;
- tests/data/onnx/CASE.io.safetensors: `input` and `output`, the batch axis first;
- one entry of tests/suite/conformance_cases.rs: the declaration of the case as a network.
and tests/data/onnx/README.md: every case it cannot express, with the reason.
ONNX's axis 0 is the batch axis; a case whose input has no axis besides it cannot be expressed.
"""
import os

import numpy as np
import onnx
from onnx import numpy_helper
from safetensors.numpy import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "onnx")
RUST = os.path.join(ROOT, "tests", "suite", "conformance_cases.rs")
OPS = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization",
       "Gemm", "Relu", "Sigmoid", "Tanh", "LeakyRelu", "Softmax", "Flatten"}


class Skip(Exception):
    pass


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def size(values):
    """A size per spatial axis in the language: an integer when all agree, else a tuple."""
    values = [int(v) for v in values]
    if len(set(values)) == 1:
        return str(values[0])
    return "(" + ", ".join(map(str, values)) + ")"


def symmetric_pads(pads, dims, what):
    begin, end = pads[:dims], pads[dims:]
    if list(begin) != list(end):
        raise Skip(f"asymmetric {what} padding {list(pads)}: PyTorch pads both sides of an axis alike")
    return begin


def opset(model):
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=1)


def convert(model, feeds, output):
    """The declaration's entries and weights for a model, given its input values by name."""
    g = model.graph
    values = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    values.update(feeds)
    data = g.input[0].name
    x = feeds[data]
    if x.dtype != np.float32:
        raise Skip(f"input of type {x.dtype}: the networks compute in f32")
    if x.ndim < 2:
        raise Skip(f"input of shape {list(x.shape)}: axis 0 is the batch, so one sample would have no axes")
    rank = x.ndim
    entries, weights = [f"input: [{', '.join(map(str, x.shape[1:]))}]"], {}
    nodes = list(g.node)
    current = data
    i = 0
    n = 0
    while i < len(nodes):
        node = nodes[i]
        a = attrs(node)
        op = node.op_type
        n += 1
        name = f"l{n}"
        if node.input and node.input[0] != current and op not in ("Transpose",):
            raise Skip("not a chain of layers")
        # PyTorch exports AvgPool1d as Unsqueeze, AveragePool 2-d over (k, 1), Squeeze.
        if op == "Unsqueeze" and i + 2 < len(nodes) and nodes[i + 1].op_type == "AveragePool" \
                and nodes[i + 2].op_type == "Squeeze":
            p = attrs(nodes[i + 1])
            k, s = p["kernel_shape"][0], p.get("strides", [1, 1])[0]
            pad = symmetric_pads(p.get("pads", [0, 0, 0, 0]), 2, "pooling")[0]
            cip = "true" if p.get("count_include_pad", 0) else "false"
            entries.append(f"{name}: AvgPool1d({k}, stride = {s}, padding = {pad}, count_include_pad = {cip})")
            current = nodes[i + 2].output[0]
            i += 3
            continue
        # PyTorch exports Linear without bias as Transpose of the weight, then MatMul.
        if op == "Transpose" and i + 1 < len(nodes) and nodes[i + 1].op_type == "MatMul" \
                and node.input[0] in values and nodes[i + 1].input[0] == current:
            w = values[node.input[0]]
            if rank != 2:
                raise Skip("MatMul on more than a vector of features")
            weights[f"{name}.weight"] = w
            entries.append(f"{name}: Linear({w.shape[0]}, bias = false)")
            current = nodes[i + 1].output[0]
            i += 2
            continue
        if op not in OPS:
            raise Skip(f"operator `{op}` has no layer in the language")
        dims = rank - 2
        kind = {1: "1d", 2: "2d", 3: "3d"}.get(dims)
        if op == "Conv":
            w = values[node.input[1]]
            if kind is None:
                raise Skip(f"Conv on rank {rank}")
            k = a.get("kernel_shape", list(w.shape[2:]))
            s = a.get("strides", [1] * dims)
            d = a.get("dilations", [1] * dims)
            auto = a.get("auto_pad", b"NOTSET").decode()
            if auto == "SAME_UPPER" and all(v == 1 for v in s):
                padding = '"same"'
            elif auto in ("SAME_UPPER", "SAME_LOWER"):
                raise Skip(f"auto_pad {auto} with stride {list(s)}: PyTorch's padding=\"same\" needs stride 1")
            elif auto == "VALID":
                padding = "0"
            else:
                padding = size(symmetric_pads(a.get("pads", [0] * 2 * dims), dims, "convolution"))
            groups = a.get("group", 1)
            has_bias = len(node.input) > 2 and node.input[2] != ""
            weights[f"{name}.weight"] = w
            if has_bias:
                weights[f"{name}.bias"] = values[node.input[2]]
            entries.append(
                f"{name}: Conv{kind}({w.shape[0]}, {size(k)}, stride = {size(s)}, padding = {padding}, "
                f"dilation = {size(d)}, groups = {groups}, bias = {'true' if has_bias else 'false'})")
        elif op in ("MaxPool", "AveragePool"):
            if len(node.output) > 1:
                raise Skip("pooling that also returns indices: a network returns one tensor")
            if kind is None:
                raise Skip(f"{op} on rank {rank}")
            if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", b"VALID"):
                raise Skip(f"auto_pad {a['auto_pad'].decode()}: PyTorch's pooling has no \"same\" padding")
            if a.get("storage_order", 0):
                raise Skip("storage_order: only the row-major order exists here")
            k = a["kernel_shape"]
            s = a.get("strides", [1] * dims)
            pads = symmetric_pads(a.get("pads", [0] * 2 * dims), dims, "pooling")
            if any(p > kk // 2 for p, kk in zip(pads, k)):
                raise Skip(f"padding {list(pads)} over half the kernel {list(k)}: PyTorch refuses it")
            d = a.get("dilations", [1] * dims)
            ceil = "true" if a.get("ceil_mode", 0) else "false"
            if op == "MaxPool":
                entries.append(f"{name}: MaxPool{kind}({size(k)}, stride = {size(s)}, padding = {size(pads)}, "
                               f"dilation = {size(d)}, ceil_mode = {ceil})")
            else:
                if any(v != 1 for v in d):
                    raise Skip("dilated average pooling: PyTorch's AvgPool has no dilation")
                cip = "true" if a.get("count_include_pad", 0) else "false"
                entries.append(f"{name}: AvgPool{kind}({size(k)}, stride = {size(s)}, padding = {size(pads)}, "
                               f"ceil_mode = {ceil}, count_include_pad = {cip})")
        elif op in ("GlobalAveragePool", "GlobalMaxPool"):
            if kind is None:
                raise Skip(f"{op} on rank {rank}")
            layer = "AdaptiveAvgPool" if op == "GlobalAveragePool" else "AdaptiveMaxPool"
            entries.append(f"{name}: {layer}{kind}(1)")
        elif op == "BatchNormalization":
            if a.get("training_mode", 0):
                raise Skip("training_mode: batch statistics; inference uses the running statistics")
            if rank not in (2, 3, 4, 5):
                raise Skip(f"BatchNormalization on rank {rank}")
            scale, bias, mean, var = (values[t] for t in node.input[1:5])
            weights.update({f"{name}.weight": scale, f"{name}.bias": bias,
                            f"{name}.running_mean": mean, f"{name}.running_var": var})
            bn = {2: "1d", 3: "1d", 4: "2d", 5: "3d"}[rank]
            entries.append(f"{name}: BatchNorm{bn}(eps = {float(np.float32(a.get('epsilon', 1e-5)))!r})")
        elif op == "Gemm":
            if rank != 2:
                raise Skip("Gemm on more than a vector of features")
            if a.get("transA", 0):
                raise Skip("transA: the batch axis would be the one summed over")
            b = values[node.input[1]]
            w = b if a.get("transB", 0) else b.T
            alpha, beta = a.get("alpha", 1.0), a.get("beta", 1.0)
            out = w.shape[0]
            weights[f"{name}.weight"] = np.ascontiguousarray(w * np.float32(alpha), dtype=np.float32)
            has_bias = len(node.input) > 2 and node.input[2] != ""
            if has_bias:
                c = values[node.input[2]]
                if c.ndim == 2 and c.shape[0] != 1:
                    raise Skip(f"bias of shape {list(c.shape)}, one per sample: Linear's bias is one per feature")
                weights[f"{name}.bias"] = np.ascontiguousarray(
                    np.broadcast_to(c.reshape(-1), (out,)) * np.float32(beta), dtype=np.float32)
            entries.append(f"{name}: Linear({out}, bias = {'true' if has_bias else 'false'})")
        elif op in ("Relu", "Sigmoid", "Tanh"):
            entries.append({"Relu": "ReLU", "Sigmoid": "Sigmoid", "Tanh": "Tanh"}[op])
        elif op == "LeakyRelu":
            entries.append(f"LeakyReLU({float(np.float32(a.get('alpha', 0.01)))!r})")
        elif op == "Softmax":
            axis = a.get("axis", -1 if opset(model) >= 13 else 1)
            axis = axis + rank if axis < 0 else axis
            if axis == 0:
                raise Skip("softmax over axis 0, the batch axis")
            if opset(model) < 13 and axis != rank - 1:
                raise Skip("opset < 13 softmax over several flattened axes")
            entries.append(f"Softmax(dim = {axis})")
        elif op == "Flatten":
            axis = a.get("axis", 1)
            axis = axis + rank if axis < 0 else axis
            if axis != 1:
                raise Skip(f"Flatten at axis {axis}: the result's first axis would not be the batch")
            entries.append("Flatten")
            rank = 2
        current = node.output[0]
        i += 1
    if current != g.output[0].name:
        raise Skip("not a chain of layers")
    return entries, weights


def node_cases():
    from onnx.backend.test.case.node import collect_testcases

    for case in collect_testcases(None):
        if case.model is None:
            continue
        # The cases of the operators the language has: models made of those alone.
        if not all(n.op_type in OPS for n in case.model.graph.node):
            continue
        inputs, outputs = case.data_sets[0]
        feeds = {i.name: v for i, v in zip(case.model.graph.input, inputs)}
        yield case.name, case.model, feeds, outputs[0]


def converted_cases():
    base = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "pytorch-converted")
    for name in sorted(os.listdir(base)):
        model = onnx.load(os.path.join(base, name, "model.onnx"))
        data = os.path.join(base, name, "test_data_set_0")
        read = lambda f: numpy_helper.to_array(onnx.load_tensor(os.path.join(data, f)))
        inits = {i.name for i in model.graph.initializer}
        inputs = [i for i in model.graph.input if i.name not in inits]
        feeds = {inp.name: read(f"input_{k}.pb") for k, inp in enumerate(inputs)}
        yield name, model, feeds, read("output_0.pb")


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".safetensors"):
            os.remove(os.path.join(OUT, f))
    cases, skipped = [], []
    for source, gen in (("pytorch-converted", converted_cases()), ("node", node_cases())):
        for name, model, feeds, output in gen:
            try:
                entries, weights = convert(model, feeds, output)
            except Skip as why:
                skipped.append((source, name, str(why)))
                continue
            x = feeds[model.graph.input[0].name]
            save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()},
                      os.path.join(OUT, f"{name}.safetensors"))
            save_file({"input": np.ascontiguousarray(x, dtype=np.float32),
                       "output": np.ascontiguousarray(output, dtype=np.float32)},
                      os.path.join(OUT, f"{name}.io.safetensors"))
            cases.append((source, name, entries))
    with open(RUST, "w") as f:
        f.write("// @generated by tools/convert_onnx_cases.py from the onnx package's conformance cases; do not edit.\n\n")
        f.write("conformance! {\n")
        for source, name, entries in cases:
            f.write(f"    // {source}\n")
            f.write(f"    {name} => {{\n")
            for e in entries:
                f.write(f"        {e},\n")
            f.write("    }\n")
        f.write("}\n")
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write("# ONNX conformance cases\n\n")
        f.write("Made by `tools/convert_onnx_cases.py` from the `onnx` package "
                f"({onnx.__version__}): {len(cases)} cases run as tests "
                "(`tests/suite/conformance_cases.rs`); the cases below cannot be expressed in the "
                "language, and why.\n\n| source | case | why not |\n| --- | --- | --- |\n")
        for source, name, why in skipped:
            f.write(f"| {source} | `{name}` | {why} |\n")
    print(f"{len(cases)} cases converted, {len(skipped)} skipped")


if __name__ == "__main__":
    main()
