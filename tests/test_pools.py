"""Rules 6 and 7 across pools (``reuse_ref.pools``), and the simulator with several environments."""
from __future__ import annotations

import io
import warnings

import pytest

from reuse_ref import Job, ReusePolicy, StarvationWarning, read_csv, simulate, write_csv
from reuse_ref.core.pool import FailTask, Pool
from reuse_ref.core.pools import FAIL_AFTER_EXECUTABLE_NODES_COMPLETE, Pools


def policy(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarvationWarning)
        return ReusePolicy(**kwargs)


def J(id, at, duration, parent=None, env=None, retries=0):
    return Job(id, float(at), float(duration), None, parent, retries, env)


def ready_pool(pools, name, **kwargs):
    pool = pools.add(Pool(policy(**kwargs), name=name))
    return pool


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
        pools.waits[(name, "parent")] = {(name, "child")}
    decided = pools.check(3.0)
    assert sorted(name for name, _ in decided) == ["x", "y"]
    assert sum(r[1] == "starvation" for r in pools.records) == 2


# ---------------------------------------------------------------------- rule 7
def test_parent_ended_cancels_or_holds_by_policy():
    for policy_name, expected in [("FAIL_IMMEDIATELY", ([("a", "k1"), ("a", "k2")], False)),
                                  (FAIL_AFTER_EXECUTABLE_NODES_COMPLETE, ([], True))]:
        pools = Pools(policy_name)
        pools.called(("a", "p"), ("a", "k1"))
        pools.called(("a", "p"), ("a", "k2"))
        assert pools.parent_ended(("a", "p"), failed=True) == expected
    pools = Pools(FAIL_AFTER_EXECUTABLE_NODES_COMPLETE)
    pools.called(("a", "p"), ("a", "k"))
    assert pools.parent_ended(("a", "p"), failed=False) == ([("a", "k")], False), "a parent that ended well"


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
    assert buffer.getvalue().splitlines()[0] == "id,at,duration,name,parent,retries,env"
    buffer.seek(0)
    assert read_csv(buffer) == jobs
    plain = io.StringIO()
    write_csv([J(0, 0, 1)], plain)
    assert plain.getvalue().splitlines()[0] == "id,at,duration,name,parent,retries", "no env column when none is named"


# ---------------------------------------------------------------------- lifecycle beyond one pool
@pytest.mark.filterwarnings("ignore::reuse_ref.StarvationWarning")
def test_three_replicas_dead_before_ready_in_a_row_close_the_pool():
    from reuse_ref.core.pool import FailTask, StartReplica
    from reuse_ref.core.pools import START_FAILURES_LIMIT

    pools = Pools()
    pool = pools.add(Pool(ReusePolicy(replicas=1), name="a"))
    started = [a.replica for a in pool.submit(0.0, "t") if isinstance(a, StartReplica)]
    for n in range(1, START_FAILURES_LIMIT):
        actions, closed = pools.replica_crashed(float(n), "a", started[-1], ready=False)
        assert not closed
        started += [a.replica for a in actions if isinstance(a, StartReplica)]
    assert len(started) == START_FAILURES_LIMIT, "each dead replica was replaced until the limit"
    actions, closed = pools.replica_crashed(9.0, "a", started[-1], ready=False)
    assert closed and "a" not in pools.pools
    assert not [a for a in actions if isinstance(a, StartReplica)], "a closing pool starts nothing"
    assert [(a.task, a.reason) for a in actions if isinstance(a, FailTask)] == [("t", "crashed")]
    stops = [(r[2], r[4]) for r in pools.records if r[1] == "replica_stop"]
    assert stops == [(rid, "crashed") for rid in started], "every dead replica stops once, no other starts"


def test_a_ready_replica_ends_the_run_of_start_failures():
    from reuse_ref.core.pool import StartReplica

    pools = Pools()
    pool = pools.add(Pool(ReusePolicy(replicas=2), name="a"))
    rid = [a.replica for a in pool.submit(0.0, "t") if isinstance(a, StartReplica)][0]
    for n in range(5):  # dead before ready, then ready, then dead before ready again...
        actions, closed = pools.replica_crashed(2.0 * n + 1, "a", rid, ready=False)
        assert not closed
        rid = [a.replica for a in actions if isinstance(a, StartReplica)][0]
        pools.replica_ready(2.0 * n + 2, "a", rid)
        actions, closed = pools.replica_crashed(2.0 * n + 2, "a", rid, ready=True)
        assert not closed
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
