"""Papermill runs of "How far to trust the numbers" (17) with other parameters.

The tutorial runs twenty AWS Lambda experiments through the simulator under both readings
of rule 3. With shorter runs the figures are noisier, but what does not depend on the
amount of traffic still holds: simfaas's published error comes back from its predictions,
and the pool never nears its bound. With the warm-up counted, the pool's filling from
empty adds cold starts, which weigh most at the highest rates. Everything runs on the
virtual clock, seeded, so the numbers compared are exact. The long version (every run
20,000 requests and 4 days, five seeds; minutes, so not a test) is
``tools/trust_the_numbers_long.py``, which fails if the notebook's claims do not hold.
"""
from __future__ import annotations

import pytest

from notebook_runs import run_notebook

pytestmark = pytest.mark.timeout(300)

NOTEBOOK = "17_trust_the_numbers.ipynb"


def run(tmp_path, label, **parameters):
    folder = tmp_path / label
    folder.mkdir()
    return run_notebook(NOTEBOOK, folder, **parameters)


def test_shorter_runs_keep_the_claims_that_do_not_depend_on_their_length(tmp_path):
    short = run(tmp_path, "short", ARRIVALS=2_000, DAYS=0.5, SEEDS=1)
    assert short["experiments"] == 20 and short["seeds"] == 1
    assert short["mape"]["simfaas's model"] == [12.23, 3.05]
    assert short["measurement_noise"] == 10.14
    assert short["peak"] < 1000
    for reading in ("paced", "per_replica"):
        cold, count = short["mape"][f"reference, {reading}"]
        assert 0 < cold < 100 and 0 < count < 100


def test_counting_the_warm_up_adds_the_cold_starts_that_fill_the_pool(tmp_path):
    """At 0.3 requests a second and more the pool settles at 4 to 8 instances: counted from
    an empty pool, the runs add those cold starts to the two or three a short run has."""
    settled = run(tmp_path, "settled", ARRIVALS=2_000, DAYS=0.5, SEEDS=1)
    from_empty = run(tmp_path, "from_empty", ARRIVALS=2_000, DAYS=0.5, SEEDS=1, WARM_UP=0)
    for reading in ("paced", "per_replica"):
        assert from_empty["cold_high"][reading] > 1.5 * settled["cold_high"][reading] > 0
