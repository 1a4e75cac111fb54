"""Tasks calling tasks in a simulation: the model of a parent, its children and their ends.

The simulator has no user code to run, so this module plays the part of a parent's code:
when it calls its children, when it awaits them, and what its await does when one of
them fails. Everything else, what a parent's failure or end does to its children and to
its own slot (rule 7), and who can never start (rule 6), is decided by the core's
:class:`~reuse_ref.core.pools.Pools`, which :class:`SimulatedCallTree` feeds. The model,
stated once:

* each attempt of a parent calls its children: a child's ``at`` counts from the moment
  that attempt *starts*, and it is called (submitted to its pool) then, at
  ``attempt_start + at``, as a call of that attempt;
* the attempt works for the parent's own ``duration``, then awaits every child it
  called: from then on it *waits* on those that have not ended (rule 6), holding its
  slot, and when the last one ends it finishes at that same instant;
* a child that fails for good makes the attempt's await raise at once (at the end of
  the attempt's own work if it was not awaiting yet), so the attempt fails with the
  child's reason (rule 7);
* a parent with retries left is tried again, as the runtime tries it: its code runs
  again, so the new attempt calls its children again, as new calls (the task id of a
  job called again is the job's id and the call's number, ``"7~2"`` for the second call
  of job 7), and awaits only those; the calls of the attempt that ended are cancelled
  with it (``FAIL_IMMEDIATELY``) or run to their end unheard
  (``FAIL_AFTER_EXECUTABLE_NODES_COMPLETE``), as the core decides;
* a child whose attempt ended, or holds its failure, before calling it is never called
  and is absent from the trace, like the call it stands for;
* the run of a task is the top-level job its call tree starts from
  (:mod:`reuse_ref.sim.run_scope`): when that job ends for good, the run's
  ``scope="run"`` pools close.
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
    :data:`~reuse_ref.core.pools.Decisions`), and calls :meth:`ended` for every task that
    ends for good. ``by_id`` maps each task id to the job it plays (a job called again by
    a retried parent is added under its new id); ``scope`` is the simulation's
    :class:`~reuse_ref.sim.run_scope.RunScope` when some environment is run-scoped."""

    def __init__(self, jobs: List[Job], by_id: Dict[Any, Job], pools: Pools,
                 pool_of: Optional[Dict[Any, str]], carry: Callable[[Any, float], None], scope: Any = None) -> None:
        self.by_id = by_id
        self.pools = pools
        self.pool_of = pool_of
        self.only = next(iter(pools.pools), None)  # the pool, when there is one
        self.carry = carry
        self.scope = scope
        self.children: Dict[Any, List[Job]] = {}  # a job id -> the jobs it calls, in workload order
        for job in jobs:
            if job.parent is not None:
                self.children.setdefault(job.parent, []).append(job)
        self.job_of: Dict[Any, Any] = {}  # a task called again -> the id of the job it plays
        self.caller: Dict[Any, Tuple[Any, int]] = {}  # a task called again -> (its parent task, that attempt)
        self.calls_of: Dict[Any, int] = {}  # a job id -> how many times it has been called again
        self.attempt: Dict[Any, int] = {}  # a parent -> its attempt whose children are counted
        self.open_kids: Dict[Any, int] = {}  # a parent -> that attempt's children not ended yet
        self.called: set = set()      # parents that have called (had an attempt dispatched)
        self.awaiting: set = set()    # parents whose attempt's own work is done: they await its children
        self.gone: set = set()        # parents that have ended
        self.kid_error: Dict[Any, Tuple[str, str]] = {}  # parent -> its attempt's first child failure
        self.done = 0                 # tasks ended (done or failed), called again ones included
        self.skipped = 0              # jobs of the workload never called
        self.recalled = 0             # calls made again by retried parents

    def node(self, task: Any) -> Node:
        return (self.only if self.pool_of is None else self.pool_of[task], task)

    def parent_of(self, task: Any) -> Tuple[Any, int]:
        """``(parent task, the attempt of it that called task)``; ``(None, 0)`` for a top-level job."""
        caller = self.caller.get(task)
        if caller is not None:
            return caller
        parent = self.by_id[task].parent
        return (None, 0) if parent is None else (parent, 1)

    # ------------------------------------------------------------------ events from the event loop
    def dispatched(self, task: Any, attempt: int) -> Iterator[Tuple[float, tuple]]:
        """Attempt ``attempt`` of ``task`` started: its children are scheduled, as ``(at,
        (task, attempt, children called at that offset))``; children called at the same
        moment are called together, as a parent's loop of calls is. A task that ended
        before its dispatch was carried out (cancelled by the action that freed its slot)
        calls none: its children were counted as never called when it ended."""
        kids = self.children.get(self.job_of.get(task, task))
        if kids is None or task in self.gone:
            return
        self.called.add(task)
        self.attempt[task] = attempt
        self.open_kids[task] = len(kids)
        self.kid_error.pop(task, None)
        self.awaiting.discard(task)
        groups: Dict[float, List[Job]] = {}
        for kid in kids:
            groups.setdefault(kid.at, []).append(kid)
        for at, group in groups.items():
            yield at, (task, attempt, group)

    def arrive(self, call: tuple, now: float) -> None:
        """Children's call time came: submit them, unless the attempt that calls them has
        ended or holds its failure."""
        parent, attempt, kids = call
        for kid in kids:
            if not self._current(parent, attempt) or self.pools.held(self.node(parent)):
                self._skip(parent, attempt, kid)
                continue
            task = kid.id if attempt == 1 and parent not in self.job_of else self._call_again(kid, parent, attempt)
            if self.scope is not None:
                self.scope.route(task)
            self.carry(self.pools.submit(now, self.node(task), kid.retries, kid.timeout, kid.sync,
                                         parent=self.node(parent), attempt=attempt), now)
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
        """A replica died (rule 5). A parent it ran no longer awaits: a retry is a new attempt."""
        pool = self.pools.pools[name]
        for task in [t for t, r in pool.running.items() if r == rid and t in self.open_kids]:
            self.awaiting.discard(task)
            self.pools.resumed(now, (name, task))
        self.carry(self.pools.replica_crashed(now, name, rid, reason), now)

    def interrupted(self, task: Any) -> None:
        """The attempt of ``task`` is over its timeout and stops: it no longer awaits."""
        self.awaiting.discard(task)

    def ended(self, task: Any, now: float, error: Optional[str] = None, message: str = "") -> None:
        """A task ended for good (``error`` None: done): rule 7 through the pools (and, for the
        root of a run, the end of its run-scoped pools), then its parent's attempt, if it
        called this task and still awaits it, learns of it."""
        self.done += 1
        if self.job_of.get(task, task) in self.children:  # a parent
            self.gone.add(task)
            self.awaiting.discard(task)
            if task not in self.called and task not in self.job_of:  # it ended before calling its children
                self.skipped += self._descendants(task)
        self.carry(self.pools.ended(now, self.node(task), failed=error is not None), now)
        parent, attempt = self.parent_of(task)
        if parent is None:
            if self.scope is not None:
                self.carry(self.scope.run_ended(now, task), now)
            return
        if parent in self.gone or self.attempt.get(parent) != attempt:
            return  # the attempt that called it is over: a later attempt awaits calls of its own
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
    def _current(self, parent: Any, attempt: int) -> bool:
        """Whether ``attempt`` of ``parent`` is still running (not ended, not replaced by a retry)."""
        if parent in self.gone or self.attempt.get(parent) != attempt:
            return False
        name, task = self.node(parent)
        pool = self.pools.pools.get(name)
        return pool is not None and pool.running.get(task) is not None and pool.attempts.get(task) == attempt

    def _call_again(self, kid: Job, parent: Any, attempt: int) -> Any:
        """A new task for ``kid``, called by a later attempt of its parent (or by a task that
        is itself called again): the job's id and the call's number, ``"7~2"``."""
        n = self.calls_of.get(kid.id, 1)
        while True:
            n += 1
            task = f"{kid.id}~{n}"
            if task not in self.by_id:
                break
        self.calls_of[kid.id] = n
        self.by_id[task] = kid
        self.job_of[task] = kid.id
        self.caller[task] = (parent, attempt)
        if self.pool_of is not None:
            self.pool_of[task] = self.pool_of[kid.id] if self.scope is None else self._env_of(kid.id)
        self.recalled += 1
        return task

    def _env_of(self, job_id: Any) -> str:
        env = self.scope.env_of.get(job_id)
        return self.pool_of[job_id] if env is None else env

    def _await(self, parent: Any, now: float) -> None:
        """The parent's attempt awaits: it waits on the children it called that have not ended."""
        self.carry(self.pools.awaits_children(now, self.node(parent), self.attempt[parent]), now)

    def _fail_parent(self, parent: Any, now: float, reason: str, message: str) -> None:
        """The parent's await raised its child's error: its attempt fails (rule 7 decides the rest)."""
        self.awaiting.discard(parent)
        self.carry(self.pools.finish(now, self.node(parent), error=reason, message=message), now)

    def _skip(self, parent: Any, attempt: int, kid: Job) -> None:
        """``kid`` is never called by this attempt: a job of the workload (the first attempt of
        a parent of the workload) counts as never called, with the jobs it would have called."""
        if attempt == 1 and parent not in self.job_of:
            self.skipped += 1 + self._descendants(kid.id)
        if parent not in self.gone and self.attempt.get(parent) == attempt:
            self.open_kids[parent] -= 1

    def _descendants(self, job_id: Any) -> int:
        count = 0
        stack = list(self.children.get(job_id, ()))
        while stack:
            kid = stack.pop()
            count += 1
            stack.extend(self.children.get(kid.id, ()))
        return count
