"""Task timeouts, decided in the core (``reuse_ref.core``) and so the same in both drivers.

An attempt over its ``timeout``: an async one is interrupted and keeps its slot until it has
stopped; a sync one costs its replica (stopped, reason ``timeout``), which rule 2 replaces.
Either fails with ``timeout`` and is tried again while it has retries left. The runtime's
side is in ``tests/test_agreement.py`` (the same stories on real replicas) and
``tests/test_runtime_failures.py``.
"""
from __future__ import annotations

import io
import warnings

import pytest

from reuse_ref import Job, ReusePolicy, StarvationWarning, read_csv, simulate, write_csv
from reuse_ref.core.actions import CancelAttempt, Dispatch, FailTask, Interrupt, StartReplica, StopReplica
from reuse_ref.core.pool import Pool
from reuse_ref.core.unpooled import Unpooled
from reuse_ref.sim.event_loop import EventLoop
from reuse_ref.trace import Trace


def policy(**kw) -> ReusePolicy:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarvationWarning)
        return ReusePolicy(**kw)


def rows(machine):
    return [(r.time, r.kind, r.replica, r.task, r.reason) for r in Trace(machine.records).records]


def ready_pool(**kw):
    pool = Pool(policy(**kw), name="p")
    return pool


# ---------------------------------------------------------------------- the pool
def test_an_async_attempt_over_its_timeout_is_interrupted_and_keeps_its_slot():
    pool = ready_pool(replicas=1)
    assert pool.submit(0.0, "t", timeout=20) == [StartReplica(1)]
    assert pool.replica_ready(10.0, 1) == [Dispatch("t", 1, 1, False)]
    assert pool.wakeup_at == 30.0, "the deadline is a timer of the pool"
    assert pool.advance(30.0) == [Interrupt("t", 1, "timeout")]
    pool.submit(31.0, "u")
    assert "u" in pool.queue, "the interrupted attempt still holds the only slot"
    assert pool.finish(32.0, "t") == [FailTask("t", "timeout", ""), Dispatch("u", 1, 1, True)]
    assert rows(pool)[-2][1:] == ("task_failed", 1, "t", "timeout"), "it fails with its timeout, whatever the report"


def test_a_sync_attempt_over_its_timeout_costs_its_replica_which_rule_2_replaces():
    pool = ready_pool(replicas=1)
    pool.submit(0.0, "t", retries=1, timeout=20, sync=True)
    pool.replica_ready(10.0, 1)
    acts = pool.advance(30.0)
    assert acts == [StopReplica(1, "timeout"), StartReplica(2)], "the attempt is requeued, min=1 brings a new replica"
    assert rows(pool)[-4:] == [(30.0, "replica_stop", 1, None, "timeout"),
                               (30.0, "task_failed", 1, "t", "timeout (retrying)"),
                               (30.0, "task_queued", None, "t", "retry"),
                               (30.0, "replica_start", 2, None, "")]
    assert pool.replica_ready(40.0, 2) == [Dispatch("t", 2, 2, False)]
    assert pool.advance(60.0) == [StopReplica(2, "timeout"), FailTask(
        "t", "timeout", "attempt 2 of 't' ran past its timeout of 20 s; a sync attempt cannot be interrupted, "
                        "so its replica 2 of 'p' was stopped"), StartReplica(3)]


def test_an_attempt_that_ends_in_time_leaves_no_timer():
    pool = ready_pool(replicas=1, idle_ttl=None)
    pool.submit(0.0, "t", timeout=20)
    pool.replica_ready(10.0, 1)
    assert pool.finish(15.0, "t") == []
    assert pool.wakeup_at is None, "the deadline of an attempt that ended is forgotten"


def test_a_rule_7_cancel_of_an_interrupted_attempt_is_final_and_never_retried():
    pool = ready_pool(replicas=1)
    pool.submit(0.0, "t", retries=3, timeout=20)
    pool.replica_ready(10.0, 1)
    pool.advance(30.0)
    assert pool.cancel(31.0, "t", "its parent is gone") == [FailTask("t", "cancelled", "its parent is gone")]


def test_a_sync_attempt_cancelled_by_rule_7_runs_on_and_fails_when_it_ends():
    pool = ready_pool(replicas=1)
    pool.submit(0.0, "s", sync=True)
    pool.submit(0.0, "a")
    pool.replica_ready(10.0, 1)
    assert pool.cancel(12.0, "s", "why") == [], "it cannot be stopped"
    assert "s" in pool.running
    assert pool.finish(40.0, "s") == [FailTask("s", "cancelled", "why"), Dispatch("a", 1, 1, True)]
    pool.finish(45.0, "a")
    assert pool.cancel(50.0, "a") == [], "an async attempt that ended is left alone"


def test_a_cancelled_async_attempt_is_stopped_on_its_replica():
    pool = ready_pool(replicas=1)
    pool.submit(0.0, "a")
    pool.replica_ready(10.0, 1)
    assert pool.cancel(12.0, "a", "why") == [CancelAttempt("a", 1), FailTask("a", "cancelled", "why")]


def test_timeouts_without_reuse():
    off = Unpooled("o")
    assert off.submit(0.0, "a", timeout=20) == [StartReplica(1, "a")], "the replica is the task's own"
    off.replica_ready(10.0, 1)
    assert off.wakeup_at == 30.0
    assert off.advance(30.0) == [Interrupt("a", 1, "timeout")]
    assert off.finish(31.0, "a") == [StopReplica(1, "off"), FailTask("a", "timeout", "")]
    off.submit(40.0, "s", retries=1, timeout=5, sync=True)
    off.replica_ready(50.0, 2)
    acts = off.advance(55.0)
    assert acts == [StopReplica(2, "timeout"), StartReplica(3, "s")], "tried again on a new replica"


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), True, "5"])
def test_a_bad_timeout_is_refused(rejects, timeout):
    with rejects("timeout", timeout, "seconds > 0"):
        ready_pool(replicas=1).submit(0.0, "t", timeout=timeout)


# ---------------------------------------------------------------------- the simulator
def test_the_simulator_cancels_an_async_attempt_and_keeps_its_replica():
    jobs = [Job(0, 0.0, 60.0, timeout=20.0), Job(1, 40.0, 10.0)]
    trace = simulate(policy(replicas=1, idle_ttl=60), jobs, cold_start=10)
    failed = [(r.time, r.task, r.reason) for r in trace.records if r.kind == "task_failed"]
    assert failed == [(30.0, 0, "timeout")]
    assert [(r.replica, r.reason) for r in trace.records if r.kind == "replica_stop"] == [(1, "idle_ttl")]
    m = trace.measures()
    assert (m.done, m.failed, m.warm_starts) == (1, 1, 1)


def test_the_simulator_stops_the_replica_of_a_sync_attempt_and_rule_2_replaces_it():
    jobs = [Job(0, 0.0, 60.0, timeout=20.0, sync=True, retries=1), Job(1, 70.0, 10.0)]
    trace = simulate(policy(replicas=1, idle_ttl=60), jobs, cold_start=10)
    stops = [(r.time, r.replica, r.reason) for r in trace.records if r.kind == "replica_stop"]
    assert stops[:2] == [(30.0, 1, "timeout"), (60.0, 2, "timeout")], "each attempt costs a replica"
    failed = [r.reason for r in trace.records if r.kind == "task_failed"]
    assert failed == ["timeout (retrying)", "timeout"]
    assert trace.measures().cold_starts == 3


def test_a_parent_over_its_timeout_cancels_its_children():
    jobs = [Job(0, 0.0, 10.0, timeout=25.0), Job(1, 0.0, 40.0, parent=0), Job(2, 0.0, 50.0, parent=0)]
    trace = simulate(policy(replicas=(1, 3), idle_ttl=60, scaledown_ttl=300), jobs, cold_start=10)
    failed = sorted((r.task, r.reason) for r in trace.records if r.kind == "task_failed")
    assert failed == [(0, "timeout"), (1, "cancelled"), (2, "cancelled")]
    assert {r.time for r in trace.records if r.kind == "task_failed"} == {35.0}


@pytest.mark.parametrize("job, fragment", [
    (Job(0, 0.0, 1.0, timeout=0.0), "timeout=0.0 is not valid"),
    (Job(0, 0.0, 1.0, timeout=float("inf")), "timeout=inf is not valid"),
    (Job(0, 0.0, 1.0, sync=1), "sync=1 is not valid"),
])
def test_bad_timeouts_and_sync_flags_are_refused(job, fragment):
    with pytest.raises(ValueError, match=fragment):
        simulate(policy(replicas=1), [job])


def test_a_sync_job_needs_concurrency_one_and_no_children():
    with pytest.raises(ValueError, match="sync=True is not valid in environment 'env', whose concurrency is 2"):
        simulate(policy(replicas=1, concurrency=2), [Job(0, 0.0, 1.0, sync=True)])
    with pytest.raises(ValueError, match="sync=True is not valid for a job with children"):
        simulate(policy(replicas=2), [Job(0, 0.0, 1.0, sync=True), Job(1, 0.0, 1.0, parent=0)])


def test_timeouts_and_sync_survive_the_csv_round_trip():
    jobs = [Job(0, 0.0, 5.0, timeout=2.5), Job(1, 1.0, 5.0, sync=True), Job(2, 2.0, 5.0)]
    f = io.StringIO()
    write_csv(jobs, f)
    assert f.getvalue().splitlines()[1] == "id,at,duration,name,parent,retries,timeout,sync"
    f.seek(0)
    assert read_csv(f) == jobs


# ---------------------------------------------------------------------- the two loops
def test_the_plain_loop_and_the_event_loop_make_the_same_records(monkeypatch):
    """simulate() runs a workload of independent jobs in one pool through run_plain; the general
    EventLoop, given the same workload, writes the same records."""
    from reuse_ref.core.pools import Pools
    from reuse_ref.sim import event_loop
    from reuse_ref.sim.workloads import poisson

    jobs = poisson(0.5, 30, 2000, seed=3, jitter=0.5)
    p = policy(replicas=(1, 6), concurrency=2, scaledown_ttl=60, idle_ttl=300)
    used = []
    plain_loop = event_loop.run_plain
    monkeypatch.setattr(event_loop, "run_plain", lambda *args: used.append(1) or plain_loop(*args))
    plain = [tuple(r) for r in simulate(p, jobs, cold_start=10).records]
    assert used, "simulate() took the plain loop"
    pools = Pools()
    pools.add(Pool(p, "env"))
    done = EventLoop(pools, jobs, {j.id: j for j in jobs}, False, None, lambda: 10.0, [], None, 0.0, None).run()
    assert done == len(jobs) and pools.records == plain and len(plain) > 1000
