"""A run's time, as its user feels it: from its root call's first ``task_queued`` to its end.

A run is one top-level call (a job without a parent: the driver's task a user started)
and every call under it. Its user waits from the moment the run was started, its root
queued (so a driver's own queue counts), until the root ends: a parent ends after every
child it awaited, so that is the run's end. The root's end is its ``task_end``, or a
final ``task_failed`` (a failed run is over for its user too); a ``task_failed`` that will
be retried is not an end. A run whose root never ended has no time: :func:`run_times`
gives it ``inf``, so that any percentile it reaches says so, and a plan's run target
(``run-p95<=600``) treats it as the starvation it is.

The records do not say which task is a root, so the caller names them (the workload's
jobs without a parent); their ids are the records' ``task`` column.
"""
from __future__ import annotations

import math
from typing import Any, Collection, Dict, Iterable, List, Optional, Tuple

from ..core.records import RETRYING

__all__ = ["run_times", "roots_of"]


def roots_of(jobs: Iterable[Any]) -> frozenset:
    """The ids of the top-level jobs of a workload (``parent is None``): its runs."""
    return frozenset(job.id for job in jobs if job.parent is None)


def run_times(rows: Iterable[Tuple], roots: Collection[Any], since: Optional[float] = None,
              until: Optional[float] = None) -> List[float]:
    """Each run's time, in seconds, sorted: for every root in ``roots`` that was queued (in
    ``[since, until)`` when a window is given), its end minus its first ``task_queued``;
    ``inf`` for a root queued that never ended. ``rows`` are a trace's rows, ``(time, kind,
    replica, task, reason, env)``, in time order."""
    queued: Dict[Any, float] = {}
    ended: Dict[Any, float] = {}
    for time, kind, _, task, reason, _ in rows:
        if task not in roots:
            continue
        if kind == "task_queued":
            queued.setdefault(task, time)
        elif kind == "task_end" or (kind == "task_failed" and not reason.endswith(RETRYING)):
            ended[task] = time
    lo = -math.inf if since is None else since
    hi = math.inf if until is None else until
    out = [ended.get(task, math.inf) - at for task, at in queued.items() if lo <= at < hi]
    out.sort()
    return out
