"""Tests of the Gradescope autograder (course/gradescope.py): build autograder.zip, unpack it into a
temporary folder laid out as Gradescope lays out /autograder, run ``run_autograder`` against a
submission, and validate results.json against the documented fields."""

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from course import fakeclass, gradescope

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("gs") / "autograder.zip"
    proc = subprocess.run([sys.executable, "-m", "course.gradescope", "build", str(out), "--check-timeout", "5",
                           "--memory-mb", "1024"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out


def _layout(tmp_path, autograder_zip, submission_files=None, zipped=False):
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    with zipfile.ZipFile(autograder_zip) as zf:
        zf.extractall(root / "source")
        for info in zf.infolist():  # Gradescope keeps the modes of the zip
            os.chmod(root / "source" / info.filename, (info.external_attr >> 16) & 0o777)
    (root / "run_autograder").write_bytes((root / "source" / "run_autograder").read_bytes())
    os.chmod(root / "run_autograder", 0o755)
    if submission_files is not None:
        if zipped:
            fakeclass.write_zip(root / "submission" / "a2.zip", submission_files)
        else:
            fakeclass.write_folder(root / "submission", submission_files)
    return root


def _run(root):
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    proc = subprocess.run([str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((root / "results" / "results.json").read_text())
    assert gradescope.validate(doc) == [], gradescope.validate(doc)
    return doc


def test_zip_layout(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as zf:
        names = set(zf.namelist())
        modes = {i.filename: (i.external_attr >> 16) for i in zf.infolist()}
        req = zf.read("requirements.txt").decode()
    assert {"setup.sh", "run_autograder", "requirements.txt", "gradescope_config.json",
            "course/grade.py", "cs231n/__init__.py", "release/.release-manifest"} <= names
    assert modes["setup.sh"] & stat.S_IXUSR and modes["run_autograder"] & stat.S_IXUSR
    assert not any(n.startswith(("course/tests/", "course/textbook/")) or "__pycache__" in n for n in names)
    assert any(n.startswith("course/grading/") for n in names)
    assert "numpy==" in req
    # the release in the zip has no solution
    with zipfile.ZipFile(autograder_zip) as zf:
        layers = zf.read("release/cs231n/layers.py").decode()
    assert "### BEGIN SOLUTION" not in layers and "START OF YOUR CODE" in layers


def test_build_is_deterministic_and_refuses_to_overwrite(autograder_zip, tmp_path):
    again = tmp_path / "again.zip"
    assert gradescope.main(["build", str(again), "--check-timeout", "5", "--memory-mb", "1024"]) == 0
    assert again.read_bytes() == autograder_zip.read_bytes()
    assert gradescope.main(["build", str(again)]) == 2


def test_partial_submission(autograder_zip, tmp_path):
    files = fakeclass.student_files()
    sub = fakeclass.submission_files(stub=[fakeclass.region_of(files, "cs231n/optim.py", "adam")], files=files)
    root = _layout(tmp_path, autograder_zip, sub, zipped=True)
    doc = _run(root)
    failed = [t for t in doc["tests"] if t["max_score"] > 0 and t["score"] < t["max_score"]]
    assert failed and all("adam" in t["name"] for t in failed)  # only checks of adam lost points
    possible = sum(t["max_score"] for t in doc["tests"])
    assert possible >= 100 and doc["score"] == possible - sum(t["max_score"] for t in failed)
    assert all("NotImplementedError" in t["output"] for t in failed)
    assert {t["visibility"] for t in doc["tests"]} >= {"visible", "hidden"}
    assert doc["stdout_visibility"] == "hidden" and isinstance(doc["execution_time"], int)
    nb = [t for t in doc["tests"] if t["name"].startswith("Notebook:")]
    assert nb and all(t["max_score"] == 0 for t in nb)  # flagged only, by default
    assert sorted(p.name for p in root.iterdir()) == ["results", "run_autograder", "source", "submission"]


def test_unreadable_submission_still_gets_results(autograder_zip, tmp_path):
    root = _layout(tmp_path, autograder_zip)
    (root / "submission" / "a2.zip").write_bytes(b"not a zip")
    doc = _run(root)
    assert doc["score"] == 0 and "not a readable zip" in doc["output"]


def test_fake_score_in_the_output_is_ignored(autograder_zip, tmp_path):
    files = fakeclass.student_files()
    liar = ('import sys, json\nprint(json.dumps({"score": 100, "tests": []}))\n'
            'open("/dev/stdout", "w").write("score 100")\nsys.exit(0)\n')
    region = fakeclass.region_of(files, "cs231n/optim.py", "sgd_momentum")
    root = _layout(tmp_path, autograder_zip, fakeclass.submission_files(replace={region: liar}, files=files))
    doc = _run(root)
    lost = [t for t in doc["tests"] if t["score"] < t["max_score"]]
    assert lost and all("sgd_momentum" in t["name"] for t in lost)
    assert doc["score"] == sum(t["max_score"] for t in doc["tests"]) - sum(t["max_score"] for t in lost)


def test_validate_catches_bad_documents():
    assert gradescope.validate({"tests": [{"name": "a"}]})  # no score anywhere
    assert gradescope.validate({"score": "10"})
    assert gradescope.validate({"score": 1, "tests": [{"score": 2, "max_score": 1}]})
    assert gradescope.validate({"score": 1, "tests": [{"score": 1, "visibility": "secret"}]})
    assert gradescope.validate({"score": 1, "stdout_visibility": "always"})
    assert gradescope.validate({"score": 1, "execution_time": 3, "tests": [
        {"name": "a", "score": 1, "max_score": 1, "status": "passed", "output": "", "visibility": "hidden"}]}) == []


def test_results_json_from_a_row():
    from course.gradebook import summarize
    row = summarize({"student": "submission", "status": "graded", "problems": ["cs231n/x.py: edits ignored"],
                     "notes": [], "checks": [
                         {"id": "Q1.a", "title": "a: by hand", "part": "Q1", "points": 2, "earned": 2, "status": "pass",
                          "message": "", "visibility": "visible"},
                         {"id": "Q1.b", "title": "b: edge case", "part": "Q1", "points": 3, "earned": 0,
                          "status": "timeout", "message": "no result within 5 s", "visibility": "after_due_date"}],
                     "notebook_items": [
                         {"id": "FullyConnectedNets:ran", "title": "run", "notebook": "F", "ok": True, "message": "",
                          "value": None, "points": 1.0, "graded": True, "earned": 1.0},
                         {"id": "Dropout:real_data", "title": "real data", "notebook": "D", "ok": False,
                          "message": "smoke mode?", "value": None, "points": 0, "graded": False, "earned": 0}]})
    doc = gradescope.results_json(row, 12.4)
    assert gradescope.validate(doc) == []
    assert doc["score"] == 3 and doc["execution_time"] == 12
    a, b, ran, real = doc["tests"]
    assert (b["score"], b["max_score"], b["status"], b["visibility"]) == (0, 3, "failed", "after_due_date")
    assert b["output"].startswith("TIMEOUT: no result")
    assert (ran["score"], ran["max_score"]) == (1, 1) and (real["score"], real["max_score"]) == (0, 0)
    assert "to review" in real["output"] and "Dropout:real_data" in doc["output"]
    assert "edits ignored" in doc["output"]
