"""Sandwich layers: forward against the chain written out independently, backward against
centred differences (float64), need_dx=False, and bad caches."""

import numpy as np
import pytest

from cs231n import layer_utils as lu
from cs231n.gradient_check import eval_numerical_gradient_array, rel_error
from cs231n.layers import (
    conv_backward_naive, conv_forward_naive, max_pool_backward_naive, max_pool_forward_naive,
    relu_backward, relu_forward,
)

TOL = 1e-7


def _rng(seed=0):
    return np.random.default_rng(seed)


def _numeric_grads(forward, args, dout):
    """Centred-difference gradients of sum(forward(*args) * dout) with respect to each array."""
    grads = []
    for k in range(len(args)):
        def f(_, k=k):
            return forward(*args)
        grads.append(eval_numerical_gradient_array(f, args[k], dout))
    return grads


def _assert_grads(analytic, numeric, names, tol=TOL):
    """Elementwise relative error below tol; a gradient that is zero (e.g. of a bias just before
    a batchnorm, which the normalization cancels) must be zero in both, to rounding."""
    assert len(analytic) == len(numeric)
    for a, n, name in zip(analytic, numeric, names):
        assert a.shape == n.shape, name
        if np.max(np.abs(n)) < 1e-9:
            assert np.max(np.abs(a)) < 1e-9, f"d{name} should be zero, got max {np.max(np.abs(a)):.2e}"
        else:
            assert rel_error(a, n) < tol, f"d{name}: rel_error {rel_error(a, n):.2e}"


def _batchnorm_train(a, gamma, beta, eps=1e-5):
    mean = a.mean(axis=0)
    var = a.var(axis=0)
    return (a - mean) / np.sqrt(var + eps) * gamma + beta


def _layernorm(a, gamma, beta, eps=1e-5):
    mean = a.mean(axis=1, keepdims=True)
    var = a.var(axis=1, keepdims=True)
    return (a - mean) / np.sqrt(var + eps) * gamma + beta


# ---------------------------------------------------------------------------------------------
# affine - relu
# ---------------------------------------------------------------------------------------------

def test_affine_relu_forward_matches_formula():
    rng = _rng(1)
    x, w, b = rng.normal(size=(4, 2, 3)), rng.normal(size=(6, 5)), rng.normal(size=5)
    out, _ = lu.affine_relu_forward(x, w, b)
    expected = np.maximum(x.reshape(4, 6) @ w + b, 0)
    assert out.shape == (4, 5)
    assert rel_error(out, expected) < 1e-12


def test_affine_relu_backward_numeric():
    rng = _rng(2)
    x, w, b = rng.normal(size=(4, 2, 3)), rng.normal(size=(6, 5)), rng.normal(size=5)
    dout = rng.normal(size=(4, 5))
    _, cache = lu.affine_relu_forward(x, w, b)
    analytic = lu.affine_relu_backward(dout, cache)
    numeric = _numeric_grads(lambda *a: lu.affine_relu_forward(*a)[0], (x, w, b), dout)
    _assert_grads(analytic, numeric, "xwb")


# ---------------------------------------------------------------------------------------------
# affine - batchnorm/layernorm - relu
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("normalization, norm", [("batchnorm", _batchnorm_train), ("layernorm", _layernorm)])
def test_affine_norm_relu_forward_matches_formula(normalization, norm):
    rng = _rng(3)
    x, w, b = rng.normal(size=(6, 4)), rng.normal(size=(4, 5)), rng.normal(size=5)
    gamma, beta = rng.uniform(0.5, 1.5, size=5), rng.normal(size=5)
    out, _ = lu.affine_norm_relu_forward(x, w, b, gamma, beta, {"mode": "train"}, normalization)
    expected = np.maximum(norm(x @ w + b, gamma, beta), 0)
    assert rel_error(out, expected) < 1e-6


@pytest.mark.parametrize("normalization", ["batchnorm", "layernorm"])
def test_affine_norm_relu_backward_numeric(normalization):
    rng = _rng(4)
    x, w, b = rng.normal(size=(6, 4)), rng.normal(size=(4, 5)), rng.normal(size=5)
    gamma, beta = rng.uniform(0.5, 1.5, size=5), rng.normal(size=5)
    dout = rng.normal(size=(6, 5))
    param = {"mode": "train"}
    _, cache = lu.affine_norm_relu_forward(x, w, b, gamma, beta, param, normalization)
    analytic = lu.affine_norm_relu_backward(dout, cache)

    def forward(*args):
        return lu.affine_norm_relu_forward(*args, {"mode": "train"}, normalization)[0]

    numeric = _numeric_grads(forward, (x, w, b, gamma, beta), dout)
    _assert_grads(analytic, numeric, ("x", "w", "b", "gamma", "beta"), tol=1e-6)
    if normalization == "batchnorm":  # the batch mean absorbs any bias
        assert np.max(np.abs(analytic[2])) < 1e-12


def test_affine_norm_relu_batchnorm_updates_running_stats_in_param():
    rng = _rng(5)
    x, w, b = rng.normal(size=(6, 4)), rng.normal(size=(4, 5)), np.zeros(5)
    param = {"mode": "train"}
    lu.affine_norm_relu_forward(x, w, b, np.ones(5), np.zeros(5), param, "batchnorm")
    assert "running_mean" in param and param["running_mean"].shape == (5,)


def test_affine_norm_relu_rejects_unknown_normalization():
    x, w, b = np.ones((2, 3)), np.ones((3, 4)), np.zeros(4)
    with pytest.raises(ValueError, match="groupnorm"):
        lu.affine_norm_relu_forward(x, w, b, np.ones(4), np.zeros(4), {"mode": "train"}, "groupnorm")


# ---------------------------------------------------------------------------------------------
# conv sandwiches (fast layers) against the naive layers
# ---------------------------------------------------------------------------------------------

CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


def _conv_args(seed, N=2, C=3, H=6, W=6, F=4, k=3):
    rng = _rng(seed)
    return rng.normal(size=(N, C, H, W)), rng.normal(size=(F, C, k, k)), rng.normal(size=F)


def test_conv_relu_forward_matches_naive_chain():
    x, w, b = _conv_args(10)
    out, _ = lu.conv_relu_forward(x, w, b, CONV)
    expected = np.maximum(conv_forward_naive(x, w, b, CONV)[0], 0)
    assert out.shape == (2, 4, 6, 6)
    assert rel_error(out, expected) < 1e-10


def test_conv_relu_backward_numeric():
    x, w, b = _conv_args(11)
    dout = _rng(12).normal(size=(2, 4, 6, 6))
    _, cache = lu.conv_relu_forward(x, w, b, CONV)
    analytic = lu.conv_relu_backward(dout, cache)
    numeric = _numeric_grads(lambda *a: lu.conv_relu_forward(*a, CONV)[0], (x, w, b), dout)
    _assert_grads(analytic, numeric, "xwb")


def test_conv_bn_relu_forward_matches_naive_chain():
    x, w, b = _conv_args(13)
    gamma, beta = _rng(14).uniform(0.5, 1.5, size=4), _rng(15).normal(size=4)
    out, _ = lu.conv_bn_relu_forward(x, w, b, gamma, beta, CONV, {"mode": "train"})
    a = conv_forward_naive(x, w, b, CONV)[0]
    mean = a.mean(axis=(0, 2, 3), keepdims=True)
    var = a.var(axis=(0, 2, 3), keepdims=True)
    expected = np.maximum((a - mean) / np.sqrt(var + 1e-5) * gamma[:, None, None] + beta[:, None, None], 0)
    assert rel_error(out, expected) < 1e-6


def test_conv_bn_relu_backward_numeric():
    x, w, b = _conv_args(16)
    gamma, beta = _rng(17).uniform(0.5, 1.5, size=4), _rng(18).normal(size=4)
    dout = _rng(19).normal(size=(2, 4, 6, 6))
    _, cache = lu.conv_bn_relu_forward(x, w, b, gamma, beta, CONV, {"mode": "train"})
    analytic = lu.conv_bn_relu_backward(dout, cache)

    def forward(*args):
        return lu.conv_bn_relu_forward(*args, CONV, {"mode": "train"})[0]

    numeric = _numeric_grads(forward, (x, w, b, gamma, beta), dout)
    _assert_grads(analytic, numeric, ("x", "w", "b", "gamma", "beta"), tol=1e-6)
    assert np.max(np.abs(analytic[2])) < 1e-12  # the batch mean absorbs the conv bias


def test_conv_relu_pool_forward_matches_naive_chain():
    x, w, b = _conv_args(20, H=7, W=6)
    out, _ = lu.conv_relu_pool_forward(x, w, b, CONV, POOL)
    a = np.maximum(conv_forward_naive(x, w, b, CONV)[0], 0)
    expected = max_pool_forward_naive(a, POOL)[0]
    assert out.shape == (2, 4, 3, 3)
    assert rel_error(out, expected) < 1e-10


def test_conv_relu_pool_backward_numeric():
    x, w, b = _conv_args(21)
    dout = _rng(22).normal(size=(2, 4, 3, 3))
    _, cache = lu.conv_relu_pool_forward(x, w, b, CONV, POOL)
    analytic = lu.conv_relu_pool_backward(dout, cache)
    numeric = _numeric_grads(lambda *a: lu.conv_relu_pool_forward(*a, CONV, POOL)[0], (x, w, b), dout)
    _assert_grads(analytic, numeric, "xwb")


def test_conv_relu_pool_ties_and_negative_windows_match_naive_chain():
    """Zero filters make every conv output equal its bias: filter 0 gives windows of tied positive
    maxima, filter 1 windows of tied negative values. The gradients must equal the naive chain
    conv -> relu -> pool (ties go to the first maximum; negative windows pass nothing)."""
    # In the student release the naive max pool is the student's code, which may copy a tied
    # window's gradient to every maximum (accepted, see max_pool_backward_naive).
    _, tie_cache = max_pool_forward_naive(np.zeros((1, 1, 1, 2)), {"pool_height": 1, "pool_width": 2, "stride": 1})
    if max_pool_backward_naive(np.ones((1, 1, 1, 1)), tie_cache)[0, 0, 0, 1] != 0:
        pytest.skip("the naive max pool copies ties (accepted; see max_pool_backward_naive)")
    rng = _rng(27)
    x = rng.normal(size=(2, 3, 6, 6))
    w = np.zeros((2, 3, 3, 3))
    b = np.array([0.5, -0.5])
    dout = rng.normal(size=(2, 2, 3, 3))
    out, cache = lu.conv_relu_pool_forward(x, w, b, CONV, POOL)
    dx, dw, db = lu.conv_relu_pool_backward(dout, cache)

    a, conv_cache = conv_forward_naive(x, w, b, CONV)
    r, relu_cache = relu_forward(a)
    expected, pool_cache = max_pool_forward_naive(r, POOL)
    dr = max_pool_backward_naive(dout, pool_cache)
    dx_ref, dw_ref, db_ref = conv_backward_naive(relu_backward(dr, relu_cache), conv_cache)
    assert np.array_equal(out, expected)
    assert np.allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    assert np.allclose(dw, dw_ref, rtol=1e-12, atol=1e-12)
    assert np.allclose(db, db_ref, rtol=1e-12, atol=1e-12)
    assert db[1] == 0 and np.isclose(db[0], dout[:, 0].sum(), rtol=1e-12)


@pytest.mark.parametrize("name", ["conv_relu", "conv_relu_pool", "conv_bn_relu"])
def test_need_dx_false_gives_none_and_same_parameter_grads(name):
    x, w, b = _conv_args(23)
    extra = {
        "conv_relu": (CONV,),
        "conv_relu_pool": (CONV, POOL),
        "conv_bn_relu": (CONV, {"mode": "train"}),
    }[name]
    args = (x, w, b) + ((np.ones(4), np.zeros(4)) if name == "conv_bn_relu" else ())
    forward = getattr(lu, f"{name}_forward")
    backward = getattr(lu, f"{name}_backward")
    out, cache = forward(*args, *extra)
    dout = _rng(24).normal(size=out.shape)
    full = backward(dout, cache)
    partial = backward(dout, cache, need_dx=False)
    assert partial[0] is None
    assert full[0] is not None and full[0].shape == x.shape
    for f, p in zip(full[1:], partial[1:]):
        assert np.array_equal(f, p)


def test_float32_is_preserved():
    x, w, b = (a.astype(np.float32) for a in _conv_args(25))
    out, cache = lu.conv_relu_pool_forward(x, w, b, CONV, POOL)
    assert out.dtype == np.float32
    dx, dw, db = lu.conv_relu_pool_backward(np.ones_like(out), cache)
    assert dx.dtype == dw.dtype == db.dtype == np.float32
    out, cache = lu.affine_relu_forward(x, np.ones((3 * 6 * 6, 5), np.float32), np.zeros(5, np.float32))
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in lu.affine_relu_backward(np.ones_like(out), cache))


def test_inputs_are_not_modified():
    x, w, b = _conv_args(26)
    copies = [a.copy() for a in (x, w, b)]
    out, cache = lu.conv_relu_pool_forward(x, w, b, CONV, POOL)
    lu.conv_relu_pool_backward(np.ones_like(out), cache)
    for a, c in zip((x, w, b), copies):
        assert np.array_equal(a, c)


@pytest.mark.parametrize("backward", [
    lu.affine_relu_backward, lu.affine_norm_relu_backward, lu.conv_relu_backward,
    lu.conv_bn_relu_backward, lu.conv_relu_pool_backward,
])
def test_backward_rejects_a_foreign_cache(backward):
    with pytest.raises(TypeError, match="cache"):
        backward(np.ones((2, 2)), (1,))
