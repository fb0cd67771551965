#!/usr/bin/env python3
"""d2l's train_ch6 recipe for its PyTorch NiN on Fashion-MNIST: the accuracy `nin train` is compared with
(scripts/accuracy-vs-torch.sh runs the two side by side).

The recipe: Xavier-uniform convolution weights, SGD (no momentum, no weight decay), softmax cross-entropy,
shuffled minibatches of pictures resized to --image-size, pixels in [0, 1]. Per epoch it prints what
d2l reports and in nin's words: the running train loss and accuracy over the epoch's minibatches
(dropout on), test accuracy over the test split in eval mode, and examples/sec timing the training steps
only. Data come from the local IDX files (see fashion_mnist.py); nothing is downloaded.
Needs only python3-torch (apt-get install -y python3-torch):

    /usr/bin/python3 scripts/reference/torch_train.py --image-size 96 --epochs 3 --seed 0

--seed seeds torch's generator before the model is built, so the initial weights are those that
scripts/torch-init-weights.py exports for the same seed; shuffling and dropout draw from it after them.
"""
import argparse
import json
import sys
import time

import torch
from torch import nn

from arguments import cores, positive_number, whole_number
from fashion_mnist import find_data_dir, load_split, resize
from torch_nin import MIN_IMAGE_SIZE, build_nin

TEST_BATCH_SIZE = 500  # inference only: any size gives the same predictions up to float rounding


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=whole_number("--epochs", 1, 10000), default=10, help="passes over the training split (default: 10)")
    p.add_argument("--lr", type=positive_number("--lr", 10000), default=0.1, help="SGD learning rate (default: 0.1, d2l's)")
    p.add_argument("--batch-size", type=whole_number("--batch-size", 1, 4096), default=128, help="minibatch size (default: 128)")
    p.add_argument("--image-size", type=whole_number("--image-size", MIN_IMAGE_SIZE, 1024), default=224, help="pictures are resized to this (default: 224, d2l's)")
    p.add_argument("--seed", type=whole_number("--seed", 0, 2**32 - 1), default=0, help="torch.manual_seed before the model is built (default: 0)")
    p.add_argument("--threads", type=whole_number("--threads", 0, 1024), default=0, help="PyTorch threads; 0: every core this process may use (default)")
    p.add_argument("--train-limit", type=whole_number("--train-limit", 0, 60000), default=0, help="train on the first N training images only (default: 0, all)")
    p.add_argument("--test-limit", type=whole_number("--test-limit", 0, 10000), default=0, help="test on the first N test images only (default: 0, all)")
    p.add_argument("--data-dir", help="directory of the four IDX files (default: $NIN_DATA_DIR, data/fashion-mnist, /usr/share/datasets/fashion-mnist)")
    p.add_argument("--json", action="store_true", help="one JSON object per epoch (nin's metrics.jsonl keys) instead of the epoch lines")
    return p.parse_args()


def test_accuracy(net, images, labels, image_size):
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(images), TEST_BATCH_SIZE):
            predicted = net(resize(images[i: i + TEST_BATCH_SIZE], image_size)).argmax(1)
            correct += (predicted == labels[i: i + TEST_BATCH_SIZE]).sum().item()
    return correct / len(images)


def train(a, report):
    train_x, train_y = load_split("train", a.data_dir, a.train_limit)
    test_x, test_y = load_split("test", a.data_dir, a.test_limit)
    net = build_nin(a.seed)  # seeds torch's generator: every draw below follows from --seed
    optimizer = torch.optim.SGD(net.parameters(), lr=a.lr)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(1, a.epochs + 1):
        started = time.perf_counter()
        net.train()
        order = torch.randperm(len(train_x))
        loss_sum = correct = examples = 0
        train_seconds = 0.0
        for i in range(0, len(train_x), a.batch_size):
            batch = order[i: i + a.batch_size]
            x, y = resize(train_x[batch], a.image_size), train_y[batch]
            step_started = time.perf_counter()  # d2l's timer: the training step only, not the data
            optimizer.zero_grad()
            logits = net(x)
            loss = loss_fn(logits, y)
            loss.backward()
            optimizer.step()
            train_seconds += time.perf_counter() - step_started
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            examples += len(y)
        report({"epoch": epoch, "epochs": a.epochs, "loss": loss_sum / examples, "trainAcc": correct / examples,
                "testAcc": test_accuracy(net, test_x, test_y, a.image_size),
                "examplesPerSec": examples / train_seconds, "seconds": time.perf_counter() - started})


def main():
    a = parse_args()
    torch.set_num_threads(a.threads or cores())
    threads = torch.get_num_threads()
    print(f"pytorch {torch.__version__}, {threads} thread{'' if threads == 1 else 's'}: d2l's NiN, SGD lr {a.lr}, batch {a.batch_size}, "
          f"{a.image_size}px, seed {a.seed}, data {find_data_dir(a.data_dir)}", file=sys.stderr)

    def report(m):
        if a.json:
            print(json.dumps(m, separators=(",", ":")), flush=True)
        else:  # nin train's epoch line
            print(f"epoch {m['epoch']}/{m['epochs']}: loss {m['loss']:.3f}, train acc {m['trainAcc']:.3f}, "
                  f"test acc {m['testAcc']:.3f}, {m['examplesPerSec']:.1f} examples/sec", flush=True)

    train(a, report)


if __name__ == "__main__":
    main()
