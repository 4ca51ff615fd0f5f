"""Numerical gradients by centred differences, for checking backward passes.

Contract kept from the original assignment, on purpose: every probe perturbs ``x`` IN PLACE,
evaluates ``f``, and restores the entry before moving on. Notebooks rely on this: they pass
functions that ignore their argument and read the perturbed array through a closure, e.g.
``eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params['W1'])``. A checker that
copied ``x`` would silently compute a gradient of zero for such functions.

Centred differences have an error of order h**2 in exact arithmetic, but in float32 the rounding
error of f (about 1e-7 * |f| / h) swamps it: pass float64 arrays (a warning says so otherwise).
"""

import warnings

import numpy as np


def _check_probe_target(x, name="x"):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array (it is perturbed in place), got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating-point array (it is perturbed in place), got dtype {x.dtype}")
    if x.dtype != np.float64:
        warnings.warn(
            f"numerical gradient of a {x.dtype} array: rounding errors will dominate; use float64",
            RuntimeWarning, stacklevel=3)


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Numerical gradient of a scalar function ``f`` at ``x``.

    Inputs:
    - f: callable taking one argument (it may ignore it and read ``x`` through a closure),
      returning a scalar.
    - x: float64 array; each entry is perturbed by +-h in place and restored.
    - verbose: print each entry's index and gradient.
    - h: step of the centred difference.

    Returns:
    - grad: array of x's shape, grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2h).
    """
    _check_probe_target(x)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        fxph = f(x)
        x[ix] = old - h
        fxmh = f(x)
        x[ix] = old
        grad[ix] = (fxph - fxmh) / (2 * h)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numerical gradient of ``sum(f(x) * df)``: the vector-Jacobian product a backward pass computes.

    Inputs:
    - f: callable taking one argument and returning an array of ``df``'s shape.
    - x: float64 array, perturbed in place and restored entry by entry.
    - df: upstream gradient, of the shape of f's output.
    - h: step of the centred difference.

    Returns:
    - grad: array of x's shape.
    """
    _check_probe_target(x)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        pos = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old - h
        neg = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old
        if pos.shape != np.shape(df):
            raise ValueError(f"f returned shape {pos.shape} but df has shape {np.shape(df)}")
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, rng=None):
    """Compare ``analytic_grad`` with centred differences at ``num_checks`` random entries of ``x``.

    Prints one line per entry (numerical, analytic, relative error) and returns the largest
    relative error. ``rng`` (a ``numpy.random.Generator`` or a seed) picks the entries; by default
    a fresh unseeded generator, so the global random state is never touched.
    """
    _check_probe_target(x)
    if np.shape(analytic_grad) != x.shape:
        raise ValueError(f"analytic_grad has shape {np.shape(analytic_grad)} but x has shape {x.shape}")
    rng = np.random.default_rng(rng)
    worst = 0.0
    for _ in range(num_checks):
        ix = tuple(int(rng.integers(n)) for n in x.shape)
        old = x[ix]
        x[ix] = old + h
        fxph = f(x)
        x[ix] = old - h
        fxmh = f(x)
        x[ix] = old
        grad_numerical = (fxph - fxmh) / (2 * h)
        grad_analytic = analytic_grad[ix]
        denom = abs(grad_numerical) + abs(grad_analytic)
        err = abs(grad_numerical - grad_analytic) / denom if denom > 0 else 0.0
        worst = max(worst, err)
        print(f"numerical: {grad_numerical:f} analytic: {grad_analytic:f}, relative error: {err:e}")
    return worst


def rel_error(x, y):
    """Largest elementwise relative error ``|x - y| / max(1e-8, |x| + |y|)``.

    Reads as: 1e-7 or less is agreement to rounding; 1e-2 or more is a bug. Near-zero entries are
    where exact code can still show ~1e-8 (cancellation), hence the 1e-8 floor.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error: shapes differ, {x.shape} vs {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))
