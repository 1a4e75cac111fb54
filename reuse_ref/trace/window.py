"""Comparing policies over one common window, and queue waits within a time window.

A trace ends with its last record. A pool that never stops (``idle_ttl=None``), or whose
``min`` replicas are still waiting out ``idle_ttl``, would go on holding replicas after
that, so comparing raw traces makes always-on pools look cheaper than they are. Every
comparison here charges every trace over the same window ``[0, horizon]``: a replica
still alive at a trace's end costs until ``horizon``.

* :func:`common_horizon`: the latest end of any trace's last task, plus the largest
  finite ``idle_ttl`` among the policies (by then every pool that can stop has stopped).
* :func:`compare`: the :class:`~reuse_ref.trace.Measures` of several traces, every one
  over the same window.
* :func:`waits`: the queue waits of the tasks that arrived in a time window (a peak
  hour, say), for percentiles beyond the whole-trace ones.
* :func:`counts`: the tasks, cold starts and replica-seconds of a time window, for
  steady-state figures that leave out a run's start (the pool filling from empty).
"""
from __future__ import annotations

import math
from typing import Dict, Iterable, List, Mapping, NamedTuple, Optional, Tuple, Union

from ..core.records import RETRYING
from .measures import Measures
from .trace import Trace

__all__ = ["last_task_end", "common_horizon", "compare", "waits", "counts", "WindowCounts"]


def last_task_end(trace: Trace) -> float:
    """The time the trace's last task ended (``task_end`` or a final ``task_failed``);
    0.0 for a trace without tasks."""
    end = 0.0
    for time, kind, _, _, reason, _ in trace.rows():
        if (kind == "task_end" or (kind == "task_failed" and not reason.endswith(RETRYING))) and time > end:
            end = time
    return float(end)


def _traces(traces) -> List[Tuple[str, Trace]]:
    items = list(traces.items()) if isinstance(traces, Mapping) else list(traces)
    pairs = []
    for k, item in enumerate(items):
        label, trace = item if isinstance(item, tuple) else (str(k), item)
        if not isinstance(trace, Trace):
            raise ValueError(f"traces item {item!r} is not valid: a Trace (or a (label, Trace) pair)")
        pairs.append((str(label), trace))
    if not pairs:
        raise ValueError("traces=[] is not valid: give at least one trace")
    return pairs


def common_horizon(traces: Union[Mapping[str, Trace], Iterable]) -> float:
    """The end of the common window of ``traces`` (a mapping of labels to traces, or an
    iterable of traces or of ``(label, trace)`` pairs), in seconds.

    It is the latest :func:`last_task_end` of any trace plus the largest finite
    ``idle_ttl`` of any policy in them (0 when every policy is always-on): by then every
    pool that can go idle has stopped, and an always-on pool is charged as long as the
    others could have been.
    """
    pairs = _traces(traces)
    end = max(last_task_end(trace) for _, trace in pairs)
    ttls = [policy.idle_ttl.total_seconds() for _, trace in pairs for policy in trace.policies.values()
            if getattr(policy, "idle_ttl", None) is not None]
    return end + max(ttls, default=0.0)


def compare(traces: Union[Mapping[str, Trace], Iterable], horizon: Optional[float] = None,
            env: Optional[str] = None) -> Dict[str, Measures]:
    """``{label: Measures}`` of every trace over the same window ``[0, horizon]``.

    ``horizon`` defaults to :func:`common_horizon` of the traces. ``env`` selects one
    environment of each trace (default: the whole trace). Replica-seconds, utilisation
    and the footprint are those of the window; counts and waits do not depend on it.
    """
    pairs = _traces(traces)
    if horizon is None:
        horizon = common_horizon(pairs)
    return {label: trace.measures(env, horizon=horizon) for label, trace in pairs}


def waits(trace: Trace, env: Optional[str] = None, since: float = 0.0, until: float = math.inf) -> List[float]:
    """Queue waits (seconds, sorted) of the tasks first queued in ``[since, until)``.

    The same waits as the measures' ``wait_*`` (a task's first attempt only, from its
    first ``task_queued`` to its first ``task_start``), for the tasks that arrived in the
    window: ``percentile(waits(trace, since=13 * 3600, until=15 * 3600), 99)`` is the p99
    wait of the tasks that arrived between 13:00 and 15:00.
    """
    queued: Dict[tuple, Optional[float]] = {}
    out = []
    for time, kind, _, task, _, e in trace.rows(env):
        key = (e, task)
        if kind == "task_queued":
            queued.setdefault(key, time)
        elif kind == "task_start" and queued.get(key) is not None:
            at = queued[key]
            queued[key] = None  # later attempts are not waits
            if since <= at < until:
                out.append(time - at)
    return sorted(out)


class WindowCounts(NamedTuple):
    """What :func:`counts` finds in ``[since, until)``: ``tasks`` first queued there,
    ``cold_starts`` (replicas started there), ``replica_seconds`` there and the window's
    length, ``seconds``."""

    tasks: int
    cold_starts: int
    replica_seconds: float
    seconds: float

    @property
    def cold_start_share(self) -> float:
        """Cold starts per task of the window (0.0 without tasks): the share of calls that met
        a new replica, where each new replica is started for a call, as on a keep-alive
        platform (in the reference a queued call takes the first slot that frees, which
        may be another replica's)."""
        return self.cold_starts / self.tasks if self.tasks else 0.0

    @property
    def mean_replicas(self) -> float:
        """Live replicas (starting, busy or idle) averaged over the window."""
        return self.replica_seconds / self.seconds


def counts(trace: Trace, since: float, until: float, env: Optional[str] = None) -> WindowCounts:
    """The tasks first queued, the replicas started and the replica-seconds lived in
    ``[since, until)`` (finite, ``since < until``), over one environment or all of them.

    A replica alive at the trace's end is counted as alive until ``until``, as the common
    window charges it. Leaving a run's first hour out of such counts gives the figures of
    a pool that has settled, which is what a long measurement of a real platform sees.
    """
    if not (math.isfinite(since) and math.isfinite(until) and since < until):
        raise ValueError(f"since={since!r}, until={until!r} is not valid: a finite window with since < until")
    tasks = cold = 0
    seconds = 0.0
    seen: set = set()
    alive: Dict[tuple, float] = {}
    for time, kind, replica, task, _, e in trace.rows(env):
        if kind == "task_queued":
            key = (e, task)
            if key not in seen:
                seen.add(key)
                tasks += since <= time < until
        elif kind == "replica_start":
            alive[(e, replica)] = time
            cold += since <= time < until
        elif kind == "replica_stop":
            start = alive.pop((e, replica), None)
            if start is not None:
                seconds += max(0.0, min(time, until) - max(start, since))
    seconds += sum(max(0.0, until - max(start, since)) for start in alive.values())
    return WindowCounts(tasks, cold, seconds, until - since)
