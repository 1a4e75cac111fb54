"""Tasks calling tasks in a simulation: the model of a parent, its children and their ends.

:func:`reuse_ref.simulate.simulate` hands a workload with parents to :class:`Family`,
which turns the calls into events of the :class:`~reuse_ref.pools.Pools` (who waits on
whom, who called whom) and carries out what rules 6 and 7 decide there. The model of a
parent, stated once:

* a child's ``at`` counts from the moment its parent *starts* its first attempt; it is
  called (submitted to its pool) then, at ``parent_start + at``;
* the parent works for its own ``duration``, then awaits every child it has: from then
  on it *waits* on the children already called (rule 6), holding its slot, and when the
  last child ends it finishes at that same instant;
* a child that fails for good makes the parent's await raise at once (at the end of
  the parent's own work if it was not awaiting yet), so the parent's attempt fails with
  the child's reason (rule 7). Its other children are then cancelled
  (``FAIL_IMMEDIATELY``) or run to their end first
  (``FAIL_AFTER_EXECUTABLE_NODES_COMPLETE``), the parent holding its slot meanwhile;
* a parent that fails for good any other way (its replica crashed, no retries left)
  leaves no children running: they are cancelled;
* a parent with retries left is tried again, but its children are not called again:
  each later attempt does its own work, then awaits the same children, and fails the
  same way if one of them failed;
* a child whose parent ended before calling it is never called and is absent from the
  trace, like the call it stands for.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..core.pool import Pool
from ..core.pools import Node, Pools
from .workloads import Job

__all__ = ["Family"]


class Family:
    """The parents and children of one simulated workload (see the module docstring)."""

    def __init__(self, jobs: List[Job], by_id: Dict[Any, Job], pools: Pools,
                 pool_of: Optional[Dict[Any, Pool]], pool: Pool) -> None:
        self.by_id = by_id
        self.pools = pools
        self.pool_of = pool_of
        self.pool = pool
        self.children: Dict[Any, List[Job]] = {}
        for job in jobs:
            if job.parent is not None:
                self.children.setdefault(job.parent, []).append(job)
        self.open_kids = {pid: len(kids) for pid, kids in self.children.items()}  # not ended yet
        self.called: set = set()      # parents whose children have been scheduled
        self.awaiting: set = set()    # parents whose own work is done: they await their children
        self.gone: set = set()        # parents that have ended
        self.kid_error: Dict[Any, Tuple[str, str]] = {}  # parent -> its first child's failure
        self.held: Dict[Any, Tuple[str, str]] = {}  # parent -> its failure, final once its children end
        self.done = 0                 # jobs ended (done or failed)
        self.skipped = 0              # jobs never called
        self.carry: Callable[[Pool, list, float], None] = lambda p, actions, now: None

    def node(self, task: Any) -> Node:
        return (self.pool_for(task).name, task)

    def pool_for(self, task: Any) -> Pool:
        return self.pool if self.pool_of is None else self.pool_of[task]

    # ------------------------------------------------------------------ events from the driver
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
            if parent in self.gone or parent in self.held:
                self._skip(kid)
                continue
            self.pools.called(self.node(parent), self.node(kid.id))
            p = self.pool_for(kid.id)
            self.carry(p, p.submit(now, kid.id, kid.retries), now)
        if parent in self.awaiting:
            self._await(parent, now)

    def work_done(self, task: Any, now: float) -> None:
        """The current attempt of ``task`` finished its own work."""
        if task in self.open_kids:
            if task in self.kid_error:  # a child failed: its await raises
                self._fail_parent(task, now, *self.kid_error[task])
                return
            if self.open_kids[task] > 0:
                self.awaiting.add(task)
                self._await(task, now)
                return
        p = self.pool_for(task)
        self.carry(p, p.finish(now, task), now)
        self.ended(task, now)

    def crash(self, p: Pool, rid: int, reason: str, now: float) -> None:
        """A replica died (rule 5). A parent it ran that is tried again keeps its children:
        the next attempt awaits the same ones (they are not called twice); one that fails
        for good ends, and :meth:`ended` cancels its children (rule 7)."""
        lost = [t for t, r in p.running.items() if r == rid and t in self.open_kids]
        for task in lost:
            self.awaiting.discard(task)
            self.pools.resumed(now, (p.name, task))
        self.carry(p, p.replica_crashed(now, rid, reason), now)

    def ended(self, task: Any, now: float, error: Optional[str] = None, message: str = "") -> None:
        """A job ended for good (``error`` None: done); tell its parent, if it still has one."""
        self.done += 1
        node = self.node(task)
        if task in self.open_kids:
            self.gone.add(task)
            self.awaiting.discard(task)
            if task not in self.called:  # it ended before calling its children
                self.skipped += self._descendants(task)
            else:  # children it still holds are cancelled: no work runs for a parent that is gone
                to_cancel, _ = self.pools.parent_ended(node, failed=error is not None)
                self._cancel(to_cancel, now, f"its parent {task!r} ended")
        self.pools.ended(node)
        parent = self.by_id[task].parent
        if parent is None or parent in self.gone:
            return
        self.open_kids[parent] -= 1
        if error is not None and error != "cancelled":
            self.kid_error.setdefault(parent, (error, message))
        if parent in self.held:
            if self.open_kids[parent] == 0 or not self.pools.pending_children(self.node(parent)):
                self._final_failure(parent, now)
            else:
                self._await(parent, now)
        elif parent in self.awaiting:
            if parent in self.kid_error:
                self._fail_parent(parent, now, *self.kid_error[parent])
            elif self.open_kids[parent] == 0:
                self.awaiting.discard(parent)
                self.pools.resumed(now, self.node(parent))
                p = self.pool_for(parent)
                self.carry(p, p.finish(now, parent), now)
                self.ended(parent, now)
            else:
                self._await(parent, now)

    def settle(self, now: float) -> None:
        """Rule 6 after an event: carry out what the pools decide together."""
        if self.pools.waits:
            for name, actions in self.pools.check(now):
                self.carry(self.pools.pools[name], actions, now)

    # ------------------------------------------------------------------ helpers
    def _await(self, parent: Any, now: float) -> None:
        """The parent awaits: it waits on the children it has called and that have not ended."""
        node = self.node(parent)
        for name, actions in self.pools.waiting(now, node, self.pools.pending_children(node)):
            self.carry(self.pools.pools[name], actions, now)

    def _fail_parent(self, parent: Any, now: float, reason: str, message: str) -> None:
        """The parent's await raised its child's error: its attempt fails (rule 7)."""
        self.awaiting.discard(parent)
        node = self.node(parent)
        to_cancel, hold = self.pools.parent_ended(node, failed=True)
        if hold:  # FAIL_AFTER_EXECUTABLE_NODES_COMPLETE: its children run to their end first
            self.held[parent] = (reason, message)
            self._await(parent, now)
            return
        self._cancel(to_cancel, now, f"its parent {parent!r} failed: {reason}")
        p = self.pool_for(parent)
        self.carry(p, p.finish(now, parent, error=reason, message=message), now)

    def _final_failure(self, parent: Any, now: float) -> None:
        reason, message = self.held.pop(parent)
        self.pools.resumed(now, self.node(parent))
        p = self.pool_for(parent)
        self.carry(p, p.finish(now, parent, error=reason, message=message), now)

    def _cancel(self, nodes: List[Node], now: float, message: str) -> None:
        for pool_name, task in nodes:
            p = self.pools.pools.get(pool_name)
            if p is not None:
                self.carry(p, p.cancel(now, task, message), now)

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
