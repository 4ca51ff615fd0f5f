"""cs231n: CS231n Assignment 2 (convolutional networks) in pure numpy.

Modules, in import order (each imports only from those before it):

- ``layers``, ``normalization``: forward/backward pairs of every layer (naive reference code).
- ``fast_layers``: drop-in fast twins of the naive convolution and max-pooling layers.
- ``layer_utils``: "sandwich" layers (affine-relu, conv-relu-pool, ...).
- ``classifiers``: ``TwoLayerNet``, ``FullyConnectedNet``, ``ThreeLayerConvNet``.
- ``optim`` -> ``checkpoint`` -> ``solver``: update rules, checkpoint files, the training loop.
- ``gradient_check``, ``data_utils``, ``download``, ``vis_utils``, ``notebook_utils``,
  ``torch_utils`` (optional torch): tools for the notebooks.
- ``submission`` (the collector) and ``selfcheck`` (the public checks): the student's tools.
"""

__version__ = "0.1.0"
