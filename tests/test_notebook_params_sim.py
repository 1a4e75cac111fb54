"""Papermill runs of the simulator tutorials with other parameters.

Each test runs a notebook twice, with its stored parameters and with other ones, and
checks that the outcome moves the way the notebook's prose says it does. The simulator
runs on a virtual clock, so every number compared here is exact.
"""
from __future__ import annotations

import pytest

from notebook_runs import run_notebook

pytestmark = pytest.mark.timeout(300)


def run(name, tmp_path, label, **parameters):
    """Run notebook ``name`` with ``parameters`` into a folder of its own under ``tmp_path``."""
    folder = tmp_path / label
    folder.mkdir()
    return run_notebook(name, folder, **parameters)


def test_replicas_smaller_pools_peak_lower_and_wait_longer(tmp_path):
    """02: the peak follows `replicas`, and a smaller pool makes the burst wait longer."""
    base = run("02_replicas.ipynb", tmp_path, "base")
    small = run("02_replicas.ipynb", tmp_path, "small", FIXED_REPLICAS=1, AUTOSCALE_MAX=2)
    assert (base["fixed_peak"], base["auto_peak"]) == (3, 5)
    assert (small["fixed_peak"], small["auto_peak"]) == (1, 2)
    assert small["fixed_wait_p95"] > base["fixed_wait_p95"]
    assert small["auto_wait_p95"] > base["auto_wait_p95"]
    # fewer replicas to start per burst
    assert small["auto_cold_starts"] < base["auto_cold_starts"]


@pytest.mark.parametrize("idle_ttl", [None, 3600])
def test_idle_ttl_longer_than_the_gap_keeps_the_second_group_warm(tmp_path, idle_ttl):
    """04: with idle_ttl None or longer than the gap, the second group starts warm."""
    base = run("04_idle_ttl.ipynb", tmp_path, "base")
    warm = run("04_idle_ttl.ipynb", tmp_path, "warm", IDLE_TTL=idle_ttl)
    assert base["first_wait_after_gap"] > 0  # the stored run goes to sleep in the gap
    assert warm["first_wait_after_gap"] == 0
    assert warm["cold_starts"] < base["cold_starts"]
    # staying warm is paid in replica-seconds
    assert warm["replica_seconds"] > base["replica_seconds"]


def test_scaledown_ttl_a_longer_gap_makes_every_burst_pay(tmp_path):
    """05: once the gap between bursts outlasts every scaledown_ttl, every burst pays cold starts."""
    base = run("05_scaledown_ttl.ipynb", tmp_path, "base")
    longer = run("05_scaledown_ttl.ipynb", tmp_path, "long", BURST_GAP=900)
    bursts = 8
    # the stored gap (300 s) is shorter than the longest TTL (600 s): there only the first burst pays
    assert base["sweep"]["600"]["bursts_paying"] == 1
    assert base["sweep"]["300"]["bursts_paying"] == 1
    assert base["sweep"]["30"]["bursts_paying"] == bursts
    # a 900 s gap is longer than every TTL of the sweep: every burst pays under each of them
    assert all(row["bursts_paying"] == bursts for row in longer["sweep"].values())
    assert longer["sweep"]["600"]["cold_starts"] > base["sweep"]["600"]["cold_starts"]
    # the walk-through does not depend on the burst study
    assert longer["walk_stop_order"] == base["walk_stop_order"] == [5, 4, 3, 2, 1]


def test_capacity_planning_a_stricter_target_costs_at_least_as_much(tmp_path):
    """06: with a stricter wait target the chosen policy has at least as large a footprint,
    and with a looser one at most as large."""
    base = run("06_capacity_planning.ipynb", tmp_path, "base")
    strict = run("06_capacity_planning.ipynb", tmp_path, "strict", WAIT_TARGET=5)
    loose = run("06_capacity_planning.ipynb", tmp_path, "loose", WAIT_TARGET=60)
    assert None not in (base["chosen"], strict["chosen"], loose["chosen"])
    assert strict["chosen_wait_p95"] <= 5
    assert strict["meeting_target"] <= base["meeting_target"] <= loose["meeting_target"]
    for footprint in ("chosen_replica_hours", "chosen_core_hours", "chosen_gib_hours"):
        assert strict[footprint] >= base[footprint] >= loose[footprint]
    # in the stored grid the stricter target changes the choice to a bigger footprint
    assert strict["chosen"] != base["chosen"]
    assert strict["chosen_replica_hours"] > base["chosen_replica_hours"]


def test_known_burst_a_loose_target_for_the_burst_is_met_by_the_whole_day_plan(tmp_path):
    """14: the stored burst target is missed by the whole-day plan's choice, so the burst plan
    costs more; a target the whole-day choice meets in the window too makes the two plans
    agree on cost, and the whole-day plan never depends on the burst's target."""
    base = run("14_known_burst.ipynb", tmp_path, "base")
    loose = run("14_known_burst.ipynb", tmp_path, "loose", WAIT_TARGET=400)
    day, burst = base["rows"]["whole day"], base["rows"]["burst"]
    assert burst["burst"] <= 120 < day["burst"]  # the day's choice lets the burst wait past the target
    assert day["day"] <= 120 and burst["cost"] > day["cost"]
    assert base["burst_share"] < 0.05  # a burst smaller than the share a p95 leaves out
    day, burst = loose["rows"]["whole day"], loose["rows"]["burst"]
    assert day["burst"] <= 400 and burst["cost"] <= day["cost"]
    # with the same candidates, a looser burst target never makes the burst plan dearer
    assert loose["rows"]["burst"]["cost"] <= base["rows"]["burst"]["cost"]
