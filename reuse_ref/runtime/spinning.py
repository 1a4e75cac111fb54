"""A short spin before a blocking read, on both ends of a replica's pipe.

A warm call is two messages, and each wakes a sleeper: the replica, blocked on its pipe,
and the caller, blocked on the answer. On a busy machine a wake-up is cheap, since the
processor is awake anyway. On a quiet one the processor has gone idle the moment its
thread blocked (on a virtual machine the host may even have run something else on it),
and the wake-up, with the cold caches that follow, costs several times the call itself:
before this module, a warm no-op measured 3.5x to 4.5x a raw pipe round trip on a quiet
machine and 2.4x on a busy one, for the same code (issue 26).

So a reader whose answer is usually near looks for it a little while before it sleeps:
it polls the pipe without blocking, giving the processor to any other runnable thread
between two looks (``sched_yield``), for at most :data:`SPIN_LONGEST`, and never while more
threads are ready to run than the machine has processors. Linux's adaptive
mutexes and most low-latency message libraries do the same. The spin adapts to what it
waits for: each :class:`Spinner` keeps a running mean of its recent waits, and spins only
while that mean is below :data:`SPIN_LONGEST`, for twice the mean at most. A replica whose
tasks take milliseconds, or a caller whose calls do, never spins; a back-to-back warm
no-op spins a few tens of microseconds and does not sleep at all. The cost is the CPU
time of those spins, which ``benchmarks/bench_runtime.py`` prints beside the latency.
"""
from __future__ import annotations

import os
from time import perf_counter
from typing import Callable

__all__ = ["SPIN_LONGEST", "SPIN_VARIABLE", "Spinner"]

SPIN_LONGEST = 200e-6
"""The longest a reader spins before it blocks, in seconds, and the mean wait above which
it does not spin at all: a wait that long is not worth a busy processor."""

SPIN_VARIABLE = "REUSE_REF_SPIN"
"""The environment variable that turns the spin off for a whole program (``0``); a runtime
turns it off for its own replicas with ``backend_options={"spin": False}``."""

_LEARN = 1 / 8  # weight of the newest wait in the running mean
_CAP = 4 * SPIN_LONGEST  # one long wait counts as this much: a burst of short ones soon spins again

_SLOW_YIELD = SPIN_LONGEST  # a yield that took this long gave the processor to another thread: the machine is busy
_MOST_SKIPPED = 1024  # waits without a spin, at most, after a spin found the machine busy

_yield = getattr(os, "sched_yield", lambda: None)

_CPUS = os.cpu_count() or 1
_LOOK_EVERY = 0.001  # seconds between two looks at how many threads the machine has ready to run
_machine = {"at": -1.0, "over": 0, "clean": 0, "crowded": False, "fd": None}


def _crowded(now: float) -> bool:
    """Whether the machine is crowded: more threads ready to run than it has processors (Linux's
    count, the fourth field of ``/proc/loadavg``, read at most every ``_LOOK_EVERY`` s), so that
    a spin would take a processor another thread waits for. It becomes crowded after two looks
    in a row say so, and clear again after four clean ones: a thread that runs for a moment
    does not stop the spin, and a busy machine's brief lulls do not start it. False where the
    count is unknown."""
    m = _machine
    if now - m["at"] >= _LOOK_EVERY:
        m["at"] = now
        try:
            if m["fd"] is None:
                m["fd"] = os.open("/proc/loadavg", os.O_RDONLY)
            over = int(os.pread(m["fd"], 128, 0).split()[3].split(b"/")[0]) > _CPUS
        except (OSError, ValueError, IndexError):
            over = False
        if over:
            m["over"], m["clean"] = m["over"] + 1, 0
            m["crowded"] = m["crowded"] or m["over"] >= 2
        else:
            m["over"], m["clean"] = 0, m["clean"] + 1
            m["crowded"] = m["crowded"] and m["clean"] < 4
    return m["crowded"]


class Spinner:
    """How long one reader spins: twice the running mean of its waits, up to :data:`SPIN_LONGEST`."""

    __slots__ = ("enabled", "mean", "skip", "backoff")

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.mean = SPIN_LONGEST / 2  # a new reader tries a short spin
        self.skip = 0  # waits left that do not spin: a spin found the machine busy
        self.backoff = 1  # waits to skip after the next spin that finds it busy

    def wait(self, ready: Callable[[], object]) -> bool:
        """Spin until ``ready()`` (a look that never blocks) is true, for this reader's budget;
        returns whether it became ready. The caller then reads, or blocks as before."""
        mean = self.mean
        if mean >= SPIN_LONGEST or not self.enabled:
            return False
        if self.skip:
            self.skip -= 1
            return False
        start = perf_counter()
        if _crowded(start):
            return False
        end = start + min(2 * mean, SPIN_LONGEST)
        while True:
            if ready():
                self.backoff = 1
                return True
            now = perf_counter()
            if now >= end:
                return False
            _yield()
            if perf_counter() - now > _SLOW_YIELD:  # another thread wanted this processor: sleep, as it would
                self.skip, self.backoff = self.backoff, min(2 * self.backoff, _MOST_SKIPPED)
                return False

    def learn(self, waited: float) -> None:
        """A wait just ended after ``waited`` seconds, spun or blocked."""
        self.mean += (min(waited, _CAP) - self.mean) * _LEARN
