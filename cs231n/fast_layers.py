"""Fast convolution and max-pooling layers in pure numpy (no compiler, no Cython, no torch).

Drop-in twins of the naive layers in ``layers``: same arguments, output sizes (floor), results,
checks and error messages, and the same max-pool tie rule (a window's whole gradient goes to its
FIRST maximum in row-major order). Inputs are never modified. The convolution cache has the naive
layer's form, so either backward pass takes either cache; the max-pool cache adds the position of
every window's first maximum.

How they are fast:

- Convolution is im2col + matrix multiply, a few images at a time so that a chunk's buffers stay
  in the CPU cache. Images are stored so that each filter tap reads one contiguous run per
  channel (``_fast_conv.ConvPlan``): im2col is a few long copies, col2im one sum per phase, and a
  batched ``np.matmul`` does the arithmetic. The backward pass rebuilds each chunk's patches
  rather than caching them: the im2col matrix of the whole batch is never built.
- Max pooling splits the images into stride x stride phases (``_fast_pool.PoolPlan``), so entry
  (i, j) of all windows is one contiguous slice. The forward pass records each window's first
  maximum; the backward pass routes the gradient with one comparison and one multiply per window
  entry (for windows that do not overlap, straight into strided views of dx, with no phase
  buffers).
- Chunks run on as many lanes as numpy's BLAS may use threads (2 on a 2-core machine), one thread
  per lane (BLAS held to 1 thread meanwhile; see ``_threads``). Small problems stay in
  the calling thread; ``threadpoolctl.threadpool_limits(1)`` makes every call single-threaded.
  Chunks (or groups of whole chunks) go to lanes in a fixed pattern, so results do not depend
  on thread timing: the same call gives the same bits every time (for a given thread count).
- ``conv_pool_forward_fast`` / ``conv_pool_backward_fast`` fuse a convolution with the max pool
  after it (the sandwich layer ``conv_relu_pool_forward`` uses them): the forward pass pools a
  group of chunks (about 512 KiB of convolution output) while it is still in the CPU cache, and
  the full convolution output is never stored.
- A stride larger than the padded input gives one window per row and column, as does the padded
  input's size; the layers plan with the smaller one (same output), so time and memory do not
  grow with the stride.

dtypes: the arithmetic happens in ``np.result_type`` of the arrays involved, never silently
upcast: float32 in, float32 buffers, arithmetic and results; float64 in, float64 out; mixed
inputs follow numpy's promotion (float32 x with float64 w computes in float64). Conv forward works
in result_type(x, w, b); conv backward gives dx and dw in result_type(x, w, dout) and db (a sum of
dout) in dout's dtype; max-pool forward keeps x's dtype, its backward gives result_type(x, dout).
Integer and boolean arrays count as float64 (see ``_validate``).
"""

import numpy as np

from ._fast_conv import (
    ConvForward, chunks_of, conv_backward_groups, conv_backward_lane, conv_backward_setup,
    conv_chunk_size, conv_group_size, conv_setup, conv_work,
)
from ._fast_pool import POOL_MIN_PARALLEL_ELEMENTS, PoolBackward, PoolForward, PoolPlan, pool_chunk_size
from ._threads import run_chunks
from ._validate import check_shape, float_array, pool_geometry
from ._validate import unpack_cache as _unpack_cache

__all__ = [
    "conv_forward_fast", "conv_backward_fast",
    "max_pool_forward_fast", "max_pool_backward_fast",
    "conv_pool_forward_fast", "conv_pool_backward_fast",
]


# ---------------------------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------------------------

def conv_forward_fast(x, w, b, conv_param):
    """Convolutional layer (cross-correlation); a fast twin of ``conv_forward_naive``.

    Inputs:
    - x: (N, C, H, W) input.
    - w: (F, C, HH, WW) filters.
    - b: (F,) biases.
    - conv_param: dict with
      - 'stride': step between neighbouring windows, integer >= 1 (required).
      - 'pad': zeros added on every side of H and W, integer >= 0 (required).

    The output size is H' = 1 + (H + 2 * pad - HH) // stride, W' = 1 + (W + 2 * pad - WW) // stride
    (floor: rows and columns the last window does not reach are ignored).

    Returns a tuple of:
    - out: (N, F, H', W'), dtype np.result_type(x, w, b)
    - cache: (x, w, b, {'stride': stride, 'pad': pad}), as from conv_forward_naive
    """
    x, w, b = float_array(x, "x"), float_array(w, "w"), float_array(b, "b")
    stride, pad, plan = conv_setup(x, w, b, conv_param)
    N, dtype = x.shape[0], np.result_type(x, w, b)
    w_rows, bias = plan.weights(w, dtype), b.astype(dtype)[:, None, None]  # (F, K), (F, 1, 1)
    out = np.empty((N, plan.F, plan.H_out, plan.W_out), dtype=dtype)
    per_chunk = conv_chunk_size(plan, N, dtype)

    def make_lane():
        lane = ConvForward(plan, per_chunk, w_rows, bias, dtype, own_output=False)
        return lambda start, stop: lane(x[start:stop], out[start:stop])

    key = ("conv forward", x.shape, w.shape, stride, pad, dtype.str)
    run_chunks(N, per_chunk, make_lane, conv_work(plan, N), key)
    return out, (x, w, b, {"stride": stride, "pad": pad})


def conv_backward_fast(dout, cache, need_dx=True):
    """Backward pass of ``conv_forward_fast`` (also accepts the cache of ``conv_forward_naive``).

    Inputs:
    - dout: (N, F, H', W') upstream gradient.
    - cache: (x, w, b, {'stride': stride, 'pad': pad}) from the forward pass.
    - need_dx: if False, skip the input gradient (about a third of the work) and return
      dx = None; for a network's first layer, whose input is the data.

    Returns a tuple of:
    - dx: (N, C, H, W), dtype np.result_type(x, w, dout); None if need_dx is False
    - dw: (F, C, HH, WW), dtype np.result_type(x, w, dout)
    - db: (F,), dout summed, in dout's dtype
    """
    x, w, dout, stride, pad, plan = conv_backward_setup(dout, cache, need_dx, "conv_forward_fast")
    N = x.shape[0]
    check_shape(dout, (N, plan.F, plan.H_out, plan.W_out), "dout")
    dtype = np.result_type(x, w, dout)
    dx = np.empty(x.shape, dtype=dtype) if need_dx else None
    per_chunk = conv_chunk_size(plan, N, dtype)
    # Groups as in conv_pool_backward_fast: the same partial sums of dw, so the same bits.
    per_group = conv_group_size(plan, per_chunk, N, dtype)
    new_lane = conv_backward_lane(plan, x, w, dtype, per_chunk, per_group, need_dx)

    def make_lane():
        lane = new_lane()
        return conv_backward_groups(
            lane, x, dx, per_chunk, lambda start, stop: np.copyto(lane.grad(stop - start), dout[start:stop]))

    key = ("conv backward", x.shape, w.shape, stride, pad, dtype.str, need_dx)
    lanes = run_chunks(N, per_group, make_lane, conv_work(plan, N), key)
    dw_rows = lanes[0].lane.dw_rows
    for other in lanes[1:]:
        dw_rows += other.lane.dw_rows
    return dx, plan.filters(dw_rows), dout.sum(axis=(0, 2, 3))


# ---------------------------------------------------------------------------------------------
# Max pooling
# ---------------------------------------------------------------------------------------------

def max_pool_forward_fast(x, pool_param):
    """Max pooling over windows of each channel separately; a fast twin of ``max_pool_forward_naive``.

    Inputs:
    - x: (N, C, H, W) input.
    - pool_param: dict with integers >= 1
      - 'pool_height', 'pool_width': window size (required).
      - 'stride': step between neighbouring windows (required).
      Windows may overlap (stride < window) and need not tile the input.

    The output size is H' = 1 + (H - pool_height) // stride, W' = 1 + (W - pool_width) // stride
    (floor: rows and columns the last window does not reach are ignored). A window holding a NaN
    gives NaN.

    Returns a tuple of:
    - out: (N, C, H', W'), in x's dtype
    - cache: (x, {'pool_height': ..., 'pool_width': ..., 'stride': ...}, first_max), where
      first_max[:, :, :H', :W'] holds, for each window, the row-major position i * pool_width + j
      of its first maximum (of its first NaN, if it holds one): the entry np.argmax picks.
      first_max is (N, C, ceil(H / s), ceil(W / s)) for s = min(stride, max(H - pool_height,
      W - pool_width) + 1); the rest of it is junk.
    """
    x = float_array(x, "x")
    pool_height, pool_width, stride, H_out, W_out = pool_geometry(x, pool_param)
    N, C = x.shape[:2]
    plan = PoolPlan(x.shape, pool_height, pool_width, stride, H_out, W_out)
    out = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    first_max = np.empty((N, C, plan.Hs, plan.Ws), dtype=plan.index_dtype)  # wide
    per_chunk = pool_chunk_size(x)

    def make_lane():
        lane = PoolForward(plan, per_chunk, x.dtype)
        return lambda start, stop: lane(x[start:stop], out[start:stop], first_max[start:stop])

    key = ("pool forward", x.shape, pool_height, pool_width, stride, x.dtype.str)
    run_chunks(N, per_chunk, make_lane, x.size >= POOL_MIN_PARALLEL_ELEMENTS, key)
    cache = (x, {"pool_height": pool_height, "pool_width": pool_width, "stride": stride}, first_max)
    return out, cache


def max_pool_backward_fast(dout, cache):
    """Backward pass of ``max_pool_forward_fast``.

    Each window passes its upstream gradient to the input that was its maximum. TIES: when a
    window holds several equal maxima, the WHOLE gradient goes to the FIRST of them in row-major
    order within the window (the entry np.argmax picks, as in PyTorch and the naive layer); the
    others get nothing, so ties never inflate the gradient. A window holding a NaN routes its
    gradient to its first NaN (as np.argmax does). Where windows overlap, an input collects (sums)
    the gradients of every window it is the maximum of. Inputs no window covers get 0.

    Inputs:
    - dout: (N, C, H', W') upstream gradient.
    - cache: (x, pool_param, first_max) from the forward pass.

    Returns:
    - dx: (N, C, H, W), dtype np.result_type(x, dout)
    """
    x, pool_param, first_max = _unpack_cache(cache, 3, "max_pool_forward_fast")
    pool_height, pool_width, stride, H_out, W_out = pool_geometry(x, pool_param)
    dout = float_array(dout, "dout")
    N, C = x.shape[:2]
    check_shape(dout, (N, C, H_out, W_out), "dout")
    plan = PoolPlan(x.shape, pool_height, pool_width, stride, H_out, W_out)
    if not (isinstance(first_max, np.ndarray) and first_max.dtype == plan.index_dtype
            and first_max.shape == (N, C, plan.Hs, plan.Ws)):
        raise TypeError("cache must be the 3-tuple returned by max_pool_forward_fast")
    dtype = np.result_type(x, dout)
    dx = np.empty(x.shape, dtype=dtype)
    per_chunk = pool_chunk_size(x)

    def make_lane():
        lane = PoolBackward(plan, per_chunk, dtype)
        return lambda start, stop: lane(dout[start:stop], first_max[start:stop], dx[start:stop])

    key = ("pool backward", x.shape, pool_height, pool_width, stride, dtype.str)
    run_chunks(N, per_chunk, make_lane, x.size >= POOL_MIN_PARALLEL_ELEMENTS, key)
    return dx


# ---------------------------------------------------------------------------------------------
# Convolution + max pool, fused
# ---------------------------------------------------------------------------------------------

def _conv_pool_plans(x, w, b, conv_param, pool_param, dtype):
    stride, pad, plan = conv_setup(x, w, b, conv_param)
    a_shape = (x.shape[0], plan.F, plan.H_out, plan.W_out)  # the convolution's output
    ph, pw, pool_stride, H2, W2 = pool_geometry(np.broadcast_to(np.zeros((), dtype), a_shape), pool_param)
    pool_plan = PoolPlan(a_shape, ph, pw, pool_stride, H2, W2)
    key = (x.shape, w.shape, stride, pad, ph, pw, pool_stride, dtype.str)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": pool_stride}
    return plan, pool_plan, (x, w, b, {"stride": stride, "pad": pad}), pool_param, key


def conv_pool_forward_fast(x, w, b, conv_param, pool_param):
    """Convolution, then max pool of its output, in one pass over the batch.

    The same as ``max_pool_forward_fast(conv_forward_fast(x, w, b, conv_param)[0], pool_param)``
    (the same values, checks and errors), but each group of images is pooled while its
    convolution output is still in the CPU cache, and the (N, F, H', W') convolution output is
    never stored.

    Inputs:
    - x: (N, C, H, W) input; w: (F, C, HH, WW) filters; b: (F,) biases.
    - conv_param: {'stride', 'pad'} as for ``conv_forward_fast``.
    - pool_param: {'pool_height', 'pool_width', 'stride'} as for ``max_pool_forward_fast``.

    Returns a tuple of:
    - out: (N, F, H'', W''), the pooled size of the (N, F, H', W') convolution output, dtype
      np.result_type(x, w, b)
    - cache: (conv_cache, pool_param, first_max): the cache of conv_forward_fast, the checked
      pool_param, and the wide first_max of max_pool_forward_fast's cache
    """
    x, w, b = float_array(x, "x"), float_array(w, "w"), float_array(b, "b")
    dtype = np.result_type(x, w, b)
    plan, pool_plan, conv_cache, pool_param, key = _conv_pool_plans(x, w, b, conv_param, pool_param, dtype)
    N = x.shape[0]
    w_rows, bias = plan.weights(w, dtype), b.astype(dtype)[:, None, None]
    out = np.empty((N, plan.F, pool_plan.H_out, pool_plan.W_out), dtype=dtype)
    first_max = np.empty((N, plan.F, pool_plan.Hs, pool_plan.Ws), dtype=pool_plan.index_dtype)
    per_chunk = conv_chunk_size(plan, N, dtype)
    per_group = conv_group_size(plan, per_chunk, N, dtype)

    def make_lane():
        conv = ConvForward(plan, per_chunk, w_rows, bias, dtype, own_output=False)
        pool = PoolForward(pool_plan, per_group, dtype)
        convolved = np.empty((per_group, plan.F, plan.H_out, plan.W_out), dtype=dtype)

        def forward(start, stop):
            for first, last in chunks_of(start, stop, per_chunk):  # conv_forward_fast's chunks
                conv(x[first:last], convolved[first - start:last - start])
            pool(convolved[:stop - start], out[start:stop], first_max[start:stop])

        return forward

    run_chunks(N, per_group, make_lane, conv_work(plan, N), ("conv pool forward",) + key)
    return out, (conv_cache, pool_param, first_max)


def conv_pool_backward_fast(dout, cache, need_dx=True):
    """Backward pass of ``conv_pool_forward_fast``: the pool's backward pass, then the
    convolution's, chunk by chunk (the same gradients as the two layers' backward passes).

    Inputs:
    - dout: (N, F, H'', W'') upstream gradient.
    - cache: (conv_cache, pool_param, first_max) from the forward pass.
    - need_dx: False skips the input gradient (dx is then None).

    Returns a tuple of:
    - dx: (N, C, H, W), or None if need_dx is False
    - dw: (F, C, HH, WW)
    - db: (F,)
    all of dtype np.result_type(x, w, b, dout), the dtype of the unfused layers' gradients.
    """
    conv_cache, pool_param, first_max = _unpack_cache(cache, 3, "conv_pool_forward_fast")
    x, w, b, _ = _unpack_cache(conv_cache, 4, "conv_pool_forward_fast")
    x, w, dout, stride, pad, _ = conv_backward_setup(dout, conv_cache, need_dx, "conv_pool_forward_fast")
    dtype = np.result_type(x, w, b, dout)
    plan, pool_plan, _, _, key = _conv_pool_plans(x, w, b, {"stride": stride, "pad": pad}, pool_param, dtype)
    N = x.shape[0]
    check_shape(dout, (N, plan.F, pool_plan.H_out, pool_plan.W_out), "dout")
    if not (isinstance(first_max, np.ndarray) and first_max.dtype == pool_plan.index_dtype
            and first_max.shape == (N, plan.F, pool_plan.Hs, pool_plan.Ws)):
        raise TypeError("cache must be the 3-tuple returned by conv_pool_forward_fast")
    dx = np.empty(x.shape, dtype=dtype) if need_dx else None
    per_chunk = conv_chunk_size(plan, N, dtype)
    per_group = conv_group_size(plan, per_chunk, N, dtype)
    new_conv = conv_backward_lane(plan, x, w, dtype, per_chunk, per_group, need_dx)

    def make_lane():
        conv, pool = new_conv(), PoolBackward(pool_plan, per_group, dtype)
        return conv_backward_groups(
            conv, x, dx, per_chunk,
            lambda start, stop: pool(dout[start:stop], first_max[start:stop], conv.grad(stop - start)))

    lanes = run_chunks(N, per_group, make_lane, conv_work(plan, N), ("conv pool backward", need_dx) + key)
    dw_rows = lanes[0].lane.dw_rows
    for other in lanes[1:]:
        dw_rows += other.lane.dw_rows
    # Every window passes its gradient to exactly one input: db sums dout itself.
    return dx, plan.filters(dw_rows), dout.sum(axis=(0, 2, 3), dtype=dtype)
