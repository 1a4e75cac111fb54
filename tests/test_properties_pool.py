"""Properties of the pool on random policies and random workloads (hypothesis).

A small checker replays a trace's records with nothing but the rules of SPEC 4 in mind,
and fails on the first record that breaks one: more replicas than max, fewer than min
while the environment is alive, a replica holding more than ``concurrency`` tasks, a task
starting out of FIFO order or on a replica that is not ready, a slot left free while a
task waits, a replica stopped while busy, a scale-down that is not the highest-id replica
idle for ``scaledown_ttl``, an ``idle_ttl`` stop before the pool was empty that long, a
task ending twice or never. Rule 3 under each reading: *paced*, no two scale-downs closer
than ``scaledown_ttl``; *per replica*, no replica above ``min`` left idle past its
``scaledown_ttl``, not even for an instant, however many go at once.
"""
from __future__ import annotations

import copy
import math
import os
import warnings
from collections import deque

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reuse_ref import ReusePolicy, StarvationWarning
from reuse_ref.core.pools import Pools
from reuse_ref.core.actions import Dispatch, StartReplica
from reuse_ref.core.pool import PACED, PER_REPLICA, SCALEDOWN_READINGS, Pool
from reuse_ref.core.replica_set import READY
from reuse_ref.sim import simulate
from reuse_ref.trace import Trace
from reuse_ref.sim.workloads import Job

# HYPOTHESIS_EXAMPLES=20000 searches harder, by hand, before a release; CI keeps the default
SETTINGS = settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", 300)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------ the checker
class Replay:
    """Replays records of one environment and checks the rules as it goes."""

    def __init__(self, policy: ReusePolicy, scaledown: str = PACED):
        self.policy = policy
        self.per_replica = scaledown == PER_REPLICA
        self.lo, self.hi = policy.replicas
        self.c = policy.concurrency
        self.sd = policy.scaledown_ttl.total_seconds()
        self.idle = None if policy.idle_ttl is None else policy.idle_ttl.total_seconds()
        self.state = {}         # live replica -> "starting" | "ready"
        self.running = {}       # live replica -> set of tasks
        self.served = set()     # replicas that ran an attempt
        self.idle_since = {}    # ready replica running nothing -> since when
        self.interrupted = set()  # tasks of a crashed replica, owed a task_failed record
        self.queue = deque()
        self.ended = {}         # task -> how many final records
        self.queued_once = set()
        self.alive = False
        self.empty_since = 0.0  # when the pool last had nothing queued or running
        self.last_scaledown = -math.inf
        self.last_id = 0
        self.now = -math.inf

    def busy(self) -> bool:
        return bool(self.queue) or any(self.running.values())

    def overdue(self, t: float, strictly: bool):
        """Replicas idle for ``scaledown_ttl`` at ``t`` (``strictly``: for longer), which rule 3
        read per replica must have stopped while the pool is above min."""
        if len(self.state) <= self.lo:
            return []
        return sorted(rid for rid, since in self.idle_since.items()
                      if (since + self.sd < t if strictly else since + self.sd <= t))

    def check_instant(self) -> None:
        """What must hold once every record of an instant has been read."""
        assert not self.interrupted, f"crashed attempts never failed: {self.interrupted}"
        live = len(self.state)
        if self.per_replica:
            late = self.overdue(self.now, strictly=False)
            assert not late, f"replicas {late} idle for scaledown_ttl above min {self.lo} at {self.now}, not stopped"
        assert live <= self.hi
        if self.alive:
            assert live >= self.lo, f"{live} live replicas below min {self.lo} at {self.now}"
        if self.queue:
            # rule 1: no ready replica keeps a slot free while a task waits
            for rid, st_ in self.state.items():
                assert st_ != "ready" or len(self.running[rid]) >= self.c, (self.now, rid)
            # rule 2: enough replicas are starting for the queue, or the pool is at max
            starting = sum(st_ == "starting" for st_ in self.state.values())
            assert len(self.queue) <= starting * self.c or live == self.hi, (self.now, len(self.queue), starting)

    def feed(self, r) -> None:
        if r.time != self.now:
            if self.now != -math.inf:
                self.check_instant()
            assert r.time > self.now, "records must be in time order"
            if self.per_replica:  # nothing fell due between two instants (no record then)
                late = self.overdue(r.time, strictly=True)
                assert not late, f"replicas {late} fell due after {self.now} and before {r.time}, not stopped then"
            self.now = r.time
        getattr(self, r.kind)(r)

    def finish(self) -> None:
        if self.now != -math.inf:
            self.check_instant()
        assert all(n == 1 for n in self.ended.values())

    # one method per record kind
    def replica_start(self, r):
        assert r.replica > self.last_id, "replica ids increase and are never reused"
        self.last_id = r.replica
        self.state[r.replica] = "starting"
        self.running[r.replica] = set()
        self.alive = True
        assert len(self.state) <= self.hi, f"{len(self.state)} replicas above max {self.hi}"

    def replica_ready(self, r):
        assert self.state.get(r.replica) == "starting"
        self.state[r.replica] = "ready"
        self.idle_since[r.replica] = r.time

    def task_queued(self, r):
        if r.reason == "retry":
            self.queue.appendleft(r.task)
        else:
            assert r.task not in self.queued_once, "a task is queued once (retries aside)"
            self.queued_once.add(r.task)
            self.queue.append(r.task)

    def task_start(self, r):
        assert self.queue and self.queue[0] == r.task, f"{r.task} started out of FIFO order {list(self.queue)[:5]}"
        self.queue.popleft()
        assert self.state.get(r.replica) == "ready", "tasks start on ready replicas only"
        free = [rid for rid, st_ in self.state.items() if st_ == "ready" and len(self.running[rid]) < self.c]
        assert r.replica == min(free), f"{r.task} went to replica {r.replica}, not the lowest with a free slot {free}"
        self.running[r.replica].add(r.task)
        assert len(self.running[r.replica]) <= self.c, f"replica {r.replica} over concurrency"
        assert r.reason == ("warm" if r.replica in self.served else "cold")
        self.served.add(r.replica)
        self.idle_since.pop(r.replica, None)

    def _end_attempt(self, r):
        if r.task in self.interrupted:
            self.interrupted.discard(r.task)
            return True
        if r.replica is not None and r.task in self.running.get(r.replica, ()):
            self.running[r.replica].discard(r.task)
            if not self.running[r.replica]:
                self.idle_since[r.replica] = r.time
            if not self.busy():
                self.empty_since = r.time
            return True
        return False

    def task_end(self, r):
        assert self._end_attempt(r), f"{r.task} ended without running"
        self.ended[r.task] = self.ended.get(r.task, 0) + 1

    def task_failed(self, r):
        was_running = self._end_attempt(r)
        if r.reason.endswith("(retrying)"):
            assert was_running
            return
        if not was_running:  # starvation (or a closed pool) fails queued tasks
            assert r.task in self.queue
            self.queue.remove(r.task)
            if not self.busy():
                self.empty_since = r.time
        self.ended[r.task] = self.ended.get(r.task, 0) + 1

    def replica_stop(self, r):
        assert r.replica in self.state
        if r.reason in ("crashed", "oom"):
            self.interrupted |= self.running[r.replica]
        else:
            assert not self.running[r.replica], "only an idle replica is stopped by a TTL"
        if r.reason == "scaledown":
            assert len(self.state) > self.lo
            if not self.per_replica:
                assert r.time >= self.last_scaledown + self.sd, "one scale-down per scaledown_ttl"
            due = [rid for rid, since in self.idle_since.items() if r.time >= since + self.sd]
            assert due and r.replica == max(due), f"scaled down {r.replica}, expected the highest of {due}"
            self.last_scaledown = r.time
        if r.reason == "idle_ttl":
            assert self.idle is not None and not self.busy()
            assert r.time >= self.empty_since + self.idle
            self.alive = False
            self.last_scaledown = -math.inf
        del self.state[r.replica]
        del self.running[r.replica]
        self.idle_since.pop(r.replica, None)

    def starvation(self, r):
        assert self.queue and len(self.state) == self.hi
        assert all(len(tasks) == self.c for tasks in self.running.values())


def job_of(task):
    """The workload job a task plays: itself, or ``7`` for ``"7~2"``, the job's second call (by a retried parent)."""
    if isinstance(task, str) and "~" in task:
        return int(task.rsplit("~", 1)[0])
    return task


def replay(trace_or_records, policy, scaledown: str = PACED) -> Replay:
    checker = Replay(policy, scaledown)
    for r in trace_or_records:
        checker.feed(r)
    checker.finish()
    return checker


# ------------------------------------------------------------------------------ strategies
@st.composite
def policies(draw):
    lo = draw(st.integers(0, 3))
    hi = draw(st.integers(max(lo, 1), 6))
    idle = draw(st.one_of(st.none(), st.integers(30, 300)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarvationWarning)
        return ReusePolicy(replicas=(lo, hi), concurrency=draw(st.integers(1, 4)),
                           scaledown_ttl=draw(st.integers(30, 300)), idle_ttl=idle)


# whole and half seconds make many events share an instant, which is where order matters
times = st.one_of(st.integers(0, 900).map(float), st.integers(0, 1800).map(lambda x: x / 2),
                  st.floats(0, 900, allow_nan=False))
durations = st.one_of(st.integers(0, 120).map(float), st.floats(0, 120, allow_nan=False))


@st.composite
def workloads(draw, max_jobs=60):
    n = draw(st.integers(0, max_jobs))
    jobs = []
    for k in range(n):
        parent = None
        if k and draw(st.integers(0, 3)) == 0:  # about a quarter are children of an earlier job
            parent = draw(st.integers(0, k - 1))
        at = draw(times) / (10 if parent is not None else 1)
        jobs.append(Job(k, at, draw(durations), parent=parent, retries=draw(st.integers(0, 2))))
    return jobs


readings = st.sampled_from(SCALEDOWN_READINGS)
crashes = st.lists(st.tuples(times, st.integers(1, 10), st.sampled_from(["crashed", "oom"])), max_size=3)


# ------------------------------------------------------------------------------ properties
@SETTINGS
@given(policy=policies(), jobs=workloads(), crash=crashes, scaledown=readings)
# a parent cancelled by the very action that gave its child a slot: the child's own children
# were once counted twice (never called, and then skipped when the stale dispatch called them)
@example(policy=ReusePolicy(replicas=(0, 1), concurrency=2, scaledown_ttl=30, idle_ttl=None),
         jobs=[Job(id=0, at=0.0, duration=0.0), Job(id=2, at=0.0, duration=6.0, retries=1),
               Job(id=3, at=6.0, duration=0.0, parent=2), Job(id=4, at=0.0, duration=0.0, parent=2),
               Job(id=19, at=0.0, duration=0.0, parent=3), Job(id=30, at=0.0, duration=0.0, parent=0),
               Job(id=32, at=0.0, duration=0.0, parent=19)],
         crash=[], scaledown=PACED)
# five replicas idle together, min 1: per replica, four stop at one instant, the highest first
@example(policy=ReusePolicy(replicas=(1, 5), concurrency=1, scaledown_ttl=30, idle_ttl=None),
         jobs=[Job(k, 0.0, 10.0) for k in range(5)], crash=[], scaledown=PER_REPLICA)
def test_simulated_traces_keep_every_rule(policy, jobs, crash, scaledown):
    trace = simulate(policy, jobs, cold_start=10, crashes=crash, scaledown=scaledown)
    checker = replay(trace.records, policy, scaledown)
    # every job that was called ends exactly once: done, failed or starved
    called = checker.queued_once
    assert set(checker.ended) == called
    # a job is missing only if an ancestor failed, or was tried again, before calling it; a job
    # called again (task "id~n") is the call of a retried ancestor's later attempt
    by_id = {j.id: j for j in jobs}
    outcome = {}
    retried = set()
    for r in trace.records:
        if r.kind == "task_end":
            outcome[r.task] = "done"
        elif r.kind == "task_failed" and r.reason.endswith("(retrying)"):
            retried.add(job_of(r.task))
        elif r.kind == "task_failed":
            outcome[r.task] = r.reason

    def ancestors(job_id):
        p = by_id[job_id].parent
        while p is not None:
            yield p
            p = by_id[p].parent

    for job in jobs:
        if job.id not in called:
            assert any(outcome.get(a, "done") != "done" or a in retried for a in ancestors(job.id)), \
                f"job {job.id} never called"
    for task in called:
        if job_of(task) != task:
            assert any(a in retried for a in ancestors(job_of(task))), f"{task} called again, but nothing was retried"
    # a parent that is done, never tried again, saw all its children done, and ended no earlier
    end_time = {r.task: r.time for r in trace.records if r.kind == "task_end"}
    for job in jobs:
        if job.parent is not None and outcome.get(job.parent) == "done" and job.parent not in retried:
            assert outcome.get(job.id) == "done"
            assert end_time[job.parent] >= end_time[job.id]
    m = trace.measures()
    assert m.done + m.failed + m.starved == m.tasks == len(called)
    assert m.peak_replicas <= policy.max_replicas
    assert 0.0 <= m.utilisation <= 1.0 + 1e-9


@SETTINGS
@given(policy=policies(), jobs=workloads(), crash=crashes, scaledown=readings)
def test_same_input_same_trace(policy, jobs, crash, scaledown):
    assert (simulate(policy, jobs, crashes=crash, scaledown=scaledown).records
            == simulate(policy, list(jobs), crashes=crash, scaledown=scaledown).records)


@SETTINGS
@given(policy=policies(), jobs=workloads(), crash=crashes)
def test_the_readings_agree_when_one_replica_at_most_is_above_min(policy, jobs, crash):
    """With ``max - min <= 1`` rule 3 never has two replicas to choose from, and the pacing
    never binds: a replica above min goes idle only after the last scale-down's pool grew
    again, so after it. Both readings then write the same records, crashes and all."""
    lo = min(policy.min_replicas, policy.max_replicas - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarvationWarning)
        narrow = policy.model_copy(update={"replicas": (lo, lo + 1)})
    paced = simulate(narrow, jobs, cold_start=10, crashes=crash, scaledown=PACED).records
    assert simulate(narrow, jobs, cold_start=10, crashes=crash, scaledown=PER_REPLICA).records == paced


@SETTINGS
@given(policy=policies(), jobs=workloads(max_jobs=30))
def test_without_parents_nothing_fails_and_every_job_is_done(policy, jobs):
    jobs = [j._replace(parent=None) for j in jobs]
    trace = simulate(policy, jobs)
    m = trace.measures()
    assert (m.done, m.failed, m.starved) == (len(jobs), 0, 0)


# ------------------------------------------------------------------------------ the pool by hand
def brute_force_wakeup(pool: Pool):
    """``wakeup_at`` worked out from scratch, the slow way (what the pool caches)."""
    times = []
    idle = [r.idle_since for r in pool.replicas.values() if r.state == READY and not r.running]
    if pool.live > pool.min and idle:
        t = min(idle) + pool.scaledown_ttl
        if pool.scaledown == PACED and pool._last_scaledown is not None:
            t = max(t, pool._last_scaledown + pool.scaledown_ttl)
        times.append(t)
    if pool.alive and pool._empty_since is not None and pool.idle_ttl is not None:
        times.append(pool._empty_since + pool.idle_ttl)
    return min(times) if times else None


def check_bookkeeping(pool: Pool) -> None:
    """The incremental sets the pool keeps instead of scanning must equal a scan."""
    ready = [r for r in pool.replicas.values() if r.state == READY]
    open_ids = [r.id for r in sorted(ready, key=lambda r: r.id) if len(r.running) < pool.concurrency]
    assert open_view(pool) == open_ids
    assert not pool.replicas.open or pool.replicas.open[0] == open_ids[0], "the top of the heap has a free slot"
    assert len(pool.replicas.open) == len(open_ids) + pool.replicas.open_stale
    idle, ripe = idle_view(pool)
    assert set(idle) | set(ripe) == {r.id for r in ready if not r.running} and not set(idle) & set(ripe)
    since = [r.idle_since for r in pool.replicas.idle.values()]
    assert since == sorted(since), "replicas.idle is kept in order of idle_since"
    assert all(pool.replicas[rid].idle_since + pool.scaledown_ttl <= pool._last_scaledown for rid in ripe)
    assert pool.replicas.n_ripe == len(ripe)
    assert pool.replicas.starting == sum(r.state != READY for r in pool.replicas.values())
    assert pool.wakeup_at == brute_force_wakeup(pool)
    assert pool.free_slots == sum(pool.concurrency - len(r.running) for r in ready)
    assert pool.running == {t: r.id for r in pool.replicas.values() for t in r.running}


def open_view(pool: Pool):
    """The ids of ``replicas.open`` that are live, in id order (the heap also holds removed ones)."""
    return sorted(rid for rid in pool.replicas.open if rid in pool.replicas)


def idle_view(pool: Pool):
    """(``replicas.idle`` in its order, the ripe replicas in id order), whatever the heap holds."""
    ripe = {-rid for rid in pool.replicas.ripe if -rid in pool.replicas and -rid not in pool.replicas.idle
            and pool.replicas[-rid].idle_since is not None}
    return list(pool.replicas.idle), sorted(ripe)


def pool_state(pool: Pool):
    """Everything a pool knows, as comparable values."""
    replicas = [(r.id, r.state, list(r.running), r.idle_since, r.served) for r in pool.replicas.values()]
    return (pool.now, pool.alive, replicas, list(pool.queue), dict(pool.running),
            dict(pool.attempts), dict(pool.retries), list(pool.records), pool._next_id, pool.replicas.starting,
            open_view(pool), idle_view(pool), pool.replicas.n_ripe, pool._empty_since,
            pool._last_scaledown, pool.wakeup_at)


events = st.lists(st.tuples(st.sampled_from(["submit", "ready", "finish", "fail", "crash", "wait", "resume",
                                             "cancel", "advance", "wake"]),
                            st.integers(0, 40), st.integers(0, 50)), max_size=80)


@SETTINGS
@given(policy=policies(), script=events, scaledown=readings)
def test_pool_driven_by_random_events_keeps_its_bookkeeping_and_rules(policy, script, scaledown):
    """Any sequence of legal events (the driver's choices made at random) keeps the pool's
    incremental bookkeeping equal to a scan and its records within the rules."""
    pool = Pool(policy, name="random", scaledown=scaledown)
    pools = Pools()
    pools.add(pool)
    now = 0.0
    next_task = 0
    starting = []
    for op, dt, pick in script:
        now += dt
        if op == "wake":
            if pool.wakeup_at is None:
                continue
            now = max(now - dt, pool.wakeup_at)
        actions = []
        if op == "submit":
            # start_if_free is submit's usual case: on a copy, it does what submit does and
            # answers with the replica of the Dispatch, or does nothing at all
            twin = copy.deepcopy(pool)
            before = pool_state(twin)
            rid = twin.start_if_free(now, next_task, retries=pick % 3)
            actions = pool.submit(now, next_task, retries=pick % 3)
            if rid is None:
                assert pool_state(twin) == before
            else:
                warm = pool.replicas[rid].served > 1
                assert actions == [Dispatch(next_task, rid, 1, warm)] and pool_state(twin) == pool_state(pool)
            next_task += 1
        elif op == "ready" and starting:
            actions = pool.replica_ready(now, starting.pop(pick % len(starting)))
        elif op in ("finish", "fail", "wait", "resume", "cancel") and pool.running:
            task = sorted(pool.running)[pick % len(pool.running)]
            if op in ("finish", "fail"):
                list(pools.ended(now, ("random", task))) if op == "finish" else pools.resumed(now, ("random", task))
                actions = pool.finish(now, task, error=None if op == "finish" else "error")
            elif op == "wait":  # it blocks on a queued task, or on another running one
                others = list(pool.queue) + [t for t in pool.running if t != task]
                on = [("random", others[pick % len(others)])] if others else []
                actions = [a for _, acts in pools.waiting(now, ("random", task), on) for a in acts]
            elif op == "resume":
                actions = pools.resumed(now, ("random", task))
            else:
                list(pools.ended(now, ("random", task)))
                actions = pool.cancel(now, task)
        elif op == "crash" and pool.replicas:
            rid = sorted(pool.replicas)[pick % len(pool.replicas)]
            actions = pool.replica_crashed(now, rid)
        else:
            actions = pool.advance(now)
        starting += [a.replica for a in actions if isinstance(a, StartReplica)]
        check_bookkeeping(pool)
        if pool.wakeup_at is not None:
            assert pool.wakeup_at > now, "the pool never asks to be woken in the past"
    replay(Trace(pool.records).records, policy, scaledown)
