"""The runtime's driver: real task calls driven through the pools on a real clock.

``_Controller`` does the work behind a :class:`~reuse_ref.runtime.Runtime`, in one
background thread that owns every pool and every replica, so nothing needs a lock: user
threads post commands to a queue and wake the thread through a pipe. It knows calls,
routing, the cache, waiting parents and time; how a replica is started, fed, watched
and stopped is its backend's business (:mod:`reuse_ref.runtime.backends`: local
processes or Ray actors), behind a small interface.

The thread is an event loop. It waits (the backend's ``wait``, which also watches the
wakeup pipe) until a replica says something, a command arrives or the next timer is
due, then turns what happened into pool events: a call into ``submit``, a replica's
``READY`` into ``replica_ready``, an attempt's result into ``finish``, a replica's end
into ``replica_crashed``, the passing of time into ``advance``; and what needs every
pool at once into :class:`~reuse_ref.pools.Pools`: a replica's report that an attempt
blocks on the calls it made (``waiting``, rule 6), a call made by a running task
(``called``), an attempt's end (``parent_ended``, rule 7), a replica dead before it was
ready (the start-failure limit), the end of a run (its ``scope="run"`` pools). The pools
answer with actions (start, stop, dispatch, fail, cancel) and the loop carries them
out. It decides nothing about the lifecycle itself. The timers are the pools'
``wakeup_at``, the attempts' timeouts, the grace given to an attempt asked to stop, and
the end of a replica's ``cold_start`` (counted from when the pool asked for it).

Time: a pool is fed policy seconds, ``(wall - start) / time_scale``, so the trace reads
like the simulator's. Task timeouts bound the real running time of a task's code, in
wall seconds.
"""
from __future__ import annotations

import heapq
import itertools
import math
import os
import queue
import sys
import threading
import time
import traceback
from collections import deque
from typing import Any, Dict, List, Optional, Tuple

from ..errors import ReuseRefError
from ..pool import Dispatch, FailTask, StartReplica, StopReplica
from ..pools import FAIL_IMMEDIATELY, START_FAILURES_LIMIT, Pools
from ..unpooled import Unpooled
from . import protocol as P
from .backends import EXITED, ReplicaBackend
from .cache import ResultCache
from .calls import FAILURE_REASONS, USER_FAILURES, Attempt, Call, PoolState, Replica, RunState
from .routing import Routing

class _Controller(Routing):
    """Everything behind a :class:`Runtime`; all of it runs in the controller's thread."""

    def __init__(self, backend: ReplicaBackend, time_scale: float, cold_start: float, stop_grace: float) -> None:
        self.backend = backend
        self.scale = time_scale
        self.cold_start_wall = cold_start * time_scale
        self.held: List[tuple] = []  # (wall time, rid, id, replica): up, and in its cold start still
        self.stop_grace = stop_grace
        self.t0 = time.monotonic()
        self.inbox: "queue.SimpleQueue[tuple]" = queue.SimpleQueue()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        backend.open(self.wake_r)
        self.ids = itertools.count(1)
        self.pools: Dict[Any, PoolState] = {}
        self.graph = Pools()  # every live pool, together: rules 6 and 7 are decided there
        self.by_name: Dict[str, PoolState] = {}
        self.variants: Dict[Any, str] = {}
        self.next_rid: Dict[str, int] = {}
        self.attempts: Dict[int, Attempt] = {}
        self.deadlines: List[Tuple[float, int]] = []
        self.functions: Dict[int, Tuple[int, Any, bytes]] = {}
        self.cache = ResultCache()
        self.runs: Dict[int, RunState] = {}
        self.ended: deque = deque()
        self.to_wake: List[RunState] = []
        self.log: list = []
        self.policies: Dict[str, Any] = {}
        self.resources: Dict[str, Any] = {}
        self.pids: List[int] = []
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
                for h, msg in self.backend.wait(self._timeout()):
                    if h is None:
                        self._inbox()
                    elif not h.retired:
                        self._message(h, msg)
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
        for heap in (self.deadlines, self.held):  # attempts' timeouts, replicas' cold starts
            if heap:
                t = min(t, heap[0][0])
        for ps in self.pools.values():
            for h in ps.replicas.values():
                for deadline, _, _ in h.cancelling.values():
                    t = min(t, deadline)
        return None if t == math.inf else max(0.0, t - wall)

    def now(self, ps: Optional[PoolState] = None) -> float:
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
        while self.held and self.held[0][0] <= wall:  # replicas whose cold start has now passed
            h = heapq.heappop(self.held)[-1]
            if not h.retired:
                self._take(h)
        deadlines = self.deadlines
        while deadlines and deadlines[0][0] <= wall:
            _, aid = heapq.heappop(deadlines)
            att = self.attempts.get(aid)
            if att is not None:
                self._time_out(att)
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
    def _message(self, h: Replica, msg: tuple) -> None:
        """One message from a live replica, or its end (``EXITED``, added by the backend)."""
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
            self._ready(h, msg[1])
        elif kind == EXITED:
            self._crash(h, msg[1], msg[2])

    def _ready(self, h: Replica, pid: int) -> None:
        if h.pid is None:  # a backend that learns the pid only now (a Ray actor)
            h.pid = pid
            self.pids.append(pid)
        if time.monotonic() < h.ready_at:  # cold_start counts from the pool's ask, as simulated
            heapq.heappush(self.held, (h.ready_at, h.rid, id(h), h))
        else:
            self._take(h)

    def _take(self, h: Replica) -> None:
        h.ready = True
        self._do(h.ps, self.graph.replica_ready(self.now(h.ps), h.ps.name, h.rid))

    def _done(self, h: Replica, aid: int, ok: bool, value: Any) -> None:
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
            reason = FAILURE_REASONS.get(value[1], "error")
            if reason == "error" and P.non_recoverable(value):
                reason = "non_recoverable"  # the pool makes no retry (Flyte's NonRecoverableError)
            # the runtime's own errors keep their message as it is (no type name per level)
            message = f"{value[1]}: {value[2]}" if reason in USER_FAILURES else value[2]
            if self._attempt_over(att, failed=True):
                att.held = (reason, message)  # FAIL_AFTER_EXECUTABLE_NODES_COMPLETE: later
                return
            self._do(ps, ps.pool.finish(self.now(ps), call.key, error=reason, message=message))

    def _stopped(self, h: Replica, aid: int) -> None:
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

    def _waiting(self, h: Replica, aid: int, requests: tuple) -> None:
        """An attempt now blocks on the results of these nested calls (none: it runs again)."""
        att = self.attempts.get(aid)
        if att is None or att.call.key is None:
            return
        on = [n for n in (self._node(att.requests.get(r)) for r in requests) if n is not None]
        self._settle(self.graph.waiting(self._graph_now(), (h.ps.name, att.call.key), on))

    def _node(self, call: Optional[Call]) -> Optional[tuple]:
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

    def _attempt_over(self, att: Attempt, failed: bool) -> bool:
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

    # ------------------------------------------------------------------ runs
    def _end_runs(self) -> None:
        """Runs whose top-level call is over: close their ``scope="run"`` pools, then wake the caller."""
        while self.ended:
            run = self.ended.popleft()
            for name, actions in self.graph.run_ended(self._graph_now(), run.id):
                ps = self.by_name[name]
                self._forget(ps)
                self._do(ps, actions)
            self._end_run(run)

    def _end_run(self, run: RunState) -> None:
        run.end = len(self.log)
        self.runs.pop(run.id, None)
        self.to_wake.append(run)

    def _wake(self) -> None:
        to_wake, self.to_wake = self.to_wake, []
        for run in to_wake:
            run.waiter.set(run.ok, run.value)

    # ------------------------------------------------------------------ pools
    def _close_pool(self, ps: PoolState, reason: str) -> None:
        if self.graph.pools.get(ps.name) is ps.pool:
            self._forget(ps)
            self._do(ps, self.graph.close(self.now(ps), ps.name, reason))

    def _forget(self, ps: PoolState) -> None:
        """The pools have closed ``ps``: calls no longer reach it (its name may be used again)."""
        self.pools.pop(ps.key, None)
        if self.by_name.get(ps.name) is ps:
            del self.by_name[ps.name]

    def _do(self, ps: PoolState, actions: list) -> None:
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

    def _dispatch(self, ps: PoolState, key: str, rid: int) -> None:
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
        self.attempts[aid] = call.attempt = Attempt(aid, call, h)
        h.attempts.add(aid)
        timeout = task.options.timeout
        if timeout is not None:
            heapq.heappush(self.deadlines, (time.monotonic() + timeout.total_seconds(), aid))
        self.backend.send(h, (P.RUN, aid, fid, blob, call.payload, task.is_async))

    # ------------------------------------------------------------------ replicas (through the backend)
    def _start(self, ps: PoolState, rid: int) -> None:
        self.next_rid[ps.name] = max(self.next_rid.get(ps.name, 1), rid + 1)
        task = ps.task
        if isinstance(ps.pool, Unpooled):  # no reuse: the replica takes the call's own settings
            call = ps.calls.get(ps.pool.task_of(rid))
            if call is not None:
                task = call.task
        env = dict(task.env_vars or {})  # the environment's own variables; the backend adds the rest
        for name, value in (task.secret_variables or {}).items():
            value = os.environ.get(name) if value is None else value
            if value is not None:
                env[name] = value
        h = Replica(ps, rid)
        try:
            h.ready_at = time.monotonic() + self.cold_start_wall
            self.backend.start(h, env, task.resources)
        except Exception as exc:
            print(f"reuse_ref: could not start replica {rid} of {ps.name!r}: {exc!r}", file=sys.stderr)
            for call in ps.calls.values():
                call.detail = f"the runtime could not start a replica of {ps.name!r}: {exc!r}"
            actions, closed = self.graph.replica_crashed(self.now(ps), ps.name, rid, "crashed", ready=False)
            if closed:
                self._forget(ps)
            self._do(ps, actions)
            return
        ps.replicas[rid] = h
        if h.pid is not None:
            self.pids.append(h.pid)

    def _retire(self, h: Replica, kill: bool) -> None:
        """Stop a replica: it exits, or is killed if it is busy (see the backend's ``stop``)."""
        if h.retired:
            return
        h.retired = True
        for aid in h.attempts:
            self.attempts.pop(aid, None)
        h.attempts.clear()
        self.backend.stop(h, kill)

    def _crash(self, h: Replica, reason: str, detail: str) -> None:
        """A replica died or must die (rule 5): kill it, and tell its pool which attempts it took."""
        if h.retired:
            return
        ps = h.ps
        held = [self.attempts[a] for a in h.attempts if a in self.attempts]
        held += [att for _, att, kind in h.cancelling.values() if kind == "timeout"]
        h.cancelling.clear()
        for att in held:
            att.call.detail = f"task {att.call.task.name!r} failed: {detail}"
        self._retire(h, kill=True)
        ps.replicas.pop(h.rid, None)
        if self.graph.pools.get(ps.name) is not ps.pool:
            return
        actions, closed = self.graph.replica_crashed(self.now(ps), ps.name, h.rid, reason, ready=h.ready)
        if closed:  # the pool's tasks fail with the reason (a replica that was not ready held none)
            for call in ps.calls.values():
                call.detail = (f"task {call.task.name!r} failed: {START_FAILURES_LIMIT} replicas of "
                               f"{ps.name!r} in a row died before they were ready; last: {detail}")
            self._forget(ps)
        self._do(ps, actions)
        for att in held:  # rule 7: what those attempts called is no longer wanted
            self._attempt_over(att, failed=True)

    def _time_out(self, att: Attempt) -> None:
        call, h = att.call, att.h
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
            self.backend.send(h, (P.CANCEL, att.aid))
        else:
            self._crash(h, "timeout", (
                f"it ran longer than its timeout of {seconds:g} s; a sync attempt cannot be "
                f"interrupted, so its {h.where()} was stopped (the pool replaces it)"))

    # ------------------------------------------------------------------ shutdown
    def _shutdown(self, hard: bool) -> None:
        """Close every pool (their calls fail), stop every replica and wait until each has exited."""
        for ps in list(self.pools.values()):
            self._close_pool(ps, "shutdown")
        self._end_runs()
        self.backend.drain(hard)
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
        try:
            self.backend.close()
        finally:
            self.closed = True
            for fd in (self.wake_r, self.wake_w):
                try:
                    os.close(fd)
                except OSError:
                    pass
