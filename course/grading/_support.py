"""What every check module uses: the check registry, the student's modules, comparisons and
numerical gradients (our own, so a student's edit of ``gradient_check`` cannot affect grading)."""

import importlib
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Check:
    name: str          # the function's name, unique within a part
    title: str         # one line shown in the report
    points: int
    run: Callable[[], None]


def checklist():
    """Return ``(checks, check)``: a list and a decorator ``@check(points, title)`` filling it."""
    checks = []

    def check(points, title):
        def register(func):
            if any(c.name == func.__name__ for c in checks):
                raise ValueError(f"duplicate check name {func.__name__}")
            checks.append(Check(func.__name__, title, points, func))
            return func
        return register

    return checks, check


def student(module):
    """The student's module ``cs231n.<module>`` (from the tree being graded)."""
    return importlib.import_module(f"cs231n.{module}")


def rng(seed=0):
    return np.random.default_rng(seed)


def rel_error(actual, expected):
    """Largest absolute difference, relative to the size of the two arrays (0 when both are 0)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(np.abs(actual).max(initial=0.0) + np.abs(expected).max(initial=0.0), 1e-12)
    return float(np.abs(actual - expected).max(initial=0.0) / scale)


def as_array(value, what):
    """``value`` as a float64 array; a clear failure when it is None or not numeric."""
    if value is None:
        raise AssertionError(f"{what} is None (was it computed and returned?)")
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError(f"{what} is not numeric: got {type(value).__name__}") from None


def assert_close(actual, expected, what, tol=1e-6, atol=0.0):
    """Fail unless ``actual`` has ``expected``'s shape and lies within ``tol`` relative error
    (or within ``atol`` absolute error everywhere: for gradients that are zero in exact arithmetic)."""
    actual = as_array(actual, what)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what} has shape {actual.shape}, expected {expected.shape}")
    if not np.all(np.isfinite(actual)):
        raise AssertionError(f"{what} contains NaN or inf")
    err = rel_error(actual, expected)
    if err > tol and not np.abs(actual - expected).max(initial=0.0) <= atol:
        i = np.unravel_index(np.argmax(np.abs(actual - expected)), expected.shape) if expected.ndim else ()
        raise AssertionError(
            f"{what} is wrong: relative error {err:.2e} (tolerance {tol:.0e}); "
            f"e.g. at {tuple(int(k) for k in i)}: got {actual[i]:.6g}, expected {expected[i]:.6g}")


def assert_scalar(value, expected, what, tol=1e-6):
    """Fail unless ``value`` is a number within ``tol`` (relative) of ``expected``."""
    arr = as_array(value, what)
    if arr.size != 1:
        raise AssertionError(f"{what} should be a single number, got an array of shape {arr.shape}")
    got = float(arr.reshape(()))
    if not np.isfinite(got) or abs(got - expected) > tol * max(1.0, abs(expected)):
        raise AssertionError(f"{what} is {got:.8g}, expected {expected:.8g}")


def numeric_gradient(f, x, h=1e-5):
    """Centred-difference gradient of the scalar ``f()`` with respect to ``x`` (perturbed in place)."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("x must be contiguous")
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = float(f())
        flat[i] = old - h
        minus = float(f())
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * h)
    return grad


def numeric_vjp(f, x, dout, h=1e-5):
    """Numerical gradient of ``sum(f() * dout)`` with respect to ``x`` (perturbed in place)."""
    return numeric_gradient(lambda: float(np.sum(np.asarray(f(), dtype=np.float64) * dout)), x, h)


def check_layer_gradients(forward, backward, inputs, dout_shape, names, seed=9001, tol=1e-6, atol=1e-9):
    """Compare ``backward`` with numerical gradients of ``forward`` for every array in ``inputs``.

    ``forward(*inputs)`` returns ``(out, cache)``; ``backward(dout, cache)`` returns the gradients
    with respect to ``inputs`` in order (a single array when there is one input).
    """
    dout = rng(seed).standard_normal(dout_shape)
    out, cache = forward(*inputs)
    out = as_array(out, "the forward output")
    if out.shape != tuple(dout_shape):
        raise AssertionError(f"the forward output has shape {out.shape}, expected {tuple(dout_shape)}")
    grads = backward(dout, cache)
    if len(inputs) == 1:
        grads = (grads,)
    if not isinstance(grads, tuple) or len(grads) != len(inputs):
        raise AssertionError(f"the backward pass should return {len(inputs)} gradient(s) ({', '.join(names)})")
    for k, (x, g, name) in enumerate(zip(inputs, grads, names)):
        num = numeric_vjp(lambda: forward(*inputs)[0], x, dout)
        assert_close(g, num, f"{name} (compared with the numerical gradient)", tol, atol)


def randomize_params(model, seed, scale=0.5):
    """Replace every parameter by random float64 values (no zero biases: no ReLU sits exactly
    on its kink, where numerical and analytic gradients legitimately differ)."""
    r = rng(seed)
    for k in sorted(model.params):
        shape = np.shape(model.params[k])
        model.params[k] = scale * r.standard_normal(shape) + (1.0 if k.startswith("gamma") else 0.0)
    return model


def check_model_gradients(model, X, y, tol=1e-5, atol=1e-8, keys=None):
    """Compare ``model.loss(X, y)``'s gradients with numerical ones for every parameter."""
    loss, grads = model.loss(X, y)
    as_array(loss, "the loss")
    if not isinstance(grads, dict):
        raise AssertionError(f"loss(X, y) should return (loss, grads) with grads a dict, got {type(grads).__name__}")
    keys = sorted(model.params) if keys is None else keys
    missing = [k for k in keys if k not in grads]
    if missing:
        raise AssertionError(f"grads has no entry for {', '.join(missing)}")
    for k in keys:
        param = model.params[k]
        if not isinstance(param, np.ndarray) or param.dtype != np.float64:
            raise AssertionError(f"params[{k!r}] should be a float64 array here (dtype=np.float64 was asked)")
        num = numeric_gradient(lambda: model.loss(X, y)[0], param)
        assert_close(grads[k], num, f"grads[{k!r}] (compared with the numerical gradient)", tol, atol)


def softmax_loss_reference(scores, y):
    """Mean softmax cross-entropy, by the log-sum-exp formula (for expected values in checks)."""
    scores = np.asarray(scores, dtype=np.float64)
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(y)), y].mean())


def check_reg_penalty(make_model, X, y, what):
    """The penalty must grow linearly with reg: L(2r) - L(0) = 2 (L(r) - L(0)) > 0."""
    l0, lr, l2r = (float(make_model(reg).loss(X, y)[0]) for reg in (0.0, 0.5, 1.0))
    if not lr > l0:
        raise AssertionError(f"{what}: the loss with reg=0.5 ({lr:.6g}) is not larger than with reg=0 ({l0:.6g})")
    if abs((l2r - l0) - 2 * (lr - l0)) > 1e-6 * max(1.0, abs(l2r)):
        raise AssertionError(f"{what}: the regularisation term is not proportional to reg "
                             f"(loss {l0:.6g}, {lr:.6g}, {l2r:.6g} for reg 0, 0.5, 1)")
