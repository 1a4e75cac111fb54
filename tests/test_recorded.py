"""A run recorded as a workload: the mapping onto the simulator's call tree, and the round trip.

The mapping is checked on hand-made traces (exact numbers); the round trip runs a small
two-environment program on the real runtime, then simulates what it recorded under the
same policies and cold starts, and finds the same counts. ``reuse-ref run
--workload-out`` is checked end to end: the file it writes goes to ``simulate`` and
``plan`` as it is.
"""
import asyncio
import io
import json
import math
import subprocess
import sys
import textwrap

import pytest

from reuse_ref import Job, ReusePolicy, Runtime, TaskEnvironment, Trace, simulate
from reuse_ref.sim import ColdStart, recorded_workload
from reuse_ref.sim.cold_starts import parse_cold_start
from reuse_ref.sim.workload_csv import read_csv, write_csv
from reuse_ref.sim.workloads import burst
from reuse_ref.trace import CallNote


# ---------------------------------------------------------------------- the mapping, by hand
def _trace():
    """main (pool "driver#2") calls two leaves in "worker" and waits on them; a third call never starts."""
    rows = [
        (10.0, "task_queued", None, "main#1", "", "driver#2"),
        (10.0, "replica_start", 1, None, "", "driver#2"),
        (14.0, "replica_ready", 1, None, "", "driver#2"),
        (14.0, "task_start", 1, "main#1", "cold", "driver#2"),
        (17.0, "task_queued", None, "leaf#2", "", "worker"),
        (17.0, "replica_start", 1, None, "", "worker"),
        (18.0, "task_queued", None, "leaf#3", "", "worker"),
        (18.0, "task_queued", None, "leaf#4", "", "worker"),
        (20.0, "replica_ready", 1, None, "", "worker"),
        (20.0, "task_start", 1, "leaf#2", "cold", "worker"),
        (25.0, "task_end", 1, "leaf#2", "", "worker"),
        (25.0, "task_start", 1, "leaf#3", "warm", "worker"),
        (29.0, "task_failed", 1, "leaf#3", "error (retrying)", "worker"),
        (29.0, "task_queued", None, "leaf#3", "retry", "worker"),
        (29.0, "task_start", 1, "leaf#3", "warm", "worker"),
        (33.0, "task_end", 1, "leaf#3", "", "worker"),
        (33.0, "task_failed", None, "leaf#4", "cancelled", "worker"),
        (34.0, "task_end", 1, "main#1", "", "driver#2"),
    ]
    notes = [
        CallNote("main#1", None, "driver.main", "driver#2", True, 0, None, ((18.5, 33.0),), ((1, 1, 2.0, 19.5),)),
        CallNote("leaf#2", "main#1", "worker.leaf", "worker", True, 1, 50.0, (), ((1, 1, 1.5, 3.0),)),
        CallNote("leaf#3", "main#1", "worker.leaf", "worker", False, 2, None, (), ((1, 1, 0.0, 3.5), (2, 1, 0.0, 3.75))),
        CallNote("leaf#4", "main#1", "worker.leaf", "worker", False, 0, None, (), ()),
    ]
    return Trace(rows, calls=notes)


def test_recorded_workload_maps_each_call_onto_the_simulators_call_tree():
    jobs = {j.id: j for j in recorded_workload(_trace())}
    assert list(jobs) == ["main#1", "leaf#2", "leaf#3"]  # leaf#4 never started: it is left out
    main, leaf2, leaf3 = jobs["main#1"], jobs["leaf#2"], jobs["leaf#3"]
    # the root starts the workload; a run-scoped pool's "#2" is not part of the environment
    assert (main.at, main.parent, main.env, main.name) == (0.0, None, "driver", "driver.main")
    # the parent's own work: its replica's measure (19.5) less its wait on its children (18.5 to 33)
    assert main.duration == 19.5 - 14.5
    # a sync task that calls others is written as async: the model's parent awaits its children
    assert main.sync is False
    # children count from the parent's first start once its function was loaded: 14 + 2
    assert (leaf2.at, leaf3.at) == (17.0 - 16.0, 18.0 - 16.0)
    assert leaf2.parent == leaf3.parent == "main#1"
    # a leaf's duration is its replica's measure, of its last attempt; a sync leaf stays sync
    assert (leaf2.duration, leaf2.sync, leaf2.retries, leaf2.timeout) == (3.0, True, 1, 50.0)
    assert (leaf3.duration, leaf3.retries) == (3.75, 2)


def test_without_a_replicas_measure_the_duration_is_the_records_span():
    rows = [(0.0, "task_queued", None, "a#1", "", "e"), (0.0, "replica_start", 1, None, "", "e"),
            (1.0, "replica_ready", 1, None, "", "e"), (1.0, "task_start", 1, "a#1", "cold", "e"),
            (4.5, "task_end", 1, "a#1", "", "e")]
    [job] = recorded_workload(Trace(rows, calls=[CallNote("a#1", None, "e.a", "e", False, 0, None, ())]))
    assert (job.at, job.duration, job.env) == (0.0, 3.5, "e")


def test_a_wait_still_open_ends_with_the_attempt():
    trace = _trace()
    main = trace.calls[0]._replace(blocked=((18.5, math.inf),), attempts=())  # no measure: 14 to 34
    jobs = recorded_workload(Trace(trace.rows(), calls=[main] + trace.calls[1:]))
    assert jobs[0].duration == 20.0 - 15.5


def test_cold_starts_count_the_imports_of_a_replicas_first_calls():
    trace = _trace()
    # driver#2's replica: asked at 10, ready at 14, then 2 s loading main's function
    assert trace.cold_start_seconds("driver#2") == [6.0]
    # worker's replica: 17 to 20, then 1.5 s loading leaf's function (later loads were 0)
    assert trace.cold_start_seconds("worker") == [4.5]
    assert trace.cold_start_seconds() == [6.0, 4.5]
    # a simulated trace: request to ready, nothing else
    sim = simulate(ReusePolicy(replicas=(1, 3), idle_ttl=60, scaledown_ttl=30), burst(6, duration=20), cold_start=7)
    assert sim.cold_start_seconds() == [7.0, 7.0, 7.0]


def test_a_trace_without_call_notes_is_refused():
    sim = simulate(ReusePolicy(replicas=2), burst(3, duration=5))
    with pytest.raises(ValueError, match="no call notes"):
        recorded_workload(sim)
    f = io.StringIO()
    sim.to_csv(f)
    f.seek(0)
    with pytest.raises(ValueError, match="no call notes"):
        recorded_workload(Trace.from_csv(f))
    with pytest.raises(ValueError, match="trace="):
        recorded_workload([Job(0, 0, 1)])


def test_the_recorded_workload_survives_its_file(tmp_path):
    jobs = recorded_workload(_trace())
    path = tmp_path / "calls.csv"
    write_csv(jobs, path)
    assert read_csv(path) == jobs


# ---------------------------------------------------------------------- the round trip, on the runtime
workers = TaskEnvironment("worker", reusable=ReusePolicy(replicas=2, concurrency=1, idle_ttl=60, scaledown_ttl=30))
driver = TaskEnvironment("driver", reusable=None)


@workers.task
async def work(x: int) -> int:
    await asyncio.sleep(0.3)
    return x


@driver.task
async def fan(n: int) -> int:
    await asyncio.sleep(0.05)
    return sum(await asyncio.gather(*[work(i) for i in range(n)]))


def _counts(trace):
    out = {}
    for env in trace.envs:
        m = trace.measures(env)
        out[env] = (m.tasks, m.cold_starts, m.warm_starts, m.peak_replicas, m.failed, m.starved)
    return out


def test_simulating_a_recorded_two_environment_run_gives_back_its_counts():
    # cold_start=20 policy s (0.2 s wall): both worker replicas, asked together, are ready together
    with Runtime(time_scale=0.01, cold_start=20) as rt:
        run = rt.run(fan, 4)
    assert run.result == 6
    jobs = recorded_workload(run.trace)
    assert [j.name for j in jobs] == ["driver.fan"] + ["worker.work"] * 4
    assert {j.env for j in jobs} == {"driver", "worker"}
    assert all(j.parent == jobs[0].id for j in jobs[1:]) and jobs[0].at == 0.0
    # the leaves' durations are their replicas' measure: the 0.3 s sleep is 30 policy seconds
    assert all(29 < j.duration < 60 for j in jobs[1:]), jobs
    cold = ColdStart.samples(run.trace.cold_start_seconds("worker"), seed=1)
    sim = simulate(run.trace.policies, jobs, cold_start=cold)  # the policies, as a mapping, from the trace
    assert _counts(sim) == _counts(run.trace)
    assert _counts(sim) == {"driver": (1, 1, 0, 1, 0, 0), "worker": (4, 2, 2, 2, 0, 0)}


def test_a_runs_trace_holds_its_own_calls_and_the_runtimes_trace_every_call():
    with Runtime(time_scale=0.01) as rt:
        first, second = rt.run(fan, 1), rt.run(fan, 2)
        everything = rt.trace
    own = recorded_workload(second.trace)
    assert [j.name for j in own] == ["driver.fan", "worker.work", "worker.work"] and own[0].at == 0.0
    assert {n.task for n in first.trace.calls}.isdisjoint(n.task for n in second.trace.calls)
    both = recorded_workload(everything)
    roots = [j for j in both if j.parent is None]
    assert len(both) == 5 and len(roots) == 2
    assert roots[0].at == 0.0 and roots[1].at > 0  # the second run came after the first, in policy seconds


# ---------------------------------------------------------------------- reuse-ref run --workload-out
ONE_ENV = '''
import asyncio
import flyte

env = flyte.TaskEnvironment(name="fan", reusable=flyte.ReusePolicy(replicas=(1, 3), concurrency=2, idle_ttl=60,
                                                                    scaledown_ttl=30))

@env.task
async def leaf(x: int) -> int:
    await asyncio.sleep(0.1)
    return x

@env.task
async def main(n: int = 4) -> int:
    return sum(await asyncio.gather(*[leaf(i) for i in range(n)]))
'''


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "reuse_ref.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=170)


@pytest.mark.timeout(180)
def test_run_workload_out_then_simulate_and_plan_with_no_editing(tmp_path):
    (tmp_path / "prog.py").write_text(textwrap.dedent(ONE_ENV))
    done = _cli("run", "--json", "--time-scale", "0.01", "--workload-out", "calls.csv", "prog.py", "main",
                "--n", "4", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["result"] == 6
    env = summary["environments"]["fan"]
    samples = parse_cold_start(env["cold_start_samples"])  # the form --cold-start reads
    assert len(samples.values) == env["cold_starts"] and all(v > 0 for v in samples.values)
    text = (tmp_path / "calls.csv").read_text()
    assert text.startswith("# reuse-ref ") and ", workload format 1\n" in text
    jobs = read_csv(tmp_path / "calls.csv")
    assert [j.name for j in jobs] == ["fan.main"] + ["fan.leaf"] * 4 and {j.env for j in jobs} == {"fan"}

    sim = _cli("simulate", "--workload", "calls.csv", "--replicas", "1,3", "--concurrency", "2",
               "--cold-start", env["cold_start_samples"], "--json", cwd=tmp_path)
    assert sim.returncode == 0, sim.stderr
    out = json.loads(sim.stdout)
    assert out["env"] == "fan" and out["tasks"] == 5 and out["failed"] == 0

    plan = _cli("plan", "--workload", "calls.csv", "--max", "1..3", "--concurrency", "1,2", "--target", "p95<=60",
                "--price-replica-hour", "1", "--workers", "1", "--json", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["recommended"] is not None


def test_run_refuses_a_workload_out_over_its_program(tmp_path):
    (tmp_path / "prog.py").write_text(textwrap.dedent(ONE_ENV))
    done = _cli("run", "--workload-out", "prog.py", "prog.py", "main", cwd=tmp_path)
    assert done.returncode == 2
    assert "--workload-out prog.py" in done.stderr and "overwrite" in done.stderr
    assert (tmp_path / "prog.py").read_text() == textwrap.dedent(ONE_ENV)


# ---------------------------------------------------------------------- the file's format line
@pytest.mark.parametrize("first, message", [
    ("# reuse-ref 9.1.0, workload format 2", "written by reuse-ref 9.1.0 in workload format 2"),
    ("# reuse-ref 0.1.0, workload format one", "workload format one"),
    ("# reuse-ref wrote this in its own format", "is not a format line"),
])
def test_a_workload_file_of_another_format_is_refused(tmp_path, first, message):
    path = tmp_path / "calls.csv"
    path.write_text(f"{first}\nat,duration\n0,5\n")
    with pytest.raises(ValueError, match="calls.csv, line 1: ") as e:
        read_csv(path)
    assert message in str(e.value) and "workload format 1" in str(e.value)
    done = _cli("simulate", "--workload", path, cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr


def test_comment_lines_before_the_header_are_read_past_and_lines_still_counted(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("# exported from our history\n# reuse-ref 0.1.0, workload format 1\nat,duration\n0,5\n1,-1\n")
    with pytest.raises(ValueError, match="w.csv, line 5: duration='-1'"):
        read_csv(path)
    path.write_text("# just a comment\nat,duration\n0,5\n")
    assert read_csv(path) == [Job(0, 0.0, 5.0)]


def test_a_single_policy_takes_the_name_of_the_one_environment_the_jobs_name():
    jobs = [Job(0, 0.0, 5.0, env="fan"), Job(1, 1.0, 5.0, env="fan")]
    assert simulate(ReusePolicy(replicas=2), jobs).envs == ["fan"]
    assert simulate(ReusePolicy(replicas=2), [Job(0, 0.0, 5.0)]).envs == ["env"]
    with pytest.raises(ValueError, match="env='fan' is not valid"):
        simulate(ReusePolicy(replicas=2), jobs, name="other")
