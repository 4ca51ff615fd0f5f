"""Q2, batch normalization (public checks): batchnorm forward (train and test) and backward (both
versions), layer normalization, FullyConnectedNet with batchnorm and layernorm.

Conventions of the assignment: the variance is the biased one (divide by N); the running
averages are updated as ``running = momentum * running + (1 - momentum) * batch_statistic``,
starting from zeros.
"""

import math

import numpy as np

from cs231n.selfcheck.support import Model, assert_close, check_layer_gradients, check_model_gradients, checklist, pair, rng

PART = ('Q2', 'Batch normalization')
CHECKS, check = checklist()

EPS = 1e-5
# column 0 holds 1, 3 (mean 2, var 1); column 1 holds 10, 14 (mean 12, var 4)
X_HAND = np.array([[1.0, 10.0], [3.0, 14.0]])
Z0, Z1 = 1 / math.sqrt(1 + EPS), 2 / math.sqrt(4 + EPS)


@check(3, "batchnorm_forward, train: normalized output by hand, running averages", "batchnorm_forward")
def batchnorm_forward_train(ctx):
    layers = ctx.student("layers")
    gamma, beta = np.array([2.0, 1.0]), np.array([0.5, -1.0])
    bn_param = {"mode": "train", "eps": EPS, "momentum": 0.9}
    out, _ = pair(layers.batchnorm_forward(X_HAND.copy(), gamma, beta, bn_param), "batchnorm_forward")
    assert_close(out, [[-2 * Z0 + 0.5, -Z1 - 1], [2 * Z0 + 0.5, Z1 - 1]], "batchnorm_forward output (train)")
    assert_close(bn_param.get("running_mean"), [0.2, 1.2], "bn_param['running_mean'] after one step")
    assert_close(bn_param.get("running_var"), [0.1, 0.4], "bn_param['running_var'] after one step")
    out, _ = layers.batchnorm_forward(X_HAND + 1, gamma, beta, bn_param)
    assert_close(bn_param.get("running_mean"), [0.9 * 0.2 + 0.1 * 3, 0.9 * 1.2 + 0.1 * 13],
                 "bn_param['running_mean'] after two steps")


@check(3, "batchnorm_forward, test: uses the running averages, not the batch", "batchnorm_forward")
def batchnorm_forward_test(ctx):
    layers = ctx.student("layers")
    gamma, beta = np.array([2.0, 1.0]), np.array([0.5, -1.0])
    bn_param = {"mode": "test", "eps": EPS, "running_mean": np.array([1.0, 10.0]),
                "running_var": np.array([4.0, 16.0])}
    out, _ = pair(layers.batchnorm_forward(X_HAND.copy(), gamma, beta, bn_param), "batchnorm_forward")
    expected = [[0.5, -1.0], [2 * 2 / math.sqrt(4 + EPS) + 0.5, 4 / math.sqrt(16 + EPS) - 1]]
    assert_close(out, expected, "batchnorm_forward output (test mode)")
    out, _ = pair(layers.batchnorm_forward(X_HAND[:1].copy(), gamma, beta, bn_param), "batchnorm_forward")
    assert_close(out, expected[:1], "batchnorm_forward output (test mode, a batch of one)")


def _bn_gradients(ctx, backward):
    r = rng(1)
    x = 4 * r.standard_normal((5, 4)) + 2
    gamma, beta = r.standard_normal(4), r.standard_normal(4)
    check_layer_gradients(ctx, "layers", "batchnorm_forward", backward, (x, gamma, beta), (5, 4),
                          ("dx", "dgamma", "dbeta"), extra=({"mode": "train"},))


@check(4, "batchnorm_backward: dx, dgamma, dbeta against numerical gradients", "batchnorm_backward",
       ("batchnorm_forward",))
def batchnorm_backward_gradients(ctx):
    _bn_gradients(ctx, "batchnorm_backward")


@check(2, "batchnorm_backward_alt: dx, dgamma, dbeta against numerical gradients", "batchnorm_backward_alt",
       ("batchnorm_forward",))
def batchnorm_backward_alt_gradients(ctx):
    _bn_gradients(ctx, "batchnorm_backward_alt")


@check(3, "layernorm_forward: per-sample statistics by hand, also for a batch of one", "layernorm_forward")
def layernorm_forward_values(ctx):
    layers = ctx.student("layers")
    x = X_HAND.T.copy()  # row 0 holds 1, 3; row 1 holds 10, 14
    gamma, beta = np.array([2.0, 1.0]), np.array([0.5, -1.0])
    expected = [[-2 * Z0 + 0.5, Z0 - 1], [-2 * Z1 + 0.5, Z1 - 1]]
    out, _ = pair(layers.layernorm_forward(x, gamma, beta, {"eps": EPS}), "layernorm_forward")
    assert_close(out, expected, "layernorm_forward output")
    out, _ = pair(layers.layernorm_forward(x[1:], gamma, beta, {"eps": EPS}), "layernorm_forward")
    assert_close(out, expected[1:], "layernorm_forward output (a batch of one)")


@check(3, "layernorm_backward: dx, dgamma, dbeta against numerical gradients", "layernorm_backward",
       ("layernorm_forward",))
def layernorm_backward_gradients(ctx):
    r = rng(2)
    x = 3 * r.standard_normal((4, 5)) - 1
    gamma, beta = r.standard_normal(5), r.standard_normal(5)
    check_layer_gradients(ctx, "layers", "layernorm_forward", "layernorm_backward", (x, gamma, beta), (4, 5),
                          ("dx", "dgamma", "dbeta"), extra=({},))


def _fc_net(ctx, normalization, reg=0.0):
    return Model(ctx, "classifiers.fc_net", "FullyConnectedNet", hidden_dims=[6, 5], input_dim=4, num_classes=3,
                 normalization=normalization, reg=reg, weight_scale=0.5, dtype=np.float64)


def _check_norm_params(model, normalization):
    params = model.params
    shapes = {k: np.shape(v) for k, v in params.items()}
    for k, shape in (("gamma1", (6,)), ("beta1", (6,)), ("gamma2", (5,)), ("beta2", (5,))):
        if shapes.get(k) != shape:
            raise AssertionError(f"with normalization={normalization!r}, params[{k!r}] should have shape {shape}; "
                                 f"params shapes are {shapes}")
    assert "gamma3" not in shapes, "the last (scores) layer has no normalization, so no 'gamma3'"
    assert np.all(params["gamma1"] == 1) and not np.any(params["beta1"]), (
        "gamma should start at 1 and beta at 0")


@check(4, "FullyConnectedNet with batchnorm: gamma/beta parameters, gradients against numerical",
       "FullyConnectedNet", ("batchnorm_forward", "batchnorm_backward", "affine_forward", "affine_backward",
                             "relu_forward", "relu_backward", "softmax_loss"))
def fc_net_batchnorm_gradients(ctx):
    r = rng(3)
    X, y = r.standard_normal((5, 4)), np.array([0, 1, 2, 1, 0])
    for reg in (0.0, 0.9):
        model = _fc_net(ctx, "batchnorm", reg=reg)
        _check_norm_params(model, "batchnorm")
        check_model_gradients(model.randomize(20 + int(reg > 0)), X, y)


@check(3, "FullyConnectedNet with layernorm: gamma/beta parameters, gradients against numerical",
       "FullyConnectedNet", ("layernorm_forward", "layernorm_backward", "affine_forward", "affine_backward",
                             "relu_forward", "relu_backward", "softmax_loss"))
def fc_net_layernorm_gradients(ctx):
    r = rng(4)
    X, y = r.standard_normal((3, 4)), np.array([2, 1, 0])
    model = _fc_net(ctx, "layernorm", reg=0.4)
    _check_norm_params(model, "layernorm")
    check_model_gradients(model.randomize(22), X, y)
