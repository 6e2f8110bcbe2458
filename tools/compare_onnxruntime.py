#!/usr/bin/env python3
"""Times the criterion benchmarks' networks in ONNX Runtime in the same run, and prints medians
and ratios.

    python3 tools/compare_onnxruntime.py      (needs onnx, onnxruntime, numpy, safetensors)

It builds each network as an ONNX graph with the same weights and input, checks that ONNX
Runtime's output equals cnn's reference data, times ONNX Runtime on one thread (batch 1, median
of many runs), then runs `cargo bench` for the same networks and reads criterion's medians.
"""
import json
import os
import statistics
import subprocess
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def lenet5():
    w = load_file(os.path.join(ROOT, "tests/data/golden/lenet5.safetensors"))
    io = load_file(os.path.join(ROOT, "tests/data/golden/lenet5.io.safetensors"))
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "conv1.weight", "conv1.bias"], ["c1"], kernel_shape=[5, 5], pads=[2, 2, 2, 2]),
        n("Relu", ["c1"], ["r1"]),
        n("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        n("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], kernel_shape=[5, 5]),
        n("Relu", ["c2"], ["r2"]),
        n("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        n("Flatten", ["p2"], ["f"]),
        n("Gemm", ["f", "fc1.weight", "fc1.bias"], ["g1"], transB=1),
        n("Relu", ["g1"], ["h1"]),
        n("Gemm", ["h1", "fc2.weight", "fc2.bias"], ["g2"], transB=1),
        n("Relu", ["g2"], ["h2"]),
        n("Gemm", ["h2", "fc3.weight", "fc3.bias"], ["y"], transB=1),
    ]
    x = io["input"][:1]
    return "lenet5/batch1", nodes, w, x, io["output"][:1], [1, 10]


def conv3x3():
    def values(count, seed):
        # The generator of benches/conv3x3.rs.
        out = np.empty(count, dtype=np.float32)
        s = seed
        for i in range(count):
            s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
            out[i] = (s >> 8) / float(1 << 23) - 1.0
        return out

    wb = values(64 * 64 * 9 + 64, 1)
    w = {"conv.weight": wb[: 64 * 64 * 9].reshape(64, 64, 3, 3), "conv.bias": wb[64 * 64 * 9:]}
    x = values(64 * 56 * 56, 2).reshape(1, 64, 56, 56)
    nodes = [helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])]
    return "conv3x3/c64_56x56_p1", nodes, w, x, None, [1, 64, 56, 56]


def session(nodes, weights, x, out_shape):
    graph = helper.make_graph(
        nodes, "net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        [numpy_helper.from_array(np.ascontiguousarray(v), k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def median_seconds(run, budget=3.0):
    for _ in range(20):
        run()
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < budget or len(times) < 50:
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def criterion_median(bench_id):
    path = os.path.join(ROOT, "target", "criterion", bench_id, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"] * 1e-9


def main():
    cases = [lenet5(), conv3x3()]
    ort_times = {}
    for bench_id, nodes, w, x, want, out_shape in cases:
        sess = session(nodes, w, x, out_shape)
        y = sess.run(None, {"x": x})[0]
        if want is not None:
            assert np.allclose(y, want, rtol=1e-4, atol=1e-4), f"{bench_id}: ONNX Runtime disagrees with the reference"
        ort_times[bench_id] = median_seconds(lambda: sess.run(None, {"x": x}))
    subprocess.run(["cargo", "bench", "--bench", "lenet5", "--bench", "conv3x3"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    print(f"ONNX Runtime {ort.__version__}, one thread, batch 1; medians")
    print(f"| benchmark | cnn | ONNX Runtime | cnn / ONNX Runtime |")
    print(f"| --- | --- | --- | --- |")
    for bench_id, *_ in cases:
        ours, theirs = criterion_median(bench_id), ort_times[bench_id]
        print(f"| {bench_id} | {fmt(ours)} | {fmt(theirs)} | {ours / theirs:.2f}x |")


def fmt(seconds):
    return f"{seconds * 1e6:.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


if __name__ == "__main__":
    main()
