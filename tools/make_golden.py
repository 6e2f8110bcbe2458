#!/usr/bin/env python3
"""Makes the golden data of the tests and the lenet5 example, with PyTorch.

    python3 tools/make_golden.py            (needs torch, safetensors, numpy)

Writes into tests/data/golden/:
- lenet5.safetensors: LeNet-5 trained on the UCI digits (examples/data/digits.csv.gz) upscaled
  to 28x28; lenet5.io.safetensors: 20 held-out digits (`input`), PyTorch's outputs (`output`)
  and the true labels (`label`).
- for each test network NAME below (random weights, randomised batch-norm statistics):
  NAME.safetensors, its state_dict exactly as `safetensors.torch.save_file` writes it, and
  NAME.io.safetensors with a batch of inputs and PyTorch's outputs.
The declarations in tests/suite/golden.rs mirror the modules here, layer for layer.
"""
import gzip
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "golden")



class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool1(F.relu(self.conv1(x)))
        x = self.pool2(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def digits_28():
    """The UCI digits as [N, 1, 28, 28] in [0, 1], and their labels; a fixed 80/20 split."""
    with gzip.open(os.path.join(ROOT, "examples", "data", "digits.csv.gz"), "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.float32)
    x = torch.from_numpy(rows[:, :64] / 16.0).reshape(-1, 1, 8, 8)
    x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
    y = torch.from_numpy(rows[:, 64].astype(np.int64))
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    cut = len(y) * 4 // 5
    return (x[perm[:cut]], y[perm[:cut]]), (x[perm[cut:]], y[perm[cut:]])


def train_lenet5():
    torch.manual_seed(0)
    (xt, yt), (xv, yv) = digits_28()
    model = LeNet5()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for epoch in range(15):
        model.train()
        perm = torch.randperm(len(yt))
        for i in range(0, len(yt), 32):
            idx = perm[i : i + 32]
            opt.zero_grad()
            F.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(xv).argmax(1) == yv).float().mean().item()
        print(f"lenet5: held-out accuracy {acc:.4f} on {len(yv)} digits")
        save_file(model.state_dict(), os.path.join(OUT, "lenet5.safetensors"))
        x = xv[:20].contiguous()
        save_file(
            {"input": x, "output": model(x).contiguous(), "label": yv[:20].float().contiguous()},
            os.path.join(OUT, "lenet5.io.safetensors"),
        )


def randomise(model, seed):
    """Random weights (PyTorch's own init under a seed) and batch-norm statistics far from the
    defaults, so that a loader that skipped them would be caught."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
            if m.affine:
                m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.data.copy_(torch.randn(c, generator=g) * 0.2)
            m.num_batches_tracked.fill_(7)


class Net1d(nn.Sequential):
    """Every 1-d layer and the 1-d options."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(3, 8, 5, stride=2, padding=3, dilation=2)
        self.bn1 = nn.BatchNorm1d(8, eps=1e-3)
        self.act1 = nn.LeakyReLU(0.2)
        self.pool1 = nn.MaxPool1d(3, stride=2, padding=1, dilation=2, ceil_mode=True)
        self.conv2 = nn.Conv1d(8, 8, 3, padding="same", groups=4, bias=False)
        self.act2 = nn.Tanh()
        self.pool2 = nn.AvgPool1d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        self.conv3 = nn.Conv1d(8, 6, 4, padding="same")
        self.pool3 = nn.AdaptiveAvgPool1d(7)
        self.pool4 = nn.AdaptiveMaxPool1d(5)
        self.flat = nn.Flatten()
        self.fc1 = nn.Linear(30, 16)
        self.bn2 = nn.BatchNorm1d(16)
        self.act3 = nn.ReLU()
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(16, 5)
        self.soft = nn.Softmax(dim=1)


class Net2d(nn.Sequential):
    """Every 2-d layer and the 2-d options."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 12, (3, 5), stride=(2, 1), padding=(1, 2))
        self.bn1 = nn.BatchNorm2d(12)
        self.act1 = nn.ReLU6()
        self.conv2 = nn.Conv2d(12, 12, 3, padding=1, groups=12)
        self.bn2 = nn.BatchNorm2d(12, affine=False)
        self.act2 = nn.ReLU()
        self.pool1 = nn.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2))
        self.conv3 = nn.Conv2d(12, 8, 1, bias=False)
        self.act3 = nn.Sigmoid()
        self.pool2 = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, divisor_override=5)
        self.bn3 = nn.BatchNorm2d(8)
        self.conv4 = nn.Conv2d(8, 10, 2, dilation=2, padding="same")
        self.pool3 = nn.AdaptiveAvgPool2d((3, 2))
        self.pool4 = nn.AdaptiveMaxPool2d((None, 1))
        self.ident = nn.Identity()
        self.flat = nn.Flatten()
        self.fc = nn.Linear(30, 7, bias=False)


class Net3d(nn.Sequential):
    """Every 3-d layer and the 3-d options."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv3d(2, 6, (3, 3, 2), stride=(1, 2, 1), padding=(1, 1, 0))
        self.bn1 = nn.BatchNorm3d(6)
        self.act1 = nn.ReLU()
        self.pool1 = nn.MaxPool3d(2, stride=(1, 2, 2), padding=(1, 0, 1))
        self.conv2 = nn.Conv3d(6, 6, 3, padding=(0, 2, 2), dilation=(1, 2, 2), groups=3)
        self.pool2 = nn.AvgPool3d((1, 2, 2), ceil_mode=True)
        self.pool3 = nn.AdaptiveMaxPool3d((2, 3, None))
        self.pool4 = nn.AdaptiveAvgPool3d((1, 2, 2))
        self.flat = nn.Flatten(start_dim=2)
        self.soft = nn.Softmax(dim=-1)
        self.flat2 = nn.Flatten()
        self.fc = nn.Linear(24, 4)


NETS = {
    "net1d": (Net1d, [3, 40]),
    "net2d": (Net2d, [3, 19, 16]),
    "net3d": (Net3d, [2, 7, 12, 10]),
}


def export_random(name, cls, shape, seed):
    torch.manual_seed(seed)
    model = cls()
    with torch.no_grad():
        randomise(model, seed)
    model.eval()
    x = torch.randn([3] + shape, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        y = model(x)
    save_file(model.state_dict(), os.path.join(OUT, f"{name}.safetensors"))
    save_file({"input": x.contiguous(), "output": y.contiguous()}, os.path.join(OUT, f"{name}.io.safetensors"))
    print(f"{name}: input {list(x.shape)} -> output {list(y.shape)}")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    train_lenet5()
    for seed, (name, (cls, shape)) in enumerate(NETS.items()):
        export_random(name, cls, shape, 100 + seed)


if __name__ == "__main__":
    main()
