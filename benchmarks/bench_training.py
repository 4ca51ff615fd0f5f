"""Benchmark one training step of ThreeLayerConvNet: ours (numpy) against the same model in PyTorch.

Run from the repository root:

    python benchmarks/bench_training.py            # about a minute
    python benchmarks/bench_training.py --quick    # fewer repeats

The model is the one of the assignment's CIFAR-10 run: conv 32 filters 7x7 (pad 3) - relu -
2x2 max pool - affine 8192 -> 500 - relu - affine 500 -> 10 - softmax, L2 reg 1e-3, on a batch
of 50 images of 3x32x32. A training step is loss + gradients + one Adam update of every
parameter, as Solver does it. Times are medians over interleaved runs after a warm-up (ours'
functions of one dtype take turns, in rotating order, so background load hits them alike; so do
torch's).

Both get a breakdown: the forward + backward pass (``model.loss(X, y)``; in torch the loss and
autograd) and the Adam updates alone; ours also the forward pass alone (``model.loss(X)``).
torch runs the same step: nn.Conv2d / MaxPool2d / Linear, cross-entropy plus
0.5 * reg * sum(W ** 2) over the three weights, autograd (no gradient for the images, as in ours)
and torch.optim.Adam, on the same number of threads. It runs in a child process of its own, after
ours: in one process, the worker threads of numpy's OpenBLAS keep spinning for a while after each
call and slow torch's threads down by a third or more, which would flatter ours.
torch is not a project dependency; without it only our times are printed.

This is a benchmark, not a test: it asserts nothing.
"""

import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from _env import describe_environment, parse_arguments, setup_threads  # benchmarks/ is on sys.path when run as a script

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cs231n import optim  # noqa: E402
from cs231n.classifiers import ThreeLayerConvNet  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

BATCH, INPUT, FILTERS, FILTER_SIZE, HIDDEN, CLASSES, REG, LR = 50, (3, 32, 32), 32, 7, 500, 10, 1e-3, 1e-3


def numpy_functions(X, y, dtype):
    """Our timed callables: full step, forward, forward + backward, Adam updates."""
    model = ThreeLayerConvNet(input_dim=INPUT, num_filters=FILTERS, filter_size=FILTER_SIZE,
                              hidden_dim=HIDDEN, num_classes=CLASSES, reg=REG, dtype=dtype, rng=0)
    configs = {k: {"learning_rate": LR} for k in model.params}
    X = X.astype(dtype)

    def adam(grads):
        for k, g in grads.items():
            model.params[k], configs[k] = optim.adam(model.params[k], g, configs[k])

    def step():
        _, grads = model.loss(X, y)
        adam(grads)

    _, fixed_grads = model.loss(X, y)
    return {
        "step": step,
        "forward": lambda: model.loss(X),
        "fwd+bwd": lambda: model.loss(X, y),
        "adam": lambda: adam(fixed_grads),
    }


def torch_functions(X, y, dtype):
    """The same training step in torch, and its fwd+bwd and Adam parts."""
    torch.manual_seed(0)
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    C, H, W = INPUT
    conv = torch.nn.Conv2d(C, FILTERS, FILTER_SIZE, padding=(FILTER_SIZE - 1) // 2)
    hidden = torch.nn.Linear(FILTERS * (H // 2) * (W // 2), HIDDEN)
    scores = torch.nn.Linear(HIDDEN, CLASSES)
    net = torch.nn.Sequential(conv, torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                              hidden, torch.nn.ReLU(), scores).to(tdtype)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    tX = torch.from_numpy(X.astype(dtype))
    ty = torch.from_numpy(y)
    weights = (conv.weight, hidden.weight, scores.weight)

    def forward_backward():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(tX), ty)
        loss = loss + 0.5 * REG * sum((w * w).sum() for w in weights)
        loss.backward()

    def step():
        forward_backward()
        opt.step()

    return {"torch step": step, "torch fwd+bwd": forward_backward, "torch adam": opt.step}


def torch_medians(X, y, dtype, threads, repeats):
    """Run in the child process: median seconds of the torch functions."""
    torch.set_num_threads(threads)
    return time_interleaved(torch_functions(X, y, dtype), repeats)


def time_interleaved(functions, repeats, warmup=3):
    """Median seconds of each function; one call of each per round, in rotating order."""
    names = list(functions)
    for name in names:
        for _ in range(warmup):
            functions[name]()
    times = {name: [] for name in names}
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            functions[name]()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def main():
    args = parse_arguments(__doc__)
    repeats = 7 if args.quick else 25

    threads = setup_threads(torch, args.threads)
    describe_environment(torch, threads)
    print(f"ThreeLayerConvNet {FILTERS}x{FILTER_SIZE}x{FILTER_SIZE} conv, hidden {HIDDEN}, batch {BATCH}"
          f" of {INPUT}; medians of {repeats} interleaved runs, ms;"
          " ratio = ours / torch (< 1: ours faster)\n")
    header = f"{'dtype':<9}{'ours step':>10}{'forward':>9}{'fwd+bwd':>9}{'adam':>8}"
    if torch is not None:
        header += f"{'torch step':>11}{'fwd+bwd':>9}{'adam':>8}{'step ratio':>11}{'f+b ratio':>10}"
    print(header)

    rng = np.random.default_rng(0)
    X = 60 * rng.standard_normal((BATCH,) + INPUT)
    y = rng.integers(CLASSES, size=BATCH)
    child = multiprocessing.get_context("spawn").Pool(1) if torch is not None else None
    if child is not None:
        child.apply(time.sleep, (0.0,))  # wait until the child has started and imported torch
    for dtype in (np.float32, np.float64):
        with threadpool_limits(threads, user_api="blas"):
            ms = {k: 1e3 * v for k, v in time_interleaved(numpy_functions(X, y, dtype), repeats).items()}
        if child is not None:
            time.sleep(1.0)  # let numpy's BLAS threads go idle before torch runs
            ms.update({k: 1e3 * v for k, v in
                       child.apply(torch_medians, (X, y, dtype, threads, repeats)).items()})
        row = (f"{np.dtype(dtype).name:<9}{ms['step']:>10.1f}{ms['forward']:>9.1f}"
               f"{ms['fwd+bwd']:>9.1f}{ms['adam']:>8.1f}")
        if child is not None:
            row += (f"{ms['torch step']:>11.1f}{ms['torch fwd+bwd']:>9.1f}{ms['torch adam']:>8.1f}"
                    f"{ms['step'] / ms['torch step']:>11.2f}{ms['fwd+bwd'] / ms['torch fwd+bwd']:>10.2f}")
        print(row, flush=True)
    if child is not None:
        child.close()
        child.join()


if __name__ == "__main__":
    main()
