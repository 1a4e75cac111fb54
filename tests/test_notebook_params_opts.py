"""Papermill runs of the option notebooks (09 overrides, 10 state, 11 failures and options)
with other parameters: each test checks that the outcome moves the way the notebook's
prose says it does.

The default outcome is read from the stored, executed notebook (nbval checks that a fresh
run reproduces it), so each test pays for one papermill run only.
"""
from __future__ import annotations

import nbformat
import pytest

from notebook_runs import NOTEBOOKS, run_notebook, summary_of


def stored_summary(name: str) -> dict:
    return summary_of(nbformat.read(NOTEBOOKS / name, as_version=4))


@pytest.mark.timeout(300)
def test_overrides_no_fall_back_when_the_call_fits(tmp_path):
    """09: a call that fits in the small replica needs no fresh container."""
    default = stored_summary("09_overrides.ipynb")
    assert default["fell_back"] is True and default["oom_stops"] == 1

    small = run_notebook("09_overrides.ipynb", tmp_path, need_mib=40)
    assert small["fell_back"] is False
    assert small["oom_stops"] == 0
    assert small["result_mib"] == 40
    # the override rules do not depend on the workload
    for key in ("refused_while_reusable", "never_overridable", "always_overridable", "pools"):
        assert small[key] == default[key]


@pytest.mark.timeout(300)
def test_state_run_scope_gives_each_run_fresh_state(tmp_path):
    """10: with scope="run" every run starts on a new replica, so its state starts at zero;
    the per-call counts follow ``calls``."""
    default = stored_summary("10_state.ipynb")
    assert default["scope"] == "global"
    assert default["runs_seen"] == list(range(1, len(default["runs_seen"]) + 1))
    assert default["replicas_started"] == 1

    out = run_notebook("10_state.ipynb", tmp_path, scope="run", runs=4, calls=3)
    assert out["scope"] == "run"
    assert out["runs_seen"] == [1, 1, 1, 1]          # fresh state in every run
    assert out["replicas_started"] == 4              # one new replica per run
    assert out["other_scope_runs_seen"] == [1, 2, 3, 4]  # global, for contrast, keeps counting
    assert out["served_reused"] == [1, 2, 3]
    assert out["served_no_reuse"] == [1, 1, 1]
    assert out["leaky_mib"] == [1, 2, 3]
    assert out["clients_made"] == {"reused pool": 1, "no reuse": 3}


@pytest.mark.timeout(300)
def test_failures_without_retries_the_crash_is_final(tmp_path):
    """11: retries=0 turns the crash-once task into a failed call after one attempt, on the
    runtime and on the simulator; an allocation that fits is no OOM."""
    default = stored_summary("11_failures_and_options.ipynb")
    assert default["retries"] == 1
    assert default["retry_outcome"] == "done" and default["retry_attempts"] == 2
    assert default["sim"]["done"] == 2 and default["sim"]["failed"] == 0
    assert default["oom"] == "OOMError"

    out = run_notebook("11_failures_and_options.ipynb", tmp_path, retries=0, oom_mib=20)
    assert out["retry_outcome"] == "ReplicaCrashedError"
    assert out["retry_attempts"] == 1
    assert out["sim"]["done"] == 1 and out["sim"]["failed"] == 1
    assert out["oom"] == "loaded 20 MiB"
    # the rest does not depend on those two parameters
    for key in ("crash", "cache_body_runs", "serialize_body_runs", "async_timeout_same_replica",
                "sync_timeout_same_replica", "spot_result"):
        assert out[key] == default[key]
