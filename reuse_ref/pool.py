"""The pool state machine: every lifecycle decision of the Concepts page's rules, and nothing else.

Sans-I/O, in the manner of h11: a :class:`Pool` is fed events, each a method call that
carries the time it happened (``submit``, ``replica_ready``, ``finish``,
``replica_crashed``, ``cancel``, ``starve``, ``advance``), and answers with a
list of actions for its driver to carry out (:class:`StartReplica`, :class:`StopReplica`,
:class:`Dispatch`, :class:`FailTask`). :attr:`Pool.wakeup_at` says when the pool must next be
woken with ``advance`` if nothing else happens. It never reads a clock, sleeps, or starts a
process: the simulator (virtual clock) and the runtime (real processes) drive the same
machine, so they agree by construction.

After every event the rules run in order: 1 dispatch, 2 scale up, 3 scale down, 4
environment idle (rule 5, crash, is the ``replica_crashed`` event itself). Rules 6
(starvation) and 7 (failure propagation) need every pool of a run at once: they live in
:mod:`reuse_ref.pools`, which calls :meth:`Pool.starve` and :meth:`Pool.cancel`.
``Pool._apply`` states them in full. The two most common events take a shortcut when
only part of them can fire, with the proof next to it: a task arriving to a free slot
(``Pool._start_at_once``) and an attempt ending on a replica that stays busy
(:meth:`Pool.finish`). A driver that makes millions of calls (the simulator) may offer a
task with :meth:`Pool.start_if_free` first: the same event as ``submit`` in that usual
case, answered with the replica's id instead of a list holding a new ``Dispatch``, in
the manner of h11's ``send_with_data_passthrough``.
Every event and action is appended to the pool's ``records`` list (the trace) as a plain
tuple in the field order of :class:`~reuse_ref.trace.Record`, the rows a
:class:`~reuse_ref.trace.Trace` is made of (``Trace(pool.records).records`` names them).
A plain tuple costs about half as much to make as a named one, and a simulation makes
three per job.
"""
from __future__ import annotations

import math
from collections import deque
from heapq import heappop, heappush
from typing import Dict, Hashable, List, NamedTuple, Optional, Union

from . import _replica_sets
from ._replica_sets import READY, STARTING
from .policy import ReusePolicy
from .records import NEVER_RETRIED, RETRYING, Row

__all__ = [
    "Pool", "Replica", "StartReplica", "StopReplica", "Dispatch", "FailTask", "Action",
    "STARTING", "READY",
]


class StartReplica(NamedTuple):
    """Start replica ``replica`` (a cold start); report ``replica_ready`` when it can take tasks."""

    replica: int


class StopReplica(NamedTuple):
    """Stop replica ``replica``; ``reason`` is ``scaledown``, ``idle_ttl`` or ``shutdown``."""

    replica: int
    reason: str


class Dispatch(NamedTuple):
    """Run attempt ``attempt`` (1-based) of ``task`` on ``replica``; ``warm`` if it ran one before."""

    task: Hashable
    replica: int
    attempt: int
    warm: bool


class FailTask(NamedTuple):
    """``task`` has failed for good (no retries left): ``reason`` is ``starvation``, ``crashed``,
    ``oom``, ``timeout`` or the error reported by the driver; ``message`` explains it."""

    task: Hashable
    reason: str
    message: str = ""


Action = Union[StartReplica, StopReplica, Dispatch, FailTask]

# Builds a NamedTuple from a complete tuple of its fields, skipping the generated __new__
# (and its defaults handling): the hot paths below make a Dispatch per task.
_new = tuple.__new__


class Replica:
    """What the pool knows of one replica: its state, the attempts it holds, since when it is idle."""

    __slots__ = ("id", "state", "running", "idle_since", "served")

    def __init__(self, rid: int) -> None:
        self.id = rid
        self.state = STARTING
        self.running: Dict[Hashable, None] = {}  # in dispatch order
        self.idle_since: Optional[float] = None
        self.served = 0

    def __repr__(self) -> str:
        return f"Replica({self.id}, {self.state}, running={len(self.running)})"


class Pool:
    """The replicas of one environment under one :class:`~reuse_ref.ReusePolicy`.

    >>> pool = Pool(ReusePolicy(replicas=(2, 5)), name="demo")
    >>> pool.submit(0.0, "t1")          # a cold environment starts max(min, needed) = 2
    [StartReplica(replica=1), StartReplica(replica=2)]
    >>> pool.replica_ready(10.0, 1)
    [Dispatch(task='t1', replica=1, attempt=1, warm=False)]
    """

    def __init__(self, policy: ReusePolicy, name: str = "env", *, first_replica_id: int = 1) -> None:
        self.policy = policy
        self.name = name
        self.concurrency = policy.concurrency
        self.min = policy.min_replicas
        self.max = policy.max_replicas
        self.scaledown_ttl = policy.scaledown_ttl.total_seconds()
        self.idle_ttl = None if policy.idle_ttl is None else policy.idle_ttl.total_seconds()
        self.now = 0.0
        self.alive = False
        self.replicas: Dict[int, Replica] = {}  # insertion order is id order
        self.queue: deque = deque()
        self.running: Dict[Hashable, int] = {}  # task -> replica
        self.attempts: Dict[Hashable, int] = {}
        self.retries: Dict[Hashable, int] = {}
        self.records: List[Row] = []  # (time, kind, replica, task, reason, env), as in Record
        self._next_id = first_replica_id
        self._starting = 0
        self._init_replica_sets()  # _open, _idle and _ripe: no rule scans the replicas
        self._empty_since: Optional[float] = None
        self._last_scaledown: Optional[float] = None
        self._wakeup: Optional[float] = None  # wakeup_at, worked out at the end of every _apply

    # the replica bookkeeping that the rules read, each step O(log n): see _replica_sets
    _init_replica_sets = _replica_sets.init_replica_sets
    _scaledown_due = _replica_sets.scaledown_due
    _ripe_victim = _replica_sets.ripe_victim
    _forget_replica = _replica_sets.forget_replica
    _drop_stale_open = _replica_sets.drop_stale_open

    # ------------------------------------------------------------------ events
    def submit(self, now: float, task: Hashable, retries: int = 0) -> List[Action]:
        """A task arrives; it joins the back of the FIFO queue (or, when the queue is empty and
        a slot is free, starts at once: :meth:`start_if_free`). ``retries``: how many times a
        failed attempt is tried again."""
        rid = self.start_if_free(now, task, retries)
        if rid is not None:
            return [_new(Dispatch, (task, rid, 1, self.replicas[rid].served > 1))]
        if now < self.now:
            self._backwards(now)
        self.now = now
        if task in self.attempts:
            raise ValueError(f"task={task!r} is not valid: it was already submitted to pool {self.name!r}; give each task a new id")
        if retries:  # no entry means no retries
            self.retries[task] = retries
        self.records.append((now, "task_queued", None, task, "", self.name))
        self.attempts[task] = 0
        self.queue.append(task)
        return self._apply([])

    def start_if_free(self, now: float, task: Hashable, retries: int = 0) -> Optional[int]:
        """:meth:`submit` in its usual case, for a driver that carries out the answer itself.

        When nothing is queued, a ready replica has a free slot and no timer is due, the
        task starts at once (attempt 1) on the lowest such id, which is returned: the
        records and the state are exactly what ``submit`` leaves, and ``submit`` would
        have answered ``[Dispatch(task, replica, 1, warm)]`` (``warm``: the replica ran a
        task before). In any other case, a bad call included, nothing happens and the
        answer is ``None``: call ``submit``, which queues the task or says what is wrong.
        """
        wake = self._wakeup
        if (not self._open or self.queue or (wake is not None and now >= wake)
                or now < self.now or task in self.attempts):
            return None
        self.now = now
        if retries:  # no entry means no retries
            self.retries[task] = retries
        self.records.append((now, "task_queued", None, task, "", self.name))
        return self._start_at_once(now, task)  # all that the rules do here

    def replica_ready(self, now: float, replica: int) -> List[Action]:
        """A started replica finished its cold start and can take tasks."""
        self._tick(now)
        r = self.replicas.get(replica)
        if r is None or r.state != STARTING:
            return []  # stopped or crashed while starting: nothing to do
        r.state = READY
        r.idle_since = now
        self._starting -= 1
        heappush(self._open, replica)
        self._idle[replica] = r
        self.records.append((now, "replica_ready", replica, None, "", self.name))
        return self._apply([])

    def finish(self, now: float, task: Hashable, error: Optional[str] = None, message: str = "") -> List[Action]:
        """An attempt ended: successfully (``error=None``) or with ``error`` (a short kind such as
        ``"error"`` or ``"timeout"``). A failed attempt is retried, at the head of the queue,
        while the task has retries left (never after a reason in ``NEVER_RETRIED``: ``cancelled``,
        ``non_recoverable``); otherwise the answer holds a :class:`FailTask`."""
        if now < self.now:
            self._backwards(now)
        self.now = now
        rid = self.running.pop(task, None)
        if rid is None:
            raise ValueError(f"task={task!r} is not valid: it is not running in pool {self.name!r}")
        r = self.replicas[rid]
        running = r.running
        del running[task]
        if len(running) + 1 == self.concurrency:  # it was full: now it has a free slot
            heappush(self._open, rid)
        if not running:
            r.idle_since = now
            self._idle[rid] = r
        if error is not None:
            actions: List[Action] = []
            self._fail_attempt(now, task, rid, error, message, actions)
            return self._apply(actions)
        self.records.append((now, "task_end", rid, task, "", self.name))
        if self.retries:
            self.retries.pop(task, None)
        wake = self._wakeup
        if running and not self.queue and (wake is None or now < wake):
            # No rule can fire, so _apply is skipped: with nothing queued, rules 1, 2 and 6
            # have nothing to do (and rule 2 never finds a live pool below min, since every
            # event that removes a replica runs it); and the timers of rules 3 and 4 are as
            # they were, none of them due, because the replica still runs a task: it did not
            # go idle, nor did the pool become empty.
            return []
        return self._apply([])

    def replica_crashed(self, now: float, replica: int, reason: str = "crashed") -> List[Action]:
        """A replica died (rule 5): it is removed, its running attempts fail (and are retried
        while they have retries left), and rule 2 replaces it."""
        self._tick(now)
        r = self.replicas.pop(replica, None)
        if r is None:
            return []
        self._forget_replica(r)
        self.records.append((now, "replica_stop", replica, None, reason, self.name))
        actions: List[Action] = []
        for task in reversed(list(r.running)):  # requeued at the head in their original order
            del self.running[task]
            self._fail_attempt(now, task, replica, reason, f"replica {replica} of {self.name!r} stopped: {reason}", actions)
        return self._apply(actions)

    def cancel(self, now: float, task: Hashable, message: str = "") -> List[Action]:
        """Rule 7: ``task`` is no longer wanted (the parent that called it failed or ended).

        A queued task leaves the queue; a running attempt gives its slot back at once (the
        driver stops the work: an async attempt is cancelled on its replica). Either way the
        task is recorded ``task_failed`` with reason ``cancelled`` and is never retried. A
        task that already ended is left alone (the answer is empty).
        """
        self._tick(now)
        rid = self.running.get(task)
        if rid is not None:
            return self.finish(now, task, error="cancelled", message=message)
        if task not in self.attempts or task not in self.queue:
            return []
        self.queue.remove(task)
        return self._apply([self._fail(now, task, None, "cancelled", message)])

    def starve(self, now: float, message: str) -> List[Action]:
        """Rule 6, as decided by :class:`~reuse_ref.pools.Pools`: every queued task can never
        start, and fails now with reason ``starvation`` (the ``starvation`` record itself is
        written once per deadlock, by the pools)."""
        self._tick(now)
        queued = list(self.queue)
        self.queue.clear()
        return self._apply([self._fail(now, task, None, "starvation", message) for task in queued])

    def advance(self, now: float) -> List[Action]:
        """Time passed with nothing else happening: apply the timed rules (3 and 4)."""
        self._tick(now)
        return self._apply([])

    def close(self, now: float, reason: str = "shutdown") -> List[Action]:
        """Stop every replica (the runtime is leaving, or a ``scope="run"`` run ended)."""
        self._tick(now)
        actions: List[Action] = []
        for task in list(self.queue) + list(self.running):
            rid = self.running.pop(task, None)
            actions.append(self._fail(now, task, rid, reason, f"pool {self.name!r} closed"))
        self.queue.clear()
        self._stop_all(now, reason, actions)
        self._wakeup = None  # no replica and not alive: no timer left
        return actions

    # ------------------------------------------------------------------ queries
    @property
    def live(self) -> int:
        """Replicas starting or ready."""
        return len(self.replicas)

    @property
    def wakeup_at(self) -> Optional[float]:
        """When the timed rules next need an ``advance``, or ``None`` if only an event can change things."""
        return self._wakeup

    @property
    def saturated(self) -> bool:
        """No free slot, no replica starting and no room to start one: a queued task starts
        only when a running one ends (rule 6 asks whether any can)."""
        return (not self._open and not self._starting and bool(self.running)
                and len(self.replicas) >= self.max)

    @property
    def free_slots(self) -> int:
        """Free slots on ready replicas."""
        c = self.concurrency
        return sum(c - len(r.running) for r in self.replicas.values() if r.state == READY)

    # ------------------------------------------------------------------ rules
    def _apply(self, actions: List[Action]) -> List[Action]:
        """Run the rules in order after an event, and work out when the timed ones are next due."""
        now = self.now
        queue = self.queue
        if queue and self._open:
            self._dispatch(now, actions)
        if queue or (self.alive and len(self.replicas) < self.min):
            self._scale_up(now, actions)
        if queue or self.running:
            since = self._empty_since = None
        else:
            since = self._empty_since
            if since is None:
                since = self._empty_since = now
        # rule 3 is due once the longest-idle replica has been idle for scaledown_ttl and the
        # last scale-down is scaledown_ttl ago (this is _scaledown_due, written out: it runs
        # after nearly every event)
        wake = None
        idle = self._idle
        ripe = self._n_ripe
        if (idle or ripe) and len(self.replicas) > self.min:
            ttl = self.scaledown_ttl
            last = self._last_scaledown
            wake = last + ttl if ripe else next(iter(idle.values())).idle_since + ttl  # see _scaledown_due
            if last is not None and last + ttl > wake:
                wake = last + ttl
            if now >= wake:
                self._scale_down(now, actions)
                wake = self._scaledown_due()
        if since is not None and self.alive and self.idle_ttl is not None:
            due = since + self.idle_ttl
            if now >= due:
                self._stop_all(now, "idle_ttl", actions)
                wake = None  # no replica and not alive: no timer left
            elif wake is None or due < wake:
                wake = due
        self._wakeup = wake
        return actions

    def _start_at_once(self, now: float, task: Hashable) -> int:
        """:meth:`_apply` after a task arrives when the queue was empty, a ready replica has a
        free slot and no timer was due: rule 1 starts the task at once on the lowest such id
        (attempt 1), and that is all the rules do. Returns that id.

        Why nothing else can happen: rules 2 and 6 need a queue (and rule 2 never finds a live
        pool below min, since every event that removes a replica runs it); rule 4 needs an
        empty pool, which this task ends. Rule 3 was not due before, and taking a replica off
        the idle list can only move its due time later. So ``wakeup_at`` changes only if the
        replica was idle (as every replica is while the pool is empty): then the pool is no
        longer empty and only rule 3's time is left, worked out again.
        """
        rid = self._open[0]
        r = self.replicas[rid]
        running = r.running
        if not running:
            try:
                del self._idle[rid]
            except KeyError:  # it was ripe (see _ripe_victim)
                self._n_ripe -= 1
            r.idle_since = None
            self._empty_since = None
            self._wakeup = self._scaledown_due()
        running[task] = None
        if len(running) == self.concurrency:
            heappop(self._open)
            if self._open_stale:
                self._drop_stale_open()
        self.running[task] = rid
        self.attempts[task] = 1
        served = r.served
        r.served = served + 1
        self.records.append((now, "task_start", rid, task, "warm" if served else "cold", self.name))
        return rid

    def _dispatch(self, now: float, actions: List[Action]) -> None:
        """Rule 1: the queue's head goes to the ready replica with a free slot and the lowest id."""
        queue = self.queue
        open_ = self._open
        while queue and open_:
            rid = open_[0]
            r = self.replicas[rid]
            running = r.running
            if not running:
                try:
                    del self._idle[rid]
                except KeyError:  # it was ripe (see _ripe_victim)
                    self._n_ripe -= 1
                r.idle_since = None
            free = self.concurrency - len(running)
            while queue and free:
                task = queue.popleft()
                attempt = self.attempts[task] + 1
                self.attempts[task] = attempt
                running[task] = None
                self.running[task] = rid
                served = r.served
                r.served = served + 1
                free -= 1
                self.records.append((now, "task_start", rid, task, "warm" if served else "cold", self.name))
                actions.append(_new(Dispatch, (task, rid, attempt, served > 0)))
            if not free:
                heappop(open_)
                if self._open_stale:
                    self._drop_stale_open()

    def _scale_up(self, now: float, actions: List[Action]) -> None:
        """Rule 2: start enough replicas for the queue (never past max); keep at least min."""
        if not self.alive:
            self.alive = True
            needed = math.ceil(len(self.queue) / self.concurrency)
            count = min(self.max, max(self.min, needed, 1))
        else:
            shortfall = len(self.queue) - self._starting * self.concurrency
            count = math.ceil(shortfall / self.concurrency) if shortfall > 0 else 0
            count = max(count, self.min - self.live)
            count = min(count, self.max - self.live)
        for _ in range(count):
            rid = self._next_id
            self._next_id += 1
            self.replicas[rid] = Replica(rid)
            self._starting += 1
            self.records.append((now, "replica_start", rid, None, "", self.name))
            actions.append(StartReplica(rid))

    def _scale_down(self, now: float, actions: List[Action]) -> None:
        """Rule 3: above min, stop the highest-id replica idle for scaledown_ttl, one per period."""
        ttl = self.scaledown_ttl
        while len(self.replicas) > self.min:
            if self._last_scaledown is not None and now < self._last_scaledown + ttl:
                return
            victim = self._ripe_victim(now)
            if victim is None:
                return
            self._last_scaledown = now
            self._stop(now, victim, "scaledown", actions)

    # ------------------------------------------------------------------ helpers
    def _tick(self, now: float) -> None:
        if now < self.now:
            self._backwards(now)
        self.now = now

    def _backwards(self, now: float) -> None:
        raise ValueError(f"now={now!r} is not valid: time must not go backwards (pool {self.name!r} is at {self.now!r})")

    def _fail_attempt(self, now: float, task: Hashable, rid: int, reason: str, message: str,
                      actions: List[Action]) -> None:
        if reason not in NEVER_RETRIED and self.attempts[task] <= self.retries.get(task, 0):
            self.records.append((now, "task_failed", rid, task, reason + RETRYING, self.name))
            self.queue.appendleft(task)
            self.records.append((now, "task_queued", None, task, "retry", self.name))
        else:
            actions.append(self._fail(now, task, rid, reason, message))

    def _fail(self, now: float, task: Hashable, rid: Optional[int], reason: str, message: str) -> FailTask:
        self.records.append((now, "task_failed", rid, task, reason, self.name))
        self._forget(task)
        return FailTask(task, reason, message)

    def _forget(self, task: Hashable) -> None:
        self.retries.pop(task, None)
        # attempts are kept so a task id is never reused within a pool

    def _stop(self, now: float, r: Replica, reason: str, actions: List[Action]) -> None:
        del self.replicas[r.id]
        self._forget_replica(r)
        self.records.append((now, "replica_stop", r.id, None, reason, self.name))
        actions.append(StopReplica(r.id, reason))

    def _stop_all(self, now: float, reason: str, actions: List[Action]) -> None:
        """Rule 4: the whole environment stops, min replicas included; the next task starts it cold."""
        for r in list(self.replicas.values()):
            self._stop(now, r, reason, actions)
        self._init_replica_sets()  # only stale ids were left
        self.alive = False
        self._empty_since = None
        self._last_scaledown = None
