"""Tutorial 13 with other parameters, downloaded: the Flyte program's result and pool follow
the task count, and the notebook alone (no ``programs/`` folder beside it) is enough."""
import pytest

from notebook_runs import run_notebook

pytestmark = pytest.mark.timeout(300)


def test_13_downloaded_another_task_count_goes_through_the_task_signature(tmp_path):
    s = run_notebook("13_flyte_programs.ipynb", tmp_path, downloaded=True, tasks=120, docs=5)
    assert s["result"] == sum(range(120))
    assert s["replicas_started"] == s["peak_replicas"] == 2
    assert s["two_env_result"] == sum(d % 7 for d in range(5))
