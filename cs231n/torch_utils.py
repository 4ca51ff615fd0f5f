"""What the PyTorch notebook needs from the package: the device, and CIFAR-10 as normalised tensors.

torch is optional (``pip install -e ".[torch]"``). This module imports it only inside the
functions that need it, so ``import cs231n.torch_utils`` works without torch; those functions then
raise ModuleNotFoundError naming the install command. ``channel_stats`` and ``normalize_splits``
are plain numpy.

    from cs231n.notebook_utils import load_cifar10
    from cs231n.torch_utils import choose_device, normalize_splits, to_tensors
    splits, mean, std = normalize_splits(load_cifar10(subtract_mean=False))
    tensors = to_tensors(splits)          # {'X_train': float32 (N, 3, 32, 32), 'y_train': int64 (N,), ...}
    device = choose_device()              # cuda, else mps, else cpu
"""

import importlib.util

import numpy as np

INSTALL_COMMAND = 'pip install -e ".[torch]"'


def torch_available():
    """True when torch can be imported (checked without importing it)."""
    return importlib.util.find_spec("torch") is not None


def missing_torch_reason():
    """None when torch is installed; otherwise one sentence saying how to install it."""
    if torch_available():
        return None
    return (f"PyTorch is not installed; it is an optional extra of this package: {INSTALL_COMMAND} "
            "(the CPU build is enough)")


def _torch():
    try:
        import torch
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        raise ModuleNotFoundError(missing_torch_reason() or "torch could not be imported",
                                  name="torch") from None
    return torch


def choose_device():
    """The best device torch can use here: CUDA if available, else Apple's MPS, else the CPU.

    Returns a torch.device.
    """
    torch = _torch()
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _images(X, name):
    if not isinstance(X, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of shape (N, C, H, W), got {type(X).__name__}")
    if X.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got shape {X.shape}")
    if X.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold numbers, got dtype {X.dtype}")
    return X


def channel_stats(X):
    """Per-channel mean and standard deviation of images X of shape (N, C, H, W).

    Returns a tuple of two float64 arrays of shape (C,): the mean and the (biased) standard
    deviation of each channel over all N * H * W values. Raises ValueError for an empty X.
    """
    X = _images(X, "X")
    if X.shape[0] * X.shape[2] * X.shape[3] == 0:
        raise ValueError(f"X of shape {X.shape} has no values to take statistics of")
    mean = X.mean(axis=(0, 2, 3), dtype=np.float64)
    var = np.zeros(X.shape[1])
    for c in range(X.shape[1]):  # one channel at a time: no float64 copy of the whole array
        var[c] = np.mean((X[:, c].astype(np.float64) - mean[c]) ** 2)
    return mean, np.sqrt(var)


def normalize_splits(data, mean=None, std=None):
    """Normalise every image split per channel by the statistics of the training split.

    Inputs:
    - data: dict with 'X_train' (N, C, H, W) and any other 'X_*' splits of the same C, H, W
      (e.g. from ``cs231n.notebook_utils.load_cifar10(subtract_mean=False)``); other entries
      (labels) are passed through unchanged.
    - mean, std: (C,) statistics to use instead of the training split's (std > 0).

    Returns a tuple (splits, mean, std): a new dict whose 'X_*' entries are new float32 arrays
    (X - mean) / std, channel by channel, and the (C,) float64 mean and std used. ``data`` is
    not modified.
    """
    if not isinstance(data, dict) or "X_train" not in data:
        raise ValueError("data must be a dict with at least an 'X_train' entry of shape (N, C, H, W)")
    X_train = _images(data["X_train"], "data['X_train']")
    C = X_train.shape[1]
    if mean is None or std is None:
        if mean is not None or std is not None:
            raise ValueError("pass both mean and std, or neither (then the training split's are used)")
        mean, std = channel_stats(X_train)
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    if mean.shape != (C,) or std.shape != (C,):
        raise ValueError(f"mean and std must have shape ({C},), got {mean.shape} and {std.shape}")
    if not np.all(np.isfinite(mean)) or not np.all(std > 0) or not np.all(np.isfinite(std)):
        raise ValueError(f"mean must be finite and std finite and positive, got mean {mean}, std {std}")
    splits = {}
    for key, value in data.items():
        if key.startswith("X_"):
            X = _images(value, f"data[{key!r}]")
            if X.shape[1:] != X_train.shape[1:]:
                raise ValueError(f"data[{key!r}] has images of shape {X.shape[1:]}, "
                                 f"but the training split's are {X_train.shape[1:]}")
            out = X.astype(np.float32)  # always a new array
            out -= mean.astype(np.float32)[None, :, None, None]
            out /= std.astype(np.float32)[None, :, None, None]
            splits[key] = out
        else:
            splits[key] = value
    return splits, mean, std


def to_tensors(data, device=None):
    """The arrays of ``data`` as torch tensors: 'X_*' as float32, 'y_*' as int64 (torch's label type).

    The tensors share memory with float32 / int64 arrays (no copy) when ``device`` is None or the
    CPU; with another device they are copied there. Other entries are left out.
    """
    torch = _torch()
    tensors = {}
    for key, value in data.items():
        if key.startswith("X_"):
            tensors[key] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
        elif key.startswith("y_"):
            labels = np.asarray(value)
            if labels.dtype.kind not in "iu":
                raise TypeError(f"data[{key!r}] must hold integer labels, got dtype {labels.dtype}")
            tensors[key] = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))
        else:
            continue
        if device is not None:
            tensors[key] = tensors[key].to(device)
    return tensors
