"""Q4 hidden checks: convolution at pad 0 and 1, stride 1 and 2, odd sizes, N = 1; pooling with
ties and odd sizes; spatial normalizations on other shapes; the conv net on another input."""

import numpy as np

from cs231n.selfcheck.support import Model, assert_close, check_layer_gradients, check_model_gradients, checklist, pair, rng
from course.grading._hidden import compare_forward

PART = ("Q4", "Convolutional networks")
CHECKS, check = checklist()
CONV_NET = ("conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive",
            "affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss")


def _conv(ctx, stride, pad):
    r = rng(40 + 2 * stride + pad)
    N, C, H, W, F, HH, WW = 1, 2, 5, 6, 3, 3, 2
    x, w, b = r.standard_normal((N, C, H, W)), r.standard_normal((F, C, HH, WW)), r.standard_normal(F)
    param = {"stride": stride, "pad": pad}
    Ho, Wo = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    check_layer_gradients(ctx, "layers", "conv_forward_naive", "conv_backward_naive", (x, w, b), (N, F, Ho, Wo),
                          ("dx", "dw", "db"), extra=(param,))


@check(2, "conv_backward_naive: pad 0, stride 1 (N = 1, odd sizes, non-square filter)", "conv_backward_naive",
       ("conv_forward_naive",), visibility="hidden")
def hidden_conv_p0_s1(ctx):
    _conv(ctx, 1, 0)


@check(2, "conv_backward_naive: pad 1, stride 1", "conv_backward_naive", ("conv_forward_naive",), visibility="hidden")
def hidden_conv_p1_s1(ctx):
    _conv(ctx, 1, 1)


@check(2, "conv_backward_naive: pad 0, stride 2", "conv_backward_naive", ("conv_forward_naive",), visibility="hidden")
def hidden_conv_p0_s2(ctx):
    _conv(ctx, 2, 0)


@check(1, "max_pool_forward_naive: ties, odd sizes, non-square windows", "max_pool_forward_naive",
       visibility="hidden")
def hidden_pool_forward(ctx):
    x = np.zeros((1, 2, 4, 5))
    x[0, 0, :2, :2] = 7.0  # four tied maxima in one window
    x[0, 1] = rng(47).integers(0, 3, (4, 5))  # many ties
    out, _ = pair(ctx.student("layers").max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2}),
                  "max_pool_forward_naive")
    assert_close(out, [[[[7, 0], [0, 0]], [[x[0, 1, :2, :2].max(), x[0, 1, :2, 2:4].max()],
                                              [x[0, 1, 2:, :2].max(), x[0, 1, 2:, 2:4].max()]]]],
                 "max pool output with ties")
    x = rng(48).permutation(3 * 7 * 5).reshape(1, 3, 7, 5) * 0.5
    compare_forward(ctx, "layers", "max_pool_forward_naive", x, {"pool_height": 3, "pool_width": 2, "stride": 2})


@check(1, "max_pool_backward_naive: odd sizes, stride 2 (no ties)", "max_pool_backward_naive",
       ("max_pool_forward_naive",), visibility="hidden")
def hidden_pool_backward(ctx):
    x = rng(49).permutation(2 * 3 * 7 * 5).reshape(2, 3, 7, 5) * 0.25
    check_layer_gradients(ctx, "layers", "max_pool_forward_naive", "max_pool_backward_naive", (x,), (2, 3, 3, 2),
                          ("dx",), extra=({"pool_height": 3, "pool_width": 2, "stride": 2},))


@check(1, "spatial batchnorm and group norm: other shapes, G = 1 and G = C", "spatial_groupnorm_backward",
       ("spatial_groupnorm_forward", "spatial_batchnorm_forward", "spatial_batchnorm_backward"), visibility="hidden")
def hidden_spatial_norms(ctx):
    r = rng(50)
    x = 2 * r.standard_normal((2, 3, 3, 5)) + 1
    g, b = r.standard_normal(3), r.standard_normal(3)
    check_layer_gradients(ctx, "layers", "spatial_batchnorm_forward", "spatial_batchnorm_backward", (x, g, b),
                          (2, 3, 3, 5), ("dx", "dgamma", "dbeta"), extra=({"mode": "train"},))
    g4, b4 = r.standard_normal((1, 3, 1, 1)), r.standard_normal((1, 3, 1, 1))
    for G in (1, 3):
        check_layer_gradients(ctx, "layers", "spatial_groupnorm_forward", "spatial_groupnorm_backward", (x, g4, b4),
                              (2, 3, 3, 5), ("dx", "dgamma", "dbeta"), extra=(G, {}))


@check(1, "ThreeLayerConvNet: another input size and filter size, N = 1, against the reference",
       "ThreeLayerConvNet", CONV_NET, visibility="hidden")
def hidden_conv_net(ctx):
    model = Model(ctx, "classifiers.cnn", "ThreeLayerConvNet", input_dim=(2, 4, 4), num_filters=2, filter_size=5,
                  hidden_dim=3, num_classes=3, weight_scale=0.3, reg=0.2, dtype=np.float64)
    check_model_gradients(model.randomize(51, scale=0.3), rng(52).standard_normal((1, 2, 4, 4)), np.array([2]))
