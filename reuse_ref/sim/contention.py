"""Contention for a replica's cores in a simulation (section "Planning" of the Concepts page).

With ``cpu_bound=f``, the attempt of a task of duration ``d`` first does ``f x d``
core-seconds of CPU work, then waits ``(1 - f) x d`` seconds on I/O. The CPU work of
the attempts running on one replica shares its ``Resources.cpu`` cores (at least one) by
processor sharing: ``k`` attempts in their CPU part on ``c`` cores each progress at
``min(1, c / k)`` core-seconds a second. The I/O part takes its own time whatever else
runs. So with one core, ten CPU-bound tasks at once take ten times as long as one, and
concurrency is no longer free; with ``f = 0`` nothing here runs and a simulation is the
one without contention, record for record.

The event loop (:mod:`reuse_ref.sim.event_loop`) calls :meth:`CoreSharing.start` for every
dispatched attempt; each replica then has at most one pending event, the next end of a CPU part,
made stale by a version number when the replica's set of attempts changes. When a CPU
part ends, the attempt's end (after its I/O part) is scheduled as the driver's usual
end of work.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Hashable, List

from ..config.validation import number

__all__ = ["check_cpu_bound", "CoreSharing", "cores_of", "env_cores"]
_DONE = 1e-9  # core-seconds left that count as none (rounding in the shares)


def check_cpu_bound(value: Any, param: str = "cpu_bound") -> float:
    """``cpu_bound`` as a float: the CPU share of a task's duration, between 0 and 1. The one
    check of it, for ``simulate``, ``plan`` and the command line's ``--cpu-bound``."""
    return number(param, value, minimum=0, maximum=1,
                  allowed="the CPU share of a task's duration, a number between 0 and 1 (0: tasks that wait on I/O)")


class SharedCores:
    """One replica's cores, and the CPU parts of the attempts running there."""

    __slots__ = ("pool", "rid", "cores", "tasks", "last", "version")

    def __init__(self, pool, rid: int, cores: float) -> None:
        self.pool = pool
        self.rid = rid
        self.cores = cores
        self.tasks: Dict[Hashable, List[Any]] = {}  # task -> [CPU work left, attempt, I/O seconds]
        self.last = 0.0
        self.version = 0


class CoreSharing:
    """Processor sharing of every replica's cores; ``push(time, key, version)`` schedules
    the driver's event for the next end of a CPU part on a replica."""

    def __init__(self, cpu_bound: float, cores_of: Dict[Any, float], push: Callable[[float, Any, int], None]) -> None:
        self.f = cpu_bound
        self.cores_of = cores_of
        self.push = push
        self.replicas: Dict[tuple, SharedCores] = {}
        self.where: Dict[Hashable, tuple] = {}  # task -> the replica its attempt's CPU part runs on

    def start(self, now: float, pool, rid: int, task: Hashable, attempt: int, duration: float) -> None:
        """An attempt of ``task`` started on replica ``rid`` of ``pool``."""
        key = (pool.name, rid)
        r = self.replicas.get(key)
        if r is None:
            r = self.replicas[key] = SharedCores(pool, rid, self.cores_of[pool])
            r.last = now
        self._advance(r, now)
        cpu = self.f * duration
        r.tasks[task] = [cpu, attempt, duration - cpu]
        self.where[task] = key
        self._schedule(r, now)

    def stopped(self, now: float, task: Hashable) -> None:
        """``task`` ended early (failed, cancelled): its CPU part stops taking a share."""
        key = self.where.pop(task, None)
        r = self.replicas.get(key) if key is not None else None
        if r is not None and task in r.tasks:
            self._advance(r, now)  # drops it too, when the pool has already let it go
            r.tasks.pop(task, None)
            self._schedule(r, now)

    def due(self, now: float, key: tuple, version: int, end_work: Callable[[float, Hashable, int], None]) -> None:
        """The event of replica ``key`` came: CPU parts that are done go on to their I/O
        part (``end_work(time, task, attempt)`` schedules the attempt's end)."""
        r = self.replicas.get(key)
        if r is None or r.version != version:
            return  # the replica's set of attempts changed since: a later event stands
        self._advance(r, now)
        done = [(task, e) for task, e in r.tasks.items() if e[0] <= _DONE]
        for task, (_, attempt, io) in done:
            del r.tasks[task]
            if self.where.get(task) == key:
                del self.where[task]
            end_work(now + io, task, attempt)
        self._schedule(r, now)

    def _advance(self, r: SharedCores, now: float) -> None:
        """Take the work done since the last change off every attempt; drop attempts the
        pool no longer runs there (a crash, a retry elsewhere)."""
        p = r.pool
        running, attempts = p.running, p.attempts
        for task in [t for t, e in r.tasks.items() if running.get(t) != r.rid or attempts.get(t) != e[1]]:
            del r.tasks[task]
        k = len(r.tasks)
        if k and now > r.last:
            step = (now - r.last) * min(1.0, r.cores / k)
            for e in r.tasks.values():
                e[0] -= step
        r.last = now

    def _schedule(self, r: SharedCores, now: float) -> None:
        r.version += 1
        if r.tasks:
            rate = min(1.0, r.cores / len(r.tasks))
            left = max(0.0, min(e[0] for e in r.tasks.values()))
            self.push(now + left / rate, (r.pool.name, r.rid), r.version)


def cores_of(envs: Dict[str, tuple], pools) -> Dict[Any, float]:
    """Each pool's cores per replica: its ``Resources.cpu`` (as parsed: ``cpu_cores``), at
    least one (none set: one). A pool made later (a run's pool of a ``scope="run"``
    environment) is added with :func:`env_cores`."""
    return {pools.pools[name]: env_cores(envs, name) for name in envs if name in pools.pools}


def env_cores(envs: Dict[str, tuple], name: str) -> float:
    """The cores per replica of environment ``name`` (see :func:`cores_of`)."""
    res = envs[name][1]
    cpu = getattr(res, "cpu_cores", None) if res is not None else None
    return max(1.0, cpu or 1.0)

