"""Fully connected networks: ``TwoLayerNet`` and ``FullyConnectedNet`` of any depth.

Every model keeps its learnable parameters in the dict ``model.params`` and has one method,
``model.loss(X, y=None)``: without labels it returns the class scores (test mode); with labels
it returns ``(loss, grads)``, ``grads`` keyed like ``params``. The loss is the softmax
cross-entropy plus the L2 penalty ``0.5 * reg * sum(W ** 2)`` over the weight matrices (biases
and normalization parameters are not regularised). ``Solver`` trains any such model.

Random initialisation. Every constructor takes ``rng``: a seed or a ``numpy.random.Generator``
gives an initialisation that depends on it alone. With ``rng=None`` (the default) the weights
are drawn with ``np.random.randn``, i.e. from numpy's global random state, which belongs to the
caller: the course notebooks call ``np.random.seed(231)`` before building a model and expect a
reproducible model. The library itself never seeds or otherwise touches that global state.
"""

import numbers

import numpy as np

from .._validate import check_labels, check_model_gradients, float_array, float_dtype, loss_value
from .._validate import positive_int as _positive_int
from .._validate import real as _real
from ..layer_utils import (
    affine_norm_relu_backward, affine_norm_relu_forward, affine_relu_backward, affine_relu_forward,
    conv_bn_relu_backward, conv_bn_relu_forward, conv_relu_backward, conv_relu_forward,
    conv_relu_pool_backward, conv_relu_pool_forward,
)
from ..layers import (
    affine_backward, affine_forward, batchnorm_backward, batchnorm_backward_alt, batchnorm_forward,
    conv_backward_naive, conv_forward_naive, dropout_backward, dropout_forward, layernorm_backward,
    layernorm_forward, max_pool_backward_naive, max_pool_forward_naive, relu_backward, relu_forward,
    softmax_loss, spatial_batchnorm_backward, spatial_batchnorm_forward, spatial_groupnorm_backward,
    spatial_groupnorm_forward, svm_loss,
)

# The layer functions and sandwich layers are re-exported, so that
# ``from cs231n.classifiers.fc_net import *`` brings them into a notebook as the original
# module's star imports did.
LAYER_NAMES = [
    "affine_forward", "affine_backward", "relu_forward", "relu_backward", "svm_loss", "softmax_loss",
    "dropout_forward", "dropout_backward", "conv_forward_naive", "conv_backward_naive",
    "max_pool_forward_naive", "max_pool_backward_naive", "batchnorm_forward", "batchnorm_backward",
    "batchnorm_backward_alt", "layernorm_forward", "layernorm_backward", "spatial_batchnorm_forward",
    "spatial_batchnorm_backward", "spatial_groupnorm_forward", "spatial_groupnorm_backward",
    "affine_relu_forward", "affine_relu_backward", "affine_norm_relu_forward",
    "affine_norm_relu_backward", "conv_relu_forward", "conv_relu_backward", "conv_bn_relu_forward",
    "conv_bn_relu_backward", "conv_relu_pool_forward", "conv_relu_pool_backward",
]
__all__ = ["TwoLayerNet", "FullyConnectedNet", *LAYER_NAMES]


# ---------------------------------------------------------------------------------------------
# Helpers shared with cnn.py (given code)
# ---------------------------------------------------------------------------------------------

_float_dtype = float_dtype


def _normal_sampler(rng):
    """Return ``normal(std, shape)`` drawing N(0, std^2) samples as float64.

    rng=None draws from numpy's global state with np.random.randn (the caller's state; it is
    read, never seeded). A seed or a Generator draws from np.random.default_rng(rng) instead.
    """
    if rng is None:
        return lambda std, shape: std * np.random.randn(*shape)
    if isinstance(rng, bool) or not isinstance(rng, (numbers.Integral, np.random.Generator)):
        raise TypeError(f"rng must be None, a non-negative integer seed or a numpy Generator, got {rng!r}")
    if isinstance(rng, numbers.Integral) and rng < 0:
        raise ValueError(f"rng seed must be non-negative, got {rng!r}")
    generator = np.random.default_rng(rng)
    return lambda std, shape: std * generator.standard_normal(shape)


def _as_input(X, dtype, sample_shape):
    """Validate a batch X of shape (N, *sample_shape) or (N, D) and return it in ``dtype``.

    ``dtype`` None keeps floating inputs as they are. X itself is never modified.
    """
    X = float_array(X, "X")
    if X.ndim < 2 or X.shape[0] < 1:
        raise ValueError(f"X must be a batch of shape (N, {', '.join(map(str, sample_shape))}) "
                         f"with N >= 1, got shape {X.shape}")
    size = int(np.prod(sample_shape))
    if len(sample_shape) == 1:
        ok = int(np.prod(X.shape[1:])) == size
    else:
        ok = X.shape[1:] == tuple(sample_shape)
    if not ok:
        raise ValueError(f"X must have shape (N, {', '.join(map(str, sample_shape))}) for this model, "
                         f"got {X.shape}")
    return X if dtype is None else X.astype(dtype, copy=False)


def _check_targets(y, X, num_classes):
    if y is not None:
        check_labels(y, X.shape[0], num_classes)


def _finish_loss(model, loss, grads):
    """Given code after a model's backward region: check the loss and the gradients."""
    where = f"{type(model).__name__}.loss"
    loss = loss_value(loss, where)
    check_model_gradients(model.params, grads, where)
    return loss, grads


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------

class TwoLayerNet:
    """Two-layer fully connected network: affine - relu - affine - softmax.

    Inputs have D = input_dim features (an image batch of shape (N, d_1, ..., d_k) is flattened
    to (N, D) rows); the hidden layer has H = hidden_dim units; there are C = num_classes classes.

    Parameters, in ``self.params`` (float64):
    - 'W1': (D, H) and 'b1': (H,)
    - 'W2': (H, C) and 'b2': (C,)
    Weights are drawn from N(0, weight_scale^2), biases are zero (see the module docstring for
    ``rng``).
    """

    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10,
                 weight_scale=1e-3, reg=0.0, rng=None):
        """
        Inputs:
        - input_dim: D, the number of input features (positive integer).
        - hidden_dim: H, the number of hidden units (positive integer).
        - num_classes: C, the number of classes (positive integer).
        - weight_scale: standard deviation of the initial weights (> 0).
        - reg: L2 regularisation strength (>= 0).
        - rng: None (draw from np.random's global state), a seed or a numpy Generator.
        """
        input_dim = _positive_int(input_dim, "input_dim")
        hidden_dim = _positive_int(hidden_dim, "hidden_dim")
        num_classes = _positive_int(num_classes, "num_classes")
        weight_scale = _real(weight_scale, "weight_scale", 0.0, low_open=True)
        self.reg = _real(reg, "reg", 0.0)
        self.input_dim = input_dim
        self.num_classes = num_classes
        normal = _normal_sampler(rng)  # normal(std, shape): N(0, std^2) samples
        self.params = {}
        # TODO: Initialize the weights and biases of the two-layer net. Weights should be
        # initialized from a Gaussian centered at 0.0 with standard deviation equal to
        # weight_scale (draw them with normal(weight_scale, shape)), and biases should be
        # initialized to zero. All weights and biases should be stored in the dictionary
        # self.params, with first layer weights and biases using the keys 'W1' and 'b1' and
        # second layer weights and biases using the keys 'W2' and 'b2'.
        ### BEGIN SOLUTION
        self.params["W1"] = normal(weight_scale, (input_dim, hidden_dim))
        self.params["b1"] = np.zeros(hidden_dim)
        self.params["W2"] = normal(weight_scale, (hidden_dim, num_classes))
        self.params["b2"] = np.zeros(num_classes)
        ### END SOLUTION

    def loss(self, X, y=None):
        """Class scores, or the loss and its gradients.

        Inputs:
        - X: (N, d_1, ..., d_k) inputs with d_1 * ... * d_k = D.
        - y: (N,) integer labels in [0, C), or None.

        Returns:
        - if y is None: scores, (N, C)
        - otherwise a tuple (loss, grads): loss a Python float; grads a dict with the keys of
          self.params, each gradient shaped like its parameter.
        """
        X = _as_input(X, None, (self.input_dim,))
        _check_targets(y, X, self.num_classes)
        scores = None
        # TODO: Implement the forward pass for the two-layer net, computing the class scores for
        # X and storing them in the scores variable.
        ### BEGIN SOLUTION
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        hidden, hidden_cache = affine_relu_forward(X, W1, b1)
        scores, scores_cache = affine_forward(hidden, W2, b2)
        ### END SOLUTION

        # If y is None then we are in test mode so just return scores
        if y is None:
            return scores

        loss, grads = 0, {}
        # TODO: Implement the backward pass for the two-layer net. Store the loss in the loss
        # variable and gradients in the grads dictionary. Compute data loss using softmax, and
        # make sure that grads[k] holds the gradients for self.params[k]. Don't forget to add L2
        # regularization! NOTE: To match the reference, make sure that your L2 regularization
        # includes a factor of 0.5 to simplify the expression for the gradient.
        ### BEGIN SOLUTION
        loss, dscores = softmax_loss(scores, y)
        loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        dhidden, grads["W2"], grads["b2"] = affine_backward(dscores, scores_cache)
        _, grads["W1"], grads["b1"] = affine_relu_backward(dhidden, hidden_cache)
        grads["W1"] += self.reg * W1
        grads["W2"] += self.reg * W2
        ### END SOLUTION
        return _finish_loss(self, loss, grads)


class FullyConnectedNet:
    """Fully connected network of any depth.

    With L = len(hidden_dims) + 1 layers the architecture is

        {affine - [batchnorm | layernorm] - relu - [dropout]} x (L - 1) - affine - softmax

    Parameters, in ``self.params`` (all of dtype ``dtype``), for i = 1..L:
    - 'W{i}': (fan_in, fan_out) weights from N(0, weight_scale^2); 'b{i}': (fan_out,) zeros.
    - with normalization, for i = 1..L-1: 'gamma{i}' (ones) and 'beta{i}' (zeros), of the width
      of hidden layer i. They are not regularised.

    State besides the parameters:
    - self.bn_params: one dict per normalization layer, {'mode': 'train'} to start with;
      batchnorm keeps its running mean and variance in it.
    - self.dropout_param: {'mode': 'train', 'p': keep probability}, plus 'seed' when a seed is
      given (Solver may update that seed at every step); every dropout layer uses it, as in the
      original assignment.

    ``loss(X)`` without labels runs in test mode (batchnorm uses its running statistics,
    dropout is off); with labels it runs in training mode.
    """

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout=None,
                 normalization=None, reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None,
                 rng=None, *, dropout_keep_ratio=None):
        """
        Inputs:
        - hidden_dims: non-empty list of positive integers, the width of each hidden layer.
        - input_dim: D, the number of input features.
        - num_classes: C, the number of classes.
        - dropout: probability of KEEPING a hidden unit, in (0, 1]; 1 (the default) means no
          dropout. The 2019 edition's name.
        - dropout_keep_ratio: the same keep probability under the name of the course's current
          (2025/2026) edition. Pass at most one of dropout and dropout_keep_ratio.
        - normalization: None, 'batchnorm' or 'layernorm'.
        - reg: L2 regularisation strength (>= 0).
        - weight_scale: standard deviation of the initial weights (> 0).
        - dtype: floating dtype of the parameters and of the computation; np.float32 is
          faster, np.float64 is needed for numeric gradient checks.
        - seed: None, or a non-negative integer making dropout deterministic.
        - rng: initialisation randomness: None (np.random's global state), a seed or a
          numpy Generator.
        """
        if dropout is not None and dropout_keep_ratio is not None:
            raise TypeError("pass the keep probability as dropout (2019 edition) or as "
                            "dropout_keep_ratio (current edition), not both")
        keep = dropout_keep_ratio if dropout_keep_ratio is not None else dropout
        keep_name = "dropout_keep_ratio" if dropout_keep_ratio is not None else "dropout"
        keep = 1 if keep is None else keep
        if isinstance(hidden_dims, (str, bytes)) or not hasattr(hidden_dims, "__len__"):
            raise TypeError(f"hidden_dims must be a list of positive integers, got {hidden_dims!r}")
        if len(hidden_dims) == 0:
            raise ValueError("hidden_dims must list at least one hidden layer width, got an empty list")
        hidden_dims = [_positive_int(h, f"hidden_dims[{i}]") for i, h in enumerate(hidden_dims)]
        input_dim = _positive_int(input_dim, "input_dim")
        num_classes = _positive_int(num_classes, "num_classes")
        keep = _real(keep, f"{keep_name} (the keep probability)", 0.0, low_open=True, high=1.0)
        if normalization not in (None, "batchnorm", "layernorm"):
            raise ValueError(f"normalization must be None, 'batchnorm' or 'layernorm', got {normalization!r}")
        self.reg = _real(reg, "reg", 0.0)
        weight_scale = _real(weight_scale, "weight_scale", 0.0, low_open=True)
        self.dtype = _float_dtype(dtype)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or seed < 0):
            raise ValueError(f"seed must be None or a non-negative integer, got {seed!r}")

        self.normalization = normalization
        self.use_dropout = keep != 1
        self.num_layers = 1 + len(hidden_dims)
        self.input_dim = input_dim
        self.num_classes = num_classes
        normal = _normal_sampler(rng)  # normal(std, shape): N(0, std^2) samples
        self.params = {}
        # TODO: Initialize the parameters of the network, storing all values in the self.params
        # dictionary. Store weights and biases for the first layer in W1 and b1; for the second
        # layer use W2 and b2, etc. Weights should be initialized from a normal distribution
        # centered at 0 with standard deviation equal to weight_scale (draw them with
        # normal(weight_scale, shape)). Biases should be initialized to zero.
        # When using batch or layer normalization, store scale and shift parameters for the
        # first layer in gamma1 and beta1; for the second layer use gamma2 and beta2, etc.
        # Scale parameters should be initialized to ones and shift parameters to zeros.
        ### BEGIN SOLUTION
        dims = [input_dim] + hidden_dims + [num_classes]
        for i in range(1, self.num_layers + 1):
            fan_in, fan_out = dims[i - 1], dims[i]
            self.params[f"W{i}"] = normal(weight_scale, (fan_in, fan_out))
            self.params[f"b{i}"] = np.zeros(fan_out)
            if normalization is not None and i < self.num_layers:
                self.params[f"gamma{i}"] = np.ones(fan_out)
                self.params[f"beta{i}"] = np.zeros(fan_out)
        ### END SOLUTION

        # When using dropout we need to pass a dropout_param dictionary to each dropout layer
        # so that the layer knows the dropout probability and the mode (train / test). You can
        # pass the same dropout_param to each dropout layer.
        self.dropout_param = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": keep}
            if seed is not None:
                self.dropout_param["seed"] = int(seed)
        # With batch normalization we need to keep track of running means and variances, so we
        # need to pass a special bn_param object to each batch normalization layer. You should
        # pass self.bn_params[0] to the forward pass of the first batch normalization layer,
        # self.bn_params[1] to the forward pass of the second one, etc.
        self.bn_params = []
        if normalization is not None:
            self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]

        # Cast all parameters to the correct datatype
        for k, v in self.params.items():
            self.params[k] = v.astype(self.dtype)

    def loss(self, X, y=None):
        """Class scores (test mode), or the loss and its gradients (training mode).

        Inputs:
        - X: (N, d_1, ..., d_k) inputs with d_1 * ... * d_k = D; computed in self.dtype.
        - y: (N,) integer labels in [0, C), or None.

        Returns:
        - if y is None: scores, (N, C) of self.dtype
        - otherwise a tuple (loss, grads): loss a Python float; grads a dict with the keys of
          self.params, each gradient shaped like its parameter.
        """
        X = _as_input(X, self.dtype, (self.input_dim,))
        _check_targets(y, X, self.num_classes)
        mode = "test" if y is None else "train"

        # Set train/test mode for batchnorm params and dropout param since they behave
        # differently during training and testing.
        if self.use_dropout:
            self.dropout_param["mode"] = mode
        for bn_param in self.bn_params:
            bn_param["mode"] = mode
        scores = None
        # TODO: Implement the forward pass for the fully connected net, computing the class
        # scores for X and storing them in the scores variable. When using dropout, pass
        # self.dropout_param to each dropout forward pass. When using batch normalization, pass
        # self.bn_params[0] to the forward pass of the first batch normalization layer, etc.
        # You may find the sandwich layers of cs231n/layer_utils.py useful.
        ### BEGIN SOLUTION
        L = self.num_layers
        hidden = X
        caches = []
        for i in range(1, L):
            W, b = self.params[f"W{i}"], self.params[f"b{i}"]
            if self.normalization is None:
                hidden, cache = affine_relu_forward(hidden, W, b)
            else:
                hidden, cache = affine_norm_relu_forward(
                    hidden, W, b, self.params[f"gamma{i}"], self.params[f"beta{i}"],
                    self.bn_params[i - 1], self.normalization)
            drop_cache = None
            if self.use_dropout:
                hidden, drop_cache = dropout_forward(hidden, self.dropout_param)
            caches.append((cache, drop_cache))
        scores, scores_cache = affine_forward(hidden, self.params[f"W{L}"], self.params[f"b{L}"])
        ### END SOLUTION

        # If test mode return early
        if mode == "test":
            return scores

        loss, grads = 0.0, {}
        # TODO: Implement the backward pass for the fully connected net. Store the loss in the
        # loss variable and gradients in the grads dictionary. Compute data loss using softmax,
        # and make sure that grads[k] holds the gradients for self.params[k]. Don't forget to add
        # L2 regularization! When using batch/layer normalization, you don't need to regularize
        # the scale and shift parameters. NOTE: To match the reference, make sure that your L2
        # regularization includes a factor of 0.5 to simplify the expression for the gradient.
        ### BEGIN SOLUTION
        loss, dscores = softmax_loss(scores, y)
        dhidden, grads[f"W{L}"], grads[f"b{L}"] = affine_backward(dscores, scores_cache)
        for i in range(L - 1, 0, -1):
            cache, drop_cache = caches[i - 1]
            if self.use_dropout:
                dhidden = dropout_backward(dhidden, drop_cache)
            if self.normalization is None:
                dhidden, grads[f"W{i}"], grads[f"b{i}"] = affine_relu_backward(dhidden, cache)
            else:
                (dhidden, grads[f"W{i}"], grads[f"b{i}"],
                 grads[f"gamma{i}"], grads[f"beta{i}"]) = affine_norm_relu_backward(dhidden, cache)
        for i in range(1, L + 1):
            W = self.params[f"W{i}"]
            loss += 0.5 * self.reg * np.sum(W * W)
            grads[f"W{i}"] += self.reg * W
        ### END SOLUTION
        return _finish_loss(self, loss, grads)
