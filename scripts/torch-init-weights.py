#!/usr/bin/env python3
"""The initial weights d2l's PyTorch NiN draws for a seed, as a TF.js weights manifest for `nin train --init-weights`.

The network is scripts/reference/torch_nin.py's build_nin(seed), the same that reference/torch_train.py
trains with --seed (torch.manual_seed(seed), the modules in d2l's order, xavier_uniform_ on every conv
weight, biases at PyTorch's default), so `nin train --seed S --init-weights F.json` and
`torch_train.py --seed S` start from the very same weights and differ only in the order of examples and
the dropout masks. Needs python3-torch.

    /usr/bin/python3 scripts/torch-init-weights.py --seed 0 --out torch-init-s0.json   # writes .json and .bin
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
from torch import nn  # noqa: E402
from torch_nin import build_nin, named_layers  # noqa: E402


def tfjs_layouts(net):
    """(name, module, to_tfjs, from_tfjs) for every weight layer: the kernel's layout changes between the two.
    A convolution's kernel is out x in x height x width in PyTorch, height x width x in x out in TF.js. A dense
    layer's is out x features in PyTorch, features x out in TF.js, and the features are flattened in another
    order: PyTorch flattens NCHW (channel-major), TF.js NHWC (position-major)."""
    layouts, channels = [], None
    for name, module in named_layers(net):
        if isinstance(module, nn.Conv2d):
            channels = module.out_channels
            layouts.append((name, module, lambda w: w.permute(2, 3, 1, 0), lambda k: k.permute(3, 2, 0, 1)))
            continue
        c, units = channels, module.out_features
        side = int(round((module.in_features // c) ** 0.5))
        layouts.append((name, module,
                        lambda w, c=c, side=side, units=units: w.reshape(units, c, side, side).permute(2, 3, 1, 0).reshape(-1, units),
                        lambda k, c=c, side=side, units=units: k.reshape(side, side, c, units).permute(3, 2, 0, 1).reshape(units, -1)))
    return layouts


def write_manifest(net, out):
    """Writes the weights as nin reads them: TF.js names and layouts (tfjs_layouts), float32."""
    bin_path = os.path.splitext(out)[0] + ".bin"
    specs, chunks = [], []
    for name, layer, to_tfjs, _ in tfjs_layouts(net):
        for suffix, t in (("kernel", to_tfjs(layer.weight.detach())), ("bias", layer.bias.detach())):
            specs.append({"name": f"{name}/{suffix}", "shape": list(t.shape), "dtype": "float32"})
            chunks.append(t.contiguous().numpy().astype("<f4").tobytes())
    with open(bin_path, "wb") as f:
        f.write(b"".join(chunks))
    with open(out, "w") as f:
        json.dump({"weightsManifest": [{"paths": [os.path.basename(bin_path)], "weights": specs}]}, f, indent=1)
    return bin_path


def read_manifest(net, manifest_file):
    """Sets the layers' weights from a TF.js weights manifest (the inverse of write_manifest)."""
    with open(manifest_file) as f:
        groups = json.load(f)["weightsManifest"]
    base = os.path.dirname(os.path.abspath(manifest_file))
    data = b""
    for path in (p for g in groups for p in g["paths"]):
        with open(os.path.join(base, path), "rb") as f:
            data += f.read()
    values, offset = {}, 0
    for spec in (w for g in groups for w in g["weights"]):
        count = int(np.prod(spec["shape"]))
        values[spec["name"]] = torch.from_numpy(np.frombuffer(data, "<f4", count, offset).reshape(spec["shape"]).copy())
        offset += 4 * count
    with torch.no_grad():
        for name, layer, _, from_tfjs in tfjs_layouts(net):
            layer.weight.copy_(from_tfjs(values[f"{name}/kernel"]))
            layer.bias.copy_(values[f"{name}/bias"])


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="manifest to write (.json); the weights go beside it as .bin")
    p.add_argument("--architecture", help="a NiN variant as JSON with nin's keys, e.g. '{\"blockConvs\": 1}' (default: d2l's)")
    p.add_argument("--image-size", type=int, default=224, help="input size, which the dense head's weights depend on (default: 224)")
    a = p.parse_args()
    bin_path = write_manifest(build_nin(a.seed, a.architecture, a.image_size), a.out)
    variant = f" variant {a.architecture}" if a.architecture else ""
    print(f"wrote {a.out} and {bin_path}: PyTorch's initialisation of d2l's NiN{variant}, seed {a.seed}")
