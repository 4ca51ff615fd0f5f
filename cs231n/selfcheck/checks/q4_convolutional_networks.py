"""Q4, convolutional networks (public checks): naive convolution and max pooling,
ThreeLayerConvNet, spatial batch normalization and spatial group normalization."""

import math

import numpy as np

from cs231n.selfcheck.support import (
    Model, assert_close, check_layer_gradients, check_model_gradients, check_reg_penalty, checklist, pair, rng,
)

PART = ('Q4', 'Convolutional networks')
CHECKS, check = checklist()


@check(4, "conv_forward_naive: padding, stride, channels and output size worked out by hand", "conv_forward_naive")
def conv_forward_values(ctx):
    layers = ctx.student("layers")
    # all-ones 3x3 image and filter, pad 1: each output counts the in-bounds taps (4, 6 or 9)
    out, _ = pair(layers.conv_forward_naive(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), np.array([0.5]),
                                            {"stride": 1, "pad": 1}), "conv_forward_naive")
    assert_close(out, np.array([[[[4, 6, 4], [6, 9, 6], [4, 6, 4]]]]) + 0.5, "conv output (ones, pad 1)")
    # x[r, c] = 4r + c, filter [[1, 0], [0, -1]], stride 2: x[2i, 2j] - x[2i+1, 2j+1] = -5
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    out, _ = pair(layers.conv_forward_naive(x, w, np.zeros(1), {"stride": 2, "pad": 0}), "conv_forward_naive")
    assert_close(out, np.full((1, 1, 2, 2), -5.0), "conv output (2x2 filter, stride 2)")
    # two channels (ones and twos), filter 0 reads channel 0, filter 1 reads channel 1
    x = np.stack([np.ones((3, 3)), 2 * np.ones((3, 3))])[None]
    w = np.zeros((2, 2, 3, 3))
    w[0, 0], w[1, 1] = 1.0, 1.0
    out, _ = pair(layers.conv_forward_naive(x, w, np.array([0.0, 1.0]), {"stride": 1, "pad": 0}),
                  "conv_forward_naive")
    assert_close(out, np.array([9.0, 19.0]).reshape(1, 2, 1, 1), "conv output (two channels, two filters)")
    # H' = 1 + (7 + 2 - 3) // 2 = 4, W' = 1 + (5 + 2 - 3) // 2 = 3
    out, _ = pair(layers.conv_forward_naive(np.zeros((2, 3, 7, 5)), np.zeros((4, 3, 3, 3)), np.zeros(4),
                                            {"stride": 2, "pad": 1}), "conv_forward_naive")
    assert np.shape(out) == (2, 4, 4, 3), f"conv output shape {np.shape(out)}, expected (2, 4, 4, 3)"


@check(4, "conv_backward_naive: dx, dw, db against numerical gradients (stride 2, pad 1)", "conv_backward_naive",
       ("conv_forward_naive",))
def conv_backward_gradients(ctx):
    r = rng(1)
    x, w, b = r.standard_normal((2, 3, 5, 5)), r.standard_normal((3, 3, 3, 3)), r.standard_normal(3)
    check_layer_gradients(ctx, "layers", "conv_forward_naive", "conv_backward_naive", (x, w, b), (2, 3, 3, 3),
                          ("dx", "dw", "db"), extra=({"stride": 2, "pad": 1},))


@check(2, "max_pool_forward_naive: 2x2 stride 2 and overlapping 3x3 stride 1, by hand", "max_pool_forward_naive")
def max_pool_forward_values(ctx):
    layers = ctx.student("layers")
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out, _ = pair(layers.max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2}), "max_pool")
    assert_close(out, [[[[5, 7], [13, 15]]]], "max pool output (2x2, stride 2)")
    out, _ = pair(layers.max_pool_forward_naive(-x, {"pool_height": 3, "pool_width": 3, "stride": 1}), "max_pool")
    assert_close(out, [[[[0, -1], [-4, -5]]]], "max pool output (3x3, stride 1)")


@check(3, "max_pool_backward_naive: dx against numerical gradients (no ties)", "max_pool_backward_naive",
       ("max_pool_forward_naive",))
def max_pool_backward_gradients(ctx):
    x = (rng(2).permutation(2 * 2 * 6 * 6).reshape(2, 2, 6, 6) * 0.1).astype(np.float64)
    for param, out_hw in (({"pool_height": 2, "pool_width": 2, "stride": 2}, (3, 3)),
                          ({"pool_height": 3, "pool_width": 2, "stride": 1}, (4, 5))):
        check_layer_gradients(ctx, "layers", "max_pool_forward_naive", "max_pool_backward_naive", (x,),
                              (2, 2) + out_hw, ("dx",), extra=(param,))


def _conv_net(ctx, reg=0.0, weight_scale=1e-3):
    return Model(ctx, "classifiers.cnn", "ThreeLayerConvNet", input_dim=(3, 6, 6), num_filters=3, filter_size=3,
                 hidden_dim=5, num_classes=4, weight_scale=weight_scale, reg=reg, dtype=np.float64)


@check(3, "ThreeLayerConvNet: parameter shapes, scores shape, initial loss close to log(C), reg",
       "ThreeLayerConvNet", ("conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive",
        "affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss"))
def conv_net_init(ctx):
    model = _conv_net(ctx)
    shapes = {k: np.shape(v) for k, v in model.params.items()}
    expected = {"W1": (3, 3, 3, 3), "b1": (3,), "W2": (27, 5), "b2": (5,), "W3": (5, 4), "b3": (4,)}
    assert shapes == expected, f"params shapes are {shapes}, expected {expected}"
    X, y = rng(3).standard_normal((6, 3, 6, 6)), np.arange(6) % 4
    assert np.shape(model.loss(X)) == (6, 4), f"loss(X) should return scores of shape (6, 4), got {np.shape(model.loss(X))}"
    loss, _ = pair(model.loss(X, y), "ThreeLayerConvNet.loss")
    assert abs(float(loss) - math.log(4)) < 1e-2, (
        f"with tiny weights the loss should be about log(4) = {math.log(4):.4f}, got {float(loss):.4f}")

    def make(reg):
        return _conv_net(ctx, reg=reg).randomize(40, scale=0.3)

    check_reg_penalty(make, X, y, "ThreeLayerConvNet")


@check(5, "ThreeLayerConvNet: gradients against numerical, with and without reg", "ThreeLayerConvNet",
       ("conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive",
        "affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss"))
def conv_net_gradients(ctx):
    r = rng(4)
    X, y = r.standard_normal((2, 3, 6, 6)), np.array([1, 3])
    for seed, reg in enumerate((0.0, 0.5)):
        check_model_gradients(_conv_net(ctx, reg=reg).randomize(41 + seed, scale=0.3), X, y)


def _channel_stats_input():
    # channel 0 holds 1, 3, 1, 3 (mean 2, var 1); channel 1 holds 10, 14, 10, 14 (mean 12, var 4)
    return np.array([[[[1.0], [3.0]], [[10.0], [14.0]]], [[[1.0], [3.0]], [[10.0], [14.0]]]])  # (2, 2, 2, 1)


@check(3, "spatial_batchnorm_forward: per-channel statistics by hand, running averages, test mode",
       "spatial_batchnorm_forward")
def spatial_batchnorm_forward_values(ctx):
    layers = ctx.student("layers")
    x = _channel_stats_input()
    gamma, beta = np.array([2.0, 1.0]), np.array([0.5, -1.0])
    eps = 1e-5
    bn_param = {"mode": "train", "eps": eps, "momentum": 0.9}
    out, _ = pair(layers.spatial_batchnorm_forward(x, gamma, beta, bn_param), "spatial_batchnorm_forward")
    z0, z1 = 1 / math.sqrt(1 + eps), 2 / math.sqrt(4 + eps)
    one = np.array([[[-2 * z0 + 0.5], [2 * z0 + 0.5]], [[-z1 - 1], [z1 - 1]]])
    assert_close(out, np.stack([one, one]), "spatial_batchnorm_forward output (train)")
    assert_close(bn_param.get("running_mean"), [0.2, 1.2], "bn_param['running_mean'] after one step")
    assert_close(bn_param.get("running_var"), [0.1, 0.4], "bn_param['running_var'] after one step")
    test_param = {"mode": "test", "eps": eps, "running_mean": np.array([1.0, 10.0]),
                  "running_var": np.array([4.0, 16.0])}
    out, _ = pair(layers.spatial_batchnorm_forward(x, gamma, beta, test_param), "spatial_batchnorm_forward")
    one = np.array([[[0.5], [2 * 2 / math.sqrt(4 + eps) + 0.5]],
                    [[-1.0], [4 / math.sqrt(16 + eps) - 1]]])
    assert_close(out, np.stack([one, one]), "spatial_batchnorm_forward output (test, running statistics)")


@check(2, "spatial_batchnorm_backward: dx, dgamma, dbeta against numerical gradients", "spatial_batchnorm_backward",
       ("spatial_batchnorm_forward",))
def spatial_batchnorm_backward_gradients(ctx):
    r = rng(5)
    x = 3 * r.standard_normal((3, 2, 3, 4)) + 1
    gamma, beta = r.standard_normal(2), r.standard_normal(2)
    check_layer_gradients(ctx, "layers", "spatial_batchnorm_forward", "spatial_batchnorm_backward", (x, gamma, beta),
                          (3, 2, 3, 4), ("dx", "dgamma", "dbeta"), extra=({"mode": "train"},))


GN_SHAPE = (1, 4, 1, 1)  # gamma and beta of spatial group norm, as in the assignment


@check(2, "spatial_groupnorm_forward: per-sample, per-group statistics by hand", "spatial_groupnorm_forward")
def spatial_groupnorm_forward_values(ctx):
    layers = ctx.student("layers")
    # one sample, 4 channels of 2 pixels, G = 2: group 0 holds 1, 3, 1, 3; group 1 holds 10, 14, 10, 14
    x = np.array([[[[1.0, 3.0]], [[3.0, 1.0]], [[10.0, 14.0]], [[14.0, 10.0]]]])  # (1, 4, 1, 2)
    x = np.concatenate([x, 2 * x])  # sample 1: group statistics (4, 4) and (24, 16)
    gamma = np.array([1.0, 2.0, 1.0, 0.5]).reshape(GN_SHAPE)
    beta = np.array([0.0, 1.0, -1.0, 0.0]).reshape(GN_SHAPE)
    eps = 1e-5
    out, _ = pair(layers.spatial_groupnorm_forward(x, gamma, beta, 2, {"eps": eps}), "spatial_groupnorm_forward")
    z = np.array([1 / math.sqrt(1 + eps), 2 / math.sqrt(4 + eps), 2 / math.sqrt(4 + eps), 4 / math.sqrt(16 + eps)])
    signs = np.array([[[-1, 1]], [[1, -1]], [[-1, 1]], [[1, -1]]], dtype=np.float64)  # (4, 1, 2)
    g, bt = gamma.reshape(4, 1, 1), beta.reshape(4, 1, 1)
    sample0 = signs * np.array([z[0], z[0], z[1], z[1]]).reshape(4, 1, 1) * g + bt
    sample1 = signs * np.array([z[2], z[2], z[3], z[3]]).reshape(4, 1, 1) * g + bt
    assert_close(out, np.stack([sample0, sample1]), "spatial_groupnorm_forward output (G=2)")


@check(2, "spatial_groupnorm_backward: dx, dgamma, dbeta against numerical gradients", "spatial_groupnorm_backward",
       ("spatial_groupnorm_forward",))
def spatial_groupnorm_backward_gradients(ctx):
    r = rng(6)
    x = 2 * r.standard_normal((2, 6, 3, 2)) - 1
    gamma, beta = r.standard_normal((1, 6, 1, 1)), r.standard_normal((1, 6, 1, 1))
    for G in (2, 3):
        check_layer_gradients(ctx, "layers", "spatial_groupnorm_forward", "spatial_groupnorm_backward",
                              (x, gamma, beta), (2, 6, 3, 2), ("dx", "dgamma", "dbeta"), extra=(G, {}))
