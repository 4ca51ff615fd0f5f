"""Instructor-only. PyTorch.ipynb is optional: skipped cleanly without torch (nbval and the main job), and well formed.

The notebook itself runs under nbval from notebooks/ (see notebooks/conftest.py); these tests only
check the plumbing around it, without torch and without running it.
"""

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from cs231n import run_assignment, torch_utils

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "PyTorch.ipynb"
INSTALL = 'pip install -e ".[torch]"'


@pytest.fixture
def no_torch(monkeypatch):
    """Make torch look uninstalled (find_spec is what torch_utils.torch_available asks)."""
    real = importlib.util.find_spec
    monkeypatch.setattr(torch_utils.importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))


def _notebook_conftest():
    spec = importlib.util.spec_from_file_location("_nb_conftest", REPO / "notebooks" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Item:
    def __init__(self, path):
        self.path = path
        self.markers = []

    def add_marker(self, marker):
        self.markers.append(marker)


class _Config:
    pass


@pytest.mark.parametrize("torch_missing", [True, False])
def test_nbval_skips_only_the_pytorch_notebook_without_torch(torch_missing, request, monkeypatch):
    if torch_missing:
        request.getfixturevalue("no_torch")
    elif not torch_utils.torch_available():
        pytest.skip(f"torch is not installed ({INSTALL})")
    conftest = _notebook_conftest()
    monkeypatch.setattr(conftest, "_missing_data_reason", lambda: None)  # as if CIFAR-10 were there
    config = _Config()
    monkeypatch.delenv("CS231N_SMOKE", raising=False)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    conftest.pytest_configure(config)
    items = [_Item(REPO / "notebooks" / name) for name in ("PyTorch.ipynb", "Dropout.ipynb")]
    conftest.pytest_collection_modifyitems(config, items)
    pytorch, dropout = items
    assert not dropout.markers
    if torch_missing:
        (marker,) = pytorch.markers
        assert marker.name == "skip" and INSTALL in marker.kwargs["reason"]
        assert "PyTorch.ipynb will be SKIPPED" in conftest.pytest_report_header(config)
    else:
        assert not pytorch.markers


def test_nbval_missing_data_reason_still_wins_over_missing_torch(no_torch, monkeypatch):
    conftest = _notebook_conftest()
    monkeypatch.setattr(conftest, "_missing_data_reason", lambda: "no data here")
    config = _Config()
    conftest.pytest_configure(config)
    item = _Item(REPO / "notebooks" / "PyTorch.ipynb")
    conftest.pytest_collection_modifyitems(config, [item])
    (marker,) = item.markers
    assert "no data here" in marker.kwargs["reason"]


def _fake_run(ran):
    def run_notebook(path, out_dir, html_dir, timeout):
        ran.append(path.stem)
        return {"name": path.stem, "ok": True, "error": None, "seconds": 1.0, "checks_total": 0,
                "checks_passed": 0, "results": [], "slowest": [], "written": out_dir / path.name}
    return run_notebook


def test_main_job_skips_the_pytorch_notebook_without_torch(no_torch, monkeypatch, tmp_path, capsys):
    ran = []
    monkeypatch.setattr(run_assignment, "run_notebook", _fake_run(ran))
    monkeypatch.delenv("CS231N_SMOKE", raising=False)
    code = run_assignment.main(["--smoke", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    monkeypatch.delenv("CS231N_SMOKE", raising=False)  # main sets it for the kernels
    assert code == 0
    assert ran == ["FullyConnectedNets", "BatchNormalization", "Dropout", "ConvolutionalNetworks"]
    assert "PyTorch.ipynb: SKIPPED" in out and INSTALL in out
    assert "4/4 notebooks OK" in out and "SKIPPED: PyTorch" in out


def test_main_job_runs_the_pytorch_notebook_with_torch(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch_utils, "torch_available", lambda: True)
    ran = []
    monkeypatch.setattr(run_assignment, "run_notebook", _fake_run(ran))
    code = run_assignment.main(["--smoke", "--out", str(tmp_path)])
    monkeypatch.delenv("CS231N_SMOKE", raising=False)
    assert code == 0 and ran[-1] == "PyTorch" and len(ran) == 5
    assert "SKIPPED" not in capsys.readouterr().out


def test_main_job_asked_for_the_pytorch_notebook_without_torch_is_an_error(no_torch, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(run_assignment, "run_notebook", _fake_run([]))
    code = run_assignment.main(["--smoke", "--out", str(tmp_path), "--only", "pytorch"])
    monkeypatch.delenv("CS231N_SMOKE", raising=False)
    assert code == 2
    assert INSTALL in capsys.readouterr().err


# --- the notebook file ----------------------------------------------------------------------

def _cells():
    return json.loads(NOTEBOOK.read_text())["cells"]


def test_notebook_markers_are_valid_and_leave_the_student_work_open():
    from course import edition
    solution_cells, answers = 0, 0
    for index, cell in enumerate(_cells()):
        lines = edition._cell_lines(cell)
        begin, end = ((edition.ANSWER_BEGIN, edition.ANSWER_END) if cell["cell_type"] == "markdown"
                      else (edition.SOLUTION_BEGIN, edition.SOLUTION_END))
        regions, errors = edition.find_regions(lines, begin, end, f"PyTorch.ipynb cell {index}")
        assert not errors, errors
        if cell["cell_type"] == "markdown":
            answers += len(regions)
        else:
            solution_cells += bool(regions)
    # three_layer_convnet, its parameters, the ThreeLayerConvNet module (two regions in one cell),
    # its training setup, the Sequential ConvNet, and the Part V model
    assert solution_cells == 6 and answers == 1


def test_notebook_needs_no_torchvision_and_reports_results_for_the_grader():
    source = "\n".join("".join(c["source"]) for c in _cells())
    assert not re.search(r"^\s*(import|from)\s+torchvision", source, re.M)
    for name in ("Part II two-layer fc val acc", "Part II three-layer convnet val acc",
                 "Part III two-layer fc val acc", "Part III three-layer convnet val acc",
                 "Part IV two-layer fc val acc", "Part IV three-layer convnet val acc",
                 "Part V best val acc", "Part V test acc"):
        assert f"RESULT: {name} = " in source, name
    assert "best_val_acc >= floor" in source and "smoke(0.70," in source


def test_notebook_check_cells_assert():
    """Every cell that trains or compares ends in an assert (the house rule: checks assert)."""
    for cell in _cells():
        text = "".join(cell["source"])
        if cell["cell_type"] == "code" and ("RESULT:" in text or "check_same(" in text.split("def check_same")[-1]):
            assert re.search(r"^\s*(assert|check_same)\b", text, re.M), text[:200]


def test_notebook_is_stored_with_the_kernel_of_the_other_notebooks():
    nb = json.loads(NOTEBOOK.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert all(c.get("id") for c in nb["cells"])
    assert sys.version_info >= (3, 11)
