"""Tests of cs231n.fast_layers: the fast convolution and max-pool layers.

They must be drop-in twins of the naive layers in cs231n.layers: the same results (normwise
relative error < 1e-12 in float64) on many shapes, the same errors on bad input, the same tie rule
in max-pool backward; plus hand-computed cases, numerical gradients, dtype behaviour, thread
determinism, memory use and (when torch is installed) agreement with torch.nn.functional.
Speed is measured by benchmarks/bench_layers.py, not here.
"""

import os
import tracemalloc

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from cs231n import _fast_conv, _fast_pool, _threads
from cs231n.fast_layers import (
    conv_backward_fast, conv_forward_fast, max_pool_backward_fast, max_pool_forward_fast,
)
from cs231n.gradient_check import eval_numerical_gradient_array
from cs231n.layers import (
    conv_backward_naive, conv_forward_naive, max_pool_backward_naive, max_pool_forward_naive,
)


def rel_norm(a, b):
    """Normwise relative error ||a - b|| / ||b|| (0 when both are zero)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    diff, ref = np.linalg.norm(a - b), np.linalg.norm(b)
    return diff / ref if ref > 0 else diff


def conv_out_size(H, W, HH, WW, stride, pad):
    return 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride


def pool_out_size(H, W, ph, pw, stride):
    return 1 + (H - ph) // stride, 1 + (W - pw) // stride


# ---------------------------------------------------------------------------------------------
# Convolution: against the naive layer on many shapes
# ---------------------------------------------------------------------------------------------

CONV_CASES = [
    # x shape (N, C, H, W), w shape (F, C, HH, WW), stride, pad
    ((2, 3, 8, 8), (4, 3, 3, 3), 1, 1),      # the usual 3x3 "same" convolution
    ((2, 3, 7, 7), (4, 3, 3, 3), 2, 1),      # stride 2
    ((2, 3, 9, 9), (2, 3, 3, 3), 3, 0),      # stride = filter size
    ((2, 1, 10, 10), (2, 1, 2, 2), 4, 0),    # stride > filter: gaps between windows
    ((1, 2, 5, 5), (3, 2, 1, 1), 1, 0),      # 1x1 filters
    ((1, 2, 6, 5), (3, 2, 1, 1), 2, 1),      # 1x1 filters, stride 2, padded
    ((2, 3, 7, 9), (4, 3, 3, 2), 2, 1),      # non-square filter and input
    ((2, 2, 6, 11), (3, 2, 1, 4), 1, 0),     # wide filter
    ((2, 2, 11, 6), (3, 2, 4, 1), 1, 2),     # tall filter
    ((2, 2, 9, 7), (2, 2, 2, 5), 3, 1),      # non-square filter, stride 3
    ((3, 2, 5, 5), (2, 2, 5, 5), 1, 0),      # filter covers the whole input: 1x1 output
    ((2, 2, 3, 3), (2, 2, 5, 5), 1, 1),      # filter covers the whole padded input
    ((2, 2, 4, 4), (2, 2, 3, 3), 1, 3),      # padding larger than the filter
    ((2, 1, 3, 5), (2, 1, 2, 2), 2, 4),      # large padding, stride 2
    ((2, 3, 8, 8), (2, 3, 3, 3), 2, 0),      # floor: the last row/column is never reached
    ((2, 3, 10, 7), (2, 3, 4, 3), 3, 1),     # floor in both directions
    ((1, 3, 13, 13), (5, 3, 7, 7), 1, 3),    # 7x7 filters
    ((2, 3, 15, 15), (4, 3, 7, 7), 2, 3),    # 7x7 filters, stride 2
    ((2, 4, 6, 6), (8, 4, 3, 3), 1, 0),      # no padding
    ((1, 1, 1, 1), (1, 1, 1, 1), 1, 0),      # smallest possible
    ((1, 1, 1, 1), (1, 1, 3, 3), 1, 1),      # single pixel, padded
    ((1, 1, 2, 9), (1, 1, 2, 3), 2, 0),      # one output row
    ((1, 1, 9, 2), (1, 1, 3, 2), 2, 0),      # one output column
    ((5, 1, 6, 6), (1, 1, 3, 3), 1, 1),      # one input channel, one filter
    ((3, 16, 6, 6), (4, 16, 3, 3), 1, 1),    # many channels
    ((2, 3, 12, 12), (6, 3, 5, 5), 1, 2),    # 5x5 "same"
    ((2, 3, 12, 12), (6, 3, 5, 5), 4, 2),    # 5x5, stride 4
    ((2, 2, 8, 8), (3, 2, 4, 4), 2, 1),      # even filter
    ((2, 2, 8, 6), (3, 2, 4, 4), 3, 2),      # even filter, stride 3, floor
    ((1, 2, 16, 4), (2, 2, 3, 3), 2, 1),     # tall input
    ((1, 2, 4, 16), (2, 2, 3, 3), 2, 1),     # wide input
    ((4, 3, 32, 32), (8, 3, 3, 3), 1, 1),    # CIFAR-sized images
    ((9, 3, 9, 9), (3, 3, 3, 3), 1, 1),      # several chunks of images
    ((40, 8, 16, 16), (16, 8, 3, 3), 1, 1),  # big enough to run on worker threads
    ((12, 6, 20, 20), (8, 6, 5, 5), 2, 2),   # threads, stride 2
    ((2, 2, 1, 1), (3, 2, 5, 5), 1, 2),      # tiny image, big filter: col2im adds tap by tap
    ((2, 2, 3, 3), (2, 2, 7, 7), 2, 2),      # the same, stride 2
]
COL2IM_TAP_BY_TAP = CONV_CASES[-2:]


def conv_ids(case):
    x_shape, w_shape, stride, pad = case
    return f"x{'x'.join(map(str, x_shape))}-w{'x'.join(map(str, w_shape))}-s{stride}p{pad}"


@pytest.mark.parametrize("chunking", ["default", "by-size"])
@pytest.mark.parametrize("case", CONV_CASES, ids=[conv_ids(c) for c in CONV_CASES])
def test_conv_matches_naive(case, chunking, monkeypatch):
    if chunking == "by-size":  # no minimum of work per chunk: small images come in several chunks
        monkeypatch.setattr(_fast_conv, "CONV_MIN_CHUNK_WORK", 1)
    x_shape, w_shape, stride, pad = case
    rng = np.random.default_rng(sum(x_shape) + 7 * sum(w_shape) + stride + 3 * pad)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    conv_param = {"stride": stride, "pad": pad}
    out, cache = conv_forward_fast(x, w, b, conv_param)
    expected, naive_cache = conv_forward_naive(x, w, b, conv_param)
    H_out, W_out = conv_out_size(*x_shape[2:], *w_shape[2:], stride, pad)
    assert out.shape == (x_shape[0], w_shape[0], H_out, W_out)
    assert out.dtype == np.float64
    assert rel_norm(out, expected) < 1e-12

    dout = rng.standard_normal(out.shape)
    grads = conv_backward_fast(dout, cache)
    expected_grads = conv_backward_naive(dout, naive_cache)
    for name, grad, ref, shape in zip("dx dw db".split(), grads, expected_grads, (x_shape, w_shape, b.shape)):
        assert grad.shape == shape, name
        assert grad.dtype == np.float64, name
        assert rel_norm(grad, ref) < 1e-12, name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_col2im_one_sum_per_phase_equals_tap_by_tap(dtype, monkeypatch):
    # col2im sums each phase's taps in one np.sum over a strided view; the same adds, in the
    # same order, as one call per tap: the same bits, float32 included.
    for case in CONV_CASES:
        x_shape, w_shape, stride, pad = case
        rng = np.random.default_rng(sum(x_shape) + sum(w_shape))
        x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
        b = rng.standard_normal(w_shape[0]).astype(dtype)
        out, cache = conv_forward_fast(x, w, b, {"stride": stride, "pad": pad})
        dout = rng.standard_normal(out.shape).astype(dtype)
        one_sum = conv_backward_fast(dout, cache)[0]
        with monkeypatch.context() as patch:
            patch.setattr(_fast_conv.ConvWorkspace, "one_sum_col2im", False)
            tap_by_tap = conv_backward_fast(dout, cache)[0]
        np.testing.assert_array_equal(one_sum, tap_by_tap, err_msg=conv_ids(case))
    for x_shape, w_shape, stride, pad in CONV_CASES:  # both paths do run: every other case sums
        H_out, W_out = conv_out_size(*x_shape[2:], *w_shape[2:], stride, pad)
        plan = _fast_conv.ConvPlan(x_shape, w_shape, stride, pad, H_out, W_out)
        work = _fast_conv.ConvWorkspace(plan, 1, np.dtype(dtype), backward=True)
        tap_by_tap = (x_shape, w_shape, stride, pad) in COL2IM_TAP_BY_TAP
        assert (work.col2im_sums is None) == tap_by_tap, conv_ids((x_shape, w_shape, stride, pad))


@pytest.mark.parametrize("x_shape,w_shape", [((0, 3, 5, 5), (4, 3, 3, 3)), ((2, 0, 5, 5), (4, 0, 3, 3)),
                                             ((2, 3, 5, 5), (0, 3, 3, 3))], ids=["N=0", "C=0", "F=0"])
def test_conv_empty_dimensions(x_shape, w_shape):
    rng = np.random.default_rng(20)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    out, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    expected, naive_cache = conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})
    np.testing.assert_allclose(out, expected, rtol=0, atol=0)
    for got, ref in zip(conv_backward_fast(out, cache), conv_backward_naive(out, naive_cache)):
        assert got.shape == ref.shape
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("x_shape", [(0, 3, 4, 4), (2, 0, 4, 4)], ids=["N=0", "C=0"])
def test_max_pool_empty_dimensions(x_shape):
    x = np.ones(x_shape)
    out, cache = max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    assert out.shape == x_shape[:2] + (2, 2)
    assert max_pool_backward_fast(out, cache).shape == x_shape


def test_non_contiguous_inputs():
    rng = np.random.default_rng(21)
    x = rng.standard_normal((7, 6, 5, 3)).transpose(0, 3, 2, 1)[:, :, ::-1]  # (7, 3, 5, 6), odd strides
    w = np.asfortranarray(rng.standard_normal((4, 3, 3, 2)))
    b = rng.standard_normal(8)[::2]
    conv_param = {"stride": 2, "pad": 1}
    out, cache = conv_forward_fast(x, w, b, conv_param)
    expected, naive_cache = conv_forward_naive(x, w, b, conv_param)
    assert rel_norm(out, expected) < 1e-12
    dout = np.asfortranarray(rng.standard_normal(out.shape))
    for got, ref in zip(conv_backward_fast(dout, cache), conv_backward_naive(dout, naive_cache)):
        assert rel_norm(got, ref) < 1e-12
    pool_param = {"pool_height": 2, "pool_width": 3, "stride": 1}
    pooled, pool_cache = max_pool_forward_fast(x, pool_param)
    expected, naive_cache = max_pool_forward_naive(x, pool_param)
    np.testing.assert_array_equal(pooled, expected)
    dpooled = np.asfortranarray(rng.standard_normal(pooled.shape))
    assert rel_norm(max_pool_backward_fast(dpooled, pool_cache), max_pool_backward_naive(dpooled, naive_cache)) < 1e-12


def test_conv_identity_filter():
    # A filter with a single 1 at its centre and "same" padding copies every channel through.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 6))
    w = np.zeros((3, 3, 3, 3))
    for c in range(3):
        w[c, c, 1, 1] = 1.0
    b = np.array([0.0, 1.0, -2.0])
    out, _ = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    np.testing.assert_allclose(out, x + b[:, None, None], rtol=0, atol=1e-15)


def test_conv_box_filter_by_hand():
    # One channel of 0..15 on a 4x4 grid, a 2x2 box of ones, stride 2, no padding: each output
    # is the sum of a 2x2 block. dout of ones gives dx = 1 everywhere, dw = each tap's sum.
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.ones((1, 1, 2, 2))
    b = np.array([0.5])
    out, cache = conv_forward_fast(x, w, b, {"stride": 2, "pad": 0})
    np.testing.assert_array_equal(out, [[[[0 + 1 + 4 + 5 + 0.5, 2 + 3 + 6 + 7 + 0.5],
                                          [8 + 9 + 12 + 13 + 0.5, 10 + 11 + 14 + 15 + 0.5]]]])
    dx, dw, db = conv_backward_fast(np.ones((1, 1, 2, 2)), cache)
    np.testing.assert_array_equal(dx, np.ones((1, 1, 4, 4)))
    np.testing.assert_array_equal(dw, [[[[0 + 2 + 8 + 10, 1 + 3 + 9 + 11], [4 + 6 + 12 + 14, 5 + 7 + 13 + 15]]]])
    np.testing.assert_array_equal(db, [4.0])


def test_conv_padding_and_floor_by_hand():
    # 3x3 input of ones, 2x2 filter of ones, pad 1, stride 2: windows start at padded rows and
    # columns 0 and 2 (the padded input is 5x5, so H' = 1 + (5 - 2) // 2 = 2 and the last padded
    # row/column is never reached); each window holds 1, 2, 2 or 4 real ones.
    x = np.ones((1, 1, 3, 3))
    w = np.ones((1, 1, 2, 2))
    out, cache = conv_forward_fast(x, w, np.zeros(1), {"stride": 2, "pad": 1})
    np.testing.assert_array_equal(out, [[[[1, 2], [2, 4]]]])
    dx, _, _ = conv_backward_fast(np.ones((1, 1, 2, 2)), cache)
    np.testing.assert_array_equal(dx, np.ones((1, 1, 3, 3)))  # every input in exactly one window


@pytest.mark.parametrize("stride,pad", [(1, 1), (2, 1), (2, 0), (3, 2)])
def test_conv_numerical_gradient(stride, pad):
    rng = np.random.default_rng(stride * 10 + pad)
    x = rng.standard_normal((2, 2, 7, 6))
    w = rng.standard_normal((3, 2, 3, 2))
    b = rng.standard_normal(3)
    conv_param = {"stride": stride, "pad": pad}
    out, cache = conv_forward_fast(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv_backward_fast(dout, cache)
    num_dx = eval_numerical_gradient_array(lambda v: conv_forward_fast(v, w, b, conv_param)[0], x.copy(), dout)
    num_dw = eval_numerical_gradient_array(lambda v: conv_forward_fast(x, v, b, conv_param)[0], w.copy(), dout)
    num_db = eval_numerical_gradient_array(lambda v: conv_forward_fast(x, w, v, conv_param)[0], b.copy(), dout)
    assert rel_norm(dx, num_dx) < 1e-8
    assert rel_norm(dw, num_dw) < 1e-8
    assert rel_norm(db, num_db) < 1e-8


def test_conv_caches_are_interchangeable():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((3, 2, 6, 7)), rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4)
    conv_param = {"stride": 2, "pad": 1}
    out, fast_cache = conv_forward_fast(x, w, b, conv_param)
    _, naive_cache = conv_forward_naive(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape)
    for got, ref in zip(conv_backward_naive(dout, fast_cache), conv_backward_fast(dout, naive_cache)):
        assert rel_norm(got, ref) < 1e-12


def test_conv_need_dx_false_skips_dx_only():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((3, 2, 6, 7)), rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4)
    out, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv_backward_fast(dout, cache, need_dx=False)
    _, dw_ref, db_ref = conv_backward_fast(dout, cache)
    assert dx is None
    np.testing.assert_array_equal(dw, dw_ref)
    np.testing.assert_array_equal(db, db_ref)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("where", ["x-ignored", "x-read", "w"])
@pytest.mark.parametrize("value", [np.inf, np.nan])
def test_conv_nonfinite_values_stay_where_they_belong(where, value):
    # The fast layer computes junk columns that meet a zero gradient; an inf or nan in x or w must
    # not leak through them (0 * inf = nan) into results the naive layer keeps finite.
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 2, 8, 8)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    if where == "x-ignored":
        x[0, 1, 3, 7] = value  # 3x3 windows with stride 2 and no padding never reach column 7
    elif where == "x-read":
        x[1, 0, 3, 4] = value
    else:
        w[1, 0, 2, 2] = value
    conv_param = {"stride": 2, "pad": 0}
    out, cache = conv_forward_fast(x, w, b, conv_param)
    expected, naive_cache = conv_forward_naive(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape)
    results = (out,) + conv_backward_fast(dout, cache)
    references = (expected,) + conv_backward_naive(dout, naive_cache)
    for got, ref in zip(results, references):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(ref))
        finite = np.isfinite(ref)
        assert rel_norm(got[finite], ref[finite]) < 1e-12
    if where == "x-ignored":
        assert all(np.isfinite(r).all() for r in results[:1] + results[2:])
        assert np.isfinite(results[1]).all() if np.isfinite(value) else True


# ---------------------------------------------------------------------------------------------
# Max pooling: against the naive layer on many shapes, and the tie rule
# ---------------------------------------------------------------------------------------------

POOL_CASES = [
    # x shape (N, C, H, W), pool_height, pool_width, stride
    ((2, 3, 8, 8), 2, 2, 2),      # the usual 2x2/2, tiling
    ((2, 3, 9, 9), 2, 2, 2),      # non-tiling: the last row/column is ignored
    ((2, 3, 8, 8), 3, 3, 2),      # overlapping 3x3/2
    ((2, 3, 9, 9), 3, 3, 2),      # overlapping, tiling exactly
    ((2, 2, 7, 7), 3, 3, 1),      # stride 1: heavy overlap
    ((2, 2, 7, 9), 2, 3, 1),      # non-square window, stride 1
    ((2, 2, 10, 7), 3, 2, 2),     # non-square window and input
    ((2, 2, 9, 11), 4, 2, 3),     # tall window, stride 3
    ((2, 2, 11, 9), 1, 4, 2),     # wide window
    ((2, 2, 10, 10), 2, 2, 3),    # stride > window: gaps
    ((2, 2, 13, 13), 2, 3, 5),    # big gaps
    ((2, 2, 6, 6), 1, 1, 1),      # identity
    ((2, 2, 6, 6), 1, 1, 2),      # subsampling
    ((2, 2, 5, 7), 5, 7, 1),      # window = input: global max
    ((2, 2, 5, 7), 5, 7, 3),      # window = input, stride irrelevant
    ((2, 2, 6, 6), 4, 4, 4),      # 4x4/4
    ((2, 2, 7, 7), 4, 4, 4),      # 4x4/4, non-tiling
    ((2, 2, 8, 8), 5, 5, 2),      # 5x5 window, stride 2
    ((1, 1, 1, 1), 1, 1, 1),      # smallest possible
    ((1, 1, 2, 9), 2, 3, 2),      # one output row
    ((3, 1, 12, 5), 3, 3, 3),     # single channel
    ((2, 8, 16, 16), 2, 2, 2),    # more channels
    ((2, 3, 32, 32), 3, 3, 2),    # CIFAR-sized
    ((2, 2, 16, 16), 16, 16, 1),  # 256 entries per window (the first index dtype boundary)
    ((1, 1, 17, 17), 17, 17, 1),  # 289 entries: a wider index dtype
    ((9, 3, 6, 6), 2, 2, 2),      # several chunks of images
    ((40, 16, 16, 16), 2, 2, 2),  # big enough to run on worker threads
    ((40, 16, 17, 17), 3, 3, 2),  # threads, overlapping
    ((30, 16, 15, 15), 3, 2, 1),  # threads, stride 1
    ((8, 4, 31, 20), 3, 3, 3),    # odd sizes
]


def pool_ids(case):
    x_shape, ph, pw, stride = case
    return f"x{'x'.join(map(str, x_shape))}-{ph}x{pw}s{stride}"


def pool_input(kind, shape, rng):
    """Pool test inputs: distinct values, few integers (many ties), or all equal."""
    if kind == "random":
        return rng.standard_normal(shape)
    if kind == "ties":
        return rng.integers(0, 3, shape).astype(np.float64)
    return np.full(shape, 2.5)


def naive_pool_routes_like_fast():
    """True when max_pool_backward_naive routes a tied window's whole gradient to its first maximum
    and keeps an inf gradient off the other entries, as the fast layer does. In the student release
    the naive layer is the student's code, which may copy the gradient to every tied maximum
    instead (accepted, see its docstring); comparisons on ties then do not apply."""
    pool_param = {"pool_height": 1, "pool_width": 2, "stride": 1}
    _, tie_cache = max_pool_forward_naive(np.zeros((1, 1, 1, 2)), pool_param)
    _, inf_cache = max_pool_forward_naive(np.array([[[[0.0, 1.0]]]]), pool_param)
    with np.errstate(invalid="ignore"):
        ties = max_pool_backward_naive(np.ones((1, 1, 1, 1)), tie_cache)
        inf = max_pool_backward_naive(np.full((1, 1, 1, 1), np.inf), inf_cache)
    return np.array_equal(ties, [[[[1.0, 0.0]]]]) and np.array_equal(inf, [[[[0.0, np.inf]]]])


TIE_RULE = "the naive max pool copies ties (accepted; see max_pool_backward_naive)"


@pytest.mark.parametrize("kind", ["random", "ties", "constant"])
@pytest.mark.parametrize("case", POOL_CASES, ids=[pool_ids(c) for c in POOL_CASES])
def test_max_pool_matches_naive(case, kind):
    x_shape, ph, pw, stride = case
    if kind != "random" and not naive_pool_routes_like_fast():
        pytest.skip(TIE_RULE)
    rng = np.random.default_rng(sum(x_shape) + 10 * ph + 100 * pw + stride)
    x = pool_input(kind, x_shape, rng)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = max_pool_forward_fast(x, pool_param)
    expected, naive_cache = max_pool_forward_naive(x, pool_param)
    assert out.shape == x_shape[:2] + pool_out_size(*x_shape[2:], ph, pw, stride)
    np.testing.assert_array_equal(out, expected)
    dout = rng.standard_normal(out.shape)
    dx = max_pool_backward_fast(dout, cache)
    expected_dx = max_pool_backward_naive(dout, naive_cache)
    assert dx.shape == x_shape and dx.dtype == np.float64
    assert rel_norm(dx, expected_dx) < 1e-12
    np.testing.assert_allclose(dx.sum(), dout.sum())  # each window passes its gradient on once


def test_max_pool_ties_go_to_the_first_maximum_by_hand():
    # Every window is constant: the whole gradient goes to its top-left entry, nothing elsewhere.
    x = np.full((1, 1, 4, 4), 7.0)
    out, cache = max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), 7.0))
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    dx = max_pool_backward_fast(dout, cache)
    np.testing.assert_array_equal(dx[0, 0], [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]])


def test_max_pool_tie_order_is_row_major_by_hand():
    # Window [[1, 5], [5, 5]]: three equal maxima; row-major order picks (0, 1), not (1, 0).
    x = np.array([[[[1.0, 5.0], [5.0, 5.0]]]])
    out, cache = max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    dx = max_pool_backward_fast(np.array([[[[10.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 10], [0, 0]])


def test_max_pool_overlapping_ties_by_hand():
    # 3x3 windows, stride 1, on a constant 4x4 input: window (p, q) sends its gradient to its
    # first entry, input (p, q); nothing is copied to the other eight equal entries.
    x = np.zeros((1, 1, 4, 4))
    out, cache = max_pool_forward_fast(x, {"pool_height": 3, "pool_width": 3, "stride": 1})
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    dx = max_pool_backward_fast(dout, cache)
    expected = np.zeros((4, 4))
    expected[:2, :2] = dout[0, 0]
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_max_pool_overlap_sums_gradients_by_hand():
    # Row [0, 9, 0, 0, 0], windows of width 3 with stride 1: the 9 is the maximum of the first two
    # windows and collects both their gradients; window 3 is all zeros and picks its first entry.
    x = np.array([[[[0.0, 9.0, 0.0, 0.0, 0.0]]]])
    out, cache = max_pool_forward_fast(x, {"pool_height": 1, "pool_width": 3, "stride": 1})
    np.testing.assert_array_equal(out[0, 0], [[9, 9, 0]])
    dx = max_pool_backward_fast(np.array([[[[1.0, 10.0, 100.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 11, 100, 0, 0]])


def test_max_pool_nan_goes_to_the_first_nan():
    # np.argmax (and so the naive layer) treats nan as the maximum: the output is nan and the
    # gradient goes to the window's first nan.
    x = np.array([[[[1.0, np.nan, 3.0, 4.0], [np.nan, 2.0, 0.0, 1.0]]]])
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = max_pool_forward_fast(x, pool_param)
    np.testing.assert_array_equal(out[0, 0], [[np.nan, 4.0]])
    dx = max_pool_backward_fast(np.array([[[[5.0, 6.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 5, 0, 6], [0, 0, 0, 0]])
    if naive_pool_routes_like_fast():
        _, naive_cache = max_pool_forward_naive(x, pool_param)
        np.testing.assert_array_equal(dx, max_pool_backward_naive(np.array([[[[5.0, 6.0]]]]), naive_cache))


def test_max_pool_nonfinite_upstream_gradient():
    # inf in dout must reach the maximum only, not turn the other entries into nan (inf * 0).
    x = np.array([[[[1.0, 2.0], [3.0, 0.0]]]])
    out, cache = max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    dx = max_pool_backward_fast(np.array([[[[np.inf]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 0], [np.inf, 0]])


@pytest.mark.parametrize("window,stride", [(2, 2), (3, 2)])
def test_max_pool_nonfinite_upstream_gradient_across_chunks(window, stride, monkeypatch):
    monkeypatch.setattr(_fast_pool, "POOL_CHUNK_VALUES", 1)  # one image per chunk
    if not naive_pool_routes_like_fast():
        pytest.skip(TIE_RULE)
    rng = np.random.default_rng(19)
    x = rng.standard_normal((4, 2, 7, 7))
    pool_param = {"pool_height": window, "pool_width": window, "stride": stride}
    out, cache = max_pool_forward_fast(x, pool_param)
    _, naive_cache = max_pool_forward_naive(x, pool_param)
    dout = rng.standard_normal(out.shape)
    dout[0, 1, 0, 1], dout[2, 0, 1, 1], dout[3, 1, 2, 0] = np.inf, -np.inf, np.nan
    for first_pass in (True, False):  # and again, with the chunk buffers of the first pass
        dx = max_pool_backward_fast(dout, cache)
        np.testing.assert_array_equal(dx, max_pool_backward_naive(dout, naive_cache))
        dout[~np.isfinite(dout)] = 1.0


def test_max_pool_numerical_gradient():
    rng = np.random.default_rng(4)
    x = rng.permutation(2 * 2 * 7 * 7).reshape(2, 2, 7, 7) / 10.0  # distinct: no ties, no kinks
    pool_param = {"pool_height": 3, "pool_width": 2, "stride": 2}
    out, cache = max_pool_forward_fast(x, pool_param)
    dout = rng.standard_normal(out.shape)
    num_dx = eval_numerical_gradient_array(lambda v: max_pool_forward_fast(v, pool_param)[0], x.copy(), dout)
    assert rel_norm(max_pool_backward_fast(dout, cache), num_dx) < 1e-8


# ---------------------------------------------------------------------------------------------
# dtypes
# ---------------------------------------------------------------------------------------------

def conv_inputs(dtype, rng, x_shape=(6, 8, 12, 12), w_shape=(16, 8, 3, 3)):
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    dout = rng.standard_normal((x_shape[0], w_shape[0]) + x_shape[2:]).astype(dtype)  # stride 1, "same"
    return x, w, b, dout


def conv_run(x, w, b, dout):
    out, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": w.shape[2] // 2})
    return (out,) + conv_backward_fast(dout, cache)


def pool_inputs(dtype, rng, x_shape=(6, 8, 12, 12)):
    x = rng.standard_normal(x_shape).astype(dtype)
    dout = rng.standard_normal(x_shape[:2] + pool_out_size(*x_shape[2:], 3, 3, 2)).astype(dtype)
    return x, dout


def pool_run(x, dout):
    out, cache = max_pool_forward_fast(x, {"pool_height": 3, "pool_width": 3, "stride": 2})
    return out, max_pool_backward_fast(dout, cache)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_dtype_preserved(dtype):
    rng = np.random.default_rng(5)
    results = conv_run(*conv_inputs(dtype, rng, (2, 3, 6, 6), (4, 3, 3, 3)))
    results += pool_run(*pool_inputs(dtype, rng, (2, 3, 6, 6)))
    for result in results:
        assert result.dtype == dtype


def test_float32_arithmetic_is_float32():
    # Computed in float64 and rounded, a float32 result would equal the rounded float64 result
    # almost everywhere. Real float32 arithmetic rounds at every step, so many entries differ
    # (by a few float32 ulps).
    inputs = conv_inputs(np.float32, np.random.default_rng(6))
    for got, ref in zip(conv_run(*inputs), conv_run(*(a.astype(np.float64) for a in inputs))):
        assert got.dtype == np.float32
        assert np.mean(got != ref.astype(np.float32)) > 0.05
        assert rel_norm(got, ref) < 1e-5


def peak_bytes(run):
    """Peak memory numpy allocates while ``run()`` runs (tracemalloc sees numpy's buffers)."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("layer", ["conv", "pool"])
def test_float32_work_buffers_are_float32(layer, monkeypatch):
    # Every float buffer and result of a float32 run is half the size of the float64 run's (only
    # the few boolean / uint8 masks are not), so the peaks compare as ~0.52-0.54; one float64
    # work buffer in the float32 run would push the ratio past 0.6. (One chunk of images for both
    # dtypes, so that their chunking is the same: conv chunks are set in bytes.)
    monkeypatch.setattr(_fast_conv, "CONV_CHUNK_BYTES", 1 << 30)
    monkeypatch.setattr(_fast_pool, "POOL_CHUNK_VALUES", 1 << 30)
    make, run = (conv_inputs, conv_run) if layer == "conv" else (pool_inputs, pool_run)
    peaks = {}
    for dtype in (np.float32, np.float64):
        inputs = make(dtype, np.random.default_rng(7))
        peaks[dtype] = peak_bytes(lambda: run(*inputs))
    assert peaks[np.float32] < 0.56 * peaks[np.float64]


def test_conv_mixed_dtypes_promote():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3))  # float64
    b = rng.standard_normal(4).astype(np.float32)
    conv_param = {"stride": 1, "pad": 1}
    out, cache = conv_forward_fast(x, w, b, conv_param)
    assert out.dtype == np.result_type(x, w, b) == np.float64
    expected, naive_cache = conv_forward_naive(x, w, b, conv_param)
    assert rel_norm(out, expected) < 1e-12
    dout = rng.standard_normal(out.shape)  # float64, as out
    for got, ref in zip(conv_backward_fast(dout, cache), conv_backward_naive(dout, naive_cache)):
        assert got.dtype == np.float64
        assert rel_norm(got, ref) < 1e-12
    # dx and dw in result_type(x, w, dout); db, a sum of dout, in dout's dtype (as the naive layer)
    dx, dw, db = conv_backward_fast(dout.astype(np.float32), cache)
    naive_grads = conv_backward_naive(dout.astype(np.float32), naive_cache)
    assert (dx.dtype, dw.dtype, db.dtype) == (np.float64, np.float64, np.float32)
    assert [g.dtype for g in naive_grads] == [dx.dtype, dw.dtype, db.dtype]
    _, _, db32 = conv_backward_fast(dout, conv_forward_fast(x, w.astype(np.float32), b, conv_param)[1])
    assert db32.dtype == np.float64


def test_max_pool_mixed_dtypes_promote():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    out, cache = max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    assert out.dtype == np.float32
    dx = max_pool_backward_fast(rng.standard_normal(out.shape), cache)  # float64 dout
    assert dx.dtype == np.float64


def test_integer_inputs_count_as_float64():
    x = np.arange(2 * 1 * 4 * 4).reshape(2, 1, 4, 4)
    w = np.ones((1, 1, 2, 2), dtype=np.int32)
    out, cache = conv_forward_fast(x, w, np.zeros(1, dtype=np.int64), {"stride": 2, "pad": 0})
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, conv_forward_naive(x, w, np.zeros(1, dtype=np.int64),
                                                          {"stride": 2, "pad": 0})[0])
    pooled, _ = max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    assert pooled.dtype == np.float64


# ---------------------------------------------------------------------------------------------
# Inputs untouched, threads, memory
# ---------------------------------------------------------------------------------------------

def test_inputs_are_never_modified():
    rng = np.random.default_rng(10)
    x, w, b = rng.standard_normal((12, 6, 20, 20)), rng.standard_normal((8, 6, 5, 5)), rng.standard_normal(8)
    conv_param = {"stride": 2, "pad": 2}
    pool_param = {"pool_height": 3, "pool_width": 3, "stride": 2}
    for a in (x, w, b):
        a.setflags(write=False)  # any write raises
    params = [dict(conv_param), dict(pool_param)]
    out, cache = conv_forward_fast(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape)
    dout.setflags(write=False)
    conv_backward_fast(dout, cache)
    pooled, pool_cache = max_pool_forward_fast(x, pool_param)
    dpooled = rng.standard_normal(pooled.shape)
    dpooled.setflags(write=False)
    max_pool_backward_fast(dpooled, pool_cache)
    assert [conv_param, pool_param] == params


def test_threads_do_not_change_results():
    rng = np.random.default_rng(11)
    x, w, b = rng.standard_normal((40, 8, 16, 16)), rng.standard_normal((16, 8, 3, 3)), rng.standard_normal(16)
    conv_param = {"stride": 1, "pad": 1}
    pool_param = {"pool_height": 3, "pool_width": 3, "stride": 2}

    def run():
        out, cache = conv_forward_fast(x, w, b, conv_param)
        pooled, pool_cache = max_pool_forward_fast(out, pool_param)
        dpooled = np.ones_like(pooled)
        return (pooled, max_pool_backward_fast(dpooled, pool_cache)) + conv_backward_fast(out, cache)

    with threadpool_limits(limits=2, user_api="blas"):
        if _threads.blas_controller().lib_controllers:  # threadpoolctl sees numpy's BLAS
            cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
            assert _threads.num_lanes(8, True) == min(2, cpus)
        first, second = run(), run()
    with threadpool_limits(limits=1, user_api="blas"):
        assert _threads.num_lanes(8, True) == 1
        single = run()
    for a, b_, c in zip(first, second, single):
        np.testing.assert_array_equal(a, b_)  # reproducible run to run
        assert rel_norm(a, c) < 1e-13  # same values in one thread (sums may group differently)


@pytest.mark.parametrize("x_shape,w_shape,stride,pad,bound", [
    ((128, 16, 16, 16), (16, 16, 3, 3), 1, 1, 0.5),  # the workspace: a few chunks, whatever N
    ((100, 3, 31, 31), (25, 3, 3, 3), 2, 1, 1.0),    # small images: bigger chunks, still below
])
def test_conv_never_builds_the_whole_im2col_matrix(x_shape, w_shape, stride, pad, bound):
    rng = np.random.default_rng(12)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    conv_param = {"stride": stride, "pad": pad}
    dout = rng.standard_normal(conv_forward_fast(x, w, b, conv_param)[0].shape)

    def run():
        _, cache = conv_forward_fast(x, w, b, conv_param)
        conv_backward_fast(dout, cache)

    im2col_bytes = x.shape[0] * x.shape[1] * w.shape[2] * w.shape[3] * dout.shape[2] * dout.shape[3] * 8
    results_bytes = (dout.size + x.size + w.size + w.shape[0]) * 8  # out, dx, dw, db
    assert peak_bytes(run) - results_bytes < bound * im2col_bytes


# ---------------------------------------------------------------------------------------------
# Bad input: the same errors as the naive layers, one test per case
# ---------------------------------------------------------------------------------------------

def _conv_args():
    rng = np.random.default_rng(13)
    return rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)


BAD_CONV_FORWARD = {
    "x-not-array": lambda x, w, b: ([[1.0]], w, b, {"stride": 1, "pad": 1}),
    "x-3d": lambda x, w, b: (x[0], w, b, {"stride": 1, "pad": 1}),
    "x-complex": lambda x, w, b: (x.astype(complex), w, b, {"stride": 1, "pad": 1}),
    "w-channels": lambda x, w, b: (x, w[:, :2], b, {"stride": 1, "pad": 1}),
    "w-3d": lambda x, w, b: (x, w[0], b, {"stride": 1, "pad": 1}),
    "b-shape": lambda x, w, b: (x, w, b[:3], {"stride": 1, "pad": 1}),
    "stride-zero": lambda x, w, b: (x, w, b, {"stride": 0, "pad": 1}),
    "stride-float": lambda x, w, b: (x, w, b, {"stride": 1.0, "pad": 1}),
    "pad-negative": lambda x, w, b: (x, w, b, {"stride": 1, "pad": -1}),
    "pad-bool": lambda x, w, b: (x, w, b, {"stride": 1, "pad": True}),
    "filter-too-big": lambda x, w, b: (x, np.ones((4, 3, 7, 7)), b, {"stride": 1, "pad": 0}),
    "param-not-dict": lambda x, w, b: (x, w, b, [1, 1]),
}


@pytest.mark.parametrize("name", list(BAD_CONV_FORWARD))
def test_conv_forward_bad_input(name):
    args = BAD_CONV_FORWARD[name](*_conv_args())
    with pytest.raises((TypeError, ValueError)) as naive_error:
        conv_forward_naive(*args)
    with pytest.raises(naive_error.type) as fast_error:
        conv_forward_fast(*args)
    assert str(fast_error.value) == str(naive_error.value)


def _conv_cache():
    x, w, b = _conv_args()
    return conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})


BAD_CONV_BACKWARD = {
    "dout-shape": lambda out, cache: (out[:, :2], cache),
    "dout-not-array": lambda out, cache: (out.tolist(), cache),
    "cache-short": lambda out, cache: (out, cache[:3]),
    "cache-not-tuple": lambda out, cache: (out, list(cache)),
}


@pytest.mark.parametrize("name", list(BAD_CONV_BACKWARD))
def test_conv_backward_bad_input(name):
    out, cache = _conv_cache()
    args = BAD_CONV_BACKWARD[name](out, cache)
    with pytest.raises((TypeError, ValueError)) as naive_error:
        conv_backward_naive(*args)
    with pytest.raises(naive_error.type) as fast_error:
        conv_backward_fast(*args)
    assert str(fast_error.value) == str(naive_error.value).replace("conv_forward_naive", "conv_forward_fast")


def test_conv_backward_bad_need_dx():
    out, cache = _conv_cache()
    with pytest.raises(TypeError, match="need_dx"):
        conv_backward_fast(out, cache, need_dx="no")


BAD_POOL_FORWARD = {
    "x-not-array": lambda x: ("x", {"pool_height": 2, "pool_width": 2, "stride": 2}),
    "x-3d": lambda x: (x[0], {"pool_height": 2, "pool_width": 2, "stride": 2}),
    "x-object": lambda x: (x.astype(object), {"pool_height": 2, "pool_width": 2, "stride": 2}),
    "window-too-tall": lambda x: (x, {"pool_height": 6, "pool_width": 2, "stride": 2}),
    "window-too-wide": lambda x: (x, {"pool_height": 2, "pool_width": 6, "stride": 2}),
    "stride-zero": lambda x: (x, {"pool_height": 2, "pool_width": 2, "stride": 0}),
    "height-float": lambda x: (x, {"pool_height": 2.0, "pool_width": 2, "stride": 2}),
    "width-zero": lambda x: (x, {"pool_height": 2, "pool_width": 0, "stride": 2}),
    "param-not-dict": lambda x: (x, (2, 2, 2)),
}


@pytest.mark.parametrize("name", list(BAD_POOL_FORWARD))
def test_max_pool_forward_bad_input(name):
    args = BAD_POOL_FORWARD[name](np.random.default_rng(14).standard_normal((2, 3, 5, 5)))
    with pytest.raises((TypeError, ValueError)) as naive_error:
        max_pool_forward_naive(*args)
    with pytest.raises(naive_error.type) as fast_error:
        max_pool_forward_fast(*args)
    assert str(fast_error.value) == str(naive_error.value)


def test_max_pool_backward_bad_dout_shape():
    x = np.random.default_rng(15).standard_normal((2, 3, 6, 6))
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = max_pool_forward_fast(x, pool_param)
    _, naive_cache = max_pool_forward_naive(x, pool_param)
    with pytest.raises(ValueError) as naive_error:
        max_pool_backward_naive(out[:, :, :2], naive_cache)
    with pytest.raises(ValueError) as fast_error:
        max_pool_backward_fast(out[:, :, :2], cache)
    assert str(fast_error.value) == str(naive_error.value)


@pytest.mark.parametrize("cache", ["naive-cache", "not-tuple", "bad-index"])
def test_max_pool_backward_bad_cache(cache):
    x = np.random.default_rng(16).standard_normal((2, 3, 6, 6))
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, fast_cache = max_pool_forward_fast(x, pool_param)
    bad = {"naive-cache": max_pool_forward_naive(x, pool_param)[1],
           "not-tuple": list(fast_cache),
           "bad-index": fast_cache[:2] + (fast_cache[2].astype(np.int64),)}[cache]
    with pytest.raises(TypeError, match="max_pool_forward_fast"):
        max_pool_backward_fast(out, bad)


# ---------------------------------------------------------------------------------------------
# Against PyTorch (skipped without torch; torch is not a project dependency)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", [CONV_CASES[i] for i in (0, 1, 6, 9, 13, 17, 28)],
                         ids=[conv_ids(CONV_CASES[i]) for i in (0, 1, 6, 9, 13, 17, 28)])
def test_conv_matches_torch(case):
    torch = pytest.importorskip("torch")
    x_shape, w_shape, stride, pad = case
    rng = np.random.default_rng(17)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    out, cache = conv_forward_fast(x, w, b, {"stride": stride, "pad": pad})
    dout = rng.standard_normal(out.shape)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    t_out = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=pad)
    t_out.backward(torch.tensor(dout))
    assert rel_norm(out, t_out.detach().numpy()) < 1e-12
    for got, t in zip(conv_backward_fast(dout, cache), (tx, tw, tb)):
        assert rel_norm(got, t.grad.numpy()) < 1e-12


@pytest.mark.parametrize("kind", ["random", "ties", "constant"])
@pytest.mark.parametrize("case", [POOL_CASES[i] for i in (0, 1, 2, 4, 7, 9, 17)],
                         ids=[pool_ids(POOL_CASES[i]) for i in (0, 1, 2, 4, 7, 9, 17)])
def test_max_pool_matches_torch(case, kind):
    torch = pytest.importorskip("torch")
    x_shape, ph, pw, stride = case
    rng = np.random.default_rng(18)
    x = pool_input(kind, x_shape, rng)
    out, cache = max_pool_forward_fast(x, {"pool_height": ph, "pool_width": pw, "stride": stride})
    dout = rng.standard_normal(out.shape)
    tx = torch.tensor(x, requires_grad=True)
    t_out = torch.nn.functional.max_pool2d(tx, (ph, pw), stride)
    t_out.backward(torch.tensor(dout))
    np.testing.assert_array_equal(out, t_out.detach().numpy())
    assert rel_norm(max_pool_backward_fast(dout, cache), tx.grad.numpy()) < 1e-12
