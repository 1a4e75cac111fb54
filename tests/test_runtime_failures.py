"""The local runtime's failures and task options: crashes, OOM, timeouts, retries, errors,
cache, deprecation, environment variables and secrets, bad input (SPEC 3 and 4 rule 5)."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from datetime import timedelta

import cloudpickle
import pytest

from reuse_ref import Resources, ReusePolicy, Runtime, TaskEnvironment
from reuse_ref.config.errors import (
    DeprecatedTaskWarning,
    OOMError,
    RemoteTaskError,
    ReplicaCrashedError,
    ReuseRefError,
    TaskTimeoutError,
)

from runtime_support import SCALE, records, wait_for

cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = pytest.mark.timeout(60)


def first_time(marker: str) -> bool:
    """True the first time it is called with ``marker`` (a file), in any process."""
    try:
        with open(marker, "x"):
            return True
    except FileExistsError:
        return False


def lines(path) -> int:
    return len(open(path).read().splitlines()) if os.path.exists(path) else 0


# ---------------------------------------------------------------------- tasks
crashy = TaskEnvironment("rt_crashy", reusable=ReusePolicy(replicas=2))


@crashy.task
def crash_once(marker: str) -> int:
    if first_time(marker):
        os._exit(7)
    return os.getpid()


@crashy.task
def killed_by_signal() -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return 0


@crashy.task
async def crash_now() -> int:
    os._exit(3)


@crashy.task
async def steady(seconds: float) -> int:
    await asyncio.sleep(seconds)
    return os.getpid()


crash_driver = TaskEnvironment("rt_crash_driver", reusable=ReusePolicy(replicas=1, concurrency=4))


@crash_driver.task
async def crash_beside_steady() -> list:
    results = await asyncio.gather(steady(0.3), crash_now(), return_exceptions=True)
    return [type(r).__name__ if isinstance(r, BaseException) else "ok" for r in results]


hungry = TaskEnvironment("rt_hungry", reusable=ReusePolicy(replicas=2), resources=Resources(memory="100Mi"))


@hungry.task
def hog(mib: int) -> int:
    block = b"x" * (mib * 2**20)  # filled, so its pages really count
    time.sleep(600)  # only the memory watch ends it within the test's timeout
    return len(block)


@hungry.task
def small() -> int:
    return os.getpid()


slow = TaskEnvironment("rt_slow", reusable=ReusePolicy(replicas=2, concurrency=1))


@slow.task(timeout=timedelta(seconds=0.3))
async def slow_async(seconds: float) -> int:
    await asyncio.sleep(seconds)
    return os.getpid()


@slow.task(timeout=timedelta(seconds=0.3))
def slow_sync(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


failing = TaskEnvironment("rt_failing", reusable=ReusePolicy(replicas=2))


class Boom(Exception):
    pass


class Picky(Exception):
    def __init__(self, a, b):  # cannot be rebuilt from its args alone
        super().__init__(f"{a}/{b}")


@failing.task(retries=1)
def flaky(marker: str) -> str:
    if first_time(marker):
        raise RuntimeError("the first attempt fails")
    return "ok"


@failing.task
def raises(kind: str) -> None:
    if kind == "boom":
        raise Boom("custom")
    if kind == "picky":
        raise Picky(1, 2)
    raise KeyError("missing")


@failing.task
def returns_generator():
    return (i for i in range(3))


cached_env = TaskEnvironment("rt_cached", reusable=ReusePolicy(replicas=2))


@cached_env.task(cache=True, cache_version="1")
def square(x: int, log: str) -> int:
    with open(log, "a") as f:
        f.write(f"{x}\n")
    return x * x


@cached_env.task(cache=True, cache_ignore_input_vars=("note",))
def annotated(x: int, log: str, note: str = "") -> int:
    with open(log, "a") as f:
        f.write(f"{x} {note}\n")
    return x + 1


@cached_env.task(cache=True, cache_serialize=True)
def slow_square(x: int, log: str, gate: str = "") -> int:
    with open(log, "a") as f:
        f.write(f"{x}\n")
    deadline = time.monotonic() + 30
    while gate and not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)  # held open until the test has made its second call
    return x * x


@cached_env.task(deprecated="use square instead")
def old_square(x: int) -> int:
    return x * x


vars_env = TaskEnvironment("rt_vars", reusable=ReusePolicy(replicas=2), env_vars={"RT_PLAIN": "plain"},
                           secrets=["RT_SECRET_FROM_HERE"])


@vars_env.task
def read_env(names: list) -> dict:
    return {n: os.environ.get(n) for n in names}


def not_a_task(x):
    return x


# ---------------------------------------------------------------------- crashes
def test_a_crashing_replica_fails_its_attempt_and_is_replaced(rt, tmp_path):
    # a process reports its exit code or signal; Ray reports only that its actor is gone
    code, signal9 = ("exit code 7", "signal 9") if rt.backend.name == "processes" else ("Ray actor is gone",) * 2
    with pytest.raises(ReplicaCrashedError, match=code) as info:
        rt.run(crash_once, str(tmp_path / "once"))
    assert "rt_crashy.crash_once" in str(info.value)
    assert [r.reason for r in records(rt.trace, "rt_crashy", "replica_stop")] == ["crashed"]
    with pytest.raises(ReplicaCrashedError, match=signal9):
        rt.run(killed_by_signal)
    starts = records(rt.trace, "rt_crashy", "replica_start")
    assert len(starts) == 4, "each crashed replica was replaced (min is 2)"


def test_a_crash_is_retried_on_another_replica(rt, tmp_path):
    run = rt.run(crash_once.override(retries=1), str(tmp_path / "once"))
    crashed = records(run.trace, "rt_crashy", "replica_stop")
    assert [r.reason for r in crashed] == ["crashed"]
    assert [r.reason for r in records(run.trace, "rt_crashy", "task_failed")] == ["crashed (retrying)"]
    ran = records(run.trace, "rt_crashy", "task_start")
    assert len(ran) == 2 and ran[1].replica != crashed[0].replica
    assert run.result in rt.replica_pids


def test_only_the_attempts_a_crashed_replica_held_fail(rt):
    assert rt.run(crash_beside_steady).result == ["ok", "ReplicaCrashedError"]


def test_a_replica_over_its_memory_limit_is_killed_with_oom(rt):
    assert rt.run(small).result > 0, "an ordinary replica fits in 100 MiB"
    with pytest.raises(OOMError, match="memory") as info:
        rt.run(hog, 300)  # it would hold the memory for 600 s: the error means it was killed
    assert isinstance(info.value, ReplicaCrashedError)
    assert "oom" in [r.reason for r in records(rt.trace, "rt_hungry", "replica_stop")]


# ---------------------------------------------------------------------- timeouts
def test_an_async_attempt_over_its_timeout_is_cancelled_and_the_replica_kept(rt):
    rt.run(slow_async, 0.01)
    with pytest.raises(TaskTimeoutError, match="timeout of 0.3 s") as info:
        rt.run(slow_async, 600)  # ends within the test's timeout only if it is cancelled
    assert isinstance(info.value, TimeoutError)
    pids = set(rt.replica_pids)
    assert rt.run(slow_async, 0.01).result in pids
    assert not records(rt.trace, "rt_slow", "replica_stop"), "the replica survives a cancelled attempt"
    assert set(rt.replica_pids) == pids


def test_a_sync_attempt_over_its_timeout_costs_its_replica(rt):
    rt.run(slow_sync, 0.01)
    with pytest.raises(TaskTimeoutError, match="sync attempt"):
        rt.run(slow_sync, 600)  # ends within the test's timeout only if its replica is killed
    assert [r.reason for r in records(rt.trace, "rt_slow", "replica_stop")] == ["timeout"]
    assert len(records(rt.trace, "rt_slow", "replica_start")) == 3, "the pool replaced it"
    assert rt.run(slow_sync, 0.01).result > 0


# ---------------------------------------------------------------------- user errors and retries
def test_a_user_exception_is_retried(rt, tmp_path):
    run = rt.run(flaky, str(tmp_path / "flaky"))
    assert run.result == "ok"
    assert [r.reason for r in records(run.trace, "rt_failing", "task_failed")] == ["error (retrying)"]


def test_a_user_exception_keeps_its_type_message_and_remote_traceback(rt, tmp_path):
    with pytest.raises(RuntimeError, match="the first attempt fails") as info:
        rt.run(flaky.override(retries=0), str(tmp_path / "once"))
    assert "in flaky" in info.value.remote_traceback
    assert any("rt_failing.flaky" in note for note in info.value.__notes__)
    with pytest.raises(KeyError, match="missing"):
        rt.run(raises, "key")
    with pytest.raises(Boom, match="custom"):
        rt.run(raises, "boom")


def test_an_exception_that_cannot_come_back_is_a_remote_task_error(rt):
    with pytest.raises(RemoteTaskError, match="Picky: 1/2") as info:
        rt.run(raises, "picky")
    assert info.value.type_name == "Picky" and "raise Picky" in info.value.remote_traceback


def test_a_result_that_cannot_be_pickled_fails_the_task(rt):
    with pytest.raises(TypeError, match="generator"):
        rt.run(returns_generator)


# ---------------------------------------------------------------------- cache
def test_cache_hit_returns_the_stored_result_without_running(rt, tmp_path):
    log = str(tmp_path / "log")
    first = rt.run(square, 3, log)
    second = rt.run(square, 3, log=log)
    assert first.result == second.result == 9
    assert lines(log) == 1 and rt.cache_hits == 1
    assert second.cached and not first.cached and len(second.trace) == 0
    assert rt.run(square.override(cache_version="2"), 3, log).result == 9
    assert lines(log) == 2, "a new cache_version misses"
    rt.run(square, 4, log)
    assert lines(log) == 3, "other inputs miss"


def test_cache_ignore_input_vars(rt, tmp_path):
    log = str(tmp_path / "log")
    assert rt.run(annotated, 1, log, note="a").result == 2
    assert rt.run(annotated, 1, log, note="b").result == 2
    assert rt.run(annotated, 1, log).result == 2
    assert lines(log) == 1


@pytest.mark.parametrize("serialize, runs", [(True, 1), (False, 2)])
def test_cache_serialize_makes_identical_concurrent_calls_share_one_run(rt, tmp_path, serialize, runs):
    log = str(tmp_path / "log")
    gate = str(tmp_path / "gate")
    task = slow_square if serialize else slow_square.override(cache_serialize=False)
    results = []
    threads = [threading.Thread(target=lambda: results.append(rt.run(task, 5, log, gate).result)) for _ in range(2)]
    threads[0].start()
    assert wait_for(lambda: lines(log) == 1, timeout=30), "the first call is running"
    threads[1].start()
    # The second call has reached the cache (a miss: nothing is stored yet) while the first
    # still runs; without cache_serialize it runs too and writes its own line.
    assert wait_for(lambda: rt.cache_misses == 2 and lines(log) == runs, timeout=30)
    open(gate, "w").close()
    for t in threads:
        t.join(30)
    assert results == [25, 25]
    assert lines(log) == runs


def test_a_deprecated_task_warns_at_call_time(rt):
    with pytest.warns(DeprecatedTaskWarning, match="use square instead"):
        assert rt.run(old_square, 3).result == 9


# ---------------------------------------------------------------------- environment
def test_env_vars_and_secrets_are_in_the_replica_environment(rt, monkeypatch):
    monkeypatch.setenv("RT_SECRET_FROM_HERE", "s3cr3t")
    names = ["RT_PLAIN", "RT_SECRET_FROM_HERE", "RT_GIVEN"]
    assert rt.run(read_env, names).result == {"RT_PLAIN": "plain", "RT_SECRET_FROM_HERE": "s3cr3t", "RT_GIVEN": None}
    given = read_env.override(reusable="off", secrets={"RT_GIVEN": "given"}, env_vars={"RT_PLAIN": "other"})
    assert rt.run(given, ["RT_PLAIN", "RT_GIVEN"]).result == {"RT_PLAIN": "other", "RT_GIVEN": "given"}
    if rt.backend.name == "processes":  # a local replica inherits the runtime's os.environ, as it is now
        monkeypatch.setenv("RT_LATE", "late")  # set after the runtime (and its forkserver) started
        assert rt.run(given, ["RT_LATE", "PATH"]).result == {"RT_LATE": "late", "PATH": os.environ["PATH"]}
    else:  # an actor has its node's environment, plus the environment's variables
        monkeypatch.setenv("RT_LATE", "late")
        assert rt.run(given, ["RT_LATE"]).result == {"RT_LATE": None}


def test_a_secret_without_a_value_is_refused(rt, monkeypatch):
    monkeypatch.delenv("RT_SECRET_FROM_HERE", raising=False)
    with pytest.raises(ValueError, match="RT_SECRET_FROM_HERE"):
        rt.run(read_env, [])


# ---------------------------------------------------------------------- bad input
def test_bad_input_to_run_is_a_clear_value_error(rt):
    with pytest.raises(ValueError, match="@env.task"):
        rt.run(not_a_task, 1)
    with pytest.raises(ValueError, match=r"rt_cached\.square.*too many.*square\(x, log\)"):
        rt.run(square, 1, 2, 3)
    with pytest.raises(ValueError, match="rt_cached.square"):
        rt.run(square, 1, lgo="x")
    with pytest.raises(ValueError, match="time_scale"):
        Runtime(time_scale=0)
    with pytest.raises(ValueError, match="start_method"):
        Runtime(start_method="fork")
    assert rt.replica_pids == [], "nothing was started for bad input"


def test_a_closed_runtime_refuses_runs():
    runtime = Runtime(time_scale=SCALE)
    runtime.close()
    with pytest.raises(RuntimeError, match="closed"):
        runtime.run(small)
    assert isinstance(ReuseRefError("x"), RuntimeError)
