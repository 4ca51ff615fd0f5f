"""Sandwich layers: common chains of layers as one forward/backward pair.

Each ``foo_bar_forward`` runs the layers in order and returns ``(out, cache)``, where the cache
is the tuple of the caches of its parts; ``foo_bar_backward(dout, cache)`` runs their backward
passes in reverse and returns the gradients in the order of the forward arguments. The
convolution and pooling sandwiches use the fast layers of ``fast_layers``.

This is given code: students use it to build their models, they do not write it.
"""

from ._validate import unpack_cache as _unpack
from .fast_layers import (
    conv_backward_fast, conv_forward_fast, conv_pool_backward_fast, conv_pool_forward_fast,
)
from .layers import (
    affine_backward, affine_forward, batchnorm_backward, batchnorm_forward, layernorm_backward,
    layernorm_forward, relu_backward, relu_forward, spatial_batchnorm_backward,
    spatial_batchnorm_forward,
)

__all__ = [
    "affine_relu_forward", "affine_relu_backward",
    "affine_norm_relu_forward", "affine_norm_relu_backward",
    "conv_relu_forward", "conv_relu_backward",
    "conv_bn_relu_forward", "conv_bn_relu_backward",
    "conv_relu_pool_forward", "conv_relu_pool_backward",
]

NORMALIZATIONS = ("batchnorm", "layernorm")


# ---------------------------------------------------------------------------------------------
# Fully connected
# ---------------------------------------------------------------------------------------------

def affine_relu_forward(x, w, b):
    """Affine layer followed by a ReLU.

    Inputs:
    - x: (N, d_1, ..., d_k) input, flattened to (N, D) rows.
    - w: (D, M) weights.
    - b: (M,) biases.

    Returns a tuple of:
    - out: (N, M), relu(x_flat @ w + b)
    - cache: (affine_cache, relu_cache)
    """
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """Backward pass of ``affine_relu_forward``.

    Inputs:
    - dout: (N, M) upstream gradient.
    - cache: from the forward pass.

    Returns a tuple of (dx, dw, db), shaped like (x, w, b).
    """
    fc_cache, relu_cache = _unpack(cache, 2, "affine_relu_forward")
    da = relu_backward(dout, relu_cache)
    return affine_backward(da, fc_cache)


def affine_norm_relu_forward(x, w, b, gamma, beta, norm_param, normalization="batchnorm"):
    """Affine layer, then batch or layer normalization, then a ReLU.

    Inputs:
    - x: (N, d_1, ..., d_k) input, flattened to (N, D) rows.
    - w: (D, M) weights; b: (M,) biases.
    - gamma, beta: (M,) scale and shift of the normalization.
    - norm_param: the bn_param of ``batchnorm_forward`` ('mode' required; running statistics
      are updated in it) or the ln_param of ``layernorm_forward``.
    - normalization: 'batchnorm' or 'layernorm'.

    Returns a tuple of:
    - out: (N, M)
    - cache: (normalization, affine_cache, norm_cache, relu_cache)
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be 'batchnorm' or 'layernorm', got {normalization!r}")
    norm_forward = batchnorm_forward if normalization == "batchnorm" else layernorm_forward
    a, fc_cache = affine_forward(x, w, b)
    an, norm_cache = norm_forward(a, gamma, beta, norm_param)
    out, relu_cache = relu_forward(an)
    return out, (normalization, fc_cache, norm_cache, relu_cache)


def affine_norm_relu_backward(dout, cache):
    """Backward pass of ``affine_norm_relu_forward``.

    Inputs:
    - dout: (N, M) upstream gradient.
    - cache: from the forward pass.

    Returns a tuple of (dx, dw, db, dgamma, dbeta), shaped like (x, w, b, gamma, beta).
    """
    normalization, fc_cache, norm_cache, relu_cache = _unpack(cache, 4, "affine_norm_relu_forward")
    norm_backward = batchnorm_backward if normalization == "batchnorm" else layernorm_backward
    dan = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = norm_backward(dan, norm_cache)
    dx, dw, db = affine_backward(da, fc_cache)
    return dx, dw, db, dgamma, dbeta


# ---------------------------------------------------------------------------------------------
# Convolutional (fast layers)
# ---------------------------------------------------------------------------------------------

def conv_relu_forward(x, w, b, conv_param):
    """Convolution followed by a ReLU.

    Inputs:
    - x: (N, C, H, W) input; w: (F, C, HH, WW) filters; b: (F,) biases.
    - conv_param: {'stride', 'pad'} as for ``conv_forward_naive``.

    Returns a tuple of:
    - out: (N, F, H', W') with H' = 1 + (H + 2 * pad - HH) // stride, likewise W'
    - cache: (conv_cache, relu_cache)
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout, cache, need_dx=True):
    """Backward pass of ``conv_relu_forward``.

    Inputs:
    - dout: (N, F, H', W') upstream gradient.
    - cache: from the forward pass.
    - need_dx: False skips the input gradient (dx is then None), e.g. for a first layer
      whose input is the images.

    Returns a tuple of (dx, dw, db), shaped like (x, w, b).
    """
    conv_cache, relu_cache = _unpack(cache, 2, "conv_relu_forward")
    da = relu_backward(dout, relu_cache)
    return conv_backward_fast(da, conv_cache, need_dx=need_dx)


def conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, bn_param):
    """Convolution, spatial batch normalization, ReLU.

    Inputs:
    - x: (N, C, H, W) input; w: (F, C, HH, WW) filters; b: (F,) biases.
    - gamma, beta: (F,) scale and shift of the spatial batch normalization.
    - conv_param: {'stride', 'pad'}.
    - bn_param: as for ``spatial_batchnorm_forward`` ('mode' required).

    Returns a tuple of:
    - out: (N, F, H', W')
    - cache: (conv_cache, bn_cache, relu_cache)
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    an, bn_cache = spatial_batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(an)
    return out, (conv_cache, bn_cache, relu_cache)


def conv_bn_relu_backward(dout, cache, need_dx=True):
    """Backward pass of ``conv_bn_relu_forward``.

    Inputs:
    - dout: (N, F, H', W') upstream gradient.
    - cache: from the forward pass.
    - need_dx: False skips the input gradient (dx is then None).

    Returns a tuple of (dx, dw, db, dgamma, dbeta), shaped like (x, w, b, gamma, beta).
    """
    conv_cache, bn_cache, relu_cache = _unpack(cache, 3, "conv_bn_relu_forward")
    dan = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = spatial_batchnorm_backward(dan, bn_cache)
    dx, dw, db = conv_backward_fast(da, conv_cache, need_dx=need_dx)
    return dx, dw, db, dgamma, dbeta


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    """Convolution, ReLU, max pool.

    Computed as convolution, max pool, ReLU: the same output and gradients, since a ReLU is
    increasing and so commutes with a max, but the ReLU then runs on the smaller pooled array.
    The convolution and the pool run fused (``conv_pool_forward_fast``): each chunk of images is
    pooled while its convolution output is still in the CPU cache.

    Inputs:
    - x: (N, C, H, W) input; w: (F, C, HH, WW) filters; b: (F,) biases.
    - conv_param: {'stride', 'pad'}.
    - pool_param: {'pool_height', 'pool_width', 'stride'}.

    Returns a tuple of:
    - out: (N, F, H'', W''), the pooled size of the (N, F, H', W') convolution output
    - cache: (conv_pool_cache, relu_cache)
    """
    pooled, conv_pool_cache = conv_pool_forward_fast(x, w, b, conv_param, pool_param)
    out, relu_cache = relu_forward(pooled)
    return out, (conv_pool_cache, relu_cache)


def conv_relu_pool_backward(dout, cache, need_dx=True):
    """Backward pass of ``conv_relu_pool_forward``.

    Inputs:
    - dout: (N, F, H'', W'') upstream gradient.
    - cache: from the forward pass.
    - need_dx: False skips the input gradient (dx is then None).

    Returns a tuple of (dx, dw, db), shaped like (x, w, b).
    """
    conv_pool_cache, relu_cache = _unpack(cache, 2, "conv_relu_pool_forward")
    dpooled = relu_backward(dout, relu_cache)
    return conv_pool_backward_fast(dpooled, conv_pool_cache, need_dx=need_dx)
