"""d2l's Network in Network in PyTorch, exactly as the d2l notebook defines it, and the variants of its
chapter's exercises built from the same architecture description as nin's (src/architecture.ts): the one
definition of the PyTorch reference model that every comparison script in scripts/ builds on.

build_nin(seed) also initialises it as d2l's train_ch6 does (Xavier-uniform on every convolution's and linear
layer's weight, biases left at PyTorch's default), so scripts that pass the same seed start from the same
weights. Without an architecture (or with d2l's) the modules are the notebook's, created in its order.
"""
import json
import math

import torch
from torch import nn

# Three 3x3 stride-2 max-pools after an 11x11 stride-4 convolution: smaller inputs shrink to nothing.
# Every variant below keeps that spatial path, so the bound holds for each.
MIN_IMAGE_SIZE = 67
NUM_CLASSES = 10

# nin's architecture keys (src/architecture.ts) with d2l's values.
DEFAULT_ARCHITECTURE = {"blockConvs": 2, "blockKernel": 1, "head": "gap", "width": 1, "bottleneck": None, "depth": "nin-12"}
# NiN blocks per stage of each member of the VGG-style family: stages 2 and 3 repeat theirs (nin's DEPTHS).
DEPTHS = {"nin-12": (1, 1, 1, 1), "nin-18": (1, 2, 2, 1), "nin-24": (1, 3, 3, 1)}
# Each stage's first convolution as d2l writes it: (out_channels, kernel_size, stride, padding); the last
# stage outputs one channel per class.
STAGES = ((96, 11, 4, 0), (256, 5, 1, 2), (384, 3, 1, 1), (NUM_CLASSES, 3, 1, 1))


def architecture_of(description=None):
    """d2l's architecture with the keys of `description` (a dict, or its JSON text) over it."""
    if isinstance(description, str):
        description = json.loads(description)
    unknown = set(description or {}) - set(DEFAULT_ARCHITECTURE)
    if unknown:
        raise ValueError(f"unknown architecture keys {sorted(unknown)}; known: {sorted(DEFAULT_ARCHITECTURE)}")
    return {**DEFAULT_ARCHITECTURE, **(description or {})}


def nin_block(in_channels, out_channels, kernel_size, stride, padding, convs=2, conv_kernel=1, inner_channels=None):
    """One ordinary convolution, then `convs` convolutions of `conv_kernel` ('same' padding; d2l: two 1x1, a
    per-pixel MLP over channels), each with ReLU. With inner_channels (a bottleneck) every convolution but the
    last outputs that many channels, the last out_channels."""
    layers = []
    channels = in_channels
    for i in range(1 + convs):
        width = out_channels if i == convs or inner_channels is None else inner_channels
        if i == 0:
            layers.append(nn.Conv2d(channels, width, kernel_size, stride, padding))
        else:
            layers.append(nn.Conv2d(channels, width, kernel_size=conv_kernel, padding=conv_kernel // 2))
        layers.append(nn.ReLU())
        channels = width
    return nn.Sequential(*layers)


def final_size(image_size):
    """The side of the last block's feature map: after the 11x11/4 stem and three 3x3/2 max-pools."""
    size = (image_size - 11) // 4 + 1
    for _ in range(3):
        size = (size - 3) // 2 + 1
    return size


def nin_net(architecture=None, image_size=None):
    """The notebook's `net` (or a variant), with PyTorch's default initialisation. Modules are created in the
    notebook's order, and that order is the order of random draws: reordering them changes every seeded
    weight. With d2l's architecture this is, module for module:

        nin_block(1, 96, kernel_size=11, stride=4, padding=0), nn.MaxPool2d(3, stride=2),
        nin_block(96, 256, kernel_size=5, stride=1, padding=2), nn.MaxPool2d(3, stride=2),
        nin_block(256, 384, kernel_size=3, stride=1, padding=1), nn.MaxPool2d(3, stride=2),
        nn.Dropout(0.5),
        nin_block(384, NUM_CLASSES, kernel_size=3, stride=1, padding=1),  # one channel per class
        nn.AdaptiveAvgPool2d((1, 1)),  # global average pooling replaces the dense classifier
        nn.Flatten()

    The dense head (exercise 3) needs image_size: its one Linear layer takes the last block's whole output."""
    a = architecture_of(architecture)
    modules, channels = [], 1
    for s, ((out, kernel, stride, padding), blocks) in enumerate(zip(STAGES, DEPTHS[a["depth"]])):
        last = s == len(STAGES) - 1
        if last:
            modules.append(nn.Dropout(0.5))
        # nin rounds half up (JavaScript's Math.round), Python's round() to even: floor(x + 0.5) is nin's.
        width = out if last else math.floor(out * a["width"] + 0.5)
        for r in range(blocks):
            # A stage's repeated blocks open with a 3x3 convolution, stride 1, 'same', at the stage's width.
            first = (kernel, stride, padding) if r == 0 else (3, 1, 1)
            modules.append(nin_block(channels, width, *first, convs=a["blockConvs"], conv_kernel=a["blockKernel"],
                                     inner_channels=a["bottleneck"] if last else None))
            channels = width
        if not last:
            modules.append(nn.MaxPool2d(3, stride=2))
    if a["head"] == "gap":
        modules += [nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten()]
    else:
        if image_size is None:
            raise ValueError("the dense head needs the image size")
        modules += [nn.Flatten(), nn.Linear(channels * final_size(image_size) ** 2, NUM_CLASSES)]
    return nn.Sequential(*modules)


def xavier_init(net):
    """train_ch6's init_weights: Xavier-uniform for every Conv2d and Linear."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
    return net


def build_nin(seed=None, architecture=None, image_size=None):
    """d2l's NiN (or a variant) as train_ch6 starts it. With a seed, torch's global generator is seeded first,
    so the weights are a function of the seed and the draws that follow (shuffling, dropout) continue from it."""
    if seed is not None:
        torch.manual_seed(seed)
    return xavier_init(nin_net(architecture, image_size))


def named_layers(net):
    """(nin's layer name, module) for every Conv2d and Linear, in order: block1_conv1 ... block4_conv3 (a
    stage's repeated blocks are block2b, block2c, ...), then dense, the names nin's TF.js model gives them."""
    named, stage, repeat = [], 1, 0
    for module in net:
        if isinstance(module, nn.MaxPool2d):
            stage, repeat = stage + 1, 0
        elif isinstance(module, nn.Sequential):
            block = f"block{stage}{chr(ord('a') + repeat) if repeat else ''}"
            convs = (m for m in module if isinstance(m, nn.Conv2d))
            named += [(f"{block}_conv{c}", conv) for c, conv in enumerate(convs, 1)]
            repeat += 1
        elif isinstance(module, nn.Linear):
            named.append(("dense", module))
    return named
