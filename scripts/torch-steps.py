#!/usr/bin/env python3
"""PyTorch's side of scripts/steps-vs-torch.sh: d2l's NiN or a variant (scripts/reference/torch_nin.py), from PyTorch's
initialisation for a seed or from given weights, trained with plain SGD on the first training images in
file order, dropout off, printing each step's loss.

Without shuffling and dropout nothing random is left, so nin, started from the same weights, must print the
same losses up to float rounding (scripts/nin-steps.js; test/fixtures/torch-steps.json was made this way).
"""
import argparse
import os
import runpy
import sys

import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "reference"))
from fashion_mnist import load_split, resize  # noqa: E402
from torch_nin import build_nin  # noqa: E402

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--steps", type=int, default=20)
p.add_argument("--image-size", type=int, default=96)
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--architecture", help="a NiN variant as JSON with nin's keys (src/architecture.ts), e.g. '{\"head\": \"dense\"}'; default d2l's")
g = p.add_mutually_exclusive_group(required=True)
g.add_argument("--init-out", help="draw PyTorch's initialisation for --seed and write it here for nin (.json + .bin)")
g.add_argument("--init-weights", help="start from this TF.js weights manifest instead (as nin train --init-weights reads)")
p.add_argument("--data-dir", help="directory of the IDX files (default: where nin looks, then /usr/share/datasets/fashion-mnist)")
a = p.parse_args()
torch.set_num_threads(1)

manifest = runpy.run_path(os.path.join(here, "torch-init-weights.py"))  # its name is not importable
net = build_nin(a.seed, a.architecture, a.image_size)
if a.init_weights:
    manifest["read_manifest"](net, a.init_weights)
else:
    manifest["write_manifest"](net, a.init_out)

X, y = load_split("train", a.data_dir, a.steps * a.batch_size)
opt = torch.optim.SGD(net.parameters(), lr=a.lr)
net.eval()  # dropout off; NiN has no other layer that eval mode changes
for s in range(a.steps):
    batch = slice(s * a.batch_size, (s + 1) * a.batch_size)
    opt.zero_grad()
    loss = F.cross_entropy(net(resize(X[batch], a.image_size)), y[batch])
    loss.backward()
    opt.step()
    print(f"step {s + 1} loss {loss.item():.7f}", flush=True)
