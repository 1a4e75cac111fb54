"""The pool state machine: every lifecycle decision of one pool, and nothing else.

Sans-I/O, in the manner of h11: a :class:`Pool` is fed events, each a method call that
carries the time it happened (``submit``, ``replica_ready``, ``finish``,
``replica_crashed``, ``cancel``, ``starve``, ``advance``, ``close``), and answers with a
list of actions for its driver to carry out (:mod:`reuse_ref.core.actions`).
``Pool.wakeup_at`` says when the pool must next be woken with ``advance`` if nothing
else happens. It never reads a clock, sleeps, or starts a process: the simulator
(virtual clock) and the runtime (real processes) drive the same machine, so they agree
by construction.

After every event the rules run in order (``Pool._apply`` states them in full): first
the attempts over their ``timeout``, then 1 dispatch, 2 scale up, 3 scale down, 4
environment idle (rule 5, crash, is the ``replica_crashed`` event itself); rule 3 under
either of its readings (:class:`Pool`). Rules 6
(starvation) and 7 (failure propagation) need every pool of a run at once: they live in
:mod:`reuse_ref.core.pools`, which calls :meth:`Pool.starve` and :meth:`Pool.cancel`.

Timeouts, decided here for both drivers: an attempt of a task submitted with
``timeout=T`` is over its time ``T`` seconds after its dispatch. An async attempt is
cancelled on its replica (:class:`~reuse_ref.core.actions.Interrupt`): it keeps its slot
until the driver reports that it stopped (the simulator at once), then fails with
``timeout``. A sync attempt cannot be interrupted: its replica is stopped, reason
``timeout`` (:class:`~reuse_ref.core.actions.StopReplica`), the attempt fails with
``timeout``, and rule 2 replaces the replica. Either way a task with retries left is
tried again. Rule 7's cancel is decided here too: a queued task leaves the queue, a
running async attempt gives its slot back at once
(:class:`~reuse_ref.core.actions.CancelAttempt`), and a running sync attempt, which
cannot be stopped, runs on, and fails with ``cancelled`` when it ends.

The two most common events take a shortcut when only part of the rules can fire, with
the proof next to it: a task arriving to a free slot (:meth:`Pool.start_if_free`) and an
attempt ending on a replica that stays busy (:meth:`Pool.finish`). A driver that makes
millions of calls (the simulator) may offer a task with :meth:`Pool.start_if_free`
first: the same event as ``submit`` in that usual case, answered with the replica's id
instead of a list holding a new ``Dispatch``, in the manner of h11's
``send_with_data_passthrough``. Every event and action is appended to the pool's
``records`` list (the trace) as a plain tuple in the field order of
:class:`~reuse_ref.trace.trace.Record`: a plain tuple costs about half as much to make
as a named one, and a simulation makes three per job.
"""
from __future__ import annotations

import math
from collections import deque
from heapq import heappop, heappush
from typing import Dict, Hashable, List, Optional, Tuple

from ..config.policy import ReusePolicy
from ..config.validation import number
from .actions import Action, CancelAttempt, Dispatch, FailTask, Interrupt, StartReplica, StopReplica
from .stopping import AttemptDeadlines, StoppingAttempts
from .records import NEVER_RETRIED, RETRYING, Row
from .replica_set import (PACED, PER_REPLICA, SCALEDOWN_READINGS, STARTING, PerReplicaSet, ReplicaSet, ReplicaState,
                          check_scaledown)

__all__ = ["Pool", "PACED", "PER_REPLICA", "SCALEDOWN_READINGS", "check_scaledown"]

# Builds a NamedTuple from a complete tuple of its fields, skipping the generated __new__
# (and its defaults handling): the hot paths below make a Dispatch per task.
_new = tuple.__new__


class Pool:
    """The replicas of one environment under one :class:`~reuse_ref.config.policy.ReusePolicy`.

    >>> pool = Pool(ReusePolicy(replicas=(2, 5)), name="demo")
    >>> pool.submit(0.0, "t1")          # a cold environment starts max(min, needed) = 2
    [StartReplica(replica=1), StartReplica(replica=2)]
    >>> pool.replica_ready(10.0, 1)
    [Dispatch(task='t1', replica=1, attempt=1, warm=False)]

    ``scaledown``, rule 3's reading (the public sources leave it open): ``"paced"`` (the
    default) stops at most one replica per ``scaledown_ttl`` period, the highest id first;
    ``"per_replica"`` stops each replica above ``min`` once it has been idle for
    ``scaledown_ttl``, several at once (the highest ids first when ``min`` keeps some).
    """

    def __init__(self, policy: ReusePolicy, name: str = "env", *, first_replica_id: int = 1,
                 scaledown: str = PACED) -> None:
        self.policy = policy
        self.name = name
        self.concurrency = policy.concurrency
        self.min = policy.min_replicas
        self.max = policy.max_replicas
        self.scaledown_ttl = policy.scaledown_ttl.total_seconds()
        self.idle_ttl = None if policy.idle_ttl is None else policy.idle_ttl.total_seconds()
        self.now = 0.0
        self.alive = False
        self.scaledown = check_scaledown(scaledown)
        self._paced = scaledown == PACED
        # by id, in id order, with the rules' indexes; its scaledown_due is rule 3's under the reading
        self.replicas = (ReplicaSet if self._paced else PerReplicaSet)(self.concurrency)
        self.queue: deque = deque()
        self.running: Dict[Hashable, int] = {}  # task -> replica
        self.attempts: Dict[Hashable, int] = {}
        self.retries: Dict[Hashable, int] = {}
        self.options: Dict[Hashable, Tuple[Optional[float], bool]] = {}  # task -> (timeout, sync), when either is set
        self.deadlines = AttemptDeadlines()
        self.stopping = StoppingAttempts()  # attempts over their timeout, or cancelled while sync
        self.records: List[Row] = []  # (time, kind, replica, task, reason, env), as in Record
        self.wakeup_at: Optional[float] = None  # when the timed rules next need an advance; worked out by every event
        self._next_id = first_replica_id
        self._empty_since: Optional[float] = None
        self._last_scaledown: Optional[float] = None

    # ------------------------------------------------------------------ events
    def submit(self, now: float, task: Hashable, retries: int = 0, timeout: Optional[float] = None,
               sync: bool = False) -> List[Action]:
        """A task arrives; it joins the back of the FIFO queue (or, when the queue is empty and
        a slot is free, starts at once: :meth:`start_if_free`). ``retries``: how many times a
        failed attempt is tried again; ``timeout``: seconds each attempt may run (``None``:
        no limit); ``sync``: the task is a plain function, whose attempt cannot be
        interrupted (a timeout costs its replica, a cancel lets it run on)."""
        if timeout is None:
            rid = self.start_if_free(now, task, retries)
            if rid is not None:
                if sync:  # noted as the queued path notes it: a cancel lets its attempt run on
                    self.options[task] = (None, True)
                return [_new(Dispatch, (task, rid, 1, self.replicas[rid].served > 1))]
        if now < self.now:
            self._backwards(now)
        self.now = now
        if task in self.attempts:
            raise ValueError(f"task={task!r} is not valid: it was already submitted to pool {self.name!r}; give each task a new id")
        if timeout is not None or sync:
            if timeout is not None:
                timeout = number("timeout", timeout, above=0, allowed="seconds > 0, or None for no limit")
            self.options[task] = (timeout, bool(sync))
        if retries:  # no entry means no retries
            self.retries[task] = retries
        self.records.append((now, "task_queued", None, task, "", self.name))
        self.attempts[task] = 0
        self.queue.append(task)
        return self._apply([])

    def start_if_free(self, now: float, task: Hashable, retries: int = 0) -> Optional[int]:
        """:meth:`submit` in its usual case (no timeout), for a driver that carries out the answer
        itself; ``submit`` notes a sync task's kind after it. When nothing is queued, a ready replica has a free slot and no timer is due, the
        task starts at once (attempt 1) on the lowest such id, which is returned: the
        records and the state are exactly what ``submit`` leaves, and ``submit`` would
        have answered ``[Dispatch(task, replica, 1, warm)]`` (``warm``: the replica ran a
        task before). In any other case, a bad call included, nothing happens and the
        answer is ``None``: call ``submit``, which queues the task or says what is wrong.

        Why rule 1's start is all that ``_apply`` would do here: rules 2 and 6 need a
        queue (and rule 2 never finds a live pool below min, since every event that removes
        a replica runs it); rule 4 needs an empty pool, which this task ends; the task has no
        timeout, and no other deadline was due. Rule 3 was not due before, and taking a
        replica off the idle list can only move its due time later. So ``wakeup_at`` changes
        only if the replica was idle (as every replica is while the pool is empty): then the pool
        is no longer empty and only rule 3's time and the deadlines are left, worked out again.
        """
        wake = self.wakeup_at
        replicas = self.replicas
        open_ = replicas.open
        if not open_ or self.queue or (wake is not None and now >= wake) or now < self.now or task in self.attempts:
            return None
        self.now = now
        if retries:  # no entry means no retries
            self.retries[task] = retries
        self.records.append((now, "task_queued", None, task, "", self.name))
        return self._start(now, task, 1)

    def _start(self, now: float, task: Hashable, attempt: int) -> int:
        """Rule 1 for one task, the one place a task takes a slot (for :meth:`start_if_free` and
        :meth:`_dispatch`): attempt ``attempt`` of ``task`` starts on the lowest open replica,
        whose id is returned. The pool moves that replica out of the set's ``idle`` (or
        ``ripe``) and ``open`` indexes itself, as :meth:`finish` moves it back: these are the
        two commonest events, and a call into the set for each would cost a twentieth of a
        simulation. A replica that was idle makes the pool busy again, so the wake-up time is
        worked out again (``_apply`` would do so too; ``start_if_free`` skips it)."""
        replicas = self.replicas
        open_ = replicas.open
        rid = open_[0]
        r = replicas[rid]
        running = r.running
        if not running:
            try:
                del replicas.idle[rid]
            except KeyError:  # it was ripe (see ReplicaSet.ripe_victim)
                replicas.n_ripe -= 1
            r.idle_since = None
            self._empty_since = None
            wake = replicas.scaledown_due(self.min, self.scaledown_ttl, self._last_scaledown)
            if self.deadlines.heap:
                due = self.deadlines.next_due(self.current)
                if due is not None and (wake is None or due < wake):
                    wake = due
            self.wakeup_at = wake
        running[task] = None
        if len(running) == self.concurrency:
            heappop(open_)
            if replicas.open_stale:
                replicas.drop_stale_open()
        self.running[task] = rid
        self.attempts[task] = attempt
        served = r.served
        r.served = served + 1
        self.records.append((now, "task_start", rid, task, "warm" if served else "cold", self.name))
        return rid

    def replica_ready(self, now: float, replica: int) -> List[Action]:
        """A started replica finished its cold start and can take tasks."""
        self._tick(now)
        r = self.replicas.get(replica)
        if r is None or r.state != STARTING:
            return []  # stopped or crashed while starting: nothing to do
        self.replicas.ready(r, now)
        self.records.append((now, "replica_ready", replica, None, "", self.name))
        return self._apply([])

    def finish(self, now: float, task: Hashable, error: Optional[str] = None, message: str = "") -> List[Action]:
        """An attempt ended: successfully (``error=None``) or with ``error`` (a short kind such as
        ``"error"`` or ``"timeout"``). A failed attempt is retried, at the head of the queue,
        while the task has retries left (never after a reason in ``NEVER_RETRIED``: ``cancelled``,
        ``non_recoverable``); otherwise the answer holds a :class:`~reuse_ref.core.actions.FailTask`.
        An attempt interrupted for its timeout fails with ``timeout``, and a sync attempt
        cancelled while it ran fails with ``cancelled``, whatever the report says."""
        if now < self.now:
            self._backwards(now)
        self.now = now
        rid = self.running.pop(task, None)
        if rid is None:
            raise ValueError(f"task={task!r} is not valid: it is not running in pool {self.name!r}")
        replicas = self.replicas
        r = replicas[rid]
        running = r.running
        del running[task]  # the slot is given back (the reverse of _start)
        if len(running) + 1 == self.concurrency:  # it was full: now it has a free slot
            heappush(replicas.open, rid)
        if not running:
            r.idle_since = now
            replicas.idle[rid] = r
        if self.options and task in self.options:  # a timeout or a sync task: it may have been stopped
            error, message = self.stopping.ended(task, error, message)
            if error is None:
                del self.options[task]
        if error is not None:
            actions: List[Action] = []
            self._fail_attempt(now, task, rid, error, message, actions)
            return self._apply(actions)
        self.records.append((now, "task_end", rid, task, "", self.name))
        if self.retries:
            self.retries.pop(task, None)
        wake = self.wakeup_at
        if running and not self.queue and (wake is None or now < wake):
            # No rule can fire, so _apply is skipped: with nothing queued, rules 1, 2 and 6
            # have nothing to do (and rule 2 never finds a live pool below min, since every
            # event that removes a replica runs it); and the timers of rules 3 and 4 and the
            # deadlines are as they were, none of them due, because the replica still runs a
            # task: it did not go idle, nor did the pool become empty.
            return []
        return self._apply([])

    def replica_crashed(self, now: float, replica: int, reason: str = "crashed") -> List[Action]:
        """A replica died (rule 5): it is removed, its running attempts fail (and are retried
        while they have retries left), and rule 2 replaces it."""
        self._tick(now)
        r = self.replicas.get(replica)
        if r is None:
            return []
        self.replicas.remove(r)
        self.records.append((now, "replica_stop", replica, None, reason, self.name))
        actions: List[Action] = []
        self._fail_attempts_of(now, r, reason, f"replica {replica} of {self.name!r} stopped: {reason}", actions)
        return self._apply(actions)

    def cancel(self, now: float, task: Hashable, message: str = "") -> List[Action]:
        """Rule 7: ``task`` is no longer wanted (the parent that called it failed or ended).

        A queued task leaves the queue; a running async attempt gives its slot back at once
        and is stopped on its replica (:class:`~reuse_ref.core.actions.CancelAttempt`); either way the task is
        recorded ``task_failed`` with reason ``cancelled`` and is never retried. A running
        sync attempt cannot be stopped: it runs on, and fails with ``cancelled`` when it
        ends (the answer is empty until then). A task that already ended is left alone.
        """
        self._tick(now)
        rid = self.running.get(task)
        if rid is not None:
            if task in self.stopping.dropped:
                return []
            if self.options.get(task, (None, False))[1]:  # sync: it runs on, unheard
                self.stopping.dropped[task] = message
                return []
            if self.stopping.interrupted.pop(task, None) is not None:  # being stopped already: cancelled, not timed out
                return self.finish(now, task, error="cancelled", message=message)
            return [CancelAttempt(task, rid)] + self.finish(now, task, error="cancelled", message=message)
        if task not in self.attempts or task not in self.queue:
            return []
        self.queue.remove(task)
        return self._apply([self._fail(now, task, None, "cancelled", message)])

    def starve(self, now: float, message: str) -> List[Action]:
        """Rule 6, as decided by :class:`~reuse_ref.core.pools.Pools`: every queued task can never
        start, and fails now with reason ``starvation`` (the ``starvation`` record itself is
        written once per deadlock, by the pools)."""
        self._tick(now)
        queued = list(self.queue)
        self.queue.clear()
        return self._apply([self._fail(now, task, None, "starvation", message) for task in queued])

    def advance(self, now: float) -> List[Action]:
        """Time passed with nothing else happening: apply the timed rules (timeouts, 3 and 4)."""
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
        self.stopping.clear()
        self.deadlines.clear()
        self._stop_all(now, reason, actions)
        self.wakeup_at = None  # no replica and not alive: no timer left
        return actions

    # ------------------------------------------------------------------ queries
    @property
    def live(self) -> int:
        """Replicas starting or ready."""
        return len(self.replicas)

    @property
    def saturated(self) -> bool:
        """No free slot, no replica starting and no room to start one: a queued task starts
        only when a running one ends (rule 6 asks whether any can)."""
        replicas = self.replicas
        return (not replicas.open and not replicas.starting and bool(self.running)
                and len(replicas) >= self.max)

    @property
    def free_slots(self) -> int:
        """Free slots on ready replicas."""
        return self.replicas.free_slots

    def current(self, task: Hashable, attempt: int) -> bool:
        """Whether ``attempt`` of ``task`` is running here and still has its time running."""
        return self.running.get(task) is not None and self.attempts.get(task) == attempt \
            and task not in self.stopping.interrupted

    # ------------------------------------------------------------------ rules
    def _apply(self, actions: List[Action]) -> List[Action]:
        """Run the rules in order after an event, and work out when the timed ones are next due."""
        now = self.now
        deadlines = self.deadlines.heap
        if deadlines and deadlines[0][0] <= now:
            self._time_out(now, actions)
        queue = self.queue
        replicas = self.replicas
        if queue and replicas.open:
            self._dispatch(now, actions)
        if queue or (self.alive and len(replicas) < self.min):
            self._scale_up(now, actions)
        if queue or self.running:
            since = self._empty_since = None
        else:
            since = self._empty_since
            if since is None:
                since = self._empty_since = now
        # rule 3 is due once the longest-idle replica has been idle for scaledown_ttl (and,
        # paced, the last scale-down is scaledown_ttl ago)
        wake = replicas.scaledown_due(self.min, self.scaledown_ttl, self._last_scaledown)
        if wake is not None and now >= wake:
            self._scale_down(now, actions)
            wake = replicas.scaledown_due(self.min, self.scaledown_ttl, self._last_scaledown)
        if since is not None and self.alive and self.idle_ttl is not None:
            due = since + self.idle_ttl
            if now >= due:
                self._stop_all(now, "idle_ttl", actions)
                wake = None  # no replica and not alive: no timer left
            elif wake is None or due < wake:
                wake = due
        if deadlines:
            due = self.deadlines.next_due(self.current)
            if due is not None and (wake is None or due < wake):
                wake = due
        self.wakeup_at = wake
        return actions

    def _dispatch(self, now: float, actions: List[Action]) -> None:
        """Rule 1: the queue's head goes to the ready replica with a free slot and the lowest id."""
        queue = self.queue
        replicas = self.replicas
        open_ = replicas.open
        options = self.options
        while queue and open_:
            task = queue.popleft()
            attempt = self.attempts[task] + 1
            rid = self._start(now, task, attempt)
            actions.append(_new(Dispatch, (task, rid, attempt, replicas[rid].served > 1)))
            if options:
                timeout = options.get(task, (None,))[0]
                if timeout is not None:
                    self.deadlines.add(now + timeout, task, attempt)

    def _scale_up(self, now: float, actions: List[Action]) -> None:
        """Rule 2: start enough replicas for the queue (never past max); keep at least min."""
        replicas = self.replicas
        if not self.alive:
            self.alive = True
            needed = math.ceil(len(self.queue) / self.concurrency)
            count = min(self.max, max(self.min, needed, 1))
        else:
            shortfall = len(self.queue) - replicas.starting * self.concurrency
            count = math.ceil(shortfall / self.concurrency) if shortfall > 0 else 0
            count = max(count, self.min - self.live)
            count = min(count, self.max - self.live)
        for _ in range(count):
            rid = self._next_id
            self._next_id += 1
            replicas.start(rid)
            self.records.append((now, "replica_start", rid, None, "", self.name))
            actions.append(StartReplica(rid))

    def _scale_down(self, now: float, actions: List[Action]) -> None:
        """Rule 3: above min, stop the highest-id replica idle for scaledown_ttl (paced: one per period)."""
        ttl = self.scaledown_ttl
        paced = self._paced
        while len(self.replicas) > self.min:
            if paced and self._last_scaledown is not None and now < self._last_scaledown + ttl:
                return
            victim = self.replicas.ripe_victim(now, ttl)
            if victim is None:
                return
            self._last_scaledown = now
            self._stop(now, victim, "scaledown", actions)

    def _time_out(self, now: float, actions: List[Action]) -> None:
        """The attempts whose ``timeout`` has passed: an async one is interrupted (it keeps its
        slot until it has stopped); a sync one costs its replica, stopped with reason
        ``timeout``, and every attempt the replica held fails (rule 2 replaces it)."""
        for task, attempt in self.deadlines.due(now, self.current):
            rid = self.running.get(task)
            if rid is None:  # its replica went with an earlier one's
                continue
            timeout, sync = self.options[task]
            if not sync:
                self.stopping.interrupted[task] = "timeout"
                actions.append(Interrupt(task, rid, "timeout"))
                continue
            r = self.replicas[rid]
            self.replicas.remove(r)
            self.records.append((now, "replica_stop", rid, None, "timeout", self.name))
            actions.append(StopReplica(rid, "timeout"))
            self._fail_attempts_of(now, r, "timeout", f"attempt {attempt} of {task!r} ran past its timeout of "
                                   f"{timeout:g} s; a sync attempt cannot be interrupted, so its replica {rid} "
                                   f"of {self.name!r} was stopped", actions)

    # ------------------------------------------------------------------ helpers
    def _tick(self, now: float) -> None:
        if now < self.now:
            self._backwards(now)
        self.now = now

    def _backwards(self, now: float) -> None:
        raise ValueError(f"now={now!r} is not valid: time must not go backwards (pool {self.name!r} is at {self.now!r})")

    def _fail_attempts_of(self, now: float, r: ReplicaState, reason: str, message: str, actions: List[Action]) -> None:
        """Every attempt of a replica that is gone fails (each with its own reason when it was
        being stopped), requeued at the head in their original order when retried."""
        for task in reversed(list(r.running)):
            del self.running[task]
            why, text = self.stopping.ended(task, reason, message)
            self._fail_attempt(now, task, r.id, why, text, actions)

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
        self.retries.pop(task, None)
        self.options.pop(task, None)
        # attempts are kept so a task id is never reused within a pool
        return FailTask(task, reason, message)

    def _stop(self, now: float, r: ReplicaState, reason: str, actions: List[Action]) -> None:
        self.replicas.remove(r)
        self.records.append((now, "replica_stop", r.id, None, reason, self.name))
        actions.append(StopReplica(r.id, reason))

    def _stop_all(self, now: float, reason: str, actions: List[Action]) -> None:
        """Rule 4: the whole environment stops, min replicas included; the next task starts it cold."""
        for r in list(self.replicas.values()):
            self._stop(now, r, reason, actions)
        self.replicas.clear()  # only stale ids were left
        self.alive = False
        self._empty_since = None
        self._last_scaledown = None
