#!/usr/bin/env python3
"""torchvision's ResNet-18 and MobileNetV2 saved as a PyTorch user saves them, for
`cargo run --release --example torchvision -- DIR`.

    python3 tools/export_torchvision.py DIR            (needs torch, torchvision, safetensors)
    python3 tools/export_torchvision.py --check DIR    (after the example)

For each model: random weights (torchvision's own initialisation, seeded), batch-norm weights,
biases and running statistics randomised too (fresh models have mean 0 and variance 1, which
would hide a mix-up of the four), then

    safetensors.torch.save_file(model.state_dict(), "DIR/NAME.safetensors")

exactly as a user would, `num_batches_tracked` included; and DIR/NAME.io.safetensors with two
seeded inputs (`input`, [2, 3, 224, 224]) and the model's outputs in eval mode (`output`). The files
are 47 MB and 14 MB, so they are not committed; the example loads them into `cnn::zoo`'s
declarations without renaming anything, compares the outputs, and saves each network back with
`to_safetensors` as DIR/NAME.saved.safetensors; `--check` loads those into fresh torchvision
models with `load_state_dict(load_file(path), strict=True)` and compares their outputs with the
exported ones.
"""
import os
import sys

import torch
import torchvision.models as tvm
from safetensors.torch import save_file

MODELS = {
    "resnet18": lambda: tvm.resnet18(weights=None),
    "mobilenet_v2": lambda: tvm.mobilenet_v2(weights=None),
}


def randomise_batch_norms(model, gen):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = 0.5 + torch.rand(n, generator=gen)
            m.bias.data = 0.2 * torch.rand(n, generator=gen) - 0.1
            m.running_mean.copy_(0.2 * torch.rand(n, generator=gen) - 0.1)
            m.running_var.copy_(0.5 + torch.rand(n, generator=gen))
            m.num_batches_tracked.fill_(1000)


def check(out):
    from safetensors.torch import load_file

    for name, make in MODELS.items():
        model = make()
        model.load_state_dict(load_file(os.path.join(out, f"{name}.saved.safetensors")), strict=True)
        model.eval()
        io = load_file(os.path.join(out, f"{name}.io.safetensors"))
        with torch.no_grad():
            y = model(io["input"])
        diff = (y - io["output"]).abs().max().item()
        print(f"{name}: saved by cnn, loaded by PyTorch (strict): max |difference| {diff:.2e}")
        assert diff == 0.0, name


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        return check(sys.argv[2])
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    for i, (name, make) in enumerate(MODELS.items()):
        torch.manual_seed(i)
        model = make()
        gen = torch.Generator().manual_seed(100 + i)
        with torch.no_grad():
            randomise_batch_norms(model, gen)
        model.eval()
        save_file(model.state_dict(), os.path.join(out, f"{name}.safetensors"))
        x = torch.rand(2, 3, 224, 224, generator=gen) * 2 - 1
        with torch.no_grad():
            y = model(x)
        save_file({"input": x.contiguous(), "output": y.contiguous()}, os.path.join(out, f"{name}.io.safetensors"))
        print(f"{name}: {sum(t.numel() for t in model.state_dict().values())} values, output {list(y.shape)}")


if __name__ == "__main__":
    main()
