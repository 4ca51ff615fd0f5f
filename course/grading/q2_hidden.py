"""Q2 hidden checks: batch and layer normalization on other shapes, N = 1, odd sizes."""

import numpy as np

from cs231n.selfcheck.support import Model, check_layer_gradients, check_model_gradients, checklist, rng
from course.grading._hidden import compare_forward

PART = ("Q2", "Batch normalization")
CHECKS, check = checklist()


@check(2, "batchnorm: odd shape (7, 3), momentum 0.5, train then test mode", "batchnorm_forward",
       visibility="hidden")
def hidden_batchnorm_forward(ctx):
    r = rng(20)
    x, gamma, beta = 2 * r.standard_normal((7, 3)) + 1, r.standard_normal(3), r.standard_normal(3)
    compare_forward(ctx, "layers", "batchnorm_forward", x, gamma, beta, {"mode": "train", "momentum": 0.5})
    compare_forward(ctx, "layers", "batchnorm_forward", x[:1], gamma, beta,
                    {"mode": "test", "running_mean": r.standard_normal(3), "running_var": r.random(3) + 0.5})


@check(2, "batchnorm_backward and _alt: odd shape (3, 7)", "batchnorm_backward",
       ("batchnorm_forward", "batchnorm_backward_alt"), visibility="hidden")
def hidden_batchnorm_backward(ctx):
    r = rng(21)
    x, gamma, beta = 3 * r.standard_normal((3, 7)), r.standard_normal(7), r.standard_normal(7)
    for backward in ("batchnorm_backward", "batchnorm_backward_alt"):
        check_layer_gradients(ctx, "layers", "batchnorm_forward", backward, (x, gamma, beta), (3, 7),
                              ("dx", "dgamma", "dbeta"), extra=({"mode": "train"},))


@check(1, "layernorm: N = 1 and odd shape (5, 7), forward and backward", "layernorm_backward",
       ("layernorm_forward",), visibility="hidden")
def hidden_layernorm(ctx):
    r = rng(22)
    for n in (1, 5):
        x, gamma, beta = 2 * r.standard_normal((n, 7)) - 1, r.standard_normal(7), r.standard_normal(7)
        check_layer_gradients(ctx, "layers", "layernorm_forward", "layernorm_backward", (x, gamma, beta), (n, 7),
                              ("dx", "dgamma", "dbeta"), extra=({"eps": 1e-4},))


@check(1, "FullyConnectedNet with batchnorm and layernorm: 3 hidden layers, against the reference",
       "FullyConnectedNet", ("batchnorm_forward", "batchnorm_backward", "layernorm_forward", "layernorm_backward",
                             "affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss"),
       visibility="hidden")
def hidden_fc_net_norm(ctx):
    X, y = rng(23).standard_normal((4, 5)), np.array([0, 2, 1, 1])
    for k, norm in enumerate(("batchnorm", "layernorm")):
        model = Model(ctx, "classifiers.fc_net", "FullyConnectedNet", hidden_dims=[6, 3, 4], input_dim=5,
                      num_classes=3, normalization=norm, reg=0.3, weight_scale=0.5, dtype=np.float64)
        check_model_gradients(model.randomize(24 + k), X, y)
