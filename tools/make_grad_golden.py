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
"""
import os
import sys

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import NETS, OUT, LeNet5  # noqa: E402


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


if __name__ == "__main__":
    main()
