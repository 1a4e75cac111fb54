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
from typing import Any, Dict, List, Optional, Tuple

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
    """Stored results by key, and the call computing each key (for ``cache_serialize``): the
    *leader*, whose identical calls (*followers*) wait for its result rather than run.

    Touched by the driver's thread only.
    """

    def __init__(self) -> None:
        self.results: Dict[str, bytes] = {}
        self.leaders: Dict[str, Any] = {}
        self.hits = 0
        self.misses = 0

    def admit(self, call: Any) -> Tuple[Optional[bytes], Optional[Any]]:
        """A call of a cached task arrives: ``(result, None)`` when one is stored; ``(None,
        leader)`` when an identical call is computing it under ``cache_serialize`` (the call
        now follows that leader); ``(None, None)`` when the call is to run (and, under
        ``cache_serialize``, leads its key)."""
        key = call.cache_key
        blob = self.results.get(key)
        if blob is not None:
            self.hits += 1
            return blob, None
        self.misses += 1
        if call.task.options.cache_serialize:
            leader = self.leaders.get(key)
            if leader is not None:
                leader.followers.append(call)
                call.leader = leader
                return None, leader
            self.leaders[key] = call
            call.followers = []
        return None, None

    def settle(self, call: Any, ok: bool, value: Any) -> List[Any]:
        """A cached call is over: store its result (when ``ok``); returns the calls that
        followed it, which take its result, or, when it failed, their turn to run."""
        key = call.cache_key
        if ok:
            self.results[key] = value
        if self.leaders.get(key) is not call:
            return []
        del self.leaders[key]
        followers, call.followers = call.followers or [], None
        return followers

    def unfollow(self, call: Any) -> None:
        """A follower stops waiting (it was cancelled)."""
        followers = call.leader.followers if call.leader is not None else None
        if followers and call in followers:
            followers.remove(call)
