"""``TaskEnvironment``, tasks made with ``@env.task``, and the rules of ``task.override``."""
from __future__ import annotations

import functools
import inspect
import re
import warnings
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

from pydantic import ConfigDict, Field, PrivateAttr, ValidationInfo, field_serializer, field_validator, model_validator

from .validation import Model, as_seconds, bad, seconds, strict_int
from .errors import DeprecatedTaskWarning
from .policy import ReusePolicy
from .resources import Resources, as_resources

__all__ = ["TaskEnvironment", "Task", "TaskOptions", "current_caller"]

current_caller: ContextVar[Any] = ContextVar("reuse_ref_current_caller", default=None)
"""The runtime that task calls go through, if any (set by ``reuse_ref.runtime``).

Outside a runtime it is ``None`` and a task call simply calls its function, as Flyte's
local mode does. Inside, ``current_caller.get().call(task, args, kwargs)`` routes the call
to the task's pool: it returns an awaitable for an async task and blocks for a sync one.
"""

_NAME = re.compile(r"[a-z0-9]+([_-][a-z0-9]+)*")
"""Flyte's rule for environment names: snake_case or kebab-case, lowercase letters and digits."""
_REUSE_BOUND = ("resources", "env_vars", "secrets")


def _policy(value: Any, param: str = "reusable", allow_off: bool = False) -> Union[ReusePolicy, str, None]:
    """``None``, a ``ReusePolicy``, a mapping of its fields, or (on overrides) ``"off"``."""
    if value is None or isinstance(value, ReusePolicy):
        return value
    if allow_off and value == "off":
        return "off"
    if isinstance(value, dict):  # model_validate: a non-str key is a ValueError, not a TypeError
        return ReusePolicy.model_validate(value)
    allowed = 'a ReusePolicy, a mapping of its fields, or None' + (', or "off"' if allow_off else "")
    raise bad(param, value, allowed)


_VARIABLE = "names that are not empty and hold no '=' or NUL ('\\x00'), and values with no NUL"


def _variables(param: str, names: Dict[str, Optional[str]]) -> None:
    """Refuse what ``os.environ`` cannot hold. A replica starts with these variables in its
    environment, so a bad one would kill every replica at start: it fails here instead,
    naming the one bad item (a secret given by name alone is shown as that name)."""
    for name, value in names.items():
        why = ("the name is empty" if not name else "the name holds '='" if "=" in name
               else "it holds a NUL ('\\x00')" if "\x00" in name or (value is not None and "\x00" in value)
               else None)
        if why is not None:
            raise bad(param, name if value is None else {name: value}, f"{why}; a variable needs {_VARIABLE}")


def _env_vars(value: Any) -> Optional[Dict[str, str]]:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise bad("env_vars", value, "a dict of str names to str values")
    _variables("env_vars", value)
    return dict(value)


def _secrets(value: Any) -> Optional[Dict[str, Optional[str]]]:
    """Secrets as ``{name: value}``; a name alone (or a list of names) takes its value from
    the caller's environment when a replica starts, as Flyte's local mode does. Either way
    the secret becomes a variable of that name, so the same names are refused as in env_vars."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    secrets = None
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) and v for v in value):
        secrets = {v: None for v in value}
    elif isinstance(value, dict) and all(isinstance(k, str) and k and isinstance(v, str) for k, v in value.items()):
        secrets = dict(value)
    if secrets is None:
        raise bad("secrets", value, "a secret name, a list of names, or a dict of names to values")
    _variables("secrets", secrets)
    return secrets


class TaskOptions(Model):
    """The per-task options of ``@env.task(...)`` and ``task.override(...)`` (flytekit's
    TaskMetadata).

    * ``retries``: a failed attempt (a crashed replica included) is tried again up to n times.
    * ``timeout``: int seconds or ``timedelta``; ``None`` or 0 means no limit.
    * ``cache`` with ``cache_version``, ``cache_ignore_input_vars`` and ``cache_serialize``.
    * ``deprecated``: a non-empty message warns at every call.
    * ``interruptible``: recorded; the simulator can preempt interruptible replicas.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    retries: int = 0
    timeout: Optional[timedelta] = None
    cache: bool = False
    cache_version: str = ""
    cache_serialize: bool = False
    cache_ignore_input_vars: Tuple[str, ...] = ()
    deprecated: str = ""
    interruptible: Optional[bool] = None
    docs: Optional[str] = None

    @field_validator("retries", mode="before")
    @classmethod
    def _retries(cls, v: Any) -> int:
        return strict_int("retries", v, minimum=0)

    @field_validator("timeout", mode="before", json_schema_input_type=Optional[float])
    @classmethod
    def _timeout(cls, v: Any, info: ValidationInfo) -> Optional[timedelta]:
        td = seconds("timeout", v, minimum=0, allow_none=True, allow_float=info.mode == "json")
        return None if td is not None and td.total_seconds() == 0 else td

    @field_serializer("timeout", when_used="json")
    def _timeout_as_seconds(self, value: Optional[timedelta]) -> Any:
        return as_seconds(value)  # as ReusePolicy's TTLs, so that the JSON round trip holds

    @field_validator("cache", mode="before")
    @classmethod
    def _cache(cls, v: Any) -> bool:
        if isinstance(v, bool):
            return v
        if v in ("enable", "auto", "override"):
            return True
        if v in ("disable", None):
            return False
        raise bad("cache", v, 'True, False, or one of "enable", "auto", "override", "disable"')

    @field_validator("cache_serialize", mode="before")
    @classmethod
    def _serialize(cls, v: Any) -> bool:
        if not isinstance(v, bool):
            raise bad("cache_serialize", v, "True or False")
        return v

    @field_validator("cache_version", "deprecated", mode="before")
    @classmethod
    def _string(cls, v: Any, info: Any) -> str:
        if v is None:
            return ""
        if not isinstance(v, str):
            raise bad(info.field_name, v, "a string")
        return v

    @field_validator("cache_ignore_input_vars", mode="before")
    @classmethod
    def _ignore(cls, v: Any) -> Tuple[str, ...]:
        if isinstance(v, str):
            v = (v,)
        if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
            raise bad("cache_ignore_input_vars", v, "a tuple of input names")
        return tuple(v)

    @field_validator("interruptible", mode="before")
    @classmethod
    def _interruptible(cls, v: Any) -> Optional[bool]:
        if v is not None and not isinstance(v, bool):
            raise bad("interruptible", v, "True, False or None")
        return v


class TaskEnvironment(Model):
    """A named set of tasks that share an image, resources, environment and reuse policy.

    ``reusable=ReusePolicy(...)`` keeps a pool of warm replicas for the environment's
    tasks; ``reusable=None`` runs every call in a fresh replica. ``image`` and
    ``pod_template`` are recorded, not built.

    >>> env = TaskEnvironment("demo", reusable=ReusePolicy(replicas=2))
    >>> @env.task
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> double(21)   # outside a runtime a task just calls its function
    42
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str
    resources: Optional[Resources] = None
    env_vars: Optional[Dict[str, str]] = None
    secrets: Optional[Dict[str, Optional[str]]] = None
    reusable: Optional[ReusePolicy] = None
    image: Any = None
    pod_template: Any = None
    description: Optional[str] = None
    interruptible: bool = False
    depends_on: List["TaskEnvironment"] = Field(default_factory=list)
    cache: Any = None
    queue: Optional[str] = None
    service_account: Optional[str] = None
    include: Tuple[str, ...] = ()
    plugin_config: Any = None
    _tasks: Dict[str, "Task"] = PrivateAttr(default_factory=dict)

    def __init__(self, name: Any = None, **data: Any) -> None:
        super().__init__(name=name, **data)

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> "TaskEnvironment":
        """As pydantic's, but a mapping with a key that is not a str is a ValueError naming it
        (pydantic passes the mapping to ``__init__`` as keywords, which would be a TypeError)."""
        if isinstance(obj, dict):
            for key in obj:
                if not isinstance(key, str):
                    raise ValueError(f"TaskEnvironment field {key!r} is not valid: field names are str "
                                     f"(name, resources, env_vars, secrets, reusable, ...)")
        return super().model_validate(obj, **kwargs)

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, v: Any) -> str:
        if not isinstance(v, str) or not _NAME.fullmatch(v):  # fullmatch: "$" would let "env\n" through
            raise bad("name", v, "snake_case or kebab-case: lowercase letters and digits, in words joined by "
                                 "single '_' or '-' (Flyte's rule for environment names)")
        return v

    @field_validator("depends_on", mode="before")
    @classmethod
    def _depends_on(cls, v: Any) -> List["TaskEnvironment"]:
        """Recorded, as the SDK records it for deployment (a list, as there); every item must be an environment."""
        if v is None:
            return []
        if not isinstance(v, (list, tuple)) or not all(isinstance(e, TaskEnvironment) for e in v):
            raise bad("depends_on", v, "a list of TaskEnvironment")
        return list(v)

    @field_validator("include", mode="before")
    @classmethod
    def _include(cls, v: Any) -> Tuple[str, ...]:
        if v is None:
            return ()
        if isinstance(v, str) or not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
            raise bad("include", v, "a sequence of str paths (recorded: no code bundle is built)")
        return tuple(v)

    @field_validator("cache", mode="before")
    @classmethod
    def _cache(cls, v: Any) -> Any:
        """The default ``cache`` of the environment's tasks: what ``TaskOptions.cache`` takes."""
        if v is not None and not isinstance(v, bool) and v not in ("enable", "auto", "override", "disable"):
            raise bad("cache", v, 'True, False, None, or one of "enable", "auto", "override", "disable" (the '
                                  "default of the environment's tasks)")
        return v

    @field_validator("queue", "service_account", mode="before")
    @classmethod
    def _optional_str(cls, v: Any, info: Any) -> Optional[str]:
        if v is not None and not isinstance(v, str):
            raise bad(info.field_name, v, "a string or None (recorded)")
        return v

    _r = field_validator("resources", mode="before")(classmethod(lambda cls, v: as_resources(v)))
    _e = field_validator("env_vars", mode="before")(classmethod(lambda cls, v: _env_vars(v)))
    _s = field_validator("secrets", mode="before")(classmethod(lambda cls, v: _secrets(v)))
    _p = field_validator("reusable", mode="before")(classmethod(lambda cls, v: _policy(v)))

    @field_validator("interruptible", mode="before")
    @classmethod
    def _interruptible(cls, v: Any) -> bool:
        if not isinstance(v, bool):
            raise bad("interruptible", v, "True or False")
        return v

    @model_validator(mode="after")
    def _no_pod_template_with_reuse(self) -> "TaskEnvironment":
        if self.reusable is not None and self.pod_template is not None:
            raise bad("pod_template", self.pod_template, "None when the environment is reusable (reusable=ReusePolicy(...))")
        if self.reusable is not None and self.plugin_config is not None:
            raise bad("plugin_config", self.plugin_config, "None when the environment is reusable (reusable=ReusePolicy(...))")
        return self

    @property
    def tasks(self) -> Dict[str, "Task"]:
        """The tasks defined with ``@env.task``, by full name ``env.function``, as the SDK keys them."""
        return dict(self._tasks)

    def clone_with(self, name: str, image: Any = None, resources: Any = None, env_vars: Any = None,
                   secrets: Any = None, depends_on: Any = None, description: Any = None,
                   interruptible: Any = None, include: Any = None, service_account: Any = None,
                   **changes: Any) -> "TaskEnvironment":
        """A copy of this environment under a new ``name``, with the SDK's arguments.

        As in the SDK, an argument left at ``None`` keeps this environment's value, except
        ``reusable``: ``reusable=None`` given explicitly turns reuse off in the copy. The
        copy has no tasks.
        """
        fields = {k: getattr(self, k) for k in type(self).model_fields}
        given = dict(image=image, resources=resources, env_vars=env_vars, secrets=secrets, depends_on=depends_on,
                     description=description, interruptible=interruptible, include=include,
                     service_account=service_account)
        fields["depends_on"] = list(self.depends_on)  # a copy: the clone's list is its own, as in the SDK
        fields.update({k: v for k, v in given.items() if v is not None})
        allowed = ("cache", "reusable", "plugin_config", "queue", "pod_template")
        unknown = sorted(set(changes) - set(allowed))
        if unknown:
            raise bad(unknown[0], changes[unknown[0]], f"an argument of clone_with: {', '.join(list(given) + list(allowed))}")
        for key, value in changes.items():
            if value is not None or key == "reusable":
                fields[key] = value
        fields["name"] = name
        return type(self)(**fields)

    def task(self, _func: Optional[Callable] = None, *, short_name: Optional[str] = None,
             pod_template: Any = None, **options: Any) -> Any:
        """Make a task of this environment; works as ``@env.task`` and ``@env.task(retries=2, ...)``.

        Options are those of :class:`TaskOptions`. A sync function under a policy with
        ``concurrency > 1`` raises ``ValueError`` here (as the SDK does): only async tasks
        can share a replica.
        """
        if pod_template is not None and self.reusable is not None:
            raise bad("pod_template", pod_template, "None when the environment is reusable")
        if "cache" not in options and self.cache is not None:
            options["cache"] = self.cache
        opts = TaskOptions(**options)

        def decorate(func: Callable) -> Task:
            if not callable(func) or isinstance(func, Task):
                raise bad("func", func, "a plain function (def or async def) to turn into a task")
            task = self.task_class(func, self, opts, short_name=short_name)
            self._tasks[task.name] = task
            return task

        return decorate if _func is None else decorate(_func)

    @property
    def task_class(self) -> type:
        """The class ``@env.task`` makes; ``reuse_ref.flyte`` gives its own, with Flyte's call semantics."""
        return Task


class Task:
    """A function bound to a ``TaskEnvironment`` with its options.

    Called outside a runtime it calls its function (an async task returns a coroutine).
    Inside a :class:`reuse_ref.Runtime`, a call is routed to the pool of the task's
    environment and effective policy (:attr:`pool_key`).
    """

    def __init__(self, func: Callable, env: TaskEnvironment, options: TaskOptions, *,
                 short_name: Optional[str] = None, reusable: Any = "inherit",
                 resources: Optional[Resources] = None, env_vars: Optional[Dict[str, str]] = None,
                 secrets: Optional[Dict[str, Optional[str]]] = None) -> None:
        if short_name is not None and not (isinstance(short_name, str) and short_name):
            raise bad("short_name", short_name, "a non-empty string")
        if short_name is None and not isinstance(getattr(func, "__name__", None), str):
            raise bad("short_name", short_name, f"a name for {func!r}, which has no __name__")
        self.func = func
        self.env = env
        self.options = options
        self.short_name = short_name or func.__name__
        # The full name is the function's, whatever the display name: ``short_name`` only
        # changes what a UI shows. A callable without __name__ takes its short name.
        self.name = f"{env.name}.{getattr(func, '__name__', None) or self.short_name}"
        self.is_async = inspect.iscoroutinefunction(func)
        self._reusable = env.reusable if reusable == "inherit" else reusable
        self.resources = resources if resources is not None else env.resources
        self.env_vars = env_vars if env_vars is not None else env.env_vars
        self.secrets = secrets if secrets is not None else env.secrets
        policy = self.reusable
        if policy is not None and policy.concurrency > 1 and inspect.isasyncgenfunction(func):
            # it is "async def" already, so the advice for a sync task would be wrong
            raise ValueError(
                f"concurrency={policy.concurrency} is not valid for the task {self.name!r}: it is an async "
                f"generator function (async def with yield), not a coroutine function, and a task must "
                f"return a value rather than yield values. Collect the values and return them (a list, "
                f"say) from an 'async def' without yield."
            )
        if policy is not None and policy.concurrency > 1 and not self.is_async:
            raise ValueError(
                f"concurrency={policy.concurrency} is not valid for the sync task {self.name!r}: "
                f"a replica runs more than one task at a time only for async tasks. "
                f"Make it 'async def' or use concurrency=1."
            )
        functools.update_wrapper(self, func)

    @property
    def reusable(self) -> Optional[ReusePolicy]:
        """The effective policy: the override's, else the environment's; ``None`` means no reuse."""
        policy = self._reusable
        return None if type(policy) is str else policy  # "off" (no == here: a policy's __eq__ is pydantic's, and slow)

    def replica_variables(self, environ: Mapping[str, str]) -> Dict[str, str]:
        """The variables a replica running this task has of its own: ``env_vars``, and each
        secret (one given by name alone takes its value from ``environ``, the caller's, and is
        left out when that has none)."""
        env = dict(self.env_vars or {})
        for name, value in (self.secret_variables or {}).items():
            value = environ.get(name) if value is None else value
            if value is not None:
                env[name] = value
        return env

    @property
    def secret_variables(self) -> Optional[Dict[str, Optional[str]]]:
        """The secrets a replica's environment gets, ``{name: value or None}`` (None: the caller's own)."""
        return self.secrets

    @property
    def pool_key(self) -> Tuple[str, Optional[ReusePolicy]]:
        """Pools are keyed by environment name and effective policy."""
        return (self.env.name, self.reusable)

    def __getattr__(self, item: str) -> Any:
        options = self.__dict__.get("options")
        if options is not None and item in TaskOptions.model_fields:
            return getattr(options, item)
        raise AttributeError(item)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        caller = current_caller.get()
        if caller is not None:
            return caller.call(self, args, kwargs)
        if self.options.deprecated:
            warn_deprecated(self)
        return self.func(*args, **kwargs)

    def override(self, **changes: Any) -> "Task":
        """A new task with some options changed.

        ``reusable`` takes a ``ReusePolicy`` or ``"off"``; ``None`` leaves it as it is. While the effective policy is
        reusable, ``resources``, ``env_vars`` and ``secrets`` cannot change: a replica is a
        shared process with fixed resources; pass ``reusable="off"`` in the same call.
        ``name``, ``image``, ``docs`` and ``interface`` can never be overridden.
        """
        for key in ("name", "image", "docs", "interface"):
            if key in changes:
                raise bad(key, changes[key], f"not overridable: {key} is fixed when the task is defined")
        reusable = self._reusable
        given = changes.pop("reusable", None)
        if given is not None:  # reusable=None changes nothing, as in the SDK
            reusable = _policy(given, allow_off=True)
        bound = [k for k in _REUSE_BOUND if changes.get(k) is not None]
        if bound and reusable not in (None, "off"):
            k = bound[0]
            raise ValueError(
                f"{k}={changes[k]!r} cannot be overridden while {self.name!r} is reusable "
                f"({reusable!r}): a reusable replica is a shared process with fixed {k}. "
                f'Pass reusable="off" in the same override call to run it in a fresh container.'
            )
        resources = as_resources(changes.pop("resources", None))
        env_vars = _env_vars(changes.pop("env_vars", None))
        secrets = _secrets(changes.pop("secrets", None))
        short_name = changes.pop("short_name", None) or self.short_name  # None keeps it, as in the SDK
        fields = set(TaskOptions.model_fields) - {"docs"}
        unknown = sorted(set(changes) - fields)
        if unknown:
            raise bad(unknown[0], changes[unknown[0]], f"one of: reusable, resources, env_vars, secrets, short_name, {', '.join(sorted(fields))}")
        options = TaskOptions(**{**self.options.model_dump(), **changes})
        return type(self)(self.func, self.env, options, short_name=short_name, reusable=reusable,
                    resources=self.resources if resources is None else resources,
                    env_vars=self.env_vars if env_vars is None else env_vars,
                    secrets=self.secrets if secrets is None else secrets)

    def __repr__(self) -> str:
        kind = "async " if self.is_async else ""
        return f"<{kind}Task {self.name} reusable={self.reusable!r}>"


def warn_deprecated(task: Task) -> None:
    """Warn at call time that ``task`` is deprecated (flytekit's ``deprecated``)."""
    warnings.warn(f"Task {task.name!r} is deprecated: {task.options.deprecated}", DeprecatedTaskWarning, stacklevel=3)


TaskEnvironment.model_rebuild()
