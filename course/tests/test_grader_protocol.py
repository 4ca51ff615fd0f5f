"""The bounded message format between the grader and the student's process (hostile input)."""

import json
import os

import numpy as np
import pytest

from cs231n.selfcheck import _protocol as P


def roundtrip(value):
    blob = bytearray()
    doc = P.encode(value, blob, keep=lambda obj: 7)
    header, rest = P.unpack(P.pack({"v": doc}, blob)[8:])
    return P.decode(header["v"], rest)


def test_values_round_trip_exactly():
    x = np.arange(12.0).reshape(3, 4)
    out = roundtrip((x, {"mode": "train", "p": 0.5, "n": None, "flag": True}, [np.int64(3), float("nan")],
                     np.float32, object()))
    assert isinstance(out, tuple) and np.array_equal(out[0], x) and out[0].dtype == np.float64
    assert out[1] == {"mode": "train", "p": 0.5, "n": None, "flag": True}
    assert out[2][0] == 3 and np.isnan(out[2][1]) and out[3] is np.float32
    assert isinstance(out[4], P.Handle) and out[4].id == 7


def bad(doc, blob=b""):
    with pytest.raises(P.ProtocolError):
        P.decode(doc, memoryview(blob))


@pytest.mark.parametrize("doc", [
    {"t": "nd", "dtype": "|O", "shape": [1], "off": 0},            # object arrays: never
    {"t": "nd", "dtype": "<f8", "shape": [10 ** 9], "off": 0},      # bytes outside the message
    {"t": "nd", "dtype": "<f8", "shape": [-1], "off": 0},
    {"t": "nd", "dtype": "<f8", "shape": [1] * 9, "off": 0},
    {"t": "nd", "dtype": "<f8", "shape": [1], "off": -8},
    {"t": "evil"}, {"t": "h", "id": -1}, {"t": "h", "id": True}, {"t": "f", "v": "1e999"},
    {"t": "dict", "v": [[1, 2]]}, {"t": "list", "v": "abc"}, ["bare", "list"], {"no": "tag"}, "x" * 30000,
])
def test_malformed_values_are_refused(doc):
    bad(doc, bytes(16))


def test_depth_and_count_are_bounded():
    deep = 1
    for _ in range(P.MAX_DEPTH + 2):
        deep = {"t": "list", "v": [deep]}
    bad(deep)
    bad({"t": "list", "v": [1] * (P.MAX_ITEMS + 1)})


def test_reading_refuses_bad_magic_oversize_and_non_json():
    for data, what in ((b"not a message", "unexpected bytes"),
                       (b"CS2M" + (P.MAX_MESSAGE + 1).to_bytes(4, "big"), "exceeds the limit"),
                       (b"CS2M\x00\x00\x00\x0c\x00\x00\x00\x08not json", "not JSON"),
                       (b"CS2M\x00\x00\x00\x06\x00\x00\x00\x02[]", "not a JSON object"),
                       (b"CS2M\x00\x00\x00\x10\x00\x00\x00\x02{}", "closed mid-message")):
        r, w = os.pipe()
        os.write(w, data)
        os.close(w)
        with pytest.raises(P.ProtocolError, match=what):
            P.read_message(r)
        os.close(r)


def test_reading_times_out_on_silence():
    import time
    r, w = os.pipe()
    with pytest.raises(TimeoutError):
        P.read_message(r, deadline=time.monotonic() + 0.2)
    os.close(r)
    os.close(w)


def test_packing_refuses_non_finite_json_and_oversize():
    with pytest.raises(ValueError):
        P.pack({"x": float("nan")})
    assert json.loads(P.pack({"x": 1})[12:]) == {"x": 1}
