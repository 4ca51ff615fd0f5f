"""Tests of cs231n.normalization: gradients against centred differences (float64), forward values
against hand-computed cases and independent numpy code, running statistics, immutability of the
inputs, dtypes, and one test per bad input."""

import numpy as np
import pytest

from cs231n.gradient_check import eval_numerical_gradient_array, rel_error
from cs231n.normalization import (
    batchnorm_backward, batchnorm_backward_alt, batchnorm_forward, layernorm_backward,
    layernorm_forward, spatial_batchnorm_backward, spatial_batchnorm_forward,
    spatial_groupnorm_backward, spatial_groupnorm_forward,
)

EPS = 1e-5


def _arrays(seed, x_shape, param_shape):
    """x, gamma, beta, with gamma away from zero and x not centred."""
    rng = np.random.default_rng(seed)
    x = rng.normal(2.0, 3.0, size=x_shape)
    gamma = rng.uniform(0.5, 2.0, size=param_shape) * rng.choice([-1.0, 1.0], size=param_shape)
    beta = rng.normal(size=param_shape)
    return x, gamma, beta


def _numeric_grads(forward, x, gamma, beta, dout):
    """Numerical (dx, dgamma, dbeta) of sum(forward(x, gamma, beta) * dout)."""
    f = lambda _: forward(x, gamma, beta)  # noqa: E731 -- reads the perturbed arrays by closure
    return tuple(eval_numerical_gradient_array(f, v, dout) for v in (x, gamma, beta))


def _check_gradients(forward, backward, x, gamma, beta, seed=0, tol=1e-7):
    out, cache = forward(x, gamma, beta)
    dout = np.random.default_rng(seed + 100).normal(size=out.shape)
    analytic = backward(dout, cache)
    numeric = _numeric_grads(lambda *a: forward(*a)[0], x, gamma, beta, dout)
    for name, a, n in zip(("dx", "dgamma", "dbeta"), analytic, numeric):
        assert a.shape == n.shape, name
        assert rel_error(a, n) < tol, f"{name}: {rel_error(a, n):.2e}"


# ---------------------------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backward", [batchnorm_backward, batchnorm_backward_alt])
@pytest.mark.parametrize("shape", [(3, 2), (4, 5), (7, 1)])
def test_batchnorm_train_gradients(backward, shape):
    x, gamma, beta = _arrays(1, shape, shape[1:])
    forward = lambda x, g, b: batchnorm_forward(x, g, b, {"mode": "train"})  # noqa: E731
    _check_gradients(forward, backward, x, gamma, beta)


@pytest.mark.parametrize("shape", [(1, 4), (3, 5), (5, 3)])
def test_layernorm_gradients(shape):
    x, gamma, beta = _arrays(3, shape, shape[1:])
    forward = lambda x, g, b: layernorm_forward(x, g, b, {})  # noqa: E731
    _check_gradients(forward, layernorm_backward, x, gamma, beta)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 2, 3, 3), (3, 1, 2, 2)])
def test_spatial_batchnorm_gradients(shape):
    x, gamma, beta = _arrays(4, shape, shape[1:2])
    forward = lambda x, g, b: spatial_batchnorm_forward(x, g, b, {"mode": "train"})  # noqa: E731
    _check_gradients(forward, spatial_batchnorm_backward, x, gamma, beta)


@pytest.mark.parametrize("shape, G", [((1, 6, 3, 2), 1), ((2, 6, 3, 2), 3), ((2, 6, 2, 2), 6),
                                      ((1, 4, 2, 3), 2), ((3, 3, 1, 1), 1)])
@pytest.mark.parametrize("param_shape", ["1C11", "C"])
def test_groupnorm_gradients(shape, G, param_shape):
    C = shape[1]
    x, gamma, beta = _arrays(5, shape, (1, C, 1, 1) if param_shape == "1C11" else (C,))
    forward = lambda x, g, b: spatial_groupnorm_forward(x, g, b, G, {})  # noqa: E731
    _check_gradients(forward, spatial_groupnorm_backward, x, gamma, beta)


@pytest.mark.parametrize("mode", ["train"])  # the backward passes are for training mode (as in the original)
@pytest.mark.parametrize("shape", [(2, 3), (50, 20), (8, 1)])
def test_batchnorm_backward_alt_equals_graph_version(mode, shape):
    x, gamma, beta = _arrays(6, shape, shape[1:])
    bn_param = {"mode": mode, "running_mean": np.full(shape[1], 0.3), "running_var": np.full(shape[1], 2.0)}
    _, cache = batchnorm_forward(x, gamma, beta, bn_param)
    dout = np.random.default_rng(7).normal(size=shape)
    for a, b in zip(batchnorm_backward(dout, cache), batchnorm_backward_alt(dout, cache)):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-13)


def test_groupnorm_gradient_shapes_follow_gamma_and_beta():
    x, _, _ = _arrays(8, (2, 4, 2, 2), (4,))
    gamma, beta = np.ones(4), np.zeros((1, 4, 1, 1))
    out, cache = spatial_groupnorm_forward(x, gamma, beta, 2, {})
    _, dgamma, dbeta = spatial_groupnorm_backward(np.ones_like(out), cache)
    assert dgamma.shape == (4,) and dbeta.shape == (1, 4, 1, 1)


# ---------------------------------------------------------------------------------------------
# Forward values
# ---------------------------------------------------------------------------------------------

def test_batchnorm_hand_case():
    # mean 2, biased variance 1: xhat = (-1, 1) / sqrt(1 + eps)
    out, _ = batchnorm_forward(np.array([[1.0], [3.0]]), np.array([2.0]), np.array([0.5]), {"mode": "train"})
    assert np.allclose(out, 0.5 + 2 * np.array([[-1.0], [1.0]]) / np.sqrt(1 + EPS), rtol=0, atol=1e-15)


def test_batchnorm_constant_feature_gives_beta():
    x = np.array([[1.0, 7.0], [3.0, 7.0], [8.0, 7.0]])
    out, _ = batchnorm_forward(x, np.array([1.0, 3.0]), np.array([0.0, -2.0]), {"mode": "train"})
    assert np.array_equal(out[:, 1], [-2.0, -2.0, -2.0])


def test_batchnorm_train_output_has_mean_beta_and_std_gamma():
    rng = np.random.default_rng(9)
    x = rng.normal(5.0, 3.0, size=(200, 4)) * np.array([1.0, 0.1, 10.0, 2.0])
    gamma, beta = np.array([1.0, 2.0, 3.0, 0.5]), np.array([0.0, -1.0, 2.0, 0.3])
    out, _ = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    assert np.allclose(out.mean(axis=0), beta, atol=1e-12)
    assert np.allclose(out.std(axis=0), gamma, rtol=1e-3)


def test_batchnorm_respects_eps():
    # variance 1 and eps 3: xhat = (-1, 1) / 2
    out, _ = batchnorm_forward(np.array([[1.0], [3.0]]), np.ones(1), np.zeros(1), {"mode": "train", "eps": 3})
    assert np.allclose(out, [[-0.5], [0.5]], rtol=0, atol=1e-15)


def test_layernorm_hand_case():
    # row means 2 and 2, biased variances 1 and 4
    x = np.array([[1.0, 3.0], [0.0, 4.0]])
    out, _ = layernorm_forward(x, np.array([1.0, 3.0]), np.array([0.5, 0.0]), {})
    xhat = np.array([[-1 / np.sqrt(1 + EPS), 1 / np.sqrt(1 + EPS)], [-2 / np.sqrt(4 + EPS), 2 / np.sqrt(4 + EPS)]])
    assert np.allclose(out, xhat * [1.0, 3.0] + [0.5, 0.0], rtol=0, atol=1e-15)


def test_layernorm_rows_have_zero_mean_and_unit_std():
    x = np.random.default_rng(10).normal(3.0, 5.0, size=(6, 300))
    out, _ = layernorm_forward(x, np.ones(300), np.zeros(300), {})
    assert np.allclose(out.mean(axis=1), 0, atol=1e-12)
    assert np.allclose(out.std(axis=1), 1, rtol=1e-5)


def test_layernorm_ignores_mode():
    x, gamma, beta = _arrays(11, (4, 5), (5,))
    outs = [layernorm_forward(x, gamma, beta, p)[0] for p in ({}, {"mode": "train"}, {"mode": "test"})]
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])


def test_spatial_batchnorm_matches_per_channel_statistics():
    x, gamma, beta = _arrays(12, (3, 4, 5, 2), (4,))
    bn_param = {"mode": "train"}
    out, _ = spatial_batchnorm_forward(x, gamma, beta, bn_param)
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    expected = (x - mean) / np.sqrt(var + EPS) * gamma[None, :, None, None] + beta[None, :, None, None]
    assert rel_error(out, expected) < 1e-12
    assert bn_param["running_mean"].shape == (4,) and bn_param["running_var"].shape == (4,)
    assert np.allclose(bn_param["running_mean"], 0.1 * mean.ravel(), rtol=1e-13)
    assert np.allclose(bn_param["running_var"], 0.1 * var.ravel(), rtol=1e-13)


def test_groupnorm_hand_case():
    # one group of values 1, 3, 5, 7: mean 4, biased variance 5
    x = np.array([1.0, 3.0, 5.0, 7.0]).reshape(1, 2, 1, 2)
    out, _ = spatial_groupnorm_forward(x, np.array([1.0, 2.0]), np.array([0.0, 1.0]), 1, {})
    xhat = np.array([-3.0, -1.0, 1.0, 3.0]) / np.sqrt(5 + EPS)
    assert np.allclose(out.ravel(), xhat * [1, 1, 2, 2] + [0, 0, 1, 1], rtol=0, atol=1e-15)


def test_groupnorm_with_one_group_per_channel_is_instance_norm():
    x, gamma, beta = _arrays(14, (2, 5, 3, 4), (5,))
    out, _ = spatial_groupnorm_forward(x, gamma, beta, 5, {})
    mean, var = x.mean(axis=(2, 3), keepdims=True), x.var(axis=(2, 3), keepdims=True)
    expected = (x - mean) / np.sqrt(var + EPS) * gamma[:, None, None] + beta[:, None, None]
    assert rel_error(out, expected) < 1e-12


def test_groupnorm_with_one_group_is_layernorm_over_chw():
    x, gamma, beta = _arrays(15, (3, 4, 2, 5), (4,))
    out, _ = spatial_groupnorm_forward(x, gamma, beta, 1, {})
    expected, _ = layernorm_forward(x.reshape(3, -1), np.repeat(gamma, 10), np.repeat(beta, 10), {})
    assert rel_error(out, expected.reshape(x.shape)) < 1e-12


# ---------------------------------------------------------------------------------------------
# Running statistics
# ---------------------------------------------------------------------------------------------

def test_running_statistics_approach_the_true_ones():
    rng = np.random.default_rng(16)
    mu, sigma = np.array([-2.0, 0.0, 3.0]), np.array([0.5, 1.0, 2.0])
    bn_param = {"mode": "train"}
    for _ in range(200):
        batchnorm_forward(rng.normal(mu, sigma, size=(64, 3)), np.ones(3), np.zeros(3), bn_param)
    assert np.allclose(bn_param["running_mean"], mu, atol=0.15)
    assert np.allclose(bn_param["running_var"], sigma ** 2, rtol=0.15)


def test_running_statistics_one_step_from_zeros():
    bn_param = {"mode": "train"}
    batchnorm_forward(np.array([[1.0], [3.0]]), np.ones(1), np.zeros(1), bn_param)
    # 0.9 * 0 + 0.1 * batch mean 2, and 0.9 * 0 + 0.1 * biased batch variance 1
    assert np.allclose(bn_param["running_mean"], [0.2], rtol=1e-15)
    assert np.allclose(bn_param["running_var"], [0.1], rtol=1e-15)


def test_running_statistics_update_with_given_momentum_and_values():
    mean0, var0 = np.array([1.0]), np.array([3.0])
    bn_param = {"mode": "train", "momentum": 0.25, "running_mean": mean0, "running_var": var0}
    batchnorm_forward(np.array([[1.0], [3.0]]), np.ones(1), np.zeros(1), bn_param)
    assert np.allclose(bn_param["running_mean"], [0.25 * 1 + 0.75 * 2], rtol=1e-15)
    assert np.allclose(bn_param["running_var"], [0.25 * 3 + 0.75 * 1], rtol=1e-15)
    # replaced by new arrays; the caller's arrays are untouched
    assert bn_param["running_mean"] is not mean0 and bn_param["running_var"] is not var0
    assert mean0[0] == 1.0 and var0[0] == 3.0


@pytest.mark.parametrize("momentum, expected_mean", [(0.0, 2.0), (1.0, 0.5)])
def test_running_statistics_momentum_bounds(momentum, expected_mean):
    bn_param = {"mode": "train", "momentum": momentum, "running_mean": np.array([0.5])}
    batchnorm_forward(np.array([[1.0], [3.0]]), np.ones(1), np.zeros(1), bn_param)
    assert bn_param["running_mean"][0] == expected_mean


def test_test_mode_uses_running_statistics():
    bn_param = {"mode": "test", "running_mean": np.array([1.0]), "running_var": np.array([4.0]), "eps": 1e-12}
    before = dict(bn_param)
    out, _ = batchnorm_forward(np.array([[3.0], [5.0]]), np.array([2.0]), np.array([1.0]), bn_param)
    # (3 - 1) / 2 = 1 and (5 - 1) / 2 = 2, times 2 plus 1
    assert np.allclose(out, [[3.0], [5.0]], rtol=1e-12)
    assert bn_param.keys() == before.keys() and all(bn_param[k] is before[k] for k in before)


def test_test_mode_before_training_is_the_affine_map():
    x = np.array([[3.0, -1.0], [5.0, 2.0]])
    bn_param = {"mode": "test"}
    out, _ = batchnorm_forward(x, np.array([2.0, 1.0]), np.array([1.0, 0.0]), bn_param)
    assert np.allclose(out, x / np.sqrt(1 + EPS) * [2.0, 1.0] + [1.0, 0.0], rtol=1e-15)
    assert bn_param == {"mode": "test"}


def test_running_statistics_take_the_dtype_of_x():
    bn_param = {"mode": "train"}
    x = np.random.default_rng(17).normal(size=(5, 3)).astype(np.float32)
    for _ in range(3):
        batchnorm_forward(x, np.ones(3, np.float32), np.zeros(3, np.float32), bn_param)
        assert bn_param["running_mean"].dtype == np.float32 and bn_param["running_var"].dtype == np.float32
    spatial = {"mode": "train"}
    spatial_batchnorm_forward(x.reshape(5, 3, 1, 1), np.ones(3, np.float32), np.zeros(3, np.float32), spatial)
    assert spatial["running_mean"].dtype == np.float32 and spatial["running_var"].dtype == np.float32


# ---------------------------------------------------------------------------------------------
# Inputs are never modified; dtypes are preserved
# ---------------------------------------------------------------------------------------------

LAYERS = {
    "batchnorm": (lambda x, g, b: batchnorm_forward(x, g, b, {"mode": "train"}), batchnorm_backward, (6, 4), (4,)),
    "batchnorm_alt": (lambda x, g, b: batchnorm_forward(x, g, b, {"mode": "train"}), batchnorm_backward_alt,
                      (6, 4), (4,)),
    "batchnorm_test": (lambda x, g, b: batchnorm_forward(x, g, b, {"mode": "test"}), None, (6, 4), (4,)),
    "layernorm": (lambda x, g, b: layernorm_forward(x, g, b, {}), layernorm_backward, (6, 4), (4,)),
    "spatial_batchnorm": (lambda x, g, b: spatial_batchnorm_forward(x, g, b, {"mode": "train"}),
                          spatial_batchnorm_backward, (2, 3, 4, 4), (3,)),
    "groupnorm": (lambda x, g, b: spatial_groupnorm_forward(x, g, b, 2, {}), spatial_groupnorm_backward,
                  (2, 4, 3, 3), (1, 4, 1, 1)),
}


@pytest.mark.parametrize("layer", LAYERS)
def test_inputs_are_not_modified(layer):
    forward, backward, x_shape, p_shape = LAYERS[layer]
    x, gamma, beta = _arrays(18, x_shape, p_shape)
    dout = np.random.default_rng(19).normal(size=x_shape)
    copies = [a.copy() for a in (x, gamma, beta, dout)]
    _, cache = forward(x, gamma, beta)
    if backward is not None:  # None: test mode, whose backward pass the original does not ask for
        backward(dout, cache)
    assert all(np.array_equal(a, c) for a, c in zip((x, gamma, beta, dout), copies))


def test_batchnorm_does_not_modify_given_running_statistics():
    mean0, var0 = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    bn_param = {"mode": "train", "running_mean": mean0, "running_var": var0}
    spatial_batchnorm_forward(np.ones((2, 2, 2, 2)), np.ones(2), np.zeros(2), bn_param)
    assert np.array_equal(mean0, [1.0, 2.0]) and np.array_equal(var0, [3.0, 4.0])


@pytest.mark.parametrize("layer", LAYERS)
def test_float32_stays_float32(layer):
    forward, backward, x_shape, p_shape = LAYERS[layer]
    x, gamma, beta = (a.astype(np.float32) for a in _arrays(20, x_shape, p_shape))
    out, cache = forward(x, gamma, beta)
    assert out.dtype == np.float32
    if backward is not None:
        grads = backward(np.ones_like(out), cache)
        assert [g.dtype for g in grads] == [np.float32] * 3


def test_integer_input_is_promoted_to_float64():
    out, _ = batchnorm_forward(np.array([[1], [3]]), np.ones(1), np.zeros(1), {"mode": "train"})
    assert out.dtype == np.float64


# ---------------------------------------------------------------------------------------------
# Bad inputs: one case each, the message names the bad value
# ---------------------------------------------------------------------------------------------

def _bn(x_shape=(3, 4), p_shape=(4,), beta_shape=None, **bn_param):
    return lambda: batchnorm_forward(np.ones(x_shape), np.ones(p_shape), np.zeros(beta_shape or p_shape), bn_param)


def _sbn(x_shape=(2, 3, 2, 2), p_shape=(3,), **bn_param):
    return lambda: spatial_batchnorm_forward(np.ones(x_shape), np.ones(p_shape), np.zeros(p_shape), bn_param)


def _ln(x_shape=(3, 4), p_shape=(4,), ln_param=None):
    return lambda: layernorm_forward(np.ones(x_shape), np.ones(p_shape), np.zeros(p_shape),
                                     {} if ln_param is None else ln_param)


def _gn(x_shape=(2, 6, 2, 2), p_shape=(6,), G=2, gn_param=None, beta_shape=None):
    return lambda: spatial_groupnorm_forward(np.ones(x_shape), np.ones(p_shape), np.zeros(beta_shape or p_shape),
                                             G, {} if gn_param is None else gn_param)


def _backward_call(forward, backward, dout):
    def call():
        _, cache = forward()
        backward(dout, cache)
    return call


BAD_INPUTS = {
    "bn_missing_mode": (_bn(), ValueError, "missing the required key 'mode'"),
    "bn_unknown_mode": (_bn(mode="eval"), ValueError, "'eval'"),
    "bn_mode_not_a_string": (_bn(mode=None), ValueError, "got None"),
    "bn_param_not_a_dict": (lambda: batchnorm_forward(np.ones((2, 2)), np.ones(2), np.zeros(2), None),
                            TypeError, "bn_param must be a dict"),
    "bn_x_not_an_array": (lambda: batchnorm_forward([[1.0, 2.0]], np.ones(2), np.zeros(2), {"mode": "train"}),
                          TypeError, "x must be a numpy array"),
    "bn_x_wrong_ndim": (_bn(x_shape=(3, 4, 1), mode="train"), ValueError, r"x must be 2-dimensional.*\(3, 4, 1\)"),
    "bn_gamma_wrong_shape": (_bn(p_shape=(3,), beta_shape=(4,), mode="train"), ValueError, r"gamma .*got \(3,\)"),
    "bn_beta_wrong_shape": (_bn(beta_shape=(4, 1), mode="train"), ValueError, r"beta .*got \(4, 1\)"),
    "bn_eps_zero": (_bn(mode="train", eps=0), ValueError, r"eps.*got 0\.0"),
    "bn_eps_negative": (_bn(mode="test", eps=-1e-5), ValueError, r"eps.*got -1e-05"),
    "bn_eps_not_a_number": (_bn(mode="train", eps="small"), TypeError, "'small'"),
    "bn_momentum_above_one": (_bn(mode="train", momentum=1.5), ValueError, r"momentum.*got 1\.5"),
    "bn_momentum_negative": (_bn(mode="train", momentum=-0.1), ValueError, r"momentum.*got -0\.1"),
    "bn_running_mean_wrong_shape": (_bn(mode="train", running_mean=np.zeros(3)), ValueError,
                                    r"running_mean.*\(4,\).*got \(3,\)"),
    "bn_running_var_not_an_array": (_bn(mode="test", running_var=[1.0] * 4), TypeError, "running_var"),
    "bn_empty_batch_in_train_mode": (_bn(x_shape=(0, 4), mode="train"), ValueError, r"\(0, 4\)"),
    "bn_running_var_negative": (_bn(mode="test", running_var=np.array([1.0, -0.5, 1.0, 1.0])), ValueError,
                                r"running_var.*negative.*-0\.5"),
    "bn_running_var_negative_train": (_bn(mode="train", running_var=np.array([1.0, 1.0, -2.0, 1.0])),
                                      ValueError, r"running_var.*negative"),
    "bn_running_mean_nan": (_bn(mode="test", running_mean=np.array([0.0, np.nan, 0.0, 0.0])), ValueError,
                            r"running_mean.*non-finite"),
    "bn_dout_wrong_ndim": (_backward_call(_bn(mode="train"), batchnorm_backward, np.ones((3, 4, 1))), ValueError,
                           r"dout must be 2-dimensional.*\(3, 4, 1\)"),
    "bn_alt_dout_not_an_array": (_backward_call(_bn(mode="train"), batchnorm_backward_alt, [[1.0] * 4] * 3),
                                 TypeError, "dout must be a numpy array"),
    "ln_param_not_a_dict": (lambda: layernorm_forward(np.ones((2, 2)), np.ones(2), np.zeros(2), None),
                            TypeError, "ln_param must be a dict, got NoneType"),
    "ln_x_wrong_ndim": (_ln(x_shape=(4,)), ValueError, r"x must be 2-dimensional.*\(4,\)"),
    "ln_gamma_wrong_shape": (_ln(p_shape=(1, 4)), ValueError, r"gamma .*got \(1, 4\)"),
    "ln_eps_negative": (_ln(ln_param={"eps": -1.0}), ValueError, r"ln_param\['eps'\].*got -1\.0"),
    "ln_no_features": (_ln(x_shape=(3, 0), p_shape=(0,)), ValueError, r"\(3, 0\)"),
    "ln_dout_wrong_ndim": (_backward_call(_ln(), layernorm_backward, np.ones((3,))), ValueError,
                           r"dout must be 2-dimensional.*\(3,\)"),
    "sbn_missing_mode": (_sbn(), ValueError, "missing the required key 'mode'"),
    "sbn_x_wrong_ndim": (_sbn(x_shape=(2, 3), mode="train"), ValueError, r"4-dimensional.*\(2, 3\)"),
    "sbn_gamma_wrong_shape": (_sbn(p_shape=(2,), mode="train"), ValueError, r"gamma .*\(C,\) = \(3,\).*got \(2,\)"),
    "sbn_running_var_wrong_shape": (_sbn(mode="test", running_var=np.ones(4)), ValueError,
                                    r"running_var.*\(3,\).*got \(4,\)"),
    "sbn_momentum_above_one": (_sbn(mode="train", momentum=2), ValueError, r"momentum.*got 2\.0"),
    "sbn_dout_wrong_ndim": (_backward_call(_sbn(mode="train"), spatial_batchnorm_backward, np.ones((2, 3, 4))),
                            ValueError, r"dout must be 4-dimensional.*\(2, 3, 4\)"),
    "gn_C_not_divisible_by_G": (_gn(G=4), ValueError, "C = 6.*G = 4"),
    "gn_G_zero": (_gn(G=0), ValueError, "G must be a positive integer.*got 0"),
    "gn_G_negative": (_gn(G=-2), ValueError, "got -2"),
    "gn_G_float": (_gn(G=2.0), TypeError, r"G must be a positive integer.*got 2\.0"),
    "gn_G_bool": (_gn(G=True), TypeError, "got True"),
    "gn_G_larger_than_C": (_gn(G=12), ValueError, "C = 6.*G = 12"),
    "gn_x_wrong_ndim": (_gn(x_shape=(2, 6, 4)), ValueError, r"4-dimensional.*\(2, 6, 4\)"),
    "gn_gamma_wrong_channels": (_gn(p_shape=(1, 5, 1, 1), beta_shape=(6,)), ValueError, r"gamma.*got \(1, 5, 1, 1\)"),
    "gn_beta_wrong_layout": (_gn(beta_shape=(6, 1, 1)), ValueError, r"beta.*got \(6, 1, 1\)"),
    "gn_eps_zero": (_gn(gn_param={"eps": 0.0}), ValueError, r"gn_param\['eps'\].*got 0\.0"),
    "gn_param_not_a_dict": (_gn(gn_param=[1e-5]), TypeError, "gn_param must be a dict, got list"),
    "gn_empty_groups": (_gn(x_shape=(2, 6, 0, 2)), ValueError, r"\(2, 6, 0, 2\)"),
    "gn_dout_wrong_ndim": (_backward_call(_gn(), spatial_groupnorm_backward, np.ones((2, 6, 2))), ValueError,
                           r"dout must be 4-dimensional.*\(2, 6, 2\)"),
    "gn_cache_not_a_tuple": (lambda: spatial_groupnorm_backward(np.ones((2, 6, 2, 2)), [1, 2, 3, 4]), TypeError,
                             "spatial_groupnorm_forward, got list"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input(case):
    call, error, match = BAD_INPUTS[case]
    with pytest.raises(error, match=match):
        call()


def test_bad_input_leaves_bn_param_untouched():
    bad_momentum = {"mode": "train", "momentum": 1.5}
    with pytest.raises(ValueError):
        batchnorm_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), bad_momentum)
    assert bad_momentum == {"mode": "train", "momentum": 1.5}
    bad_gamma = {"mode": "train"}
    with pytest.raises(ValueError):
        spatial_batchnorm_forward(np.ones((2, 3, 1, 1)), np.ones(2), np.zeros(2), bad_gamma)
    assert bad_gamma == {"mode": "train"}


# ---------------------------------------------------------------------------------------------
# Edge cases of the given code
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("param_shape", [(4,), (1, 4, 1, 1)])
def test_groupnorm_accepts_an_empty_batch(param_shape):
    x = np.ones((0, 4, 3, 3))
    out, cache = spatial_groupnorm_forward(x, np.ones(param_shape), np.zeros(param_shape), 2, {})
    assert out.shape == (0, 4, 3, 3) and out.dtype == np.float64
    dx, dgamma, dbeta = spatial_groupnorm_backward(np.ones((0, 4, 3, 3)), cache)
    assert dx.shape == (0, 4, 3, 3)
    np.testing.assert_array_equal(dgamma, np.zeros(param_shape))
    np.testing.assert_array_equal(dbeta, np.zeros(param_shape))


def test_batchnorm_test_mode_accepts_an_empty_batch():
    out, _ = batchnorm_forward(np.ones((0, 3)), np.ones(3), np.zeros(3), {"mode": "test"})
    assert out.shape == (0, 3)


def test_negative_running_variance_is_refused_and_bn_param_untouched():
    bn_param = {"mode": "test", "running_mean": np.zeros(2), "running_var": np.array([1.0, -1e-3])}
    with pytest.raises(ValueError, match="running_var"):
        batchnorm_forward(np.ones((3, 2)), np.ones(2), np.zeros(2), bn_param)
    np.testing.assert_array_equal(bn_param["running_var"], [1.0, -1e-3])
    with pytest.raises(ValueError, match="running_var"):
        spatial_batchnorm_forward(np.ones((1, 2, 2, 2)), np.ones(2), np.zeros(2), bn_param)
