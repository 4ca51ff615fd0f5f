"""cs231n.torch_utils: the numpy parts always; the torch parts only when torch is installed."""

import importlib.util
import sys

import numpy as np
import pytest

from cs231n import torch_utils
from cs231n.torch_utils import INSTALL_COMMAND, channel_stats, missing_torch_reason, normalize_splits

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason=f"torch is not installed ({INSTALL_COMMAND})")


def _splits(seed=0):
    rng = np.random.default_rng(seed)
    offsets = np.array([100.0, 50.0, -20.0])[None, :, None, None]
    scales = np.array([60.0, 5.0, 1.0])[None, :, None, None]
    data = {f"X_{s}": (scales * rng.standard_normal((n, 3, 4, 5)) + offsets).astype(np.float32)
            for s, n in (("train", 40), ("val", 7), ("test", 6))}
    data.update({f"y_{s}": rng.integers(10, size=len(data[f"X_{s}"])) for s in ("train", "val", "test")})
    return data


def test_channel_stats_match_numpy_per_channel():
    X = _splits()["X_train"]
    mean, std = channel_stats(X)
    assert mean.dtype == std.dtype == np.float64 and mean.shape == std.shape == (3,)
    for c in range(3):
        values = X[:, c].astype(np.float64).ravel()
        assert np.isclose(mean[c], values.mean(), rtol=1e-12)
        assert np.isclose(std[c], values.std(), rtol=1e-12)  # biased, like np.std


def test_channel_stats_of_a_known_array():
    X = np.zeros((2, 2, 1, 2))
    X[:, 0] = [[[1.0, 3.0]], [[1.0, 3.0]]]  # channel 0: 1, 3, 1, 3 -> mean 2, std 1
    X[:, 1] = 7.0                             # channel 1: constant -> mean 7, std 0
    mean, std = channel_stats(X)
    assert np.array_equal(mean, [2.0, 7.0]) and np.array_equal(std, [1.0, 0.0])


def test_normalize_splits_uses_the_training_statistics_for_every_split():
    data = _splits()
    before = {k: v.copy() for k, v in data.items()}
    splits, mean, std = normalize_splits(data)
    for key in data:  # the input is never modified
        assert np.array_equal(data[key], before[key])
    X = splits["X_train"].astype(np.float64)
    assert splits["X_train"].dtype == np.float32
    assert np.allclose(X.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    assert np.allclose(X.std(axis=(0, 2, 3)), 1, atol=1e-5)
    for split in ("val", "test"):
        expected = (data[f"X_{split}"] - mean[None, :, None, None]) / std[None, :, None, None]
        assert np.allclose(splits[f"X_{split}"], expected, atol=1e-5)
        assert splits[f"y_{split}"] is data[f"y_{split}"]
    # the validation split's own statistics were not used: its means are not exactly 0
    assert not np.allclose(splits["X_val"].mean(axis=(0, 2, 3)), 0, atol=1e-6)


def test_normalize_splits_with_given_statistics():
    data = _splits()
    splits, mean, std = normalize_splits(data, mean=[1.0, 2.0, 3.0], std=[2.0, 4.0, 8.0])
    assert np.array_equal(mean, [1.0, 2.0, 3.0]) and np.array_equal(std, [2.0, 4.0, 8.0])
    assert np.allclose(splits["X_test"][:, 2], (data["X_test"][:, 2] - 3.0) / 8.0, atol=1e-6)


@pytest.mark.parametrize("data, kwargs, error, match", [
    ({"X_val": np.zeros((2, 3, 4, 4))}, {}, ValueError, "X_train"),
    ([np.zeros((2, 3, 4, 4))], {}, ValueError, "dict"),
    ({"X_train": np.zeros((2, 3, 4))}, {}, ValueError, r"\(N, C, H, W\)"),
    ({"X_train": [[1.0]]}, {}, TypeError, "numpy array"),
    ({"X_train": np.zeros((2, 3, 4, 4)), "X_val": np.zeros((2, 3, 5, 4))}, {"mean": [0] * 3, "std": [1] * 3},
     ValueError, "X_val"),
    ({"X_train": np.zeros((2, 3, 4, 4))}, {"mean": [0.0] * 3}, ValueError, "both"),
    ({"X_train": np.zeros((2, 3, 4, 4))}, {"mean": [0.0] * 2, "std": [1.0] * 2}, ValueError, r"\(3,\)"),
    ({"X_train": np.zeros((2, 3, 4, 4))}, {}, ValueError, "positive"),  # constant channels: std 0
    ({"X_train": np.zeros((0, 3, 4, 4))}, {}, ValueError, "no values"),
])
def test_normalize_splits_rejects_bad_input(data, kwargs, error, match):
    with pytest.raises(error, match=match):
        normalize_splits(data, **kwargs)


def test_missing_torch_reason_names_the_extra(monkeypatch):
    monkeypatch.setattr(torch_utils.importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else importlib.util.find_spec(name, *a))
    assert not torch_utils.torch_available()
    reason = missing_torch_reason()
    assert 'pip install -e ".[torch]"' in reason


def test_torch_functions_without_torch_raise_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    monkeypatch.setattr(torch_utils.importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ModuleNotFoundError, match=r'pip install -e "\.\[torch\]"'):
        torch_utils.choose_device()
    with pytest.raises(ModuleNotFoundError, match="torch"):
        torch_utils.to_tensors(_splits())


@needs_torch
def test_choose_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert torch_utils.choose_device() == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert torch_utils.choose_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert torch_utils.choose_device() == torch.device("cuda")


@needs_torch
def test_to_tensors_types_and_shared_memory():
    import torch

    splits, _, _ = normalize_splits(_splits())
    splits["note"] = "left out"
    tensors = torch_utils.to_tensors(splits)
    assert set(tensors) == {"X_train", "X_val", "X_test", "y_train", "y_val", "y_test"}
    assert tensors["X_train"].dtype == torch.float32 and tensors["y_train"].dtype == torch.int64
    assert tuple(tensors["X_val"].shape) == splits["X_val"].shape
    assert np.array_equal(tensors["y_test"].numpy(), splits["y_test"])
    tensors["X_train"][0, 0, 0, 0] = 123.0  # a float32 array is wrapped, not copied
    assert splits["X_train"][0, 0, 0, 0] == 123.0


@needs_torch
def test_to_tensors_rejects_float_labels():
    with pytest.raises(TypeError, match="y_train"):
        torch_utils.to_tensors({"y_train": np.array([0.5, 1.0])})
