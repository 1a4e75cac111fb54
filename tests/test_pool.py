"""The pool state machine (SPEC 4), driven event by event with explicit times.

Like h11's tests: no clock, no driver. Each test feeds events to a ``Pool`` and checks
the actions it answers with and the records it leaves.
"""
from __future__ import annotations

import warnings

import pytest

from reuse_ref import ReusePolicy, StarvationWarning
from reuse_ref.config.errors import STARVATION_REMEDIES
from reuse_ref.core.pools import Pools
from reuse_ref.core.actions import CancelAttempt, Dispatch, FailTask, StartReplica, StopReplica
from reuse_ref.core.pool import Pool
from reuse_ref.trace import Record, Trace


def policy(**kw) -> ReusePolicy:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarvationWarning)
        return ReusePolicy(**kw)


def records(pool: Pool):
    """The pool's rows, named (as a Trace names them)."""
    return Trace(pool.records).records


def stops(pool: Pool):
    return [(r.time, r.kind, r.replica, r.reason) for r in records(pool) if r.kind == "replica_stop"]


def run_timers(pool: Pool, until: float = float("inf")):
    """Advance to each wake-up the pool asks for, as a driver would; return the actions."""
    actions = []
    while pool.wakeup_at is not None and pool.wakeup_at <= until:
        t = pool.wakeup_at
        actions += pool.advance(t)
        assert pool.wakeup_at is None or pool.wakeup_at > t, "a wake-up must make progress"
    return actions


def start_ready(pool: Pool, now: float, starts) -> list:
    """Report every started replica ready at ``now``; return the dispatches."""
    out = []
    for a in starts:
        if isinstance(a, StartReplica):
            out += pool.replica_ready(now, a.replica)
    return out


# --- rule 3 and 4: seed 003's scale-down walk-through -----------------------------------

def test_scale_down_walk_through_of_seed_003():
    """Five busy replicas on (1, 5) go idle together: replica 5 stops one scaledown_ttl
    later, then 4, 3 and 2, one per period, down to min; idle_ttl then stops the last."""
    pool = Pool(policy(replicas=(1, 5), concurrency=1, scaledown_ttl=60, idle_ttl=600), name="walk")
    starts = []
    for k in range(1, 6):
        starts += pool.submit(0.0, f"t{k}")
    assert starts == [StartReplica(k) for k in range(1, 6)]  # cold: max(min, needed) = 5
    dispatched = start_ready(pool, 10.0, starts)
    assert [(d.task, d.replica) for d in dispatched] == [(f"t{k}", k) for k in range(1, 6)]
    for k in range(1, 6):
        assert pool.finish(100.0, f"t{k}") == []
    assert pool.wakeup_at == 160.0
    actions = run_timers(pool)
    assert actions == [StopReplica(5, "scaledown"), StopReplica(4, "scaledown"), StopReplica(3, "scaledown"),
                       StopReplica(2, "scaledown"), StopReplica(1, "idle_ttl")]
    assert stops(pool) == [
        (160.0, "replica_stop", 5, "scaledown"),
        (220.0, "replica_stop", 4, "scaledown"),
        (280.0, "replica_stop", 3, "scaledown"),
        (340.0, "replica_stop", 2, "scaledown"),
        (700.0, "replica_stop", 1, "idle_ttl"),  # 600 s after the pool went empty, min included
    ]
    assert pool.live == 0 and not pool.alive and pool.wakeup_at is None
    # the next task starts the environment cold again
    assert pool.submit(800.0, "late") == [StartReplica(6)]


def test_scale_down_waits_a_whole_period_after_the_last_stop():
    """Rule 3: at most one stop per scaledown_ttl, even when several replicas are overdue."""
    pool = Pool(policy(replicas=(0, 3), scaledown_ttl=30, idle_ttl=None))
    starts = pool.submit(0.0, "a") + pool.submit(0.0, "b") + pool.submit(0.0, "c")
    start_ready(pool, 5.0, starts)
    pool.finish(10.0, "a")
    pool.finish(12.0, "b")
    pool.finish(15.0, "c")
    # all three are overdue at 100; only the highest id stops, then one per 30 s
    assert pool.advance(100.0) == [StopReplica(3, "scaledown")]
    assert pool.advance(129.0) == []
    assert pool.wakeup_at == 130.0
    assert pool.advance(130.0) == [StopReplica(2, "scaledown")]
    assert pool.advance(160.0) == [StopReplica(1, "scaledown")]
    assert pool.live == 0 and pool.wakeup_at is None  # min 0, always on: nothing left to do


def test_a_busy_replica_is_never_scaled_down():
    pool = Pool(policy(replicas=(1, 2), scaledown_ttl=30, idle_ttl=None))
    starts = pool.submit(0.0, "a") + pool.submit(0.0, "b")
    start_ready(pool, 10.0, starts)
    pool.finish(20.0, "b")          # replica 2 idles; replica 1 stays busy
    assert pool.advance(49.0) == []
    assert pool.advance(50.0) == [StopReplica(2, "scaledown")]
    assert pool.live == 1 and pool.wakeup_at is None


def test_fixed_pool_never_scales_down():
    pool = Pool(policy(replicas=3, scaledown_ttl=30, idle_ttl=None))
    starts = pool.submit(0.0, "a")
    assert starts == [StartReplica(1), StartReplica(2), StartReplica(3)]
    start_ready(pool, 10.0, starts)
    pool.finish(20.0, "a")
    assert pool.wakeup_at is None
    assert pool.advance(1e9) == []
    assert pool.live == 3 and stops(pool) == []


def test_fixed_pool_with_idle_ttl_stops_only_for_idle_ttl():
    pool = Pool(policy(replicas=3, scaledown_ttl=30, idle_ttl=120))
    start_ready(pool, 10.0, pool.submit(0.0, "a"))
    pool.finish(20.0, "a")
    assert pool.wakeup_at == 140.0
    run_timers(pool)
    assert stops(pool) == [(140.0, "replica_stop", k, "idle_ttl") for k in (1, 2, 3)]


def test_idle_ttl_none_never_stops_the_environment():
    pool = Pool(policy(replicas=(1, 3), scaledown_ttl=30, idle_ttl=None))
    starts = []
    for k in range(3):
        starts += pool.submit(0.0, k)
    start_ready(pool, 10.0, starts)
    for k in range(3):
        pool.finish(20.0, k)
    run_timers(pool)
    assert [r for *_, r in stops(pool)] == ["scaledown", "scaledown"]  # down to min, no further
    assert pool.wakeup_at is None
    assert pool.advance(1e9) == [] and pool.live == 1


def test_idle_ttl_counts_from_the_last_task_not_from_the_last_start():
    pool = Pool(policy(replicas=1, idle_ttl=60))
    start_ready(pool, 10.0, pool.submit(0.0, "a"))
    pool.finish(50.0, "a")
    assert pool.wakeup_at == 110.0
    assert pool.submit(100.0, "b") == [Dispatch("b", 1, 1, True)]  # warm: the environment is still up
    assert pool.wakeup_at is None  # busy: no timer
    pool.finish(130.0, "b")
    assert pool.wakeup_at == 190.0
    assert pool.advance(190.0) == [StopReplica(1, "idle_ttl")]


def test_timers_fire_at_their_due_time_even_when_float_subtraction_rounds_down():
    """``(a + ttl) - a`` can be a hair less than ``ttl`` in floating point; the pool must
    still act at the time ``wakeup_at`` named, or a driver would wake it forever."""
    ttl = 30.0
    a = next(x / 10 for x in range(1, 100_000) if (x / 10 + ttl) - x / 10 < ttl)
    pool = Pool(policy(replicas=(0, 1), scaledown_ttl=30, idle_ttl=None))
    start_ready(pool, 0.0, pool.submit(0.0, "t"))
    pool.finish(a, "t")
    due = pool.wakeup_at
    assert due == a + ttl
    assert pool.advance(due) == [StopReplica(1, "scaledown")]
    assert pool.wakeup_at is None


# --- rules 1 and 2: dispatch and scale-up -------------------------------------------------

def test_cold_autoscaling_pool_under_one_job_starts_min():
    pool = Pool(policy(replicas=(2, 5)))
    assert pool.submit(0.0, "only") == [StartReplica(1), StartReplica(2)]
    assert pool.replica_ready(10.0, 1) == [Dispatch("only", 1, 1, False)]
    assert pool.replica_ready(11.0, 2) == []


def test_cold_pool_with_min_zero_starts_one():
    pool = Pool(policy(replicas=(0, 4)))
    assert pool.submit(0.0, "only") == [StartReplica(1)]


def test_scale_up_counts_the_slots_of_replicas_still_starting():
    pool = Pool(policy(replicas=(1, 4), concurrency=2))
    assert pool.submit(0.0, 1) == [StartReplica(1)]
    assert pool.submit(1.0, 2) == []  # replica 1, still starting, will have room
    assert pool.submit(2.0, 3) == [StartReplica(2)]  # 3 queued > 2 coming slots
    assert pool.submit(3.0, 4) == []
    acts = pool.submit(4.0, 5) + pool.submit(4.0, 6) + pool.submit(4.0, 7) + pool.submit(4.0, 8) + pool.submit(4.0, 9)
    assert acts == [StartReplica(3), StartReplica(4)]  # capped at max
    assert pool.live == 4


def test_dispatch_packs_the_lowest_id_replica_first():
    pool = Pool(policy(replicas=3, concurrency=2))
    start_ready(pool, 5.0, pool.submit(0.0, "x"))  # x on replica 1
    assert pool.submit(6.0, "y") == [Dispatch("y", 1, 1, True)]
    assert pool.submit(7.0, "z") == [Dispatch("z", 2, 1, False)]
    pool.finish(8.0, "x")
    assert pool.submit(9.0, "w") == [Dispatch("w", 1, 1, True)]


def test_capacity_is_replicas_times_concurrency():
    p = policy(replicas=(1, 3), concurrency=2)
    pool = Pool(p)
    starts = []
    for k in range(50):
        starts += pool.submit(0.0, k)
    assert starts == [StartReplica(1), StartReplica(2), StartReplica(3)]
    start_ready(pool, 10.0, starts)
    assert len(pool.running) == p.capacity == 6
    assert list(pool.queue) == list(range(6, 50))
    t = 10.0
    order = []
    while pool.running:
        t += 1.0
        task = min(pool.running)
        for a in pool.finish(t, task):
            order.append(a.task)
        assert len(pool.running) <= p.capacity
        assert all(len(r.running) <= p.concurrency for r in pool.replicas.values())
    assert order == list(range(6, 50))  # first come, first served


# --- rule 6: starvation ---------------------------------------------------------------------

def pooled(pool):
    """``pool`` as the one pool of a :class:`Pools`, which decides rule 6."""
    pools = Pools()
    pools.add(pool)
    return pools


def test_parent_and_child_on_one_slot_starve():
    p = policy(replicas=1, concurrency=1)
    pool = Pool(p, name="solo")
    pools = pooled(pool)
    start_ready(pool, 10.0, pool.submit(0.0, "parent"))
    pools.called(("solo", "parent"), ("solo", "child"))
    assert pool.submit(11.0, "child") == []  # queued; no room to grow
    [(name, actions)] = pools.waiting(12.0, ("solo", "parent"), [("solo", "child")])
    assert name == "solo" and [(a.task, a.reason) for a in actions] == [("child", "starvation")]
    message = actions[0].message
    assert "'solo'" in message and repr(p) in message and "parent" in message
    assert STARVATION_REMEDIES in message
    kinds = [(r.kind, r.task) for r in records(pool) if r.time == 12.0]
    assert kinds == [("starvation", None), ("task_failed", "child")]
    # the parent sees the failure where it awaits, and fails with the same reason
    assert pool.finish(12.0, "parent", error="starvation") == [FailTask("parent", "starvation", "")]


def test_a_child_called_but_not_awaited_does_not_starve_its_parent():
    pool = Pool(policy(replicas=1, concurrency=1), name="solo")
    pools = pooled(pool)
    start_ready(pool, 10.0, pool.submit(0.0, "parent"))
    pools.called(("solo", "parent"), ("solo", "child"))
    assert pool.submit(11.0, "child") == []
    assert pools.check(11.5) == [], "the parent runs on: it has not blocked on the child"
    assert pool.finish(12.0, "parent") == [Dispatch("child", 1, 1, True)]
    assert not any(r.kind == "starvation" for r in records(pool))


def test_two_replicas_do_not_starve():
    pool = Pool(policy(replicas=2, concurrency=1))
    pools = pooled(pool)
    starts = pool.submit(0.0, "parent")
    start_ready(pool, 10.0, starts)
    assert pool.submit(11.0, "child") == [Dispatch("child", 2, 1, False)]
    assert pools.waiting(12.0, ("env", "parent"), [("env", "child")]) == []
    pool.finish(20.0, "child")
    assert pools.resumed(20.0, ("env", "parent")) == []
    pool.finish(20.0, "parent")
    assert not any(r.kind in ("starvation", "task_failed") for r in records(pool))


def test_concurrency_two_does_not_starve():
    pool = Pool(policy(replicas=1, concurrency=2))
    pools = pooled(pool)
    start_ready(pool, 10.0, pool.submit(0.0, "parent"))
    assert pool.submit(11.0, "child") == [Dispatch("child", 1, 1, True)]
    assert pools.waiting(11.0, ("env", "parent"), [("env", "child")]) == []
    assert [r.kind for r in records(pool)].count("starvation") == 0


def test_no_starvation_while_a_replica_is_still_starting():
    pool = Pool(policy(replicas=(1, 2), concurrency=1))
    pools = pooled(pool)
    start_ready(pool, 10.0, pool.submit(0.0, "parent"))
    assert pool.submit(11.0, "child") == [StartReplica(2)]
    assert pools.waiting(12.0, ("env", "parent"), [("env", "child")]) == []  # replica 2 will take the child
    assert pool.replica_ready(21.0, 2) == [Dispatch("child", 2, 1, False)]


# --- rule 7: cancelled tasks ----------------------------------------------------------------

def test_a_cancelled_queued_task_leaves_the_queue_and_is_never_retried():
    pool = Pool(policy(replicas=1, concurrency=1))
    start_ready(pool, 10.0, pool.submit(0.0, "a"))
    pool.submit(11.0, "b", retries=3)
    assert pool.cancel(12.0, "b", "its parent failed") == [FailTask("b", "cancelled", "its parent failed")]
    assert list(pool.queue) == []
    assert pool.cancel(13.0, "b") == [], "a task that ended is left alone"


def test_a_cancelled_running_attempt_frees_its_slot_and_is_not_retried():
    pool = Pool(policy(replicas=1, concurrency=1))
    start_ready(pool, 10.0, pool.submit(0.0, "a", retries=2))
    pool.submit(11.0, "b")
    actions = pool.cancel(12.0, "a")
    assert actions == [CancelAttempt("a", 1), FailTask("a", "cancelled", ""), Dispatch("b", 1, 1, True)]
    assert [(r.kind, r.reason) for r in records(pool) if r.task == "a"][-1] == ("task_failed", "cancelled")


# --- rule 5: crashes --------------------------------------------------------------------------

def test_crash_fails_only_the_attempts_it_held_and_retries_them_first_in_order():
    pool = Pool(policy(replicas=2, concurrency=2))
    starts = []
    for k in range(1, 7):
        starts += pool.submit(0.0, f"t{k}", retries=1)
    start_ready(pool, 10.0, starts)
    assert pool.running == {"t1": 1, "t2": 1, "t3": 2, "t4": 2}
    actions = pool.replica_crashed(20.0, 1)
    assert actions == [StartReplica(3)]  # replaced; no task failed for good
    assert list(pool.queue) == ["t1", "t2", "t5", "t6"]  # retried at the head, in order
    assert pool.running == {"t3": 2, "t4": 2}
    failed = [(r.task, r.reason) for r in records(pool) if r.kind == "task_failed"]
    assert sorted(failed) == [("t1", "crashed (retrying)"), ("t2", "crashed (retrying)")]
    assert pool.replica_ready(30.0, 3) == [Dispatch("t1", 3, 2, False), Dispatch("t2", 3, 2, True)]
    assert stops(pool) == [(20.0, "replica_stop", 1, "crashed")]


def test_crash_without_retries_left_fails_the_task():
    pool = Pool(policy(replicas=1, concurrency=2))
    start_ready(pool, 10.0, pool.submit(0.0, "a") + pool.submit(0.0, "b", retries=1))
    actions = pool.replica_crashed(15.0, 1, reason="oom")
    assert FailTask("a", "oom", "replica 1 of 'env' stopped: oom") in actions
    assert StartReplica(2) in actions  # min 1: replaced, and "b" waits for it
    assert list(pool.queue) == ["b"]
    assert stops(pool) == [(15.0, "replica_stop", 1, "oom")]


def test_crash_of_a_starting_replica_is_replaced():
    pool = Pool(policy(replicas=1))
    pool.submit(0.0, "a")
    assert pool.replica_crashed(5.0, 1) == [StartReplica(2)]
    assert pool.replica_ready(10.0, 1) == []  # the dead one reporting late changes nothing
    assert pool.replica_ready(15.0, 2) == [Dispatch("a", 2, 1, False)]


def test_failed_attempt_is_retried_then_fails_for_good():
    pool = Pool(policy(replicas=1))
    start_ready(pool, 10.0, pool.submit(0.0, "a", retries=1))
    assert pool.finish(20.0, "a", error="error") == [Dispatch("a", 1, 2, True)]
    assert pool.finish(30.0, "a", error="error", message="boom") == [FailTask("a", "error", "boom")]


# --- bad events ------------------------------------------------------------------------------

def test_time_going_backwards_is_a_value_error():
    pool = Pool(policy(replicas=1))
    pool.submit(10.0, "a")
    for event in (lambda: pool.submit(9.0, "b"), lambda: pool.advance(9.5),
                  lambda: pool.replica_ready(9.0, 1), lambda: pool.finish(9.0, "a")):
        with pytest.raises(ValueError, match="backwards"):
            event()


def test_a_task_submitted_twice_is_a_value_error():
    pool = Pool(policy(replicas=1))
    start_ready(pool, 1.0, pool.submit(0.0, "a"))
    pool.finish(2.0, "a")
    with pytest.raises(ValueError, match="already submitted"):
        pool.submit(3.0, "a")  # even after it ended: ids are never reused


def test_finishing_a_task_that_is_not_running_is_a_value_error():
    pool = Pool(policy(replicas=1))
    pool.submit(0.0, "a")  # queued, not running
    with pytest.raises(ValueError, match="not running"):
        pool.finish(1.0, "a")


def test_close_fails_what_is_left_and_stops_every_replica():
    pool = Pool(policy(replicas=1, concurrency=1))
    start_ready(pool, 10.0, pool.submit(0.0, "a") + pool.submit(0.0, "b"))
    actions = pool.close(12.0)
    assert FailTask("a", "shutdown", "pool 'env' closed") in actions
    assert FailTask("b", "shutdown", "pool 'env' closed") in actions
    assert StopReplica(1, "shutdown") in actions
    assert pool.live == 0 and pool.wakeup_at is None and not pool.running and not pool.queue


def test_start_if_free_is_submit_when_a_slot_is_free_and_nothing_else():
    pool = Pool(policy(replicas=1, concurrency=2))
    assert pool.start_if_free(0.0, "a") is None, "no ready replica yet: submit queues it"
    start_ready(pool, 10.0, pool.submit(0.0, "a"))  # a runs on replica 1; one slot is free
    n = len(pool.records)
    assert pool.start_if_free(5.0, "b") is None  # time going backwards...
    assert pool.start_if_free(11.0, "a") is None  # ...and a task id used before are left to submit
    assert len(pool.records) == n and "b" not in pool.attempts
    with pytest.raises(ValueError, match="backwards"):
        pool.submit(5.0, "b")
    with pytest.raises(ValueError, match="already submitted"):
        pool.submit(11.0, "a")
    assert pool.start_if_free(11.0, "b", retries=2) == 1
    assert pool.running == {"a": 1, "b": 1} and pool.retries == {"b": 2}
    assert records(pool)[-2:] == [Record(11.0, "task_queued", None, "b", "", "env"),
                                  Record(11.0, "task_start", 1, "b", "warm", "env")]
    assert pool.start_if_free(12.0, "c") is None, "both slots are busy"
    assert pool.submit(12.0, "c") == [] and list(pool.queue) == ["c"]
