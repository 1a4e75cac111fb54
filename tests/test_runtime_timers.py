"""Long but valid durations: every timer a policy accepts runs, and a cold start no call could
wait for is refused at the door (issue 26, item 10).

The driver's thread sleeps in a selector until its next timer; a selector takes at most
about 24.8 days (2**31 ms) and refuses infinity, so a scale-down TTL of 25 days once ended
the driver with ``OverflowError('timeout is too large')``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import cloudpickle
import pytest

from reuse_ref import ReusePolicy, Runtime, TaskEnvironment

cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = pytest.mark.timeout(120)

# 25 days before a replica above min scales down: past what one selector wait can take
patient = TaskEnvironment("rt_patient", reusable=ReusePolicy(replicas=(0, 2), concurrency=1, idle_ttl=None,
                                                             scaledown_ttl=2_200_000))


@patient.task
def bump(n: int) -> int:
    return n + 1


def test_a_timer_past_the_longest_selector_wait_runs(backend):
    with Runtime(time_scale=1.0, backend=backend) as rt:
        assert rt.run(bump, 1).result == 2
        # the driver now sleeps until the scale-down, 25 days away: it must still answer
        assert rt.run(bump, 2).result == 3
        assert not rt.closed
        assert [r.kind for r in rt.trace if r.kind == "replica_stop"] == []


@pytest.mark.parametrize("time_scale, cold_start", [(1.0, 1e9), (1e300, 10.0), (1e308, 1e308)])
def test_a_cold_start_no_call_could_wait_for_is_refused_at_the_door(rejects, time_scale, cold_start):
    with rejects("cold_start", cold_start, "at most a day", "time_scale"):
        Runtime(time_scale=time_scale, cold_start=cold_start)


PROGRAM = """
    import flyte

    env = flyte.TaskEnvironment("long", reusable=flyte.ReusePolicy(replicas=(0, 2), idle_ttl=None,
                                                                   scaledown_ttl=2_200_000))


    @env.task
    def f(n: int) -> int:
        return n + 1
"""


def run_cli(tmp_path, *argv):
    program = tmp_path / "long.py"
    program.write_text(textwrap.dedent(PROGRAM))
    return subprocess.run([sys.executable, "-m", "reuse_ref.cli", "run", *argv, str(program), "f", "--n", "1"],
                          capture_output=True, text=True, timeout=100, cwd=tmp_path,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_run_with_a_huge_time_scale_runs_without_a_traceback(tmp_path):
    done = run_cli(tmp_path, "--time-scale", "1e300")
    assert done.returncode == 0, done.stderr
    assert "result: 2" in done.stdout
    assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr


@pytest.mark.parametrize("options", [("--cold-start", "1e9"), ("--time-scale", "1e300", "--cold-start", "10")])
def test_run_refuses_a_cold_start_no_call_could_wait_for(tmp_path, options):
    done = run_cli(tmp_path, *options)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reuse-ref: error: --cold-start=") and "at most a day" in lines[0]
