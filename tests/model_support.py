"""Helpers shared by the model tests (policy, environment)."""
from __future__ import annotations

import warnings

import pytest

from reuse_ref import StarvationWarning


def _id(value: object) -> str:
    """Stable test ids: repr, except for bare objects whose repr is an address."""
    return "object()" if type(value) is object else repr(value)


@pytest.fixture(autouse=True)
def _quiet_starvation():
    """Starvation has its own tests; elsewhere a (1, 1) policy is just an input."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarvationWarning)
        yield
