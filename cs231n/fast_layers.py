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
  backward pass routes the gradient with one comparison and one multiply per window entry (for
  windows that do not overlap, straight into strided views of dx, with no phase buffers).
- Chunks run on as many lanes as numpy's BLAS may use threads (2 on a 2-core machine), either on
  one thread per lane (BLAS held to 1 thread meanwhile; see ``_threads``). Small problems stay in
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

from ._threads import run_chunks
from ._validate import check_shape, conv_geometry, float_array, pool_geometry
from ._validate import unpack_cache as _unpack_cache

__all__ = [
    "conv_forward_fast", "conv_backward_fast",
    "max_pool_forward_fast", "max_pool_backward_fast",
    "conv_pool_forward_fast", "conv_pool_backward_fast",
]

# Chunk sizes: bytes of patches and products (conv), values of input (max pool) per chunk of images.
_CONV_CHUNK_BYTES = 1 << 19
_CONV_MIN_CHUNK_WORK = 1 << 22  # multiply-adds
_POOL_CHUNK_VALUES = 1 << 18  # 1 MiB of float32, 2 MiB of float64
_CONV_GROUP_BYTES = 1 << 19  # convolution output per group of chunks (see _conv_group_size)
# Below this many multiply-adds (conv) or input values (pool) threads cost more than they save.
_CONV_MIN_PARALLEL_WORK = 1 << 21
_POOL_MIN_PARALLEL_ELEMENTS = 1 << 17


# ---------------------------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------------------------

def _view(buffer, offset, shape, strides):
    """A view of the flat ``buffer`` from element ``offset`` (strides in elements); unlike
    as_strided it is cheap, and numpy checks that it stays inside the buffer."""
    item = buffer.itemsize
    return np.ndarray(shape, buffer.dtype, buffer, offset * item, tuple(item * s for s in strides))


def _conv_plan_stride(x_shape, w_shape, stride, pad):
    """The stride to plan with: past the last window start, any stride gives H' = W' = 1."""
    span = max(x_shape[2] + 2 * pad - w_shape[2], x_shape[3] + 2 * pad - w_shape[3])
    return min(stride, span + 1)


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
    stride), W'). Only the phases some tap reads are stored: a < Sa = min(stride, HH),
    b < Sb = min(stride, WW). An image takes Sa * Sb * C planes, phase-major ((a, b), then c),
    each (Hs + 1) * Ws values long: a spare zero row ends every plane. Patch matrices store row
    (i, j, c) with a row stride of one plane, so the C runs of a tap are spaced alike in the patch
    matrix and in the image buffer, and col2im is ONE contiguous add per tap and image, gaps
    included (the gaps of the patch gradient are zero).
    """

    def __init__(self, x_shape, w_shape, stride, pad, H_out, W_out):
        _, C, H, W = x_shape
        F, _, HH, WW = w_shape
        s = _conv_plan_stride(x_shape, w_shape, stride, pad)
        self.C, self.F, self.HH, self.WW, self.stride = C, F, HH, WW, s
        self.Sa, self.Sb = min(s, HH), min(s, WW)
        self.H_out, self.W_out = H_out, W_out
        self.Hs, self.Ws = -(-(H + 2 * pad) // s), max(-(-(W + pad) // s), W_out)
        self.plane = (self.Hs + 1) * self.Ws
        self.image = self.Sa * self.Sb * C * self.plane  # buffer values per image
        self.K, self.P = HH * WW * C, H_out * self.Ws
        # Where each phase's values come from: phase (a, b)[r0:r1, c0:c1] = x[y0::s, x0::s].
        self.phases = []
        for a in range(self.Sa):
            r0, r1 = max(0, -((a - pad) // s)), -((a - pad - H) // s)
            for b in range(self.Sb):
                c0, c1 = max(0, -((b - pad) // s)), -((b - pad - W) // s)
                if r1 > r0 and c1 > c0:
                    x_part = (slice(s * r0 + a - pad, H, s), slice(s * c0 + b - pad, W, s))
                    self.phases.append((a, b, slice(r0, r1), slice(c0, c1)) + x_part)
        # Inputs in phases no tap reads get no gradient: dx must start at zero.
        self.all_phases_read = self.Sa == s and self.Sb == s

    def tap_offset(self, i, j):
        """Where, in an image's buffer, the run of filter tap (i, j) in channel 0 starts."""
        s = self.stride
        return ((i % s) * self.Sb + j % s) * self.C * self.plane + (i // s) * self.Ws + j // s

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

    def planes(self, buffer, images):
        """The first ``images`` images of a buffer as (m, Sa, Sb, C, Hs + 1, Ws) planes."""
        return buffer[:images * self.image].reshape(images, self.Sa, self.Sb, self.C, self.Hs + 1, self.Ws)


class _ConvWorkspace:
    """One lane's buffers for chunks of up to ``images`` images, and the views into them.

    The backward pass writes the patch gradient over the patches once dw is computed from them
    (their gap columns past P are never written, so they stay 0).

    col2im sums, for each phase (a, b), the runs of its taps (a + s i2, b + s j2): position t of
    the phase's plane of channel c collects column t - i2 Ws - j2 of tap (i2, j2)'s row c. One
    strided view of the patches holds all those terms ((m, C, plane, taps down, taps across),
    a negative column reading the zero gap at the end of the row before), so one np.sum per
    phase does all the adds, in tap order, instead of one numpy call per tap. A zero guard in
    front of the patches serves the first rows' negative columns. When the gap is too short for
    the shifts (a very small image), col2im adds the taps one by one.
    """

    one_sum_col2im = True  # False: always add tap by tap (tests compare the two)

    def __init__(self, plan, images, dtype, backward=False):
        self.plan = plan
        s, C, HH, WW, span = plan.stride, plan.C, plan.HH, plan.WW, plan.C * plan.plane
        # + a plane and a row: the last runs of the last image overrun its end
        self.buffer = np.zeros(images * plan.image + plan.plane + WW, dtype=dtype)
        taps_down, taps_across = -(-HH // s), -(-WW // s)  # most taps of any phase
        reach = (taps_down - 1) * plan.Ws + taps_across - 1  # the longest shift left
        guard = reach if backward else 0
        self.patch_buffer = np.zeros(guard + images * plan.K * plan.plane, dtype=dtype)
        self.patches = self.patch_buffer[guard:].reshape(images, plan.K, plan.plane)
        self.cols = self.patches[:, :, :plan.P]  # (m, K, P), rows one plane apart
        self.planes = plan.planes(self.buffer, images)[..., :plan.Hs, :]  # (m, Sa, Sb, C, Hs, Ws)
        # im2col, one copy per phase (a, b): the runs of taps (a + s i2, b + s j2), all channels.
        taps = self.patches.reshape(images, HH, WW, C, plan.plane)
        self.im2col_pairs = []
        for a in range(plan.Sa):
            for b in range(plan.Sb):
                target = taps[:, a::s, b::s, :, :plan.P]
                strides = (plan.image, plan.Ws, 1, plan.plane, 1)
                source = _view(self.buffer, plan.tap_offset(a, b), target.shape, strides)
                self.im2col_pairs.append((target, source))
        if not backward:
            return
        self.dbuffer = np.zeros_like(self.buffer)
        self.col2im_sums = self.col2im_pairs = None
        if self.one_sum_col2im and reach <= plan.plane - plan.P:  # shifts stay within the gap
            self.col2im_sums = []
            for a in range(plan.Sa):
                for b in range(plan.Sb):
                    down, across = -(-(HH - a) // s), -(-(WW - b) // s)
                    row = (a * WW + b) * C  # tap (a, b), channel 0
                    terms = _view(self.patch_buffer, guard + row * plan.plane,
                                  (images, C, plan.plane, down, across),
                                  (plan.K * plan.plane, plan.plane, 1,
                                   s * WW * C * plan.plane - plan.Ws, s * C * plan.plane - 1))
                    phase = _view(self.dbuffer, plan.tap_offset(a, b), (images, C, plan.plane),
                                  (plan.image, plan.plane, 1))
                    self.col2im_sums.append((terms, phase))
            return
        dtaps = self.patches.reshape(images, HH * WW, span)
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
        """Sum the patch gradients (in cols[:m]) over the taps into dx (m, C, H, W)."""
        m, plan = dx.shape[0], self.plan
        if self.col2im_sums is not None:
            for terms, phase in self.col2im_sums:  # every plane position written
                np.sum(terms[:m], axis=(3, 4), out=phase[:m])
        else:
            self.dbuffer[:m * plan.image].fill(0)
            for run, dtap in self.col2im_pairs:  # runs of different taps overlap: add one by one
                run[:m] += dtap[:m]
        planes = plan.planes(self.dbuffer, m)
        if not plan.all_phases_read:
            dx[...] = 0
        for a, b, rows, cols, x_rows, x_cols in plan.phases:
            dx[:, :, x_rows, x_cols] = planes[:, a, b, :, rows, cols]


def _conv_chunk_size(plan, n, dtype):
    """Images per chunk: as many as keep a chunk's patches and products near _CONV_CHUNK_BYTES;
    for small images more, up to _CONV_MIN_CHUNK_WORK multiply-adds (a chunk's dozen numpy
    calls would cost more than its arithmetic), but at most an eighth of the batch (so that the
    lanes' buffers stay below the whole batch's im2col matrix) and four times the size."""
    per_image = max(1, (plan.K * plan.plane + plan.F * plan.P) * dtype.itemsize)
    by_size = _CONV_CHUNK_BYTES // per_image
    by_work = min(-(-_CONV_MIN_CHUNK_WORK // max(1, plan.F * plan.K * plan.P)), 4 * by_size, n // 8)
    return max(1, min(n, max(by_size, by_work)))


def _chunks_of(start, stop, per_chunk):
    """The (first, last) bounds of the chunks of images start..stop-1 (a group's chunks)."""
    return [(first, min(first + per_chunk, stop)) for first in range(start, stop, per_chunk)]


def _conv_group_size(plan, per_chunk, N, dtype):
    """Images per group: whole chunks, about _CONV_GROUP_BYTES of convolution output.

    A lane pools a group at once (conv_pool_*_fast) and fills a group's output gradient in one
    call: pooling or copying each small chunk on its own would cost a dozen numpy calls per
    image, and on two lanes every call pays a GIL handover (a few microseconds each). Lanes take
    whole groups, and the group size depends only on the shapes, so the fused and the plain
    backward pass add up dw in the same order.
    """
    per_image = max(1, plan.F * plan.H_out * plan.W_out * dtype.itemsize)
    return min(N, per_chunk * max(1, _CONV_GROUP_BYTES // (per_image * per_chunk))) if N else 1


class _ConvForward:
    """A lane of the convolution forward pass: ``lane(x_chunk, out)`` writes the (m, F, H', W')
    output of the images x_chunk into out, or without out into a buffer of the lane's own (valid
    until its next call), and returns it."""

    def __init__(self, plan, per_chunk, w_rows, bias, dtype, own_output=True):
        self.plan, self.w_rows, self.bias = plan, w_rows, bias
        self.work = _ConvWorkspace(plan, per_chunk, dtype)
        self.wide = np.empty((per_chunk, plan.F, plan.P), dtype=dtype)
        if own_output:
            self.out = np.empty((per_chunk, plan.F, plan.H_out, plan.W_out), dtype=dtype)

    def __call__(self, x_chunk, out=None):
        m = x_chunk.shape[0]
        product = np.matmul(self.w_rows, self.work.im2col(x_chunk), out=self.wide[:m])  # (m, F, P)
        return np.add(self.plan.valid(product), self.bias, out=self.out[:m] if out is None else out)


class _ConvBackward:
    """A lane of the convolution backward pass, a group of chunks at a time. ``lane.grad(m)`` is
    the (m, F, H', W') view to write a group's dout into; ``lane(x_chunk, dx_chunk, offset)``
    then adds the share of the chunk that starts ``offset`` images into the group to
    ``lane.dw_rows`` and writes its dx (when dx_chunk is not None)."""

    def __init__(self, plan, per_chunk, per_group, w_cols, dtype, clear_dcols, clear_junk, need_dx):
        self.plan, self.w_cols, self.clear_dcols, self.clear_junk = plan, w_cols, clear_dcols, clear_junk
        self.work = _ConvWorkspace(plan, per_chunk, dtype, backward=need_dx)
        self.wide = np.zeros((per_group, plan.F, plan.P), dtype=dtype)  # junk columns stay 0
        self.dw_parts = np.empty((per_chunk, plan.F, plan.K), dtype=dtype)
        self.dw_rows = np.zeros((plan.F, plan.K), dtype=dtype)

    def grad(self, m):
        return self.plan.valid(self.wide[:m])

    def __call__(self, x_chunk, dx_chunk, offset=0):
        m, plan = x_chunk.shape[0], self.plan
        cols = self.work.im2col(x_chunk)  # (m, K, P)
        if self.clear_junk:
            plan.junk(cols)[...] = 0  # 0 * inf would be nan
        g = self.wide[offset:offset + m]
        parts = np.matmul(g, cols.transpose(0, 2, 1), out=self.dw_parts[:m])  # (m, F, K)
        self.dw_rows += parts[0] if m == 1 else parts.sum(axis=0)
        if dx_chunk is None:
            return
        dcols = np.matmul(self.w_cols, g, out=cols)  # (m, K, P): the patches are no longer needed
        if self.clear_dcols:
            plan.junk(dcols)[...] = 0
        self.work.col2im(dx_chunk)


def _conv_setup(x, w, b, conv_param):
    stride, pad, H_out, W_out = conv_geometry(x, w, b, conv_param)
    plan = _ConvPlan(x.shape, w.shape, stride, pad, H_out, W_out)
    return stride, pad, plan


def _conv_work(plan, N):
    """Multiply-adds of a forward pass, to decide whether threads pay."""
    return N * plan.F * plan.K * plan.P >= _CONV_MIN_PARALLEL_WORK


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
    stride, pad, plan = _conv_setup(x, w, b, conv_param)
    N, dtype = x.shape[0], np.result_type(x, w, b)
    w_rows, bias = plan.weights(w, dtype), b.astype(dtype)[:, None, None]  # (F, K), (F, 1, 1)
    out = np.empty((N, plan.F, plan.H_out, plan.W_out), dtype=dtype)
    per_chunk = _conv_chunk_size(plan, N, dtype)

    def make_lane():
        lane = _ConvForward(plan, per_chunk, w_rows, bias, dtype, own_output=False)
        return lambda start, stop: lane(x[start:stop], out[start:stop])

    key = ("conv forward", x.shape, w.shape, stride, pad, dtype.str)
    run_chunks(N, per_chunk, make_lane, _conv_work(plan, N), key)
    return out, (x, w, b, {"stride": stride, "pad": pad})


def _conv_backward_setup(dout, cache, need_dx, name):
    x, w, b, conv_param = _unpack_cache(cache, 4, name)
    stride, pad, plan = _conv_setup(x, w, b, conv_param)
    dout = float_array(dout, "dout")
    if not isinstance(need_dx, bool):
        raise TypeError(f"need_dx must be True or False, got {need_dx!r}")
    return x, w, dout, stride, pad, plan


def _conv_backward_lane(plan, x, w, dtype, per_chunk, per_group, need_dx):
    w_cols = plan.weights(w, dtype).T  # (K, F)
    # Junk columns meet a zero gradient, which is exact unless a weight or an input is inf or
    # nan (0 * inf = nan); then they are zeroed explicitly.
    clear_dcols = need_dx and plan.Ws > plan.W_out and not np.isfinite(w).all()
    clear_junk = plan.Ws > plan.W_out and not np.isfinite(x).all()
    return lambda: _ConvBackward(plan, per_chunk, per_group, w_cols, dtype, clear_dcols, clear_junk, need_dx)


def _conv_backward_groups(lane, x, dx, per_chunk, fill_grad):
    """``group(start, stop)`` for run_chunks: ``fill_grad(start, stop)`` writes the group's
    output gradient into lane.grad, then the lane's backward pass runs over the group's chunks,
    in order."""
    def group(start, stop):
        fill_grad(start, stop)
        for first, last in _chunks_of(start, stop, per_chunk):  # the forward pass's chunks
            lane(x[first:last], None if dx is None else dx[first:last], first - start)

    group.lane = lane
    return group


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
    x, w, dout, stride, pad, plan = _conv_backward_setup(dout, cache, need_dx, "conv_forward_fast")
    N = x.shape[0]
    check_shape(dout, (N, plan.F, plan.H_out, plan.W_out), "dout")
    dtype = np.result_type(x, w, dout)
    dx = np.empty(x.shape, dtype=dtype) if need_dx else None
    per_chunk = _conv_chunk_size(plan, N, dtype)
    # Groups as in conv_pool_backward_fast: the same partial sums of dw, so the same bits.
    per_group = _conv_group_size(plan, per_chunk, N, dtype)
    new_lane = _conv_backward_lane(plan, x, w, dtype, per_chunk, per_group, need_dx)

    def make_lane():
        lane = new_lane()
        return _conv_backward_groups(
            lane, x, dx, per_chunk, lambda start, stop: np.copyto(lane.grad(stop - start), dout[start:stop]))

    key = ("conv backward", x.shape, w.shape, stride, pad, dtype.str, need_dx)
    lanes = run_chunks(N, per_group, make_lane, _conv_work(plan, N), key)
    dw_rows = lanes[0].lane.dw_rows
    for other in lanes[1:]:
        dw_rows += other.lane.dw_rows
    return dx, plan.filters(dw_rows), dout.sum(axis=(0, 2, 3))


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
    plane are junk: computed, never used, and given a zero gradient. A stride past the last
    window start is planned as the input's size (the same single window per row and column).
    """

    def __init__(self, x_shape, pool_height, pool_width, stride, H_out, W_out):
        _, C, H, W = x_shape
        s = min(stride, max(H - pool_height, W - pool_width) + 1)
        self.C, self.stride, self.H_out, self.W_out = C, s, H_out, W_out
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
        # The first entry of each phase (shift 0) writes the phase's whole slice; later ones add.
        self.first_of_phase = [k == min(j for j, other in enumerate(self.offsets) if other[0] == phase)
                               for k, (phase, _) in enumerate(self.offsets)]
        # Windows that do not overlap (stride >= window) route their gradient straight into
        # strided views of dx: entry (i, j) of every window is x[:, :, i::s, j::s], cut to H' x W'.
        # (The forward pass keeps the phases: numpy compares contiguous arrays twice as fast.)
        self.tiles = s >= pool_height and s >= pool_width
        self.covers_all = self.tiles and (s * H_out, s * W_out, pool_height, pool_width) == (H, W, s, s)
        self.entry_slices = [(slice(i, i + s * H_out, s), slice(j, j + s * W_out, s))
                             for i in range(pool_height) for j in range(pool_width)]

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
    """Images per max-pool chunk: as many as keep a chunk's input near _POOL_CHUNK_VALUES values
    (whatever the dtype: float64 chunks of 2 MiB ran 12-20 % faster than of 1 MiB on two lanes,
    float32 ones the same)."""
    return max(1, min(x.shape[0], _POOL_CHUNK_VALUES // max(1, x[:1].size)))


class _PoolForward:
    """A lane of the max-pool forward pass: ``lane(images, out, first_max)`` pools the images
    (m, C, H, W) into out (m, C, H', W') and writes each window's first maximum into the wide
    first_max (m, C, Hs, Ws)."""

    def __init__(self, plan, per_chunk, dtype):
        self.plan = plan
        wide_size = per_chunk * plan.C * plan.plane
        self.phases = plan.new_phases(per_chunk, dtype)
        self.top = np.empty(wide_size, dtype=dtype)
        self.bigger = np.empty(wide_size, dtype=bool)
        self.candidate = np.empty(wide_size, dtype=plan.index_dtype)

    def __call__(self, images, out, first_max):
        plan, phases = self.plan, self.phases
        m = images.shape[0]
        n = m * plan.C * plan.plane
        planes = plan.phase_planes(phases, m)
        for phase, rows, cols in plan.phases:
            part = images[:, :, rows, cols]
            planes[phase, :, :, :part.shape[2], :part.shape[3]] = part
        index, best, bigger = first_max.reshape(n), self.top[:n], self.bigger[:n]
        if len(plan.offsets) == 1:
            np.copyto(best, plan.entries(phases, m, 0))
            index.fill(0)
        for k in range(1, len(plan.offsets)):
            entries = plan.entries(phases, m, k)
            before = best if k > 1 else plan.entries(phases, m, 0)
            np.greater(entries, before, out=bigger)  # strict: ties keep the earlier entry
            np.maximum(before, entries, out=best)
            if k == 1:
                np.copyto(index, bigger.view(np.uint8))
            else:  # index = k where bigger, else unchanged (k exceeds every index so far)
                candidate = self.candidate[:n]
                np.multiply(bigger.view(np.uint8), plan.index_dtype.type(k), out=candidate)
                np.maximum(index, candidate, out=index)
        np.copyto(out, plan.valid(best, m))
        if np.isnan(out).any():  # np.maximum kept the NaNs; point their windows at the first
            for k in reversed(range(len(plan.offsets))):
                nan = np.isnan(plan.entries(phases, m, k))
                np.copyto(index, plan.index_dtype.type(k), where=nan)


class _PoolBackward:
    """A lane of the max-pool backward pass: ``lane(dout, first_max, dx)`` routes dout
    (m, C, H', W') to dx (m, C, H, W), which may be a strided view."""

    def __init__(self, plan, per_chunk, dtype):
        self.plan, self.dtype = plan, dtype
        if plan.tiles:
            self.hit = np.empty((per_chunk, plan.C, plan.H_out, plan.W_out), dtype=bool)
            return
        wide_size = per_chunk * plan.C * plan.plane
        self.dphases = plan.new_phases(per_chunk, dtype)
        # Junk positions are never written (every chunk has the same layout per image), so they
        # stay 0 and route 0.
        self.grad = np.zeros(wide_size, dtype=dtype)
        self.hit = np.empty(wide_size, dtype=bool)
        self.routed = np.empty(wide_size, dtype=dtype)

    def tiled(self, dout, first_max, dx):
        """Windows that do not overlap: route dout straight into strided views of dx."""
        plan, zero = self.plan, self.dtype.type(0)
        index, hit = first_max[:, :, :plan.H_out, :plan.W_out], self.hit[:dout.shape[0]]
        finite = np.isfinite(dout).all()  # else dout * 0 may be nan: route with np.where
        if not plan.covers_all:
            dx[...] = 0
        for k, (rows, cols) in enumerate(plan.entry_slices):
            np.equal(index, k, out=hit)
            if finite:
                np.multiply(dout, hit, out=dx[:, :, rows, cols])
            else:
                np.copyto(dx[:, :, rows, cols], np.where(hit, dout, zero))

    def __call__(self, dout, first_max, dx):
        if self.plan.tiles:
            return self.tiled(dout, first_max, dx)
        plan, dphases, zero = self.plan, self.dphases, self.dtype.type(0)
        m = dout.shape[0]
        n = m * plan.C * plan.plane
        g, hit = self.grad[:n], self.hit[:n]
        np.copyto(plan.valid(self.grad, m), dout)
        finite = np.isfinite(g).all()  # else g * 0 may be nan: route with np.where
        index = first_max.reshape(n)
        for k in range(len(plan.offsets)):
            target = plan.entries(dphases, m, k)
            np.equal(index, k, out=hit)
            if plan.first_of_phase[k]:
                if finite:
                    np.multiply(g, hit, out=target)
                else:
                    np.copyto(target, np.where(hit, g, zero))
            elif finite:
                np.add(target, np.multiply(g, hit, out=self.routed[:n]), out=target)
            else:
                np.add(target, np.where(hit, g, zero), out=target)
        planes = plan.phase_planes(dphases, m)
        if not plan.all_phases_used:
            dx[...] = 0
        for phase, rows, cols in plan.phases:
            part = dx[:, :, rows, cols]
            part[...] = planes[phase, :, :, :part.shape[2], :part.shape[3]]


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
    plan = _PoolPlan(x.shape, pool_height, pool_width, stride, H_out, W_out)
    out = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    first_max = np.empty((N, C, plan.Hs, plan.Ws), dtype=plan.index_dtype)  # wide
    per_chunk = _pool_chunk_size(x)

    def make_lane():
        lane = _PoolForward(plan, per_chunk, x.dtype)
        return lambda start, stop: lane(x[start:stop], out[start:stop], first_max[start:stop])

    key = ("pool forward", x.shape, pool_height, pool_width, stride, x.dtype.str)
    run_chunks(N, per_chunk, make_lane, x.size >= _POOL_MIN_PARALLEL_ELEMENTS, key)
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
    dx = np.empty(x.shape, dtype=dtype)
    per_chunk = _pool_chunk_size(x)

    def make_lane():
        lane = _PoolBackward(plan, per_chunk, dtype)
        return lambda start, stop: lane(dout[start:stop], first_max[start:stop], dx[start:stop])

    key = ("pool backward", x.shape, pool_height, pool_width, stride, dtype.str)
    run_chunks(N, per_chunk, make_lane, x.size >= _POOL_MIN_PARALLEL_ELEMENTS, key)
    return dx


# ---------------------------------------------------------------------------------------------
# Convolution + max pool, fused
# ---------------------------------------------------------------------------------------------

def _conv_pool_plans(x, w, b, conv_param, pool_param, dtype):
    stride, pad, plan = _conv_setup(x, w, b, conv_param)
    a_shape = (x.shape[0], plan.F, plan.H_out, plan.W_out)  # the convolution's output
    ph, pw, pool_stride, H2, W2 = pool_geometry(np.broadcast_to(np.zeros((), dtype), a_shape), pool_param)
    pool_plan = _PoolPlan(a_shape, ph, pw, pool_stride, H2, W2)
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
    per_chunk = _conv_chunk_size(plan, N, dtype)
    per_group = _conv_group_size(plan, per_chunk, N, dtype)

    def make_lane():
        conv = _ConvForward(plan, per_chunk, w_rows, bias, dtype, own_output=False)
        pool = _PoolForward(pool_plan, per_group, dtype)
        convolved = np.empty((per_group, plan.F, plan.H_out, plan.W_out), dtype=dtype)

        def forward(start, stop):
            for first, last in _chunks_of(start, stop, per_chunk):  # conv_forward_fast's chunks
                conv(x[first:last], convolved[first - start:last - start])
            pool(convolved[:stop - start], out[start:stop], first_max[start:stop])

        return forward

    run_chunks(N, per_group, make_lane, _conv_work(plan, N), ("conv pool forward",) + key)
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
    x, w, dout, stride, pad, _ = _conv_backward_setup(dout, conv_cache, need_dx, "conv_pool_forward_fast")
    dtype = np.result_type(x, w, b, dout)
    plan, pool_plan, _, _, key = _conv_pool_plans(x, w, b, {"stride": stride, "pad": pad}, pool_param, dtype)
    N = x.shape[0]
    check_shape(dout, (N, plan.F, pool_plan.H_out, pool_plan.W_out), "dout")
    if not (isinstance(first_max, np.ndarray) and first_max.dtype == pool_plan.index_dtype
            and first_max.shape == (N, plan.F, pool_plan.Hs, pool_plan.Ws)):
        raise TypeError("cache must be the 3-tuple returned by conv_pool_forward_fast")
    dx = np.empty(x.shape, dtype=dtype) if need_dx else None
    per_chunk = _conv_chunk_size(plan, N, dtype)
    per_group = _conv_group_size(plan, per_chunk, N, dtype)
    new_conv = _conv_backward_lane(plan, x, w, dtype, per_chunk, per_group, need_dx)

    def make_lane():
        conv, pool = new_conv(), _PoolBackward(pool_plan, per_group, dtype)
        return _conv_backward_groups(
            conv, x, dx, per_chunk,
            lambda start, stop: pool(dout[start:stop], first_max[start:stop], conv.grad(stop - start)))

    lanes = run_chunks(N, per_group, make_lane, _conv_work(plan, N), ("conv pool backward", need_dx) + key)
    dw_rows = lanes[0].lane.dw_rows
    for other in lanes[1:]:
        dw_rows += other.lane.dw_rows
    # Every window passes its gradient to exactly one input: db sums dout itself.
    return dx, plan.filters(dw_rows), dout.sum(axis=(0, 2, 3), dtype=dtype)
