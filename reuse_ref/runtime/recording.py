"""What the driver notes about each call beyond the trace's records: its parent and its waits.

The driver's :class:`~reuse_ref.runtime.call_table.CallTable` keeps a :class:`CallLog`,
fed at three moments: a call given to a pool (its task id, its parent's, its task's
settings), a replica's ``WAITING`` report (the attempt is blocked on the results of its
calls, or runs again) and its ``DONE`` (how long the attempt spent loading its function,
and running). Times are kept as they come (policy seconds from the driver's clock, wall
seconds from a replica) and given in policy seconds. A run's trace carries them as
:class:`~reuse_ref.trace.calls.CallNote` tuples, from which
:func:`reuse_ref.sim.recorded.recorded_workload` makes the run's workload. A call answered
from the cache never reaches a pool and is not noted. The notes grow with the runtime's
calls, as its records do (about 3 microseconds of the driver's time a call).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

from ..trace.calls import CallNote

__all__ = ["CallLog"]


class _Entry:
    __slots__ = ("note", "run", "waits", "since", "attempts")

    def __init__(self, note: CallNote, run: Optional[int]) -> None:
        self.note = note
        self.run = run
        self.waits: List[Tuple[float, float]] = []  # closed intervals of being blocked
        self.since: Optional[float] = None  # blocked since then, not running again yet
        self.attempts: List[Tuple[int, int, float, float]] = []  # (number, replica, load, run), wall seconds


class CallLog:
    """The driver's notes on every call it submitted to a pool, in the order it did."""

    def __init__(self) -> None:
        self.entries: Dict[str, _Entry] = {}
        self.by_run: Dict[Optional[int], List[_Entry]] = {}  # a run's trace reads only its own calls

    def submitted(self, call: Any) -> None:
        """``call`` has just been given its task id and its pool."""
        task = call.task
        timeout = task.options.timeout
        note = CallNote(call.key, call.parent.call.key if call.parent is not None else None, task.name,
                        call.ps.name, not task.is_async, task.options.retries,
                        None if timeout is None else timeout.total_seconds(), ())
        entry = self.entries[call.key] = _Entry(note, call.run.id if call.run is not None else None)
        self.by_run.setdefault(entry.run, []).append(entry)

    def waiting(self, key: Optional[str], now: float, blocked: bool) -> None:
        """A replica's ``WAITING`` report: the attempt of ``key`` is now blocked on its calls
        (``blocked``), or runs again."""
        entry = self.entries.get(key) if key is not None else None
        if entry is None:
            return
        if blocked and entry.since is None:
            entry.since = now
        elif not blocked and entry.since is not None:
            entry.waits.append((entry.since, now))
            entry.since = None

    def ran(self, key: Optional[str], number: int, replica: int, timing: tuple) -> None:
        """An attempt's ``DONE``: ``timing`` is ``(load, run)`` in wall seconds, as its replica
        measured them (empty from a replica that does not say)."""
        entry = self.entries.get(key) if key is not None else None
        if entry is not None and len(timing) == 2:
            entry.attempts.append((number, replica, timing[0], timing[1]))

    def notes(self, time_scale: float, run: Optional[int] = None) -> List[CallNote]:
        """The notes of every call (of ``run`` only, when given), in the order they were made,
        every time in policy seconds (wall seconds divided by ``time_scale``)."""
        out = []
        entries = self.entries.values() if run is None else self.by_run.get(run, ())
        for entry in list(entries):  # a copy: the driver's thread may add one meanwhile
            note = entry.note
            waits = entry.waits if entry.since is None else entry.waits + [(entry.since, math.inf)]
            attempts = tuple((n, r, load / time_scale, ran / time_scale) for n, r, load, ran in entry.attempts)
            out.append(note._replace(blocked=tuple(waits), attempts=attempts,
                                     timeout=None if note.timeout is None else note.timeout / time_scale))
        return out
