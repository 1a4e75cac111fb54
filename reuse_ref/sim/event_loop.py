"""The virtual-clock driver: run a workload through the pools of its environments (rule 5 of time).

The clock is a heap of ``(time, kind, seq, ...)`` events, as in SimPy. The driver only
moves time forward and carries out the pools' actions; every decision is theirs
(:mod:`reuse_ref.pool` for one pool, :mod:`reuse_ref.pools` for rules 6 and 7, which need
every pool at once):

* ``StartReplica`` -> the replica is ready ``cold_start`` seconds later;
* ``Dispatch`` -> the attempt's work ends ``duration`` seconds later;
* ``StopReplica`` -> nothing to do (the pool has already forgotten it);
* ``FailTask`` -> the job has ended, failed;
* and when nothing else happens first, the pools are woken at their ``wakeup_at`` with
  ``advance`` so that their timers (scale-down, idle TTL) fire.

A job with no parent or children, in a workload of one environment, arrives with
``pool.start_if_free``, which answers in the usual case (a free slot, nothing queued)
with the replica the job started on, and otherwise with ``None``; then ``pool.submit``
takes the job. Both are the same event.

Events at the same instant are taken in a fixed order, so a trace is exactly
reproducible: replicas becoming ready, then attempts ending, then crashes, then arrivals
(workload order first, then children in the order they were called), then the pools'
timers. Ending work before admitting arrivals lets an arrival take a slot that frees at
the same instant instead of starting a replica for nothing; admitting arrivals before the
timers means a task that arrives exactly when a TTL runs out still finds its replica.

Parents and children (tasks that call tasks, in their own environment or another) follow
the model stated in :mod:`reuse_ref.calls`.
"""
from __future__ import annotations

import math
import sys
from heapq import heappop, heappush
from operator import itemgetter
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from ..config.validation import is_int, number
from .call_tree import Family as _Family
from .contention import check_cpu_bound
from .cold_starts import check_cold_start
from ..config.policy import ReusePolicy
from ..core.pool import Dispatch, FailTask, Pool, StartReplica
from ..core.pools import FAIL_IMMEDIATELY, Pools, check_failure_policy
from ..core.unpooled import Unpooled
from ..config.resources import as_resources
from ..trace import Trace, gc_paused
from .workloads import Job, _checked

__all__ = ["simulate"]

# same-instant order of the event kinds (the second item of every heap entry); _CORES (the
# end of a CPU part, with cpu_bound > 0) comes after attempts ending and before crashes
_READY, _WORK, _CRASH, _ARRIVE, _WAKE = range(5)
_CORES = 1.5
_PROGRESS_AUTO = 100_000


def _crashes(crashes: Iterable, pools: Pools) -> List[tuple]:
    out = []
    names = pools.pools
    for c in crashes:
        if not isinstance(c, (tuple, list)) or len(c) not in (2, 3, 4):
            raise ValueError(f"crashes item {c!r} is not valid: (time, replica), (time, replica, reason) "
                             f"or (time, replica, reason, env)")
        t = number("crash time", c[0], minimum=0, allowed="a finite number of seconds >= 0")
        rid = c[1]
        if not is_int(rid):
            raise ValueError(f"crashes item {c!r} is not valid: the replica must be an int id")
        reason = c[2] if len(c) >= 3 else "crashed"
        if reason not in ("crashed", "oom"):
            raise ValueError(f"crashes item {c!r} is not valid: the reason is 'crashed' or 'oom'")
        env = c[3] if len(c) == 4 else next(iter(names))
        if env not in names:
            raise ValueError(f"crashes item {c!r} is not valid: the environment is one of {', '.join(map(repr, names))}")
        out.append((t, rid, reason, names[env]))
    return out


def simulate(policy: Any, workload: Sequence[Job], cold_start: float = 10.0,
             resources: Any = None, name: str = "env", progress: Optional[bool] = None,
             crashes: Iterable = (), failure_policy: Any = FAIL_IMMEDIATELY, cpu_bound: float = 0.0) -> Trace:
    """Run ``workload`` (a list of :class:`~reuse_ref.workloads.Job`) through the pools of
    one or several environments on a virtual clock and return its :class:`~reuse_ref.trace.Trace`.

    * ``policy``: a :class:`~reuse_ref.ReusePolicy` (one environment, called ``name``), or
      a mapping of environment name to policy; a job's ``env`` names its environment (a
      child without one runs in its parent's). In a mapping, ``None`` (or ``"off"``) is an
      environment without reuse: each attempt starts a fresh replica, which stops (reason
      ``off``) when the attempt ends, as ``reusable="off"`` does on the runtime.
    * ``cold_start``: seconds from a replica's start to its first task (image pull, boot),
      or a :class:`~reuse_ref.coldstart.ColdStart` (observed samples, or a lognormal from
      a median and a p95) from which each replica start draws its own, seeded.
    * ``resources``: what one replica holds (a ``Resources`` or a mapping of its fields),
      for the footprint measures; with several environments, a mapping of environment
      name to that.
    * ``name``: the environment's name in the trace, when ``policy`` is a single policy.
    * ``progress``: show a tqdm bar of jobs ended; ``None`` shows one when the workload
      has more than 100,000 jobs.
    * ``crashes``: optional ``(time, replica)``, ``(time, replica, "oom")`` or ``(time,
      replica, reason, env)`` items: that replica dies at that time if it is alive (rule 5).
    * ``failure_policy``: what a parent's failure does to its other children (rule 7):
      ``"FAIL_IMMEDIATELY"`` (cancel them) or ``"FAIL_AFTER_EXECUTABLE_NODES_COMPLETE"``.
    * ``cpu_bound``: the share of each task's duration that is CPU work (0 to 1, default
      0: tasks that wait on I/O). That part shares the replica's ``Resources.cpu`` cores
      (at least one) with the other attempts running there, by processor sharing, so
      concurrency costs speed (section "Planning" of the Concepts page). With 0 the records are
      those of a simulation without contention.

    The run continues after the last job until the pools' timers have nothing left to do,
    so the trace includes the idle tail that ``scaledown_ttl`` and ``idle_ttl`` cost. The
    same arguments always give the same records. A workload whose times, queued one after
    another, add up past the largest float is a ``ValueError``: its trace would hold
    times that are not numbers.

    >>> from reuse_ref import ReusePolicy
    >>> from reuse_ref.workloads import burst
    >>> trace = simulate(ReusePolicy(replicas=(1, 3), idle_ttl=60, scaledown_ttl=30), burst(6, duration=20))
    >>> m = trace.measures()
    >>> m.cold_starts, m.warm_starts, m.makespan
    (3, 3, 50.0)
    """
    envs = _environments(policy, resources, name)
    failure_policy = check_failure_policy(failure_policy)
    cold_start, draw_cold = check_cold_start(cold_start)  # draw_cold: None for the same time every time
    cpu_bound = check_cpu_bound(cpu_bound)
    jobs, by_id, related = _checked(workload)
    pools = Pools(failure_policy)
    for env_name, (env_policy, _) in envs.items():
        pools.add(Pool(env_policy, env_name) if env_policy is not None else Unpooled(env_name))
    pool_of = _pool_of(jobs, by_id, pools, related)  # None: every job in the one pool
    crash_events = _crashes(crashes, pools)
    multi = pool_of is not None
    pool = next(iter(pools.pools.values()))  # the pool, when there is one
    all_pools = list(pools.pools.values())
    family = _Family(jobs, by_id, pools, pool_of, pool) if related else None

    heap: list = []
    seq = 0              # orders heap events of one kind at one instant: first scheduled, first taken
    for t, rid, reason, p in crash_events:
        heappush(heap, (t, _CRASH, seq, rid, (reason, p)))
        seq += 1
    cores = None  # processor sharing of the replicas' cores, only with cpu_bound > 0
    if cpu_bound > 0:
        from .contention import Cores, cores_of

        def push_cores(t: float, key: tuple, version: int) -> None:
            nonlocal seq
            heappush(heap, (t, _CORES, seq, key, version))
            seq += 1

        def end_work(t: float, task, attempt: int) -> None:
            nonlocal seq
            heappush(heap, (t, _WORK, seq, task, attempt))
            seq += 1

        cores = Cores(float(cpu_bound), cores_of(envs, pools), push_cores)
    wakes: List[float] = []  # pending wake-up times, each smaller than the one before
    next_wake = math.inf
    ended = 0

    def carry(p: Pool, actions: list, now: float) -> None:
        nonlocal seq, ended
        for a in actions:
            kind = type(a)
            if kind is Dispatch:
                task = a.task
                if cores is None:
                    heappush(heap, (now + by_id[task].duration, _WORK, seq, task, a.attempt))
                    seq += 1
                else:
                    cores.start(now, p, a.replica, task, a.attempt, by_id[task].duration)
                if family is not None:
                    for at, kids in family.dispatched(task):
                        heappush(heap, (now + at, _ARRIVE, seq, kids, None))
                        seq += 1
            elif kind is StartReplica:
                heappush(heap, (now + (cold_start if draw_cold is None else draw_cold()), _READY, seq, a.replica, p))
                seq += 1
            elif kind is FailTask:
                if cores is not None:
                    cores.stopped(now, a.task)
                if family is not None:
                    family.ended(a.task, now, a.reason, a.message)
                else:
                    ended += 1
            # StopReplica: the replica is gone; there is nothing to carry out

    if family is not None:
        family.carry = carry

    label = name if len(envs) == 1 else ", ".join(envs)
    bar = None
    if progress or (progress is None and len(jobs) > _PROGRESS_AUTO):
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), unit="job", desc=f"simulate {label}", mininterval=0.5)
    shown = 0

    # Top-level arrivals are read in order from ``top`` and merged with the heap, which
    # holds only what is in flight. At the same instant they come after ready, work and
    # crash events, and before children called meanwhile and the pool's timers.
    top = [job for job in jobs if job.parent is None] if related else jobs
    top.sort(key=_arrival)  # stable: jobs arriving together keep their workload order
    n_top = len(top)
    i = 0
    inf = math.inf
    next_at = top[0].at if top else inf
    WORK, ARRIVE = _WORK, _ARRIVE
    # only crashes and failed children end attempts early; without them every attempt runs its course
    may_be_stale = related or bool(crash_events)
    fast = not related and not multi and cores is None
    submit = pool.submit
    start_if_free = pool.start_if_free
    finish = pool.finish
    # The run allocates millions of small tuples (records, events) and no reference
    # cycles, so the cyclic garbage collector would only slow it down (by about a quarter).
    with gc_paused(long_lived=True):
        try:
            while True:
                due = pool._wakeup if not multi else _earliest(all_pools)  # wakeup_at, read without the property call
                if due is not None and due < next_wake:
                    heappush(heap, (due, _WAKE, seq, None, None))
                    seq += 1
                    wakes.append(due)
                    next_wake = due
                if bar is not None:
                    done = ended if family is None else family.done
                    if done - shown >= 4096:
                        bar.update(done - shown)
                        shown = done
                if heap:
                    head = heap[0]
                    first = next_at < head[0] or (next_at == head[0] and head[1] >= ARRIVE)
                elif i < n_top:
                    first = True
                else:
                    break
                if first:
                    task, now, duration, _, _, retries, _ = top[i]  # a Job
                    i += 1
                    next_at = top[i].at if i < n_top else inf
                    if fast and start_if_free(now, task, retries) is not None:
                        # the usual case: the job started at once (attempt 1); its work ends after duration
                        heappush(heap, (now + duration, WORK, seq, task, 1))
                        seq += 1
                    else:
                        p = pool_of[task] if multi else pool
                        actions = p.submit(now, task, retries) if multi else submit(now, task, retries)
                        if actions:
                            carry(p, actions, now)
                        if family is not None:
                            family.settle(now)
                    continue
                now, kind, _, x, y = heappop(heap)
                if kind == WORK and not may_be_stale:  # the usual event: an attempt ends, its job is done
                    p = pool_of[x] if multi else pool
                    actions = p.finish(now, x) if multi else finish(now, x)
                    if actions:
                        carry(p, actions, now)
                    ended += 1
                elif kind == WORK:
                    # x: task, y: attempt; an attempt lost to a crash or a failed child is stale
                    p = pool_of[x] if multi else pool
                    if p.running.get(x) is None or p.attempts[x] != y:
                        continue
                    if family is not None:
                        family.work_done(x, now)
                        family.settle(now)
                    else:
                        actions = p.finish(now, x)
                        if actions:
                            carry(p, actions, now)
                        ended += 1
                elif kind == _READY:
                    carry(y, y.replica_ready(now, x), now)
                    if family is not None:
                        family.settle(now)
                elif kind == _ARRIVE:
                    family.arrive(x, now)
                    family.settle(now)
                elif kind == _WAKE:
                    wakes.pop()
                    next_wake = wakes[-1] if wakes else math.inf
                    for p in all_pools:
                        due = p.wakeup_at
                        if due is not None and due <= now:
                            carry(p, p.advance(now), now)
                            due = p.wakeup_at
                            if due is not None and due <= now:
                                raise RuntimeError(f"pool {p.name!r} asked to be woken at {due!r} but did nothing at {now!r}")
                        # otherwise something happened meanwhile and the pool's timers moved
                    if family is not None:
                        family.settle(now)
                elif kind == _CORES:
                    cores.due(now, x, y, end_work)
                else:  # _CRASH
                    reason, p = y
                    if family is not None:
                        family.crash(p, x, reason, now)
                        family.settle(now)
                    else:
                        carry(p, p.replica_crashed(now, x, reason), now)
        finally:
            if bar is not None:
                done = ended if family is None else family.done + family.skipped
                bar.update(done - shown)
                bar.close()

    done = ended if family is None else family.done + family.skipped
    if done != len(jobs):  # a broken invariant, not bad input
        raise RuntimeError(f"simulation of {label!r} ended with {len(jobs) - done} job(s) that never ended")
    if pools.records and not math.isfinite(pools.records[-1][0]):  # records come in time order
        raise ValueError(f"workload is not valid: each time is finite, but queued one after another its jobs' "
                         f"at and duration and the cold start add up past the largest float "
                         f"({sys.float_info.max:g} s), so the simulated times are not numbers; give smaller times")
    return Trace(pools.records, {n: pol for n, (pol, _) in envs.items()}, {n: res for n, (_, res) in envs.items()})


def _earliest(pools: List[Pool]) -> Optional[float]:
    times = [p._wakeup for p in pools if p._wakeup is not None]
    return min(times) if times else None


def _environments(policy: Any, resources: Any, name: str) -> Dict[str, tuple]:
    """``{environment name: (policy, resources)}``, in the order given, from ``simulate``'s arguments."""
    if isinstance(policy, ReusePolicy):
        if not isinstance(name, str) or not name:
            raise ValueError(f"name={name!r} is not valid: the environment's name, a non-empty str")
        return {name: (policy, as_resources(resources))}
    if not isinstance(policy, Mapping) or not policy:
        raise ValueError(f"policy={policy!r} is not valid: a reuse_ref.ReusePolicy, or a non-empty mapping "
                         f"of environment name to ReusePolicy")
    if resources is not None and not (isinstance(resources, Mapping) and set(resources) <= set(policy)):
        raise ValueError(f"resources={resources!r} is not valid: with several environments, a mapping of "
                         f"environment name (one of {', '.join(map(repr, policy))}) to Resources")
    out = {}
    for env_name, env_policy in policy.items():
        if not isinstance(env_name, str) or not env_name:
            raise ValueError(f"policy={policy!r} is not valid: environment names are non-empty str, not {env_name!r}")
        if env_policy is None or env_policy == "off":  # tasks without reuse: a fresh replica each
            env_policy = None
        elif not isinstance(env_policy, ReusePolicy):
            raise ValueError(f"policy[{env_name!r}]={env_policy!r} is not valid: a reuse_ref.ReusePolicy, "
                             f"or None (or 'off') for an environment without reuse")
        out[env_name] = (env_policy, as_resources((resources or {}).get(env_name)))
    return out


def _pool_of(jobs: List[Job], by_id: dict, pools: Pools, related: bool) -> Optional[Dict[Any, Pool]]:
    """Each job's pool (``None`` when there is one pool and no job names another)."""
    names = pools.pools
    if len(names) == 1:
        only = next(iter(names))
        if all(job.env is None or job.env == only for job in jobs):
            return None
    out: Dict[Any, Pool] = {}
    for k, job in enumerate(jobs):
        env, j = job.env, job
        while env is None and j.parent is not None:  # a child runs where its parent runs
            j = by_id[j.parent]
            env = j.env
        if env is None:
            if len(names) > 1:
                raise ValueError(f"workload[{k}]: env=None is not valid: with several environments every "
                                 f"top-level job names one of {', '.join(map(repr, names))}")
            env = next(iter(names))
        if env not in names:
            raise ValueError(f"workload[{k}]: env={env!r} is not valid: one of {', '.join(map(repr, names))}")
        out[job.id] = names[env]
    return out


_arrival = itemgetter(Job._fields.index("at"))  # job.at, as a sort key
