"""``flyte.remote``: the hosted service's API. ``Run`` is the local run; the rest is not modelled."""
from __future__ import annotations

from ._unmodelled import module_getattr
from .session import Run

__all__ = ["Run"]

__getattr__ = module_getattr("flyte.remote", "the hosted service's API: the reference runs locally")
