"""Measure how often correct code fails the notebooks' real-data checks (floors and comparisons).

Every check of a notebook that trains on the real CIFAR-10 is rerun here over many seeds, with two
correct implementations of the student's code:

- ``instructor``: this repository's ``cs231n`` and the instructor notebooks' solution cells;
- ``textbook``: a fresh student release with ``course.textbook`` pasted in (the package regions
  and the notebooks' student cells), imported from that release in its own processes.

The given code of each check is the notebook's, with the seeds (model ``rng``, ``Solver(seed=)``,
``np.random.seed``) set to the run's seed instead of the notebook's fixed one: a correct solution
that differs from ours only in rounding follows another trajectory, so the spread over seeds is
the spread a student meets. Results go to a JSON-lines file, one line a run, and the report gives
per check the mean, sd and range, the runs that failed, and the failure probability of a normal
fit, ``Phi((floor - mean) / sd)``.

    python -m course.floors results.jsonl                     # every check, seeds 0-9, both
    python -m course.floors results.jsonl --checks fc_two_layer conv_original --seeds 10
    python -m course.floors results.jsonl --report            # the table only

A run already in the file is skipped, so an interrupted measurement resumes. Needs the real
CIFAR-10 (``CS231N_DATA_DIR`` or ``datasets/``); instructor-only, never released.
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FC_NOTEBOOK = "notebooks/FullyConnectedNets.ipynb"

# check name -> [(metric, kind, threshold, text)]: kind ">=" / "<" / "==" / "true".
CHECKS = {
    "fc_overfit": [("train_acc_3", "==", 1.0, "3-layer net fits 50 images"),
                   ("train_acc_5", "==", 1.0, "5-layer net fits 50 images")],
    "dropout": [("base_train", ">", 0.9, "the net without dropout fits 500 images"),
                ("gap_shrinks", "true", None, "dropout shrinks the train-val gap"),
                ("val_margin", ">=", -0.01, "dropout val - base val (last 5 epochs)")],
    "bn_deep": [("loss_margin", ">", 0.0, "baseline late loss - batchnorm late loss")],
    "conv_overfit": [("train_acc", ">=", 0.75, "ThreeLayerConvNet fits 100 images")],
    "fc_two_layer": [("val_acc", ">=", 0.50, "TwoLayerNet validation accuracy")],
    "conv_original": [("val_acc", ">=", 0.38, "ThreeLayerConvNet, 1 epoch, original recipe")],
    "fc_best": [("val_acc", ">=", 0.50, "best FullyConnectedNet validation accuracy"),
                ("val_acc", ">=", 0.55, "the stretch goal, not asserted")],
    "conv_better": [("val_acc", ">=", 0.50, "ThreeLayerConvNet, 1 epoch, better recipe")],
    "bn_sweep": [("scale_margin", ">=", 0.05, "batchnorm - baseline at weight scale 1e-4"),
                 ("worst_margin", ">=", 0.05, "batchnorm - baseline, worst over 20 scales; no longer asserted")],
}


# ---------------------------------------------------------------------------------------------
# The runs (executed in a worker process, with the implementation's cs231n first on sys.path).

def _notebook_solutions(path):
    """The instructor notebook's solution blocks, as ``{"cell#k": code}`` (k-th block in order)."""
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    blocks = []
    for cell in cells:
        text = "".join(cell["source"])
        if cell["cell_type"] == "code" and "### BEGIN SOLUTION" in text:
            blocks.extend(re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", text, re.S))
    return {f"cell#{k + 1}": code for k, code in enumerate(blocks)}


def _student_code(impl, key, seed):
    """The code of a FullyConnectedNets student cell for ``impl``, with its seeds set to ``seed``."""
    if impl == "instructor":
        code = _notebook_solutions(REPO / FC_NOTEBOOK)[key]
        return re.sub(r"\b231\b", str(seed), code)
    from course.textbook.notebooks import SOLUTIONS
    return SOLUTIONS[FC_NOTEBOOK][key]


def _namespace(seed, **data):
    import numpy as np

    from cs231n import optim
    from cs231n.classifiers.fc_net import FullyConnectedNet, TwoLayerNet
    from cs231n.solver import Solver
    from cs231n.vis_utils import plot_solver_history

    def seeded_solver(*args, **kwargs):  # a student's Solver without seed= gets the run's seed
        kwargs.setdefault("seed", seed)
        return Solver(*args, **kwargs)

    class _Plt:  # the solutions may plot: draw nothing
        @staticmethod
        def show():
            pass

    np.random.seed(seed)
    return dict(np=np, optim=optim, Solver=seeded_solver, TwoLayerNet=TwoLayerNet,
                FullyConnectedNet=FullyConnectedNet, smoke=lambda real, _smoke: real, time=time,
                plot_solver_history=lambda *a, **k: None, plt=_Plt, **data)


def _scaled(data):
    import numpy as np
    pixel_std = data["X_train"].std(dtype=np.float64)
    return {k: (v / pixel_std).astype(np.float32) if k.startswith("X_") else v for k, v in data.items()}


def run_fc_two_layer(data, impl, seed):
    ns = _namespace(seed, data=data)
    exec(_student_code(impl, "cell#1", seed), ns)
    return {"val_acc": ns["solver"].check_accuracy(data["X_val"], data["y_val"])}


def run_fc_overfit(data, impl, seed):
    import numpy as np

    from cs231n.classifiers.fc_net import FullyConnectedNet
    from cs231n.solver import Solver
    small = {"X_train": data["X_train"][:50], "y_train": data["y_train"][:50],
             "X_val": data["X_val"], "y_val": data["y_val"]}
    result = {}
    for key, dims, name in (("cell#2", [100, 100], "train_acc_3"), ("cell#3", [100] * 4, "train_acc_5")):
        ns = _namespace(seed)
        exec(_student_code(impl, key, seed), ns)
        np.random.seed(seed)
        model = FullyConnectedNet(dims, weight_scale=ns["weight_scale"])
        solver = Solver(model, small, update_rule="sgd", optim_config={"learning_rate": ns["learning_rate"]},
                        num_epochs=20, batch_size=25, verbose=False, seed=seed)
        solver.train()
        result[name] = max(solver.train_acc_history)
    return result


def run_fc_best(data, impl, seed):
    import numpy as np
    scaled = _scaled(data)
    ns = _namespace(seed, data=data, scaled_data=scaled)
    exec(_student_code(impl, "cell#4", seed), ns)
    scores = ns["best_model"].loss(scaled["X_val"])
    return {"val_acc": float((np.argmax(scores, axis=1) == scaled["y_val"]).mean())}


def _six_layer(data, seed, normalization, weight_scale=2e-2):
    from cs231n.classifiers.fc_net import FullyConnectedNet
    from cs231n.solver import Solver
    small = {"X_train": data["X_train"][:1000], "y_train": data["y_train"][:1000],
             "X_val": data["X_val"], "y_val": data["y_val"]}
    model = FullyConnectedNet([100] * 5, weight_scale=weight_scale, normalization=normalization, rng=seed)
    solver = Solver(model, small, num_epochs=10, batch_size=50, update_rule="adam",
                    optim_config={"learning_rate": 1e-3}, verbose=False, seed=seed)
    solver.train()
    return solver


def run_bn_deep(data, impl, seed):
    import numpy as np
    late = {label: float(np.mean(_six_layer(data, seed, norm).loss_history[-20:]))
            for label, norm in (("baseline", None), ("batchnorm", "batchnorm"))}
    return {"loss_margin": late["baseline"] - late["batchnorm"]}


def run_bn_sweep(data, impl, seed):
    import numpy as np

    from cs231n.solver import NonFiniteLossError
    best = {"baseline": [], "batchnorm": []}
    for scale in np.logspace(-4, 0, num=20):
        for label, norm in (("baseline", None), ("batchnorm", "batchnorm")):
            try:
                best[label].append(_six_layer(data, seed, norm, weight_scale=scale).best_val_acc)
            except NonFiniteLossError:
                best[label].append(np.nan)
    base, bn = np.array(best["baseline"]), np.array(best["batchnorm"])
    return {"scale_margin": float(bn[0] - base[0]), "worst_margin": float(np.nanmin(bn) - np.nanmin(base)),
            "bn_nan": bool(np.isnan(bn).any())}


def run_dropout(data, impl, seed):
    import numpy as np

    from cs231n.classifiers.fc_net import FullyConnectedNet
    from cs231n.solver import Solver
    small = {"X_train": data["X_train"][:500], "y_train": data["y_train"][:500],
             "X_val": data["X_val"], "y_val": data["y_val"]}
    solvers = {}
    for keep in (1, 0.25):
        np.random.seed(seed)
        solver = Solver(FullyConnectedNet([500], dropout=keep), small, num_epochs=25, batch_size=100,
                        update_rule="adam", optim_config={"learning_rate": 5e-4}, verbose=False, seed=seed)
        solver.train()
        solvers[keep] = solver

    def last(history):
        return float(np.mean(history[-5:]))
    gap = {k: last(s.train_acc_history) - last(s.val_acc_history) for k, s in solvers.items()}
    return {"base_train": last(solvers[1].train_acc_history), "gap_shrinks": gap[0.25] < gap[1],
            "val_margin": last(solvers[0.25].val_acc_history) - last(solvers[1].val_acc_history)}


def run_conv_overfit(data, impl, seed):
    from cs231n.classifiers.cnn import ThreeLayerConvNet
    from cs231n.solver import Solver
    small = {"X_train": data["X_train"][:100], "y_train": data["y_train"][:100],
             "X_val": data["X_val"], "y_val": data["y_val"]}
    solver = Solver(ThreeLayerConvNet(weight_scale=1e-2, rng=seed), small, num_epochs=15, batch_size=50,
                    update_rule="adam", optim_config={"learning_rate": 1e-3}, verbose=False, seed=seed)
    solver.train()
    return {"train_acc": solver.train_acc_history[-1]}


def run_conv_original(data, impl, seed):
    from cs231n.classifiers.cnn import ThreeLayerConvNet
    from cs231n.solver import Solver
    model = ThreeLayerConvNet(weight_scale=1e-3, hidden_dim=500, reg=1e-3, rng=seed)
    solver = Solver(model, data, num_epochs=1, batch_size=50, update_rule="adam",
                    optim_config={"learning_rate": 1e-3}, verbose=False, seed=seed)
    solver.train()
    return {"val_acc": solver.check_accuracy(data["X_val"], data["y_val"])}


def run_conv_better(data, impl, seed):
    from cs231n import optim
    from cs231n.classifiers.cnn import ThreeLayerConvNet
    from cs231n.solver import Solver
    scaled = _scaled(data)
    total_steps = len(scaled["X_train"]) // 50
    model = ThreeLayerConvNet(hidden_dim=500, reg=1e-3, init="kaiming", rng=seed)
    solver = Solver(model, scaled, num_epochs=1, batch_size=50,
                    update_rule=optim.scheduled_rule("adam", total_steps),
                    optim_config={"learning_rate": 2e-3}, verbose=False, seed=seed)
    solver.train()
    return {"val_acc": solver.check_accuracy(scaled["X_val"], scaled["y_val"])}


def worker(impl, jobs, out):
    """Run ``jobs`` ([(check, seed)]) and append one JSON line each to ``out``."""
    import cs231n
    from cs231n.notebook_utils import load_cifar10
    root = REPO if impl == "instructor" else Path(os.environ["CS231N_FLOORS_RELEASE"])
    if not Path(cs231n.__file__).resolve().is_relative_to(root.resolve()):
        raise RuntimeError(f"{impl}: imported cs231n from {cs231n.__file__}, expected {root}")
    data = load_cifar10()
    for check, seed in jobs:
        start = time.perf_counter()
        metrics = globals()[f"run_{check}"](data, impl, seed)
        line = {"check": check, "impl": impl, "seed": seed, "seconds": round(time.perf_counter() - start, 1),
                "metrics": {k: (bool(v) if isinstance(v, bool) else float(v)) for k, v in metrics.items()}}
        with open(out, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        print(json.dumps(line), flush=True)


# ---------------------------------------------------------------------------------------------
# The driver and the report.

def _done(out):
    if not Path(out).exists():
        return []
    return [json.loads(line) for line in Path(out).read_text(encoding="utf-8").splitlines() if line.strip()]


def _textbook_release(tmp):
    from course import release
    from course.textbook import paste
    root = Path(tmp) / "a2"
    if release.main([str(root), "--source", str(REPO), "-q"]) != 0:
        raise RuntimeError("building the release failed")
    paste(root)
    return root


def _passes(value, kind, threshold):
    return {">=": lambda: value >= threshold, ">": lambda: value > threshold, "<": lambda: value < threshold,
            "==": lambda: value == threshold, "true": lambda: bool(value)}[kind]()


def _phi(z):
    return 0.5 * math.erfc(-z / math.sqrt(2))


def report(results):
    """The table of every check: runs, failures, mean / sd / range and the normal-fit failure rate."""
    lines = ["| check | assert | impl | runs | failed | mean | sd | min | max | P(fail), normal fit |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for check, asserts in CHECKS.items():
        rows = [r for r in results if r["check"] == check]
        for metric, kind, threshold, text in asserts:
            for impl in ("instructor", "textbook", "both"):
                values = [r["metrics"][metric] for r in rows if impl in ("both", r["impl"])]
                if not values:
                    continue
                failed = sum(not _passes(v, kind, threshold) for v in values)
                n = len(values)
                if kind == "true":
                    stats, fit = [f"{sum(values)}/{n} true"] + [""] * 3, "-"
                else:
                    mean = sum(values) / n
                    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
                    stats = [f"{mean:.3f}", f"{sd:.3f}", f"{min(values):.3f}", f"{max(values):.3f}"]
                    if kind in (">=", ">") and sd > 0:
                        fit = f"{_phi((threshold - mean) / sd):.1e}"
                    elif kind == "<" and sd > 0:
                        fit = f"{1 - _phi((threshold - mean) / sd):.1e}"
                    else:
                        fit = "-"
                op = {"true": "", "==": "== "}.get(kind, kind + " ")
                cond = f"{metric} {op}{'' if threshold is None else threshold}".strip()
                lines.append(f"| {check} | {cond} ({text}) | {impl} | {n} | {failed} | " + " | ".join(stats)
                             + f" | {fit} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course.floors", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="JSON-lines results file (appended to; runs in it are skipped)")
    parser.add_argument("--checks", nargs="+", choices=list(CHECKS), default=list(CHECKS))
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 .. N-1 (default 10)")
    parser.add_argument("--impls", nargs="+", choices=("instructor", "textbook"),
                        default=["instructor", "textbook"])
    parser.add_argument("--workers", type=int, default=2, help="worker processes at once (default 2)")
    parser.add_argument("--report", action="store_true", help="print the table of the results and stop")
    parser.add_argument("--worker", nargs=2, metavar=("IMPL", "JOBS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker[0], json.loads(args.worker[1]), args.out)
        return 0
    if args.report:
        print(report(_done(args.out)))
        return 0
    done = {(r["check"], r["impl"], r["seed"]) for r in _done(args.out)}
    # Cheap checks first, the two implementations interleaved, so a stopped run has both.
    jobs = [(impl, check, seed) for check in args.checks for seed in range(args.seeds) for impl in args.impls
            if (check, impl, seed) not in done]
    with tempfile.TemporaryDirectory(prefix="floors-") as tmp:
        release_root = _textbook_release(tmp) if any(j[0] == "textbook" for j in jobs) else None
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1", TQDM_DISABLE="1")
        env.pop("CS231N_SMOKE", None)
        lanes = [jobs[k::args.workers] for k in range(args.workers)]
        queues = []
        for lane in lanes:  # a lane runs its jobs in order, one worker process per run of one impl
            queue = []
            for impl, check, seed in lane:
                if not queue or queue[-1][0] != impl:
                    queue.append((impl, []))
                queue[-1][1].append((check, seed))
            queues.append(queue)
        failures = 0
        running = [None] * len(queues)
        while any(queues) or any(running):
            for k, queue in enumerate(queues):
                if running[k] is not None and running[k].poll() is None:
                    continue
                if running[k] is not None:
                    failures += running[k].returncode != 0
                    running[k] = None
                if queue:
                    impl, share = queue.pop(0)
                    path = [str(REPO)] if impl == "instructor" else [str(release_root), str(REPO)]
                    impl_env = dict(env, PYTHONPATH=os.pathsep.join(path))
                    if release_root is not None:
                        impl_env["CS231N_FLOORS_RELEASE"] = str(release_root)
                    running[k] = subprocess.Popen(
                        [sys.executable, "-m", "course.floors", str(Path(args.out).resolve()),
                         "--worker", impl, json.dumps(share)], env=impl_env, cwd=tmp)
            time.sleep(0.5)
        if failures:
            print(f"{failures} worker(s) failed", file=sys.stderr)
    print(report(_done(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
