"""Papermill runs of the runtime tutorials (01 quickstart, 03 concurrency, 07 starvation,
08 resource sharing, 16 beyond one machine) with other parameters: each test checks that the outcome moves the
way the notebook's prose says it does.

The default outcome is read from the stored, executed notebook (nbval checks that a fresh
run reproduces it), so each test pays for one papermill run only.
"""
from __future__ import annotations

import nbformat
import pytest

from notebook_runs import NOTEBOOKS, run_notebook, summary_of

pytestmark = pytest.mark.timeout(300)


def stored_summary(name: str) -> dict:
    return summary_of(nbformat.read(NOTEBOOKS / name, as_version=4))


def test_07_default_policy_starves():
    s = stored_summary("07_starvation.ipynb")
    assert s["starved"] is True
    assert s["runtime_starvation_error"] is True
    assert s["sim_starved_tasks"] > 0


def test_07_two_replicas_do_not_starve(tmp_path):
    s = run_notebook("07_starvation.ipynb", tmp_path, replicas=2)
    assert s["starved"] is False
    assert s["runtime_starvation_error"] is False
    assert s["sim_starved_tasks"] == 0
    # the remedies do not depend on the policy under test: all three still give one answer
    assert s["remedies"] == stored_summary("07_starvation.ipynb")["remedies"]


def test_07_two_slots_with_async_tasks_do_not_starve(tmp_path):
    s = run_notebook("07_starvation.ipynb", tmp_path, concurrency=2)
    assert s["starved"] is False
    assert s["runtime_starvation_error"] is False
    assert s["sim_starved_tasks"] == 0


def test_03_more_concurrency_runs_more_at_once_in_fewer_waves(tmp_path):
    base = stored_summary("03_concurrency.ipynb")
    more = run_notebook("03_concurrency.ipynb", tmp_path, concurrency=2 * base["concurrency"])
    assert more["peak_on_one_replica"] == more["peak_in_trace"] == 2 * base["peak_on_one_replica"]
    assert more["capacity"] == 2 * base["capacity"]
    assert more["sim_waves"] < base["sim_waves"]
    assert more["sim_makespan_s"] < base["sim_makespan_s"]


def test_03_peak_is_capped_by_the_number_of_tasks(tmp_path):
    s = run_notebook("03_concurrency.ipynb", tmp_path, concurrency=6, rt_tasks=3)
    assert s["peak_on_one_replica"] == s["peak_in_trace"] == 3


def test_08_saturation_moves_with_the_io_share(tmp_path):
    base = stored_summary("08_resource_sharing.ipynb")
    s = run_notebook("08_resource_sharing.ipynb", tmp_path, io_seconds=0.06, max_concurrency=6,
                     concurrency=4, rt_tasks=12)
    assert s["loads_per_replica"] == base["loads_per_replica"] == 1
    # with 60 ms of I/O per 20 ms of compute, four tasks keep the device busy (five before)
    assert s["saturates_at_concurrency"] == 4 < base["saturates_at_concurrency"]
    assert s["utilisation_c1"] == 0.25 > base["utilisation_c1"]
    assert s["utilisation_c6"] > s["utilisation_c1"]


def test_01_reuse_off_starts_one_process_per_call(tmp_path):
    s = run_notebook("01_quickstart.ipynb", tmp_path, calls=3)
    assert s["replicas_started_off"] == s["distinct_pids_off"] == 3
    assert s["replicas_started_reuse"] == stored_summary("01_quickstart.ipynb")["replicas_started_reuse"]
    assert s["distinct_pids_reuse_at_most_replicas"] is True


def test_16_downloaded_on_ray_both_backends_agree_on_another_fan_out(tmp_path):
    """Run as a reader's download (the notebook alone, outside the repository)."""
    s = run_notebook("16_beyond_one_machine.ipynb", tmp_path, downloaded=True, CHILDREN=9)
    assert s["same_on_both"] is True
    assert s["result"] == sum(i * i for i in range(9))
    assert s["replicas_started"] == 2  # a fixed pool of two, whatever the load
    assert s["stops"] == ["crashed"] * 3 and s["refused"] == "ReplicaCrashedError"


def test_03_more_cores_move_where_cpu_bound_tasks_stop_gaining(tmp_path):
    base = stored_summary("03_concurrency.ipynb")
    s = run_notebook("03_concurrency.ipynb", tmp_path, cores=2 * base["cores"])
    # tasks that only compute stop gaining from concurrency at the replica's cores, wherever they are
    assert base["f1_stops_rising_at"] == base["cores"]
    assert s["f1_stops_rising_at"] == s["cores"] == 2 * base["cores"]
    at_top, base_top = s["tasks_per_min_at_top_concurrency"], base["tasks_per_min_at_top_concurrency"]
    assert at_top["1"] > base_top["1"] and at_top["0.5"] > base_top["0.5"]
    assert at_top["0"] == base_top["0"]  # tasks that only wait do not use the cores
