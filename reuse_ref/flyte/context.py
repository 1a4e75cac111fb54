"""``flyte.ctx``, ``flyte.group``, ``flyte.trace``, ``flyte.custom_context`` and the loggers.

``group`` names a block of calls (a context manager, as in the SDK); ``trace`` marks a
helper whose calls the service would checkpoint: locally it is called as it is.
``logger`` is the ``flyte.user`` logger; log records get the ``run_name`` and
``action_name`` fields that Flyte's formatters use, so a handler formatted with them
works on a replica too.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import multiprocessing
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

__all__ = ["ctx", "group", "trace", "logger", "system_logger", "TaskContext", "current_groups", "custom_context",
           "get_custom_context"]

_groups: contextvars.ContextVar[Tuple[str, ...]] = contextvars.ContextVar("reuse_ref_flyte_groups", default=())
_custom: contextvars.ContextVar[Dict[str, str]] = contextvars.ContextVar("reuse_ref_flyte_custom", default={})


@dataclass(frozen=True)
class ActionID:
    name: str = "a0"
    run_name: str = "local"
    project: Optional[str] = None
    domain: Optional[str] = None


@dataclass(frozen=True)
class TaskContext:
    """What ``flyte.ctx()`` returns inside a task: the action, the replica's pid, the open groups."""

    action: ActionID = field(default_factory=ActionID)
    mode: str = "local"
    pid: int = 0
    groups: Tuple[str, ...] = ()
    custom_context: Dict[str, str] = field(default_factory=dict)
    raw_data_path: Any = None


class _NullTaskContext(TaskContext):
    """What ``flyte.ctx()`` gives outside a task, as in the SDK: every field ``None``, and falsy,
    so ``if flyte.ctx():`` still asks "am I in a task?"."""

    def __init__(self) -> None:
        for name in self.__dataclass_fields__:
            object.__setattr__(self, name, None)

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NullTaskContext()"


NULL_TASK_CONTEXT = _NullTaskContext()


def _in_task() -> bool:
    return multiprocessing.current_process().name.startswith("reuse-replica-")


def ctx() -> TaskContext:
    """The task context inside a task running on a replica; a falsy null context outside any task."""
    if not _in_task():
        return NULL_TASK_CONTEXT
    return TaskContext(pid=os.getpid(), groups=_groups.get(), custom_context=dict(_custom.get()))


def get_custom_context() -> Dict[str, str]:
    """The custom context set around this point of a task (``{}`` outside a task, as in the SDK)."""
    return dict(_custom.get()) if _in_task() else {}


@contextlib.contextmanager
def custom_context(**context: str) -> Iterator[None]:
    """Set key-value context for what runs inside the block, in a task; outside a task it does
    nothing, as in the SDK. The values are seen by this task; the SDK also hands them to the
    child tasks it calls, which the reference does not (recorded)."""
    if not _in_task():
        yield
        return
    from ._unmodelled import record

    record("flyte.custom_context (seen by this task, not passed to the child tasks it calls)")
    token = _custom.set({**_custom.get(), **context})
    try:
        yield
    finally:
        _custom.reset(token)


def current_groups() -> Tuple[str, ...]:
    """The names of the ``flyte.group`` blocks open here, outermost first."""
    return _groups.get()


@contextlib.contextmanager
def group(name: str) -> Iterator[None]:
    """A named block of task calls (the UI groups them); here it only names them."""
    if not isinstance(name, str) or not name:
        from ..config.validation import bad

        raise bad("name", name, "a non-empty group name")
    token = _groups.set(_groups.get() + (name,))
    try:
        yield
    finally:
        _groups.reset(token)


def trace(func: Callable) -> Callable:
    """``@flyte.trace``: the service checkpoints each call of ``func``; locally ``func`` is called as it is."""
    if not callable(func):
        from ..config.validation import bad

        raise bad("func", func, "a function to trace")
    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def traced_async(*args: Any, **kwargs: Any) -> Any:
            return await func(*args, **kwargs)
        return traced_async
    if inspect.isasyncgenfunction(func):
        return func

    @functools.wraps(func)
    def traced(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)
    return traced


def _install_record_fields() -> None:
    """Give every log record ``run_name`` and ``action_name`` (Flyte's formatters name them)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_reuse_ref_flyte", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        rec = previous(*args, **kwargs)
        if not hasattr(rec, "run_name"):
            rec.run_name = "local"
        if not hasattr(rec, "action_name"):
            rec.action_name = f"pid={os.getpid()}"
        return rec

    factory._reuse_ref_flyte = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_install_record_fields()
logger = logging.getLogger("flyte.user")
system_logger = logging.getLogger("flyte")
if not logger.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("[%(run_name)s][%(action_name)s] %(levelname)s %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
