"""Rules 6 and 7 across pools (``reuse_ref.core.pools``), and the simulator with several environments."""
from __future__ import annotations

import io
import warnings

import pytest

from reuse_ref import Job, ReusePolicy, StarvationWarning, read_csv, simulate, write_csv
from reuse_ref.core.actions import CancelAttempt, Dispatch, FailTask, StartReplica
from reuse_ref.core.pool import Pool
from reuse_ref.core.pools import Pools
from reuse_ref.core.propagation import FAIL_AFTER_EXECUTABLE_NODES_COMPLETE


def policy(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarvationWarning)
        return ReusePolicy(**kwargs)


def J(id, at, duration, parent=None, env=None, retries=0):
    return Job(id, float(at), float(duration), None, parent, retries, env)


def ready_pool(pools, name, **kwargs):
    pool = pools.add(Pool(policy(**kwargs), name=name))
    return pool


def flat(decisions):
    """Every action of some decisions, carried out in order: a task that ends for good is
    reported back (``Pools.ended``), as a driver does."""
    return [a for _, actions in decisions for a in actions]


# ---------------------------------------------------------------------- rule 6 across pools
def test_a_to_b_to_a_starves_with_one_record_naming_both_environments():
    pools = Pools()
    a = ready_pool(pools, "a", replicas=1)
    b = ready_pool(pools, "b", replicas=1)
    a.submit(0.0, "parent")
    a.replica_ready(1.0, 1)
    pools.called(("a", "parent"), ("b", "child"))
    b.submit(2.0, "child")
    b.replica_ready(3.0, 1)
    assert pools.waiting(4.0, ("a", "parent"), [("b", "child")]) == [], "b's child runs: nothing starves yet"
    pools.called(("b", "child"), ("a", "grandchild"))
    assert a.submit(5.0, "grandchild") == []
    decided = pools.waiting(6.0, ("b", "child"), [("a", "grandchild")])
    assert [(name, [(x.task, x.reason) for x in acts]) for name, acts in decided] == [
        ("a", [("grandchild", "starvation")])]
    starvation = [r for r in pools.records if r[1] == "starvation"]
    assert len(starvation) == 1
    message = starvation[0][4]
    assert "'a'" in message and "'b'" in message and "parent" in message and "child" in message


def test_a_waiter_whose_target_can_still_start_blocks_nothing():
    pools = Pools()
    a = ready_pool(pools, "a", replicas=1)
    b = ready_pool(pools, "b", replicas=(1, 2))
    a.submit(0.0, "parent")
    a.replica_ready(1.0, 1)
    b.submit(1.0, "busy")
    b.replica_ready(2.0, 1)
    pools.called(("a", "parent"), ("b", "child"))
    b.submit(3.0, "child")  # b can grow: a second replica starts for it
    assert pools.waiting(4.0, ("a", "parent"), [("b", "child")]) == []
    assert not any(r[1] == "starvation" for r in pools.records)


def test_two_separate_deadlocks_write_two_records():
    pools = Pools()
    for name in ("x", "y"):
        p = ready_pool(pools, name, replicas=1)
        p.submit(0.0, "parent")
        p.replica_ready(1.0, 1)
        pools.called((name, "parent"), (name, "child"))
        p.submit(2.0, "child")
        pools.graph.waits[(name, "parent")] = {(name, "child")}
    decided = pools.check(3.0)
    assert sorted(name for name, _ in decided) == ["x", "y"]
    assert sum(r[1] == "starvation" for r in pools.records) == 2


# ---------------------------------------------------------------------- rule 7
def _parent_with_two_children(failure_policy):
    """A parent running on replica 1, child k1 running on replica 2, child k2 queued."""
    pools = Pools(failure_policy)
    a = ready_pool(pools, "a", replicas=2, concurrency=1)
    flat(pools.submit(0.0, ("a", "p")))
    flat(pools.replica_ready(1.0, "a", 1))
    flat(pools.replica_ready(1.0, "a", 2))
    flat(pools.submit(2.0, ("a", "k1"), parent=("a", "p")))
    flat(pools.submit(2.0, ("a", "k2"), parent=("a", "p")))
    return pools, a


def test_a_parent_that_fails_cancels_its_children_first_under_fail_immediately():
    pools, a = _parent_with_two_children("FAIL_IMMEDIATELY")
    acts = flat(pools.finish(3.0, ("a", "p"), error="error", message="boom"))
    assert acts[:2] == [CancelAttempt("k1", 2), FailTask("k1", "cancelled", "its parent 'p' failed: error")]
    assert FailTask("k2", "cancelled", "its parent 'p' failed: error") in acts
    assert acts[-1] == FailTask("p", "error", "boom"), "then the parent's own failure"
    assert not pools.held(("a", "p"))


def test_a_parent_that_fails_holds_its_failure_until_its_children_end_under_fail_after():
    pools, a = _parent_with_two_children(FAIL_AFTER_EXECUTABLE_NODES_COMPLETE)
    assert flat(pools.finish(3.0, ("a", "p"), error="error", message="boom")) == []
    assert pools.held(("a", "p")) and "p" in a.running, "it keeps its slot"
    assert flat(pools.finish(4.0, ("a", "k1"))) == [Dispatch("k2", 2, 1, True)]
    assert flat(pools.ended(4.0, ("a", "k1"))) == [], "k2 has not ended yet"
    flat(pools.finish(5.0, ("a", "k2")))
    assert flat(pools.ended(5.0, ("a", "k2"))) == [FailTask("p", "error", "boom")], "now it is final"
    assert not pools.held(("a", "p"))


def test_a_parent_that_ends_well_cancels_the_children_it_still_holds():
    for failure_policy in ("FAIL_IMMEDIATELY", FAIL_AFTER_EXECUTABLE_NODES_COMPLETE):
        pools, a = _parent_with_two_children(failure_policy)
        assert flat(pools.finish(3.0, ("a", "p"))) == [Dispatch("k2", 1, 1, True)]
        acts = flat(pools.ended(3.0, ("a", "p")))
        assert [x for x in acts if isinstance(x, FailTask)] == [
            FailTask("k1", "cancelled", "its parent 'p' ended"), FailTask("k2", "cancelled", "its parent 'p' ended")]


def test_an_attempt_that_ends_takes_the_children_it_called_with_it():
    """A child called by one attempt of its parent (the runtime's calls) is cancelled when that
    attempt ends, even if the parent is tried again; one called by the task (the simulator's
    model) waits for the next attempt."""
    for attempt, cancelled in ((1, True), (None, False)):
        pools = Pools()
        a = ready_pool(pools, "a", replicas=3, concurrency=1)
        flat(pools.submit(0.0, ("a", "p"), retries=1))
        flat(pools.replica_ready(1.0, "a", 1))
        flat(pools.replica_ready(1.0, "a", 2))
        flat(pools.submit(2.0, ("a", "k"), parent=("a", "p"), attempt=attempt))
        acts = flat(pools.replica_crashed(3.0, "a", 1))
        assert "p" in a.queue or a.running.get("p") is not None, "the parent is tried again"
        assert (FailTask("k", "cancelled", "the attempt of 'p' that called it ended") in acts) == cancelled


def test_a_bad_failure_policy_is_refused(rejects):
    with rejects("failure_policy", "SOMETIMES", "FAIL_IMMEDIATELY"):
        Pools("SOMETIMES")
    with rejects("failure_policy", 3, "FAIL_AFTER_EXECUTABLE_NODES_COMPLETE"):
        simulate(policy(), [J(0, 0, 1)], failure_policy=3)


def _failures(trace):
    return {r.task: r.reason for r in trace.records if r.kind == "task_failed"}


def test_the_simulator_cancels_a_failed_parents_other_children():
    jobs = [J(0, 0, 5), J(1, 0, 10, parent=0), J(2, 0, 300, parent=0)]
    crash = [(9.0, 2)]  # replica 2 runs child 1 from 0 to 10: it dies just before the end
    trace = simulate(policy(replicas=(1, 3), idle_ttl=60), jobs, cold_start=0, crashes=crash)
    assert _failures(trace) == {1: "crashed", 2: "cancelled", 0: "crashed"}
    ended = {r.task: r.time for r in trace.records if r.kind == "task_failed"}
    assert ended[2] == ended[0] == 9.0, "the sibling is cancelled when the parent fails, not after 300 s"


def test_the_simulator_lets_the_other_children_finish_first_when_asked():
    jobs = [J(0, 0, 5), J(1, 0, 10, parent=0), J(2, 0, 30, parent=0)]
    trace = simulate(policy(replicas=(1, 3), idle_ttl=60), jobs, cold_start=0, crashes=[(9.0, 2)],
                     failure_policy="FAIL_AFTER_EXECUTABLE_NODES_COMPLETE")
    assert _failures(trace) == {1: "crashed", 0: "crashed"}
    end_2 = next(r.time for r in trace.records if r.kind == "task_end" and r.task == 2)
    parent_failed = next(r.time for r in trace.records if r.kind == "task_failed" and r.task == 0)
    assert parent_failed == end_2 == 30.0


def test_a_child_that_fails_before_its_parent_awaits_fails_the_parent_when_it_awaits():
    jobs = [J(0, 0, 50), J(1, 0, 10, parent=0)]
    trace = simulate(policy(replicas=(1, 2), idle_ttl=60), jobs, cold_start=0, crashes=[(5.0, 2)])
    parent_failed = next(r for r in trace.records if r.kind == "task_failed" and r.task == 0)
    assert parent_failed.time == 50.0 and parent_failed.reason == "crashed"


# ---------------------------------------------------------------------- several environments
def test_jobs_run_in_the_pool_their_env_names_and_children_inherit_it():
    jobs = [J(0, 0, 10, env="a"), J(1, 0, 10, parent=0), J(2, 0, 10, env="b"), J(3, 0, 5, parent=2, env="a")]
    trace = simulate({"a": policy(replicas=(1, 3), idle_ttl=60), "b": policy(replicas=1, idle_ttl=60)},
                     jobs, cold_start=0)
    where = {r.task: r.env for r in trace.records if r.kind == "task_start"}
    assert where == {0: "a", 1: "a", 2: "b", 3: "a"}
    assert trace.measures("a").done == 3 and trace.measures("b").done == 1
    assert set(trace.policies) == {"a", "b"}


def test_cross_environment_starvation_in_the_simulator():
    jobs = [J(0, 0, 10, env="a"), J(1, 0, 10, parent=0, env="b"), J(2, 0, 10, parent=1, env="a")]
    trace = simulate({"a": policy(replicas=1), "b": policy(replicas=1)}, jobs, cold_start=0)
    assert _failures(trace) == {2: "starvation", 1: "starvation", 0: "starvation"}
    assert sum(r.kind == "starvation" for r in trace.records) == 1


def test_one_policy_still_works_and_jobs_may_name_it():
    jobs = [J(0, 0, 10, env="env"), J(1, 5, 10)]
    assert simulate(policy(replicas=1), jobs).measures().done == 2


@pytest.mark.parametrize("jobs, mapping, param, value", [
    ([J(0, 0, 1, env="zz")], {"a": "p"}, "env", "zz"),
    ([J(0, 0, 1)], {"a": "p", "b": "p"}, "env", None),
])
def test_bad_environments_are_refused(rejects, jobs, mapping, param, value):
    mapping = {k: policy() for k in mapping}
    with rejects(param, value, "'a'"):
        simulate(mapping, jobs)


def test_a_bad_policy_mapping_is_refused(rejects):
    with rejects("policy", {}, "mapping of environment name to ReusePolicy"):
        simulate({}, [J(0, 0, 1)])
    with rejects("policy['a']", 3, "ReusePolicy"):
        simulate({"a": 3}, [J(0, 0, 1, env="a")])
    with rejects("resources", {"zz": None}, "'a'"):
        simulate({"a": policy()}, [J(0, 0, 1, env="a")], resources={"zz": None})
    with rejects("env", "", "non-empty str"):
        simulate(policy(), [J(0, 0, 1, env="")])


def test_the_env_column_round_trips_through_csv():
    jobs = [J(0, 0, 1, env="a"), J(1, 2, 3, env="b"), J(2, 0, 1, parent=1)]
    buffer = io.StringIO()
    write_csv(jobs, buffer)
    assert buffer.getvalue().splitlines()[1] == "id,at,duration,name,parent,retries,env"  # after the format line
    buffer.seek(0)
    assert read_csv(buffer) == jobs
    plain = io.StringIO()
    write_csv([J(0, 0, 1)], plain)
    assert plain.getvalue().splitlines()[1] == "id,at,duration,name,parent,retries", "no env column when none is named"


# ---------------------------------------------------------------------- lifecycle beyond one pool
@pytest.mark.filterwarnings("ignore::reuse_ref.StarvationWarning")
def test_three_replicas_dead_before_ready_in_a_row_close_the_pool():
    from reuse_ref.core.pools import START_FAILURES_LIMIT

    pools = Pools()
    pool = pools.add(Pool(ReusePolicy(replicas=1), name="a"))
    started = [a.replica for a in pool.submit(0.0, "t") if isinstance(a, StartReplica)]
    for n in range(1, START_FAILURES_LIMIT):
        actions = flat(pools.replica_crashed(float(n), "a", started[-1], ready=False))
        assert "a" in pools.pools
        started += [a.replica for a in actions if isinstance(a, StartReplica)]
    assert len(started) == START_FAILURES_LIMIT, "each dead replica was replaced until the limit"
    actions = flat(pools.replica_crashed(9.0, "a", started[-1], ready=False))
    assert "a" not in pools.pools, "the pool closed"
    assert not [a for a in actions if isinstance(a, StartReplica)], "a closing pool starts nothing"
    assert [(a.task, a.reason) for a in actions if isinstance(a, FailTask)] == [("t", "crashed")]
    stops = [(r[2], r[4]) for r in pools.records if r[1] == "replica_stop"]
    assert stops == [(rid, "crashed") for rid in started], "every dead replica stops once, no other starts"


def test_a_ready_replica_ends_the_run_of_start_failures():
    pools = Pools()
    pool = pools.add(Pool(ReusePolicy(replicas=2), name="a"))
    rid = [a.replica for a in pool.submit(0.0, "t") if isinstance(a, StartReplica)][0]
    for n in range(5):  # dead before ready, then ready, then dead before ready again...
        actions = flat(pools.replica_crashed(2.0 * n + 1, "a", rid, ready=False))
        rid = [a.replica for a in actions if isinstance(a, StartReplica)][0]
        flat(pools.replica_ready(2.0 * n + 2, "a", rid))
        actions = flat(pools.replica_crashed(2.0 * n + 2, "a", rid, ready=True))
        rid = [a.replica for a in actions if isinstance(a, StartReplica)][0]
    assert "a" in pools.pools


def test_the_end_of_a_run_closes_its_own_pools_only():
    pools = Pools()
    mine = pools.add(Pool(ReusePolicy(replicas=2, scope="run"), name="mine"), run=1)
    pools.add(Pool(ReusePolicy(replicas=2, scope="run"), name="other"), run=2)
    pools.add(Pool(ReusePolicy(replicas=2), name="shared"))
    mine.submit(0.0, "t")
    closed = pools.run_ended(1.0, 1)
    assert [name for name, _ in closed] == ["mine"]
    assert set(pools.pools) == {"other", "shared"}
    assert pools.run_ended(2.0, 1) == [], "a run ends once"
    # a new pool of the same name, made later for another run, is not the closed run's
    pools.add(Pool(ReusePolicy(replicas=2, scope="run"), name="mine"), run=3)
    assert pools.run_ended(3.0, 1) == [] and "mine" in pools.pools
