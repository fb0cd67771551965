#!/usr/bin/env python3
"""Training and inference images/s of d2l's PyTorch NiN on synthetic input: the figure `nin bench` is
compared with (scripts/bench-vs-torch.sh runs the two alternately).

Measured as `nin bench` measures itself and as d2l's train_ch6 times an epoch: one warm-up step (it
creates oneDNN primitives and allocates), then the timer runs around forward + loss + backward + SGD
update only; inference likewise, one warm-up forward pass, then timed passes in eval mode.
`--autocast bf16` runs forward and loss under torch.autocast("cpu", bfloat16), PyTorch's own mixed
precision (weights and update stay float32): its fastest CPU setting where the CPU has AVX512-BF16 or AMX.
Needs only python3-torch (apt-get install -y python3-torch):

    /usr/bin/python3 scripts/reference/torch_bench.py --image-size 96 --batch-size 64 --steps 5 --json
"""
import argparse
import json
import re
import time

import torch
from torch import nn

from arguments import cores, whole_number
from torch_nin import MIN_IMAGE_SIZE, NUM_CLASSES, build_nin

LEARNING_RATE = 0.1  # d2l's; the value does not change the cost of a step


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image-size", type=whole_number("--image-size", MIN_IMAGE_SIZE, 1024), default=224, help="input size (default: 224)")
    p.add_argument("--batch-size", type=whole_number("--batch-size", 1, 4096), default=128, help="batch size (default: 128)")
    p.add_argument("--steps", type=whole_number("--steps", 1, 10000), default=3, help="timed steps after one warm-up (default: 3)")
    p.add_argument("--threads", type=whole_number("--threads", 0, 1024), default=0, help="PyTorch threads; 0: every core this process may use (default)")
    p.add_argument("--autocast", choices=["none", "bf16"], default="none", help="bf16: forward and loss under torch.autocast on CPU (default: none)")
    p.add_argument("--json", action="store_true", help="print one JSON object, with nin bench --json's keys")
    return p.parse_args()


def bench(image_size, batch_size, steps, autocast):
    """(training images/s, inference images/s, a training step's CPU seconds, every thread's)."""
    net = build_nin(seed=0)  # seeds the synthetic input below too: every run sees the same numbers
    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(batch_size, 1, image_size, image_size)
    y = torch.randint(0, NUM_CLASSES, (batch_size,))

    def precision():
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast == "bf16")

    def train_step():
        optimizer.zero_grad()
        with precision():
            loss = loss_fn(net(x), y)
        loss.backward()
        optimizer.step()

    def timed(fn):
        """(images/s, CPU seconds per call): CPU time says what a call costs on a machine others share too."""
        fn()  # warm-up, not timed
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            fn()
        return batch_size * steps / (time.perf_counter() - start), (time.process_time() - cpu) / steps

    net.train()
    train, train_cpu = timed(train_step)
    net.eval()
    with torch.no_grad(), precision():
        infer, _ = timed(lambda: net(x))
    return train, infer, train_cpu


def onednn_version():
    """", oneDNN 2.6.3" when this PyTorch was built with oneDNN (its build info still says MKL-DNN), else ""."""
    found = re.search(r"MKL-DNN v([0-9.]+)", torch.__config__.show())
    return f", oneDNN {found.group(1)}" if found else ""


def main():
    a = parse_args()
    torch.set_num_threads(a.threads or cores())
    train, infer, train_cpu = bench(a.image_size, a.batch_size, a.steps, a.autocast)
    threads = torch.get_num_threads()
    detail = f"PyTorch {torch.__version__}{onednn_version()}, {threads} threads" + (", bf16 autocast" if a.autocast == "bf16" else "")
    result = {"backend": "pytorch", "detail": detail, "imageSize": a.image_size, "batchSize": a.batch_size,
              "threads": threads, "steps": a.steps, "autocast": a.autocast,
              "trainImagesPerSec": round(train, 2), "inferImagesPerSec": round(infer, 2),
              "trainStepCpuMs": round(train_cpu * 1000, 1)}
    if a.json:
        print(json.dumps(result, separators=(",", ":")))
    else:  # nin bench's line
        print(f"pytorch ({detail}), {a.image_size}px, batch {a.batch_size}: "
              f"train {result['trainImagesPerSec']} images/s, inference {result['inferImagesPerSec']} images/s")


if __name__ == "__main__":
    main()
