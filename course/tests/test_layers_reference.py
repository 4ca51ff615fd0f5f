"""Instructor-only: the naive conv and max-pool layers against plain-loop references.

The references give the answer away, so they live here and not in the release's tests/; the
release's tests compare against values stored from them (``CONV_STORED``/``POOL_STORED`` in
tests/test_layers.py), and the last two tests show that those stored values are the references'.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from cs231n.layers import conv_forward_naive, max_pool_forward_naive


def _release_tests():
    path = Path(__file__).resolve().parents[2] / "tests" / "test_layers.py"
    spec = importlib.util.spec_from_file_location("release_test_layers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RELEASE = _release_tests()
CONV_CASES, POOL_CASES = RELEASE.CONV_CASES, RELEASE.POOL_CASES


def conv_reference(x, w, b, stride, pad):
    """Direct loops over n, f, i, j, c, k, l; padding handled by skipping out-of-range taps."""
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    # window starts on the padded grid: 0, stride, ... while the window still fits
    starts_h = range(0, H + 2 * pad - HH + 1, stride)
    starts_w = range(0, W + 2 * pad - WW + 1, stride)
    out = np.zeros((N, F, len(starts_h), len(starts_w)))
    for n in range(N):
        for f in range(F):
            for i, r0 in enumerate(starts_h):
                for j, s0 in enumerate(starts_w):
                    total = b[f]
                    for c in range(C):
                        for k in range(HH):
                            for l in range(WW):
                                r, s = r0 + k - pad, s0 + l - pad
                                if 0 <= r < H and 0 <= s < W:
                                    total += x[n, c, r, s] * w[f, c, k, l]
                    out[n, f, i, j] = total
    return out


def pool_reference(x, ph, pw, stride):
    N, C, H, W = x.shape
    starts_h = range(0, H - ph + 1, stride)
    starts_w = range(0, W - pw + 1, stride)
    out = np.zeros((N, C, len(starts_h), len(starts_w)))
    for n in range(N):
        for c in range(C):
            for i, r0 in enumerate(starts_h):
                for j, s0 in enumerate(starts_w):
                    out[n, c, i, j] = max(x[n, c, r, s] for r in range(r0, r0 + ph) for s in range(s0, s0 + pw))
    return out


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", CONV_CASES)
def test_conv_forward_matches_direct_loops(x_shape, w_shape, stride, pad):
    rng = np.random.default_rng(sum(x_shape) + 7 * stride + pad)
    x, w, b = rng.normal(size=x_shape), rng.normal(size=w_shape), rng.normal(size=w_shape[0])
    out, _ = conv_forward_naive(x, w, b, {"stride": stride, "pad": pad})
    expected = conv_reference(x, w, b, stride, pad)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    shape, total, weighted = RELEASE.CONV_STORED[(x_shape, w_shape, stride, pad)]
    assert expected.shape == shape
    np.testing.assert_allclose(RELEASE._projections(expected), (total, weighted), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_shape, ph, pw, stride", POOL_CASES)
def test_max_pool_forward_matches_direct_loops(x_shape, ph, pw, stride):
    x = np.random.default_rng(sum(x_shape) + ph).normal(size=x_shape)
    out, _ = max_pool_forward_naive(x, {"pool_height": ph, "pool_width": pw, "stride": stride})
    expected = pool_reference(x, ph, pw, stride)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out, expected)
    shape, total, weighted = RELEASE.POOL_STORED[(x_shape, ph, pw, stride)]
    assert expected.shape == shape
    np.testing.assert_allclose(RELEASE._projections(expected), (total, weighted), rtol=1e-12, atol=1e-12)
