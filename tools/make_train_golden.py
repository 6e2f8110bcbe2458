#!/usr/bin/env python3
"""PyTorch's optimisers, losses and learning-rate schedules on fixed data, for tests/suite/train.rs.

    python3 tools/make_train_golden.py      (needs torch, safetensors, numpy)

Writes tests/data/golden/train.safetensors (all float32 but the targets):
- `params`: 7 starting values; `grads`: 6 gradients of them, one per step;
- `OPT.trajectory` for each optimiser configuration OPT below: the 7 values after each of the
  6 steps (the gradient set by hand before each `step()`, as a training loop's backward would);
- `ce.logits` [5, 4], `ce.targets` [5] (int64), and for label smoothing 0 and 0.1
  `ce.S.loss` and `ce.S.grad` (the gradient with respect to the logits, mean reduction);
- `mse.output`, `mse.target` [3, 4], `mse.loss`, `mse.grad`;
- `lr.step` and `lr.cosine`: the learning rate of epochs 0 to 11 of
  StepLR(step_size=3, gamma=0.5) and CosineAnnealingLR(T_max=7, eta_min=0.001), base 0.1.
"""
import os

import torch
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "golden", "train.safetensors")

OPTIMISERS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
    "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "sgd_nesterov": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.001),
    "adam": lambda p: torch.optim.Adam(p, lr=0.01),
    "adam_decay": lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.01),
    "adamw_decay": lambda p: torch.optim.AdamW(p, lr=0.02, weight_decay=0.3),
}


def main():
    g = torch.Generator().manual_seed(0)
    out = {}
    params = torch.randn(7, generator=g)
    grads = torch.randn(6, 7, generator=g)
    out["params"], out["grads"] = params, grads
    for name, make in OPTIMISERS.items():
        p = torch.nn.Parameter(params.clone())
        opt = make([p])
        steps = []
        for grad in grads:
            p.grad = grad.clone()
            opt.step()
            steps.append(p.detach().clone())
        out[f"{name}.trajectory"] = torch.stack(steps)
    logits = (torch.randn(5, 4, generator=g) * 3).requires_grad_(True)
    targets = torch.tensor([0, 3, 1, 1, 2])
    out["ce.logits"], out["ce.targets"] = logits.detach().clone(), targets
    for s in (0.0, 0.1):
        logits.grad = None
        loss = torch.nn.functional.cross_entropy(logits, targets, label_smoothing=s)
        loss.backward()
        out[f"ce.{s}.loss"], out[f"ce.{s}.grad"] = loss.detach().reshape(1), logits.grad.clone()
    y = torch.randn(3, 4, generator=g).requires_grad_(True)
    t = torch.randn(3, 4, generator=g)
    loss = torch.nn.functional.mse_loss(y, t)
    loss.backward()
    out["mse.output"], out["mse.target"] = y.detach().clone(), t
    out["mse.loss"], out["mse.grad"] = loss.detach().reshape(1), y.grad.clone()
    for name, make in {
        "step": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
        "cosine": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    }.items():
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        sched = make(opt)
        lrs = []
        for _ in range(12):
            lrs.append(sched.get_last_lr()[0])
            opt.step()
            sched.step()
        out[f"lr.{name}"] = torch.tensor(lrs, dtype=torch.float32)
    save_file({k: v.contiguous() for k, v in out.items()}, OUT)
    print(f"{len(out)} tensors in {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
