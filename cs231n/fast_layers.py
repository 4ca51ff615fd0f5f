"""Fast convolution and max-pooling layers in pure numpy (no compiler, no Cython, no torch).

Drop-in twins of the naive layers in ``layers``: same arguments, output sizes (floor), results,
checks and error messages, and the same max-pool tie rule (a window's whole gradient goes to its
FIRST maximum in row-major order). Inputs are never modified. The convolution cache has the naive
layer's form, so either backward pass takes either cache; the max-pool cache adds the position of
every window's first maximum.

How they are fast:

- Convolution is im2col + matrix multiply, a few images at a time so that a chunk's buffers stay
  in the CPU cache. Images are stored so that each filter tap reads one contiguous run per
  channel (``_ConvPlan``): im2col is a few long copies, col2im one contiguous add per tap, and a
  batched ``np.matmul`` does the arithmetic. The backward pass rebuilds each chunk's patches
  rather than caching them: the im2col matrix of the whole batch is never built.
- Max pooling splits the images into stride x stride phases (``_PoolPlan``), so entry (i, j) of
  all windows is one contiguous slice. The forward pass records each window's first maximum; the
  backward pass routes the gradient with one comparison and one multiply per window entry.
- Chunks run on as many threads as numpy's BLAS may use (2 on a 2-core machine), BLAS held to 1
  thread each meanwhile (process-wide, while a call runs; numpy releases the GIL in matmul and
  ufuncs). Small problems stay in the calling thread; ``threadpoolctl.threadpool_limits(1)``
  makes every call single-threaded. Chunks go to threads in a fixed pattern: results do not
  depend on thread timing.

dtypes: the arithmetic happens in ``np.result_type`` of the arrays involved, never silently
upcast: float32 in, float32 buffers, arithmetic and results; float64 in, float64 out; mixed
inputs follow numpy's promotion (float32 x with float64 w computes in float64). Conv forward works
in result_type(x, w, b); conv backward gives dx and dw in result_type(x, w, dout) and db (a sum of
dout) in dout's dtype; max-pool forward keeps x's dtype, its backward gives result_type(x, dout).
Integer and boolean arrays count as float64 (see ``_validate``).
"""

import os
import threading

import numpy as np

from ._validate import check_shape, conv_geometry, float_array, pool_geometry
from ._validate import unpack_cache as _unpack_cache

try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # declared dependency; without it everything runs in the calling thread
    ThreadpoolController = None

__all__ = [
    "conv_forward_fast", "conv_backward_fast",
    "max_pool_forward_fast", "max_pool_backward_fast",
]

# Chunk sizes: bytes of patches and products (conv), of input (max pool) per chunk of images.
_CONV_CHUNK_BYTES = 1 << 19
_POOL_CHUNK_BYTES = 1 << 20
# Below this many multiply-adds (conv) or input values (pool) threads cost more than they save.
_CONV_MIN_PARALLEL_WORK = 1 << 21
_POOL_MIN_PARALLEL_ELEMENTS = 1 << 17


# ---------------------------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------------------------

_blas = {"controller": None}  # made on first use; reads and temporarily limits BLAS threads


def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries (None when threadpoolctl is missing)."""
    if ThreadpoolController is None:
        return None
    if _blas["controller"] is None:
        _blas["controller"] = ThreadpoolController().select(user_api="blas")
    return _blas["controller"]


def _num_workers(num_chunks, big_enough):
    """How many threads to spread ``num_chunks`` chunks over: BLAS's thread count, if it pays."""
    controller = _blas_controller()
    if controller is None or num_chunks < 2 or not big_enough:
        return 1
    blas_threads = min((lib.num_threads for lib in controller.lib_controllers), default=1)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(blas_threads, cpus or 1, num_chunks))


def _run_chunks(n, per_chunk, make_worker, big_enough):
    """Process items 0..n-1 in chunks of ``per_chunk`` on worker threads; return the workers.

    ``make_worker()`` returns a callable ``worker(start, stop)`` with its own buffers (and any
    partial sums, read back by the caller). Worker k takes chunks k, k + workers, ... in order,
    so results do not depend on thread timing.
    """
    bounds = [(start, min(start + per_chunk, n)) for start in range(0, n, per_chunk)]
    num_workers = _num_workers(len(bounds), big_enough)
    workers, errors = [make_worker() for _ in range(num_workers)], []

    def run(k):
        try:
            for start, stop in bounds[k::num_workers]:
                workers[k](start, stop)
        except BaseException as error:  # re-raised in the calling thread below
            errors.append(error)

    if num_workers == 1:
        run(0)
    else:
        with _blas_controller().limit(limits=1):
            threads = [threading.Thread(target=run, args=(k,)) for k in range(1, num_workers)]
            for thread in threads:
                thread.start()
            run(0)
            for thread in threads:
                thread.join()
    if errors:
        raise errors[0]
    return workers


# ---------------------------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------------------------

def _view(buffer, offset, shape, strides):
    """A view of the flat ``buffer`` from element ``offset`` (strides in elements); unlike
    as_strided it is cheap, and numpy checks that it stays inside the buffer."""
    item = buffer.itemsize
    return np.ndarray(shape, buffer.dtype, buffer, offset * item, tuple(item * s for s in strides))


class _ConvPlan:
    """Geometry of one convolution, laid out so that im2col and col2im move long contiguous runs.

    The padded image is split into stride x stride *phases*: phase (a, b) of channel c is the
    (Hs, Ws) plane x_pad[c, a::stride, b::stride]. Filter tap (i, j) reads phase
    (i % stride, j % stride) shifted by (i // stride, j // stride) with step 1, so the values it
    meets over H' output rows of Ws columns are ONE contiguous run of P = H' * Ws values of the
    flattened plane. The patch matrix is built "wide": K = HH * WW * C rows (tap-major: row
    (i, j, c)) of P columns, of which the last Ws - W' of each output row are junk (their runs
    wrap into the next row). The products compute junk columns too; the forward pass drops them
    and the backward pass gives them a zero gradient, so they contribute nothing.

    Rows share their zero padding (a read past the right end of a row lands in the left padding
    of the next), so a row needs W + pad values, not W + 2 pad: Ws = max(ceil((W + pad) /
    stride), W'). An image takes stride * stride * C planes, phase-major ((a, b), then c), each
    (Hs + 1) * Ws values long: a spare zero row ends every plane. Patch matrices store row
    (i, j, c) with a row stride of one plane, so the C runs of a tap are spaced alike in the patch
    matrix and in the image buffer, and col2im is ONE contiguous add per tap and image, gaps
    included (the gaps of the patch gradient are zero).
    """

    def __init__(self, x_shape, w_shape, stride, pad, H_out, W_out):
        _, C, H, W = x_shape
        F, _, HH, WW = w_shape
        s = stride
        self.C, self.F, self.HH, self.WW, self.stride = C, F, HH, WW, stride
        self.H_out, self.W_out = H_out, W_out
        self.Hs, self.Ws = -(-(H + 2 * pad) // s), max(-(-(W + pad) // s), W_out)
        self.plane = (self.Hs + 1) * self.Ws
        self.image = s * s * C * self.plane  # buffer values per image
        self.K, self.P = HH * WW * C, H_out * self.Ws
        # Where each phase's values come from: phase (a, b)[r0:r1, c0:c1] = x[y0::s, x0::s].
        self.phases = []
        for a in range(s):
            r0, r1 = max(0, -((a - pad) // s)), -((a - pad - H) // s)
            for b in range(s):
                c0, c1 = max(0, -((b - pad) // s)), -((b - pad - W) // s)
                if r1 > r0 and c1 > c0:
                    x_part = (slice(s * r0 + a - pad, H, s), slice(s * c0 + b - pad, W, s))
                    self.phases.append((a, b, slice(r0, r1), slice(c0, c1)) + x_part)

    def tap_offset(self, i, j):
        """Where, in an image's buffer, the run of filter tap (i, j) in channel 0 starts."""
        s = self.stride
        return ((i % s) * s + j % s) * self.C * self.plane + (i // s) * self.Ws + j // s

    def weights(self, w, dtype):
        """w (F, C, HH, WW) as the (F, K) matrix whose columns match the patch rows (i, j, c)."""
        return w.transpose(0, 2, 3, 1).reshape(self.F, self.K).astype(dtype)

    def filters(self, w_rows):
        """The inverse of ``weights``: an (F, K) matrix back to (F, C, HH, WW)."""
        return w_rows.reshape(self.F, self.HH, self.WW, self.C).transpose(0, 3, 1, 2).copy()

    def valid(self, wide):
        """The real columns (m, R, H', W') of wide matrices (m, R, P): junk columns dropped."""
        return wide.reshape(wide.shape[:2] + (self.H_out, self.Ws))[..., :self.W_out]

    def junk(self, wide):
        """The junk columns (m, R, H', Ws - W') of wide matrices (m, R, P)."""
        return wide.reshape(wide.shape[:2] + (self.H_out, self.Ws))[..., self.W_out:]


class _ConvWorkspace:
    """One worker's buffers for chunks of up to ``images`` images, and the views into them."""

    def __init__(self, plan, images, dtype, backward):
        self.plan = plan
        s, C, HH, WW, span = plan.stride, plan.C, plan.HH, plan.WW, plan.C * plan.plane
        # + a plane and a row: the last runs of the last image overrun its end
        self.buffer = np.zeros(images * plan.image + plan.plane + WW, dtype=dtype)
        self.patches = np.zeros((images, plan.K, plan.plane), dtype=dtype)
        self.cols = self.patches[:, :, :plan.P]  # (m, K, P), rows one plane apart
        planes = self.buffer[:images * plan.image].reshape(images, s, s, C, plan.Hs + 1, plan.Ws)
        self.planes = planes[..., :plan.Hs, :]  # (m, s, s, C, Hs, Ws)
        # im2col, one copy per phase (a, b): the runs of taps (a + s i2, b + s j2), all channels.
        taps = self.patches.reshape(images, HH, WW, C, plan.plane)
        self.im2col_pairs = []
        for a in range(min(s, HH)):
            for b in range(min(s, WW)):
                target = taps[:, a::s, b::s, :, :plan.P]
                strides = (plan.image, plan.Ws, 1, plan.plane, 1)
                source = _view(self.buffer, plan.tap_offset(a, b), target.shape, strides)
                self.im2col_pairs.append((target, source))
        if backward:
            self.dbuffer = np.zeros_like(self.buffer)
            self.dpatches = np.zeros_like(self.patches)  # the gaps past column P stay 0
            self.dcols = self.dpatches[:, :, :plan.P]
            dtaps = self.dpatches.reshape(images, HH * WW, span)
            self.col2im_pairs = [
                (_view(self.dbuffer, plan.tap_offset(*divmod(t, WW)), (images, span), (plan.image, 1)),
                 dtaps[:, t]) for t in range(HH * WW)]

    def im2col(self, x):
        """Load the images x (m, C, H, W); return their patch matrices (m, K, P)."""
        m, planes = x.shape[0], self.planes
        for a, b, rows, cols, x_rows, x_cols in self.plan.phases:
            planes[:m, a, b, :, rows, cols] = x[:, :, x_rows, x_cols]  # padding stays 0
        for target, source in self.im2col_pairs:
            np.copyto(target[:m], source[:m])
        return self.cols[:m]

    def col2im(self, dx):
        """Sum the patch gradients dcols[:m] over the taps into dx (m, C, H, W)."""
        m, plan = dx.shape[0], self.plan
        images = self.dbuffer[:m * plan.image]
        images.fill(0)
        for run, dtap in self.col2im_pairs:  # runs of different taps overlap: add one by one
            run[:m] += dtap[:m]
        planes = images.reshape(m, plan.stride, plan.stride, plan.C, plan.Hs + 1, plan.Ws)
        for a, b, rows, cols, x_rows, x_cols in plan.phases:
            dx[:, :, x_rows, x_cols] = planes[:, a, b, :, rows, cols]


def _conv_chunk_size(plan, n, dtype):
    """Images per chunk: as many as keep a chunk's patches and products near _CONV_CHUNK_BYTES."""
    per_image = (plan.K * plan.plane + plan.F * plan.P) * dtype.itemsize
    return max(1, min(n, _CONV_CHUNK_BYTES // max(1, per_image)))


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
    stride, pad, H_out, W_out = conv_geometry(x, w, b, conv_param)
    N, F = x.shape[0], w.shape[0]
    dtype = np.result_type(x, w, b)
    plan = _ConvPlan(x.shape, w.shape, stride, pad, H_out, W_out)
    w_rows = plan.weights(w, dtype)  # (F, K)
    bias = b.astype(dtype)[:, None, None]  # (F, 1, 1)
    out = np.empty((N, F, H_out, W_out), dtype=dtype)
    per_chunk = _conv_chunk_size(plan, N, dtype)

    def make_worker():
        work = _ConvWorkspace(plan, per_chunk, dtype, backward=False)
        wide = np.empty((per_chunk, F, plan.P), dtype=dtype)

        def forward(start, stop):
            product = np.matmul(w_rows, work.im2col(x[start:stop]), out=wide[:stop - start])  # (m, F, P)
            np.add(plan.valid(product), bias, out=out[start:stop])

        return forward

    _run_chunks(N, per_chunk, make_worker, N * F * plan.K * plan.P >= _CONV_MIN_PARALLEL_WORK)
    cache = (x, w, b, {"stride": stride, "pad": pad})
    return out, cache


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
    x, w, b, conv_param = _unpack_cache(cache, 4, "conv_forward_fast")
    stride, pad, H_out, W_out = conv_geometry(x, w, b, conv_param)
    dout = float_array(dout, "dout")
    N, F = x.shape[0], w.shape[0]
    check_shape(dout, (N, F, H_out, W_out), "dout")
    if not isinstance(need_dx, bool):
        raise TypeError(f"need_dx must be True or False, got {need_dx!r}")
    dtype = np.result_type(x, w, dout)
    plan = _ConvPlan(x.shape, w.shape, stride, pad, H_out, W_out)
    w_cols = plan.weights(w, dtype).T  # (K, F)
    dx = np.empty(x.shape, dtype=dtype) if need_dx else None
    per_chunk = _conv_chunk_size(plan, N, dtype)
    # Junk columns meet a zero gradient, which is exact unless an input or a weight is inf or nan
    # (0 * inf = nan); then they are zeroed explicitly.
    has_junk = plan.Ws > W_out
    clear_dcols = need_dx and has_junk and not np.isfinite(w).all()

    def make_worker():
        work = _ConvWorkspace(plan, per_chunk, dtype, backward=need_dx)
        grad = np.zeros((per_chunk, F, plan.P), dtype=dtype)  # junk columns stay 0
        dw_parts = np.empty((per_chunk, F, plan.K), dtype=dtype)

        def backward(start, stop):
            m = stop - start
            cols = work.im2col(x[start:stop])  # (m, K, P)
            if has_junk and not np.isfinite(x[start:stop]).all():
                plan.junk(cols)[...] = 0
            g = grad[:m]
            np.copyto(plan.valid(g), dout[start:stop])
            parts = np.matmul(g, cols.transpose(0, 2, 1), out=dw_parts[:m])  # (m, F, K)
            backward.dw_rows += parts[0] if m == 1 else parts.sum(axis=0)
            if not need_dx:
                return
            dcols = np.matmul(w_cols, g, out=work.dcols[:m])  # (m, K, P)
            if clear_dcols:
                plan.junk(dcols)[...] = 0
            work.col2im(dx[start:stop])

        backward.dw_rows = np.zeros((F, plan.K), dtype=dtype)
        return backward

    workers = _run_chunks(N, per_chunk, make_worker, N * F * plan.K * plan.P >= _CONV_MIN_PARALLEL_WORK)
    dw_rows = workers[0].dw_rows
    for worker in workers[1:]:
        dw_rows += worker.dw_rows
    db = dout.sum(axis=(0, 2, 3))
    return dx, plan.filters(dw_rows), db


# ---------------------------------------------------------------------------------------------
# Max pooling
# ---------------------------------------------------------------------------------------------

class _PoolPlan:
    """Geometry of one max pool, laid out so that every comparison runs over contiguous memory.

    The input is split into stride x stride *phases*: phase (a, b) is x[:, :, a::stride, b::stride],
    stored as (Hs, Ws) planes, Hs = ceil(H / stride), Ws = ceil(W / stride). Entry (i, j) of
    window (p, q) is x[stride p + i, stride q + j] = phase (i % stride, j % stride) at
    (p + i // stride, q + j // stride). So with outputs stored "wide", on the same (Hs, Ws) planes,
    the (i, j) entries of ALL windows of a chunk form one contiguous slice of a phase buffer,
    shifted by (i // stride) * Ws + j // stride. Positions past H' rows or W' columns of a wide
    plane are junk: computed, never used, and given a zero gradient.
    """

    def __init__(self, x_shape, pool_height, pool_width, stride, H_out, W_out):
        _, C, H, W = x_shape
        s = stride
        self.C, self.stride, self.H_out, self.W_out = C, stride, H_out, W_out
        self.Hs, self.Ws = -(-H // s), -(-W // s)
        self.plane = self.Hs * self.Ws
        # Offsets in row-major window order: (phase index, shift within the phase buffer).
        self.offsets = [((i % s) * s + j % s, (i // s) * self.Ws + j // s)
                        for i in range(pool_height) for j in range(pool_width)]
        used = sorted({phase for phase, _ in self.offsets})
        # phase (a, b) <-> x[:, :, a::s, b::s], which is (ceil((H - a) / s), ceil((W - b) / s))
        self.phases = [(phase, slice(phase // s, H, s), slice(phase % s, W, s)) for phase in used]
        self.all_phases_used = len(used) == s * s
        self.tail = max(shift for _, shift in self.offsets)
        self.index_dtype = np.min_scalar_type(len(self.offsets) - 1)

    def new_phases(self, images, dtype):
        """A zeroed buffer for the phases of ``images`` images, plus the tail shifts read."""
        return np.zeros(self.stride ** 2 * images * self.C * self.plane + self.tail, dtype=dtype)

    def phase_planes(self, buffer, images):
        """The buffer as (stride * stride, m, C, Hs, Ws) phase planes of ``images`` images."""
        size = self.stride ** 2 * images * self.C * self.plane
        return buffer[:size].reshape(self.stride ** 2, images, self.C, self.Hs, self.Ws)

    def entries(self, buffer, images, k):
        """Entry k (row-major) of every window of ``images`` images, as one wide slice."""
        phase, shift = self.offsets[k]
        start = phase * images * self.C * self.plane + shift
        return buffer[start:start + images * self.C * self.plane]

    def valid(self, wide, images):
        """The real outputs (m, C, H', W') of a wide array of ``images`` images."""
        return wide[:images * self.C * self.plane].reshape(
            images, self.C, self.Hs, self.Ws)[:, :, :self.H_out, :self.W_out]


def _pool_chunk_size(x):
    """Images per max-pool chunk: as many as keep a chunk's input near _POOL_CHUNK_BYTES."""
    return max(1, min(x.shape[0], _POOL_CHUNK_BYTES // max(1, x.itemsize * x[:1].size)))


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
      first_max is (N, C, ceil(H / stride), ceil(W / stride)); the rest of it is junk.
    """
    x = float_array(x, "x")
    pool_height, pool_width, stride, H_out, W_out = pool_geometry(x, pool_param)
    N, C = x.shape[:2]
    plan = _PoolPlan(x.shape, pool_height, pool_width, stride, H_out, W_out)
    out = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    first_max = np.empty((N, C, plan.Hs, plan.Ws), dtype=plan.index_dtype)  # wide
    per_chunk = _pool_chunk_size(x)
    wide_size = per_chunk * C * plan.plane

    def make_worker():
        phases = plan.new_phases(per_chunk, x.dtype)
        top = np.empty(wide_size, dtype=x.dtype)
        bigger = np.empty(wide_size, dtype=bool)
        candidate = np.empty(wide_size, dtype=plan.index_dtype)

        def forward(start, stop):
            m = stop - start
            n = m * C * plan.plane
            images, planes = x[start:stop], plan.phase_planes(phases, m)
            for phase, rows, cols in plan.phases:
                part = images[:, :, rows, cols]
                planes[phase, :, :, :part.shape[2], :part.shape[3]] = part
            index, best = first_max[start:stop].reshape(n), top[:n]
            if len(plan.offsets) == 1:
                np.copyto(best, plan.entries(phases, m, 0))
                index.fill(0)
            for k in range(1, len(plan.offsets)):
                entries = plan.entries(phases, m, k)
                before = best if k > 1 else plan.entries(phases, m, 0)
                np.greater(entries, before, out=bigger[:n])  # strict: ties keep the earlier entry
                np.maximum(before, entries, out=best)
                if k == 1:
                    np.copyto(index, bigger[:n].view(np.uint8))
                else:  # index = k where bigger, else unchanged (k exceeds every index so far)
                    np.multiply(bigger[:n].view(np.uint8), plan.index_dtype.type(k), out=candidate[:n])
                    np.maximum(index, candidate[:n], out=index)
            block = out[start:stop]
            np.copyto(block, plan.valid(best, m))
            if np.isnan(block).any():  # np.maximum kept the NaNs; point their windows at the first
                for k in reversed(range(len(plan.offsets))):
                    nan = np.isnan(plan.entries(phases, m, k))
                    np.copyto(index, plan.index_dtype.type(k), where=nan)

        return forward

    _run_chunks(N, per_chunk, make_worker, x.size >= _POOL_MIN_PARALLEL_ELEMENTS)
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
    plan = _PoolPlan(x.shape, pool_height, pool_width, stride, H_out, W_out)
    if not (isinstance(first_max, np.ndarray) and first_max.dtype == plan.index_dtype
            and first_max.shape == (N, C, plan.Hs, plan.Ws)):
        raise TypeError("cache must be the 3-tuple returned by max_pool_forward_fast")
    dtype = np.result_type(x, dout)
    dx = (np.empty if plan.all_phases_used else np.zeros)(x.shape, dtype=dtype)
    per_chunk = _pool_chunk_size(x)
    wide_size = per_chunk * C * plan.plane
    # The first entry of each phase (shift 0) writes the phase's whole slice; later ones add.
    first_of_phase = [k == min(j for j, other in enumerate(plan.offsets) if other[0] == phase)
                      for k, (phase, _) in enumerate(plan.offsets)]

    def make_worker():
        dphases = plan.new_phases(per_chunk, dtype)
        grad = np.zeros(wide_size, dtype=dtype)  # junk positions stay 0, so they route 0
        hit = np.empty(wide_size, dtype=bool)
        routed = np.empty(wide_size, dtype=dtype)

        def backward(start, stop):
            m = stop - start
            n = m * C * plan.plane
            if m < per_chunk:  # a shorter chunk: other positions are junk now
                grad.fill(0)
            g = grad[:n]
            np.copyto(plan.valid(grad, m), dout[start:stop])
            finite = np.isfinite(g).all()  # else g * 0 may be nan: route with np.where
            index = first_max[start:stop].reshape(n)
            for k in range(len(plan.offsets)):
                target = plan.entries(dphases, m, k)
                np.equal(index, k, out=hit[:n])
                if first_of_phase[k]:
                    if finite:
                        np.multiply(g, hit[:n], out=target)
                    else:
                        np.copyto(target, np.where(hit[:n], g, dtype.type(0)))
                elif finite:
                    np.add(target, np.multiply(g, hit[:n], out=routed[:n]), out=target)
                else:
                    np.add(target, np.where(hit[:n], g, dtype.type(0)), out=target)
            planes = plan.phase_planes(dphases, m)
            grads = dx[start:stop]
            for phase, rows, cols in plan.phases:
                part = grads[:, :, rows, cols]
                part[...] = planes[phase, :, :, :part.shape[2], :part.shape[3]]

        return backward

    _run_chunks(N, per_chunk, make_worker, x.size >= _POOL_MIN_PARALLEL_ELEMENTS)
    return dx
