"""When running attempts time out: the deadlines of attempts whose task has a ``timeout``.

A task's ``timeout`` bounds each of its attempts (flytekit's ``TaskMetadata``): an attempt
dispatched at ``t`` is over its time at ``t + timeout``. The machine that dispatched it
(a :class:`~reuse_ref.core.pool.Pool`, or :class:`~reuse_ref.core.unpooled.Unpooled`)
keeps its deadline here, adds the earliest one to its ``wakeup_at``, and decides what a
deadline that passes does (the module docstring of :mod:`reuse_ref.core.pool`). An
attempt that ended before its deadline leaves a stale entry, skipped when it comes to
the top: the heap is never searched.
"""
from __future__ import annotations

from heapq import heappop, heappush
from itertools import count
from typing import Callable, Hashable, Iterator, List, Optional, Tuple

__all__ = ["AttemptDeadlines"]


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
