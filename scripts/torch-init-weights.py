#!/usr/bin/env python3
"""The initial weights d2l's PyTorch NiN draws for a seed, as a TF.js weights manifest for `nin train --init-weights`.

Builds the network the way ../shared/anchors/torch_nin_train.py does (torch.manual_seed(seed), then the
modules in d2l's order, then xavier_uniform_ on every conv weight; biases keep PyTorch's default), so that
`nin train --seed S --init-weights F.json` and the anchor's `--seed S` start from the very same weights and
differ only in the order of examples and the dropout masks. Needs python3-torch.

    /usr/bin/python3 scripts/torch-init-weights.py --seed 0 --out torch-init-s0.json   # writes .json and .bin
"""
import argparse
import json
import os

import numpy as np
import torch
from torch import nn


def nin_block(i, o, k, s, pad):
    return nn.Sequential(nn.Conv2d(i, o, k, s, pad), nn.ReLU(), nn.Conv2d(o, o, 1), nn.ReLU(), nn.Conv2d(o, o, 1), nn.ReLU())


def build_net(seed):
    """d2l's NiN with the anchor's initialisation for `seed`; returns the net and its four NiN blocks."""
    torch.manual_seed(seed)
    # The order of construction is the order of random draws: it must stay d2l's.
    blocks = [nin_block(1, 96, 11, 4, 0), nin_block(96, 256, 5, 1, 2), nin_block(256, 384, 3, 1, 1), nin_block(384, 10, 3, 1, 1)]
    net = nn.Sequential(
        blocks[0], nn.MaxPool2d(3, 2), blocks[1], nn.MaxPool2d(3, 2), blocks[2], nn.MaxPool2d(3, 2),
        nn.Dropout(0.5), blocks[3], nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
    return net, blocks


def convs(blocks):
    """(nin's layer name, Conv2d) for every convolution, in nin's order."""
    return [(f"block{b}_conv{c}", conv) for b, block in enumerate(blocks, 1)
            for c, conv in enumerate((m for m in block if isinstance(m, nn.Conv2d)), 1)]


def write_manifest(blocks, out):
    """Writes the weights as nin reads them: TF.js names, kernels height x width x in x out, float32."""
    bin_path = os.path.splitext(out)[0] + ".bin"
    specs, chunks = [], []
    for name, conv in convs(blocks):
        # PyTorch keeps kernels as out x in x height x width; TF.js as height x width x in x out.
        for suffix, t in (("kernel", conv.weight.detach().permute(2, 3, 1, 0)), ("bias", conv.bias.detach())):
            specs.append({"name": f"{name}/{suffix}", "shape": list(t.shape), "dtype": "float32"})
            chunks.append(t.contiguous().numpy().astype("<f4").tobytes())
    with open(bin_path, "wb") as f:
        f.write(b"".join(chunks))
    with open(out, "w") as f:
        json.dump({"weightsManifest": [{"paths": [os.path.basename(bin_path)], "weights": specs}]}, f, indent=1)
    return bin_path


def read_manifest(blocks, manifest_file):
    """Sets the convolutions' weights from a TF.js weights manifest (the inverse of write_manifest)."""
    groups = json.load(open(manifest_file))["weightsManifest"]
    base = os.path.dirname(os.path.abspath(manifest_file))
    data = b"".join(open(os.path.join(base, p), "rb").read() for g in groups for p in g["paths"])
    values, offset = {}, 0
    for spec in (w for g in groups for w in g["weights"]):
        count = int(np.prod(spec["shape"]))
        values[spec["name"]] = torch.from_numpy(np.frombuffer(data, "<f4", count, offset).reshape(spec["shape"]).copy())
        offset += 4 * count
    with torch.no_grad():
        for name, conv in convs(blocks):
            conv.weight.copy_(values[f"{name}/kernel"].permute(3, 2, 0, 1))
            conv.bias.copy_(values[f"{name}/bias"])


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="manifest to write (.json); the weights go beside it as .bin")
    a = p.parse_args()
    net, blocks = build_net(a.seed)
    bin_path = write_manifest(blocks, a.out)
    print(f"wrote {a.out} and {bin_path}: PyTorch's initialisation of d2l's NiN, seed {a.seed}")
