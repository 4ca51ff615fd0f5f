"""Solver plumbing: run an elementwise update rule over a large parameter block by block.

A textbook update rule (``optim.adam`` as a student writes it) makes a new array for every
operation: for the ConvNet's 8192 x 500 affine weight that is a dozen 16 MB temporaries per step,
each written to memory and read back, and the rule is memory-bound (about 35 ms a step). The
rules of ``cs231n.optim`` are elementwise: element i of next_w and of the state arrays depends only
on element i of w, dw and the state. So the Solver may call the rule on consecutive blocks of
the flattened arrays, each small enough (256 KiB in float32) that the rule's temporaries stay in
the CPU's cache, and on two threads at once (numpy releases the GIL in its ufuncs), then put the
blocks together. The results are identical, bit for bit, to one call on the whole array: numpy's
elementwise operations do not depend on where an element sits in the array.

Only rules known to be elementwise take this path (the four rules of ``cs231n.optim``, called as
the Solver got them, and ``optim.scheduled_rule`` around one of them); any other callable, a
small parameter, or a config holding arrays of another shape is updated in one call as before.
"""

import numpy as np

from . import _threads, optim

BLOCK = 1 << 16  # elements per block: 256 KiB of float32, 512 KiB of float64
MIN_SIZE = 1 << 18  # smaller parameters are updated in one call


def is_elementwise(rule):
    """Whether ``rule`` is an update rule of cs231n.optim (or a schedule around one)."""
    if getattr(rule, "elementwise", False) is True:
        return True
    return any(rule is getattr(optim, name, None) for name in optim.UPDATE_RULES)


def _eligible(w, dw, config):
    if not (isinstance(w, np.ndarray) and isinstance(dw, np.ndarray) and isinstance(config, dict)):
        return False
    if w.dtype.kind != "f" or dw.dtype != w.dtype or dw.shape != w.shape or w.size < MIN_SIZE:
        return False
    if not (w.flags.c_contiguous and dw.flags.c_contiguous):
        return False
    return all(v.shape == w.shape and v.flags.c_contiguous
               for v in config.values() if isinstance(v, np.ndarray))


def update_in_blocks(rule, w, dw, config):
    """``rule(w, dw, config)`` computed block by block; None when the arrays do not qualify.

    ``rule`` must be elementwise (see ``is_elementwise``). Returns ``(next_w, config)`` like the
    rule: next_w in w's shape, a new config dict with the state arrays put together in w's shape
    and the scalars (``t``, the learning rate, ...) as the first block's call left them.
    """
    if not _eligible(w, dw, config):
        return None
    n = w.size
    flat_w, flat_dw = w.reshape(-1), dw.reshape(-1)
    state = {k: v.reshape(-1) for k, v in config.items() if isinstance(v, np.ndarray)}

    def call(start, stop):
        block_config = dict(config)
        block_config.update((k, v[start:stop]) for k, v in state.items())
        return rule(flat_w[start:stop], flat_dw[start:stop], block_config)

    # The first block in this thread: it tells which state arrays the rule keeps (Adam's m and v
    # appear on its first call) and their dtypes.
    first_w, first_config = call(0, BLOCK)
    next_w = np.empty(n, dtype=first_w.dtype)
    next_w[:BLOCK] = first_w.reshape(-1)
    arrays = {k: np.empty(n, dtype=v.dtype) for k, v in first_config.items()
              if isinstance(v, np.ndarray) and v.size == BLOCK}
    for k, out in arrays.items():
        out[:BLOCK] = first_config[k].reshape(-1)

    def make_lane():
        def lane(start, stop):
            start, stop = start + BLOCK, stop + BLOCK
            block_w, block_config = call(start, stop)
            next_w[start:stop] = block_w.reshape(-1)
            for k, out in arrays.items():
                out[start:stop] = block_config[k].reshape(-1)
        return lane

    key = ("update", getattr(rule, "__name__", "rule"), n, w.dtype.str)
    _threads.run_chunks(n - BLOCK, BLOCK, make_lane, True, key)
    new_config = dict(first_config)
    new_config.update((k, out.reshape(w.shape)) for k, out in arrays.items())
    return next_w.reshape(w.shape), new_config
