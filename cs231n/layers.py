"""Forward and backward passes of the basic layers, written for clarity (naive reference code).

Every layer is a pair ``foo_forward(...) -> (out, cache)`` and ``foo_backward(dout, cache)``;
the backward pass returns the gradients in the order of the forward arguments. Inputs are
validated up front (see ``_validate``) and never modified; float32 inputs give float32 outputs.

The student writes the part between the START/END lines of each function; the code around it
(checks, ``out = None``, the cache stored after the forward pass) is given, as in the original
assignment. The given code also checks what the student's code computed (a (1, D) gradient for
a (D,) parameter is an error with a message that says so).

The normalization layers live in ``normalization`` and are re-exported here, so
``from cs231n.layers import batchnorm_forward`` works as in the original assignment.
"""

import math

import numpy as np

from ._validate import (
    check_labels, check_ndim, check_shape, conv_geometry, float_array, float_param, int_param,
    mode_param, pool_geometry, result_array,
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


def _check_dout(dout, shape):
    dout = float_array(dout, "dout")
    check_shape(dout, shape, "dout")
    return dout


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
    out = None
    # TODO: Implement the affine forward pass. Store the result in out. You will need to reshape
    # the input into rows.
    ### BEGIN SOLUTION
    out = x.reshape(x.shape[0], D) @ w + b
    ### END SOLUTION
    out = result_array(out, (x.shape[0], w.shape[1]), "out", "affine_forward", np.result_type(x, w, b))
    cache = (x, w, b)
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
    dout = _check_dout(dout, (x.shape[0], w.shape[1]))
    dx, dw, db = None, None, None
    # TODO: Implement the affine backward pass: dx in the shape of x, dw and db in the shapes
    # of w and b.
    ### BEGIN SOLUTION
    x_rows = x.reshape(x.shape[0], w.shape[0])  # (N, D)
    dx = (dout @ w.T).reshape(x.shape)
    dw = x_rows.T @ dout
    db = dout.sum(axis=0)
    ### END SOLUTION
    dtype = np.result_type(x, w, dout)
    dx = result_array(dx, x.shape, "dx", "affine_backward", dtype)
    dw = result_array(dw, w.shape, "dw", "affine_backward", dtype)
    db = result_array(db, b.shape, "db", "affine_backward", dout.dtype)
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
    out = None
    # TODO: Implement the ReLU forward pass.
    ### BEGIN SOLUTION
    out = np.maximum(x, 0)
    ### END SOLUTION
    out = result_array(out, x.shape, "out", "relu_forward", x.dtype)
    cache = x
    return out, cache


def relu_backward(dout, cache):
    """Backward pass of ``relu_forward``.

    The gradient flows where x > 0 and is 0 where x < 0. At x = 0 (the kink) either convention
    is accepted: the checks use inputs without exact zeros.

    Inputs:
    - dout: upstream gradient, in the shape of x.
    - cache: x from the forward pass.

    Returns:
    - dx: same shape as x
    """
    if not isinstance(cache, np.ndarray):
        raise TypeError(f"cache must be the array returned by relu_forward, got {type(cache).__name__}")
    dx, x = None, cache
    dout = _check_dout(dout, x.shape)
    # TODO: Implement the ReLU backward pass.
    ### BEGIN SOLUTION
    dx = np.where(x > 0, dout, 0)
    ### END SOLUTION
    return result_array(dx, x.shape, "dx", "relu_backward", np.result_type(x, dout))


# ---------------------------------------------------------------------------------------------
# Losses (given code: they come from the first assignment)
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
    rows = np.arange(N)
    correct = x[rows, y][:, None]  # (N, 1)
    margins = np.maximum(0, x - correct + 1)
    margins[rows, y] = 0
    loss = float(margins.sum()) / N
    violated = (margins > 0).astype(x.dtype)
    violated[rows, y] = -violated.sum(axis=1)
    dx = violated / N
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
    rows = np.arange(N)
    shifted = x - x.max(axis=1, keepdims=True)  # largest score of each row is 0
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -float(log_probs[rows, y].sum()) / N
    dx = np.exp(log_probs)
    dx[rows, y] -= 1
    dx /= N
    return loss, dx


# ---------------------------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------------------------

def dropout_forward(x, dropout_param):
    """Inverted dropout.

    In training each unit is kept with probability p and scaled by 1/p, so the expected output
    equals x and the test-time pass is the identity (no rescaling needed).

    Randomness, as in the original assignment: when dropout_param holds a 'seed', numpy's global
    random state is reseeded with it (np.random.seed(seed)) before the mask is drawn, so the mask
    depends only on the seed and x's shape; draw the mask from np.random (np.random.rand). Without
    a seed the global random state is used as it is, and every call draws a fresh mask.

    Inputs:
    - x: array of any shape.
    - dropout_param: dict with keys
      - 'p': probability of KEEPING a unit, 0 < p <= 1 (required). For float16 x, 1/p must be a
        finite float16 (p >= 1.53e-5).
      - 'mode': 'train' or 'test' (required).
      - 'seed': optional non-negative integer (see above).

    Returns a tuple of:
    - out: same shape and dtype as x (a new array, also in test mode)
    - cache: (dropout_param, mask); mask is None in test mode
    """
    x = float_array(x, "x")
    mode = mode_param(dropout_param, "dropout_param")
    if "p" not in dropout_param:
        raise ValueError("dropout_param is missing the required key 'p' (the probability of keeping a unit)")
    p = float_param(dropout_param, "p", "dropout_param", None, low=0.0, high=1.0, low_open=True)
    if mode == "train" and 1 / p > float(np.finfo(x.dtype).max):
        raise ValueError(f"dropout_param['p'] = {p} is too small for {x.dtype} input: the scale 1/p "
                         f"overflows {x.dtype}; use p >= {1 / float(np.finfo(x.dtype).max):.3g} or "
                         "float32 input")
    if "seed" in dropout_param and dropout_param["seed"] is not None:
        np.random.seed(int_param(dropout_param, "seed", "dropout_param", 0))

    mask = None
    out = None
    if mode == "train":
        # TODO: Implement the training phase forward pass for inverted dropout. Store the dropout
        # mask in the mask variable (draw it with np.random.rand).
        ### BEGIN SOLUTION
        mask = (np.random.rand(*x.shape) < p) / p
        out = x * mask
        ### END SOLUTION
    else:
        # TODO: Implement the test phase forward pass for inverted dropout.
        ### BEGIN SOLUTION
        out = x
        ### END SOLUTION
    cache = (dict(dropout_param), mask)
    out = result_array(out, x.shape, "out", "dropout_forward", x.dtype)
    if np.may_share_memory(out, x):
        out = out.copy()  # never hand back the caller's array
    return out, cache


def dropout_backward(dout, cache):
    """Backward pass of ``dropout_forward``: dx = dout * mask in training, dout in test mode.

    Inputs:
    - dout: upstream gradient, in the shape of x.
    - cache: (dropout_param, mask) from the forward pass.

    Returns:
    - dx: same shape as x
    """
    dropout_param, mask = _unpack_cache(cache, 2, "dropout_forward")
    mode = dropout_param["mode"]
    dout = float_array(dout, "dout")
    if mask is not None:
        check_shape(dout, mask.shape, "dout")

    dx = None
    if mode == "train":
        # TODO: Implement the training phase backward pass for inverted dropout.
        ### BEGIN SOLUTION
        dx = dout * mask
        ### END SOLUTION
    else:
        dx = dout
    dx = result_array(dx, dout.shape, "dx", "dropout_backward", dout.dtype)
    return dx.copy() if dx is dout else dx


# ---------------------------------------------------------------------------------------------
# Convolution and max pooling (naive: loops over output positions)
# ---------------------------------------------------------------------------------------------

def conv_forward_naive(x, w, b, conv_param):
    """Convolutional layer (cross-correlation, as in every deep-learning library).

    Each of the F filters is slid over the zero-padded input; at each position the output is the
    sum over channels and filter taps of filter * input window, plus the filter's bias.

    Inputs:
    - x: (N, C, H, W) input.
    - w: (F, C, HH, WW) filters.
    - b: (F,) biases.
    - conv_param: dict with the required keys
      - 'stride': step between neighbouring windows, integer >= 1.
      - 'pad': zeros added on every side of H and W, integer >= 0.

    The output size is H' = 1 + (H + 2 * pad - HH) // stride, W' = 1 + (W + 2 * pad - WW) // stride
    (floor: rows and columns the last window does not reach are ignored).

    Returns a tuple of:
    - out: (N, F, H', W')
    - cache: (x, w, b, conv_param)
    """
    x, w, b = float_array(x, "x"), float_array(w, "w"), float_array(b, "b")
    stride, pad, H_out, W_out = conv_geometry(x, w, b, conv_param)
    dtype = np.result_type(x, w, b)
    x, w, b = x.astype(dtype, copy=False), w.astype(dtype, copy=False), b.astype(dtype, copy=False)
    conv_param = {"stride": stride, "pad": pad}
    out = None
    # TODO: Implement the convolutional forward pass with loops over the output positions
    # (stride, pad, H_out and W_out are read above). Hint: you can use np.pad for padding.
    ### BEGIN SOLUTION
    N = x.shape[0]
    F, _, HH, WW = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.empty((N, F, H_out, W_out), dtype=np.result_type(x, w, b))
    for i in range(H_out):
        for j in range(W_out):
            window = x_pad[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]  # (N, C, HH, WW)
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b  # (N, F)
    ### END SOLUTION
    out = result_array(out, (x.shape[0], w.shape[0], H_out, W_out), "out", "conv_forward_naive", dtype)
    cache = (x, w, b, conv_param)
    return out, cache


def conv_backward_naive(dout, cache):
    """Backward pass of ``conv_forward_naive``, for any stride and pad (including pad 0).

    Inputs:
    - dout: (N, F, H', W') upstream gradient.
    - cache: (x, w, b, conv_param) from the forward pass.

    Returns a tuple of:
    - dx: (N, C, H, W)
    - dw: (F, C, HH, WW)
    - db: (F,)
    """
    x, w, b, conv_param = _unpack_cache(cache, 4, "conv_forward_naive")
    stride, pad, H_out, W_out = conv_geometry(x, w, b, conv_param)
    dout = _check_dout(dout, (x.shape[0], w.shape[0], H_out, W_out))
    db_dtype, dtype = dout.dtype, np.result_type(x, w, dout)
    x, w, dout = x.astype(dtype, copy=False), w.astype(dtype, copy=False), dout.astype(dtype, copy=False)
    cache = (x, w, b, {"stride": stride, "pad": pad})
    dx, dw, db = None, None, None
    # TODO: Implement the convolutional backward pass. Loop over the output positions as in the
    # forward pass, accumulate the gradient of the padded input and cut the padding off at the
    # end; it must work for pad = 0 too.
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
    dx = result_array(dx, x.shape, "dx", "conv_backward_naive", dtype)
    dw = result_array(dw, w.shape, "dw", "conv_backward_naive", dtype)
    db = result_array(db, b.shape, "db", "conv_backward_naive", db_dtype)
    return dx, dw, db


def max_pool_forward_naive(x, pool_param):
    """Max pooling over windows of each channel separately.

    Inputs:
    - x: (N, C, H, W) input.
    - pool_param: dict with the required integer keys (each >= 1)
      - 'pool_height', 'pool_width': window size.
      - 'stride': step between neighbouring windows.
      Windows may overlap (stride < window) and need not tile the input.

    The output size is H' = 1 + (H - pool_height) // stride, W' = 1 + (W - pool_width) // stride
    (floor: rows and columns the last window does not reach are ignored).

    Returns a tuple of:
    - out: (N, C, H', W')
    - cache: (x, pool_param)
    """
    x = float_array(x, "x")
    pool_height, pool_width, stride, H_out, W_out = pool_geometry(x, pool_param)
    out = None
    # TODO: Implement the max-pooling forward pass with loops over the output positions
    # (pool_height, pool_width, stride, H_out and W_out are read above).
    ### BEGIN SOLUTION
    N, C = x.shape[:2]
    out = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride:i * stride + pool_height, j * stride:j * stride + pool_width]
            out[:, :, i, j] = window.max(axis=(2, 3))
    ### END SOLUTION
    out = result_array(out, x.shape[:2] + (H_out, W_out), "out", "max_pool_forward_naive", x.dtype)
    cache = (x, {"pool_height": pool_height, "pool_width": pool_width, "stride": stride})
    return out, cache


def max_pool_backward_naive(dout, cache):
    """Backward pass of ``max_pool_forward_naive``.

    Each window passes its upstream gradient to the input that was its maximum; where windows
    overlap, an input collects (sums) the gradients of every window it is the maximum of.

    TIES (one rule for the grader, the tests and the notebooks): when a window holds several equal
    maxima, the original assignment accepts both usual answers, and so does this package: the
    whole gradient may go to one of them (e.g. the first, as np.argmax picks) or be copied to
    every tied maximum (a mask x == max). Gradients are therefore checked on inputs without ties;
    the one check with ties accepts either answer.

    Inputs:
    - dout: (N, C, H', W') upstream gradient.
    - cache: (x, pool_param) from the forward pass.

    Returns:
    - dx: (N, C, H, W)
    """
    x, pool_param = _unpack_cache(cache, 2, "max_pool_forward_naive")
    pool_height, pool_width, stride, H_out, W_out = pool_geometry(x, pool_param)
    dout = _check_dout(dout, x.shape[:2] + (H_out, W_out))
    dtype = np.result_type(x, dout)
    x, dout = x.astype(dtype, copy=False), dout.astype(dtype, copy=False)
    cache = (x, {"pool_height": pool_height, "pool_width": pool_width, "stride": stride})
    dx = None
    # TODO: Implement the max-pooling backward pass: route each window's gradient to the
    # position of its maximum.
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
    return result_array(dx, x.shape, "dx", "max_pool_backward_naive", dtype)
