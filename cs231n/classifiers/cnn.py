"""A small convolutional network: ``ThreeLayerConvNet``.

Same model interface as the fully connected networks (see ``fc_net``): parameters in
``model.params``, ``model.loss(X)`` -> scores, ``model.loss(X, y)`` -> (loss, grads), L2 penalty
``0.5 * reg * sum(W ** 2)`` over the three weight arrays, ``rng`` for reproducible
initialisation (None draws from np.random's global state, which belongs to the caller).
"""

import numpy as np

from .._validate import float_dtype as _float_dtype
from .._validate import positive_int as _positive_int
from .._validate import real as _real
from ..fast_layers import (
    conv_backward_fast, conv_forward_fast, max_pool_backward_fast, max_pool_forward_fast,
)
from . import fc_net
from .fc_net import (  # the layer functions and sandwich layers, re-exported (see LAYER_NAMES)
    affine_backward, affine_forward, affine_norm_relu_backward, affine_norm_relu_forward,
    affine_relu_backward, affine_relu_forward, batchnorm_backward, batchnorm_backward_alt,
    batchnorm_forward, conv_backward_naive, conv_bn_relu_backward, conv_bn_relu_forward,
    conv_forward_naive, conv_relu_backward, conv_relu_forward, conv_relu_pool_backward,
    conv_relu_pool_forward, dropout_backward, dropout_forward, layernorm_backward,
    layernorm_forward, max_pool_backward_naive, max_pool_forward_naive, relu_backward,
    relu_forward, softmax_loss, spatial_batchnorm_backward, spatial_batchnorm_forward,
    spatial_groupnorm_backward, spatial_groupnorm_forward, svm_loss,
)
from .fc_net import _as_input, _check_targets, _finish_loss, _normal_sampler

# ``from cs231n.classifiers.cnn import *`` brings the layer functions, the fast layers and the
# sandwich layers into a notebook, as the original module's star imports did.
FAST_LAYER_NAMES = ["conv_forward_fast", "conv_backward_fast", "max_pool_forward_fast",
                    "max_pool_backward_fast"]
__all__ = ["ThreeLayerConvNet", *fc_net.LAYER_NAMES, *FAST_LAYER_NAMES]

INITS = ("gaussian", "kaiming", "he")


class ThreeLayerConvNet:
    """Three-layer convolutional network:

        conv - relu - 2x2 max pool - affine - relu - affine - softmax

    on inputs of shape (N, C, H, W). The convolution has F = num_filters filters of size
    filter_size x filter_size, stride 1 and zero padding (filter_size - 1) // 2, so it keeps the
    H x W size (filter_size must therefore be odd). The 2x2 pool with stride 2 gives
    H2 = H // 2 by W2 = W // 2 (floor: an odd last row or column is dropped). The hidden affine
    layer has M = hidden_dim units; there are K = num_classes classes.

    Parameters, in ``self.params`` (of dtype ``dtype``):
    - 'W1': (F, C, filter_size, filter_size), 'b1': (F,)
    - 'W2': (F * H2 * W2, M), 'b2': (M,)
    - 'W3': (M, K), 'b3': (K,)
    Biases start at zero. Weights are drawn according to ``init``:
    - 'gaussian' (default, the original recipe): N(0, weight_scale^2) for all three.
    - 'kaiming' (alias 'he'): N(0, 2 / fan_in) for W1 and W2, which feed a ReLU, and
      N(0, 1 / fan_in) for W3, which gives the scores; fan_in is C * filter_size^2,
      F * H2 * W2 and M. weight_scale is then unused. This keeps the activations at the scale
      of the input, so it assumes inputs of unit variance: divide the mean-subtracted images
      by their standard deviation (about 64 for CIFAR-10 pixel values) before training.

    ``loss`` casts X to ``dtype`` (float32 by default: fast, and accurate enough for training;
    use float64 for numeric gradient checks) and does not compute the gradient with respect to
    the images, which no parameter update needs.

    A better one-epoch recipe on CIFAR-10 than the original (init='gaussian', weight_scale=1e-3,
    Adam at 1e-3; 43-48% validation accuracy over seeds 0-4): divide the mean-subtracted images
    by their standard deviation, use init='kaiming', and let Adam start at 2e-3 and decay
    linearly to 0 over the epoch with ``optim.scheduled_rule('adam', total_steps)`` (57-60% over
    three seeds, same batch size 50).
    """

    def __init__(self, input_dim=(3, 32, 32), num_filters=32, filter_size=7, hidden_dim=100,
                 num_classes=10, weight_scale=1e-3, reg=0.0, dtype=np.float32, init="gaussian",
                 rng=None):
        """
        Inputs:
        - input_dim: (C, H, W), the shape of one image; H and W at least 2 (for the pool).
        - num_filters: F, the number of convolution filters.
        - filter_size: odd width and height of the filters.
        - hidden_dim: M, the number of units of the hidden affine layer.
        - num_classes: K, the number of classes.
        - weight_scale: standard deviation of the initial weights for init='gaussian' (> 0).
        - reg: L2 regularisation strength (>= 0).
        - dtype: floating dtype of the parameters and of the computation.
        - init: 'gaussian', 'kaiming' or 'he' (see the class docstring).
        - rng: None (np.random's global state), a seed or a numpy Generator.
        """
        if isinstance(input_dim, (str, bytes)) or not hasattr(input_dim, "__len__") or len(input_dim) != 3:
            raise ValueError(f"input_dim must be a tuple (C, H, W), got {input_dim!r}")
        C, H, W = (_positive_int(d, f"input_dim[{i}]") for i, d in enumerate(input_dim))
        if H < 2 or W < 2:
            raise ValueError(f"input_dim (C, H, W) needs H >= 2 and W >= 2 for the 2x2 max pool, "
                             f"got {tuple(input_dim)!r}")
        F = _positive_int(num_filters, "num_filters")
        filter_size = _positive_int(filter_size, "filter_size")
        if filter_size % 2 == 0:
            raise ValueError(f"filter_size must be odd so that the padded convolution keeps the "
                             f"input size, got {filter_size}")
        M = _positive_int(hidden_dim, "hidden_dim")
        K = _positive_int(num_classes, "num_classes")
        weight_scale = _real(weight_scale, "weight_scale", 0.0, low_open=True)
        self.reg = _real(reg, "reg", 0.0)
        self.dtype = _float_dtype(dtype)
        if init not in INITS:
            raise ValueError(f"init must be one of {', '.join(map(repr, INITS))}, got {init!r}")
        self.input_dim = (C, H, W)
        self.num_classes = K
        self.filter_size = filter_size
        normal = _normal_sampler(rng)
        H2, W2 = H // 2, W // 2
        fan_ins = (C * filter_size * filter_size, F * H2 * W2, M)
        if init == "gaussian":
            stds = (weight_scale,) * 3
        else:
            stds = (np.sqrt(2.0 / fan_ins[0]), np.sqrt(2.0 / fan_ins[1]), np.sqrt(1.0 / fan_ins[2]))
        self.params = {}
        # TODO: Initialize weights and biases for the three-layer convolutional network. Weights
        # are drawn with normal(std, shape), using stds[0], stds[1] and stds[2] (computed above
        # from init and weight_scale) for the three layers; biases are zeros. Store the weights
        # and biases for the convolutional layer using the keys 'W1' and 'b1'; use keys 'W2' and
        # 'b2' for the weights and biases of the hidden affine layer, and keys 'W3' and 'b3' for
        # the weights and biases of the output affine layer. IMPORTANT: assume that the padding
        # and stride of the first convolutional layer are chosen so that the width and height of
        # the input are preserved (H2 = H // 2 and W2 = W // 2 after the pool are given above).
        ### BEGIN SOLUTION
        self.params["W1"] = normal(stds[0], (F, C, filter_size, filter_size))
        self.params["b1"] = np.zeros(F)
        self.params["W2"] = normal(stds[1], (F * H2 * W2, M))
        self.params["b2"] = np.zeros(M)
        self.params["W3"] = normal(stds[2], (M, K))
        self.params["b3"] = np.zeros(K)
        ### END SOLUTION

        for k, v in self.params.items():
            self.params[k] = v.astype(self.dtype)

    def loss(self, X, y=None):
        """Class scores, or the loss and its gradients.

        Inputs:
        - X: (N, C, H, W) images; cast to self.dtype (X itself is not modified).
        - y: (N,) integer labels in [0, K), or None.

        Returns:
        - if y is None: scores, (N, K) of self.dtype
        - otherwise a tuple (loss, grads): loss a Python float; grads a dict with the keys of
          self.params, each gradient shaped like its parameter.
        """
        X = _as_input(X, self.dtype, self.input_dim)
        _check_targets(y, X, self.num_classes)
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        W3, b3 = self.params["W3"], self.params["b3"]

        # pass conv_param to the forward pass for the convolutional layer
        # Padding and stride chosen to preserve the input spatial size
        filter_size = W1.shape[2]
        conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}

        # pass pool_param to the forward pass for the max-pooling layer
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

        scores = None
        # TODO: Implement the forward pass for the three-layer convolutional net, computing the
        # class scores for X and storing them in the scores variable. Remember you can use the
        # functions defined in cs231n/fast_layers.py and cs231n/layer_utils.py in your
        # implementation (already imported).
        ### BEGIN SOLUTION
        pooled, conv_cache = conv_relu_pool_forward(X, W1, b1, conv_param, pool_param)
        hidden, hidden_cache = affine_relu_forward(pooled, W2, b2)
        scores, scores_cache = affine_forward(hidden, W3, b3)
        ### END SOLUTION

        if y is None:
            return scores

        loss, grads = 0, {}
        # TODO: Implement the backward pass for the three-layer convolutional net, storing the
        # loss and gradients in the loss and grads variables. Compute data loss using softmax,
        # and make sure that grads[k] holds the gradients for self.params[k]. Don't forget to add
        # L2 regularization! NOTE: To match the reference, make sure that your L2 regularization
        # includes a factor of 0.5 to simplify the expression for the gradient.
        ### BEGIN SOLUTION
        loss, dscores = softmax_loss(scores, y)
        loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2) + np.sum(W3 * W3))
        dhidden, grads["W3"], grads["b3"] = affine_backward(dscores, scores_cache)
        dpooled, grads["W2"], grads["b2"] = affine_relu_backward(dhidden, hidden_cache)
        _, grads["W1"], grads["b1"] = conv_relu_pool_backward(dpooled, conv_cache, need_dx=False)
        grads["W1"] += self.reg * W1
        grads["W2"] += self.reg * W2
        grads["W3"] += self.reg * W3
        ### END SOLUTION
        return _finish_loss(self, loss, grads)
