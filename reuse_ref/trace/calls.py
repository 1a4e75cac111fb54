"""Who called whom in a run: what a runtime trace holds beside its records.

A record says when a call was queued, started and ended, and in which pool; it does not
say which call made it, nor how long a parent was blocked on the calls it made. The
runtime notes both for every call it submits to a pool (:mod:`reuse_ref.runtime.recording`)
and hands them to the :class:`~reuse_ref.trace.trace.Trace` of a run as :class:`CallNote`
tuples. The simulator reads them back to replay the run as a workload
(:func:`reuse_ref.sim.recorded.recorded_workload`). A simulated trace has none: its
workload is already a list of jobs.
"""
from __future__ import annotations

from typing import Hashable, NamedTuple, Optional, Tuple

__all__ = ["CallNote"]


class CallNote(NamedTuple):
    """One call of a runtime session, beyond its records.

    * ``task``: its task id in the records (``embed#7``);
    * ``parent``: the task id of the call whose attempt made it, or ``None`` for a run's
      top-level call;
    * ``name``: the task's name (``embedder.embed``); ``pool``: the name of the pool that
      ran it, as the records give it (``embedder``, or ``embedder#2`` for a second
      run-scoped pool of that environment);
    * ``sync``: the task is a plain ``def``; ``retries``: the task's retries;
    * ``timeout``: the task's timeout in policy seconds, or ``None``;
    * ``blocked``: the intervals ``(since, until)``, in policy seconds, during which its
      attempts were blocked on the results of the calls they made, as the replica reported
      them (rule 6's "waiting"); ``until`` is ``inf`` for a wait that had not ended when
      the notes were taken;
    * ``attempts``: ``(number, replica, load, run)`` for each attempt that its replica saw
      to its end (1 for the first attempt), as the replica measured it, in policy seconds:
      ``load`` loading the task's function (importing its module, on the task's first call
      on that replica; about 0 after), ``run`` the attempt itself.
    """

    task: Hashable
    parent: Optional[Hashable]
    name: str
    pool: str
    sync: bool
    retries: int
    timeout: Optional[float]
    blocked: Tuple[Tuple[float, float], ...]
    attempts: Tuple[Tuple[int, int, float, float], ...] = ()
