"""The runtime never hangs: every run ends with a result or an error that says why (rules 6 and 7).

Each test here once made ``rt.run`` wait forever, or gave the wrong answer: a task's own
``CancelledError``, an async attempt that never yields after its timeout, starvation
across two environments, a parent counted as waiting before it awaited, the children of
a failed parent running on, and tasks that end the caller's program.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
import warnings

import cloudpickle
import pytest

from reuse_ref import ReusePolicy, Runtime, StarvationWarning, TaskEnvironment
from reuse_ref.config.errors import RemoteTaskError, StarvationError, TaskCancelledError, TaskTimeoutError

from runtime_support import SCALE, alive, records, wait_for

cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = pytest.mark.timeout(90)


# ---------------------------------------------------------------------- 1: a task's own CancelledError
own = TaskEnvironment("nh_own", reusable=ReusePolicy(replicas=2, concurrency=4))


@own.task
async def awaits_a_cancelled_future() -> int:
    fut = asyncio.get_running_loop().create_future()
    fut.cancel()  # someone else cancelled what the task awaits
    return await fut


@own.task
async def answer() -> int:
    return 42


def test_a_task_that_raises_cancelled_error_itself_fails_instead_of_hanging(rt):
    with pytest.raises(RemoteTaskError) as info:
        rt.run(awaits_a_cancelled_future)
    assert info.value.type_name == "CancelledError"
    assert rt.run(answer).result == 42, "the replica goes on serving"


# ---------------------------------------------------------------------- 2: a loop that never comes back
stuck = TaskEnvironment("nh_stuck", reusable=ReusePolicy(replicas=1, concurrency=2))


@stuck.task(timeout=1)
async def blocks_its_loop() -> int:
    time.sleep(600)  # never yields: the cancel cannot be delivered
    return 0


@stuck.task
async def quick() -> int:
    return os.getpid()


def test_an_async_attempt_whose_loop_never_comes_back_costs_its_replica(backend):
    with Runtime(time_scale=SCALE, stop_grace=1.0, backend=backend) as rt:
        first = rt.run(quick).result
        with pytest.raises(TaskTimeoutError, match="timeout of 1 s"):
            rt.run(blocks_its_loop)
        stops = records(rt.trace, "nh_stuck", "replica_stop")
        assert [r.reason for r in stops] == ["timeout"]
        again = rt.run(quick).result
        assert again != first and first not in alive([first]), "a new replica took over; the stuck one is gone"


# ---------------------------------------------------------------------- 3: starvation across environments
with warnings.catch_warnings():  # one replica of concurrency 1 starves on purpose here
    warnings.simplefilter("ignore", StarvationWarning)
    env_a = TaskEnvironment("nh_a", reusable=ReusePolicy(replicas=1))
    env_b = TaskEnvironment("nh_b", reusable=ReusePolicy(replicas=1))
    fan = TaskEnvironment("nh_fan", reusable=ReusePolicy(replicas=1))


@env_a.task
async def grandchild() -> int:
    return 1


@env_b.task
async def child() -> int:
    return await grandchild() + 1


@env_a.task
async def parent() -> int:
    return await child() + 1


def test_starvation_across_two_environments_is_found_and_named(rt):
    with pytest.raises(StarvationError) as info:
        rt.run(parent)
    message = str(info.value)
    assert "'nh_a'" in message and "'nh_b'" in message and 'reusable="off"' in message
    assert message.count("StarvationError") == 0, "the message is not repeated once per level"
    starvation = [r for r in rt.trace if r.kind == "starvation"]
    assert len(starvation) == 1, "one record per deadlock"


# ---------------------------------------------------------------------- 4: waiting means blocked on a result
@fan.task
async def fan_child(seconds: float) -> int:
    await asyncio.sleep(seconds)
    return 1


@fan.task
async def fan_parent(n: int, child_seconds: float, own_seconds: float) -> int:
    kids = [asyncio.ensure_future(fan_child(child_seconds)) for _ in range(n)]
    await asyncio.sleep(own_seconds)  # its own work: it calls, but does not wait yet
    return sum(await asyncio.gather(*kids))


def test_a_parent_is_waiting_only_once_it_awaits(rt):
    """fan_out(3, 10, parent_duration=20) on one replica: the simulator starves once, at 30."""
    with pytest.raises(StarvationError):
        rt.run(fan_parent, 3, 10 * SCALE, 20 * SCALE)
    trace = rt.trace
    starvation = records(trace, "nh_fan", "starvation")
    assert len(starvation) == 1
    start = records(trace, "nh_fan", "task_start")[0].time
    assert starvation[0].time - start >= 19, "not before the parent's own work is done"


@fan.task
async def calls_and_leaves(child_seconds: float) -> str:
    asyncio.ensure_future(fan_child(child_seconds))  # called, never awaited
    await asyncio.sleep(0.05)
    return "done"


def test_a_child_called_and_never_awaited_does_not_starve_its_parent(rt):
    assert rt.run(calls_and_leaves, 600).result == "done"
    failed = records(rt.trace, "nh_fan", "task_failed")
    assert [r.reason for r in failed] == ["cancelled"], "the child of a parent that ended is cancelled"
    assert not records(rt.trace, "nh_fan", "starvation")


@fan.task
async def waits_by(way: str) -> str:
    """Two children, awaited in one of asyncio's ways; with one slot, none of them can run."""
    if way == "TaskGroup":
        async with asyncio.TaskGroup() as group:
            for _ in range(2):
                group.create_task(fan_child(0.01))
        return "both ran"
    if way == "asyncio.timeout":
        try:
            async with asyncio.timeout(20 * SCALE):  # the clock ends the wait
                return str(await fan_child(0.01))
        except TimeoutError:
            return "0 of 1 in time"
    kids = [asyncio.ensure_future(fan_child(0.01)) for _ in range(2)]
    if way == "wait":  # wait() hands back failed children instead of raising
        done, _ = await asyncio.wait(kids)
        return ", ".join(sorted(type(kid.exception()).__name__ for kid in done))
    if way == "as_completed":
        for kid in asyncio.as_completed(kids):
            await kid
        return "both ran"
    done, _ = await asyncio.wait(kids, timeout=20 * SCALE)  # "wait with a timeout": the clock wakes it
    return f"{len(done)} of 2 in time"


@pytest.mark.parametrize("way", ["wait", "as_completed", "TaskGroup"])
def test_every_way_of_awaiting_children_is_waiting(rt, way):
    """A deadlock through asyncio.wait, as_completed or a TaskGroup is found, as through gather:
    the queued children fail with starvation, once, and the run ends."""
    if way == "wait":
        assert rt.run(waits_by, way).result == "StarvationError, StarvationError"
    else:
        with pytest.raises((StarvationError, ExceptionGroup)) as info:  # a TaskGroup raises a group
            rt.run(waits_by, way)
        errors = getattr(info.value, "exceptions", (info.value,))
        assert all(isinstance(e, StarvationError) for e in errors), errors
    assert len(records(rt.trace, "nh_fan", "starvation")) == 1
    starved = [r for r in records(rt.trace, "nh_fan", "task_failed") if str(r.task).startswith("fan_child")]
    assert [r.reason for r in starved] == ["starvation", "starvation"]


@pytest.mark.parametrize("way, result", [("wait with a timeout", "0 of 2 in time"),
                                         ("asyncio.timeout", "0 of 1 in time")])
def test_a_wait_with_a_timeout_is_not_starvation(rt, way, result):
    """The parent goes on when its timeout ends, so the runtime must not call it starved."""
    assert rt.run(waits_by, way).result == result
    assert not records(rt.trace, "nh_fan", "starvation")


# ---------------------------------------------------------------------- 7: failure propagation
family = TaskEnvironment("nh_family", reusable=ReusePolicy(replicas=(1, 4), concurrency=4))


@family.task
async def fails_soon() -> int:
    await asyncio.sleep(0.05)
    raise ValueError("the first child fails")


@family.task
async def runs_for(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "ran to the end"


@family.task
async def gathers(seconds: float) -> list:
    return await asyncio.gather(fails_soon(), runs_for(seconds))


def test_fail_immediately_cancels_the_other_children(rt):
    with pytest.raises(ValueError, match="the first child fails"):
        rt.run(gathers, 600)  # the sibling would run 600 s: only a cancel ends the run in time
    failed = {str(r.task).split("#")[0]: r.reason for r in records(rt.trace, "nh_family", "task_failed")}
    assert failed == {"fails_soon": "error", "runs_for": "cancelled", "gathers": "error"}


def test_fail_after_executable_nodes_complete_lets_them_finish_first(rt):
    with pytest.raises(ValueError, match="the first child fails"):
        rt.run(gathers, 0.5, failure_policy="FAIL_AFTER_EXECUTABLE_NODES_COMPLETE")
    trace = records(rt.trace, "nh_family")
    ended = [r for r in trace if r.kind == "task_end" and str(r.task).startswith("runs_for")]
    parent_failed = [r for r in trace if r.kind == "task_failed" and str(r.task).startswith("gathers")]
    assert ended and parent_failed and parent_failed[0].time >= ended[0].time


def test_a_bad_failure_policy_is_refused(rt, rejects):
    with rejects("failure_policy", "SOMETIMES", "FAIL_IMMEDIATELY", "FAIL_AFTER_EXECUTABLE_NODES_COMPLETE"):
        rt.run(answer, failure_policy="SOMETIMES")
    with rejects("failure_policy", "never", "FAIL_IMMEDIATELY"):
        Runtime(failure_policy="never")


# ---------------------------------------------------------------------- 13, 12, 16: messages and exits
odd = TaskEnvironment("nh_odd", reusable=ReusePolicy(replicas=2))


@odd.task
def returns_generator():
    return (i for i in range(3))


@odd.task(cache=True)
def cached(x) -> int:
    return 1


@odd.task
def exits(code: int) -> None:
    sys.exit(code)


@odd.task
def interrupts() -> None:
    raise KeyboardInterrupt


@odd.task
def starts_a_process() -> int:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]).pid


def test_a_result_that_cannot_be_pickled_names_the_task(rt):
    with pytest.raises(TypeError, match="result of task 'returns_generator' .generator. cannot be pickled"):
        rt.run(returns_generator)


def test_a_cached_task_with_an_unpicklable_argument_is_bad_input(rt):
    with pytest.raises(ValueError, match="cache key"):
        rt.run(cached, (i for i in range(3)))


@pytest.mark.parametrize("task, name", [(exits, "SystemExit"), (interrupts, "KeyboardInterrupt")])
def test_a_task_cannot_end_the_callers_program(rt, task, name):
    args = (3,) if task is exits else ()
    with pytest.raises(RemoteTaskError) as info:
        rt.run(task, *args)
    assert info.value.type_name == name
    assert rt.run(answer).result == 42


def test_processes_a_task_starts_stop_with_its_replica():
    rt = Runtime(time_scale=SCALE)
    child_pid = rt.run(starts_a_process).result
    assert alive([child_pid])
    rt.close()
    assert wait_for(lambda: not alive([child_pid]), timeout=10), "the task's own process outlived rt.close()"


# ---------------------------------------------------------------------- 5 and 9: start and exit
def test_the_forkserver_starts_with_the_runtime():
    from multiprocessing import forkserver

    with Runtime(time_scale=SCALE, start_method="forkserver"):
        assert forkserver._forkserver._forkserver_pid is not None


EXIT_SCRIPT = """
import reuse_ref
from reuse_ref import ReusePolicy, TaskEnvironment

env = TaskEnvironment("exit_race", reusable=ReusePolicy(replicas=2))

@env.task
def one() -> int:
    return 1

if __name__ == "__main__":
    if reuse_ref.run(one).result != 1:
        raise SystemExit(1)
    rt = reuse_ref.Runtime(time_scale=0.01)
    rt.run(one)  # and no rt.close(): the exit hook closes both runtimes
"""


def test_a_script_that_does_not_close_its_runtime_exits_cleanly(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(EXIT_SCRIPT))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    for _ in range(6):  # the race showed in about half of the runs
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                              env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
