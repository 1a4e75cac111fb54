"""Tutorial 18 with other parameters, downloaded: fewer batches and a quiet day. The notebook
alone (no ``programs/`` folder beside it) writes its program, records a run, simulates it
with a policy per environment and makes a day of runs; the claims follow the parameters."""
import pytest

from notebook_runs import run_notebook

pytestmark = pytest.mark.timeout(300)

QUIET = [0] * 9 + [6] * 8 + [0] * 7  # six runs an hour in office hours: the workers keep up


def test_18_downloaded_five_batches_on_a_quiet_day(tmp_path):
    s = run_notebook("18_program_to_policy.ipynb", tmp_path, downloaded=True, BATCHES=5, PROFILE=QUIET, SEED=2)
    assert s["result"] == sum(100 + b for b in range(5))
    assert s["simulated_counts_same"]
    # five batches still ask for three replicas of two slots; the store call finds them warm
    assert s["counts"]["worker"] == {"tasks": 6, "cold_starts": 3, "warm_starts": 3, "peak_replicas": 3,
                                     "failed": 0, "starved": 0}
    assert s["runs"] == sum(s["runs_per_hour"]) > 0 and s["calls"] == 7 * s["runs"]
    assert [h for h, n in enumerate(s["runs_per_hour"]) if n] and all(
        QUIET[h] > 0 for h, n in enumerate(s["runs_per_hour"]) if n)
    # on a quiet day a run rarely meets another: the slowest are nowhere near ten runs' time
    assert s["day_p95_over_10_runs_alone"] is False
    # every policy pair the page compares runs every run of the quiet day, none starved
    assert s["comparison"]["every_run_ended"]
    # the plan with odds: on a quiet day every pair meets the target; the recommendation meets it in every draw
    assert s["odds"]["recommended"] is not None and s["odds"]["recommended_meets_in_90_percent"]
    # the recommended pair on the runtime: every run of the slice measured, within the tolerance stated
    assert s["runtime_check"]["every_run_measured"] and s["runtime_check"]["within_tolerance"]
    assert s["runtime_check"]["runs"] >= 3
