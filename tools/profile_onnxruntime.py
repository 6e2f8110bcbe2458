#!/usr/bin/env python3
"""ONNX Runtime's time per node on one of the comparison's networks (one thread, batch 1): the
median over the runs of each node's kernel time, to set beside the kernels' benchmarks.

    python3 tools/profile_onnxruntime.py resnet50/batch1 [runs]

Needs what `compare_onnxruntime.py` needs for the zoo networks (torch with torchvision). The
network, its weights and input are the comparison's (`torch_model`); ONNX Runtime writes its
profile (JSON) to the system's temporary directory.
"""
import collections
import io
import json
import os
import sys
import tempfile

import onnxruntime as ort
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_onnxruntime as compare  # noqa: E402


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "resnet50/batch1"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    model, x = compare.torch_model(name)
    onnx_bytes = io.BytesIO()
    torch.onnx.export(model, x, onnx_bytes, dynamo=False, opset_version=17)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.enable_profiling = True
    opts.profile_file_prefix = os.path.join(tempfile.gettempdir(), "onnxruntime_profile")
    sess = ort.InferenceSession(onnx_bytes.getvalue(), opts, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x.numpy()}
    for _ in range(runs):
        sess.run(None, feed)
    with open(sess.end_profiling()) as f:
        events = json.load(f)
    times = collections.defaultdict(list)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            times[e["name"][: -len("_kernel_time")]].append(e["dur"])
    medians = {node: sorted(t)[len(t) // 2] for node, t in times.items()}
    print(f"{name}: ONNX Runtime {ort.__version__}, one thread, median of {runs} runs per node")
    print(f"sum of the nodes' medians: {sum(medians.values())} µs")
    for node, t in medians.items():
        print(f"{node:60s} {t:8d} µs")


if __name__ == "__main__":
    main()
