"""Shared test helpers. Keep this small: each test file owns its own fixtures."""
from __future__ import annotations

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
    from reuse_ref.runtime.backends.ray import init_local

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
