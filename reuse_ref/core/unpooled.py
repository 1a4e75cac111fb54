"""The cold baseline: tasks that do not reuse (``reusable=None`` or ``override(reusable="off")``).

A :class:`~reuse_ref.core.pool.Pool` needs a policy, and no policy says "one replica per
call, stopped when the call ends". Rather than bend the pool, this small machine has the
same interface (the same events in, the same actions and trace records out) and lives
beside it in the core, so both drivers (the runtime and the simulator) treat both alike.
Its rules are short enough to state in full:

* every attempt gets a fresh replica: ``submit`` (and a retry) starts one at once, for
  that task (:class:`~reuse_ref.core.actions.StartReplica` names it); no queue, no limit,
  no starvation (there is always a next replica);
* when the replica is ready the attempt is dispatched to it (always a cold start);
* when the attempt ends, successfully or not, its replica stops, reason ``"off"``;
* a replica that dies while starting is replaced; one that dies while running fails its
  attempt, which is retried on a new replica while the task has retries left;
* timeouts and rule 7's cancel as in a pool: an async attempt over its time is
  interrupted, a sync one costs its replica (reason ``timeout``); a cancelled async
  attempt stops at once, a cancelled sync one runs on and fails when it ends.
"""
from __future__ import annotations

from typing import Dict, Hashable, List, Optional, Tuple

from ..config.validation import number
from .actions import Action, CancelAttempt, Dispatch, FailTask, Interrupt, StartReplica, StopReplica
from .stopping import AttemptDeadlines, StoppingAttempts
from .records import NEVER_RETRIED, RETRYING, Row

__all__ = ["Unpooled", "STOP_REASON"]

STOP_REASON = "off"
"""The ``replica_stop`` reason of a replica that served its one attempt."""


class Unpooled:
    """One fresh replica per attempt; the interface of :class:`~reuse_ref.core.pool.Pool`."""

    policy = None
    concurrency = 1
    queue: tuple = ()  # nothing ever waits for a replica here: a fresh one starts at once
    saturated = False  # so rule 6 never finds a task of this machine that cannot start

    def __init__(self, name: str = "env", *, first_replica_id: int = 1) -> None:
        self.name = name
        self.now = 0.0
        self.records: List[Row] = []
        self.attempts: Dict[Hashable, int] = {}
        self.retries: Dict[Hashable, int] = {}
        self.options: Dict[Hashable, Tuple[Optional[float], bool]] = {}  # task -> (timeout, sync), when either is set
        self.starting: Dict[int, Hashable] = {}  # replica -> the task it will run
        self.running: Dict[Hashable, int] = {}  # task -> replica
        self.deadlines = AttemptDeadlines()
        self.stopping = StoppingAttempts()  # attempts over their timeout, or cancelled while sync
        self.wakeup_at: Optional[float] = None
        self._next_id = first_replica_id

    @property
    def live(self) -> int:
        """Replicas starting or running an attempt."""
        return len(self.starting) + len(self.running)

    def current(self, task: Hashable, attempt: int) -> bool:
        """Whether ``attempt`` of ``task`` is running here and still has its time running."""
        return self.running.get(task) is not None and self.attempts.get(task) == attempt \
            and task not in self.stopping.interrupted

    # ------------------------------------------------------------------ events
    def start_if_free(self, now: float, task: Hashable, retries: int = 0) -> None:
        """The simulator's fast path of a pool; nothing starts at once here (a replica must start first)."""
        return None

    def submit(self, now: float, task: Hashable, retries: int = 0, timeout: Optional[float] = None,
               sync: bool = False) -> List[Action]:
        self._tick(now)
        if task in self.attempts:
            raise ValueError(f"task={task!r} is not valid: it was already submitted to {self.name!r}")
        if timeout is not None or sync:
            if timeout is not None:
                timeout = number("timeout", timeout, above=0, allowed="seconds > 0, or None for no limit")
            self.options[task] = (timeout, bool(sync))
        self.attempts[task] = 0
        self.retries[task] = retries
        self._record("task_queued", None, task)
        return [self._start(task)]

    def replica_ready(self, now: float, replica: int) -> List[Action]:
        self._tick(now)
        task = self.starting.pop(replica, None)
        if task is None:
            return []
        self._record("replica_ready", replica)
        attempt = self.attempts[task] = self.attempts[task] + 1
        self.running[task] = replica
        self._record("task_start", replica, task, "cold")
        timeout = self.options.get(task, (None,))[0]
        if timeout is not None:
            self.deadlines.add(now + timeout, task, attempt)
            self._wake()
        return [Dispatch(task, replica, attempt, False)]

    def finish(self, now: float, task: Hashable, error: Optional[str] = None, message: str = "") -> List[Action]:
        self._tick(now)
        replica = self.running.pop(task, None)
        if replica is None:
            raise ValueError(f"task={task!r} is not valid: it is not running in {self.name!r}")
        error, message = self.stopping.ended(task, error, message)
        if error is None:
            self._record("task_end", replica, task)
            self._forget(task)
            self._record("replica_stop", replica, None, STOP_REASON)
            actions: List[Action] = [StopReplica(replica, STOP_REASON)]
        else:
            actions = self._fail_attempt(task, replica, error, message, stop=replica)
        self._wake()
        return actions

    def replica_crashed(self, now: float, replica: int, reason: str = "crashed") -> List[Action]:
        self._tick(now)
        if replica in self.starting:
            task = self.starting.pop(replica)
            self._record("replica_stop", replica, None, reason)
            return [self._start(task)]
        task = next((t for t, r in self.running.items() if r == replica), None)
        if task is None:
            return []
        del self.running[task]
        self._record("replica_stop", replica, None, reason)
        reason, message = self.stopping.ended(task, reason, f"replica {replica} of {self.name!r} stopped: {reason}")
        actions = self._fail_attempt(task, replica, reason, message)
        self._wake()
        return actions

    def cancel(self, now: float, task: Hashable, message: str = "") -> List[Action]:
        """Rule 7: the task is no longer wanted; its replica stops (never retried). A running
        sync attempt cannot be stopped: it runs on, and fails with ``cancelled`` when it ends."""
        self._tick(now)
        replica = self.running.get(task)
        if replica is not None:
            if task in self.stopping.dropped:
                return []
            if self.options.get(task, (None, False))[1]:
                self.stopping.dropped[task] = message
                return []
            if self.stopping.interrupted.pop(task, None) is not None:  # being stopped already
                return self.finish(now, task, error="cancelled", message=message)
            return [CancelAttempt(task, replica)] + self.finish(now, task, error="cancelled", message=message)
        for replica, t in list(self.starting.items()):
            if t == task:
                del self.starting[replica]
                self._record("task_failed", None, task, "cancelled")
                self._record("replica_stop", replica, None, STOP_REASON)
                self._forget(task)
                return [StopReplica(replica, STOP_REASON), FailTask(task, "cancelled", message)]
        return []

    def advance(self, now: float) -> List[Action]:
        """Time passed: the attempts over their timeout (the only timer of this machine)."""
        self._tick(now)
        actions: List[Action] = []
        for task, attempt in self.deadlines.due(now, self.current):
            replica = self.running[task]
            timeout, sync = self.options[task]
            if not sync:
                self.stopping.interrupted[task] = "timeout"
                actions.append(Interrupt(task, replica, "timeout"))
                continue
            del self.running[task]
            self._record("replica_stop", replica, None, "timeout")
            actions.append(StopReplica(replica, "timeout"))
            actions += self._fail_attempt(task, replica, "timeout", (
                f"attempt {attempt} of {task!r} ran past its timeout of {timeout:g} s; a sync attempt cannot be "
                f"interrupted, so its replica {replica} of {self.name!r} was stopped"))
        self._wake()
        return actions

    def close(self, now: float, reason: str = "shutdown") -> List[Action]:
        self._tick(now)
        actions: List[Action] = []
        for replica, task in list(self.starting.items()) + [(r, t) for t, r in self.running.items()]:
            self._record("task_failed", replica if task in self.running else None, task, reason)
            actions.append(FailTask(task, reason, f"{self.name!r} closed"))
            self._record("replica_stop", replica, None, reason)
            actions.append(StopReplica(replica, reason))
        self.starting.clear()
        self.running.clear()
        self.stopping.clear()
        self.deadlines.clear()
        self.wakeup_at = None
        return actions

    # ------------------------------------------------------------------ helpers
    def _start(self, task: Hashable) -> StartReplica:
        rid = self._next_id
        self._next_id += 1
        self.starting[rid] = task
        self._record("replica_start", rid)
        return StartReplica(rid, task)

    def _fail_attempt(self, task: Hashable, replica: int, reason: str, message: str,
                      stop: Optional[int] = None) -> List[Action]:
        """The attempt failed: record it, stop its replica (``stop``), then retry on a new one or give up."""
        retry = reason not in NEVER_RETRIED and self.attempts[task] <= self.retries.get(task, 0)
        self._record("task_failed", replica, task, reason + RETRYING if retry else reason)
        actions: List[Action] = []
        if stop is not None:
            self._record("replica_stop", stop, None, STOP_REASON)
            actions.append(StopReplica(stop, STOP_REASON))
        if retry:
            self._record("task_queued", None, task, "retry")
            actions.append(self._start(task))
        else:
            self._forget(task)
            actions.append(FailTask(task, reason, message))
        return actions

    def _forget(self, task: Hashable) -> None:
        self.retries.pop(task, None)
        self.options.pop(task, None)

    def _wake(self) -> None:
        self.wakeup_at = self.deadlines.next_due(self.current) if self.deadlines.heap else None

    def _record(self, kind: str, replica: Optional[int] = None, task: Hashable = None, reason: str = "") -> None:
        self.records.append((self.now, kind, replica, task, reason, self.name))

    def _tick(self, now: float) -> None:
        if now < self.now:
            raise ValueError(f"now={now!r} is not valid: time must not go backwards ({self.name!r} is at {self.now!r})")
        self.now = now
