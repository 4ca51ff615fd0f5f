"""Normalization layers: batch, layer, spatial batch and spatial group normalization.

Each layer standardises its input over a set of axes, xhat = (x - mean) / sqrt(var + eps) with the
biased variance, then applies a learned per-feature (or per-channel) scale and shift:
out = gamma * xhat + beta. They differ only in which axes the statistics are taken over:

    batchnorm_forward          x (N, D)        over N (per feature)
    layernorm_forward          x (N, D)        over D (per sample)
    spatial_batchnorm_forward  x (N, C, H, W)  over N, H, W (per channel)
    spatial_groupnorm_forward  x (N, C, H, W)  over C/G, H, W (per sample and channel group)

All of them share one backward formula. With g = dL/dxhat and means taken over the normalised axes,

    dL/dx = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps),

computed once, in ``_normalization_backward``. ``batchnorm_backward`` instead walks the computation
graph stage by stage, as a check of the derivation.

Inputs are validated up front and never modified. The one side effect is documented:
``batchnorm_forward`` in 'train' mode stores new running statistics in ``bn_param``.
float32 inputs give float32 outputs, gradients and running statistics.
"""

import numpy as np

from ._validate import unpack_cache as _unpack_cache
from ._validate import check_ndim, check_shape, float_array, float_param, mode_param

__all__ = [
    "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
    "layernorm_forward", "layernorm_backward",
    "spatial_batchnorm_forward", "spatial_batchnorm_backward",
    "spatial_groupnorm_forward", "spatial_groupnorm_backward",
]


# ---------------------------------------------------------------------------------------------
# Input checks (given code)
# ---------------------------------------------------------------------------------------------

def _require_dict(params, name):
    if not isinstance(params, dict):
        raise TypeError(f"{name} must be a dict, got {type(params).__name__}")


def _eps(params, name):
    """Read ``params['eps']`` (default 1e-5); it must be > 0."""
    return float_param(params, "eps", name, 1e-5, low=0.0, low_open=True)


def _scale_and_shift(x, gamma, beta, size, layout):
    """Validate x's companions gamma and beta, both of shape (size,); ``layout`` names size."""
    gamma, beta = float_array(gamma, "gamma"), float_array(beta, "beta")
    for name, param in (("gamma", gamma), ("beta", beta)):
        if param.shape != (size,):
            raise ValueError(
                f"{name} must have shape ({layout},) = ({size},) to match x of shape {x.shape}, "
                f"got {param.shape}")
    return gamma, beta


def _running_stats(bn_param, size, dtype, mode):
    """Return (running_mean, running_var), each of shape (size,), from ``bn_param``.

    Missing statistics start as zeros of x's dtype in 'train' mode (the first update then gives
    (1 - momentum) times the batch statistics). In 'test' mode before any training step they are
    taken as mean 0 and variance 1, so the layer is just the affine map gamma * x + beta (up to eps).
    """
    stats = []
    for key, untrained in (("running_mean", 0.0), ("running_var", 1.0)):
        if key in bn_param:
            stat = float_array(bn_param[key], f"bn_param[{key!r}]")
            check_shape(stat, (size,), f"bn_param[{key!r}]")
        else:
            stat = np.full(size, 0.0 if mode == "train" else untrained, dtype=dtype)
        stats.append(stat)
    return tuple(stats)


def _check_batchnorm_call(x, gamma, beta, bn_param, layout, size, stat_count):
    """Checks shared by both batchnorms; returns (gamma, beta, mode, eps, momentum)."""
    mode = mode_param(bn_param, "bn_param")
    eps = _eps(bn_param, "bn_param")
    momentum = float_param(bn_param, "momentum", "bn_param", 0.9, low=0.0, high=1.0)
    gamma, beta = _scale_and_shift(x, gamma, beta, size, layout)
    if mode == "train" and stat_count == 0:
        raise ValueError(f"x of shape {x.shape} has no values to compute batch statistics from")
    return gamma, beta, mode, eps, momentum


# ---------------------------------------------------------------------------------------------
# Shared computations (students write these too)
# ---------------------------------------------------------------------------------------------

def _standardize(x, axis, eps):
    """Standardise x over ``axis`` (int or tuple): the statistics and the result.

    Returns a tuple (all statistics with keepdims, so they broadcast against x):
    - xhat: (x - mean) * inv_std, x's shape
    - xc: x - mean, the centred input
    - inv_std: 1 / sqrt(var + eps)
    - mean, var: the mean and the biased variance over ``axis``
    """
    ### BEGIN SOLUTION
    mean = x.mean(axis=axis, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=axis, keepdims=True)  # centred first: no cancellation
    inv_std = 1 / np.sqrt(var + eps)
    return xc * inv_std, xc, inv_std, mean, var
    ### END SOLUTION


def _normalization_backward(dxhat, xhat, scale, axis):
    """Closed-form gradient through xhat = (x - mean(x)) * inv_std, the statistics over ``axis``.

    Inputs:
    - dxhat: gradient with respect to xhat, xhat's shape.
    - xhat: the standardised input.
    - scale: inv_std, broadcastable against xhat; or inv_std times any factor c that is constant
      over ``axis`` and was left out of dxhat (batchnorm passes dout and gamma * inv_std, since
      gamma is constant over the batch axis).
    - axis: int or tuple, the axes the statistics were taken over.

    Returns a tuple of:
    - dx: scale * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), xhat's shape
    - sum_dxhat, sum_dxhat_xhat: sum(dxhat) and sum(dxhat * xhat) over ``axis`` (keepdims), the
      bias and scale gradients when dxhat is dout
    """
    ### BEGIN SOLUTION
    axes = axis if isinstance(axis, tuple) else (axis,)
    count = int(np.prod([xhat.shape[a] for a in axes]))  # values per statistic (a Python int)
    sum_dxhat = dxhat.sum(axis=axis, keepdims=True)
    sum_dxhat_xhat = (dxhat * xhat).sum(axis=axis, keepdims=True)
    dx = dxhat - xhat * (sum_dxhat_xhat / count)
    dx -= sum_dxhat / count
    dx *= scale
    return dx, sum_dxhat, sum_dxhat_xhat
    ### END SOLUTION


# ---------------------------------------------------------------------------------------------
# Batch normalization
# ---------------------------------------------------------------------------------------------

def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization of features, statistics per feature over the batch.

    'train': out = gamma * (x - mu) / sqrt(var + eps) + beta with the batch mean mu and the biased
    batch variance var; then bn_param['running_mean'] and bn_param['running_var'] are replaced by
    new arrays, running = momentum * running + (1 - momentum) * batch statistic (missing ones start
    as zeros). 'test': the same map with the running statistics in place of the batch ones.

    Inputs:
    - x: (N, D) data; N >= 1 in 'train' mode.
    - gamma: (D,) scale.
    - beta: (D,) shift.
    - bn_param: dict with keys
      - 'mode': 'train' or 'test' (required).
      - 'eps': > 0, default 1e-5.
      - 'momentum': in [0, 1], default 0.9.
      - 'running_mean', 'running_var': (D,) arrays, optional.

    Returns a tuple of:
    - out: (N, D)
    - cache: (xhat, gamma, xc, inv_std, mode) with xhat and xc = x - mu of shape (N, D) and
      inv_std = 1 / sqrt(var + eps) of shape (1, D)
    """
    x = float_array(x, "x")
    check_ndim(x, 2, "x", "(N, D)")
    N, D = x.shape
    gamma, beta, mode, eps, momentum = _check_batchnorm_call(x, gamma, beta, bn_param, "D", D, N)
    running_mean, running_var = _running_stats(bn_param, D, x.dtype, mode)
    ### BEGIN SOLUTION
    if mode == "train":
        xhat, xc, inv_std, mean, var = _standardize(x, 0, eps)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean[0]
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var[0]
    else:
        xc = x - running_mean
        inv_std = (1 / np.sqrt(running_var + eps))[None, :]  # (1, D)
        xhat = xc * inv_std
    out = gamma * xhat + beta
    cache = (xhat, gamma, xc, inv_std, mode)
    ### END SOLUTION
    return out, cache


def _unpack_batchnorm_cache(dout, cache):
    xhat, gamma, xc, inv_std, mode = _unpack_cache(cache, 5, "batchnorm_forward")
    dout = float_array(dout, "dout")
    check_shape(dout, xhat.shape, "dout")
    return dout, xhat, gamma, xc, inv_std, mode


def batchnorm_backward(dout, cache):
    """Backward pass of ``batchnorm_forward``, stage by stage through the computation graph.

    Graph of the 'train' forward pass (statistics over the batch axis):
        mu = mean(x); xc = x - mu; var = mean(xc ** 2); std = sqrt(var + eps);
        inv_std = 1 / std; xhat = xc * inv_std; out = gamma * xhat + beta.
    In 'test' mode the statistics are constants and only the last two stages remain.

    Inputs:
    - dout: (N, D) upstream gradient.
    - cache: from ``batchnorm_forward``.

    Returns a tuple of:
    - dx: (N, D)
    - dgamma: (D,)
    - dbeta: (D,)
    """
    dout, xhat, gamma, xc, inv_std, mode = _unpack_batchnorm_cache(dout, cache)
    ### BEGIN SOLUTION
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    if mode == "test":
        return dxhat * inv_std, dgamma, dbeta
    # xhat = xc * inv_std: xc reaches the output directly and through the statistics
    dxc = dxhat * inv_std
    dinv_std = (dxhat * xc).sum(axis=0, keepdims=True)
    # inv_std = 1 / std
    dstd = -dinv_std * inv_std * inv_std
    # std = sqrt(var + eps)
    dvar = dstd * inv_std / 2
    # var = mean(xc ** 2)
    dxc += xc * (dvar * (2 / N))
    # xc = x - mu, mu = mean(x)
    dmu = -dxc.sum(axis=0, keepdims=True)
    dx = dxc + dmu / N
    return dx, dgamma, dbeta
    ### END SOLUTION


def batchnorm_backward_alt(dout, cache):
    """Backward pass of ``batchnorm_forward`` in closed form (same inputs and results as
    ``batchnorm_backward``, fewer passes over the data):

        dx = gamma * inv_std / N * (N * dout - sum(dout) - xhat * sum(dout * xhat)),

    sums over the batch axis. In 'test' mode dx = gamma * inv_std * dout.

    Inputs:
    - dout: (N, D) upstream gradient.
    - cache: from ``batchnorm_forward``.

    Returns a tuple of:
    - dx: (N, D)
    - dgamma: (D,)
    - dbeta: (D,)
    """
    dout, xhat, gamma, _, inv_std, mode = _unpack_batchnorm_cache(dout, cache)
    ### BEGIN SOLUTION
    if mode == "test":
        return dout * (gamma * inv_std), (dout * xhat).sum(axis=0), dout.sum(axis=0)
    dx, dbeta, dgamma = _normalization_backward(dout, xhat, gamma * inv_std, axis=0)
    return dx, dgamma[0], dbeta[0]
    ### END SOLUTION


# ---------------------------------------------------------------------------------------------
# Layer normalization
# ---------------------------------------------------------------------------------------------

def layernorm_forward(x, gamma, beta, ln_param):
    """Layer normalization: statistics per sample over its D features, the same in training and
    at test time (any 'mode' key is ignored).

    out = gamma * (x - mu_i) / sqrt(var_i + eps) + beta, mu_i and var_i (biased) over row i.

    Inputs:
    - x: (N, D) data, D >= 1.
    - gamma: (D,) scale.
    - beta: (D,) shift.
    - ln_param: dict, optionally with 'eps' (> 0, default 1e-5).

    Returns a tuple of:
    - out: (N, D)
    - cache: (xhat, gamma, inv_std) with xhat (N, D) and inv_std (N, 1)
    """
    _require_dict(ln_param, "ln_param")
    eps = _eps(ln_param, "ln_param")
    x = float_array(x, "x")
    check_ndim(x, 2, "x", "(N, D)")
    N, D = x.shape
    if D == 0:
        raise ValueError(f"x of shape {x.shape} has no features to normalise over (D = 0)")
    gamma, beta = _scale_and_shift(x, gamma, beta, D, "D")
    ### BEGIN SOLUTION
    xhat, _, inv_std, _, _ = _standardize(x, 1, eps)
    out = gamma * xhat + beta
    cache = (xhat, gamma, inv_std)
    ### END SOLUTION
    return out, cache


def layernorm_backward(dout, cache):
    """Backward pass of ``layernorm_forward``.

    Inputs:
    - dout: (N, D) upstream gradient.
    - cache: from ``layernorm_forward``.

    Returns a tuple of:
    - dx: (N, D)
    - dgamma: (D,)
    - dbeta: (D,)
    """
    xhat, gamma, inv_std = _unpack_cache(cache, 3, "layernorm_forward")
    dout = float_array(dout, "dout")
    check_shape(dout, xhat.shape, "dout")
    ### BEGIN SOLUTION
    dx, _, _ = _normalization_backward(dout * gamma, xhat, inv_std, axis=1)
    dgamma = (dout * xhat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    ### END SOLUTION
    return dx, dgamma, dbeta


# ---------------------------------------------------------------------------------------------
# Spatial batch normalization
# ---------------------------------------------------------------------------------------------

def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization of feature maps: statistics per channel over N, H and W.

    Every (n, h, w) position counts as one sample of C features for ``batchnorm_forward``; the
    keys and side effect of bn_param are the same, with running statistics of shape (C,).

    Inputs:
    - x: (N, C, H, W) data; N * H * W >= 1 in 'train' mode.
    - gamma: (C,) scale.
    - beta: (C,) shift.
    - bn_param: as for ``batchnorm_forward``.

    Returns a tuple of:
    - out: (N, C, H, W)
    - cache: (bn_cache, x_shape), the ``batchnorm_forward`` cache of the reshaped input
    """
    x = float_array(x, "x")
    check_ndim(x, 4, "x", "(N, C, H, W)")
    N, C, H, W = x.shape
    _check_batchnorm_call(x, gamma, beta, bn_param, "C", C, N * H * W)
    _running_stats(bn_param, C, x.dtype, bn_param["mode"])  # only to check their shapes
    ### BEGIN SOLUTION
    x_rows = x.transpose(0, 2, 3, 1).reshape(N * H * W, C)
    out_rows, bn_cache = batchnorm_forward(x_rows, gamma, beta, bn_param)
    out = np.ascontiguousarray(out_rows.reshape(N, H, W, C).transpose(0, 3, 1, 2))
    cache = (bn_cache, x.shape)
    ### END SOLUTION
    return out, cache


def spatial_batchnorm_backward(dout, cache):
    """Backward pass of ``spatial_batchnorm_forward``.

    Inputs:
    - dout: (N, C, H, W) upstream gradient.
    - cache: from ``spatial_batchnorm_forward``.

    Returns a tuple of:
    - dx: (N, C, H, W)
    - dgamma: (C,)
    - dbeta: (C,)
    """
    bn_cache, x_shape = _unpack_cache(cache, 2, "spatial_batchnorm_forward")
    dout = float_array(dout, "dout")
    check_shape(dout, x_shape, "dout")
    ### BEGIN SOLUTION
    N, C, H, W = x_shape
    dout_rows = dout.transpose(0, 2, 3, 1).reshape(N * H * W, C)
    dx_rows, dgamma, dbeta = batchnorm_backward_alt(dout_rows, bn_cache)
    dx = np.ascontiguousarray(dx_rows.reshape(N, H, W, C).transpose(0, 3, 1, 2))
    ### END SOLUTION
    return dx, dgamma, dbeta


# ---------------------------------------------------------------------------------------------
# Spatial group normalization
# ---------------------------------------------------------------------------------------------

def _check_group_param(name, param, C):
    """gamma or beta of group normalization: shape (C,) or (1, C, 1, 1)."""
    param = float_array(param, name)
    if param.shape not in ((C,), (1, C, 1, 1)):
        raise ValueError(
            f"{name} must have shape (C,) = ({C},) or (1, C, 1, 1) = (1, {C}, 1, 1), got {param.shape}")
    return param


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """Group normalization: the C channels of each sample are split into G contiguous groups of
    C // G channels; each group is normalised over its (C // G, H, W) values. The same in training
    and at test time.

    Inputs:
    - x: (N, C, H, W) data, C divisible by G, (C // G) * H * W >= 1.
    - gamma: (C,) or (1, C, 1, 1) per-channel scale.
    - beta: (C,) or (1, C, 1, 1) per-channel shift.
    - G: positive int, the number of groups.
    - gn_param: dict, optionally with 'eps' (> 0, default 1e-5).

    Returns a tuple of:
    - out: (N, C, H, W)
    - cache: (xhat, gamma, beta_shape, inv_std) with xhat (N, C, H, W) and inv_std (N, G, 1)
    """
    _require_dict(gn_param, "gn_param")
    eps = _eps(gn_param, "gn_param")
    x = float_array(x, "x")
    check_ndim(x, 4, "x", "(N, C, H, W)")
    N, C, H, W = x.shape
    if isinstance(G, bool) or not isinstance(G, (int, np.integer)):
        raise TypeError(f"G must be a positive integer number of groups, got {G!r}")
    if G < 1:
        raise ValueError(f"G must be a positive integer number of groups, got {G}")
    if C % G:
        raise ValueError(f"the C = {C} channels of x cannot be split into G = {G} equal groups")
    if (C // G) * H * W == 0:
        raise ValueError(f"x of shape {x.shape} leaves no values in a group to normalise over")
    gamma = _check_group_param("gamma", gamma, C)
    beta = _check_group_param("beta", beta, C)
    ### BEGIN SOLUTION
    groups = x.reshape(N, G, -1)  # (N, G, C // G * H * W)
    xhat_groups, _, inv_std, _, _ = _standardize(groups, 2, eps)
    xhat = xhat_groups.reshape(N, C, H, W)
    out = gamma.reshape(1, C, 1, 1) * xhat + beta.reshape(1, C, 1, 1)
    cache = (xhat, gamma, beta.shape, inv_std)
    ### END SOLUTION
    return out, cache


def spatial_groupnorm_backward(dout, cache):
    """Backward pass of ``spatial_groupnorm_forward``.

    Inputs:
    - dout: (N, C, H, W) upstream gradient.
    - cache: from ``spatial_groupnorm_forward``.

    Returns a tuple of:
    - dx: (N, C, H, W)
    - dgamma: per-channel scale gradient, in gamma's shape ((C,) or (1, C, 1, 1))
    - dbeta: per-channel shift gradient, in beta's shape
    """
    xhat, gamma, beta_shape, inv_std = _unpack_cache(cache, 4, "spatial_groupnorm_forward")
    dout = float_array(dout, "dout")
    check_shape(dout, xhat.shape, "dout")
    ### BEGIN SOLUTION
    N, C, H, W = xhat.shape
    G = inv_std.shape[1]
    dxhat = (dout * gamma.reshape(1, C, 1, 1)).reshape(N, G, -1)  # (N, G, C // G * H * W)
    dx, _, _ = _normalization_backward(dxhat, xhat.reshape(N, G, -1), inv_std, axis=2)
    dx = dx.reshape(N, C, H, W)
    dgamma = (dout * xhat).sum(axis=(0, 2, 3)).reshape(gamma.shape)
    dbeta = dout.sum(axis=(0, 2, 3)).reshape(beta_shape)
    ### END SOLUTION
    return dx, dgamma, dbeta
