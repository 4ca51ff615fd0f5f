"""Correctness of cs231n.layers: forward values worked out independently, backward passes against
centred numerical gradients (float64), dropout statistics, max-pool ties.

Bad input, and inputs left untouched, are checked in test_layers_bad_input.py.
"""

import math

import numpy as np
import pytest

from cs231n.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from cs231n.layers import (
    affine_backward, affine_forward, conv_backward_naive, conv_forward_naive, dropout_backward,
    dropout_forward, max_pool_backward_naive, max_pool_forward_naive, relu_backward, relu_forward,
    softmax_loss, svm_loss,
)

SMOOTH_TOL = 1e-8  # rel. error of an exact backward pass vs centred differences on a smooth function


# ---------------------------------------------------------------------------------------------
# Affine
# ---------------------------------------------------------------------------------------------

def test_affine_forward_hand_case():
    x = np.array([[[1.0, 2.0]], [[3.0, 4.0]]])  # (2, 1, 2): rows [1, 2] and [3, 4]
    w = np.array([[1.0, 0.0, -1.0],
                  [2.0, 1.0, 0.0]])
    b = np.array([0.5, -1.0, 2.0])
    # [1, 2] @ w = [5, 2, -1]; [3, 4] @ w = [11, 4, -3]; then + b
    expected = np.array([[5.5, 1.0, 1.0],
                         [11.5, 3.0, -1.0]])
    out, _ = affine_forward(x, w, b)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)


def test_affine_backward_hand_case():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    w = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
    b = np.zeros(3)
    dout = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]])
    _, cache = affine_forward(x, w, b)
    dx, dw, db = affine_backward(dout, cache)
    # dx = dout @ w.T; dw = x.T @ dout; db = column sums of dout
    np.testing.assert_allclose(dx, [[-1.0, 2.0], [0.0, 1.0]], atol=1e-12)
    np.testing.assert_allclose(dw, [[1.0, 3.0, 2.0], [2.0, 4.0, 4.0]], atol=1e-12)
    np.testing.assert_allclose(db, [1.0, 1.0, 2.0], atol=1e-12)


@pytest.mark.parametrize("x_shape, M", [((3, 4), 5), ((2, 3, 2), 4), ((1, 2, 3, 2), 3)])
def test_affine_backward_numerical(x_shape, M):
    rng = np.random.default_rng(len(x_shape) * 10 + M)
    x = rng.normal(size=x_shape)
    D = math.prod(x_shape[1:])
    w = rng.normal(size=(D, M))
    b = rng.normal(size=M)
    dout = rng.normal(size=(x_shape[0], M))
    _, cache = affine_forward(x, w, b)
    dx, dw, db = affine_backward(dout, cache)
    assert dx.shape == x.shape
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: affine_forward(v, w, b)[0], x, dout)) < SMOOTH_TOL
    assert rel_error(dw, eval_numerical_gradient_array(lambda v: affine_forward(x, v, b)[0], w, dout)) < SMOOTH_TOL
    assert rel_error(db, eval_numerical_gradient_array(lambda v: affine_forward(x, w, v)[0], b, dout)) < SMOOTH_TOL


# ---------------------------------------------------------------------------------------------
# ReLU
# ---------------------------------------------------------------------------------------------

def test_relu_forward_hand_case():
    x = np.array([[-2.0, -0.5, 0.0], [0.5, 3.0, -1e-9]])
    out, _ = relu_forward(x)
    np.testing.assert_array_equal(out, [[0.0, 0.0, 0.0], [0.5, 3.0, 0.0]])


def test_relu_backward_hand_case():
    x = np.array([[-2.0, 0.0, 1.0], [4.0, -3.0, 1e-9]])
    dout = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    _, cache = relu_forward(x)
    # gradient passes only where x > 0 (the subgradient 0 is used at x = 0)
    np.testing.assert_array_equal(relu_backward(dout, cache), [[0.0, 0.0, 3.0], [4.0, 0.0, 6.0]])


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4), (1, 2, 3, 3)])
def test_relu_backward_numerical(shape):
    rng = np.random.default_rng(sum(shape))
    x = rng.normal(size=shape)
    x[np.abs(x) < 0.01] = 0.5  # stay away from the kink at 0
    dout = rng.normal(size=shape)
    _, cache = relu_forward(x)
    dx_num = eval_numerical_gradient_array(lambda v: relu_forward(v)[0], x, dout)
    assert rel_error(relu_backward(dout, cache), dx_num) < SMOOTH_TOL


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("N, C", [(1, 2), (4, 3), (5, 10)])
def test_svm_loss_of_zero_scores_is_C_minus_1(N, C):
    y = np.arange(N) % C
    loss, dx = svm_loss(np.zeros((N, C)), y)
    assert loss == pytest.approx(C - 1, abs=1e-12)
    # every wrong class violates the margin: +1/N there, -(C-1)/N at the label
    expected = np.full((N, C), 1.0 / N)
    expected[np.arange(N), y] = -(C - 1) / N
    np.testing.assert_allclose(dx, expected, atol=1e-12)


def test_svm_loss_hand_case():
    x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.2]])
    y = np.array([0, 2])
    # row 0: margins 2 - 1 + 1 = 2 and 3 - 1 + 1 = 3 -> 5
    # row 1: 0.5 - 0.2 + 1 = 1.3 and -1 - 0.2 + 1 = -0.2 -> 0, total 1.3
    loss, dx = svm_loss(x, y)
    assert loss == pytest.approx((5 + 1.3) / 2, abs=1e-12)
    np.testing.assert_allclose(dx, np.array([[-2.0, 1.0, 1.0], [1.0, 0.0, -1.0]]) / 2, atol=1e-12)


@pytest.mark.parametrize("N, C", [(1, 2), (4, 3), (6, 7)])
def test_softmax_loss_of_zero_scores_is_log_C(N, C):
    y = (np.arange(N) * 3) % C
    loss, dx = softmax_loss(np.zeros((N, C)), y)
    assert loss == pytest.approx(math.log(C), abs=1e-12)
    expected = np.full((N, C), 1.0 / C)
    expected[np.arange(N), y] -= 1
    np.testing.assert_allclose(dx, expected / N, atol=1e-12)


# scores 0, log 2, log 5 -> softmax = (1, 2, 5) / 8
_SOFTMAX_BASE = np.array([0.0, math.log(2.0), math.log(5.0)])


@pytest.mark.parametrize("shift", [0.0, 1e3, -1e3, 1e5, -1e5])
def test_softmax_loss_large_logits(shift):
    x = np.stack([_SOFTMAX_BASE, _SOFTMAX_BASE]) + shift
    y = np.array([0, 2])
    loss, dx = softmax_loss(x, y)
    assert np.isfinite(loss) and np.all(np.isfinite(dx))
    # analytic: -(log(1/8) + log(5/8)) / 2; ulp(1e5) ~ 1.5e-11 bounds the error of the shifted input
    assert loss == pytest.approx((math.log(8.0) + math.log(8.0 / 5.0)) / 2, abs=1e-9)
    probs = np.array([1.0, 2.0, 5.0]) / 8
    expected = np.stack([probs - [1, 0, 0], probs - [0, 0, 1]]) / 2
    np.testing.assert_allclose(dx, expected, atol=1e-9)


def test_softmax_loss_one_dominant_logit():
    # loss = log(e^1e5 + 1) - 0 = 1e5 + log(1 + e^-1e5) = 1e5 exactly in float64
    loss, dx = softmax_loss(np.array([[1e5, 0.0]]), np.array([1]))
    assert loss == 1e5
    np.testing.assert_allclose(dx, [[1.0, -1.0]], atol=1e-12)


@pytest.mark.parametrize("N, C", [(1, 3), (5, 4), (8, 10)])
def test_svm_loss_backward_numerical(N, C):
    rng = np.random.default_rng(N * 100 + C)
    x = rng.normal(size=(N, C))
    y = rng.integers(C, size=N)
    margins = x - x[np.arange(N), y][:, None] + 1
    margins[np.arange(N), y] = 10.0
    assert np.min(np.abs(margins)) > 1e-3  # no hinge sits on its kink
    loss, dx = svm_loss(x, y)
    dx_num = eval_numerical_gradient(lambda _: svm_loss(x, y)[0], x, verbose=False)
    assert rel_error(dx, dx_num) < SMOOTH_TOL


@pytest.mark.parametrize("N, C", [(1, 3), (5, 4), (8, 10)])
def test_softmax_loss_backward_numerical(N, C):
    rng = np.random.default_rng(N * 100 + C + 1)
    x = rng.normal(size=(N, C))
    y = rng.integers(C, size=N)
    loss, dx = softmax_loss(x, y)
    dx_num = eval_numerical_gradient(lambda _: softmax_loss(x, y)[0], x, verbose=False)
    assert rel_error(dx, dx_num) < 1e-7  # the loss is O(1): rounding/h ~ 1e-11 absolute, near-zero entries


# ---------------------------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.3, 0.5, 0.9])
def test_dropout_keeps_fraction_p_and_scales_by_1_over_p(p):
    x = np.ones((1000, 1000))
    out, _ = dropout_forward(x, {"mode": "train", "p": p, "seed": 1})
    kept = out != 0
    # std of the kept fraction is sqrt(p (1 - p) / 1e6) < 5e-4
    assert abs(kept.mean() - p) < 5e-3
    np.testing.assert_allclose(out[kept], 1.0 / p, rtol=1e-15)


def test_dropout_preserves_the_mean():
    x = np.random.default_rng(3).normal(size=(500, 1000)) + 2.0
    out, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 4})
    # var of one output is E[x^2] (1/p - 1) ~ 5; std of the mean over 5e5 entries ~ 3e-3
    assert abs(out.mean() - x.mean()) < 0.02


def test_dropout_test_mode_is_identity():
    x = np.random.default_rng(5).normal(size=(4, 6))
    out, cache = dropout_forward(x, {"mode": "test", "p": 0.3})
    np.testing.assert_array_equal(out, x)
    dout = np.random.default_rng(6).normal(size=(4, 6))
    np.testing.assert_array_equal(dropout_backward(dout, cache), dout)


def test_dropout_p_one_keeps_everything():
    x = np.random.default_rng(7).normal(size=(5, 5))
    out, _ = dropout_forward(x, {"mode": "train", "p": 1.0})
    np.testing.assert_array_equal(out, x)


def test_dropout_seed_reproducible():
    x = np.random.default_rng(8).normal(size=(30, 40))
    a, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 123})
    b, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 123})
    c, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 124})
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # the mask depends on the seed and the shape, not on the values of x
    d, _ = dropout_forward(x + 10.0, {"mode": "train", "p": 0.5, "seed": 123})
    np.testing.assert_array_equal(d == 0, a == 0)


def test_dropout_without_seed_draws_fresh_masks():
    x = np.ones((30, 40))
    a, _ = dropout_forward(x, {"mode": "train", "p": 0.5})
    b, _ = dropout_forward(x, {"mode": "train", "p": 0.5})
    assert not np.array_equal(a, b)  # equal with probability 2**-1200


def test_dropout_randomness_follows_the_documented_rule():
    # With a seed the mask depends on the seed alone, whatever the global state was before
    # (np.random is reseeded from it, as in the original); without a seed the mask comes from
    # np.random's global state, so seeding that state makes it repeatable.
    x = np.ones((20, 30))
    masks = []
    for prior in (1, 2):
        np.random.seed(prior)
        masks.append(dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 7})[0])
    np.testing.assert_array_equal(masks[0], masks[1])
    np.random.seed(3)
    a, _ = dropout_forward(x, {"mode": "train", "p": 0.5})
    np.random.seed(3)
    b, _ = dropout_forward(x, {"mode": "train", "p": 0.5})
    np.testing.assert_array_equal(a, b)


def test_dropout_float16_with_tiny_p_is_refused():
    x = np.ones((4, 5), dtype=np.float16)
    with pytest.raises(ValueError, match="too small for float16"):
        dropout_forward(x, {"mode": "train", "p": 1e-5, "seed": 0})
    out, _ = dropout_forward(x, {"mode": "train", "p": 2e-5, "seed": 0})  # 1/p = 50000 fits
    assert np.all(np.isfinite(out))
    out, _ = dropout_forward(x, {"mode": "test", "p": 1e-5})  # no scaling at test time
    np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize("mode", ["train", "test"])
def test_dropout_float32_stays_float32(mode):
    x = np.random.default_rng(9).normal(size=(50, 60)).astype(np.float32)
    out, cache = dropout_forward(x, {"mode": mode, "p": 0.7, "seed": 2})
    dx = dropout_backward(np.ones_like(x), cache)
    assert out.dtype == np.float32 and dx.dtype == np.float32
    kept = out != 0
    scale = np.float32(0.7) if mode == "train" else np.float32(1.0)  # test mode: identity
    np.testing.assert_allclose(out[kept], x[kept] / scale, rtol=1e-6)


def test_dropout_backward_routes_through_the_mask():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(20, 30)) + 5.0  # nonzero, so out == 0 exactly where a unit was dropped
    dout = rng.normal(size=(20, 30))
    p = 0.6
    out, cache = dropout_forward(x, {"mode": "train", "p": p, "seed": 11})
    dx = dropout_backward(dout, cache)
    np.testing.assert_allclose(dx, np.where(out != 0, dout / p, 0.0), rtol=1e-14, atol=0)


def test_dropout_backward_numerical():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(4, 5, 3))
    dout = rng.normal(size=(4, 5, 3))
    param = {"mode": "train", "p": 0.4, "seed": 13}  # fixed seed: a fixed linear map of x
    _, cache = dropout_forward(x, param)
    dx_num = eval_numerical_gradient_array(lambda v: dropout_forward(v, param)[0], x, dout)
    assert rel_error(dropout_backward(dout, cache), dx_num) < SMOOTH_TOL


# ---------------------------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------------------------

def test_conv_forward_hand_case():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    w = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    b = np.array([1.0])
    # out[0, 0] = 1*1 + 2*2 + 3*4 + 4*5 = 37; out[0, 1] = 1*2 + 2*3 + 3*5 + 4*6 = 47
    # out[1, 0] = 1*4 + 2*5 + 3*7 + 4*8 = 67; out[1, 1] = 1*5 + 2*6 + 3*8 + 4*9 = 77; then + 1
    out, _ = conv_forward_naive(x, w, b, {"stride": 1, "pad": 0})
    np.testing.assert_array_equal(out, [[[[38.0, 48.0], [68.0, 78.0]]]])


def test_conv_forward_hand_case_padded_strided():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    w = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    # padded input is 5x5 with x in the middle; H' = 1 + (3 + 2 - 2) // 2 = 2, windows start at 0, 2
    # (0, 0): only x[0,0]=1 under tap w[1,1]=4 -> 4
    # (0, 1): x[0,1]=2, x[0,2]=3 under w[1,0]=3, w[1,1]=4 -> 18
    # (1, 0): x[1,0]=4, x[2,0]=7 under w[0,1]=2, w[1,1]=4 -> 36
    # (1, 1): x[1,1], x[1,2], x[2,1], x[2,2] = 5, 6, 8, 9 under 1, 2, 3, 4 -> 77
    out, _ = conv_forward_naive(x, w, np.zeros(1), {"stride": 2, "pad": 1})
    np.testing.assert_array_equal(out, [[[[4.0, 18.0], [36.0, 77.0]]]])


def test_conv_forward_two_filters_two_channels_hand_case():
    x = np.stack([np.ones((2, 2)), 2 * np.ones((2, 2))])[None]  # (1, 2, 2, 2): channel 0 = 1, channel 1 = 2
    w = np.zeros((2, 2, 1, 1))
    w[0, :, 0, 0] = [1.0, 10.0]  # filter 0: 1*1 + 10*2 = 21
    w[1, :, 0, 0] = [-1.0, 0.5]  # filter 1: -1 + 1 = 0
    b = np.array([0.0, 3.0])
    out, _ = conv_forward_naive(x, w, b, {"stride": 1, "pad": 0})
    np.testing.assert_array_equal(out, np.array([21.0, 3.0])[None, :, None, None] * np.ones((1, 2, 2, 2)))


# (x shape, w shape, stride, pad): strides 1-3, pads 0-2, non-square filters and inputs, N = 1
CONV_CASES = [
    ((2, 3, 5, 5), (2, 3, 3, 3), 1, 1),
    ((1, 2, 7, 6), (3, 2, 3, 2), 2, 0),
    ((2, 1, 6, 5), (2, 1, 2, 3), 3, 2),
    ((1, 2, 4, 7), (1, 2, 4, 1), 1, 0),
    ((2, 2, 5, 4), (2, 2, 1, 1), 2, 1),
    ((1, 1, 6, 6), (1, 1, 3, 3), 2, 0),  # last row and column are never reached
    ((1, 2, 3, 4), (2, 2, 3, 3), 1, 2),
]


# Values worked out once with direct loops over n, f, i, j, c, k, l (instructor-side reference):
# the output shape, its sum and its sum weighted by cos(flat index).
CONV_STORED = {
    ((2, 3, 5, 5), (2, 3, 3, 3), 1, 1): ((2, 2, 5, 5), 48.260047571372695, 48.505785306616055),
    ((1, 2, 7, 6), (3, 2, 3, 2), 2, 0): ((1, 3, 3, 3), -37.658956677851606, -4.767541249115626),
    ((2, 1, 6, 5), (2, 1, 2, 3), 3, 2): ((2, 2, 3, 3), -8.032107076828712, -1.4442642165996646),
    ((1, 2, 4, 7), (1, 2, 4, 1), 1, 0): ((1, 1, 1, 7), 5.26869207917714, 0.5286918262452667),
    ((2, 2, 5, 4), (2, 2, 1, 1), 2, 1): ((2, 2, 4, 3), 38.812448510022925, -6.3893588709228135),
    ((1, 1, 6, 6), (1, 1, 3, 3), 2, 0): ((1, 1, 2, 2), -3.4890010551243713, -3.023858453025187),
    ((1, 2, 3, 4), (2, 2, 3, 3), 1, 2): ((1, 2, 5, 6), 40.22949996916145, 12.202652882741038),
}


def _projections(out):
    k = np.arange(out.size, dtype=np.float64).reshape(out.shape)
    return float(out.sum()), float((out * np.cos(k)).sum())


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", CONV_CASES)
def test_conv_forward_matches_stored_values(x_shape, w_shape, stride, pad):
    rng = np.random.default_rng(sum(x_shape) + 7 * stride + pad)
    x, w, b = rng.normal(size=x_shape), rng.normal(size=w_shape), rng.normal(size=w_shape[0])
    out, _ = conv_forward_naive(x, w, b, {"stride": stride, "pad": pad})
    shape, total, weighted = CONV_STORED[(x_shape, w_shape, stride, pad)]
    assert out.shape == shape
    np.testing.assert_allclose(_projections(out), (total, weighted), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", CONV_CASES)
def test_conv_backward_numerical(x_shape, w_shape, stride, pad):
    rng = np.random.default_rng(sum(w_shape) + 11 * stride + pad)
    x, w, b = rng.normal(size=x_shape), rng.normal(size=w_shape), rng.normal(size=w_shape[0])
    conv_param = {"stride": stride, "pad": pad}
    out, cache = conv_forward_naive(x, w, b, conv_param)
    dout = rng.normal(size=out.shape)
    dx, dw, db = conv_backward_naive(dout, cache)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    dx_num = eval_numerical_gradient_array(lambda v: conv_forward_naive(v, w, b, conv_param)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda v: conv_forward_naive(x, v, b, conv_param)[0], w, dout)
    db_num = eval_numerical_gradient_array(lambda v: conv_forward_naive(x, w, v, conv_param)[0], b, dout)
    assert rel_error(dx, dx_num) < SMOOTH_TOL
    assert rel_error(dw, dw_num) < SMOOTH_TOL
    assert rel_error(db, db_num) < SMOOTH_TOL


def test_conv_backward_ignores_unreached_pixels():
    x = np.random.default_rng(14).normal(size=(1, 1, 6, 6))
    w = np.ones((1, 1, 3, 3))
    out, cache = conv_forward_naive(x, w, np.zeros(1), {"stride": 2, "pad": 0})  # windows at 0 and 2
    dx, _, _ = conv_backward_naive(np.ones_like(out), cache)
    np.testing.assert_array_equal(dx[0, 0, 5, :], 0.0)
    np.testing.assert_array_equal(dx[0, 0, :, 5], 0.0)
    # pixel (2, 2) lies in all four windows; pixel (0, 0) in one
    assert dx[0, 0, 2, 2] == 4.0 and dx[0, 0, 0, 0] == 1.0


# ---------------------------------------------------------------------------------------------
# Max pooling
# ---------------------------------------------------------------------------------------------

def test_max_pool_forward_hand_case():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out, _ = max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    np.testing.assert_array_equal(out, [[[[5.0, 7.0], [13.0, 15.0]]]])


def test_max_pool_overlapping_hand_case():
    x = np.array([[1.0, 5.0, 2.0],
                  [3.0, 4.0, 9.0],
                  [0.0, 8.0, 6.0]]).reshape(1, 1, 3, 3)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 1}
    out, cache = max_pool_forward_naive(x, pool_param)
    np.testing.assert_array_equal(out, [[[[5.0, 9.0], [8.0, 9.0]]]])
    # 5 takes dout[0,0] = 1; 9 is the max of two windows: 2 + 4 = 6; 8 takes dout[1,0] = 3
    dx = max_pool_backward_naive(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[0.0, 1.0, 0.0], [0.0, 0.0, 6.0], [0.0, 3.0, 0.0]]]])


def test_max_pool_ties_accept_either_documented_rule():
    # The one check with ties (see max_pool_backward_naive): a tied window's gradient goes either
    # wholly to one of its maxima or to every one of them; nothing reaches a non-maximum.
    x = np.array([[1.0, 3.0, 7.0, 7.0],
                  [3.0, 2.0, 7.0, 7.0]]).reshape(1, 1, 2, 4)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = max_pool_forward_naive(x, pool_param)
    np.testing.assert_array_equal(out, [[[[3.0, 7.0]]]])
    dx = max_pool_backward_naive(np.array([[[[5.0, 2.0]]]]), cache)[0, 0]
    left, right = dx[:, :2], dx[:, 2:]
    is_max_left = np.array([[False, True], [True, False]])
    assert np.all(left[~is_max_left] == 0) and np.all(np.isin(left[is_max_left], [0.0, 5.0]))
    assert np.all(np.isin(right, [0.0, 2.0]))
    one_each = left.sum() == 5.0 and right.sum() == 2.0  # routed to one maximum
    all_tied = np.array_equal(left[is_max_left], [5.0, 5.0]) and np.all(right == 2.0)  # copied
    assert one_each or all_tied, f"ties must go to one maximum or to all of them, got {dx.tolist()}"


# (x shape, pool_height, pool_width, stride): tiling, non-tiling, overlapping, non-square
POOL_CASES = [
    ((2, 2, 4, 4), 2, 2, 2),
    ((1, 2, 5, 5), 2, 2, 2),  # non-tiling: last row and column unused
    ((2, 1, 5, 6), 3, 3, 1),  # overlapping
    ((1, 2, 7, 7), 3, 3, 2),  # overlapping
    ((2, 1, 5, 7), 2, 3, 1),  # non-square window
    ((1, 1, 6, 5), 3, 1, 2),
]


POOL_STORED = {
    ((2, 2, 4, 4), 2, 2, 2): ((2, 2, 2, 2), 18.84804609419702, -4.008283867762399),
    ((1, 2, 5, 5), 2, 2, 2): ((1, 2, 2, 2), 8.338342670884856, 0.8051641476620448),
    ((2, 1, 5, 6), 3, 3, 1): ((2, 1, 3, 4), 35.03620213470778, 0.9179047253078993),
    ((1, 2, 7, 7), 3, 3, 2): ((1, 2, 3, 3), 22.4965011641979, -3.6037603038465025),
    ((2, 1, 5, 7), 2, 3, 1): ((2, 1, 4, 5), 40.94264868918747, 4.53301448219128),
    ((1, 1, 6, 5), 3, 1, 2): ((1, 1, 2, 3), 4.44877305025698, -0.27329019817605876),
}


@pytest.mark.parametrize("x_shape, ph, pw, stride", POOL_CASES)
def test_max_pool_forward_matches_stored_values(x_shape, ph, pw, stride):
    x = np.random.default_rng(sum(x_shape) + ph).normal(size=x_shape)
    out, _ = max_pool_forward_naive(x, {"pool_height": ph, "pool_width": pw, "stride": stride})
    shape, total, weighted = POOL_STORED[(x_shape, ph, pw, stride)]
    assert out.shape == shape
    np.testing.assert_allclose(_projections(out), (total, weighted), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_shape, ph, pw, stride", POOL_CASES)
def test_max_pool_backward_numerical(x_shape, ph, pw, stride):
    rng = np.random.default_rng(sum(x_shape) + 3 * pw + stride)
    # distinct values 0.1 apart: no ties, and no probe of size h = 1e-5 can change a window's argmax
    x = 0.1 * rng.permutation(math.prod(x_shape)).reshape(x_shape).astype(np.float64)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = max_pool_forward_naive(x, pool_param)
    dout = rng.normal(size=out.shape)
    dx = max_pool_backward_naive(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda v: max_pool_forward_naive(v, pool_param)[0], x, dout)
    assert rel_error(dx, dx_num) < SMOOTH_TOL


# ---------------------------------------------------------------------------------------------
# dtype: float32 in -> float32 out
# ---------------------------------------------------------------------------------------------

def test_float32_is_preserved_everywhere():
    rng = np.random.default_rng(15)
    f32 = lambda *shape: rng.normal(size=shape).astype(np.float32)  # noqa: E731
    out, cache = affine_forward(f32(2, 3, 2), f32(6, 4), f32(4))
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in affine_backward(f32(2, 4), cache))
    out, cache = relu_forward(f32(3, 4))
    assert out.dtype == np.float32 and relu_backward(f32(3, 4), cache).dtype == np.float32
    for loss_fn in (svm_loss, softmax_loss):
        loss, dx = loss_fn(f32(4, 5), np.array([0, 1, 4, 2]))
        assert isinstance(loss, float) and dx.dtype == np.float32
    out, cache = conv_forward_naive(f32(2, 3, 5, 5), f32(2, 3, 3, 3), f32(2), {"stride": 1, "pad": 1})
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in conv_backward_naive(f32(*out.shape), cache))
    out, cache = max_pool_forward_naive(f32(2, 3, 4, 4), {"pool_height": 2, "pool_width": 2, "stride": 2})
    assert out.dtype == np.float32 and max_pool_backward_naive(f32(*out.shape), cache).dtype == np.float32


def test_normalization_api_is_re_exported():
    import cs231n.layers as layers
    import cs231n.normalization as normalization

    names = ["batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt", "layernorm_forward",
             "layernorm_backward", "spatial_batchnorm_forward", "spatial_batchnorm_backward",
             "spatial_groupnorm_forward", "spatial_groupnorm_backward"]
    for name in names:
        assert getattr(layers, name) is getattr(normalization, name)
        assert name in layers.__all__
    assert all(hasattr(layers, name) for name in layers.__all__)
