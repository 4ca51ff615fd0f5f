"""Solver checkpoints: ``.npz`` files of arrays plus one JSON metadata string, never a pickle.

``Solver(..., checkpoint_name='dir/prefix')`` writes ``dir/prefix_epoch_{epoch}.npz`` at every
accuracy check (see cs231n.solver); ``load_checkpoint`` reads one back. Writing goes through a
temporary file in the same folder and a rename, so a checkpoint file is always complete.
Reading checks everything before using it: a damaged or edited file, a ``.npy`` array, complex
parameters or metadata of the wrong type give a CheckpointError that names the file and says what
to do, never a wrong model or a KeyError from deep inside.
"""

import json
import math
import os
import tempfile
import zipfile

import numpy as np

CHECKPOINT_FORMAT = "cs231n-solver-checkpoint"
CHECKPOINT_VERSION = 1
META_KEY = "__metadata__"
PARAM_PREFIX = "param/"
_REDO = ("re-save it (train again with Solver(..., checkpoint_name=...)) or load another checkpoint; "
         "do not edit checkpoint files by hand")


class CheckpointError(ValueError):
    """A file is not a readable Solver checkpoint; the message names it and says what to do."""


def write_atomic(path, arrays):
    """np.savez ``arrays`` to ``path`` via a temporary file in the same folder and os.replace."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _fail(path, what):
    raise CheckpointError(f"{path}: {what}; {_REDO}")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# metadata key -> (check, what it must be)
_FIELDS = {
    "model_class": (lambda v: isinstance(v, str), "a string"),
    "update_rule": (lambda v: isinstance(v, str), "a string"),
    "epoch": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "iteration": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "batch_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "num_epochs": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "num_train_samples": (lambda v: v is None or (_is_int(v) and v >= 1), "an integer >= 1 or null"),
    "num_val_samples": (lambda v: v is None or (_is_int(v) and v >= 1), "an integer >= 1 or null"),
    "seed": (lambda v: v is None or (_is_int(v) and v >= 0), "an integer >= 0 or null"),
    "lr_decay": (lambda v: _is_number(v) and v > 0, "a positive number"),
    "best_val_acc": (lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "loss_history": (lambda v: isinstance(v, list) and all(map(_is_number, v)), "a list of finite numbers"),
    "train_acc_history": (lambda v: isinstance(v, list) and all(map(_is_number, v)), "a list of finite numbers"),
    "val_acc_history": (lambda v: isinstance(v, list) and all(map(_is_number, v)), "a list of finite numbers"),
    "optim_config": (lambda v: isinstance(v, dict), "an object"),
    "learning_rate": (lambda v: isinstance(v, dict), "an object"),
    "optim_state": (lambda v: isinstance(v, dict) and all(isinstance(s, dict) for s in v.values()),
                    "an object of objects"),
    "optim_arrays": (lambda v: isinstance(v, dict) and all(
        isinstance(e, list) and len(e) == 2 and all(isinstance(x, str) for x in e) for e in v.values()),
        "an object of [parameter, key] pairs"),
}


def _read_metadata(f, path):
    if META_KEY not in f.files:
        _fail(path, f"not a Solver checkpoint (no {META_KEY} entry; it holds {', '.join(f.files[:5]) or 'nothing'})")
    raw = _read_array(f, META_KEY, path)
    if raw.shape != () or raw.dtype.kind != "U":
        _fail(path, f"the metadata is a {raw.dtype} array of shape {raw.shape}, not a JSON string")
    try:
        metadata = json.loads(str(raw))
    except (ValueError, RecursionError) as err:
        _fail(path, f"the metadata is not valid JSON ({err})")
    if not isinstance(metadata, dict):
        _fail(path, f"the metadata is a JSON {type(metadata).__name__}, not an object")
    if metadata.get("format") != CHECKPOINT_FORMAT:
        _fail(path, f"not a Solver checkpoint (format {str(metadata.get('format'))[:60]!r})")
    version = metadata.get("version")
    if _is_int(version) and version > CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} was written by a newer cs231n (checkpoint version {version}; this "
                              f"one reads version {CHECKPOINT_VERSION}): update the package")
    if version != CHECKPOINT_VERSION:
        _fail(path, f"checkpoint version {str(version)[:20]!r} is not {CHECKPOINT_VERSION}")
    for key, (ok, what) in _FIELDS.items():
        if key not in metadata:
            _fail(path, f"the metadata has no {key!r}")
        if not ok(metadata[key]):
            _fail(path, f"metadata {key!r} must be {what}, got {json.dumps(metadata[key])[:60]}")
    return metadata


def _read_array(f, name, path):
    try:
        return f[name]
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, MemoryError) as err:
        _fail(path, f"entry {name!r} cannot be read ({type(err).__name__}: {str(err)[:120]})")


def _real_array(array, what, path):
    if array.dtype.kind not in "fiu":
        kind = "complex" if array.dtype.kind == "c" else str(array.dtype)
        _fail(path, f"{what} holds {kind} values; parameters and optimizer state are real numbers")
    return array


def _open(path):
    try:
        f = np.load(path, allow_pickle=False)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        _fail(path, f"cannot be read as a checkpoint ({type(err).__name__}: {str(err)[:120]})")
    if not isinstance(f, np.lib.npyio.NpzFile):
        _fail(path, f"a single .npy array ({f.dtype}, shape {f.shape}), not a Solver checkpoint (.npz)")
    return f


def load_checkpoint(path, model=None):
    """Read a checkpoint written by the Solver; optionally load its parameters into ``model``.

    Inputs:
    - path: the .npz file.
    - model: if given, its ``params`` must have exactly the checkpoint's keys and shapes
      (ValueError otherwise); each array is replaced by the stored one, in the model's dtype.

    Returns: the metadata dict (epoch, update_rule, histories, model_class, ...) plus
    - 'params': dict of the stored parameter arrays;
    - 'optim_configs': dict of per-parameter optimizer configs, state arrays included.
    Nothing is unpickled (np.load with allow_pickle=False). Raises CheckpointError (a
    ValueError) naming the file when it is not an intact Solver checkpoint.
    """
    path = os.fspath(path)
    with _open(path) as f:
        metadata = _read_metadata(f, path)
        params = {k[len(PARAM_PREFIX):]: _real_array(_read_array(f, k, path), f"parameter {k[len(PARAM_PREFIX):]!r}",
                                                     path)
                  for k in f.files if k.startswith(PARAM_PREFIX)}
        if set(metadata["optim_state"]) != set(params):
            _fail(path, f"optimizer state for {sorted(metadata['optim_state'])[:10]} but parameters "
                        f"{sorted(params)[:10]}")
        optim_configs = {p: dict(state) for p, state in metadata["optim_state"].items()}
        for name, (p, key) in metadata["optim_arrays"].items():
            if p not in params or name not in f.files:
                _fail(path, f"optimizer array {name!r} of parameter {p!r} is missing")
            optim_configs[p][key] = _real_array(_read_array(f, name, path), f"optimizer state {p}/{key}", path)

    if model is not None:
        current = getattr(model, "params", None)
        if not isinstance(current, dict):
            raise TypeError(f"model must have a dict `params`, got {type(model).__name__}")
        if set(current) != set(params):
            raise ValueError(f"checkpoint parameters {sorted(params)} do not match the model's "
                             f"{sorted(current)}")
        for k, v in params.items():
            if np.shape(current[k]) != v.shape:
                raise ValueError(f"checkpoint parameter {k!r} has shape {v.shape} but the model's has "
                                 f"shape {np.shape(current[k])}")
        for k, v in params.items():
            dtype = getattr(current[k], "dtype", v.dtype)
            current[k] = v.astype(dtype, copy=True)
    metadata["params"] = params
    metadata["optim_configs"] = optim_configs
    return metadata


__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "CheckpointError", "load_checkpoint", "write_atomic"]
