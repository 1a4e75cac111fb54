"""The virtual-clock driver: a workload through the pools of its environments (section "Time").

A simulation is an event loop in the manner of SimPy's: a heap of ``(time, kind, order,
x, y)`` events, each taken in turn and fired. The loop only moves time forward and
carries out what the core decides (:mod:`reuse_ref.core`): every lifecycle decision is
the pools'. Firing an event feeds one event to the pools; carrying out their actions
schedules new events:

* ``StartReplica`` -> the replica is ready ``cold_start`` seconds later (``READY``);
* ``Dispatch`` -> the attempt's work ends ``duration`` seconds later (``WORK``), and a
  parent's children are called at their offsets (``ARRIVE``);
* ``FailTask`` -> the job has ended, failed;
* ``Interrupt`` -> the attempt over its timeout stops at once, and the pool hears so;
* ``StopReplica``, ``CancelAttempt`` -> nothing to do: the pool has let it go;
* and when nothing else happens first, the pools are woken at their ``wakeup_at``
  (``WAKE``) so that their timers (timeouts, scale-down, idle TTL) fire.

Top-level jobs arrive from the workload, read in order beside the heap rather than pushed
into it. Events at the same instant are taken in a fixed order, so a trace is exactly
reproducible: replicas becoming ready, then attempts ending (then the ends of CPU parts,
under ``cpu_bound``), then crashes, then arrivals (workload order first, then children
in the order they were called), then the pools' timers. Ending work before admitting
arrivals lets an arrival take a slot that frees at the same instant instead of starting
a replica for nothing; admitting arrivals before the timers means a task that arrives
exactly when a TTL runs out still finds its replica.

There are two loops. :class:`EventLoop` runs any simulation: several environments,
parents and children (:mod:`reuse_ref.sim.call_tree`), crashes, timeouts, contention.
:func:`run_plain` is the same loop written out for the commonest case, one pool of
independent jobs with neither timeout nor crash, where a run of a million jobs makes
only three kinds of event; it offers each arrival to the pool with
``Pool.start_if_free`` first, the same event as ``submit`` in the usual case of a free
slot. Both make the same records (``tests/test_simulate.py`` runs a workload through
each).
"""
from __future__ import annotations

import math
import sys
from heapq import heappop, heappush
from operator import itemgetter
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

from ..core.actions import Dispatch, FailTask, Interrupt, StartReplica
from ..core.pool import PACED, Pool, check_scaledown
from ..core.pools import Decisions, Pools, new_pool
from ..config.validation import optional_flag
from ..core.propagation import FAIL_IMMEDIATELY, check_failure_policy
from ..trace import Trace, gc_paused
from . import compiled
from .arguments import crash_events, environments, named_after, pool_names
from .call_tree import SimulatedCallTree
from .run_scope import RunScope, scoped_environments
from .cold_starts import check_cold_start, per_environment
from .compiled import check_engine, use_twin
from .contention import CoreSharing, check_cpu_bound, cores_of, env_cores
from .workloads import Job, check_workload

__all__ = ["simulate", "EventLoop", "run_plain"]

# the same-instant order of the event kinds (the second item of every heap entry); CORES (the
# end of a CPU part, with cpu_bound > 0) comes after attempts ending and before crashes
READY, WORK, CRASH, ARRIVE, WAKE = range(5)
CORES = 1.5
_PROGRESS_AUTO = 100_000
_arrival = itemgetter(Job._fields.index("at"))  # job.at, as a sort key


def simulate(policy: Any, workload: Sequence[Job], cold_start: float = 10.0,
             resources: Any = None, name: Optional[str] = None, progress: Optional[bool] = None,
             crashes: Iterable = (), failure_policy: Any = FAIL_IMMEDIATELY, cpu_bound: float = 0.0,
             scaledown: str = PACED, engine: str = "auto") -> Trace:
    """Run ``workload`` (a list of :class:`~reuse_ref.sim.workloads.Job`) through the pools of
    one or several environments on a virtual clock and return its :class:`~reuse_ref.trace.trace.Trace`.

    * ``policy``: a :class:`~reuse_ref.config.policy.ReusePolicy` (one environment, called
      ``name``), or a mapping of environment name to policy; a job's ``env`` names its
      environment (a child without one runs in its parent's). In a mapping, ``None`` (or
      ``"off"``) is an environment without reuse: each attempt starts a fresh replica,
      which stops (reason ``off``) when the attempt ends, as ``reusable="off"`` does on the
      runtime.
    * ``cold_start``: seconds from a replica's start to its first task (image pull, boot),
      or a :class:`~reuse_ref.sim.cold_starts.ColdStart` (observed samples, or a lognormal
      from a median and a p95) from which each replica start draws its own, seeded; or, with
      several environments, a mapping of environment name to either, one for every
      environment (each draws its own, in the order its replicas start).
    * ``resources``: what one replica holds (a ``Resources`` or a mapping of its fields),
      for the footprint measures; with several environments, a mapping of environment
      name to that.
    * ``name``: the environment's name in the trace, when ``policy`` is a single policy; by
      default the one environment the jobs name (a recorded run's, say), or ``"env"``.
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
    * ``scaledown``: the reading of rule 3, which the public sources leave open: ``"paced"``
      (the default: at most one replica stops per ``scaledown_ttl`` period, the highest id
      first) or ``"per_replica"`` (each replica above ``min`` stops once it has been idle for
      ``scaledown_ttl``, several at once if they went idle together).
    * ``engine``: ``"python"``, the plain loop over the core's pools, which is the
      definition; ``"compiled"``, its compiled twin (numba, ``pip install 'reuse-ref[fast]'``),
      which covers one pool of independent jobs without timeouts, crashes or ``cpu_bound``
      and refuses anything else; ``"auto"`` (the default), the twin where it covers the
      simulation of a large workload and numba is installed, the loop otherwise
      (:mod:`reuse_ref.sim.compiled`). Every engine writes the same records.

    A job's ``timeout`` bounds each of its attempts, as the core decides for the runtime
    too: an async attempt over it is cancelled, a sync one (``sync=True``) costs its
    replica (stopped, reason ``timeout``, and replaced by rule 2); either fails with
    ``timeout`` and is retried while it has retries left. A retried parent calls its
    children again, as new tasks (:mod:`reuse_ref.sim.call_tree`), as the runtime's does.

    Every top-level job is a run, with every job it calls: an environment whose policy
    has ``scope="run"`` gets a pool per run, closed when the run's top-level job ends,
    named ``env``, ``env#2``... while several are alive (:mod:`reuse_ref.sim.run_scope`);
    the trace holds each of those names.

    The run continues after the last job until the pools' timers have nothing left to do,
    so the trace includes the idle tail that ``scaledown_ttl`` and ``idle_ttl`` cost. The
    same arguments always give the same records. A workload whose times, queued one after
    another, add up past the largest float is a ``ValueError``: its trace would hold
    times that are not numbers.

    >>> from reuse_ref import ReusePolicy
    >>> from reuse_ref.sim.workloads import burst
    >>> trace = simulate(ReusePolicy(replicas=(1, 3), idle_ttl=60, scaledown_ttl=30), burst(6, duration=20))
    >>> m = trace.measures()
    >>> m.cold_starts, m.warm_starts, m.makespan
    (3, 3, 50.0)
    """
    envs = environments(policy, resources, name)
    progress = optional_flag("progress", progress, f"a bar past {_PROGRESS_AUTO:,} jobs")
    scaledown = check_scaledown(scaledown)
    engine = check_engine(engine)
    failure_policy = check_failure_policy(failure_policy)
    cpu_bound = check_cpu_bound(cpu_bound)
    checked = check_workload(workload)
    if name is None:
        envs = named_after(envs, checked)
    cold_start = per_environment(cold_start, list(envs))  # one environment's mapping: its own value
    per_env_cold = cold_start if isinstance(cold_start, dict) else None  # {env: (seconds, draw or None)}
    cold, draw_cold = (0.0, None) if per_env_cold else check_cold_start(cold_start)  # None: the same every time
    scoped = scoped_environments(envs)  # scope="run": a pool per run, made when the run first calls it
    jobs, related = checked.jobs, checked.has_parents or bool(scoped)
    pools = Pools(failure_policy)
    for env_name, (env_policy, _) in envs.items():
        if env_name not in scoped:
            pools.add(new_pool(env_policy, env_name, scaledown=scaledown))
    pool_of = pool_names(checked, envs, every_job=bool(scoped))  # None: every job in the one pool
    crash_list = crash_events(crashes, envs)
    draw = (lambda: cold) if draw_cold is None else draw_cold
    draws = None  # each environment's own draws, in the order its replicas start: {env: draw}
    if per_env_cold:
        draws = {env: (lambda c=c: c) if d is None else d for env, (c, d) in per_env_cold.items()}
    label = ", ".join(envs)
    bar = None
    if progress or (progress is None and len(jobs) > _PROGRESS_AUTO):
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), unit="job", desc=f"simulate {label}", mininterval=0.5)
    pool = next(iter(pools.pools.values()), None)
    reuses = next(iter(envs.values()))[0] is not None  # a pool under a policy (not tasks without reuse)
    plain = (pool_of is None and not related and not crash_list and cpu_bound == 0 and reuses
             and not checked.has_timeouts)
    records = twin = None
    if use_twin(engine, plain, len(jobs)):  # the compiled twin of run_plain; None: a time is not finite
        arrivals = compiled.Arrivals(jobs)
        twin = compiled.run(arrivals, pool.policy, compiled.ColdDraws(cold_start), scaledown)
    # The run allocates millions of small tuples (records, events) and no reference
    # cycles, so the cyclic garbage collector would only slow it down (by about a quarter).
    with gc_paused(long_lived=True):
        try:
            if twin is not None:
                records, done = compiled.rows(twin, arrivals.ids, pool.name), twin.ended
                if bar is not None:
                    bar.update(done)
            elif plain:
                done = run_plain(pool, jobs, cold if draw_cold is None else None, draw, bar)
            else:
                cores = cores_of(envs, pools) if cpu_bound > 0 else None
                new_pool_cores = None if cores is None else (lambda p, env: cores.__setitem__(p, env_cores(envs, env)))
                scope = RunScope(pools, scoped, pool_of, checked.by_id, scaledown, new_pool_cores) if scoped else None
                done = EventLoop(pools, jobs, checked.by_id, related, pool_of, draw, crash_list, cores, cpu_bound,
                                 bar, scope, draws).run()
        finally:
            if bar is not None:
                bar.close()
    if done != len(jobs):  # a broken invariant, not bad input
        raise RuntimeError(f"simulation of {label!r} ended with {len(jobs) - done} job(s) that never ended")
    records = pools.records if records is None else records
    if records and not math.isfinite(records[-1][0]):  # records come in time order
        raise ValueError(f"workload is not valid: each time is finite, but queued one after another its jobs' "
                         f"at and duration and the cold start add up past the largest float "
                         f"({sys.float_info.max:g} s), so the simulated times are not numbers; give smaller times")
    names = {n: n for n in envs}
    if scoped and not plain:  # every pool a run made, as the runtime's trace names them
        names.update(scope.names)
    return Trace(records, {n: envs[e][0] for n, e in names.items()}, {n: envs[e][1] for n, e in names.items()})


def run_plain(pool: Pool, jobs: List[Job], cold: Optional[float], draw: Callable[[], float], bar: Any) -> int:
    """The event loop of one pool of independent jobs with neither timeout nor crash; returns
    the jobs ended. Its only events are arrivals, attempts ending, replicas ready and the
    pool's timers, written out here with the pool's methods bound once: the cost of a
    million-job simulation is in this loop. ``cold``: the cold start, when it is the same
    every time (``draw()`` gives each replica's otherwise)."""
    heap: list = []
    seq = 0  # orders heap events of one kind at one instant: first scheduled, first taken
    wakes: List[float] = []  # pending wake-up times, each smaller than the one before
    next_wake = math.inf
    ended = shown = 0
    queued: Dict[Any, float] = {}  # the durations of the jobs that wait for a slot
    start_if_free, submit, finish, ready, advance = (pool.start_if_free, pool.submit, pool.finish,
                                                     pool.replica_ready, pool.advance)

    def carry(actions: list, now: float) -> None:
        nonlocal seq, ended
        for a in actions:
            kind = type(a)
            if kind is Dispatch:
                heappush(heap, (now + queued.pop(a.task), WORK, seq, a.task))
                seq += 1
            elif kind is StartReplica:
                heappush(heap, (now + (cold if cold is not None else draw()), READY, seq, a.replica))
                seq += 1
            elif kind is FailTask:
                ended += 1
            # StopReplica: the replica is gone; there is nothing to carry out

    top = jobs
    top.sort(key=_arrival)  # in place (simulate's own list); stable: jobs arriving together keep their order
    n_top = len(top)
    i = 0
    inf = math.inf
    next_at = top[0][1] if top else inf  # a job's at
    while True:
        due = pool.wakeup_at
        if due is not None and due < next_wake:
            heappush(heap, (due, WAKE, seq, None))
            seq += 1
            wakes.append(due)
            next_wake = due
        if heap:
            head = heap[0]
            t = head[0]
            first = next_at < t or (next_at == t and head[1] >= ARRIVE)
        elif i < n_top:
            first = True
        else:
            break
        if first:  # the next arrival
            task, now, duration, _, _, retries, _, _, _ = top[i]  # a Job
            i += 1
            next_at = top[i][1] if i < n_top else inf  # the next one's at
            if start_if_free(now, task, retries) is not None:
                # the usual case: the job started at once (attempt 1); its work ends after duration
                heappush(heap, (now + duration, WORK, seq, task))
                seq += 1
            else:
                queued[task] = duration
                carry(submit(now, task, retries), now)
            continue
        now, kind, _, x = heappop(heap)
        if kind == WORK:  # an attempt ends: its job is done (nothing fails in such a workload)
            actions = finish(now, x)
            if actions:
                carry(actions, now)
            ended += 1
            if bar is not None and ended - shown >= 4096:
                bar.update(ended - shown)
                shown = ended
        elif kind == READY:
            carry(ready(now, x), now)
        else:  # WAKE
            wakes.pop()
            next_wake = wakes[-1] if wakes else inf
            due = pool.wakeup_at
            if due is not None and due <= now:
                carry(advance(now), now)
                _check_woken(pool, now)
    if bar is not None:
        bar.update(ended - shown)
    return ended


class EventLoop:
    """One simulation of any workload: :meth:`step` takes the earliest event and fires it.

    The loop keeps the time, the heap and the top-level arrivals; the pools
    (:class:`~reuse_ref.core.pools.Pools`) decide, the call tree
    (:class:`~reuse_ref.sim.call_tree.SimulatedCallTree`, for a workload of parents and
    children) plays the parents' code, and :class:`~reuse_ref.sim.contention.CoreSharing`
    (under ``cpu_bound``) says when a CPU part ends."""

    def __init__(self, pools: Pools, jobs: List[Job], by_id: Dict[Any, Job], related: bool,
                 pool_of: Optional[Dict[Any, str]], draw: Callable[[], float], crashes: list,
                 cores: Optional[dict], cpu_bound: float, bar: Any, scope: Any = None,
                 draws: Optional[Dict[str, Callable[[], float]]] = None) -> None:
        self.pools = pools
        self.by_id = by_id
        self.pool_of = pool_of
        self.scope = scope  # a RunScope, when some environment is run-scoped
        self.only = next(iter(pools.pools), None)  # the pool's name, when there is one
        self.draw = draw
        self.draws = draws  # per environment (a run's pool "env#2" draws as env), or None: draw() for all
        self.bar = bar
        self.shown = 0
        self.heap: list = []
        self.seq = 0  # orders heap events of one kind at one instant: first scheduled, first taken
        self.wakes: List[float] = []  # pending wake-up times, each smaller than the one before
        self.next_wake = math.inf
        self.ended = 0  # jobs ended, when no job calls another (the call tree counts them otherwise)
        self.calls = SimulatedCallTree(jobs, by_id, pools, pool_of, self.carry, scope) if related else None
        self.cores = CoreSharing(cpu_bound, cores, self._push_cores) if cpu_bound > 0 else None
        for t, rid, reason, env in crashes:
            self.push(t, CRASH, rid, (reason, env))
        self.arrivals = [job for job in jobs if job.parent is None] if related else list(jobs)
        self.arrivals.sort(key=_arrival)  # stable: jobs arriving together keep their workload order
        self.next_arrival = 0
        self.fire = {READY: self.replica_ready, WORK: self.work_ended, CRASH: self.crash,
                     ARRIVE: self.children_called, WAKE: self.wake, CORES: self.cpu_part_ended}

    def push(self, t: float, kind: float, x: Any, y: Any) -> None:
        heappush(self.heap, (t, kind, self.seq, x, y))
        self.seq += 1

    def run(self) -> int:
        """Fire events until none is left; returns the jobs ended (called or not)."""
        while self.step():
            pass
        calls = self.calls
        done = self.ended if calls is None else calls.done + calls.skipped - calls.recalled
        if self.bar is not None:
            self.bar.update(done - self.shown)
        return done

    def step(self) -> bool:
        """Schedule the pools' next wake-up, then take the earliest event (an arrival first at
        a tie with a later kind) and fire it; ``False`` when nothing is left."""
        due = self._earliest_wakeup()
        if due is not None and due < self.next_wake:
            self.push(due, WAKE, None, None)
            self.wakes.append(due)
            self.next_wake = due
        if self.bar is not None:
            done = self.ended if self.calls is None else self.calls.done
            if done - self.shown >= 4096:
                self.bar.update(done - self.shown)
                self.shown = done
        heap, arrivals, k = self.heap, self.arrivals, self.next_arrival
        if k < len(arrivals) and (not heap or arrivals[k].at < heap[0][0]
                                  or (arrivals[k].at == heap[0][0] and heap[0][1] >= ARRIVE)):
            self.next_arrival = k + 1
            self.arrive(arrivals[k])
            return True
        if not heap:
            return False
        now, kind, _, x, y = heappop(heap)
        self.fire[kind](now, x, y)
        return True

    # ------------------------------------------------------------------ events
    def arrive(self, job: Job) -> None:
        """A top-level job arrives in its pool."""
        now = job.at
        if self.scope is not None:
            self.scope.route(job.id)
        self.carry(self.pools.submit(now, self._node(job.id), job.retries, job.timeout, job.sync), now)
        if self.calls is not None:
            self.calls.settle(now)

    def work_ended(self, now: float, task: Any, attempt: int) -> None:
        """An attempt's work is over, unless the attempt was lost meanwhile (a crash, a failed
        child, its timeout): then the event is stale."""
        name = self._node(task)[0]
        p = self.pools.pools.get(name)
        if p is None or p.running.get(task) is None or p.attempts[task] != attempt:
            return  # (its pool closed: a run-scoped pool whose run ended, or the start-failure limit)
        if self.calls is not None:
            self.calls.work_done(task, now)
            self.calls.settle(now)
        else:
            self.carry(self.pools.finish(now, (name, task)), now)
            self.ended += 1

    def replica_ready(self, now: float, replica: int, name: str) -> None:
        self.carry(self.pools.replica_ready(now, name, replica), now)
        if self.calls is not None:
            self.calls.settle(now)

    def children_called(self, now: float, call: tuple, _: Any) -> None:
        self.calls.arrive(call, now)
        self.calls.settle(now)

    def wake(self, now: float, *_: Any) -> None:
        """The pools' timers: each pool due now is advanced."""
        self.wakes.pop()
        self.next_wake = self.wakes[-1] if self.wakes else math.inf
        for name, p in list(self.pools.pools.items()):
            due = p.wakeup_at
            if due is not None and due <= now:
                self.carry(self.pools.advance(now, name), now)
                _check_woken(p, now)
            # otherwise something happened meanwhile and the pool's timers moved
        if self.calls is not None:
            self.calls.settle(now)

    def cpu_part_ended(self, now: float, key: tuple, version: int) -> None:
        self.cores.due(now, key, version, self._end_work)

    def crash(self, now: float, replica: int, how: tuple) -> None:
        reason, name = how
        if name not in self.pools.pools:
            return  # no pool of that name now: the replica is not alive
        if self.calls is not None:
            self.calls.crash(name, replica, reason, now)
            self.calls.settle(now)
        else:
            self.carry(self.pools.replica_crashed(now, name, replica, reason), now)

    # ------------------------------------------------------------------ the pools' actions
    def carry(self, decisions: Decisions, now: float) -> None:
        """Carry out what the pools decided, in order (see the module docstring)."""
        calls, cores, by_id = self.calls, self.cores, self.by_id
        for name, actions in decisions:
            for a in actions:
                kind = type(a)
                if kind is Dispatch:
                    task = a.task
                    if cores is None:
                        self.push(now + by_id[task].duration, WORK, task, a.attempt)
                    else:
                        cores.start(now, self.pools.pools[name], a.replica, task, a.attempt, by_id[task].duration)
                    if calls is not None:
                        for at, call in calls.dispatched(task, a.attempt):
                            self.push(now + at, ARRIVE, call, None)
                elif kind is StartReplica:
                    cold = self.draw() if self.draws is None else self.draws[name.partition("#")[0]]()
                    self.push(now + cold, READY, a.replica, name)
                elif kind is FailTask:
                    if cores is not None:
                        cores.stopped(now, a.task)
                    if calls is not None:
                        calls.ended(a.task, now, a.reason, a.message)
                    else:
                        self.ended += 1
                elif kind is Interrupt:  # over its timeout: in virtual time its work stops at once
                    if calls is not None:
                        calls.interrupted(a.task)
                    self.carry(self.pools.finish(now, (name, a.task)), now)
                # StopReplica, CancelAttempt: the pool has let it go; there is nothing to carry out

    # ------------------------------------------------------------------ helpers
    def _node(self, task: Any) -> tuple:
        return (self.only if self.pool_of is None else self.pool_of[task], task)

    def _earliest_wakeup(self) -> Optional[float]:
        times = [p.wakeup_at for p in self.pools.pools.values() if p.wakeup_at is not None]
        return min(times) if times else None

    def _push_cores(self, t: float, key: tuple, version: int) -> None:
        self.push(t, CORES, key, version)

    def _end_work(self, t: float, task: Any, attempt: int) -> None:
        self.push(t, WORK, task, attempt)


def _check_woken(pool: Any, now: float) -> None:
    due = pool.wakeup_at
    if due is not None and due <= now:
        raise RuntimeError(f"pool {pool.name!r} asked to be woken at {due!r} but did nothing at {now!r}")
