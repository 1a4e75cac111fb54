"""From a program to a policy, on the command line: record a run, simulate it, make a day of it.

The program is tutorial 18's (``notebooks/programs/index_documents.py``): a driver in one
environment lists documents and fans six batches out to embedding workers in another,
then calls one more worker task to store the index; both environments reuse their
containers. ``reuse-ref run --workload-out`` records it, ``reuse-ref simulate`` with a
policy per environment (``--env``) replays the recording, and ``reuse-ref workload runs``
turns it into traffic.

Tolerance: the counts of each environment (tasks, cold and warm starts, peak replicas,
failures) are the same exactly. The program is built so that they do not depend on the
machine's speed: the six batches arrive together and fill the workers' three replicas of
two slots as soon as those start, whatever each replica's cold start, and the store call
comes while all three are warm. The workers' makespan (their first call's arrival to the
store's end: the fan-out, the embeddings, the store) agrees within 10 %: the simulator
draws each cold start from the ones measured, not in the order they happened. The root's
own span is not compared: the recording counts the driver's loading of its function
(large on a loaded machine) in the driver's cold start, and `simulate` draws every
environment's cold start from the one `--cold-start` given, here the workers'.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reuse_ref import Trace
from reuse_ref.cli import main
from reuse_ref.sim.workload_csv import read_csv

PROGRAM = Path(__file__).resolve().parent.parent / "notebooks" / "programs" / "index_documents.py"
BATCHES = 6
# the policies the program declares, as simulate's options: every environment's, then each one's
SHARED = ["--idle-ttl", "600", "--scaledown-ttl", "120"]
POLICIES = {"driver": ["--replicas", "1,2", "--concurrency", "4"],
            "worker": ["--replicas", "0,3", "--concurrency", "2"]}
DECLARED = {"driver": "ReusePolicy(replicas=(1, 2), concurrency=4, idle_ttl=600, scaledown_ttl=120)",
            "worker": "ReusePolicy(replicas=(0, 3), concurrency=2, idle_ttl=600, scaledown_ttl=120)"}
COUNTS = ("tasks", "cold_starts", "warm_starts", "peak_replicas", "failed", "starved")


def cli(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert status == 0, err
    return out


def policy_options():
    out = list(SHARED)
    for env, options in POLICIES.items():
        out += ["--env", env, *options]
    return out


@pytest.mark.timeout(180)
def test_the_program_recorded_then_simulated_per_environment_gives_back_its_counts(capsys, tmp_path):
    shutil.copy(PROGRAM, tmp_path / PROGRAM.name)
    done = subprocess.run([sys.executable, "-m", "reuse_ref.cli", "run", "--json", "--time-scale", "0.01",
                           "--trace", "run.csv", "--workload-out", "calls.csv", PROGRAM.name, "index",
                           "--batches", str(BATCHES)], cwd=tmp_path, capture_output=True, text=True, timeout=170)
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["result"] == sum(100 + b for b in range(BATCHES))
    assert {env: m["policy"] for env, m in run["environments"].items()} == DECLARED
    calls = read_csv(tmp_path / "calls.csv")
    assert [j.name for j in calls] == ["driver.index"] + ["worker.embed"] * BATCHES + ["worker.store"]
    assert [j.env for j in calls] == ["driver"] + ["worker"] * (BATCHES + 1)

    # the workers' cold starts as measured (the driver's single one also started the runtime's server)
    cold = run["environments"]["worker"]["cold_start_samples"]
    out = cli(capsys, "simulate", "--workload", tmp_path / "calls.csv", "--cold-start", cold, "--json",
              *policy_options())
    sim = json.loads(out)
    for env in ("driver", "worker"):
        measured = {k: run["environments"][env][k] for k in COUNTS}
        assert {k: sim["environments"][env][k] for k in COUNTS} == measured, env
    assert {k: sim["environments"]["worker"][k] for k in COUNTS} == {
        "tasks": BATCHES + 1, "cold_starts": 3, "warm_starts": BATCHES + 1 - 3, "peak_replicas": 3,
        "failed": 0, "starved": 0}
    ratio = sim["environments"]["worker"]["makespan"] / Trace.from_csv(tmp_path / "run.csv").measures("worker").makespan
    assert 0.9 <= ratio <= 1.1, ratio

    # the same call tree, arriving 6 times an hour for two hours, simulated with the same policies
    capsys.readouterr()
    assert main(["workload", "runs", "--calls", str(tmp_path / "calls.csv"), "--rate", "6", "--hours", "2",
                 "--seed", "3", "-o", str(tmp_path / "day.csv")]) == 0
    day = read_csv(tmp_path / "day.csv")
    runs = {job.id.split("/", 1)[0] for job in day}
    assert len(runs) >= 2 and len(day) == len(runs) * len(calls)
    sim_day = json.loads(cli(capsys, "simulate", "--workload", tmp_path / "day.csv", "--cold-start", cold, "--json",
                             *policy_options()))
    assert sim_day["envs"] == ["driver", "worker"]
    assert sim_day["environments"]["driver"]["tasks"] == len(runs)
    assert sim_day["environments"]["worker"]["tasks"] == len(runs) * (BATCHES + 1)
    assert sim_day["failed"] == sim_day["starved"] == 0

    # and planned: the recording as it is, a policy per environment, on a run target with odds
    out = cli(capsys, "plan", "--calls", tmp_path / "calls.csv", "--rate", "6", "--hours", "2", "--seed", "3",
              "--target", "run-p95<=3600", "--replications", "3", "--price-replica-hour", "1", "--json",
              "--workers", "1", "--cold-start", cold, "--idle-ttl", "600", "--scaledown-ttl", "120", "--min", "0",
              "--env", "driver", "--max", "1,2", "--concurrency", "4",
              "--env", "worker", "--max", "3,6", "--concurrency", "2")
    planned = json.loads(out)
    assert planned["envs"] == ["driver", "worker"] and planned["replications"] == 3
    assert len(planned["candidates"]) == 4 and planned["recommended"] is not None
    assert planned["recommended"]["p_meets"] >= 0.9
