"""``flyte.init``, ``flyte.run``, ``flyte.with_runcontext`` and the ``Run`` they return, over one local runtime.

Flyte's local mode runs a task in the caller's process, with no pool. Here a run goes to a
:class:`reuse_ref.Runtime` made on first use and shared by every run of the program, so
tasks run on real, warm replica processes and the runtime's trace shows the pools. Its ``time_scale`` and ``cold_start`` come from ``REUSE_REF_TIME_SCALE`` and
``REUSE_REF_COLD_START`` (``reuse-ref run`` sets them), else 1 and 0. ``init`` and the
run context's settings (project, domain, mode, labels...) are recorded: the reference has
no service to connect to.
"""
from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import threading
from typing import Any, Dict, List, Optional

from ..config.validation import bad
from ._unmodelled import record, refuse
from .errors import translate

__all__ = ["init", "init_from_config", "init_from_api_key", "init_in_cluster", "init_passthrough",
           "run", "with_runcontext", "Run", "runtime", "runs", "close", "current_project", "current_domain",
           "is_control_plane_available"]

_lock = threading.Lock()
_runtime: Any = None
_runs: List["Run"] = []
_names = itertools.count(1)
config: Dict[str, Any] = {}


def _number(variable: str, default: float) -> float:
    text = os.environ.get(variable)
    if text is None:
        return default
    try:
        return float(text)
    except ValueError:
        raise bad(variable, text, "a number") from None


def runtime() -> Any:
    """The runtime every run of this program goes to (made on first use)."""
    global _runtime
    with _lock:
        if _runtime is None or _runtime.closed:
            from ..runtime import Runtime
            from .io import store

            store()  # before the replicas start: they inherit where files live

            _runtime = Runtime(time_scale=_number("REUSE_REF_TIME_SCALE", 1.0),
                               cold_start=_number("REUSE_REF_COLD_START", 0.0),
                               backend=os.environ.get("REUSE_REF_BACKEND") or "processes",
                               scaledown=os.environ.get("REUSE_REF_SCALEDOWN") or "paced")
        return _runtime


def runs() -> List["Run"]:
    """Every run of this program so far, oldest first."""
    return list(_runs)


def close() -> None:
    """Stop the runtime's replicas (a later run starts a new runtime, cold)."""
    global _runtime
    with _lock:
        if _runtime is not None:
            _runtime.close()
            _runtime = None


def _init(kind: str):
    def init(*args: Any, **kwargs: Any) -> None:
        config.clear()
        config.update(kwargs, how=kind, args=args)
        record(f"flyte.{kind} (nothing to connect to: runs are local)")
    init.__name__ = kind
    init.__doc__ = f"Recorded: ``flyte.{kind}`` connects to a Flyte service; the reference runs locally."
    return init


def _current(what: str) -> str:
    value = config.get(what)
    if value is None:
        from .errors import InitializationError

        raise InitializationError(f"{what.capitalize()}NotInitializedError", "user",
                                  f"{what} is not set: call flyte.init({what}=...) first (recorded: runs are local)")
    return value


def current_project() -> str:
    """The project given to ``flyte.init`` (an ``InitializationError`` before, as in the SDK)."""
    return _current("project")


def current_domain() -> str:
    """The domain given to ``flyte.init`` (an ``InitializationError`` before, as in the SDK)."""
    return _current("domain")


def is_control_plane_available() -> bool:
    """False: the reference has no Flyte service, so a program takes its local path
    (the SDK answers True outside a task once ``flyte.init`` has configured a client)."""
    return False


init = _init("init")
init_from_config = _init("init_from_config")
init_from_api_key = _init("init_from_api_key")
init_in_cluster = _init("init_in_cluster")
init_passthrough = _init("init_passthrough")


class _Action:
    def __init__(self, run: "Run") -> None:
        self._run = run
        self.name = "a0"

    async def wait(self, *args: Any, **kwargs: Any) -> None:
        return None


class Run:
    """A finished run: ``name``, ``url``, ``wait()`` and ``outputs()`` as Flyte's ``Run`` has them,
    plus the reference's ``result``, ``trace`` and ``measures``.

    ``wait()`` returns at once: ``flyte.run`` returns when the run has ended, as in the
    SDK's local mode. ``url`` names the run; there is no UI behind it.
    """

    def __init__(self, ref_run: Any, name: str, context: Dict[str, Any]) -> None:
        self._ref = ref_run
        self.name = name
        self.context = context
        self.action = _Action(self)

    @property
    def url(self) -> str:
        return f"reuse-ref://local/runs/{self.name}"

    @property
    def result(self) -> Any:
        return self._ref.result

    @property
    def trace(self) -> Any:
        return self._ref.trace

    @property
    def measures(self) -> Any:
        return self._ref.measures

    @property
    def phase(self) -> str:
        return "SUCCEEDED"

    def done(self) -> bool:
        return True

    def wait(self, *args: Any, **kwargs: Any) -> None:
        return None

    def outputs(self) -> tuple:
        """The task's outputs as a tuple (one item for a single return value)."""
        result = self._ref.result
        return result if isinstance(result, tuple) else (result,)

    def __repr__(self) -> str:
        return f"Run(name={self.name!r}, result={self.result!r})"


def _in_replica() -> bool:
    return multiprocessing.current_process().name.startswith("reuse-replica-")


def _run(task: Any, args: tuple, kwargs: dict, context: Dict[str, Any]) -> Run:
    if _in_replica():
        raise refuse("flyte.run inside a task (a run started by a running task)",
                     "call the task itself instead: it runs on its environment's pool")
    from ..config.environment import Task

    if not isinstance(task, Task):
        raise bad("task", task, "a task made with @env.task")
    name = context.get("name") or f"run-{next(_names)}"
    try:
        ref = runtime().run(task, *args, **kwargs)
    except Exception as exc:
        new = translate(exc)
        if new is exc:
            raise
        raise new from exc
    out = Run(ref, name, context)
    _runs.append(out)
    return out


class _Runner:
    """``flyte.run`` (and ``with_runcontext(...).run``): call it, or await ``.aio(...)``."""

    def __init__(self, context: Dict[str, Any]) -> None:
        self.context = context

    def __call__(self, task: Any, *args: Any, **kwargs: Any) -> Run:
        return _run(task, args, kwargs, self.context)

    async def aio(self, task: Any, *args: Any, **kwargs: Any) -> Run:
        return await asyncio.to_thread(_run, task, args, kwargs, self.context)


run = _Runner({})


class _RunContext:
    def __init__(self, context: Dict[str, Any]) -> None:
        self.context = context
        self.run = _Runner(context)


def with_runcontext(mode: Optional[str] = None, *, name: Optional[str] = None, **settings: Any) -> _RunContext:
    """Flyte's run context: ``name`` names the run; ``mode`` and every other setting are recorded
    (a run always goes to the local runtime)."""
    if mode not in (None, "local", "remote", "hybrid"):
        raise bad("mode", mode, 'one of "local", "remote", "hybrid" or None')
    if mode is not None or settings:
        record("with_runcontext settings (recorded: the run is local)", ", ".join(sorted(settings)) or mode)
    return _RunContext(dict(settings, mode=mode, name=name))
