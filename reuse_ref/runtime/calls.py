"""What the driver keeps per run, call, attempt, replica and pool, in its own thread.

These are plain records (``__slots__`` classes with no behaviour of their own beyond a
name for the user), shared by the driver (``controller.py``) and the backends, which see
a :class:`Replica` and attach their own state to its ``io`` slot.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from ..environment import Task
from ..errors import (
    OOMError,
    ReplicaCrashedError,
    ReuseRefError,
    StarvationError,
    TaskCancelledError,
    TaskTimeoutError,
)
from ..pools import FAIL_IMMEDIATELY
from . import protocol as P

FAILURES = {
    "starvation": StarvationError,
    "crashed": ReplicaCrashedError,
    "oom": OOMError,
    "timeout": TaskTimeoutError,
    "cancelled": TaskCancelledError,
}
"""The error a task's final failure raises in its caller, by the pool's failure reason."""

FAILURE_REASONS = {cls.__name__: reason for reason, cls in FAILURES.items()}
"""A task that fails with one of the reference's own errors (a parent whose child starved,
say) is recorded with the same reason the simulator gives it."""

USER_FAILURES = ("error", "non_recoverable")
"""Failure reasons whose error is the task's own exception, raised again in its caller."""


class Waiter(P.OneShot):
    """A run's result, waited for by a user thread; it wakes every ``poll`` s so that an
    interrupt (``KeyboardInterrupt``) is raised promptly in the waiting thread."""

    __slots__ = ()

    def result(self, alive: Callable[[], bool], poll: float = 0.1) -> Tuple[bool, Any]:
        acquire = self._lock.acquire
        while not acquire(timeout=poll):
            if not alive() and not acquire(timeout=poll):  # the controller is gone: nobody will answer
                return False, P.runtime_error(ReuseRefError("the runtime was closed before this run ended"))
        return self.value


class RunState:
    """One ``Runtime.run``: its top-level call, its waiter, its span of the log."""

    __slots__ = ("id", "call", "waiter", "start", "end", "ok", "value", "failure_policy")

    def __init__(self, rid: int, waiter: Waiter, failure_policy: str = FAIL_IMMEDIATELY) -> None:
        self.id = rid
        self.failure_policy = failure_policy
        self.waiter = waiter
        self.call: Optional[Call] = None
        self.start = self.end = 0
        self.ok = False
        self.value: Any = None


class Call:
    """One task call: top-level (``origin`` is the user's waiter) or nested (``(replica, request)``)."""

    __slots__ = ("task", "payload", "cache_key", "origin", "parent", "run", "ps", "key",
                 "error", "detail", "followers", "done", "attempt", "leader")

    def __init__(self, task: Task, payload: bytes, cache_key: Optional[str], origin: Any,
                 parent: Optional["Attempt"], run: Optional[RunState]) -> None:
        self.task = task
        self.payload = payload
        self.cache_key = cache_key
        self.origin = origin
        self.parent = parent
        self.run = run
        self.ps: Optional[PoolState] = None
        self.key: Optional[str] = None  # the task id the pool knows it by
        self.error: Optional[P.Error] = None  # the last user exception of an attempt
        self.detail: Optional[str] = None  # why the last attempt failed (crash, oom, timeout)
        self.followers: Optional[List[Call]] = None  # cache_serialize: calls waiting for this one
        self.done = False
        self.attempt: Optional[Attempt] = None  # its attempt while one runs
        self.leader: Optional[Call] = None  # cache_serialize: the identical call it waits for


class Attempt:
    """One attempt of a call, on one replica."""

    __slots__ = ("aid", "call", "h", "requests", "kids", "held")

    def __init__(self, aid: int, call: Call, h: "Replica") -> None:
        self.aid = aid
        self.call = call
        self.h = h
        self.requests: Dict[int, Call] = {}  # the replica's request id -> the call it made
        self.kids: Dict[Call, None] = {}  # calls it made that have not ended, in call order
        self.held: Optional[Tuple[str, str]] = None  # its failure, final once its kids end (rule 7)


class Replica:
    """A replica as the driver sees it, wherever it runs; ``io`` is its backend's state."""

    __slots__ = ("ps", "rid", "pid", "node", "ready", "ready_at", "shipped", "tasks", "attempts",
                 "retired", "cancelling", "io")

    def __init__(self, ps: "PoolState", rid: int) -> None:
        self.ps = ps
        self.rid = rid
        self.pid: Optional[int] = None  # known once started (processes) or ready (Ray)
        self.node = ""  # where it runs, when the backend has several machines
        self.ready = False
        self.ready_at = 0.0  # wall clock: not ready before it was asked for plus the cold start
        self.shipped: set = set()  # function ids this replica has
        self.tasks: Dict[int, Task] = {}  # the replica's task refs -> tasks it called
        self.attempts: set = set()
        self.retired = False
        # async attempts asked to stop: aid -> (wall deadline, attempt, "timeout" or "cancelled")
        self.cancelling: Dict[int, Tuple[float, Attempt, str]] = {}
        self.io: Any = None

    def where(self) -> str:
        place = f"pid {self.pid}" if self.pid is not None else "not started"
        if self.node:
            place += f" on {self.node}"
        return f"replica {self.rid} of {self.ps.name!r} ({place})"


class PoolState:
    """A pool (or the no-reuse machine) and the replicas and calls the driver keeps for it."""

    __slots__ = ("key", "name", "pool", "task", "replicas", "calls")

    def __init__(self, key: Any, name: str, pool: Any, task: Task) -> None:
        self.key = key
        self.name = name
        self.pool = pool
        self.task = task  # the task that created it: its environment gives resources and env vars
        self.replicas: Dict[int, Replica] = {}
        self.calls: Dict[str, Call] = {}
