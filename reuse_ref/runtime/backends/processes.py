"""Replicas as local processes (the default backend): ``multiprocessing``, forkserver or spawn.

Each replica is one process with one pipe to the driver. One ``select`` (a ``selectors``
object kept for the backend's life, so no pipe is registered again on every turn) waits
on the driver's wakeup pipe, every replica's pipe and the sentinels of stopping
processes. A replica leads its own process group, so killing it kills what its tasks
started; a pipe nobody writes to (``alive``) reaches end of file in every replica when
this process ends, so no replica outlives its driver. Memory: a replica whose
environment sets ``Resources(memory=...)`` has its RSS read every ``memory_poll`` s and
is reported ``oom`` over the limit.

A caller's thread may read a replica's answer itself (:meth:`ProcessBackend.lend`, for
:mod:`reuse_ref.runtime.direct`): the replica's pipe then leaves the ``select``, and its
process's sentinel takes its place, so that its end is still seen. A lent pipe is never
closed under its reader (a replica stopped meanwhile is killed, and its pipe closed when it
comes back). An idle replica whose answer came that way stays *parked* (its pipe out of
the ``select``, nothing to read) until the driver next sends to it or lends it again: back
to back warm calls then change nothing in the ``select``. That reader, and a replica
waiting for its next call, spin a little before they sleep (:mod:`reuse_ref.runtime.spinning`;
``backend_options={"spin": False}`` turns it off), and both ends write and read frames with
:func:`reuse_ref.runtime.wire.write_bytes` and ``read_bytes``, Connection's own framing.
"""
from __future__ import annotations

import functools
import math
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import multiprocessing.util
import os
import select
import selectors
import time
from typing import Any, Dict, List, Optional, Tuple

import psutil

from ...config.resources import Resources
from .. import process_tree
from .. import wire as W
from .. import replica as _replica_module
from ..spinning import SPIN_VARIABLE, Spinner
from . import EXITED, ReplicaBackend

__all__ = ["ProcessBackend", "backend"]


def _kill_group(pid: int) -> None:
    """SIGKILL the process group a replica leads (its own, set up at its start)."""
    try:
        os.killpg(pid, 9)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def _mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


class ProcessHandle:
    """A replica process as this backend sees it."""

    __slots__ = ("replica", "process", "conn", "limit", "proc", "kill_at", "reaped", "ready", "tag", "lent", "poller",
                 "in_select", "gone_watch", "spinner", "answered", "fd")

    def __init__(self, replica: Any, process: Any, conn: Any, limit: Optional[int], tag: str) -> None:
        self.replica = replica
        self.process = process
        self.conn = conn
        self.fd = conn.fileno()  # written and read with wire's framing, which is Connection's (never once closed)
        self.poller = select.poll()  # on its pipe alone: its lent reader's wait, and wait()'s look for more
        self.poller.register(self.fd, select.POLLIN)
        self.answered = functools.partial(self.poller.poll, 0)  # a look at its pipe that never blocks
        self.limit = limit
        self.tag = tag  # in the environment of the replica and of every process it starts
        self.proc: Optional[psutil.Process] = None
        self.kill_at = math.inf
        self.reaped = False
        self.ready = False
        self.lent = False  # its pipe is read by a caller's thread, not by wait()
        self.in_select = True  # its pipe is in the select (else it is lent or parked)
        self.gone_watch = False  # its sentinel is in the select, to see its end while lent or parked
        self.spinner = Spinner()  # how long a caller reading its answer looks before it sleeps


class ProcessBackend(ReplicaBackend):
    """Replicas as local processes; see the module's docstring."""

    name = "processes"

    def __init__(self, start_method: Optional[str] = None, memory_poll: float = 0.05, stop_grace: float = 2.0,
                 spin: Optional[bool] = None) -> None:
        if spin is None:
            spin = os.environ.get(SPIN_VARIABLE, "1") != "0"
        if not isinstance(spin, bool):
            raise ValueError(f"spin={spin!r} is not valid: True (a reader of a short answer spins before it sleeps: "
                             f"reuse_ref.runtime.spinning) or False (it always sleeps)")
        self.spin = spin
        methods = multiprocessing.get_all_start_methods()
        if start_method is None:
            start_method = os.environ.get("REUSE_REF_START_METHOD") or (
                "forkserver" if "forkserver" in methods else "spawn")
        if start_method not in ("spawn", "forkserver") or start_method not in methods:
            allowed = [m for m in ("forkserver", "spawn") if m in methods]
            raise ValueError(f"start_method={start_method!r} is not valid: one of {allowed} "
                             f"(never 'fork': a forked copy of a threaded process can deadlock)")
        self.start_method = start_method
        self.ctx = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            self.ctx.set_forkserver_preload([_replica_module.__name__])
            # Started now, not by the first replica: otherwise the first cold start pays the
            # server's own start (about 0.2 s), and replicas of one burst are ready at
            # different times, which changes which one scales down first (rule 3).
            multiprocessing.forkserver.ensure_running()
            # The server listens on a socket in multiprocessing's pymp-* directory, removed at
            # the interpreter's exit: the watchdog removes it after a SIGKILL or os._exit too.
            process_tree.watchdog().remove_at_end(multiprocessing.util.get_temp_dir())
        self.memory_poll = memory_poll
        self.stop_grace = stop_grace
        self.sel: Optional[selectors.BaseSelector] = None
        self.watched: Dict[ProcessHandle, None] = {}
        self.next_poll = 0.0
        self.retiring: List[ProcessHandle] = []
        self.live: Dict[ProcessHandle, None] = {}  # started and not yet reaped: none may survive
        self.alive_w = -1
        self.alive: Any = None
        self.lock: Any = None  # the driver's, released while select blocks (share)
        self.closing = False
        self.gathering = False  # the driver's thread is handling a turn of events: sends wait for its end
        self.outbox: Dict[ProcessHandle, List[bytes]] = {}  # frames sent during that turn, by replica

    def __repr__(self) -> str:
        return f"ProcessBackend({self.start_method})"

    # ------------------------------------------------------------------ the seam
    def open(self, wakeup_fd: int) -> None:
        alive_r, self.alive_w = os.pipe()  # replicas watch alive_r: end of file when we are gone
        self.alive = multiprocessing.connection.Connection(alive_r, writable=False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(wakeup_fd, selectors.EVENT_READ, None)

    def start(self, replica: Any, env: Dict[str, str], resources: Optional[Resources]) -> None:
        limit = resources.memory_bytes if resources is not None else None
        # what a spawned child would inherit (a forkserver's children would get the
        # server's environment, frozen when it started), then the environment's own
        environ = dict(os.environ)
        environ.update(env)
        tag = environ[process_tree.TAG_VARIABLE] = process_tree.new_tag(replica.ps.name, replica.rid)
        environ[SPIN_VARIABLE] = "1" if self.spin else "0"
        parent, child = self.ctx.Pipe()
        process = self.ctx.Process(target=_replica_module.main, args=(child, self.alive, environ),
                                   name=f"reuse-replica-{replica.ps.name}-{replica.rid}", daemon=True)
        try:
            process.start()
        except BaseException:
            parent.close()
            child.close()
            raise
        child.close()
        p = replica.io = ProcessHandle(replica, process, parent, limit, tag)
        p.spinner.enabled = self.spin
        replica.pid = process.pid
        self.live[p] = None
        self.sel.register(parent, selectors.EVENT_READ, p)
        if limit:
            try:
                p.proc = psutil.Process(process.pid)
                self.watched[p] = None
            except psutil.Error:
                pass

    def send(self, replica: Any, message: tuple) -> None:
        """Send now, or, while the driver's thread handles one turn of events (``gathering``),
        at the start of its next wait: each replica then gets one write per turn (the driver
        answering a burst of calls), in the order the messages were sent."""
        p = replica.io
        if not p.in_select and not p.lent and not p.conn.closed:  # parked: its answer is for wait() to read
            self._watch(p)
        if p.conn.closed:
            return  # stopped: it is exiting, or killed
        data = W.encode(message)
        if self.gathering:
            frames = self.outbox.setdefault(p, [])
            frames.append(data)
            if len(frames) >= 16:  # a long turn (a burst of calls) keeps its replicas fed as it goes
                self._write_out(p)
            return
        if p in self.outbox:
            self._write_out(p)
        try:
            W.write_bytes(p.fd, data)
        except (OSError, ValueError):
            pass  # it died: its end of file is on the way

    def _write_out(self, p: ProcessHandle) -> None:
        frames = self.outbox.pop(p, None)
        if frames and not p.conn.closed:
            try:
                W.write_frames(p.fd, frames)
            except (OSError, ValueError):
                pass  # it died: its end of file is on the way

    def stop(self, replica: Any, kill: bool) -> None:
        """Close its pipe (it exits on end of file), or kill it if it is busy; it is killed
        anyway if it has not exited after the grace period."""
        p = replica.io
        self._write_out(p)  # what it was sent before it was told to stop
        self.watched.pop(p, None)
        try:
            self.sel.unregister(p.conn)
        except (KeyError, ValueError):
            pass
        self._forget_gone(p)
        if not p.lent:  # a lent pipe is closed when it comes back (give_back)
            p.conn.close()
        if kill:
            self._kill(p)
        p.kill_at = time.monotonic() + self.stop_grace
        self.retiring.append(p)
        try:
            self.sel.register(p.process.sentinel, selectors.EVENT_READ, ("reap", p))
        except (KeyError, ValueError, OSError):
            self._reap(p)

    def wait(self, timeout: Optional[float]) -> List[Tuple[Any, Optional[tuple]]]:
        wall = time.monotonic()
        due = min([self.next_poll] if self.watched else [], default=math.inf)
        for p in self.retiring:
            due = min(due, p.kill_at)
        if due != math.inf:
            timeout = max(0.0, due - wall) if timeout is None else min(timeout, max(0.0, due - wall))
        events: List[Tuple[Any, Optional[tuple]]] = []
        self.gathering = False
        for p in list(self.outbox):  # what the last turn sent
            self._write_out(p)
        lock = self.lock
        if lock is not None:
            lock.release()  # callers' threads may carry out their own calls meanwhile
        try:
            ready = self.sel.select(timeout)
        finally:
            if lock is not None:
                lock.acquire()
            self.gathering = True  # until the next wait: the driver handles what it returns
        for key, _ in ready:
            data = key.data
            if data is None:
                events.append((None, None))
            elif type(data) is ProcessHandle:
                if not data.lent:  # lent since select returned: its reader sees this end itself
                    self._read_burst(data, events)
            elif data[0] == "gone":  # the sentinel of a lent or parked replica: it has ended
                p = data[1]
                if p.gone_watch:  # (not stopped since select returned)
                    self._forget_gone(p)
                    if not p.lent and not p.in_select:  # a lent one's reader sees its end itself
                        events.append((p.replica, (EXITED, "crashed", self._died(p))))
            else:
                self._reap(data[1])
        wall = time.monotonic()
        if self.watched and wall >= self.next_poll:
            self.next_poll = wall + self.memory_poll
            events.extend(self._watch_memory())
        for p in self.retiring:
            if p.kill_at <= wall:
                p.kill_at = math.inf
                self._kill(p)
        return events

    def drain(self, hard: bool) -> None:
        for p in list(self.retiring):
            if hard:
                self._kill(p)
        deadline = time.monotonic() + (0.0 if hard else self.stop_grace)
        for p in list(self.retiring):
            p.process.join(max(0.0, deadline - time.monotonic()))
            if p.process.exitcode is None:
                self._kill(p)
                p.process.join(5)
            self._reap(p)

    def close(self) -> None:
        self.closing = True
        for p in list(self.live):
            if p.replica.io is p and not p.conn.closed and not p.lent:
                try:
                    p.conn.close()
                except Exception:
                    pass
            if p.process.exitcode is None:
                self._kill(p)
                p.process.join(5)
            self._reap(p)
        if self.alive_w >= 0:
            try:
                os.close(self.alive_w)
            except OSError:
                pass
            self.alive.close()
        if self.sel is not None:
            self.sel.close()

    # ------------------------------------------------------------------ lending a pipe to a caller
    def share(self, lock: Any) -> bool:
        self.lock = lock
        return True

    def lend(self, replica: Any) -> None:
        p = replica.io
        if p.in_select:  # else parked: already out of the select
            self.sel.unregister(p.conn)
            p.in_select = False
        self._watch_gone(p)
        p.lent = True

    def receive(self, replica: Any) -> Optional[tuple]:
        """Block on the pipe (no lock held), looking every 0.1 s whether the driver stopped
        the replica: a process it started may hold the pipe open past the replica's end."""
        p = replica.io
        poll = p.poller.poll
        start = time.perf_counter()
        spun = p.spinner.wait(p.answered)  # an answer due in microseconds: do not sleep for it (spinning.py)
        while not replica.retired and not self.closing:
            if spun or poll(100):
                p.spinner.learn(time.perf_counter() - start)
                try:
                    return W.decode(W.read_bytes(p.fd))
                except (EOFError, OSError):
                    return None
        return None

    def give_back(self, replica: Any, message: Optional[tuple]) -> Optional[tuple]:
        p = replica.io
        p.lent = False
        if replica.retired or self.closing:  # stopped while lent: its pipe is closed now
            p.conn.close()
            return None
        if message is None:  # end of file: the driver hears of its end as from wait()
            return EXITED, "crashed", self._died(p)
        if message[0] != W.DONE or replica.cancelling:  # more is coming: wait() reads it
            self._watch(p)
        else:  # parked: an idle replica says nothing until it is sent something
            self._watch_gone(p)
        return message

    def _watch(self, p: ProcessHandle) -> None:
        """A lent or parked pipe goes back into the select, in place of its sentinel."""
        self._forget_gone(p)
        self.sel.register(p.conn, selectors.EVENT_READ, p)
        p.in_select = True

    def _watch_gone(self, p: ProcessHandle) -> None:
        if not p.gone_watch:
            self.sel.register(p.process.sentinel, selectors.EVENT_READ, ("gone", p))
            p.gone_watch = True

    def _forget_gone(self, p: ProcessHandle) -> None:
        if p.gone_watch:
            p.gone_watch = False
            try:
                self.sel.unregister(p.process.sentinel)
            except (KeyError, ValueError):
                pass

    # ------------------------------------------------------------------ mechanics
    def _read_burst(self, p: ProcessHandle, events: list, most: int = 64) -> None:
        """The messages already waiting on a pipe, up to ``most`` (the next select says if more
        are), or its end: a replica that sends a burst (a parent calling hundreds of children)
        costs one turn of the driver's loop, not one per message."""
        for _ in range(most):
            h, msg = self._read(p)
            events.append((h, msg))
            if msg[0] == EXITED or not p.answered():
                return

    def _read(self, p: ProcessHandle) -> Tuple[Any, tuple]:
        """One message, or its end."""
        try:
            msg = W.decode(W.read_bytes(p.fd))
        except (EOFError, OSError):
            return p.replica, (EXITED, "crashed", self._died(p))
        if msg[0] == W.READY:
            p.ready = True
        return p.replica, msg

    def _died(self, p: ProcessHandle) -> str:
        p.process.join(0.5)
        code = p.process.exitcode
        how = "exit code unknown" if code is None else (
            f"killed by signal {-code}" if code < 0 else f"exit code {code}")
        detail = f"{p.replica.where()} died ({how})"
        if not p.ready:
            detail += " while starting; its output above may say why"
        return detail

    def _watch_memory(self) -> List[Tuple[Any, tuple]]:
        out = []
        for p in list(self.watched):
            try:
                rss = p.proc.memory_info().rss
            except psutil.Error:
                continue
            if rss > p.limit:
                del self.watched[p]
                out.append((p.replica, (EXITED, "oom", (
                    f"{p.replica.where()} used {_mib(rss)} of memory, more than its limit of {_mib(p.limit)} "
                    f"(Resources.memory), and was killed"))))
        return out

    def _kill(self, p: ProcessHandle) -> None:
        """Kill the replica and every process its tasks started (:func:`~reuse_ref.runtime.process_tree.end`)."""
        if not p.reaped:  # until it is reaped its pid is its own
            process_tree.end(p.process.pid, p.tag)
        try:
            p.process.kill()
        except Exception:
            pass

    def _reap(self, p: ProcessHandle) -> None:
        """The stopped process has exited: release what it held (its sentinel is an open file)."""
        if p.reaped or p.process.exitcode is None:
            return
        try:
            self.sel.unregister(p.process.sentinel)
        except (KeyError, ValueError, OSError):
            pass
        p.reaped = True
        _kill_group(p.process.pid)  # what its tasks started and left behind goes with it
        process_tree.end(None, p.tag)  # and what left its group: found by the tag they inherited
        if p in self.retiring:
            self.retiring.remove(p)
        self.live.pop(p, None)
        try:
            p.process.close()
        except ValueError:
            pass


def backend(start_method: Optional[str] = None, memory_poll: float = 0.05, stop_grace: float = 2.0,
            spin: Optional[bool] = None, **unknown: Any) -> ProcessBackend:
    """The processes backend, from ``Runtime``'s options (``spin`` through ``backend_options``)."""
    if unknown:
        name = next(iter(unknown))
        raise ValueError(f"{name}={unknown[name]!r} is not valid: the 'processes' backend takes "
                         f"start_method, memory_poll, stop_grace and spin")
    return ProcessBackend(start_method, memory_poll, stop_grace, spin)
