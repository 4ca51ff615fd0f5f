"""Tests of the student-release generator (course/release.py).

The first half builds releases of small fixture trees in tmp_path. The second half (marked
``slow``) builds the release of the REAL repository and checks what CI must guarantee: no
solution survives, the release imports, its tests fail only with NotImplementedError, and its
notebooks run up to the first student part. Those skip, with a reason, when the tree lacks the
parts they need (e.g. the notebooks).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from course import edition, release
from course.regions import STUDENT_BEGIN as START, STUDENT_END as STOP

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_NAMES = ("FullyConnectedNets", "BatchNormalization", "Dropout", "ConvolutionalNetworks")

BEGIN, END = edition.SOLUTION_BEGIN, edition.SOLUTION_END
ABEGIN, AEND = edition.ANSWER_BEGIN, edition.ANSWER_END

LAYERS = textwrap.dedent(f'''\
    """Fake layers."""
    import numpy as np


    def double(x):
        """Return 2 * x.

        Inputs:
        - x: array
        """
        x = np.asarray(x)
        {BEGIN}
        secret_value = x * 2  # the solution
        {END}
        return secret_value


    class Model:
        def loss(self, x, flag=True):
            if flag:
                {BEGIN}
                hidden_answer = x + 41
                return hidden_answer
                {END}
            return 0


    def given(x):
        return x + 1
    ''')


def code_cell(source, count=None, outputs=()):
    return {"cell_type": "code", "execution_count": count, "metadata": {"execution": {"t": 1}},
            "outputs": list(outputs), "source": source}


def md_cell(source):
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def make_notebook():
    return {
        "cells": [
            md_cell("# Fake notebook\n"),
            code_cell(["import numpy as np\n", "x = np.ones(3)"], 1,
                      [{"output_type": "execute_result", "data": {"text/plain": "ok"},
                        "execution_count": 1, "metadata": {}}]),
            code_cell(["for i in range(2):\n", f"    {BEGIN}\n", "    cell_secret = i * 7\n",
                       f"    {END}\n", "print('done')"], 2,
                      [{"output_type": "stream", "name": "stdout", "text": "done\n"}]),
            md_cell(["**Inline question 1:** why?\n", "\n", f"{ABEGIN}\n",
                     "*Your answer:* because the answer_secret says so.\n", f"{AEND}\n"]),
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                     "widgets": {"state": {}}},
        "nbformat": 4, "nbformat_minor": 5,
    }


def make_source(root):
    files = {
        "cs231n/__init__.py": '"""Fake package."""\n',
        "cs231n/layers.py": LAYERS,
        "cs231n/given.py": "def helper():\n    return 3\n",
        "tests/test_given.py": "from cs231n.given import helper\n\ndef test_helper():\n    assert helper() == 3\n",
        "tests/test_instructor_only.py": "SOLUTION = 'leak'\n",
        "notebooks/Fake.ipynb": json.dumps(make_notebook(), indent=1),
        "README.md": "# Fake\n",
        ".release-exclude": "# instructor only\ntests/test_instructor_only.py\n.ci/\n",
        ".ci/run": "#!/bin/sh\necho ci\n",
        "cs231n/__pycache__/layers.cpython-311.pyc": "junk",
        "datasets/cifar-10-batches-py/data_batch_1": "data",
        "datasets/get_datasets.sh": "#!/bin/sh\necho fetch\n",
        ".venv/bin/python": "junk",
        "notebooks/.ipynb_checkpoints/Fake-checkpoint.ipynb": "{}",
        "cs231n/model.npz": "junk",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    os.chmod(root / "datasets/get_datasets.sh", 0o755)
    return root


def run(args):
    return release.main([str(a) for a in args])


def tree_bytes(root):
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mode & 0o777)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def source(tmp_path):
    return make_source(tmp_path / "src")


def test_release_of_a_fixture_tree(source, tmp_path, capsys):
    out = tmp_path / "out" / "a2"
    assert run([out, "--source", source, "--no-git"]) == 0
    files = tree_bytes(out)
    assert sorted(files) == [
        ".release-manifest", "README.md", "cs231n/__init__.py", "cs231n/given.py", "cs231n/layers.py",
        "datasets/get_datasets.sh", "notebooks/Fake.ipynb", "tests/test_given.py"]
    assert files["datasets/get_datasets.sh"][1] == 0o755 and files["README.md"][1] == 0o644
    assert {p.stat().st_mode & 0o777 for p in [out, *out.rglob("*")] if p.is_dir()} == {0o755}
    layers = (out / "cs231n/layers.py").read_text()
    assert layers == LAYERS.replace(
        f"    {BEGIN}\n    secret_value = x * 2  # the solution\n    {END}\n",
        f'    {START}\n    raise NotImplementedError("TODO: implement double (cs231n/layers.py)")\n    {STOP}\n').replace(
        f"            {BEGIN}\n            hidden_answer = x + 41\n            return hidden_answer\n            {END}\n",
        f'            {START}\n            raise NotImplementedError("TODO: implement Model.loss (cs231n/layers.py)")\n'
        f'            {STOP}\n')
    assert '"""Return 2 * x.' in layers  # docstrings kept
    manifest = (out / ".release-manifest").read_text().splitlines()
    assert len(manifest) == len(files) - 1 and manifest[0].endswith("  README.md")
    printed = capsys.readouterr().out
    assert "3 solution region(s) stubbed, 1 answer(s) blanked, 1 notebook(s) cleared" in printed
    assert "left out tests/test_instructor_only.py" in printed


def test_released_module_imports_and_raises_not_implemented(source, tmp_path):
    out = tmp_path / "rel"
    assert run([out, "--source", source, "--no-git", "-q"]) == 0
    code = textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[1])
        import cs231n.layers as L
        assert L.__file__.startswith(sys.argv[1]), L.__file__
        assert L.given(1) == 2
        for call in (lambda: L.double(1), lambda: L.Model().loss(1)):
            try:
                call()
            except NotImplementedError as exc:
                print("NIE", exc)
        assert L.Model().loss(1, flag=False) == 0
    """)
    proc = subprocess.run([sys.executable, "-I", "-c", code, str(out)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["NIE TODO: implement double (cs231n/layers.py)",
                                        "NIE TODO: implement Model.loss (cs231n/layers.py)"]


def test_released_notebook_is_cleared_and_answers_blanked(source, tmp_path):
    out = tmp_path / "rel"
    assert run([out, "--source", source, "--no-git", "-q"]) == 0
    text = (out / "notebooks/Fake.ipynb").read_text()
    nb = json.loads(text)
    codes = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in codes)
    assert all("execution" not in c["metadata"] for c in nb["cells"])
    assert "widgets" not in nb["metadata"] and nb["metadata"]["kernelspec"]["name"] == "python3"
    assert "".join(codes[1]["source"]) == (
        f'for i in range(2):\n    {START}\n    raise NotImplementedError("TODO: write the code of this cell")\n'
        f"    {STOP}\nprint('done')")
    assert "".join(nb["cells"][3]["source"]) == (
        f"**Inline question 1:** why?\n\n{edition.ANSWER_PLACEHOLDER}\n")
    for secret in ("cell_secret", "answer_secret", "BEGIN", "END ANSWER"):
        assert secret not in text
    assert text.endswith("}\n") and text.startswith('{\n "cells": [')  # nbformat's own layout


def test_release_is_deterministic_and_the_zip_is_byte_identical(source, tmp_path):
    outs = []
    for i in range(2):
        out = tmp_path / f"run{i}" / "a2"
        assert run([out, "--source", source, "--no-git", "--zip", "-q"]) == 0
        outs.append(out)
        os.utime(source / "cs231n/layers.py", (1e9 + i, 1e9 + i))  # mtimes must not matter
    assert tree_bytes(outs[0]) == tree_bytes(outs[1])
    z0, z1 = (o.with_name("a2.zip").read_bytes() for o in outs)
    assert z0 == z1
    with zipfile.ZipFile(outs[0].with_name("a2.zip")) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names) and all(n.startswith("a2/") for n in names)
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in infos}
        assert modes["a2/datasets/get_datasets.sh"] == 0o755 and modes["a2/README.md"] == 0o644
        assert zf.read("a2/cs231n/layers.py") == (outs[0] / "cs231n/layers.py").read_bytes()


def test_check_writes_nothing(source, tmp_path, capsys):
    assert run(["--check", "--source", source, "--no-git"]) == 0
    assert "markers OK" in capsys.readouterr().out


@pytest.mark.parametrize("body, message", [
    (f"def f():\n    {BEGIN}\n    x = 1\n", "2: '### BEGIN SOLUTION' without a matching '### END SOLUTION'"),
    (f"def f():\n    x = 1\n    {END}\n", "3: '### END SOLUTION' without a matching '### BEGIN SOLUTION'"),
    (f"def f():\n    {BEGIN}\n    {BEGIN}\n    {END}\n    {END}\n", "3: '### BEGIN SOLUTION' inside the region opened at line 2 (nesting)"),
    (f"def f():\n    if 1:\n        {BEGIN}\n        x = 1\n    {END}\n", "5: '### END SOLUTION' indented differently"),
    (f"def f():\n        {BEGIN}\n    x = 1\n        {END}\n", "3: line less indented than the region's markers"),
    ("def f():\n    ## BEGIN SOLUTION\n    x = 1\n", "2: looks like a marker but is not exactly"),
    ("def f():\n    ### END SOLUTION (done)\n", "2: looks like a marker but is not exactly"),
    (f"{BEGIN}\nx = 1\n{END}\n", "1: solution region outside a function body"),
    (f"class A:\n    {BEGIN}\n    x = 1\n    {END}\n", "2: solution region outside a function body"),
    (f"def f():\n    {ABEGIN}\n", "2: answer marker in a .py file"),
])
def test_marker_errors_are_reported_with_file_and_line(tmp_path, capsys, body, message):
    src = tmp_path / "src"
    (src / "cs231n").mkdir(parents=True)
    (src / "cs231n/bad.py").write_text(body)
    out = tmp_path / "out"
    assert run([out, "--source", src, "--no-git"]) == 1
    err = capsys.readouterr().err
    assert f"cs231n/bad.py:{message}" in err
    assert not out.exists()


@pytest.mark.parametrize("cell, message", [
    (code_cell([f"{BEGIN}\n", "x = 1\n"]), "cell 1, line:1: '### BEGIN SOLUTION' without"),
    (code_cell(["x = 1\n", f"{ABEGIN}\n", "y = 1\n", f"{AEND}\n"]), "cell 1, line:2: answer marker in a code cell"),
    (md_cell(["Answer:\n", f"{BEGIN}\n", "text\n", f"{END}\n"]), "cell 1, line:2: solution marker in a markdown cell"),
    (md_cell([f"{ABEGIN}\n", "text\n"]), "cell 1, line:1: '<!-- BEGIN ANSWER -->' without"),
    (md_cell([f"{ABEGIN}\n", f"{ABEGIN}\n", f"{AEND}\n", f"{AEND}\n"]), "cell 1, line:2: '<!-- BEGIN ANSWER -->' inside"),
    (md_cell(["text <!-- END ANSWER --> more\n"]), "cell 1, line:1: looks like a marker"),
])
def test_notebook_marker_errors(tmp_path, capsys, cell, message):
    src = tmp_path / "src"
    (src / "cs231n").mkdir(parents=True)
    nb = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (src / "nb.ipynb").write_text(json.dumps(nb))
    assert run([tmp_path / "out", "--source", src, "--no-git"]) == 1
    assert f"nb.ipynb: {message}" in capsys.readouterr().err


def test_all_errors_are_listed_together(tmp_path, capsys):
    src = tmp_path / "src"
    (src / "cs231n").mkdir(parents=True)
    (src / "cs231n/a.py").write_text(f"def f():\n    {BEGIN}\n")
    (src / "cs231n/b.py").write_text(f"def f():\n    {END}\n")
    assert run([tmp_path / "out", "--source", src, "--no-git"]) == 1
    err = capsys.readouterr().err
    assert "2 marker problem(s)" in err and "cs231n/a.py:2" in err and "cs231n/b.py:2" in err


def test_outdir_safety(source, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("mine")
    assert run([out, "--source", source, "--no-git"]) == 2
    assert run([out, "--source", source, "--no-git", "--overwrite"]) == 2  # not a previous release
    assert (out / "precious.txt").read_text() == "mine"
    assert "not a previous release" in capsys.readouterr().err

    rel = tmp_path / "rel"
    rel.mkdir()  # an empty folder is fine
    assert run([rel, "--source", source, "--no-git", "--zip", "-q"]) == 0
    assert run([rel, "--source", source, "--no-git", "-q"]) == 2  # exists
    (source / "cs231n/given.py").write_text("def helper():\n    return 4\n")
    assert run([rel, "--source", source, "--no-git", "--zip", "-q"]) == 2  # zip exists
    assert run([rel, "--source", source, "--no-git", "--zip", "-q", "--overwrite"]) == 0
    assert "return 4" in (rel / "cs231n/given.py").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "rel", "rel.zip", "src"]  # no temporaries


def test_outdir_inside_a_plain_source_is_not_copied_into_itself(source, tmp_path):
    out = source / "build_here"
    assert run([out, "--source", source, "--no-git", "-q"]) == 0
    assert run([source / "second", "--source", source, "--no-git", "-q"]) == 0
    assert not (source / "second" / "build_here").exists()


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_checkout_releases_tracked_files_only(source, tmp_path, capsys):
    _git(source, "init", "-q")
    (source / ".gitignore").write_text("ignored.txt\n")
    (source / "ignored.txt").write_text("x")
    _git(source, "add", "cs231n", "README.md", ".gitignore", ".release-exclude", "tests")
    (source / "untracked.py").write_text("x = 1\n")
    out = tmp_path / "rel"
    assert run([out, "--source", source, "-q"]) == 0
    names = sorted(tree_bytes(out))
    assert "untracked.py" not in names and "notebooks/Fake.ipynb" not in names
    assert "cs231n/layers.py" in names and ".gitignore" in names
    assert "cs231n/__pycache__/layers.cpython-311.pyc" not in names
    out2 = tmp_path / "rel2"
    assert run([out2, "--source", source, "-q", "--include-untracked"]) == 0
    names2 = sorted(tree_bytes(out2))
    assert "untracked.py" in names2 and "notebooks/Fake.ipynb" in names2 and "ignored.txt" not in names2


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_checkout_with_nothing_tracked_is_an_error(source, tmp_path, capsys):
    _git(source, "init", "-q")
    assert run([tmp_path / "rel", "--source", source]) == 2
    assert "nothing is tracked yet" in capsys.readouterr().err


@pytest.mark.parametrize("rel, excluded", [
    (".git/HEAD", True), ("a/.venv/x", True), ("cs231n/__pycache__/a.pyc", True),
    ("x.egg-info/PKG-INFO", True), ("build/lib/a.py", True), ("cs231n/build/a.py", False),
    ("datasets/cifar-10-batches-py/data_batch_1", True), ("datasets/get_datasets.sh", False),
    ("datasets/cifar-10-python.tar.gz", True), ("notebooks/html/a.html", True),
    ("course/release.py", True), ("course/grading/q1.py", True), ("tests/test_layers.py", False), (".ci/run", True),
    ("a/b/model.npz", True), ("release/README.md", True), ("cs231n/release.py", False),
])
def test_exclude_patterns(rel, excluded):
    patterns = release.read_patterns(REPO) + ["course/", ".ci/"]
    assert release.is_excluded(rel, patterns) is excluded


# =============================================================================================
# The real repository
# =============================================================================================

SOLUTION_LOOKALIKE = re.compile(r"^\s*#+\s*(BEGIN|END)\s+SOLUTION\b", re.I | re.M)
ANSWER_LOOKALIKE = re.compile(r"<!--\s*(BEGIN|END)\s+ANSWER\s*-->", re.I)
NOT_IMPLEMENTED = re.compile(r'(failed on (setup|teardown) with )?"?NotImplementedError: TODO')


def _has_regions(path):
    return path.is_file() and any(line.strip() == BEGIN for line in path.read_text().splitlines())


def _real_release_args():
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True)
    return [] if tracked.returncode == 0 and tracked.stdout.strip() else ["--include-untracked"]


@pytest.fixture(scope="module")
def real_release(tmp_path_factory):
    assert _has_regions(REPO / "cs231n/layers.py"), "expected solution regions in cs231n/layers.py"
    out = tmp_path_factory.mktemp("real") / "a2"
    code = release.main([str(out), "--source", str(REPO), "-q", *_real_release_args()])
    assert code == 0, "the release of the real tree failed (see the captured stderr)"
    return out


def _source_regions():
    """Solution-region lines of every released .py file and notebook code cell of the real tree."""
    inside, outside = [], set()
    result = release.build_release(REPO, include_untracked=bool(_real_release_args()))
    for rel in result["files"]:
        path = REPO / rel
        if rel.endswith(".py"):
            chunks = [("code", path.read_text().splitlines(keepends=True))]
        elif rel.endswith(".ipynb"):
            nb = json.loads(path.read_text())
            chunks = [(c["cell_type"], edition._cell_lines(c)) for c in nb["cells"]]
        else:
            continue
        for kind, lines in chunks:
            begin, end = (ABEGIN, AEND) if kind == "markdown" else (BEGIN, END)
            regions, errors = edition.find_regions(lines, begin, end, rel)
            assert not errors
            covered = set()
            for first, last in regions:
                covered.update(range(first, last + 1))
                inside.extend(line.strip() for line in lines[first + 1:last])
            outside.update(line.strip() for i, line in enumerate(lines) if i not in covered)
    return inside, outside


@pytest.mark.slow
def test_real_release_has_no_marker_and_no_solution_line(real_release):
    inside, outside = _source_regions()
    # distinctive solution lines: long enough, and never written outside a region in the source
    distinctive = {line for line in inside if len(line) >= 16 and line not in outside}
    assert len(distinctive) > 20, "expected many solution lines in the real source"
    leaks = []
    for path in sorted(real_release.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(real_release).as_posix()
        text = path.read_bytes().decode("utf-8", errors="replace")
        if rel.endswith(".ipynb"):
            cells = json.loads(text)["cells"]
            lines = [line.strip() for c in cells for line in edition._cell_lines(c)]
            assert all(not c.get("outputs") and c.get("execution_count") is None
                       for c in cells if c["cell_type"] == "code"), f"{rel} keeps outputs"
        else:
            lines = [line.strip() for line in text.splitlines()]
        if SOLUTION_LOOKALIKE.search(text):
            leaks.append(f"{rel}: has a solution-marker line")
        if rel.endswith(".ipynb") and ANSWER_LOOKALIKE.search(text):
            leaks.append(f"{rel}: has an answer marker")
        leaks += [f"{rel}: solution line survives: {line}" for line in lines if line in distinctive]
    assert not leaks, "\n".join(leaks[:30])


@pytest.mark.slow
def test_real_release_leaves_out_instructor_files(real_release):
    names = {p.relative_to(real_release).as_posix() for p in real_release.rglob("*") if p.is_file()}
    assert "cs231n/layers.py" in names
    assert not [n for n in names if n.startswith("course/")], "the instructor package must not ship"
    for gone in (".release-exclude", ".ci/run"):
        assert gone not in names
    assert not [n for n in names if "__pycache__" in n or n.startswith(("datasets/cifar-10-batches-py", ".venv"))]


@pytest.mark.slow
def test_real_release_imports_every_module(real_release):
    code = textwrap.dedent("""
        import importlib, pathlib, sys
        root = pathlib.Path(sys.argv[1])
        sys.path.insert(0, str(root))
        import cs231n
        assert pathlib.Path(cs231n.__file__).resolve().is_relative_to(root.resolve()), cs231n.__file__
        for path in sorted((root / "cs231n").rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            importlib.import_module(".".join(parts))
            print(".".join(parts))
    """)
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-I", "-c", code, str(real_release)], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cs231n.layers" in proc.stdout.split()


@pytest.mark.slow
def test_real_release_tests_fail_only_with_not_implemented(real_release, tmp_path):
    assert list((real_release / "tests").glob("test_*.py")), "expected the release to keep the tests"
    report = tmp_path / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
         "-m", "not realdata", "tests"],
        cwd=real_release, capture_output=True, text=True, timeout=900, env=env)
    assert report.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    passed, bad, not_implemented = 0, [], 0
    for case in ET.parse(report).getroot().iter("testcase"):
        problems = [e for e in case if e.tag in ("failure", "error")]
        if not problems:
            passed += not any(e.tag == "skipped" for e in case)
            continue
        # the message starts with the exception ("NotImplementedError: TODO ..."); it must not
        # merely mention it (an assertion message may quote source holding the stubs)
        messages = [e.get("message") or "" for e in problems]
        if all(NOT_IMPLEMENTED.match(m) for m in messages):
            not_implemented += 1
        else:
            bad.append(f"{case.get('classname')}::{case.get('name')}: {(problems[0].get('message') or '')[:300]}")
    assert not bad, "release tests failing for another reason than NotImplementedError:\n" + "\n".join(bad)
    assert not_implemented > 0, "no test reached a student part"
    assert passed > 0, "no test of the given parts passed"


# The released notebooks themselves (stubs, textbook solutions under nbval): test_release_notebooks.py


@pytest.mark.slow
def test_real_release_is_deterministic(real_release, tmp_path):  # the fixture only for its skip
    # a snapshot, so that edits made to the live tree meanwhile cannot interfere
    snapshot = tmp_path / "src"
    shutil.copytree(REPO, snapshot, ignore=shutil.ignore_patterns(
        ".git", ".venv", "datasets", "__pycache__", ".pytest_cache", "release"))
    first, second = (release.build_release(snapshot, use_git=False) for _ in range(2))
    assert first["regions"] > 20
    assert release.zip_bytes(first["files"], "a2") == release.zip_bytes(second["files"], "a2")


@pytest.mark.slow
def test_real_source_markers_are_valid():
    assert release.main(["--check", "--source", str(REPO), "-q", *_real_release_args()]) == 0


# =============================================================================================
# Two editions from one source (issue 12) and hostile markers (issue 15, section 3)
# =============================================================================================

def _release_one(tmp_path, files, capsys=None):
    """Release a tree of ``files`` ({rel: text}) with --no-git; return (exit code, out dir)."""
    src = tmp_path / "src"
    (src / "cs231n").mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    out = tmp_path / "out"
    return run([out, "--source", src, "--no-git", "-q"]), out


@pytest.mark.parametrize("line", [
    "### BEGIN_SOLUTION", "### END_SOLUTION", "# BEGIN-SOLUTION", "# END-SOLUTION",
    "### BEGIN SOLUTIONS", "### END SOLUTIONS", "###BEGIN SOLUTION", "### begin solution",
    "## BEGIN SOLUTION", "### BEGIN INSTRUCTORS", "### BEGIN_INSTRUCTOR", "### BEGIN STUDENT",
    "# <!-- BEGIN ANSWER -->",
])
def test_consistently_mistyped_markers_are_errors(tmp_path, capsys, line):
    # both lines mistyped the same way: before, the pair passed --check and shipped the solution
    end = line.replace("BEGIN", "END").replace("begin", "end")
    body = f"def f():\n    {line}\n    leaked_secret = 1\n    {end}\n    return leaked_secret\n"
    code, out = _release_one(tmp_path, {"cs231n/bad.py": body})
    assert code == 1 and not out.exists()
    err = capsys.readouterr().err
    assert "cs231n/bad.py:2:" in err and ("looks like a marker" in err or "marker in a .py file" in err), err


@pytest.mark.parametrize("rel", ["cs231n/stubs.pyi", "cs231n/fast.pyx", "datasets/get.sh", "NOTES.md",
                                 "requirements.txt", "setup.cfg", "notebooks/extra.txt", "x.toml"])
@pytest.mark.parametrize("marker", ["### BEGIN SOLUTION", "<!-- BEGIN ANSWER -->", "# BEGIN-SOLUTION",
                                    "// END SOLUTION", "### BEGIN INSTRUCTOR"])
def test_marker_lines_in_other_text_files_are_errors(tmp_path, capsys, rel, marker):
    code, out = _release_one(tmp_path, {rel: f"first line\n{marker}\nsecret = 42\n"})
    assert code == 1 and not out.exists()
    err = capsys.readouterr().err
    assert f"{rel}:2: looks like a marker, but the release processes markers only in .py files and notebooks" in err


def test_prose_that_mentions_markers_is_fine_and_binary_files_are_not_scanned(tmp_path):
    files = {"NOTES.md": "Students write between the START and END lines.\nWe begin solutions at noon.\n"}
    code, out = _release_one(tmp_path, files)
    (tmp_path / "src" / "logo.png").write_bytes(b"\x89PNG\0\0### BEGIN SOLUTION\n\xff")
    assert run([tmp_path / "out2", "--source", tmp_path / "src", "--no-git", "-q"]) == 0
    assert code == 0 and (out / "NOTES.md").is_file()
    assert (tmp_path / "out2" / "logo.png").read_bytes().startswith(b"\x89PNG")


def test_region_as_the_first_statement_of_a_function_body(tmp_path):
    body = textwrap.dedent(f'''\
        def f(x):
            {BEGIN}
            return x * 2
            {END}


        def g(a,
              b=1):
            {BEGIN}
            return a + b
            {END}


        class M:
            def loss(self, x):
                {BEGIN}
                return x
                {END}
        ''')
    code, out = _release_one(tmp_path, {"cs231n/first.py": body})
    assert code == 0
    text = (out / "cs231n/first.py").read_text()
    for name in ("f", "g", "M.loss"):
        assert f'raise NotImplementedError("TODO: implement {name} (cs231n/first.py)")' in text
    compile(text, "first.py", "exec")
    # and the region keys of course.regions agree
    from course.regions import read_regions
    assert [r.key for r in read_regions(text, "cs231n/first.py")] == ["f", "g", "M.loss"]


def test_region_in_a_signature_or_a_class_body_is_still_refused(tmp_path, capsys):
    body = f"class A:\n    {BEGIN}\n    x = 1\n    {END}\n\n    def f(self):\n        return 1\n"
    code, _ = _release_one(tmp_path, {"cs231n/bad.py": body})
    assert code == 1 and "solution region outside a function body" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
@pytest.mark.parametrize("use_git", [False, True])
def test_symlinks_are_refused_unless_excluded(tmp_path, capsys, use_git):
    if use_git and shutil.which("git") is None:
        pytest.skip("needs git")
    outside = tmp_path / "outside"
    (outside / "keys").mkdir(parents=True)
    (outside / "keys" / "id_rsa").write_text("PRIVATE KEY\n")
    (outside / "secret.py").write_text("SECRET = 1\n")
    src = make_source(tmp_path / "src")
    os.symlink(outside / "secret.py", src / "cs231n" / "linked.py")
    os.symlink(outside / "keys", src / "notebooks" / "keys")
    if use_git:
        _git(src, "init", "-q")
        _git(src, "add", "-A")
    args = [] if use_git else ["--no-git"]
    assert run([tmp_path / "rel", "--source", src, "-q", *args]) == 1
    err = capsys.readouterr().err
    assert "cs231n/linked.py: is a symbolic link" in err and "notebooks/keys: is a symbolic link" in err
    assert not (tmp_path / "rel").exists()
    # listed in .release-exclude, the links are simply left out (never followed)
    with open(src / ".release-exclude", "a") as f:
        f.write("cs231n/linked.py\nnotebooks/keys/\n")
    if use_git:
        _git(src, "add", "-A")
    assert run([tmp_path / "rel", "--source", src, "-q", *args]) == 0
    names = set(tree_bytes(tmp_path / "rel"))
    assert "cs231n/linked.py" not in names and not [n for n in names if "id_rsa" in n or "keys" in n]


def _tagged(cell, *tags):
    cell["metadata"]["tags"] = list(tags)
    return cell


def test_editions_cells_regions_and_nbval_comments(tmp_path):
    nb = {
        "cells": [
            md_cell(["# Title\n", "\n", "<!-- BEGIN INSTRUCTOR -->\n", "This is the teacher_only text.\n",
                     "<!-- END INSTRUCTOR -->\n", "\n", "<!-- BEGIN STUDENT\n", "**Implement** `f` in `x.py`.\n",
                     "END STUDENT -->\n", "\n", "Shared text."]),
            _tagged(code_cell(["expected = reference_loop(x)\n"]), "instructor"),
            _tagged(code_cell(["correct_out = 3.0\n"]), "student", "keepme"),
            code_cell(["# NBVAL_CHECK_OUTPUT\n", "out = f(1)\n", "### BEGIN INSTRUCTOR\n",
                       "assert out == reference_loop(1)\n", "### END INSTRUCTOR\n", "print(out)"]),
            _tagged(md_cell(["Only for the instructor: hidden_md.\n"]), "instructor"),
            md_cell(["<!-- BEGIN INSTRUCTOR -->\n", "all of it goes\n", "<!-- END INSTRUCTOR -->"]),
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    code, out = _release_one(tmp_path, {"notebooks/N.ipynb": json.dumps(nb)})
    assert code == 0
    text = (out / "notebooks/N.ipynb").read_text()
    cells = json.loads(text)["cells"]
    sources = ["".join(c["source"]) for c in cells]
    assert sources == ["# Title\n\n**Implement** `f` in `x.py`.\n\nShared text.", "correct_out = 3.0\n",
                       "out = f(1)\nprint(out)"]
    assert cells[1]["metadata"] == {"tags": ["keepme"]} and "tags" not in cells[2]["metadata"]
    for gone in ("teacher_only", "reference_loop", "hidden_md", "NBVAL", "INSTRUCTOR", "STUDENT", "all of it"):
        assert gone not in text


@pytest.mark.parametrize("cell, message", [
    (md_cell(["<!-- BEGIN STUDENT\n", "a --> b\n", "END STUDENT -->\n"]), "'-->' inside a student region"),
    (md_cell(["<!-- BEGIN INSTRUCTOR -->\n", "x\n"]), "without a matching"),
    (md_cell(["<!-- BEGIN INSTRUCTOR -->\n", "<!-- BEGIN ANSWER -->\n", "x\n", "<!-- END ANSWER -->\n",
              "<!-- END INSTRUCTOR -->\n"]), "answer region inside the instructor region"),
    (code_cell(["### BEGIN INSTRUCTOR\n", "### BEGIN SOLUTION\n", "x = 1\n", "### END SOLUTION\n",
                "### END INSTRUCTOR\n"]), "solution region inside the instructor region"),
    (code_cell(["<!-- BEGIN STUDENT\n", "x\n", "END STUDENT -->\n"]), "student marker in a code cell"),
    (md_cell(["### BEGIN INSTRUCTOR\n", "x\n", "### END INSTRUCTOR\n"]), "instructor marker in a markdown cell"),
    (_tagged(code_cell(["x = 1\n"]), "Instructor"), "write it in lower case"),
    (_tagged(code_cell(["x = 1\n"]), "instructor", "student"), "cannot be tagged both"),
])
def test_edition_marker_errors(tmp_path, capsys, cell, message):
    nb = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    code, _ = _release_one(tmp_path, {"nb.ipynb": json.dumps(nb)})
    assert code == 1
    assert message in capsys.readouterr().err


def test_instructor_region_in_a_python_file(tmp_path):
    body = f"def f(x):\n    {BEGIN}\n    y = x\n    {END}\n    ### BEGIN INSTRUCTOR\n    assert check_only_here(x)\n    ### END INSTRUCTOR\n    return y\n"
    code, out = _release_one(tmp_path, {"cs231n/m.py": body})
    assert code == 0
    text = (out / "cs231n/m.py").read_text()
    assert "check_only_here" not in text and "INSTRUCTOR" not in text and text.endswith("    return y\n")


def test_student_edition_of_a_file_replaces_it(tmp_path, capsys):
    files = {"README.md": "# Instructor readme\n", "README.student.md": "# Student readme\n",
             "docs/guide.student.txt": "student guide\n", "docs/guide.txt": "instructor guide\n"}
    code, out = _release_one(tmp_path, files)
    assert code == 0
    assert (out / "README.md").read_text() == "# Student readme\n"
    assert (out / "docs/guide.txt").read_text() == "student guide\n"
    assert not (out / "README.student.md").exists() and not (out / "docs/guide.student.txt").exists()
    manifest = (out / ".release-manifest").read_text()
    assert "  README.md\n" in manifest and "student" not in manifest


def test_the_collector_looks_for_the_placeholder_the_release_writes():
    from cs231n import submission
    assert submission.ANSWER_PLACEHOLDER == edition.ANSWER_PLACEHOLDER
