#!/usr/bin/env python3
"""PyTorch's gradients of the golden networks, for the reference's gradients (tests/suite/grad.rs).

    python3 tools/make_grad_golden.py       (needs torch, safetensors, numpy; after make_golden.py)

For LeNet-5 and the test networks of tools/make_golden.py (which together use every layer kind
and option), with the weights of tests/data/golden/NAME.safetensors, in float64 and eval mode
(batch norms use their running statistics, dropout is the identity): the first input of
NAME.io.safetensors (`input`), a seeded random weighting `r` of the outputs, and the gradients of
`loss = sum(r * model(input))` with respect to the input (`grad.input`) and to each parameter
(`grad.<state_dict name>`). Written, all float64, to tests/data/golden/NAME.grad.safetensors.

In training mode too, for the networks without dropout (net2d, net3d): the first three inputs
as one batch, so that batch norms normalise with the batch's statistics; the gradients, and each
batch norm's running statistics after the pass (`running.<state_dict name>`), in
NAME.train.grad.safetensors.

And for the CIFAR ResNet-20 of cnn::zoo (the module of tools/compare_onnxruntime.py), too
large for the reference, whose gradients the generated backward passes are compared with
directly: the synthetic weights of tools/make_zoo_golden.py (not stored), a batch of two
inputs `uniform("resnet20.train.input")` in ±1 and the output weighting
`uniform("resnet20.train.r")` in ±1 (not stored either), in training mode and float64. Stored
in resnet20.train.grad.safetensors: each parameter's gradient, whole up to 512 values,
otherwise every `step`-th value (`grad.<name>`, with `step.<name>`), and the running
statistics after the pass.
"""
import os
import sys

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import NETS, OUT, LeNet5  # noqa: E402
from make_zoo_golden import uniform  # noqa: E402


def main():
    torch.use_deterministic_algorithms(True)
    models = {"lenet5": LeNet5, **{name: cls for name, (cls, _) in NETS.items()}}
    for seed, (name, cls) in enumerate(models.items()):
        model = cls()
        model.load_state_dict(load_file(os.path.join(OUT, f"{name}.safetensors")), strict=True)
        model = model.double().eval()
        x = load_file(os.path.join(OUT, f"{name}.io.safetensors"))["input"][:1].double()
        x.requires_grad_(True)
        y = model(x)
        r = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        (y * r).sum().backward()
        out = {"input": x.detach()[0].contiguous(), "r": r[0].contiguous(), "grad.input": x.grad[0].contiguous()}
        for key, p in model.named_parameters():
            out[f"grad.{key}"] = p.grad.contiguous()
        save_file(out, os.path.join(OUT, f"{name}.grad.safetensors"))
        print(f"{name}: {len(out) - 3} parameter gradients, |grad.input| max {x.grad.abs().max().item():.3g}")
    for seed, name in enumerate(["net2d", "net3d"]):
        model = NETS[name][0]()
        model.load_state_dict(load_file(os.path.join(OUT, f"{name}.safetensors")), strict=True)
        model = model.double().train()
        x = load_file(os.path.join(OUT, f"{name}.io.safetensors"))["input"][:3].double()
        x.requires_grad_(True)
        y = model(x)
        r = torch.randn(y.shape, generator=torch.Generator().manual_seed(10 + seed), dtype=torch.float64)
        (y * r).sum().backward()
        out = {"input": x.detach().contiguous(), "r": r.contiguous(), "grad.input": x.grad.contiguous()}
        for key, p in model.named_parameters():
            out[f"grad.{key}"] = p.grad.contiguous()
        for key, t in model.state_dict().items():
            if key.endswith("running_mean") or key.endswith("running_var"):
                out[f"running.{key}"] = t.contiguous()
        save_file(out, os.path.join(OUT, f"{name}.train.grad.safetensors"))
        print(f"{name} in training: {len(out) - 3} gradients and running statistics")

    resnet20_train()


def resnet20_train():
    import numpy as np

    from compare_onnxruntime import torch_model

    model, _ = torch_model("resnet20/batch1")
    model = model.double().train()
    signed = lambda name, n: torch.from_numpy(2.0 * uniform(name, n) - 1.0)
    x = signed("resnet20.train.input", 2 * 3 * 32 * 32).reshape(2, 3, 32, 32)
    y = model(x)
    r = signed("resnet20.train.r", 2 * 10).reshape(2, 10)
    (y * r).sum().backward()
    out = {}
    for key, p in model.named_parameters():
        g = p.grad.flatten()
        step = max(1, -(-len(g) // 512))
        out[f"grad.{key}"] = g[::step].contiguous()
        if step > 1:
            out[f"step.{key}"] = torch.tensor([float(step)], dtype=torch.float64)
    for key, t in model.state_dict().items():
        if key.endswith("running_mean") or key.endswith("running_var"):
            out[f"running.{key}"] = t.double().contiguous()
    save_file(out, os.path.join(OUT, "resnet20.train.grad.safetensors"))
    print(f"resnet20 in training: {len(out)} tensors, |y| max {y.abs().max().item():.3g}")


if __name__ == "__main__":
    main()
