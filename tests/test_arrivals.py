"""Runs that arrive over time (``reuse_ref.runs``, in ``reuse_ref.sim.arrivals``) and ``reuse-ref workload runs``."""
import json
import math

import pytest

from reuse_ref import Job, ReusePolicy, runs, simulate
from reuse_ref.cli import main
from reuse_ref.sim.arrivals import read_run_starts
from reuse_ref.sim.workload_csv import read_csv, write_csv

TREE = [
    Job("main#1", 0.0, 2.0, "d.main", env="driver"),
    Job("leaf#2", 0.5, 30.0, "w.leaf", "main#1", env="worker"),
    Job("mid#3", 0.5, 1.0, "w.mid", "main#1", env="worker"),
    Job("leaf#4", 0.2, 10.0, "w.leaf", "mid#3", env="worker"),
]


def _starts(jobs):
    return [j.at for j in jobs if j.parent is None]


def test_each_run_is_a_copy_of_the_tree_with_its_own_ids():
    day = runs(TREE, starts=[120.0, 30.0])
    assert len(day) == 2 * len(TREE)
    first, second = day[:4], day[4:]
    assert [j.id for j in first] == ["r1/main#1", "r1/leaf#2", "r1/mid#3", "r1/leaf#4"]
    assert [j.parent for j in second] == [None, "r2/main#1", "r2/main#1", "r2/mid#3"]
    assert _starts(day) == [30.0, 120.0]  # numbered in the order they start
    for copy in (first, second):  # children keep their offsets, durations, names and environments
        assert [(j.at, j.duration, j.name, j.env) for j in copy[1:]] == [(j.at, j.duration, j.name, j.env)
                                                                         for j in TREE[1:]]


def test_a_tree_whose_first_call_is_late_starts_at_the_runs_start():
    late = [j._replace(at=j.at + 50) if j.parent is None else j for j in TREE]
    assert _starts(runs(late, burst=3, at=600)) == [600.0] * 3


def test_the_same_seed_gives_the_same_workload_and_another_seed_another():
    a = runs(TREE, rate=40, hours=24, seed=7)
    assert a == runs(TREE, rate=40, hours=24, seed=7)
    assert _starts(a) != _starts(runs(TREE, rate=40, hours=24, seed=8))
    n = len(_starts(a))
    assert 40 * 24 - 4 * math.sqrt(40 * 24) < n < 40 * 24 + 4 * math.sqrt(40 * 24)  # Poisson: mean 960, sd 31
    assert all(0 <= t < 24 * 3600 for t in _starts(a)) and _starts(a) == sorted(_starts(a))


def test_a_profile_starts_runs_only_in_the_hours_it_gives_them():
    profile = [0] * 9 + [60] * 8 + [0] * 7  # 9:00 to 17:00
    starts = _starts(runs(TREE, profile=profile, hours=48, seed=1))
    assert starts and all(9 <= (t / 3600) % 24 < 17 for t in starts)
    assert sum(t < 86400 for t in starts) > 0 and sum(t >= 86400 for t in starts) > 0  # the profile repeats
    window = _starts(runs(TREE, profile=profile, hours=2, at=10 * 3600, seed=1))
    assert window and all(10 * 3600 <= t < 12 * 3600 for t in window)


def test_runs_of_a_recorded_two_environment_tree_simulate_under_a_policy_per_environment():
    day = runs(TREE, burst=5)
    trace = simulate({"driver": ReusePolicy(replicas=(1, 5), concurrency=1), "worker": ReusePolicy(replicas=(1, 4), concurrency=4)},
                     day, cold_start=5)
    assert trace.measures("driver").tasks == 5 and trace.measures("worker").tasks == 15
    assert trace.measures().failed == 0 and trace.measures().starved == 0


@pytest.mark.parametrize("kwargs, message", [
    ({}, "rate=None, profile=None, starts=None, burst=None is not valid: give exactly one"),
    ({"rate": 4, "burst": 2}, "rate=4, burst=2 is not valid: give exactly one"),
    ({"rate": -1}, "rate=-1 is not valid: a finite number of runs per hour >= 0"),
    ({"rate": math.nan}, "rate=nan is not valid"),
    ({"rate": math.inf}, "rate=inf is not valid"),
    ({"rate": True}, "rate=True is not valid"),
    ({"profile": [1] * 23}, "is not valid: 24 finite numbers >= 0"),
    ({"profile": [1] * 23 + [-2]}, "is not valid: 24 finite numbers >= 0"),
    ({"profile": [1] * 23 + [math.nan]}, "is not valid: 24 finite numbers >= 0"),
    ({"profile": "1,2,3"}, "profile='1,2,3' is not valid"),
    ({"burst": -1}, "burst=-1 is not valid: an int >= 0"),
    ({"burst": 2.5}, "burst=2.5 is not valid"),
    ({"starts": [0, -5]}, "starts[1]=-5 is not valid"),
    ({"starts": [0, math.nan]}, "starts[1]=nan is not valid"),
    ({"starts": [0], "at": 60}, "at=60 is not valid: 0: starts are the runs' own start times"),
    ({"rate": 4, "hours": 0}, "hours=0 is not valid: a finite number of hours > 0"),
    ({"rate": 4, "hours": -1}, "hours=-1 is not valid"),
    ({"burst": 2, "at": -1}, "at=-1 is not valid"),
    ({"rate": 4, "seed": 1.5}, "seed=1.5 is not valid"),
])
def test_bad_arrivals_are_refused_naming_the_parameter(kwargs, message):
    with pytest.raises(ValueError) as e:
        runs(TREE, **kwargs)
    assert message in str(e.value)


@pytest.mark.parametrize("calls, message", [
    (TREE[1:], "calls[0]: parent='main#1' is not valid: the id of another job"),  # a tree with a missing parent
    ([], "calls=[] is not valid: a call tree of at least one job"),
    ("calls.csv", "calls='calls.csv' is not valid: a list of reuse_ref.Job"),
    ([Job(1, 0.0, 1.0), Job("1", 0.0, 1.0)], "ids 1 and '1' are not valid together"),
])
def test_a_bad_tree_is_refused(calls, message):
    with pytest.raises(ValueError) as e:
        runs(calls, burst=1)
    assert message in str(e.value)


def test_run_starts_are_read_from_a_csv_file(tmp_path):
    path = tmp_path / "starts.csv"
    path.write_text("# last Tuesday\nrun,at\nx,60\n\ny,0.5\n")
    assert read_run_starts(path) == [60.0, 0.5]
    path.write_text("run,at\nx,60\ny,-1\n")
    with pytest.raises(ValueError, match=r"starts.csv, line 3: at='-1' is not valid"):
        read_run_starts(path)
    path.write_text("run,start\nx,60\n")
    with pytest.raises(ValueError, match="line 1: the header must name an at column"):
        read_run_starts(path)
    path.write_text("")
    with pytest.raises(ValueError, match="the file is empty"):
        read_run_starts(path)


# ---------------------------------------------------------------------- reuse-ref workload runs
@pytest.fixture
def calls_csv(tmp_path):
    path = tmp_path / "calls.csv"
    write_csv(TREE, path)
    return path


def test_workload_runs_writes_a_file_simulate_reads(tmp_path, calls_csv, capsys):
    out = tmp_path / "day.csv"
    assert main(["workload", "runs", "--calls", str(calls_csv), "--rate", "40", "--hours", "24", "--seed", "1",
                 "-o", str(out)]) == 0
    err = capsys.readouterr().err
    jobs = read_csv(out)
    assert jobs == runs(TREE, rate=40, hours=24, seed=1)
    assert f"wrote {len(_starts(jobs))} run(s), {len(jobs)} call(s)" in err
    status = main(["simulate", "--workload", str(out), "--json"])
    assert status == 2  # two environments, one policy: simulate says which environments it needs
    assert "env=" in capsys.readouterr().err


def test_workload_runs_from_start_times_and_as_a_burst(tmp_path, calls_csv):
    starts = tmp_path / "starts.csv"
    starts.write_text("at\n0\n3600\n")
    out = tmp_path / "w.csv"
    assert main(["workload", "runs", "--calls", str(calls_csv), "--starts", str(starts), "-o", str(out)]) == 0
    assert _starts(read_csv(out)) == [0.0, 3600.0]
    assert main(["workload", "runs", "--calls", str(calls_csv), "--burst", "3", "--at", "60", "-o", str(out)]) == 0
    assert _starts(read_csv(out)) == [60.0] * 3


@pytest.mark.parametrize("args, message", [
    (["--rate", "-1"], "--rate=-1.0 is not valid"),
    (["--rate", "nan"], "--rate=nan is not valid"),
    (["--profile", "1,2,3"], "--profile='1,2,3' is not valid: 24 finite numbers"),
    (["--profile", ",".join(["1"] * 23 + ["x"])], "--profile="),
    (["--burst", "-2"], "--burst=-2 is not valid"),
    (["--rate", "4", "--hours", "0"], "--hours=0.0 is not valid"),
    (["--rate", "4", "--burst", "2"], "not allowed with argument"),
    ([], "one of the arguments --rate --profile --starts --burst is required"),
])
def test_workload_runs_refuses_bad_options_with_status_2_and_writes_nothing(tmp_path, calls_csv, capsys, args,
                                                                             message):
    out = tmp_path / "day.csv"
    assert main(["workload", "runs", "--calls", str(calls_csv), *args, "-o", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_workload_runs_refuses_a_tree_with_a_missing_parent_and_an_output_over_its_input(tmp_path, capsys):
    broken = tmp_path / "calls.csv"
    write_csv(TREE, broken)
    broken.write_text(broken.read_text().replace(",main#1,", ",gone#9,", 1))
    assert main(["workload", "runs", "--calls", str(broken), "--burst", "1", "-o", str(tmp_path / "o.csv")]) == 2
    assert "parent='gone#9' is not valid" in capsys.readouterr().err
    assert main(["workload", "runs", "--calls", str(broken), "--burst", "1", "-o", str(broken)]) == 2
    assert "is the same file as --calls" in capsys.readouterr().err


def test_workload_runs_of_a_file_in_another_format_is_refused(tmp_path, capsys):
    path = tmp_path / "calls.csv"
    path.write_text("# reuse-ref 3.0.0, workload format 3\nat,duration\n0,1\n")
    assert main(["workload", "runs", "--calls", str(path), "--burst", "1", "-o", str(tmp_path / "o.csv")]) == 2
    assert "written by reuse-ref 3.0.0 in workload format 3" in capsys.readouterr().err


def test_the_simulated_runs_of_a_one_environment_tree_read_as_json(tmp_path, capsys):
    tree = [j._replace(env="fan") for j in TREE]
    calls = tmp_path / "calls.csv"
    write_csv(tree, calls)
    out = tmp_path / "day.csv"
    assert main(["workload", "runs", "--calls", str(calls), "--burst", "2", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["simulate", "--workload", str(out), "--replicas", "2,4", "--concurrency", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["env"] == "fan" and result["tasks"] == 8
