"""Q1 hidden checks: other shapes, N = 1, odd sizes, several optimizer steps."""

import numpy as np

from cs231n.selfcheck.support import Model, check_layer_gradients, check_model_gradients, checklist, rng
from course.grading._hidden import compare_forward, run_optimizer

PART = ("Q1", "Fully-connected networks")
CHECKS, check = checklist()
NET = ("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss")


@check(2, "affine layer: N = 1, 4-d input, odd sizes (forward and backward)", "affine_backward",
       ("affine_forward",), visibility="hidden")
def hidden_affine(ctx):
    r = rng(10)
    for shape, M in (((1, 7), 3), ((3, 2, 3, 5), 5)):
        x, w, b = r.standard_normal(shape), r.standard_normal((int(np.prod(shape[1:])), M)), r.standard_normal(M)
        compare_forward(ctx, "layers", "affine_forward", x, w, b)
        check_layer_gradients(ctx, "layers", "affine_forward", "affine_backward", (x, w, b), (shape[0], M),
                              ("dx", "dw", "db"))


@check(1, "relu layer: odd shape, 3-d input", "relu_backward", ("relu_forward",), visibility="hidden")
def hidden_relu(ctx):
    x = rng(11).standard_normal((3, 5, 7))
    x[np.abs(x) < 0.05] = 0.3
    compare_forward(ctx, "layers", "relu_forward", x)
    check_layer_gradients(ctx, "layers", "relu_forward", "relu_backward", (x,), (3, 5, 7), ("dx",))


@check(2, "TwoLayerNet: odd sizes, N = 1, with reg, against the reference", "TwoLayerNet", NET, visibility="hidden")
def hidden_two_layer_net(ctx):
    for n, reg in ((1, 0.3), (7, 0.0)):
        model = Model(ctx, "classifiers.fc_net", "TwoLayerNet", input_dim=9, hidden_dim=5, num_classes=4,
                      weight_scale=0.1, reg=reg).randomize(12 + n)
        X, y = rng(13).standard_normal((n, 9)), np.arange(n) % 4
        check_model_gradients(model, X, y)


@check(2, "FullyConnectedNet: 3 hidden layers, N = 1, reg, against the reference", "FullyConnectedNet", NET,
       visibility="hidden")
def hidden_fc_net(ctx):
    for n, dims, reg in ((1, [5, 4, 3], 0.2), (5, [7], 1.5)):
        model = Model(ctx, "classifiers.fc_net", "FullyConnectedNet", hidden_dims=dims, input_dim=6, num_classes=3,
                      reg=reg, weight_scale=0.3, dtype=np.float64).randomize(14 + n)
        X, y = rng(15).standard_normal((n, 6)), np.arange(n) % 3
        check_model_gradients(model, X, y)


@check(2, "sgd_momentum, rmsprop, adam: five steps on a (3, 4) weight against the reference", "adam",
       ("sgd_momentum", "rmsprop"), visibility="hidden")
def hidden_optimizers(ctx):
    r = rng(16)
    w = r.standard_normal((3, 4))
    grads = [r.standard_normal((3, 4)) for _ in range(5)]
    run_optimizer(ctx, "sgd_momentum", w, grads, {"learning_rate": 0.05, "momentum": 0.8})
    run_optimizer(ctx, "rmsprop", w, grads, {"learning_rate": 0.01, "decay_rate": 0.95})
    run_optimizer(ctx, "adam", w, grads, {"learning_rate": 0.02, "beta1": 0.8, "beta2": 0.99})
