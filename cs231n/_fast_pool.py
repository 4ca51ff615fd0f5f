"""The machinery of the fast max pool in ``fast_layers``: the layout of one pool (``PoolPlan``),
the forward and backward lanes, and the chunk size. Private: the public layers are in
``fast_layers``.
"""

import numpy as np

POOL_CHUNK_VALUES = 1 << 18  # input values per chunk: 1 MiB of float32, 2 MiB of float64
# Below this many input values threads cost more than they save.
POOL_MIN_PARALLEL_ELEMENTS = 1 << 17


class PoolPlan:
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


def pool_chunk_size(x):
    """Images per max-pool chunk: as many as keep a chunk's input near POOL_CHUNK_VALUES values
    (whatever the dtype: float64 chunks of 2 MiB ran 12-20 % faster than of 1 MiB on two lanes,
    float32 ones the same)."""
    return max(1, min(x.shape[0], POOL_CHUNK_VALUES // max(1, x[:1].size)))


class PoolForward:
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


class PoolBackward:
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
