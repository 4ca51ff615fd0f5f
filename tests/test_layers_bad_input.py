"""Input handling of cs231n.layers: bad input is refused (one test per case, each checking the
error type and that the message names the offending value), and nothing the caller passes is
ever modified."""

import copy

import numpy as np
import pytest

from cs231n.layers import (
    affine_backward, affine_forward, conv_backward_naive, conv_forward_naive, dropout_backward,
    dropout_forward, max_pool_backward_naive, max_pool_forward_naive, relu_backward, relu_forward,
    softmax_loss, svm_loss,
)

RNG = np.random.default_rng(0)
X4 = RNG.normal(size=(2, 3, 5, 5))  # (N, C, H, W)
W4 = RNG.normal(size=(4, 3, 3, 3))  # (F, C, HH, WW)
B4 = RNG.normal(size=4)
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
SCORES = RNG.normal(size=(4, 3))
LOSSES = pytest.mark.parametrize("loss_fn", [svm_loss, softmax_loss])


def conv(x=X4, w=W4, b=B4, **conv_param):
    return conv_forward_naive(x, w, b, conv_param or {"stride": 1, "pad": 1})


# --- affine ----------------------------------------------------------------------------------

def test_affine_mismatched_feature_sizes():
    with pytest.raises(ValueError, match=r"x has 12 features .* w expects 10"):
        affine_forward(np.ones((2, 3, 4)), np.ones((10, 5)), np.ones(5))


def test_affine_bias_of_wrong_length():
    with pytest.raises(ValueError, match=r"b must have shape \(5,\), got \(4,\)"):
        affine_forward(np.ones((2, 3)), np.ones((3, 5)), np.ones(4))


def test_affine_x_one_dimensional():
    with pytest.raises(ValueError, match=r"x must be at least 2-dimensional .* got shape \(3,\)"):
        affine_forward(np.ones(3), np.ones((3, 5)), np.ones(5))


def test_affine_w_wrong_dimensionality():
    with pytest.raises(ValueError, match=r"w must be 2-dimensional .* got shape \(3, 5, 1\)"):
        affine_forward(np.ones((2, 3)), np.ones((3, 5, 1)), np.ones(5))


def test_affine_non_array_input():
    with pytest.raises(TypeError, match="x must be a numpy array, got list"):
        affine_forward([[1.0, 2.0]], np.ones((2, 3)), np.ones(3))


def test_affine_backward_dout_wrong_shape():
    _, cache = affine_forward(np.ones((2, 3)), np.ones((3, 5)), np.ones(5))
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 5\), got \(2, 4\)"):
        affine_backward(np.ones((2, 4)), cache)


def test_affine_backward_bad_cache():
    with pytest.raises(TypeError, match="cache must be the 3-tuple returned by affine_forward, got list"):
        affine_backward(np.ones((2, 5)), [np.ones((2, 3)), np.ones((3, 5)), np.ones(5)])


# --- relu ------------------------------------------------------------------------------------

def test_relu_non_array_input():
    with pytest.raises(TypeError, match="x must be a numpy array, got float"):
        relu_forward(1.5)


def test_relu_non_numeric_dtype():
    with pytest.raises(TypeError, match="x must hold real numbers, got dtype <U1"):
        relu_forward(np.array(["a", "b"]))


def test_relu_backward_dout_wrong_shape():
    _, cache = relu_forward(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"dout must have shape \(3, 4\), got \(4, 3\)"):
        relu_backward(np.ones((4, 3)), cache)


def test_relu_backward_bad_cache():
    with pytest.raises(TypeError, match="cache must be the array returned by relu_forward, got tuple"):
        relu_backward(np.ones((3, 4)), (np.ones((3, 4)),))


# --- losses ----------------------------------------------------------------------------------

@LOSSES
def test_loss_label_too_large(loss_fn):
    with pytest.raises(ValueError, match=r"label 3, outside the valid range 0\.\.2"):
        loss_fn(SCORES, np.array([0, 1, 3, 2]))


@LOSSES
def test_loss_negative_label(loss_fn):
    with pytest.raises(ValueError, match=r"label -1, outside the valid range 0\.\.2"):
        loss_fn(SCORES, np.array([0, -1, 1, 2]))


@LOSSES
def test_loss_labels_wrong_shape(loss_fn):
    with pytest.raises(ValueError, match=r"y must have shape \(4,\) .* got \(4, 1\)"):
        loss_fn(SCORES, np.zeros((4, 1), dtype=int))


@LOSSES
def test_loss_labels_wrong_count(loss_fn):
    with pytest.raises(ValueError, match=r"y must have shape \(4,\) .* got \(3,\)"):
        loss_fn(SCORES, np.array([0, 1, 2]))


@LOSSES
def test_loss_labels_float_dtype(loss_fn):
    with pytest.raises(TypeError, match="y must hold integer class labels, got dtype float64"):
        loss_fn(SCORES, np.array([0.0, 1.0, 2.0, 1.0]))


@LOSSES
def test_loss_labels_not_an_array(loss_fn):
    with pytest.raises(TypeError, match="y must be a numpy array of integer labels, got list"):
        loss_fn(SCORES, [0, 1, 2, 1])


@LOSSES
def test_loss_scores_wrong_dimensionality(loss_fn):
    with pytest.raises(ValueError, match=r"x must be 2-dimensional .* got shape \(4,\)"):
        loss_fn(np.ones(4), np.array([0, 1, 2, 1]))


@LOSSES
def test_loss_no_samples(loss_fn):
    with pytest.raises(ValueError, match=r"at least one sample and one class, got shape \(0, 3\)"):
        loss_fn(np.ones((0, 3)), np.zeros(0, dtype=int))


@LOSSES
def test_loss_scores_not_an_array(loss_fn):
    with pytest.raises(TypeError, match="x must be a numpy array, got list"):
        loss_fn([[0.0, 1.0]], np.array([0]))


# --- dropout ---------------------------------------------------------------------------------

def test_dropout_unknown_mode():
    with pytest.raises(ValueError, match=r"dropout_param\['mode'\] must be one of 'train', 'test', got 'eval'"):
        dropout_forward(np.ones(3), {"mode": "eval", "p": 0.5})


def test_dropout_missing_mode():
    with pytest.raises(ValueError, match="dropout_param is missing the required key 'mode'"):
        dropout_forward(np.ones(3), {"p": 0.5})


def test_dropout_missing_p():
    with pytest.raises(ValueError, match="dropout_param is missing the required key 'p'"):
        dropout_forward(np.ones(3), {"mode": "train"})


@pytest.mark.parametrize("p", [0.0, -0.1, 1.5])
def test_dropout_p_outside_unit_interval(p):
    with pytest.raises(ValueError, match=rf"dropout_param\['p'\] must lie in \(0\.0, 1\.0\], got {p}"):
        dropout_forward(np.ones(3), {"mode": "train", "p": p})


def test_dropout_p_outside_unit_interval_in_test_mode():
    with pytest.raises(ValueError, match=r"dropout_param\['p'\] must lie in \(0\.0, 1\.0\], got 2\.0"):
        dropout_forward(np.ones(3), {"mode": "test", "p": 2.0})


def test_dropout_p_not_a_number():
    with pytest.raises(TypeError, match=r"dropout_param\['p'\] must be a real number, got '0.5'"):
        dropout_forward(np.ones(3), {"mode": "train", "p": "0.5"})


def test_dropout_seed_not_an_integer():
    with pytest.raises(TypeError, match=r"dropout_param\['seed'\] must be an integer, got 1.5"):
        dropout_forward(np.ones(3), {"mode": "train", "p": 0.5, "seed": 1.5})


def test_dropout_negative_seed():
    with pytest.raises(ValueError, match=r"dropout_param\['seed'\] must be >= 0, got -3"):
        dropout_forward(np.ones(3), {"mode": "train", "p": 0.5, "seed": -3})


def test_dropout_param_not_a_dict():
    with pytest.raises(TypeError, match="dropout_param must be a dict, got float"):
        dropout_forward(np.ones(3), 0.5)


def test_dropout_non_array_input():
    with pytest.raises(TypeError, match="x must be a numpy array, got list"):
        dropout_forward([1.0, 2.0], {"mode": "train", "p": 0.5})


@pytest.mark.parametrize("mode", ["train"])  # test mode passes dout through, of any shape
def test_dropout_backward_dout_wrong_shape(mode):
    _, cache = dropout_forward(np.ones((3, 4)), {"mode": mode, "p": 0.5})
    with pytest.raises(ValueError, match=r"dout must have shape \(3, 4\), got \(3, 5\)"):
        dropout_backward(np.ones((3, 5)), cache)


# --- convolution -----------------------------------------------------------------------------

def test_conv_mismatched_channels():
    with pytest.raises(ValueError, match=r"w has 2 input channels .* but x has 3"):
        conv(w=np.ones((4, 2, 3, 3)))


def test_conv_stride_zero():
    with pytest.raises(ValueError, match=r"conv_param\['stride'\] must be >= 1, got 0"):
        conv(stride=0, pad=1)


def test_conv_negative_pad():
    with pytest.raises(ValueError, match=r"conv_param\['pad'\] must be >= 0, got -1"):
        conv(stride=1, pad=-1)


def test_conv_non_integer_stride():
    with pytest.raises(TypeError, match=r"conv_param\['stride'\] must be an integer, got 1.5"):
        conv(stride=1.5, pad=1)


def test_conv_float_valued_pad():
    with pytest.raises(TypeError, match=r"conv_param\['pad'\] must be an integer, got 1.0"):
        conv(stride=1, pad=1.0)


def test_conv_filter_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"filter 8x3 is larger than the padded input 7x7"):
        conv(w=np.ones((4, 3, 8, 3)), stride=1, pad=1)


def test_conv_bias_wrong_length():
    with pytest.raises(ValueError, match=r"b must have shape \(4,\), one bias per filter, got \(3,\)"):
        conv(b=np.ones(3))


def test_conv_x_wrong_dimensionality():
    with pytest.raises(ValueError, match=r"x must be 4-dimensional \(N, C, H, W\), got shape \(3, 5, 5\)"):
        conv(x=np.ones((3, 5, 5)))


def test_conv_w_wrong_dimensionality():
    with pytest.raises(ValueError, match=r"w must be 4-dimensional \(F, C, HH, WW\), got shape \(4, 3, 3\)"):
        conv(w=np.ones((4, 3, 3)))


def test_conv_param_not_a_dict():
    with pytest.raises(TypeError, match="conv_param must be a dict, got list"):
        conv_forward_naive(X4, W4, B4, [1, 1])


def test_conv_non_array_input():
    with pytest.raises(TypeError, match="w must be a numpy array, got list"):
        conv(w=W4.tolist())


def test_conv_backward_dout_wrong_shape():
    out, cache = conv(stride=1, pad=1)
    assert out.shape == (2, 4, 5, 5)
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 4, 5, 5\), got \(2, 4, 4, 4\)"):
        conv_backward_naive(np.ones((2, 4, 4, 4)), cache)


def test_conv_backward_bad_cache():
    with pytest.raises(TypeError, match="4-tuple returned by conv_forward_naive, got a tuple of length 3"):
        conv_backward_naive(np.ones((2, 4, 5, 5)), (X4, W4, B4))


# --- max pooling -----------------------------------------------------------------------------

def test_pool_window_larger_than_input():
    with pytest.raises(ValueError, match=r"pool window 6x2 is larger than the input 5x5"):
        max_pool_forward_naive(X4, {"pool_height": 6, "pool_width": 2, "stride": 1})


def test_pool_stride_zero():
    with pytest.raises(ValueError, match=r"pool_param\['stride'\] must be >= 1, got 0"):
        max_pool_forward_naive(X4, {"pool_height": 2, "pool_width": 2, "stride": 0})


def test_pool_non_integer_window():
    with pytest.raises(TypeError, match=r"pool_param\['pool_width'\] must be an integer, got 2.5"):
        max_pool_forward_naive(X4, {"pool_height": 2, "pool_width": 2.5, "stride": 2})


def test_pool_x_wrong_dimensionality():
    with pytest.raises(ValueError, match=r"x must be 4-dimensional \(N, C, H, W\), got shape \(5, 5\)"):
        max_pool_forward_naive(np.ones((5, 5)), POOL)


def test_pool_non_array_input():
    with pytest.raises(TypeError, match="x must be a numpy array, got tuple"):
        max_pool_forward_naive((1.0, 2.0), POOL)


def test_pool_backward_dout_wrong_shape():
    _, cache = max_pool_forward_naive(X4, POOL)
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 3, 2, 2\), got \(2, 3, 3, 3\)"):
        max_pool_backward_naive(np.ones((2, 3, 3, 3)), cache)


def test_pool_backward_non_array_dout():
    _, cache = max_pool_forward_naive(X4, POOL)
    with pytest.raises(TypeError, match="dout must be a numpy array, got list"):
        max_pool_backward_naive(np.ones((2, 3, 2, 2)).tolist(), cache)


# ---------------------------------------------------------------------------------------------
# Nothing the caller passes is modified
# ---------------------------------------------------------------------------------------------

def _assert_same(before, after):
    if isinstance(before, np.ndarray):
        assert after.dtype == before.dtype
        np.testing.assert_array_equal(after, before)
    elif isinstance(before, (tuple, list)):
        assert len(before) == len(after)
        for a, b in zip(before, after):
            _assert_same(a, b)
    elif isinstance(before, dict):
        assert before.keys() == after.keys()
        for key in before:
            _assert_same(before[key], after[key])
    else:
        assert before == after


def _call_and_check_unchanged(fn, *args):
    snapshot = copy.deepcopy(args)
    result = fn(*args)
    _assert_same(snapshot, args)
    return result


def _forward_cases():
    rng = np.random.default_rng(16)
    conv_in = (rng.normal(size=(2, 2, 5, 5)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3))
    return {
        "affine": (affine_forward, (rng.normal(size=(3, 2, 2)), rng.normal(size=(4, 5)), rng.normal(size=5))),
        "relu": (relu_forward, (rng.normal(size=(4, 5)),)),
        "dropout_train": (dropout_forward, (rng.normal(size=(4, 5)), {"mode": "train", "p": 0.5, "seed": 0})),
        "dropout_test": (dropout_forward, (rng.normal(size=(4, 5)), {"mode": "test", "p": 0.5})),
        "conv": (conv_forward_naive, conv_in + ({"stride": 2, "pad": 1},)),
        "max_pool": (max_pool_forward_naive,
                     (rng.normal(size=(2, 2, 5, 5)), {"pool_height": 3, "pool_width": 2, "stride": 1})),
    }


BACKWARD = {"affine": affine_backward, "relu": relu_backward, "dropout_train": dropout_backward,
            "dropout_test": dropout_backward, "conv": conv_backward_naive, "max_pool": max_pool_backward_naive}


@pytest.mark.parametrize("name", sorted(BACKWARD))
def test_forward_and_backward_leave_inputs_unchanged(name):
    forward, args = _forward_cases()[name]
    out, cache = _call_and_check_unchanged(forward, *args)
    dout = np.random.default_rng(17).normal(size=out.shape)
    _call_and_check_unchanged(BACKWARD[name], dout, cache)
    _assert_same(copy.deepcopy(args), args)  # the cache shares x, w, b: still untouched


def test_test_mode_dropout_output_is_not_the_input():
    x = np.ones((3, 3))
    out, cache = dropout_forward(x, {"mode": "test", "p": 0.5})
    out += 1.0  # a caller modifying the output in place must not reach x
    np.testing.assert_array_equal(x, 1.0)


@pytest.mark.parametrize("loss_fn", [svm_loss, softmax_loss])
def test_losses_leave_inputs_unchanged(loss_fn):
    x = np.random.default_rng(18).normal(size=(4, 3)) * 1e3
    _call_and_check_unchanged(loss_fn, x, np.array([0, 2, 1, 2]))


def test_integer_inputs_are_promoted_to_float64():
    out, _ = relu_forward(np.array([[-1, 2]]))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[0.0, 2.0]])


# --- what a student's region computed: checked by the given code after it -------------------------

def test_result_of_the_wrong_shape_names_the_function_and_the_fix():
    from cs231n._validate import result_array
    with pytest.raises(ValueError, match=r"affine_backward: db has shape \(1, 3\) but must have shape "
                                         r"\(3,\) \(drop the extra axis of length 1"):
        result_array(np.zeros((1, 3)), (3,), "db", "affine_backward")
    with pytest.raises(ValueError, match=r"relu_forward: out is None; the code between the START/END"):
        result_array(None, (2, 2), "out", "relu_forward")
    with pytest.raises(TypeError, match="must be a numpy array of shape"):
        result_array([1.0, 2.0], (2,), "dx", "relu_backward")
    got = result_array(np.ones(2), (2,), "dx", "relu_backward", np.float32)
    assert got.dtype == np.float32
