"""Autograder: run the checks of every part of the assignment against a student's tree.

Usage::

    python -m course.grade                  # grade the tree in the current folder
    python -m course.grade path/to/tree     # a filled-in release, or an unpacked submission
    python -m course.grade a2.zip           # a submission zip (unpacked to a temporary folder)
    python -m course.grade --part Q2 --part Q3 -v
    python -m course.grade --list           # the checks and their points, without running them

Parts (100 points): Q1 fully-connected networks (30), Q2 batch normalization (25), Q3 dropout
(15), Q4 convolutional networks (30). The checks (in ``course/grading/``) compare the student's
layers, models and update rules with values worked out by hand and with numerical gradients;
they do not use the instructor's tests or solutions, so students can run them too.

Isolation. Each part runs in its own Python process (``python -I -B``), started in a temporary
folder with TREE first on ``sys.path``; the process checks that ``import cs231n`` really loads
TREE's package (not an installed one) and reports it. Only that process imports the student's
code. Every check has a time limit (``--timeout``, seconds); a check that hangs is stopped and
reported as TIMEOUT (with the stack where it was stuck), one that kills its process (os._exit,
a segfault, running out of the ``--memory-mb`` limit) is reported as CRASH, and the part goes
on with its remaining checks in a fresh process. The student's output is captured and only its
beginning and end are kept. This protects the grader from mistakes, it is not a sandbox against
malicious code.

Statuses: pass; FAIL (a wrong value: the message says which and by how much); ERROR (the code
raised, e.g. NotImplementedError for a part not done yet); TIMEOUT; CRASH. Only pass earns the
check's points.

Exit status: 0 every check passed, 1 some check did not, 2 bad usage (no such tree, no
``cs231n`` package in it).
"""

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

GRADING_DIR = Path(__file__).resolve().parent / "grading"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MEMORY_MB = 4096
OUTPUT_HEAD, OUTPUT_TAIL = 2000, 4000  # characters of student output kept per process
POLL = 0.01


@dataclass
class CheckResult:
    name: str
    title: str
    points: int
    status: str = "not run"  # pass, fail, error, timeout, crash
    message: str = ""
    seconds: float = 0.0

    @property
    def earned(self):
        return self.points if self.status == "pass" else 0


@dataclass
class PartResult:
    key: str
    title: str
    checks: list = field(default_factory=list)
    cs231n: str = ""  # where the student's package was imported from

    @property
    def points(self):
        return sum(c.points for c in self.checks)

    @property
    def earned(self):
        return sum(c.earned for c in self.checks)


# ---------------------------------------------------------------------------------------------
# The checks (loaded without importing any student code)
# ---------------------------------------------------------------------------------------------

_loaded = {}


def load_grading(grading_dir=GRADING_DIR):
    """Load the grading folder as a private package; return ``(PARTS, {module: CHECKS})``."""
    grading_dir = Path(grading_dir).resolve()
    if grading_dir not in _loaded:
        name = f"_cs231n_grading_{len(_loaded)}"
        spec = importlib.util.spec_from_file_location(
            name, grading_dir / "__init__.py", submodule_search_locations=[str(grading_dir)])
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package
        spec.loader.exec_module(package)
        checks = {module: importlib.import_module(f"{name}.{module}").CHECKS for _, _, module in package.PARTS}
        _loaded[grading_dir] = (package.PARTS, checks)
    return _loaded[grading_dir]


# ---------------------------------------------------------------------------------------------
# Running one part in a child process
# ---------------------------------------------------------------------------------------------

class _Output:
    """Drain a pipe in a thread, keeping the first and last characters of what was written."""

    def __init__(self, pipe):
        self.head, self.tail, self.total = "", "", 0
        self._thread = threading.Thread(target=self._drain, args=(pipe,), daemon=True)
        self._thread.start()

    def _drain(self, pipe):
        while True:
            chunk = pipe.read1(65536) if hasattr(pipe, "read1") else pipe.read(65536)
            if not chunk:
                break
            text = chunk.decode("utf-8", errors="replace")
            self.total += len(text)
            if len(self.head) < OUTPUT_HEAD:
                take = OUTPUT_HEAD - len(self.head)
                self.head += text[:take]
                text = text[take:]
            self.tail = (self.tail + text)[-OUTPUT_TAIL:]

    def text(self, wait=2.0):
        self._thread.join(wait)
        if self.total <= OUTPUT_HEAD + OUTPUT_TAIL:
            return self.head + self.tail
        cut = self.total - len(self.head) - len(self.tail)
        return f"{self.head}\n[... {cut} characters of output left out ...]\n{self.tail}"


def _signal_name(returncode):
    if returncode is not None and returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def _kill_group(proc):
    """Kill the child and anything it started (its own process group, see start_new_session)."""
    if hasattr(os, "killpg"):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    else:  # Windows: no process groups to kill, only the child itself
        proc.kill()
    proc.wait()


def _child_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    return env


def _tail(text, limit=1500):
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def run_part(tree, key, title, module, checks, timeout=DEFAULT_TIMEOUT, memory_mb=DEFAULT_MEMORY_MB,
             grading_dir=GRADING_DIR):
    """Run ``checks`` (a part's CHECKS) against ``tree``; return a PartResult.

    One child process runs the checks in order; if it hangs or dies, the check it was running is
    charged with it and a fresh process goes on with the rest.
    """
    tree = Path(tree).resolve()
    results = {c.name: CheckResult(c.name, c.title, c.points) for c in checks}
    part = PartResult(key, title, list(results.values()))
    remaining = [c.name for c in checks]
    runner = Path(grading_dir).resolve() / "_runner.py"
    with tempfile.TemporaryDirectory(prefix="cs231n-grade-") as tmp:
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        attempt = 0
        while remaining:
            attempt += 1
            events_path = Path(tmp) / f"events{attempt}.jsonl"
            events_path.touch()
            cmd = [sys.executable, "-I", "-B", str(runner), str(tree), module, str(events_path),
                   str(timeout), str(memory_mb), *remaining]
            proc = subprocess.Popen(cmd, cwd=workdir, env=_child_env(), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
            output = _Output(proc.stdout)
            ready, current, since = None, None, time.monotonic()
            offset, pending, stop = 0, b"", None
            with open(events_path, "rb") as events:
                while stop is None:
                    exited = proc.poll() is not None
                    pending += events.read()
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        event = json.loads(line)
                        if event["event"] == "ready":
                            ready = event
                            part.cs231n = event.get("cs231n", part.cs231n)
                            since = time.monotonic()
                        elif event["event"] == "start":
                            current, since = event["check"], time.monotonic()
                        elif event["event"] == "end":
                            r = results[event["check"]]
                            r.status, r.message, r.seconds = event["status"], event["message"], event["seconds"]
                            remaining.remove(event["check"])
                            current, since = None, time.monotonic()
                    if ready is not None and "error" in ready:
                        stop = "import"
                    elif exited:
                        stop = "exited"
                    elif time.monotonic() - since > timeout:
                        stop = "timeout"
                    else:
                        time.sleep(POLL)
            _kill_group(proc)
            seconds = round(time.monotonic() - since, 3)
            if stop == "import":
                for name in remaining:
                    results[name].status = "error"
                    results[name].message = f"cannot import the package: {ready['error']}"
                break
            if stop == "timeout":
                if ready is None:
                    for name in remaining:
                        results[name].status = "timeout"
                        results[name].message = f"importing cs231n took more than {timeout:g} s"
                    break
                if current is None:  # between checks: charge the next one
                    current = remaining[0]
                r = results[current]
                r.status, r.seconds = "timeout", seconds
                r.message = f"no result within {timeout:g} s, stopped.\n{_tail(output.text())}"
                remaining.remove(current)
                continue
            # the process ended on its own
            if current is None and remaining:
                current = remaining[0] if ready is not None else None
            if current is None:
                for name in remaining:
                    results[name].status = "crash"
                    results[name].message = (f"the grading process ended ({_signal_name(proc.returncode)}) "
                                             f"before this check.\n{_tail(output.text())}")
                break
            r = results[current]
            r.status, r.seconds = "crash", seconds
            r.message = (f"the process died while running this check ({_signal_name(proc.returncode)}).\n"
                         f"{_tail(output.text())}")
            remaining.remove(current)
    return part


# ---------------------------------------------------------------------------------------------
# Trees and zips
# ---------------------------------------------------------------------------------------------

def find_package_root(folder):
    """The folder holding ``cs231n/`` at or one level below ``folder`` (zips may add a top folder)."""
    folder = Path(folder)
    if (folder / "cs231n" / "__init__.py").is_file():
        return folder
    below = [d for d in sorted(folder.iterdir()) if d.is_dir() and (d / "cs231n" / "__init__.py").is_file()]
    return below[0] if len(below) == 1 else None


def unpack_zip(path, dest):
    """Extract a submission zip into ``dest``, refusing absolute paths and '..'."""
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            parts = PurePosixPath(info.filename).parts
            if info.filename.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
                raise ValueError(f"unsafe path in {path}: {info.filename!r}")
        zf.extractall(dest)


def grade_tree(tree, parts=None, timeout=DEFAULT_TIMEOUT, memory_mb=DEFAULT_MEMORY_MB, grading_dir=GRADING_DIR):
    """Grade ``tree`` (a folder with a ``cs231n`` package); return the list of PartResults.

    ``parts``: keys to run (e.g. ``["Q1"]``), default all.
    """
    all_parts, checks = load_grading(grading_dir)
    selected = [p for p in all_parts if parts is None or p[0] in parts]
    return [run_part(tree, key, title, module, checks[module], timeout, memory_mb, grading_dir)
            for key, title, module in selected]


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

LABELS = {"pass": "pass", "fail": "FAIL", "error": "ERROR", "timeout": "TIMEOUT", "crash": "CRASH",
          "not run": "NOT RUN"}
WIDTH = 100


def format_report(tree, results, verbose=False):
    lines = [f"Grading {tree}"]
    sources = sorted({p.cs231n for p in results if p.cs231n})
    lines += [f"  cs231n imported from {s}" for s in sources]
    for part in results:
        score = f"{part.earned}/{part.points}"
        lines += ["", f"{part.key}  {part.title}".ljust(WIDTH - len(score)) + score]
        for c in part.checks:
            lines.append(f"    {LABELS[c.status]:<8}{c.earned:>3}/{c.points:<3} {c.title}")
            if c.status != "pass" and c.message:
                msg = c.message.splitlines()
                if not verbose and len(msg) > 8:
                    msg = msg[:3] + [f"[... {len(msg) - 6} lines; -v shows all ...]"] + msg[-3:]
                lines += [f"                   {m}" for m in msg]
    earned, points = sum(p.earned for p in results), sum(p.points for p in results)
    total = f"{earned}/{points}"
    lines += ["", "TOTAL".ljust(WIDTH - len(total)) + total]
    return "\n".join(lines)


def to_json(tree, results):
    return {
        "tree": str(tree),
        "earned": sum(p.earned for p in results),
        "points": sum(p.points for p in results),
        "parts": [{"key": p.key, "title": p.title, "cs231n": p.cs231n, "earned": p.earned, "points": p.points,
                   "checks": [{**asdict(c), "earned": c.earned} for c in p.checks]} for p in results],
    }


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m course.grade",
        description="Grade a student's tree: run the checks of Q1-Q4 in separate processes with a "
                    "time limit and print a per-part table of points.",
        epilog="Exit status: 0 every check passed, 1 some check did not, 2 bad usage.")
    parser.add_argument("tree", nargs="?", default=".",
                        help="folder holding the cs231n package, or a submission .zip (default: .)")
    parser.add_argument("--part", action="append", metavar="Q", help="grade only this part (repeatable)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds allowed per check (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB,
                        help=f"address-space limit of the grading processes, 0 for none (default {DEFAULT_MEMORY_MB})")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument("--list", action="store_true", help="list the checks and their points, run nothing")
    parser.add_argument("-v", "--verbose", action="store_true", help="show messages in full")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    all_parts, checks = load_grading()
    keys = [p[0] for p in all_parts]
    if args.part:
        unknown = [p for p in args.part if p.upper() not in keys]
        if unknown:
            print(f"error: unknown part(s) {', '.join(unknown)}; choose from {', '.join(keys)}", file=sys.stderr)
            return 2
        args.part = [p.upper() for p in args.part]
    if args.list:
        for key, title, module in all_parts:
            if args.part is None or key in args.part:
                print(f"{key}  {title} ({sum(c.points for c in checks[module])} points)")
                for c in checks[module]:
                    print(f"    {c.points:>2}  {c.title}")
        return 0
    if args.timeout <= 0:
        print(f"error: --timeout must be positive, got {args.timeout}", file=sys.stderr)
        return 2
    path = Path(args.tree)
    with tempfile.TemporaryDirectory(prefix="cs231n-submission-") as tmp:
        if path.is_file() and path.suffix.lower() == ".zip":
            try:
                unpack_zip(path, tmp)
            except (zipfile.BadZipFile, ValueError, OSError) as exc:
                print(f"error: cannot unpack {path}: {exc}", file=sys.stderr)
                return 2
            root = find_package_root(tmp)
        elif path.is_dir():
            root = find_package_root(path)
        else:
            print(f"error: {path} is neither a folder nor a .zip", file=sys.stderr)
            return 2
        if root is None:
            print(f"error: no cs231n package (cs231n/__init__.py) in {path}", file=sys.stderr)
            return 2
        results = grade_tree(root, args.part, args.timeout, args.memory_mb)
    print(format_report(path.resolve(), results, args.verbose))
    if args.json:
        Path(args.json).write_text(json.dumps(to_json(path.resolve(), results), indent=1) + "\n", encoding="utf-8")
    return 0 if all(c.status == "pass" for p in results for c in p.checks) else 1


if __name__ == "__main__":
    sys.exit(main())
