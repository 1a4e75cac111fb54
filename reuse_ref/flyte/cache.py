"""``flyte.Cache`` and how it becomes the runtime's cache options.

Flyte 2 spells a task's cache as ``cache=flyte.Cache(behavior=..., version_override=...,
serialize=..., ignored_inputs=...)`` (or as the behaviour alone: ``cache="auto"``), on
``TaskEnvironment``, ``@env.task`` or ``task.override``. The local runtime honours it with
the options it already keys its cache by (see :mod:`reuse_ref.runtime.cache`):

* ``behavior``: ``"auto"`` and ``"override"`` cache, ``"disable"`` does not; the SDK's
  aliases (``"enable"``, ``"on"``, ``"off"``...) are accepted as the SDK accepts them.
* the version: ``version_override`` when given; otherwise each of ``policies`` gives a part
  of it, by default :class:`FunctionBodyPolicy`, a hash of the function's source and
  ``salt``. So, as in Flyte, editing a cached function's body makes its old results miss.
* ``serialize``: identical calls that arrive while one runs wait for its result.
* ``ignored_inputs``: inputs left out of the cache key.
* ``max_age`` is checked as the SDK checks it and recorded: the runtime's store lives as
  long as the runtime, so no result in it is older than the program that made it.
"""
from __future__ import annotations

import ast
import hashlib
import inspect
import marshal
import textwrap
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Dict, List, Literal, Optional, Protocol, Tuple, Union, runtime_checkable

from ._unmodelled import record

__all__ = ["Cache", "CachePolicy", "CacheRequest", "CacheBehavior", "FunctionBodyPolicy", "VersionParameters",
           "cache_from_request", "cache_options"]

CacheBehavior = Literal["auto", "override", "disable"]
_BEHAVIORS = ("auto", "override", "disable")
_ALIASES = {"enable": "auto", "enabled": "auto", "on": "auto", "true": "auto", "yes": "auto",
            "off": "disable", "false": "disable", "no": "disable", "none": "disable"}
"""Spellings the SDK takes for a behaviour (case does not matter), and what each one means."""


@dataclass
class VersionParameters:
    """What a cache policy may look at to make a version: the task's function and image."""

    func: Optional[Callable[..., Any]]
    image: Any = None
    code_bundle: Any = None


@runtime_checkable
class CachePolicy(Protocol):
    """A source of cache versions: ``get_version(salt, params) -> str``."""

    def get_version(self, salt: str, params: VersionParameters) -> str: ...


class FunctionBodyPolicy:
    """The default policy: a hash of the function's source (as parsed, so layout and comments
    that do not change the code do not change the version) and the salt.

    A function whose source cannot be read (made by ``exec``, say) is versioned by its
    compiled code instead, and that is recorded: the SDK fails such a task when it runs.
    """

    def get_version(self, salt: str, params: VersionParameters) -> str:
        func = params.func
        if func is None:
            return ""
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
            body = ast.dump(tree, include_attributes=False).encode()
        except (OSError, TypeError, SyntaxError):
            record("Cache(behavior='auto') of a function without source (versioned by its compiled code)",
                   getattr(func, "__qualname__", func))
            body = marshal.dumps(inspect.unwrap(func).__code__)
        return hashlib.sha256(body + salt.encode()).hexdigest()


@dataclass
class Cache:
    """A task's cache policy, as Flyte 2 spells it (see the module docstring)."""

    behavior: CacheBehavior
    version_override: Optional[str] = None
    serialize: bool = False
    ignored_inputs: Union[Tuple[str, ...], str] = field(default_factory=tuple)
    salt: str = ""
    policies: Optional[Union[List[CachePolicy], CachePolicy]] = None
    max_age: Union[timedelta, int, None] = None

    def __post_init__(self) -> None:
        if isinstance(self.max_age, bool) or not isinstance(self.max_age, (int, timedelta, type(None))):
            raise TypeError(f"max_age={self.max_age!r} is not valid: an int number of seconds, a timedelta, or None")
        if isinstance(self.max_age, int):
            self.max_age = timedelta(seconds=self.max_age)
        if self.max_age is not None and self.max_age < timedelta(0):
            raise ValueError(f"max_age={self.max_age!r} is not valid: it must be zero or more")
        if isinstance(self.behavior, str) and self.behavior not in _BEHAVIORS:
            self.behavior = _ALIASES.get(self.behavior.lower(), self.behavior)  # type: ignore[assignment]
        if self.behavior not in _BEHAVIORS:
            raise ValueError(f"behavior={self.behavior!r} is not valid (invalid cache behavior): one of "
                             f"{list(_BEHAVIORS)}, or an alias of one ({', '.join(sorted(_ALIASES))})")
        if self.behavior == "disable":
            return
        if self.policies is None:
            self.policies = [FunctionBodyPolicy()]
        elif isinstance(self.policies, CachePolicy):
            self.policies = [self.policies]
        if self.version_override is None and not self.policies:
            raise ValueError("policies=[] is not valid without version_override: the cache needs a version, "
                             "from version_override or from at least one cache policy")

    def is_enabled(self) -> bool:
        """Whether results are cached (``"auto"`` or ``"override"``)."""
        return self.behavior in ("auto", "override")

    def get_ignored_inputs(self) -> Tuple[str, ...]:
        """The input names left out of the cache key, as a tuple."""
        return (self.ignored_inputs,) if isinstance(self.ignored_inputs, str) else tuple(self.ignored_inputs)

    def get_version(self, params: Optional[VersionParameters] = None) -> str:
        """The cache version: ``version_override``, else a hash of every policy's version."""
        if not self.is_enabled():
            return ""
        if self.version_override is not None:
            return self.version_override
        if params is None:
            raise ValueError("params=None is not valid without version_override: the policies need the task's "
                             "function (VersionParameters(func=...))")
        parts = []
        for policy in self.policies or ():
            try:
                parts.append(policy.get_version(self.salt, params))
            except Exception as exc:
                raise ValueError(f"policies={policy!r} is not valid: it failed to make a version ({exc})") from exc
        return hashlib.sha256("".join(parts).encode()).hexdigest()


CacheRequest = Union[CacheBehavior, Cache]
"""What ``cache=`` takes: a behaviour or a :class:`Cache`."""


def cache_from_request(value: Any) -> Cache:
    """A :class:`Cache` for what ``cache=`` was given (a ``Cache`` stays itself)."""
    return value if isinstance(value, Cache) else Cache(behavior=value)


def cache_options(value: Any, func: Callable[..., Any], image: Any = None) -> Dict[str, Any]:
    """The reference's cache options (:class:`reuse_ref.config.environment.TaskOptions`) for ``cache=value``
    on a task whose function is ``func``."""
    cache = cache_from_request(value)
    if not cache.is_enabled():
        return {"cache": False, "cache_version": "", "cache_serialize": False, "cache_ignore_input_vars": ()}
    if cache.max_age is not None:
        record("Cache(max_age=...) (the runtime's store lasts as long as the runtime)", cache.max_age)
    version = cache.get_version(VersionParameters(func=inspect.unwrap(func), image=image))
    return {"cache": True, "cache_version": version, "cache_serialize": bool(cache.serialize),
            "cache_ignore_input_vars": cache.get_ignored_inputs()}
