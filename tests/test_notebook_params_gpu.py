"""Papermill runs of the GPU inference tutorial (15) with other parameters.

The tutorial plans GPUs for a real hour of LLM requests with the prefill share of each
request contending for the GPU. Run again with every second of a request contending
(``GPU_BOUND=1``: nothing overlaps on the GPU), the same target needs more GPUs, and the
tutorial says it then costs more than twice as much. Everything runs on the virtual
clock, so the numbers compared are exact.
"""
from __future__ import annotations

import pytest

from notebook_runs import run_notebook

pytestmark = pytest.mark.timeout(300)

NOTEBOOK = "15_gpu_inference_trace.ipynb"


def run(tmp_path, label, **parameters):
    folder = tmp_path / label
    folder.mkdir()
    return run_notebook(NOTEBOOK, folder, **parameters)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The stored parameters, run once for both tests."""
    return run(tmp_path_factory.mktemp("gpu"), "base")


def test_when_nothing_overlaps_on_the_gpu_the_same_target_costs_more_than_twice_as_much(tmp_path, base):
    serial = run(tmp_path, "serial", GPU_BOUND=1.0, MAX_REPLICAS=[12, 16, 24])
    assert base["requests"] == serial["requests"] == 8819
    assert 0 < base["gpu_bound"] < 0.5 and serial["gpu_bound"] == 1.0
    assert base["recommended"] is not None and serial["recommended"] is not None
    assert serial["recommended_wait"] <= 2 and base["recommended_wait"] <= 2
    assert serial["recommended_cost"] > 2 * base["recommended_cost"]
    assert serial["recommended_gpu_hours"] > 2 * base["recommended_gpu_hours"]
    # requests that arrive together: with everything contended, k of them take k times as long
    assert serial["together"] == {"1": 1.0, "2": 2.0, "4": 4.0}
    assert base["together"]["4"] < 4.0


def test_the_price_scales_the_cost_and_not_the_choice(tmp_path, base):
    dearer = run(tmp_path, "dearer", GPU_HOUR_PRICE=5.0)
    assert dearer["recommended"] == base["recommended"] and dearer["choice"] == base["choice"]
    assert dearer["recommended_cost"] == pytest.approx(2 * base["recommended_cost"], abs=2e-6)
    assert dearer["recommended_gpu_hours"] == base["recommended_gpu_hours"]
