"""Q1, fully-connected networks (public checks): affine and ReLU layers, SVM and softmax losses,
TwoLayerNet, FullyConnectedNet and the update rules sgd_momentum, rmsprop and adam.

Expected values are worked out by hand in the comments, or are numerical gradients of the
student's own forward pass; no check contains a reference implementation."""

import math

import numpy as np

from cs231n.selfcheck.support import (
    H, Model, assert_close, assert_scalar, check_layer_gradients, check_model_gradients, check_reg_penalty,
    checklist, numeric_from_perturbed, pair, rng, softmax_loss_reference,
)

PART = ('Q1', 'Fully-connected networks')
CHECKS, check = checklist()


@check(2, "affine_forward: values worked out by hand (3-d input flattened per sample)", "affine_forward")
def affine_forward_values(ctx):
    layers = ctx.student("layers")
    x = np.array([[[1, 2], [3, 4], [5, 6]], [[0, 0], [0, 1], [1, 0]]], dtype=np.float64)  # (2, 3, 2)
    w = np.array([[1, 1], [1, 0], [1, 1], [1, 0], [1, 1], [1, 0]], dtype=np.float64)  # (6, 2)
    b = np.array([0.5, -1.0])
    out, _ = pair(layers.affine_forward(x, w, b), "affine_forward")
    # row 0: 1+...+6 = 21 and 1+3+5 = 9; row 1: 2 and 1
    assert_close(out, [[21.5, 8.0], [2.5, 0.0]], "affine_forward output")


@check(2, "affine_backward: dx, dw, db against numerical gradients", "affine_backward", ("affine_forward",))
def affine_backward_gradients(ctx):
    r = rng(1)
    x, w, b = r.standard_normal((3, 2, 4)), r.standard_normal((8, 5)), r.standard_normal(5)
    check_layer_gradients(ctx, "layers", "affine_forward", "affine_backward", (x, w, b), (3, 5), ("dx", "dw", "db"))


@check(1, "relu_forward: values worked out by hand", "relu_forward")
def relu_forward_values(ctx):
    layers = ctx.student("layers")
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0], [1.0, -1.0, 2.0, -3.0, 0.25]])
    out, _ = pair(layers.relu_forward(x), "relu_forward")
    assert_close(out, [[0, 0, 0, 0.5, 3], [1, 0, 2, 0, 0.25]], "relu_forward output")


@check(2, "relu_backward: values by hand and numerical gradient", "relu_backward", ("relu_forward",))
def relu_backward_gradients(ctx):
    layers = ctx.student("layers")
    x = np.array([[-1.0, 2.0], [3.0, -4.0]])
    _, cache = pair(layers.relu_forward(x), "relu_forward")
    dx = layers.relu_backward(np.array([[10.0, 20.0], [30.0, 40.0]]), cache)
    assert_close(dx, [[0, 20], [30, 0]], "relu_backward dx")
    x = rng(2).standard_normal((4, 5))
    x[np.abs(x) < 0.05] = 0.5  # stay away from the kink at 0
    check_layer_gradients(ctx, "layers", "relu_forward", "relu_backward", (x,), (4, 5), ("dx",))


@check(2, "svm_loss: loss and gradient by hand, gradient against numerical", "svm_loss")
def svm_loss_values(ctx):
    layers = ctx.student("layers")
    x = np.array([[1.0, 2.0, 3.0], [3.0, 1.0, 0.0]])
    loss, dx = pair(layers.svm_loss(x, np.array([0, 0])), "svm_loss")
    # sample 0: margins 2 and 3; sample 1: none violated -> loss 5 / 2
    assert_scalar(loss, 2.5, "svm_loss loss")
    assert_close(dx, [[-1.0, 0.5, 0.5], [0.0, 0.0, 0.0]], "svm_loss dx")
    scores, y = rng(3).standard_normal((6, 4)), np.array([0, 1, 2, 3, 1, 0])
    num = _numeric_loss_grad(layers.svm_loss, scores, y)
    assert_close(layers.svm_loss(scores, y)[1], num, "svm_loss dx (compared with the numerical gradient)")


@check(2, "softmax_loss: uniform and two-class cases by hand, large scores, numerical gradient", "softmax_loss")
def softmax_loss_values(ctx):
    layers = ctx.student("layers")
    loss, dx = pair(layers.softmax_loss(np.zeros((3, 4)), np.array([0, 1, 3])), "softmax_loss")
    assert_scalar(loss, math.log(4), "softmax_loss of equal scores (4 classes)")
    onehot = np.eye(4)[[0, 1, 3]]
    assert_close(dx, (0.25 - onehot) / 3, "softmax_loss dx for equal scores")
    loss, dx = layers.softmax_loss(np.array([[0.0, math.log(3.0)]]), np.array([1]))
    assert_scalar(loss, math.log(4 / 3), "softmax_loss with probabilities (1/4, 3/4)")
    assert_close(dx, [[0.25, -0.25]], "softmax_loss dx with probabilities (1/4, 3/4)")
    loss, dx = layers.softmax_loss(np.array([[1000.0, 0.0]]), np.array([1]))
    assert_scalar(loss, 1000.0, "softmax_loss of scores (1000, 0), label 1 (must not overflow)")
    scores, y = rng(4).standard_normal((5, 3)) * 3, np.array([0, 1, 2, 2, 0])
    num = _numeric_loss_grad(layers.softmax_loss, scores, y)
    assert_close(layers.softmax_loss(scores, y)[1], num, "softmax_loss dx (compared with the numerical gradient)")


def _numeric_loss_grad(loss_fn, x, y):
    return numeric_from_perturbed(loss_fn.perturb([x, y], wrt=[["arg", 0]], h=H, select=[0]), np.ones(()), x.shape)


def _two_layer_net(ctx, reg=0.0, D=5, hidden=6, C=3, weight_scale=1e-2):
    return Model(ctx, "classifiers.fc_net", "TwoLayerNet", input_dim=D, hidden_dim=hidden, num_classes=C,
                 weight_scale=weight_scale, reg=reg)


@check(3, "TwoLayerNet: parameter shapes and initial scale, scores and loss by hand", "TwoLayerNet",
       ("affine_forward", "relu_forward", "softmax_loss"))
def two_layer_net_values(ctx):
    model = _two_layer_net(ctx, D=40, hidden=50, C=7, weight_scale=0.1)
    params = model.params
    shapes = {k: np.shape(v) for k, v in params.items()}
    expected = {"W1": (40, 50), "b1": (50,), "W2": (50, 7), "b2": (7,)}
    assert shapes == expected, f"params shapes are {shapes}, expected {expected}"
    for k in ("b1", "b2"):
        assert not np.any(params[k]), f"{k} should start at zero"
    for k in ("W1", "W2"):
        std = float(np.std(params[k]))
        assert 0.07 < std < 0.13, f"{k} should be drawn with standard deviation weight_scale=0.1, got {std:.3g}"

    model = _two_layer_net(ctx, D=3, hidden=2, C=3)
    model.set_params(dict(
        W1=np.array([[1.0, -1.0], [0.0, 1.0], [1.0, 0.0]]), b1=np.array([0.0, 0.5]),
        W2=np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), b2=np.array([0.1, 0.2, 0.3])))
    X = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
    # hidden = relu([0, -0.5], [2, -0.5]) = [0, 0], [2, 0]
    expected_scores = np.array([[0.1, 0.2, 0.3], [2.1, 4.2, 6.3]])
    assert_close(model.loss(X), expected_scores, "TwoLayerNet scores (loss(X) without labels)")
    y = np.array([2, 0])
    loss, _ = pair(model.loss(X, y), "TwoLayerNet.loss")
    assert_scalar(loss, softmax_loss_reference(expected_scores, y), "TwoLayerNet loss")


@check(3, "TwoLayerNet: gradients against numerical, regularisation proportional to reg", "TwoLayerNet",
       ("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss"))
def two_layer_net_gradients(ctx):
    r = rng(5)
    X, y = r.standard_normal((4, 5)), np.array([0, 1, 2, 1])
    for reg in (0.0, 0.7):
        check_model_gradients(_two_layer_net(ctx, reg=reg).randomize(10, scale=1.0), X, y)

    def make(reg):
        return _two_layer_net(ctx, reg=reg).randomize(11, scale=1.0)

    check_reg_penalty(make, X, y, "TwoLayerNet")


def _fc_net(ctx, hidden_dims, reg=0.0, weight_scale=0.3, **kwargs):
    return Model(ctx, "classifiers.fc_net", "FullyConnectedNet", hidden_dims=hidden_dims, input_dim=4,
                 num_classes=3, reg=reg, weight_scale=weight_scale, dtype=np.float64, **kwargs)


@check(2, "FullyConnectedNet: parameters and initial loss close to log(C)", "FullyConnectedNet",
       ("affine_forward", "relu_forward", "softmax_loss"))
def fc_net_init(ctx):
    model = _fc_net(ctx, [7, 6], weight_scale=1e-3)
    shapes = {k: np.shape(v) for k, v in model.params.items()}
    expected = {"W1": (4, 7), "b1": (7,), "W2": (7, 6), "b2": (6,), "W3": (6, 3), "b3": (3,)}
    assert shapes == expected, f"params shapes are {shapes}, expected {expected}"
    X, y = rng(6).standard_normal((10, 4)), np.arange(10) % 3
    loss, _ = pair(model.loss(X, y), "FullyConnectedNet.loss")
    assert abs(float(loss) - math.log(3)) < 1e-2, (
        f"with tiny weights the loss should be about log(3) = {math.log(3):.4f}, got {float(loss):.4f}")


@check(4, "FullyConnectedNet: gradients against numerical (1 to 3 hidden layers, with and without reg)",
       "FullyConnectedNet", ("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss"))
def fc_net_gradients(ctx):
    r = rng(7)
    X, y = r.standard_normal((3, 4)), np.array([0, 2, 1])
    for seed, (hidden_dims, reg) in enumerate((([5], 0.0), ([6, 5], 0.0), ([6, 5], 3.14), ([4, 3, 5], 0.5))):
        check_model_gradients(_fc_net(ctx, hidden_dims, reg=reg).randomize(seed), X, y)


@check(2, "sgd_momentum: two steps worked out by hand", "sgd_momentum")
def sgd_momentum_values(ctx):
    optim = ctx.student("optim")
    w, dw = np.array([1.0, -2.0]), np.array([0.5, 1.0])
    config = {"learning_rate": 0.1, "momentum": 0.9}
    w1, config = pair(optim.sgd_momentum(w.copy(), dw.copy(), config), "sgd_momentum")
    assert_close(w1, [0.95, -2.1], "w after one sgd_momentum step")
    assert_close(config.get("velocity"), [-0.05, -0.1], "config['velocity'] after one step")
    w2, config = pair(optim.sgd_momentum(np.array(w1, dtype=np.float64), dw.copy(), config), "sgd_momentum")
    assert_close(w2, [0.855, -2.29], "w after two sgd_momentum steps")


@check(2, "rmsprop: two steps worked out by hand", "rmsprop")
def rmsprop_values(ctx):
    optim = ctx.student("optim")
    w, dw = np.array([1.0, -2.0]), np.array([0.5, -1.0])
    config = {"learning_rate": 0.01, "decay_rate": 0.9, "epsilon": 1e-8}
    w1, config = pair(optim.rmsprop(w.copy(), dw.copy(), config), "rmsprop")
    # cache = 0.1 dw^2, so each step is lr * sign(dw) / sqrt(0.1)
    step = 0.01 / math.sqrt(0.1)
    assert_close(w1, [1 - step, -2 + step], "w after one rmsprop step")
    assert_close(config.get("cache"), [0.025, 0.1], "config['cache'] after one step")
    w2, config = pair(optim.rmsprop(np.array(w1, dtype=np.float64), dw.copy(), config), "rmsprop")
    step2 = 0.01 / math.sqrt(0.19)  # cache = (0.9 * 0.1 + 0.1) dw^2
    assert_close(w2, [1 - step - step2, -2 + step + step2], "w after two rmsprop steps")


@check(3, "adam: bias-corrected steps worked out by hand, state in config", "adam")
def adam_values(ctx):
    optim = ctx.student("optim")
    config = {"learning_rate": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
    w = np.array([0.0, 0.0])
    w1, config = pair(optim.adam(w.copy(), np.array([1.0, 2.0]), config), "adam")
    # first step with bias correction: m_hat = g, v_hat = g^2, so the step is lr * sign(g)
    assert_close(w1, [-0.01, -0.01], "w after one adam step", tol=1e-6)
    assert config.get("t") == 1, f"config['t'] should be 1 after one step, got {config.get('t')!r}"
    w2, config = pair(optim.adam(np.array(w1, dtype=np.float64), np.array([-1.0, 2.0]), config), "adam")
    # entry 0: m_hat = (0.9 - 1) / 1.9, v_hat = (0.999 + 1) / 1.999 = 1; entry 1: constant gradient
    assert_close(w2, [-0.01 + 0.01 * 0.1 / 1.9, -0.02], "w after two adam steps", tol=1e-6)
    assert config.get("t") == 2, f"config['t'] should be 2 after two steps, got {config.get('t')!r}"
    assert_close(config.get("m"), [0.9 * 0.1 - 0.1, 0.2 * 1.9], "config['m'] after two steps")
    assert_close(config.get("v"), [0.001 * 1.999, 0.004 * 1.999], "config['v'] after two steps")
