"""The two drivers agree: 41 workloads through the simulator and through real replicas.

Both drivers feed the same core (``reuse_ref.core``: the pools and their timeouts), so for the
same workload they must tell the same story (:func:`agreement.story`): cold and warm
starts, peak replicas, the order and reasons of stops, every failure reason and each
starvation record. Real clocks are noisy, so no workload here has a tie that noise could
flip: top-level jobs arrive one at a time, events that the rules order are at least 10
policy seconds apart (0.5 s of wall time at the scale used), and replicas go idle far
enough apart that which one a scale-down picks does not depend on milliseconds. Both
readings of rule 3 run (``READINGS``), and so do the two things the simulator models as
the runtime does them: a retried parent calling its children again, and ``scope="run"``
pools, one per run, closed when the run ends.
"""
from __future__ import annotations

import sys

import cloudpickle
import pytest

import agreement
from agreement import Case, policy, ran, simulated, story
from reuse_ref import Job

cloudpickle.register_pickle_by_value(agreement)

pytestmark = pytest.mark.timeout(180)


def J(id, at, duration, parent=None, env=None, retries=0, name=None, timeout=None, sync=False):
    return Job(id, float(at), float(duration), name, parent, retries, env,
               None if timeout is None else float(timeout), sync)


def fan(first, n, child, parent_duration, env="a", at=0, child_at=0, kid_env=None):
    return [J(first, at, parent_duration, env=env)] + [
        J(first + 1 + k, child_at, child + 10 * k, parent=first, env=kid_env) for k in range(n)]


CASES = [
    # no reuse: every call starts a fresh replica, which stops ("off") when the call ends
    Case("off_each_call_cold", [J(0, 0, 20, env="o"), J(1, 15, 20, env="o")], {"o": None}),
    # the remedy for a starving parent: the parent without reuse, its children in a pool of one
    Case("off_parent_does_not_starve", fan(0, 2, 10, 20, env="d", kid_env="a"), {"d": None, "a": policy(replicas=1)}),
    # one pool: scale up on staggered arrivals, then one scale-down per idle replica, 45 s apart
    Case("scale_up_then_down", [J(0, 0, 150, env="a"), J(1, 20, 40, env="a"), J(2, 40, 65, env="a")],
         {"a": policy(replicas=(1, 3), scaledown_ttl=30, idle_ttl=60)}),
    Case("concurrency_two", [J(i, 15 * i, 60, env="a") for i in range(4)],
         {"a": policy(replicas=(1, 2), concurrency=2, scaledown_ttl=30, idle_ttl=60)}),
    Case("two_waves", [J(0, 0, 40, env="a"), J(1, 20, 60, env="a"), J(2, 300, 40, env="a"), J(3, 320, 60, env="a")],
         {"a": policy(replicas=(1, 2), scaledown_ttl=30, idle_ttl=120)}),
    Case("spaced_arrivals", [J(i, 40 * i, 15, env="a") for i in range(5)],
         {"a": policy(replicas=(0, 3), scaledown_ttl=30, idle_ttl=60)}),
    Case("idle_then_cold_again", [J(0, 0, 10, env="a"), J(1, 100, 10, env="a")],
         {"a": policy(replicas=2, idle_ttl=30)}),
    Case("always_on", [J(0, 0, 100, env="a"), J(1, 20, 30, env="a")],
         {"a": policy(replicas=(1, 2), idle_ttl=None, scaledown_ttl=30)}),
    Case("queue_then_warm", [J(0, 0, 30, env="a"), J(1, 15, 30, env="a"), J(2, 30, 30, env="a")],
         {"a": policy(replicas=1, idle_ttl=60)}),
    Case("fan_out_fits", fan(0, 2, 20, 40), {"a": policy(replicas=(1, 3), concurrency=2, idle_ttl=60)}),
    Case("fan_out_starves", fan(0, 3, 10, 20), {"a": policy(replicas=1)}),
    Case("fan_out_starves_late_child", fan(0, 2, 10, 20, child_at=40), {"a": policy(replicas=1)}),
    Case("nested_two_envs", fan(0, 2, 20, 10, kid_env="b"),
         {"a": policy(replicas=1), "b": policy(replicas=1, concurrency=2, idle_ttl=60)}),
    Case("starvation_across_envs", [J(0, 0, 10, env="a"), J(1, 0, 10, parent=0, env="b"),
                                    J(2, 0, 10, parent=1, env="a")],
         {"a": policy(replicas=1), "b": policy(replicas=1)}),
    Case("cross_envs_with_room", [J(0, 0, 10, env="a"), J(1, 0, 10, parent=0, env="b"),
                                  J(2, 0, 10, parent=1, env="a")],
         {"a": policy(replicas=1, concurrency=2, idle_ttl=60), "b": policy(replicas=1)}),
    Case("starvation_beside_a_healthy_env", fan(0, 2, 10, 20) + [J(10 + i, 5 + 40 * i, 15, env="b") for i in range(3)],
         {"a": policy(replicas=1), "b": policy(replicas=1, idle_ttl=60)}),
    Case("independent_envs", [J(i, 40 * i, 15, env="a") for i in range(3)] + [J(10 + i, 20 + 40 * i, 15, env="b") for i in range(3)],
         {"a": policy(replicas=(0, 2), idle_ttl=60), "b": policy(replicas=1, idle_ttl=90)}),
    Case("crash_retried", [J(0, 0, 20, env="a", retries=1, name="crash"), J(1, 15, 60, env="a")],
         {"a": policy(replicas=(1, 2), idle_ttl=60)}),
    Case("crash_final", [J(0, 0, 20, env="a", name="crash"), J(1, 15, 60, env="a")],
         {"a": policy(replicas=(1, 2), idle_ttl=60)}),
    Case("crashed_child_cancels_sibling", [J(0, 0, 5, env="a"), J(1, 0, 20, parent=0, name="crash"),
                                           J(2, 15, 300, parent=0)],
         {"a": policy(replicas=1, concurrency=3, idle_ttl=60)}),
    Case("crashed_child_sibling_finishes", [J(0, 0, 5, env="a"), J(1, 0, 20, parent=0, name="crash"),
                                            J(2, 0, 20, parent=0, env="b")],
         {"a": policy(replicas=1, concurrency=2, idle_ttl=60), "b": policy(replicas=1, idle_ttl=60)},
         "FAIL_AFTER_EXECUTABLE_NODES_COMPLETE"),
    Case("concurrency_four", [J(i, 10 * i, 45, env="a") for i in range(6)],
         {"a": policy(replicas=(1, 2), concurrency=4, scaledown_ttl=30, idle_ttl=60)}),
    Case("two_levels_one_env", [J(0, 0, 10, env="a"), J(1, 0, 10, parent=0), J(2, 0, 10, parent=1)],
         {"a": policy(replicas=1, concurrency=3, idle_ttl=60)}),
    Case("starves_under_fail_after", fan(0, 2, 10, 20), {"a": policy(replicas=1)},
         "FAIL_AFTER_EXECUTABLE_NODES_COMPLETE"),
    # timeouts, decided in the core: an async attempt is cancelled and its replica kept...
    Case("timeout_async_keeps_its_replica", [J(0, 0, 60, env="a", timeout=20), J(1, 45, 10, env="a")],
         {"a": policy(replicas=1, idle_ttl=60)}),
    Case("timeout_async_retried", [J(0, 0, 60, env="a", timeout=20, retries=1)],
         {"a": policy(replicas=1, idle_ttl=60)}),
    # ... a sync one costs its replica (reason timeout), which rule 2 replaces
    Case("timeout_sync_costs_its_replica", [J(0, 0, 60, env="a", timeout=20, sync=True), J(1, 55, 10, env="a")],
         {"a": policy(replicas=1, idle_ttl=60)}),
    Case("timeout_sync_retried_on_a_new_replica", [J(0, 0, 60, env="a", timeout=20, sync=True, retries=1)],
         {"a": policy(replicas=(0, 1), idle_ttl=60)}),
    # a parent over its timeout while it awaits: its children are cancelled (rule 7)
    Case("timeout_of_a_parent_cancels_its_children",
         [J(0, 0, 10, env="a", timeout=25), J(1, 0, 40, parent=0), J(2, 0, 50, parent=0)],
         {"a": policy(replicas=(1, 3), idle_ttl=60, scaledown_ttl=300)}),
    # without reuse: the replica of a timed-out attempt stops ("off"), or is stopped ("timeout")
    Case("timeout_without_reuse", [J(0, 0, 60, env="o", timeout=20), J(1, 5, 60, env="o", timeout=20, sync=True)],
         {"o": None}),
    # a retried parent runs its code again: the new attempt calls its children again, as new
    # calls; the first attempt's calls are cancelled with it...
    Case("retried_parent_calls_new_children", [J(0, 0, 30, env="a", retries=1, name="crash"),
                                               J(1, 0, 40, parent=0, env="b"), J(2, 0, 55, parent=0, env="b")],
         {"a": policy(replicas=1, idle_ttl=60), "b": policy(replicas=(1, 2), idle_ttl=60)}),
    # ... or, under FAIL_AFTER_EXECUTABLE_NODES_COMPLETE, run to their end beside the new ones
    Case("retried_parent_old_children_run_on", [J(0, 0, 30, env="a", retries=1, name="crash"),
                                                J(1, 0, 55, parent=0, env="b"), J(2, 0, 70, parent=0, env="b")],
         {"a": policy(replicas=1, idle_ttl=60), "b": policy(replicas=(1, 4), idle_ttl=60)},
         "FAIL_AFTER_EXECUTABLE_NODES_COMPLETE"),
    # scope="run": each run (a top-level job and what it calls) gets its own pool, closed when it ends
    Case("run_scope_each_run_starts_cold", [J(0, 0, 20, env="a"), J(1, 100, 20, env="a")],
         {"a": policy(replicas=1, idle_ttl=600, scope="run")}),
    Case("run_scope_two_runs_at_once", [J(0, 0, 40, env="a"), J(1, 15, 40, env="a")],  # pools a and a#2
         {"a": policy(replicas=1, idle_ttl=600, scope="run")}),
    Case("run_scope_children_in_a_run_pool",
         [J(0, 0, 10, env="d"), J(1, 0, 20, parent=0, env="w"), J(2, 0, 30, parent=0, env="w"),
          J(3, 100, 10, env="d"), J(4, 0, 20, parent=3, env="w"), J(5, 0, 30, parent=3, env="w")],
         {"d": policy(replicas=1, idle_ttl=60), "w": policy(replicas=(0, 2), idle_ttl=600, scope="run")}),
]


# Rule 3's two readings, each case under both on both drivers. Replicas go idle at least 10
# policy seconds apart, and no due time meets another timer or an arrival, so that the
# order in which a real clock finds them due is the order the rules give.
READINGS = [
    # four replicas idle in turn, min 1: per replica each stops as it falls due (1, 2, 3);
    # paced, one per period, the highest id of those due (1, then 3 of 2 and 3, then 4 of 2 and 4)
    Case("four_idle_in_turn", [J(0, 0, 50, env="a"), J(1, 10, 50, env="a"), J(2, 20, 50, env="a"),
                               J(3, 30, 60, env="a")],
         {"a": policy(replicas=(1, 4), scaledown_ttl=30, idle_ttl=None)}),
    # min 2 keeps whichever replicas are left: per replica the two that went idle last, paced others
    Case("min_keeps_the_last_idle", [J(0, 0, 50, env="a"), J(1, 20, 50, env="a"), J(2, 30, 40, env="a"),
                                     J(3, 45, 60, env="a")],
         {"a": policy(replicas=(2, 4), scaledown_ttl=30, idle_ttl=None)}),
    # a late task finds replica 3 per replica (1 and 2 have gone), replica 2 paced (only 1 has)
    Case("a_late_task_finds_the_replica_left", [J(i, 20 * i, 60, env="a") for i in range(3)] + [J(3, 160, 60, env="a")],
         {"a": policy(replicas=(0, 3), scaledown_ttl=60, idle_ttl=120)}),
]
CASES += [c._replace(name=f"{c.name}_{reading}", scaledown=reading) for c in READINGS
          for reading in ("paced", "per_replica")]


def test_there_are_enough_cases():
    assert len(CASES) >= 20 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", READINGS, ids=[c.name for c in READINGS])
def test_the_readings_of_rule_3_tell_these_cases_differently(case):
    """So that running them under both readings on both drivers checks both readings."""
    paced, each = story(simulated(case._replace(scaledown="paced"))), story(simulated(case._replace(scaledown="per_replica")))
    assert paced["a"]["stops"] != each["a"]["stops"]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_both_drivers_tell_the_same_story(case, tmp_path, monkeypatch):
    monkeypatch.setattr(agreement, "MARKERS", str(tmp_path))
    expected = story(simulated(case))
    assert story(ran(case)) == expected
