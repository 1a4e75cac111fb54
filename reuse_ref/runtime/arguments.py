"""A task call's arguments, checked against the task's signature before they travel.

Checked in the caller's process, so that a call that cannot fit fails at once with a
``ValueError`` saying what the task takes, rather than on a replica.
"""
from __future__ import annotations

import inspect
import weakref
from typing import Any

__all__ = ["bind", "check_args", "check_task"]

_shapes: "weakref.WeakKeyDictionary[Any, tuple]" = weakref.WeakKeyDictionary()


def _shape(func: Any) -> tuple:
    """``(signature, fewest, most)`` positional arguments when every parameter is a plain
    positional-or-keyword one (``most`` is -1 otherwise): the fast check of :func:`check_args`."""
    shape = _shapes.get(func)
    if shape is None:
        sig = inspect.signature(func)
        params = list(sig.parameters.values())
        plain = all(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
        fewest = sum(1 for p in params if p.default is p.empty)
        shape = _shapes[func] = (sig, fewest, len(params) if plain else -1)
    return shape


def bind(task: Any, args: tuple, kwargs: dict) -> inspect.BoundArguments:
    """The call's arguments bound to the task's signature, or a ``ValueError`` saying what is wrong."""
    sig = _shape(task.func)[0]
    try:
        return sig.bind(*args, **kwargs)
    except TypeError as e:
        plain = sig.replace(parameters=[p.replace(annotation=p.empty) for p in sig.parameters.values()],
                            return_annotation=sig.empty)
        raise ValueError(
            f"arguments for task {task.name!r} are not valid: {e}; it takes {task.short_name}{plain}"
        ) from None


def check_args(task: Any, args: tuple, kwargs: dict) -> None:
    """``bind`` without the binding when the call plainly fits (the common case, made cheap)."""
    _, fewest, most = _shape(task.func)
    if kwargs or not fewest <= len(args) <= most:
        bind(task, args, kwargs)


def check_task(task: Any, where: str = "run") -> None:
    """A ``ValueError`` unless ``task`` is a :class:`~reuse_ref.Task`."""
    from ..config.environment import Task

    if not isinstance(task, Task):
        what = getattr(task, "__qualname__", None) or type(task).__name__
        raise ValueError(
            f"{where}(task={what}) is not valid: the first argument must be a task made with "
            f"@env.task (a reuse_ref.Task), not {type(task).__name__}; decorate the function "
            f"with @env.task of a TaskEnvironment"
        )
