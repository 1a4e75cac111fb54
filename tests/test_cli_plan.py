"""reuse-ref plan: reuse_ref.cli.main(argv), run in-process, against reuse_ref.plan.plan."""
from __future__ import annotations

import json

import pytest

from reuse_ref import Resources
from reuse_ref.cli import main
from reuse_ref.plan import plan
from reuse_ref.sim.workloads import burst, diurnal, merge
from reuse_ref.sim.workload_csv import read_csv, write_csv


@pytest.fixture(scope="module")
def day_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("plan") / "day.csv"
    write_csv(merge(diurnal(0.005, duration=60, seed=5), burst(60, at=9 * 3600, duration=30)), path)
    return path


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def plan_args(day_csv, *extra):
    return ["plan", "--workload", day_csv, "--min", "0..1", "--max", "1..4,8", "--concurrency", "1,4",
            "--scaledown-ttl", "30,600", "--idle-ttl", "300,none", "--target", "p95<=60",
            "--price-cpu-hour", "0.05", "--price-gib-hour", "0.006", "--cpu", "2", "--memory", "4Gi",
            "--cold-start", "15", "--workers", "1", *extra]


def test_help_lists_plan_and_its_options(capsys):
    status, out, _ = run(capsys, "--help")
    assert status == 0 and "plan" in out
    status, out, _ = run(capsys, "plan", "--help")
    assert status == 0 and "--target" in out and "--price-replica-hour" in out and "--idle-ttl" in out


def test_json_is_the_plan_of_the_python_api(capsys, day_csv):
    status, out, err = run(capsys, *plan_args(day_csv, "--json"))
    assert status == 0, err
    data = json.loads(out)
    assert {"recommended", "front", "rejected", "candidates"} <= set(data)
    expected = plan(read_csv(day_csv), {"min": [0, 1], "max": [1, 2, 3, 4, 8], "concurrency": [1, 4],
                                        "scaledown_ttl": [30, 600], "idle_ttl": [300, None]},
                    "p95<=60", {"cpu_hour": 0.05, "gib_hour": 0.006}, cold_start=15,
                    resources=Resources(cpu=2, memory="4Gi"), workers=1)
    assert data["recommended"] == expected.recommended.as_dict()
    assert data["recommended"]["policy"] == repr(expected.recommended.policy)
    assert {"min", "max", "concurrency", "scaledown_ttl", "idle_ttl", "wait_p95", "cost"} <= set(data["recommended"])
    assert data["rejected"] == expected.rejected and sum(data["rejected"].values()) == len(data["candidates"]) - 1
    assert [c["policy"] for c in data["front"]] == [repr(c.policy) for c in expected.front]
    assert len(data["candidates"]) == 2 * 5 * 2 * 2 * 2 and data["skipped"] == {}
    assert "candidate" in err  # the progress bar, on stderr
    assert data["scaledown"] == "paced" and data["other_reading"] == expected.other_reading.as_dict()
    assert data["other_reading"]["scaledown"] == "per_replica"


def test_ray_gives_the_answer_of_one_worker(capsys, day_csv, ray_session):
    status, one, err = run(capsys, *plan_args(day_csv, "--json"))
    assert status == 0, err
    argv = [a for a in plan_args(day_csv, "--json", "--ray") if a not in ("--workers", "1")]
    status, on_ray, err = run(capsys, *argv)
    assert status == 0, err
    assert on_ray.startswith("{"), f"stdout holds more than the plan: {on_ray[:800]!r}"
    assert json.loads(on_ray) == json.loads(one)
    status, _, err = run(capsys, *plan_args(day_csv, "--ray"))  # with --workers 1 too
    assert status == 2 and "--workers" in err and "not with --ray" in err


def test_text_gives_the_recommendation_the_reason_and_the_front(capsys, day_csv, tmp_path):
    out_csv = tmp_path / "plan.csv"
    status, out, err = run(capsys, *plan_args(day_csv, "--csv", out_csv, "--min", "0..2", "--max", "1,8"))
    assert status == 0, err
    assert out.startswith("recommended: ReusePolicy(") and "the cheapest candidate with p95 <= 60 s" in out
    assert "Pareto front" in out and "skipped: 8 min > max" in out
    lines = out_csv.read_text().splitlines()
    assert lines[0].startswith("policy,min,max") and len(lines) == 1 + 5 * 2 * 2 * 2


def test_a_target_window_counts_only_the_burst(capsys, day_csv):
    status, out, err = run(capsys, *plan_args(day_csv, "--json", "--target", "p95<=20",
                                              "--target-window", f"{9 * 3600}..{10 * 3600}"))
    assert status == 0, err
    data = json.loads(out)
    assert data["target"] == {"percentile": 95, "seconds": 20.0, "since": 32400.0, "until": 36000.0,
                              "kind": "wait"}


@pytest.mark.parametrize("option, value, fragment", [
    ("--min", "1..x", "--min='1..x' is not valid"),
    ("--idle-ttl", "10", "1 idle_ttl < 30 s"),  # every combination skipped: counted, then refused
    ("--target", "p90<=30", "p50, p95 or p99"),
    ("--target-window", "50..10", "SINCE..UNTIL"),
    ("--price-gpu-hour", "2", "needs --gpu"),
    ("--price-cpu-hour", "-1", "a finite price per hour >= 0"),
    ("--workers", "0", "--workers=0 is not valid"),
    ("--cpu", "lots", "cpu"),
])
def test_bad_option_exit_2_naming_it_and_nothing_written(capsys, day_csv, tmp_path, option, value, fragment):
    out_csv = tmp_path / "plan.csv"
    args = plan_args(day_csv, "--csv", out_csv, option, value)
    if option == "--idle-ttl":
        args += ["--min", "0", "--max", "1", "--concurrency", "1", "--scaledown-ttl", "30"]
    status, out, err = run(capsys, *args)
    assert status == 2 and out == ""
    assert fragment in err and err.startswith("reuse-ref: error: ")
    assert list(tmp_path.iterdir()) == []


def test_no_price_or_no_file_or_a_directory_exit_2(capsys, day_csv, tmp_path):
    args = ["plan", "--workload", day_csv, "--max", "1,2", "--target", "p95<=30", "--workers", "1"]
    status, _, err = run(capsys, *args)
    assert status == 2 and "--price-replica-hour" in err
    status, _, err = run(capsys, "plan", "--workload", tmp_path / "nope.csv", "--target", "p95<=30",
                         "--price-replica-hour", "1")
    assert status == 2 and "nope.csv" in err
    status, _, err = run(capsys, *args, "--price-replica-hour", "1", "--csv", tmp_path)
    assert status == 2 and "is a directory" in err


def test_workers_do_not_change_the_output(capsys, day_csv):
    status, one, _ = run(capsys, *plan_args(day_csv, "--json"))
    status2, two, _ = run(capsys, *plan_args(day_csv, "--json", "--workers", "2"))
    assert status == status2 == 0 and one == two


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_plot_writes_the_plan_figure_as_png(capsys, day_csv, tmp_path):
    figure, table = tmp_path / "plan.png", tmp_path / "plan.csv"
    status, out, err = run(capsys, *plan_args(day_csv, "--plot", figure, "--csv", table))
    assert status == 0, err
    assert out.startswith("recommended: ReusePolicy(")
    data = figure.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000  # a real picture, not an empty file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.csv", "plan.png"]  # no temporary file left


@pytest.mark.parametrize("where, fragment", [
    ("missing/plan.png", "cannot write there (no such directory)"),
    ("plan.txt", "give a file name ending in .png, .svg or .pdf"),
    ("plan", "give a file name ending in .png, .svg or .pdf"),
    (".", "is a directory"),
])
def test_a_bad_plot_path_exits_2_and_writes_nothing(capsys, day_csv, tmp_path, where, fragment):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    status, out, err = run(capsys, *plan_args(day_csv, "--csv", out_dir / "plan.csv", "--plot", out_dir / where))
    assert status == 2 and out == ""
    assert err.startswith("reuse-ref: error: --plot ") and fragment in err
    assert list(out_dir.iterdir()) == []  # not the CSV either: nothing half-written
