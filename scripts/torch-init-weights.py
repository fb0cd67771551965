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

import torch
from torch import nn

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--out", required=True, help="manifest to write (.json); the weights go beside it as .bin")
a = p.parse_args()

torch.manual_seed(a.seed)


def nin_block(i, o, k, s, pad):
    return nn.Sequential(nn.Conv2d(i, o, k, s, pad), nn.ReLU(), nn.Conv2d(o, o, 1), nn.ReLU(), nn.Conv2d(o, o, 1), nn.ReLU())


# The order of construction is the order of random draws: it must stay d2l's.
blocks = [nin_block(1, 96, 11, 4, 0), nin_block(96, 256, 5, 1, 2), nin_block(256, 384, 3, 1, 1), nin_block(384, 10, 3, 1, 1)]
net = nn.Sequential(
    blocks[0], nn.MaxPool2d(3, 2), blocks[1], nn.MaxPool2d(3, 2), blocks[2], nn.MaxPool2d(3, 2),
    nn.Dropout(0.5), blocks[3], nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())
for m in net.modules():
    if isinstance(m, nn.Conv2d):
        nn.init.xavier_uniform_(m.weight)

bin_path = os.path.splitext(a.out)[0] + ".bin"
specs, chunks = [], []
for b, block in enumerate(blocks, 1):
    convs = [m for m in block if isinstance(m, nn.Conv2d)]
    for c, conv in enumerate(convs, 1):
        # PyTorch keeps kernels as out x in x height x width; TF.js as height x width x in x out.
        kernel = conv.weight.detach().permute(2, 3, 1, 0).contiguous()
        bias = conv.bias.detach().contiguous()
        for name, t in ((f"block{b}_conv{c}/kernel", kernel), (f"block{b}_conv{c}/bias", bias)):
            specs.append({"name": name, "shape": list(t.shape), "dtype": "float32"})
            chunks.append(t.numpy().astype("<f4").tobytes())
with open(bin_path, "wb") as f:
    f.write(b"".join(chunks))
with open(a.out, "w") as f:
    json.dump({"weightsManifest": [{"paths": [os.path.basename(bin_path)], "weights": specs}]}, f, indent=1)
print(f"wrote {a.out} and {bin_path}: PyTorch's initialisation of d2l's NiN, seed {a.seed}")
