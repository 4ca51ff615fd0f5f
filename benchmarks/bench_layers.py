"""Benchmark the fast convolution and max-pool layers against PyTorch (and the naive layers).

Run from the repository root:

    python benchmarks/bench_layers.py            # full run, a few minutes
    python benchmarks/bench_layers.py --quick    # fewer rounds, about a minute

Ours runs in this process, torch in a child process of its own (in one process the two
libraries' thread pools slow each other down: torch's conv measured 26 ms alone and 100 ms next
to numpy). The two take turns in rounds: in each round ours times every case (median of a few
calls after a warm-up), then, after a pause that lets numpy's BLAS threads go idle, the child
times the same cases in torch.nn.functional (conv2d / max_pool2d, backward through autograd).
Each round gives a ratio ours / torch per case (below 1: ours faster); the table shows the median
times over all rounds, the median ratio and the range of the per-round ratios, so that background
load, which hits one round at a time, shows up as spread rather than as a biased figure.

Each round also times, for the convolutions, the three matrix products of the forward and
backward pass alone (out = W cols, dW = dout cols^T, dcols = W^T dout) on ready-made patch
matrices of our chunks, on our lanes: no im2col, col2im, bias or copies. That is the least any
im2col convolution costs with this BLAS; where it exceeds torch's whole forward + backward, no
im2col layout can reach torch's speed with it (torch's CPU convolutions run oneDNN's kernels).

It then prints, for our layers alone: the fast forward + backward under each execution plan
(chunks on worker threads with BLAS at 1 thread each, or one thread driving BLAS's threads) next
to the plan the layer picks; the naive forward + backward (the speedup of fast over naive); and
the peak memory one convolution forward + backward allocates (tracemalloc) next to the size of
the im2col matrix a whole-batch implementation would build.

This is a benchmark, not a test: it asserts nothing. torch is not a project dependency.
"""

import multiprocessing
import os
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import cs231n  # noqa: E402,F401  before numpy, as in the notebooks: it sets OPENBLAS_THREAD_TIMEOUT

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits

from _env import describe_environment, load_line, parse_arguments  # benchmarks/ is on sys.path when run as a script

try:
    from cs231n import _fast_conv, _threads  # noqa: E402
except ImportError:  # an older package: no execution plans or products to compare
    _fast_conv = _threads = None
from cs231n.fast_layers import (  # noqa: E402
    conv_backward_fast, conv_forward_fast, max_pool_backward_fast, max_pool_forward_fast,
)
from cs231n.layers import (  # noqa: E402
    conv_backward_naive, conv_forward_naive, max_pool_backward_naive, max_pool_forward_naive,
)

try:
    import torch
except ImportError:
    torch = None

# name, dtype, x shape, w shape, stride, pad: the layers of the assignment's networks.
CONV_CASES = [
    ("conv A", "float32", (100, 3, 31, 31), (25, 3, 3, 3), 2, 1),
    ("conv B", "float32", (50, 3, 32, 32), (32, 3, 7, 7), 1, 3),
    ("conv C", "float32", (50, 64, 16, 16), (64, 64, 3, 3), 1, 1),
    ("conv A", "float64", (100, 3, 31, 31), (25, 3, 3, 3), 2, 1),
    ("conv B", "float64", (50, 3, 32, 32), (32, 3, 7, 7), 1, 3),
    ("conv C", "float64", (50, 64, 16, 16), (64, 64, 3, 3), 1, 1),
]
# name, dtype, x shape, pool size, stride
POOL_CASES = [
    ("pool 2x2/2", "float32", (50, 32, 32, 32), 2, 2),
    ("pool 3x3/2", "float32", (50, 32, 32, 32), 3, 2),
    ("pool 2x2/2", "float64", (50, 32, 32, 32), 2, 2),
    ("pool 3x3/2", "float64", (50, 32, 32, 32), 3, 2),
]


def case_arrays(case):
    """The same arrays in both processes: drawn from a seed named by the case."""
    rng = np.random.default_rng(sum(map(ord, case[0] + case[1])))
    name, dtype = case[0], np.dtype(case[1])
    if name.startswith("conv"):
        _, _, x_shape, w_shape, stride, pad = case
        x = rng.standard_normal(x_shape).astype(dtype)
        w = rng.standard_normal(w_shape).astype(dtype)
        b = rng.standard_normal(w_shape[0]).astype(dtype)
        H = 1 + (x_shape[2] + 2 * pad - w_shape[2]) // stride
        W = 1 + (x_shape[3] + 2 * pad - w_shape[3]) // stride
        dout = rng.standard_normal((x_shape[0], w_shape[0], H, W)).astype(dtype)
        return x, w, b, dout
    _, _, x_shape, size, stride = case
    x = rng.standard_normal(x_shape).astype(dtype)
    H, W = 1 + (x_shape[2] - size) // stride, 1 + (x_shape[3] - size) // stride
    dout = rng.standard_normal(x_shape[:2] + (H, W)).astype(dtype)
    return x, dout


def ours(case):
    """Our callables of one case: forward, forward + backward (and, for a convolution, its
    matrix products alone: see ``products``)."""
    if case[0].startswith("conv"):
        x, w, b, dout = case_arrays(case)
        conv_param = {"stride": case[4], "pad": case[5]}

        def fwd_bwd():
            out, cache = conv_forward_fast(x, w, b, conv_param)
            conv_backward_fast(dout, cache)

        return (lambda: conv_forward_fast(x, w, b, conv_param)), fwd_bwd, products(case)
    x, dout = case_arrays(case)
    pool_param = {"pool_height": case[3], "pool_width": case[3], "stride": case[4]}

    def fwd_bwd():
        out, cache = max_pool_forward_fast(x, pool_param)
        max_pool_backward_fast(dout, cache)

    return (lambda: max_pool_forward_fast(x, pool_param)), fwd_bwd


def products(case):
    """The three matrix products of the case's forward + backward pass, alone, in our chunks and
    on our lanes (None without ``_threads``): out = W cols, dW = dout cols^T (per image, as ours),
    dcols = W^T dout, on ready-made (m, K, P) patch matrices (P: our wide columns)."""
    if _fast_conv is None:
        return None
    x, w, _, dout = case_arrays(case)
    N, F, H_out, W_out = dout.shape
    plan = _fast_conv.ConvPlan(x.shape, w.shape, case[4], case[5], H_out, W_out)
    per_chunk, K, P, dtype = _fast_conv.conv_chunk_size(plan, N, x.dtype), plan.K, plan.P, x.dtype
    rng = np.random.default_rng(0)
    w_rows = rng.standard_normal((F, K)).astype(dtype)
    w_cols = np.ascontiguousarray(w_rows.T)
    buffers = [(rng.standard_normal((per_chunk, K, P)).astype(dtype),  # cols
                rng.standard_normal((per_chunk, F, P)).astype(dtype),  # dout, wide
                np.empty((per_chunk, F, P), dtype), np.empty((per_chunk, F, K), dtype),
                np.empty((per_chunk, K, P), dtype)) for _ in range(os.cpu_count() or 1)]

    def call():
        free = iter(buffers)  # one set per lane

        def make_lane():
            cols, grad, out, dw_parts, dcols = next(free)

            def lane(start, stop):
                m = stop - start
                np.matmul(w_rows, cols[:m], out=out[:m])
                np.matmul(grad[:m], cols[:m].transpose(0, 2, 1), out=dw_parts[:m])
                np.matmul(w_cols, grad[:m], out=dcols[:m])

            return lane

        _threads.run_chunks(N, per_chunk, make_lane, True, ("products",) + tuple(case[:2]))

    return call


def theirs(case):
    """torch's callables of one case: forward (no autograd), forward + backward (autograd)."""
    import torch.nn.functional as tnf
    if case[0].startswith("conv"):
        x, w, b, dout = (torch.from_numpy(a) for a in case_arrays(case))
        x, w, b = (a.requires_grad_() for a in (x, w, b))
        stride, pad = case[4], case[5]

        def fwd():
            with torch.no_grad():
                tnf.conv2d(x, w, b, stride=stride, padding=pad)

        def fwd_bwd():
            torch.autograd.grad(tnf.conv2d(x, w, b, stride=stride, padding=pad), (x, w, b), dout)

        return fwd, fwd_bwd
    x, dout = (torch.from_numpy(a) for a in case_arrays(case))
    x.requires_grad_()
    size, stride = case[3], case[4]

    def fwd():
        with torch.no_grad():
            tnf.max_pool2d(x, size, stride)

    def fwd_bwd():
        torch.autograd.grad(tnf.max_pool2d(x, size, stride), (x,), dout)

    return fwd, fwd_bwd


def median_time(function, calls, warmup=2):
    """Median seconds of ``calls`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def time_round(make, cases, calls):
    """One round: the median seconds of every case's callables (forward, forward + backward,
    and our products where there are), case by case in order."""
    return [tuple(median_time(function, calls) for function in make(case) if function is not None)
            for case in cases]


def torch_round(cases, calls, threads):
    """Run in the child process: one round of torch."""
    torch.set_num_threads(threads)
    return time_round(theirs, cases, calls)


def plan_rows(cases, calls):
    """Fast forward + backward under each plan (the layers run "workers" unless told otherwise),
    and under the adaptive per-shape plan cache (``_threads.adaptive_plans``)."""
    rows = []
    if _threads is None:
        return rows
    for case in cases:
        fwd_bwd = ours(case)[1]
        times = {}
        for plan in _threads.PLANS:
            with _threads.force_plan(plan):
                times[plan] = median_time(fwd_bwd, calls)
        with _threads.adaptive_plans():  # the per-shape plan cache: its first calls try both
            _threads.clear_plans()
            times["adaptive"] = median_time(fwd_bwd, calls, warmup=2 * _threads.TRIALS)
        rows.append((case, times))
    return rows


def naive_speedups(cases, calls):
    """Median seconds of the naive forward + backward and of the fast one."""
    rows = []
    for case in cases:
        fast = ours(case)[1]
        if case[0].startswith("conv"):
            x, w, b, dout = case_arrays(case)
            conv_param = {"stride": case[4], "pad": case[5]}

            def naive():
                conv_backward_naive(dout, conv_forward_naive(x, w, b, conv_param)[1])
        else:
            x, dout = case_arrays(case)
            pool_param = {"pool_height": case[3], "pool_width": case[3], "stride": case[4]}

            def naive():
                max_pool_backward_naive(dout, max_pool_forward_naive(x, pool_param)[1])
        rows.append((case, median_time(naive, calls, warmup=0), median_time(fast, 5)))
    return rows


def conv_memory(case):
    """Peak bytes traced during one conv forward + backward: all of it, and minus the results."""
    x, w, b, dout = case_arrays(case)
    conv_param = {"stride": case[4], "pad": case[5]}
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    out, cache = conv_forward_fast(x, w, b, conv_param)
    dx, dw, db = conv_backward_fast(dout, cache)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak, peak - (out.nbytes + dx.nbytes + dw.nbytes + db.nbytes)


def label(case):
    return f"{case[0]} {case[1]}"


def main():
    args = parse_arguments(__doc__)
    rounds, calls = (3, 5) if args.quick else (7, 9)
    started = time.perf_counter()
    threads = args.threads or os.cpu_count()
    describe_environment(torch, threads)
    print(load_line())
    cases = CONV_CASES + POOL_CASES
    ours_rounds, torch_rounds = [], []
    child = multiprocessing.get_context("spawn").Pool(1) if torch is not None else None
    with threadpool_limits(threads, user_api="blas"):
        for _ in range(rounds):
            ours_rounds.append(time_round(ours, cases, calls))
            if child is not None:
                time.sleep(0.5)  # numpy's idle BLAS threads spin for a while after their last call
                torch_rounds.append(child.apply(torch_round, (cases, calls, threads)))
        if child is not None:
            child.close()
            child.join()

        print(f"\n{rounds} rounds, ours then torch (its own process) in each; per round the median of"
              f" {calls} calls; times: medians over the rounds in ms; ratio = ours / torch (< 1: ours faster)")
        head = f"{'case':<20}{'fwd':>8}{'fwd+bwd':>9}"
        if torch_rounds:
            head += f"{'torch fwd':>11}{'fwd+bwd':>9}{'fwd ratio':>11}{'f+b ratio':>11}{'f+b ratio range':>17}"
        print(head)
        for i, case in enumerate(cases):
            mine = np.array([r[i][:2] for r in ours_rounds]) * 1e3  # (rounds, 2)
            row = f"{label(case):<20}{np.median(mine[:, 0]):>8.2f}{np.median(mine[:, 1]):>9.2f}"
            if torch_rounds:
                other = np.array([r[i] for r in torch_rounds]) * 1e3
                ratios = mine / other
                row += (f"{np.median(other[:, 0]):>11.2f}{np.median(other[:, 1]):>9.2f}"
                        f"{np.median(ratios[:, 0]):>11.2f}{np.median(ratios[:, 1]):>11.2f}"
                        f"{ratios[:, 1].min():>9.2f}-{ratios[:, 1].max():.2f}")
            print(row, flush=True)

        if torch_rounds and len(ours_rounds[0][0]) == 3:
            print("\nthe matrix products alone (forward, dW, dx) on ready-made patch matrices, in our chunks and"
                  " lanes: the least\nany im2col convolution costs with this BLAS; medians over the rounds in ms,"
                  " ratios per round")
            print(f"{'case':<20}{'products':>9}{'ours f+b':>9}{'torch f+b':>11}{'products / torch':>18}"
                  f"{'ours / products':>17}")
            for i, case in enumerate(CONV_CASES):
                mine = np.array([r[i] for r in ours_rounds]) * 1e3
                other = np.array([r[i] for r in torch_rounds]) * 1e3
                print(f"{label(case):<20}{np.median(mine[:, 2]):>9.2f}{np.median(mine[:, 1]):>9.2f}"
                      f"{np.median(other[:, 1]):>11.2f}{np.median(mine[:, 2] / other[:, 1]):>18.2f}"
                      f"{np.median(mine[:, 1] / mine[:, 2]):>17.2f}", flush=True)

        rows = plan_rows(CONV_CASES, calls)
        if rows:
            print("\nour conv forward + backward (ms) under each plan (the default is workers), and with the "
                  "adaptive per-shape choice")
            print(f"{'case':<20}" + "".join(f"{p:>10}" for p in rows[0][1]))
            for case, times in rows:
                print(f"{label(case):<20}" + "".join(f"{1e3 * t:>10.2f}" for t in times.values()))

        print("\nnaive vs fast forward + backward (ms)")
        print(f"{'case':<20}{'naive':>9}{'fast':>8}{'speedup':>9}")
        for case, naive, fast in naive_speedups(cases, 1 if args.quick else 3):
            print(f"{label(case):<20}{1e3 * naive:>9.1f}{1e3 * fast:>8.2f}{naive / fast:>8.0f}x")

    print("\npeak memory of one conv forward + backward (tracemalloc), vs the whole-batch im2col matrix")
    print(f"{'case':<20}{'im2col MB':>10}{'peak MB':>9}{'ratio':>7}{'workspace MB':>14}{'ratio':>7}")
    for case in CONV_CASES:
        _, _, x_shape, w_shape, stride, pad = case
        H = 1 + (x_shape[2] + 2 * pad - w_shape[2]) // stride
        W = 1 + (x_shape[3] + 2 * pad - w_shape[3]) // stride
        im2col = x_shape[0] * np.prod(w_shape[1:]) * H * W * np.dtype(case[1]).itemsize
        peak, workspace = conv_memory(case)
        print(f"{label(case):<20}{im2col / 2**20:>10.2f}{peak / 2**20:>9.2f}{peak / im2col:>7.2f}"
              f"{workspace / 2**20:>14.2f}{workspace / im2col:>7.2f}")
    print("peak: everything allocated, including the results out, dx, dw, db; workspace: peak minus those")
    print(load_line())
    print(f"total time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
