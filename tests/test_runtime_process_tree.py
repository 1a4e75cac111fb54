"""What a task starts ends with its replica, however it was started (issue 26, item 5).

A subprocess with ``start_new_session=True`` and a daemon's double fork with ``setsid``
leave the replica's process group; they once outlived the run, and held the pipes of the
forkserver and the resource tracker, which then stayed alive too, re-parented to pid 1.
Processes backend only: Ray starts its actors' processes itself. Linux: the processes are
looked up in ``/proc``.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from reuse_ref import Runtime, TaskEnvironment

from runtime_support import alive, wait_for

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]

SPAWN = '''
import os, subprocess, time


def spawn_escapees() -> list:
    """A subprocess in a session of its own, and a daemon (double fork and setsid); their pids."""
    pids = [subprocess.Popen(["sleep", "1000"], start_new_session=True).pid]
    r, w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        pid = os.fork()
        if pid == 0:
            time.sleep(1000)
            os._exit(0)
        os.write(w, str(pid).encode())
        os._exit(0)
    os.close(w)
    pids.append(int(os.read(r, 64)))
    return pids
'''
exec(SPAWN)  # spawn_escapees, in this module too: the tasks below ship it by value

unpooled = TaskEnvironment("rt_tree_off")


@unpooled.task
def escape() -> list:
    return spawn_escapees() + [os.getppid()]  # noqa: F821 - defined by exec above


def test_processes_a_task_started_end_when_its_replica_stops():
    with Runtime() as rt:
        *pids, _ = rt.run(escape).result  # no reuse: the replica stops when the call ends
        assert all(isinstance(p, int) for p in pids) and len(pids) == 2
        assert wait_for(lambda: alive(pids) == [], timeout=20), f"still running: {alive(pids)}"


PROGRAM = SPAWN + '''
import sys
import flyte

env = flyte.TaskEnvironment("tree", reusable=flyte.ReusePolicy(replicas=1, idle_ttl=None))


@env.task
def f(out: str, wait: bool = False) -> int:
    pids = spawn_escapees() + [os.getppid()]  # the last: the forkserver the replica was forked from
    with open(out + ".tmp", "w") as fh:
        fh.write(" ".join(map(str, pids)))
    os.replace(out + ".tmp", out)
    if wait:
        time.sleep(1000)
    return len(pids)
'''


def _program(tmp_path):
    path = tmp_path / "tree_program.py"
    path.write_text(textwrap.dedent(PROGRAM))
    return path


def _pids(path):
    return [int(x) for x in path.read_text().split()]


def test_a_run_leaves_no_process_behind_not_even_the_forkserver(tmp_path):
    out = tmp_path / "pids.txt"
    done = subprocess.run([sys.executable, "-m", "reuse_ref.cli", "run", str(_program(tmp_path)), "f", "--out",
                           str(out)], capture_output=True, text=True, timeout=100, cwd=tmp_path,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr
    *escapees, forkserver = _pids(out)
    # the forkserver ends once nobody holds its pipe: no escapee may have inherited it
    assert wait_for(lambda: alive(escapees + [forkserver]) == [], timeout=20), alive(escapees + [forkserver])


def test_sigkill_of_the_controller_ends_what_its_tasks_started(tmp_path):
    out = tmp_path / "pids.txt"
    proc = subprocess.Popen([sys.executable, "-m", "reuse_ref.cli", "run", str(_program(tmp_path)), "f", "--out",
                             str(out), "--wait", "true"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    try:
        assert wait_for(out.exists, timeout=60)
        pids = _pids(out)
        assert len(alive(pids)) == 3
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert wait_for(lambda: alive(pids) == [], timeout=20), f"still running: {alive(pids)}"
