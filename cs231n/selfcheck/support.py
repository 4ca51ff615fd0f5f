"""What every check module uses: the registry, comparisons, and gradients checked either against
the instructor's reference (in the grader) or against numerical gradients of the student's own
forward pass (in the student's self-check), computed here from values the student's process
returns for perturbed inputs (one round trip per array).

A check is a function of one argument, the ``engine.Context``: ``ctx.student("layers")`` is the
student's module (remote: every call runs in the student's process), ``ctx.reference("layers")``
the instructor's (None outside the grader). It raises AssertionError with an explanation when a
value is wrong.
"""

import copy
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

VISIBILITIES = ("visible", "after_due_date", "hidden")


@dataclass(frozen=True)
class Check:
    name: str          # unique within a part
    title: str         # one line shown in the report
    points: int
    run: Callable
    visibility: str = "visible"
    target: str = ""   # the function this check is about (e.g. "affine_backward")
    uses: tuple = field(default=())  # every student function it calls (target included)


def checklist():
    """Return ``(checks, check)``: a list and a decorator ``@check(points, title, ...)`` filling it."""
    checks = []

    def check(points, title, target="", uses=(), visibility="visible"):
        if visibility not in VISIBILITIES:
            raise ValueError(f"visibility must be one of {VISIBILITIES}, got {visibility!r}")

        def register(func):
            if any(c.name == func.__name__ for c in checks):
                raise ValueError(f"duplicate check name {func.__name__}")
            checks.append(Check(func.__name__, title, points, func, visibility, target,
                                tuple(dict.fromkeys((target,) * bool(target) + tuple(uses)))))
            return func
        return register

    return checks, check


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
    if isinstance(value, (dict, str)) or not isinstance(value, (np.ndarray, list, tuple, int, float)):
        raise AssertionError(f"{what} is not numeric: got {type(value).__name__}")
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


def pair(value, what):
    """``value`` as a 2-tuple ``(out, cache)`` (a forward pass) or a clear failure."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise AssertionError(f"{what} should return a pair (out, cache), got {type(value).__name__}")
    return value


# ---------------------------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------------------------

H = 1e-5


def numeric_from_perturbed(values, dout, shape):
    """Centred differences from the (n, 2, ...) array of ``RemoteFunction.perturb``."""
    values = as_array(values, "the perturbed evaluations")
    dout = np.asarray(dout, dtype=np.float64)
    n = math.prod(shape)
    if values.shape[:2] != (n, 2) or values[0, 0].size != dout.size:
        raise AssertionError(f"the student's process answered {values.shape} values for {n} perturbations")
    diff = (values[:, 0] - values[:, 1]).reshape(n, -1) @ dout.reshape(-1)
    return (diff / (2 * H)).reshape(shape)


def check_layer_gradients(ctx, module, forward, backward, inputs, dout_shape, names, extra=(), seed=9001,
                          tol=1e-6, atol=1e-9):
    """Check the student's ``backward`` for ``forward(*inputs, *extra)`` with respect to each input.

    In the grader the gradients (and the forward output) are compared with the instructor's
    reference layer; in the self-check with numerical gradients of the student's own forward.
    """
    layers = ctx.student(module)
    fwd, bwd = getattr(layers, forward), getattr(layers, backward)
    dout = rng(seed).standard_normal(dout_shape)
    out, cache = pair(fwd(*inputs, *copy.deepcopy(extra)), forward)
    out = as_array(out, f"the output of {forward}")
    if out.shape != tuple(dout_shape):
        raise AssertionError(f"the output of {forward} has shape {out.shape}, expected {tuple(dout_shape)}")
    grads = bwd(dout, cache)
    if len(inputs) == 1:
        grads = (grads,)
    if not isinstance(grads, (tuple, list)) or len(grads) != len(inputs):
        raise AssertionError(f"{backward} should return {len(inputs)} gradient(s) ({', '.join(names)})")
    ref = ctx.reference(module)
    if ref is not None:
        r_out, r_cache = getattr(ref, forward)(*copy.deepcopy(inputs), *copy.deepcopy(extra))
        assert_close(out, r_out, f"the output of {forward}", tol, atol)
        expected = getattr(ref, backward)(dout, r_cache)
        expected = (expected,) if len(inputs) == 1 else expected
        for g, e, name in zip(grads, expected, names):
            assert_close(g, e, f"{name} of {backward}", tol, atol)
        return
    for k, (x, g, name) in enumerate(zip(inputs, grads, names)):
        values = fwd.perturb([*inputs, *copy.deepcopy(extra)], wrt=[["arg", k]], h=H, select=[0])
        num = numeric_from_perturbed(values, dout, np.shape(x))
        assert_close(g, num, f"{name} of {backward} (compared with the numerical gradient)", tol, atol)


class Model:
    """A model built in the student's process, and (in the grader) its reference twin."""

    def __init__(self, ctx, module, cls, **kwargs):
        self.remote = getattr(ctx.student(module), cls)(**kwargs)
        if not hasattr(self.remote, "get"):
            raise AssertionError(f"{cls}(...) did not build a model object")
        ref = ctx.reference(module)
        self.ref = getattr(ref, cls)(**kwargs) if ref is not None else None
        self.cls = cls

    @property
    def params(self):
        params = self.remote.get("params")
        if not isinstance(params, dict):
            raise AssertionError(f"{self.cls}.params should be a dict, got {type(params).__name__}")
        return params

    def set_params(self, params):
        params = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
        self.remote.set("params", {k: v.copy() for k, v in params.items()})
        if self.ref is not None:
            self.ref.params = {k: v.copy() for k, v in params.items()}

    def loss(self, X, y=None):
        return self.remote.loss(X) if y is None else self.remote.loss(X, y)

    def randomize(self, seed, scale=0.5):
        """Random float64 parameters (no zero biases: no ReLU sits exactly on its kink)."""
        r = rng(seed)
        self.set_params({k: scale * r.standard_normal(np.shape(v)) + (1.0 if k.startswith("gamma") else 0.0)
                         for k, v in sorted(self.params.items())})
        return self


def check_model_gradients(model, X, y, tol=1e-5, atol=1e-8, numeric=False):
    """Compare ``model.loss(X, y)``'s gradients with the reference model's (grader) or with
    numerical gradients (self-check, or ``numeric=True``) for every parameter."""
    result = model.loss(X, y)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise AssertionError("loss(X, y) should return (loss, grads)")
    loss, grads = result
    as_array(loss, "the loss")
    if not isinstance(grads, dict):
        raise AssertionError(f"loss(X, y) should return (loss, grads) with grads a dict, got {type(grads).__name__}")
    params = model.params
    missing = [k for k in params if k not in grads]
    if missing:
        raise AssertionError(f"grads has no entry for {', '.join(sorted(missing))}")
    if model.ref is not None and not numeric:
        r_loss, r_grads = model.ref.loss(X, y)
        assert_scalar(loss, float(r_loss), "the loss", tol)
        for k in sorted(params):
            assert_close(grads[k], r_grads[k], f"grads[{k!r}]", tol, atol)
        return
    for k in sorted(params):
        if not isinstance(params[k], np.ndarray) or params[k].dtype != np.float64:
            raise AssertionError(f"params[{k!r}] should be a float64 array here (dtype=np.float64 was asked)")
        values = model.remote.loss.perturb([X, y], wrt=[["h", model.remote.id], ["a", "params"], ["i", k]],
                                           h=H, select=[0])
        num = numeric_from_perturbed(values, np.ones(()), np.shape(params[k]))
        assert_close(grads[k], num, f"grads[{k!r}] (compared with the numerical gradient)", tol, atol)


def softmax_loss_reference(scores, y):
    """Mean softmax cross-entropy, by the log-sum-exp formula (for expected values in checks)."""
    scores = np.asarray(scores, dtype=np.float64)
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(y)), y].mean())


def check_reg_penalty(make_model, X, y, what):
    """The penalty must grow linearly with reg: L(2r) - L(0) = 2 (L(r) - L(0)) > 0."""
    l0, lr, l2r = (float(as_array(make_model(reg).loss(X, y)[0], "the loss")) for reg in (0.0, 0.5, 1.0))
    if not lr > l0:
        raise AssertionError(f"{what}: the loss with reg=0.5 ({lr:.6g}) is not larger than with reg=0 ({l0:.6g})")
    if abs((l2r - l0) - 2 * (lr - l0)) > 1e-6 * max(1.0, abs(l2r)):
        raise AssertionError(f"{what}: the regularisation term is not proportional to reg "
                             f"(loss {l0:.6g}, {lr:.6g}, {l2r:.6g} for reg 0, 0.5, 1)")
