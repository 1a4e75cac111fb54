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


@pytest.fixture
def rt():
    """A runtime at time_scale 0.01 that must leave no replica process behind."""
    from reuse_ref import Runtime
    from runtime_support import SCALE, alive

    runtime = Runtime(time_scale=SCALE)
    try:
        yield runtime
    finally:
        runtime.close()
        assert alive(runtime.replica_pids) == []
