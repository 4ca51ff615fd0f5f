"""Run checks against a student's package: load them from a folder, run each with a time limit,
decide each verdict here (in the checker's process), restart the student's process after a
timeout or a crash.

A checks folder holds modules (``q1_*.py`` ...) each defining ``PART = (key, title)`` and
``CHECKS`` (see ``support.checklist``). ``load_checks(folder)`` imports them by file path under a
private name; ``run_checks(checks, start_session, timeout)`` returns ``CheckResult``s.
"""

import importlib.util
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import _protocol as P
from .remote import ChildCrash, ChildTimeout, StudentError

STATUSES = ("pass", "fail", "error", "timeout", "crash")
VISIBILITIES = ("visible", "after_due_date", "hidden")  # as Gradescope names them


@dataclass
class CheckResult:
    name: str
    title: str
    points: int
    part: str = ""
    visibility: str = "visible"
    status: str = "not run"  # pass, fail, error, timeout, crash
    message: str = ""
    seconds: float = 0.0

    @property
    def earned(self):
        return self.points if self.status == "pass" else 0

    def to_dict(self):
        return {**asdict(self), "earned": self.earned}


_loaded = {}


def load_checks(folder):
    """Every check in ``folder``, in file order then definition order; ``[(part, title, check)]``."""
    folder = Path(folder).resolve()
    if folder not in _loaded:
        found = []
        for path in sorted(folder.glob("q*.py")):
            name = f"_cs231n_checks_{abs(hash(str(folder)))}_{path.stem}"
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            key, title = module.PART
            found += [(key, title, c) for c in module.CHECKS]
        names = [(k, c.name) for k, _, c in found]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate check names in {folder}")
        _loaded[folder] = found
    return list(_loaded[folder])


class Context:
    """What a check receives: the student's modules (remote) and, in the grader, the reference."""

    def __init__(self, session, reference=None):
        self.session, self._reference = session, reference

    def student(self, module):
        return self.session.module(module)

    def reference(self, module):
        """The instructor's module (trusted, in this process), or None (the student's self-check)."""
        return self._reference(module) if self._reference else None


def _short(text, limit=1500):
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def run_checks(checks, start_session, timeout=30.0, reference=None, total_timeout=None, on_result=None):
    """Run ``checks`` ([(part, part title, Check)]); return CheckResults in the same order.

    ``start_session()`` returns a started ``remote.Session`` or raises StudentError when the
    package does not import. A check may use the process for ``timeout`` seconds; after a
    timeout, a crash or a broken protocol the process is stopped and the next check gets a new one.
    """
    results, session, import_error = [], None, None
    began = time.monotonic()
    try:
        for part, _, check in checks:
            r = CheckResult(check.name, check.title, check.points, part, check.visibility)
            results.append(r)
            t0 = time.monotonic()
            if total_timeout is not None and t0 - began > total_timeout:
                r.status, r.message = "timeout", f"not run: the submission used up its {total_timeout:g} s"
                continue
            if import_error is not None:
                r.status, r.message = "error", import_error
                continue
            if session is None or not session.alive:
                if session is not None:
                    session.close()
                session = None
                try:
                    session = start_session()
                except StudentError as exc:
                    import_error = f"cannot import the package: {exc}"
                    r.status, r.message = "error", import_error
                    continue
                except (ChildCrash, ChildTimeout) as exc:
                    import_error = f"the package could not be loaded: {exc}"
                    r.status, r.message = "crash", import_error
                    continue
            try:
                session.deadline = time.monotonic() + timeout
                check.run(Context(session, reference))
                r.status = "pass"
            except StudentError as exc:
                r.status, r.message = "error", str(exc)
            except AssertionError as exc:
                r.status, r.message = "fail", str(exc) or "wrong result"
            except ChildTimeout:
                r.status = "timeout"
                r.message = f"no result within {timeout:g} s, stopped.\n{_short(session.output())}"
            except (ChildCrash, P.ProtocolError) as exc:
                r.status = "crash"
                r.message = f"{exc}.\n{_short(session.output()) if session else ''}".strip()
            except Exception as exc:  # noqa: BLE001 - the checker choked on what the student's code returned
                r.status = "fail"
                r.message = f"the result could not be checked: {type(exc).__name__}: {exc}"
            r.seconds = round(time.monotonic() - t0, 3)
            r.message = r.message[:4000]
            if on_result:
                on_result(r)
    finally:
        if session is not None:
            session.close()
    _explain_dependencies(checks, results)
    return results


def _explain_dependencies(checks, results):
    """A failed check that builds on another failed one says so (a model using a broken layer)."""
    by_function = {}
    for (_, _, check), r in zip(checks, results):
        if check.target and r.status != "pass":
            by_function.setdefault(check.target, []).append(r)
    for (_, _, check), r in zip(checks, results):
        if r.status == "pass" or r.message.startswith(("cannot import", "the package could not", "not run")):
            continue
        broken = [f for f in check.uses if f != check.target and f in by_function]
        if broken:
            note = f"(this may come from {', '.join(broken)}: {'it' if len(broken) == 1 else 'each'} failed its own check)"
            r.message = f"{r.message[:3800]}\n{note}"
