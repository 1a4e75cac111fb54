"""``flyte.TaskEnvironment`` and its tasks: the reference's models with Flyte's signatures and call semantics.

Three things differ from :mod:`reuse_ref.environment`:

* the signatures are the SDK's: every argument of ``TaskEnvironment``, ``@env.task`` and
  ``task.override`` is accepted; the option objects (``Cache``, ``Secret``, ``Timeout``,
  ``RetryStrategy``) become the reference's options, and what the reference does not
  model (queues, links, triggers, reports, service accounts...) is recorded;
* a task call raises what the SDK raises: a child's exception reaches its caller as
  ``flyte.errors.RuntimeUserError`` (``code`` = the exception's type name), an OOM kill as
  ``flyte.errors.OOMError`` (see :func:`reuse_ref.flyte.errors.translate`);
* each task notes, on the replica that runs it, which process served which environment,
  so that ``reuse-ref run`` can report the distinct replica pids of each environment.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import os
from typing import Any, Callable, Dict, Optional

from pydantic import field_validator

from .. import environment as _env
from .._validate import bad
from . import models
from .cache import Cache, cache_from_request, cache_options
from .image import Image
from ._unmodelled import record
from .errors import translate

__all__ = ["TaskEnvironment", "TaskTemplate", "PIDS_DIR_VARIABLE"]

PIDS_DIR_VARIABLE = "REUSE_REF_FLYTE_PIDS"
"""When set to a directory, each replica leaves an empty file ``<pid>-<environment>`` there."""

_noted: set = set()
_RECORDED_TASK_OPTIONS = ("docs", "report", "max_inline_io_bytes", "queue", "service_account", "triggers", "links",
                          "task_resolver", "entrypoint", "produces_artifacts", "plugin_config")


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


class TaskTemplate(_env.Task):
    """A task with Flyte's call semantics (errors as the SDK raises them, ``.aio``) and its recorded options."""

    extras: Dict[str, Any]
    _cache: Cache

    def __init__(self, func: Callable, env: Any, options: Any, *, secrets: Any = None, **kwargs: Any) -> None:
        # The environment keeps its secrets as the user gave them (SDK); the task holds what a
        # replica's environment gets: {variable: value or None}.
        if secrets is None and env.secrets is not None:
            secrets = _env._secrets(models.secrets_of(env.secrets))
        super().__init__(func, env, options, secrets=secrets, **kwargs)
        self.extras = {}

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
    def parent_env_name(self) -> str:
        return self.env.name

    @property
    def cache(self) -> Cache:
        """The task's cache policy as the SDK shows it: the ``flyte.Cache`` it was given (a behaviour
        given as a string becomes one). The runtime reads the options made from it."""
        return self.__dict__.get("_cache") or Cache("disable")

    @property
    def pod_template(self) -> Any:
        return getattr(self, "extras", {}).get("pod_template", self.env.pod_template)

    def override(self, *, short_name: Optional[str] = None, resources: Any = None, cache: Any = None,
                 retries: Any = 0, timeout: Any = None, reusable: Any = None, env_vars: Any = None,
                 secrets: Any = None, service_account: Optional[str] = None, pod_template: Any = None,
                 interruptible: Optional[bool] = None, **kwargs: Any) -> "TaskTemplate":
        """The SDK's ``override``; the rules are the reference's, ``None`` changes nothing.

        ``retries=0`` sets no retries: the SDK keeps the earlier count instead (a listed difference).
        """
        effective = self._reusable if reusable is None else reusable
        if service_account is not None and effective not in (None, "off"):
            raise ValueError(f"service_account={service_account!r} cannot be overridden while {self.name!r} is "
                             f'reusable: pass reusable="off" in the same override call')
        extras = dict(getattr(self, "extras", {}))
        for key in list(kwargs):
            if key in _RECORDED_TASK_OPTIONS and key != "docs":  # docs, like name, is never overridden
                extras[key] = kwargs.pop(key)
                record(f"override({key}=...) (recorded)", self.name)
        if pod_template is not None:
            extras["pod_template"] = pod_template
            record("pod_template (replicas are processes, not pods)", self.name)
        if service_account is not None:
            extras["service_account"] = service_account
        changes: Dict[str, Any] = dict(kwargs)
        new_cache = cache_from_request(cache) if cache else self.cache  # the SDK's ``cache or self.cache``
        changes.update(cache_options(new_cache, self.func, self.env.image))
        given = {"short_name": short_name, "resources": resources, "reusable": reusable, "env_vars": env_vars,
                 "secrets": models.secrets_of(secrets), "timeout": models.timeout_of(timeout),
                 "interruptible": interruptible}
        changes.update({k: v for k, v in given.items() if v is not None})
        changes["retries"] = models.retries_of(retries)
        task = super().override(**changes)
        task.extras = extras
        task._cache = new_cache
        return task


class TaskEnvironment(_env.TaskEnvironment):
    """Flyte's ``TaskEnvironment``: the SDK's arguments over the reference's model.

    ``image`` defaults to ``"auto"`` as in the SDK and is recorded; ``secrets`` take
    ``flyte.Secret``; ``cache`` takes ``flyte.Cache`` or a string; ``queue``,
    ``service_account``, ``include`` and ``plugin_config`` are recorded.
    """

    def __init__(self, name: Any = None, depends_on: Any = None, pod_template: Any = None, description: Any = None,
                 secrets: Any = None, env_vars: Any = None, resources: Any = None, interruptible: bool = False,
                 image: Any = "auto", include: Any = (), service_account: Any = None, cache: Any = "disable",
                 reusable: Any = None, plugin_config: Any = None, queue: Any = None, **unknown: Any) -> None:
        if unknown:
            key = sorted(unknown)[0]
            raise bad(key, unknown[key], "an argument of flyte.TaskEnvironment: name, depends_on, pod_template, "
                                         "description, secrets, env_vars, resources, interruptible, image, include, "
                                         "service_account, cache, reusable, plugin_config, queue")
        if image not in (None, "auto"):
            record("TaskEnvironment(image=...) (recorded, not built)", name)
        super().__init__(name, depends_on=depends_on, pod_template=pod_template, description=description,
                         secrets=secrets, env_vars=env_vars, resources=resources,
                         interruptible=interruptible, image=image, include=include, service_account=service_account,
                         cache=cache, reusable=reusable, plugin_config=plugin_config, queue=queue)

    secrets: Any = None  # as given, as the SDK keeps it: a key, a flyte.Secret, or a list of them

    @field_validator("secrets", mode="before")
    @classmethod
    def _s(cls, v: Any) -> Any:  # replaces the reference's normalising validator of the same name
        models.secrets_of(v)
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
        if v is not None and not isinstance(v, (str, Cache)):
            raise bad("cache", v, 'a cache behaviour ("auto", "override", "disable") or a flyte.Cache')
        return v

    @property
    def task_class(self) -> type:
        return TaskTemplate

    def add_dependency(self, *envs: Any) -> None:
        """Recorded: the SDK deploys dependencies together; here every environment is local already."""
        for e in envs:
            if not isinstance(e, _env.TaskEnvironment):
                raise bad("env", e, "a TaskEnvironment")
            if e.name == self.name:
                raise bad("env", e.name, "another environment: an environment cannot depend on itself")
        self.depends_on.extend(e for e in envs if e not in self.depends_on)

    def task(self, _func: Optional[Callable] = None, *, short_name: Optional[str] = None, cache: Any = None,
             retries: Any = 0, timeout: Any = 0, pod_template: Any = None, interruptible: Optional[bool] = None,
             service_account: Optional[str] = None, **options: Any) -> Any:
        """The SDK's ``@env.task``, with or without arguments; options the reference does not model are recorded."""
        if self.reusable is not None and service_account is not None and service_account != self.service_account:
            raise bad("service_account", service_account, "the environment's own when the environment is reusable")
        extras = {k: options.pop(k) for k in list(options) if k in _RECORDED_TASK_OPTIONS}
        if service_account is not None:
            extras["service_account"] = service_account
        reference = dict(options)
        reference.update(retries=models.retries_of(retries), timeout=models.timeout_of(timeout) or None)
        if interruptible is not None:
            reference["interruptible"] = interruptible
        elif self.interruptible:
            reference["interruptible"] = True
        make = super().task(short_name=short_name, pod_template=pod_template, cache=False, **reference)

        def decorate(func: Callable) -> TaskTemplate:
            if not callable(func):
                raise bad("func", func, "a plain function (def or async def) to turn into a task")
            request = cache_from_request(cache or self.cache)  # the SDK's ``cache or env.cache``
            wrapped = _noting(func, self.name) if getattr(func, "__name__", None) else func
            task = make(wrapped)
            # The version of an "auto" cache is a hash of the function's body: known only now.
            task.options = _env.TaskOptions(**{**task.options.model_dump(),
                                               **cache_options(request, func, self.image)})
            task._cache = request
            task.extras = extras
            if extras:
                record("task options " + ", ".join(sorted(extras)) + " (recorded)", task.name)
            return task

        return decorate if _func is None else decorate(_func)
