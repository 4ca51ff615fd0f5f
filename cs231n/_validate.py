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


# ---------------------------------------------------------------------------------------------
# Plain Python arguments (model constructors, Solver options, loader counts)
# ---------------------------------------------------------------------------------------------

def int_value(value, name, minimum=None, maximum=None, allow_none=False):
    """Require an integer (bools and floats refused) in [minimum, maximum]; return it as an int.

    ``None`` is returned unchanged when ``allow_none``. Either bound may be None (unbounded).
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        expected = "an integer or None" if allow_none else "an integer"
        raise TypeError(f"{name} must be {expected}, got {value!r}")
    value = int(value)
    if minimum is not None and maximum is not None and not minimum <= value <= maximum:
        raise ValueError(f"{name} must lie in [{minimum}, {maximum}], got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def positive_int(value, name):
    """Require an integer >= 1 (bools and floats refused) and return it as an int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def real(value, name, low, low_open=False, high=None):
    """Require a finite real number in [low, high] (or (low, high] with low_open); return a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    if too_low or (high is not None and value > high) or not np.isfinite(value):
        interval = f"{'(' if low_open else '['}{low}, {'inf)' if high is None else f'{high}]'}"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    return value


def float_dtype(dtype, name="dtype"):
    """Require a floating-point dtype (np.float32, 'float64', ...) and return it as a numpy dtype."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be a numpy floating-point dtype, got {dtype!r}") from None
    if dt.kind != "f":
        raise ValueError(f"{name} must be a floating-point dtype such as np.float32, got {dt}")
    return dt


# ---------------------------------------------------------------------------------------------
# What a student region computed (given code after a region calls these)
# ---------------------------------------------------------------------------------------------

def result_array(value, shape, name, where, dtype=None):
    """Check a value a student region computed: an array of exactly ``shape``; return it in ``dtype``.

    ``where`` names the function (``'affine_backward'``). A shape that only broadcasts, such as a
    (1, D) gradient for a (D,) parameter, is an error: the caller stores the result next to the
    parameter and a wrong shape would surface much later.
    """
    if value is None:
        raise ValueError(f"{where}: {name} is None; the code between the START/END lines must "
                         f"compute {name}")
    if not isinstance(value, np.ndarray):
        if isinstance(value, numbers.Number) and tuple(shape) == ():
            value = np.asarray(value)
        else:
            raise TypeError(f"{where}: {name} must be a numpy array of shape {tuple(shape)}, "
                            f"got {type(value).__name__}")
    if value.shape != tuple(shape):
        raise ValueError(f"{where}: {name} has shape {value.shape} but must have shape {tuple(shape)}"
                         f"{_shape_hint(value.shape, shape)}")
    if dtype is not None and value.dtype != dtype:
        value = value.astype(dtype)
    return value


def _shape_hint(got, want):
    got, want = tuple(got), tuple(want)
    if len(got) == len(want) + 1 and 1 in got and tuple(d for d in got if d != 1) == tuple(
            d for d in want if d != 1):
        return " (drop the extra axis of length 1, e.g. sum without keepdims)"
    return ""


def check_model_gradients(params, grads, where):
    """Require ``grads`` to hold one gradient per parameter, each shaped like its parameter."""
    if not isinstance(grads, dict):
        raise TypeError(f"{where}: grads must be a dict keyed like self.params, got {type(grads).__name__}")
    missing = [k for k in params if k not in grads]
    if missing:
        raise ValueError(f"{where}: grads has no gradient for {', '.join(map(repr, missing))}")
    extra = [k for k in grads if k not in params]
    if extra:
        raise ValueError(f"{where}: grads has keys that are not parameters: {', '.join(map(repr, extra))}")
    for key, param in params.items():
        grad = grads[key]
        if not isinstance(grad, np.ndarray) or grad.shape != param.shape:
            got = grad.shape if isinstance(grad, np.ndarray) else type(grad).__name__
            raise ValueError(f"{where}: grads[{key!r}] has shape {got} but params[{key!r}] has shape "
                             f"{param.shape}{_shape_hint(got, param.shape) if isinstance(grad, np.ndarray) else ''}")


def loss_value(loss, where):
    """Check the loss a student region computed: a finite real scalar; return it as a float."""
    if isinstance(loss, np.ndarray) and loss.shape == ():
        loss = loss[()]
    if isinstance(loss, bool) or not isinstance(loss, numbers.Real):
        raise TypeError(f"{where}: loss must be a real number (a scalar), got {type(loss).__name__}"
                        + (f" of shape {loss.shape}" if isinstance(loss, np.ndarray) else ""))
    return float(loss)
