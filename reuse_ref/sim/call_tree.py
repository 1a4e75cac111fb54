"""Tasks calling tasks in a simulation: the model of a parent, its children and their ends.

The simulator has no user code to run, so this module plays the part of a parent's code:
when it calls its children, when it awaits them, and what its await does when one of
them fails. Everything else, what a parent's failure or end does to its children and to
its own slot (rule 7), and who can never start (rule 6), is decided by the core's
:class:`~reuse_ref.core.pools.Pools`, which :class:`SimulatedCallTree` feeds. The model,
stated once:

* a child's ``at`` counts from the moment its parent *starts* its first attempt; it is
  called (submitted to its pool) then, at ``parent_start + at``;
* the parent works for its own ``duration``, then awaits every child it has: from then
  on it *waits* on the children already called (rule 6), holding its slot, and when the
  last child ends it finishes at that same instant;
* a child that fails for good makes the parent's await raise at once (at the end of
  the parent's own work if it was not awaiting yet), so the parent's attempt fails with
  the child's reason (rule 7);
* a parent with retries left is tried again, but its children are not called again:
  they are the task's, and each later attempt does its own work, then awaits the same
  children, and fails the same way if one of them failed;
* a child whose parent ended, or holds its failure, before calling it is never called
  and is absent from the trace, like the call it stands for.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..core.pools import Pools
from ..core.propagation import Node
from .workloads import Job

__all__ = ["SimulatedCallTree"]


class SimulatedCallTree:
    """The parents and children of one simulated workload (see the module docstring).

    ``carry(decisions, now)`` is the event loop's: it carries out what the pools decide (a
    :data:`~reuse_ref.core.pools.Decisions`),
    and calls :meth:`ended` for every task that ends for good."""

    def __init__(self, jobs: List[Job], by_id: Dict[Any, Job], pools: Pools,
                 pool_of: Optional[Dict[Any, str]], carry: Callable[[Any, float], None]) -> None:
        self.by_id = by_id
        self.pools = pools
        self.pool_of = pool_of
        self.only = next(iter(pools.pools))  # the pool, when there is one
        self.carry = carry
        self.children: Dict[Any, List[Job]] = {}
        for job in jobs:
            if job.parent is not None:
                self.children.setdefault(job.parent, []).append(job)
        self.open_kids = {pid: len(kids) for pid, kids in self.children.items()}  # not ended yet
        self.called: set = set()      # parents whose children have been scheduled
        self.awaiting: set = set()    # parents whose own work is done: they await their children
        self.gone: set = set()        # parents that have ended
        self.kid_error: Dict[Any, Tuple[str, str]] = {}  # parent -> its first child's failure
        self.done = 0                 # jobs ended (done or failed)
        self.skipped = 0              # jobs never called

    def node(self, task: Any) -> Node:
        return (self.only if self.pool_of is None else self.pool_of[task], task)

    # ------------------------------------------------------------------ events from the event loop
    def dispatched(self, task: Any) -> Iterator[Tuple[float, List[Job]]]:
        """An attempt of ``task`` started: on its first, its children are scheduled, as
        ``(at, children called at that offset)``; children called at the same moment are
        called together, as a parent's loop of calls is. A task that ended before its
        dispatch was carried out (cancelled by the action that freed its slot) calls none:
        its children were counted as never called when it ended."""
        if task in self.children and task not in self.called and task not in self.gone:
            self.called.add(task)
            groups: Dict[float, List[Job]] = {}
            for kid in self.children[task]:
                groups.setdefault(kid.at, []).append(kid)
            yield from groups.items()

    def arrive(self, kids: List[Job], now: float) -> None:
        """Children's call time came: submit them, unless their parent is gone or failing."""
        parent = kids[0].parent
        for kid in kids:
            if parent in self.gone or self.pools.held(self.node(parent)):
                self._skip(kid)
                continue
            self.carry(self.pools.submit(now, self.node(kid.id), kid.retries, kid.timeout, kid.sync,
                                         parent=self.node(parent)), now)
        if parent in self.awaiting:
            self._await(parent, now)

    def work_done(self, task: Any, now: float) -> None:
        """The current attempt of ``task`` finished its own work."""
        node = self.node(task)
        if task in self.pools.pools[node[0]].stopping.dropped:  # a sync task cancelled while it ran: it ends, cancelled
            self.carry(self.pools.finish(now, node), now)
            return
        if task in self.open_kids:
            if task in self.kid_error:  # a child failed: its await raises
                self._fail_parent(task, now, *self.kid_error[task])
                return
            if self.open_kids[task] > 0:
                self.awaiting.add(task)
                self._await(task, now)
                return
        self.carry(self.pools.finish(now, node), now)
        self.ended(task, now)

    def crash(self, name: str, rid: int, reason: str, now: float) -> None:
        """A replica died (rule 5). A parent it ran that is tried again keeps its children:
        the next attempt awaits the same ones (they are not called twice)."""
        pool = self.pools.pools[name]
        for task in [t for t, r in pool.running.items() if r == rid and t in self.open_kids]:
            self.awaiting.discard(task)
            self.pools.resumed(now, (name, task))
        self.carry(self.pools.replica_crashed(now, name, rid, reason), now)

    def interrupted(self, task: Any) -> None:
        """The attempt of ``task`` is over its timeout and stops: it no longer awaits."""
        self.awaiting.discard(task)

    def ended(self, task: Any, now: float, error: Optional[str] = None, message: str = "") -> None:
        """A job ended for good (``error`` None: done): rule 7 through the pools, then its
        parent, if it still awaits it, learns of it."""
        self.done += 1
        if task in self.open_kids:
            self.gone.add(task)
            self.awaiting.discard(task)
            if task not in self.called:  # it ended before calling its children
                self.skipped += self._descendants(task)
        self.carry(self.pools.ended(now, self.node(task), failed=error is not None), now)
        parent = self.by_id[task].parent
        if parent is None or parent in self.gone:
            return
        self.open_kids[parent] -= 1
        if error is not None and error != "cancelled":
            self.kid_error.setdefault(parent, (error, message))
        if parent in self.awaiting:
            if parent in self.kid_error:
                self._fail_parent(parent, now, *self.kid_error[parent])
            elif self.open_kids[parent] == 0:
                self.awaiting.discard(parent)
                self.carry(self.pools.finish(now, self.node(parent)), now)
                self.ended(parent, now)
            else:
                self._await(parent, now)

    def settle(self, now: float) -> None:
        """Rule 6 after an event: carry out what the pools decide together."""
        self.carry(self.pools.check(now), now)

    # ------------------------------------------------------------------ helpers
    def _await(self, parent: Any, now: float) -> None:
        """The parent awaits: it waits on the children it has called and that have not ended."""
        self.carry(self.pools.awaits_children(now, self.node(parent)), now)

    def _fail_parent(self, parent: Any, now: float, reason: str, message: str) -> None:
        """The parent's await raised its child's error: its attempt fails (rule 7 decides the rest)."""
        self.awaiting.discard(parent)
        self.carry(self.pools.finish(now, self.node(parent), error=reason, message=message), now)

    def _skip(self, kid: Job) -> None:
        parent = kid.parent
        self.skipped += 1 + self._descendants(kid.id)
        if parent in self.open_kids and parent not in self.gone:
            self.open_kids[parent] -= 1

    def _descendants(self, task: Any) -> int:
        count = 0
        stack = list(self.children.get(task, ()))
        while stack:
            kid = stack.pop()
            count += 1
            stack.extend(self.children.get(kid.id, ()))
        return count
