"""Benchmark the fast convolution and max-pool layers against the naive ones and PyTorch.

Run from the repository root:

    python benchmarks/bench_layers.py            # full run, a few minutes
    python benchmarks/bench_layers.py --quick    # fewer repeats, well under a minute

For each case and dtype it prints the median time of the fast forward pass, the fast forward +
backward pass and the naive forward + backward pass, the speedup of fast over naive and, when
torch can be imported, the same operations in ``torch.nn.functional`` (conv2d / max_pool2d, the
backward through autograd) and the ratios ours / torch (below 1 means we are faster). All the
functions of a case are timed in one loop, in rotating order, after a warm-up, so background
load hits them alike; medians discard the outliers. Ours and torch run on the same number of
threads (``--threads``, default: torch's default, normally one per core).

It then reports the peak memory one convolution forward + backward allocates (measured with
tracemalloc, which sees numpy's allocations) next to the size of the im2col matrix that a
whole-batch im2col implementation would build.

This is a benchmark, not a test: it asserts nothing. torch is not a project dependency.
"""

import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from _env import describe_environment, parse_arguments, setup_threads  # benchmarks/ is on sys.path when run as a script

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cs231n import fast_layers  # noqa: E402
from cs231n.fast_layers import (  # noqa: E402
    conv_backward_fast, conv_forward_fast, max_pool_backward_fast, max_pool_forward_fast,
)
from cs231n.layers import (  # noqa: E402
    conv_backward_naive, conv_forward_naive, max_pool_backward_naive, max_pool_forward_naive,
)

try:
    import torch
    import torch.nn.functional as tnf
except ImportError:
    torch = None

CONV_CASES = [
    # name, x shape, w shape, stride, pad
    ("A", (100, 3, 31, 31), (25, 3, 3, 3), 2, 1),
    ("B", (50, 3, 32, 32), (32, 3, 7, 7), 1, 3),
    ("C", (50, 64, 16, 16), (64, 64, 3, 3), 1, 1),
]
POOL_CASES = [
    # name, x shape, pool size, stride
    ("pool 2x2/2", (50, 32, 32, 32), 2, 2),
    ("pool 3x3/2", (50, 32, 32, 32), 3, 2),
]


def conv_functions(x, w, b, stride, pad, dout):
    """The timed callables of one convolution case, by column name."""
    conv_param = {"stride": stride, "pad": pad}

    def fast_fwd():
        conv_forward_fast(x, w, b, conv_param)

    def fast_fwd_bwd():
        out, cache = conv_forward_fast(x, w, b, conv_param)
        conv_backward_fast(dout, cache)

    def naive_fwd_bwd():
        out, cache = conv_forward_naive(x, w, b, conv_param)
        conv_backward_naive(dout, cache)

    functions = {"fast fwd": fast_fwd, "fast fwd+bwd": fast_fwd_bwd, "naive fwd+bwd": naive_fwd_bwd}
    if torch is not None:
        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
        tdout = torch.from_numpy(dout)

        def torch_fwd():
            with torch.no_grad():
                tnf.conv2d(tx, tw, tb, stride=stride, padding=pad)

        def torch_fwd_bwd():
            out = tnf.conv2d(tx, tw, tb, stride=stride, padding=pad)
            torch.autograd.grad(out, (tx, tw, tb), tdout)

        functions.update({"torch fwd": torch_fwd, "torch fwd+bwd": torch_fwd_bwd})
    return functions


def pool_functions(x, size, stride, dout):
    """The timed callables of one max-pool case, by column name."""
    pool_param = {"pool_height": size, "pool_width": size, "stride": stride}

    def fast_fwd():
        max_pool_forward_fast(x, pool_param)

    def fast_fwd_bwd():
        out, cache = max_pool_forward_fast(x, pool_param)
        max_pool_backward_fast(dout, cache)

    def naive_fwd_bwd():
        out, cache = max_pool_forward_naive(x, pool_param)
        max_pool_backward_naive(dout, cache)

    functions = {"fast fwd": fast_fwd, "fast fwd+bwd": fast_fwd_bwd, "naive fwd+bwd": naive_fwd_bwd}
    if torch is not None:
        tx = torch.from_numpy(x).requires_grad_()
        tdout = torch.from_numpy(dout)

        def torch_fwd():
            with torch.no_grad():
                tnf.max_pool2d(tx, size, stride)

        def torch_fwd_bwd():
            out = tnf.max_pool2d(tx, size, stride)
            torch.autograd.grad(out, (tx,), tdout)

        functions.update({"torch fwd": torch_fwd, "torch fwd+bwd": torch_fwd_bwd})
    return functions


def time_interleaved(functions, repeats, naive_repeats, warmup=2):
    """Median seconds of each function; one call of each per round, in rotating order."""
    names = list(functions)
    for name in names:
        for _ in range(0 if name.startswith("naive") else warmup):  # naive: too slow to care
            functions[name]()
    times = {name: [] for name in names}
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            if name.startswith("naive") and round_ >= naive_repeats:
                continue
            start = time.perf_counter()
            functions[name]()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def shape(dims):
    return "x".join(map(str, dims))


COLUMNS = [  # header, width
    ("case", 34), ("fast fwd", 10), ("fast f+b", 10), ("naive f+b", 11), ("speedup", 9),
    ("torch fwd", 11), ("torch f+b", 11), ("fwd ratio", 11), ("f+b ratio", 11),
]


def header(with_torch):
    columns = COLUMNS if with_torch else COLUMNS[:5]
    return "".join(f"{name:<{width}}" if i == 0 else f"{name:>{width}}" for i, (name, width) in enumerate(columns))


def print_row(label, med):
    ms = {name: 1e3 * t for name, t in med.items()}
    cells = [f"{ms['fast fwd']:.2f}", f"{ms['fast fwd+bwd']:.2f}", f"{ms['naive fwd+bwd']:.1f}",
             f"{med['naive fwd+bwd'] / med['fast fwd+bwd']:.1f}x"]
    if "torch fwd" in ms:
        cells += [f"{ms['torch fwd']:.2f}", f"{ms['torch fwd+bwd']:.2f}",
                  f"{med['fast fwd'] / med['torch fwd']:.2f}", f"{med['fast fwd+bwd'] / med['torch fwd+bwd']:.2f}"]
    widths = [width for _, width in COLUMNS]
    print(f"{label:<{widths[0]}}" + "".join(f"{cell:>{width}}" for cell, width in zip(cells, widths[1:])),
          flush=True)


def threading_functions(x, w, b, stride, pad, dout):
    """Conv forward + backward on worker threads (BLAS 1 thread each), and in one thread with BLAS
    using all the threads instead: the default is the first; this shows whether it is faster."""
    conv_param = {"stride": stride, "pad": pad}
    default_workers = fast_layers._num_workers

    def workers():
        out, cache = conv_forward_fast(x, w, b, conv_param)
        conv_backward_fast(dout, cache)

    def blas_threads():
        fast_layers._num_workers = lambda num_chunks, big_enough: 1
        try:
            workers()
        finally:
            fast_layers._num_workers = default_workers

    return {"worker threads": workers, "BLAS threads": blas_threads}


def conv_memory(x, w, b, stride, pad, dout):
    """Peak bytes traced during one conv forward + backward: all of it, and minus the results."""
    conv_param = {"stride": stride, "pad": pad}
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    out, cache = conv_forward_fast(x, w, b, conv_param)
    dx, dw, db = conv_backward_fast(dout, cache)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    results = out.nbytes + dx.nbytes + dw.nbytes + db.nbytes
    return peak, peak - results


def main():
    args = parse_arguments(__doc__)
    repeats, naive_repeats = (5, 1) if args.quick else (21, 3)
    started = time.perf_counter()

    threads = setup_threads(torch, args.threads)
    describe_environment(torch, threads)
    print(f"medians of {repeats} interleaved runs ({naive_repeats} for naive), times in ms;"
          " ratio = ours / torch (< 1: ours faster)\n")
    rng = np.random.default_rng(0)
    memory_rows, threading_rows = [], []
    with threadpool_limits(threads, user_api="blas"):
        for dtype in (np.float32, np.float64):
            print(f"--- {np.dtype(dtype).name} ---")
            print(header(torch is not None))
            for name, x_shape, w_shape, stride, pad in CONV_CASES:
                x = rng.standard_normal(x_shape).astype(dtype)
                w = rng.standard_normal(w_shape).astype(dtype)
                b = rng.standard_normal(w_shape[0]).astype(dtype)
                out_shape = conv_forward_fast(x, w, b, {"stride": stride, "pad": pad})[0].shape
                dout = rng.standard_normal(out_shape).astype(dtype)
                med = time_interleaved(conv_functions(x, w, b, stride, pad, dout), repeats, naive_repeats)
                print_row(f"conv {name} {shape(x_shape)} F{w_shape[0]} {shape(w_shape[2:])} s{stride}p{pad}", med)
                K, P = np.prod(w_shape[1:]), out_shape[2] * out_shape[3]
                im2col = x_shape[0] * K * P * np.dtype(dtype).itemsize
                memory_rows.append((name, np.dtype(dtype).name, im2col, *conv_memory(x, w, b, stride, pad, dout)))
                threading_rows.append((name, np.dtype(dtype).name, time_interleaved(
                    threading_functions(x, w, b, stride, pad, dout), repeats, 0)))
            for name, x_shape, size, stride in POOL_CASES:
                x = rng.standard_normal(x_shape).astype(dtype)
                out_shape = max_pool_forward_fast(x, {"pool_height": size, "pool_width": size,
                                                      "stride": stride})[0].shape
                dout = rng.standard_normal(out_shape).astype(dtype)
                med = time_interleaved(pool_functions(x, size, stride, dout), repeats, naive_repeats)
                print_row(f"{name} {shape(x_shape)}", med)
            print()

    print("conv forward + backward on our worker threads (BLAS 1 thread each, the default)"
          " vs in one thread with BLAS threads")
    print(f"{'case':<6}{'dtype':<9}{'workers ms':>11}{'BLAS ms':>9}{'ratio':>7}")
    for name, dtype, med in threading_rows:
        workers, blas = 1e3 * med["worker threads"], 1e3 * med["BLAS threads"]
        print(f"{name:<6}{dtype:<9}{workers:>11.2f}{blas:>9.2f}{workers / blas:>7.2f}")
    print()
    print("peak memory of one conv forward + backward (tracemalloc), vs the whole-batch im2col matrix")
    print(f"{'case':<6}{'dtype':<9}{'im2col MB':>10}{'peak MB':>9}{'ratio':>7}{'workspace MB':>14}{'ratio':>7}")
    for name, dtype, im2col, peak, workspace in memory_rows:
        print(f"{name:<6}{dtype:<9}{im2col / 2**20:>10.2f}{peak / 2**20:>9.2f}{peak / im2col:>7.2f}"
              f"{workspace / 2**20:>14.2f}{workspace / im2col:>7.2f}")
    print("peak: everything allocated, including the results out, dx, dw, db; workspace: peak minus those")
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
