"""Shared by the grader tests: one untouched release per test session, and submissions made
from it with chosen region bodies (the attacks live in the student's regions, where a real
submission puts its code)."""

import atexit
import shutil
import tempfile
import textwrap
from functools import lru_cache
from pathlib import Path

from course import release
from course.regions import fill_regions

REPO = Path(__file__).resolve().parents[2]


@lru_cache(maxsize=1)
def untouched_release():
    """A student release of this source, built once (removed at exit)."""
    base = Path(tempfile.mkdtemp(prefix="cs231n-test-release-"))
    atexit.register(shutil.rmtree, base, True)
    out = base / "release"
    assert release.main([str(out), "--source", str(REPO), "-q", "--include-untracked"]) == 0
    return out


def submission(dest, regions=None, files=None):
    """A copy of the untouched release's ``cs231n`` in ``dest`` with region bodies filled in
    (``{path: {key: code}}``) and extra or replaced files (``{path: text}``)."""
    dest = Path(dest)
    shutil.copytree(untouched_release() / "cs231n", dest / "cs231n")
    for rel, bodies in (regions or {}).items():
        path = dest / rel
        path.write_text(fill_regions(path.read_text(), rel, {k: textwrap.dedent(v) for k, v in bodies.items()}))
    for rel, text in (files or {}).items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(textwrap.dedent(text))
    return dest


def attack(dest, code, key="affine_forward"):
    """A submission whose ``affine_forward`` (or ``key``) region runs ``code``."""
    return submission(dest, {"cs231n/layers.py": {key: code}})


TINY = '''
from cs231n.selfcheck.checks.q1_fully_connected import CHECKS as ALL

PART = ("Q1", "Fully-connected networks")
CHECKS = [c for c in ALL if c.name in ("affine_forward_values", "affine_backward_gradients", "relu_forward_values")]
'''


@lru_cache(maxsize=1)
def tiny_checks():
    """A checks folder with three public Q1 checks (attack tests need few checks to be quick)."""
    base = Path(tempfile.mkdtemp(prefix="cs231n-test-checks-"))
    atexit.register(shutil.rmtree, base, True)
    (base / "q1_tiny.py").write_text(TINY)
    return base


def instructor_bodies(rel):
    """The instructor's solution bodies of ``rel``, in file order (dedented)."""
    lines = (REPO / rel).read_text().splitlines(keepends=True)
    bodies, start = [], None
    for i, line in enumerate(lines):
        if line.strip() == "### BEGIN SOLUTION":
            start = i
        elif line.strip() == "### END SOLUTION":
            bodies.append(textwrap.dedent("".join(lines[start + 1:i])))
    return bodies


def solved(dest, overrides=None):
    """The untouched release with every region of ``cs231n/`` filled with the instructor's own
    solution (by position), plus ``overrides`` ({path: {key: code}}): a full-marks submission."""
    from course.regions import read_regions
    dest = submission(dest)
    for path in sorted((dest / "cs231n").rglob("*.py")):
        rel = path.relative_to(dest).as_posix()
        text = path.read_text()
        regions = read_regions(text, rel)
        if not regions:
            continue
        bodies = dict(zip([r.key for r in regions], instructor_bodies(rel)))
        bodies.update({k: textwrap.dedent(v) for k, v in (overrides or {}).get(rel, {}).items()})
        path.write_text(fill_regions(text, rel, bodies))
    return dest
