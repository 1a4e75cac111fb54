"""Shared test helpers. Keep this small: each test file owns its own fixtures."""
from __future__ import annotations

import re
from contextlib import contextmanager

import pytest


@pytest.fixture
def rejects():
    """``with rejects("replicas", 0, "0 <= min"): ...`` expects a ``ValueError`` whose message
    names the parameter, shows the value given (its repr) and says what is allowed.

    Every invalid input in reuse_ref must fail this way (SPEC 1); a ``TypeError`` or
    ``AttributeError`` escaping from bad input fails the test instead of passing it.
    """

    @contextmanager
    def check(param: str, value: object, *allowed: str):
        with pytest.raises(ValueError) as info:
            yield info
        message = str(info.value)
        assert param in message, f"parameter {param!r} not named in: {message}"
        assert repr(value) in message, f"value {value!r} not shown in: {message}"
        for fragment in allowed:
            assert fragment in message, f"{fragment!r} (what is allowed) not in: {message}"

    return check


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for the whole session (bound to 127.0.0.1), shared by every
    runtime on the Ray backend; each of them uses it and leaves it running."""
    from reuse_ref.runtime.ray_connection import init_local

    init_local(num_cpus=16)
    import ray
  # logical CPUs: room for the replicas that ask for cores
    try:
        yield ray
    finally:
        ray.shutdown()


def _backends():
    from reuse_ref.runtime.backends import BACKENDS

    return list(BACKENDS)


@pytest.fixture(params=_backends())
def backend(request):
    """The runtime's behaviour tests run on every backend of reuse_ref.runtime.backends
    (local processes and Ray actors; a new backend module joins them by being there)."""
    if request.param == "ray":
        request.getfixturevalue("ray_session")
    return request.param


@pytest.fixture
def rt(backend):
    """A runtime at time_scale 0.01, on each backend, that must leave no replica process behind."""
    from reuse_ref import Runtime
    from runtime_support import SCALE, alive

    runtime = Runtime(time_scale=SCALE, backend=backend)
    try:
        yield runtime
    finally:
        runtime.close()
        assert alive(runtime.replica_pids) == []


_ON_RAY = re.compile(r"(?<![a-z])ray(?![a-z])|16_beyond_one_machine")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """How ``make test``'s two workers (``pytest -n 2 --dist loadscope``) share the tests.

    As xdist's ``loadscope``, a module (or a notebook, whose cells share one kernel and run in
    order) goes whole to one worker, with one change: every test that starts or joins a Ray
    (found by its id) is one scope, so the machine holds one local Ray at a time. (xdist's
    ``loadgroup`` marks would say the same, but they rewrite node ids, which pytest 9 no
    longer allows.)"""
    from xdist.scheduler import LoadScopeScheduling

    class RayApart(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "ray" if _ON_RAY.search(nodeid.lower()) else super()._split_scope(nodeid)

    return RayApart(config, log)
