"""What the runtime's driver keeps about runs, calls, attempts, replicas and pools.

The :class:`CallTable` is the driver's memory: every pool it made (by environment and
policy, and by name), the calls each pool holds, the attempts running, the runs under
way, the calls that wait outside every pool for an identical one (``cache_serialize``),
and the functions it has pickled. It decides nothing: where a call goes is a matter of
names (the pool of a task's environment and effective policy, made on first use), and
everything else is the core's (:mod:`reuse_ref.core.pools`).

The records it holds are plain ``__slots__`` classes, shared by the driver
(:mod:`reuse_ref.runtime.driver`) and the backends, which see a :class:`ReplicaHandle`
and attach their own state to its ``io`` slot.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..config.environment import Task
from ..config.errors import (
    OOMError,
    ReplicaCrashedError,
    ReuseRefError,
    StarvationError,
    TaskCancelledError,
    TaskTimeoutError,
)
from ..core.pool import PACED
from ..core.pools import free_name, new_pool
from ..core.propagation import FAIL_IMMEDIATELY
from . import pickling
from .recording import CallLog
from .wire import Error, OneShot

__all__ = ["CallTable", "Call", "Attempt", "RunState", "ReplicaHandle", "PoolState", "Waiter", "FAILURES",
           "FAILURE_REASONS", "USER_FAILURES"]

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


class Waiter(OneShot):
    """A run's result, waited for by a user thread; it wakes every ``poll`` s so that an
    interrupt (``KeyboardInterrupt``) is raised promptly in the waiting thread."""

    __slots__ = ()

    def result(self, alive: Callable[[], bool], poll: float = 0.1) -> Tuple[bool, Any]:
        acquire = self._lock.acquire
        while not acquire(timeout=poll):
            if not alive() and not acquire(timeout=poll):  # the driver is gone: nobody will answer
                return False, pickling.runtime_error(ReuseRefError("the runtime was closed before this run ended"))
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
                 parent: Optional[Attempt], run: Optional[RunState]) -> None:
        self.task = task
        self.payload = payload
        self.cache_key = cache_key
        self.origin = origin
        self.parent = parent
        self.run = run
        self.ps: Optional[PoolState] = None  # its pool, once submitted to one
        self.key: Optional[str] = None  # the task id the pools know it by
        self.error: Optional[Error] = None  # the last user exception of an attempt
        self.detail: Optional[str] = None  # why the last attempt failed (crash, oom, timeout)
        self.followers: Optional[List[Call]] = None  # cache_serialize: calls waiting for this one
        self.done = False
        self.attempt: Optional[Attempt] = None  # its attempt while one runs
        self.leader: Optional[Call] = None  # cache_serialize: the identical call it waits for

    def failure(self, reason: str, message: str) -> Error:
        """The error its caller gets when the pools fail this call for good with ``reason``: the
        task's own exception (``error``), or the reference's error for the reason, saying why."""
        if reason in USER_FAILURES and self.error is not None:
            return self.error
        if reason == "starvation":
            text = message
        elif reason == "cancelled":
            text = f"task {self.task.name!r} was cancelled: {message}"
        elif self.detail:
            text = self.detail
        else:
            text = f"task {self.task.name!r} failed: {message} ({reason})"
        return pickling.runtime_error(FAILURES.get(reason, ReuseRefError)(text))

    def timed_out(self, where: str, sync: bool) -> None:
        """Its attempt on ``where`` ran past the task's timeout: say so, and what it cost."""
        seconds = self.task.options.timeout.total_seconds()
        self.detail = (f"task {self.task.name!r} failed: it ran longer than its timeout of {seconds:g} s; a sync "
                       f"attempt cannot be interrupted, so its {where} was stopped (the pool replaces it)" if sync else
                       f"task {self.task.name!r} ran longer than its timeout of {seconds:g} s on {where}; the "
                       f"attempt was cancelled")

    @property
    def node(self) -> Optional[Tuple[Optional[str], str]]:
        """The pools' name for this call: ``(pool name, key)``; the pool is ``None`` while it waits
        for an identical call outside every pool; ``None`` before it has a key."""
        if self.key is None:
            return None
        return (self.ps.name if self.ps is not None else None, self.key)


class Attempt:
    """One attempt of a call, on one replica: ``number`` is the pool's count (1 for the first)."""

    __slots__ = ("aid", "call", "h", "number", "requests")

    def __init__(self, aid: int, call: Call, h: "ReplicaHandle", number: int) -> None:
        self.aid = aid
        self.call = call
        self.h = h
        self.number = number
        self.requests: Dict[int, Call] = {}  # the replica's request id -> the call it made


class ReplicaHandle:
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
        self.replicas: Dict[int, ReplicaHandle] = {}
        self.calls: Dict[str, Call] = {}


class CallTable:
    """Every pool, call, attempt and run the driver knows, by the names it looks them up by."""

    def __init__(self, scaledown: str = PACED) -> None:
        self.scaledown = scaledown  # the reading of rule 3 every pool made here follows
        self.ids = itertools.count(1)
        self.pools: Dict[Any, PoolState] = {}  # (pool key of the task, run id or None) -> its pool
        self.by_name: Dict[str, PoolState] = {}
        self.variants: Dict[Any, str] = {}  # (environment, policy) of an override -> its pools' base name
        self.next_rid: Dict[str, int] = {}  # a pool name -> the next replica id (never reused)
        self.attempts: Dict[int, Attempt] = {}
        self.runs: Dict[int, RunState] = {}
        self.outside: Dict[str, Call] = {}  # calls waiting for an identical one, by key
        self.stopping: set = set()  # replicas whose async attempts were asked to stop (ReplicaHandle.cancelling)
        self.functions: Dict[int, Tuple[int, Any, bytes]] = {}  # id(func) -> (function id, func, pickle)
        self.policies: Dict[str, Any] = {}  # every pool name ever made -> its policy, for the traces
        self.resources: Dict[str, Any] = {}  # ... and its replicas' resources
        self.recording = CallLog()  # who called whom, and how long parents waited: what the records do not say

    # ------------------------------------------------------------------ pools
    def pool_for(self, task: Task, run: Optional[RunState]) -> Tuple[PoolState, bool]:
        """The pool of ``task``'s environment and effective policy (of ``run``, when the
        policy's scope is ``"run"``), made by the core on first use; ``(pool state, whether it
        is new)``."""
        policy = task.reusable
        scoped = policy is not None and policy.scope == "run" and run is not None
        key = (task.pool_key, run.id if scoped else None)
        ps = self.pools.get(key)
        if ps is not None:
            return ps, False
        name = self._name_for(task)
        ps = self.pools[key] = PoolState(key, name, new_pool(policy, name, self.next_rid.get(name, 1), self.scaledown), task)
        self.by_name[name] = ps
        self.policies[name] = policy
        self.resources[name] = task.resources
        return ps, True

    def _name_for(self, task: Task) -> str:
        """The environment's name; a task overridden to another policy gets ``name:2``,
        ``name:3``... (``name:off`` without reuse); a second live pool of the same name
        (two concurrent runs of a ``scope="run"`` environment) gets ``#2``."""
        env, policy = task.env, task.reusable
        if policy == env.reusable:
            base = env.name
        else:
            base = self.variants.get((env.name, policy))
            if base is None:
                k = 2 + sum(1 for (e, p) in self.variants if e == env.name and p is not None)
                base = self.variants[(env.name, policy)] = f"{env.name}:{'off' if policy is None else k}"
        return free_name(base, (ps.name for ps in self.pools.values()))  # the core's rule, as the simulator's

    def graces(self) -> List[ReplicaHandle]:
        """The replicas of live pools with attempts asked to stop, each within its grace: kept
        apart so that a warm call's timers do not look at every replica."""
        out = []
        for h in list(self.stopping):
            if not h.cancelling:
                self.stopping.discard(h)
            elif h.ps.replicas.get(h.rid) is h and self.pools.get(h.ps.key) is h.ps:
                out.append(h)
        return out

    def forget(self, ps: PoolState) -> None:
        """The pools have closed ``ps``: calls no longer reach it (its name may be used again)."""
        self.pools.pop(ps.key, None)
        if self.by_name.get(ps.name) is ps:
            del self.by_name[ps.name]

    def replica_started(self, ps: PoolState, rid: int) -> None:
        """Replica ids of a pool name grow for as long as the runtime lives."""
        self.next_rid[ps.name] = max(self.next_rid.get(ps.name, 1), rid + 1)

    # ------------------------------------------------------------------ calls
    def key_for(self, call: Call) -> str:
        """A new task id for ``call``, unique in the runtime: ``short_name#n``; a call given to a
        pool is noted (:mod:`reuse_ref.runtime.recording`)."""
        call.key = f"{call.task.short_name}#{next(self.ids)}"
        if call.ps is not None:
            self.recording.submitted(call)
        return call.key

    def attempt_done(self, aid: int, timing: tuple) -> Optional[Attempt]:
        """The attempt ``aid`` said ``DONE`` (``None``: it was no longer running): it is
        forgotten, and ``timing``, its replica's ``(load, run)``, noted."""
        att = self.attempts.pop(aid, None)
        if att is not None:
            self.recording.ran(att.call.key, att.number, att.h.rid, timing)
        return att

    def call_of(self, node: Tuple[Optional[str], str]) -> Optional[Call]:
        """The call a node of the pools names, if it has not ended."""
        name, key = node
        if name is None:
            return self.outside.get(key)
        ps = self.by_name.get(name)
        return ps.calls.get(key) if ps is not None else None

    def wait_target(self, call: Optional[Call]) -> Optional[Tuple[str, str]]:
        """The node a waiting parent waits on when it awaits ``call`` (rule 6): the call's own,
        or, while it waits for an identical call, that one's; ``None`` once it has ended."""
        while call is not None and not call.done:
            if call.key is not None and call.ps is not None:
                return (call.ps.name, call.key)
            call = call.leader
        return None

    def function(self, func: Any) -> Tuple[int, bytes]:
        """A function's id and pickle (made once: a replica receives it once, then only its id)."""
        entry = self.functions.get(id(func))
        if entry is None or entry[1] is not func:
            entry = self.functions[id(func)] = (next(self.ids), func, pickling.cloud_dumps(func))
        return entry[0], entry[2]
