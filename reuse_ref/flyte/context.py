"""``flyte.ctx``, ``flyte.group``, ``flyte.trace`` and ``flyte.logger``.

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

__all__ = ["ctx", "group", "trace", "logger", "TaskContext", "current_groups"]

_groups: contextvars.ContextVar[Tuple[str, ...]] = contextvars.ContextVar("reuse_ref_flyte_groups", default=())


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


def ctx() -> Optional[TaskContext]:
    """The task context inside a task running on a replica; ``None`` outside any task, as in the SDK."""
    if not multiprocessing.current_process().name.startswith("reuse-replica-"):
        return None
    return TaskContext(pid=os.getpid(), groups=_groups.get())


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
if not logger.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("[%(run_name)s][%(action_name)s] %(levelname)s %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
