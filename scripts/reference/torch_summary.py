#!/usr/bin/env python3
"""Parameters and multiply-adds of d2l's PyTorch NiN and its variants (torch_nin.py), counted by PyTorch itself:
forward hooks on the modules record each output's shape during one forward pass of one image, and a layer's
multiply-adds are its weights times its output positions (a Conv2d's weight elements times its output's
height x width; a Linear's in x out); biases, pooling and ReLU count none. The same definition as
`nin shapes` (src/shapes.ts), whose counts test/shapes.test.ts compares with this script's output
(test/fixtures/torch-summary.json). Needs only python3-torch (apt-get install -y python3-torch), not torchinfo:

    /usr/bin/python3 scripts/reference/torch_summary.py --image-size 224 --architecture '{"blockConvs": 3, "head": "dense"}'
    /usr/bin/python3 scripts/reference/torch_summary.py --variants VARIANTS.json   # [{"imageSize": 96, "architecture": {...}}, ...]
"""
import argparse
import json
import math
import re

import torch
from torch import nn

from arguments import whole_number
from torch_nin import MIN_IMAGE_SIZE, architecture_of, build_nin, named_layers


def summary(image_size, architecture=None):
    """One JSON-able dict: per top-level module (d2l's printout rows) its class, output shape (NCHW, batch 1),
    parameters and multiply-adds; per weight layer (by nin's name) the same; the totals."""
    net = build_nin(0, architecture, image_size).eval()
    names = {module: name for name, module in named_layers(net)}
    outputs = {}
    hooks = [m.register_forward_hook(lambda m, inputs, out: outputs.__setitem__(m, list(out.shape))) for m in net.modules()]
    with torch.no_grad():
        net(torch.zeros(1, 1, image_size, image_size))
    for h in hooks:
        h.remove()

    def own(module):
        """(parameters, multiply-adds) of a Conv2d or Linear."""
        params = sum(p.numel() for p in module.parameters())
        if isinstance(module, nn.Conv2d):
            return params, module.weight.numel() * math.prod(outputs[module][2:])
        return params, module.weight.numel()

    def totals(module):
        counted = [own(m) for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        return sum(p for p, _ in counted), sum(m for _, m in counted)

    rows = [dict(zip(("name", "outputShape", "params", "multiplyAdds"), (type(m).__name__, outputs[m], *totals(m)))) for m in net]
    layers = [dict(zip(("name", "outputShape", "params", "multiplyAdds"), (names[m], outputs[m], *own(m)))) for m in names]
    return {
        "imageSize": image_size,
        "architecture": architecture_of(architecture),
        "layers": rows,
        "weightLayers": layers,
        "totalParams": sum(r["params"] for r in rows),
        "totalMultiplyAdds": sum(r["multiplyAdds"] for r in rows),
    }


def dumps(value):
    """JSON with each list of numbers (a shape) and each flat object (a layer) on one line, so a fixture reads
    layer by layer."""
    text = json.dumps(value, indent=1)
    text = re.sub(r"\[([\d\s,]+)\]", lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    return re.sub(r"\{\n[^{}]*?\n\s*\}", lambda m: re.sub(r"\s*\n\s*", " ", m.group(0)).replace("{ ", "{").replace(" }", "}"), text)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image-size", type=whole_number("--image-size", MIN_IMAGE_SIZE, 1024), default=224, help="input size (default: 224)")
    p.add_argument("--architecture", help="a variant as JSON with nin's keys (src/architecture.ts); default d2l's NiN")
    p.add_argument("--variants", help="a JSON file listing {imageSize, architecture} objects: prints one fixture object for all of them")
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.variants:
        with open(a.variants) as f:
            variants = json.load(f)
        print(dumps({
            "what": "Parameters and multiply-adds per layer of d2l's PyTorch NiN and variants, counted in PyTorch with forward hooks",
            "madeBy": "/usr/bin/python3 scripts/reference/torch_summary.py --variants <the variants below as a JSON list>",
            "torch": torch.__version__,
            "variants": [summary(v["imageSize"], v.get("architecture")) for v in variants],
        }))
    else:
        print(dumps(summary(a.image_size, a.architecture)))


if __name__ == "__main__":
    main()
