"""The replicas of one pool, with the sets its rules read, kept up to date by every event.

A :class:`ReplicaSet` is the pool's replicas by id (a ``dict``, so that looking one up
costs what a dict costs) plus three indexes, so that no rule scans the replicas and no
event costs more than O(log n) in a pool of n replicas (amortised): a pool of 400,000
replicas costs per event what a pool of ten does (``benchmarks/bench_big_pool.py``).

* ``open``: a heap of the ids of the ready replicas with a free slot. Rule 1 takes
  ``open[0]``, the lowest. A replica that fills up is at the top, and is popped; a
  replica that is removed elsewhere in the heap leaves its id behind (counted in
  ``open_stale``), popped when it comes to the top, so that ``open[0]`` always has a
  free slot; the heap is rebuilt when half of it is stale.
* ``idle``: the idle ready replicas in the order they went idle (an ``OrderedDict``,
  whose first entry costs O(1) to find however many were deleted before it; a plain dict
  scans past them). Rule 3's due time is the first one's ``idle_since + scaledown_ttl``.
* ``ripe``: a heap of the negated ids of the replicas found idle for ``scaledown_ttl``,
  moved there from the front of ``idle`` by a scale-down. Rule 3 stops the highest id of
  those, the top; ``n_ripe`` counts them, and a replica that takes a task or stops
  leaves a stale id, skipped when it comes to the top. Both readings of rule 3 use it:
  *paced* stops one of them per ``scaledown_ttl`` period (:meth:`ReplicaSet.scaledown_due`),
  *per_replica* every one of them while the pool is above ``min``
  (:class:`PerReplicaSet`, which only answers ``scaledown_due`` differently); under
  either, the ripe replicas left are the ones ``min`` keeps.

The set knows nothing of tasks, queues or time beyond what a replica holds: the pool
(:mod:`reuse_ref.core.pool`) decides, and tells the set what happened to a replica
(:meth:`~ReplicaSet.start`, :meth:`~ReplicaSet.ready`, :meth:`~ReplicaSet.remove`). A task
taking a slot or giving it back, the two events of every task, the pool writes into
``open`` and ``idle`` itself, each in one place (``Pool._start`` and ``Pool.finish``): a
call per event would cost a twentieth of a simulation's time.
"""
from __future__ import annotations

from collections import OrderedDict
from heapq import heapify, heappop, heappush
from typing import Any, Dict, Hashable, List, Optional

__all__ = ["ReplicaSet", "PerReplicaSet", "ReplicaState", "STARTING", "READY", "PACED", "PER_REPLICA",
           "SCALEDOWN_READINGS", "check_scaledown"]

STARTING = "starting"
READY = "ready"

PACED = "paced"
PER_REPLICA = "per_replica"
SCALEDOWN_READINGS = (PACED, PER_REPLICA)
"""The two readings of rule 3 (``scaledown_ttl``), the first the default: :class:`ReplicaSet`
answers rule 3's due time for the first, :class:`PerReplicaSet` for the second."""


def check_scaledown(value: Any, param: str = "scaledown") -> str:
    """``value`` as one of ``SCALEDOWN_READINGS`` (``"paced"``, ``"per_replica"``); the one
    check of the ``scaledown`` keyword of ``simulate``, ``Runtime``, ``plan`` and the pools
    themselves."""
    if not isinstance(value, str) or value not in SCALEDOWN_READINGS:
        raise ValueError(f"{param}={value!r} is not valid: the reading of rule 3, 'paced' (one replica stops per "
                         f"scaledown_ttl period, the default) or 'per_replica' (each replica stops once it has "
                         f"been idle for scaledown_ttl)")
    return value


class ReplicaState:
    """What the pool knows of one replica: its state, the attempts it holds, since when it is idle."""

    __slots__ = ("id", "state", "running", "idle_since", "served")

    def __init__(self, rid: int) -> None:
        self.id = rid
        self.state = STARTING
        self.running: Dict[Hashable, None] = {}  # in dispatch order
        self.idle_since: Optional[float] = None
        self.served = 0

    def __repr__(self) -> str:
        return f"ReplicaState({self.id}, {self.state}, running={len(self.running)})"


class ReplicaSet(dict):
    """The live replicas of one pool by id, in id order, with the indexes of the module docstring."""

    __slots__ = ("concurrency", "open", "open_stale", "idle", "ripe", "n_ripe", "starting")

    def __init__(self, concurrency: int) -> None:
        super().__init__()
        self.concurrency = concurrency
        self.open: List[int] = []
        self.open_stale = 0
        self.idle: Dict[int, ReplicaState] = OrderedDict()
        self.ripe: List[int] = []
        self.n_ripe = 0
        self.starting = 0  # replicas in their cold start

    # ------------------------------------------------------------------ what happened
    def start(self, rid: int) -> ReplicaState:
        """A new replica, starting (a cold start)."""
        r = self[rid] = ReplicaState(rid)
        self.starting += 1
        return r

    def ready(self, r: ReplicaState, now: float) -> None:
        """``r``'s cold start is over: it is idle, with every slot free."""
        r.state = READY
        r.idle_since = now
        self.starting -= 1
        heappush(self.open, r.id)
        self.idle[r.id] = r

    def remove(self, r: ReplicaState) -> None:
        """``r`` stopped or died: it leaves the set and every index (its ids left behind are stale)."""
        del self[r.id]
        if r.state == STARTING:
            self.starting -= 1
            return
        if len(r.running) < self.concurrency:  # its id is in open, and now stale
            self.open_stale += 1
            if self.open[0] == r.id:
                self.drop_stale_open()
            elif 2 * self.open_stale > len(self.open) + 64:
                self.open[:] = [rid for rid in self.open if rid in self]
                heapify(self.open)
                self.open_stale = 0
        if not r.running:
            try:
                del self.idle[r.id]
            except KeyError:  # it was ripe
                self.n_ripe -= 1
            r.idle_since = None  # so that its id in ripe, if any, is stale

    def clear(self) -> None:
        """Every replica is gone (the environment stopped): empty indexes, in place."""
        super().clear()
        self.open.clear()
        self.open_stale = 0
        self.idle.clear()
        self.ripe.clear()
        self.n_ripe = 0
        self.starting = 0

    # ------------------------------------------------------------------ what the rules read
    @property
    def free_slots(self) -> int:
        """Free slots on ready replicas."""
        c = self.concurrency
        return sum(c - len(r.running) for r in self.values() if r.state == READY)

    def scaledown_due(self, minimum: int, ttl: float, last_scaledown: Optional[float]) -> Optional[float]:
        """When rule 3 may next stop a replica, or None while the pool is at ``minimum`` or none is idle.

        While a replica is in ``ripe``, it is ``last_scaledown + ttl``: the scale-down that
        moved it there (at ``now``, with ``idle_since + ttl <= now``) stopped a replica and
        became the last, so the longest idle replica's own due time is no later than the
        last scale-down's."""
        if not (self.idle or self.n_ripe) or len(self) <= minimum:
            return None
        if self.n_ripe:
            return last_scaledown + ttl
        due = next(iter(self.idle.values())).idle_since + ttl  # idle is in order of idle_since
        if last_scaledown is not None and last_scaledown + ttl > due:
            due = last_scaledown + ttl
        return due

    def ripe_victim(self, now: float, ttl: float) -> Optional[ReplicaState]:
        """Rule 3's victim: of the replicas idle for ``ttl`` at ``now``, the highest id.

        Those are the first ones of ``idle``; they move to ``ripe`` when found, and stay
        ripe while idle, since ``now`` never goes back. ``None`` if there is none."""
        idle, ripe = self.idle, self.ripe
        if len(ripe) > 2 * self.n_ripe + 64:  # mostly stale: rebuild it from the ripe replicas
            ripe[:] = {rid for rid in ripe if -rid not in idle and (r := self.get(-rid)) is not None
                       and r.idle_since is not None}
            heapify(ripe)
        while idle:
            r = next(iter(idle.values()))
            if now < r.idle_since + ttl:
                break
            idle.popitem(last=False)
            heappush(ripe, -r.id)
            self.n_ripe += 1
        while ripe:
            r = self.get(-ripe[0])
            if r is not None and r.idle_since is not None and r.idle_since + ttl <= now:
                return r
            heappop(ripe)
        return None

    def drop_stale_open(self) -> None:
        """Pop removed replicas off the top of ``open``, so that its top has a free slot."""
        open_ = self.open
        while open_ and open_[0] not in self:
            heappop(open_)
            self.open_stale -= 1


class PerReplicaSet(ReplicaSet):
    """The replicas of a pool whose rule 3 is read *per replica*: the same indexes, and the
    one difference, when a scale-down is due (no pacing between two of them). A subclass,
    so that the pool asks either reading the same way, ``replicas.scaledown_due(...)``, and
    the paced reading's calls cost what they did before the other reading existed."""

    __slots__ = ()

    def scaledown_due(self, minimum: int, ttl: float, last_scaledown: Optional[float]) -> Optional[float]:
        """When rule 3 read per replica may next stop a replica, or None while the pool is at
        ``minimum`` or none is idle: the longest idle replica's own ``idle_since + ttl``, with
        no pacing between two scale-downs (``last_scaledown`` only dates the ripe replicas).

        Ripe replicas left by a scale-down are the ones ``minimum`` kept: they are due again
        only once the pool is above ``minimum``, which rule 2 never brings about while one of
        them is idle (a queued task takes an idle replica before any replica is started). If
        it ever did, they would be due since ``last_scaledown``, when they were found."""
        if len(self) <= minimum:
            return None
        if self.n_ripe:
            return last_scaledown
        if not self.idle:
            return None
        return next(iter(self.idle.values())).idle_since + ttl  # idle is in order of idle_since
