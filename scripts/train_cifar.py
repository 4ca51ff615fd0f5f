"""Train the assignment's models on the real CIFAR-10 with fixed recipes; report accuracy and time.

Every recipe is plain data in ``RECIPES`` below, so a notebook can reuse exactly the same
hyperparameters (``from train_cifar import RECIPES`` with scripts/ on sys.path, or copy them):

- ``cnn_original``: the original assignment's ThreeLayerConvNet run: gaussian init with
  weight_scale=1e-3, hidden_dim=500, reg=1e-3, one epoch, batch 50, Adam at 1e-3.
- ``cnn_better``: the same architecture and epoch, batch 50, with a better recipe: images divided
  by their standard deviation (unit variance), init='kaiming', Adam starting at 2e-3 and
  decaying linearly to 0 over the epoch (``cs231n.optim.scheduled_rule``).
- ``fc_tuned``: FullyConnectedNet [512, 256] with batchnorm and dropout (keep 0.7), reg 1e-4,
  unit-variance images, batch 200, Adam at 1e-3 with lr_decay 0.9, 15 epochs.
- ``cnn_overfit``: ThreeLayerConvNet (weight_scale=1e-2) on 100 training images, 15 epochs,
  batch 50, Adam at 1e-3, to check that it can overfit them.

Results on this machine (real CIFAR-10, 49000 / 1000 validation images, float32, best
validation accuracy; seeds 0, 1, 2, ... as given by --seed):

    cnn_original   0.494 0.465 0.510 0.404 0.466 (seeds 0-4; mean 0.468); one epoch in 62-76 s
                   on 2 cores, as the shared machine's speed drifts (94.0 s in an earlier
                   version with OPENBLAS_THREAD_TIMEOUT=28, OpenBLAS's default; ``import
                   cs231n`` sets 4, see the README). The float32 bits of a seeded run changed
                   when the conv layers' lanes began to take groups of images (dw is summed in
                   another order): the version before gave 0.483 0.484 0.429 0.468 0.458.
                   Drawing the minibatches without replacement (a permutation per epoch)
                   instead gave 0.453 0.471 0.449 for seeds 0-2: the spread is seed variance
    cnn_better     0.591 0.591 0.561 0.587 0.589 (seeds 0-4)
    fc_tuned       0.584 (seed 0; 0.573 after the last epoch)
    cnn_overfit    train accuracy 0.99 0.97 0.99 0.90 0.94 (seeds 0-4)

With 1000 validation images an accuracy has a standard error of about 1.6 points by itself.

Usage (from the repository root, with the real CIFAR-10 in datasets/cifar-10-batches-py):

    python scripts/train_cifar.py                      # every recipe
    python scripts/train_cifar.py cnn_original --seed 1 --seed 2
    python scripts/train_cifar.py cnn_better --dtype float64
    python scripts/train_cifar.py cnn_original --threads 1   # on a busy machine, see below

Each run prints one result line: recipe, seed, dtype, best validation accuracy, final training
accuracy (on 1000 samples), and the wall time of ``Solver.train()`` (accuracy checks included).

``--threads N`` limits BLAS (and with it the fast layers' worker threads) to N threads. On a
machine where other processes keep the cores busy, multi-threaded BLAS can run many times
slower than one thread (its threads wait for each other), so there ``--threads 1`` is faster.
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import cs231n  # noqa: E402,F401  before numpy, as in the notebooks: it sets OPENBLAS_THREAD_TIMEOUT

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from cs231n import optim  # noqa: E402
from cs231n.classifiers import FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet  # noqa: E402
from cs231n.solver import Solver  # noqa: E402

MODELS = {"ThreeLayerConvNet": ThreeLayerConvNet, "FullyConnectedNet": FullyConnectedNet,
          "TwoLayerNet": TwoLayerNet}

# model: class name and constructor keywords (rng is added from --seed).
# data: num_train (None = all 49000), scale_inputs (divide every split by the std of X_train).
# solver: Solver keywords (seed is added from --seed); "schedule" (not a Solver keyword) wraps
#   the update rule in a per-step learning-rate schedule, see ``cs231n.optim.scheduled_rule``.
RECIPES = {
    "cnn_original": {
        "model": ("ThreeLayerConvNet", {"weight_scale": 1e-3, "hidden_dim": 500, "reg": 1e-3}),
        "data": {"num_train": None, "scale_inputs": False},
        "solver": {"num_epochs": 1, "batch_size": 50, "update_rule": "adam",
                   "optim_config": {"learning_rate": 1e-3}},
    },
    "cnn_better": {
        "model": ("ThreeLayerConvNet", {"hidden_dim": 500, "reg": 1e-3, "init": "kaiming"}),
        "data": {"num_train": None, "scale_inputs": True},
        "solver": {"num_epochs": 1, "batch_size": 50, "update_rule": "adam",
                   "optim_config": {"learning_rate": 2e-3},
                   "schedule": {"warmup_steps": 0, "final_fraction": 0.0}},
    },
    "fc_tuned": {
        "model": ("FullyConnectedNet", {"hidden_dims": [512, 256], "normalization": "batchnorm",
                                        "dropout": 0.7, "reg": 1e-4, "weight_scale": 5e-2}),
        "data": {"num_train": None, "scale_inputs": True},
        "solver": {"num_epochs": 15, "batch_size": 200, "update_rule": "adam",
                   "optim_config": {"learning_rate": 1e-3}, "lr_decay": 0.9},
    },
    "fc_twolayer": {
        "model": ("TwoLayerNet", {"hidden_dim": 100, "weight_scale": 1e-3, "reg": 0.0}),
        "data": {"num_train": None, "scale_inputs": False},
        "solver": {"num_epochs": 10, "batch_size": 200, "update_rule": "sgd",
                   "optim_config": {"learning_rate": 2.5e-3}, "lr_decay": 0.8},
    },
    "fc_plain": {
        "model": ("FullyConnectedNet", {"hidden_dims": [512, 256], "reg": 1e-3, "weight_scale": 2e-2}),
        "data": {"num_train": None, "scale_inputs": True},
        "solver": {"num_epochs": 10, "batch_size": 200, "update_rule": "adam",
                   "optim_config": {"learning_rate": 1e-3}, "lr_decay": 0.85},
    },
    "cnn_overfit": {
        "model": ("ThreeLayerConvNet", {"weight_scale": 1e-2}),
        "data": {"num_train": 100, "scale_inputs": False},
        "solver": {"num_epochs": 15, "batch_size": 50, "update_rule": "adam",
                   "optim_config": {"learning_rate": 1e-3}},
    },
}


def load_data(num_train=None, scale_inputs=False, dtype=np.float32):
    """CIFAR-10 as in the notebooks (49000 / 1000 / 1000, mean image subtracted), optionally
    cut to the first num_train training images and divided by the training set's std."""
    from cs231n.data_utils import get_CIFAR10_data
    data = get_CIFAR10_data(dtype=dtype)
    if num_train is not None:
        data["X_train"], data["y_train"] = data["X_train"][:num_train], data["y_train"][:num_train]
    if scale_inputs:
        std = data["X_train"].std(dtype=np.float64)
        for split in ("X_train", "X_val", "X_test"):
            data[split] = (data[split] / std).astype(dtype)
    return data


def build(recipe, data, seed=0, dtype=np.float32, verbose=True):
    """Model and Solver for ``recipe`` (a RECIPES entry) on ``data``."""
    model_name, model_kwargs = recipe["model"]
    if model_name == "TwoLayerNet":  # no dtype argument: cast its float64 parameters
        model = TwoLayerNet(rng=seed, **model_kwargs)
        model.params = {name: p.astype(dtype) for name, p in model.params.items()}
    else:
        model = MODELS[model_name](dtype=dtype, rng=seed, **model_kwargs)
    solver_kwargs = dict(recipe["solver"])
    schedule = solver_kwargs.pop("schedule", None)
    if schedule is not None:
        steps = solver_kwargs["num_epochs"] * max(len(data["X_train"]) // solver_kwargs["batch_size"], 1)
        solver_kwargs["update_rule"] = optim.scheduled_rule(solver_kwargs["update_rule"], steps, **schedule)
    solver = Solver(model, data, seed=seed, verbose=verbose, print_every=100, **solver_kwargs)
    return model, solver


def run(name, seed=0, dtype=np.float32, verbose=False, data_cache=None):
    """Train recipe ``name``; return a dict of results."""
    recipe = RECIPES[name]
    key = (recipe["data"]["num_train"], recipe["data"]["scale_inputs"], np.dtype(dtype).name)
    if data_cache is not None and key in data_cache:
        data = data_cache[key]
    else:
        data = load_data(dtype=dtype, **recipe["data"])
        if data_cache is not None:
            data_cache[key] = data
    model, solver = build(recipe, data, seed=seed, dtype=dtype, verbose=verbose)
    start = time.perf_counter()
    solver.train()
    seconds = time.perf_counter() - start
    return {"recipe": name, "seed": seed, "dtype": np.dtype(dtype).name,
            "best_val_acc": solver.best_val_acc, "final_train_acc": solver.train_acc_history[-1],
            "train_seconds": round(seconds, 1), "iterations": solver.iteration}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipes", nargs="*", metavar="recipe",
                        help=f"recipes to run, among {', '.join(RECIPES)} (default: all)")
    parser.add_argument("--seed", type=int, action="append", help="seed(s) for init and Solver (default 0)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=None, help="limit BLAS to this many threads")
    parser.add_argument("--verbose", action="store_true", help="show the Solver's progress")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    unknown = [name for name in args.recipes if name not in RECIPES]
    if unknown:
        parser.error(f"unknown recipe {unknown[0]!r}; choose among {', '.join(RECIPES)}")
    recipes = args.recipes or list(RECIPES)
    seeds = args.seed or [0]
    results, cache = [], {}
    for name in recipes:
        for seed in seeds:
            with threadpool_limits(args.threads, user_api="blas"):
                result = run(name, seed=seed, dtype=np.dtype(args.dtype), verbose=args.verbose,
                             data_cache=cache)
            result["threads"] = args.threads
            results.append(result)
            print(f"{name:13s} seed={seed} {result['dtype']}: best val acc {result['best_val_acc']:.3f}, "
                  f"train acc {result['final_train_acc']:.3f}, {result['iterations']} iterations "
                  f"in {result['train_seconds']:.1f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
