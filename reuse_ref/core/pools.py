"""The pools of one runtime or one simulation, together: what no single pool can decide.

A :class:`~reuse_ref.core.pool.Pool` (or :class:`~reuse_ref.core.unpooled.Unpooled`)
decides everything about its own replicas. What needs every pool at once lives here, in
the same sans-I/O style, and a driver feeds these events to :class:`Pools` rather than to
a pool, so that the simulator and the runtime go through the same decisions:

* **Rule 6, starvation across environments** (:mod:`reuse_ref.core.starvation`):
  :meth:`Pools.waiting` and :meth:`Pools.check`.
* **Rule 7, failure propagation** (:mod:`reuse_ref.core.propagation`): a task's calls
  (:meth:`Pools.submit` with ``parent``), an attempt's own failure, cancelled children or
  a held failure (:meth:`Pools.finish`), and a task's end for good (:meth:`Pools.ended`).
* **The start-failure limit**: a pool whose replicas die before they are ready
  ``START_FAILURES_LIMIT`` times in a row closes, failing its tasks, rather than start
  replicas for ever (:meth:`Pools.replica_crashed`).
* **Run scope**: the pools of an environment with ``scope="run"`` belong to one run and
  close when it ends (:meth:`Pools.run_ended`). Each run's pool of such an environment
  is named after it, ``env``, or ``env#2``, ``env#3``... while pools of that name are
  alive (:func:`free_name`), and its replica ids go on from those of the last pool of the
  same name, never used twice (:meth:`Pools.open_for_run`).

Every event answers with *decisions*: ``(pool name, actions)`` pairs, to be carried out in
order and to the end. Where rule 7 cancels several children, each child's cancel is
decided when the driver reaches it, so that what the driver does with the actions before
it (a cancelled child's own children, say) comes first, as it would in a run. A task
that has ended for good (the driver carried out its ``FailTask``, or its attempt ended
well) is reported with :meth:`Pools.ended`: what that does to its children and to a
parent holding its failure comes back as more decisions.

Tasks are named by *nodes*: ``(pool name, task id)`` pairs, so that the same task id may
be used in two environments; a call that waits outside every pool (the runtime's cache
followers) has the pool name ``None``.
"""
from __future__ import annotations

from typing import Any, Dict, Hashable, Iterable, Iterator, List, Optional, Tuple

from ..config.policy import ReusePolicy
from .actions import Action, FailTask
from .pool import PACED, Pool, check_scaledown
from .propagation import FAIL_IMMEDIATELY, CallTree, Node, check_failure_policy
from .starvation import WaitForGraph
from .unpooled import Unpooled

__all__ = ["Pools", "Decisions", "START_FAILURES_LIMIT", "MOST_MIN_REPLICAS", "new_pool", "free_name",
           "check_min_replicas"]

Decisions = Iterable[Tuple[Optional[str], List[Action]]]
"""What an event of :class:`Pools` decides: ``(pool name, actions)`` pairs, carried out in order."""

START_FAILURES_LIMIT = 3
"""Replicas of one pool dying before they are ready, in a row, after which the pool closes
(reason ``crashed``): an image or an environment that cannot start would otherwise be
restarted for ever while its tasks wait."""


MOST_MIN_REPLICAS = 100_000
"""The largest ``min`` of a pool the drivers make. Rule 2 starts ``min`` replicas as soon as
the environment starts, each a replica the driver holds (a process on the runtime; a few
hundred bytes and its records in the simulator): ``replicas=10**22`` grew to 23.7 GB before
the kernel killed it. A pool above ``min`` holds only the replicas its tasks made it start,
so ``max`` has no such bound."""


def new_pool(policy: Optional[ReusePolicy], name: str, first_replica_id: int = 1, scaledown: str = PACED) -> Any:
    """The machine of one pool: a :class:`~reuse_ref.core.pool.Pool` under a reuse policy and
    a reading of rule 3 (``scaledown``: ``"paced"`` or ``"per_replica"``); for tasks without
    reuse (``policy`` None), an :class:`~reuse_ref.core.unpooled.Unpooled` (no policy says "a
    fresh replica per attempt", and it never scales down). A policy whose ``min`` is above
    :data:`MOST_MIN_REPLICAS` is refused (``ValueError``)."""
    if policy is None:
        check_scaledown(scaledown)
        return Unpooled(name, first_replica_id=first_replica_id)
    check_min_replicas(policy, f"pool {name!r}")
    return Pool(policy, name=name, first_replica_id=first_replica_id, scaledown=scaledown)


def free_name(base: str, taken: Iterable[str]) -> str:
    """A pool's name: ``base``, or while a pool of that name is alive, ``base#2``, ``base#3``...
    (the first not in ``taken``): two runs of a ``scope="run"`` environment at once."""
    taken = set(taken)
    name, n = base, 2
    while name in taken:
        name, n = f"{base}#{n}", n + 1
    return name


def check_min_replicas(policy: ReusePolicy, where: str) -> None:
    """Refuse a policy whose pool would start more than :data:`MOST_MIN_REPLICAS` replicas at once."""
    if policy.min_replicas > MOST_MIN_REPLICAS:
        raise ValueError(
            f"replicas={policy.replicas!r} is not valid for {where}: a pool starts its min replicas as soon as its "
            f"environment starts, and at most {MOST_MIN_REPLICAS:,} of them; give a small min and a large max, "
            f"replicas=(min, max): the pool starts only the replicas its tasks need")


class Pools:
    """Every pool of a runtime or a simulation, with the wait-for graph and the call tree.

    >>> from reuse_ref import ReusePolicy
    >>> from reuse_ref.core.pool import Pool
    >>> pools = Pools()
    >>> a = pools.add(Pool(ReusePolicy(replicas=1, concurrency=1), name="a"))
    >>> list(pools.submit(0.0, ("a", "parent"))), list(pools.replica_ready(1.0, "a", 1))
    ([('a', [StartReplica(replica=1)])], [('a', [Dispatch(task='parent', replica=1, attempt=1, warm=False)])])
    >>> list(pools.submit(2.0, ("a", "child"), parent=("a", "parent")))
    [('a', [])]
    >>> [(name, [x.reason for x in acts]) for name, acts in pools.waiting(3.0, ("a", "parent"), [("a", "child")])]
    [('a', ['starvation'])]
    """

    def __init__(self, failure_policy: str = FAIL_IMMEDIATELY) -> None:
        self.failure_policy = check_failure_policy(failure_policy)
        self.pools: Dict[str, Any] = {}  # name -> Pool or Unpooled, in the order they were added
        self.records: list = []  # shared by every pool added: one list, in event order
        self.graph = WaitForGraph(self.pools, self.records)  # rule 6
        self.tree = CallTree(self.failure_policy)  # rule 7
        self.start_failures: Dict[str, int] = {}  # a pool -> replicas dead before ready, in a row
        self.scoped: Dict[Hashable, List[Any]] = {}  # a run -> its scope="run" pools
        self.next_ids: Dict[str, int] = {}  # a pool name no longer alive -> the next replica id under it

    def add(self, pool: Any, run: Hashable = None) -> Any:
        """Make ``pool`` one of these pools; from now on it writes its records into ``records``.
        With ``run``, the pool belongs to that run (``scope="run"``) and closes when it ends."""
        if pool.name in self.pools:
            raise ValueError(f"pool={pool.name!r} is not valid: a pool of that name is already here")
        self.records.extend(pool.records)
        pool.records = self.records
        self.pools[pool.name] = pool
        if run is not None:
            self.scoped.setdefault(run, []).append(pool)
        return pool

    def remove(self, name: str) -> None:
        """Forget a pool that was closed (its name may be used again by a new pool, whose
        replica ids go on from this one's)."""
        pool = self.pools.pop(name, None)
        if pool is not None:
            self.next_ids[name] = pool._next_id  # the core's own bookkeeping, read within the core
        self.start_failures.pop(name, None)

    def open_for_run(self, env: str, policy: ReusePolicy, run: Hashable, scaledown: str = PACED) -> Any:
        """A new pool of ``env`` (whose ``policy`` has ``scope="run"``) for ``run``, named by
        :func:`free_name`, its replica ids going on from the last pool of that name; it
        closes when the run ends (:meth:`run_ended`)."""
        name = free_name(env, self.pools)
        return self.add(new_pool(policy, name, self.next_ids.get(name, 1), scaledown), run)

    # ------------------------------------------------------------------ queries
    def held(self, node: Node) -> bool:
        """Whether ``node``'s failure is held until its children end (rule 7)."""
        return node in self.tree.held

    def pending_children(self, parent: Node) -> List[Node]:
        """The children of ``parent`` that have not ended, in the order they were called."""
        return self.tree.pending(parent)

    # ------------------------------------------------------------------ events of one pool
    def submit(self, now: float, node: Node, retries: int = 0, timeout: Optional[float] = None, sync: bool = False,
               parent: Optional[Node] = None, attempt: Optional[int] = None,
               failure_policy: Optional[str] = None) -> Decisions:
        """A task arrives in its pool (``Pool.submit``). With ``parent``, that task (``attempt``
        of it, or the whole task when ``None``) called it (rule 7); ``failure_policy`` is its
        run's, when runs choose their own (the runtime's case)."""
        name, task = node
        if parent is not None:
            self.tree.called(parent, node, attempt)
        if failure_policy is not None:
            self.tree.choose_policy(node, failure_policy)
        return [(name, self.pools[name].submit(now, task, retries, timeout, sync))]

    def called(self, parent: Node, child: Node, attempt: Optional[int] = None) -> None:
        """``parent`` called ``child``, which waits outside every pool (its pool name is ``None``)."""
        self.tree.called(parent, child, attempt)

    def replica_ready(self, now: float, name: str, replica: int) -> Decisions:
        """A replica of ``name`` is ready: the pool's run of start failures is over."""
        self.start_failures[name] = 0
        return [(name, self.pools[name].replica_ready(now, replica))]

    def replica_crashed(self, now: float, name: str, replica: int, reason: str = "crashed",
                        ready: bool = True) -> Decisions:
        """A replica of ``name`` died (rule 5); ``ready`` says whether it had become ready.
        The ``START_FAILURES_LIMIT``-th death before ready in a row closes the pool (reason
        ``crashed``: ``name`` is then no longer among ``pools``)."""
        if not ready:
            failures = self.start_failures[name] = self.start_failures.get(name, 0) + 1
            if failures >= START_FAILURES_LIMIT:  # closing stops the dead replica too: nothing replaces it
                return self.close(now, name, "crashed")
        pool = self.pools[name]
        lost = self._attempts_that_called(name, pool, replica)
        return self._then_attempts_over(now, name, pool.replica_crashed(now, replica, reason), lost)

    def advance(self, now: float, name: str) -> Decisions:
        """Time passed for ``name``: its timed rules (timeouts, rules 3 and 4)."""
        pool = self.pools[name]
        lost = self._attempts_that_called(name, pool)
        return self._then_attempts_over(now, name, pool.advance(now), lost)

    def finish(self, now: float, node: Node, error: Optional[str] = None, message: str = "") -> Decisions:
        """An attempt of ``node`` ended: its code returned (``error=None``) or failed (``error``:
        ``"error"``, or the reason of a child's failure its await raised), or it stopped after
        an ``Interrupt``. When it failed by itself, rule 7: its pending children are
        cancelled first, or, under ``FAIL_AFTER_EXECUTABLE_NODES_COMPLETE``, its failure is
        held (it keeps its slot and waits on them) until the last of them has ended."""
        name, task = node
        pool = self.pools[name]
        self.graph.resumed(node)
        if error is not None and error != "cancelled" and task not in pool.stopping:
            return self._own_failure(now, node, error, message)
        lost = self._attempts_that_called(name, pool, task=task)
        return self._then_attempts_over(now, name, pool.finish(now, task, error, message), lost)

    def cancel(self, now: float, node: Node, message: str) -> Decisions:
        """Rule 7: ``node`` is no longer wanted (``Pool.cancel``); a call outside every pool
        fails at once with ``cancelled``."""
        name, task = node
        if name is None:
            return [(None, [FailTask(task, "cancelled", message)])]
        pool = self.pools.get(name)
        return [] if pool is None else [(name, pool.cancel(now, task, message))]

    # ------------------------------------------------------------------ rule 7
    def ended(self, now: float, node: Node, failed: bool = False) -> Decisions:
        """``node`` has ended for good (done, or failed: ``failed``). The children it still holds
        are cancelled (when it ended well, or failed under ``FAIL_IMMEDIATELY``); it is no
        longer its parent's child, and a parent holding its failure for it may now fail."""
        self.graph.resumed(node)
        kids = self.tree.pending(node)
        if kids and (not failed or self.tree.cancels_on_failure(node)):
            yield from self._cancel_all(now, kids, f"its parent {node[1]!r} ended")
        parent = self.tree.ended(node)
        if parent is not None and parent in self.tree.held:
            if self.tree.children.get(parent):
                yield from self.awaits_children(now, parent)
            else:
                yield from self._final_failure(now, parent)

    def _own_failure(self, now: float, node: Node, reason: str, message: str) -> Iterator[Tuple[str, List[Action]]]:
        kids = self.tree.pending(node)
        if kids and not self.tree.cancels_on_failure(node):  # FAIL_AFTER_EXECUTABLE_NODES_COMPLETE
            self.tree.held[node] = (reason, message)
            yield from self.awaits_children(now, node)
            return
        yield from self._cancel_all(now, kids, f"its parent {node[1]!r} failed: {reason}")
        name, task = node
        yield name, self.pools[name].finish(now, task, reason, message)

    def _final_failure(self, now: float, parent: Node) -> Iterator[Tuple[str, List[Action]]]:
        """The children of a held failure have all ended: it is final now."""
        reason, message = self.tree.held.pop(parent)
        self.graph.resumed(parent)
        name, task = parent
        pool = self.pools.get(name)
        if pool is not None and task in pool.running:
            yield name, pool.finish(now, task, reason, message)

    def _cancel_all(self, now: float, kids: List[Node], why: str) -> Iterator[Tuple[Optional[str], List[Action]]]:
        for kid in kids:  # one at a time: each is decided once the driver has carried out the one before
            yield from self.cancel(now, kid, why)

    def _attempts_that_called(self, name: str, pool: Any, replica: Optional[int] = None,
                              task: Hashable = None) -> List[Tuple[Node, int]]:
        """The running attempts of ``name`` (on ``replica``, or of ``task``) that called children
        of their own: an event may end them."""
        out = []
        callers = self.tree.attempt_callers
        if task is not None:  # one task: a lookup, not a scan (an attempt ends per task; keep it O(1))
            attempts = callers.get((name, task))
            callers = {} if attempts is None else {(name, task): attempts}
        for node, attempts in callers.items():
            if node[0] != name or (task is not None and node[1] != task):
                continue
            rid = pool.running.get(node[1])
            attempt = pool.attempts.get(node[1])
            if rid is not None and attempt in attempts and (replica is None or rid == replica):
                out.append((node, attempt))
        return out

    def _then_attempts_over(self, now: float, name: str, actions: List[Action],
                            lost: List[Tuple[Node, int]]) -> Iterator[Tuple[Optional[str], List[Action]]]:
        """``actions``, then rule 7 for the attempts of ``lost`` that they ended without ending
        their task (it is tried again): the children each of them called are cancelled
        (``FAIL_IMMEDIATELY``; under ``FAIL_AFTER_EXECUTABLE_NODES_COMPLETE`` they run on)."""
        yield name, actions
        pool = self.pools.get(name)
        for node, attempt in lost:
            if node not in self.tree.attempt_callers:
                continue  # it ended for good: ended() decided for its children
            if pool is not None and pool.running.get(node[1]) is not None and pool.attempts.get(node[1]) == attempt:
                continue  # still running
            if self.tree.cancels_on_failure(node):
                yield from self._cancel_all(now, self.tree.of_attempt(node, attempt),
                                            f"the attempt of {node[1]!r} that called it ended")

    # ------------------------------------------------------------------ rule 6
    def waiting(self, now: float, task: Node, on: Iterable[Node]) -> Decisions:
        """``task`` now blocks on the results of ``on`` (an empty ``on``: it runs again)."""
        self.graph.waiting(task, on)
        return self.graph.check(now)

    def awaits_children(self, now: float, parent: Node, attempt: Optional[int] = None) -> Decisions:
        """``parent`` now awaits every child it called that has not ended (with ``attempt``:
        that attempt called; a retried parent awaits only its own attempt's calls). When every
        pending child is its (the usual case: one attempt called them all), the graph is given
        the call tree's own record of them, which shrinks as they end, so that no event costs
        a pass over them (issue 26: a parent of a million children)."""
        callers = self.tree.attempt_callers.get(parent)
        if attempt is None or not callers or callers == {attempt}:
            self.graph.awaits(parent, self.tree.children.get(parent, {}))
            return self.graph.check(now)
        return self.waiting(now, parent, self.tree.of_attempt(parent, attempt))

    def resumed(self, now: float, task: Node) -> Decisions:
        """``task`` has what it waited for and runs again."""
        self.graph.resumed(task)
        return []

    def check(self, now: float) -> Decisions:
        """Rule 6 over every pool: fail the queued tasks that can never start."""
        return self.graph.check(now)

    # ------------------------------------------------------------------ lifecycle beyond one pool
    def close(self, now: float, name: str, reason: str = "shutdown") -> Decisions:
        """Close the pool ``name`` (its tasks fail with ``reason``, its replicas stop) and forget it."""
        pool = self.pools[name]
        self.remove(name)
        return [(name, pool.close(now, reason))]

    def run_ended(self, now: float, run: Hashable) -> Decisions:
        """``run`` is over: each of its ``scope="run"`` pools still open closes (``shutdown``)."""
        out: List[Tuple[Optional[str], List[Action]]] = []
        for p in self.scoped.pop(run, ()):
            if self.pools.get(p.name) is p:
                out.extend(self.close(now, p.name, "shutdown"))
        return out
