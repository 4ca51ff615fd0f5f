"""Normalization layers: batch, layer, spatial batch and spatial group normalization.

Each layer standardises its input over a set of axes, xhat = (x - mean) / sqrt(var + eps) with the
biased variance (divide by the number of values, not one less), then applies a learned
per-feature (or per-channel) scale and shift: out = gamma * xhat + beta. They differ only in which
axes the statistics are taken over:

    batchnorm_forward          x (N, D)        over N (per feature)
    layernorm_forward          x (N, D)        over D (per sample)
    spatial_batchnorm_forward  x (N, C, H, W)  over N, H, W (per channel)
    spatial_groupnorm_forward  x (N, C, H, W)  over C/G, H, W (per sample and channel group)

The student writes the part between the START/END lines; the given code around it checks the
inputs, reads the hyperparameters, stores the running statistics back into ``bn_param`` and
checks the shapes of what the student's code computed. The cache is the student's own: whatever
the forward pass stores in ``cache`` reaches the backward pass unchanged.

Inputs are validated up front and never modified. The one side effect is documented:
``batchnorm_forward`` in 'train' mode stores new running statistics in ``bn_param``.
float32 inputs give float32 outputs, gradients and running statistics.
"""

import numpy as np

from ._validate import unpack_cache as _unpack_cache
from ._validate import check_ndim, check_shape, float_array, float_param, mode_param, result_array

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
    """Return (running_mean, running_var), each a NEW array of shape (size,) in ``dtype``.

    Missing statistics start as zeros in 'train' mode (the first update then gives
    (1 - momentum) times the batch statistics). In 'test' mode before any training step they are
    taken as mean 0 and variance 1, so the layer is just the affine map gamma * x + beta (up to eps).
    The arrays are copies: the caller's arrays in bn_param are never written to.
    """
    stats = []
    for key, untrained in (("running_mean", 0.0), ("running_var", 1.0)):
        if key in bn_param:
            stat = float_array(bn_param[key], f"bn_param[{key!r}]")
            check_shape(stat, (size,), f"bn_param[{key!r}]")
            if not np.all(np.isfinite(stat)):
                raise ValueError(f"bn_param[{key!r}] holds non-finite values")
            stat = np.array(stat, dtype=dtype)
        else:
            stat = np.full(size, 0.0 if mode == "train" else untrained, dtype=dtype)
        stats.append(stat)
    if np.any(stats[1] < 0):
        raise ValueError(f"bn_param['running_var'] holds negative values (min {stats[1].min():g}); "
                         "a variance is >= 0")
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


def _check_dout(dout, ndim, layout):
    dout = float_array(dout, "dout")
    check_ndim(dout, ndim, "dout", layout)
    return dout


def _param_gradients(dgamma, dbeta, size, where, dtype):
    dgamma = result_array(dgamma, (size,), "dgamma", where, dtype)
    dbeta = result_array(dbeta, (size,), "dbeta", where, dtype)
    return dgamma, dbeta


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
      - 'running_mean', 'running_var': (D,) arrays, optional; the variance must be >= 0.

    Returns a tuple of:
    - out: (N, D)
    - cache: whatever the backward pass needs (your choice)
    """
    x = float_array(x, "x")
    check_ndim(x, 2, "x", "(N, D)")
    N, D = x.shape
    gamma, beta, mode, eps, momentum = _check_batchnorm_call(x, gamma, beta, bn_param, "D", D, N)
    running_mean, running_var = _running_stats(bn_param, D, x.dtype, mode)

    out, cache = None, None
    if mode == "train":
        # TODO: Implement the training-time forward pass for batch norm. Use minibatch statistics
        # to compute the mean and variance, normalize the incoming data, then scale and shift it
        # with gamma and beta. Store the output in out and what the backward pass needs in cache.
        # Also update running_mean and running_var with the momentum (exponential decay); the
        # code below stores them back into bn_param.
        ### BEGIN SOLUTION
        mu = x.mean(axis=0)
        xc = x - mu
        var = (xc ** 2).mean(axis=0)
        inv_std = 1 / np.sqrt(var + eps)
        xhat = xc * inv_std
        out = gamma * xhat + beta
        cache = (xhat, gamma, xc, inv_std, mode)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
        ### END SOLUTION
    else:
        # TODO: Implement the test-time forward pass for batch norm: normalize the data with the
        # running mean and variance, then scale and shift it. Store the result in out.
        ### BEGIN SOLUTION
        xc = x - running_mean
        inv_std = 1 / np.sqrt(running_var + eps)
        xhat = xc * inv_std
        out = gamma * xhat + beta
        cache = (xhat, gamma, xc, inv_std, mode)
        ### END SOLUTION

    dtype = np.result_type(x, gamma, beta)
    out = result_array(out, (N, D), "out", "batchnorm_forward", dtype)
    if mode == "train":
        # Store the updated running means back into bn_param
        bn_param["running_mean"] = result_array(running_mean, (D,), "running_mean", "batchnorm_forward", x.dtype)
        bn_param["running_var"] = result_array(running_var, (D,), "running_var", "batchnorm_forward", x.dtype)
    return out, cache


def batchnorm_backward(dout, cache):
    """Backward pass of ``batchnorm_forward`` in 'train' mode, stage by stage through the
    computation graph of the forward pass:
        mu = mean(x); xc = x - mu; var = mean(xc ** 2); std = sqrt(var + eps);
        xhat = xc / std; out = gamma * xhat + beta.

    Inputs:
    - dout: (N, D) upstream gradient.
    - cache: from ``batchnorm_forward``.

    Returns a tuple of:
    - dx: (N, D)
    - dgamma: (D,)
    - dbeta: (D,)
    """
    dout = _check_dout(dout, 2, "(N, D)")
    N, D = dout.shape
    dx, dgamma, dbeta = None, None, None
    # TODO: Implement the backward pass for batch normalization. Store the results in the dx,
    # dgamma and dbeta variables. Work through the computation graph one node at a time,
    # from the output back to x.
    ### BEGIN SOLUTION
    xhat, gamma, xc, inv_std, mode = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    if mode == "train":
        # xhat = xc * inv_std: xc reaches the output directly and through the statistics
        dxc = dxhat * inv_std
        dinv_std = (dxhat * xc).sum(axis=0)
        # inv_std = 1 / std; std = sqrt(var + eps)
        dstd = -dinv_std * inv_std ** 2
        dvar = dstd * inv_std / 2
        # var = mean(xc ** 2)
        dxc = dxc + 2 * xc * dvar / N
        # xc = x - mu; mu = mean(x)
        dmu = -dxc.sum(axis=0)
        dx = dxc + dmu / N
    else:
        dx = dxhat * inv_std
    ### END SOLUTION
    dtype = dout.dtype
    dx = result_array(dx, (N, D), "dx", "batchnorm_backward", dtype)
    dgamma, dbeta = _param_gradients(dgamma, dbeta, D, "batchnorm_backward", dtype)
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    """Backward pass of ``batchnorm_forward`` in 'train' mode, as one simplified expression:
    the same inputs and results as ``batchnorm_backward``, fewer passes over the data.

    Inputs:
    - dout: (N, D) upstream gradient.
    - cache: from ``batchnorm_forward``.

    Returns a tuple of:
    - dx: (N, D)
    - dgamma: (D,)
    - dbeta: (D,)
    """
    dout = _check_dout(dout, 2, "(N, D)")
    N, D = dout.shape
    dx, dgamma, dbeta = None, None, None
    # TODO: Implement the backward pass for batch normalization with the gradient with respect
    # to the inputs simplified on paper first. Store the results in dx, dgamma and dbeta.
    # Our implementation fits on a single 80-character line for dx.
    ### BEGIN SOLUTION
    xhat, gamma, xc, inv_std, mode = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    if mode == "train":
        dx = gamma * inv_std / N * (N * dout - dbeta - xhat * dgamma)
    else:
        dx = dout * gamma * inv_std
    ### END SOLUTION
    dtype = dout.dtype
    dx = result_array(dx, (N, D), "dx", "batchnorm_backward_alt", dtype)
    dgamma, dbeta = _param_gradients(dgamma, dbeta, D, "batchnorm_backward_alt", dtype)
    return dx, dgamma, dbeta


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
    - cache: whatever the backward pass needs (your choice)
    """
    _require_dict(ln_param, "ln_param")
    eps = _eps(ln_param, "ln_param")
    x = float_array(x, "x")
    check_ndim(x, 2, "x", "(N, D)")
    N, D = x.shape
    if D == 0:
        raise ValueError(f"x of shape {x.shape} has no features to normalise over (D = 0)")
    gamma, beta = _scale_and_shift(x, gamma, beta, D, "D")
    out, cache = None, None
    # TODO: Implement the training-time forward pass for layer norm: normalize each data point
    # over its features, then scale and shift. Hint: this can be done by slightly modifying your
    # training-time implementation of batch normalization.
    ### BEGIN SOLUTION
    mu = x.mean(axis=1, keepdims=True)
    xc = x - mu
    var = (xc ** 2).mean(axis=1, keepdims=True)
    inv_std = 1 / np.sqrt(var + eps)
    xhat = xc * inv_std
    out = gamma * xhat + beta
    cache = (xhat, gamma, inv_std)
    ### END SOLUTION
    out = result_array(out, (N, D), "out", "layernorm_forward", np.result_type(x, gamma, beta))
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
    dout = _check_dout(dout, 2, "(N, D)")
    N, D = dout.shape
    dx, dgamma, dbeta = None, None, None
    # TODO: Implement the backward pass for layer norm. Store the results in dx, dgamma and
    # dbeta. Hint: this can be done by slightly modifying your training-time implementation of
    # batch normalization.
    ### BEGIN SOLUTION
    xhat, gamma, inv_std = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dx = inv_std / D * (D * dxhat - dxhat.sum(axis=1, keepdims=True)
                        - xhat * (dxhat * xhat).sum(axis=1, keepdims=True))
    ### END SOLUTION
    dtype = dout.dtype
    dx = result_array(dx, (N, D), "dx", "layernorm_backward", dtype)
    dgamma, dbeta = _param_gradients(dgamma, dbeta, D, "layernorm_backward", dtype)
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
    - cache: whatever the backward pass needs (your choice)
    """
    x = float_array(x, "x")
    check_ndim(x, 4, "x", "(N, C, H, W)")
    N, C, H, W = x.shape
    gamma, beta, _, _, _ = _check_batchnorm_call(x, gamma, beta, bn_param, "C", C, N * H * W)
    _running_stats(bn_param, C, x.dtype, bn_param["mode"])  # only to check them
    out, cache = None, None
    # TODO: Implement the forward pass for spatial batch normalization, using the vanilla
    # version of batch normalization you implemented above. Your implementation should be very
    # short; ours is less than five lines.
    ### BEGIN SOLUTION
    x_rows = x.transpose(0, 2, 3, 1).reshape(N * H * W, C)
    out_rows, cache = batchnorm_forward(x_rows, gamma, beta, bn_param)
    out = out_rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)
    ### END SOLUTION
    out = result_array(out, (N, C, H, W), "out", "spatial_batchnorm_forward", np.result_type(x, gamma, beta))
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
    dout = _check_dout(dout, 4, "(N, C, H, W)")
    N, C, H, W = dout.shape
    dx, dgamma, dbeta = None, None, None
    # TODO: Implement the backward pass for spatial batch normalization, using the vanilla
    # version of batch normalization you implemented above. Your implementation should be very
    # short; ours is less than five lines.
    ### BEGIN SOLUTION
    dout_rows = dout.transpose(0, 2, 3, 1).reshape(N * H * W, C)
    dx_rows, dgamma, dbeta = batchnorm_backward_alt(dout_rows, cache)
    dx = dx_rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)
    ### END SOLUTION
    dtype = dout.dtype
    dx = np.ascontiguousarray(result_array(dx, (N, C, H, W), "dx", "spatial_batchnorm_backward", dtype))
    dgamma, dbeta = _param_gradients(dgamma, dbeta, C, "spatial_batchnorm_backward", dtype)
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
    - x: (N, C, H, W) data, C divisible by G, (C // G) * H * W >= 1; N = 0 gives an empty output.
    - gamma: (C,) or (1, C, 1, 1) per-channel scale; your code sees it as (1, C, 1, 1).
    - beta: (C,) or (1, C, 1, 1) per-channel shift; your code sees it as (1, C, 1, 1).
    - G: positive int, the number of groups.
    - gn_param: dict, optionally with 'eps' (> 0, default 1e-5).

    Returns a tuple of:
    - out: (N, C, H, W)
    - cache: (your cache, gamma's shape, beta's shape); the code you write builds the first item
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
    G = int(G)
    if C % G:
        raise ValueError(f"the C = {C} channels of x cannot be split into G = {G} equal groups")
    if (C // G) * H * W == 0:
        raise ValueError(f"x of shape {x.shape} leaves no values in a group to normalise over")
    gamma = _check_group_param("gamma", gamma, C)
    beta = _check_group_param("beta", beta, C)
    shapes = (gamma.shape, beta.shape)
    dtype = np.result_type(x, gamma, beta)
    if N == 0:  # nothing to normalise; the backward pass returns zero parameter gradients
        return np.zeros(x.shape, dtype=dtype), (None, *shapes)
    gamma, beta = gamma.reshape(1, C, 1, 1), beta.reshape(1, C, 1, 1)
    out, cache = None, None
    # TODO: Implement the forward pass for spatial group normalization: split the channels of
    # each sample into G groups, normalize each group over its values, then scale and shift
    # each channel. Hint: this will be extremely similar to the layer norm implementation; a
    # reshape gives each group a row of its own.
    ### BEGIN SOLUTION
    groups = x.reshape(N, G, -1)  # (N, G, C // G * H * W)
    mu = groups.mean(axis=2, keepdims=True)
    xc = groups - mu
    var = (xc ** 2).mean(axis=2, keepdims=True)
    inv_std = 1 / np.sqrt(var + eps)
    xhat = (xc * inv_std).reshape(N, C, H, W)
    out = gamma * xhat + beta
    cache = (xhat, gamma, inv_std, G)
    ### END SOLUTION
    out = result_array(out, (N, C, H, W), "out", "spatial_groupnorm_forward", dtype)
    return out, (cache, *shapes)


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
    cache, gamma_shape, beta_shape = _unpack_cache(cache, 3, "spatial_groupnorm_forward")
    dout = _check_dout(dout, 4, "(N, C, H, W)")
    N, C, H, W = dout.shape
    if N == 0:
        return (np.zeros(dout.shape, dout.dtype), np.zeros(gamma_shape, dout.dtype),
                np.zeros(beta_shape, dout.dtype))
    dx, dgamma, dbeta = None, None, None
    # TODO: Implement the backward pass for spatial group normalization. Store the results in
    # dx, dgamma and dbeta (dgamma and dbeta of shape (1, C, 1, 1) or (C,)). Hint: this will be
    # extremely similar to the layer norm implementation.
    ### BEGIN SOLUTION
    xhat, gamma, inv_std, G = cache
    dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)
    dgamma = (dout * xhat).sum(axis=(0, 2, 3), keepdims=True)
    dxhat = (dout * gamma).reshape(N, G, -1)
    xhat_groups = xhat.reshape(N, G, -1)
    M = xhat_groups.shape[2]  # values per group
    dx = inv_std / M * (M * dxhat - dxhat.sum(axis=2, keepdims=True)
                        - xhat_groups * (dxhat * xhat_groups).sum(axis=2, keepdims=True))
    dx = dx.reshape(N, C, H, W)
    ### END SOLUTION
    dtype = dout.dtype
    dx = result_array(dx, (N, C, H, W), "dx", "spatial_groupnorm_backward", dtype)
    grads = []
    for name, grad, shape in (("dgamma", dgamma, gamma_shape), ("dbeta", dbeta, beta_shape)):
        if isinstance(grad, np.ndarray) and grad.shape in ((C,), (1, C, 1, 1)):
            grad = grad.reshape(shape)  # either layout of a per-channel gradient is accepted
        grads.append(result_array(grad, shape, name, "spatial_groupnorm_backward", dtype))
    return (dx, *grads)
