"""Cold starts as a seeded distribution, in simulate, plan and the command line."""
from __future__ import annotations

import json

import pytest

from reuse_ref import ReusePolicy, simulate
from reuse_ref.cli import main
from reuse_ref.sim.cold_starts import ColdStart, parse_cold_start
from reuse_ref.plan import plan
from reuse_ref.trace import percentile
from reuse_ref.sim.workloads import burst, bursts, poisson
from reuse_ref.sim.workload_csv import write_csv

WIDE = ReusePolicy(replicas=(0, 50), concurrency=1, idle_ttl=30, scaledown_ttl=30)


def cold_starts(trace):
    started = {}
    out = []
    for r in trace.records:
        if r.kind == "replica_start":
            started[r.replica] = r.time
        elif r.kind == "replica_ready":
            out.append(r.time - started[r.replica])
    return out


def test_samples_are_drawn_from_and_seeded():
    cold = ColdStart.samples([5, 12, 40], seed=3)
    trace = simulate(WIDE, bursts(20, 3, 600, duration=30), cold_start=cold)
    drawn = cold_starts(trace)
    assert len(drawn) == 60 and set(drawn) <= {5.0, 12.0, 40.0} and len(set(drawn)) == 3
    assert simulate(WIDE, bursts(20, 3, 600, duration=30), cold_start=cold).records == trace.records
    other = simulate(WIDE, bursts(20, 3, 600, duration=30), cold_start=cold._replace(seed=4))
    assert cold_starts(other) != drawn


def test_one_sample_is_the_fixed_cold_start():
    jobs = poisson(0.5, 20, 900, seed=1)
    assert simulate(WIDE, jobs, cold_start=ColdStart.samples([12.5])).records == \
        simulate(WIDE, jobs, cold_start=12.5).records


def test_lognormal_has_the_median_and_p95_given():
    draw = ColdStart.lognormal(10, 40, seed=1).sampler()
    values = [draw() for _ in range(20_000)]
    assert percentile(values, 50) == pytest.approx(10, rel=0.05)
    assert percentile(values, 95) == pytest.approx(40, rel=0.05)
    trace = simulate(WIDE, burst(40, duration=30), cold_start=ColdStart.lognormal(10, 40))
    assert len(set(cold_starts(trace))) == 40  # every replica its own


def test_plan_draws_the_same_for_every_candidate_and_every_worker_count():
    jobs = bursts(15, 3, 900, duration=40)
    cold = ColdStart.lognormal(15, 60, seed=2)
    grid = {"min": [0, 2], "max": [4, 16], "concurrency": [1, 2]}
    serial = plan(jobs, grid, "p95<=60", {"replica_hour": 1.0}, cold_start=cold, workers=1)
    assert plan(jobs, grid, "p95<=60", {"replica_hour": 1.0}, cold_start=cold, workers=2) == serial
    fixed = plan(jobs, grid, "p95<=60", {"replica_hour": 1.0}, cold_start=15, workers=1)
    assert [c.value for c in serial.candidates] != [c.value for c in fixed.candidates]


def test_command_line_forms(rejects):
    assert parse_cold_start("10") == 10.0
    assert parse_cold_start("samples:8,9,30", seed=5) == ColdStart("samples", (8.0, 9.0, 30.0), 5)
    assert parse_cold_start("lognormal:10,40") == ColdStart("lognormal", (10.0, 40.0), 0)
    for text in ("-1", "samples:", "lognormal:10", "gamma:1,2", "samples:a"):
        with rejects("--cold-start", text, "lognormal:MEDIAN,P95"):
            parse_cold_start(text)


@pytest.mark.parametrize("build, param, value, allowed", [
    (lambda: ColdStart.samples([]), "cold_start samples", [], "non-empty list"),
    (lambda: ColdStart.samples([1, -2]), "cold_start samples", [1, -2], ">= 0"),
    (lambda: ColdStart.lognormal(0, 5), "median", 0, "> 0"),
    (lambda: ColdStart.lognormal(10, 5), "p95", 5, ">= the median"),
    (lambda: ColdStart.samples([1], seed="x"), "seed", "x", "an int"),
    (lambda: simulate(WIDE, burst(2), cold_start="10"), "cold_start", "10", "ColdStart"),
])
def test_bad_distributions(rejects, build, param, value, allowed):
    with rejects(param, value, allowed):
        build()


def test_cli_simulate_and_plan_take_a_distribution(capsys, tmp_path):
    path = tmp_path / "jobs.csv"
    write_csv(bursts(10, 2, 600, duration=30), path)
    argv = ["simulate", "--workload", str(path), "--replicas", "0,10", "--cold-start", "lognormal:10,40",
            "--cold-start-seed", "7", "--json"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    expected = simulate(ReusePolicy(replicas=(0, 10), idle_ttl=30, scaledown_ttl=30), bursts(10, 2, 600, duration=30),
                        cold_start=ColdStart.lognormal(10, 40, seed=7)).measures()
    assert data["wait_p95"] == expected.wait_p95 and data["cold_start"] == "lognormal:10,40 (seed 7)"
    assert main(["plan", "--workload", str(path), "--max", "2,10", "--min", "0", "--target", "p95<=60",
                 "--price-replica-hour", "1", "--cold-start", "samples:5,50", "--workers", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["recommended"] is not None
    assert main(["simulate", "--workload", str(path), "--cold-start", "lognormal:x"]) == 2
    assert "argument --cold-start: invalid value 'lognormal:x'" in capsys.readouterr().err
