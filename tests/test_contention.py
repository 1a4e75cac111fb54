"""cpu_bound: the CPU part of each task shares its replica's cores by processor sharing."""
from __future__ import annotations

import json
import warnings

import pytest

from reuse_ref import ReusePolicy, Resources, simulate
from reuse_ref.cli import main
from reuse_ref.plan import plan
from reuse_ref.sim.workloads import burst, fan_out, merge, poisson
from reuse_ref.sim.workload_csv import write_csv

ONE = ReusePolicy(replicas=1, concurrency=4, idle_ttl=60)


def ends(trace):
    return [r.time for r in trace.records if r.kind == "task_end"]


@pytest.mark.parametrize("f, cpu, end", [
    (0.0, None, 15.0),   # I/O only: four at once run as fast as one
    (1.0, None, 45.0),   # four CPU-bound tasks on one core: each at a quarter speed
    (0.5, None, 30.0),   # 5 core-s at a quarter speed, then 5 s of I/O
    (1.0, 0.5, 45.0),    # at least one core
    (1.0, 2, 25.0),      # two cores: half speed
    (1.0, 4, 15.0),      # a core each: no slowdown
])
def test_a_burst_on_one_replica(f, cpu, end):
    res = None if cpu is None else Resources(cpu=cpu)
    trace = simulate(ONE, burst(4, duration=10), cold_start=5, resources=res, cpu_bound=f)
    assert ends(trace) == [end] * 4
    assert trace.measures().busy_slot_seconds == pytest.approx(4 * (end - 5))


def test_shares_change_as_tasks_come_and_go():
    # alone for 5 s (5 core-s done), then both at half speed: the first ends at 15, the second at 20
    jobs = burst(1, at=0, duration=10) + burst(1, at=5, duration=10, first_id=1)
    trace = simulate(ONE, jobs, cold_start=0, cpu_bound=1.0)
    assert [(r.time, r.task) for r in trace.records if r.kind == "task_end"] == [(15.0, 0), (20.0, 1)]


def test_zero_is_the_simulation_without_contention():
    jobs = merge(poisson(0.3, 20, 600, seed=4, jitter=0.5), burst(30, at=300, duration=15))
    policy = ReusePolicy(replicas=(1, 4), concurrency=3, idle_ttl=120, scaledown_ttl=60)
    assert simulate(policy, jobs, cpu_bound=0.0).records == simulate(policy, jobs).records
    assert simulate(policy, jobs, cpu_bound=0.3).records != simulate(policy, jobs).records


def test_every_task_ends_with_parents_and_crashes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        policy = ReusePolicy(replicas=(1, 3), concurrency=2)
    m = simulate(policy, merge(fan_out(4, 10, 5), poisson(0.2, 10, 300)), cpu_bound=0.7).measures()
    assert m.done + m.failed + m.starved == m.tasks and m.done > 0
    m = simulate(policy, poisson(0.3, 10, 300), cpu_bound=0.7, crashes=[(50, 0), (100, 1)]).measures()
    assert m.done + m.failed + m.starved == m.tasks and m.failed > 0  # the crashed attempts had no retries


@pytest.mark.parametrize("value", [-0.1, 1.5, True, "0.5", float("nan")])
def test_bad_cpu_bound(rejects, value):
    with rejects("cpu_bound", value, "between 0"):
        simulate(ONE, burst(2), cpu_bound=value)


CANDIDATES = {"min": [0], "max": [1, 2, 4, 8], "concurrency": [1, 4, 8], "idle_ttl": [300]}


def test_cpu_bound_changes_the_recommendation():
    jobs = poisson(0.2, 20, 3600, seed=7)  # 4 busy slots on average
    args = dict(candidates=CANDIDATES, target="p95<=30", prices={"cpu_hour": 1.0}, cold_start=10,
                resources=Resources(cpu=1), workers=1)
    io = plan(jobs, **args)
    cpu = plan(jobs, cpu_bound=1.0, **args)
    assert io.recommended.policy.concurrency > 1  # concurrency is free when tasks wait on I/O
    assert cpu.recommended.policy != io.recommended.policy
    # on one core, CPU-bound tasks need replicas, not slots: the I/O choice misses the target
    assert cpu.recommended.policy.max_replicas > io.recommended.policy.max_replicas
    again = {c.policy: c for c in cpu.candidates}[io.recommended.policy]
    assert again.category == "misses the target"


def test_cli_cpu_bound(capsys, tmp_path):
    path = tmp_path / "jobs.csv"
    write_csv(poisson(0.2, 20, 3600, seed=7), path)
    argv = ["plan", "--workload", str(path), "--min", "0", "--max", "1,2,4,8", "--concurrency", "1,4,8",
            "--idle-ttl", "300", "--target", "p95<=30", "--price-cpu-hour", "1", "--cpu", "1", "--workers", "1",
            "--json"]
    assert main(argv) == 0
    io = json.loads(capsys.readouterr().out)["recommended"]
    assert main(argv + ["--cpu-bound", "1"]) == 0
    cpu = json.loads(capsys.readouterr().out)["recommended"]
    assert cpu["max"] > io["max"]
    assert main(argv + ["--cpu-bound", "2"]) == 2
    assert "--cpu-bound=2.0 is not valid" in capsys.readouterr().err


def test_parallel_workers_give_the_serial_answer_with_contention():
    jobs = poisson(0.2, 20, 1800, seed=8)
    args = dict(candidates=CANDIDATES, target="p95<=30", prices={"cpu_hour": 1.0}, cold_start=10,
                resources=Resources(cpu=2), cpu_bound=0.6)
    assert plan(jobs, workers=2, **args) == plan(jobs, workers=1, **args)
