"""The p99 wait, the common window of a comparison, and waits within a time window.

Each test is written so that it fails on the trace measures as they were before the
window existed: an always-on pool looked cheaper than a pool that sleeps, because its
trace ends with its last task while its replicas would keep running.
"""
from __future__ import annotations

import pytest

from reuse_ref import ReusePolicy, Resources, simulate
from reuse_ref.trace import Measures, Record as R, Trace, percentile
from reuse_ref.trace.window import common_horizon, compare, counts, last_task_end, waits
from reuse_ref.sim.workloads import burst, merge

# Single-replica policies on purpose: their starvation warning is not what these tests look at.
pytestmark = pytest.mark.filterwarnings("ignore::reuse_ref.StarvationWarning")


def waits_trace(n: int) -> Trace:
    """n tasks, task k waits k seconds on a replica that is always there."""
    records = [R(0, "replica_start", 1), R(0, "replica_ready", 1)]
    for k in range(1, n + 1):
        records += [R(0, "task_queued", None, k), R(k, "task_start", 1, k), R(k, "task_end", 1, k)]
    records.sort(key=lambda r: r.time)
    return Trace(records)


def test_p99_is_the_nearest_rank_99th_percentile():
    m = waits_trace(200).measures()
    assert (m.wait_p50, m.wait_p95, m.wait_p99, m.wait_max) == (100.0, 190.0, 198.0, 200.0)
    assert "p99 198 s" in dict(m.rows())["queue wait"]


def test_horizon_charges_a_live_replica_to_the_window_end():
    records = [R(0, "replica_start", 1, env="env"), R(10, "replica_ready", 1, env="env"),
               R(10, "task_queued", None, "a", env="env"), R(10, "task_start", 1, "a", env="env"),
               R(30, "task_end", 1, "a", env="env")]
    trace = Trace(records, {"env": ReusePolicy(replicas=1, idle_ttl=None)}, {"env": Resources(cpu=2)})
    assert trace.measures().replica_seconds == 30.0
    m = trace.measures(horizon=100)
    assert (m.replica_seconds, m.cpu_seconds, m.busy_slot_seconds) == (100.0, 200.0, 20.0)
    assert m.utilisation == 20.0 / 100.0
    # and replica time after the window is not counted
    stopped = Trace(records + [R(500, "replica_stop", 1, None, "idle_ttl", "env")])
    assert stopped.measures(horizon=100).replica_seconds == 100.0
    assert stopped.measures().replica_seconds == 500.0


def test_a_window_must_hold_every_task():
    trace = waits_trace(3)
    with pytest.raises(ValueError, match="horizon=2 is not valid"):
        trace.measures(horizon=2)
    for bad in (-1, float("inf"), True, "10"):
        with pytest.raises(ValueError, match="horizon="):
            trace.measures(horizon=bad)


def two_groups():
    return merge(burst(2, at=0, duration=60), burst(2, at=900, duration=60))


def test_always_on_is_charged_over_the_common_window():
    runs = {ttl: simulate(ReusePolicy(replicas=(2, 2), idle_ttl=ttl), two_groups(), cold_start=30, name=str(ttl))
            for ttl in (1200, None)}
    # the raw traces: the always-on pool's trace stops with its last task, so it looks
    # cheaper than a pool that holds the same replicas for 1200 s more and then stops
    raw = {ttl: t.measures().replica_seconds for ttl, t in runs.items()}
    assert raw[None] < raw[1200]
    horizon = common_horizon(runs)
    assert horizon == max(last_task_end(t) for t in runs.values()) + 1200
    fair = compare(runs)
    assert set(fair) == {"1200", "None"} and all(isinstance(m, Measures) for m in fair.values())
    # over one window the always-on pool holds its two replicas from 0 to the horizon
    assert fair["None"].replica_seconds == 2 * horizon
    assert fair["None"].replica_seconds >= fair["1200"].replica_seconds
    # a pool that stopped inside the window costs what its trace says
    assert fair["1200"].replica_seconds == raw[1200]
    # counts and waits do not depend on the window
    for ttl, t in runs.items():
        assert fair[str(ttl)].cold_starts == t.measures().cold_starts
        assert fair[str(ttl)].wait_p95 == t.measures().wait_p95


def test_common_horizon_without_a_finite_idle_ttl_is_the_last_task_end():
    t = simulate(ReusePolicy(replicas=1, idle_ttl=None), burst(3, duration=10), cold_start=5)
    assert common_horizon([t]) == last_task_end(t) == 35.0
    with pytest.raises(ValueError, match="traces=\\[\\] is not valid"):
        common_horizon([])


def test_waits_within_a_time_window():
    trace = waits_trace(10)  # every task is queued at 0
    assert waits(trace) == [float(k) for k in range(1, 11)]
    assert waits(trace, since=1) == []
    t = simulate(ReusePolicy(replicas=(1, 1), idle_ttl=600), two_groups(), cold_start=30)
    late = waits(t, since=800)
    assert len(late) == 2 and late == sorted(late)
    assert percentile(waits(t), 95) == t.measures().wait_p95


def test_counts_of_a_time_window():
    # replica 1 lives 0..60 (starting 10 s), replica 2 starts at 25 and lives until 125
    trace = Trace([R(0.0, "replica_start", 1, None, "", "a"), R(0.0, "task_queued", None, "t1", "", "a"),
                   R(10.0, "replica_ready", 1, None, "", "a"), R(10.0, "task_start", 1, "t1", "cold", "a"),
                   R(25.0, "task_queued", None, "t2", "", "a"), R(25.0, "replica_start", 2, None, "", "a"),
                   R(30.0, "task_end", 1, "t1", "", "a"), R(30.0, "task_start", 1, "t2", "warm", "a"),
                   R(50.0, "task_end", 1, "t2", "", "a"), R(60.0, "replica_stop", 1, None, "scaledown", "a"),
                   R(35.0 + 90, "replica_stop", 2, None, "scaledown", "a")])
    whole = counts(trace, 0.0, 200.0)
    assert (whole.tasks, whole.cold_starts, whole.replica_seconds) == (2, 2, 60.0 + 100.0)
    assert whole.cold_start_share == 1.0 and whole.mean_replicas == pytest.approx(160.0 / 200.0)
    late = counts(trace, 20.0, 100.0)  # t2 and replica 2's start, replica 1 from 20 to 60, replica 2 from 25 to 100
    assert (late.tasks, late.cold_starts, late.replica_seconds, late.seconds) == (1, 1, 40.0 + 75.0, 80.0)
    # a replica still alive at the trace's end is alive until the window's end
    open_ended = Trace([R(0.0, "replica_start", 1, None, "", "a")])
    assert counts(open_ended, 10.0, 20.0).replica_seconds == 10.0 and counts(open_ended, 10.0, 20.0).tasks == 0
    for since, until in ((5.0, 5.0), (0.0, float("inf")), (float("nan"), 1.0)):
        with pytest.raises(ValueError, match="since="):
            counts(trace, since, until)
