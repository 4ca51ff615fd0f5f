"""The checker's side of the channel: start the student's process and call into it.

``Session(root)`` starts ``_child.py`` on the package at ``root/cs231n`` and talks to it over
two private pipes; the student's stdout/stderr go to a third pipe whose beginning and end are
kept (``session.output()``). Every request waits at most until ``session.deadline`` (a
``time.monotonic()`` value the caller sets per check): the checker keeps the clock, so nothing the
student's process writes can extend it.

``session.module("layers").affine_forward(x, w, b)`` calls the student's function; arrays,
numbers, tuples, lists and dicts come back as values, anything else (a model, an opaque cache)
as a ``RemoteObject`` that can be passed back or called (``model.loss(X, y)``). Dicts and arrays
passed as positional arguments are updated in place with what the student's code did to them
(``bn_param['running_mean']``, an optimizer's ``config``).

How the process is started is up to a *launcher* (``launcher(argv, pass_fds) -> dict of
Popen arguments``): the default runs it as a plain child process with a scrubbed environment;
the course grader adds a sandbox (see ``course/sandbox.py``).
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from . import _protocol as P

CHILD = Path(__file__).resolve().with_name("_child.py")
OUTPUT_HEAD, OUTPUT_TAIL = 2000, 4000


class StudentError(Exception):
    """The student's code raised; ``str()`` is ``Type: message`` and ``where`` the line."""

    def __init__(self, message, where=""):
        super().__init__(message)
        self.where = where

    def __str__(self):
        text = self.args[0]
        return f"{text}  [{self.where}]" if self.where else text


class ChildTimeout(Exception):
    """No answer before the deadline: the process was stopped."""


class ChildCrash(Exception):
    """The process ended (os._exit, a signal, a memory limit) or broke the protocol."""


def scrubbed_env(home):
    """The environment of a student's process: nothing of the caller's (tokens, agents)."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home),
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    if os.name == "nt":  # Windows needs these to start Python at all
        env.update({k: v for k, v in os.environ.items() if k.upper() in ("SYSTEMROOT", "WINDIR", "PATHEXT")})
    return env


def plain_launcher(argv, pass_fds, workdir):
    return {"args": argv, "cwd": str(workdir), "env": scrubbed_env(workdir), "pass_fds": pass_fds,
            "start_new_session": True}


class _Output:
    """Drain a pipe in a thread, keeping the first and last characters written."""

    def __init__(self, pipe):
        self.head, self.tail, self.total = "", "", 0
        self._thread = threading.Thread(target=self._drain, args=(pipe,), daemon=True)
        self._thread.start()

    def _drain(self, pipe):
        while True:
            try:
                chunk = pipe.read1(65536)
            except (OSError, ValueError):
                break
            if not chunk:
                break
            text = chunk.decode("utf-8", errors="replace")
            self.total += len(text)
            if len(self.head) < OUTPUT_HEAD:
                take = OUTPUT_HEAD - len(self.head)
                self.head += text[:take]
                text = text[take:]
            self.tail = (self.tail + text)[-OUTPUT_TAIL:]

    def text(self, wait=1.0):
        self._thread.join(wait)
        if self.total <= OUTPUT_HEAD + OUTPUT_TAIL:
            return self.head + self.tail
        cut = self.total - len(self.head) - len(self.tail)
        return f"{self.head}\n[... {cut} characters of output left out ...]\n{self.tail}"


def signal_name(returncode):
    if returncode is not None and returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


class RemoteObject(P.Handle):
    """An object living in the student's process."""

    __slots__ = ("session",)

    def __init__(self, session, ident):
        super().__init__(ident)
        self.session = session

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return RemoteFunction(self.session, {"h": self.id, "path": [["a", name]]})

    def get(self, *path):
        """Value of ``obj.a.b`` (strings) / ``obj[k]`` (use ("i", k)) in the student's process."""
        return self.session.request("get", obj={"h": self.id, "path": _path(path)})

    def set(self, *path_and_value):
        *path, value = path_and_value
        self.session.request("set", obj={"h": self.id, "path": _path(path)}, value=value)


def _path(steps):
    return [list(s) if isinstance(s, tuple) else ["a", s] for s in steps]


class RemoteFunction:
    def __init__(self, session, spec):
        self.session, self.spec = session, spec

    @property
    def name(self):
        return ".".join(str(k) for _, k in self.spec["path"])

    def __call__(self, *args, **kwargs):
        writeback = [i for i, a in enumerate(args) if type(a) is dict or isinstance(a, np.ndarray)]
        reply = self.session.request("call", fn=self.spec, args=list(args), kwargs=kwargs, writeback=writeback,
                                     _raw=True)
        for i, new in reply["after"]:
            old = args[i]
            if type(old) is dict and type(new) is dict:
                old.clear()
                old.update(new)
            elif isinstance(old, np.ndarray) and isinstance(new, np.ndarray) and new.shape == old.shape \
                    and old.flags.writeable:
                np.copyto(old, new, casting="unsafe")
        return reply["value"]

    def perturb(self, args, wrt, h=1e-5, select=(), kwargs=None):
        """Values of ``self(*args)`` (item ``select``) with each entry of ``wrt`` moved by +h and
        -h: an array of shape (size of wrt, 2, *shape of the value)."""
        return self.session.request("perturb", fn=self.spec, args=list(args), kwargs=kwargs or {}, wrt=wrt,
                                    h=h, select=list(select))


class RemoteModule:
    def __init__(self, session, name):
        self.session, self.name = session, name

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return RemoteFunction(self.session, {"mod": self.name, "path": [["a", attr]]})


class Session:
    """One student process. ``start()`` raises StudentError if the package does not import."""

    def __init__(self, root, launcher=None, workdir=None, child=CHILD, python=None):
        self.root, self.child = Path(root).resolve(), Path(child)
        self.launcher = launcher or plain_launcher
        self.workdir = Path(workdir) if workdir is not None else Path(root)
        self.python = python or sys.executable
        self.proc, self.deadline, self.location = None, None, ""
        self._out = None
        self._fds = []
        self._serial = 0

    # -- lifetime --------------------------------------------------------------------------
    def start(self, timeout=60.0):
        req_r, self._req_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        self._fds = [self._req_w, self._resp_r]
        argv = [self.python, "-I", "-B", str(self.child), str(self.root), str(req_r), str(resp_w)]
        try:
            kwargs = self.launcher(argv, (req_r, resp_w), self.workdir)
            self.proc = subprocess.Popen(stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         **kwargs)
        finally:
            os.close(req_r)
            os.close(resp_w)
        self._out = _Output(self.proc.stdout)
        self.deadline = time.monotonic() + timeout
        hello = self._receive()
        if not hello.get("ok"):
            self.close()
            raise StudentError(str(hello.get("error", "?"))[:3000], str(hello.get("where", ""))[:300])
        self.location = str(hello.get("cs231n", ""))[:500]
        return self

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def close(self):
        """Stop the process and everything it started (its process group / sandbox)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    P.write_message(self._req_w, P.pack({"op": "bye"}))
                except OSError:
                    pass
            kill_tree(self.proc)
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []

    def output(self):
        return self._out.text() if self._out else ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- requests --------------------------------------------------------------------------
    def module(self, name):
        return RemoteModule(self, name)

    def request(self, op, _raw=False, **fields):
        blob = bytearray()
        self._serial += 1
        header = {"op": op, "id": self._serial, "budget": max(0.0, (self.deadline or 0) - time.monotonic())}
        for key, value in fields.items():
            header[key] = P.encode(value, blob) if key in ("args", "kwargs", "value") else value
        try:
            P.write_message(self._req_w, P.pack(header, blob))
        except OSError:
            pass  # the process is gone: _receive reports how it ended
        reply = self._receive()
        if not isinstance(reply.get("ok"), bool):
            self._broken("a reply without 'ok'")
        if reply.get("id") != self._serial:
            self._broken("a reply to another request")
        if not reply["ok"]:
            raise StudentError(str(reply.get("error", "error"))[:3000], str(reply.get("where", ""))[:300])
        value = self._decode(reply.get("value"))
        if not _raw:
            return value
        after = reply.get("after", [])
        allowed = set(fields.get("writeback", []))
        if not isinstance(after, list) or not all(
                isinstance(a, list) and len(a) == 2 and a[0] in allowed for a in after):
            self._broken("a malformed list of changed arguments")
        return {"value": value, "after": [(i, self._decode(doc)) for i, doc in after]}

    def _decode(self, doc):
        try:
            return P.decode(doc, self._blob, handle=lambda ident: RemoteObject(self, ident))
        except P.ProtocolError as exc:
            self._broken(str(exc))

    def _broken(self, what):
        self.close()
        raise ChildCrash(f"the student's process sent an invalid reply ({what}); it was stopped")

    def _receive(self):
        try:
            header, self._blob = P.read_message(self._resp_r, self.deadline)
            return header
        except TimeoutError:
            self.close()
            raise ChildTimeout("no answer in time") from None
        except P.ProtocolError as exc:
            if "closed" in str(exc):  # the process is ending: learn how
                try:
                    self.proc.wait(1.0)
                except subprocess.TimeoutExpired:
                    pass
            code = self.proc.poll()
            self.close()
            if code is not None and "closed" in str(exc):
                raise ChildCrash(f"the student's process ended ({signal_name(code)})") from None
            raise ChildCrash(f"the student's process broke the protocol ({exc}); it was stopped") from None


def kill_tree(proc):
    """SIGKILL the process group of ``proc`` (started with start_new_session) and reap it."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError, OSError):
        pass
    try:
        proc.kill()
    except OSError:
        pass
    proc.wait()
