"""Tests of the autograder (cs231n/grade.py and course/grading/).

First half: the grading machinery on a fake student package and fake check parts in tmp_path
(statuses, points, time limits, crashes, output flooding, leftover processes, a shadowed
package). Second half (marked ``slow``): the real checks against the real tree, a release of
it, and sabotaged copies; these skip while the tree lacks the modules they need.
"""

import json
import os
import re
import shutil
import subprocess
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from course import grade, release

REPO = Path(__file__).resolve().parents[2]
REAL_GRADING = REPO / "course" / "grading"

FAKE_CHECKS = '''
import os, sys, time
import numpy as np
from ._support import assert_close, checklist, student

CHECKS, check = checklist()

@check(2, "passes")
def good():
    assert_close(student("mod").double(np.arange(3.0)), [0, 2, 4], "double")

@check(3, "wrong value")
def wrong():
    assert_close(student("mod").triple(np.ones(2)), [3, 3], "triple")

@check(1, "raises")
def raises():
    student("mod").todo()

@check(1, "hangs")
def hangs():
    student("mod").spin()

@check(1, "exits the process")
def exits():
    os._exit(3)

@check(1, "segfaults")
def segfault():
    import ctypes
    ctypes.string_at(0)

@check(1, "floods the output, then passes")
def floods():
    student("mod").flood()

@check(1, "calls sys.exit")
def sys_exit():
    sys.exit(0)

@check(1, "writes a file and starts a process")
def side_effects():
    import subprocess
    open("scratch.txt", "w").write("x")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    open(os.environ["PID_FILE"], "w").write(str(proc.pid))

@check(1, "allocates too much memory")
def memory():
    np.ones(2 ** 31)  # 16 GB

@check(2, "passes after the crashes")
def last():
    assert student("mod").double(2) == 4
'''

FAKE_MODULE = '''
import sys

def double(x):
    return 2 * x

def triple(x):
    return 2 * x  # wrong on purpose

def todo():
    raise NotImplementedError("TODO: implement todo (cs231n/mod.py)")

def spin():
    while True:
        pass

def flood():
    for _ in range(20000):
        print("x" * 100)
    sys.stdout.flush()
'''


def make_grading(root, parts='(("QA", "Fake part", "qa"),)', checks=FAKE_CHECKS):
    """A grading folder with the real runner and support code and fake parts."""
    root.mkdir(parents=True)
    for name in ("_runner.py", "_support.py"):
        shutil.copy2(REAL_GRADING / name, root / name)
    (root / "__init__.py").write_text(f"PARTS = {parts}\n")
    (root / "qa.py").write_text(checks)
    return root


def make_student(root, module=FAKE_MODULE, init=""):
    (root / "cs231n").mkdir(parents=True)
    (root / "cs231n" / "__init__.py").write_text(init)
    (root / "cs231n" / "mod.py").write_text(module)
    return root


@pytest.fixture(scope="module")
def fake_results(tmp_path_factory):
    base = tmp_path_factory.mktemp("fake")
    grading_dir = make_grading(base / "grading")
    tree = make_student(base / "tree")
    pid_file = base / "pid"
    os.environ["PID_FILE"] = str(pid_file)
    try:
        before = sorted(p.relative_to(tree) for p in tree.rglob("*"))
        start = time.monotonic()
        [part] = grade.grade_tree(tree, timeout=2.0, memory_mb=1024, grading_dir=grading_dir)
        elapsed = time.monotonic() - start
    finally:
        del os.environ["PID_FILE"]
    after = sorted(p.relative_to(tree) for p in tree.rglob("*"))
    return {"part": part, "by_name": {c.name: c for c in part.checks}, "elapsed": elapsed,
            "tree": tree, "unchanged": before == after, "pid_file": pid_file}


def test_statuses_and_points(fake_results):
    part, r = fake_results["part"], fake_results["by_name"]
    assert [c.name for c in part.checks] == [
        "good", "wrong", "raises", "hangs", "exits", "segfault", "floods", "sys_exit", "side_effects",
        "memory", "last"]
    assert {n: c.status for n, c in r.items()} == {
        "good": "pass", "wrong": "fail", "raises": "error", "hangs": "timeout", "exits": "crash",
        "segfault": "crash", "floods": "pass", "sys_exit": "error", "side_effects": "pass",
        "memory": "error", "last": "pass"}
    assert part.points == 15 and part.earned == 2 + 1 + 1 + 2
    assert part.cs231n == str(fake_results["tree"].resolve() / "cs231n" / "__init__.py")


def test_messages_explain_what_went_wrong(fake_results):
    r = fake_results["by_name"]
    assert "triple is wrong: relative error" in r["wrong"].message and "got 2, expected 3" in r["wrong"].message
    assert r["raises"].message == ("NotImplementedError: TODO: implement todo (cs231n/mod.py)  "
                                   "[cs231n/mod.py:11 in todo]")
    assert r["hangs"].message.startswith("no result within 2 s, stopped.")
    assert re.search(r'cs231n/mod.py", line 1[45] in spin', r["hangs"].message)  # where it was stuck
    assert "exit status 3" in r["exits"].message
    assert "killed by signal SIGSEGV" in r["segfault"].message
    assert r["sys_exit"].message.startswith("SystemExit: 0")
    assert r["memory"].message.startswith(("MemoryError", "numpy._core._exceptions._ArrayMemoryError",
                                           "_ArrayMemoryError"))


def test_crashes_and_timeouts_do_not_stop_the_part(fake_results):
    assert fake_results["by_name"]["last"].status == "pass"
    assert fake_results["elapsed"] < 30


def test_student_code_runs_outside_the_tree_and_leaves_no_process(fake_results):
    assert fake_results["unchanged"]  # scratch.txt went to a temporary folder, no __pycache__
    pid = int(fake_results["pid_file"].read_text())
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"process {pid} started by the student's code is still alive")


def test_output_is_truncated(tmp_path):
    checks = FAKE_CHECKS.replace('def floods():\n    student("mod").flood()',
                                 'def floods():\n    student("mod").flood()\n    os._exit(1)')
    grading_dir = make_grading(tmp_path / "g", checks=checks)
    tree = make_student(tmp_path / "t")
    [part] = grade.grade_tree(tree, timeout=2.0, grading_dir=grading_dir)
    floods = next(c for c in part.checks if c.name == "floods")
    assert floods.status == "crash"
    assert "exit status 1" in floods.message and "xxxxxxxx" in floods.message
    assert len(floods.message) < 2000  # of the 2 MB printed


def test_a_package_that_fails_to_import_is_reported_for_every_check(tmp_path):
    grading_dir = make_grading(tmp_path / "g")
    tree = make_student(tmp_path / "t", init="raise RuntimeError('broken package')\n")
    [part] = grade.grade_tree(tree, timeout=5.0, grading_dir=grading_dir)
    assert {c.status for c in part.checks} == {"error"}
    assert all("cannot import the package: RuntimeError: broken package" in c.message for c in part.checks)


def test_a_package_from_outside_the_tree_is_refused(tmp_path):
    grading_dir = make_grading(tmp_path / "g")
    elsewhere = make_student(tmp_path / "elsewhere")
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "cs231n").symlink_to(elsewhere / "cs231n")
    [part] = grade.grade_tree(tree, timeout=5.0, grading_dir=grading_dir)
    assert {c.status for c in part.checks} == {"error"}
    assert "not the package in" in part.checks[0].message


def test_report_and_json(fake_results, tmp_path):
    part = fake_results["part"]
    text = grade.format_report(Path("/some/tree"), [part])
    lines = text.splitlines()
    assert lines[0] == "Grading /some/tree"
    assert any(line.startswith("QA  Fake part") and line.endswith("6/15") for line in lines)
    assert any(line.strip().startswith("TIMEOUT") for line in lines)
    assert lines[-1].startswith("TOTAL") and lines[-1].endswith("6/15")
    data = grade.to_json(Path("/some/tree"), [part])
    assert data["earned"] == 6 and data["points"] == 15
    assert data["parts"][0]["checks"][0] == {
        "name": "good", "title": "passes", "points": 2, "status": "pass", "message": "",
        "seconds": data["parts"][0]["checks"][0]["seconds"], "earned": 2}
    json.dumps(data)


def test_cli_list_and_bad_usage(tmp_path, capsys):
    assert grade.main(["--list"]) == 0
    out = capsys.readouterr().out
    totals = [line for line in out.splitlines() if not line.startswith(" ")]
    assert [t.split()[0] for t in totals] == ["Q1", "Q2", "Q3", "Q4"]
    assert "(30 points)" in totals[0] and "(25 points)" in totals[1]
    assert "(15 points)" in totals[2] and "(30 points)" in totals[3]
    assert grade.main([str(tmp_path / "missing")]) == 2
    assert grade.main([str(tmp_path)]) == 2  # no cs231n package
    assert "no cs231n package" in capsys.readouterr().err
    assert grade.main(["--part", "Q9", str(tmp_path)]) == 2


def test_unsafe_zip_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../evil.py", "x = 1\n")
    assert grade.main([str(bad)]) == 2
    assert "unsafe path" in capsys.readouterr().err


def test_points_add_up_to_100_and_names_are_unique():
    parts, checks = grade.load_grading()
    assert [p[0] for p in parts] == ["Q1", "Q2", "Q3", "Q4"]
    assert {k: sum(c.points for c in checks[m]) for k, _, m in parts} == {"Q1": 30, "Q2": 25, "Q3": 15, "Q4": 30}
    for _, _, module in parts:
        assert len({c.name for c in checks[module]}) == len(checks[module])


def test_grading_checks_import_nothing_from_cs231n():
    # only the runner imports cs231n (the student's, in the child process); the checks reach the
    # student's modules through _support.student()
    for path in REAL_GRADING.glob("*.py"):
        if path.name != "_runner.py":
            text = path.read_text()
            assert "from cs231n" not in text and "import cs231n" not in text, path


# =============================================================================================
# The real checks against the real tree
# =============================================================================================

NEEDED = ("layers.py", "normalization.py", "fast_layers.py", "layer_utils.py", "optim.py",
          "classifiers/fc_net.py", "classifiers/cnn.py")


def _require_real_tree():
    missing = [n for n in NEEDED if not (REPO / "cs231n" / n).is_file()]
    assert not missing, f"expected the real tree to have cs231n/{', cs231n/'.join(missing)}"


def copy_package(dest):
    """A copy of the real cs231n package (the grader needs nothing else)."""
    shutil.copytree(REPO / "cs231n", dest / "cs231n", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def sabotage(tree, module, code):
    """Append ``code`` to cs231n/<module>: later definitions replace the originals."""
    path = tree / "cs231n" / module
    path.write_text(path.read_text() + "\n\n" + textwrap.dedent(code))


def statuses(results):
    return {(p.key, c.name): c.status for p in results for c in p.checks}


@pytest.fixture(scope="module")
def instructor_results():
    _require_real_tree()
    start = time.monotonic()
    results = grade.grade_tree(REPO)
    return results, time.monotonic() - start


@pytest.mark.slow
def test_instructor_source_scores_full_marks_quickly(instructor_results):
    results, elapsed = instructor_results
    failed = [f"{p.key} {c.name}: {c.status}: {c.message}" for p in results for c in p.checks if c.status != "pass"]
    assert not failed, "\n".join(failed)
    assert sum(p.earned for p in results) == 100
    assert {p.cs231n for p in results} == {str(REPO / "cs231n" / "__init__.py")}
    assert elapsed < 60, f"grading took {elapsed:.1f} s"


@pytest.mark.slow
def test_untouched_release_scores_zero_with_not_implemented(tmp_path):
    _require_real_tree()
    out = tmp_path / "release"
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True).stdout
    assert release.main([str(out), "--source", str(REPO), "-q"]
                        + ([] if tracked.strip() else ["--include-untracked"])) == 0
    results = grade.grade_tree(out)
    assert sum(p.earned for p in results) == 0
    for p in results:
        assert p.cs231n == str(out / "cs231n" / "__init__.py")
        for c in p.checks:
            assert c.status == "error" and c.message.startswith("NotImplementedError: TODO"), (p.key, c.name, c.message)


@pytest.mark.slow
def test_a_broken_dropout_backward_loses_exactly_its_checks(tmp_path):
    _require_real_tree()
    tree = copy_package(tmp_path)
    sabotage(tree, "layers.py", """
        _true_dropout_backward = dropout_backward

        def dropout_backward(dout, cache):
            return 0.5 * _true_dropout_backward(dout, cache)
    """)
    results = grade.grade_tree(tree)
    lost = {k for k, s in statuses(results).items() if s != "pass"}
    assert lost == {("Q3", "dropout_backward_gradients"), ("Q3", "fc_net_dropout_gradients")}
    earned = {p.key: p.earned for p in results}
    assert earned == {"Q1": 30, "Q2": 25, "Q3": 15 - 4 - 4, "Q4": 30}


@pytest.mark.slow
def test_a_broken_relu_backward_loses_its_check_and_the_models_using_it(tmp_path):
    _require_real_tree()
    tree = copy_package(tmp_path)
    sabotage(tree, "layers.py", """
        def relu_backward(dout, cache):
            return dout * (cache > -0.5)  # wrong: also lets the gradient through for -0.5 < x <= 0
    """)
    results = grade.grade_tree(tree)
    lost = {k for k, s in statuses(results).items() if s != "pass"}
    # relu_backward itself, and every model whose hidden layers use a ReLU; nothing else
    assert lost == {("Q1", "relu_backward_gradients"), ("Q1", "two_layer_net_gradients"),
                    ("Q1", "fc_net_gradients"), ("Q2", "fc_net_batchnorm_gradients"),
                    ("Q2", "fc_net_layernorm_gradients"), ("Q3", "fc_net_dropout_gradients"),
                    ("Q4", "conv_net_gradients")}
    by_key = {p.key: p for p in results}
    assert by_key["Q1"].earned == 30 - 2 - 3 - 4


@pytest.mark.slow
def test_a_hanging_student_function_is_reported_as_a_timeout(tmp_path):
    _require_real_tree()
    tree = copy_package(tmp_path)
    sabotage(tree, "optim.py", """
        def rmsprop(w, dw, config=None):
            while True:
                pass
    """)
    start = time.monotonic()
    [q1] = grade.grade_tree(tree, parts=["Q1"], timeout=3.0)
    assert time.monotonic() - start < 30
    r = {c.name: c for c in q1.checks}
    assert r["rmsprop_values"].status == "timeout"
    assert "in rmsprop" in r["rmsprop_values"].message
    assert r["adam_values"].status == "pass"  # the part went on after the timeout
    assert q1.earned == 30 - 2


@pytest.mark.slow
def test_cli_grades_a_submission_zip(tmp_path, capsys):
    _require_real_tree()
    tree = copy_package(tmp_path / "tree")
    zpath = tmp_path / "a2.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for path in sorted((tree / "cs231n").rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(tree).as_posix())
    report = tmp_path / "r.json"
    assert grade.main([str(zpath), "--part", "Q3", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "Q3  Dropout" in out and out.rstrip().endswith("15/15")
    assert json.loads(report.read_text())["earned"] == 15
