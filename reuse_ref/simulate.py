"""The virtual-clock driver: run a workload through a :class:`~reuse_ref.pool.Pool`.

The clock is a heap of ``(time, kind, seq, ...)`` events, as in SimPy. The driver only
moves time forward and carries out the pool's actions; every decision is the pool's:

* ``StartReplica`` -> the replica is ready ``cold_start`` seconds later;
* ``Dispatch`` -> the attempt's work ends ``duration`` seconds later;
* ``StopReplica`` -> nothing to do (the pool has already forgotten it);
* ``FailTask`` -> the job has ended, failed;
* and when nothing else happens first, the pool is woken at ``pool.wakeup_at`` with
  ``advance`` so that its timers (scale-down, idle TTL) fire.

A job with no parent or children arrives with ``pool.start_if_free``, which answers in
the usual case (a free slot, nothing queued) with the replica the job started on, and
otherwise with ``None``; then ``pool.submit`` takes the job. Both are the same event.

Events at the same instant are taken in a fixed order, so a trace is exactly
reproducible: replicas becoming ready, then attempts ending, then crashes, then arrivals
(workload order first, then children in the order they were called), then the pool's
timers. Ending work before admitting arrivals lets an arrival take a slot that frees at
the same instant instead of starting a replica for nothing; admitting arrivals before the
timers means a task that arrives exactly when a TTL runs out still finds its replica.

Parents and children (a task that calls tasks of the same environment): a child's
``at`` counts from the moment its parent *starts* its first attempt, and the child is
submitted then (``parent_start + at``). The parent works for its own ``duration``; if
some children have not ended by then, it waits for them holding its slot
(``pool.task_waiting``), and when the last one ends it resumes and finishes at that same
instant. If a child fails (starvation, a crash with no retries left), the parent fails at
that moment with the same reason. A parent with retries left is tried again, but its
children are not called again: each later attempt does its own work and then fails the
same way, so a parent is done only if all its children are. A child whose parent failed
before calling it is never called and is absent from the trace, like the call it stands
for.
"""
from __future__ import annotations

import math
from heapq import heappop, heappush
from operator import itemgetter
from typing import Any, Dict, Iterable, List, Optional, Sequence

from .policy import ReusePolicy
from .pool import Dispatch, FailTask, Pool, StartReplica
from .resources import Resources
from .trace import Trace, gc_paused
from .workloads import Job, _checked

__all__ = ["simulate", "Job"]

# same-instant order of the event kinds (the second item of every heap entry)
_READY, _WORK, _CRASH, _ARRIVE, _WAKE = range(5)
_PROGRESS_AUTO = 100_000


def _seconds(param: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{param}={value!r} is not valid: a finite number of seconds >= 0")
    return float(value)


def _resources(value: Any) -> Optional[Resources]:
    if value is None or isinstance(value, Resources):
        return value
    if isinstance(value, dict):
        return Resources(**value)
    raise ValueError(f"resources={value!r} is not valid: a Resources, a mapping of cpu, memory, gpu and disk, or None")


def _crashes(crashes: Iterable) -> List[tuple]:
    out = []
    for c in crashes:
        if not isinstance(c, (tuple, list)) or len(c) not in (2, 3):
            raise ValueError(f"crashes item {c!r} is not valid: (time, replica) or (time, replica, reason)")
        t = _seconds("crash time", c[0])
        rid = c[1]
        if isinstance(rid, bool) or not isinstance(rid, int):
            raise ValueError(f"crashes item {c!r} is not valid: the replica must be an int id")
        reason = c[2] if len(c) == 3 else "crashed"
        if reason not in ("crashed", "oom"):
            raise ValueError(f"crashes item {c!r} is not valid: the reason is 'crashed' or 'oom'")
        out.append((t, rid, reason))
    return out


def simulate(policy: ReusePolicy, workload: Sequence[Job], cold_start: float = 10.0,
             resources: Any = None, name: str = "env", progress: Optional[bool] = None,
             crashes: Iterable = ()) -> Trace:
    """Run ``workload`` (a list of :class:`~reuse_ref.workloads.Job`) through one pool under
    ``policy`` on a virtual clock and return its :class:`~reuse_ref.trace.Trace`.

    * ``cold_start``: seconds from a replica's start to its first task (image pull, boot).
    * ``resources``: what one replica holds (a ``Resources`` or a mapping), for the
      footprint measures.
    * ``name``: the environment's name in the trace.
    * ``progress``: show a tqdm bar of jobs ended; ``None`` shows one when the workload
      has more than 100,000 jobs.
    * ``crashes``: optional ``(time, replica)`` or ``(time, replica, "oom")`` pairs: that
      replica dies at that time if it is alive (rule 5).

    The run continues after the last job until the pool's timers have nothing left to do,
    so the trace includes the idle tail that ``scaledown_ttl`` and ``idle_ttl`` cost. The
    same arguments always give the same records.

    >>> from reuse_ref import ReusePolicy
    >>> from reuse_ref.workloads import burst
    >>> trace = simulate(ReusePolicy(replicas=(1, 3), idle_ttl=60, scaledown_ttl=30), burst(6, duration=20))
    >>> m = trace.measures()
    >>> m.cold_starts, m.warm_starts, m.makespan
    (3, 3, 50.0)
    """
    if not isinstance(policy, ReusePolicy):
        raise ValueError(f"policy={policy!r} is not valid: a reuse_ref.ReusePolicy")
    cold_start = _seconds("cold_start", cold_start)
    resources = _resources(resources)
    jobs, by_id, related = _checked(workload)
    crash_events = _crashes(crashes)

    pool = Pool(policy, name)
    running = pool.running      # task -> replica, owned by the pool; read to spot stale events
    attempts = pool.attempts    # task -> attempts started so far

    children: Dict[Any, List[Job]] = {}
    if related:
        top = []
        for job in jobs:
            if job.parent is None:
                top.append(job)
            else:
                children.setdefault(job.parent, []).append(job)
    else:
        top = jobs
    top.sort(key=_arrival)  # stable: jobs arriving together keep their workload order

    # parent bookkeeping (empty when the workload has no children)
    open_kids = {pid: len(kids) for pid, kids in children.items()}  # children not ended yet
    called = set()       # parents whose children have been scheduled
    waiting = set()      # parents whose own work is done, waiting for children
    gone = set()         # parents that have ended
    kid_error = {}       # parent -> (reason, message) of its first child that failed

    heap: list = []
    seq = 0              # orders heap events of one kind at one instant: first scheduled, first taken
    for t, rid, reason in crash_events:
        heappush(heap, (t, _CRASH, seq, rid, reason))
        seq += 1
    wakes: List[float] = []  # pending wake-up times, each smaller than the one before
    next_wake = math.inf
    ended = 0
    skipped = 0

    def carry(actions: list, now: float) -> None:
        nonlocal seq, ended
        for a in actions:
            kind = type(a)
            if kind is Dispatch:
                task = a.task
                heappush(heap, (now + by_id[task].duration, _WORK, seq, task, a.attempt))
                seq += 1
                if related and task in children and task not in called:
                    called.add(task)
                    for kid in children[task]:
                        heappush(heap, (now + kid.at, _ARRIVE, seq, kid, None))
                        seq += 1
            elif kind is StartReplica:
                heappush(heap, (now + cold_start, _READY, seq, a.replica, None))
                seq += 1
            elif kind is FailTask:
                if related:
                    job_ended(a.task, now, a.reason, a.message)
                else:
                    ended += 1
            # StopReplica: the replica is gone; there is nothing to carry out

    def job_ended(task: Any, now: float, error: Optional[str] = None, message: str = "") -> None:
        """A job ended (``error`` None: done); tell its parent, if it waits for it."""
        nonlocal ended, skipped
        ended += 1
        if task in open_kids:
            gone.add(task)
            waiting.discard(task)
            if error is not None and task not in called:  # failed before calling its children
                skipped += _descendants(task, children)
        pid = by_id[task].parent
        if pid is None or pid in gone:
            return
        open_kids[pid] -= 1
        if error is None:
            if open_kids[pid] == 0 and pid in waiting:
                waiting.discard(pid)
                carry(pool.task_resumed(now, pid), now)
                carry(pool.finish(now, pid), now)
                job_ended(pid, now)
        else:
            kid_error.setdefault(pid, (error, message))
            if pid in running:
                waiting.discard(pid)
                carry(pool.finish(now, pid, error=error, message=message), now)

    bar = None
    if progress or (progress is None and len(jobs) > _PROGRESS_AUTO):
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), unit="job", desc=f"simulate {name}", mininterval=0.5)
    shown = 0

    # Top-level arrivals are read in order from ``top`` and merged with the heap, which
    # holds only what is in flight. At the same instant they come after ready, work and
    # crash events, and before children called meanwhile and the pool's timers.
    n_top = len(top)
    i = 0
    inf = math.inf
    next_at = top[0].at if top else inf
    WORK, ARRIVE = _WORK, _ARRIVE
    # only crashes and failed children end attempts early; without them every attempt runs its course
    may_be_stale = related or bool(crash_events)
    submit = pool.submit
    start_if_free = pool.start_if_free
    finish = pool.finish
    # The run allocates millions of small tuples (records, events) and no reference
    # cycles, so the cyclic garbage collector would only slow it down (by about a quarter).
    with gc_paused(long_lived=True):
        try:
            while True:
                due = pool._wakeup  # pool.wakeup_at, read without the property call
                if due is not None and due < next_wake:
                    heappush(heap, (due, _WAKE, seq, None, None))
                    seq += 1
                    wakes.append(due)
                    next_wake = due
                if bar is not None and ended - shown >= 4096:
                    bar.update(ended - shown)
                    shown = ended
                if heap:
                    head = heap[0]
                    first = next_at < head[0] or (next_at == head[0] and head[1] >= ARRIVE)
                elif i < n_top:
                    first = True
                else:
                    break
                if first:
                    task, now, duration, _, _, retries = top[i]  # a Job
                    i += 1
                    next_at = top[i].at if i < n_top else inf
                    if not related and start_if_free(now, task, retries) is not None:
                        # the usual case: the job started at once (attempt 1); its work ends after duration
                        heappush(heap, (now + duration, WORK, seq, task, 1))
                        seq += 1
                    else:
                        actions = submit(now, task, retries)
                        if actions:
                            carry(actions, now)
                    continue
                now, kind, _, x, y = heappop(heap)
                if kind == WORK and not may_be_stale:  # the usual event: an attempt ends, its job is done
                    actions = finish(now, x)
                    if actions:
                        carry(actions, now)
                    ended += 1
                elif kind == WORK:
                    # x: task, y: attempt; an attempt lost to a crash or a failed child is stale
                    if running.get(x) is None or attempts[x] != y:
                        continue
                    if related and x in open_kids:
                        if x in kid_error:  # a child failed: so does every attempt of the parent
                            error, message = kid_error[x]
                            carry(pool.finish(now, x, error=error, message=message), now)
                        elif open_kids[x] > 0:
                            waiting.add(x)
                            carry(pool.task_waiting(now, x), now)
                        else:
                            carry(pool.finish(now, x), now)
                            job_ended(x, now)
                    else:
                        actions = finish(now, x)
                        if actions:
                            carry(actions, now)
                        if related:
                            job_ended(x, now)
                        else:
                            ended += 1
                elif kind == _READY:
                    carry(pool.replica_ready(now, x), now)
                elif kind == _ARRIVE:
                    if x.parent in gone:  # the parent failed before it called this child
                        skipped += 1 + _descendants(x.id, children)
                    else:
                        carry(pool.submit(now, x.id, x.retries), now)
                elif kind == _WAKE:
                    wakes.pop()
                    next_wake = wakes[-1] if wakes else math.inf
                    due = pool.wakeup_at
                    if due is not None and due <= now:
                        carry(pool.advance(now), now)
                        due = pool.wakeup_at
                        if due is not None and due <= now:
                            raise RuntimeError(f"pool {name!r} asked to be woken at {due!r} but did nothing at {now!r}")
                    # otherwise something happened meanwhile and the pool's timers moved
                else:  # _CRASH
                    carry(pool.replica_crashed(now, x, y), now)
                    if waiting:
                        waiting.intersection_update(running)
        finally:
            if bar is not None:
                bar.update(ended + skipped - shown)
                bar.close()

    if ended + skipped != len(jobs):  # a broken invariant, not bad input
        raise RuntimeError(f"simulation of {name!r} ended with {len(jobs) - ended - skipped} job(s) that never ended")
    return Trace(pool.records, {name: policy}, {name: resources})


_arrival = itemgetter(Job._fields.index("at"))  # job.at, as a sort key


def _descendants(task: Any, children: Dict[Any, List[Job]]) -> int:
    count = 0
    stack = list(children.get(task, ()))
    while stack:
        kid = stack.pop()
        count += 1
        stack.extend(children.get(kid.id, ()))
    return count
