"""The measures of a trace: one pass over its records, then the charge over a window.

A :class:`Measures` is computed from the records alone (section "The trace and its
measures" of the Concepts page). :func:`measure` makes it in one pass, and on the way
keeps every replica's span (when it started, when it stopped); :func:`over_window` turns
those spans into replica-seconds, utilisation and the footprint of a window ``[0, end]``.
That charge is written once: a trace's ``measures(horizon=...)`` and a plan's candidates
(whose sweep sends back the spans, not the trace) both go through :func:`over_window`.
"""
from __future__ import annotations

import dataclasses
import math
import operator
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..core.records import RETRYING, Row

__all__ = ["Measures", "percentile", "measure", "over_window", "replica_seconds", "Spans"]

_env = operator.itemgetter(5)  # Row's env

Spans = Dict[str, List[Tuple[float, Optional[float]]]]
"""Each environment's replicas as ``(start, stop)``, in the order they stopped, then
``(start, None)`` for each one still alive when the records end, in the order they started."""


def percentile(values: List[float], p: float) -> float:
    """The ``p``-th percentile (0 < p <= 100) of ``values`` by the nearest-rank method.

    Sort the values; the answer is the one at rank ``ceil(p / 100 x n)`` (1-based). It is
    always one of the values (no interpolation), so it is exact and deterministic:
    ``percentile([1, 2, 3, 4], 50) == 2`` and ``percentile([1, 2, 3, 4], 95) == 4``.
    An empty list gives 0.0.
    """
    if not 0 < p <= 100:
        raise ValueError(f"p={p!r} is not valid: a percentile between 0 (excluded) and 100")
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = math.ceil(p / 100 * len(ordered))
    return float(ordered[max(rank, 1) - 1])


@dataclass(frozen=True)
class Measures:
    """The measures of a trace, computed from a trace's records by :meth:`~reuse_ref.trace.trace.Trace.measures`.

    Counts:

    * ``tasks``: tasks submitted (first ``task_queued`` of each task; retries not counted).
    * ``done``: tasks that ended well (``task_end``).
    * ``failed``: tasks that failed for good for any reason but starvation (a crash with no
      retries left, a timeout, an error, a closed pool).
    * ``starved``: tasks that failed with ``starvation`` (rule 6): the queued tasks the
      pool gave up on, and the waiting parents that saw the ``StarvationError``.
      ``done + failed + starved == tasks`` once every task has ended.
    * ``cold_starts``: replicas started (``replica_start``); each is a cold start.
    * ``warm_starts``: attempts dispatched to a replica that had already run an attempt
      (``task_start`` with reason ``warm``).

    Queue wait, in seconds: for each task that started, the time from its first
    ``task_queued`` to the ``task_start`` of its first attempt (cold starts it waited for
    included; the waits of retries are not counted; tasks that never started have none).
    ``wait_p50``, ``wait_p95`` and ``wait_p99`` are nearest-rank percentiles
    (:func:`percentile`), ``wait_max`` the largest; all are 0.0 when no task started.
    :func:`reuse_ref.trace.window.waits` gives the waits of the tasks queued in a time window.

    Time, in seconds:

    * ``makespan``: from the first ``task_queued`` to the last time a task ended
      (``task_end`` or a final ``task_failed``); 0.0 without tasks.
    * ``replica_seconds``: the sum over replicas of ``replica_stop - replica_start``, cold
      start included; a replica still live when the trace ends counts until the time of
      the trace's last record, or, when ``measures(horizon=H)`` is given, until ``H``
      (then only the time inside ``[0, H]`` counts). This measure, and ``utilisation``
      and the footprint made from it, depend on the window; compare policies over one
      window with :func:`reuse_ref.trace.window.compare`.
    * ``busy_slot_seconds``: the sum over attempts of their end (``task_end`` or
      ``task_failed``) minus their ``task_start``; an attempt still running at the end
      counts until the last record. A parent waiting for its children is busy: it holds
      its slot.
    * ``utilisation``: ``busy_slot_seconds / (replica_seconds x concurrency)``, the share
      of the slots paid for that ran a task (0.0 without replica-seconds). With several
      environments the denominator sums each one's replica-seconds times its concurrency
      (an environment without a ``ReusePolicy`` counts concurrency 1).
    * ``peak_replicas``: the most replicas live (started and not stopped) at once.

    Footprint (replica-seconds times each environment's ``Resources``; 0.0 where unset):
    ``cpu_seconds`` (core-seconds), ``gib_seconds`` (GiB of memory times seconds),
    ``gpu_seconds``.
    """

    tasks: int = 0
    done: int = 0
    failed: int = 0
    starved: int = 0
    cold_starts: int = 0
    warm_starts: int = 0
    wait_p50: float = 0.0
    wait_p95: float = 0.0
    wait_p99: float = 0.0
    wait_max: float = 0.0
    makespan: float = 0.0
    replica_seconds: float = 0.0
    busy_slot_seconds: float = 0.0
    utilisation: float = 0.0
    peak_replicas: int = 0
    cpu_seconds: float = 0.0
    gib_seconds: float = 0.0
    gpu_seconds: float = 0.0

    def as_dict(self) -> Dict[str, Any]:
        """The measures as a plain dict (JSON-ready), in field order."""
        return asdict(self)

    def rows(self) -> List[Tuple[str, str]]:
        """``(label, value with unit)`` pairs, for a text table."""
        s = _fmt_seconds
        return [
            ("tasks", f"{self.tasks} (done {self.done}, failed {self.failed}, starved {self.starved})"),
            ("cold starts", f"{self.cold_starts} replica start(s)"),
            ("warm starts", f"{self.warm_starts} task start(s) on a used replica"),
            ("queue wait", f"p50 {s(self.wait_p50)}, p95 {s(self.wait_p95)}, p99 {s(self.wait_p99)}, max {s(self.wait_max)}"),
            ("makespan", s(self.makespan)),
            ("replica-seconds", s(self.replica_seconds)),
            ("busy slot-seconds", s(self.busy_slot_seconds)),
            ("utilisation", f"{100 * self.utilisation:.1f} % of paid slot-seconds"),
            ("peak replicas", str(self.peak_replicas)),
            ("footprint", f"{self.cpu_seconds:.6g} core-s, {self.gib_seconds:.6g} GiB-s, {self.gpu_seconds:.6g} GPU-s"),
        ]


def _fmt_seconds(x: float) -> str:
    return f"{x:.6g} s"


def replica_seconds(spans: Spans, end: float) -> Dict[str, float]:
    """Each environment's replica-seconds inside the window ``[0, end]``: a replica alive when
    the records end is charged until ``end``, and time after ``end`` is not counted.

    The one place replica-seconds are summed (in the order of ``spans``, so that a plan
    that charges a candidate's spans gets, to the last bit, what its trace says)."""
    out: Dict[str, float] = {}
    for env, env_spans in spans.items():
        total = 0.0
        for start, stop in env_spans:
            total += (end if stop is None else min(stop, end)) - min(start, end)
        out[env] = total
    return out


def over_window(m: Measures, spans: Spans, end: float, policies: Mapping[str, Any],
                resources: Mapping[str, Any]) -> Measures:
    """``m`` with its replica-seconds, utilisation and footprint those of the window ``[0, end]``
    (``policies`` give each environment's concurrency, ``resources`` its replica's size)."""
    per_env = replica_seconds(spans, end)
    slots = sum(rs * getattr(policies.get(env), "concurrency", 1) for env, rs in per_env.items())
    cpu = gib = gpu = 0.0
    for env, rs in per_env.items():
        res = resources.get(env)
        if res is not None:
            f = res.footprint(rs)
            cpu += f["cpu_seconds"]
            gib += f["gib_seconds"]
            gpu += f["gpu_seconds"]
    return dataclasses.replace(m, replica_seconds=sum(per_env.values()),
                               utilisation=m.busy_slot_seconds / slots if slots > 0 else 0.0,
                               cpu_seconds=cpu, gib_seconds=gib, gpu_seconds=gpu)


def measure(rows: List[Row], policies: Mapping[str, Any], resources: Mapping[str, Any],
            horizon: Optional[float] = None) -> Tuple[Measures, Spans, float]:
    """One pass over ``rows`` (in time order): the :class:`Measures` over ``[0, horizon]`` (or
    until the last record), each environment's replica :data:`Spans`, and the time the last
    task ended (0.0 without tasks).

    ``horizon``, when given, must not be earlier than the last task's end (``ValueError``)."""
    if not rows:
        return Measures(), {}, 0.0
    queued: Dict[Any, float] = {}       # (env, task) -> first task_queued
    first_start: Dict[Any, float] = {}  # (env, task) -> first task_start
    attempt: Dict[Any, float] = {}      # (env, task) -> start of the running attempt
    alive: Dict[Any, float] = {}        # (env, replica) -> replica_start
    spans: Spans = {}
    done = failed = starved = cold = warm = 0
    busy = 0.0
    live = peak = 0
    last_end = None
    # tasks are known by (env, id); by id alone when there is one env
    one_env = len(set(map(_env, rows))) == 1
    for time, kind, replica, task, reason, env in rows:
        if kind == "task_start":
            key = task if one_env else (env, task)
            attempt[key] = time
            if key not in first_start:
                first_start[key] = time
            if reason == "warm":
                warm += 1
        elif kind == "task_end":
            start = attempt.pop(task if one_env else (env, task), None)
            if start is not None:
                busy += time - start
            done += 1
            last_end = time
        elif kind == "task_queued":
            key = task if one_env else (env, task)
            if key not in queued:
                queued[key] = time
        elif kind == "task_failed":
            start = attempt.pop(task if one_env else (env, task), None)
            if start is not None:
                busy += time - start
            if not reason.endswith(RETRYING):
                if reason == "starvation":
                    starved += 1
                else:
                    failed += 1
                last_end = time
        elif kind == "replica_start":
            alive[(env, replica)] = time
            cold += 1
            live += 1
            if live > peak:
                peak = live
        elif kind == "replica_stop":
            start = alive.pop((env, replica), None)
            if start is not None:
                spans.setdefault(env, []).append((start, time))
                live -= 1
    end = rows[-1][0] if horizon is None else horizon
    for (env, _), start in alive.items():
        spans.setdefault(env, []).append((start, None))
    for start in attempt.values():
        busy += end - start
    if horizon is not None and last_end is not None and last_end > horizon:
        raise ValueError(f"horizon={horizon!r} is not valid: the window must hold every task, and the "
                         f"last one ends at {last_end!r} s")
    waits = [t - queued[key] for key, t in first_start.items() if key in queued]
    waits.sort()
    first_queued = min(queued.values()) if queued else None
    m = Measures(
        tasks=len(queued),
        done=done,
        failed=failed,
        starved=starved,
        cold_starts=cold,
        warm_starts=warm,
        wait_p50=percentile(waits, 50),
        wait_p95=percentile(waits, 95),
        wait_p99=percentile(waits, 99),
        wait_max=float(waits[-1]) if waits else 0.0,
        makespan=float(last_end - first_queued) if first_queued is not None and last_end is not None else 0.0,
        busy_slot_seconds=busy,
        peak_replicas=peak,
    )
    return over_window(m, spans, end, policies, resources), spans, float(last_end or 0.0)
