"""Inputs a hostile but realistic user gave the Python API and the commands (issue 26, items 8, 11, 12 to 15).

Each once ended in a raw ``TypeError``, ``OverflowError`` or ``MemoryError``, a traceback, a
"tie" between infinite costs, pydantic's frame around a message, or output JSON readers
refuse. Every bad input must be a ``ValueError`` (exit status 2 on the command line) that
names the parameter, shows the value and says what is allowed; sizes past what the
machine can hold are refused before anything is allocated, saying what to do instead.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import tracemalloc

import pytest

from reuse_ref import Job, ReusePolicy, Resources, Runtime, TaskEnvironment, TaskOptions, burst, read_llm_trace, simulate
from reuse_ref.cli import main
from reuse_ref.plan import plan
from reuse_ref.runtime.backends.processes import ProcessBackend

JOBS = burst(3, duration=10)
POLICY = ReusePolicy(replicas=2)
PRICES = {"replica_hour": 1.0}


def cli(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def jobs_csv(tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text("at,duration\n0,10\n1,10\n2,10\n")
    return path


# ---------------------------------------------------------------------- item 8: sizes
@pytest.mark.parametrize("replicas", [10**22, 100_001, (100_001, 200_000)])
def test_a_pool_that_would_start_past_the_bound_is_refused_before_anything_is_allocated(rejects, replicas):
    """replicas=10**22 grew to 23.7 GB before the kernel killed it: min replicas start at once."""
    tracemalloc.start()
    try:
        with rejects("replicas", replicas if isinstance(replicas, tuple) else (replicas, replicas), "100,000",
                     "replicas=(min, max)"):
            simulate(ReusePolicy(replicas=replicas), JOBS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20, f"{peak / 2**20:.1f} MiB allocated before refusing"


def test_a_large_max_allocates_only_the_replicas_started():
    tracemalloc.start()
    try:
        trace = simulate(ReusePolicy(replicas=(0, 10**7)), JOBS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert trace.measures().cold_starts == 3 and peak < 5 * 2**20, peak


class CountingBackend(ProcessBackend):
    """Local processes, counted; it refuses a fifth start, so that a runtime that would start a
    huge pool (the defect) fails this test at once instead of forking 200,000 processes."""

    def __init__(self) -> None:
        super().__init__()
        self.starts = 0

    def start(self, replica, env, resources) -> None:
        self.starts += 1
        if self.starts > 4:
            raise RuntimeError("this test's backend starts at most 4 replicas")
        super().start(replica, env, resources)


def test_the_runtime_refuses_a_pool_past_the_bound_before_it_starts_anything(rejects):
    env = TaskEnvironment("too_many", reusable=ReusePolicy(replicas=200_000))

    @env.task
    def f() -> int:
        return 1

    backend = CountingBackend()
    with Runtime(backend=backend) as rt:
        with rejects("replicas", (200_000, 200_000), "100,000"):
            rt.run(f)
    assert backend.starts == 0


def test_simulate_refuses_a_huge_pool_with_exit_2_saying_what_to_do(capsys, jobs_csv):
    status, out, err = cli(capsys, "simulate", "--replicas", "99999999999999999999999", "--workload", jobs_csv)
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "100,000" in err and "replicas=(min, max)" in err


@pytest.mark.parametrize("knobs, says", [
    (("--min", "0..1000", "--max", "0..1000"), "1,002,001"),
    (("--max", "0..100000000"), "--max='0..100000000'"),
    (("--min", "0..99999999999999999999"), "--min='0..99999999999999999999'"),  # item 11: an OverflowError
])
def test_plan_refuses_a_grid_too_large_to_simulate_with_exit_2(capsys, jobs_csv, knobs, says):
    status, out, err = cli(capsys, "plan", "--workload", jobs_csv, *knobs, "--target", "p95<=30",
                           "--price-replica-hour", "1", "--workers", "1")
    assert status == 2 and out == "", err
    assert err.startswith("reuse-ref: error: ") and err.count("\n") == 1 and says in err, err
    assert "give fewer values per knob" in err


def test_a_plan_of_a_range_too_long_for_len_is_a_value_error(rejects):
    with rejects("candidates['max']", range(0, 10**30), "at most 100,000 values"):
        plan(JOBS, {"max": range(0, 10**30)}, "p95<=30", PRICES, workers=1)


# ---------------------------------------------------------------------- item 12: TypeError and OverflowError
def test_a_workload_that_is_not_iterable_is_a_value_error(rejects):
    with rejects("workload", 5, "reuse_ref.Job"):
        simulate(POLICY, 5)


def test_crashes_that_are_not_iterable_are_a_value_error(rejects):
    with rejects("crashes", 5, "(time, replica)"):
        simulate(POLICY, JOBS, crashes=5)


@pytest.mark.parametrize("call, param", [
    (lambda: simulate(POLICY, JOBS, cold_start=10**400), "cold_start"),
    (lambda: simulate(POLICY, [Job(0, 0, 10**400)]), "duration"),
    (lambda: plan(JOBS, {"max": [1, 2]}, "p95<=1", PRICES, cold_start=10**400, workers=1), "cold_start"),
    (lambda: plan(JOBS, {"max": [1, 2]}, "p95<=1", PRICES, cpu_bound=10**400, workers=1), "cpu_bound"),
    (lambda: plan(JOBS, {"max": [1, 2]}, "p95<=1", PRICES, horizon=10**400, workers=1), "horizon"),
    (lambda: Runtime(time_scale=10**400), "time_scale"),
    (lambda: Runtime(cold_start=10**400), "cold_start"),
    (lambda: Runtime(memory_poll=10**400), "memory_poll"),
    (lambda: Runtime(stop_grace=10**400), "stop_grace"),
])
def test_an_int_too_large_for_a_float_is_a_value_error_naming_it(call, param):
    with pytest.raises(ValueError) as info:
        call()
    assert f"{param}=" in str(info.value)


def test_token_counts_too_large_for_a_float_are_a_value_error_with_file_and_line(tmp_path):
    path = tmp_path / "llm.csv"
    path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,1" + "0" * 400 + ",5\n")
    with pytest.raises(ValueError) as info:
        read_llm_trace(path, prefill_tokens_per_s=1000, decode_tokens_per_s=10)
    assert "line 2, column ContextTokens" in str(info.value) and "2**53" in str(info.value)


# ---------------------------------------------------------------------- item 13: one plain line
@pytest.mark.parametrize("build, param", [
    (lambda: ReusePolicy(replicas=0), "replicas=0"),
    (lambda: ReusePolicy(idle_ttl=1), "idle_ttl=1"),
    (lambda: Resources(cpu=-1), "cpu=-1"),
    (lambda: TaskEnvironment(5), "name=5"),
    (lambda: TaskOptions(retries=-1), "retries=-1"),
    (lambda: ReusePolicy.model_validate({"replicas": 0}), "replicas=0"),
    (lambda: ReusePolicy.model_validate_json('{"replicas": 0}'), "replicas=0"),
    (lambda: ReusePolicy(replica=3), "replica=3"),
])
def test_the_models_raise_the_command_lines_one_line_as_a_plain_value_error(build, param):
    """As Flyte's own ReusePolicy and Resources (dataclasses) do: a ValueError, not pydantic's frame."""
    with pytest.raises(ValueError) as info:
        build()
    message = str(info.value)
    assert type(info.value) is ValueError, type(info.value)
    assert message.startswith(param) and " is not valid: " in message and "\n" not in message, message
    for frame in ("validation error for", "[type=", "errors.pydantic.dev", "input_value", "Value error,"):
        assert frame not in message, message


# ---------------------------------------------------------------------- item 14: overflowing costs, JSON
def test_a_price_whose_costs_overflow_is_refused_naming_it(rejects):
    with rejects("prices['replica_hour']", 1e308, "past the largest float"):
        plan(JOBS, {"max": [1, 2]}, "p95<=30", {"replica_hour": 1e308}, workers=1)


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_plan_refuses_a_price_whose_costs_overflow_with_exit_2_naming_the_option(capsys, jobs_csv, json_flag):
    status, out, err = cli(capsys, "plan", "--workload", jobs_csv, "--max", "1,2", "--target", "p95<=30",
                           "--price-replica-hour", "1e308", "--workers", "1", *json_flag)
    assert status == 2 and out == "", err
    assert "--price-replica-hour=1e+308 is not valid" in err and "larger unit of money" in err


RETURNS_INF = """
import flyte

env = flyte.TaskEnvironment("inf")


@env.task
def f() -> dict:
    return {"value": float("inf"), "parts": [1.0, float("-inf"), float("nan")]}
"""


def test_run_json_writes_non_finite_results_as_json_readers_accept_and_names_them(tmp_path):
    (tmp_path / "prog.py").write_text(textwrap.dedent(RETURNS_INF))
    done = subprocess.run([sys.executable, "-m", "reuse_ref.cli", "run", "--json", "prog.py", "f"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    out = json.loads(done.stdout, parse_constant=refuse)  # strict: no Infinity or NaN
    assert out["result"] == {"value": "Infinity", "parts": [1.0, "-Infinity", "NaN"]}
    assert out["non_finite"] == ["result['value']", "result['parts'][1]", "result['parts'][2]"]
    assert float(out["result"]["value"]) == math.inf


# ---------------------------------------------------------------------- item 15: small ones
def test_a_bad_env_column_names_its_file_and_line(capsys, tmp_path):
    path = tmp_path / "envs.csv"
    path.write_text("at,duration,env\n0,10,a\n1,10,b\n")
    status, out, err = cli(capsys, "simulate", "--replicas", "2", "--workload", path)
    assert status == 2 and f"--workload {path} names 2 environments ('a', 'b')" in err, err
    status, out, err = cli(capsys, "simulate", "--replicas", "2", "--workload", path, "--name", "b")
    assert status == 2 and f"{path}, line 2: env='a' is not valid" in err, err


def test_a_program_named_after_a_standard_module_is_refused_saying_so(capsys, tmp_path, monkeypatch):
    (tmp_path / "json.py").write_text("import flyte\nenv = flyte.TaskEnvironment('e')\n\n\n@env.task\n"
                                      "def f() -> int:\n    return 1\n")
    monkeypatch.chdir(tmp_path)
    status, out, err = cli(capsys, "run", "json.py", "f")
    assert status == 2 and "shadows the standard library's json" in err and "rename the file" in err, err


@pytest.mark.parametrize("build, param", [
    (lambda: TaskEnvironment("e", cache=object()), "cache"),
    (lambda: TaskEnvironment("e", cache="sometimes"), "cache"),
    (lambda: simulate(POLICY, JOBS, progress=object()), "progress"),
    (lambda: simulate(POLICY, JOBS, progress="no"), "progress"),
    (lambda: plan(JOBS, {"max": [1, 2]}, "p95<=30", PRICES, workers=1, progress=object()), "progress"),
])
def test_a_flag_or_mode_takes_only_what_it_can_mean(build, param):
    """Any object is truthy: cache=<object> or progress=<object> would turn the thing on by accident."""
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value).startswith(f"{param}=") and "True, False" in str(info.value), str(info.value)
