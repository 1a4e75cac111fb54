"""A warm call carried by its caller's thread: the short path of a synchronous ``Runtime.run``.

Through the driver's thread, a warm call wakes four sleepers in turn: the driver (for the
command), the replica (for the ``RUN``), the driver again (for the ``DONE``) and the
caller (for the result). A raw pipe round trip wakes two. On a quiet machine each wake-up
of a sleeping thread is most of the cost, so the caller does the driver's part itself
when it can: it takes the driver's lock, submits its call to the core's pools exactly as
the driver's thread would (the pools decide where it goes; nothing is decided here), and
when the pools dispatch it at once to a replica, it borrows that replica's pipe, sends
the ``RUN``, sleeps on the pipe without the lock, and hands the answer to the driver's
own handlers under the lock again. The driver's thread sleeps through all of it.

The driver's thread holds the lock at all times but while its backend waits, so a caller
never sees a half-made change. Whatever is not this simple goes to the driver's thread as
before: an async task, a cached one, a call that queues (no free slot) or that has to
start a replica, any second message from the replica (a nested call, a crash), and a
backend that does not lend its pipes (Ray). A caller whose changes move a timer earlier
than the driver's thread means to wake wakes it (a ``tick`` command).
"""
from __future__ import annotations

import math
import time
from typing import Any, Optional

from .call_table import Call, ReplicaHandle, RunState

__all__ = ["DirectCalls"]


class DirectCalls:
    """The caller-thread path of one driver (unused when its backend does not lend its pipes)."""

    def __init__(self, driver: Any, enabled: bool) -> None:
        self.driver = driver
        self.enabled = enabled  # the backend lends its pipes
        self.borrowing: Optional[Call] = None  # the call being submitted by a caller, under the lock
        self.lent: Optional[ReplicaHandle] = None  # the replica its attempt went to, pipe lent
        self.asleep_until = math.inf  # when the driver's thread wakes by itself (monotonic s)

    def asleep_for(self, timeout: Optional[float]) -> Optional[float]:
        """(The driver's thread, about to wait ``timeout`` s.) Note when it will wake by itself."""
        self.asleep_until = math.inf if timeout is None else time.monotonic() + timeout
        return timeout

    def lend(self, call: Call, h: ReplicaHandle) -> bool:
        """(The driver's ``_dispatch``, holding the lock.) Lend ``h``'s pipe if ``call`` is the
        borrowing caller's own; must come before the ``RUN`` is sent."""
        if call is not self.borrowing:
            return False
        self.driver.backend.lend(h)
        self.lent = h
        return True

    def run(self, run: RunState) -> bool:
        """Carry out ``run`` in this thread as far as it goes; False: post it to the driver's thread.

        Returns once the run has ended or has been left to the driver's thread; either way
        the run's waiter is set, or will be, exactly as when the driver's thread runs it.
        """
        call = run.call
        if not self.enabled or call.task.is_async or call.cache_key is not None:
            return False
        d = self.driver
        with d.lock:
            if d.closed:
                return False
            d.table.runs[run.id] = run
            run.start = len(d.log)
            self.borrowing = call
            try:
                d._submit(call)
            finally:
                self.borrowing = None
                h, self.lent = self.lent, None
            d.settle()  # as the driver's thread does after every event (rule 6 may fail a call that queued)
            self._after()  # the call's own timeout, say, may need the driver's thread sooner
            if h is None:  # queued, a replica to start, or failed at once: the driver's thread goes on
                return True
        try:
            message = d.backend.receive(h)
        except BaseException:  # an interrupt while reading: the pipe may be cut mid-message
            with d.lock:
                if not h.retired and not d.closed:
                    d._crash(h, "crashed", f"{h.where()} was stopped: the thread reading its answer was interrupted")
                d.backend.give_back(h, None)
                self._after()
            raise
        interrupted = None
        while True:  # the pipe must go back, whatever happens: an interrupt here waits for it
            try:
                d.lock.acquire()
                break
            except BaseException as exc:
                interrupted = exc
        try:
            message = d.backend.give_back(h, message)
            if message is not None and not d.closed and not h.retired:
                d._message(h, message)
                d.settle()
            self._after()
        finally:
            d.lock.release()
        if interrupted is not None:
            raise interrupted
        return True

    def _after(self) -> None:
        """Wake the callers whose runs ended, and the driver's thread if a timer now comes
        before the time it means to wake."""
        d = self.driver
        if d.to_wake:
            d._wake()
        timeout = d._timeout()
        if timeout is not None and time.monotonic() + timeout < self.asleep_until:
            d.post(("tick",))
