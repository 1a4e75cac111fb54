"""A bounded run of ``benchmarks/bench_faults.py``: replicas killed from outside, nothing lost."""
from __future__ import annotations

import importlib.util
import os
import sys

import cloudpickle
import pytest

_PATH = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks", "bench_faults.py")
_spec = importlib.util.spec_from_file_location("bench_faults", _PATH)
bench_faults = importlib.util.module_from_spec(_spec)
sys.modules["bench_faults"] = bench_faults
_spec.loader.exec_module(bench_faults)
cloudpickle.register_pickle_by_value(bench_faults)

pytestmark = pytest.mark.timeout(240)


@pytest.mark.parametrize("retries", [0, 3])
def test_killing_replicas_under_a_fan_out_loses_nothing(retries):
    counts = bench_faults.one_round(300, retries, kill_every=0.04, seed=retries, child_seconds=0.05)
    assert counts["kills"] > 0, "the round was long enough for the killer to fire"
    assert counts["children"] == counts["once"] == 300
    assert (counts["duplicates"], counts["missing"], counts["hangs"], counts["orphans"], counts["errors"]) == (0, 0, 0, 0, 0)
    assert counts["ok"] + counts["failed"] == 300
    if retries:
        assert counts["ok"] > counts["failed"]
