"""Helpers of the hidden checks: compare the student's outputs with the reference package's."""

import copy

import numpy as np

from cs231n.selfcheck.support import as_array, assert_close, pair


def reference_or_fail(ctx, module):
    ref = ctx.reference(module)
    if ref is None:
        raise AssertionError("hidden checks need the instructor's package (run them with course.grade)")
    return ref


def compare_forward(ctx, module, name, *args, what=None, tol=1e-6):
    """The student's ``name(*args)`` output (first item of the pair) equals the reference's."""
    ref = reference_or_fail(ctx, module)
    out, _ = pair(getattr(ctx.student(module), name)(*copy.deepcopy(args)), name)
    expected, _ = getattr(ref, name)(*copy.deepcopy(args))
    assert_close(out, expected, what or f"the output of {name}", tol)
    return out


def run_optimizer(ctx, rule, w, grads, config):
    """Several steps of the student's and the reference's update rule; compare w after each."""
    ref = reference_or_fail(ctx, "optim")
    mine, theirs = np.array(w, dtype=np.float64), np.array(w, dtype=np.float64)
    c_mine, c_theirs = dict(config), dict(config)
    for step, dw in enumerate(grads, start=1):
        result = getattr(ctx.student("optim"), rule)(mine.copy(), dw.copy(), c_mine)
        mine, c_mine = pair(result, rule)
        mine = as_array(mine, f"w after step {step} of {rule}")
        if not isinstance(c_mine, dict):
            raise AssertionError(f"{rule} should return (w, config) with config a dict")
        theirs, c_theirs = getattr(ref, rule)(theirs.copy(), dw.copy(), c_theirs)
        assert_close(mine, theirs, f"w after step {step} of {rule}", 1e-6)
