"""A small synthetic data set in the CIFAR-10 file format, for tests and offline smoke runs.

    python -m cs231n.synthetic_cifar --dir DIR --per-batch 1000     # -> DIR/cifar-10-batches-py/

writes ``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and ``batches.meta`` exactly as the real
files are laid out (pickled dicts with b'batch_label', b'labels', b'data' uint8 (N, 3072),
b'filenames'; the meta file with b'label_names'), so loading it runs the real loader code. The
meta file also carries b'synthetic': True, and the loader warns whenever it reads such a folder.

Each class is a coloured shape or texture (disc, square, ring, cross, triangle, diamond, three
kinds of stripes, checkerboard) at a random place and size, in a jittered class colour, on a random
dark background, with pixel noise: easy enough for a small network to learn, not a constant.
Deterministic: the same seed and sizes give the same bytes. This is NOT CIFAR-10.
"""

import argparse
import os
import pickle
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from .data_utils import CLASSES, IMAGE_SHAPE, PIXELS, TEST_BATCH, TRAIN_BATCHES
from .download import FOLDER_NAME

# Mean foreground colour (R, G, B) of each class; shapes are listed in _mask.
_COLOURS = np.array([
    [220, 50, 50], [50, 190, 70], [60, 100, 235], [240, 210, 40], [165, 70, 210],
    [40, 210, 210], [250, 130, 40], [245, 105, 200], [150, 100, 50], [235, 235, 235],
], dtype=np.float32)
_CHUNK = 2000  # images generated at a time (bounds memory)


def _mask(label, n, rng):
    """Foreground masks (n, 32, 32) of float32 0/1 for n images of one class."""
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    cx, cy = (rng.uniform(10, 22, size=(2, n, 1, 1))).astype(np.float32)
    r = rng.uniform(6, 11, size=(n, 1, 1)).astype(np.float32)
    period = rng.uniform(4, 8, size=(n, 1, 1)).astype(np.float32)
    phase = rng.uniform(0, 8, size=(n, 1, 1)).astype(np.float32)
    dx, dy = xx - cx, yy - cy
    shapes = {
        0: lambda: dx ** 2 + dy ** 2 <= r ** 2,                                  # disc
        1: lambda: np.maximum(abs(dx), abs(dy)) <= 0.8 * r,                     # square
        2: lambda: (dx ** 2 + dy ** 2 <= r ** 2) & (dx ** 2 + dy ** 2 >= (0.55 * r) ** 2),  # ring
        3: lambda: (np.minimum(abs(dx), abs(dy)) <= r / 3) & (np.maximum(abs(dx), abs(dy)) <= r),  # cross
        4: lambda: (dy <= 0.8 * r) & (dy >= -r) & (abs(dx) <= (dy + r) / 2),     # triangle
        5: lambda: abs(dx) + abs(dy) <= r,                                       # diamond
        6: lambda: np.floor((yy + phase) / period) % 2 == 0,                     # horizontal stripes
        7: lambda: np.floor((xx + phase) / period) % 2 == 0,                     # vertical stripes
        8: lambda: (np.floor((xx + phase) / period) + np.floor((yy + phase) / period)) % 2 == 0,  # checks
        9: lambda: np.floor((xx + yy + phase) / period) % 2 == 0,                # diagonal stripes
    }
    return np.broadcast_to(shapes[label](), (n, 32, 32)).astype(np.float32)


def make_images(labels, rng):
    """Images (N, 3, 32, 32) uint8 for the given int labels, drawn from ``rng`` (a numpy Generator)."""
    labels = np.asarray(labels)
    out = np.empty((len(labels), *IMAGE_SHAPE), np.uint8)
    for start in range(0, len(labels), _CHUNK):
        part = labels[start:start + _CHUNK]
        n = len(part)
        mask = np.empty((n, 32, 32), np.float32)
        for label in np.unique(part):
            idx = np.flatnonzero(part == label)
            mask[idx] = _mask(int(label), len(idx), rng)
        fg = np.clip(_COLOURS[part] + rng.normal(0, 20, size=(n, 3)), 0, 255).astype(np.float32)
        bg = rng.uniform(0, 110, size=(n, 3)).astype(np.float32)
        img = bg[:, :, None, None] + mask[:, None] * (fg - bg)[:, :, None, None]  # (n, 3, 32, 32)
        img += 12 * rng.standard_normal(size=img.shape, dtype=np.float32)
        out[start:start + n] = np.clip(np.rint(img), 0, 255)
    return out


def _batch(name, title, size, seed, index):
    """The dict of one batch file; each batch has its own random stream, so sizes don't interact."""
    rng = np.random.default_rng([seed, index])
    labels = rng.permutation(np.arange(size) % len(CLASSES))  # balanced classes
    data = make_images(labels, rng).reshape(size, PIXELS)
    filenames = [f"synthetic_{name}_{i:05d}_{CLASSES[k]}.png".encode() for i, k in enumerate(labels)]
    return {b"batch_label": title.encode(), b"labels": [int(k) for k in labels], b"data": data,
            b"filenames": filenames}


def write_synthetic_cifar10(directory, per_batch=1000, test_size=None, seed=0):
    """Write ``directory/cifar-10-batches-py`` with 5 x per_batch training and test_size test images.

    test_size defaults to per_batch. Refuses (FileExistsError) if that folder already exists;
    the folder appears complete or not at all. Returns its path.
    """
    for value, name in ((per_batch, "per_batch"), (test_size if test_size is not None else 1, "test_size")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= 10_000:
            raise ValueError(f"{name} must be an integer in [1, 10000], got {value!r}")
    test_size = per_batch if test_size is None else int(test_size)
    directory = Path(directory)
    target = directory / FOLDER_NAME
    if target.exists():
        raise FileExistsError(f"{target} already exists; not overwriting it")
    directory.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".synthetic-cifar-", dir=directory))
    try:
        tmp = scratch / FOLDER_NAME
        tmp.mkdir()  # normal permissions (mkdtemp's are private)
        jobs = [(name, f"training batch {i + 1} of 5 (synthetic)", per_batch, i)
                for i, name in enumerate(TRAIN_BATCHES)]
        jobs.append((TEST_BATCH, "testing batch 1 of 1 (synthetic)", test_size, len(TRAIN_BATCHES)))
        for name, title, size, index in jobs:
            with open(tmp / name, "wb") as f:
                pickle.dump(_batch(name, title, size, seed, index), f, protocol=4)
        meta = {b"num_cases_per_batch": per_batch, b"label_names": [c.encode() for c in CLASSES],
                b"num_vis": PIXELS, b"synthetic": True}
        with open(tmp / "batches.meta", "wb") as f:
            pickle.dump(meta, f, protocol=4)
        (tmp / "readme.html").write_text("Synthetic CIFAR-format data made by cs231n.synthetic_cifar; "
                                         "not CIFAR-10.\n", encoding="ascii")
        os.rename(tmp, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cs231n.synthetic_cifar",
                                     description="Write a synthetic data set in the CIFAR-10 file format.")
    parser.add_argument("--dir", required=True, help="folder to create cifar-10-batches-py in")
    parser.add_argument("--per-batch", type=int, default=1000, help="images per training batch (default 1000)")
    parser.add_argument("--test", type=int, default=None, help="test images (default: --per-batch)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        target = write_synthetic_cifar10(args.dir, args.per_batch, args.test, args.seed)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote SYNTHETIC CIFAR-format data (not CIFAR-10) to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
