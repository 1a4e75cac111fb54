"""The pools of one runtime or one simulation, together: what no single pool can decide.

A :class:`~reuse_ref.pool.Pool` decides everything about its own replicas. Two rules need
every pool at once, and they live here, in the same sans-I/O style (events in, actions
out, no clock, no I/O), so that the simulator and the runtime feed the same code and
cannot disagree:

* **Rule 6, starvation, across environments.** A task *waits* from the moment it blocks
  on the result of tasks it called (:meth:`Pools.waiting`) until it runs again
  (:meth:`Pools.resumed`). Calling a child without awaiting it is not waiting. The
  wait-for graph joins each waiting task to the tasks it waits on, in any pool. A pool's
  queued tasks can never start when the pool is *saturated* (no free slot, no replica
  starting, at its maximum) and every task running there waits, directly or through
  other pools, only on tasks that can never start. :meth:`Pools.check` finds the
  greatest such set, fails those queued tasks with ``starvation`` and writes one
  ``starvation`` record per deadlock, naming every environment in it.
* **Rule 7, failure propagation.** :meth:`Pools.called` ties a child to the parent that
  called it. When a parent's attempt ends, :meth:`Pools.parent_ended` says which of its
  children still run or wait and whether they are cancelled now (``FAIL_IMMEDIATELY``,
  and always when the parent succeeded) or allowed to finish first
  (``FAIL_AFTER_EXECUTABLE_NODES_COMPLETE``, when the parent failed).

Two lifecycle rules that a single pool cannot see live here too, for the same reason:
**the start-failure limit** (a pool whose replicas die before they are ready
``START_FAILURES_LIMIT`` times in a row closes, failing its tasks, rather than start
replicas for ever: :meth:`Pools.replica_crashed`), and **run scope** (the pools of an
environment with ``scope="run"`` belong to one run and close when it ends:
:meth:`Pools.run_ended`).

Tasks are named by *nodes*: ``(pool name, task id)`` pairs, so that the same task id may
be used in two environments.
"""
from __future__ import annotations

from typing import Dict, Hashable, Iterable, List, Optional, Set, Tuple

from ..config.errors import STARVATION_REMEDIES
from .pool import Action, Pool

__all__ = ["Pools", "Node", "FAIL_IMMEDIATELY", "FAIL_AFTER_EXECUTABLE_NODES_COMPLETE", "FAILURE_POLICIES",
           "START_FAILURES_LIMIT"]

Node = Tuple[str, Hashable]
"""A task as the pools know it: ``(pool name, task id)``."""

FAIL_IMMEDIATELY = "FAIL_IMMEDIATELY"
FAIL_AFTER_EXECUTABLE_NODES_COMPLETE = "FAIL_AFTER_EXECUTABLE_NODES_COMPLETE"
FAILURE_POLICIES = (FAIL_IMMEDIATELY, FAIL_AFTER_EXECUTABLE_NODES_COMPLETE)
"""The run's failure policies, named as flytekit's ``WorkflowFailurePolicy`` names them."""

START_FAILURES_LIMIT = 3
"""Replicas of one pool dying before they are ready, in a row, after which the pool closes
(reason ``crashed``): an image or an environment that cannot start would otherwise be
restarted for ever while its tasks wait."""


def check_failure_policy(value: object) -> str:
    """The failure policy named by ``value`` (a string, or an enum whose ``name`` is one)."""
    name = getattr(value, "name", value)
    if name not in FAILURE_POLICIES:
        raise ValueError(f"failure_policy={value!r} is not valid: one of {', '.join(map(repr, FAILURE_POLICIES))}")
    return str(name)


class Pools:
    """Every pool of a runtime or a simulation, with the wait-for graph and the call tree.

    >>> from reuse_ref import ReusePolicy
    >>> pools = Pools()
    >>> a = pools.add(Pool(ReusePolicy(replicas=1, concurrency=1), name="a"))
    >>> a.submit(0.0, "parent"), a.replica_ready(1.0, 1)
    ([StartReplica(replica=1)], [Dispatch(task='parent', replica=1, attempt=1, warm=False)])
    >>> pools.called(("a", "parent"), ("a", "child")); a.submit(2.0, "child")
    []
    >>> [(name, [x.reason for x in acts]) for name, acts in pools.waiting(3.0, ("a", "parent"), [("a", "child")])]
    [('a', ['starvation'])]
    """

    def __init__(self, failure_policy: str = FAIL_IMMEDIATELY) -> None:
        self.failure_policy = check_failure_policy(failure_policy)
        self.pools: Dict[str, Pool] = {}  # in the order they were added
        self.records: list = []  # shared by every pool added: one list, in event order
        self.waits: Dict[Node, Set[Node]] = {}  # a waiting task -> the tasks it waits on
        self.children: Dict[Node, Dict[Node, None]] = {}  # a parent -> its children not ended yet, in call order
        self.parent: Dict[Node, Node] = {}  # a child not ended yet -> its parent
        self.start_failures: Dict[str, int] = {}  # a pool -> replicas dead before ready, in a row
        self.scoped: Dict[Hashable, List[Pool]] = {}  # a run -> its scope="run" pools

    def add(self, pool: Pool, run: Hashable = None) -> Pool:
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
        """Forget a pool that was closed (its name may be used again by a new pool)."""
        self.pools.pop(name, None)
        self.start_failures.pop(name, None)

    # ------------------------------------------------------------------ lifecycle beyond one pool
    def close(self, now: float, name: str, reason: str = "shutdown") -> List[Action]:
        """Close the pool ``name`` (its tasks fail with ``reason``, its replicas stop) and forget it."""
        pool = self.pools[name]
        self.remove(name)
        return pool.close(now, reason)

    def replica_ready(self, now: float, name: str, replica: int) -> List[Action]:
        """A replica of ``name`` is ready: the pool's run of start failures is over."""
        self.start_failures[name] = 0
        return self.pools[name].replica_ready(now, replica)

    def replica_crashed(self, now: float, name: str, replica: int, reason: str = "crashed",
                        ready: bool = True) -> Tuple[List[Action], bool]:
        """A replica of ``name`` died (rule 5); ``ready`` says whether it had become ready.
        The ``START_FAILURES_LIMIT``-th death before ready in a row closes the pool (reason
        ``crashed``). Returns the actions and whether the pool closed."""
        if not ready:
            failures = self.start_failures[name] = self.start_failures.get(name, 0) + 1
            if failures >= START_FAILURES_LIMIT:  # closing stops the dead replica too: nothing replaces it
                return self.close(now, name, "crashed"), True
        return self.pools[name].replica_crashed(now, replica, reason), False

    def run_ended(self, now: float, run: Hashable) -> List[Tuple[str, List[Action]]]:
        """``run`` is over: each of its ``scope="run"`` pools still open closes (``shutdown``)."""
        return [(p.name, self.close(now, p.name, "shutdown"))
                for p in self.scoped.pop(run, ()) if self.pools.get(p.name) is p]

    # ------------------------------------------------------------------ rule 7: the call tree
    def called(self, parent: Node, child: Node) -> None:
        """``parent`` (a running task) called ``child``; the child is submitted to its pool by the driver."""
        self.children.setdefault(parent, {})[child] = None
        self.parent[child] = parent

    def ended(self, task: Node) -> Optional[Node]:
        """``task`` has ended for good (done, failed or cancelled): it is no longer anyone's
        child, and no longer waits. Returns its parent, if it had one still running."""
        self.waits.pop(task, None)
        parent = self.parent.pop(task, None)
        if parent is not None:
            kids = self.children.get(parent)
            if kids is not None:
                kids.pop(task, None)
                if not kids:
                    del self.children[parent]
        return parent

    def pending_children(self, parent: Node) -> List[Node]:
        """The children of ``parent`` that have not ended, in the order they were called."""
        return list(self.children.get(parent, ()))

    def parent_ended(self, parent: Node, failed: bool,
                     failure_policy: Optional[str] = None) -> Tuple[List[Node], bool]:
        """A parent's attempt ended. Returns ``(to_cancel, hold)``: the children to cancel now,
        and whether the parent's failure must wait until its children have ended (rule 7).
        ``failure_policy`` is the run's, when runs choose their own (the runtime's case)."""
        self.waits.pop(parent, None)
        kids = self.pending_children(parent)
        if not kids:
            return [], False
        policy = self.failure_policy if failure_policy is None else failure_policy
        if failed and policy == FAIL_AFTER_EXECUTABLE_NODES_COMPLETE:
            return [], True
        return kids, False

    # ------------------------------------------------------------------ rule 6: the wait-for graph
    def waiting(self, now: float, task: Node, on: Iterable[Node]) -> List[Tuple[str, List[Action]]]:
        """``task`` now blocks on the results of ``on`` (an empty ``on``: it runs again)."""
        targets = set(on)
        if targets:
            self.waits[task] = targets
        else:
            self.waits.pop(task, None)
        return self.check(now)

    def resumed(self, now: float, task: Node) -> List[Tuple[str, List[Action]]]:
        """``task`` has what it waited for and runs again."""
        self.waits.pop(task, None)
        return []

    def check(self, now: float) -> List[Tuple[str, List[Action]]]:
        """Rule 6 over every pool: fail the queued tasks that can never start.

        Returns ``[(pool name, actions)]`` for the driver to carry out. Cheap when nobody
        waits (the usual case): a deadlock needs a waiting task.
        """
        if not self.waits:
            return []
        pools = self.pools
        stuck = {name for name, p in pools.items() if p.queue and p.saturated}
        if not stuck:
            return []
        queued = {name: set(pools[name].queue) for name in stuck}
        waiters = {w for w in self.waits if w[0] in pools and w[1] in pools[w[0]].running}
        changed = True
        while changed:  # the greatest set closed under the rule: remove what can move, until nothing can
            changed = False
            for name in list(stuck):
                if any((name, t) not in waiters for t in pools[name].running):
                    stuck.discard(name)
                    changed = True
            for w in list(waiters):
                for pool_name, t in self.waits[w]:
                    if (pool_name, t) in waiters or (pool_name in stuck and t in queued[pool_name]):
                        continue
                    waiters.discard(w)
                    changed = True
                    break
        if not stuck:
            return []
        answer: List[Tuple[str, List[Action]]] = []
        for group in self._deadlocks(stuck, waiters, queued):
            names = [n for n in pools if n in group]  # in the order the pools were made
            message = self._message(names, group, waiters)
            first = next(n for n in names if n in stuck)
            self.records.append((now, "starvation", None, None, message, first))
            for name in names:
                if name in stuck:
                    answer.append((name, pools[name].starve(now, message)))
        return answer

    def _deadlocks(self, stuck: Set[str], waiters: Set[Node], queued: Dict[str, set]) -> List[Set[str]]:
        """The stuck pools grouped into deadlocks: pools joined by a waiting task of one that
        waits on a task of the other (each group is returned as the set of pool names in it)."""
        link: Dict[str, str] = {}

        def find(x: str) -> str:
            while link.get(x, x) != x:
                x = link[x]
            return x

        for w in waiters:
            for pool_name, _ in self.waits[w]:
                a, b = find(w[0]), find(pool_name)
                if a != b:
                    link[a] = b
        groups: Dict[str, Set[str]] = {}
        for w in waiters:
            groups.setdefault(find(w[0]), set()).add(w[0])
        for name in stuck:
            groups.setdefault(find(name), set()).add(name)
        return [g for g in sorted(groups.values(), key=lambda g: min(g)) if g & stuck]

    def _message(self, names: List[str], group: Set[str], waiters: Set[Node]) -> str:
        pools = self.pools
        if len(names) == 1 and all(w[0] == names[0] for w in waiters if w[0] in group):
            p = pools[names[0]]
            held = ", ".join(str(t) for t in p.running if (p.name, t) in waiters)
            return (
                f"Starvation in environment {p.name!r} with {p.policy!r}: every slot "
                f"({p.live} replica(s) x concurrency {p.concurrency}) is held by a task waiting "
                f"for another task of the same environment ({held}), and the pool is at its maximum "
                f"of {p.max} replica(s), so the {len(p.queue)} queued task(s) can never start. "
                f"To fix it, {STARVATION_REMEDIES}."
            )
        envs = "; ".join(f"{n!r} with {pools[n].policy!r} ({pools[n].live} replica(s) x concurrency "
                         f"{pools[n].concurrency}, at its maximum)" for n in names)
        held = ", ".join(f"{t} in {n!r}" for n in names for t in pools[n].running if (n, t) in waiters)
        queued = sum(len(pools[n].queue) for n in names)
        return (
            f"Starvation across environments {envs}: every slot is held by a task waiting, through "
            f"the other environments, for tasks that can never start ({held}), so the {queued} "
            f"queued task(s) can never start. To fix it, {STARVATION_REMEDIES}."
        )


def _node_order(node: Node) -> Tuple[str, str]:
    return node[0], str(node[1])
