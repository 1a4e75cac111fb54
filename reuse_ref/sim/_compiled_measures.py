"""The compiled twin of :func:`reuse_ref.trace.measures.measure`, for the records of the pool twin.

``reuse_ref.sim._compiled_pool`` writes a simulation's records as arrays; a plan wants
only their measures. This is the one pass of ``measure`` over those arrays, in numba,
for the records that twin writes (one environment; tasks queued, started and ended once
each; replicas started, ready and stopped): the counts, the busy slot-seconds summed in
record order, each replica's span in the order ``measure`` lists them, and each task's
queue wait. Python then makes the :class:`~reuse_ref.trace.measures.Measures` from them
(:func:`reuse_ref.sim.compiled.measure`) with the reference's own percentiles and charge
over the window, so a plan gets, to the last bit, what ``measure`` says of the same
records (``tests/test_compiled.py``).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["measure_records"]

# record kinds (core.records.KINDS) and the reason of a warm start (compiled_pool.REASONS)
_REPLICA_START, _TASK_QUEUED, _TASK_START, _TASK_END, _REPLICA_STOP = 0, 2, 3, 4, 6
_WARM = 2


@njit(cache=True)
def measure_records(rec_t, rec_k, rec_r, rec_x, rec_c, n_tasks, n_replicas):
    """``measure`` of one environment's records, as arrays.

    Returns ``(counts, busy, last_end, queued, waits, span_start, span_stop)``: ``counts``
    holds done, cold starts, warm starts, peak replicas and a flag that is 1 when the
    records hold what this pass does not measure (a failed task, an attempt still running
    at the end); ``last_end`` is NaN without a task end; ``queued`` and ``waits`` are each
    task's first ``task_queued`` and its wait (NaN: never queued, or never started); the
    spans are in the order of ``measure``'s (stopped replicas in the order they stopped,
    then those still alive in the order they started, with a NaN stop).
    """
    nan = math.nan
    queued = np.full(n_tasks, nan)
    first = np.full(n_tasks, nan)
    attempt = np.full(n_tasks, nan)
    started = np.full(n_replicas, nan)  # replica_start of each live replica
    span_start = np.empty(n_replicas)
    span_stop = np.empty(n_replicas)
    spans = done = cold = warm = live = peak = unmeasured = 0
    busy = 0.0
    last_end = nan
    for k in range(rec_t.shape[0]):
        t = rec_t[k]
        kind = rec_k[k]
        if kind == _TASK_START:
            x = rec_x[k]
            attempt[x] = t
            if math.isnan(first[x]):
                first[x] = t
            if rec_c[k] == _WARM:
                warm += 1
        elif kind == _TASK_END:
            x = rec_x[k]
            if not math.isnan(attempt[x]):
                busy += t - attempt[x]
                attempt[x] = nan
            done += 1
            last_end = t
        elif kind == _TASK_QUEUED:
            x = rec_x[k]
            if math.isnan(queued[x]):
                queued[x] = t
        elif kind == _REPLICA_START:
            started[rec_r[k]] = t
            cold += 1
            live += 1
            if live > peak:
                peak = live
        elif kind == _REPLICA_STOP:
            r = rec_r[k]
            if not math.isnan(started[r]):
                span_start[spans] = started[r]
                span_stop[spans] = t
                spans += 1
                started[r] = nan
                live -= 1
        elif kind != 1:  # not replica_ready: a failed task, which this pass does not measure
            unmeasured = 1
    for r in range(n_replicas):  # alive at the end, in the order they started (by id)
        if not math.isnan(started[r]):
            span_start[spans] = started[r]
            span_stop[spans] = nan
            spans += 1
    for x in range(n_tasks):
        if not math.isnan(attempt[x]):
            unmeasured = 1
    waits = first - queued
    counts = np.array([done, cold, warm, peak, unmeasured])
    return counts, busy, last_end, queued, waits, span_start[:spans], span_stop[:spans]
