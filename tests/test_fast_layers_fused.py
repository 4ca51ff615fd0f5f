"""Tests of what makes the fast layers fast without changing what they compute.

- The fused convolution + max pool (``conv_pool_forward_fast`` / ``conv_pool_backward_fast``, used
  by the sandwich layer ``conv_relu_pool_forward``) equals the two layers run one after the
  other, and its gradients equal numerical gradients in float64.
- The execution plans (worker threads, or one thread driving BLAS's threads) give identical
  results, and the plan cache keeps one plan per kind of call.
- Huge strides are planned as the padded input's size: same results as the naive layers, and
  neither time nor memory grows with the stride (issue 15: stride 3000 took 4.5 s, a max-pool
  stride of 1e6 asked for 43.7 TiB).
"""

import tracemalloc

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from cs231n import _fast_conv, _fast_pool, _threads
from cs231n.fast_layers import (
    conv_backward_fast, conv_forward_fast, conv_pool_backward_fast, conv_pool_forward_fast,
    max_pool_backward_fast, max_pool_forward_fast,
)
from cs231n.gradient_check import eval_numerical_gradient_array
from cs231n.layers import (
    conv_backward_naive, conv_forward_naive, max_pool_backward_naive, max_pool_forward_naive,
)


def rel_norm(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    diff, ref = np.linalg.norm(a - b), np.linalg.norm(b)
    return diff / ref if ref > 0 else diff


def unfused(x, w, b, conv_param, pool_param, dout, need_dx=True):
    """The two fast layers one after the other: out, first_max, (dx, dw, db)."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, pool_cache = max_pool_forward_fast(a, pool_param)
    da = max_pool_backward_fast(dout, pool_cache)
    return out, pool_cache[2], conv_backward_fast(da, conv_cache, need_dx=need_dx)


def fused(x, w, b, conv_param, pool_param, dout, need_dx=True):
    out, cache = conv_pool_forward_fast(x, w, b, conv_param, pool_param)
    return out, cache[2], conv_pool_backward_fast(dout, cache, need_dx=need_dx)


FUSED_CASES = [
    # x shape, w shape, conv (stride, pad), pool (height, width, stride)
    ((4, 3, 8, 8), (5, 3, 3, 3), (1, 1), (2, 2, 2)),        # the ThreeLayerConvNet pattern
    ((3, 3, 12, 12), (4, 3, 7, 7), (1, 3), (2, 2, 2)),      # 7x7 filters
    ((3, 2, 9, 9), (4, 2, 3, 3), (1, 1), (3, 3, 2)),        # overlapping pool windows
    ((2, 2, 11, 10), (3, 2, 3, 2), (2, 1), (2, 3, 1)),      # strided conv, stride-1 pool
    ((2, 2, 13, 13), (3, 2, 3, 3), (1, 0), (2, 2, 4)),      # pool stride > window: gaps
    ((2, 1, 9, 9), (2, 1, 2, 2), (3, 1), (1, 1, 1)),        # conv stride > filter; 1x1 pool
    ((9, 2, 8, 8), (3, 2, 3, 3), (1, 1), (2, 2, 2)),        # several chunks (see the monkeypatch)
    ((40, 8, 16, 16), (16, 8, 3, 3), (1, 1), (2, 2, 2)),    # big enough for several lanes
]


def fused_ids(case):
    x_shape, w_shape, (s, p), (ph, pw, ps) = case
    return f"x{'x'.join(map(str, x_shape))}-w{w_shape[0]}x{w_shape[2]}x{w_shape[3]}s{s}p{p}-pool{ph}x{pw}s{ps}"


@pytest.mark.parametrize("group_bytes", [1, 1 << 13, _fast_conv.CONV_GROUP_BYTES],
                         ids=["one-chunk-groups", "small-groups", "default-groups"])
@pytest.mark.parametrize("kind", ["random", "ties"])
@pytest.mark.parametrize("case", FUSED_CASES, ids=[fused_ids(c) for c in FUSED_CASES])
def test_fused_conv_pool_equals_the_two_layers(case, kind, group_bytes, monkeypatch):
    monkeypatch.setattr(_fast_conv, "CONV_CHUNK_BYTES", 1 << 12)  # several chunks per call
    monkeypatch.setattr(_fast_conv, "CONV_MIN_CHUNK_WORK", 1)
    monkeypatch.setattr(_fast_conv, "CONV_GROUP_BYTES", group_bytes)  # images per group (pooled at once, dw summed alike)
    x_shape, w_shape, (s, p), (ph, pw, ps) = case
    rng = np.random.default_rng(sum(x_shape) + sum(w_shape) + s + ph * ps)
    x = rng.standard_normal(x_shape)
    w, b = rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    if kind == "ties":  # integer-valued outputs: many tied maxima in the pool windows
        x, w, b = np.round(x), np.round(w), np.round(b)
    conv_param, pool_param = {"stride": s, "pad": p}, {"pool_height": ph, "pool_width": pw, "stride": ps}
    a, _ = conv_forward_naive(x, w, b, conv_param)
    dout = rng.standard_normal(max_pool_forward_naive(a, pool_param)[0].shape)
    ref_out, ref_index, ref_grads = unfused(x, w, b, conv_param, pool_param, dout)
    out, index, grads = fused(x, w, b, conv_param, pool_param, dout)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(index[:, :, :out.shape[2], :out.shape[3]],  # the rest is junk
                                  ref_index[:, :, :out.shape[2], :out.shape[3]])
    np.testing.assert_array_equal(grads[0], ref_grads[0])  # dx: the same arithmetic
    np.testing.assert_array_equal(grads[1], ref_grads[1])  # dw: the same sums in the same order
    np.testing.assert_allclose(grads[2], ref_grads[2], rtol=1e-12, atol=1e-12)  # db: sums dout
    # and both equal the naive layers
    pooled, pool_cache = max_pool_forward_naive(a, pool_param)
    np.testing.assert_allclose(out, pooled, rtol=1e-12, atol=1e-12)
    naive = conv_backward_naive(max_pool_backward_naive(dout, pool_cache), conv_forward_naive(x, w, b, conv_param)[1])
    for got, ref in zip(grads, naive):
        assert rel_norm(got, ref) < 1e-12


def test_fused_need_dx_false_and_dtypes():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 2, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    conv_param, pool_param = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    dout = rng.standard_normal((3, 4, 4, 4)).astype(np.float32)
    for b in (rng.standard_normal(4).astype(np.float32), rng.standard_normal(4)):  # float64 b promotes
        out, index, grads = fused(x, w, b, conv_param, pool_param, dout)
        ref_out, _, ref_grads = unfused(x, w, b, conv_param, pool_param, dout)
        assert out.dtype == ref_out.dtype
        assert [g.dtype for g in grads] == [g.dtype for g in ref_grads]
        _, _, partial = fused(x, w, b, conv_param, pool_param, dout, need_dx=False)
        assert partial[0] is None
        np.testing.assert_array_equal(partial[1], grads[1])
        np.testing.assert_array_equal(partial[2], grads[2])


def test_fused_numerical_gradient():
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    conv_param, pool_param = {"stride": 1, "pad": 1}, {"pool_height": 3, "pool_width": 3, "stride": 2}
    dout = rng.standard_normal((2, 4, 3, 3))
    _, cache = conv_pool_forward_fast(x, w, b, conv_param, pool_param)
    dx, dw, db = conv_pool_backward_fast(dout, cache)
    for analytic, arg in ((dx, x), (dw, w), (db, b)):
        numeric = eval_numerical_gradient_array(
            lambda _: conv_pool_forward_fast(x, w, b, conv_param, pool_param)[0], arg, dout)
        assert rel_norm(analytic, numeric) < 1e-8


def test_fused_errors_match_the_layers():
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    big_pool = {"pool_height": 4, "pool_width": 4, "stride": 1}  # the conv output is 3x3
    with pytest.raises(ValueError, match="larger than the input 3x3"):
        conv_pool_forward_fast(x, w, b, {"stride": 1, "pad": 0}, big_pool)
    with pytest.raises(ValueError, match="input channels"):
        conv_pool_forward_fast(x, w[:, :2], b, {"stride": 1, "pad": 0}, big_pool)
    with pytest.raises(ValueError, match="missing the required key 'pool_width'"):
        conv_pool_forward_fast(x, w, b, {"stride": 1, "pad": 0}, {"pool_height": 2, "stride": 2})
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = conv_pool_forward_fast(x, w, b, {"stride": 1, "pad": 1}, pool_param)
    with pytest.raises(ValueError, match="dout"):
        conv_pool_backward_fast(np.ones((2, 4, 3, 3)), cache)
    with pytest.raises(TypeError, match="cache"):
        conv_pool_backward_fast(np.ones_like(out), cache[:2])
    with pytest.raises(TypeError, match="cache"):  # a max_pool_forward_fast cache is not this one
        conv_pool_backward_fast(np.ones_like(out), (cache[0], cache[1], cache[2][:, :, :1]))
    with pytest.raises(TypeError, match="need_dx"):
        conv_pool_backward_fast(np.ones_like(out), cache, need_dx=1)


def test_fused_never_stores_the_convolution_output():
    rng = np.random.default_rng(6)
    N, C, H, F = 256, 8, 16, 32  # the workspace is a few groups of images, whatever N
    x, w, b = rng.standard_normal((N, C, H, H)), rng.standard_normal((F, C, 3, 3)), rng.standard_normal(F)
    dout = rng.standard_normal((N, F, H // 2, H // 2))
    conv_param, pool_param = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}

    def run():
        _, cache = conv_pool_forward_fast(x, w, b, conv_param, pool_param)
        conv_pool_backward_fast(dout, cache)

    tracemalloc.start()
    try:
        run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    conv_output = N * F * H * H * 8
    results = (dout.size + x.size + w.size + F) * 8 + dout.size  # out, dx, dw, db, first_max
    assert peak - results < 0.5 * conv_output


# ---------------------------------------------------------------------------------------------
# Execution plans
# ---------------------------------------------------------------------------------------------

def _needs_lanes():
    with threadpool_limits(limits=2, user_api="blas"):
        if _threads.num_lanes(8, True) < 2:
            pytest.skip("one CPU or no BLAS threadpoolctl can control: a single lane, no plans")


def _all_layers(rng):
    x, w, b = rng.standard_normal((40, 8, 16, 16)), rng.standard_normal((16, 8, 3, 3)), rng.standard_normal(16)
    conv_param, pool_param = {"stride": 1, "pad": 1}, {"pool_height": 3, "pool_width": 3, "stride": 2}
    dout = rng.standard_normal((40, 16, 7, 7))

    def run():
        out, cache = conv_forward_fast(x, w, b, conv_param)
        pooled, pool_cache = max_pool_forward_fast(out, pool_param)
        results = [out, pooled, max_pool_backward_fast(dout, pool_cache)]
        results += conv_backward_fast(out, cache)
        results += conv_backward_fast(out, cache, need_dx=False)[1:]
        fused_out, fused_cache = conv_pool_forward_fast(x, w, b, conv_param, pool_param)
        return results + [fused_out] + list(conv_pool_backward_fast(dout, fused_cache))

    return run


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_plan_gives_the_same_results_at_small_sizes(dtype):
    _needs_lanes()
    run = _all_layers(np.random.default_rng(7))
    results = {}
    with threadpool_limits(limits=2, user_api="blas"):
        for plan in _threads.PLANS:
            with _threads.force_plan(plan):
                results[plan] = run()
        results["chosen"] = run()
    for name in _threads.PLANS[1:] + ("chosen",):
        for got, ref in zip(results[name], results[_threads.PLANS[0]]):
            np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("fake_times,trials,winner", [
    ({"workers": 2.0, "blas": 1.0}, _threads.TRIALS, "blas"),  # close: every trial runs
    ({"workers": 1.0, "blas": 30.0}, 1, "workers"),  # a clear loss ends the trials at once
])
def test_the_plan_cache_keeps_the_faster_plan_per_key(monkeypatch, fake_times, trials, winner):
    _needs_lanes()
    _threads.clear_plans()
    clock = {"now": 0.0, "plan": None}
    real_next_plan = _threads._next_plan

    def next_plan(key):
        plan, trying = real_next_plan(key)
        clock["plan"] = plan
        return plan, trying

    def perf_counter():  # each call "takes" the fake time of the plan it runs
        clock["now"] += fake_times[clock["plan"]] / 2 if clock["plan"] else 0.0
        return clock["now"]

    monkeypatch.setattr(_threads, "_next_plan", next_plan)
    monkeypatch.setattr(_threads.time, "perf_counter", perf_counter)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((128, 16, 16, 16))  # two chunks of 2**18 values: two lanes
    key = ("pool forward", x.shape, 2, 2, 2, x.dtype.str, 2)
    tried = []
    with threadpool_limits(limits=2, user_api="blas"), _threads.adaptive_plans():
        for _ in range(2 * trials):
            assert _threads.chosen_plan(key) is None
            max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
            tried.append(clock["plan"])
        assert tried == list(_threads.PLANS) * trials  # alternately
        assert _threads.chosen_plan(key) == winner
        max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
        assert clock["plan"] == winner
    _threads.clear_plans()
    assert _threads.chosen_plan(key) is None


def test_the_default_plan_does_not_depend_on_timing(monkeypatch):
    """OpenBLAS rounds float32 products of these sizes differently on 1 and 2 threads, so a plan
    picked by timing would make a seeded training run differ from run to run."""
    _needs_lanes()
    _threads.clear_plans()
    clock = {"now": 0.0}

    def perf_counter():  # every call looks slower than the one before: timing would switch plans
        clock["now"] += clock["now"] + 1.0
        return clock["now"]

    monkeypatch.setattr(_threads.time, "perf_counter", perf_counter)
    rng = np.random.default_rng(10)
    x = rng.standard_normal((50, 3, 32, 32)).astype(np.float32)
    w, b = rng.standard_normal((32, 3, 7, 7)).astype(np.float32), np.zeros(32, np.float32)
    dout = rng.standard_normal((50, 32, 16, 16)).astype(np.float32)
    conv_param, pool_param = {"stride": 1, "pad": 3}, {"pool_height": 2, "pool_width": 2, "stride": 2}

    def run():
        out, cache = conv_pool_forward_fast(x, w, b, conv_param, pool_param)
        return [out, *conv_pool_backward_fast(dout, cache)]

    with threadpool_limits(limits=2, user_api="blas"):
        first = run()
        for _ in range(2 * _threads.TRIALS):
            for got, ref in zip(run(), first):
                np.testing.assert_array_equal(got, ref)
        with _threads.force_plan("workers"):
            for got, ref in zip(run(), first):
                np.testing.assert_array_equal(got, ref)
    assert not _threads._plans, "no plan cache without adaptive_plans()"


def test_force_plan_checks_its_argument():
    with pytest.raises(ValueError, match="plan must be one of"):
        with _threads.force_plan("gpu"):
            pass


def test_errors_in_lanes_reach_the_caller():
    _needs_lanes()
    x = np.random.default_rng(9).standard_normal((40, 16, 16, 16))
    _, cache = max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    for plan in _threads.PLANS:
        with threadpool_limits(limits=2, user_api="blas"), _threads.force_plan(plan):
            with pytest.raises(ValueError, match="dout"):
                max_pool_backward_fast(np.ones((40, 16, 8, 9)), cache)

    def boom(start, stop):
        raise KeyError("lane failed")

    for plan in _threads.PLANS:
        with threadpool_limits(limits=2, user_api="blas"), _threads.force_plan(plan):
            with pytest.raises(KeyError, match="lane failed"):
                _threads.run_chunks(8, 1, lambda: boom, True, ("test",))


# ---------------------------------------------------------------------------------------------
# Huge strides (issue 15)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stride", [4, 5, 6, 7, 8, 3000, 10**5, 10**12])
def test_conv_huge_stride_matches_naive(stride):
    rng = np.random.default_rng(10)
    x, w, b = rng.standard_normal((2, 3, 5, 9)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    conv_param = {"stride": stride, "pad": 1}
    out, cache = conv_forward_fast(x, w, b, conv_param)
    expected, naive_cache = conv_forward_naive(x, w, b, conv_param)
    assert out.shape == expected.shape
    assert rel_norm(out, expected) < 1e-12
    assert cache[3]["stride"] == stride  # the cache keeps the caller's stride
    dout = rng.standard_normal(out.shape)
    for got, ref in zip(conv_backward_fast(dout, cache), conv_backward_naive(dout, naive_cache)):
        assert rel_norm(got, ref) < 1e-12
    pooled, pool_cache = max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 3, "stride": stride})
    naive_pooled, naive_pool_cache = max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 3, "stride": stride})
    np.testing.assert_array_equal(pooled, naive_pooled)
    dpooled = rng.standard_normal(pooled.shape)
    np.testing.assert_array_equal(max_pool_backward_fast(dpooled, pool_cache),
                                  max_pool_backward_naive(dpooled, naive_pool_cache))


def test_huge_strides_cost_no_time_or_memory():
    """Issue 15: stride 3000 on a 5x5 input took 4.5 s (1e5 hung); a max-pool stride of 1e6
    raised MemoryError (43.7 TiB). Planned as the input's size, they cost what stride 7 costs."""
    x = np.random.default_rng(11).standard_normal((2, 3, 5, 5))
    w = np.ones((4, 3, 3, 3))
    plan = _fast_conv.ConvPlan(x.shape, w.shape, 10**12, 1, 1, 1)
    assert plan.stride == 5 and plan.image <= 3 * 3 * 3 * 4 * 5  # Sa * Sb * C * plane values
    pool_plan = _fast_pool.PoolPlan(x.shape, 2, 2, 10**6, 1, 1)
    assert pool_plan.stride == 4

    def run():
        for stride in (3000, 10**5, 10**6, 10**12):
            out, cache = conv_forward_fast(x, w, np.zeros(4), {"stride": stride, "pad": 1})
            conv_backward_fast(np.ones_like(out), cache)
            pooled, pool_cache = max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": stride})
            max_pool_backward_fast(np.ones_like(pooled), pool_cache)

    tracemalloc.start()
    try:
        run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
