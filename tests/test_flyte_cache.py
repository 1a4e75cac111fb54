"""``flyte.Cache`` on the local runtime: Flyte 2's cache spelling, honoured as ``cache=`` is.

``cache=flyte.Cache(behavior=..., version_override=..., serialize=..., ignored_inputs=...)``
on ``TaskEnvironment``, ``@env.task`` or ``task.override`` becomes the runtime's cache
options; "auto" versions a task by its function's body, as the SDK's default policy does.
"""
from __future__ import annotations

import os
import sys
import threading
import time

import cloudpickle
import pytest

import reuse_ref.flyte as flyte
from reuse_ref import Runtime

from runtime_support import SCALE, alive, wait_for

cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = pytest.mark.timeout(90)


def lines(path) -> int:
    return len(open(path).read().splitlines()) if os.path.exists(path) else 0


def note(log: str, text: str) -> None:
    with open(log, "a") as f:
        f.write(text + "\n")


env = flyte.TaskEnvironment(name="fc_env", reusable=flyte.ReusePolicy(replicas=2, concurrency=4))


@env.task(cache=flyte.Cache(behavior="auto"))
async def auto_square(x: int, log: str) -> int:
    note(log, f"square {x}")
    return x * x


@env.task(cache=flyte.Cache(behavior="override", version_override="1"))
async def versioned(x: int, log: str) -> int:
    note(log, f"versioned {x}")
    return x + 1


@env.task(cache=flyte.Cache(behavior="auto", ignored_inputs=("comment",)))
async def annotated(x: int, log: str, comment: str = "") -> int:
    note(log, f"annotated {x} {comment}")
    return -x


@env.task(cache=flyte.Cache(behavior="auto", serialize=True))
async def slow(x: int, log: str, gate: str) -> int:
    note(log, f"slow {x}")
    deadline = time.monotonic() + 30
    while not os.path.exists(gate) and time.monotonic() < deadline:
        await asyncio_sleep(0.01)  # held open until the test has made its second call
    return 2 * x


async def asyncio_sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


@env.task(cache="disable")
async def uncached(x: int, log: str) -> int:
    note(log, f"uncached {x}")
    return x


cached_env = flyte.TaskEnvironment(name="fc_cached_env", reusable=flyte.ReusePolicy(replicas=2),
                                   cache=flyte.Cache(behavior="override", version_override="env-1"))


@cached_env.task
def inherits(x: int, log: str) -> int:
    note(log, f"inherits {x}")
    return x


def body_one():
    async def double(x: int, log: str) -> int:
        note(log, "one")
        return 2 * x
    return double


def body_two():
    async def double(x: int, log: str) -> int:
        note(log, "two")
        return x + x
    return double


def body_one_again():
    async def double(x: int, log: str) -> int:
        # a comment and a blank line change no code

        note(log, "one")
        return 2 * x
    return double


@pytest.fixture(scope="module")
def rt():
    runtime = Runtime(time_scale=SCALE)
    try:
        yield runtime
    finally:
        runtime.close()
        assert alive(runtime.replica_pids) == []


def test_auto_caches_a_result_and_a_hit_does_not_run(rt, tmp_path):
    log = str(tmp_path / "log")
    first, second = rt.run(auto_square, 4, log), rt.run(auto_square, 4, log=log)
    assert first.result == second.result == 16
    assert not first.cached and second.cached and lines(log) == 1
    assert rt.run(auto_square, 5, log).result == 25 and lines(log) == 2, "other inputs miss"


def test_auto_versions_by_the_function_body_as_the_sdk_does(rt, tmp_path):
    log = str(tmp_path / "log")
    body_env = flyte.TaskEnvironment(name="fc_bodies", reusable=flyte.ReusePolicy(replicas=2, concurrency=2))
    one, two, again = (body_env.task(cache="auto")(make()) for make in (body_one, body_two, body_one_again))
    assert one.name == two.name == again.name == "fc_bodies.double"
    assert [rt.run(t, 3, log).result for t in (one, two, again)] == [6, 6, 6]
    assert open(log).read().split() == ["one", "two"], "a new body misses; the same code, laid out anew, hits"
    salted = one.override(cache=flyte.Cache("auto", salt="v2"))
    assert rt.run(salted, 3, log).result == 6 and lines(log) == 3, "a new salt misses"


def test_version_override_keys_the_cache_and_an_override_call_changes_it(rt, tmp_path):
    log = str(tmp_path / "log")
    assert [rt.run(versioned, 1, log).result for _ in range(2)] == [2, 2] and lines(log) == 1
    bumped = versioned.override(cache=flyte.Cache(behavior="override", version_override="2"))
    assert bumped.cache.version_override == "2" and versioned.cache.version_override == "1"
    assert rt.run(bumped, 1, log).result == 2 and lines(log) == 2, "a new version misses"
    assert rt.run(versioned.override(cache="disable"), 1, log).result == 2 and lines(log) == 3
    assert rt.run(versioned.override(retries=1), 1, log).cached, "an override that does not name cache keeps it"


def test_ignored_inputs_are_left_out_of_the_key(rt, tmp_path):
    log = str(tmp_path / "log")
    assert [rt.run(annotated, 7, log, comment=c).result for c in ("a", "b", "")] == [-7, -7, -7]
    assert lines(log) == 1


def test_disable_runs_every_call(rt, tmp_path):
    log = str(tmp_path / "log")
    assert [rt.run(uncached, 1, log).result for _ in range(2)] == [1, 1] and lines(log) == 2
    assert uncached.cache.behavior == "disable" and not uncached.cache.is_enabled()


def test_an_environment_cache_is_every_task_s_cache(rt, tmp_path):
    log = str(tmp_path / "log")
    assert inherits.cache.behavior == "override" and inherits.cache.version_override == "env-1"
    assert [rt.run(inherits, 9, log).result for _ in range(2)] == [9, 9] and lines(log) == 1


def test_serialize_makes_identical_concurrent_calls_share_one_run(rt, tmp_path):
    log, gate = str(tmp_path / "log"), str(tmp_path / "gate")
    results = []
    threads = [threading.Thread(target=lambda: results.append(rt.run(slow, 5, log, gate).result)) for _ in range(2)]
    misses = rt.cache_misses
    threads[0].start()
    assert wait_for(lambda: lines(log) == 1, timeout=30), "the first call is running"
    threads[1].start()
    assert wait_for(lambda: rt.cache_misses == misses + 2, timeout=30), "the second call has reached the cache"
    open(gate, "w").close()
    for t in threads:
        t.join(30)
    assert results == [10, 10] and lines(log) == 1, "the second call waited for the first one's result"


@pytest.mark.parametrize("given, behavior", [("auto", "auto"), ("enable", "auto"), ("ON", "auto"),
                                             ("off", "disable"), ("override", "override")])
def test_behaviours_and_the_sdk_s_aliases(given, behavior):
    assert flyte.Cache(given).behavior == behavior
    assert flyte.Cache(given).is_enabled() == (behavior != "disable")


@pytest.mark.parametrize("kwargs, error, words", [
    ({"behavior": True}, ValueError, "behavior=True"),
    ({"behavior": "always"}, ValueError, "behavior='always'"),
    ({"behavior": "auto", "policies": []}, ValueError, "version_override"),
    ({"behavior": "auto", "max_age": -1}, ValueError, "max_age"),
    ({"behavior": "auto", "max_age": "1h"}, TypeError, "max_age"),
])
def test_a_bad_cache_is_refused_naming_it(kwargs, error, words):
    with pytest.raises(error, match=words):
        flyte.Cache(**kwargs)
    with pytest.raises(TypeError):
        flyte.Cache()  # behavior has no default, as in the SDK


def test_a_bad_cache_on_a_task_is_refused_when_decorating():
    with pytest.raises(ValueError, match="behavior=True"):
        env.task(cache=True)(body_one())
