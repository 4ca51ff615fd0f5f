"""Tests of the autograder (course/grade.py, course/grading/, cs231n/selfcheck/).

First half: the machinery on a fake student package and fake checks in tmp_path (statuses,
points, time limits, crashes, output flooding, leftover processes, import failures). Second
half: the real public and hidden checks against the instructor tree, the untouched release,
the release with the instructor's own region bodies pasted in, and sabotaged copies. The
attacks of issue 15.1 are in test_grader_security.py.
"""

import ast
import json
import os
import re
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from course import grade
from course.tests.grader_helpers import REPO, solved, submission, untouched_release

FAKE_CHECKS = '''
import numpy as np
from cs231n.selfcheck.support import assert_close, checklist

PART = ("QA", "Fake part")
CHECKS, check = checklist()

@check(2, "passes", "double")
def good(ctx):
    assert_close(ctx.student("mod").double(np.arange(3.0)), [0, 2, 4], "double")

@check(3, "wrong value", "triple")
def wrong(ctx):
    assert_close(ctx.student("mod").triple(np.ones(2)), [3, 3], "triple")

@check(1, "raises", "todo")
def raises(ctx):
    ctx.student("mod").todo()

@check(1, "hangs")
def hangs(ctx):
    ctx.student("mod").spin()

@check(1, "exits the process")
def exits(ctx):
    ctx.student("mod").exit3()

@check(1, "segfaults")
def segfault(ctx):
    ctx.student("mod").segv()

@check(1, "floods the output, then passes")
def floods(ctx):
    assert ctx.student("mod").flood() == 1

@check(1, "calls sys.exit")
def sys_exit(ctx):
    ctx.student("mod").leave()

@check(1, "writes a file and starts a process")
def side_effects(ctx):
    assert ctx.student("mod").side_effects() == 1

@check(1, "allocates too much memory")
def memory(ctx):
    ctx.student("mod").hog()

@check(1, "returns junk", uses=("double", "triple"))
def junk(ctx):
    assert_close(ctx.student("mod").junk(), [1.0], "junk")

@check(2, "passes after the crashes")
def last(ctx):
    assert ctx.student("mod").double(2) == 4
'''

FAKE_MODULE = '''
import ctypes, os, subprocess, sys
import numpy as np

def double(x):
    return 2 * x

def triple(x):
    return 2 * x  # wrong on purpose

def todo():
    raise NotImplementedError("TODO: implement todo (cs231n/mod.py)")

def spin():
    while True:
        pass

def exit3():
    os._exit(3)

def segv():
    ctypes.string_at(0)

def flood():
    for _ in range(20000):
        print("x" * 100)
    sys.stdout.flush()
    return 1

def leave():
    sys.exit(0)

def side_effects():
    open("scratch.txt", "w").write("x")
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "FAKE-SIDE-EFFECT-MARKER"])
    return 1

def hog():
    return np.ones(2 ** 31)  # 16 GB

def junk():
    return {"not": "an array"}
'''


def make_checks(root, checks=FAKE_CHECKS):
    root.mkdir(parents=True)
    (root / "qa.py").write_text(checks)
    return root


def make_student(root, module=FAKE_MODULE, init=""):
    (root / "cs231n").mkdir(parents=True)
    (root / "cs231n" / "__init__.py").write_text(init)
    (root / "cs231n" / "mod.py").write_text(module)
    return root


def marker_alive(marker):
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                return True
        except OSError:
            pass
    return False


@pytest.fixture(scope="module")
def fake_results(tmp_path_factory):
    base = tmp_path_factory.mktemp("fake")
    checks_dir = make_checks(base / "checks")
    tree = make_student(base / "tree")
    before = sorted(p.relative_to(tree) for p in tree.rglob("*"))
    start = time.monotonic()
    [part] = grade.grade_tree(tree, timeout=3.0, memory_mb=1024, checks_dirs=[checks_dir])
    elapsed = time.monotonic() - start
    after = sorted(p.relative_to(tree) for p in tree.rglob("*"))
    return {"part": part, "by_name": {c.name: c for c in part.checks}, "elapsed": elapsed,
            "tree": tree, "unchanged": before == after}


def test_statuses_and_points(fake_results):
    part, r = fake_results["part"], fake_results["by_name"]
    assert [c.name for c in part.checks] == [
        "good", "wrong", "raises", "hangs", "exits", "segfault", "floods", "sys_exit", "side_effects",
        "memory", "junk", "last"]
    assert {n: c.status for n, c in r.items()} == {
        "good": "pass", "wrong": "fail", "raises": "error", "hangs": "timeout", "exits": "crash",
        "segfault": "crash", "floods": "pass", "sys_exit": "error", "side_effects": "pass",
        "memory": "error", "junk": "fail", "last": "pass"}
    assert part.points == 16 and part.earned == 2 + 1 + 1 + 2
    assert part.cs231n.endswith("/sub/cs231n/__init__.py") and "cs231n-grade-" in part.cs231n


def test_messages_explain_what_went_wrong(fake_results):
    r = fake_results["by_name"]
    assert "triple is wrong: relative error" in r["wrong"].message and "got 2, expected 3" in r["wrong"].message
    assert r["raises"].message == ("NotImplementedError: TODO: implement todo (cs231n/mod.py)  "
                                   "[cs231n/mod.py:12 in todo]")
    assert r["hangs"].message.startswith("no result within 3 s, stopped.")
    assert re.search(r'cs231n/mod.py", line 1[56] in spin', r["hangs"].message)  # where it was stuck
    assert "exit status 3" in r["exits"].message
    assert "killed by signal SIGSEGV" in r["segfault"].message
    assert r["sys_exit"].message.startswith("SystemExit: 0")
    assert r["memory"].message.startswith(("MemoryError", "numpy._core._exceptions._ArrayMemoryError",
                                           "_ArrayMemoryError"))
    assert "junk is not numeric: got dict" in r["junk"].message
    assert "may come from triple" in r["junk"].message  # a dependency that failed its own check


def test_crashes_and_timeouts_do_not_stop_the_part(fake_results):
    assert fake_results["by_name"]["last"].status == "pass"
    assert fake_results["elapsed"] < 60


def test_student_code_runs_outside_the_tree_and_leaves_no_process(fake_results):
    assert fake_results["unchanged"]  # scratch.txt went to a scratch folder, no __pycache__
    end = time.monotonic() + 5
    while marker_alive("FAKE-SIDE-EFFECT-MARKER") and time.monotonic() < end:
        time.sleep(0.1)
    assert not marker_alive("FAKE-SIDE-EFFECT-MARKER"), "a process started by the student's code is still alive"


def test_output_is_truncated(fake_results):
    text = fake_results["by_name"]["segfault"].message + fake_results["by_name"]["hangs"].message
    assert len(text) < 8000


def test_a_package_that_fails_to_import_is_reported_for_every_check(tmp_path):
    checks_dir = make_checks(tmp_path / "c")
    tree = make_student(tmp_path / "t", init="raise RuntimeError('broken package')\n")
    [part] = grade.grade_tree(tree, timeout=5.0, checks_dirs=[checks_dir])
    assert {c.status for c in part.checks} == {"error"}
    assert all(c.message.startswith("cannot import the package: RuntimeError: broken package") for c in part.checks)


def test_report_and_json(fake_results):
    part = fake_results["part"]
    text = grade.format_report(Path("/some/tree"), [part], problems=["cs231n/x.py: edited"])
    lines = text.splitlines()
    assert lines[0] == "Grading /some/tree" and "  problem: cs231n/x.py: edited" in lines
    assert any(line.startswith("QA  Fake part") and line.endswith("6/16") for line in lines)
    assert any(line.strip().startswith("TIMEOUT") for line in lines)
    assert lines[-1].startswith("TOTAL") and lines[-1].endswith("6/16")
    data = grade.to_json(Path("/some/tree"), [part])
    assert data["earned"] == 6 and data["points"] == 16
    first = data["parts"][0]["checks"][0]
    assert first == {"name": "good", "title": "passes", "points": 2, "part": "QA", "visibility": "visible",
                     "status": "pass", "message": "", "seconds": first["seconds"], "earned": 2}
    json.dumps(data)


def test_cli_list_and_bad_usage(tmp_path, capsys):
    assert grade.main(["--list"]) == 0
    out = capsys.readouterr().out
    totals = [line for line in out.splitlines() if not line.startswith(" ")]
    assert [t.split()[0] for t in totals] == ["Q1", "Q2", "Q3", "Q4"]
    assert "(hidden)" in out
    assert grade.main([str(tmp_path / "missing")]) == 2
    assert grade.main([str(tmp_path)]) == 2  # no cs231n package
    assert "no cs231n package" in capsys.readouterr().err
    assert grade.main(["--part", "Q9", str(tmp_path)]) == 2
    assert grade.main(["--timeout", "nan", str(tmp_path)]) == 2


# =============================================================================================
# The real checks
# =============================================================================================

def test_points_visibilities_and_names():
    checks = grade.load_checks()
    assert [k for k in dict.fromkeys(k for k, _, _ in checks)] == ["Q1", "Q2", "Q3", "Q4"]
    public = [c for _, _, c in checks if c.visibility == "visible"]
    hidden = [c for _, _, c in checks if c.visibility != "visible"]
    assert sum(c.points for c in public) == 100 and len(hidden) >= 15
    totals = {k: sum(c.points for kk, _, c in checks if kk == k and c.visibility == "visible") for k in "Q1 Q2 Q3 Q4".split()}
    assert totals == {"Q1": 30, "Q2": 25, "Q3": 15, "Q4": 30}
    assert len({(k, c.name) for k, _, c in checks}) == len(checks)
    assert all(c.visibility in ("visible", "after_due_date", "hidden") and c.points > 0 for _, _, c in checks)
    hidden_text = " ".join(c.title for c in hidden)
    for edge in ("pad 0", "stride 2", "N = 1", "odd", "ties"):
        assert edge in hidden_text, edge


def test_public_checks_ship_and_give_nothing_away():
    rel = untouched_release()
    assert (rel / "cs231n" / "selfcheck" / "checks" / "q4_convolutional_networks.py").is_file()
    assert not (rel / "course").exists()
    names = {"affine_forward", "affine_backward", "conv_forward_naive", "conv_backward_naive", "batchnorm_backward",
             "max_pool_backward_naive", "adam", "rmsprop", "dropout_forward", "spatial_groupnorm_backward"}
    for path in (REPO / "cs231n" / "selfcheck").rglob("*.py"):
        text = path.read_text()
        assert "course" not in re.findall(r"^\s*(?:from|import)\s+(\w+)", text, re.M), path
        defined = {n.name for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef)}
        assert not defined & names, f"{path} defines {defined & names}"
        assert "ctx.reference" not in text or path.name == "support.py"


@pytest.fixture(scope="module")
def instructor_results():
    start = time.monotonic()
    results = grade.grade_tree(REPO)
    return results, time.monotonic() - start


def test_instructor_tree_scores_full_marks_on_public_and_hidden_checks(instructor_results):
    results, elapsed = instructor_results
    failed = [f"{p.key} {c.name}: {c.status}: {c.message}" for p in results for c in p.checks if c.status != "pass"]
    assert not failed, "\n".join(failed)
    assert sum(p.earned for p in results) == sum(p.points for p in results) > 100
    assert elapsed < 120, f"grading took {elapsed:.1f} s"


@pytest.fixture(scope="module")
def untouched_results():
    return grade.grade_path(untouched_release())


def test_untouched_release_scores_zero_with_not_implemented(untouched_results):
    result = untouched_results
    assert result.earned == 0 and result.possible > 100 and result.problems == []
    for c in result.checks:
        assert c.status == "error" and c.message.startswith("NotImplementedError: TODO"), (c.name, c.message)
    assert result.to_dict()["earned"] == 0 and len(result.to_dict()["checks"]) == len(result.checks)


def test_solved_release_scores_full_marks_and_only_regions_count(tmp_path):
    # the release with the instructor's region bodies pasted in; given code vandalised around them
    tree = solved(tmp_path / "ok")
    layers = tree / "cs231n" / "layers.py"
    text = layers.read_text().replace("    return out, cache\n", "    return None, None  # vandalised\n", 1)
    layers.write_text(text)
    (tree / "cs231n" / "optim.py").write_text((tree / "cs231n" / "optim.py").read_text() + "\nBROKEN = 1/0\n")
    (tree / "cs231n" / "helper.py").write_text("x = 1\n")
    (tree / "cs231n" / "solver.py").write_text("raise SystemExit('no given code for you')\n")
    result = grade.grade_path(tree, parts=["Q1", "Q3"])
    failed = [f"{c.name}: {c.message}" for c in result.checks if c.status != "pass"]
    assert not failed, failed
    assert result.earned == result.possible
    problems = "\n".join(result.problems)
    assert "cs231n/layers.py: edits outside the START/END OF YOUR CODE regions are ignored" in problems
    assert "cs231n/optim.py: edits outside" in problems
    assert "cs231n/helper.py: not part of the release; ignored" in problems
    assert "cs231n/solver.py: changes to this given file are ignored" in problems


def test_damaged_markers_and_missing_files_are_reported_and_the_rest_graded(tmp_path):
    tree = solved(tmp_path / "t")
    norm = tree / "cs231n" / "normalization.py"
    norm.write_text(norm.read_text().replace("# *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****", "", 1))
    (tree / "cs231n" / "optim.py").unlink()
    result = grade.grade_path(tree, parts=["Q1", "Q2"], visibility=("visible",))
    problems = "\n".join(result.problems)
    assert "cs231n/normalization.py: the START/END OF YOUR CODE lines are damaged" in problems
    assert "cs231n/optim.py: missing from the submission" in problems
    status = {c.name: c.status for c in result.checks}
    assert status["affine_forward_values"] == "pass" and status["fc_net_gradients"] == "pass"
    assert status["adam_values"] == "error" and status["batchnorm_forward_train"] == "error"


def test_a_broken_layer_loses_exactly_the_checks_that_use_it(tmp_path):
    tree = solved(tmp_path / "t", {"cs231n/layers.py": {"relu_backward": "dx = dout * (cache > -0.5)\n"}})
    result = grade.grade_path(tree)
    lost = {c.name for c in result.checks if c.status != "pass"}
    assert lost and "relu_backward_gradients" in lost and "hidden_relu" in lost
    by_name = {(c.part, c.name): c for c in result.checks}
    checks = {(k, c.name): c for k, _, c in grade.load_checks()}
    for key, c in by_name.items():
        if c.status != "pass":
            assert "relu_backward" in checks[key].uses, key  # nothing that does not use it
    assert "may come from relu_backward" in by_name[("Q1", "two_layer_net_gradients")].message


def test_a_hanging_student_function_is_a_timeout(tmp_path):
    tree = solved(tmp_path / "t", {"cs231n/optim.py": {"rmsprop": "while True:\n    pass\n"}})
    start = time.monotonic()
    result = grade.grade_path(tree, parts=["Q1"], visibility=("visible",), timeout=3.0)
    assert time.monotonic() - start < 60
    r = {c.name: c for c in result.checks}
    assert r["rmsprop_values"].status == "timeout" and "in rmsprop" in r["rmsprop_values"].message
    assert r["adam_values"].status == "pass"  # the part went on after the timeout
    assert result.earned == 30 - 2


def test_cli_grades_a_submission_zip_against_a_release_folder(tmp_path, capsys):
    tree = solved(tmp_path / "tree")
    zpath = tmp_path / "a2.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for path in sorted((tree / "cs231n").rglob("*")):
            if path.is_file():
                zf.write(path, "a2/" + path.relative_to(tree).as_posix())
    report = tmp_path / "r.json"
    assert grade.main([str(zpath), "--part", "Q3", "--release", str(untouched_release()), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "Q3  Dropout" in out and out.rstrip().endswith("18/18")
    assert json.loads(report.read_text())["earned"] == 18


def test_selfcheck_runs_the_public_checks(tmp_path, capsys):
    from cs231n.selfcheck.__main__ import main
    assert main([str(untouched_release()), "--part", "Q3", "--timeout", "10"]) == 1
    out = capsys.readouterr().out
    assert "NotImplementedError: TODO: implement dropout_forward" in out and "0/15 points" in out
    tree = submission(tmp_path / "t")
    shutil.rmtree(tree / "cs231n")
    shutil.copytree(solved(tmp_path / "s") / "cs231n", tree / "cs231n")
    assert main([str(tree / "cs231n"), "--part", "Q3"]) == 0
    assert "15/15 points" in capsys.readouterr().out
