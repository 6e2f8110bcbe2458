#!/usr/bin/env python3
"""Trains the network of examples/digits.rs in PyTorch with the example's recipe, to compare
the accuracy our trainer reaches with PyTorch's.

    python3 tools/train_digits.py [--seeds 1 2 3 4 5] [--epochs 20]   (needs torch, numpy)
    python3 tools/train_digits.py --time

With --time, times PyTorch's training steps instead, one thread, as benches/train.rs times
ours (`cargo bench --bench train`): the digits network at batch 32 (every layer; the head alone
with the convolutions' parameters frozen and the features run under no_grad), and the CIFAR
ResNet-20 at batch 8 (tools/compare_onnxruntime.py's module); each step is forward, cross-entropy,
backward and Adam's step; prints the median of 11 runs of 50 steps (ResNet-20: 5 steps).

The recipe, as examples/digits.rs has it: the UCI digits of examples/data/digits.csv.gz, pixels
/ 16, every fifth image (index 4, 9, ...) held out; the same layers (two 3x3 convolutions with
batch norm and ReLU, 2x2 max pooling, dropout 0.25, Linear(64), ReLU, Linear(10)) with
PyTorch's default initialisation; Adam (lr 3e-3) with the learning rate of
CosineAnnealingLR(T_max = epochs) set each epoch; batches of 32, shuffled each epoch;
each image shifted by up to a pixel (RandomCrop(8, padding=1)); cross-entropy. Prints the
held-out accuracy after the last epoch for each seed, and their mean.

The random streams differ (initial weights, shuffles, crops and dropout masks come from
PyTorch's generator here, from cnn::train::Rng in the example), so single runs differ by a few
images; the means over seeds are what compare.
"""
import argparse
import gzip
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def digits():
    with gzip.open(os.path.join(ROOT, "examples", "data", "digits.csv.gz"), "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.float32)
    x = torch.from_numpy(rows[:, :64] / 16.0).reshape(-1, 1, 8, 8)
    y = torch.from_numpy(rows[:, 64].astype(np.int64))
    test = torch.arange(len(y)) % 5 == 4
    return (x[~test], y[~test]), (x[test], y[test])


def network():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.25),
        nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10),
    )


def random_shift(x, gen):
    """RandomCrop(8, padding=1) per image: zero padding, then an 8x8 window at a random place."""
    padded = F.pad(x, (1, 1, 1, 1))
    out = torch.empty_like(x)
    offsets = torch.randint(0, 3, (len(x), 2), generator=gen)
    for i, (top, left) in enumerate(offsets.tolist()):
        out[i] = padded[i, :, top:top + 8, left:left + 8]
    return out


def train(seed, epochs):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    (xs, ys), (xt, yt) = digits()
    net = network()
    base = 3e-3
    opt = torch.optim.Adam(net.parameters(), lr=base)
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] = base * (1 + math.cos(math.pi * epoch / epochs)) / 2
        net.train()
        perm = torch.randperm(len(ys), generator=gen)
        for start in range(0, len(ys), 32):
            idx = perm[start:start + 32]
            x = random_shift(xs[idx], gen)
            loss = F.cross_entropy(net(x), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        right = (net(xt).argmax(1) == yt).sum().item()
    return right, len(yt)


def time_steps():
    import statistics
    import sys
    import time

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from compare_onnxruntime import torch_model

    def median_step(model, params, batch, shape, steps, features=None):
        x = torch.rand([batch] + shape) * 2 - 1
        y = torch.arange(batch) % 10
        opt = torch.optim.Adam(params, lr=1e-4)
        model.train()

        def step():
            if features is None:
                out = model(x)
            else:
                with torch.no_grad():
                    f = features(x)
                out = model(f)
            loss = F.cross_entropy(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        for _ in range(3):
            step()
        runs = []
        for _ in range(11):
            t = time.perf_counter()
            for _ in range(steps):
                step()
            runs.append((time.perf_counter() - t) / steps)
        return statistics.median(runs)

    torch.manual_seed(0)
    net = network()
    t = median_step(net, net.parameters(), 32, [1, 8, 8], 50)
    print(f"train/digits/batch32: {t * 1e6:.0f} us per step ({32 / t:.0f} samples/s)")
    net = network()
    features, head = net[:7], net[7:]
    features.eval()
    t = median_step(head, head.parameters(), 32, [1, 8, 8], 50, features=features)
    print(f"train/digits/batch32_head_only: {t * 1e6:.0f} us per step ({32 / t:.0f} samples/s)")
    model, _ = torch_model("resnet20/batch1")
    t = median_step(model, model.parameters(), 8, [3, 32, 32], 5)
    print(f"train/resnet20/batch8: {t * 1e3:.2f} ms per step ({8 / t:.0f} samples/s)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--time", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.time:
        time_steps()
        return
    accs = []
    for seed in args.seeds:
        right, n = train(seed, args.epochs)
        accs.append(100.0 * right / n)
        print(f"seed {seed}: held-out accuracy {accs[-1]:.2f}% ({right} of {n})", flush=True)
    print(f"mean over {len(accs)} seeds: {sum(accs) / len(accs):.2f}%")


if __name__ == "__main__":
    main()
