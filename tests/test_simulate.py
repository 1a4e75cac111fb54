"""simulate(): the virtual-clock driver of the pool (SPEC 5), end to end on small workloads."""
from __future__ import annotations

import warnings

import pytest

from reuse_ref import ReusePolicy, Resources, StarvationWarning
from reuse_ref.sim import simulate
from reuse_ref.trace import Trace
from reuse_ref.sim.workloads import Job, burst, bursts, diurnal, fan_out, merge, poisson


def policy(**kw) -> ReusePolicy:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarvationWarning)
        return ReusePolicy(**kw)


def stops(trace):
    return [(r.time, r.replica, r.reason) for r in trace.records if r.kind == "replica_stop"]


def ends(trace):
    """task -> (time, outcome) of its final record."""
    out = {}
    for r in trace.records:
        if r.kind == "task_end":
            out[r.task] = (r.time, "done")
        elif r.kind == "task_failed" and not r.reason.endswith("(retrying)"):
            out[r.task] = (r.time, r.reason)
    return out


def first(trace, kind, task):
    return next(r for r in trace.records if r.kind == kind and r.task == task)


# --- the pool's scenarios, through the driver -----------------------------------------------

def test_scale_down_walk_through_of_seed_003():
    trace = simulate(policy(replicas=(1, 5), scaledown_ttl=60, idle_ttl=600), burst(5, duration=90), cold_start=10)
    assert stops(trace) == [(160.0, 5, "scaledown"), (220.0, 4, "scaledown"), (280.0, 3, "scaledown"),
                            (340.0, 2, "scaledown"), (700.0, 1, "idle_ttl")]
    assert trace.records[-1].time == 700.0  # the run goes on until the timers are done


def test_fixed_pool_never_scales_down():
    trace = simulate(policy(replicas=3, idle_ttl=None), bursts(4, 3, gap=500, duration=30))
    assert stops(trace) == []
    m = trace.measures()
    assert m.cold_starts == 3 and m.peak_replicas == 3 and m.done == 12


def test_cold_autoscaling_pool_under_one_job_starts_min():
    trace = simulate(policy(replicas=(2, 5)), burst(1, duration=5))
    assert trace.measures().cold_starts == 2


def test_running_tasks_never_exceed_capacity():
    p = policy(replicas=(1, 3), concurrency=2)
    trace = simulate(p, burst(50, duration=20), cold_start=10)
    assert max(trace.series().busy) == p.capacity
    m = trace.measures()
    assert m.peak_replicas == 3 and m.done == 50
    # 50 tasks, 6 at a time, 20 s each, after one 10 s cold start: 9 rounds
    assert m.makespan == 10 + 9 * 20


def test_idle_ttl_none_keeps_min_replicas_forever():
    trace = simulate(policy(replicas=(1, 3), idle_ttl=None, scaledown_ttl=30), burst(6, duration=10))
    assert [reason for *_, reason in stops(trace)] == ["scaledown", "scaledown"]
    assert trace.series().replicas[-1] == 1


def test_fan_out_starves_one_slot_and_completes_with_two():
    workload = fan_out(3, child_duration=10, parent_duration=5)
    starved = simulate(policy(replicas=1, concurrency=1), workload, cold_start=10)
    m = starved.measures()
    assert (m.tasks, m.done, m.starved, m.failed) == (4, 0, 4, 0)
    # the children fail the moment the parent starts waiting, and the parent with them
    assert {task: outcome for task, outcome in ends(starved).items()} == {k: (15.0, "starvation") for k in range(4)}
    assert sum(r.kind == "starvation" for r in starved.records) == 1

    for ok in (policy(replicas=2, concurrency=1), policy(replicas=1, concurrency=2)):
        trace = simulate(ok, workload, cold_start=10)
        m = trace.measures()
        assert (m.done, m.starved) == (4, 0)
        # the parent ends last, when its last child does
        assert ends(trace)[0][0] == max(t for t, _ in ends(trace).values())


def test_a_child_is_called_when_its_parent_starts_plus_its_at():
    jobs = [Job("p", 100.0, 30.0), Job("c", 7.0, 5.0, parent="p")]
    trace = simulate(policy(replicas=2), jobs, cold_start=10)
    assert first(trace, "task_start", "p").time == 110.0
    assert first(trace, "task_queued", "c").time == 117.0
    # the parent's own 30 s of work outlast the child: it is not waiting at all
    assert ends(trace) == {"c": (122.0, "done"), "p": (140.0, "done")}


def test_a_parent_waits_for_a_child_that_is_called_late():
    jobs = [Job("p", 0.0, 5.0), Job("c", 20.0, 5.0, parent="p")]
    trace = simulate(policy(replicas=2), jobs, cold_start=10)
    # the parent works 10..15, waits holding its slot, the child runs 30..35
    assert ends(trace) == {"c": (35.0, "done"), "p": (35.0, "done")}
    assert trace.measures().busy_slot_seconds == 25 + 5


def test_children_of_a_parent_that_never_started_are_never_called():
    jobs = [Job("gp", 0.0, 5.0), Job("p", 0.0, 5.0, parent="gp"), Job("c", 0.0, 5.0, parent="p")]
    trace = simulate(policy(replicas=1), jobs, cold_start=10)
    assert ends(trace) == {"p": (15.0, "starvation"), "gp": (15.0, "starvation")}
    assert all(r.task != "c" for r in trace.records)


# --- same-instant order and timers ------------------------------------------------------------

def test_an_arrival_takes_a_slot_freed_at_the_same_instant():
    jobs = [Job(0, 0.0, 20.0), Job(1, 30.0, 5.0)]
    trace = simulate(policy(replicas=(1, 2)), jobs, cold_start=10)
    assert trace.measures().cold_starts == 1
    assert first(trace, "task_start", 1).reason == "warm"


def test_an_arrival_exactly_when_idle_ttl_runs_out_still_finds_the_environment():
    jobs = [Job(0, 0.0, 10.0), Job(1, 80.0, 10.0)]  # empty from 20; idle_ttl due at 80
    trace = simulate(policy(replicas=1, idle_ttl=60), jobs, cold_start=10)
    assert first(trace, "task_start", 1).time == 80.0
    assert stops(trace) == [(150.0, 1, "idle_ttl")]


def test_workload_order_does_not_matter_only_arrival_times_do():
    jobs = poisson(0.2, 20, 600, seed=3)
    a = simulate(policy(replicas=(0, 3)), jobs)
    b = simulate(policy(replicas=(0, 3)), list(reversed(jobs)))
    assert a.records == b.records


# --- crashes --------------------------------------------------------------------------------------

def test_crash_retries_the_attempts_it_held():
    jobs = [Job("a", 0, 20, retries=1), Job("b", 0, 20, retries=0)]
    trace = simulate(policy(replicas=2), jobs, cold_start=10, crashes=[(15, 1)])
    # replica 3 replaces replica 1 at 15, is ready at 25, and runs a's second attempt to 45
    assert ends(trace) == {"a": (45.0, "done"), "b": (30.0, "done")}
    assert [(r.time, r.replica) for r in trace.records if r.kind == "replica_start"] == [(0.0, 1), (0.0, 2), (15.0, 3)]
    assert stops(trace)[0] == (15.0, 1, "crashed")
    assert ("task_failed", "a", "crashed (retrying)") in [(r.kind, r.task, r.reason) for r in trace.records]


def test_crash_without_retries_fails_the_job_and_its_waiting_parent():
    jobs = [Job("p", 0, 5), Job("c", 0, 50, parent="p")]
    trace = simulate(policy(replicas=2), jobs, cold_start=10, crashes=[(30, 2, "oom")])
    assert ends(trace) == {"c": (30.0, "oom"), "p": (30.0, "oom")}


def test_crashing_a_replica_that_is_not_there_changes_nothing():
    jobs = burst(3, duration=5)
    assert simulate(policy(replicas=1), jobs, crashes=[(1, 99)]).records == simulate(policy(replicas=1), jobs).records


# --- determinism, the trace, bad input --------------------------------------------------------

def test_same_input_gives_identical_records():
    jobs = merge(poisson(0.3, 25, 1800, seed=7, jitter=0.5), fan_out(6, 30, at=900.0), bursts(10, 3, gap=400))
    p = policy(replicas=(1, 4), concurrency=2, scaledown_ttl=45, idle_ttl=300)
    one = simulate(p, jobs, crashes=[(1000, 2)])
    two = simulate(p, list(jobs), crashes=[(1000, 2)])
    assert one.records == two.records and len(one.records) > 100


def test_every_job_ends_exactly_once():
    jobs = merge(poisson(0.5, 20, 900, seed=2), fan_out(4, 10, at=300.0))
    trace = simulate(policy(replicas=(0, 3), concurrency=2), jobs, crashes=[(310, 1), (400, 3)])
    finals = [r.task for r in trace.records
              if r.kind == "task_end" or (r.kind == "task_failed" and not r.reason.endswith("(retrying)"))]
    assert sorted(finals) == sorted(j.id for j in jobs)


def test_trace_carries_the_policy_and_resources():
    p = policy(replicas=1)
    trace = simulate(p, burst(2, duration=10), resources={"cpu": 2, "memory": "1Gi"}, name="api")
    assert isinstance(trace, Trace)
    assert trace.policies == {"api": p} and trace.resources == {"api": Resources(cpu=2, memory="1Gi")}
    assert {r.env for r in trace.records} == {"api"}
    m = trace.measures()
    assert m.cpu_seconds == 2 * m.replica_seconds and m.gib_seconds == m.replica_seconds


def test_empty_workload_gives_an_empty_trace():
    trace = simulate(policy(replicas=2), [])
    assert trace.records == [] and trace.measures().tasks == 0


def test_progress_bar_on_request_and_not_for_small_workloads(capsys):
    simulate(policy(replicas=2), burst(3, duration=1), progress=True)
    assert "job" in capsys.readouterr().err
    simulate(policy(replicas=2), burst(3, duration=1))
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(policy="p"), "policy="),
    (dict(cold_start=-1), "cold_start=-1"),
    (dict(cold_start=float("nan")), "cold_start=nan"),
    (dict(workload=[Job(1, 0, -5)]), "workload[0]: duration=-5"),
    (dict(workload=[Job(1, 0, 5), Job(1, 3, 5)]), "workload[1]: id=1"),
    (dict(workload=[Job(1, 0, 5, parent=9)]), "workload[0]: parent=9"),
    (dict(workload=[Job(1, 0, 5, parent=2), Job(2, 0, 5, parent=1)]), "own ancestor"),
    (dict(workload=[(1, 0, 5)]), "workload[0]: job=(1, 0, 5)"),
    (dict(workload=[Job([1], 0, 5)]), "workload[0]: id=[1]"),
    (dict(workload=[Job(1, "soon", 5)]), "workload[0]: at='soon'"),
    (dict(workload=[Job(1, 0, 5, retries=-1)]), "retries=-1"),
    (dict(crashes=[(5,)]), "crashes item"),
    (dict(crashes=[(5, 1, "boom")]), "'crashed' or 'oom'"),
    (dict(resources=3), "resources=3"),
    # each job is finite, but one replica runs them one after the other, past the largest float
    (dict(workload=[Job(1, 0, 1e308), Job(2, 0, 1e308)]), "workload is not valid: each time is finite"),
    (dict(workload=[Job(1, 0, 1e308)], cold_start=1e308), "past the largest float"),
])
def test_bad_input_is_a_value_error_naming_it(kwargs, fragment):
    args = dict(policy=policy(replicas=1), workload=burst(1))
    args.update(kwargs)
    with pytest.raises(ValueError) as info:
        simulate(**args)
    assert fragment in str(info.value)


# --- workloads ---------------------------------------------------------------------------------

def test_poisson_is_seeded_and_steady():
    from reuse_ref.sim.workloads import poisson

    a, b = poisson(0.5, 20, 3600, seed=4), poisson(0.5, 20, 3600, seed=4)
    assert a == b and a != poisson(0.5, 20, 3600, seed=5)
    assert 1600 < len(a) < 2000  # 1800 expected
    assert all(0 <= j.at < 3600 for j in a) and [j.at for j in a] == sorted(j.at for j in a)
    assert {j.duration for j in a} == {20.0}
    spread = poisson(0.5, 20, 3600, seed=4, jitter=0.5)
    assert min(j.duration for j in spread) >= 10 and max(j.duration for j in spread) <= 30
    assert len({j.duration for j in spread}) > 100


def test_burst_and_bursts_arrive_together():
    from reuse_ref.sim.workloads import burst, bursts

    assert burst(3, at=7, duration=2) == [Job(0, 7.0, 2.0), Job(1, 7.0, 2.0), Job(2, 7.0, 2.0)]
    jobs = bursts(4, 3, gap=100, at=10)
    assert [j.at for j in jobs] == [10.0] * 4 + [110.0] * 4 + [210.0] * 4
    assert [j.id for j in jobs] == list(range(12))


def test_diurnal_is_busiest_in_the_afternoon_and_quiet_at_night():
    from reuse_ref.sim.workloads import diurnal, diurnal_rate

    assert diurnal_rate(14 * 3600, 2.0) == 2.0
    assert diurnal_rate(2 * 3600, 2.0, trough=0.1) == pytest.approx(0.2)
    jobs = diurnal(0.2, seed=1)
    hour = [0] * 24
    for j in jobs:
        hour[int(j.at // 3600)] += 1
    assert sum(hour[12:17]) > 4 * sum(hour[0:5])
    assert jobs == diurnal(0.2, seed=1)


def test_fan_out_is_a_parent_and_its_children():
    jobs = fan_out(3, child_duration=10, parent_duration=2, at=5, first_id=10)
    assert jobs[0] == Job(10, 5.0, 2.0, "parent")
    assert [(j.id, j.parent, j.at) for j in jobs[1:]] == [(11, 10, 0.0), (12, 10, 0.0), (13, 10, 0.0)]


def test_merge_renumbers_ids_and_parent_links():
    jobs = merge(burst(2), fan_out(2, 5))
    assert [j.id for j in jobs] == [0, 1, 2, 3, 4]
    assert [j.parent for j in jobs] == [None, None, None, 2, 2]


@pytest.mark.parametrize("call, fragment", [
    (lambda: poisson(0, 1, 10), "rate=0"),
    (lambda: poisson(1, -1, 10), "duration=-1"),
    (lambda: poisson(1, 1, 10, jitter=2), "jitter=2"),
    (lambda: poisson(1, 1, 10, jitter="x"), "jitter='x'"),
    (lambda: diurnal(0.01, jitter=1.5), "jitter=1.5"),
    (lambda: diurnal(0.01, trough=2), "trough=2"),
    (lambda: burst(-1), "n=-1"),
    (lambda: bursts(2, 2, gap=-5), "gap=-5"),
    (lambda: fan_out(True, 5), "n_children=True"),
])
def test_generators_refuse_bad_arguments(call, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        call()


def test_workload_csv_round_trip(tmp_path):
    from reuse_ref.sim.workload_csv import read_csv, write_csv

    jobs = merge(poisson(0.1, 12.5, 600, seed=1, jitter=0.3), fan_out(2, 5, at=30.0))
    jobs.append(Job("named", 1.0 / 3, 2.0, name="x, y", retries=2))
    path = tmp_path / "w.csv"
    write_csv(jobs, path)
    first, header = path.read_text().splitlines()[:2]
    assert first.startswith("# reuse-ref ") and first.endswith(", workload format 1")
    assert header == "id,at,duration,name,parent,retries"
    assert read_csv(path) == jobs


def test_workload_csv_with_only_the_required_columns(tmp_path):
    from reuse_ref.sim.workload_csv import read_csv

    path = tmp_path / "w.csv"
    path.write_text("duration,at\n5,0\n\n7,1.5\n")
    assert read_csv(path) == [Job(0, 0.0, 5.0), Job(1, 1.5, 7.0)]


@pytest.mark.parametrize("text, fragment", [
    ("at\n0\n", "line 1: the header must name the columns at and duration; missing duration"),
    ("at,duration\n0,5\n1,five\n", "line 3: duration='five'"),
    ("at,duration\n0,5\n1,inf\n", "line 3: duration='inf'"),
    ("at,duration,retries\n0,5,1.5\n", "line 2: retries='1.5'"),
    ("id,at,duration,parent\na,0,5,b\nb,0,5,a\n", "line 2: parent='b'"),
    ("id,at,duration\n,0,5\n", "line 2: id is empty"),
    ("at,at,duration\n0,0,5\n", "line 1: column 'at' is named twice"),
])
def test_workload_csv_errors_name_the_line(tmp_path, text, fragment):
    from reuse_ref.sim.workload_csv import read_csv

    path = tmp_path / "w.csv"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        read_csv(path)
    assert str(info.value).startswith(f"{path}, ") and fragment in str(info.value)


# ---------------------------------------------------------------------- environments without reuse
def test_an_environment_without_reuse_starts_a_replica_per_attempt():
    jobs = [Job(0, 0.0, 20.0, None, None, 0, "o"), Job(1, 5.0, 20.0, None, None, 0, "o"),
            Job(2, 0.0, 10.0, None, None, 0, "a"), Job(3, 0.0, 5.0, None, 2, 0, "o")]
    trace = simulate({"o": None, "a": ReusePolicy(replicas=2)}, jobs, cold_start=10)
    off = trace.measures("o")
    assert (off.tasks, off.done, off.cold_starts, off.warm_starts, off.peak_replicas) == (3, 3, 3, 0, 3)
    stops = [(r.replica, r.reason) for r in trace.records if r.env == "o" and r.kind == "replica_stop"]
    assert sorted(stops) == [(1, "off"), (2, "off"), (3, "off")], "each replica stops with its attempt"
    assert trace.policies["o"] is None
    assert simulate({"o": "off"}, jobs[:2], cold_start=10).records == \
        simulate({"o": None}, jobs[:2], cold_start=10).records


def test_a_crash_without_reuse_is_retried_on_a_fresh_replica():
    jobs = [Job(0, 0.0, 20.0, None, None, 1, "o")]
    trace = simulate({"o": None}, jobs, cold_start=10, crashes=[(15.0, 1, "crashed", "o")])
    assert [r.reason for r in trace.records if r.kind == "task_failed"] == ["crashed (retrying)"]
    assert [r.replica for r in trace.records if r.kind == "task_start"] == [1, 2]
    assert trace.measures("o").done == 1


def test_a_policy_that_is_not_one_is_refused_by_environment(rejects):
    with rejects("policy['o']", "on", "None (or 'off')"):
        simulate({"o": "on"}, [Job(0, 0.0, 1.0, None, None, 0, "o")])
