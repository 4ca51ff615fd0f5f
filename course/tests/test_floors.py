"""course.floors: its view of the notebooks and its report (the runs themselves need real data)."""

import json

import pytest

from course import floors
from course.textbook.notebooks import SOLUTIONS


def test_instructor_solution_cells_line_up_with_the_textbook_keys():
    blocks = floors._notebook_solutions(floors.REPO / floors.FC_NOTEBOOK)
    assert set(SOLUTIONS[floors.FC_NOTEBOOK]) <= set(blocks)
    assert "TwoLayerNet(" in blocks["cell#1"] and "solver" in blocks["cell#1"]
    assert "weight_scale" in blocks["cell#2"] and "learning_rate" in blocks["cell#3"]
    assert "best_model" in blocks["cell#4"]


def test_instructor_code_takes_the_run_seed():
    code = floors._student_code("instructor", "cell#1", 7)
    assert "231" not in code and "seed=7" in code


@pytest.mark.parametrize("check", list(floors.CHECKS))
def test_every_check_has_a_run(check):
    assert callable(getattr(floors, f"run_{check}"))


def test_report_counts_failures_and_fits_a_normal():
    results = [{"check": "fc_two_layer", "impl": impl, "seed": seed, "metrics": {"val_acc": acc}}
               for impl, accs in (("instructor", [0.52, 0.54, 0.49]), ("textbook", [0.53, 0.55]))
               for seed, acc in enumerate(accs)]
    rows = {line.split(" | ")[2]: line.split(" | ") for line in floors.report(results).splitlines()
            if line.startswith("| fc_two_layer")}
    assert rows["instructor"][3:5] == ["3", "1"] and rows["textbook"][3:5] == ["2", "0"]
    assert rows["both"][3:5] == ["5", "1"] and rows["both"][5] == "0.526"
    assert 0.1 < float(rows["both"][9].strip(" |")) < 0.5  # (0.50 - 0.526) / 0.023: about 13 %


def test_resume_skips_done_runs(tmp_path, monkeypatch):
    out = tmp_path / "r.jsonl"
    out.write_text(json.dumps({"check": "fc_overfit", "impl": "instructor", "seed": 0,
                               "metrics": {"train_acc_3": 1.0, "train_acc_5": 1.0}}) + "\n")
    started = []
    monkeypatch.setattr(floors.subprocess, "Popen", lambda *a, **k: started.append(a) or None)
    assert floors.main([str(out), "--checks", "fc_overfit", "--seeds", "1", "--impls", "instructor"]) == 0
    assert started == []
