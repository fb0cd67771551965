"""Fashion-MNIST for the PyTorch reference scripts: finds the four official IDX files (gzipped or not) where
nin looks for them, checks their headers, and resizes batches the way nin's input pipeline does.
Reads local files only; it never downloads anything (`nin data --download` or Debian's
dataset-fashion-mnist provide them).
"""
import gzip
import os

import numpy as np
import torch
import torch.nn.functional as F

IMAGE_HEADER_MAGIC = 2051  # IDX: unsigned bytes, 3 dimensions
LABEL_HEADER_MAGIC = 2049  # IDX: unsigned bytes, 1 dimension
IMAGE_SIDE = 28
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# nin's own search order, after --data-dir.
DEFAULT_DIRS = [os.environ.get("NIN_DATA_DIR"), os.path.join(REPO_ROOT, "data", "fashion-mnist"),
                "/usr/share/datasets/fashion-mnist"]


def _file(directory, name):
    """The path of an IDX file in directory, gzipped or not, or None."""
    for candidate in (os.path.join(directory, name), os.path.join(directory, name + ".gz")):
        if os.path.isfile(candidate):
            return candidate
    return None


def find_data_dir(data_dir=None):
    """data_dir if given, else the first of nin's default places that holds all four files."""
    names = [name for pair in FILES.values() for name in pair]
    for directory in [data_dir] if data_dir else [d for d in DEFAULT_DIRS if d]:
        missing = [name for name in names if not _file(directory, name)]
        if not missing:
            return directory
        if data_dir:
            raise SystemExit(f"Fashion-MNIST not found in {data_dir}: missing {', '.join(missing)}")
    raise SystemExit("Fashion-MNIST not found (looked in " + ", ".join(d for d in DEFAULT_DIRS if d) +
                     "); apt-get install dataset-fashion-mnist, or nin data --download")


def _read_idx(path, magic, dims):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    header = np.frombuffer(raw, ">u4", 1 + dims)
    if header[0] != magic:
        raise SystemExit(f"{path}: wrong magic number {header[0]}, expected {magic}")
    shape = tuple(int(n) for n in header[1:])
    body = np.frombuffer(raw, np.uint8, offset=4 * (1 + dims))
    if body.size != int(np.prod(shape)):
        raise SystemExit(f"{path}: expected {int(np.prod(shape))} bytes for dims {list(shape)}, got {body.size}")
    return body.reshape(shape)


def load_split(split, data_dir=None, limit=0):
    """(images, labels) of "train" or "test" in file order: float32 N x 1 x 28 x 28 in [0, 1], int64 N.
    limit > 0 keeps the first `limit` examples."""
    directory = find_data_dir(data_dir)
    image_name, label_name = FILES[split]
    images = _read_idx(_file(directory, image_name), IMAGE_HEADER_MAGIC, 3)
    labels = _read_idx(_file(directory, label_name), LABEL_HEADER_MAGIC, 1)
    if len(images) != len(labels):
        raise SystemExit(f"{directory}: {image_name} holds {len(images)} images but {label_name} holds {len(labels)} labels")
    if limit:
        images, labels = images[:limit], labels[:limit]
    x = torch.tensor(images.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE)).float() / 255
    return x, torch.tensor(labels).long()


def resize(images, image_size):
    """Bilinear, half-pixel centres (align_corners=False), on float pixels: what nin's pipeline computes.
    d2l resizes the uint8 PIL image with torchvision instead, which rounds the result to whole grey levels."""
    return F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)
