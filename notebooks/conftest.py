"""pytest configuration for running the notebooks under nbval.

    python -m pytest --nbval-lax --nbval-current-env \
        --nbval-sanitize-with notebooks/nbval_sanitize.cfg notebooks/

- The kernels import the ``cs231n`` of this checkout (its root is put on their PYTHONPATH) and
  run with TQDM_DISABLE=1, so training prints plain lines instead of progress widgets.
- Real mode needs the real CIFAR-10. When it is absent and CS231N_SMOKE is not set, every
  notebook is SKIPPED with a reason saying how to get the data or how to ask for smoke mode;
  the reason is also printed in the header and at the end of the run. Smoke mode is never
  chosen silently: only CS231N_SMOKE=1 selects it.
- PyTorch.ipynb needs torch, an optional extra: without it that notebook is SKIPPED with a reason
  naming the install command (``pip install -e ".[torch]"``); the others run as usual.
"""

import os
import sys
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent
REPO_ROOT = NOTEBOOK_DIR.parent

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def _smoke_requested():
    return os.environ.get("CS231N_SMOKE", "").strip() not in ("", "0")


def _missing_data_reason():
    """None when the notebooks can run; otherwise why they are skipped and what to do."""
    if _smoke_requested():
        return None
    from cs231n import download

    folder = download.data_dir() / download.FOLDER_NAME
    if download.is_installed(folder):
        return None
    return (f"the real CIFAR-10 is not in {folder}. Get it with `python -m cs231n.download` "
            "(or `bash datasets/get_datasets.sh`; `--source FILE` for a local copy), or run the "
            "notebooks on synthetic data in smoke mode with CS231N_SMOKE=1")


TORCH_NOTEBOOKS = ("PyTorch.ipynb",)


def _missing_torch_reason():
    """None when torch is installed; otherwise why PyTorch.ipynb is skipped and how to install it."""
    from cs231n.torch_utils import missing_torch_reason

    return missing_torch_reason()


def _is_notebook_item(item):
    path = Path(str(item.path))
    return path.suffix == ".ipynb" and NOTEBOOK_DIR in path.resolve().parents


def pytest_configure(config):
    # Kernels started by nbval inherit this environment.
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(REPO_ROOT) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + paths)
    os.environ.setdefault("TQDM_DISABLE", "1")
    config._cs231n_skip_reason = _missing_data_reason()
    config._cs231n_torch_reason = _missing_torch_reason()


def pytest_report_header(config):
    reason = getattr(config, "_cs231n_skip_reason", None)
    if _smoke_requested():
        return "cs231n notebooks: SMOKE MODE (CS231N_SMOKE=1): synthetic data, reduced sizes and floors"
    if reason:
        return f"cs231n notebooks: will be SKIPPED: {reason}"
    torch_reason = getattr(config, "_cs231n_torch_reason", None)
    if torch_reason:
        return f"cs231n notebooks: real mode (CIFAR-10 found); PyTorch.ipynb will be SKIPPED: {torch_reason}"
    return "cs231n notebooks: real mode (CIFAR-10 found)"


def pytest_collection_modifyitems(config, items):
    reason = getattr(config, "_cs231n_skip_reason", None)
    torch_reason = getattr(config, "_cs231n_torch_reason", None)
    for item in items:
        if not _is_notebook_item(item):
            continue
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"notebook skipped: {reason}"))
        elif torch_reason and Path(str(item.path)).name in TORCH_NOTEBOOKS:
            item.add_marker(pytest.mark.skip(reason=f"notebook skipped: {torch_reason}"))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    reason = getattr(config, "_cs231n_skip_reason", None)
    skipped = terminalreporter.stats.get("skipped", [])
    if reason and any(".ipynb" in getattr(r, "nodeid", "") for r in skipped):
        terminalreporter.section("cs231n notebooks skipped")
        terminalreporter.write_line(f"The notebooks were NOT run: {reason}.")
    torch_reason = getattr(config, "_cs231n_torch_reason", None)
    if not reason and torch_reason and any(name in getattr(r, "nodeid", "") for r in skipped
                                           for name in TORCH_NOTEBOOKS):
        terminalreporter.section("cs231n notebooks skipped")
        terminalreporter.write_line(f"PyTorch.ipynb was NOT run: {torch_reason}.")
