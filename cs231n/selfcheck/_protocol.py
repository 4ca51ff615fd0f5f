"""The wire format between a checker (trusted) and the process that runs a student's code.

A message is an 8-byte header (``CS2M`` + big-endian length of the rest) followed by a JSON
document and the raw bytes of the arrays it mentions::

    b"CS2M" + len(rest).to_bytes(4) + json_length.to_bytes(4) + json + blob

Values are encoded as JSON with tags: numbers, bools, None and short strings as themselves;
``{"t": "nd", "dtype": "<f8", "shape": [2, 3], "off": 0}`` an array whose bytes start at
``off`` in the blob; ``{"t": "tuple" | "list", "v": [...]}``; ``{"t": "dict", "v": [[key,
value], ...]}`` (string keys); ``{"t": "h", "id": 3}`` an object that stays in the student's
process (a model, a cache the checker does not look into); ``{"t": "f", "v": "nan"}`` a
non-finite float.

The decoder is written for hostile input: every size, count, depth, dtype and shape is checked
and anything unexpected raises ``ProtocolError`` (never another exception, never a huge
allocation). This file imports nothing from ``cs231n``: the grader copies it next to the child
runner.
"""

import json
import math
import os
import select
import time

import numpy as np

MAGIC = b"CS2M"
MAX_MESSAGE = 64 * 1024 * 1024   # bytes of one message
MAX_JSON = 4 * 1024 * 1024       # bytes of its JSON part
MAX_ITEMS = 20000                # values in one message
MAX_DEPTH = 16
MAX_STR = 20000
MAX_NDIM = 8
DTYPES = frozenset(np.dtype(t).str for t in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64"))


_SCALAR_TYPES = (np.float16, np.float32, np.float64)


class ProtocolError(Exception):
    """A message that breaks the format (or a channel that closed or timed out)."""


class Handle:
    """An object that stays in the student's process, named by its number there."""

    __slots__ = ("id",)

    def __init__(self, id_):
        self.id = id_

    def __repr__(self):
        return f"<object #{self.id} in the student's process>"


# ---------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------

def encode(value, blob, keep=None, depth=0):
    """JSON-able description of ``value``; arrays' bytes are appended to ``blob`` (a bytearray).

    ``keep(obj) -> int`` stores an object the format cannot carry and returns its handle number;
    without ``keep`` such an object is an error.
    """
    if depth > MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value if not isinstance(value, str) or len(value) <= MAX_STR else value[:MAX_STR]
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value) if abs(int(value)) < 2 ** 62 else float(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else {"t": "f", "v": repr(v)}
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray) and value.dtype.str in DTYPES and value.ndim <= MAX_NDIM:
        data = np.ascontiguousarray(value).tobytes()
        off = len(blob)
        blob += data
        return {"t": "nd", "dtype": value.dtype.str, "shape": list(value.shape), "off": off}
    if isinstance(value, type) and value in _SCALAR_TYPES:
        return {"t": "dt", "v": np.dtype(value).name}
    if isinstance(value, Handle):
        return {"t": "h", "id": value.id}
    if type(value) in (tuple, list):
        return {"t": type(value).__name__, "v": [encode(v, blob, keep, depth + 1) for v in value]}
    if type(value) is dict and all(isinstance(k, str) for k in value):
        return {"t": "dict", "v": [[k, encode(v, blob, keep, depth + 1)] for k, v in value.items()]}
    if keep is not None:
        return {"t": "h", "id": keep(value)}
    raise ProtocolError(f"cannot send a {type(value).__name__}")


def pack(header, blob=b""):
    """One message: ``header`` (a JSON-able dict) and the blob of its arrays."""
    text = json.dumps(header, allow_nan=False, separators=(",", ":")).encode("utf-8")
    rest = len(text).to_bytes(4, "big") + text + bytes(blob)
    if len(rest) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(rest)} bytes exceeds {MAX_MESSAGE}")
    return MAGIC + len(rest).to_bytes(4, "big") + rest


# ---------------------------------------------------------------------------------------------
# Decoding (hostile input)
# ---------------------------------------------------------------------------------------------

class _Budget:
    def __init__(self):
        self.items = 0

    def tick(self):
        self.items += 1
        if self.items > MAX_ITEMS:
            raise ProtocolError(f"more than {MAX_ITEMS} values in one message")


def decode(doc, blob, handle=Handle, depth=0, budget=None):
    """The value described by ``doc`` (see ``encode``); ProtocolError on anything malformed."""
    budget = budget or _Budget()
    budget.tick()
    if depth > MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    if doc is None or isinstance(doc, (bool, int, float)):
        if isinstance(doc, float) and not math.isfinite(doc):
            raise ProtocolError("bare non-finite number")
        return doc
    if isinstance(doc, str):
        if len(doc) > MAX_STR:
            raise ProtocolError("string too long")
        return doc
    if not isinstance(doc, dict) or not isinstance(doc.get("t"), str):
        raise ProtocolError(f"malformed value of type {type(doc).__name__}")
    tag = doc["t"]
    if tag == "nd":
        return _decode_array(doc, blob)
    if tag == "f":
        if doc.get("v") not in ("nan", "inf", "-inf"):
            raise ProtocolError("malformed non-finite number")
        return float(doc["v"])
    if tag == "dt":
        if doc.get("v") not in ("float16", "float32", "float64"):
            raise ProtocolError("dtype not allowed")
        return getattr(np, doc["v"])
    if tag == "h":
        ident = doc.get("id")
        if not isinstance(ident, int) or isinstance(ident, bool) or not 0 <= ident < 2 ** 31:
            raise ProtocolError("malformed handle")
        return handle(ident)
    items = doc.get("v")
    if not isinstance(items, list):
        raise ProtocolError(f"malformed {tag}")
    if tag in ("tuple", "list"):
        out = [decode(v, blob, handle, depth + 1, budget) for v in items]
        return tuple(out) if tag == "tuple" else out
    if tag == "dict":
        out = {}
        for pair in items:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) and len(pair[0]) < 200):
                raise ProtocolError("malformed dict entry")
            out[pair[0]] = decode(pair[1], blob, handle, depth + 1, budget)
        return out
    raise ProtocolError(f"unknown value tag {tag[:40]!r}")


def _decode_array(doc, blob):
    dtype, shape, off = doc.get("dtype"), doc.get("shape"), doc.get("off")
    if dtype not in DTYPES:
        raise ProtocolError(f"array dtype {str(dtype)[:40]!r} not allowed")
    if (not isinstance(shape, list) or len(shape) > MAX_NDIM
            or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_MESSAGE for s in shape)):
        raise ProtocolError("malformed array shape")
    dt = np.dtype(dtype)
    nbytes = dt.itemsize * math.prod(shape)
    if not isinstance(off, int) or isinstance(off, bool) or off < 0 or off + nbytes > len(blob):
        raise ProtocolError("array bytes outside the message")
    return np.frombuffer(blob, dtype=dt, count=math.prod(shape), offset=off).reshape(shape).copy()


def unpack(payload):
    """Split the rest of a message (after MAGIC and length) into (header dict, blob)."""
    if len(payload) < 4:
        raise ProtocolError("truncated message")
    n = int.from_bytes(payload[:4], "big")
    if n > MAX_JSON or 4 + n > len(payload):
        raise ProtocolError("bad JSON length")
    try:
        header = json.loads(payload[4:4 + n].decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"message is not JSON ({type(exc).__name__})") from None
    if not isinstance(header, dict):
        raise ProtocolError("message is not a JSON object")
    return header, memoryview(payload)[4 + n:]


# ---------------------------------------------------------------------------------------------
# Reading and writing file descriptors
# ---------------------------------------------------------------------------------------------

def write_message(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd, n, deadline):
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise ProtocolError("the channel closed" + (" mid-message" if got else ""))
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_message(fd, deadline=None, limit=MAX_MESSAGE):
    """Read one message from ``fd``; (header, blob). TimeoutError past ``deadline`` (monotonic)."""
    head = _read_exact(fd, 8, deadline)
    if head[:4] != MAGIC:
        raise ProtocolError(f"unexpected bytes on the channel: {head[:8]!r}")
    n = int.from_bytes(head[4:], "big")
    if n > limit:
        raise ProtocolError(f"message of {n} bytes exceeds the limit of {limit}")
    return unpack(_read_exact(fd, n, deadline))
