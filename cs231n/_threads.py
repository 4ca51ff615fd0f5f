"""How the fast layers spread chunks of a batch over threads.

A layer cuts its batch into chunks and gives chunk k to *lane* k % lanes; each lane has its own
buffers and partial sums, which the caller adds up in lane order. The number of lanes is BLAS's
thread count (capped by the CPUs and the chunks), so it does not depend on timing, and neither
do the results. Two execution plans run the same lanes:

- "workers" (the default): one thread per lane, BLAS held to 1 thread meanwhile (process-wide,
  while the call runs; numpy releases the GIL in matmul and ufuncs): the copies and elementwise
  work run in parallel too.
- "blas": the calling thread runs the lanes one after another and BLAS uses its own threads inside
  each matrix product: no thread start-up and no lock handovers between our threads, but the
  copies run on one core.

The two plans do NOT always give the same bits: OpenBLAS computes a float32 product of the
ConvNet's sizes with a different summation order on 1 thread than on 2 (its results differ in
the last bits; float64 mostly agrees). So the plan must not depend on timing, or a seeded
training run would not repeat itself: every call runs "workers", which measured as fast or
faster than "blas" for every layer of the ConvNet step on a quiet 2-core machine (conv forward
12.2 vs 13.6 ms, backward 28.4 vs 30.4 ms for the 7x7 layer in float32, 10.8 vs 36.7 ms forward
for 64 -> 64 channels) and degrades far less on a busy one (there "blas" measured up to 30 times
slower, every product waiting for a descheduled thread). Only tiny images (3 x 31 x 31) ran
faster under "blas" (3.5 vs 6.7 ms).

``force_plan`` runs a chosen plan (tests, benchmarks). ``adaptive_plans()`` turns on a per-shape
plan cache instead, for speed measurements: each kind of call (its key: operation, shapes,
dtype, lanes) is timed under both plans for its first few calls, alternately, and then keeps the
faster (a plan that loses by a wide margin is dropped at once). Under it, float32 results may
change in the last bits from one run to the next.
"""

import contextlib
import os
import threading
import time

try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # declared dependency; without it everything runs in the calling thread
    ThreadpoolController = None

PLANS = ("workers", "blas")
TRIALS = 3  # timed calls of each plan before a key keeps the faster one
_CLEAR_LOSS = 3.0  # ... or fewer, once a plan has been this many times slower than the other
_MAX_KEYS = 512  # the cache is cleared when it grows past this (shapes keep changing)

_state = {"controller": None, "forced": None, "adaptive": False}
_plans = {}  # key -> chosen plan name, or {plan: [seconds, ...]} while still trying
_lock = threading.Lock()


def blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries (None when threadpoolctl is missing)."""
    if ThreadpoolController is None:
        return None
    if _state["controller"] is None:
        _state["controller"] = ThreadpoolController().select(user_api="blas")
    return _state["controller"]


def num_lanes(num_chunks, big_enough):
    """How many lanes to spread ``num_chunks`` chunks over: BLAS's thread count, if it pays."""
    controller = blas_controller()
    if controller is None or num_chunks < 2 or not big_enough:
        return 1
    blas_threads = min((lib.num_threads for lib in controller.lib_controllers), default=1)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(blas_threads, cpus or 1, num_chunks))


@contextlib.contextmanager
def force_plan(plan):
    """Within the block, every multi-lane call runs ``plan`` ('workers' or 'blas'); None: choose."""
    if plan is not None and plan not in PLANS:
        raise ValueError(f"plan must be one of {PLANS} or None, got {plan!r}")
    saved, _state["forced"] = _state["forced"], plan
    try:
        yield
    finally:
        _state["forced"] = saved


@contextlib.contextmanager
def adaptive_plans(enabled=True):
    """Within the block, calls choose their plan by timing (a per-shape plan cache); see above."""
    saved, _state["adaptive"] = _state["adaptive"], bool(enabled)
    try:
        yield
    finally:
        _state["adaptive"] = saved


def clear_plans():
    """Forget every plan chosen so far (they are chosen again from the next calls)."""
    with _lock:
        _plans.clear()


def chosen_plan(key):
    """The plan kept for ``key``, or None while it is still being tried."""
    entry = _plans.get(key)
    return entry if isinstance(entry, str) else None


def _next_plan(key):
    """The plan for this call of ``key``: forced, else "workers"; adaptively: kept, or the one
    tried fewer times so far."""
    if _state["forced"] is not None:
        return _state["forced"], False
    if not _state["adaptive"]:
        return "workers", False
    with _lock:
        entry = _plans.get(key)
        if isinstance(entry, str):
            return entry, False
        if entry is None:
            if len(_plans) >= _MAX_KEYS:
                _plans.clear()
            entry = _plans[key] = {plan: [] for plan in PLANS}
        return min(PLANS, key=lambda plan: len(entry[plan])), True


def _record(key, plan, seconds):
    with _lock:
        entry = _plans.get(key)
        if not isinstance(entry, dict):
            return
        entry[plan].append(seconds)
        best = {p: min(times) for p, times in entry.items() if times}
        if all(len(times) >= TRIALS for times in entry.values()) or (
                len(best) == len(PLANS) and max(best.values()) > _CLEAR_LOSS * min(best.values())):
            _plans[key] = min(best, key=best.get)


def run_chunks(n, per_chunk, make_lane, big_enough, key):
    """Process items 0..n-1 in chunks of ``per_chunk``; return the lanes.

    ``make_lane()`` returns a callable ``lane(start, stop)`` with its own buffers (and any partial
    sums, read back by the caller). Lane k takes chunks k, k + lanes, ... in order, whatever the
    plan, so results do not depend on the plan or on thread timing. ``key`` names the kind of
    call for the plan cache.
    """
    bounds = [(start, min(start + per_chunk, n)) for start in range(0, n, per_chunk)]
    lanes = num_lanes(len(bounds), big_enough)
    workers, errors = [make_lane() for _ in range(lanes)], []

    def run(k):
        try:
            for start, stop in bounds[k::lanes]:
                workers[k](start, stop)
        except BaseException as error:  # re-raised in the calling thread below
            errors.append(error)

    if lanes == 1:
        run(0)
    else:
        key = key + (lanes,)
        plan, trying = _next_plan(key)
        started = time.perf_counter()
        if plan == "blas":
            for k in range(lanes):
                run(k)
        else:
            with blas_controller().limit(limits=1):
                threads = [threading.Thread(target=run, args=(k,)) for k in range(1, lanes)]
                for thread in threads:
                    thread.start()
                run(0)
                for thread in threads:
                    thread.join()
        if trying and not errors:
            _record(key, plan, time.perf_counter() - started)
    if errors:
        raise errors[0]
    return workers
