"""The local runtime: real replica processes, driven by :class:`~reuse_ref.pool.Pool` on a real clock.

``Runtime`` is what users hold; ``_Controller`` does the work, in one background
thread that owns every pool, every replica process and every pipe, so nothing needs a
lock: user threads post commands to a queue and wake the thread through a pipe.

The thread is an event loop. It waits (one ``select`` over the wakeup pipe, every
replica's pipe and the sentinels of stopping processes, on a ``selectors`` object kept
for the runtime's life: what ``multiprocessing.connection.wait`` does on every call,
without registering every pipe again on every turn) until a message arrives or the
next timer is due, then turns what happened into pool events: a call into
``submit``, a replica's first message into ``replica_ready``, an attempt's result into
``finish``, a dead process into ``replica_crashed``, the passing of time into
``advance``; and what needs every pool at once into :class:`~reuse_ref.pools.Pools`: a
replica's report that an attempt blocks on the calls it made (``waiting``, rule 6), a
call made by a running task (``called``), an attempt's end (``parent_ended``, rule 7).
The pools answer with actions (start, stop, dispatch, fail, cancel) and the loop carries
them out. It decides nothing about the lifecycle itself (all lifecycle decisions live in
``pool.py`` and ``pools.py``). The timers are the pools' ``wakeup_at``, the attempts'
timeouts, the grace given to an attempt asked to stop, the memory watch and the grace
period of stopping processes.

Time: a pool is fed policy seconds, ``(wall - start) / time_scale``, so the
trace of a runtime reads like the simulator's. Task timeouts are not policy durations:
they bound the real running time of the task's code, in wall seconds.
"""
from __future__ import annotations

import atexit
import heapq
import itertools
import math
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import multiprocessing.util  # noqa: F401  (imported before our atexit hook, so that ours runs first)
import os
import queue
import selectors
import sys
import threading
import time
import traceback
import weakref
from collections import deque
from typing import Any, Callable, Dict, List, Optional, Tuple

import psutil

from ..environment import Task, warn_deprecated
from ..errors import (
    OOMError,
    ReplicaCrashedError,
    ReuseRefError,
    StarvationError,
    TaskCancelledError,
    TaskTimeoutError,
)
from ..pool import Dispatch, FailTask, Pool, StartReplica, StopReplica
from ..pools import FAIL_IMMEDIATELY, Pools, check_failure_policy
from ..trace import Trace
from . import protocol as P
from . import replica as _replica_module
from .cache import ResultCache, cache_key
from .unpooled import Unpooled

__all__ = ["Runtime", "Run", "run", "default_runtime"]

_FAILURES = {
    "starvation": StarvationError,
    "crashed": ReplicaCrashedError,
    "oom": OOMError,
    "timeout": TaskTimeoutError,
    "cancelled": TaskCancelledError,
}
_START_FAILURES_LIMIT = 3  # replicas of a pool dying before they are ready, in a row


def _kill_group(pid: int) -> None:
    """SIGKILL the process group a replica leads (its own, set up at its start)."""
    try:
        os.killpg(pid, 9)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def _mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"



# A task that fails with one of the reference's own errors (a parent whose child starved,
# say) is recorded with the same reason the simulator gives it.
_FAILURE_REASONS = {
    "StarvationError": "starvation",
    "TaskTimeoutError": "timeout",
    "OOMError": "oom",
    "ReplicaCrashedError": "crashed",
    "TaskCancelledError": "cancelled",
}


class _Waiter(P.OneShot):
    """A run's result, waited for by a user thread; it wakes every ``poll`` s so that an
    interrupt (``KeyboardInterrupt``) is raised promptly in the waiting thread."""

    __slots__ = ()

    def result(self, alive: Callable[[], bool], poll: float = 0.1) -> Tuple[bool, Any]:
        acquire = self._lock.acquire
        while not acquire(timeout=poll):
            if not alive() and not acquire(timeout=poll):  # the controller is gone: nobody will answer
                return False, P.runtime_error(ReuseRefError("the runtime was closed before this run ended"))
        return self.value


class _RunState:
    __slots__ = ("id", "call", "waiter", "start", "end", "pools", "ok", "value", "failure_policy")

    def __init__(self, rid: int, waiter: _Waiter, failure_policy: str = FAIL_IMMEDIATELY) -> None:
        self.id = rid
        self.failure_policy = failure_policy
        self.waiter = waiter
        self.call: Optional[_Call] = None
        self.start = self.end = 0
        self.pools: List[_PoolState] = []
        self.ok = False
        self.value: Any = None


class _Call:
    """One task call: top-level (``origin`` is the user's waiter) or nested (``(replica, request)``)."""

    __slots__ = ("task", "payload", "cache_key", "origin", "parent", "run", "ps", "key",
                 "error", "detail", "followers", "done", "attempt", "leader")

    def __init__(self, task: Task, payload: bytes, cache_key: Optional[str], origin: Any,
                 parent: Optional["_Attempt"], run: Optional[_RunState]) -> None:
        self.task = task
        self.payload = payload
        self.cache_key = cache_key
        self.origin = origin
        self.parent = parent
        self.run = run
        self.ps: Optional[_PoolState] = None
        self.key: Optional[str] = None  # the task id the pool knows it by
        self.error: Optional[P.Error] = None  # the last user exception of an attempt
        self.detail: Optional[str] = None  # why the last attempt failed (crash, oom, timeout)
        self.followers: Optional[List[_Call]] = None  # cache_serialize: calls waiting for this one
        self.done = False
        self.attempt: Optional[_Attempt] = None  # its attempt while one runs
        self.leader: Optional[_Call] = None  # cache_serialize: the identical call it waits for


class _Attempt:
    __slots__ = ("aid", "call", "h", "requests", "kids", "held")

    def __init__(self, aid: int, call: _Call, h: "_Handle") -> None:
        self.aid = aid
        self.call = call
        self.h = h
        self.requests: Dict[int, _Call] = {}  # the replica's request id -> the call it made
        self.kids: Dict[_Call, None] = {}  # calls it made that have not ended, in call order
        self.held: Optional[Tuple[str, str]] = None  # its failure, final once its kids end (rule 7)


class _Handle:
    """A replica process as the controller sees it."""

    __slots__ = ("ps", "rid", "process", "conn", "pid", "ready", "shipped", "tasks", "attempts",
                 "kill_reason", "retired", "proc", "limit", "kill_at", "reaped", "cancelling")

    def __init__(self, ps: "_PoolState", rid: int, process: Any, conn: Any, limit: Optional[int]) -> None:
        self.ps = ps
        self.rid = rid
        self.process = process
        self.conn = conn
        self.pid: int = process.pid
        self.ready = False
        self.shipped: set = set()  # function ids this replica has
        self.tasks: Dict[int, Task] = {}  # the replica's task refs -> tasks it called
        self.attempts: set = set()
        self.kill_reason: Optional[str] = None
        self.retired = False
        self.proc: Optional[psutil.Process] = None
        self.limit = limit
        self.kill_at = math.inf
        self.reaped = False
        # async attempts asked to stop: aid -> (wall deadline, attempt, "timeout" or "cancelled")
        self.cancelling: Dict[int, Tuple[float, _Attempt, str]] = {}

    def send(self, message: tuple) -> None:
        try:
            self.conn.send_bytes(P.encode(message))
        except (OSError, ValueError):
            pass  # it died: its end of file is on the way

    def where(self) -> str:
        return f"replica {self.rid} of {self.ps.name!r} (pid {self.pid})"


class _PoolState:
    """A pool (or the no-reuse machine) and the replicas and calls the controller keeps for it."""

    __slots__ = ("key", "name", "pool", "task", "replicas", "calls", "start_failures")

    def __init__(self, key: Any, name: str, pool: Any, task: Task) -> None:
        self.key = key
        self.name = name
        self.pool = pool
        self.task = task  # the task that created it: its environment gives resources and env vars
        self.replicas: Dict[int, _Handle] = {}
        self.calls: Dict[str, _Call] = {}
        self.start_failures = 0


class _Controller:
    """Everything behind a :class:`Runtime`; all of it runs in the controller's thread."""

    def __init__(self, ctx: Any, time_scale: float, cold_start: float, memory_poll: float,
                 stop_grace: float) -> None:
        self.ctx = ctx
        self.scale = time_scale
        self.cold_start_wall = cold_start * time_scale
        self.memory_poll = memory_poll
        self.stop_grace = stop_grace
        self.t0 = time.monotonic()
        self.inbox: "queue.SimpleQueue[tuple]" = queue.SimpleQueue()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        alive_r, self.alive_w = os.pipe()  # replicas watch alive_r: end of file when we are gone
        self.alive = multiprocessing.connection.Connection(alive_r, writable=False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.wake_r, selectors.EVENT_READ, None)
        self.ids = itertools.count(1)
        self.pools: Dict[Any, _PoolState] = {}
        self.graph = Pools()  # every live pool, together: rules 6 and 7 are decided there
        self.by_name: Dict[str, _PoolState] = {}
        self.variants: Dict[Any, str] = {}
        self.next_rid: Dict[str, int] = {}
        self.attempts: Dict[int, _Attempt] = {}
        self.deadlines: List[Tuple[float, int]] = []
        self.watched: set = set()
        self.next_poll = 0.0
        self.retiring: List[_Handle] = []
        self.functions: Dict[int, Tuple[int, Any, bytes]] = {}
        self.cache = ResultCache()
        self.runs: Dict[int, _RunState] = {}
        self.ended: deque = deque()
        self.to_wake: List[_RunState] = []
        self.log: list = []
        self.policies: Dict[str, Any] = {}
        self.resources: Dict[str, Any] = {}
        self.pids: List[int] = []
        self.handles: set = set()  # every replica started and not yet reaped: none may survive
        self.closed = False
        self.failure: Optional[BaseException] = None
        self.thread: Optional[threading.Thread] = None

    # ------------------------------------------------------------------ from user threads
    def post(self, command: tuple) -> None:
        self.inbox.put(command)
        try:
            os.write(self.wake_w, b"!")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (the loop will drain it) or closed (the loop has ended)

    # ------------------------------------------------------------------ the loop
    def loop(self) -> None:
        try:
            while not self.closed:
                if self.to_wake:  # wake callers just before sleeping: the GIL is free for them then
                    self._wake()
                for key, _ in self.sel.select(self._timeout()):
                    data = key.data
                    if data is None:
                        self._inbox()
                    elif type(data) is _Handle:
                        self._readable(data)
                    else:
                        self._reap(data[1])
                    if self.closed:
                        break
                self._timers()
                self._end_runs()
                if self.graph.waits:
                    self._settle(self.graph.check(self._graph_now()))
        except BaseException as exc:  # a bug in the runtime: fail every waiting run, stop every replica
            self.failure = exc
            traceback.print_exc(file=sys.stderr)
        finally:
            self._final_cleanup()

    def _timeout(self) -> Optional[float]:
        wall = time.monotonic()
        t = math.inf
        scale, t0 = self.scale, self.t0
        for ps in self.pools.values():
            w = ps.pool.wakeup_at
            if w is not None:
                t = min(t, t0 + w * scale + 0.0005)
        if self.deadlines:
            t = min(t, self.deadlines[0][0])
        if self.watched:
            t = min(t, self.next_poll)
        for ps in self.pools.values():
            for h in ps.replicas.values():
                for deadline, _, _ in h.cancelling.values():
                    t = min(t, deadline)
        for h in self.retiring:
            t = min(t, h.kill_at)
        return None if t == math.inf else max(0.0, t - wall)

    def now(self, ps: Optional[_PoolState] = None) -> float:
        """Policy seconds since the runtime started (never behind the pool's own clock)."""
        t = (time.monotonic() - self.t0) / self.scale
        return t if ps is None or t >= ps.pool.now else ps.pool.now

    def _inbox(self) -> None:
        try:
            os.read(self.wake_r, 65536)
        except (BlockingIOError, OSError):
            pass
        while True:
            try:
                command = self.inbox.get_nowait()
            except queue.Empty:
                return
            kind = command[0]
            if kind == "run":
                run = command[1]
                self.runs[run.id] = run
                run.start = len(self.log)
                self._submit(run.call)
            elif kind == "reset":
                self._shutdown(hard=True)
                command[1].set()
            elif kind == "close":
                self._shutdown(hard=False)
                self.closed = True
                command[1].set()
                return

    def _timers(self) -> None:
        wall = time.monotonic()
        now = (wall - self.t0) / self.scale
        for ps in list(self.pools.values()):
            w = ps.pool.wakeup_at
            if w is not None and w <= now and ps.key in self.pools:
                self._do(ps, ps.pool.advance(self.now(ps)))
        deadlines = self.deadlines
        while deadlines and deadlines[0][0] <= wall:
            _, aid = heapq.heappop(deadlines)
            att = self.attempts.get(aid)
            if att is not None:
                self._time_out(att)
        if self.watched and wall >= self.next_poll:
            self.next_poll = wall + self.memory_poll
            self._watch_memory()
        for h in self.retiring:
            if h.kill_at <= wall:
                h.kill_at = math.inf
                self._kill(h)
        for h in [h for ps in list(self.pools.values()) for h in ps.replicas.values() if h.cancelling]:
            late = [(att, kind) for deadline, att, kind in h.cancelling.values() if deadline <= wall]
            if late and not h.retired:
                att, kind = late[0]
                options = att.call.task.options
                why = (f"ran past its timeout of {options.timeout.total_seconds():g} s" if kind == "timeout"
                       else "was cancelled (rule 7)")
                self._crash(h, "timeout" if kind == "timeout" else "crashed", (
                    f"{h.where()} was killed: an async attempt of {att.call.task.name!r} {why}, and the "
                    f"replica's event loop did not come back within {self.stop_grace:g} s to stop it (a "
                    f"busy loop or a blocking call in an async task); the pool replaces the replica"))

    # ------------------------------------------------------------------ replica messages
    def _readable(self, h: _Handle) -> None:
        """One message from a replica (if more are waiting, the next select says so at once)."""
        try:
            msg = P.decode(h.conn.recv_bytes())
        except (EOFError, OSError):
            if not h.retired:
                self._crash(h, h.kill_reason or "crashed")
            return
        kind = msg[0]
        if kind == P.DONE:
            self._done(h, msg[1], msg[2], msg[3])
        elif kind == P.CALL:
            self._nested(h, msg)
        elif kind == P.WAITING:
            self._waiting(h, msg[1], msg[2])
        elif kind == P.CANCELLED:
            self._stopped(h, msg[1])
        elif kind == P.READY:
            self._ready(h)

    def _ready(self, h: _Handle) -> None:
        h.ready = True
        ps = h.ps
        ps.start_failures = 0
        self._do(ps, ps.pool.replica_ready(self.now(ps), h.rid))

    def _done(self, h: _Handle, aid: int, ok: bool, value: Any) -> None:
        att = self.attempts.pop(aid, None)
        if att is None:
            self._stopped(h, aid)  # it was asked to stop and ended first: the same as stopping
            return
        h.attempts.discard(aid)
        call, ps = att.call, h.ps
        if call.done:  # a sync attempt cancelled while it ran (rule 7): its result is dropped
            self._do(ps, ps.pool.finish(self.now(ps), call.key, error="cancelled", message="its parent is gone"))
            return
        if ok:
            self._attempt_over(att, failed=False)
            self._do(ps, ps.pool.finish(self.now(ps), call.key))
            self._complete(call, True, value)
        else:
            call.error = value[:4] + (f"task {call.task.name!r} on {h.where()}",)
            call.detail = None
            reason = _FAILURE_REASONS.get(value[1], "error")
            # the runtime's own errors keep their message as it is (no type name per level)
            message = f"{value[1]}: {value[2]}" if reason == "error" else value[2]
            if self._attempt_over(att, failed=True):
                att.held = (reason, message)  # FAIL_AFTER_EXECUTABLE_NODES_COMPLETE: later
                return
            self._do(ps, ps.pool.finish(self.now(ps), call.key, error=reason, message=message))

    def _stopped(self, h: _Handle, aid: int) -> None:
        """An async attempt that was asked to stop (its timeout, or rule 7) has stopped."""
        entry = h.cancelling.pop(aid, None)
        if entry is None:
            return
        _, att, kind = entry
        if kind == "timeout":  # it kept its slot until now: the replica was not to take more
            call, ps = att.call, h.ps
            self._attempt_over(att, failed=True)
            if ps.key in self.pools:
                self._do(ps, ps.pool.finish(self.now(ps), call.key, error="timeout", message=call.detail or ""))

    def _waiting(self, h: _Handle, aid: int, requests: tuple) -> None:
        """An attempt now blocks on the results of these nested calls (none: it runs again)."""
        att = self.attempts.get(aid)
        if att is None or att.call.key is None:
            return
        on = [n for n in (self._node(att.requests.get(r)) for r in requests) if n is not None]
        self._settle(self.graph.waiting(self._graph_now(), (h.ps.name, att.call.key), on))

    def _node(self, call: Optional[_Call]) -> Optional[tuple]:
        """The pools' name for a call that has not ended: ``(pool, task id)``; a call waiting
        for an identical one (``cache_serialize``) is named by that one."""
        while call is not None and not call.done:
            if call.key is not None and call.ps is not None:
                return (call.ps.name, call.key)
            call = call.leader
        return None

    def _graph_now(self) -> float:
        """Policy seconds, never behind any pool's own clock (the pools decide together)."""
        now = self.now()
        for p in self.graph.pools.values():
            if p.now > now:
                now = p.now
        return now

    def _settle(self, decided: list) -> None:
        """Carry out what the pools decided together (rule 6): ``[(pool name, actions)]``."""
        for name, actions in decided:
            ps = self.by_name.get(name)
            if ps is not None:
                self._do(ps, actions)

    def _attempt_over(self, att: _Attempt, failed: bool) -> bool:
        """Rule 7 when an attempt ends: the calls it made and still holds are cancelled, or,
        when it failed under ``FAIL_AFTER_EXECUTABLE_NODES_COMPLETE``, run on while its
        failure waits for them. Returns True in that last case."""
        if att.call.key is None:
            return False
        run = att.call.run
        policy = run.failure_policy if run is not None else FAIL_IMMEDIATELY
        _, hold = self.graph.parent_ended((att.h.ps.name, att.call.key), failed, policy)
        if hold and att.kids:
            return True
        for kid in list(att.kids):
            self._cancel(kid, f"the task that called it, {att.call.task.name!r}, "
                              f"{'failed' if failed else 'ended without waiting for it'}")
        return False

    def _cancel(self, call: _Call, why: str) -> None:
        """Rule 7: a call nobody waits for any more stops (a queued one leaves its queue, a
        running async attempt is cancelled on its replica, a sync one runs on unheard)."""
        if call.done:
            return
        detail = f"task {call.task.name!r} was cancelled: {why}"
        call.detail = detail
        if call.leader is not None:  # waiting for an identical call: it just stops waiting
            followers = call.leader.followers
            if followers and call in followers:
                followers.remove(call)
            self._complete(call, False, P.runtime_error(TaskCancelledError(detail)))
            return
        ps, att = call.ps, call.attempt
        if ps is None or call.key is None or ps.key not in self.pools:
            self._complete(call, False, P.runtime_error(TaskCancelledError(detail)))
            return
        if att is not None and self.attempts.get(att.aid) is att:
            if not call.task.is_async:  # cannot be stopped: its result will be dropped
                self._complete(call, False, P.runtime_error(TaskCancelledError(detail)))
                return
            h = att.h
            del self.attempts[att.aid]
            h.attempts.discard(att.aid)
            h.cancelling[att.aid] = (time.monotonic() + self.stop_grace, att, "cancelled")
            h.send((P.CANCEL, att.aid))
            self._attempt_over(att, failed=True)
        self._do(ps, ps.pool.cancel(self.now(ps), call.key, detail))

    def _nested(self, h: _Handle, msg: tuple) -> None:
        _, parent_aid, request, ref, blob, payload, key = msg
        try:
            task = h.tasks.get(ref)
            if task is None:
                task = h.tasks[ref] = P.loads(blob)
        except Exception as exc:
            err = P.runtime_error(ReuseRefError(f"the runtime could not load the task called on {h.where()}: {exc!r}"))
            h.send((P.REPLY, request, False, err))
            return
        parent = self.attempts.get(parent_aid) if parent_aid is not None else None
        run = parent.call.run if parent is not None else None
        call = _Call(task, payload, key, (h, request), parent, run)
        if parent is not None:
            parent.requests[request] = call
            parent.kids[call] = None
        self._submit(call)

    # ------------------------------------------------------------------ calls
    def _submit(self, call: _Call) -> None:
        task = call.task
        key = call.cache_key
        if key is not None:
            blob = self.cache.get(key)
            if blob is not None:
                self._complete(call, True, blob)
                return
            if task.options.cache_serialize:
                leader = self.cache.leaders.get(key)
                if leader is not None:
                    leader.followers.append(call)
                    call.leader = leader
                    return
                self.cache.leaders[key] = call
                call.followers = []
        ps = self._pool_for(task, call.run)
        call.ps = ps
        call.key = f"{task.short_name}#{next(self.ids)}"
        call.leader = None
        ps.calls[call.key] = call
        att = call.parent
        if att is not None and att.call.key is not None:
            self.graph.called((att.h.ps.name, att.call.key), (ps.name, call.key))
        self._do(ps, ps.pool.submit(self.now(ps), call.key, retries=task.options.retries))

    def _complete(self, call: _Call, ok: bool, value: Any) -> None:
        """The call is over for good: store, share with followers, answer its caller."""
        if call.done:
            return
        call.done = True
        if call.ps is not None and call.key is not None:
            call.ps.calls.pop(call.key, None)
            self.graph.ended((call.ps.name, call.key))
        att = call.parent
        if att is not None:
            att.kids.pop(call, None)
            if att.held is not None and not att.kids:
                self._final_failure(att)
        key = call.cache_key
        if key is not None:
            if ok:
                self.cache.put(key, value)
            if self.cache.leaders.get(key) is call:
                del self.cache.leaders[key]
                followers, call.followers = call.followers or [], None
                for f in followers:
                    if ok:
                        self._complete(f, True, value)
                    else:  # the first one takes its turn; the others follow it
                        self._submit(f)
        origin = call.origin
        if type(origin) is _Waiter:
            run = call.run
            run.ok, run.value = ok, value
            if run.pools:
                self.ended.append(run)  # its pools close first, once the actions in hand are done
            else:
                self._end_run(run)
        else:
            h, request = origin
            if not h.retired:
                h.send((P.REPLY, request, ok, value))

    def _final_failure(self, att: _Attempt) -> None:
        """The children of a failed attempt have all ended: its failure is final now (rule 7)."""
        reason, message = att.held
        att.held = None
        ps = att.h.ps
        if ps.key in self.pools and att.call.key in ps.pool.running:
            self._do(ps, ps.pool.finish(self.now(ps), att.call.key, error=reason, message=message))

    def _fail(self, ps: _PoolState, key: str, reason: str, message: str) -> None:
        call = ps.calls.get(key)
        if call is None:
            return
        if reason == "error" and call.error is not None:
            error = call.error
        else:
            cls = _FAILURES.get(reason, ReuseRefError)
            if reason == "starvation":
                text = message
            elif call.detail:
                text = call.detail
            else:
                text = f"task {call.task.name!r} failed: {message} ({reason})"
            error = P.runtime_error(cls(text))
        self._complete(call, False, error)

    def _end_runs(self) -> None:
        """Runs whose top-level call is over: close their ``scope="run"`` pools, then wake the caller."""
        while self.ended:
            run = self.ended.popleft()
            for ps in run.pools:
                if ps.key in self.pools:
                    self._close_pool(ps, "shutdown")
            self._end_run(run)

    def _end_run(self, run: _RunState) -> None:
        run.end = len(self.log)
        self.runs.pop(run.id, None)
        self.to_wake.append(run)

    def _wake(self) -> None:
        to_wake, self.to_wake = self.to_wake, []
        for run in to_wake:
            run.waiter.set(run.ok, run.value)

    # ------------------------------------------------------------------ pools
    def _pool_for(self, task: Task, run: Optional[_RunState]) -> _PoolState:
        policy = task.reusable
        scoped = policy is not None and policy.scope == "run" and run is not None
        key = (task.pool_key, run.id if scoped else None)
        ps = self.pools.get(key)
        if ps is not None:
            return ps
        name = self._name_for(task)
        first = self.next_rid.get(name, 1)
        pool = Pool(policy, name=name, first_replica_id=first) if policy is not None \
            else Unpooled(name, first_replica_id=first)
        ps = self.pools[key] = _PoolState(key, name, pool, task)
        self.graph.add(pool)
        self.by_name[name] = ps
        self.policies[name] = policy
        self.resources[name] = task.resources
        if scoped:
            run.pools.append(ps)
        return ps

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
        live = {ps.name for ps in self.pools.values()}
        name, n = base, 2
        while name in live:
            name, n = f"{base}#{n}", n + 1
        return name

    def _close_pool(self, ps: _PoolState, reason: str) -> None:
        self.pools.pop(ps.key, None)
        if self.by_name.get(ps.name) is ps:
            del self.by_name[ps.name]
            self.graph.remove(ps.name)
        self._do(ps, ps.pool.close(self.now(ps), reason))

    def _do(self, ps: _PoolState, actions: list) -> None:
        """Move the pool's new records to the log, then carry out its actions."""
        records = ps.pool.records
        if records:  # moved, not copied: the runtime's log is the one list of record
            self.log.extend(records)
            records.clear()
        for a in actions:
            kind = type(a)
            if kind is Dispatch:
                self._dispatch(ps, a.task, a.replica)
            elif kind is StartReplica:
                self._start(ps, a.replica)
            elif kind is StopReplica:
                h = ps.replicas.pop(a.replica, None)
                if h is not None:
                    self._retire(h, kill=bool(h.attempts))
            elif kind is FailTask:
                self._fail(ps, a.task, a.reason, a.message)

    def _dispatch(self, ps: _PoolState, key: str, rid: int) -> None:
        call = ps.calls[key]
        h = ps.replicas[rid]
        task = call.task
        try:
            fid, blob = self._function(task.func)
        except Exception as exc:  # the function cannot be pickled: the attempt fails like a user error
            call.error = P.dump_error(exc)[:4] + ("the runtime, pickling the task's function",)
            self._do(ps, ps.pool.finish(self.now(ps), key, error="error", message=repr(exc)))
            return
        if fid in h.shipped:
            blob = None
        else:
            h.shipped.add(fid)
        aid = next(self.ids)
        att = self.attempts[aid] = call.attempt = _Attempt(aid, call, h)
        h.attempts.add(aid)
        timeout = task.options.timeout
        if timeout is not None:
            heapq.heappush(self.deadlines, (time.monotonic() + timeout.total_seconds(), aid))
        h.send((P.RUN, aid, fid, blob, call.payload, task.is_async))

    def _function(self, func: Any) -> Tuple[int, bytes]:
        """A function's id and pickle (made once: a replica receives it once, then only its id)."""
        entry = self.functions.get(id(func))
        if entry is None or entry[1] is not func:
            entry = self.functions[id(func)] = (next(self.ids), func, P.cloud_dumps(func))
        return entry[0], entry[2]

    # ------------------------------------------------------------------ replica processes
    def _start(self, ps: _PoolState, rid: int) -> None:
        self.next_rid[ps.name] = max(self.next_rid.get(ps.name, 1), rid + 1)
        task = ps.task
        if isinstance(ps.pool, Unpooled):  # no reuse: the replica takes the call's own settings
            call = ps.calls.get(ps.pool.task_of(rid))
            if call is not None:
                task = call.task
        # what a spawned child would inherit (a forkserver's children would get the
        # server's environment, frozen when it started), then the task's own settings
        env = dict(os.environ)
        env.update(task.env_vars or {})
        for name, value in (task.secrets or {}).items():
            value = os.environ.get(name) if value is None else value
            if value is not None:
                env[name] = value
        limit = task.resources.memory_bytes if task.resources is not None else None
        parent, child = self.ctx.Pipe()
        process = self.ctx.Process(target=_replica_module.main, args=(child, self.alive, env, self.cold_start_wall),
                                   name=f"reuse-replica-{ps.name}-{rid}", daemon=True)
        try:
            process.start()
        except Exception as exc:
            parent.close()
            child.close()
            ps.start_failures += 1
            print(f"reuse_ref: could not start replica {rid} of {ps.name!r}: {exc!r}", file=sys.stderr)
            for call in ps.calls.values():
                call.detail = f"the runtime could not start a replica of {ps.name!r}: {exc!r}"
            if ps.start_failures >= _START_FAILURES_LIMIT:
                self._close_pool(ps, "crashed")
            else:
                self._do(ps, ps.pool.replica_crashed(self.now(ps), rid, "crashed"))
            return
        child.close()
        h = _Handle(ps, rid, process, parent, limit)
        ps.replicas[rid] = h
        self.pids.append(process.pid)
        self.handles.add(h)
        self.sel.register(parent, selectors.EVENT_READ, h)
        if limit:
            try:
                h.proc = psutil.Process(process.pid)
                self.watched.add(h)
            except psutil.Error:
                pass

    def _retire(self, h: _Handle, kill: bool) -> None:
        """Stop a replica: close its pipe (it exits on end of file), or kill it if it is busy;
        it is killed anyway if it has not exited after the grace period."""
        if h.retired:
            return
        h.retired = True
        for aid in h.attempts:
            self.attempts.pop(aid, None)
        h.attempts.clear()
        self.watched.discard(h)
        try:
            self.sel.unregister(h.conn)
        except (KeyError, ValueError):
            pass
        h.conn.close()
        if kill:
            self._kill(h)
        h.kill_at = time.monotonic() + self.stop_grace
        self.retiring.append(h)
        try:
            self.sel.register(h.process.sentinel, selectors.EVENT_READ, ("reap", h))
        except (KeyError, ValueError, OSError):
            self._reap(h)

    def _kill(self, h: _Handle) -> None:
        """Kill the replica and every process its tasks started (its own process group)."""
        _kill_group(h.pid)
        try:
            h.process.kill()
        except Exception:
            pass

    def _reap(self, h: _Handle) -> None:
        """The stopped process has exited: release what it held (its sentinel is an open file)."""
        if h.reaped or h.process.exitcode is None:
            return
        try:
            self.sel.unregister(h.process.sentinel)
        except (KeyError, ValueError, OSError):
            pass
        h.reaped = True
        _kill_group(h.pid)  # what its tasks started and left behind goes with it
        if h in self.retiring:
            self.retiring.remove(h)
        self.handles.discard(h)
        try:
            h.process.close()
        except ValueError:
            pass

    def _crash(self, h: _Handle, reason: str, detail: Optional[str] = None) -> None:
        """A replica died or must die (rule 5): kill it, and tell its pool which attempts it took."""
        if h.retired:
            return
        ps = h.ps
        if detail is None:
            h.process.join(0.5)
            code = h.process.exitcode
            how = "exit code unknown" if code is None else (
                f"killed by signal {-code}" if code < 0 else f"exit code {code}")
            detail = f"{h.where()} died ({how})"
            if not h.ready:
                detail += " while starting; its output above may say why"
        held = [self.attempts[a] for a in h.attempts if a in self.attempts]
        held += [att for _, att, kind in h.cancelling.values() if kind == "timeout"]
        h.cancelling.clear()
        for att in held:
            att.call.detail = f"task {att.call.task.name!r} failed: {detail}"
        self._retire(h, kill=True)
        ps.replicas.pop(h.rid, None)
        if not h.ready:
            ps.start_failures += 1
        if ps.key not in self.pools:
            return
        self._do(ps, ps.pool.replica_crashed(self.now(ps), h.rid, reason))
        for att in held:  # rule 7: what those attempts called is no longer wanted
            self._attempt_over(att, failed=True)
        if ps.start_failures >= _START_FAILURES_LIMIT and ps.key in self.pools:
            for call in ps.calls.values():
                call.detail = (f"task {call.task.name!r} failed: {_START_FAILURES_LIMIT} replicas of "
                               f"{ps.name!r} in a row died before they were ready; last: {detail}")
            self._close_pool(ps, "crashed")

    def _time_out(self, att: _Attempt) -> None:
        call, h = att.call, att.h
        ps = h.ps
        seconds = call.task.options.timeout.total_seconds()
        if call.task.is_async:
            # Cancelled on its replica; it keeps its slot until the replica says it stopped,
            # so that a replica whose event loop never comes back takes no more work: after
            # stop_grace it is killed instead (see _timers).
            call.detail = (f"task {call.task.name!r} ran longer than its timeout of {seconds:g} s "
                           f"on {h.where()}; the attempt was cancelled")
            del self.attempts[att.aid]
            h.attempts.discard(att.aid)
            h.cancelling[att.aid] = (time.monotonic() + self.stop_grace, att, "timeout")
            h.send((P.CANCEL, att.aid))
        else:
            h.kill_reason = "timeout"
            self._crash(h, "timeout", (
                f"it ran longer than its timeout of {seconds:g} s; a sync attempt cannot be "
                f"interrupted, so its {h.where()} was stopped (the pool replaces it)"))

    def _watch_memory(self) -> None:
        for h in list(self.watched):
            try:
                rss = h.proc.memory_info().rss
            except psutil.Error:
                continue
            if rss > h.limit:
                h.kill_reason = "oom"
                self._crash(h, "oom", (
                    f"{h.where()} used {_mib(rss)} of memory, more than its limit of {_mib(h.limit)} "
                    f"(Resources.memory), and was killed"))

    # ------------------------------------------------------------------ shutdown
    def _shutdown(self, hard: bool) -> None:
        """Close every pool (their calls fail), stop every replica and wait until each has exited."""
        for ps in list(self.pools.values()):
            self._close_pool(ps, "shutdown")
        self._end_runs()
        for h in list(self.retiring):
            if hard:
                self._kill(h)
        deadline = time.monotonic() + (0.0 if hard else self.stop_grace)
        for h in list(self.retiring):
            h.process.join(max(0.0, deadline - time.monotonic()))
            if h.process.exitcode is None:
                self._kill(h)
                h.process.join(5)
            self._reap(h)
        self.deadlines.clear()

    def _final_cleanup(self) -> None:
        self._wake()
        error = P.runtime_error(ReuseRefError(
            "the runtime stopped before this run ended"
            + (f" (internal error: {self.failure!r})" if self.failure else "")))
        for run in list(self.runs.values()):
            run.waiter.set(False, error)
        self.runs.clear()
        while True:  # runs posted while the loop was ending
            try:
                command = self.inbox.get_nowait()
            except queue.Empty:
                break
            if command[0] == "run":
                command[1].waiter.set(False, error)
            elif command[0] in ("reset", "close"):
                command[1].set()
        for h in list(self.handles):
            if not h.retired:
                try:
                    h.conn.close()
                except Exception:
                    pass
            if h.process.exitcode is None:
                self._kill(h)
                h.process.join(5)
            self._reap(h)
        self.closed = True
        for fd in (self.wake_r, self.wake_w, self.alive_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self.alive.close()
        self.sel.close()


class Run:
    """The outcome of :meth:`Runtime.run`: the task's ``result``, the run's ``trace`` and its ``measures``.

    ``trace`` holds the records the runtime made while the run was going on, in
    policy seconds; when other runs share the runtime at the same time, their records are
    in it too. ``cached`` is true when the call did not run itself: its result came from
    the cache, or from an identical call running at the same time (``cache_serialize``);
    such a call leaves no record. ``wall_seconds`` is the time ``run`` waited.
    """

    def __init__(self, task: Task, result: Any, controller: Any, start: int, end: int,
                 wall_seconds: float, cached: bool) -> None:
        self.task = task
        self.result = result
        self.wall_seconds = wall_seconds
        self.cached = cached
        self._source = (controller, start, end)
        self._trace: Optional[Trace] = None

    @property
    def trace(self) -> Trace:
        if self._trace is None:
            c, start, end = self._source
            self._trace = Trace(c.log[start:end], dict(c.policies), dict(c.resources))
        return self._trace

    @property
    def measures(self) -> Any:
        """``self.trace.measures()``."""
        return self.trace.measures()

    def __repr__(self) -> str:
        return f"Run({self.task.name}, result={self.result!r}, records={len(self.trace)}, wall={self.wall_seconds:.3f}s)"


def _number(param: str, value: Any, *, positive: bool) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and (value > 0 if positive else value >= 0)
    if not ok:
        raise ValueError(f"{param}={value!r} is not valid: a finite number {'> 0' if positive else '>= 0'}")
    return float(value)


_controllers: "weakref.WeakSet[_Controller]" = weakref.WeakSet()
_run_ids = itertools.count(1)


class Runtime:
    """Run tasks on warm replica processes, as a reusable Flyte environment would.

    >>> with Runtime(time_scale=0.01) as rt:            # doctest: +SKIP
    ...     rt.run(double, 21).result
    42

    * ``time_scale``: every policy duration takes ``time_scale`` times as long on the wall
      clock (``0.01`` turns a 30 s TTL into 0.3 s); the trace reports policy seconds.
      Validation is unchanged: a TTL under 30 s is still refused. Task timeouts are
      wall seconds (they bound the task's own code, which the scale does not speed up).
    * ``cold_start``: extra policy seconds a replica waits before it is ready, so that
      cold starts show (the real start of a Python process is paid anyway).
    * ``start_method``: ``"forkserver"`` (default where available: replicas fork from a
      server that has imported ``reuse_ref`` already) or ``"spawn"`` (a fresh interpreter
      per replica, slower to start); never ``"fork"``. The environment variable
      ``REUSE_REF_START_METHOD`` sets the default.
      As with any ``multiprocessing`` program, a script must guard its top level with
      ``if __name__ == "__main__":``, because replicas import the main module.
    * ``memory_poll``: seconds between two looks at the memory of replicas whose
      environment sets ``Resources(memory=...)``; one over its limit is killed (OOM).
    * ``stop_grace``: seconds a stopping replica has to exit before it is killed.

    Each replica is a real process: module globals survive between the calls it serves,
    ``os.getpid()`` tells which one ran a call, and the environment's ``env_vars`` and
    ``secrets`` are in its ``os.environ``. Leaving the ``with`` block, ``close()``, an
    interrupt of ``run`` (``KeyboardInterrupt``) and the interpreter's exit stop every
    replica; replicas also exit by themselves if the controlling process dies.
    """

    def __init__(self, time_scale: float = 1.0, cold_start: float = 0.0, *,
                 start_method: Optional[str] = None, memory_poll: float = 0.05, stop_grace: float = 2.0,
                 failure_policy: Any = FAIL_IMMEDIATELY) -> None:
        self.time_scale = _number("time_scale", time_scale, positive=True)
        self.cold_start = _number("cold_start", cold_start, positive=False)
        memory_poll = _number("memory_poll", memory_poll, positive=True)
        stop_grace = _number("stop_grace", stop_grace, positive=False)
        methods = multiprocessing.get_all_start_methods()
        if start_method is None:
            start_method = os.environ.get("REUSE_REF_START_METHOD") or (
                "forkserver" if "forkserver" in methods else "spawn")
        if start_method not in ("spawn", "forkserver") or start_method not in methods:
            allowed = [m for m in ("forkserver", "spawn") if m in methods]
            raise ValueError(f"start_method={start_method!r} is not valid: one of {allowed} "
                             f"(never 'fork': a forked copy of a threaded process can deadlock)")
        self.failure_policy = check_failure_policy(failure_policy)
        ctx = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            ctx.set_forkserver_preload([_replica_module.__name__])
            # Started now, not by the first replica: otherwise the first cold start pays the
            # server's own start (about 0.2 s), and replicas of one burst are ready at
            # different times, which changes which one scales down first (rule 3).
            multiprocessing.forkserver.ensure_running()
        self.start_method = start_method
        self._c = _Controller(ctx, self.time_scale, self.cold_start, memory_poll, stop_grace)
        _controllers.add(self._c)
        self._thread = self._c.thread = threading.Thread(target=self._c.loop, name="reuse-ref-controller", daemon=True)
        self._thread.start()
        self._finalizer = weakref.finalize(self, _close_controller, self._c, False)
        # At exit our own hook (_close_all) closes every runtime and waits for it; a
        # finalizer running then too would race multiprocessing's exit hook.
        self._finalizer.atexit = False

    # ------------------------------------------------------------------ running
    def run(self, task: Task, *args: Any, failure_policy: Any = None, **kwargs: Any) -> Run:
        """Run ``task(*args, **kwargs)`` on a replica of its environment's pool and wait for it.

        Returns a :class:`Run`; a failed task raises its error here (the user's exception
        with the replica's traceback as a note, or ``StarvationError``,
        ``ReplicaCrashedError``, ``OOMError``, ``TaskTimeoutError``). Bad input (not a
        task, arguments that do not fit its signature) raises ``ValueError``.
        ``failure_policy`` (``"FAIL_IMMEDIATELY"`` or
        ``"FAIL_AFTER_EXECUTABLE_NODES_COMPLETE"``; the runtime's own by default) says
        what a failed task does to the other tasks its parent called (rule 7).
        """
        policy = self.failure_policy if failure_policy is None else check_failure_policy(failure_policy)
        if type(task) is not Task and not isinstance(task, Task):
            P.check_task(task)
        options = task.options
        if options.cache:
            key = cache_key(task, P.bind(task, args, kwargs))
        else:
            P.check_args(task, args, kwargs)
            key = None
        c = self._c
        if c.closed:
            raise RuntimeError("this Runtime is closed: make a new one (or use reuse_ref.run)")
        if task.secrets:
            for name, value in task.secrets.items():
                if value is None and name not in os.environ:
                    raise ValueError(
                        f"secrets={name!r} is not valid for task {task.name!r}: the secret has no value "
                        f"here; set the environment variable {name} or give secrets={{{name!r}: value}}")
        if options.deprecated:
            warn_deprecated(task)
        try:
            payload = P.dumps((args, kwargs))
        except Exception as exc:
            raise ValueError(f"arguments for task {task.name!r} are not valid: they cannot be "
                             f"pickled to reach a replica ({exc!r})") from None
        waiter = _Waiter()
        run = _RunState(next(_run_ids), waiter, policy)
        run.call = _Call(task, payload, key, waiter, None, run)
        start = time.perf_counter()
        c.post(("run", run))
        try:
            ok, value = waiter.result(self._thread.is_alive)
        except BaseException:  # an interrupt: no replica may go on running this run's work
            self._reset()
            raise
        wall = time.perf_counter() - start
        if not ok:
            raise P.load_error(value)
        return Run(task, P.loads(value), c, run.start, run.end, wall, cached=run.call.key is None)

    def _reset(self) -> None:
        """Stop every replica and close every pool; the runtime stays usable (next calls start cold)."""
        done = threading.Event()
        self._c.post(("reset", done))
        deadline = time.monotonic() + 30
        while not done.is_set() and self._thread.is_alive() and time.monotonic() < deadline:
            try:
                done.wait(0.1)
            except KeyboardInterrupt:
                continue

    # ------------------------------------------------------------------ state
    @property
    def closed(self) -> bool:
        return self._c.closed or not self._thread.is_alive()

    @property
    def trace(self) -> Trace:
        """Every record of this runtime so far (policy seconds), with each pool's policy and resources."""
        c = self._c
        return Trace(list(c.log), dict(c.policies), dict(c.resources))

    @property
    def replica_pids(self) -> List[int]:
        """The process ids of every replica this runtime has started."""
        return list(self._c.pids)

    @property
    def cache_hits(self) -> int:
        """Calls answered from the cache (they do not appear in the trace)."""
        return self._c.cache.hits

    @property
    def cache_misses(self) -> int:
        """Calls of cached tasks that found no stored result (a call waiting for an identical
        one under ``cache_serialize`` counts here: nothing was stored when it looked)."""
        return self._c.cache.misses

    def now(self) -> float:
        """Policy seconds since the runtime started (the trace's clock)."""
        return (time.monotonic() - self._c.t0) / self.time_scale

    def close(self) -> None:
        """Stop every replica and the controller; waits until every replica process has exited."""
        self._finalizer.detach()
        _close_controller(self._c, True)

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"Runtime(time_scale={self.time_scale:g}, cold_start={self.cold_start:g}, {self.start_method}, {state})"


def _close_controller(c: _Controller, wait: bool) -> None:
    """Ask the controller to stop every replica and end; with ``wait``, until it has.

    A controller is forgotten only once its thread has ended, so that the exit hook
    still waits for one that a finalizer asked to close a moment before.
    """
    thread = c.thread
    if thread is None:
        return
    if thread.is_alive() and not c.closed:
        c.post(("close", threading.Event()))
    if wait and thread is not threading.current_thread():
        deadline = time.monotonic() + 60
        while thread.is_alive() and time.monotonic() < deadline:
            try:
                thread.join(0.1)
            except KeyboardInterrupt:  # a second Ctrl-C must not leave replicas behind
                continue
    if not thread.is_alive():
        _controllers.discard(c)


_default: Optional[Runtime] = None
_default_lock = threading.Lock()


def default_runtime() -> Runtime:
    """The runtime :func:`run` uses: made on first use (``time_scale=1``), closed at exit."""
    global _default
    with _default_lock:
        if _default is None or _default.closed:
            _default = Runtime()
        return _default


def run(task: Task, *args: Any, **kwargs: Any) -> Run:
    """``default_runtime().run(task, *args, **kwargs)``."""
    return default_runtime().run(task, *args, **kwargs)


@atexit.register
def _close_all() -> None:
    for c in list(_controllers):
        _close_controller(c, True)
