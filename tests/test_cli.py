"""The reuse-ref command: reuse_ref.cli.main(argv), run in-process."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from reuse_ref import ReusePolicy, __version__
from reuse_ref.cli import main
from reuse_ref.sim import simulate
from reuse_ref.sim.workload_csv import read_csv

JSON_KEYS = {"tasks", "cold_starts", "warm_starts", "wait_p50", "wait_p95", "wait_max", "makespan",
             "replica_seconds", "utilisation", "peak_replicas", "starved"}

WORKLOAD = "id,at,duration,name,parent\n" + "".join(f"j{k},{5 * k},30,work,\n" for k in range(12)) \
    + "p,100,5,parent,\nc1,0,20,child,p\nc2,0,20,child,p\n"


@pytest.fixture
def jobs_csv(tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text(WORKLOAD)
    return path


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def sim_args(jobs_csv, *extra):
    return ["simulate", "--replicas", "2,5", "--concurrency", "1", "--idle-ttl", "600",
            "--scaledown-ttl", "60", "--cold-start", "10", "--workload", jobs_csv, *extra]


def test_version_and_help(capsys):
    status, out, _ = run(capsys, "--version")
    assert status == 0 and out.strip() == f"reuse-ref {__version__}"
    status, out, _ = run(capsys, "--help")
    assert status == 0 and "simulate" in out
    status, out, _ = run(capsys, "simulate", "--help")
    assert status == 0 and "--replicas" in out and "--idle-ttl" in out


def test_no_command_prints_usage_and_exits_2(capsys):
    status, _, err = run(capsys)
    assert status == 2 and "simulate" in err


def test_json_measures_match_simulate(capsys, jobs_csv):
    status, out, err = run(capsys, *sim_args(jobs_csv, "--json"))
    assert status == 0, err
    data = json.loads(out)
    assert JSON_KEYS <= set(data)
    expected = simulate(ReusePolicy(replicas=(2, 5), concurrency=1, idle_ttl=600, scaledown_ttl=60),
                        read_csv(jobs_csv), cold_start=10).measures().as_dict()
    assert {k: data[k] for k in expected} == expected
    assert data["tasks"] == 15 and data["starved"] == 0
    assert data["policy"]["replicas"] == [2, 5]


def test_text_output_is_a_table_of_the_measures(capsys, jobs_csv):
    status, out, _ = run(capsys, *sim_args(jobs_csv))
    assert status == 0
    assert "ReusePolicy(replicas=(2, 5)" in out
    for label in ("tasks", "cold starts", "warm starts", "queue wait", "makespan", "replica-seconds",
                  "utilisation", "peak replicas"):
        assert label in out


def test_trace_and_plot_are_written(capsys, jobs_csv, tmp_path):
    trace_csv, figure = tmp_path / "trace.csv", tmp_path / "timeline.png"
    status, _, err = run(capsys, *sim_args(jobs_csv, "--trace", trace_csv, "--plot", figure))
    assert status == 0, err
    lines = trace_csv.read_text().splitlines()
    assert lines[0] == "time,kind,replica,task,reason,env"
    assert len(lines) > 40
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".reuse-ref-")] == []


def test_occupancy_figure_as_svg(capsys, jobs_csv, tmp_path):
    figure = tmp_path / "occupancy.svg"
    status, _, err = run(capsys, *sim_args(jobs_csv, "--plot", figure, "--figure", "occupancy"))
    assert status == 0, err
    assert "<svg" in figure.read_text()


@pytest.mark.parametrize("value", ["3", "3,3"])
def test_fixed_replicas_one_or_two_numbers(capsys, jobs_csv, value):
    status, out, _ = run(capsys, "simulate", "--replicas", value, "--workload", jobs_csv, "--json")
    assert status == 0
    assert json.loads(out)["policy"]["replicas"] == [3, 3]


def test_idle_ttl_none_means_always_on(capsys, jobs_csv, tmp_path):
    trace_csv = tmp_path / "t.csv"
    status, out, _ = run(capsys, "simulate", "--replicas", "1,3", "--idle-ttl", "none",
                         "--workload", jobs_csv, "--json", "--trace", trace_csv)
    assert status == 0
    assert json.loads(out)["policy"]["idle_ttl"] is None
    assert "idle_ttl" not in trace_csv.read_text()  # never stopped for idle_ttl


def test_starvation_is_reported_in_the_measures(capsys, tmp_path):
    path = tmp_path / "fan.csv"
    path.write_text("id,at,duration,parent\np,0,5,\nc,0,5,p\n")
    status, out, err = run(capsys, "simulate", "--replicas", "1", "--workload", path, "--json")
    assert status == 0
    assert json.loads(out)["starved"] == 2
    assert "warning" in err and "starve" in err  # the policy's StarvationWarning, on stderr


@pytest.mark.parametrize("content, line, fragment", [
    ("id,duration\na,5\n", 1, "missing at"),
    ("at,duration\n0,5\n1,5\nsoon,5\n", 4, "at='soon'"),
    ("at,duration\n0,5\nx,5\n", 3, "at='x'"),
    ("at,duration\n0,5\n1,-2\n", 3, "duration='-2'"),
    ("at,duration,colour\n0,5,red\n", 1, "unknown column 'colour'"),
    ("at,duration\n0,5\n1,5,9\n", 3, "3 fields"),
    ("id,at,duration\na,0,5\na,1,5\n", 3, "id='a'"),
    ("id,at,duration,parent\na,0,5,\nb,1,5,zz\n", 3, "parent='zz'"),
    ("", 1, "empty"),
])
def test_bad_workload_file_exit_2_with_line_and_no_output(capsys, tmp_path, content, line, fragment):
    path = tmp_path / "jobs.csv"
    path.write_text(content)
    trace_csv, figure = tmp_path / "trace.csv", tmp_path / "fig.png"
    status, out, err = run(capsys, *sim_args(path, "--trace", trace_csv, "--plot", figure))
    assert status == 2
    assert f"line {line}" in err and fragment in err and str(path) in err
    assert out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.csv"]


def test_missing_workload_file_exit_2(capsys, tmp_path):
    status, _, err = run(capsys, "simulate", "--workload", tmp_path / "nope.csv")
    assert status == 2 and "nope.csv" in err


@pytest.mark.parametrize("option, value, fragment", [
    ("--replicas", "two", "argument --replicas: invalid value 'two'"),
    ("--replicas", "1,2,3", "argument --replicas: invalid value '1,2,3'"),
    ("--concurrency", "x", "argument --concurrency: invalid value 'x'"),
    ("--idle-ttl", "soon", "argument --idle-ttl: invalid value 'soon'"),
    ("--cold-start", "-1", "argument --cold-start: invalid value '-1'"),
])
def test_bad_option_value_exit_2_naming_option_and_value(capsys, jobs_csv, tmp_path, option, value, fragment):
    trace_csv = tmp_path / "trace.csv"
    status, out, err = run(capsys, "simulate", "--workload", jobs_csv, option, value, "--trace", trace_csv)
    assert status == 2 and fragment in err and out == ""
    assert not trace_csv.exists()


@pytest.mark.parametrize("option, value, fragment", [
    ("--replicas", "5,2", "replicas=(5, 2) is not valid"),
    ("--replicas", "0", "replicas=0 is not valid"),
    ("--idle-ttl", "10", "idle_ttl=10 is not valid"),
    ("--scaledown-ttl", "5", "scaledown_ttl=5 is not valid"),
    ("--concurrency", "0", "concurrency=0 is not valid"),
])
def test_policy_refused_by_the_rules_exit_2_with_its_message(capsys, jobs_csv, option, value, fragment):
    status, out, err = run(capsys, "simulate", "--workload", jobs_csv, option, value)
    assert status == 2 and fragment in err and out == ""
    assert "pydantic" not in err  # the policy's own words, not the validation library's framing


def test_unknown_plot_format_exit_2_and_nothing_written(capsys, jobs_csv, tmp_path):
    trace_csv, figure = tmp_path / "trace.csv", tmp_path / "fig.nope"
    status, _, err = run(capsys, *sim_args(jobs_csv, "--trace", trace_csv, "--plot", figure))
    assert status == 2 and "--plot" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.csv"]


def test_console_script_module_runs(jobs_csv):
    done = subprocess.run([sys.executable, "-m", "reuse_ref.cli", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and __version__ in done.stdout


def test_replica_size_gives_the_footprint(capsys, jobs_csv):
    status, out, _ = run(capsys, *sim_args(jobs_csv, "--cpu", "500m", "--memory", "2Gi", "--gpu", "L4:1", "--json"))
    assert status == 0
    data = json.loads(out)
    rs = data["replica_seconds"]
    assert (data["cpu_seconds"], data["gib_seconds"], data["gpu_seconds"]) == (0.5 * rs, 2 * rs, rs)


def test_bad_replica_size_exit_2(capsys, jobs_csv):
    status, _, err = run(capsys, *sim_args(jobs_csv, "--memory", "lots"))
    assert status == 2 and "memory='lots' is not valid" in err


# --- bad input found in the file system, the sums and the encoding ------------------------

def test_trace_naming_a_directory_exit_2_and_nothing_written(capsys, jobs_csv, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    figure = tmp_path / "fig.png"
    status, out, err = run(capsys, *sim_args(jobs_csv, "--trace", folder, "--plot", figure))
    assert status == 2 and "--trace" in err and str(folder) in err and "directory" in err
    assert "Traceback" not in err and out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.csv", "out"] and not list(folder.iterdir())
    # the same for --plot, after a --trace that would have been fine
    trace_csv = tmp_path / "trace.csv"
    status, _, err = run(capsys, *sim_args(jobs_csv, "--trace", trace_csv, "--plot", folder))
    assert status == 2 and "--plot" in err and "directory" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.csv", "out"]


@pytest.mark.parametrize("content, line", [
    ("at,duration\n0,5\n1e308,1e308\n", 3),                       # at + duration is not finite
    ("id,at,duration,parent\np,1e308,5,\nc,1e308,5,p\n", 3),       # a child counts from its parent
], ids=["at+duration", "parent+child"])
def test_times_whose_sum_is_not_finite_exit_2_naming_the_line(capsys, tmp_path, content, line):
    path = tmp_path / "jobs.csv"
    path.write_text(content)
    trace_csv = tmp_path / "trace.csv"
    status, out, err = run(capsys, *sim_args(path, "--json", "--trace", trace_csv))
    assert status == 2 and f"line {line}" in err and "finite" in err and str(path) in err
    assert out == "" and not trace_csv.exists()


def test_measures_that_are_not_finite_exit_2_and_json_never_prints_infinity(capsys, tmp_path):
    # each job is fine alone, but one replica runs them one after the other: the second
    # ends past the largest float, so the measures cannot be written as numbers
    path = tmp_path / "jobs.csv"
    path.write_text("at,duration\n0,1e308\n0,1e308\n")
    trace_csv = tmp_path / "trace.csv"
    status, out, err = run(capsys, "simulate", "--replicas", "1", "--workload", path, "--json", "--trace", trace_csv)
    assert status == 2 and "finite" in err and "Traceback" not in err
    assert "Infinity" not in out and "NaN" not in out and out == ""
    assert not trace_csv.exists()


def test_a_csv_with_a_utf8_byte_order_mark_is_read(capsys, tmp_path):
    path = tmp_path / "excel.csv"  # Excel's "CSV UTF-8" starts with one
    path.write_bytes("\ufeff".encode() + WORKLOAD.encode())
    assert read_csv(path) == read_csv_text(WORKLOAD, tmp_path)
    status, out, err = run(capsys, *sim_args(path, "--json"))
    assert status == 0, err
    assert json.loads(out)["tasks"] == 15


def read_csv_text(text, tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text(text)
    return read_csv(plain)


def test_a_duplicate_id_is_reported_by_both_lines(capsys, tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text("id,at,duration\na,0,5\nb,0,5\n\nc,0,5\na,1,5\n")
    status, _, err = run(capsys, *sim_args(path))
    assert status == 2 and "line 6" in err and "id='a'" in err and "line 2" in err
    assert "item" not in err
