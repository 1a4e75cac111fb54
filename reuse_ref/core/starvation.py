"""Rule 6, starvation across environments: the wait-for graph of every pool of a run.

A task *waits* from the moment it blocks on the result of tasks it called
(:meth:`WaitForGraph.waiting`) until it runs again (:meth:`WaitForGraph.resumed`) or
ends. Calling a child without awaiting it is not waiting. The graph joins each waiting
task to the tasks it waits on, in any pool. A pool's queued tasks can never start when
the pool is *saturated* (no free slot, no replica starting, at its maximum) and every
task running there waits, directly or through other pools, only on tasks that can never
start. :meth:`WaitForGraph.check` finds the greatest such set, fails those queued tasks
with ``starvation`` (through each pool's ``starve``) and writes one ``starvation``
record per deadlock, naming every environment in it.

Tasks are named by *nodes*: ``(pool name, task id)`` pairs, so that the same task id may
be used in two environments.
"""
from __future__ import annotations

from typing import Any, Collection, Dict, Iterable, List, Set, Tuple

from ..config.errors import STARVATION_REMEDIES
from .actions import Action
from .propagation import Node

__all__ = ["WaitForGraph"]


class WaitForGraph:
    """Who waits on whom, over the pools given (a dict the owner keeps up to date), with the
    records list the ``starvation`` records go to."""

    def __init__(self, pools: Dict[str, Any], records: list) -> None:
        self.pools = pools
        self.records = records
        # a waiting task -> the tasks it waits on: a set, or the live collection of a parent's
        # pending children (see awaits), which may have become empty: then it waits on nothing
        self.waits: Dict[Node, Collection[Node]] = {}

    def waiting(self, task: Node, on: Iterable[Node]) -> None:
        """``task`` now blocks on the results of ``on`` (an empty ``on``: it runs again)."""
        targets = set(on)
        if targets:
            self.waits[task] = targets
        else:
            self.waits.pop(task, None)

    def awaits(self, task: Node, pending: Collection[Node]) -> None:
        """``task`` blocks on ``pending``, a collection its owner keeps up to date (the call
        tree's children of a parent that have not ended): kept as it is, not copied, so that
        a parent awaiting a million children costs nothing per child that ends. Once it is
        empty the task waits on nothing."""
        if pending:
            self.waits[task] = pending
        else:
            self.waits.pop(task, None)

    def resumed(self, task: Node) -> None:
        """``task`` has what it waited for, or has ended: it no longer waits."""
        self.waits.pop(task, None)

    def check(self, now: float) -> List[Tuple[str, List[Action]]]:
        """Fail the queued tasks that can never start; ``[(pool name, actions)]`` of the pools
        that starved them. Cheap when nobody waits (the usual case): a deadlock needs a
        waiting task."""
        waits = self.waits
        if not waits:
            return []
        pools = self.pools
        # A pool can starve only when it is saturated and every task it runs waits: looked at
        # first, one running task at a time, so that the usual answer (a task that runs its own
        # code) costs nothing per queued task or waiting task (issue 26: a parent with a
        # million children is checked after every child that ends).
        stuck = {name for name, p in pools.items()
                 if p.queue and p.saturated and all((name, t) in waits for t in p.running)}
        if not stuck:
            return []
        queued = {name: set(pools[name].queue) for name in stuck}
        waiters = {w for w, on in waits.items() if on and w[0] in pools and w[1] in pools[w[0]].running}
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
        for group in self._deadlocks(stuck, waiters):
            names = [n for n in pools if n in group]  # in the order the pools were made
            message = self._message(names, group, waiters)
            first = next(n for n in names if n in stuck)
            self.records.append((now, "starvation", None, None, message, first))
            for name in names:
                if name in stuck:
                    answer.append((name, pools[name].starve(now, message)))
        return answer

    def _deadlocks(self, stuck: Set[str], waiters: Set[Node]) -> List[Set[str]]:
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
        envs = "; ".join(f"{n!r} without reuse" if pools[n].policy is None else
                         f"{n!r} with {pools[n].policy!r} ({pools[n].live} replica(s) x concurrency "
                         f"{pools[n].concurrency}, at its maximum)" for n in names)
        held = ", ".join(f"{t} in {n!r}" for n in names for t in pools[n].running if (n, t) in waiters)
        queued = sum(len(pools[n].queue) for n in names)
        return (
            f"Starvation across environments {envs}: every slot is held by a task waiting, through "
            f"the other environments, for tasks that can never start ({held}), so the {queued} "
            f"queued task(s) can never start. To fix it, {STARVATION_REMEDIES}."
        )
