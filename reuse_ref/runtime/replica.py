"""The replica process: one warm Python process that runs task attempts.

A replica keeps its interpreter between attempts, so module globals, loaded models and
open connections survive from one call to the next, which is the point of reuse.

Threads. The **main thread** reads the driver's pipe and hands each message to
where it goes; async attempts go to the **loop thread**, whose asyncio event loop runs
them, up to the policy's ``concurrency`` at once (the driver never sends more). A
sync attempt is run by the main thread itself, right where it was read: no thread hop
on the hot path. Sync attempts never overlap and never share a replica with async ones
(their policy has ``concurrency == 1``), and they run outside any event loop, so a sync
task may call ``asyncio.run`` or ``signal.signal``.

Reading is a role (a lock) rather than a thread: the main thread gives it up while it
runs a sync attempt, and whoever then waits for the answer to a nested call takes it and
reads until its answer comes (a sync task calling a sync child reads its own reply).

A replica must never outlive its driver: end of file on the pipe ends the process,
and a **watchdog** thread waits on a second pipe whose other end only the driver
holds, so a replica busy in a long sync task exits too when the driver dies.

A task that calls another task goes through :class:`TaskCaller`, installed in
``reuse_ref.config.environment.current_caller``: the call becomes a ``CALL`` message, the
driver routes it to the child's pool, and the ``REPLY`` wakes the waiting coroutine
(or the blocked sync task).
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import itertools
import os
import select
import signal
import sys
import threading
from time import perf_counter as clock
from typing import Any, Callable, Dict, Optional

from ..config.environment import current_caller, warn_deprecated
from . import pickling, process_tree
from . import wire as W
from .arguments import bind, check_args
from .spinning import SPIN_VARIABLE, Spinner
from .cache import cache_key
from .waiting import Waits

current_attempt: contextvars.ContextVar[Optional[int]] = contextvars.ContextVar("reuse_ref_attempt", default=None)
"""The attempt (on this replica) that is running in the current context: the parent of nested calls."""


def main(conn: Any, alive: Any, env: Dict[str, str]) -> None:
    """Entry point of a replica process (the target of ``multiprocessing.Process``).

    ``conn`` is the pipe to the driver; ``alive`` the read end of a pipe nobody writes
    to, which reaches end of file when the driver's process ends; ``env`` the whole
    ``os.environ`` of the replica (the driver's, plus the environment's ``env_vars``
    and secrets).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the driver, which stops us
    process_tree.adopt()  # what our tasks start stays ours, and ends with us
    os.environ.clear()
    os.environ.update(env)
    threading.Thread(target=_watchdog, args=(alive,), name="reuse-replica-watchdog", daemon=True).start()
    os.environ["REUSE_REF_REPLICA"] = "1"  # the user's module, imported here, does not warn again
    replica = ReplicaWorker(conn)
    replica.serve()


def _watchdog(alive: Any) -> None:
    try:
        alive.poll(None)  # nothing is ever written: it returns at end of file
    except Exception:
        pass
    # The driver is gone, and nobody is left to stop what our tasks started: take it all
    # down with us (our own exit status no longer matters to anyone).
    _exit_now(0)


def _exit_now(code: int = 0) -> None:
    """Exit now, and end every process our tasks started (the driver stopped us, or is gone)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    if os.environ.get(process_tree.TAG_VARIABLE):  # a replica of the processes backend (not a Ray actor)
        process_tree.end_descendants(os.environ[process_tree.TAG_VARIABLE])
    os._exit(code)


_Waiter = W.OneShot  # a sync task blocked on a nested call waits on one


def _settle(fut: "asyncio.Future", ok: bool, value: Any) -> None:
    if not fut.done():
        fut.set_result((ok, value))


def _unwrap(ok: bool, value: Any) -> Any:
    if ok:
        return pickling.loads(value)
    raise pickling.load_error(value)


class ReplicaWorker:
    """A replica's own side: its pipe to the driver, its event loop and main thread, the
    attempts it runs and the calls they made."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.fd = conn.fileno() if conn is not None else -1  # read and written with wire's framing (Connection's)
        if conn is not None:
            poller = select.poll()
            poller.register(self.fd, select.POLLIN)
            self.look = functools.partial(poller.poll, 0)  # whether a message is waiting (never blocks)
        self.handoff: list = []  # (function, args) for the loop, read in this burst (the reader's own)
        self.reader: Optional[int] = None  # the thread in read(), whose work for the loop waits in handoff
        self._send_lock = threading.Lock()
        self.role = threading.Lock()  # held by the thread that reads the pipe
        self.blobs: Dict[int, bytes] = {}  # function id -> cloudpickled function, as shipped
        self.functions: Dict[int, Callable] = {}
        self.running: Dict[int, asyncio.Task] = {}
        self.cancelled: set = set()  # async attempts the driver asked to stop
        self.calls: Dict[Any, int] = {}  # the future of each nested call in flight -> its request id
        self.calling: Dict[int, int] = {}  # attempt -> its nested calls in flight (async, on this loop)
        self.blocked: Dict[int, tuple] = {}  # attempt -> the calls it was last reported waiting on
        self._check_due = False
        self.pending: Dict[int, Callable[[bool, Any], None]] = {}  # request id -> how to wake its waiter
        self.request_ids = itertools.count(1)
        self.task_refs: Dict[int, tuple] = {}  # id(task) -> (ref, task): each task shipped once
        self.caller = TaskCaller(self)
        self.loop = asyncio.new_event_loop()
        self.outbox: list = []  # frames the loop's thread sent during this turn of the loop (under _send_lock)
        self.loop_thread = threading.Thread(target=self._run_loop, name="reuse-replica-loop", daemon=True)
        self.loop_thread.start()

    # ------------------------------------------------------------------ threads
    def send(self, message: tuple) -> None:
        """Send a message. The loop's thread sends its messages of one turn of the loop in one
        write (a parent calling 500 children in one ``gather`` makes one write, not 500, and
        the driver reads them in one turn of its own); any other thread's message goes at
        once, after those the loop had sent before it, so that the driver sees every message
        in the order it was sent."""
        data = W.encode(message)
        try:
            with self._send_lock:
                if threading.current_thread() is self.loop_thread:
                    outbox = self.outbox
                    outbox.append(data)
                    if len(outbox) == 1:
                        self.loop.call_soon(self.flush)
                    elif len(outbox) >= 16:  # a long turn: the driver starts on the first calls meanwhile
                        self._write_outbox()
                    return
                if self.outbox:
                    self._write_outbox()
                W.write_bytes(self.fd, data)
        except OSError:  # the driver closed the pipe: this replica was stopped
            _exit_now(0)

    def flush(self) -> None:
        """(The loop's thread, once the turn in which it sent something is over.)"""
        try:
            with self._send_lock:
                if self.outbox:
                    self._write_outbox()
        except OSError:
            _exit_now(0)

    def _write_outbox(self) -> None:
        frames, self.outbox = self.outbox, []
        W.write_frames(self.fd, frames)

    def serve(self) -> None:
        """Main thread: say ready; then read, and run each sync attempt that comes."""
        current_caller.set(self.caller)
        self.send((W.READY, os.getpid()))
        role = self.role
        look, spinner = self.look, Spinner(os.environ.get(SPIN_VARIABLE, "1") != "0")
        while True:
            start = clock()
            spinner.wait(look)  # the next call of a back-to-back caller is microseconds away (spinning.py)
            role.acquire()
            try:
                attempt = self.read()
            finally:
                role.release()
            spinner.learn(clock() - start)
            self.run_sync(*attempt)

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def read(self, until: Optional["_Waiter"] = None) -> Any:
        """Holding the reader role: dispatch messages until a sync attempt arrives (returned),
        or, with ``until``, until that waiter is set (a sync attempt then would be a bug)."""
        fd, read_bytes = self.fd, W.read_bytes
        decode, look, handoff = W.decode, self.look, self.handoff
        self.reader = threading.get_ident()
        try:
            while until is None or not until.is_set():
                try:
                    msg = decode(read_bytes(fd))
                except (EOFError, OSError):
                    _exit_now(0)
                kind = msg[0]
                if kind == W.RUN:
                    _, aid, fid, blob, payload, is_async = msg
                    if blob is not None:
                        self.blobs[fid] = blob
                    if is_async:
                        handoff.append((self.start_async, (aid, fid, payload)))
                    elif until is None:
                        return aid, fid, payload
                    else:  # cannot happen: a sync attempt holds the replica's only slot
                        threading.Thread(target=self.run_sync, args=(aid, fid, payload), daemon=True).start()
                else:
                    self.deliver(msg)
                if handoff and (len(handoff) >= 64 or not look()):  # a burst read: one wake-up of the loop
                    self._hand_over()
            return None
        finally:
            self.reader = None
            if handoff:
                self._hand_over()

    def to_loop(self, fn: Callable, *args: Any) -> None:
        """Run ``fn(*args)`` on the loop, in order: from the reader, with the rest of the burst it
        is reading (starts, answers and cancels of one burst wake the loop once); else at once."""
        if threading.get_ident() == self.reader:
            self.handoff.append((fn, args))
        else:
            self.loop.call_soon_threadsafe(fn, *args)

    def _hand_over(self) -> None:
        batch = list(self.handoff)
        self.handoff.clear()
        self.loop.call_soon_threadsafe(_run_all, batch)

    def deliver(self, msg: tuple) -> None:
        """A ``REPLY`` to a nested call, or a ``CANCEL`` of an async attempt (from any thread)."""
        kind = msg[0]
        if kind == W.REPLY:
            wake = self.pending.pop(msg[1], None)
            if wake is not None:
                wake(msg[2], msg[3])
        elif kind == W.CANCEL:
            self.cancelled.add(msg[1])
            self.to_loop(self._cancel, msg[1])

    # ------------------------------------------------------------------ attempts
    def _function(self, fid: int) -> Callable:
        fn = self.functions.get(fid)
        if fn is None:
            fn = self.functions[fid] = pickling.loads(self.blobs[fid])
        return fn

    def run_sync(self, aid: int, fid: int, payload: bytes) -> None:
        current_attempt.set(aid)
        t0 = t1 = clock()
        try:
            fn = self._function(fid)
            t1 = clock()
            args, kwargs = pickling.loads(payload)
            out = (W.DONE, aid, True, _result_bytes(fn, fn(*args, **kwargs)))
        except BaseException as exc:  # SystemExit too: it is the task's failure, not the replica's
            out = (W.DONE, aid, False, pickling.dump_error(exc))
        finally:
            current_attempt.set(None)
        self.send(out + (t1 - t0, clock() - t1))

    def start_async(self, aid: int, fid: int, payload: bytes) -> None:
        self.running[aid] = self.loop.create_task(self._run_async(aid, fid, payload))

    async def _run_async(self, aid: int, fid: int, payload: bytes) -> None:
        current_caller.set(self.caller)
        current_attempt.set(aid)
        t0 = t1 = clock()
        try:
            fn = self._function(fid)
            t1 = clock()
            args, kwargs = pickling.loads(payload)
            out = (W.DONE, aid, True, _result_bytes(fn, await fn(*args, **kwargs)))
        except asyncio.CancelledError as exc:
            if aid in self.cancelled:  # we were told to stop: say that we have
                out = (W.CANCELLED, aid)
            else:  # the task's own: it awaited something that someone else cancelled
                out = (W.DONE, aid, False, pickling.dump_error(exc))
        except BaseException as exc:
            out = (W.DONE, aid, False, pickling.dump_error(exc))
        finally:
            self.running.pop(aid, None)
            self.cancelled.discard(aid)
            self.blocked.pop(aid, None)
        self.send(out + (t1 - t0, clock() - t1) if out[0] == W.DONE else out)

    def _cancel(self, aid: int) -> None:
        task = self.running.get(aid)
        if task is not None:
            task.cancel()
        elif aid in self.cancelled:  # it ended before the request came: nothing to stop
            self.cancelled.discard(aid)
            self.send((W.CANCELLED, aid))

    # ------------------------------------------------------------------ waiting (rule 6)
    def look_at_waiting(self) -> None:
        """Ask for ``_report_waiting`` once the loop has run what is ready now, that is,
        once every attempt that just called a task has reached its next ``await``."""
        if not self._check_due:
            self._check_due = True
            self.loop.call_soon(self._report_waiting)

    def _report_waiting(self) -> None:
        """Tell the driver which async attempts now block on nested calls only.

        An attempt *waits* while its asyncio task is suspended on nothing but the results
        of tasks it called (see :mod:`.waiting` for the ways asyncio ties them: a call's
        future, a task, ``gather``, ``wait``, ``as_completed``, a ``TaskGroup``). A child
        started with ``ensure_future`` and not awaited does not make its parent wait. Only
        changes are sent.
        """
        self._check_due = False
        waits = Waits(self.loop, self.calls)
        calling, blocked = self.calling, self.blocked
        for aid, task in list(self.running.items()):
            if aid not in calling and aid not in blocked:
                continue  # no call of its own in flight: it cannot wait on one (its children, say, in a fan-out)
            on = waits.blocked_on(task)
            on = tuple(sorted(on)) if on else ()
            if on != self.blocked.get(aid, ()):
                if on:
                    self.blocked[aid] = on
                else:
                    self.blocked.pop(aid, None)
                self.send((W.WAITING, aid, on))
        if self.calls:  # an attempt may come to await a call it made earlier: look again soon
            self.loop.call_later(0.01, self.look_at_waiting)

    def task_ref(self, task: Any) -> tuple:
        """``(ref, bytes or None)``: the task's number on this replica, and its pickle the first time."""
        entry = self.task_refs.get(id(task))
        if entry is not None and entry[1] is task:
            return entry[0], None
        ref = len(self.task_refs) + 1
        self.task_refs[id(task)] = (ref, task)  # keeps the task alive, so its id stays its own
        return ref, pickling.cloud_dumps(task)


class TaskCaller:
    """``current_caller`` inside a replica: a task call becomes a request to the driver."""

    def __init__(self, replica: ReplicaWorker) -> None:
        self.replica = replica

    def call(self, task: Any, args: tuple, kwargs: dict) -> Any:
        if task.options.deprecated:
            warn_deprecated(task)
        if task.options.cache:
            key = cache_key(task, bind(task, args, kwargs))
        else:
            check_args(task, args, kwargs)
            key = None
        ref, blob = self.replica.task_ref(task)
        request = (current_attempt.get(), ref, blob, pickling.dumps((args, kwargs)), key)
        if task.is_async:
            return self._acall(request)
        return _unwrap(*self._blocking(request))

    def _send(self, request: tuple, wake: Callable[[bool, Any], None]) -> int:
        replica = self.replica
        rid = next(replica.request_ids)
        replica.pending[rid] = wake  # before sending: the reply may come at once
        parent, ref, blob, payload, key = request
        replica.send((W.CALL, parent, rid, ref, blob, payload, key))
        return rid

    def _blocking(self, request: tuple) -> Any:
        """Send the call and block this thread until the answer: read it ourselves when nobody
        else reads (a sync task's own call), else wait for the reader to hand it over."""
        replica = self.replica
        waiter = _Waiter()
        rid = self._send(request, waiter.set)
        aid = request[0]
        if aid is not None:  # this thread is the attempt, and it now blocks on the call
            replica.blocked[aid] = (rid,)
            replica.send((W.WAITING, aid, (rid,)))
        try:
            self._wait(waiter)
        finally:
            if aid is not None:
                replica.blocked.pop(aid, None)
                replica.send((W.WAITING, aid, ()))
        return waiter.value

    def _wait(self, waiter: "_Waiter") -> None:
        replica = self.replica
        replica.flush()  # the loop's thread may be the one blocking: its turn will not end to send the call
        while not waiter.is_set():
            if replica.role.acquire(blocking=False):
                try:
                    replica.read(until=waiter)
                finally:
                    replica.role.release()
            else:
                waiter.wait(0.05)  # the reader will set it; look again in case it stopped reading

    async def _acall(self, request: tuple) -> Any:
        loop = asyncio.get_running_loop()
        if loop is not self.replica.loop:
            # an event loop of the task's own (asyncio.run in a sync task): block it
            return _unwrap(*self._blocking(request))
        fut = loop.create_future()
        replica = self.replica
        calls = replica.calls

        def answered(ok: bool, value: Any) -> None:
            replica.to_loop(_settle, fut, ok, value)

        aid = request[0]
        calling = replica.calling
        calling[aid] = calling.get(aid, 0) + 1
        rid = self._send(request, answered)
        calls[fut] = rid
        replica.look_at_waiting()
        try:
            return _unwrap(*await fut)
        finally:
            calls.pop(fut, None)
            left = calling.pop(aid, 1) - 1
            if left:
                calling[aid] = left
            replica.look_at_waiting()


def _run_all(batch: list) -> None:
    """(On the loop.) What the reader handed over from one burst, in the order it was read."""
    for fn, args in batch:
        fn(*args)


def _result_bytes(fn: Any, result: Any) -> bytes:
    """The result as bytes for its caller, or a ``TypeError`` that says whose result it is."""
    try:
        return pickling.dumps(result)
    except Exception as exc:
        name = getattr(fn, "__qualname__", repr(fn))
        raise TypeError(
            f"the result of task {name!r} ({type(result).__name__}) cannot be pickled to go back to "
            f"its caller: {exc}; return plain data (numbers, strings, lists, dicts, dataclasses)"
        ) from None
