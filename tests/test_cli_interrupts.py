"""A command interrupted, killed, cut off or fed a program that does not import (issue 26, items 7 and 11).

Each case here once printed a raw traceback or left something behind: ``reuse-ref-run-*``
on every error and signal, ``pymp-*`` (multiprocessing's) on SIGTERM and ``os._exit``, a
half-written ``.reuse-ref-*.csv`` beside the output on SIGTERM during ``simulate --trace``.
Every command runs in a fresh interpreter whose ``TMPDIR`` is a directory of the test's
own, so that whatever it leaves there is seen (the machine's /tmp is shared). Ctrl-C is
``SIGINT`` to the command's process group, as a terminal sends it.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from runtime_support import alive, wait_for

pytestmark = [pytest.mark.timeout(180),
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals and /proc")]

# The command as a shell starts it: Ctrl-C raises KeyboardInterrupt even where the test
# runner's own process ignores SIGINT (its children would inherit that).
COMMAND = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
           "from reuse_ref.cli import main; sys.exit(main(sys.argv[1:]))")

PROGRAM = '''
import os, time
import flyte

env = flyte.TaskEnvironment("stay", reusable=flyte.ReusePolicy(replicas=2))


@env.task
def f(out: str = "", wait: bool = False) -> int:
    if out:
        with open(out + ".tmp", "w") as fh:
            fh.write(str(os.getpid()))
        os.replace(out + ".tmp", out)
    if wait:
        time.sleep(1000)
    return 1


if __name__ == "__main__":
    flyte.run(f)
    print("ran", flush=True)
    os._exit(0)  # no clean-up at all
'''


@pytest.fixture
def place(tmp_path):
    """(the working directory, with the program in it; the command's TMPDIR). The TMPDIR is
    short, beside the machine's /tmp: the forkserver's socket lives there, and a socket's path
    has at most 107 bytes (pytest's tmp_path under xdist is longer)."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "prog.py").write_text(PROGRAM)
    tmp = Path(tempfile.mkdtemp(prefix="rr26-"))
    yield work, tmp
    shutil.rmtree(tmp, ignore_errors=True)


def start(place, *argv, code=COMMAND, **options):
    work, tmp = place
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONWARNINGS="ignore")
    options.setdefault("stdout", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-c", code, *map(str, argv)], cwd=work, env=env,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **options)


def left_in(tmp):
    return sorted(os.listdir(tmp))


@pytest.mark.parametrize("sig, status, line", [
    (signal.SIGINT, 130, "reuse-ref: interrupted (Ctrl-C)"),
    (signal.SIGTERM, 143, "reuse-ref: terminated (SIGTERM)"),
])
def test_a_signal_during_run_stops_it_in_one_line_and_leaves_nothing(place, sig, status, line):
    work, tmp = place
    pid_file = work / "pid.txt"
    proc = start(place, "run", "--trace", "trace.csv", "prog.py", "f", "--out", pid_file, "--wait", "true")
    try:
        assert wait_for(pid_file.exists, timeout=90), "the task never started"
        started = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]  # forkserver, tracker
        replica = int(pid_file.read_text())
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)  # a terminal's Ctrl-C: the whole foreground group
        else:
            proc.send_signal(sig)  # kill PID
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, err
    assert err.strip().splitlines() == [line]
    assert out == "" and not (work / "trace.csv").exists()
    assert wait_for(lambda: alive(started + [replica]) == [], timeout=20), alive(started + [replica])
    assert wait_for(lambda: left_in(tmp) == [], timeout=10), left_in(tmp)  # reuse-ref-run-*, pymp-*


@pytest.mark.parametrize("how", ["os._exit", "SIGKILL"])
def test_a_run_that_ends_without_clean_up_leaves_no_directory(place, how):
    """The program calls os._exit, or the command is killed: no finally block runs, and the
    watchdog removes the run's directory and multiprocessing's."""
    work, tmp = place
    if how == "os._exit":
        proc = start(place, "run", "prog.py")
        out, err = proc.communicate(timeout=120)
        assert "ran" in out, err
    else:
        pid_file = work / "pid.txt"
        proc = start(place, "run", "prog.py", "f", "--out", pid_file, "--wait", "true")
        assert wait_for(pid_file.exists, timeout=90), "the task never started"
        assert any(name.startswith("pymp-") for name in left_in(tmp)) and any(
            name.startswith("reuse-ref-run-") for name in left_in(tmp)), left_in(tmp)
        proc.kill()
        proc.communicate(timeout=30)
    assert wait_for(lambda: left_in(tmp) == [], timeout=20), left_in(tmp)


# simulate: the signal arrives while the trace is being written (the writer sends it to its own
# process half-way through, so the moment is exact), with the temporary file half written
SIGNAL_WHILE_WRITING = '''
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from reuse_ref.trace import Trace
from reuse_ref.cli import main


def to_csv(self, path):
    with open(path, "w") as f:
        f.write("kind,t\\n")
        f.flush()
        os.kill(os.getpid(), signal.SIG{name})
        time.sleep(60)  # the signal lands here
        f.write("never\\n")


Trace.to_csv = to_csv
sys.exit(main(sys.argv[1:]))
'''


@pytest.mark.parametrize("name, status, line", [
    ("INT", 130, "reuse-ref: interrupted (Ctrl-C)"),
    ("TERM", 143, "reuse-ref: terminated (SIGTERM)"),
])
def test_a_signal_while_simulate_writes_its_trace_leaves_no_half_file(place, name, status, line):
    work, tmp = place
    (work / "jobs.csv").write_text("at,duration\n0,10\n1,10\n")
    (work / "old.csv").write_text("the trace of an earlier run\n")
    proc = start(place, "simulate", "--replicas", "1,3", "--workload", "jobs.csv", "--trace", "old.csv",
                 code=SIGNAL_WHILE_WRITING.replace("{name}", name))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err
    assert err.strip().splitlines() == [line] and out == ""
    assert sorted(os.listdir(work)) == ["jobs.csv", "old.csv", "prog.py"]  # no .reuse-ref-*.csv
    assert (work / "old.csv").read_text() == "the trace of an earlier run\n"


@pytest.mark.parametrize("argv", [
    ("run", "prog.py", "f"),
    ("simulate", "--replicas", "2", "--workload", "jobs.csv"),
])
def test_a_reader_that_closes_stdout_early_ends_the_command_quietly(place, argv):
    """``reuse-ref ... | head``: the reader is gone before the result is printed."""
    work, tmp = place
    (work / "jobs.csv").write_text("at,duration\n0,10\n1,10\n")
    read, write = os.pipe()
    os.close(read)  # nobody will read: the first write fails with EPIPE
    try:
        proc = start(place, *argv, stdout=write)
    finally:
        os.close(write)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGPIPE, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert wait_for(lambda: left_in(tmp) == [], timeout=10), left_in(tmp)


@pytest.mark.parametrize("source, status, first_line", [
    ("def f(:\n", 2, "reuse-ref: error: FILE='bad.py' is not valid: it is not Python that compiles (line 1)"),
    ("x = 1\0\n", 2, "reuse-ref: error: FILE='bad.py' is not valid: it is not Python that compiles"),
    ('import flyte\nenv = flyte.TaskEnvironment("e")\n\n\n@env.task(retries=-1)\ndef f() -> int:\n    return 1\n', 1,
     "reuse-ref run: the program failed while bad.py was imported: ValueError: count=-1 is not valid"),
    ("import flyte\nraise RuntimeError('no config')\n", 1,
     "reuse-ref run: the program failed while bad.py was imported: RuntimeError: no config"),
])
def test_a_program_that_fails_to_import_is_one_clear_message(place, source, status, first_line):
    work, tmp = place
    (work / "bad.py").write_text(source)
    proc = start(place, "run", "bad.py", "f")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err
    lines = err.strip().splitlines()
    assert lines[0].startswith(first_line), err
    if status == 2:
        assert len(lines) == 1
    else:  # the program's own traceback, from its line in bad.py, without reuse-ref's import machinery
        assert lines[1] == "Traceback (most recent call last):" and 'bad.py", line' in lines[2], err
        assert "importlib" not in err and "script.py" not in err and "cli.py" not in err, err
    assert left_in(tmp) == []  # reuse-ref-run-* is removed on every error


def test_bad_task_arguments_leave_no_directory(place):
    work, tmp = place
    proc = start(place, "run", "prog.py", "f", "--wait", "perhaps")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and err.count("\n") == 1 and "--wait" in err, err
    assert left_in(tmp) == []


def test_a_run_left_alone_succeeds_and_leaves_nothing(place):
    """The control case: the same program, not interrupted."""
    work, tmp = place
    proc = start(place, "run", "prog.py", "f")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "result: 1" in out, err
    assert wait_for(lambda: left_in(tmp) == [], timeout=10), left_in(tmp)


def start_plan(place):
    """``plan --workers 2`` on a day of 20,000 tasks and thousands of candidates (still running when
    its workers are seen), and the workers' pids once they are."""
    work, tmp = place
    rows = "".join(f"{i * 0.5:.1f},{1 + i % 5}\n" for i in range(20_000))
    (work / "day.csv").write_text("at,duration\n" + rows)
    proc = start(place, "plan", "--workload", "day.csv", "--min", "0..3", "--max", "4..60", "--concurrency", "1..4",
                 "--idle-ttl", "10,30,60", "--target", "p95<=5", "--price-replica-hour", "1", "--workers", "2",
                 "--csv", "plan.csv")
    assert wait_for(lambda: len(psutil.Process(proc.pid).children(recursive=True)) >= 2, timeout=90), \
        "the sweep's workers never started"
    return proc, [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]


@pytest.mark.parametrize("sig, status, line", [
    (signal.SIGINT, 130, "reuse-ref: interrupted (Ctrl-C)"),
    (signal.SIGTERM, 143, "reuse-ref: terminated (SIGTERM)"),
])
def test_a_signal_during_a_plan_with_workers_stops_it_in_one_line_and_leaves_nothing(place, sig, status, line):
    """``plan --workers 2`` is a parent and a pool of worker processes in one process group: Ctrl-C
    reaches them all. The sweep has thousands of candidates, so it is still running when its
    workers are seen; the command must end at once, with no worker's traceback, no worker left
    and no CSV half written."""
    work, tmp = place
    proc, workers = start_plan(place)
    try:
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, err
    assert err.replace("\r", "\n").strip().splitlines()[-1] == line, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert out == "" and sorted(os.listdir(work)) == ["day.csv", "prog.py"]
    assert wait_for(lambda: alive(workers) == [], timeout=20), alive(workers)
    assert wait_for(lambda: left_in(tmp) == [], timeout=10), left_in(tmp)


def test_a_plan_killed_with_sigkill_leaves_no_worker(place):
    """No clean-up of the command runs: each worker must see its parent gone on its own (it
    waits for work on a pipe it holds both ends of, so nothing else would wake it)."""
    work, tmp = place
    proc, workers = start_plan(place)
    proc.kill()
    proc.communicate(timeout=30)
    assert wait_for(lambda: alive(workers) == [], timeout=20), alive(workers)
    assert wait_for(lambda: left_in(tmp) == [], timeout=10), left_in(tmp)
