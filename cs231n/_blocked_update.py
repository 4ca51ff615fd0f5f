"""Solver plumbing: run an elementwise update rule over a large parameter block by block.

A textbook update rule (``optim.adam`` as a student writes it) makes a new array for every
operation: for the ConvNet's 8192 x 500 affine weight that is a dozen 16 MB temporaries per step,
each written to memory and read back, and the rule is memory-bound (about 35 ms a step). The
rules of ``cs231n.optim`` are elementwise: element i of next_w and of the state arrays depends only
on element i of w, dw and the state. So the Solver may call the rule on blocks of whole rows
(``w[a:b]``, the parameter's own number of dimensions), each small enough (at most 512 KiB of
the parameter) that the rule's temporaries stay in the CPU's cache, and on two threads at once (numpy
releases the GIL in its ufuncs), then put the blocks together. The results are identical, bit
for bit, to one call on the whole array: numpy's elementwise operations do not depend on where
an element sits in the array.

Only rules known to be elementwise take this path (the four rules of ``cs231n.optim``, called as
the Solver got them, and ``optim.scheduled_rule`` around one of them); any other callable, a
small parameter, or a config holding arrays of another shape is updated in one call as before.
"""

import numpy as np

from . import _threads, optim

BLOCK_BYTES = 1 << 19  # bytes per block of the parameter (at most): 512 KiB, whatever the dtype
MIN_SIZE = 1 << 18  # smaller parameters are updated in one call


def is_elementwise(rule):
    """Whether ``rule`` is an update rule of cs231n.optim (or a schedule around one)."""
    if getattr(rule, "elementwise", False) is True:
        return True
    return any(rule is getattr(optim, name, None) for name in optim.UPDATE_RULES)


def _block(w):
    """Elements per block: measured on the ConvNet's 8192 x 500 weight (Adam, two lanes), 512
    KiB blocks beat 256 KiB ones by 0.81x in float32 and 1 MiB ones by 0.90x in float64."""
    return max(1, BLOCK_BYTES // w.itemsize)


def _eligible(w, dw, config):
    if not (isinstance(w, np.ndarray) and isinstance(dw, np.ndarray) and isinstance(config, dict)):
        return False
    if w.dtype.kind != "f" or dw.dtype != w.dtype or dw.shape != w.shape or w.size < MIN_SIZE:
        return False
    if w.size // w.shape[0] > _block(w) or not (w.flags.c_contiguous and dw.flags.c_contiguous):
        return False  # a single row larger than a block: nothing to gain
    return all(v.shape == w.shape and v.flags.c_contiguous
               for v in config.values() if isinstance(v, np.ndarray))


def update_in_blocks(rule, w, dw, config):
    """``rule(w, dw, config)`` computed on blocks of rows; None when the arrays do not qualify.

    ``rule`` must be elementwise (see ``is_elementwise``). Each call sees ``w[a:b]``,
    ``dw[a:b]`` and the state arrays' rows ``a:b`` (so the trailing shape is the parameter's).
    Returns ``(next_w, config)`` like the rule: next_w in w's shape, a new config dict with the
    state arrays put together and the scalars (``t``, the learning rate, ...) as the first
    block's call left them. When the first block's call raises, returns None, so that the caller
    makes the whole call and the rule's error names the parameter's own shapes.
    """
    if not _eligible(w, dw, config):
        return None
    rows = w.shape[0]
    per_block = max(1, _block(w) // (w.size // rows))  # rows per block
    state = {k: v for k, v in config.items() if isinstance(v, np.ndarray)}

    def call(start, stop):
        block_config = dict(config)
        block_config.update((k, v[start:stop]) for k, v in state.items())
        return rule(w[start:stop], dw[start:stop], block_config)

    # The first block in this thread: it tells which state arrays the rule keeps (Adam's m and v
    # appear on its first call) and their dtypes.
    try:
        first_w, first_config = call(0, per_block)
    except Exception:
        return None
    first_rows = first_w.shape[:1]
    next_w = np.empty(w.shape, dtype=first_w.dtype)
    next_w[:per_block] = first_w
    arrays = {k: np.empty(w.shape, dtype=v.dtype) for k, v in first_config.items()
              if isinstance(v, np.ndarray) and v.shape[:1] == first_rows and v.size == first_w.size}
    for k, out in arrays.items():
        out[:per_block] = first_config[k]

    def make_lane():
        def lane(start, stop):
            start, stop = start + per_block, stop + per_block
            block_w, block_config = call(start, stop)
            next_w[start:stop] = block_w
            for k, out in arrays.items():
                out[start:stop] = block_config[k]
        return lane

    key = ("update", getattr(rule, "__name__", "rule"), w.shape, w.dtype.str)
    _threads.run_chunks(rows - per_block, per_block, make_lane, True, key)
    new_config = dict(first_config)
    new_config.update(arrays)
    return next_w, new_config
