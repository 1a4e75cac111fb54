"""What the commands write, and what they must never overwrite; run's options against a task's.

A user points ``--trace``, ``--plot`` and ``--csv`` at anything a shell allows: a new name,
an existing file, a symlink, a device, a FIFO, or by mistake the input itself. Every case
here once lost data or hung (``reuse_ref.output_files`` says what each must do). The second
half: ``reuse-ref run``'s own options come before ``FILE.py``, so a task's arguments are
never taken by them, even when they share a prefix or a name.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import threading

import pytest

from reuse_ref.cli import main

WORKLOAD = "at,duration\n0,10\n1,10\n2,10\n"


@pytest.fixture
def jobs_csv(tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text(WORKLOAD)
    return path


def cli(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def simulate(jobs_csv, *extra):
    return ("simulate", "--replicas", "1,3", "--idle-ttl", "60", "--cold-start", "5", "--workload", jobs_csv, *extra)


def plan(jobs_csv, *extra):
    return ("plan", "--workload", jobs_csv, "--max", "1,2", "--target", "p95<=30", "--price-replica-hour", "1",
            "--workers", "1", *extra)


# ---------------------------------------------------------------- nodes that are not files
def test_a_device_is_written_to_not_replaced(capsys, jobs_csv):
    before = os.stat("/dev/full")
    assert stat.S_ISCHR(before.st_mode)
    status, out, err = cli(capsys, *simulate(jobs_csv, "--trace", "/dev/full"))
    after = os.stat("/dev/full")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev, "the device node was replaced"
    assert status == 2 and "--trace /dev/full" in err and "No space left on device" in err
    assert out == ""
    status, _, err = cli(capsys, *simulate(jobs_csv, "--trace", "/dev/null"))
    assert status == 0, err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_fifo_is_written_to_and_its_reader_gets_the_trace(capsys, jobs_csv, tmp_path):
    fifo = tmp_path / "trace.fifo"
    os.mkfifo(fifo)
    got = []

    def reader():
        with open(fifo, encoding="utf-8") as f:  # blocks until the command opens it for writing
            got.append(f.read())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    status, _, err = cli(capsys, *simulate(jobs_csv, "--trace", fifo))
    thread.join(timeout=60)
    assert status == 0, err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode), "the FIFO was replaced by a file"
    assert not thread.is_alive(), "the FIFO's reader still waits: nothing was written to it"
    assert got and got[0].startswith("time,kind,replica,task,reason,env\n") and "task_end" in got[0]


def test_a_symlink_is_followed_and_stays_a_link(capsys, jobs_csv, tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    status, _, err = cli(capsys, *simulate(jobs_csv, "--trace", link))
    assert status == 0, err
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("time,kind,")


def test_a_replaced_file_keeps_its_mode_and_a_new_one_gets_the_umask(capsys, jobs_csv, tmp_path):
    existing = tmp_path / "shared.csv"
    existing.write_text("old\n")
    existing.chmod(0o644)
    status, _, err = cli(capsys, *simulate(jobs_csv, "--trace", existing, "--plot", tmp_path / "new.png"))
    assert status == 0, err
    assert stat.S_IMODE(existing.stat().st_mode) == 0o644
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.png").stat().st_mode) == 0o666 & ~umask
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".reuse-ref-")], "a temporary file was left"


# ---------------------------------------------------------------- an output that is an input
@pytest.mark.parametrize("option", ["--trace", "--plot"])
def test_simulate_refuses_to_write_over_its_workload(capsys, jobs_csv, tmp_path, option):
    alias = tmp_path / "alias.csv"
    alias.symlink_to(jobs_csv)
    for path in (jobs_csv, alias):
        status, out, err = cli(capsys, *simulate(jobs_csv, option, path))
        assert status == 2 and "same file as --workload" in err, err
        assert jobs_csv.read_text() == WORKLOAD


def test_plan_refuses_to_write_over_its_workload_or_twice_to_one_file(capsys, jobs_csv, tmp_path):
    status, _, err = cli(capsys, *plan(jobs_csv, "--csv", jobs_csv))
    assert status == 2 and "--csv" in err and "same file as --workload" in err
    assert jobs_csv.read_text() == WORKLOAD
    both = tmp_path / "out.pdf"
    status, _, err = cli(capsys, *plan(jobs_csv, "--csv", both, "--plot", both))
    assert status == 2 and "its own name" in err and not both.exists()


VICTIM = '''
import pathlib
pathlib.Path(__file__).with_name("ran.marker").write_text("the program ran")
from flyte import TaskEnvironment
env = TaskEnvironment("victim")

@env.task
def f(x: int = 1) -> int:
    return x
'''


@pytest.mark.parametrize("option, value, words", [
    ("--trace", "victim.py", ["--trace", "same file as FILE.py"]),
    ("--plot", "victim.py", ["--plot", "same file as FILE.py"]),
    ("--trace", "missing/t.csv", ["--trace", "no such directory"]),
    ("--trace", ".", ["--trace", "is a directory"]),
    ("--plot", "x.bogus", ["--plot x.bogus", ".png, .svg or .pdf"]),
    ("--plot", "x", ["--plot x", ".png, .svg or .pdf"]),
])
def test_run_checks_every_output_before_the_program_runs(capsys, tmp_path, monkeypatch, option, value, words):
    victim = tmp_path / "victim.py"
    victim.write_text(VICTIM)
    monkeypatch.chdir(tmp_path)
    status, out, err = cli(capsys, "run", option, value, "victim.py", "f", "--x", "1")
    assert status == 2, err
    assert all(w in err for w in words), err
    assert victim.read_text() == VICTIM, "the program's source was overwritten"
    assert not (tmp_path / "ran.marker").exists(), "the program ran before its outputs were checked"
    assert not (tmp_path / "x.png").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory anyway")
def test_run_refuses_a_read_only_directory_up_front(capsys, tmp_path, monkeypatch):
    (tmp_path / "victim.py").write_text(VICTIM)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    monkeypatch.chdir(tmp_path)
    status, _, err = cli(capsys, "run", "--trace", "locked/t.csv", "victim.py", "f")
    assert status == 2 and "not writable" in err
    assert not (tmp_path / "ran.marker").exists()


# ---------------------------------------------------------------- run's options and a task's arguments
TYPED = '''
import json
from typing import Optional
from flyte import TaskEnvironment
env = TaskEnvironment("typed")

@env.task
def f(n: int, p: Optional[dict] = None, c: str = "blue", b: str = "no", plot: bool = False,
      trace: str = "") -> str:
    return json.dumps({"n": n, "p": p, "c": c, "b": b, "plot": plot, "trace": trace}, sort_keys=True)
'''


def run_cli(tmp_path, *argv):
    (tmp_path / "typed.py").write_text(textwrap.dedent(TYPED))
    return subprocess.run([sys.executable, "-m", "reuse_ref.cli", "run", *argv], capture_output=True, text=True,
                          timeout=170, cwd=tmp_path)


def test_a_tasks_arguments_are_its_own_even_where_they_look_like_runs_options(tmp_path):
    proc = run_cli(tmp_path, "--json", "--time-scale", "0.01", "typed.py", "f", "--n", "1", "--p", '{"b": 1}',
                   "--c", "red", "--b", "maybe", "--plot", "true", "--trace", "t.csv")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(json.loads(proc.stdout)["result"])
    assert result == {"n": 1, "p": {"b": 1}, "c": "red", "b": "maybe", "plot": True, "trace": "t.csv"}
    assert sorted(os.listdir(tmp_path)) == ["typed.py"], "run wrote a file the task's arguments named"


@pytest.mark.parametrize("argv, words", [
    (["typed.py", "f", "--n", "1", "--n", "2"], ["--n", "once"]),
    (["typed.py", "f", "--n", "1", "--json"], ["--json", "before FILE.py"]),
    (["typed.py", "--json"], ["'--json' after FILE.py", "go before FILE.py"]),
    (["typed.py", "--n", "1"], ["'--n' after FILE.py", "TASK"]),
    (["--tim", "0.01", "typed.py", "f", "--n", "1"], ["unrecognized arguments: --tim"]),
])
def test_run_refuses_ambiguous_arguments(tmp_path, argv, words):
    proc = run_cli(tmp_path, *argv)  # a subprocess: run installs the flyte alias in its process
    assert proc.returncode == 2, proc.stderr
    assert all(w in proc.stderr for w in words), proc.stderr


@pytest.mark.parametrize("argv", [
    ("simulate", "--rep", "2", "--workload", "x.csv"),
    ("plan", "--work", "x.csv", "--target", "p95<=30", "--price-replica-hour", "1"),
])
def test_no_option_is_abbreviated(capsys, argv):
    status, _, err = cli(capsys, *argv)
    assert status == 2 and ("unrecognized arguments: --" in err or "required: --workload" in err), err
