"""Input checks shared by every layer.

Each check raises ``TypeError`` (wrong kind of object) or ``ValueError`` (right kind, bad value)
with a message that names the argument, the value it got and what was expected. Layers call these
at the top of their forward pass, so a mistake surfaces at the call that made it rather than as an
``IndexError`` or a broadcast error deep inside numpy. Nothing here modifies its arguments.
"""

import numbers

import numpy as np


def float_array(x, name):
    """Return ``x`` as a floating-point ndarray without copying floating inputs.

    Floating arrays (float16/32/64) are returned unchanged, so layers keep the caller's dtype.
    Integer and boolean arrays are promoted to float64 (a copy). Anything else is refused.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.dtype.kind == "f":
        return x
    if x.dtype.kind in "iub":
        return x.astype(np.float64)
    raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")


def check_ndim(x, ndim, name, layout):
    """Require ``x.ndim == ndim``; ``layout`` describes the expected shape, e.g. ``'(N, C, H, W)'``."""
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional {layout}, got shape {x.shape}")


def check_shape(x, shape, name):
    """Require ``x.shape == shape`` exactly."""
    if x.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {x.shape}")


def check_same_shape(a, b, name_a, name_b):
    """Require two arrays to have equal shapes (e.g. an upstream gradient and the output)."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} has shape {a.shape} but {name_b} has shape {b.shape}; they must match")


def int_param(params, key, name, minimum, default=None):
    """Read an integer hyperparameter ``params[key]`` and require ``value >= minimum``.

    ``name`` names the dict in messages (e.g. ``'conv_param'``). A missing key falls back to
    ``default`` when one is given, otherwise it is an error. Floats (even 2.0) and bools are refused:
    a fractional stride or pad has no meaning.
    """
    if not isinstance(params, dict):
        raise TypeError(f"{name} must be a dict, got {type(params).__name__}")
    if key not in params:
        if default is None:
            raise ValueError(f"{name} is missing the required key {key!r}")
        return default
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}[{key!r}] must be an integer, got {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name}[{key!r}] must be >= {minimum}, got {value}")
    return value


def float_param(params, key, name, default, low=None, high=None, low_open=False, high_open=False):
    """Read a real hyperparameter ``params.get(key, default)`` and check it lies in the given range."""
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}[{key!r}] must be a real number, got {value!r}")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high or not np.isfinite(value):
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        interval = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
        raise ValueError(f"{name}[{key!r}] must lie in {interval}, got {value}")
    return value


def mode_param(params, name, allowed=("train", "test")):
    """Read the required ``params['mode']`` and check it is one of ``allowed``."""
    if not isinstance(params, dict):
        raise TypeError(f"{name} must be a dict, got {type(params).__name__}")
    if "mode" not in params:
        raise ValueError(f"{name} is missing the required key 'mode' (one of {', '.join(map(repr, allowed))})")
    mode = params["mode"]
    if mode not in allowed:
        raise ValueError(f"{name}['mode'] must be one of {', '.join(map(repr, allowed))}, got {mode!r}")
    return mode


def check_labels(y, num_samples, num_classes, name="y"):
    """Require integer class labels of shape (N,) with values in [0, C)."""
    if not isinstance(y, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of integer labels, got {type(y).__name__}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if y.shape != (num_samples,):
        raise ValueError(f"{name} must have shape ({num_samples},) to match the scores, got {y.shape}")
    if num_samples and (y.min() < 0 or y.max() >= num_classes):
        bad = y[(y < 0) | (y >= num_classes)][0]
        raise ValueError(f"{name} holds label {bad}, outside the valid range 0..{num_classes - 1}")


def unpack_cache(cache, size, forward_name):
    """Check that ``cache`` looks like the tuple ``forward_name`` returns, and return it."""
    if not isinstance(cache, tuple) or len(cache) != size:
        got = f"a tuple of length {len(cache)}" if isinstance(cache, tuple) else type(cache).__name__
        raise TypeError(f"cache must be the {size}-tuple returned by {forward_name}, got {got}")
    return cache


def conv_geometry(x, w, b, conv_param):
    """Check the arguments of a convolution and return ``(stride, pad, H_out, W_out)``.

    x: (N, C, H, W); w: (F, C, HH, WW); b: (F,); conv_param: {'stride': int >= 1, 'pad': int >= 0}.
    H' = 1 + (H + 2 * pad - HH) // stride and W' = 1 + (W + 2 * pad - WW) // stride (floor, as in
    PyTorch): rows and columns the last window does not reach are ignored.
    """
    check_ndim(x, 4, "x", "(N, C, H, W)")
    check_ndim(w, 4, "w", "(F, C, HH, WW)")
    check_ndim(b, 1, "b", "(F,)")
    _, C, H, W = x.shape
    F, Cw, HH, WW = w.shape
    if Cw != C:
        raise ValueError(f"w has {Cw} input channels (shape {w.shape}) but x has {C} (shape {x.shape})")
    if b.shape != (F,):
        raise ValueError(f"b must have shape ({F},), one bias per filter, got {b.shape}")
    if HH < 1 or WW < 1:
        raise ValueError(f"filters must be at least 1x1, got w of shape {w.shape}")
    stride = int_param(conv_param, "stride", "conv_param", 1)
    pad = int_param(conv_param, "pad", "conv_param", 0)
    Hp, Wp = H + 2 * pad, W + 2 * pad
    if HH > Hp or WW > Wp:
        raise ValueError(
            f"filter {HH}x{WW} is larger than the padded input {Hp}x{Wp} (H={H}, W={W}, pad={pad})")
    return stride, pad, 1 + (Hp - HH) // stride, 1 + (Wp - WW) // stride


def pool_geometry(x, pool_param):
    """Check the arguments of a max pool and return ``(pool_height, pool_width, stride, H_out, W_out)``.

    x: (N, C, H, W); pool_param: {'pool_height', 'pool_width', 'stride'}, integers >= 1.
    H' = 1 + (H - pool_height) // stride and W' = 1 + (W - pool_width) // stride (floor).
    """
    check_ndim(x, 4, "x", "(N, C, H, W)")
    ph = int_param(pool_param, "pool_height", "pool_param", 1)
    pw = int_param(pool_param, "pool_width", "pool_param", 1)
    stride = int_param(pool_param, "stride", "pool_param", 1)
    H, W = x.shape[2:]
    if ph > H or pw > W:
        raise ValueError(f"pool window {ph}x{pw} is larger than the input {H}x{W}")
    return ph, pw, stride, 1 + (H - ph) // stride, 1 + (W - pw) // stride
