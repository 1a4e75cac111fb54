"""A warm synchronous call carried out by its caller's thread (reuse_ref.runtime.direct).

The caller submits to the core's pools under the driver's lock, reads the replica's answer
from the replica's pipe itself, and leaves everything else to the driver's thread. These
tests check that the short path is taken (the driver's thread sleeps through warm calls),
that it records what the driver's thread records, and that whatever it hands over (a
nested call, a timer it moved earlier, calls from several threads) still ends.
"""
from __future__ import annotations

import sys
import threading
import time
from datetime import timedelta

import cloudpickle
import pytest

from reuse_ref import ReusePolicy, Runtime, TaskEnvironment
from reuse_ref.config.errors import TaskTimeoutError

from runtime_support import alive

cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = pytest.mark.timeout(60)

warm = TaskEnvironment("direct_warm", reusable=ReusePolicy(replicas=2, idle_ttl=None))
pair = TaskEnvironment("direct_pair", reusable=ReusePolicy(replicas=2, idle_ttl=None))


@warm.task
def echo(x: int) -> int:
    return x


@warm.task
def parent(x: int) -> int:
    return child(x) + 1


@pair.task
def child(x: int) -> int:
    return 2 * x


@pair.task
def where(x: int) -> tuple:
    import os
    return x, os.getpid()


@pair.task(timeout=timedelta(seconds=0.3))
def stuck(seconds: float) -> None:
    time.sleep(seconds)


class WakeCounter:
    """Counts the times the driver's thread comes back from its backend's wait."""

    def __init__(self, backend) -> None:
        self.wait = backend.wait
        self.count = 0
        backend.wait = self

    def __call__(self, timeout):
        out = self.wait(timeout)
        self.count += 1
        return out


def test_a_warm_sync_call_does_not_wake_the_drivers_thread():
    with Runtime() as rt:
        assert rt.run(echo, 0).result == 0  # cold: the driver's thread starts the replica
        wakes = WakeCounter(rt.backend)
        results = [rt.run(echo, i).result for i in range(40)]
        ended = [r for r in rt.trace if r.kind == "task_end"]
        # through the driver's thread each call wakes it twice (the command, the answer)
        assert wakes.count < 10, f"the driver's thread woke {wakes.count} times for 40 warm calls"
    assert results == list(range(40))
    assert len(ended) == 41
    assert alive(rt.replica_pids) == []


def test_a_call_carried_by_its_caller_records_what_the_drivers_thread_records():
    with Runtime() as rt:
        rt.run(echo, 0)
        direct = rt.run(echo, 1)
        rt._c.direct.enabled = False  # the same call, through the driver's thread
        through = rt.run(echo, 2)
    assert (direct.result, through.result) == (1, 2)

    def shape(run):
        return [(r.kind, r.env) for r in run.trace if r.kind.startswith("task_")]  # a replica may come up meanwhile

    assert shape(direct) == shape(through)
    assert [kind for kind, _ in shape(direct)] == ["task_queued", "task_start", "task_end"]


def test_a_sync_task_calling_a_sync_task_is_handed_to_the_drivers_thread():
    with Runtime() as rt:
        assert rt.run(parent, 5).result == 11
        assert [rt.run(parent, i).result for i in range(5)] == [1, 3, 5, 7, 9]


def test_a_timer_the_caller_sets_wakes_the_sleeping_drivers_thread():
    # The driver's thread sleeps with no timer at all (idle_ttl=None, min = max); the caller's
    # own submit sets the task's timeout, which must wake it to stop the replica.
    from runtime_support import records, wait_for

    with Runtime() as rt:
        rt.run(where, 0)
        assert wait_for(lambda: len(records(rt.trace, "direct_pair", "replica_ready")) == 2, 30)
        rt.run(where, 1)  # warm, and no timer left in any pool
        with pytest.raises(TaskTimeoutError):
            rt.run(stuck, 30.0)
        assert rt.run(echo, 3).result == 3


def test_calls_from_several_threads_each_end_once():
    with Runtime() as rt:
        rt.run(where, -1)
        out, errors = [], []

        def caller(base: int) -> None:
            try:
                for i in range(25):
                    out.append(rt.run(where, base + i).result[0])
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=caller, args=(100 * k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(50)
        finished = [r for r in rt.trace if r.kind == "task_end" and r.env == "direct_pair"]
    assert errors == []
    assert sorted(out) == sorted(100 * k + i for k in range(4) for i in range(25))
    assert len(finished) == 101  # the first call and the 100 of the threads, each once


def test_the_end_of_an_idle_replica_whose_answers_its_callers_read_is_seen_at_once():
    # After warm calls read by their callers, the replica's pipe is out of the driver's select
    # (parked); its process's end must still reach the pools without any new call.
    import os
    import signal

    from runtime_support import records, wait_for

    with Runtime() as rt:
        pids = {rt.run(where, i).result[1] for i in range(5)}
        victim = pids.pop()
        os.kill(victim, signal.SIGKILL)
        stops = wait_for(lambda: [r for r in records(rt.trace, "direct_pair", "replica_stop") if r.reason == "crashed"], 10)
        assert len(stops) == 1, "the pool heard of its replica's end"
        starts = wait_for(lambda: len(records(rt.trace, "direct_pair", "replica_start")) >= 3, 10)
        assert starts, "and replaced it (min is 2)"
        assert [rt.run(where, i).result[0] for i in range(5)] == list(range(5))
    assert alive(rt.replica_pids) == []


@pair.task(retries=1)
def first_attempt_hangs(folder: str) -> int:
    import os
    mark = os.path.join(folder, "first")
    if not os.path.exists(mark):
        with open(mark + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(mark + ".tmp", mark)
        time.sleep(60)  # until it is killed
    return os.getpid()


def test_a_replica_killed_while_its_caller_reads_its_pipe_is_replaced_and_the_call_retried(tmp_path):
    import os
    import signal

    from runtime_support import records, wait_for

    with Runtime() as rt:
        rt.run(where, 0)  # both replicas up: the call below is a warm one, carried by this thread
        mark = tmp_path / "first"

        def kill_when_started() -> None:
            if wait_for(mark.exists, 30):
                os.kill(int(mark.read_text()), signal.SIGKILL)

        killer = threading.Thread(target=kill_when_started)
        killer.start()
        pid = rt.run(first_attempt_hangs, str(tmp_path)).result
        killer.join(30)
        stops = [r.reason for r in records(rt.trace, "direct_pair", "replica_stop")]
    assert pid != int(mark.read_text())
    assert stops.count("crashed") == 1
    assert alive(rt.replica_pids) == []
