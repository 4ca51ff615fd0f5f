"""Instructor-only tests: references that would give the answer away in the release's tests/.

Moved here from tests/ (issue 12): the plain-loop group norm, the optimizers' formulas written out,
the fully connected forward pass with batch/layer norm in numpy; and the behaviour of the
instructor's own solutions beyond the original's contract (batchnorm backward in test mode).
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from cs231n import optim
from cs231n.gradient_check import rel_error
from cs231n.normalization import (
    batchnorm_backward, batchnorm_backward_alt, batchnorm_forward, spatial_groupnorm_forward,
)

RULES = ["sgd", "sgd_momentum", "rmsprop", "adam"]


def _load(name):
    path = Path(__file__).resolve().parents[2] / "tests" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"release_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NORM = _load("test_normalization")
MODELS = _load("test_models")
_arrays, _check_gradients = NORM._arrays, NORM._check_gradients
_data, _small_fc = MODELS._data, MODELS._small_fc


def rule(name):
    return getattr(optim, name)


# ---- batch norm in test mode: the instructor's backward passes handle it too ----------------------

@pytest.mark.parametrize("backward", [batchnorm_backward, batchnorm_backward_alt])
def test_batchnorm_test_mode_gradients(backward):
    x, gamma, beta = _arrays(2, (3, 4), (4,))
    stats = {"running_mean": np.array([0.5, -1.0, 2.0, 0.0]), "running_var": np.array([1.0, 4.0, 0.25, 2.0])}
    forward = lambda x, g, b: batchnorm_forward(x, g, b, {"mode": "test", **stats})  # noqa: E731
    _check_gradients(forward, backward, x, gamma, beta)


def _groupnorm_loop(x, gamma, beta, G, eps):
    """Group normalization written as plainly as possible, one (sample, group) at a time."""
    N, C, H, W = x.shape
    size = C // G
    out = np.empty_like(x)
    for n in range(N):
        for g in range(G):
            block = x[n, g * size:(g + 1) * size]
            mean = sum(block.ravel()) / block.size
            var = sum((v - mean) ** 2 for v in block.ravel()) / block.size
            for c in range(g * size, (g + 1) * size):
                out[n, c] = gamma[c] * (x[n, c] - mean) / np.sqrt(var + eps) + beta[c]
    return out


@pytest.mark.parametrize("G", [1, 2, 3, 6])
def test_groupnorm_matches_loop(G):
    x, gamma, beta = _arrays(13, (3, 6, 4, 3), (6,))
    out, _ = spatial_groupnorm_forward(x, gamma.reshape(1, 6, 1, 1), beta.reshape(1, 6, 1, 1), G, {"eps": 1e-3})
    assert rel_error(out, _groupnorm_loop(x, gamma, beta, G, 1e-3)) < 1e-10




@pytest.mark.parametrize("shape", [(2, 3), (50, 20), (8, 1)])
def test_batchnorm_backward_alt_equals_graph_version_in_test_mode(shape):
    x, gamma, beta = _arrays(6, shape, shape[1:])
    bn_param = {"mode": "test", "running_mean": np.full(shape[1], 0.3), "running_var": np.full(shape[1], 2.0)}
    _, cache = batchnorm_forward(x, gamma, beta, bn_param)
    dout = np.random.default_rng(7).normal(size=shape)
    for a, b in zip(batchnorm_backward(dout, cache), batchnorm_backward_alt(dout, cache)):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-13)


# ---- fully connected forward pass with normalization, written out in numpy ----------------------

@pytest.mark.parametrize("normalization", ["batchnorm", "layernorm"])
def test_fc_test_mode_scores_match_numpy(normalization):
    model = _small_fc(normalization)
    X, y = _data(10, (6, 8), 4)
    for i in (1, 2):
        model.params[f"gamma{i}"] = np.linspace(0.5, 1.5, model.params[f"gamma{i}"].size)
        model.params[f"beta{i}"] = np.linspace(-0.2, 0.3, model.params[f"beta{i}"].size)
    model.loss(X, y)  # a training pass sets the batchnorm running statistics
    scores = model.loss(X)
    h = X
    for i in (1, 2):
        a = h @ model.params[f"W{i}"] + model.params[f"b{i}"]
        if normalization == "batchnorm":
            bn = model.bn_params[i - 1]
            assert bn["mode"] == "test"
            mean, var = bn["running_mean"], bn["running_var"]
        else:
            mean, var = a.mean(axis=1, keepdims=True), a.var(axis=1, keepdims=True)
        a = (a - mean) / np.sqrt(var + 1e-5) * model.params[f"gamma{i}"] + model.params[f"beta{i}"]
        h = np.maximum(a, 0)
    expected = h @ model.params["W3"] + model.params["b3"]
    assert rel_error(scores, expected) < 1e-8



# ---- the update rules against their formulas over many steps -------------------------------------

def reference_steps(name, w, grads, config):
    """The textbook formulas with fresh arrays, written out here as the reference."""
    lr = config["learning_rate"]
    state = {"v": np.zeros_like(w), "c": np.zeros_like(w), "m": np.zeros_like(w), "a": np.zeros_like(w)}
    for t, dw in enumerate(grads, start=1):
        if name == "sgd":
            w = w - lr * dw
        elif name == "sgd_momentum":
            state["v"] = 0.9 * state["v"] - lr * dw
            w = w + state["v"]
        elif name == "rmsprop":
            state["c"] = 0.99 * state["c"] + 0.01 * dw**2
            w = w - lr * dw / (np.sqrt(state["c"]) + 1e-8)
        else:
            state["m"] = 0.9 * state["m"] + 0.1 * dw
            state["a"] = 0.999 * state["a"] + 0.001 * dw**2
            m_hat, v_hat = state["m"] / (1 - 0.9**t), state["a"] / (1 - 0.999**t)
            w = w - lr * m_hat / (np.sqrt(v_hat) + 1e-8)
    return w


@pytest.mark.parametrize("name", RULES)
@pytest.mark.parametrize("transposed", [False, True])
def test_many_steps_over_several_blocks_match_the_formulas(name, transposed):
    # 3 x 40001 values: several blocks of 2**15 float64 values and a ragged last block.
    rng = np.random.default_rng(7)
    w = rng.standard_normal((40001, 3) if transposed else (3, 40001))
    grads = [rng.standard_normal(w.shape) for _ in range(4)]
    if transposed:  # non-contiguous weights and gradients
        w, grads = w.T, [g.T for g in grads]
    expected = reference_steps(name, w, grads, {"learning_rate": 1e-2})
    config = {"learning_rate": 1e-2}
    for dw in grads:
        w, config = rule(name)(w, dw, config)
    assert w.shape == expected.shape
    np.testing.assert_allclose(w, expected, rtol=1e-12, atol=1e-12)


