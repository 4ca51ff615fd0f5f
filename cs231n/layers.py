"""Forward and backward passes of the basic layers, written for clarity (naive reference code).

Every layer is a pair ``foo_forward(...) -> (out, cache)`` and ``foo_backward(dout, cache)``;
the backward pass returns the gradients in the order of the forward arguments. Inputs are
validated up front (see ``_validate``) and never modified; float32 inputs give float32 outputs.

The normalization layers live in ``normalization`` and are re-exported here, so
``from cs231n.layers import batchnorm_forward`` works as in the original assignment.
"""

import math

import numpy as np

from ._validate import (
    check_labels, check_ndim, check_shape, conv_geometry, float_array, float_param, int_param,
    mode_param, pool_geometry,
)
from ._validate import unpack_cache as _unpack_cache
from .normalization import (
    batchnorm_backward, batchnorm_backward_alt, batchnorm_forward, layernorm_backward,
    layernorm_forward, spatial_batchnorm_backward, spatial_batchnorm_forward,
    spatial_groupnorm_backward, spatial_groupnorm_forward,
)

__all__ = [
    "affine_forward", "affine_backward", "relu_forward", "relu_backward",
    "svm_loss", "softmax_loss", "dropout_forward", "dropout_backward",
    "conv_forward_naive", "conv_backward_naive",
    "max_pool_forward_naive", "max_pool_backward_naive",
    "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
    "layernorm_forward", "layernorm_backward",
    "spatial_batchnorm_forward", "spatial_batchnorm_backward",
    "spatial_groupnorm_forward", "spatial_groupnorm_backward",
]


def _check_scores(x):
    """Validate class scores of shape (N, C) with N >= 1 and C >= 1; return them as floats."""
    x = float_array(x, "x")
    check_ndim(x, 2, "x", "(N, C) class scores")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x must hold at least one sample and one class, got shape {x.shape}")
    return x


# ---------------------------------------------------------------------------------------------
# Affine and ReLU
# ---------------------------------------------------------------------------------------------

def affine_forward(x, w, b):
    """Fully connected layer: out = x_flat @ w + b.

    Inputs:
    - x: (N, d_1, ..., d_k); each sample is flattened to a row of D = d_1 * ... * d_k features.
    - w: (D, M) weights.
    - b: (M,) biases.

    Returns a tuple of:
    - out: (N, M)
    - cache: (x, w, b)
    """
    x, w, b = float_array(x, "x"), float_array(w, "w"), float_array(b, "b")
    if x.ndim < 2:
        raise ValueError(f"x must be at least 2-dimensional (N, d_1, ..., d_k), got shape {x.shape}")
    check_ndim(w, 2, "w", "(D, M)")
    D = math.prod(x.shape[1:])
    if w.shape[0] != D:
        raise ValueError(
            f"x has {D} features per sample (shape {x.shape}) but w expects {w.shape[0]} (shape {w.shape})")
    check_shape(b, (w.shape[1],), "b")
    ### BEGIN SOLUTION
    out = x.reshape(x.shape[0], D) @ w + b
    cache = (x, w, b)
    ### END SOLUTION
    return out, cache


def affine_backward(dout, cache):
    """Backward pass of ``affine_forward``.

    Inputs:
    - dout: (N, M) upstream gradient.
    - cache: (x, w, b) from the forward pass.

    Returns a tuple of:
    - dx: gradient with respect to x, in x's shape (N, d_1, ..., d_k)
    - dw: (D, M)
    - db: (M,)
    """
    x, w, b = _unpack_cache(cache, 3, "affine_forward")
    dout = float_array(dout, "dout")
    check_shape(dout, (x.shape[0], w.shape[1]), "dout")
    ### BEGIN SOLUTION
    x_rows = x.reshape(x.shape[0], w.shape[0])  # (N, D)
    dx = (dout @ w.T).reshape(x.shape)
    dw = x_rows.T @ dout
    db = dout.sum(axis=0)
    ### END SOLUTION
    return dx, dw, db


def relu_forward(x):
    """Rectified linear unit, elementwise: out = max(x, 0).

    Inputs:
    - x: array of any shape.

    Returns a tuple of:
    - out: same shape as x
    - cache: x
    """
    x = float_array(x, "x")
    ### BEGIN SOLUTION
    out = np.maximum(x, 0)
    cache = x
    ### END SOLUTION
    return out, cache


def relu_backward(dout, cache):
    """Backward pass of ``relu_forward``: the gradient flows where x > 0 (and is 0 at x = 0).

    Inputs:
    - dout: upstream gradient, in the shape of x.
    - cache: x from the forward pass.

    Returns:
    - dx: same shape as x
    """
    if not isinstance(cache, np.ndarray):
        raise TypeError(f"cache must be the array returned by relu_forward, got {type(cache).__name__}")
    x = cache
    dout = float_array(dout, "dout")
    check_shape(dout, x.shape, "dout")
    ### BEGIN SOLUTION
    dx = np.where(x > 0, dout, 0)
    ### END SOLUTION
    return dx


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------

def svm_loss(x, y):
    """Multiclass SVM (hinge) loss with margin 1, averaged over the samples.

    loss = (1/N) sum_i sum_{j != y_i} max(0, x[i, j] - x[i, y_i] + 1)

    Inputs:
    - x: (N, C) class scores.
    - y: (N,) integer labels, 0 <= y[i] < C.

    Returns a tuple of:
    - loss: Python float
    - dx: (N, C) gradient of the loss with respect to x
    """
    x = _check_scores(x)
    N, C = x.shape
    check_labels(y, N, C)
    ### BEGIN SOLUTION
    rows = np.arange(N)
    correct = x[rows, y][:, None]  # (N, 1)
    margins = np.maximum(0, x - correct + 1)
    margins[rows, y] = 0
    loss = float(margins.sum()) / N
    violated = (margins > 0).astype(x.dtype)
    violated[rows, y] = -violated.sum(axis=1)
    dx = violated / N
    ### END SOLUTION
    return loss, dx


def softmax_loss(x, y):
    """Softmax cross-entropy loss, averaged over the samples.

    loss = (1/N) sum_i [log(sum_j exp(x[i, j])) - x[i, y_i]]

    Each row is shifted by its maximum before exponentiating (log-sum-exp), which leaves the loss
    unchanged and keeps it finite for scores of any magnitude.

    Inputs:
    - x: (N, C) class scores (logits).
    - y: (N,) integer labels, 0 <= y[i] < C.

    Returns a tuple of:
    - loss: Python float
    - dx: (N, C) gradient of the loss with respect to x, (softmax(x) - onehot(y)) / N
    """
    x = _check_scores(x)
    N, C = x.shape
    check_labels(y, N, C)
    ### BEGIN SOLUTION
    rows = np.arange(N)
    shifted = x - x.max(axis=1, keepdims=True)  # largest score of each row is 0
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -float(log_probs[rows, y].sum()) / N
    dx = np.exp(log_probs)
    dx[rows, y] -= 1
    dx /= N
    ### END SOLUTION
    return loss, dx


# ---------------------------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------------------------

def dropout_forward(x, dropout_param):
    """Inverted dropout.

    In training each unit is kept with probability p and scaled by 1/p, so the expected output
    equals x and the test-time pass is the identity (no rescaling needed).

    Inputs:
    - x: array of any shape.
    - dropout_param: dict with keys
      - 'p': probability of KEEPING a unit, 0 < p <= 1 (required).
      - 'mode': 'train' or 'test' (required).
      - 'seed': optional non-negative integer; the mask then depends only on the seed and on
        x's shape. Masks come from np.random.default_rng(seed); numpy's global random state is
        never used or changed. Without a seed every call draws a fresh mask.

    Returns a tuple of:
    - out: same shape and dtype as x (a new array, also in test mode)
    - cache: (mode, mask, x.shape); mask is x-shaped, in x's dtype, with entries 0 or 1/p
      (None in test mode)
    """
    x = float_array(x, "x")
    mode = mode_param(dropout_param, "dropout_param")
    if "p" not in dropout_param:
        raise ValueError("dropout_param is missing the required key 'p' (the probability of keeping a unit)")
    p = float_param(dropout_param, "p", "dropout_param", None, low=0.0, high=1.0, low_open=True)
    seed = dropout_param.get("seed")
    if seed is not None:
        seed = int_param(dropout_param, "seed", "dropout_param", 0)
    rng = np.random.default_rng(seed)  # draw only from rng, never from np.random.*
    ### BEGIN SOLUTION
    if mode == "train":
        keep = rng.random(x.shape) < p  # True with probability p
        mask = keep.astype(x.dtype) / x.dtype.type(p)
        out = x * mask
    else:
        mask = None
        out = x.copy()
    cache = (mode, mask, x.shape)
    ### END SOLUTION
    return out, cache


def dropout_backward(dout, cache):
    """Backward pass of ``dropout_forward``: dx = dout * mask in training, dout in test mode.

    Inputs:
    - dout: upstream gradient, in the shape of x.
    - cache: (mode, mask, x.shape) from the forward pass.

    Returns:
    - dx: same shape as x
    """
    mode, mask, x_shape = _unpack_cache(cache, 3, "dropout_forward")
    dout = float_array(dout, "dout")
    check_shape(dout, x_shape, "dout")
    ### BEGIN SOLUTION
    if mode == "train":
        dx = dout * mask
    else:
        dx = dout.copy()
    ### END SOLUTION
    return dx


# ---------------------------------------------------------------------------------------------
# Convolution and max pooling (naive: an explicit loop over output positions)
# ---------------------------------------------------------------------------------------------

def conv_forward_naive(x, w, b, conv_param):
    """Convolutional layer (cross-correlation, as in every deep-learning library).

    Each of the F filters is slid over the zero-padded input; at each position the output is the
    sum over channels and filter taps of filter * input window, plus the filter's bias.

    Inputs:
    - x: (N, C, H, W) input.
    - w: (F, C, HH, WW) filters.
    - b: (F,) biases.
    - conv_param: dict with
      - 'stride': step between neighbouring windows, integer >= 1 (default 1).
      - 'pad': zeros added on every side of H and W, integer >= 0 (default 0).

    The output size is H' = 1 + (H + 2 * pad - HH) // stride, W' = 1 + (W + 2 * pad - WW) // stride
    (floor: rows and columns the last window does not reach are ignored).

    Returns a tuple of:
    - out: (N, F, H', W')
    - cache: (x, w, b, {'stride': stride, 'pad': pad})
    """
    x, w, b = float_array(x, "x"), float_array(w, "w"), float_array(b, "b")
    stride, pad, H_out, W_out = conv_geometry(x, w, b, conv_param)
    ### BEGIN SOLUTION
    N = x.shape[0]
    F, _, HH, WW = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.empty((N, F, H_out, W_out), dtype=np.result_type(x, w, b))
    for i in range(H_out):
        for j in range(W_out):
            window = x_pad[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]  # (N, C, HH, WW)
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b  # (N, F)
    cache = (x, w, b, {"stride": stride, "pad": pad})
    ### END SOLUTION
    return out, cache


def conv_backward_naive(dout, cache):
    """Backward pass of ``conv_forward_naive``.

    Inputs:
    - dout: (N, F, H', W') upstream gradient.
    - cache: (x, w, b, {'stride': stride, 'pad': pad}) from the forward pass.

    Returns a tuple of:
    - dx: (N, C, H, W)
    - dw: (F, C, HH, WW)
    - db: (F,)
    """
    x, w, b, conv_param = _unpack_cache(cache, 4, "conv_forward_naive")
    stride, pad, H_out, W_out = conv_geometry(x, w, b, conv_param)
    dout = float_array(dout, "dout")
    check_shape(dout, (x.shape[0], w.shape[0], H_out, W_out), "dout")
    ### BEGIN SOLUTION
    H, W = x.shape[2:]
    HH, WW = w.shape[2:]
    dtype = np.result_type(x, w, dout)
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad = np.zeros(x_pad.shape, dtype=dtype)
    dw = np.zeros(w.shape, dtype=dtype)
    db = dout.sum(axis=(0, 2, 3))
    for i in range(H_out):
        for j in range(W_out):
            rows = slice(i * stride, i * stride + HH)
            cols = slice(j * stride, j * stride + WW)
            grad = dout[:, :, i, j]  # (N, F)
            dw += np.tensordot(grad, x_pad[:, :, rows, cols], axes=([0], [0]))  # (F, C, HH, WW)
            dx_pad[:, :, rows, cols] += np.tensordot(grad, w, axes=([1], [0]))  # (N, C, HH, WW)
    dx = dx_pad[:, :, pad:pad + H, pad:pad + W]
    ### END SOLUTION
    return dx, dw, db


def max_pool_forward_naive(x, pool_param):
    """Max pooling over windows of each channel separately.

    Inputs:
    - x: (N, C, H, W) input.
    - pool_param: dict with integers >= 1
      - 'pool_height', 'pool_width': window size (default 1 each).
      - 'stride': step between neighbouring windows (default 1).
      Windows may overlap (stride < window) and need not tile the input.

    The output size is H' = 1 + (H - pool_height) // stride, W' = 1 + (W - pool_width) // stride
    (floor: rows and columns the last window does not reach are ignored).

    Returns a tuple of:
    - out: (N, C, H', W')
    - cache: (x, {'pool_height': ..., 'pool_width': ..., 'stride': ...})
    """
    x = float_array(x, "x")
    pool_height, pool_width, stride, H_out, W_out = pool_geometry(x, pool_param)
    ### BEGIN SOLUTION
    N, C = x.shape[:2]
    out = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride:i * stride + pool_height, j * stride:j * stride + pool_width]
            out[:, :, i, j] = window.max(axis=(2, 3))
    cache = (x, {"pool_height": pool_height, "pool_width": pool_width, "stride": stride})
    ### END SOLUTION
    return out, cache


def max_pool_backward_naive(dout, cache):
    """Backward pass of ``max_pool_forward_naive``.

    Each window passes its upstream gradient to the input that was its maximum. TIES: when a
    window holds several equal maxima, the WHOLE gradient goes to the FIRST of them in row-major
    order within the window (the entry np.argmax picks, as in PyTorch), never split or copied to
    all of them. Where windows overlap, an input collects (sums) the gradients of every window it
    is the maximum of.

    Inputs:
    - dout: (N, C, H', W') upstream gradient.
    - cache: (x, pool_param) from the forward pass.

    Returns:
    - dx: (N, C, H, W)
    """
    x, pool_param = _unpack_cache(cache, 2, "max_pool_forward_naive")
    pool_height, pool_width, stride, H_out, W_out = pool_geometry(x, pool_param)
    dout = float_array(dout, "dout")
    check_shape(dout, x.shape[:2] + (H_out, W_out), "dout")
    ### BEGIN SOLUTION
    N, C = x.shape[:2]
    dx = np.zeros(x.shape, dtype=np.result_type(x, dout))
    for i in range(H_out):
        for j in range(W_out):
            rows = slice(i * stride, i * stride + pool_height)
            cols = slice(j * stride, j * stride + pool_width)
            window = x[:, :, rows, cols].reshape(N, C, pool_height * pool_width)
            first_max = window.argmax(axis=2)[:, :, None]  # (N, C, 1), first maximum in row-major order
            routed = np.zeros(window.shape, dtype=dx.dtype)
            np.put_along_axis(routed, first_max, dout[:, :, i, j, None], axis=2)
            dx[:, :, rows, cols] += routed.reshape(N, C, pool_height, pool_width)
    ### END SOLUTION
    return dx
