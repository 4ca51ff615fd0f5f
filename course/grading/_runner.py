"""Run checks of one part against a student's tree (a script, started by ``course.grade``).

    python -I -B _runner.py TREE PART_MODULE EVENTS_FILE TIMEOUT MEMORY_MB CHECK [CHECK ...]

It puts TREE first on sys.path, imports the student's ``cs231n`` (and refuses to go on if that
import resolves anywhere else), loads this grading folder under a private package name, and
runs the named checks in order. Progress goes to EVENTS_FILE as JSON lines, flushed one by one,
so the grader knows which check was running if this process hangs or dies:

    {"event": "ready", "cs231n": "<path>"}      or {"event": "ready", "error": "..."}
    {"event": "start", "check": "<name>"}
    {"event": "end", "check": "<name>", "status": "pass" | "fail" | "error", "message": "...",
     "seconds": <float>}

Student output goes to stdout/stderr, which the grader captures and truncates. Shortly before a
check reaches TIMEOUT seconds the tracebacks of all threads are dumped to stderr, so a timeout
report shows where the student's code was stuck.
"""

import faulthandler
import importlib
import importlib.util
import json
import sys
import time
import traceback
from pathlib import Path

GRADING_DIR = Path(__file__).resolve().parent
PRIVATE_NAME = "_cs231n_grading_checks"


def _limit_memory(megabytes):
    if megabytes <= 0:
        return
    try:
        import resource
    except ImportError:  # not POSIX
        return
    limit = megabytes * 1024 * 1024
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError, AttributeError):  # e.g. macOS does not enforce RLIMIT_AS
        pass


def _import_student_package(tree):
    """Import the student's cs231n from ``tree``; return its file, or raise ImportError."""
    sys.path.insert(0, str(tree))
    for name in [m for m in sys.modules if m == "cs231n" or m.startswith("cs231n.")]:
        del sys.modules[name]
    import cs231n
    location = Path(cs231n.__file__ or "").resolve()
    if not location.is_relative_to(tree):
        raise ImportError(f"'import cs231n' found {location}, not the package in {tree}; "
                          "is another cs231n installed in a way that takes precedence?")
    return str(location)


def _load_checks(module):
    """Load this folder as a private package (not as cs231n.grading) and return the part module."""
    spec = importlib.util.spec_from_file_location(
        PRIVATE_NAME, GRADING_DIR / "__init__.py", submodule_search_locations=[str(GRADING_DIR)])
    package = importlib.util.module_from_spec(spec)
    sys.modules[PRIVATE_NAME] = package
    spec.loader.exec_module(package)
    return importlib.import_module(f"{PRIVATE_NAME}.{module}")


def _describe(exc, tree):
    """``Type: message`` plus the innermost line of the student's code in the traceback."""
    text = f"{type(exc).__name__}: {exc}".strip()
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if Path(f.filename).resolve().is_relative_to(tree)]
    if inside:
        f = inside[-1]
        text += f"  [{Path(f.filename).resolve().relative_to(tree).as_posix()}:{f.lineno} in {f.name}]"
    return text


def main(argv):
    tree_arg, module, events_path, timeout, memory_mb, *names = argv
    timeout = float(timeout)
    tree = Path(tree_arg).resolve()
    events = open(events_path, "a", encoding="utf-8")

    def emit(**event):
        events.write(json.dumps(event) + "\n")
        events.flush()  # visible to the grader at once (same machine, shared page cache)

    _limit_memory(int(memory_mb))
    try:
        location = _import_student_package(tree)
        checks = {c.name: c for c in _load_checks(module).CHECKS}
    except BaseException as exc:  # noqa: BLE001 - the student's package may raise anything on import
        emit(event="ready", error=_describe(exc, tree))
        return 0
    emit(event="ready", cs231n=location)
    for name in names:
        check = checks[name]
        emit(event="start", check=name)
        began = time.perf_counter()
        faulthandler.dump_traceback_later(max(timeout - 0.5, 0.8 * timeout))
        try:
            check.run()
            status, message = "pass", ""
        except AssertionError as exc:
            status, message = "fail", str(exc) or "wrong result"
        except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt raised by student code too
            status, message = "error", _describe(exc, tree)
        faulthandler.cancel_dump_traceback_later()
        emit(event="end", check=name, status=status, message=message[:2000],
             seconds=round(time.perf_counter() - began, 3))
    return 0


if __name__ == "__main__":
    faulthandler.enable()  # a segfault prints where it happened to the captured output
    sys.exit(main(sys.argv[1:]))
