"""What a suspended async attempt waits on: the replica's half of rule 6 (starvation).

A parent *waits* while nothing but the results of tasks it called can wake it. The
core can only decide starvation across pools if each replica says exactly that, so
this module looks at a replica's event loop and answers, for the future an attempt is
suspended on, "these nested calls and nothing else", or "something else too" (a sleep, a
lock, a timer, I/O).

asyncio ties a waiting coroutine to what it waits on in several ways, and each is followed:

- a call's own future (the replica knows it by its request id);
- a task, which waits on its own ``_fut_waiter``;
- ``asyncio.gather``, whose future lists its ``_children``;
- ``asyncio.wait``, ``asyncio.as_completed`` and ``asyncio.TaskGroup``, which leave the
  parent on a plain future (or a queue's getter) that a completion callback on each child
  will wake. Those callbacks are read to find the children of such a future.

A future that a timer will wake (``asyncio.wait(..., timeout=...)``), or a task inside an
``asyncio.timeout()`` block, waits on the clock too, so it never counts as blocked: such a
parent goes on by itself. (A task's own ``timeout=`` is the core's timer, not the
loop's: it does not change whether the task waits, as in the simulator.)
"""
from __future__ import annotations

import asyncio
from typing import Any, Dict, Iterator, List, Optional


_TIMEOUT = getattr(asyncio, "Timeout", None)  # asyncio.timeout()'s class, Python 3.11 and later


class Waits:
    """One look at one loop: built when the replica reports waiting, then thrown away, so
    the maps below never hold a future past that moment."""

    def __init__(self, loop: asyncio.AbstractEventLoop, calls: Dict[Any, int]) -> None:
        self.loop = loop
        self.calls = calls  # a nested call's future -> its request id
        self._woken_by: Optional[Dict[int, List[Any]]] = None
        self._timed: Optional[set] = None

    def blocked_on(self, fut: Any, _seen: Optional[set] = None) -> Optional[set]:
        """The request ids of the nested calls that ``fut`` waits on, when it waits on nothing
        else; ``None`` when it waits on something else too, or is not waiting at all."""
        if fut is None or fut.done():
            return None
        rid = self.calls.get(fut)
        if rid is not None:
            return {rid}
        seen = set() if _seen is None else _seen
        if id(fut) in seen:  # a cycle of futures: not ours to judge
            return None
        seen.add(id(fut))
        if isinstance(fut, asyncio.Task):
            if self._is_timed(fut):  # inside asyncio.timeout(): the clock ends its wait
                return None
            return self.blocked_on(getattr(fut, "_fut_waiter", None), seen)
        if self._is_timed(fut):
            return None
        children = getattr(fut, "_children", None)  # the future of asyncio.gather
        if children is None:
            children = self._woken_by_map().get(id(fut))
        if not children:
            return None
        out: set = set()
        pending = [child for child in children if not child.done()]
        if not pending:
            return None  # it is about to wake
        for child in pending:
            on = self.blocked_on(child, seen)
            if on is None:
                return None
            out |= on
        return out

    def _is_timed(self, fut: Any) -> bool:
        """Whether a timer of the loop will wake ``fut``: one that resolves it (a sleep, a wait
        with a timeout), or the timer of an ``asyncio.timeout()`` block it is in."""
        if self._timed is None:
            timed = set()
            for handle in getattr(self.loop, "_scheduled", ()):
                timed.update(id(arg) for arg in getattr(handle, "_args", None) or ())
                owner = getattr(getattr(handle, "_callback", None), "__self__", None)
                if _TIMEOUT is not None and isinstance(owner, _TIMEOUT):
                    timed.add(id(getattr(owner, "_task", None)))
            self._timed = timed
        return id(fut) in self._timed

    def _woken_by_map(self) -> Dict[int, List[Any]]:
        """``id(waiter) -> the futures whose completion callbacks wake it``, over every
        pending task of the loop and every pending call."""
        if self._woken_by is None:
            woken_by: Dict[int, List[Any]] = {}
            for child in list(self.calls) + list(asyncio.all_tasks(self.loop)):
                if child.done():
                    continue
                for callback, _context in getattr(child, "_callbacks", None) or ():
                    for waiter in _wakes(callback):
                        woken_by.setdefault(id(waiter), []).append(child)
            self._woken_by = woken_by
        return self._woken_by


def _wakes(callback: Any) -> Iterator[Any]:
    """The plain futures a completion callback may resolve: those in its closure (as
    ``asyncio.wait`` and ``as_completed`` keep them), on the object it is bound to (as a
    ``TaskGroup`` keeps its own), or waiting on a queue either of them holds."""
    holders = []
    bound = getattr(callback, "__self__", None)
    if bound is not None and not isinstance(bound, asyncio.Future):
        holders.append(bound)
        holders.extend(getattr(bound, "__dict__", {}).values())
    for cell in getattr(callback, "__closure__", None) or ():
        try:
            holders.append(cell.cell_contents)
        except ValueError:  # an empty cell
            continue
    for holder in holders:
        if isinstance(holder, asyncio.Future) and not isinstance(holder, asyncio.Task):
            yield holder
        elif isinstance(holder, asyncio.Queue):
            yield from getattr(holder, "_getters", ())
