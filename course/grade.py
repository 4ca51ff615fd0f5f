"""Autograder: grade a student's submission (a zip or a folder) with the public and hidden checks.

Usage::

    python -m course.grade a2.zip                # a submission zip
    python -m course.grade path/to/tree          # a filled-in release, or an unpacked submission
    python -m course.grade a2.zip --release REL  # restore given code from the release folder REL
    python -m course.grade --part Q2 -v a2.zip
    python -m course.grade --list                # the checks, their points and visibility

Checks. Public checks (``cs231n/selfcheck/checks/``, visibility "visible") ship with the release
so students can run them (``python -m cs231n.selfcheck``); hidden checks (``course/grading/``,
"hidden" or "after_due_date") stay here: other shapes and values, edge cases. Every check has
points and a visibility as Gradescope defines them.

Only the student's code counts. The submission's ``cs231n`` files are rebuilt from the pristine
release (built from this source on the fly, or ``--release``): every given file and every line
outside the START/END OF YOUR CODE lines comes from the release, the student's region bodies are
pasted in (``course.regions``). Edits outside the regions, missing files, damaged markers and
extra files are reported as problems, not graded.

Verdicts are decided here. The student's code runs in a child process (sandboxed where the
machine allows it: see ``course/sandbox.py``) that only evaluates the student's functions on
inputs this process chooses and sends back their outputs over a bounded, validated channel;
this process computes the expected values (hand-worked values, the instructor's own package,
numerical gradients from values the child returns) and the verdicts. Statuses: pass; FAIL
(wrong value); ERROR (the code raised, e.g. NotImplementedError); TIMEOUT; CRASH (the process
died or broke the protocol). Only pass earns the check's points.

Exit status: 0 every check passed, 1 some check did not, 2 bad usage (no such path, no
``cs231n`` package, unreadable zip).
"""

import argparse
import hashlib
import importlib
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cs231n.selfcheck import CHECKS_DIR as PUBLIC_DIR
from cs231n.selfcheck import engine, remote

from . import sandbox
from .submission_files import SubmissionError, find_package_root, restore_package, unpack_zip

REPO = Path(__file__).resolve().parents[1]
HIDDEN_DIR = Path(__file__).resolve().parent / "grading"
GRADING_DIR = HIDDEN_DIR  # the instructor's checks folder (old name)
DEFAULT_TIMEOUT = 30.0
DEFAULT_MEMORY_MB = 4096
CheckResult = engine.CheckResult


@dataclass
class PartResult:
    key: str
    title: str
    checks: list = field(default_factory=list)
    cs231n: str = ""  # where the student's package was imported from (in the child)

    @property
    def points(self):
        return sum(c.points for c in self.checks)

    @property
    def earned(self):
        return sum(c.earned for c in self.checks)


@dataclass
class SubmissionResult:
    path: str
    checks: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    parts: list = field(default_factory=list)
    isolation: str = ""
    cs231n: str = ""
    seconds: float = 0.0

    @property
    def earned(self):
        return sum(c.earned for c in self.checks)

    @property
    def possible(self):
        return sum(c.points for c in self.checks)

    def to_dict(self):
        return {"path": self.path, "earned": self.earned, "possible": self.possible, "problems": list(self.problems),
                "isolation": self.isolation, "cs231n": self.cs231n, "seconds": self.seconds,
                "checks": [c.to_dict() for c in self.checks]}


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------

def load_checks(dirs=None, parts=None, visibility=None):
    """``[(part, part title, Check)]`` from the public and hidden folders, grouped by part."""
    dirs = [PUBLIC_DIR, HIDDEN_DIR] if dirs is None else dirs
    found = [item for d in dirs for item in engine.load_checks(d)]
    order = list(dict.fromkeys(k for k, _, _ in found))
    found.sort(key=lambda item: order.index(item[0]))  # stable: public before hidden within a part
    if parts:
        found = [item for item in found if item[0] in parts]
    if visibility:
        found = [item for item in found if item[2].visibility in visibility]
    return found


def load_grading(grading_dir=None):
    """``(PARTS, {part: checks})`` as the old API had it: PARTS = ((key, title, key), ...)."""
    found = load_checks(None if grading_dir is None else [grading_dir])
    parts = tuple(dict.fromkeys((k, t, k) for k, t, _ in found))
    return parts, {k: [c for kk, _, c in found if kk == k] for k, _, _ in parts}


def reference(module):
    """The instructor's module (this source tree's ``cs231n``), trusted, in this process."""
    return importlib.import_module(f"cs231n.{module}")


# ---------------------------------------------------------------------------------------------
# Grading
# ---------------------------------------------------------------------------------------------

def _runner_copy(scratch):
    runner = scratch / "runner"
    runner.mkdir()
    for name in ("_child.py", "_protocol.py"):
        shutil.copyfile(remote.CHILD.with_name(name), runner / name)
    return runner


def _group(checks, results, location):
    parts = {}
    for (key, title, _), r in zip(checks, results):
        parts.setdefault(key, PartResult(key, title, [], location)).checks.append(r)
    return list(parts.values())


def run_tree(tree, scratch, checks, timeout=DEFAULT_TIMEOUT, memory_mb=DEFAULT_MEMORY_MB, isolation="auto",
             total_timeout=None, use_reference=True):
    """Run ``checks`` against the package at ``tree/cs231n`` (already restored); (results, sandbox, location)."""
    scratch = Path(scratch)
    runner = _runner_copy(scratch)
    sandbox.make_readable(runner)
    box = sandbox.Sandbox(scratch, readonly=[tree, runner], memory_mb=memory_mb,
                          cpu_seconds=max(60, int(timeout * 4)), level="none" if isolation == "none" else None)
    locations = []

    def start():
        session = remote.Session(tree, launcher=box, workdir=scratch / "work", child=runner / "_child.py")
        session.start(timeout=max(timeout, 20.0))
        locations.append(session.location)
        return session

    results = engine.run_checks(checks, start, timeout, reference if use_reference else None, total_timeout)
    return results, box, (locations[0] if locations else "")


class _Interrupted(BaseException):
    pass


def _on_term(signum, frame):
    raise _Interrupted(f"signal {signum}")


def _with_signals(func):
    """Run ``func`` with SIGTERM turned into an exception (main thread only), so that the
    ``finally`` blocks kill the student's processes and remove the scratch folders."""
    if threading.current_thread() is not threading.main_thread():
        return func()
    old = signal.signal(signal.SIGTERM, _on_term)
    try:
        return func()
    except _Interrupted:
        raise KeyboardInterrupt("terminated") from None
    finally:
        signal.signal(signal.SIGTERM, old)


def grade_tree(tree, parts=None, timeout=DEFAULT_TIMEOUT, memory_mb=DEFAULT_MEMORY_MB, grading_dir=None,
               isolation="auto", checks_dirs=None, use_reference=True):
    """Grade the package at ``tree/cs231n`` as it is (no restoring from the release); list of PartResults.

    ``grading_dir``: one checks folder instead of the public and hidden ones.
    """
    checks = load_checks(checks_dirs or ([grading_dir] if grading_dir else None), parts)
    tree = Path(tree).resolve()

    def work():
        scratch = Path(tempfile.mkdtemp(prefix="cs231n-grade-"))
        try:
            sub = scratch / "sub"
            shutil.copytree(tree / "cs231n", sub / "cs231n", symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            sandbox.make_readable(sub)
            results, _, location = run_tree(sub, scratch, checks, timeout, memory_mb, isolation,
                                            use_reference=use_reference)
            return _group(checks, results, location)
        finally:
            sandbox.remove_tree(scratch)
    return _with_signals(work)


_releases = {}


def load_release(release=None):
    """The pristine release's files ``{relative path: bytes}``: built from this source
    (``course.release.build_release``) or read from a release folder (checked against its manifest)."""
    key = str(Path(release).resolve()) if release else ""
    if key in _releases:
        return _releases[key]
    if release is None:
        from .release import build_release
        built = build_release(REPO, include_untracked=True)
        files = {rel: data for rel, (data, _) in built["files"].items()}
    else:
        root = Path(release)
        manifest = root / ".release-manifest"
        if not manifest.is_file():
            raise SubmissionError(f"{root} is not a release folder (no .release-manifest)")
        files = {}
        for line in manifest.read_text(encoding="utf-8").splitlines():
            digest, rel = line.split("  ", 1)
            data = (root / rel).read_bytes()
            if hashlib.sha256(data).hexdigest() != digest:
                raise SubmissionError(f"{root / rel} differs from the release manifest")
            files[rel] = data
    _releases[key] = files
    return files


def grade_path(path, release=None, parts=None, visibility=None, timeout=DEFAULT_TIMEOUT,
               memory_mb=DEFAULT_MEMORY_MB, isolation="auto", total_timeout=None, checks_dirs=None):
    """Grade one submission (a ``.zip`` or a folder) and return a ``SubmissionResult``.

    The student's ``cs231n`` regions are pasted into the pristine release (``release``: a release
    folder, default built from this source); problems with the submission (unreadable zip, edits
    outside the regions, damaged markers, isolation not available) go to ``.problems`` and never
    raise. ``visibility``: the visibilities to run (default all).
    """
    path = Path(path)
    checks = load_checks(checks_dirs, parts, visibility)
    result = SubmissionResult(str(path))
    began = time.monotonic()

    def fail_all(message):
        result.checks = [CheckResult(c.name, c.title, c.points, k, c.visibility, "error", message)
                         for k, _, c in checks]

    def work():
        scratch = Path(tempfile.mkdtemp(prefix="cs231n-grade-"))
        try:
            if path.is_file() and path.suffix.lower() == ".zip":
                unpack_zip(path, scratch / "in", result.problems)
                root = find_package_root(scratch / "in")
            elif path.is_dir():
                root = find_package_root(path)
            else:
                raise SubmissionError(f"{path} is neither a folder nor a .zip file")
            if root is None:
                raise SubmissionError("no cs231n package (cs231n/__init__.py) in the submission")
            pristine = load_release(release)
            sub = scratch / "sub"
            result.problems += restore_package(root, pristine, sub)
            sandbox.make_readable(sub)
            results, box, location = run_tree(sub, scratch, checks, timeout, memory_mb, isolation, total_timeout)
            result.checks, result.cs231n = results, location
            result.isolation = box.level
            result.problems += box.problems
        except SubmissionError as exc:
            result.problems.append(str(exc))
            fail_all(f"not graded: {exc}")
        finally:
            sandbox.remove_tree(scratch)

    _with_signals(work)
    result.parts = _group(checks, result.checks, result.cs231n)
    result.seconds = round(time.monotonic() - began, 3)
    return result


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

LABELS = {"pass": "pass", "fail": "FAIL", "error": "ERROR", "timeout": "TIMEOUT", "crash": "CRASH",
          "not run": "NOT RUN"}
VIS = {"visible": "", "after_due_date": " (after due date)", "hidden": " (hidden)"}
WIDTH = 100


def format_report(tree, results, verbose=False, problems=()):
    lines = [f"Grading {tree}"]
    sources = sorted({p.cs231n for p in results if p.cs231n})
    lines += [f"  cs231n imported from {s}" for s in sources]
    lines += [f"  problem: {p}" for p in problems]
    for part in results:
        score = f"{part.earned}/{part.points}"
        lines += ["", f"{part.key}  {part.title}".ljust(WIDTH - len(score)) + score]
        for c in part.checks:
            lines.append(f"    {LABELS[c.status]:<8}{c.earned:>3}/{c.points:<3} {c.title}{VIS.get(c.visibility, '')}")
            if c.status != "pass" and c.message:
                msg = c.message.splitlines()
                if not verbose and len(msg) > 8:
                    msg = msg[:3] + [f"[... {len(msg) - 6} lines; -v shows all ...]"] + msg[-3:]
                lines += [f"                   {m}" for m in msg]
    earned, points = sum(p.earned for p in results), sum(p.points for p in results)
    total = f"{earned}/{points}"
    lines += ["", "TOTAL".ljust(WIDTH - len(total)) + total]
    return "\n".join(lines)


def to_json(tree, results, problems=()):
    return {
        "tree": str(tree),
        "earned": sum(p.earned for p in results),
        "points": sum(p.points for p in results),
        "problems": list(problems),
        "parts": [{"key": p.key, "title": p.title, "cs231n": p.cs231n, "earned": p.earned, "points": p.points,
                   "checks": [c.to_dict() for c in p.checks]} for p in results],
    }


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m course.grade",
        description="Grade a student's submission with the public and hidden checks: the student's code "
                    "runs in a sandboxed child process, the verdicts are decided here.",
        epilog="Exit status: 0 every check passed, 1 some check did not, 2 bad usage.")
    parser.add_argument("tree", nargs="?", default=".",
                        help="a submission .zip or a folder holding the cs231n package (default: .)")
    parser.add_argument("--release", metavar="DIR", help="the pristine release folder (default: built from this source)")
    parser.add_argument("--as-is", action="store_true",
                        help="grade the tree as it is, without restoring given code from the release")
    parser.add_argument("--part", action="append", metavar="Q", help="grade only this part (repeatable)")
    parser.add_argument("--public-only", action="store_true", help="run only the public (visible) checks")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds allowed per check (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB,
                        help=f"address-space limit of the student's process (default {DEFAULT_MEMORY_MB})")
    parser.add_argument("--no-sandbox", action="store_true", help="run the student's code without namespaces")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument("--list", action="store_true", help="list the checks and their points, run nothing")
    parser.add_argument("-v", "--verbose", action="store_true", help="show messages in full")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    all_checks = load_checks()
    keys = list(dict.fromkeys(k for k, _, _ in all_checks))
    if args.part:
        unknown = [p for p in args.part if p.upper() not in keys]
        if unknown:
            print(f"error: unknown part(s) {', '.join(unknown)}; choose from {', '.join(keys)}", file=sys.stderr)
            return 2
        args.part = [p.upper() for p in args.part]
    if args.list:
        for key in keys:
            if args.part is None or key in args.part:
                mine = [c for k, _, c in all_checks if k == key]
                title = next(t for k, t, _ in all_checks if k == key)
                print(f"{key}  {title} ({sum(c.points for c in mine)} points)")
                for c in mine:
                    print(f"    {c.points:>2}  {c.title}{VIS[c.visibility]}")
        return 0
    if not args.timeout > 0 or args.timeout == float("inf"):
        print(f"error: --timeout must be a positive number, got {args.timeout}", file=sys.stderr)
        return 2
    path = Path(args.tree)
    if not (path.is_dir() or (path.is_file() and path.suffix.lower() == ".zip")):
        print(f"error: {path} is neither a folder nor a .zip", file=sys.stderr)
        return 2
    if path.is_dir() and find_package_root(path) is None:
        print(f"error: no cs231n package (cs231n/__init__.py) in {path}", file=sys.stderr)
        return 2
    isolation = "none" if args.no_sandbox else "auto"
    visibility = ("visible",) if args.public_only else None
    if args.as_is:
        results = grade_tree(find_package_root(path), args.part, args.timeout, args.memory_mb, isolation=isolation)
        problems = []
    else:
        try:
            sub = grade_path(path, args.release, args.part, visibility, args.timeout, args.memory_mb, isolation)
        except SubmissionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        results, problems = sub.parts, sub.problems
        if not sub.cs231n and any(p.startswith(("cannot unpack", "unsafe", "not a zip")) for p in problems):
            print(f"error: cannot unpack {path}: {'; '.join(problems)}", file=sys.stderr)
            return 2
    print(format_report(path.resolve(), results, args.verbose, problems))
    if args.json:
        Path(args.json).write_text(json.dumps(to_json(path.resolve(), results, problems), indent=1) + "\n",
                                   encoding="utf-8")
    return 0 if all(c.status == "pass" for p in results for c in p.checks) else 1


if __name__ == "__main__":
    sys.exit(main())
