"""No replica outlives its runtime: close, interrupt, interpreter exit, controller death (issue 4)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import cloudpickle
import pytest

import reuse_ref
from reuse_ref import ReusePolicy, Runtime, TaskEnvironment
from reuse_ref.config.errors import ReuseRefError

from runtime_support import SCALE, alive, wait_for

cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = pytest.mark.timeout(60)


life = TaskEnvironment("rt_life", reusable=ReusePolicy(replicas=(2, 3), concurrency=1))


@life.task
def sleepy(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@life.task
def pid() -> int:
    return os.getpid()


def started(rt, task_prefix):
    return [r for r in rt.trace if r.kind == "task_start" and str(r.task).startswith(task_prefix)]


def test_close_stops_every_replica_even_a_busy_one(backend):
    rt = Runtime(time_scale=SCALE, backend=backend)
    rt.run(pid)
    errors = []

    def long_run():
        try:
            rt.run(sleepy, 600)
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            errors.append(exc)

    worker = threading.Thread(target=long_run)
    worker.start()
    assert wait_for(lambda: started(rt, "sleepy"), timeout=30)
    # both replicas of the pool are up (a Ray actor's pid is known once it is ready)
    assert wait_for(lambda: len(alive(rt.replica_pids)) == 2, timeout=30)
    pids = rt.replica_pids
    rt.close()  # the task sleeps 600 s: only stopping its replica ends it before the test's timeout
    worker.join(30)
    assert not worker.is_alive(), "close() did not end the busy run"
    assert alive(pids) == [] and alive(rt.replica_pids) == []
    assert len(errors) == 1 and isinstance(errors[0], ReuseRefError)


@pytest.fixture
def interruptible():
    """Ctrl-C raises KeyboardInterrupt here, however the test runner was started: a command
    started in the background by a non-interactive shell inherits SIGINT ignored, and then
    no interrupt can reach Python at all (it keeps an ignored SIGINT ignored)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def test_an_interrupt_stops_every_replica_and_the_runtime_goes_on(interruptible, backend):
    with Runtime(time_scale=SCALE, backend=backend) as rt:
        first = rt.run(pid).result
        # Interrupt once the task is running on its replica (a state, not a delay): then
        # the interrupt must reach the waiting thread and stop the busy replica.
        stop = threading.Event()

        def interrupt_when_running():
            if wait_for(lambda: started(rt, "sleepy") or stop.is_set(), timeout=30) and not stop.is_set():
                handler = signal.getsignal(signal.SIGINT)
                if handler is signal.default_int_handler:
                    os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends
                if not stop.wait(20):  # the interrupt never arrived: say what we saw, and end the run
                    print(f"interrupt_main did not interrupt: SIGINT handler {handler!r}, "
                          f"threads {[t.name for t in threading.enumerate()]}", file=sys.stderr, flush=True)
                    rt.close()
            elif not stop.is_set():
                print("the task never started", file=sys.stderr, flush=True)

        interrupter = threading.Thread(target=interrupt_when_running, daemon=True)
        interrupter.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                rt.run(sleepy, 600)
        finally:
            stop.set()
            interrupter.join(30)
        pids = rt.replica_pids
        assert first in pids and alive(pids) == [], "no replica survives an interrupt"
        again = rt.run(pid).result
        assert again not in pids, "the next call starts cold"
    assert alive(rt.replica_pids) == []


SCRIPT = """
import os, sys, time, threading
import reuse_ref
from reuse_ref import ReusePolicy, TaskEnvironment

env = TaskEnvironment("exit_env", reusable=ReusePolicy(replicas=2))

@env.task
def sleepy(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()

if __name__ == "__main__":
    mode = sys.argv[1]
    rt = reuse_ref.runtime.default_runtime() if mode == "exit" else reuse_ref.Runtime(time_scale=0.01)
    first = reuse_ref.run(sleepy, 0) if mode == "exit" else rt.run(sleepy, 0)
    threading.Thread(target=rt.run, args=(sleepy, 60), daemon=True).start()
    while len([r for r in rt.trace if r.kind == "task_start"]) < 2:
        time.sleep(0.01)
    print(" ".join(map(str, rt.replica_pids)), flush=True)
    if mode == "kill":
        os.kill(os.getpid(), 9)   # the controller dies without any cleanup
    # mode "exit": the interpreter exits with a replica busy in a 60 s task
"""


@pytest.mark.parametrize("mode", ["exit", "kill"])
def test_replicas_end_with_the_interpreter_or_when_the_controller_dies(tmp_path, mode):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True,
                          timeout=40, env=env, cwd=tmp_path)
    assert proc.stdout.strip(), proc.stderr
    pids = [int(p) for p in proc.stdout.split()]
    assert len(pids) == 2
    assert wait_for(lambda: not alive(pids), timeout=10), f"replicas {alive(pids)} outlived their controller"


def test_module_level_run_uses_a_default_runtime():
    run = reuse_ref.run(pid)
    rt = reuse_ref.runtime.default_runtime()
    assert run.result in rt.replica_pids and rt.time_scale == 1.0
    pids = rt.replica_pids
    rt.close()
    assert alive(pids) == []
    assert reuse_ref.runtime.default_runtime() is not rt, "a closed default runtime is replaced"
    reuse_ref.runtime.default_runtime().close()
