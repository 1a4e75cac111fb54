"""``reuse-ref plan`` with ``--env`` sections, ``--calls`` arrivals, run targets and odds.

Each case runs ``reuse_ref.cli.main([...])`` in-process and compares with
``reuse_ref.plan.plan`` given the same inputs; every bad input exits with status 2, names
the option, the value and what is allowed, and writes nothing.
"""
from __future__ import annotations

import json

import pytest

from reuse_ref import Resources
from reuse_ref.cli import main
from reuse_ref.plan import plan
from reuse_ref.sim.arrivals import RunArrivals
from reuse_ref.sim.cold_starts import ColdStart
from reuse_ref.sim.workload_csv import read_csv

CALLS = ("id,at,duration,name,parent,env\n"
         "main,0,10,index,,driver\ne0,0,90,embed,main,worker\ne1,0,90,embed,main,worker\ne2,0,90,embed,main,worker\n")
SECTIONS = ["--idle-ttl", "300", "--min", "0", "--env", "driver", "--max", "1,2", "--concurrency", "4",
            "--cold-start", "3", "--env", "worker", "--max", "2,4", "--concurrency", "2"]


@pytest.fixture
def calls(tmp_path):
    path = tmp_path / "calls.csv"
    path.write_text(CALLS)
    return path


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_sections_runs_and_odds_are_the_plan_of_the_python_api(capsys, calls, tmp_path):
    status, out, err = run(capsys, "plan", "--calls", calls, "--rate", "20", "--hours", "1", "--seed", "2",
                           "--target", "run-p95<=400", "--replications", "3", "--confidence", "0.6",
                           "--price-replica-hour", "1", "--cold-start", "lognormal:10,40", "--json", "--workers", "1",
                           "--csv", tmp_path / "plan.csv", *SECTIONS)
    assert status == 0, err
    got = json.loads(out)
    tree = read_csv(calls)
    expected = plan(RunArrivals(tree, rate=20, hours=1, seed=2),
                    {"driver": {"min": [0], "max": [1, 2], "concurrency": [4], "idle_ttl": [300]},
                     "worker": {"min": [0], "max": [2, 4], "concurrency": [2], "idle_ttl": [300]}},
                    "run-p95<=400", {"replica_hour": 1.0},
                    cold_start={"driver": 3.0, "worker": ColdStart.lognormal(10, 40)},
                    replications=3, confidence=0.6, seed=2, workers=1, progress=False)
    assert got == json.loads(json.dumps(expected.to_dict()))
    assert got["envs"] == ["driver", "worker"] and got["replications"] == 3 and len(got["candidates"]) == 4
    header = (tmp_path / "plan.csv").read_text().splitlines()[0].split(",")
    assert {"driver.max", "worker.max", "p_meets", "cost_p5", "cost_p95", "worker.cost"} <= set(header)


def test_a_recorded_day_with_a_size_and_prices_per_environment(capsys, calls, tmp_path):
    day = tmp_path / "day.csv"
    assert main(["workload", "runs", "--calls", str(calls), "--rate", "10", "--hours", "2", "-o", str(day)]) == 0
    status, out, err = run(capsys, "plan", "--workload", day, "--target", "p95<=120", "--json", "--workers", "1",
                           "--replications", "2", "--seed", "5", "--min", "0", "--idle-ttl", "300",
                           "--env", "driver", "--max", "1", "--price-replica-hour", "0.5",
                           "--env", "worker", "--max", "2,4", "--concurrency", "2", "--cpu", "2",
                           "--price-cpu-hour", "0.1")
    assert status == 0, err
    got = json.loads(out)
    assert got["prices"]["driver"]["replica_hour"] == 0.5 and got["prices"]["worker"]["cpu_hour"] == 0.1
    expected = plan(read_csv(day), {"driver": {"min": [0], "max": [1], "idle_ttl": [300]},
                                    "worker": {"min": [0], "max": [2, 4], "concurrency": [2], "idle_ttl": [300]}},
                    "p95<=120", {"driver": {"replica_hour": 0.5}, "worker": {"cpu_hour": 0.1}}, cold_start=10.0,
                    resources={"worker": Resources(cpu=2)}, replications=2, seed=5, workers=1, progress=False)
    assert got == json.loads(json.dumps(expected.to_dict()))


def test_reusable_off_is_an_environment_without_reuse(capsys, calls):
    status, out, err = run(capsys, "plan", "--calls", calls, "--burst", "2", "--target", "run-p50<=1000", "--json",
                           "--workers", "1", "--price-replica-hour", "1", "--env", "driver", "--reusable", "off",
                           "--env", "worker", "--min", "0", "--max", "2,4")
    assert status == 0, err
    got = json.loads(out)
    assert [c["driver.max"] for c in got["candidates"]] == [None, None]
    assert got["candidates"][0]["policy"].startswith("driver: no reuse; worker: ReusePolicy(")


@pytest.mark.parametrize("argv,message", [
    (["--replications", "0"], "--replications=0 is not valid: an int >= 1; 1 is the single-draw plan"),
    (["--confidence", "0"], "--confidence=0.0 is not valid: a number in (0, 1]"),
    (["--confidence", "1.5"], "--confidence=1.5 is not valid: a number in (0, 1]"),
    (["--confidence", "nan"], "--confidence=nan is not valid: a number in (0, 1]"),
    (["--target", "run-p97<=60"], "--target='run-p97<=60' is not valid: p50, p95 or p99 of queue wait, or run-p50"),
    (["--env", "gpu", "--max", "2"], "--env gpu is not valid: the workload names 'driver', 'worker'"),
    (["--env", "driver", "--max", "2", "--env", "driver"], "'driver' is given twice"),
    (["--env", "driver", "--max", "2", "--max", "3"], "given twice for --env driver"),
    (["--env", "driver", "--reusable", "off", "--max", "2"], "--env driver: --max '2' is not valid with --reusable off"),
    (["--env", "driver", "--cpu", "1", "--price-gpu-hour", "1"],
     "--env driver: --price-gpu-hour=1.0 is not valid: a price per gpu hour needs --gpu"),
])
def test_bad_options_exit_2_naming_them(capsys, calls, tmp_path, argv, message):
    base = ["plan", "--calls", calls, "--burst", "2", "--target", "run-p95<=600", "--price-replica-hour", "1",
            "--workers", "1", "--csv", tmp_path / "out.csv"]
    if "--target" in argv:
        base[base.index("--target"):base.index("--target") + 2] = []
    if argv[0] != "--env":
        argv = argv + ["--env", "driver", "--max", "1", "--env", "worker", "--max", "2"]
    elif argv[-2:] != ["--env", "driver"] and "gpu" not in argv and "--cpu" not in argv:
        argv = argv + ["--env", "worker", "--max", "2"]
    elif "--cpu" in argv:
        argv = argv + ["--env", "worker", "--max", "2"]
    status, out, err = run(capsys, *base, *argv)
    assert status == 2 and message in err and out == ""
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("argv,message", [
    (["--env", "driver", "--max", "1"], "names environment 'worker', which has no --env section"),
    ([], "names 2 environments ('driver', 'worker'): give each its own options after --env NAME"),
    (["--workload", "{calls}", "--env", "driver", "--max", "1", "--env", "worker", "--max", "2"],
     "--workload='{calls}' is not valid: not with --calls"),
])
def test_workloads_and_sections_must_match(capsys, calls, argv, message):
    argv = [a.format(calls=calls) for a in argv]
    status, out, err = run(capsys, "plan", "--calls", calls, "--burst", "1", "--target", "p95<=60",
                           "--price-replica-hour", "1", *argv)
    assert status == 2 and message.format(calls=calls) in err and out == ""


def test_arrivals_need_calls_and_a_seed_needs_draws(capsys, calls, tmp_path):
    day = tmp_path / "day.csv"
    day.write_text(CALLS)
    common = ["plan", "--workload", day, "--target", "p95<=60", "--price-replica-hour", "1",
              "--env", "driver", "--max", "1", "--env", "worker", "--max", "2"]
    status, _, err = run(capsys, *common, "--rate", "3")
    assert status == 2 and "--rate=3.0 is not valid: only with --calls" in err
    status, _, err = run(capsys, *common, "--seed", "4")
    assert status == 2 and "--seed=4 is not valid: only with --replications K > 1 or --calls" in err
    status, _, err = run(capsys, "plan", "--target", "p95<=60", "--price-replica-hour", "1")
    assert status == 2 and "--workload None is not valid: give --workload FILE.csv, or --calls" in err


def test_calls_with_a_missing_parent_or_another_format_are_refused(capsys, tmp_path):
    bad_tree = tmp_path / "tree.csv"
    bad_tree.write_text("id,at,duration,name,parent,env\nmain,0,10,index,,driver\ne0,0,90,embed,nope,worker\n")
    status, _, err = run(capsys, "plan", "--calls", bad_tree, "--rate", "2", "--target", "p95<=60",
                         "--price-replica-hour", "1", "--env", "driver", "--max", "1", "--env", "worker", "--max", "2")
    assert status == 2 and "parent='nope' is not valid" in err
    trace = tmp_path / "trace.csv"
    trace.write_text("time,kind,replica,task,reason,env\n0,task_queued,,a,,x\n")
    status, _, err = run(capsys, "plan", "--calls", trace, "--rate", "2", "--target", "p95<=60",
                         "--price-replica-hour", "1")
    assert status == 2 and "unknown column 'time'" in err


def test_simulate_takes_a_cold_start_per_environment(capsys, calls):
    status, out, err = run(capsys, "simulate", "--workload", calls, "--json", "--cold-start", "7",
                           "--env", "driver", "--replicas", "1", "--cold-start", "samples:2,3",
                           "--env", "worker", "--replicas", "0,3", "--concurrency", "2")
    assert status == 0, err
    got = json.loads(out)
    assert got["cold_start"] == {"driver": "samples:2,3 (seed 0)", "worker": 7.0}
    assert got["environments"]["worker"]["wait_max"] == 7.0


def test_the_figure_of_a_plan_of_two_environments_with_odds(capsys, calls, tmp_path):
    from reuse_ref.figures import plan as plan_figure
    from reuse_ref.figures.plan_figure import in_money, short_label

    status, _, err = run(capsys, "plan", "--calls", calls, "--burst", "3", "--target", "run-p95<=400", "--workers", "1",
                         "--replications", "2", "--seed", "1", "--price-replica-hour", "1", "--min", "0",
                         "--plot", tmp_path / "plan.png", "--env", "driver", "--max", "1,2", "--env", "worker",
                         "--max", "2,4")
    assert status == 0, err
    assert (tmp_path / "plan.png").read_bytes()[:4] == b"\x89PNG"
    result = plan(RunArrivals(read_csv(calls), burst=3), {"driver": {"min": [0], "max": [1, 2]},
                                                         "worker": {"min": [0], "max": [2, 4]}},
                  "run-p95<=400", {"replica_hour": 1}, replications=2, seed=1, workers=1, progress=False)
    fig = plan_figure(result)
    assert "run time" in fig.axes[0].get_xlabel() and "median of 2 draws" in fig.axes[0].get_xlabel()
    assert not in_money(result.prices) and in_money({"driver": result.prices["driver"]._replace(cpu_hour=0.1)})
    assert short_label(result.recommended.policy).splitlines()[0].startswith("driver: replicas=(0, ")
