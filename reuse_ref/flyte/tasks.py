"""``flyte.TaskEnvironment`` and its tasks: the SDK's signatures, checks and read-backs over the reference's model.

What the SDK keeps, this keeps as given, and reads back the same way: a task's
``retries`` is a ``RetryStrategy``, its ``timeout`` what was written (``0`` by default),
its ``cache`` a ``Cache``, its ``secrets`` the keys or ``Secret`` objects of its
environment, and ``report``, ``queue``, ``links``, ``triggers``, ``docs``... what the
decorator was given. Beside them, the reference's options (:class:`TaskOptions`) say
what the runtime does: retries, the attempt's time bound, the cache. The SDK's rules
hold: ``override`` treats 0, ``None`` and ``""`` as "not given", the reuse-bound fields
need ``reusable="off"``, ``name``, ``image``, ``docs`` and ``interface`` are fixed.

A task call raises what the SDK raises: a child's exception reaches its caller as
``flyte.errors.RuntimeUserError`` (``code`` = the exception's type name), an OOM kill as
``flyte.errors.OOMError`` (see :func:`reuse_ref.flyte.errors.translate`). Each task notes,
on the replica that runs it, which process served which environment, so that
``reuse-ref run`` can report the distinct replica pids of each environment.
"""
from __future__ import annotations

import abc
import asyncio
import functools
import inspect
import os
from typing import Any, Callable, Dict, Optional

from pydantic import field_validator, model_validator

from ..config import environment as _env
from ..config import policy as _ref_policy
from ..config.validation import bad
from . import models
from .cache import Cache, cache_from_request, cache_options
from .errors import translate
from .image import Image
from .models import Documentation, RetryStrategy, Secret, retry_count, retry_strategy
from .policy import ReusePolicy
from .resources import Resources
from ._unmodelled import record

__all__ = ["Environment", "TaskEnvironment", "TaskTemplate", "PIDS_DIR_VARIABLE"]

PIDS_DIR_VARIABLE = "REUSE_REF_FLYTE_PIDS"
"""When set to a directory, each replica leaves an empty file ``<pid>-<environment>`` there."""
MAX_INLINE_IO_BYTES = 10 * 1024 * 1024
_FLYTEKIT_OPTIONS = {
    "deprecated": "Flyte 2 has no deprecated option: say so in the docstring (docs=)",
    "cache_version": 'cache=flyte.Cache(behavior="override", version_override=...)',
    "cache_serialize": 'cache=flyte.Cache(behavior="auto", serialize=True)',
    "cache_ignore_input_vars": 'cache=flyte.Cache(behavior="auto", ignored_inputs=(...))',
    "pod_template_name": "pod_template=",
}
"""flytekit 1.x task options that Flyte 2's ``env.task`` refuses, and the Flyte 2 spelling of each."""

_noted: set = set()


def _note_replica(env_name: str) -> None:
    """Leave ``<pid>-<env>`` in the pids directory, once per replica process and environment."""
    if env_name in _noted or os.environ.get("REUSE_REF_REPLICA") != "1":  # replicas only, on any backend
        return
    _noted.add(env_name)
    directory = os.environ.get(PIDS_DIR_VARIABLE)
    if directory:
        try:
            open(os.path.join(directory, f"{os.getpid()}-{env_name}"), "w").close()
        except OSError:
            pass


def _noting(func: Callable, env_name: str) -> Callable:
    """``func``, noting its replica first; async stays async so the reference sees the same kind of task."""
    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            _note_replica(env_name)
            return await func(*args, **kwargs)
        return run_async

    @functools.wraps(func)
    def run_sync(*args: Any, **kwargs: Any) -> Any:
        _note_replica(env_name)
        return func(*args, **kwargs)
    return run_sync


async def _translated(coro: Any) -> Any:
    try:
        return await coro
    except Exception as exc:
        new = translate(exc)
        if new is exc:
            raise
        raise new from exc


def _image(value: Any) -> Any:
    """A task's image as the SDK resolves it: ``"auto"`` is the default image, a str a base image."""
    if value == "auto":
        return Image.from_debian_base()
    if isinstance(value, str):
        return Image.from_base(value)
    return value


def _time_bound(value: Any) -> Any:
    """``timeout=`` as the reference's option: what bounds each attempt."""
    bound = models.max_runtime(value)
    if isinstance(bound, bool) or not isinstance(bound, (int, type(None))) and not hasattr(bound, "total_seconds"):
        raise bad("timeout", value, "an int number of seconds, a timedelta or a flyte.Timeout (0: no bound)")
    return bound


class TaskTemplate(_env.Task):
    """A task with the SDK's fields (read back as given), Flyte's call semantics (errors as the SDK
    raises them, ``.aio``) and the reference's options, which the runtime honours."""

    def __init__(self, func: Callable, env: Any, options: Any, *, sdk: Optional[Dict[str, Any]] = None,
                 **kwargs: Any) -> None:
        sdk = dict(sdk or {})
        variables = models.secret_variables(sdk.get("secrets", env.secrets))
        super().__init__(func, env, options, secrets=variables, **kwargs)
        self.__dict__["_secret_variables"] = variables  # what a replica's environment gets
        self.__dict__.update(_defaults(env, func))
        self.__dict__.update(sdk)

    # What the runtime reads: the replica's secret variables, as the reference keeps them.
    @property
    def secret_variables(self) -> Optional[Dict[str, Optional[str]]]:
        return self.__dict__.get("_secret_variables")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            out = super().__call__(*args, **kwargs)
        except Exception as exc:
            new = translate(exc)
            if new is exc:
                raise
            raise new from exc
        return _translated(out) if inspect.iscoroutine(out) else out

    async def aio(self, *args: Any, **kwargs: Any) -> Any:
        """Await the task from async code, whether it is async or sync (a sync one runs in a thread)."""
        if self.is_async:
            return await self(*args, **kwargs)
        return await asyncio.to_thread(self, *args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function itself, here, as the SDK's ``forward`` does."""
        return self.func(*args, **kwargs)

    @property
    def native_interface(self) -> inspect.Signature:
        return inspect.signature(self.func)

    def override(self, *, short_name: Optional[str] = None, resources: Any = None, cache: Any = None,
                 retries: Any = 0, timeout: Any = None, reusable: Any = None, env_vars: Any = None,
                 secrets: Any = None, service_account: Optional[str] = None, max_inline_io_bytes: Optional[int] = None,
                 pod_template: Any = None, queue: Optional[str] = None, interruptible: Optional[bool] = None,
                 entrypoint: Optional[bool] = None, produces_artifacts: Optional[bool] = None, links: Any = (),
                 plugin_config: Any = None, **kwargs: Any) -> "TaskTemplate":
        """The SDK's ``override``: a value that is 0, ``None`` or empty means "keep this task's"."""
        for key in ("name", "image", "docs", "interface"):
            if key in kwargs:
                raise bad(key, kwargs[key], f"not overridable: {key} is fixed when the task is defined")
        if plugin_config is not None:
            raise bad("plugin_config", plugin_config, "a config of a registered task plugin (the reference has none)")
        unknown = sorted(set(kwargs) - set(_OVERRIDABLE))
        if unknown:
            raise TypeError(f"{unknown[0]}={kwargs[unknown[0]]!r} is not valid: an argument of override (the SDK "
                            f"raises TypeError for it too)")
        policy = _policy(reusable, allow_off=True) if reusable is not None else None
        policy = policy or self._reusable
        policy = None if policy == "off" else policy
        if policy is not None:
            for key, value in (("resources", resources), ("env_vars", env_vars), ("secrets", secrets),
                               ("service_account", service_account)):
                if value is not None:
                    raise ValueError(f"{key}={value!r} cannot be overridden while {self.name!r} is reusable "
                                     f"({policy!r}): a reusable replica is a shared process with fixed {key}. "
                                     f'Pass reusable="off" in the same override call to run it in a fresh container.')
        sdk = {k: self.__dict__[k] for k in _SDK_FIELDS}
        sdk.update(
            short_name=short_name or self.short_name, cache=cache_from_request(cache) if cache else self.cache,
            retries=retry_strategy(retries) if retries else self.retries, timeout=timeout or self.timeout,
            secrets=secrets or self.secrets, service_account=service_account or self.service_account,
            max_inline_io_bytes=max_inline_io_bytes or self.max_inline_io_bytes,
            pod_template=pod_template or self.pod_template, queue=queue or self.queue,
            interruptible=self.interruptible if interruptible is None else interruptible,
            entrypoint=self.entrypoint if entrypoint is None else entrypoint,
            produces_artifacts=self.produces_artifacts if produces_artifacts is None else produces_artifacts,
            links=tuple(links) if links else self.links, **kwargs)
        if sdk["pod_template"] is not None:
            record("pod_template (replicas are processes, not pods)", self.name)
        options = _options(self.options, sdk, self.func, self.env.image)
        return type(self)(self.func, self.env, options, sdk=sdk, short_name=sdk["short_name"] or None,
                          reusable=policy if policy is not None else "off",
                          resources=resources or self.resources, env_vars=env_vars or self.env_vars)

    def __repr__(self) -> str:
        kind = "async " if self.is_async else ""
        return f"<{kind}TaskTemplate {self.name} reusable={self.reusable!r}>"


_SDK_FIELDS = ("short_name", "task_type", "task_type_version", "image", "cache", "interruptible", "retries", "docs",
               "secrets", "service_account", "timeout", "pod_template", "report", "queue", "debuggable", "entrypoint",
               "produces_artifacts", "parent_env_name", "max_inline_io_bytes", "triggers", "links", "plugin_config",
               "task_resolver")
"""The SDK's fields of a task that the reference keeps as given (``resources``, ``env_vars`` and
``reusable`` are the reference's own)."""
_OVERRIDABLE = ("report", "debuggable", "task_type", "task_type_version", "triggers", "task_resolver")
"""Other fields ``override(**kwargs)`` may set, as the SDK's ``dataclasses.replace`` lets it."""


def _defaults(env: Any, func: Callable) -> Dict[str, Any]:
    """A task's SDK fields before the decorator's arguments: the environment's, or the SDK's defaults."""
    return {"short_name": getattr(func, "__name__", ""), "task_type": "python", "task_type_version": 0,
            "image": _image(env.image), "cache": Cache("disable"), "interruptible": bool(env.interruptible),
            "retries": RetryStrategy(count=0), "docs": None, "secrets": env.secrets,
            "service_account": env.service_account, "timeout": 0, "pod_template": env.pod_template, "report": False,
            "queue": env.queue, "debuggable": True, "entrypoint": False, "produces_artifacts": False,
            "parent_env_name": env.name, "max_inline_io_bytes": MAX_INLINE_IO_BYTES, "triggers": (), "links": (),
            "plugin_config": env.plugin_config, "task_resolver": None}


def _options(options: Any, sdk: Dict[str, Any], func: Callable, image: Any) -> Any:
    """The reference's options for the SDK's fields: retries, the attempt's bound, the cache."""
    changes = dict(retries=retry_count(sdk["retries"]), timeout=_time_bound(sdk["timeout"]),
                   interruptible=sdk["interruptible"], **cache_options(sdk["cache"], func, image))
    return _env.TaskOptions(**{**options.model_dump(), **changes})


def _policy(value: Any, allow_off: bool = False) -> Any:
    """``reusable=``: a ``flyte.ReusePolicy`` (the reference's model is taken too), ``None``, or ``"off"``."""
    if value is None or isinstance(value, (ReusePolicy, _ref_policy.ReusePolicy)):
        return value
    if allow_off and value == "off":
        return "off"
    hint = ' (give flyte.ReusePolicy(**mapping))' if isinstance(value, dict) else ''
    raise bad("reusable", value, "a flyte.ReusePolicy or None" + (', or "off"' if allow_off else "") + hint)


class Environment(abc.ABC):
    """The SDK's base of environments: ``isinstance(env, flyte.Environment)`` holds for a ``TaskEnvironment``."""


class TaskEnvironment(_env.TaskEnvironment):
    """Flyte's ``TaskEnvironment``: the SDK's arguments and checks over the reference's model.

    The values are kept as given (a ``flyte.ReusePolicy``, ``flyte.Resources``, secrets as
    keys or ``Secret`` objects); ``image`` defaults to ``"auto"`` and is recorded;
    ``queue``, ``service_account``, ``include``, ``plugin_config`` and ``pod_template`` are
    recorded.
    """

    reusable: Any = None
    resources: Any = None
    secrets: Any = None
    queue: Any = None

    def __init__(self, name: Any = None, depends_on: Any = (), pod_template: Any = None, description: Any = None,
                 secrets: Any = None, env_vars: Any = None, resources: Any = None, interruptible: Any = False,
                 image: Any = "auto", include: Any = (), service_account: Any = None, cache: Any = "disable",
                 reusable: Any = None, plugin_config: Any = None, queue: Any = None, **unknown: Any) -> None:
        if unknown:
            key = sorted(unknown)[0]
            raise TypeError(f"{key}={unknown[key]!r} is not valid: an argument of flyte.TaskEnvironment: name, "
                            f"depends_on, pod_template, description, secrets, env_vars, resources, interruptible, "
                            f"image, include, service_account, cache, reusable, plugin_config, queue")
        if depends_on is None or not isinstance(depends_on, (list, tuple)):
            raise bad("depends_on", depends_on, "a list of environments")
        if isinstance(description, str) and len(description) > 255:  # the SDK shortens it so
            description = description[:247] + "...(tr.)"
        if image not in (None, "auto"):
            record("TaskEnvironment(image=...) (recorded, not built)", name)
        if pod_template is not None:
            record("TaskEnvironment(pod_template=...) (replicas are processes, not pods)", name)
        super().__init__(name, depends_on=list(depends_on), pod_template=pod_template, description=description,
                         secrets=secrets, env_vars=env_vars, resources=resources, interruptible=interruptible,
                         image=image, include=include, service_account=service_account, cache=cache,
                         reusable=reusable, plugin_config=plugin_config, queue=queue)

    # The validators below replace the reference's of the same name: the SDK's checks, values kept as given.
    _p = field_validator("reusable", mode="before")(classmethod(lambda cls, v: _policy(v)))

    @field_validator("resources", mode="before")
    @classmethod
    def _r(cls, v: Any) -> Any:
        if v is not None and not isinstance(v, Resources):
            raise bad("resources", v, "a flyte.Resources")
        return v

    @field_validator("secrets", mode="before")
    @classmethod
    def _s(cls, v: Any) -> Any:
        if v and not isinstance(v, (str, Secret, list)):
            raise bad("secrets", v, "a secret key, a flyte.Secret, or a list of them")
        models.secret_variables(v)  # each one names a variable a replica can hold
        return v

    @field_validator("service_account", mode="before")
    @classmethod
    def _optional_str(cls, v: Any, info: Any) -> Any:  # replaces the reference's: the SDK checks only this one
        if v is not None and not isinstance(v, str):
            raise bad(info.field_name, v, "a string or None (recorded)")
        return v

    @field_validator("image", mode="before")
    @classmethod
    def _image(cls, v: Any) -> Any:
        if v is not None and not isinstance(v, (str, Image)):
            raise bad("image", v, 'an image reference (str), a flyte.Image, "auto" or None')
        return v

    @field_validator("cache", mode="before")
    @classmethod
    def _cache(cls, v: Any) -> Any:
        if v and not isinstance(v, (str, Cache)):
            raise bad("cache", v, 'a cache behaviour ("auto", "override", "disable") or a flyte.Cache')
        return v

    @field_validator("pod_template", mode="before")
    @classmethod
    def _pod_template(cls, v: Any) -> Any:
        if v is not None and not isinstance(v, (str, models.PodTemplate)):
            raise bad("pod_template", v, "the name of a pod template (str) or a flyte.PodTemplate")
        return v

    @model_validator(mode="after")
    def _no_pod_template_with_reuse(self) -> "TaskEnvironment":  # replaces the reference's: the SDK allows it here
        if self.reusable is not None and self.plugin_config is not None:
            raise bad("plugin_config", self.plugin_config, "None when the environment is reusable")
        return self

    @property
    def task_class(self) -> type:
        return TaskTemplate

    def add_dependency(self, *envs: Any) -> None:
        """Recorded: the SDK deploys dependencies together; here every environment is local already.
        A dependency given twice is kept once (as the SDK's docstring says)."""
        for e in envs:
            if not isinstance(e, _env.TaskEnvironment):
                raise bad("env", e, "a TaskEnvironment")
            if e.name == self.name:
                raise bad("env", e.name, "another environment: an environment cannot depend on itself")
        for e in envs:
            if e not in self.depends_on:
                self.depends_on.append(e)

    def clone_with(self, name: str, image: Any = None, resources: Any = None, env_vars: Any = None,
                   secrets: Any = None, depends_on: Any = None, description: Any = None, interruptible: Any = None,
                   include: Any = None, service_account: Any = None, **kwargs: Any) -> "TaskEnvironment":
        """The SDK's ``clone_with``: ``None`` keeps this environment's value; of the other arguments only
        ``cache`` and ``reusable`` are taken (``reusable=None`` given turns reuse off)."""
        unknown = sorted(set(kwargs) - {"cache", "reusable"})
        if unknown:
            raise TypeError(f"{unknown[0]}={kwargs[unknown[0]]!r} is not valid: an argument of clone_with "
                            f"(name, image, resources, env_vars, secrets, depends_on, description, interruptible, "
                            f"include, service_account, cache, reusable)")
        return super().clone_with(name, image=image, resources=resources, env_vars=env_vars, secrets=secrets,
                                  depends_on=depends_on, description=description, interruptible=interruptible,
                                  include=include, service_account=service_account, **kwargs)

    def task(self, _func: Optional[Callable] = None, *, short_name: Optional[str] = None, cache: Any = None,
             retries: Any = 0, timeout: Any = 0, docs: Optional[Documentation] = None, pod_template: Any = None,
             report: bool = False, interruptible: Optional[bool] = None, max_inline_io_bytes: int = MAX_INLINE_IO_BYTES,
             queue: Optional[str] = None, service_account: Optional[str] = None, triggers: Any = (), links: Any = (),
             task_resolver: Any = None, entrypoint: bool = False, produces_artifacts: bool = False,
             **flytekit: Any) -> Any:
        """The SDK's ``@env.task``, with or without arguments. What the reference does not model
        (``report``, ``queue``, ``links``, ``triggers``...) is kept, read back and recorded."""
        if flytekit:
            key = sorted(flytekit)[0]
            hint = f": in Flyte 2, {_FLYTEKIT_OPTIONS[key]}" if key in _FLYTEKIT_OPTIONS else ""
            raise TypeError(f"{key}={flytekit[key]!r} is not valid: not an argument of Flyte 2's env.task{hint}")
        if self.reusable is not None:
            if pod_template is not None:
                raise bad("pod_template", pod_template, "None when the environment is reusable")
            if service_account is not None and service_account != self.service_account:
                raise bad("service_account", service_account, "the environment's own when the environment is reusable")
        if service_account is not None and not isinstance(service_account, str):
            raise bad("service_account", service_account, "a string")
        make = super().task(short_name=short_name or None, cache=False)  # the cache is set from flyte.Cache below
        given = {"cache": cache, "retries": retries, "timeout": timeout, "docs": docs, "pod_template": pod_template,
                 "report": report, "interruptible": interruptible, "max_inline_io_bytes": max_inline_io_bytes,
                 "queue": queue, "service_account": service_account, "triggers": triggers, "links": links,
                 "task_resolver": task_resolver, "entrypoint": entrypoint, "produces_artifacts": produces_artifacts}

        def decorate(func: Callable) -> TaskTemplate:
            if not callable(func) or isinstance(func, _env.Task):
                raise bad("func", func, "a plain function (def or async def) to turn into a task")
            sdk = _defaults(self, func)
            sdk.update(short_name=short_name or sdk["short_name"], cache=cache_from_request(cache or self.cache),
                       retries=retry_strategy(retries), timeout=timeout, docs=docs,
                       pod_template=pod_template or self.pod_template, report=report,
                       interruptible=self.interruptible if interruptible is None else interruptible,
                       max_inline_io_bytes=max_inline_io_bytes, queue=queue or self.queue,
                       service_account=service_account or self.service_account, entrypoint=entrypoint,
                       produces_artifacts=produces_artifacts, task_resolver=task_resolver,
                       triggers=tuple(triggers) if isinstance(triggers, (list, tuple)) else (triggers,),
                       links=tuple(links) if isinstance(links, (list, tuple)) else (links,))
            wrapped = _noting(func, self.name) if getattr(func, "__name__", None) else func
            task = make(wrapped)
            task.options = _options(task.options, sdk, func, self.image)
            task.__dict__.update(sdk)
            unmodelled = sorted(k for k in ("report", "queue", "links", "triggers", "docs", "service_account",
                                            "entrypoint", "produces_artifacts", "task_resolver")
                                if given[k])
            if unmodelled:
                record("task options " + ", ".join(unmodelled) + " (recorded)", task.name)
            return task

        return decorate if _func is None else decorate(_func)


Environment.register(TaskEnvironment)
