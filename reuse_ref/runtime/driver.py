"""The runtime's driver: real task calls through the core's pools, on a real clock.

A :class:`Driver` does the work behind a :class:`~reuse_ref.runtime.Runtime`, in one
background thread that owns every pool, call and replica: user threads post commands to a
queue and wake the thread through a pipe, or, for a plain warm call, take the driver's lock
(which its thread lets go of only while it waits) and carry the call out themselves
(:mod:`reuse_ref.runtime.direct`). It keeps what it knows in a
:class:`~reuse_ref.runtime.call_table.CallTable`; how a replica is started, fed, watched
and stopped is its backend's business (:mod:`reuse_ref.runtime.backends`).

The thread is an event loop. It waits (the backend's ``wait``, which watches the wakeup
pipe too) for a replica's message, a command or a timer, and turns each into an event of
the core's :class:`~reuse_ref.core.pools.Pools`; it carries out what the pools decide and
decides nothing about the lifecycle itself. Its own timers are mechanical: the pools'
wake-up times, the end of a replica's ``cold_start``, and the grace of an attempt asked
to stop. The pools are fed policy seconds, ``(wall - start) / time_scale``, so the trace
reads like the simulator's; a task's ``timeout`` is wall seconds (it bounds the task's
own code, which the scale does not speed up), given to the pools in policy seconds.
"""
from __future__ import annotations

import heapq
import math
import os
import sys
import threading
import time
import traceback
from collections import deque
from typing import Any, List, Optional

from ..config.errors import ReuseRefError
from ..core.actions import CancelAttempt, Dispatch, FailTask, Interrupt, StartReplica, StopReplica
from ..core.pools import START_FAILURES_LIMIT, Decisions, Pools
from . import pickling
from . import wire as W
from .backends import EXITED, LONGEST_WAIT, ReplicaBackend
from .cache import ResultCache
from .call_table import FAILURE_REASONS, USER_FAILURES, Attempt, Call, CallTable, PoolState, ReplicaHandle, RunState, Waiter
from .direct import DirectCalls
from .mailbox import Mailbox

__all__ = ["Driver"]


class Driver:
    """Everything behind a :class:`~reuse_ref.runtime.runtime.Runtime`; all of it runs in the driver's thread."""

    def __init__(self, backend: ReplicaBackend, time_scale: float, cold_start: float, stop_grace: float, scaledown: str) -> None:
        self.backend = backend
        self.scale = time_scale
        self.cold_start_wall = cold_start * time_scale
        self.held: List[tuple] = []  # (wall time, rid, id, replica): up, and in its cold start still
        self.stop_grace = stop_grace
        self.t0 = time.monotonic()
        self.clock = 0.0  # the latest policy time handed to the pools: none is ever ahead of it
        self.mailbox = Mailbox()
        backend.open(self.mailbox.read_fd)
        self.pools = Pools()  # every live pool, together: rules 6 and 7 are decided there
        self.table = CallTable(scaledown)
        self.cache = ResultCache()
        self.log = self.pools.records  # every record of the runtime, in order
        self.ended: deque = deque()  # runs whose top-level call is over, their scope="run" pools to close
        self.to_wake: List[RunState] = []
        self.pids: List[int] = []
        self.closed = False
        self.failure: Optional[BaseException] = None
        self.thread: Optional[threading.Thread] = None
        self.lock = threading.Lock()  # the loop's, but while its backend waits (DirectCalls)
        self.direct = DirectCalls(self, backend.share(self.lock))

    # ------------------------------------------------------------------ from user threads
    def post(self, command: tuple) -> None:
        self.mailbox.post(command)

    # ------------------------------------------------------------------ the loop
    def loop(self) -> None:
        with self.lock:
            try:
                while not self.closed:
                    if self.to_wake:  # wake callers just before sleeping: the GIL is free for them then
                        self._wake()
                    timeout = self.direct.asleep_for(self._timeout())
                    for h, msg in self.backend.wait(timeout):  # a backend that lends lets go of the lock meanwhile
                        if h is None:
                            self._inbox()
                        elif not h.retired:
                            self._message(h, msg)
                        if self.closed:
                            break
                    self.settle()
            except BaseException as exc:  # a bug in the runtime: fail every waiting run, stop every replica
                self.failure = exc
                traceback.print_exc(file=sys.stderr)
            finally:
                self._final_cleanup()

    def settle(self) -> None:
        """After events: due timers, ended runs, and rule 6 over every pool."""
        self._timers()
        self._end_runs()
        self._carry(self.pools.check(self.now()))

    def now(self) -> float:
        """Policy seconds since the runtime started; never behind ``clock``, the latest given to a pool."""
        now = (time.monotonic() - self.t0) / self.scale
        if now > self.clock:
            self.clock = now
        return self.clock

    def _timeout(self) -> Optional[float]:
        """Wall seconds until the next timer: a pool's wake-up, a cold start's end, a stop's grace."""
        scale, t0 = self.scale, self.t0
        times = [t0 + p.wakeup_at * scale + 0.0005 for p in self.pools.pools.values() if p.wakeup_at is not None]
        times += [held[0] for held in self.held[:1]] + [  # the first cold start to end, and the stops' graces
            d for h in self.table.graces() for d, _, _ in h.cancelling.values()]
        return min(LONGEST_WAIT, max(0.0, min(times) - time.monotonic())) if times else None

    def _inbox(self) -> None:
        for command in self.mailbox.take():
            kind = command[0]
            if kind == "run":
                run = command[1]
                self.table.runs[run.id], run.start = run, len(self.log)
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
        for name, p in list(self.pools.pools.items()):
            w = p.wakeup_at
            if w is not None and w <= now and self.pools.pools.get(name) is p:
                self._carry(self.pools.advance(self.now(), name))
        while self.held and self.held[0][0] <= wall:  # replicas whose cold start has now passed
            h = heapq.heappop(self.held)[-1]
            if not h.retired:
                self._take(h)
        for h in self.table.graces():
            late = [(att, kind) for deadline, att, kind in h.cancelling.values() if deadline <= wall]
            if late and not h.retired:
                att, kind = late[0]
                why = (f"ran past its timeout of {att.call.task.options.timeout.total_seconds():g} s"
                       if kind == "timeout" else "was cancelled (rule 7)")
                self._crash(h, "timeout" if kind == "timeout" else "crashed", (
                    f"{h.where()} was killed: an async attempt of {att.call.task.name!r} {why}, and the "
                    f"replica's event loop did not come back within {self.stop_grace:g} s to stop it (a "
                    f"busy loop or a blocking call in an async task); the pool replaces the replica"))

    # ------------------------------------------------------------------ replica messages
    def _message(self, h: ReplicaHandle, msg: tuple) -> None:
        """One message from a live replica, or its end (``EXITED``, added by the backend)."""
        kind = msg[0]
        if kind == W.DONE:
            self._done(h, msg[1], msg[2], msg[3], msg[4:])
        elif kind == W.CALL:
            self._nested(h, msg)
        elif kind == W.WAITING:
            self._waiting(h, msg[1], msg[2])
        elif kind == W.CANCELLED:
            self._stopped(h, msg[1])
        elif kind == W.READY:
            self._ready(h, msg[1])
        elif kind == EXITED:
            self._crash(h, msg[1], msg[2])

    def _ready(self, h: ReplicaHandle, pid: int) -> None:
        if h.pid is None:  # a backend that learns the pid only now (a Ray actor)
            h.pid = pid
            self.pids.append(pid)
        if time.monotonic() < h.ready_at:  # cold_start counts from the pool's ask, as simulated
            heapq.heappush(self.held, (h.ready_at, h.rid, id(h), h))
        else:
            self._take(h)

    def _take(self, h: ReplicaHandle) -> None:
        h.ready = True
        self._carry(self.pools.replica_ready(self.now(), h.ps.name, h.rid))

    def _done(self, h: ReplicaHandle, aid: int, ok: bool, value: Any, timing: tuple = ()) -> None:
        att = self.table.attempt_done(aid, timing)
        if att is None:
            self._stopped(h, aid)  # it was asked to stop and ended first: the same as stopping
            return
        h.attempts.discard(aid)
        call = att.call
        if ok:
            self._carry(self.pools.finish(self.now(), call.node))
            self._complete(call, True, value)  # unless the pools failed it (a sync attempt cancelled as it ran)
            return
        call.error = value[:4] + (f"task {call.task.name!r} on {h.where()}",)
        call.detail = None
        reason = FAILURE_REASONS.get(value[1], "error")
        if reason == "error" and pickling.non_recoverable(value):
            reason = "non_recoverable"  # the pool makes no retry (Flyte's NonRecoverableError)
        # the runtime's own errors keep their message as it is (no type name per level)
        message = f"{value[1]}: {value[2]}" if reason in USER_FAILURES else value[2]
        self._carry(self.pools.finish(self.now(), call.node, error=reason, message=message))

    def _stopped(self, h: ReplicaHandle, aid: int) -> None:
        """An async attempt that was asked to stop (its timeout, or rule 7) has stopped."""
        entry = h.cancelling.pop(aid, None)
        if entry is None:
            return
        _, att, kind = entry
        call = att.call
        p = self.pools.pools.get(call.ps.name) if call.ps is not None else None
        if kind == "timeout" and p is not None and p is call.ps.pool and p.attempts.get(call.key) == att.number \
                and call.key in p.stopping.interrupted:  # it kept its slot until now; it fails with its timeout
            self._carry(self.pools.finish(self.now(), call.node))

    def _waiting(self, h: ReplicaHandle, aid: int, requests: tuple) -> None:
        """An attempt now blocks on the results of these nested calls (none: it runs again)."""
        att = self.table.attempts.get(aid)
        if att is None or att.call.key is None:
            return
        self.table.recording.waiting(att.call.key, self.now(), bool(requests))
        on = [n for n in (self.table.wait_target(att.requests.get(r)) for r in requests) if n is not None]
        self._carry(self.pools.waiting(self.now(), att.call.node, on))

    def _nested(self, h: ReplicaHandle, msg: tuple) -> None:
        _, parent_aid, request, ref, blob, payload, key = msg
        try:
            task = h.tasks.get(ref)
            if task is None:
                task = h.tasks[ref] = pickling.loads(blob)
        except Exception as exc:
            err = pickling.runtime_error(ReuseRefError(f"the runtime could not load the task called on {h.where()}: {exc!r}"))
            self.backend.send(h, (W.REPLY, request, False, err))
            return
        parent = self.table.attempts.get(parent_aid) if parent_aid is not None else None
        run = parent.call.run if parent is not None else None
        call = Call(task, payload, key, (h, request), parent, run)
        if parent is not None:
            parent.requests[request] = call
        self._submit(call)

    # ------------------------------------------------------------------ calls
    def _submit(self, call: Call) -> None:
        """A call arrives: from the cache, behind an identical call (``cache_serialize``), or
        into the pool of its environment and effective policy."""
        task = call.task
        if call.cache_key is not None:
            blob, leader = self.cache.admit(call)
            if blob is not None:
                self._complete(call, True, blob)
                return
            if leader is not None:  # it waits outside every pool for an identical call
                self.table.outside[self.table.key_for(call)] = call
                if call.parent is not None:
                    self.pools.called(call.parent.call.node, call.node, call.parent.number)
                return
        outside = call.node  # a follower whose leader failed takes its turn: it leaves the outside
        try:
            ps, new = self.table.pool_for(task, call.run)
        except ValueError as exc:  # no pool is made for its policy (a min past MOST_MIN_REPLICAS)
            return self._complete(call, False, pickling.runtime_error(exc, f"task {task.name!r}"))
        if new:
            self.pools.add(ps.pool, call.run.id if ps.key[1] is not None else None)
        call.ps = ps
        call.leader = None
        self.table.outside.pop(call.key, None)
        ps.calls[self.table.key_for(call)] = call
        att, run = call.parent, call.run
        timeout = task.options.timeout
        self._carry(self.pools.submit(
            self.now(), call.node, task.options.retries, None if timeout is None else timeout.total_seconds() / self.scale,
            sync=not task.is_async, parent=None if att is None else att.call.node,
            attempt=None if att is None else att.number, failure_policy=None if run is None else run.failure_policy))
        if outside is not None:
            self._carry(self.pools.ended(self.now(), outside))

    def _complete(self, call: Call, ok: bool, value: Any) -> None:
        """The call is over for good: rule 7 through the pools, then store, share with
        followers, and answer its caller."""
        if call.done:
            return
        call.done = True
        node = call.node
        if call.ps is not None:
            call.ps.calls.pop(call.key, None)
        elif call.key is not None:
            self.table.outside.pop(call.key, None)
        if node is not None:
            self._carry(self.pools.ended(self.now(), node, failed=not ok))
        if call.cache_key is not None:
            for f in self.cache.settle(call, ok, value):
                if ok:
                    self._complete(f, True, value)
                else:  # the first one takes its turn; the others follow it
                    self._submit(f)
        origin = call.origin
        if type(origin) is Waiter:
            run = call.run
            run.ok, run.value = ok, value
            if run.id in self.pools.scoped:
                self.ended.append(run)  # its pools close first, once the actions in hand are done
            else:
                self._end_run(run)
        else:
            h, request = origin
            if not h.retired:
                self.backend.send(h, (W.REPLY, request, ok, value))

    def _fail(self, ps: Optional[PoolState], key: str, reason: str, message: str) -> None:
        """The pools failed a call for good: its caller gets the error."""
        call = ps.calls.get(key) if ps is not None else self.table.outside.get(key)
        if call is None:
            return
        if call.leader is not None:  # waiting for an identical call: it just stops waiting
            self.cache.unfollow(call)
        self._complete(call, False, call.failure(reason, message))

    # ------------------------------------------------------------------ runs
    def _end_runs(self) -> None:
        """Runs whose top-level call is over: close their ``scope="run"`` pools, then wake the caller."""
        while self.ended:
            run = self.ended.popleft()
            self._close(self.pools.run_ended(self.now(), run.id))
            self._end_run(run)

    def _end_run(self, run: RunState) -> None:
        run.end = len(self.log)
        self.table.runs.pop(run.id, None)
        self.to_wake.append(run)

    def _wake(self) -> None:
        to_wake, self.to_wake = self.to_wake, []
        for run in to_wake:
            run.waiter.set(run.ok, run.value)

    # ------------------------------------------------------------------ carrying out the pools' actions
    def _carry(self, decisions: Decisions, pools: Optional[dict] = None) -> None:
        """Carry out what the pools decided, in order; ``pools`` names the states of pools that
        have just closed (no call reaches them any more, but their actions are carried out)."""
        for name, actions in decisions:
            ps = None if name is None else (pools or {}).get(name) or self.table.by_name.get(name)
            for a in actions:
                kind = type(a)
                if kind is Dispatch:
                    self._dispatch(ps, a.task, a.replica, a.attempt)
                elif kind is StartReplica:
                    self._start(ps, a.replica, a.task)
                elif kind is StopReplica:
                    self._stop(ps, a.replica, a.reason)
                elif kind is FailTask:
                    self._fail(ps, a.task, a.reason, a.message)
                elif kind is CancelAttempt:
                    self._stop_attempt(ps.calls[a.task], "cancelled")
                elif kind is Interrupt:
                    call = ps.calls[a.task]
                    call.timed_out(call.attempt.h.where(), sync=False)
                    self._stop_attempt(call, a.reason)

    def _close(self, decisions: Decisions) -> None:
        """Carry out the closing of pools: each is forgotten first, so that nothing new reaches it."""
        decisions = list(decisions)
        closing = {name: self.table.by_name[name] for name, _ in decisions if name in self.table.by_name}
        for ps in closing.values():
            self.table.forget(ps)
        self._carry(decisions, closing)

    def _dispatch(self, ps: PoolState, key: str, rid: int, number: int) -> None:
        call = ps.calls[key]
        h = ps.replicas[rid]
        task = call.task
        try:
            fid, blob = self.table.function(task.func)
        except Exception as exc:  # the function cannot be pickled: the attempt fails like a user error
            call.error = pickling.dump_error(exc)[:4] + ("the runtime, pickling the task's function",)
            self._carry(self.pools.finish(self.now(), call.node, error="error", message=repr(exc)))
            return
        if fid in h.shipped:
            blob = None
        else:
            h.shipped.add(fid)
        aid = next(self.table.ids)
        self.table.attempts[aid] = call.attempt = Attempt(aid, call, h, number)
        h.attempts.add(aid)
        self.direct.lend(call, h)  # if it is a caller's own call: it reads the answer itself
        self.backend.send(h, (W.RUN, aid, fid, blob, call.payload, task.is_async))

    def _stop_attempt(self, call: Call, kind: str) -> None:
        """Stop a running async attempt on its replica (``kind``: ``"timeout"`` or ``"cancelled"``);
        a replica whose event loop does not come back within ``stop_grace`` is killed."""
        att = call.attempt
        if att is None or self.table.attempts.get(att.aid) is not att:
            return
        h = att.h
        del self.table.attempts[att.aid]
        h.attempts.discard(att.aid)
        h.cancelling[att.aid] = (time.monotonic() + self.stop_grace, att, kind)
        self.table.stopping.add(h)
        self.backend.send(h, (W.CANCEL, att.aid))

    # ------------------------------------------------------------------ replicas, through the backend
    def _start(self, ps: PoolState, rid: int, for_task: Optional[str]) -> None:
        self.table.replica_started(ps, rid)
        task = ps.task
        call = ps.calls.get(for_task) if for_task is not None else None
        if call is not None:  # a replica for one call (no reuse) takes that call's own settings
            task = call.task
        h = ReplicaHandle(ps, rid)
        try:
            h.ready_at = time.monotonic() + self.cold_start_wall
            self.backend.start(h, task.replica_variables(os.environ), task.resources)  # the backend adds the rest
        except Exception as exc:
            print(f"reuse_ref: could not start replica {rid} of {ps.name!r}: {exc!r}", file=sys.stderr)
            for call in ps.calls.values():
                call.detail = f"the runtime could not start a replica of {ps.name!r}: {exc!r}"
            self._replica_lost(ps, rid, "crashed", ready=False)
            return
        ps.replicas[rid] = h
        if h.pid is not None:
            self.pids.append(h.pid)

    def _stop(self, ps: PoolState, rid: int, reason: str) -> None:
        h = ps.replicas.pop(rid, None)
        if h is None:
            return
        if reason == "timeout":  # a sync attempt over its timeout: the pool stopped its replica
            for aid in h.attempts:
                self.table.attempts[aid].call.timed_out(h.where(), sync=True)
        self._retire(h, kill=bool(h.attempts))

    def _retire(self, h: ReplicaHandle, kill: bool) -> None:
        """Stop a replica: it exits, or is killed if it is busy (see the backend's ``stop``)."""
        if h.retired:
            return
        h.retired = True
        for aid in h.attempts:
            self.table.attempts.pop(aid, None)
        h.attempts.clear()
        self.backend.stop(h, kill)

    def _crash(self, h: ReplicaHandle, reason: str, detail: str) -> None:
        """A replica died or must die (rule 5): kill it, and tell its pool."""
        if h.retired:
            return
        ps = h.ps
        held = [self.table.attempts[a] for a in h.attempts if a in self.table.attempts]
        held += [att for _, att, kind in h.cancelling.values() if kind == "timeout"]
        h.cancelling.clear()
        for att in held:
            att.call.detail = f"task {att.call.task.name!r} failed: {detail}"
        self._retire(h, kill=True)
        ps.replicas.pop(h.rid, None)
        if self.pools.pools.get(ps.name) is ps.pool:
            self._replica_lost(ps, h.rid, reason, ready=h.ready, detail=detail)

    def _replica_lost(self, ps: PoolState, rid: int, reason: str, ready: bool,
                      detail: Optional[str] = None) -> None:
        """Tell the core that replica ``rid`` is gone. When that closes the pool (the
        start-failure limit), its calls fail with ``detail``, how the last replica died; a
        replica the backend could not start at all (``detail`` None) already said why."""
        decisions = self.pools.replica_crashed(self.now(), ps.name, rid, reason, ready=ready)
        if ps.name in self.pools.pools:
            self._carry(decisions)
            return
        if detail is not None:
            for call in ps.calls.values():
                call.detail = (f"task {call.task.name!r} failed: {START_FAILURES_LIMIT} replicas of "
                               f"{ps.name!r} in a row died before they were ready; last: {detail}")
        self.table.forget(ps)
        self._carry(decisions, {ps.name: ps})

    # ------------------------------------------------------------------ shutdown
    def _shutdown(self, hard: bool) -> None:
        """Close every pool (their calls fail), stop every replica and wait until each has exited."""
        for name in list(self.pools.pools):
            if name in self.table.by_name:
                self._close(self.pools.close(self.now(), name, "shutdown"))
        self._end_runs()
        self.backend.drain(hard)

    def _final_cleanup(self) -> None:
        self._wake()
        error = pickling.runtime_error(ReuseRefError(
            "the runtime stopped before this run ended"
            + (f" (internal error: {self.failure!r})" if self.failure else "")))
        for run in list(self.table.runs.values()):
            run.waiter.set(False, error)
        self.table.runs.clear()
        for command in self.mailbox.take():  # runs posted while the loop was ending
            if command[0] == "run":
                command[1].waiter.set(False, error)
            elif command[0] in ("reset", "close"):
                command[1].set()
        try:
            self.backend.close()
        finally:
            self.closed = True
            self.mailbox.close()
