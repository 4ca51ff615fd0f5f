"""Benchmark one ThreeLayerConvNet training step: ours (numpy) against the same model in PyTorch.

Run from the repository root:

    python benchmarks/bench_training.py              # float32 and float64, batch 50: a few minutes
    python benchmarks/bench_training.py --quick      # fewer rounds
    python benchmarks/bench_training.py --scaling    # float32, batch 25/50/100/200 x threads 1/2

The model is the one of the assignment's CIFAR-10 run: conv 32 filters 7x7 (pad 3) - relu -
2x2 max pool - affine 8192 -> 500 - relu - affine 500 -> 10 - softmax, L2 reg 1e-3, on batches
of 3x32x32 images. For each configuration (dtype, batch size, threads) it times:

- fwd+bwd: ``model.loss(X, y)``, the loss and all gradients (in torch: cross-entropy plus
  0.5 * reg * sum(W ** 2) over the three weights, autograd without the image gradient);
- step: one ``Solver`` step as in training: draw a minibatch from a training set, loss and
  gradients, and the update of every parameter by ``optim.adam`` (its region holds the textbook
  code a student writes: plain numpy, a new array per operation), which the Solver applies in
  cache-sized blocks (``cs231n/_blocked_update.py``). torch does the same with a random minibatch
  from a tensor and ``torch.optim.Adam``;
- adam: the Solver's Adam updates alone; adam 1 call (ours only): ``optim.adam`` called once per
  whole parameter, as the Solver did before it updated in blocks.

Ours runs in this process, torch in a child process of its own (in one process, numpy's
OpenBLAS threads keep spinning after each call and slow torch's threads down by a third or
more, which would flatter ours). They take turns in rounds; in each round each times every
configuration (median of a few calls after a warm-up). The table shows medians over the rounds
and the median of the per-round ratios ours / torch (< 1: ours faster) with their range.
torch is not a project dependency; without it only our times are printed.

This is a benchmark, not a test: it asserts nothing.
"""

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import cs231n  # noqa: E402,F401  before numpy, as in the notebooks: it sets OPENBLAS_THREAD_TIMEOUT

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits

from _env import describe_environment, load_line  # benchmarks/ is on sys.path when run as a script

from cs231n import optim  # noqa: E402
from cs231n.classifiers import ThreeLayerConvNet  # noqa: E402
from cs231n.solver import Solver  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

INPUT, FILTERS, FILTER_SIZE, HIDDEN, CLASSES, REG, LR = (3, 32, 32), 32, 7, 500, 10, 1e-3, 1e-3
TRAIN_IMAGES = 2000  # the training set minibatches are drawn from (its size does not matter)


def data(dtype, batch):
    rng = np.random.default_rng(0)
    X = (60 * rng.standard_normal((TRAIN_IMAGES,) + INPUT)).astype(dtype)
    y = rng.integers(CLASSES, size=TRAIN_IMAGES)
    return X, y, X[:batch], y[:batch]


def ours(dtype, batch):
    """Our callables: fwd+bwd, Solver step, the Solver's Adam updates alone, and Adam called once
    per whole parameter (what the step would pay without the Solver's block-by-block updates)."""
    dtype = np.dtype(dtype)
    X, y, X_batch, y_batch = data(dtype, batch)

    def make_solver():
        model = ThreeLayerConvNet(input_dim=INPUT, num_filters=FILTERS, filter_size=FILTER_SIZE,
                                  hidden_dim=HIDDEN, num_classes=CLASSES, reg=REG, dtype=dtype, rng=0)
        return model, Solver(model, {"X_train": X, "y_train": y, "X_val": X[:10], "y_val": y[:10]},
                             update_rule="adam", optim_config={"learning_rate": LR}, batch_size=batch,
                             verbose=False, seed=0)

    model, solver = make_solver()
    _, grads = model.loss(X_batch, y_batch)
    _, updater = make_solver()  # its own parameters, so the timed updates leave `model` alone
    configs = {k: {"learning_rate": LR} for k in model.params}
    params = {k: v.copy() for k, v in model.params.items()}

    def adam_one_call():
        for k, g in grads.items():
            optim.adam(params[k], g, configs[k])

    return {"fwd+bwd": lambda: model.loss(X_batch, y_batch), "step": solver._step,
            "adam": lambda: updater._update_params(grads), "adam 1 call": adam_one_call}


def theirs(dtype, batch):
    """The same callables in torch."""
    torch.manual_seed(0)
    tdtype = torch.float32 if np.dtype(dtype) == np.float32 else torch.float64
    C, H, W = INPUT
    conv = torch.nn.Conv2d(C, FILTERS, FILTER_SIZE, padding=(FILTER_SIZE - 1) // 2)
    hidden = torch.nn.Linear(FILTERS * (H // 2) * (W // 2), HIDDEN)
    scores = torch.nn.Linear(HIDDEN, CLASSES)
    net = torch.nn.Sequential(conv, torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                              hidden, torch.nn.ReLU(), scores).to(tdtype)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    X, y, X_batch, y_batch = (torch.from_numpy(a) for a in data(dtype, batch))
    weights = (conv.weight, hidden.weight, scores.weight)
    generator = torch.Generator().manual_seed(0)

    def forward_backward(images, labels):
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(images), labels)
        loss = loss + 0.5 * REG * sum((w * w).sum() for w in weights)
        loss.backward()

    def step():
        index = torch.randint(len(X), (batch,), generator=generator)
        forward_backward(X[index], y[index])
        opt.step()

    forward_backward(X_batch, y_batch)
    grads = [p.grad.clone() for p in net.parameters()]
    shadow = torch.optim.Adam([p.detach().clone().requires_grad_() for p in net.parameters()], lr=LR)
    for p, g in zip(shadow.param_groups[0]["params"], grads):
        p.grad = g
    return {"fwd+bwd": lambda: forward_backward(X_batch, y_batch), "step": step, "adam": shadow.step}


def median_time(function, calls, warmup=3):
    for _ in range(warmup):
        function()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def time_round(make, configs, calls, set_threads):
    """One round: {name: median seconds} for every configuration, in order."""
    results = []
    for dtype, batch, threads in configs:
        with set_threads(threads):
            functions = make(dtype, batch)
            results.append({name: median_time(f, calls) for name, f in functions.items()})
    return results


class _TorchThreads:
    def __init__(self, threads):
        self.threads = threads

    def __enter__(self):
        torch.set_num_threads(self.threads)

    def __exit__(self, *exc):
        return False


def torch_round(configs, calls):
    """Run in the child process: one round of torch."""
    return time_round(theirs, configs, calls, _TorchThreads)


def blas_threads(threads):
    return threadpool_limits(threads, user_api="blas")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a rough look)")
    parser.add_argument("--scaling", action="store_true",
                        help="float32 at batch 25, 50, 100, 200 on 1 and 2 threads")
    parser.add_argument("--threads", type=int, default=None, help="threads for both (default: one per core)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 5, --quick 3)")
    parser.add_argument("--calls", type=int, default=None, help="timed calls per round (default 9, --quick 5)")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 5)
    calls = args.calls or (5 if args.quick else 9)
    threads = args.threads or os.cpu_count()
    if args.scaling:
        configs = [("float32", batch, t) for t in (1, 2) for batch in (25, 50, 100, 200)]
    else:
        configs = [("float32", 50, threads), ("float64", 50, threads)]
    describe_environment(torch, threads)
    print(load_line())
    print(f"ThreeLayerConvNet {FILTERS}x{FILTER_SIZE}x{FILTER_SIZE} conv, hidden {HIDDEN}; {rounds} rounds,"
          f" ours then torch (its own process) in each; per round the median of {calls} calls;"
          " times: medians over the rounds in ms; ratio = ours / torch (< 1: ours faster)\n")

    child = multiprocessing.get_context("spawn").Pool(1) if torch is not None else None
    ours_rounds, torch_rounds = [], []
    for _ in range(rounds):
        ours_rounds.append(time_round(ours, configs, calls, blas_threads))
        if child is not None:
            time.sleep(0.5)  # numpy's idle BLAS threads spin for a while after their last call
            torch_rounds.append(child.apply(torch_round, (configs, calls)))
    if child is not None:
        child.close()
        child.join()

    names = ("fwd+bwd", "step", "adam")
    head = f"{'dtype':<9}{'batch':>6}{'threads':>8}" + "".join(f"{n:>9}" for n in names) + f"{'adam 1 call':>13}"
    if torch_rounds:
        head += "".join(f"{'torch ' + n:>15}" for n in names) + f"{'f+b ratio':>17}{'step ratio':>17}"
    print(head)
    for i, (dtype, batch, t) in enumerate(configs):
        mine = {n: 1e3 * np.array([r[i][n] for r in ours_rounds]) for n in names}
        one_call = np.median([1e3 * r[i]["adam 1 call"] for r in ours_rounds])
        row = f"{dtype:<9}{batch:>6}{t:>8}" + "".join(f"{np.median(mine[n]):>9.1f}" for n in names)
        row += f"{one_call:>13.1f}"
        if torch_rounds:
            other = {n: 1e3 * np.array([r[i][n] for r in torch_rounds]) for n in names}
            row += "".join(f"{np.median(other[n]):>15.1f}" for n in names)
            for n in ("fwd+bwd", "step"):
                ratio = mine[n] / other[n]
                row += f"{np.median(ratio):>7.2f} ({ratio.min():.2f}-{ratio.max():.2f})"
        print(row, flush=True)
    print(load_line())


if __name__ == "__main__":
    main()
