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

import os as _os

__version__ = "0.1.0"

# OpenBLAS (numpy's BLAS) keeps its idle threads spinning for 2**28 cycles, about 0.1 s, after
# every matrix product, and in a training step they take the cores from the fast layers' and the
# Solver's own threads: 2**4 cycles made a ThreeLayerConvNet Solver step about a third faster
# (float32, 2 cores; benchmarks/README.md). OpenBLAS reads the variable once, when numpy loads,
# so it takes effect when cs231n is imported before numpy (the notebooks' setup cells do), and in
# processes started from this one (Jupyter kernels, grading workers). A value already set wins.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
