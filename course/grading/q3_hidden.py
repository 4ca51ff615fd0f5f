"""Q3 hidden checks: dropout edge cases."""

import numpy as np

from cs231n.selfcheck.support import assert_close, checklist, pair, rng

PART = ("Q3", "Dropout")
CHECKS, check = checklist()


@check(1, "dropout with p = 1 keeps everything; backward in test mode is the identity (odd shape)",
       "dropout_backward", ("dropout_forward",), visibility="hidden")
def hidden_dropout_edges(ctx):
    layers = ctx.student("layers")
    x, dout = rng(30).standard_normal((3, 5, 7)), rng(31).standard_normal((3, 5, 7))
    out, cache = pair(layers.dropout_forward(x, {"mode": "train", "p": 1.0, "seed": 3}), "dropout_forward")
    assert_close(out, x, "dropout_forward output with p = 1 (keep every unit)")
    assert_close(layers.dropout_backward(dout, cache), dout, "dropout_backward dx with p = 1")
    _, cache = pair(layers.dropout_forward(x, {"mode": "test", "p": 0.3}), "dropout_forward")
    assert_close(layers.dropout_backward(dout, cache), dout, "dropout_backward dx in test mode")


@check(2, "dropout: kept fraction close to p for p = 0.1 and 0.95, seed reproducible, backward uses the mask",
       "dropout_forward", ("dropout_backward",), visibility="hidden")
def hidden_dropout_rates(ctx):
    layers = ctx.student("layers")
    x = np.full((300, 101), 2.0)
    for p in (0.1, 0.95):
        out, cache = pair(layers.dropout_forward(x, {"mode": "train", "p": p, "seed": 5}), "dropout_forward")
        out = np.asarray(out, dtype=np.float64)
        kept = out != 0
        assert abs(kept.mean() - p) < 0.01 + 0.02 * p, f"with p={p}, {kept.mean():.3f} of the units were kept"
        assert_close(out[kept], np.full(kept.sum(), 2.0 / p), f"kept units with p={p}")
        dx = layers.dropout_backward(np.ones_like(x), cache)
        assert_close(dx, kept / p, f"dropout_backward dx with p={p} (mask / p)")
