"""Workloads for the simulator: a workload is a list of :class:`Job`.

A job arrives at ``at`` seconds, runs for ``duration`` seconds of work and ends. A job
with a ``parent`` is a child task: its ``at`` counts from the moment its parent *starts
running*, not from zero, because a child exists only once its parent has called it
(see :func:`reuse_ref.sim.event_loop.simulate`).

The generators are seeded and use ``random.Random`` only, so a workload is the same
on every machine and every run: ``poisson(1.0, 30, 3600, seed=1)`` is a fixed list.
A workload's file format (CSV) is :mod:`reuse_ref.sim.workload_csv`.
"""
from __future__ import annotations

import math
import random
from operator import countOf, itemgetter
from typing import Callable, Dict, Hashable, Iterable, List, NamedTuple, Optional, Sequence, Set

from ..config.validation import number, strict_int

__all__ = [
    "Job", "poisson", "burst", "bursts", "diurnal", "diurnal_rate", "fan_out", "merge",
    "check_jobs", "check_workload", "CheckedWorkload", "DAY",
]

DAY = 86400.0


class Job(NamedTuple):
    """One task call of a workload.

    * ``id``: any hashable, unique in the workload; it becomes the task id in the trace.
    * ``at``: arrival in seconds. For a top-level job it is absolute; for a child it is
      the delay after its parent started running.
    * ``duration``: seconds of the job's own work. A parent then waits, holding its slot,
      until all its children have ended.
    * ``name``: a label (the task's function name), kept for the reader.
    * ``parent``: the ``id`` of the job that calls this one, or ``None``.
    * ``retries``: how many times a failed attempt (a crashed replica) is tried again.
    * ``env``: the environment whose pool runs it, when a simulation has several; ``None``
      means the only one (or, for a child, its parent's).
    * ``timeout``: seconds each attempt may run (the task's ``timeout``); ``None``: no limit.
      An attempt over it fails with ``timeout`` (and is retried while retries are left).
    * ``sync``: the task is a plain ``def``, not an ``async def``: its attempt cannot be
      interrupted, so a timeout costs its replica (stopped, reason ``timeout``, and replaced)
      and a cancel (rule 7) lets it run to its end. Only async tasks share a replica: a
      sync job needs an environment with ``concurrency == 1``.
    """

    id: Hashable
    at: float
    duration: float
    name: Optional[str] = None
    parent: Optional[Hashable] = None
    retries: int = 0
    env: Optional[str] = None
    timeout: Optional[float] = None
    sync: bool = False


# ---------------------------------------------------------------------- checks
def check_jobs(jobs: Sequence, where: Optional[Callable[[int], str]] = None) -> List[Job]:
    """Validate a workload and return it as a list of :class:`Job` (with ``at`` and
    ``duration`` as floats, so that traces carry float times).

    Checks that every item is a ``Job``; ``at`` and ``duration`` are finite numbers >= 0;
    ``retries`` is an int >= 0; ids are hashable and unique; every ``parent`` names a job of
    the workload; and no job is its own ancestor (such a job could never be called).
    Raises ``ValueError`` whose message starts with ``where(i)`` for the offending item
    (default ``"workload[i]: "``).
    """
    return check_workload(jobs, where).jobs


class CheckedWorkload:
    """A workload that passed :func:`check_workload`, with what a simulation asks of it:
    ``jobs`` (a list of :class:`Job`), ``has_parents``, ``envs`` (the environments the jobs
    name; ``None`` for a job that names none), ``has_timeouts``, ``has_sync``, and ``by_id``
    (the jobs by id, made on first use: a simulation of independent jobs in one pool never
    asks for it)."""

    __slots__ = ("jobs", "has_parents", "envs", "has_timeouts", "has_sync", "_by_id")

    def __init__(self, jobs: List[Job], by_id: Optional[Dict[Hashable, Job]], has_parents: bool,
                 envs: Set[Optional[str]], has_timeouts: bool, has_sync: bool) -> None:
        self.jobs = jobs
        self._by_id = by_id
        self.has_parents = has_parents
        self.envs = envs
        self.has_timeouts = has_timeouts
        self.has_sync = has_sync

    @property
    def by_id(self) -> Dict[Hashable, Job]:
        if self._by_id is None:
            self._by_id = {job.id: job for job in self.jobs}
        return self._by_id


def check_workload(jobs: Sequence, where: Optional[Callable[[int], str]] = None) -> CheckedWorkload:
    """:func:`check_jobs`, also returning the jobs by id and what else a simulation asks of
    them (:class:`CheckedWorkload`), worked out in the same passes over the list."""
    try:
        items = iter(jobs)
    except TypeError:  # not iterable
        raise ValueError(f"workload={jobs!r} is not valid: a list (or another iterable) of reuse_ref.Job") from None
    jobs = list(items)
    checked = _fast_check(jobs)
    if checked is None:  # something is wrong (or unusual): find it item by item
        by_id = _slow_check(jobs, where)
        envs, timeouts, syncs = set(map(_ENV, jobs)), set(map(_TIMEOUT, jobs)), set(map(_SYNC, jobs))
        has_parent = countOf(map(_PARENT, jobs), None) != len(jobs)
    else:
        by_id = None
        has_parent, envs, timeouts, syncs = checked
    if has_parent:
        if by_id is None:
            by_id = {job.id: job for job in jobs}
        _check_parents(jobs, by_id, where)
        if not math.isfinite(sum(map(_AT, jobs)) + sum(map(_DURATION, jobs))):
            _check_chains(jobs, by_id, where)
    return CheckedWorkload(jobs, by_id, has_parent, envs, bool(timeouts - {None}), True in syncs)


def _check_chains(jobs: List[Job], by_id: dict, where) -> None:
    """A child arrives ``at`` seconds after its parent starts, so its earliest end is the sum
    of the ``at`` of its ancestors, its own ``at`` and its ``duration``: that must be finite.
    Only called when the sum over the whole workload is not (that sum bounds every chain)."""
    where = where or _where
    earliest: dict = {}  # id -> the earliest time the job can arrive

    def arrival(job: Job) -> float:
        chain = []
        j = job
        while j.id not in earliest:  # up to a job already worked out, or the top
            chain.append(j)
            if j.parent is None:
                break
            j = by_id[j.parent]
        for k in reversed(chain):  # then down again
            earliest[k.id] = (0.0 if k.parent is None else earliest[k.parent]) + k.at
        return earliest[job.id]

    for i, job in enumerate(jobs):
        start = 0.0 if job.parent is None else arrival(by_id[job.parent])
        if not math.isfinite(start + job.at + job.duration):
            raise ValueError(f"{where(i)}at={job.at!r} is not valid: a child's at counts from its parent's start, "
                             f"{start!r} s at the earliest, and the child must end at a finite number of seconds")


_ID, _AT, _DURATION, _PARENT, _RETRIES, _ENV, _TIMEOUT, _SYNC = (
    itemgetter(Job._fields.index(f)) for f in ("id", "at", "duration", "parent", "retries", "env", "timeout", "sync"))


def _fast_check(jobs: List[Job]):
    """Whole-list checks at C speed (a million jobs in a fraction of a second); ``None`` if
    any of them fails, and then :func:`_slow_check` says which item and why. Otherwise
    ``(has_parents, envs, timeouts, syncs)``, the last three as sets of the values the jobs
    hold. A column every job usually leaves at its default is counted rather than made a
    set: a count costs less."""
    if not jobs:
        return False, set(), set(), set()
    n = len(jobs)
    try:
        if set(map(type, jobs)) != {Job}:
            return None
        ats = list(map(_AT, jobs))
        durations = list(map(_DURATION, jobs))
        if set(map(type, ats)) != {float} or set(map(type, durations)) != {float}:
            return None  # ints are fine, but the slow path turns them into floats
        # a finite sum means no NaN and no infinity, and then min() is reliable; and with no
        # value below 0 it bounds every job's at + duration, and every chain of parents
        if not (math.isfinite(sum(ats) + sum(durations)) and min(ats) >= 0 and min(durations) >= 0):
            return None
        retries = set(map(_RETRIES, jobs))  # a few distinct values: check those
        if {type(r) for r in retries} != {int} or min(retries) < 0:
            return None
        envs = {None} if countOf(map(_ENV, jobs), None) == n else set(map(_ENV, jobs))
        if any(e is not None and (type(e) is not str or not e) for e in envs):
            return None
        timeouts = {None} if countOf(map(_TIMEOUT, jobs), None) == n else set(map(_TIMEOUT, jobs))
        if timeouts != {None} and not all(t is None or (type(t) is float and 0 < t < math.inf) for t in timeouts):
            return None
        syncs = {False} if countOf(map(_SYNC, jobs), False) == n else set(map(_SYNC, jobs))
        if {type(v) for v in syncs} != {bool}:
            return None
        if len(set(map(_ID, jobs))) != n:  # ids unique (and hashable)
            return None
    except (TypeError, OverflowError):
        return None
    return countOf(map(_PARENT, jobs), None) != n, envs, timeouts, syncs


def _where(i: int) -> str:
    return f"workload[{i}]: "


def _slow_check(jobs: List, where) -> dict:
    where = where or _where
    by_id: dict = {}
    first: dict = {}
    for i, job in enumerate(jobs):
        if type(job) is not Job:
            if isinstance(job, Job):  # a subclass
                job = jobs[i] = Job(*job)
            else:
                raise ValueError(f"{where(i)}job={job!r} is not valid: a reuse_ref.Job(id, at, duration, ...)")
        try:
            at = number("at", job.at, minimum=0)
            duration = number("duration", job.duration, minimum=0)
            strict_int("retries", job.retries, minimum=0)
            if job.env is not None and (type(job.env) is not str or not job.env):
                raise ValueError(f"env={job.env!r} is not valid: the name of an environment (a non-empty str) or None")
            timeout = None if job.timeout is None else number(
                "timeout", job.timeout, above=0, allowed="seconds > 0 that each attempt may run, or None for no limit")
            if not isinstance(job.sync, bool):
                raise ValueError(f"sync={job.sync!r} is not valid: True (a plain def) or False (an async def)")
        except ValueError as e:
            raise ValueError(f"{where(i)}{e}") from None
        if not math.isfinite(at + duration):
            raise ValueError(f"{where(i)}duration={job.duration!r} is not valid: with at={job.at!r}, the job "
                             f"would end past the largest float; at + duration must be a finite number of seconds")
        if type(job.at) is not float or type(job.duration) is not float or type(job.timeout) not in (float, type(None)):
            job = jobs[i] = job._replace(at=at, duration=duration, timeout=timeout)
        try:
            if job.id in by_id:
                other = where(first[job.id]).rstrip(": ")
                raise ValueError(f"{where(i)}id={job.id!r} is not valid: ids must be unique (it is also the id of {other})")
        except TypeError:
            raise ValueError(f"{where(i)}id={job.id!r} is not valid: a hashable value such as an int or a str") from None
        by_id[job.id] = job
        first[job.id] = i
    return by_id


def _check_parents(jobs: List[Job], by_id: dict, where) -> None:
    where = where or _where
    for i, job in enumerate(jobs):
        try:
            known = job.parent is None or job.parent in by_id
        except TypeError:
            known = False
        if not known:
            raise ValueError(f"{where(i)}parent={job.parent!r} is not valid: the id of another job of the workload")
    # every chain of parents must reach a top-level job
    rooted = set()
    for i, job in enumerate(jobs):
        chain = set()
        j = job
        while j.parent is not None and j.id not in rooted:
            if j.id in chain:
                raise ValueError(f"{where(i)}parent={job.parent!r} is not valid: job {job.id!r} would be its own ancestor")
            chain.add(j.id)
            j = by_id[j.parent]
        rooted |= chain


# ---------------------------------------------------------------------- generators
def _durations(seed: int, duration: float, jitter):
    """The generator's random source (seeded) and its draw of one job's duration: uniform
    over ``duration`` +/- ``jitter`` x ``duration``, or exactly ``duration`` without jitter."""
    jitter = number("jitter", jitter, minimum=0, maximum=1, allowed="a fraction between 0 and 1")
    rng = random.Random(seed)
    if jitter == 0:
        return rng, lambda: duration
    lo, hi = duration * (1 - jitter), duration * (1 + jitter)
    return rng, lambda: rng.uniform(lo, hi)


def poisson(rate: float, duration: float, horizon: float, seed: int = 0, jitter: float = 0.0,
            first_id: int = 0, name: Optional[str] = None) -> List[Job]:
    """Steady traffic: Poisson arrivals at ``rate`` per second from 0 until ``horizon`` seconds.

    Task durations are fixed at ``duration`` seconds, so the offered load is simply
    ``rate x duration`` busy slots. ``jitter`` (0 to 1) spreads them uniformly over
    ``duration x [1 - jitter, 1 + jitter]``, which keeps the mean. Fixed or bounded
    durations are deliberate: with exponential durations a few long tasks would dominate
    the tail of the queue wait and hide what the policy does. Ids are ``first_id``,
    ``first_id + 1``, ...

    >>> jobs = poisson(rate=0.1, duration=30, horizon=3600, seed=1)  # about 360 expected
    >>> len(jobs), jobs[0].duration, round(jobs[0].at, 2)
    (360, 30.0, 1.44)
    """
    rate = number("rate", rate, above=0)
    duration = number("duration", duration, minimum=0)
    horizon = number("horizon", horizon, minimum=0)
    rng, draw = _durations(seed, duration, jitter)
    expo = rng.expovariate
    jobs = []
    append = jobs.append
    t = expo(rate)
    i = first_id
    while t < horizon:
        append(Job(i, t, draw(), name))
        i += 1
        t += expo(rate)
    return jobs


def burst(n: int, at: float = 0.0, duration: float = 60.0, first_id: int = 0,
          name: Optional[str] = None) -> List[Job]:
    """``n`` jobs arriving together at ``at``, each ``duration`` seconds long (a fan of work
    submitted at once, e.g. a map over a list)."""
    n = strict_int("n", n, minimum=0)
    at = number("at", at, minimum=0)
    duration = number("duration", duration, minimum=0)
    return [Job(first_id + k, at, duration, name) for k in range(n)]


def bursts(n: int, count: int, gap: float, duration: float = 60.0, at: float = 0.0,
           first_id: int = 0, name: Optional[str] = None) -> List[Job]:
    """``count`` bursts of ``n`` jobs each; burst ``k`` arrives at ``at + k x gap``.

    With ``gap`` longer than ``scaledown_ttl`` or ``idle_ttl`` the pool shrinks or stops
    between bursts, and each burst shows the cost of starting again.
    """
    n = strict_int("n", n, minimum=0)
    count = strict_int("count", count, minimum=0)
    gap = number("gap", gap, minimum=0)
    at = number("at", at, minimum=0)
    duration = number("duration", duration, minimum=0)
    return [Job(first_id + b * n + k, at + b * gap, duration, name) for b in range(count) for k in range(n)]


def diurnal_rate(t: float, peak_rate: float, trough: float = 0.1, peak_at: float = 14 * 3600.0) -> float:
    """The arrival rate of :func:`diurnal` at ``t`` seconds: a cosine over one day, ``peak_rate``
    at ``peak_at`` (14:00 by default) and ``trough x peak_rate`` twelve hours away (02:00)."""
    phase = (1.0 + math.cos(2.0 * math.pi * (t - peak_at) / DAY)) / 2.0
    return peak_rate * (trough + (1.0 - trough) * phase)


def diurnal(peak_rate: float, horizon: float = DAY, duration: float = 60.0, trough: float = 0.1,
            peak_at: float = 14 * 3600.0, seed: int = 0, jitter: float = 0.0, first_id: int = 0,
            name: Optional[str] = None) -> List[Job]:
    """A day of traffic whose rate follows :func:`diurnal_rate`: quiet at night, busiest at
    ``peak_at``. Arrivals are a non-homogeneous Poisson process drawn by thinning (candidates
    at ``peak_rate``, each kept with probability ``rate(t) / peak_rate``); durations as in
    :func:`poisson`. ``horizon`` may span several days."""
    peak_rate = number("peak_rate", peak_rate, above=0)
    horizon = number("horizon", horizon, minimum=0)
    duration = number("duration", duration, minimum=0)
    trough = number("trough", trough, minimum=0, maximum=1,
                    allowed="the night rate as a fraction of peak_rate, between 0 and 1")
    peak_at = number("peak_at", peak_at)
    rng, draw = _durations(seed, duration, jitter)
    jobs = []
    t = rng.expovariate(peak_rate)
    i = first_id
    while t < horizon:
        if rng.random() * peak_rate < diurnal_rate(t, peak_rate, trough, peak_at):
            jobs.append(Job(i, t, draw(), name))
            i += 1
        t += rng.expovariate(peak_rate)
    return jobs


def fan_out(n_children: int, child_duration: float, parent_duration: float = 5.0, at: float = 0.0,
            child_at: float = 0.0, first_id: int = 0) -> List[Job]:
    """A parent that calls ``n_children`` tasks of the same environment and waits for them all.

    The parent (id ``first_id``) arrives at ``at``; its children (ids ``first_id + 1`` ...)
    are called ``child_at`` seconds after it starts. The parent works for
    ``parent_duration`` seconds, then waits, holding its slot, until every child has ended:
    the shape that starves a pool whose every slot is held by a waiting parent (rule
    6).
    """
    n_children = strict_int("n_children", n_children, minimum=0)
    child_duration = number("child_duration", child_duration, minimum=0)
    parent_duration = number("parent_duration", parent_duration, minimum=0)
    at = number("at", at, minimum=0)
    child_at = number("child_at", child_at, minimum=0)
    parent = Job(first_id, at, parent_duration, "parent")
    return [parent] + [Job(first_id + 1 + k, child_at, child_duration, "child", first_id)
                       for k in range(n_children)]


def merge(*workloads: Iterable[Job]) -> List[Job]:
    """Concatenate workloads, renumbering ids 0, 1, 2, ... so that they cannot collide.

    Parent links are renumbered with them (a parent must be in the same workload as its
    children). ``merge(poisson(...), burst(50, at=600))`` is steady traffic with a spike.
    """
    out: List[Job] = []
    for w in workloads:
        w = check_jobs(w)
        base = len(out)
        new = {job.id: base + k for k, job in enumerate(w)}
        out.extend(job._replace(id=new[job.id], parent=None if job.parent is None else new[job.parent]) for job in w)
    return out
