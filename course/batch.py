"""Grade a whole class: one CSV gradebook and one feedback file per student.

Usage::

    python -m course.batch SUBMISSIONS_DIR OUT_DIR [--jobs 2] [--check-timeout 20]
        [--submission-timeout 300] [--memory-mb 2048] [--notebook-config items.json]
        [--release DIR] [--id-regex REGEX] [--overwrite]

SUBMISSIONS_DIR holds one entry per student: ``<id>.zip`` or a folder ``<id>/`` (the student id
is the file or folder name without ``.zip``; ``--id-regex`` takes it from group 1 of a regular
expression instead, e.g. ``'^(\\w+?)_'`` for LMS exports). Hidden files are ignored.

Each submission is graded in its own worker process (``--jobs`` at a time): the worker copies the
submission into a scratch folder within bounds (``course.submissions``: broken, empty, oversized
and malicious zips are refused with the reason), grades it with ``course.grade.grade_path``
(per-check time limit ``--check-timeout``, memory limit ``--memory-mb``) and reads its notebooks
(``course.notebook_report``). A worker that exceeds ``--submission-timeout`` is killed with every
process it started (the worker is a child subreaper on Linux, so even double-forked processes are
found). Whatever happens to one submission becomes its row (``status`` and ``problems``), never
a crash of the run. Ctrl-C stops the workers and removes the scratch folders.

OUT_DIR receives (and nothing is written anywhere else but scratch folders, removed at the end):

- ``gradebook.csv``: one row per student: ``student``, ``status`` (graded / not graded),
  ``total``, ``possible``, ``percent``, ``autograder``, ``notebooks``, ``flags`` (notebook items
  to review), ``problems``, then one column per check (``Q1.affine_forward_values``: the points
  earned) and per graded notebook item.
- ``columns.csv``: every check and item column with its title, maximum points and visibility.
- ``results.json``: everything (check statuses and messages, notebook facts, timings).
- ``feedback/<student>.html``: every check with its points and message (``--hide-hidden-checks``:
  the hidden ones only as one line with their total), the notebook items and the problems;
  student-controlled text is escaped.

Exit status: 0 done (whatever the grades), 2 bad usage.
"""

import argparse
import inspect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import notebook_report
from .gradebook import summarize, write_outputs
from .submissions import Limits, SubmissionError, materialize

REPO = Path(__file__).resolve().parents[1]
OUT_MARKER = ".gradebook"
DEFAULTS = {"check_timeout": 20.0, "submission_timeout": 300.0, "memory_mb": 2048}


# ---------------------------------------------------------------------------------------------
# Grading one submission (in the worker process)
# ---------------------------------------------------------------------------------------------

def grade_root(root, check_timeout, memory_mb, release=None, total_timeout=None):
    """Grade the tree at ``root`` with the grader; return a plain dict (checks, problems).

    Uses ``course.grade.grade_path`` (the grader's public API; ``release``: the pristine release
    folder, ``total_timeout``: seconds for the whole submission); falls back on ``grade_tree``
    for a grader that does not have it.
    """
    from . import grade
    if hasattr(grade, "grade_path"):
        params = inspect.signature(grade.grade_path).parameters
        limits = {"timeout": check_timeout, "memory_mb": memory_mb, "release": release,
                  "total_timeout": total_timeout}
        accepts_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
        result = grade.grade_path(root, **{k: v for k, v in limits.items() if accepts_any or k in params})
        checks = [{"id": f"{getattr(c, 'part', '') or ''}.{c.name}".lstrip("."), "name": c.name,
                   "title": getattr(c, "title", c.name), "part": getattr(c, "part", ""),
                   "points": float(c.points), "earned": float(c.points if c.status == "pass" else 0),
                   "status": c.status, "message": str(getattr(c, "message", "") or ""),
                   "visibility": getattr(c, "visibility", "visible")} for c in result.checks]
        return {"checks": checks, "problems": [str(p) for p in getattr(result, "problems", [])]}
    parts = grade.grade_tree(root, timeout=check_timeout, memory_mb=memory_mb)
    checks = [{"id": f"{p.key}.{c.name}", "name": c.name, "title": c.title, "part": p.key,
               "points": float(c.points), "earned": float(c.earned), "status": c.status,
               "message": c.message, "visibility": "visible"} for p in parts for c in p.checks]
    return {"checks": checks, "problems": []}


def grade_one(submission, scratch, options):
    """Everything about one submission, as a JSON-ready dict (run in the worker)."""
    started = time.monotonic()
    row = {"submission": str(submission), "checks": [], "notebook_items": [], "problems": [], "notes": []}
    try:
        sub = materialize(submission, scratch, Limits(**options.get("limits", {})))
        row["notes"] = sub.notes
        if sub.root is None:
            row["problems"].append("no cs231n package (cs231n/__init__.py) in the submission")
        else:
            graded = grade_root(sub.root, options["check_timeout"], options["memory_mb"], options.get("release"),
                                options.get("total_timeout"))
            row["checks"], row["problems"] = graded["checks"], row["problems"] + graded["problems"]
        reference = options.get("reference")
        if reference:
            items = notebook_report.report(sub.root or sub.copy, reference, options.get("notebook_config"))
            row["notebook_items"] = [i.to_dict() for i in items]
        row["status"] = "graded" if row["checks"] else "not graded"
    except SubmissionError as exc:
        row["status"], row["problems"] = "not graded", row["problems"] + [str(exc)]
    row["seconds"] = round(time.monotonic() - started, 2)
    return row


def _become_subreaper():
    """Make orphaned descendants (double forks) re-parent to this process (Linux only)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _descendants(pid):
    """Every live descendant of ``pid`` (Linux /proc walk; empty elsewhere)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            ppid = int(text[text.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_tree(pid, include_self=True):
    for _ in range(3):  # processes may fork while we kill: repeat
        victims = _descendants(pid) + ([pid] if include_self else [])
        if not victims:
            break
        for p in victims:
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)


def _reap_children():
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def worker_main(argv):
    """``python -m course.batch --worker SUBMISSION SCRATCH OPTIONS_JSON RESULT_JSON``."""
    submission, scratch, options_path, result_path = argv
    _become_subreaper()
    signal.signal(signal.SIGTERM, lambda *_: (_kill_tree(os.getpid(), include_self=False), os._exit(143)))
    options = json.loads(Path(options_path).read_text(encoding="utf-8"))
    try:
        row = grade_one(Path(submission), Path(scratch), options)
    except Exception as exc:  # noqa: BLE001 - a grader bug on one submission is that row's problem
        row = {"status": "not graded", "checks": [], "notebook_items": [], "notes": [],
               "problems": [f"internal error while grading: {type(exc).__name__}: {exc}"]}
    finally:
        _kill_tree(os.getpid(), include_self=False)
        _reap_children()
    import resource
    usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    row["cpu_seconds"] = round(sum(u.ru_utime + u.ru_stime for u in usage), 2)
    tmp = Path(result_path).with_suffix(".part")
    tmp.write_text(json.dumps(row), encoding="utf-8")
    tmp.replace(result_path)
    return 0


# ---------------------------------------------------------------------------------------------
# The class (parent process)
# ---------------------------------------------------------------------------------------------

def discover(folder, id_regex=None):
    """``[(student id, path, problem or None)]`` for the entries of ``folder``, sorted by id."""
    entries, seen = [], {}
    pattern = re.compile(id_regex) if id_regex else None
    for path in sorted(Path(folder).iterdir()):
        if path.name.startswith("."):
            continue
        stem = path.name[:-4] if path.name.lower().endswith(".zip") else path.name
        if pattern:
            m = pattern.search(stem)
            stem = m.group(1) if m and m.groups() else stem
        sid = re.sub(r"[^A-Za-z0-9._@+-]", "_", stem).strip(".") or "unnamed"
        problem = None
        if path.is_symlink():
            problem = "the submission is a symbolic link (not followed)"
        elif not (path.is_dir() or (path.is_file() and path.name.lower().endswith(".zip"))):
            problem = "neither a .zip file nor a folder"
        if sid in seen:
            seen[sid] += 1
            sid = f"{sid}~{seen[sid]}"
            problem = problem or "a second submission with the same student id (graded separately)"
        else:
            seen[sid] = 1
        entries.append((sid, path, problem))
    return entries


class Batch:
    def __init__(self, out_dir, scratch_root, options, jobs, submission_timeout, log=print):
        self.out_dir, self.scratch_root, self.options = Path(out_dir), Path(scratch_root), options
        self.jobs, self.submission_timeout, self.log = jobs, submission_timeout, log
        self.active, self.lock, self.stopping = {}, threading.Lock(), False
        self.options_path = self.scratch_root / "options.json"
        self.options_path.write_text(json.dumps(options), encoding="utf-8")
        self.done = 0

    def run_one(self, sid, path, problem, total):
        if problem and not problem.startswith("a second"):
            row = {"status": "not graded", "checks": [], "notebook_items": [], "problems": [problem], "notes": []}
        else:
            row = self._spawn(sid, path)
            if problem:
                row["problems"].insert(0, problem)
        row["student"], row["submission"] = sid, path.name
        with self.lock:
            self.done += 1
            earned = sum(c["earned"] for c in row["checks"])
            self.log(f"[{self.done}/{total}] {sid}: {row['status']}, autograder {earned:g} "
                     f"({row.get('seconds', 0):.1f} s, {row.get('cpu_seconds', 0):.1f} CPU s)"
                     + (f"; {row['problems'][0][:80]}" if row["problems"] else ""))
        return row

    def _spawn(self, sid, path):
        scratch = Path(tempfile.mkdtemp(prefix=f"{sid[:40]}-", dir=self.scratch_root))
        result = scratch / "result.json"
        work = scratch / "work"
        tmp = scratch / "tmp"
        work.mkdir()
        tmp.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(PYTHONPATH=str(REPO), TMPDIR=str(tmp), TEMP=str(tmp), TMP=str(tmp), PYTHONDONTWRITEBYTECODE="1",
                   OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
        cmd = [sys.executable, "-B", "-m", "course.batch", "--worker", str(path.resolve()), str(work),
               str(self.options_path), str(result)]
        started = time.monotonic()
        row = None
        try:
            with open(scratch / "worker.log", "wb") as logf:
                with self.lock:
                    if self.stopping:
                        raise KeyboardInterrupt
                    proc = subprocess.Popen(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=logf,
                                            stderr=subprocess.STDOUT, start_new_session=True)
                    self.active[proc.pid] = proc
                try:
                    proc.wait(timeout=self.submission_timeout)
                except subprocess.TimeoutExpired:
                    self._stop(proc)
                    row = {"status": "not graded", "checks": [], "notebook_items": [], "notes": [],
                           "problems": [f"grading took more than {self.submission_timeout:g} s; stopped"]}
                finally:
                    _kill_tree(proc.pid, include_self=False)
                    with self.lock:
                        self.active.pop(proc.pid, None)
            if row is None:
                try:
                    row = json.loads(result.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    tail = (scratch / "worker.log").read_bytes()[-600:].decode("utf-8", "replace")
                    row = {"status": "not graded", "checks": [], "notebook_items": [], "notes": [],
                           "problems": [f"the grading worker ended without a result (exit status "
                                        f"{proc.returncode}): {tail.strip()}"]}
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        row.setdefault("seconds", round(time.monotonic() - started, 2))
        row["wall_seconds"] = round(time.monotonic() - started, 2)
        return row

    def _stop(self, proc):
        try:
            proc.send_signal(signal.SIGTERM)  # the worker kills its own tree (it is a subreaper)
            proc.wait(timeout=5)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
        _kill_tree(proc.pid)
        proc.wait()

    def stop_all(self):
        with self.lock:
            self.stopping = True
            procs = list(self.active.values())
        for proc in procs:
            self._stop(proc)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def build_parser():
    p = argparse.ArgumentParser(prog="python -m course.batch", description="Grade a folder of submissions "
                                "(zips or folders, one per student) into a CSV gradebook and feedback files.")
    p.add_argument("submissions", help="folder with one <student>.zip or <student>/ per student")
    p.add_argument("out", help="output folder (created; must be empty or a previous gradebook with --overwrite)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="submissions graded at once (default: cores)")
    p.add_argument("--check-timeout", type=float, default=DEFAULTS["check_timeout"], help="seconds per check")
    p.add_argument("--submission-timeout", type=float, default=DEFAULTS["submission_timeout"],
                   help="seconds per submission, everything included")
    p.add_argument("--memory-mb", type=int, default=DEFAULTS["memory_mb"], help="memory limit of the grading processes")
    p.add_argument("--max-zip-mb", type=float, default=Limits.max_zip_mb, help="largest zip accepted")
    p.add_argument("--notebook-config", help="JSON: which notebook items are graded or flagged (see course.notebook_report)")
    p.add_argument("--no-notebooks", action="store_true", help="do not read the notebooks")
    p.add_argument("--release", help="release folder for the notebook reference (default: built from this repository)")
    p.add_argument("--id-regex", help="regular expression whose group 1 is the student id in the file name")
    p.add_argument("--scratch", help="folder for the scratch folders (default: the system's temporary folder)")
    p.add_argument("--overwrite", action="store_true", help="replace a previous gradebook in OUT")
    p.add_argument("--hide-hidden-checks", action="store_true",
                   help="feedback files show hidden checks only as one line with their total")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return p


def _check_args(args):
    subs, out = Path(args.submissions), Path(args.out)
    if not subs.is_dir():
        return f"{subs} is not a folder"
    if out.resolve().is_relative_to(subs.resolve()):
        return f"the output folder {out} must not be inside the submissions folder"
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not args.overwrite:
            return f"{out} exists and is not empty; pass --overwrite to replace a previous gradebook"
        if not (out / OUT_MARKER).is_file():
            return f"{out} is not a previous gradebook (no {OUT_MARKER}); refusing to overwrite it"
    for name in ("jobs", "check_timeout", "submission_timeout", "max_zip_mb"):
        value = getattr(args, name)
        if not value > 0 or value == float("inf"):
            return f"--{name.replace('_', '-')} must be a positive number, got {value}"
    if args.memory_mb < 0:
        return f"--memory-mb must be >= 0, got {args.memory_mb}"
    return None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return worker_main(argv[1:])
    args = build_parser().parse_args(argv)
    problem = _check_args(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        config = notebook_report.load_config(args.notebook_config)
        entries = discover(args.submissions, args.id_regex)
        if args.release and not (Path(args.release) / ".release-manifest").is_file():
            raise ValueError(f"{args.release} is not a release folder (no .release-manifest)")
    except (ValueError, OSError, re.error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    options = {"check_timeout": args.check_timeout, "memory_mb": args.memory_mb,
               "total_timeout": 0.8 * args.submission_timeout, "notebook_config": config,
               "notebooks": not args.no_notebooks, "release": args.release,
               "limits": {"max_zip_mb": args.max_zip_mb}}
    log = (lambda *a: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    rows = run_batch(entries, args.out, options, args.jobs, args.submission_timeout, args.scratch, log,
                     args.hide_hidden_checks)
    if rows is None:
        print("interrupted: the workers were stopped and the scratch folders removed; nothing was written",
              file=sys.stderr)
        return 130
    graded = sum(r["status"] == "graded" for r in rows)
    print(f"Graded {graded} of {len(rows)} submissions; wrote {Path(args.out) / 'gradebook.csv'} "
          f"and {len(rows)} feedback files.")
    return 0


def prepare(options, scratch_root):
    """Options for the workers: the pristine release written once into ``scratch_root/release``
    (unless ``options["release"]`` names one) and the notebook reference read from it."""
    options = dict(options)
    if not options.get("release"):
        from .release import build_release, write_tree
        write_tree(build_release(REPO)["files"], scratch_root / "release")
        options["release"] = str(scratch_root / "release")
    if options.pop("notebooks", True) and not options.get("reference"):
        options["reference"] = notebook_report.build_reference(options["release"])
    return options


def run_batch(entries, out, options, jobs, submission_timeout, scratch=None, log=print, hide_hidden=False):
    """Grade ``entries`` (from ``discover``) into ``out``; the rows, or None if interrupted."""
    started = time.monotonic()
    scratch_root = Path(tempfile.mkdtemp(prefix="cs231n-batch-", dir=scratch))
    try:
        options = prepare(options, scratch_root)
    except BaseException:
        shutil.rmtree(scratch_root, ignore_errors=True)
        raise
    batch = Batch(out, scratch_root, options, jobs, submission_timeout, log)
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(batch.run_one, sid, path, problem, len(entries)) for sid, path, problem in entries]
            try:
                rows = [f.result() for f in futures]
            except KeyboardInterrupt:
                for f in futures:
                    f.cancel()
                batch.stop_all()
                return None
    finally:
        if threading.current_thread() is threading.main_thread():
            for s, h in previous.items():
                signal.signal(s, h)
        shutil.rmtree(scratch_root, ignore_errors=True)
    rows = [summarize(r) for r in rows]
    out = Path(out)
    if out.exists():
        for child in ("gradebook.csv", "columns.csv", "results.json"):
            (out / child).unlink(missing_ok=True)
        shutil.rmtree(out / "feedback", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / OUT_MARKER).write_text("made by python -m course.batch\n", encoding="utf-8")
    write_outputs(out, rows, hide_hidden)
    wall = time.monotonic() - started
    cpu = [r.get("cpu_seconds", 0) for r in rows if r["status"] == "graded"]
    log(f"{len(rows)} submissions in {wall:.0f} s wall ({wall / max(len(rows), 1):.2f} s each with {jobs} jobs); "
        f"CPU per graded submission: median {sorted(cpu)[len(cpu) // 2] if cpu else 0:.2f} s")
    return rows


if __name__ == "__main__":
    sys.exit(main())
