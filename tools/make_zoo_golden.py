#!/usr/bin/env python3
"""Outputs of torchvision's models with synthetic weights, for tests/suite/zoo.rs.

    python3 tools/make_zoo_golden.py       (needs torch, torchvision, safetensors, numpy)

The weights are not stored: every state_dict tensor comes from a deterministic generator that
tests/suite/common.rs reproduces bit for bit (`synthetic`), seeded by the tensor's name:
- convolution and linear weights: uniform in ±sqrt(6 / fan_in) (He et al.'s bound);
- biases: uniform in ±0.1; batch-norm weight and running_var: uniform in [0.5, 1.5);
  batch-norm bias and running_mean: uniform in ±0.1.
The input (named `input`) is uniform in ±1. Also writes tests/data/zoo/NAME.keys.txt: torchvision's state_dict keys and shapes of each zoo
network, which the zoo's declarations must reproduce. Writes tests/data/zoo/NAME.io.safetensors with the
output (`output`) for that input, in eval mode; the input is not stored either.
"""
import os

import numpy as np
import torch
import torchvision.models as tvm
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "zoo")
MASK = (1 << 64) - 1


def fnv1a(name):
    h = 0xCBF29CE484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def uniform(name, n):
    """n values in [0, 1): xorshift64* seeded by the name, 24 bits each."""
    x = fnv1a(name) | 1
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        x ^= x >> 12
        x ^= (x << 25) & MASK
        x ^= x >> 27
        out[i] = (((x * 0x2545F4914F6CDD1D) & MASK) >> 40) / float(1 << 24)
    return out


def synthetic(name, shape):
    n = int(np.prod(shape)) if len(shape) else 1
    u = uniform(name, n)
    if name.endswith("running_var") or (name.endswith("weight") and len(shape) == 1):
        v = 0.5 + u
    elif name.endswith("weight"):
        fan_in = n // shape[0]
        v = (2.0 * u - 1.0) * np.sqrt(6.0 / fan_in)
    else:
        v = (2.0 * u - 1.0) * 0.1
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


# Every zoo network whose state_dict keys are checked against torchvision's.
KEYS = {
    "alexnet": lambda: tvm.alexnet(weights=None),
    "vgg11": lambda: tvm.vgg11(weights=None),
    "vgg16": lambda: tvm.vgg16(weights=None),
    "googlenet": lambda: tvm.googlenet(weights=None, aux_logits=False, init_weights=False),
    "resnet18": lambda: tvm.resnet18(weights=None),
    "resnet34": lambda: tvm.resnet34(weights=None),
    "resnet50": lambda: tvm.resnet50(weights=None),
    "densenet121": lambda: tvm.densenet121(weights=None),
    "mobilenet_v2": lambda: tvm.mobilenet_v2(weights=None),
}

MODELS = {
    "resnet18": lambda: tvm.resnet18(weights=None),
    "resnet50": lambda: tvm.resnet50(weights=None),
    "mobilenet_v2": lambda: tvm.mobilenet_v2(weights=None),
    "densenet121": lambda: tvm.densenet121(weights=None),
    "googlenet": lambda: tvm.googlenet(weights=None, aux_logits=False, init_weights=False),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    # The state_dict keys and shapes, as `safetensors.torch.save_file(model.state_dict())`
    # would write them, one `key shape` per line.
    for name, make in KEYS.items():
        with open(os.path.join(OUT, f"{name}.keys.txt"), "w") as f:
            for key, t in make().state_dict().items():
                f.write(f"{key} {list(t.shape)}\n")
    torch.use_deterministic_algorithms(True)
    x = torch.from_numpy((2.0 * uniform("input", 3 * 224 * 224) - 1.0).astype(np.float32)).reshape(1, 3, 224, 224)
    for name, make in MODELS.items():
        model = make()
        state = model.state_dict()
        with torch.no_grad():
            for key, t in state.items():
                if key.endswith("num_batches_tracked"):
                    continue
                t.copy_(synthetic(key, list(t.shape)))
        model.eval()
        with torch.no_grad():
            y = model(x)
        save_file({"output": y.contiguous()}, os.path.join(OUT, f"{name}.io.safetensors"))
        print(f"{name}: output {list(y.shape)}, |y| max {y.abs().max().item():.3g}, mean {y.abs().mean().item():.3g}")


if __name__ == "__main__":
    main()
