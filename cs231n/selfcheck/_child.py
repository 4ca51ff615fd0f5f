"""The process that runs a student's code for a checker (a script; see ``remote.Session``).

    python -I -B _child.py ROOT REQUEST_FD RESPONSE_FD

It imports the student's ``cs231n`` package from ``ROOT/cs231n`` by file location (never what
``import cs231n`` would find on ``sys.path``: an installed package, the grader's own copy), with
``ROOT`` appended *after* the standard library and site-packages, so a ``numpy/`` folder in a
submission shadows nothing. Then it answers the checker's requests, one at a time, over its own
pipes (stdout and stderr are the student's and go elsewhere):

- ``call``: call a function or method of the student's code with the arguments sent, answer its
  return value (objects the format cannot carry stay here as handles) and the arguments the call
  may have changed in place (dicts, arrays);
- ``get`` / ``set``: read or write an attribute or item (``model.params['W1']``);
- ``perturb``: evaluate a call many times with one array entry moved by +h and -h (numerical
  gradients in one round trip).

It decides nothing: the checker computes every expected value and every verdict.
"""

import faulthandler
import os
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402  (before any student code)
import _protocol as P  # noqa: E402

sys.path.pop(0)

_objects = {}


def _keep(obj):
    ident = len(_objects)
    _objects[ident] = obj
    return ident


def _handle(ident):
    if ident not in _objects:
        raise P.ProtocolError(f"no object #{ident}")
    return _objects[ident]


class _Ref(P.Handle):
    pass


def _resolve_handles(value):
    if isinstance(value, _Ref):
        return _handle(value.id)
    if type(value) in (list, tuple):
        return type(value)(_resolve_handles(v) for v in value)
    if type(value) is dict:
        return {k: _resolve_handles(v) for k, v in value.items()}
    return value


def _decode(doc, blob):
    return _resolve_handles(P.decode(doc, blob, handle=_Ref))


def _walk(obj, path):
    for kind, key in path:
        obj = getattr(obj, key) if kind == "a" else obj[key]
    return obj


def _target(spec, blob):
    """The object named by ``spec``: {"mod": "layers" | "h": id, "path": [[kind, key], ...]}."""
    if "mod" in spec:
        import importlib
        obj = importlib.import_module("cs231n." + spec["mod"]) if spec["mod"] else sys.modules["cs231n"]
    else:
        obj = _handle(spec["h"])
    return _walk(obj, spec.get("path", []))


def _where(exc, root):
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(str(root))]
    if not frames:
        return ""
    f = frames[-1]
    return f"{os.path.relpath(f.filename, root)}:{f.lineno} in {f.name}"


def _describe(exc):
    try:
        text = f"{type(exc).__name__}: {exc}".strip()
    except BaseException:  # noqa: BLE001 - a student exception whose str() raises
        text = type(exc).__name__
    return text[:3000]


def _perturb(fn, args, kwargs, wrt, h, select, indices):
    root = args[wrt[0][1]] if wrt[0][0] == "arg" else _handle(wrt[0][1])
    x = _walk(root, wrt[1:])
    if not isinstance(x, np.ndarray) or x.dtype != np.float64 or not x.flags.c_contiguous:
        raise TypeError("the perturbed value must be a C-contiguous float64 array, "
                        f"got {type(x).__name__} {getattr(x, 'dtype', '')}")
    flat = x.reshape(-1)
    rows = []
    for i in indices if indices is not None else range(flat.size):
        old = flat[i]
        pair = []
        for delta in (h, -h):
            flat[i] = old + delta
            out = _walk(fn(*args, **kwargs), [("i", k) for k in select])
            pair.append(np.asarray(out, dtype=np.float64))
        flat[i] = old
        rows.append(np.stack(pair))
    return np.stack(rows) if rows else np.zeros((0, 2))


def serve(root, rfd, wfd):
    while True:
        try:
            req, blob = P.read_message(rfd)
        except P.ProtocolError:
            return
        op = req.get("op")
        if op == "bye":
            return
        budget = float(req.get("budget", 0) or 0)
        if budget > 1:
            faulthandler.dump_traceback_later(budget - 0.5)
        try:
            out_blob = bytearray()
            if op == "call":
                args = _decode(req["args"], blob)
                kwargs = _decode(req["kwargs"], blob)
                value = _target(req["fn"], blob)(*args, **kwargs)
                after = [[i, P.encode(args[i], out_blob, _keep)] for i in req.get("writeback", [])]
                reply = {"ok": True, "value": P.encode(value, out_blob, _keep), "after": after}
            elif op == "get":
                reply = {"ok": True, "value": P.encode(_target(req["obj"], blob), out_blob, _keep)}
            elif op == "set":
                spec = dict(req["obj"])
                *path, (kind, key) = spec["path"]
                holder = _target({**spec, "path": path}, blob)
                value = _decode(req["value"], blob)
                setattr(holder, key, value) if kind == "a" else holder.__setitem__(key, value)
                reply = {"ok": True, "value": None}
            elif op == "perturb":
                args = _decode(req["args"], blob)
                kwargs = _decode(req["kwargs"], blob)
                fn = _target(req["fn"], blob)
                values = _perturb(fn, args, kwargs, req["wrt"], float(req["h"]), req.get("select", []),
                                  req.get("indices"))
                reply = {"ok": True, "value": P.encode(values, out_blob)}
            else:
                reply = {"ok": False, "error": f"unknown request {op!r}"}
        except BaseException as exc:  # noqa: BLE001 - the student's code may raise anything
            out_blob = bytearray()
            reply = {"ok": False, "error": _describe(exc), "where": _where(exc, root)}
        faulthandler.cancel_dump_traceback_later()
        reply["id"] = req.get("id")
        try:
            message = P.pack(reply, out_blob)
        except (P.ProtocolError, ValueError, TypeError) as exc:
            message = P.pack({"ok": False, "id": req.get("id"), "error": f"the result cannot be sent back: {exc}"})
        P.write_message(wfd, message)


def main(argv):
    root, rfd, wfd = Path(argv[0]).resolve(), int(argv[1]), int(argv[2])
    package = root / "cs231n"
    sys.path.append(str(root))
    try:
        import importlib.util
        spec = importlib.util.spec_from_file_location("cs231n", package / "__init__.py",
                                                      submodule_search_locations=[str(package)])
        module = importlib.util.module_from_spec(spec)
        sys.modules["cs231n"] = module
        spec.loader.exec_module(module)
        hello = {"ok": True, "cs231n": str(module.__file__)}
    except BaseException as exc:  # noqa: BLE001
        hello = {"ok": False, "error": _describe(exc), "where": _where(exc, root)}
    P.write_message(wfd, P.pack(hello))
    if hello["ok"]:
        serve(root, rfd, wfd)
    return 0


if __name__ == "__main__":
    faulthandler.enable()
    sys.exit(main(sys.argv[1:]))
