"""Run the assignment's notebooks headless, top to bottom, and summarise what they found.

    python -m cs231n.run_assignment                  # all five notebooks, in place, real CIFAR-10
    python -m cs231n.run_assignment --only Dropout   # one notebook (name with or without .ipynb)
    python -m cs231n.run_assignment --out DIR        # leave the notebooks alone, write copies to DIR
    python -m cs231n.run_assignment --smoke          # synthetic data, small sizes (CS231N_SMOKE=1)

PyTorch.ipynb needs torch, an optional extra (``pip install -e ".[torch]"``). Without torch it is
skipped with that command in the output and does not count as a failure; naming it with ``--only``
is then an error.

Real mode first makes sure CIFAR-10 is installed, fetching it with ``cs231n.download`` when it is
absent; if that cannot happen it stops with an error that names the way out (CS231N_SMOKE=1).

Each notebook runs in a fresh ipykernel of this very Python (``sys.executable``, whatever kernel
specs are installed; the kernels also import the same ``cs231n`` as this command), with the
notebook's folder as working directory. A notebook is
never lost: in place, the executed copy is written to a temporary file and moved over the
original only when every cell succeeded; on failure the original stays untouched and the failed
copy is written beside it as ``NAME.failed.ipynb``. An HTML copy of every executed notebook goes
to ``notebooks/html/`` (or DIR). Smoke runs never overwrite the notebooks: without ``--out`` they
write to ``build/smoke/``.

The summary of each notebook gives its time, the number of checks passed (code cells holding an
``assert`` that ran without error) and every ``RESULT: <name> = <value>`` line the notebook
printed. The exit status is 0 when every notebook ran cleanly and 1 otherwise.
"""

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import cs231n

NOTEBOOKS = ("FullyConnectedNets", "BatchNormalization", "Dropout", "ConvolutionalNetworks", "PyTorch")
TORCH_NOTEBOOKS = ("PyTorch",)  # need the optional extra: pip install -e ".[torch]"
PACKAGE_ROOT = Path(cs231n.__file__).resolve().parent.parent  # the checkout holding cs231n/
DEFAULT_NOTEBOOK_DIR = PACKAGE_ROOT / "notebooks"
SMOKE_OUT = PACKAGE_ROOT / "build" / "smoke"

RESULT_LINE = re.compile(r"^RESULT:\s*(?P<name>.+?)\s*=\s*(?P<value>.+?)\s*$", re.MULTILINE)
ASSERT_LINE = re.compile(r"^\s*assert\b", re.MULTILINE)


class RunnerError(Exception):
    """A problem that stops the whole run (missing data, unknown notebook name)."""


def _say(msg=""):
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------

def cifar10_folder():
    """Where the real CIFAR-10 is expected (the folder cs231n.download installs into)."""
    from cs231n import download

    return download.data_dir() / download.FOLDER_NAME


def cifar10_installed():
    from cs231n import download

    return download.is_installed(cifar10_folder())


def ensure_cifar10(source=None):
    """Make sure the real CIFAR-10 is installed; fetch it with cs231n.download when absent."""
    from cs231n import download

    folder = cifar10_folder()
    if download.is_installed(folder):
        _say(f"CIFAR-10: found in {folder}")
        return
    _say(f"CIFAR-10: not found in {folder}; fetching it with cs231n.download "
         f"(from {source or download.OFFICIAL_URL}) ...")
    try:
        _say(download.install(source=source))
    except (download.DownloadError, OSError) as exc:
        raise RunnerError(_no_data_message(f"fetching it failed: {exc}")) from None
    if not download.is_installed(folder):
        raise RunnerError(_no_data_message(f"the download left no complete copy in {folder}"))


def _no_data_message(why):
    return (f"CIFAR-10 is needed for a real run and {why}.\n"
            "  Fetch it yourself:   python -m cs231n.download   (see its --help, e.g. --source FILE),\n"
            "  or give this command a copy:   python -m cs231n.run_assignment --data-source FILE_OR_URL\n"
            "  or run on synthetic data, announced as such:   python -m cs231n.run_assignment --smoke\n"
            "  (equivalently CS231N_SMOKE=1 python -m cs231n.run_assignment --out DIR)")


# ---------------------------------------------------------------------------------------------
# One notebook
# ---------------------------------------------------------------------------------------------

def resolve_names(only, notebook_dir):
    """Notebook paths to run, in the assignment's order; ``only`` names a subset."""
    if not only:
        names = list(NOTEBOOKS)
    else:
        names = []
        for raw in only:
            name = Path(raw).name.removesuffix(".ipynb")
            match = [n for n in NOTEBOOKS if n.lower() == name.lower()]
            if not match:
                raise RunnerError(f"--only {raw!r}: no such notebook; choose from {', '.join(NOTEBOOKS)}")
            if match[0] not in names:
                names.append(match[0])
        names.sort(key=NOTEBOOKS.index)
    if only:
        from .torch_utils import missing_torch_reason

        reason = missing_torch_reason()
        asked = [n for n in names if n in TORCH_NOTEBOOKS]
        if reason and asked:
            raise RunnerError(f"--only {asked[0]}: cannot run it: {reason}")
    paths = [notebook_dir / f"{n}.ipynb" for n in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise RunnerError("notebook(s) not found: " + ", ".join(missing))
    return paths


def _write_atomically(nb, dest):
    """Write ``nb`` to ``dest`` through a temporary file in the same folder and a rename."""
    import nbformat

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
        if dest.exists():
            os.chmod(tmp, dest.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_html(nb, dest):
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(body, encoding="utf-8")


def _stream_text(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def _first_error(nb):
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return index, f"{out.get('ename')}: {out.get('evalue')}"
    return None


CURRENT_PYTHON_KERNEL = "cs231n-current-python"


def _kernel_manager_class():
    """An AsyncKernelManager whose kernel CURRENT_PYTHON_KERNEL is ipykernel on sys.executable.

    Installed kernel specs are not consulted for it, so a 'python3' spec of another Python (say,
    in ~/.local/share/jupyter) can never be picked up by accident.
    """
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class CurrentPythonSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            if kernel_name == CURRENT_PYTHON_KERNEL:
                return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())
            return super().get_kernel_spec(kernel_name)

    class CurrentPythonKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _kernel_spec_manager_default(self):
            return CurrentPythonSpecs(data_dir=self.data_dir)

    return CurrentPythonKernelManager


def run_notebook(path, out_dir, html_dir, timeout):
    """Execute one notebook; return a summary dict (name, ok, seconds, checks, results, ...)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    cell_seconds = {}
    started = {}

    def on_start(cell, cell_index):
        started[cell_index] = time.perf_counter()

    def on_done(cell, cell_index, execute_reply):
        cell_seconds[cell_index] = time.perf_counter() - started.get(cell_index, time.perf_counter())

    client = NotebookClient(
        nb, timeout=timeout, kernel_name=CURRENT_PYTHON_KERNEL,
        kernel_manager_class=_kernel_manager_class(), record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_execute=on_start, on_cell_executed=on_done)
    summary = {"name": path.stem, "ok": False, "error": None}
    t0 = time.perf_counter()
    try:
        client.execute()
        summary["ok"] = True
    except CellTimeoutError as exc:
        summary["error"] = f"a cell ran longer than --timeout {timeout} s ({str(exc).splitlines()[0]})"
    except DeadKernelError as exc:
        summary["error"] = f"the kernel died ({exc})"
    except CellExecutionError:
        found = _first_error(nb)
        summary["error"] = f"cell {found[0]}: {found[1]}" if found else "a cell raised an error"
    summary["seconds"] = time.perf_counter() - t0

    code_cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    ran_ok = {i for i in cell_seconds} if not summary["ok"] else {i for i, _ in code_cells}
    if not summary["ok"] and _first_error(nb):
        ran_ok.discard(_first_error(nb)[0])
    summary["checks_total"] = sum(1 for _, c in code_cells if ASSERT_LINE.search(c.source))
    summary["checks_passed"] = sum(1 for i, c in code_cells if i in ran_ok and ASSERT_LINE.search(c.source))
    summary["results"] = [(m["name"], m["value"]) for _, c in code_cells
                          for m in RESULT_LINE.finditer(_stream_text(c))]
    summary["slowest"] = sorted(cell_seconds.items(), key=lambda kv: -kv[1])[:3]

    name = path.stem if summary["ok"] else f"{path.stem}.failed"
    dest = (out_dir or path.parent) / f"{name}.ipynb"
    _write_atomically(nb, dest)
    summary["written"] = dest
    try:
        _write_html(nb, html_dir / f"{name}.html")
        summary["html"] = html_dir / f"{name}.html"
    except Exception as exc:  # the run itself succeeded; a missing HTML copy is only a warning
        summary["html"] = None
        _say(f"  warning: no HTML copy of {path.name}: {exc}")
    return summary


def _fmt_seconds(s):
    return f"{s:.0f} s" if s < 120 else f"{int(s // 60)} min {s % 60:02.0f} s"


def print_summary(summary):
    status = "OK" if summary["ok"] else "FAILED"
    _say(f"{summary['name']}: {status} in {_fmt_seconds(summary['seconds'])}, "
         f"checks passed {summary['checks_passed']}/{summary['checks_total']}")
    if summary["error"]:
        _say(f"  error: {summary['error']}")
    for name, value in summary["results"]:
        _say(f"  {name} = {value}")
    if summary["slowest"]:
        _say("  slowest cells: " + ", ".join(f"#{i} {_fmt_seconds(s)}" for i, s in summary["slowest"]))
    _say(f"  notebook: {summary['written']}")
    if summary.get("html"):
        _say(f"  html:     {summary['html']}")


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m cs231n.run_assignment",
        description="Execute the assignment's notebooks headless and summarise checks and accuracies.")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help=f"run only this notebook (repeatable); one of {', '.join(NOTEBOOKS)}")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="write the executed notebooks and their HTML to DIR instead of in place")
    parser.add_argument("--smoke", action="store_true",
                        help="smoke mode: set CS231N_SMOKE=1 for the kernels (synthetic data, small sizes)")
    parser.add_argument("--timeout", type=int, default=1800, metavar="SECONDS",
                        help="longest any single cell may run (default 1800)")
    parser.add_argument("--blas-threads", type=int, metavar="N",
                        help="limit the kernels' BLAS/OpenMP threads to N (sets OPENBLAS_NUM_THREADS, "
                             "OMP_NUM_THREADS, MKL_NUM_THREADS); 1 is much faster on a machine busy "
                             "with other work")
    parser.add_argument("--notebooks", type=Path, default=DEFAULT_NOTEBOOK_DIR, metavar="DIR",
                        help=f"folder holding the notebooks (default {DEFAULT_NOTEBOOK_DIR})")
    parser.add_argument("--data-source", metavar="FILE_OR_URL",
                        help="where to fetch CIFAR-10 from when it is absent (passed to cs231n.download "
                             "as --source; default: the official archive)")
    parser.add_argument("--no-download", action="store_true",
                        help="fail instead of fetching CIFAR-10 when it is absent")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error(f"--timeout must be a positive number of seconds, got {args.timeout}")
    if args.blas_threads is not None and args.blas_threads < 1:
        parser.error(f"--blas-threads must be at least 1, got {args.blas_threads}")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        paths = resolve_names(args.only, args.notebooks.resolve())
        smoke = args.smoke or os.environ.get("CS231N_SMOKE", "").strip() not in ("", "0")
        out_dir = args.out.resolve() if args.out else None
        if smoke:
            os.environ["CS231N_SMOKE"] = "1"
            if out_dir is None:
                out_dir = SMOKE_OUT
            _say("SMOKE MODE: CS231N_SMOKE=1 is set for the kernels: synthetic CIFAR-format data, "
                 "small sizes,\n  reduced accuracy floors. The numbers say nothing about CIFAR-10. "
                 f"Output goes to {out_dir} (the notebooks are not touched).")
        elif args.no_download:
            if not cifar10_installed():
                raise RunnerError(_no_data_message(f"it is not in {cifar10_folder()} (--no-download)"))
            _say(f"CIFAR-10: found in {cifar10_folder()}")
        else:
            ensure_cifar10(args.data_source)
    except RunnerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    html_dir = out_dir if out_dir else args.notebooks.resolve() / "html"
    # Kernels inherit this environment: make them import the same cs231n as this command.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(PACKAGE_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    os.environ.setdefault("TQDM_DISABLE", "1")
    if args.blas_threads is not None:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.blas_threads)
        _say(f"BLAS threads per kernel: {args.blas_threads}")

    from .torch_utils import missing_torch_reason

    torch_reason = missing_torch_reason()
    summaries, skipped = [], []
    for path in paths:
        if path.stem in TORCH_NOTEBOOKS and torch_reason:
            _say(f"\n=== {path.name}: SKIPPED: {torch_reason}")
            skipped.append(path.stem)
            continue
        _say(f"\n=== {path.name}: running ({'smoke' if smoke else 'real'} mode, "
             f"cell timeout {args.timeout} s) ...")
        summary = run_notebook(path, out_dir, html_dir, args.timeout)
        print_summary(summary)
        summaries.append(summary)

    total = sum(s["seconds"] for s in summaries)
    failed = [s["name"] for s in summaries if not s["ok"]]
    _say(f"\n{len(summaries) - len(failed)}/{len(summaries)} notebooks OK in {_fmt_seconds(total)}"
         + (f"; FAILED: {', '.join(failed)}" if failed else "")
         + (f"; SKIPPED: {', '.join(skipped)} ({torch_reason})" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
