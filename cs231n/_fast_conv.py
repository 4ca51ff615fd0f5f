"""The machinery of the fast convolution in ``fast_layers``: the layout of one convolution
(``ConvPlan``), a lane's buffers with im2col and col2im (``ConvWorkspace``), the forward and
backward lanes, and how a batch is cut into chunks and groups of chunks (``_threads`` spreads
them over the cores). Private: the public layers are in ``fast_layers``.
"""

import numpy as np

from ._validate import conv_geometry, float_array, unpack_cache

# Bytes of patches and products per chunk of images, and the least work of a chunk (see
# conv_chunk_size); convolution output per group of chunks (see conv_group_size).
CONV_CHUNK_BYTES = 1 << 19
CONV_MIN_CHUNK_WORK = 1 << 22  # multiply-adds
CONV_GROUP_BYTES = 1 << 19
# Below this many multiply-adds threads cost more than they save.
CONV_MIN_PARALLEL_WORK = 1 << 21


def view(buffer, offset, shape, strides):
    """A view of the flat ``buffer`` from element ``offset`` (strides in elements); unlike
    as_strided it is cheap, and numpy checks that it stays inside the buffer."""
    item = buffer.itemsize
    return np.ndarray(shape, buffer.dtype, buffer, offset * item, tuple(item * s for s in strides))


def conv_plan_stride(x_shape, w_shape, stride, pad):
    """The stride to plan with: past the last window start, any stride gives H' = W' = 1."""
    span = max(x_shape[2] + 2 * pad - w_shape[2], x_shape[3] + 2 * pad - w_shape[3])
    return min(stride, span + 1)


class ConvPlan:
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
        s = conv_plan_stride(x_shape, w_shape, stride, pad)
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


class ConvWorkspace:
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
                source = view(self.buffer, plan.tap_offset(a, b), target.shape, strides)
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
                    terms = view(self.patch_buffer, guard + row * plan.plane,
                                  (images, C, plan.plane, down, across),
                                  (plan.K * plan.plane, plan.plane, 1,
                                   s * WW * C * plan.plane - plan.Ws, s * C * plan.plane - 1))
                    phase = view(self.dbuffer, plan.tap_offset(a, b), (images, C, plan.plane),
                                  (plan.image, plan.plane, 1))
                    self.col2im_sums.append((terms, phase))
            return
        dtaps = self.patches.reshape(images, HH * WW, span)
        self.col2im_pairs = [
            (view(self.dbuffer, plan.tap_offset(*divmod(t, WW)), (images, span), (plan.image, 1)),
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


def conv_chunk_size(plan, n, dtype):
    """Images per chunk: as many as keep a chunk's patches and products near CONV_CHUNK_BYTES;
    for small images more, up to CONV_MIN_CHUNK_WORK multiply-adds (a chunk's dozen numpy
    calls would cost more than its arithmetic), but at most an eighth of the batch (so that the
    lanes' buffers stay below the whole batch's im2col matrix) and four times the size."""
    per_image = max(1, (plan.K * plan.plane + plan.F * plan.P) * dtype.itemsize)
    by_size = CONV_CHUNK_BYTES // per_image
    by_work = min(-(-CONV_MIN_CHUNK_WORK // max(1, plan.F * plan.K * plan.P)), 4 * by_size, n // 8)
    return max(1, min(n, max(by_size, by_work)))


def chunks_of(start, stop, per_chunk):
    """The (first, last) bounds of the chunks of images start..stop-1 (a group's chunks)."""
    return [(first, min(first + per_chunk, stop)) for first in range(start, stop, per_chunk)]


def conv_group_size(plan, per_chunk, N, dtype):
    """Images per group: whole chunks, about CONV_GROUP_BYTES of convolution output.

    A lane pools a group at once (conv_pool_*_fast) and fills a group's output gradient in one
    call: pooling or copying each small chunk on its own would cost a dozen numpy calls per
    image, and on two lanes every call pays a GIL handover (a few microseconds each). Lanes take
    whole groups, and the group size depends only on the shapes, so the fused and the plain
    backward pass add up dw in the same order.
    """
    per_image = max(1, plan.F * plan.H_out * plan.W_out * dtype.itemsize)
    return min(N, per_chunk * max(1, CONV_GROUP_BYTES // (per_image * per_chunk))) if N else 1


class ConvForward:
    """A lane of the convolution forward pass: ``lane(x_chunk, out)`` writes the (m, F, H', W')
    output of the images x_chunk into out, or without out into a buffer of the lane's own (valid
    until its next call), and returns it."""

    def __init__(self, plan, per_chunk, w_rows, bias, dtype, own_output=True):
        self.plan, self.w_rows, self.bias = plan, w_rows, bias
        self.work = ConvWorkspace(plan, per_chunk, dtype)
        self.wide = np.empty((per_chunk, plan.F, plan.P), dtype=dtype)
        if own_output:
            self.out = np.empty((per_chunk, plan.F, plan.H_out, plan.W_out), dtype=dtype)

    def __call__(self, x_chunk, out=None):
        m = x_chunk.shape[0]
        product = np.matmul(self.w_rows, self.work.im2col(x_chunk), out=self.wide[:m])  # (m, F, P)
        return np.add(self.plan.valid(product), self.bias, out=self.out[:m] if out is None else out)


class ConvBackward:
    """A lane of the convolution backward pass, a group of chunks at a time. ``lane.grad(m)`` is
    the (m, F, H', W') view to write a group's dout into; ``lane(x_chunk, dx_chunk, offset)``
    then adds the share of the chunk that starts ``offset`` images into the group to
    ``lane.dw_rows`` and writes its dx (when dx_chunk is not None)."""

    def __init__(self, plan, per_chunk, per_group, w_cols, dtype, clear_dcols, clear_junk, need_dx):
        self.plan, self.w_cols, self.clear_dcols, self.clear_junk = plan, w_cols, clear_dcols, clear_junk
        self.work = ConvWorkspace(plan, per_chunk, dtype, backward=need_dx)
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


def conv_setup(x, w, b, conv_param):
    """The checked stride and pad, and the plan of a convolution of x by w."""
    stride, pad, H_out, W_out = conv_geometry(x, w, b, conv_param)
    plan = ConvPlan(x.shape, w.shape, stride, pad, H_out, W_out)
    return stride, pad, plan


def conv_work(plan, N):
    """Multiply-adds of a forward pass, to decide whether threads pay."""
    return N * plan.F * plan.K * plan.P >= CONV_MIN_PARALLEL_WORK


def conv_backward_setup(dout, cache, need_dx, name):
    """The checked arrays of a backward pass: x, w, dout, stride, pad and the plan (``name``:
    the forward function whose cache it takes, for the error messages)."""
    x, w, b, conv_param = unpack_cache(cache, 4, name)
    stride, pad, plan = conv_setup(x, w, b, conv_param)
    dout = float_array(dout, "dout")
    if not isinstance(need_dx, bool):
        raise TypeError(f"need_dx must be True or False, got {need_dx!r}")
    return x, w, dout, stride, pad, plan


def conv_backward_lane(plan, x, w, dtype, per_chunk, per_group, need_dx):
    """A factory of backward lanes for one call (x and w are checked for inf and nan once)."""
    w_cols = plan.weights(w, dtype).T  # (K, F)
    # Junk columns meet a zero gradient, which is exact unless a weight or an input is inf or
    # nan (0 * inf = nan); then they are zeroed explicitly.
    clear_dcols = need_dx and plan.Ws > plan.W_out and not np.isfinite(w).all()
    clear_junk = plan.Ws > plan.W_out and not np.isfinite(x).all()
    return lambda: ConvBackward(plan, per_chunk, per_group, w_cols, dtype, clear_dcols, clear_junk, need_dx)


def conv_backward_groups(lane, x, dx, per_chunk, fill_grad):
    """``group(start, stop)`` for run_chunks: ``fill_grad(start, stop)`` writes the group's
    output gradient into lane.grad, then the lane's backward pass runs over the group's chunks,
    in order."""
    def group(start, stop):
        fill_grad(start, stop)
        for first, last in chunks_of(start, stop, per_chunk):  # the forward pass's chunks
            lane(x[first:last], None if dx is None else dx[first:last], first - start)

    group.lane = lane
    return group
