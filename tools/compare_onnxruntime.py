#!/usr/bin/env python3
"""Times the criterion benchmarks' networks in ONNX Runtime, tract and candle in the same run,
and prints medians and ratios.

    python3 tools/compare_onnxruntime.py      (needs onnx, onnxruntime, numpy, safetensors, and
                                               torch with torchvision for the zoo networks)
    python3 tools/compare_onnxruntime.py --no-rust-engines     (ONNX Runtime only)
    python3 tools/compare_onnxruntime.py --no-rust-engines --rounds 3     (each pair of timings
                                               three times over: the machine drifts)
    python3 tools/compare_onnxruntime.py --batch-only --rounds 3     (batch 32 on 2 threads only)

It builds each network as an ONNX graph with the same weights and input, checks that ONNX
Runtime's output equals cnn's reference data (or PyTorch's), then, network by network, times
ONNX Runtime on one thread (batch 1, median of many runs) and right after it runs cnn's
criterion benchmark of the same network (built beforehand) and reads its median: the machine's
speed drifts by tens of percent within minutes, and the two timings of a pair drift together.
The graphs, weights, inputs and expected outputs go to `target/compare/`, where `compare/` (a
crate of its own, outside the workspace) runs tract on the same ONNX graphs and candle on the same
networks written with candle-nn, each checked and timed the same way.
"""
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
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
    """The 3×3 layer of benches/kernels.rs, with its synthetic weights and input."""
    from make_zoo_golden import synthetic, uniform

    w = {name: synthetic(name, shape).numpy() for name, shape in
         (("conv.weight", [64, 64, 3, 3]), ("conv.bias", [64]))}
    x = (2.0 * uniform("input", 64 * 56 * 56) - 1.0).astype(np.float32).reshape(1, 64, 56, 56)
    nodes = [helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])]
    return "conv3x3/c64_56x56_p1", nodes, w, x, None, [1, 64, 56, 56]


def torch_model(name):
    """A zoo network in PyTorch with the synthetic weights of benches/zoo.rs, and its input."""
    import torch
    import torch.nn as nn
    import torchvision.models as tvm

    from make_zoo_golden import synthetic, uniform

    class Basic(nn.Module):
        def __init__(self, inp, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or inp != planes:
                self.downsample = nn.Sequential(nn.Conv2d(inp, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

        def forward(self, x):
            y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return torch.relu(y + (x if self.downsample is None else self.downsample(x)))

    class ResNet20(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            self.relu = nn.ReLU()
            self.layer1 = nn.Sequential(Basic(16, 16, 1), Basic(16, 16, 1), Basic(16, 16, 1))
            self.layer2 = nn.Sequential(Basic(16, 32, 2), Basic(32, 32, 1), Basic(32, 32, 1))
            self.layer3 = nn.Sequential(Basic(32, 64, 2), Basic(64, 64, 1), Basic(64, 64, 1))
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            x = self.layer3(self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x))))))
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    model, shape = {
        "resnet20/batch1": (ResNet20, [1, 3, 32, 32]),
        "mobilenet_v2_0.5_96/batch1": (lambda: tvm.mobilenet_v2(weights=None, width_mult=0.5), [1, 3, 96, 96]),
        "resnet50/batch1": (lambda: tvm.resnet50(weights=None), [1, 3, 224, 224]),
    }[name]
    model = model()
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if not key.endswith("num_batches_tracked"):
                t.copy_(synthetic(key, list(t.shape)))
    model.eval()
    n = int(np.prod(shape))
    x = torch.from_numpy((2.0 * uniform("input", n) - 1.0).astype(np.float32)).reshape(shape)
    return model, x


def exported_session(name, batch=1, threads=1, record=False):
    """ONNX Runtime on the PyTorch model exported to ONNX (inputs of `batch` images, `threads`
    threads); checks that it agrees with PyTorch. With `record`, also writes the case for
    `compare/`."""
    import io

    import torch

    model, x = torch_model(name)
    x = x.repeat(batch, 1, 1, 1)
    buf = io.BytesIO()
    torch.onnx.export(model, x, buf, dynamo=False, opset_version=17)
    if record:
        with torch.no_grad():
            weights = {k: t.numpy() for k, t in model.state_dict().items() if not k.endswith("num_batches_tracked")}
            write_case(name, buf.getvalue(), x.numpy(), model(x).numpy(), weights)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x.numpy()}
    with torch.no_grad():
        want = model(x).numpy()
    got = sess.run(None, feed)[0]
    assert np.allclose(got, want, rtol=1e-3, atol=1e-3 * np.abs(want).max()), f"{name}: ONNX Runtime disagrees"
    return lambda: sess.run(None, feed)


def graph_model(nodes, weights, x, out_shape):
    graph = helper.make_graph(
        nodes, "net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        [numpy_helper.from_array(np.ascontiguousarray(v), k) for k, v in weights.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def session(onnx_bytes):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])


CASES = os.path.join(ROOT, "target", "compare")


def write_case(bench_id, onnx_bytes, x, want, weights):
    """One case for `compare/`: the ONNX graph, the input and the output it must give, and the
    state_dict (PyTorch's names) for the candle networks."""
    from safetensors.numpy import save_file

    os.makedirs(CASES, exist_ok=True)
    stem = bench_id.replace("/", "_")
    with open(os.path.join(CASES, f"{stem}.onnx"), "wb") as f:
        f.write(onnx_bytes)
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)
    save_file({"input": f32(x), "output": f32(want)}, os.path.join(CASES, f"{stem}.io.safetensors"))
    save_file({k: f32(v) for k, v in weights.items()}, os.path.join(CASES, f"{stem}.weights.safetensors"))
    with open(os.path.join(CASES, "cases.txt"), "a") as f:
        f.write(f"{bench_id} {stem}\n")


def rust_engines():
    """tract's and candle's medians from `compare/`, one thread: {(benchmark, engine): seconds,
    or the reason it did not run}."""
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    out = subprocess.run(["cargo", "run", "--release", "--manifest-path", os.path.join(ROOT, "compare", "Cargo.toml"),
                          "--", CASES], cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    found = {}
    for line in out.splitlines():
        bench_id, engine, value, *why = line.split("\t")
        found[(bench_id, engine)] = float(value) if value not in ("unsupported", "wrong") else f"{value}: {' '.join(why)}"
    return found


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


def criterion_flops(bench_id):
    """The FLOPs per iteration a benchmark declares as its criterion throughput, if any."""
    path = os.path.join(ROOT, "target", "criterion", bench_id, "new", "benchmark.json")
    with open(path) as f:
        throughput = json.load(f).get("throughput") or {}
    return throughput.get("Elements")


def peak_flops_per_second():
    """The FMA peak of one core, as `benches/kernels.rs` measured it in this run."""
    rates = []
    for level in ("fma_avx512", "fma_avx2"):
        if os.path.exists(os.path.join(ROOT, "target", "criterion", "peak", level, "new")):
            rates.append(criterion_flops(f"peak/{level}") / criterion_median(f"peak/{level}"))
    return max(rates) if rates else None


def rounds():
    """`--rounds N` (default 1): how many times each pair of measurements is repeated."""
    return int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 1


def cnn_bench(bench_id, features=()):
    """cnn's criterion median of `bench_id` (its bench binary built already), run now."""
    bench = "lenet5" if bench_id.startswith("lenet5/batch1") else "kernels" if "/c" in bench_id else "zoo"
    args = ["cargo", "bench", *(["--features", ",".join(features)] if features else []), "--bench", bench, "--",
            f"^{bench_id}$"]
    subprocess.run(args, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return criterion_median(bench_id)


def paired(pairs):
    """Medians of each engine over the rounds, and the median of the rounds' ratios."""
    ours = statistics.median(p[0] for p in pairs)
    theirs = statistics.median(p[1] for p in pairs)
    return ours, theirs, statistics.median(p[0] / p[1] for p in pairs)


def main():
    others = "--no-rust-engines" not in sys.argv[1:]
    if "--batch-only" in sys.argv[1:]:
        batch32()
        return
    if os.path.exists(os.path.join(CASES, "cases.txt")):
        os.remove(os.path.join(CASES, "cases.txt"))
    # Everything built first, so that no compilation runs between the two engines' timings.
    subprocess.run(["cargo", "bench", "--bench", "lenet5", "--bench", "kernels", "--bench", "zoo", "--no-run"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cases = [lenet5(), conv3x3()]
    runs = {}
    for bench_id, nodes, w, x, want, out_shape in cases:
        onnx_bytes = graph_model(nodes, w, x, out_shape)
        sess = session(onnx_bytes)
        y = sess.run(None, {"x": x})[0]
        if want is not None:
            assert np.allclose(y, want, rtol=1e-4, atol=1e-4), f"{bench_id}: ONNX Runtime disagrees with the reference"
        write_case(bench_id, onnx_bytes, x, y if want is None else want, w)
        runs[bench_id] = (lambda sess, x: lambda: sess.run(None, {"x": x}))(sess, x)
    for bench_id in ("resnet20/batch1", "mobilenet_v2_0.5_96/batch1", "resnet50/batch1"):
        runs[bench_id] = exported_session(bench_id, record=True)
        cases.append((bench_id,))
    rust = rust_engines() if others else {}
    # Each network timed in ONNX Runtime, then at once in cnn, `--rounds` times over: the
    # machine drifts by tens of percent within minutes, and the pairs drift together.
    pairs = {bench_id: [] for bench_id, *_ in cases}
    for _ in range(rounds()):
        for bench_id, *_ in cases:
            theirs = median_seconds(runs[bench_id], budget=5.0 if "resnet50" in bench_id else 3.0)
            pairs[bench_id].append((cnn_bench(bench_id), theirs))
    subprocess.run(["cargo", "bench", "--bench", "kernels", "--", "^peak/"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = peak_flops_per_second()
    print(f"ONNX Runtime {ort.__version__}, one thread, batch 1; each engine's median over {rounds()} round(s), "
          "the two timed one right after the other in each round; the ratio is the median of the rounds' ratios")
    if peak:
        print(f"one core's FMA peak (benches/kernels.rs, peak/*): {peak / 1e9:.0f} GFLOP/s")
    print("| benchmark | cnn | ONNX Runtime | tract | candle | cnn / ONNX Runtime | cnn / tract | cnn / candle "
          "| cnn, % of peak | ONNX Runtime, % of peak |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for bench_id, *_ in cases:
        ours, theirs, ratio = paired(pairs[bench_id])
        flops = criterion_flops(bench_id)
        share = (lambda t: f"{100 * flops / t / peak:.0f}%") if flops and peak else (lambda t: "")
        other = [rust.get((bench_id, e), "not run") for e in ("tract", "candle")]
        times = [fmt(t) if isinstance(t, float) else "—" for t in other]
        ratios = [f"{ours / t:.2f}x" if isinstance(t, float) else "—" for t in other]
        print(f"| {bench_id} | {fmt(ours)} | {fmt(theirs)} | {' | '.join(times)} | {ratio:.2f}x | "
              f"{' | '.join(ratios)} | {share(ours)} | {share(theirs)} |")
    for (bench_id, engine), t in sorted(rust.items()):
        if not isinstance(t, float):
            print(f"{engine} on {bench_id}: {t}")
    print("(ratios: cnn's time over the other engine's; below 1 is faster)")
    print()
    batch32()


def batch32():
    """Batch 32 on both cores: cnn's `parallel` feature against ONNX Runtime with 2 threads, paired
    as at batch 1."""
    names = ("resnet20", "mobilenet_v2_0.5_96")
    sessions = {name: exported_session(f"{name}/batch1", batch=32, threads=2) for name in names}
    subprocess.run(["cargo", "bench", "--features", "parallel", "--bench", "zoo", "--no-run"], cwd=ROOT,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pairs = {name: [] for name in names}
    for _ in range(rounds()):
        for name in names:
            theirs = median_seconds(sessions[name]) / 32
            pairs[name].append((cnn_bench(f"{name}/batch32", features=("parallel",)) / 32, theirs))
    print(f"batch 32, 2 threads (cnn: feature `parallel`); medians per image over {rounds()} round(s)")
    print("| benchmark | cnn | ONNX Runtime | cnn throughput / ONNX Runtime's |")
    print("| --- | --- | --- | --- |")
    for name in names:
        ours, theirs, ratio = paired(pairs[name])
        print(f"| {name}/batch32 | {fmt(ours)} | {fmt(theirs)} | {1 / ratio:.2f}x |")


def fmt(seconds):
    return f"{seconds * 1e6:.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


if __name__ == "__main__":
    main()
