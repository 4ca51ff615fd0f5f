"""Q2, batch normalization: batchnorm forward (train and test) and backward (both versions),
layer normalization, FullyConnectedNet with batchnorm and layernorm. 25 points.

Conventions of the assignment: the variance is the biased one (divide by N); the running
averages are updated as ``running = momentum * running + (1 - momentum) * batch_statistic``,
starting from zeros.
"""

import math

import numpy as np

from ._support import (
    assert_close, check_layer_gradients, check_model_gradients, checklist, randomize_params, rng, student,
)

CHECKS, check = checklist()

EPS = 1e-5
# column 0 holds 1, 3 (mean 2, var 1); column 1 holds 10, 14 (mean 12, var 4)
X_HAND = np.array([[1.0, 10.0], [3.0, 14.0]])
Z0, Z1 = 1 / math.sqrt(1 + EPS), 2 / math.sqrt(4 + EPS)


@check(3, "batchnorm_forward, train: normalized output by hand, running averages")
def batchnorm_forward_train():
    layers = student("layers")
    gamma, beta = np.array([2.0, 1.0]), np.array([0.5, -1.0])
    bn_param = {"mode": "train", "eps": EPS, "momentum": 0.9}
    out, _ = layers.batchnorm_forward(X_HAND.copy(), gamma, beta, bn_param)
    assert_close(out, [[-2 * Z0 + 0.5, -Z1 - 1], [2 * Z0 + 0.5, Z1 - 1]], "batchnorm_forward output (train)")
    assert_close(bn_param.get("running_mean"), [0.2, 1.2], "bn_param['running_mean'] after one step")
    assert_close(bn_param.get("running_var"), [0.1, 0.4], "bn_param['running_var'] after one step")
    out, _ = layers.batchnorm_forward(X_HAND + 1, gamma, beta, bn_param)
    assert_close(bn_param.get("running_mean"), [0.9 * 0.2 + 0.1 * 3, 0.9 * 1.2 + 0.1 * 13],
                 "bn_param['running_mean'] after two steps")


@check(3, "batchnorm_forward, test: uses the running averages, not the batch")
def batchnorm_forward_test():
    layers = student("layers")
    gamma, beta = np.array([2.0, 1.0]), np.array([0.5, -1.0])
    bn_param = {"mode": "test", "eps": EPS, "running_mean": np.array([1.0, 10.0]),
                "running_var": np.array([4.0, 16.0])}
    out, _ = layers.batchnorm_forward(X_HAND.copy(), gamma, beta, bn_param)
    expected = [[0.5, -1.0], [2 * 2 / math.sqrt(4 + EPS) + 0.5, 4 / math.sqrt(16 + EPS) - 1]]
    assert_close(out, expected, "batchnorm_forward output (test mode)")
    out, _ = layers.batchnorm_forward(X_HAND[:1].copy(), gamma, beta, bn_param)
    assert_close(out, expected[:1], "batchnorm_forward output (test mode, a batch of one)")


def _bn_gradients(backward):
    layers = student("layers")
    r = rng(1)
    x = 4 * r.standard_normal((5, 4)) + 2
    gamma, beta = r.standard_normal(4), r.standard_normal(4)
    check_layer_gradients(lambda x, g, b: layers.batchnorm_forward(x, g, b, {"mode": "train"}),
                          backward, (x, gamma, beta), (5, 4), ("dx", "dgamma", "dbeta"))


@check(4, "batchnorm_backward: dx, dgamma, dbeta against numerical gradients")
def batchnorm_backward_gradients():
    _bn_gradients(student("layers").batchnorm_backward)


@check(2, "batchnorm_backward_alt: dx, dgamma, dbeta against numerical gradients")
def batchnorm_backward_alt_gradients():
    _bn_gradients(student("layers").batchnorm_backward_alt)


@check(3, "layernorm_forward: per-sample statistics by hand, also for a batch of one")
def layernorm_forward_values():
    layers = student("layers")
    x = X_HAND.T.copy()  # row 0 holds 1, 3; row 1 holds 10, 14
    gamma, beta = np.array([2.0, 1.0]), np.array([0.5, -1.0])
    expected = [[-2 * Z0 + 0.5, Z0 - 1], [-2 * Z1 + 0.5, Z1 - 1]]
    out, _ = layers.layernorm_forward(x, gamma, beta, {"eps": EPS})
    assert_close(out, expected, "layernorm_forward output")
    out, _ = layers.layernorm_forward(x[1:], gamma, beta, {"eps": EPS})
    assert_close(out, expected[1:], "layernorm_forward output (a batch of one)")


@check(3, "layernorm_backward: dx, dgamma, dbeta against numerical gradients")
def layernorm_backward_gradients():
    layers = student("layers")
    r = rng(2)
    x = 3 * r.standard_normal((4, 5)) - 1
    gamma, beta = r.standard_normal(5), r.standard_normal(5)
    check_layer_gradients(lambda x, g, b: layers.layernorm_forward(x, g, b, {}), layers.layernorm_backward,
                          (x, gamma, beta), (4, 5), ("dx", "dgamma", "dbeta"))


def _fc_net(normalization, reg=0.0):
    fc_net = student("classifiers.fc_net")
    return fc_net.FullyConnectedNet([6, 5], input_dim=4, num_classes=3, normalization=normalization,
                                    reg=reg, weight_scale=0.5, dtype=np.float64)


def _check_norm_params(model, normalization):
    shapes = {k: np.shape(v) for k, v in model.params.items()}
    for k, shape in (("gamma1", (6,)), ("beta1", (6,)), ("gamma2", (5,)), ("beta2", (5,))):
        if shapes.get(k) != shape:
            raise AssertionError(f"with normalization={normalization!r}, params[{k!r}] should have shape {shape}; "
                                 f"params shapes are {shapes}")
    assert "gamma3" not in shapes, "the last (scores) layer has no normalization, so no 'gamma3'"
    assert np.all(model.params["gamma1"] == 1) and not np.any(model.params["beta1"]), (
        "gamma should start at 1 and beta at 0")


@check(4, "FullyConnectedNet with batchnorm: gamma/beta parameters, gradients against numerical")
def fc_net_batchnorm_gradients():
    r = rng(3)
    X, y = r.standard_normal((5, 4)), np.array([0, 1, 2, 1, 0])
    for reg in (0.0, 0.9):
        model = _fc_net("batchnorm", reg=reg)
        _check_norm_params(model, "batchnorm")
        check_model_gradients(randomize_params(model, 20 + int(reg > 0)), X, y)


@check(3, "FullyConnectedNet with layernorm: gamma/beta parameters, gradients against numerical")
def fc_net_layernorm_gradients():
    r = rng(4)
    X, y = r.standard_normal((3, 4)), np.array([2, 1, 0])
    model = _fc_net("layernorm", reg=0.4)
    _check_norm_params(model, "layernorm")
    check_model_gradients(randomize_params(model, 22), X, y)
