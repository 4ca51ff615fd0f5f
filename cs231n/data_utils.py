"""Load CIFAR-10 for the notebooks: (N, C, H, W) arrays, safely unpickled, in little memory.

Layout: every image array is (N, C, H, W) = (N, 3, 32, 32), channels R, G, B. This is also the
order of a row of the CIFAR-10 files (1024 red, 1024 green, 1024 blue values, each 32x32 row-major),
so no transpose is ever needed. Labels are int64 in 0..9, naming ``CLASSES[label]``.

Where the data lives: ``cifar10_dir()`` = ``$CS231N_DATA_DIR/cifar-10-batches-py`` if that variable
is set, else ``datasets/cifar-10-batches-py`` in the repository (independent of the current
folder). Fetch it once with ``bash datasets/get_datasets.sh`` or ``python -m cs231n.download``.

The batch files are pickles. Unpickling can run arbitrary code, so they are read by an unpickler
that only accepts what CIFAR-10 batches contain (numpy arrays, lists, numbers, strings) and refuses
anything else before it runs.

Synthetic data (a small generated set in the same file format, see ``cs231n.synthetic_cifar``) is
used only when asked for: ``get_CIFAR10_data(synthetic=True)`` or ``CS231N_SYNTHETIC_DATA=1``,
and always with a warning.
"""

import math
import os
import pickle
import tempfile
import warnings
from pathlib import Path

import numpy as np

from . import _validate
from .download import BATCH_FILES, FETCH_COMMAND, FOLDER_NAME, data_dir

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TRAIN_BATCHES = BATCH_FILES[:5]
TEST_BATCH = BATCH_FILES[5]
IMAGE_SHAPE = (3, 32, 32)  # (C, H, W)
PIXELS = 3 * 32 * 32
MAX_TRAIN, MAX_TEST = 50_000, 10_000


class CIFAR10NotFoundError(FileNotFoundError):
    """The CIFAR-10 files are missing; the message says where we looked and how to fetch them."""


class CIFARFormatError(ValueError):
    """A file is a readable pickle but not a CIFAR-10 batch (wrong keys, shape, dtype or labels)."""


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for something a CIFAR-10 batch never contains (possibly malicious)."""


class SyntheticDataWarning(UserWarning):
    """Synthetic CIFAR-format data is being used instead of CIFAR-10."""


# --- safe unpickling -------------------------------------------------------------------------

def _latin1_encode(text, encoding="latin1"):
    """Stand-in for ``_codecs.encode``, which protocol-2 pickles use to rebuild bytes objects."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise UnsafePickleError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


# numpy's array-rebuilding functions live in numpy.core (numpy 1) or numpy._core (numpy 2);
# take them from numpy's own pickling rather than from a private module path.
_RECONSTRUCT = np.zeros(1, np.uint8).__reduce_ex__(2)[0]
_FROMBUFFER = np.zeros(1, np.uint8).__reduce_ex__(5)[0]
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # the official files (numpy 1)
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # written by numpy 2, protocol <= 4
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,        # protocol 5
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,                    # bytes in protocol-2 pickles
}


class _CIFARUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals listed in _ALLOWED_GLOBALS.

    find_class runs when the pickle names a global, before anything can call it, so a refused
    name stops loading before any of the file's code runs.
    """

    def __init__(self, file, path):
        super().__init__(file, encoding="bytes")
        self.path = path

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load {self.path}: it asks for {module}.{name}, which CIFAR-10 files never "
                "contain (only numpy arrays, lists, numbers and strings are allowed); the file is "
                "corrupted or not what it claims to be") from None

    def persistent_load(self, pid):
        raise UnsafePickleError(f"refusing to load {self.path}: it uses persistent ids")


def _unpickle(path):
    with open(path, "rb") as f:
        return _CIFARUnpickler(f, path).load()


def _as_bytes_keys(obj, path):
    if not isinstance(obj, dict):
        raise CIFARFormatError(f"{path} is not a CIFAR-10 batch: it holds a {type(obj).__name__}, not a dict")
    return {k.encode() if isinstance(k, str) else k: v for k, v in obj.items()}


def _read_batch(path):
    """Data (N, 3072) uint8 and labels (N,) int64 of one batch file, after checking its structure."""
    batch = _as_bytes_keys(_unpickle(path), path)
    for key in (b"data", b"labels"):
        if key not in batch:
            raise CIFARFormatError(f"{path} is not a CIFAR-10 batch: no {key!r} entry "
                                   f"(keys: {sorted(map(repr, batch))})")
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        what = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise CIFARFormatError(f"{path}: b'data' must be a uint8 array of shape (N, {PIXELS}), got {what}")
    labels = batch[b"labels"]
    if not isinstance(labels, (list, np.ndarray)):
        raise CIFARFormatError(f"{path}: b'labels' must be a list of integers, got {type(labels).__name__}")
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise CIFARFormatError(f"{path}: b'labels' must be a flat list of integers, got {labels.dtype} "
                               f"values of shape {labels.shape}")
    if len(labels) != len(data):
        raise CIFARFormatError(f"{path}: {len(labels)} labels for {len(data)} images")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        bad = labels[(labels < 0) | (labels >= len(CLASSES))][0]
        raise CIFARFormatError(f"{path}: label {bad} is outside 0..{len(CLASSES) - 1}")
    return np.ascontiguousarray(data), labels


# --- where the data is -----------------------------------------------------------------------

def cifar10_dir():
    """Default folder of the batch files: ``data_dir() / 'cifar-10-batches-py'``."""
    return data_dir() / FOLDER_NAME


def cifar10_available(folder=None):
    """True when ``folder`` (default: cifar10_dir()) holds the five training batches and the test batch."""
    folder = Path(folder) if folder is not None else cifar10_dir()
    return all((folder / name).is_file() for name in BATCH_FILES)


def _require_files(folder, names):
    missing = [name for name in names if not (folder / name).is_file()]
    if not missing:
        return
    if folder.name == FOLDER_NAME and folder.parent == data_dir():
        fetch = FETCH_COMMAND
    elif folder.name == FOLDER_NAME:
        fetch = f"python -m cs231n.download --dir {folder.parent}"
    else:
        fetch = f"python -m cs231n.download --dir DIR, then pass DIR/{FOLDER_NAME}"
    hint = ""
    if (folder / FOLDER_NAME).is_dir():
        hint = f" (did you mean {folder / FOLDER_NAME}? pass the {FOLDER_NAME} folder itself)"
    raise CIFAR10NotFoundError(
        f"CIFAR-10 not found: looked in {folder} for {', '.join(missing)}{hint}. Fetch it once with: {fetch}")


def _warn_if_synthetic(folder):
    meta = folder / "batches.meta"
    if meta.is_file():
        info = _unpickle(meta)
        if isinstance(info, dict) and info.get(b"synthetic"):
            warnings.warn(f"{folder} holds SYNTHETIC CIFAR-format data (made by cs231n.synthetic_cifar), "
                          "not CIFAR-10", SyntheticDataWarning, stacklevel=3)


# --- public loaders --------------------------------------------------------------------------

def load_CIFAR_batch(filename):
    """Load one CIFAR-10 batch file.

    Returns:
    - X: uint8 array of shape (N, 3, 32, 32) = (N, C, H, W), raw pixel values 0..255
      (N = 10,000 for the real files). Convert with ``X.astype(np.float32)`` for arithmetic.
    - y: int64 array of shape (N,), labels in 0..9.
    Raises UnsafePickleError for a file that is not a plain data pickle, CIFARFormatError for a
    pickle with the wrong structure, FileNotFoundError when the file is missing.
    """
    data, labels = _read_batch(Path(filename))
    return data.reshape(-1, *IMAGE_SHAPE), labels  # (N, C, H, W): a view, rows are C, H, W ordered


def load_CIFAR10(root=None):
    """Load all of CIFAR-10 from ``root``, the cifar-10-batches-py folder (default: cifar10_dir()).

    Returns Xtr (50000, 3, 32, 32) uint8, ytr (50000,) int64, Xte (10000, 3, 32, 32) uint8,
    yte (10000,) int64, in file order (data_batch_1 .. data_batch_5, then test_batch).
    For training data as floats with a validation split, use get_CIFAR10_data().
    """
    folder = Path(root) if root is not None else cifar10_dir()
    _require_files(folder, BATCH_FILES)
    _warn_if_synthetic(folder)
    batches = [load_CIFAR_batch(folder / name) for name in TRAIN_BATCHES]
    Xtr = np.concatenate([X for X, _ in batches])
    ytr = np.concatenate([y for _, y in batches])
    del batches
    Xte, yte = load_CIFAR_batch(folder / TEST_BATCH)
    return Xtr, ytr, Xte, yte


def _count(value, name, minimum, maximum):
    return _validate.int_value(value, name, minimum, maximum)


def _synthetic_requested():
    return os.environ.get("CS231N_SYNTHETIC_DATA", "").strip() not in ("", "0")


def get_CIFAR10_data(num_training=49000, num_validation=1000, num_test=1000, subtract_mean=True,
                     dtype=np.float32, root=None, synthetic=None, seed=0):
    """CIFAR-10 split into train / validation / test, as floats ready for a network.

    Inputs:
    - num_training, num_validation: the first num_training images of the training batches form
      the training set, the next num_validation the validation set (together <= 50,000).
    - num_test: the first num_test images of the test batch (<= 10,000).
    - subtract_mean: subtract the mean image of the training split from all three splits.
    - dtype: np.float32 (default) or np.float64.
    - root: the cifar-10-batches-py folder (default: cifar10_dir()).
    - synthetic: True to use generated CIFAR-format data instead (see cs231n.synthetic_cifar), with
      ``seed``; None (default) follows the environment variable CS231N_SYNTHETIC_DATA=1.

    Returns a dict with X_train (num_training, 3, 32, 32), y_train (num_training,), X_val, y_val,
    X_test, y_test: images C-contiguous of the given dtype in (N, C, H, W), labels int64.
    The arrays are allocated once and filled batch by batch, so peak memory stays close to their
    size; the mean is computed exactly from the integer pixels.
    """
    subtract_mean = bool(subtract_mean)
    num_training = _count(num_training, "num_training", 1 if subtract_mean else 0, MAX_TRAIN)
    num_validation = _count(num_validation, "num_validation", 0, MAX_TRAIN - num_training)
    num_test = _count(num_test, "num_test", 0, MAX_TEST)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}") from None
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype}")
    reason = "synthetic=True"
    if synthetic is None:
        synthetic, reason = _synthetic_requested(), "CS231N_SYNTHETIC_DATA=1"
    sizes = (num_training, num_validation, num_test, subtract_mean, dtype)
    if not synthetic:
        folder = Path(root) if root is not None else cifar10_dir()
        _require_files(folder, BATCH_FILES)
        _warn_if_synthetic(folder)
        return _load_splits(folder, *sizes)
    if root is not None:
        raise ValueError("pass either root (a CIFAR-10 folder) or synthetic=True, not both")
    from .synthetic_cifar import write_synthetic_cifar10  # only here: it imports this module
    warnings.warn("using SYNTHETIC CIFAR-format data (generated shapes, not CIFAR-10): asked for by "
                  + reason,
                  SyntheticDataWarning, stacklevel=2)
    per_batch = max(1, math.ceil((num_training + num_validation) / len(TRAIN_BATCHES)))
    with tempfile.TemporaryDirectory(prefix="cs231n-synthetic-") as tmp:
        folder = write_synthetic_cifar10(tmp, per_batch=per_batch, test_size=max(num_test, 1), seed=seed)
        return _load_splits(folder, *sizes)


def _load_splits(folder, num_training, num_validation, num_test, subtract_mean, dtype):
    """Fill the split arrays batch by batch; only the batches needed are read."""
    out = {
        "X_train": np.empty((num_training, *IMAGE_SHAPE), dtype),
        "X_val": np.empty((num_validation, *IMAGE_SHAPE), dtype),
        "X_test": np.empty((num_test, *IMAGE_SHAPE), dtype),
    }
    labels = {"y_train": np.empty(num_training, np.int64), "y_val": np.empty(num_validation, np.int64),
              "y_test": np.empty(num_test, np.int64)}
    flat = {key: X.reshape(len(X), PIXELS) for key, X in out.items()}  # (N, 3072) views
    pixel_sum = np.zeros(PIXELS, np.int64)

    # The training batches form one sequence: rows [0, num_training) are the training split,
    # rows [num_training, num_training + num_validation) the validation split.
    wanted = num_training + num_validation
    start = 0  # index of the current batch's first row in that sequence
    for name in TRAIN_BATCHES:
        if start >= wanted:
            break
        data, y = _read_batch(folder / name)
        stop = min(start + len(data), wanted)
        for split, lo, hi in (("train", 0, num_training), ("val", num_training, wanted)):
            a, b = max(start, lo), min(stop, hi)  # overlap of this batch with the split
            if a < b:
                flat[f"X_{split}"][a - lo:b - lo] = data[a - start:b - start]
                labels[f"y_{split}"][a - lo:b - lo] = y[a - start:b - start]
                if split == "train" and subtract_mean:
                    pixel_sum += data[a - start:b - start].sum(axis=0, dtype=np.int64)
        start = stop
        del data, y
    if start < wanted:
        raise ValueError(f"asked for {num_training} training + {num_validation} validation images, "
                         f"but {folder} holds only {start}")
    if num_test:
        data, y = _read_batch(folder / TEST_BATCH)
        if len(data) < num_test:
            raise ValueError(f"asked for {num_test} test images, but {folder / TEST_BATCH} holds only {len(data)}")
        flat["X_test"][:] = data[:num_test]
        labels["y_test"][:] = y[:num_test]
        del data, y
    if subtract_mean:
        mean = (pixel_sum / num_training).astype(dtype)  # exact sums, one rounding
        for X in flat.values():
            X -= mean
    return {"X_train": out["X_train"], "y_train": labels["y_train"], "X_val": out["X_val"],
            "y_val": labels["y_val"], "X_test": out["X_test"], "y_test": labels["y_test"]}
