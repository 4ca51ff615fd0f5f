"""What the four notebooks share: the run mode and the data they train on.

Real mode (the default) trains on the real CIFAR-10 at full size. Smoke mode, switched on only by
the environment variable ``CS231N_SMOKE=1``, runs every cell on the synthetic CIFAR-format data at
small sizes, for machines without the dataset and without internet; it always says so in the
output. It is never chosen silently: without the variable, missing data is an error that says how
to fetch it.

    from cs231n.notebook_utils import SMOKE, smoke, describe_mode, load_cifar10
    print(describe_mode())
    data = load_cifar10()                       # same keywords as data_utils.get_CIFAR10_data
    num_epochs = smoke(10, 2)                   # real value, smoke value
"""

import os
import warnings

SMOKE = os.environ.get("CS231N_SMOKE", "").strip() not in ("", "0")

# Largest splits load_cifar10 returns in smoke mode (a request for more is cut to these).
SMOKE_MAX_TRAIN = 2000
SMOKE_MAX_VAL = 500
SMOKE_MAX_TEST = 500


def smoke(real, small):
    """Return ``small`` in smoke mode and ``real`` otherwise (sizes, epochs, accuracy floors)."""
    return small if SMOKE else real


def describe_mode():
    """One line naming the mode, printed at the top of every notebook."""
    if SMOKE:
        return ("SMOKE MODE (CS231N_SMOKE=1): synthetic CIFAR-format data, reduced sizes and "
                "accuracy floors. These numbers say nothing about CIFAR-10.")
    return "Real mode: CIFAR-10 at full size."


def _describe(data):
    sizes = ", ".join(f"{data[f'X_{s}'].shape[0]} {s}" for s in ("train", "val", "test"))
    X = data["X_train"]
    return f"{sizes} images of shape {X.shape[1:]}, {X.dtype}"


def load_cifar10(**kwargs):
    """The train / validation / test splits the notebooks train on, as a dict of arrays.

    Takes the keywords of ``cs231n.data_utils.get_CIFAR10_data`` (num_training=49000,
    num_validation=1000, num_test=1000, subtract_mean=True, dtype=np.float32, root=None) and
    returns its dict: X_train, y_train, X_val, y_val, X_test, y_test, images (N, 3, 32, 32).

    - Real mode: the real CIFAR-10 (never synthetic data, whatever else is set). When it is
      missing, raises data_utils.CIFAR10NotFoundError saying how to fetch it or how to ask for
      smoke mode.
    - Smoke mode: synthetic CIFAR-format data (cs231n.synthetic_cifar, generated on the fly,
      deterministic), with the split sizes cut to at most SMOKE_MAX_TRAIN / SMOKE_MAX_VAL /
      SMOKE_MAX_TEST.

    Either way it prints one line saying which data it loaded.
    """
    from . import data_utils

    if "synthetic" in kwargs:
        raise TypeError("load_cifar10 chooses real or synthetic data from the mode (CS231N_SMOKE); "
                        "do not pass synthetic=")
    if not SMOKE:
        try:
            data = data_utils.get_CIFAR10_data(synthetic=False, **kwargs)
        except data_utils.CIFAR10NotFoundError as exc:
            raise data_utils.CIFAR10NotFoundError(
                f"{exc}. Or, to run the notebooks on synthetic data instead (smoke mode), start "
                "Jupyter with the environment variable CS231N_SMOKE=1.") from None
        folder = kwargs.get("root") or data_utils.cifar10_dir()
        print(f"Loaded CIFAR-10 from {folder}: {_describe(data)}")
        return data

    if kwargs.get("root") is not None:
        raise ValueError("smoke mode (CS231N_SMOKE=1) uses synthetic data: do not pass root=")
    kwargs.pop("root", None)
    caps = {"num_training": (49000, SMOKE_MAX_TRAIN), "num_validation": (1000, SMOKE_MAX_VAL),
            "num_test": (1000, SMOKE_MAX_TEST)}
    for key, (default, cap) in caps.items():
        requested = kwargs.get(key, default)
        if isinstance(requested, int) and not isinstance(requested, bool):
            kwargs[key] = min(requested, cap)
    with warnings.catch_warnings():
        # The loader warns that the data is synthetic; the line printed below says it instead.
        warnings.simplefilter("ignore", data_utils.SyntheticDataWarning)
        data = data_utils.get_CIFAR10_data(synthetic=True, **kwargs)
    print(f"SMOKE MODE: loaded SYNTHETIC CIFAR-format data (generated shapes, NOT CIFAR-10): "
          f"{_describe(data)}")
    return data
