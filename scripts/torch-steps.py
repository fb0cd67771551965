#!/usr/bin/env python3
"""PyTorch's side of scripts/steps-vs-torch.sh: d2l's NiN, from PyTorch's initialisation for a seed or from
given weights, trained with plain SGD on the first training images in file order, dropout off, printing
each step's loss.

Without shuffling and dropout nothing random is left, so nin, started from the same weights, must print the
same losses up to float rounding (scripts/nin-steps.js; test/fixtures/torch-steps.json was made this way).
"""
import argparse, gzip, os, runpy

import numpy as np
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--steps", type=int, default=20)
p.add_argument("--image-size", type=int, default=96)
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--lr", type=float, default=0.1)
g = p.add_mutually_exclusive_group(required=True)
g.add_argument("--init-out", help="draw PyTorch's initialisation for --seed and write it here for nin (.json + .bin)")
g.add_argument("--init-weights", help="start from this TF.js weights manifest instead (as nin train --init-weights reads)")
p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
a = p.parse_args()
torch.set_num_threads(1)

init = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch-init-weights.py"))
net, blocks = init["build_net"](a.seed)
if a.init_weights:
    init["read_manifest"](blocks, a.init_weights)
else:
    init["write_manifest"](blocks, a.init_out)

n = a.steps * a.batch_size
raw = gzip.open(os.path.join(a.data_dir, "train-images-idx3-ubyte.gz")).read()
X = torch.tensor(np.frombuffer(raw, np.uint8, offset=16)[: n * 784].reshape(-1, 1, 28, 28)).float() / 255
y = torch.tensor(np.frombuffer(gzip.open(os.path.join(a.data_dir, "train-labels-idx1-ubyte.gz")).read(), np.uint8, offset=8)[:n]).long()
opt = torch.optim.SGD(net.parameters(), lr=a.lr)
net.eval()  # dropout off; NiN has no other layer that eval mode changes
for s in range(a.steps):
    xb = F.interpolate(X[s * a.batch_size: (s + 1) * a.batch_size], size=(a.image_size, a.image_size), mode="bilinear", align_corners=False)
    opt.zero_grad()
    loss = F.cross_entropy(net(xb), y[s * a.batch_size: (s + 1) * a.batch_size])
    loss.backward()
    opt.step()
    print(f"step {s + 1} loss {loss.item():.7f}", flush=True)
