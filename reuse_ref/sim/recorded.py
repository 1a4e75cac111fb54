"""A recorded run as a workload: every call of a runtime's trace, as the simulator's call tree reads it.

``recorded_workload(run.trace)`` (``reuse-ref run --workload-out calls.csv`` writes the
same as a file) turns what a run on the real runtime did into a list of
:class:`~reuse_ref.sim.workloads.Job` that :func:`~reuse_ref.sim.event_loop.simulate`,
the planner and :func:`~reuse_ref.sim.arrivals.runs` take as they are. The records give the
times; the trace's :class:`~reuse_ref.trace.calls.CallNote` s give who called whom and how
long each parent was blocked on its calls.

The mapping, call by call, every time in policy seconds (the trace's unit: wall seconds
divided by the runtime's ``time_scale``):

* ``id``: the call's task id in the trace (``embed#7``); ``name``: the task's name
  (``embedder.embed``); ``env``: its environment (its pool's name: ``embedder``, or
  ``embedder:2`` for tasks overridden to another policy); ``parent``: the id of the call
  whose attempt made it; ``retries`` and ``timeout``: the task's own; ``sync``: a plain ``def``
  that calls no task (the simulator's parent is an ``async def`` that awaits its
  children: a sync parent is written as one).
* ``at``: a top-level call's is when it was queued, counted from the first top-level call
  (a single run starts at 0); a child's is when it was called, counted from its parent's
  *first* start (once its replica had loaded its function), which is where the simulator
  counts it from.
* ``duration``: the time of the call's last attempt on its replica, as the replica
  measured it (the task's function running, not loading: the import of the task's
  module on its first call on a replica belongs to that replica's cold start, see
  :meth:`~reuse_ref.trace.trace.Trace.cold_start_seconds`), less the time that attempt
  was blocked on the results of its own calls, as its replica reported it. That is the
  simulator's parent: it works for ``duration`` and calls its children at their offsets
  meanwhile, then awaits them, holding its slot, and ends when the last one ends. So
  under the recorded policies and cold starts a simulated parent ends when the recorded
  one did, except for work it did *after* its last child ended (an aggregation after
  ``gather``): the model moves that work before its await, so the simulated parent ends
  that much sooner. A leaf's duration is its time on the replica.

What the model cannot say, said once: a child called only after an earlier child ended
(a loop of awaited calls) is called at its recorded offset, whether or not the earlier
one has ended in the simulation; a call answered from the cache did no work on a replica
and is not in the workload; a call that never started (cancelled or starved while it
waited) has no duration to give and is left out. Record a run that succeeds.
"""
from __future__ import annotations

import math
import re
from typing import Any, Dict, List

from ..trace import CallNote, Trace
from .workloads import Job

__all__ = ["recorded_workload", "environment_of"]

_DUPLICATE = re.compile(r"#[0-9]+$")


def recorded_workload(trace: Trace) -> List[Job]:
    """The calls of a runtime's ``trace`` (a ``Run``'s or a ``Runtime``'s) as a workload, in the
    order they were made (see the module docstring for the mapping).

    Raises ``ValueError`` for a trace without call notes: a simulated trace, or one read
    from CSV (its workload is the one that made it)."""
    if not isinstance(trace, Trace):
        raise ValueError(f"trace={trace!r} is not valid: a reuse_ref.Trace of a run on the runtime (run.trace)")
    if not trace.calls and any(r[1] == "task_queued" for r in trace.rows()):
        raise ValueError("trace is not valid: it has no call notes, so who called whom is unknown; give the trace "
                         "of a run on the runtime (run.trace or Runtime.trace), not a simulated trace or one read "
                         "from CSV")
    queued: Dict[Any, float] = {}
    first_start: Dict[Any, float] = {}
    last_start: Dict[Any, float] = {}
    starts: Dict[Any, int] = {}
    end: Dict[Any, float] = {}
    for time, kind, _, task, _, _ in trace.rows():
        if kind == "task_queued":
            queued.setdefault(task, time)
        elif kind == "task_start":
            first_start.setdefault(task, time)
            last_start[task] = time
            starts[task] = starts.get(task, 0) + 1
            end.pop(task, None)
        elif (kind == "task_end" or kind == "task_failed") and task in last_start:
            end.setdefault(task, time)
    ran = [n for n in trace.calls if n.task in end and n.task in queued]
    for n in ran:  # the first attempt ran once its function was loaded: that is the parent's start
        first_start[n.task] += sum(load for number, _, load, _ in n.attempts if number == 1)
    ids = {n.task for n in ran}
    parents = {n.parent for n in ran if n.parent in ids}
    origin = min((queued[n.task] for n in ran if n.parent not in ids), default=0.0)
    jobs = []
    for n in ran:
        start, stop = last_start[n.task], end[n.task]
        measured = [run for number, _, _, run in n.attempts if number == starts[n.task]]
        duration = measured[0] if measured else stop - start  # the replica's own measure, when it gave one
        if n.task in parents:
            duration -= _blocked(n, start, stop)
        if n.parent in ids:
            parent, at = n.parent, queued[n.task] - first_start[n.parent]
        else:  # a top-level call (or one whose parent is outside this trace's span)
            parent, at = None, queued[n.task] - origin
        jobs.append(Job(n.task, _seconds(at), _seconds(duration), n.name, parent, n.retries, environment_of(n.pool),
                        n.timeout, n.sync and n.task not in parents))
    return jobs


def environment_of(pool: str) -> str:
    """The environment of a runtime's pool: ``"fan#2"`` (a second live run-scoped pool of
    ``fan``) is ``"fan"``; ``"fan:2"`` (``fan``'s tasks overridden to another policy) stays
    itself, since its policy is not ``fan``'s."""
    return _DUPLICATE.sub("", pool)


def _blocked(note: CallNote, start: float, stop: float) -> float:
    """Seconds of ``[start, stop]`` during which the call was blocked on its calls."""
    return sum(max(0.0, min(b, stop) - max(a, start)) for a, b in note.blocked)


def _seconds(value: float) -> float:
    """A time >= 0, to the microsecond of policy time (the clocks' noise is far larger)."""
    return round(max(0.0, value), 6) if math.isfinite(value) else value
