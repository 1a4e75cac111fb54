"""``NonRecoverableError``: a task that raises it fails at once, with no retry, on every backend.

Flyte's ``flyte.errors.NonRecoverableError`` is its documented way for a task to refuse
its retries; the reference's :class:`reuse_ref.config.errors.NonRecoverableError` is its base,
so either one (or a subclass) ends the task after one attempt, recorded ``task_failed``
with reason ``non_recoverable``. Through ``reuse_ref.flyte`` the caller sees a
``RuntimeUserError`` with the same code, as in the SDK, and its own retries apply.
"""
from __future__ import annotations

import sys

import cloudpickle
import pytest

import reuse_ref.flyte as flyte
from reuse_ref import ReusePolicy, TaskEnvironment
from reuse_ref.config.errors import NonRecoverableError
from reuse_ref.core.records import NEVER_RETRIED

cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = pytest.mark.timeout(120)


def attempt(log: str) -> int:
    """Note one attempt; the number of attempts so far."""
    with open(log, "a") as f:
        f.write("x\n")
    return len(open(log).read().split())


class GiveUp(NonRecoverableError):
    """A user's own error that refuses retries too."""


env = TaskEnvironment("nr_env", reusable=ReusePolicy(replicas=2))


@env.task(retries=3)
async def refuses(log: str, kind: str) -> int:
    n = attempt(log)
    if kind == "reference":
        raise NonRecoverableError(f"attempt {n}: no point retrying")
    if kind == "subclass":
        raise GiveUp(f"attempt {n}: a subclass")
    raise ValueError(f"attempt {n}: worth another try")


@env.task(retries=2)
def refuses_sync(log: str) -> int:
    attempt(log)
    raise NonRecoverableError("sync: no point retrying")


fenv = flyte.TaskEnvironment(name="nr_flyte", reusable=flyte.ReusePolicy(replicas=2, concurrency=4))


@fenv.task(retries=3)
async def flyte_child(log: str) -> int:
    attempt(log)
    raise flyte.errors.NonRecoverableError("bad input, stop")


@fenv.task(retries=1)
async def flyte_parent(child_log: str, parent_log: str) -> str:
    attempt(parent_log)
    try:
        return str(await flyte_child(child_log))
    except flyte.errors.NonRecoverableError:
        return "caught as NonRecoverableError"  # not what the SDK gives a caller
    except flyte.errors.RuntimeUserError as exc:
        raise ValueError(f"child failed with code {exc.code}") from exc


@pytest.mark.parametrize("kind", ["reference", "subclass"])
def test_a_non_recoverable_error_ends_the_task_after_one_attempt(rt, tmp_path, kind):
    """On each backend (the ``rt`` fixture runs it on local processes and on Ray)."""
    log = str(tmp_path / "log")
    with pytest.raises(NonRecoverableError, match="attempt 1"):
        rt.run(refuses, log, kind)
    assert attempt(log) == 2, "one attempt ran (the check adds the second line)"
    reasons = [r.reason for r in rt.trace if r.kind == "task_failed"]
    assert reasons == ["non_recoverable"] and "non_recoverable" in NEVER_RETRIED


@pytest.fixture
def local_rt():
    """The runtime on local processes only, for what does not depend on the backend."""
    from reuse_ref import Runtime
    from runtime_support import SCALE, alive

    runtime = Runtime(time_scale=SCALE)
    try:
        yield runtime
    finally:
        runtime.close()
        assert alive(runtime.replica_pids) == []


def test_any_other_error_is_retried(local_rt, tmp_path):
    rt = local_rt
    log = str(tmp_path / "log")
    with pytest.raises(ValueError, match="attempt 4"):
        rt.run(refuses, log, "other")
    reasons = [r.reason for r in rt.trace if r.kind == "task_failed"]
    assert reasons == ["error (retrying)"] * 3 + ["error"]


def test_a_sync_task_that_raises_it_is_not_retried_either(local_rt, tmp_path):
    rt = local_rt
    log = str(tmp_path / "log")
    with pytest.raises(NonRecoverableError):
        rt.run(refuses_sync, log)
    assert len(open(log).read().split()) == 1


def test_through_flyte_the_caller_sees_runtime_user_error_and_its_own_retries_apply(rt, tmp_path):
    child_log, parent_log = str(tmp_path / "child"), str(tmp_path / "parent")
    with pytest.raises(ValueError, match="child failed with code NonRecoverableError"):
        rt.run(flyte_parent, child_log, parent_log)  # the parent's own error (rt.run does not translate)
    # the parent (retries=1) ran twice; each of its attempts called the child once, never retried
    assert len(open(parent_log).read().split()) == 2
    assert len(open(child_log).read().split()) == 2
    reasons = [(r.env, r.reason) for r in rt.trace if r.kind == "task_failed"]
    assert reasons.count(("nr_flyte", "non_recoverable")) == 2
    assert ("nr_flyte", "error (retrying)") in reasons and reasons[-1] == ("nr_flyte", "error")


def test_the_error_is_built_as_the_sdk_builds_it():
    err = flyte.errors.NonRecoverableError("stop")
    assert (err.code, err.kind, str(err), err.worker) == ("NonRecoverableError", "user", "stop", None)
    assert isinstance(err, flyte.errors.RuntimeUserError) and isinstance(err, NonRecoverableError)
    assert flyte.errors.NonRecoverableError("stop", code="Mine").code == "Mine"
