"""Running attempts the core stops before they end by themselves: their deadlines, and the stops.

A task's ``timeout`` bounds each of its attempts (flytekit's ``TaskMetadata``): an attempt
dispatched at ``t`` is over its time at ``t + timeout``. The machine that dispatched it
(a :class:`~reuse_ref.core.pool.Pool`, or :class:`~reuse_ref.core.unpooled.Unpooled`)
keeps its deadline in :class:`AttemptDeadlines`, adds the earliest one to its
``wakeup_at``, and decides what a deadline that passes does. An async attempt over its
time is *interrupted*, and a sync attempt cancelled by rule 7 (which cannot be stopped)
is *dropped*: both still run, and :class:`StoppingAttempts` remembers what each will fail
with when it ends.
"""
from __future__ import annotations

from heapq import heappop, heappush
from itertools import count
from typing import Callable, Dict, Hashable, Iterator, List, Optional, Tuple

__all__ = ["AttemptDeadlines", "StoppingAttempts"]


class AttemptDeadlines:
    """A heap of ``(deadline, order, task, attempt)``: the first attempt over its time first,
    and of two at the same instant the one dispatched first."""

    __slots__ = ("heap", "_order")

    def __init__(self) -> None:
        self.heap: List[Tuple[float, int, Hashable, int]] = []
        self._order = count()

    def add(self, deadline: float, task: Hashable, attempt: int) -> None:
        heappush(self.heap, (deadline, next(self._order), task, attempt))

    def next_due(self, current: Callable[[Hashable, int], bool]) -> Optional[float]:
        """The earliest deadline of an attempt still running (``current(task, attempt)``), or None."""
        heap = self.heap
        while heap and not current(heap[0][2], heap[0][3]):
            heappop(heap)
        return heap[0][0] if heap else None

    def due(self, now: float, current: Callable[[Hashable, int], bool]) -> Iterator[Tuple[Hashable, int]]:
        """Pop the attempts still running whose deadline is ``now`` or earlier, first due first."""
        heap = self.heap
        while heap and heap[0][0] <= now:
            _, _, task, attempt = heappop(heap)
            if current(task, attempt):
                yield task, attempt

    def clear(self) -> None:
        self.heap.clear()


class StoppingAttempts:
    """The running attempts a machine has decided to stop, and that still run: an async one
    over its timeout (interrupted: it keeps its slot until its driver reports that it
    stopped) and a sync one cancelled by rule 7 (dropped: it runs on, unheard, to its end).
    Each fails, when it ends, with what stopped it, whatever its driver reports."""

    __slots__ = ("interrupted", "dropped")

    def __init__(self) -> None:
        self.interrupted: Dict[Hashable, str] = {}  # task -> the reason it was interrupted for
        self.dropped: Dict[Hashable, str] = {}  # task -> why rule 7 cancelled it

    def __contains__(self, task: Hashable) -> bool:
        return task in self.interrupted or task in self.dropped

    def __bool__(self) -> bool:
        return bool(self.interrupted or self.dropped)

    def ended(self, task: Hashable, error: Optional[str], message: str) -> Tuple[Optional[str], str]:
        """The attempt of ``task`` ended, reporting ``error`` and ``message``: what it fails with
        (its interrupt's reason, or rule 7's ``cancelled``; or what was reported, when it was not
        being stopped). It is no longer being stopped."""
        reason = self.interrupted.pop(task, None)
        if reason is not None:
            return reason, message
        why = self.dropped.pop(task, None)
        if why is not None:
            return "cancelled", why
        return error, message

    def clear(self) -> None:
        self.interrupted.clear()
        self.dropped.clear()
