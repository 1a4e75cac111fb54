"""Task result cache of the local runtime (flytekit's ``cache``, ``cache_version``,
``cache_ignore_input_vars`` and ``cache_serialize``).

A cached task's key is its full name, its ``cache_version`` and its inputs: the call's
arguments bound to the function's signature (defaults applied, so ``f(1)`` and
``f(1, b=2)`` with ``b=2`` the default are the same call), minus the names in
``cache_ignore_input_vars``, sorted by name and pickled. Inputs that pickle differently
although equal (two sets built in a different order, say) miss; that is the price of
hashing by bytes, as Flyte's hashing of literals pays it too.

The store lives in the runtime (memory only) and lasts as long as the runtime. A hit
returns a fresh copy of the stored result without running the task: the call is not
submitted to any pool, so it leaves no record in the trace; the runtime counts it in
``Runtime.cache_hits``.
"""
from __future__ import annotations

import hashlib
import inspect
from typing import Any, Dict, Optional

from .pickling import cloud_dumps

__all__ = ["cache_key", "ResultCache"]


def cache_key(task: Any, bound: inspect.BoundArguments) -> str:
    """The cache key of a call of ``task`` with ``bound`` arguments (see the module docstring)."""
    bound.apply_defaults()
    ignored = set(task.options.cache_ignore_input_vars)
    inputs = sorted((k, v) for k, v in bound.arguments.items() if k not in ignored)
    try:
        blob = cloud_dumps((task.name, task.options.cache_version, inputs))
    except Exception as exc:
        names = ", ".join(k for k, _ in inputs)
        raise ValueError(
            f"arguments for task {task.name!r} are not valid: a cached task's inputs ({names}) make "
            f"its cache key, so they must be picklable ({exc}); pass plain data, or name the "
            f"argument in cache_ignore_input_vars") from None
    return hashlib.sha256(blob).hexdigest()


class ResultCache:
    """Stored results by key, and the call that is computing a key (for ``cache_serialize``).

    Touched by the driver's thread only.
    """

    def __init__(self) -> None:
        self.results: Dict[str, bytes] = {}
        self.leaders: Dict[str, Any] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Optional[bytes]:
        blob = self.results.get(key)
        if blob is None:
            self.misses += 1
        else:
            self.hits += 1
        return blob

    def put(self, key: str, blob: bytes) -> None:
        self.results[key] = blob
