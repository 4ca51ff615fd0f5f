"""Instructor-only: the textbook student solutions (course.textbook) pasted into a fresh release.

- SOLUTIONS: the release's own tests pass and the grader gives full marks.
- VARIANTS (other correct solutions): the release's tests of what they touch pass.
- MUTANTS (known-wrong solutions): the release's tests of the function they break fail.

Each run uses the release's own tests/ in a child process, with the release first on sys.path.
"""

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from course import release
from course.textbook import package, paste

REPO = Path(__file__).resolve().parents[2]

# The release's tests that exercise each student file.
TESTS_OF = {
    package.LAYERS: ["tests/test_layers.py", "tests/test_layers_bad_input.py"],
    package.NORM: ["tests/test_normalization.py"],
    package.OPTIM: ["tests/test_optim.py"],
    package.FC: ["tests/test_models.py"],
    package.CNN: ["tests/test_models.py"],
}
# The release's tests that run student code (directly, or through the fast layers, sandwich layers,
# models and Solver). The other files (data, download, submission, vis_utils) test given code only
# and are run on the release by course/tests/test_release.py.
STUDENT_CODE_TESTS = [
    "tests/test_layers.py", "tests/test_layers_bad_input.py", "tests/test_normalization.py",
    "tests/test_optim.py", "tests/test_models.py", "tests/test_layer_utils.py",
    "tests/test_fast_layers.py", "tests/test_solver.py",
]
# A -k expression that narrows a mutant's run to the tests of the function it breaks (speed only:
# the run must still fail).
KEYWORDS = {
    "conv_backward_naive": "conv", "conv_forward_naive": "conv", "max_pool_backward_naive": "pool",
    "relu_backward": "relu", "affine_backward": "affine", "dropout_forward": "dropout",
    "batchnorm_forward": "batchnorm or running", "batchnorm_backward": "batchnorm",
    "layernorm_forward": "layernorm", "spatial_groupnorm_forward": "groupnorm",
    "spatial_batchnorm_forward": "spatial", "sgd_momentum": "momentum", "rmsprop": "rmsprop",
    "adam": "adam", "FullyConnectedNet.loss": "fc and (reg or gradients) and not dropout",
    "TwoLayerNet.__init__": "two_layer", "ThreeLayerConvNet.loss": "reg",
}


def _release_args():
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True)
    return [] if tracked.returncode == 0 and tracked.stdout.strip() else ["--include-untracked"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A fresh release of this tree, without the solutions pasted."""
    out = tmp_path_factory.mktemp("textbook") / "release"
    args = [str(out), "--source", str(REPO), "-q", *_release_args()]
    if not (REPO / ".git").exists() or subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True).stdout.strip():
        args.append("--include-untracked")  # uncommitted work counts too
    assert release.main(args) == 0
    return out


def _tree(pristine, tmp_path, overrides=None):
    tree = tmp_path / "a2"
    shutil.copytree(pristine, tree)
    paste(tree, overrides=overrides, include_notebooks=False)
    return tree


def run_release_tests(tree, files=("tests",), keyword=None, first_failure=False):
    """Run the release's tests in a child process; return {test id: outcome}."""
    report = tree / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(tree))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
           "-m", "not realdata and not slow", *files]
    if keyword:
        cmd += ["-k", keyword]
    if first_failure:
        cmd.append("-x")
    proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, timeout=600, env=env)
    assert report.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = {e.tag for e in case}
        outcome = ("failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed")
        outcomes[f"{case.get('classname')}::{case.get('name')}"] = (outcome, [
            (e.get("message") or "")[:300] for e in case if e.tag in ("failure", "error")])
    return outcomes, proc


def _failed(outcomes):
    return {k: msgs for k, (outcome, msgs) in outcomes.items() if outcome == "failed"}


def _files_of(overrides):
    return sorted({f for path in overrides for f in TESTS_OF[path]})


@pytest.mark.slow
def test_solutions_cover_every_region(pristine):
    from course.regions import read_regions
    missing = []
    for rel in TESTS_OF:
        keys = {r.key for r in read_regions((pristine / rel).read_text(), rel)}
        missing += [f"{rel}:{k}" for k in sorted(keys - set(package.SOLUTIONS[rel]))]
        assert set(package.SOLUTIONS[rel]) <= keys, rel
    assert not missing, "regions without a textbook solution: " + ", ".join(missing)


@pytest.mark.slow
def test_release_tests_pass_with_the_textbook_solutions(pristine, tmp_path):
    tree = _tree(pristine, tmp_path)
    outcomes, proc = run_release_tests(tree, STUDENT_CODE_TESTS)
    assert not _failed(outcomes), "\n".join(f"{k}: {m}" for k, m in _failed(outcomes).items())
    passed = sum(outcome == "passed" for outcome, _ in outcomes.values())
    assert passed > 500, proc.stdout[-2000:]


@pytest.mark.slow
def test_grader_gives_full_marks_to_the_textbook_solutions(pristine, tmp_path):
    from course import grade
    tree = _tree(pristine, tmp_path)
    results = grade.grade_tree(tree)
    earned, possible = sum(p.earned for p in results), sum(p.points for p in results)
    lost = [f"{c.name}: {c.status} {c.message[:200]}" for p in results for c in p.checks if c.status != "pass"]
    assert (earned, possible) == (100, 100), "\n".join(lost)


def _variant_batches():
    """The variants in as few batches as possible, no two in a batch touching the same region."""
    batches = []
    for name, overrides in sorted(package.VARIANTS.items()):
        for batch in batches:
            if not any(set(batch[1].get(rel, {})) & set(bodies) for rel, bodies in overrides.items()):
                break
        else:
            batch = ([], {})
            batches.append(batch)
        batch[0].append(name)
        for rel, bodies in overrides.items():
            batch[1].setdefault(rel, {}).update(bodies)
    return batches


@pytest.mark.slow
@pytest.mark.parametrize("names, overrides", _variant_batches(), ids=lambda v: "+".join(v) if isinstance(v, list) else "")
def test_every_variant_passes_the_tests_it_touches(pristine, tmp_path, names, overrides):
    tree = _tree(pristine, tmp_path, overrides)
    outcomes, _ = run_release_tests(tree, _files_of(overrides))
    assert not _failed(outcomes), "\n".join(f"{k}: {m}" for k, m in _failed(outcomes).items())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(package.MUTANTS))
def test_every_mutant_fails_the_tests_of_what_it_breaks(pristine, tmp_path, name):
    overrides, breaks = package.MUTANTS[name]
    tree = _tree(pristine, tmp_path, overrides)
    outcomes, proc = run_release_tests(tree, _files_of(overrides), KEYWORDS.get(breaks), first_failure=True)
    failed = _failed(outcomes)
    assert failed, f"mutant {name} ({breaks}) passes the release's tests:\n{proc.stdout[-1500:]}"
    # it fails for its maths, not because the file no longer imports
    assert not any("SyntaxError" in m or "ImportError" in m for msgs in failed.values() for m in msgs)
