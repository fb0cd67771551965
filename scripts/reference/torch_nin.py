"""d2l's Network in Network in PyTorch, exactly as the d2l notebook defines it: the one definition of the
PyTorch reference model that every comparison script in scripts/ builds on.

build_nin(seed) also initialises it as d2l's train_ch6 does (Xavier-uniform on every convolution's weight,
biases left at PyTorch's default), so scripts that pass the same seed start from the same weights.
"""
import torch
from torch import nn

# Three 3x3 stride-2 max-pools after an 11x11 stride-4 convolution: smaller inputs shrink to nothing.
MIN_IMAGE_SIZE = 67
NUM_CLASSES = 10


def nin_block(in_channels, out_channels, kernel_size, stride, padding):
    """One ordinary convolution, then two 1x1 convolutions (a per-pixel MLP over channels), each with ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU())


def nin_net():
    """The notebook's `net`, with PyTorch's default initialisation. Modules are created in the notebook's
    order, and that order is the order of random draws: reordering them changes every seeded weight."""
    return nn.Sequential(
        nin_block(1, 96, kernel_size=11, stride=4, padding=0), nn.MaxPool2d(3, stride=2),
        nin_block(96, 256, kernel_size=5, stride=1, padding=2), nn.MaxPool2d(3, stride=2),
        nin_block(256, 384, kernel_size=3, stride=1, padding=1), nn.MaxPool2d(3, stride=2),
        nn.Dropout(0.5),
        nin_block(384, NUM_CLASSES, kernel_size=3, stride=1, padding=1),  # one channel per class
        nn.AdaptiveAvgPool2d((1, 1)),  # global average pooling replaces the dense classifier
        nn.Flatten())


def xavier_init(net):
    """train_ch6's init_weights: Xavier-uniform for every Conv2d (and Linear, of which NiN has none)."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
    return net


def build_nin(seed=None):
    """d2l's NiN as train_ch6 starts it. With a seed, torch's global generator is seeded first, so the
    weights are a function of the seed and the draws that follow (shuffling, dropout) continue from it."""
    if seed is not None:
        torch.manual_seed(seed)
    return xavier_init(nin_net())


def nin_blocks(net):
    """The four NiN blocks of a net built here, in order."""
    return [module for module in net if isinstance(module, nn.Sequential)]


def named_convs(net):
    """(nin's layer name, Conv2d) for every convolution, in order: block1_conv1 ... block4_conv3,
    the names nin's TF.js model gives the same layers."""
    return [(f"block{b}_conv{c}", conv)
            for b, block in enumerate(nin_blocks(net), 1)
            for c, conv in enumerate((m for m in block if isinstance(m, nn.Conv2d)), 1)]
