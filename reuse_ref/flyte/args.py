"""Task arguments from the command line, read by the task's signature, as ``flyte run`` reads them.

``--name value`` or ``--name=value`` per parameter (``-`` and ``_`` both work in a name);
the value is converted by the parameter's annotation: ``int``, ``float``, ``str``,
``bool`` (true/false/1/0/yes/no), ``timedelta`` (seconds), ``datetime`` and ``date``
(ISO 8601), an ``Enum`` (by value or name), ``Optional[X]`` and ``Literal[...]``; lists,
dicts, dataclasses and anything else as JSON. A parameter with a default may be left out.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import inspect
import json
import typing
from typing import Any, Dict, Sequence

from ..config.validation import bad

__all__ = ["parse_task_args", "convert"]

_TRUE = ("true", "1", "yes", "y", "on")
_FALSE = ("false", "0", "no", "n", "off")


def convert(param: str, text: str, annotation: Any) -> Any:
    """``text`` as a value of ``annotation``; a ValueError names the parameter, the text and the type."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    try:
        if annotation in (inspect.Parameter.empty, Any, str):
            return text
        if origin is typing.Union:
            if text.lower() in ("none", "null") and type(None) in args:
                return None
            for option in args:
                if option is type(None):
                    continue
                try:
                    return convert(param, text, option)
                except ValueError:
                    continue
            raise ValueError
        if origin is typing.Literal:
            for option in args:
                if str(option) == text:
                    return option
            raise ValueError
        if annotation is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError
        if annotation is int:
            return int(text)
        if annotation is float:
            return float(text)
        if annotation is dt.timedelta:
            return dt.timedelta(seconds=float(text))
        if annotation is dt.datetime:
            return dt.datetime.fromisoformat(text)
        if annotation is dt.date:
            return dt.date.fromisoformat(text)
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            for member in annotation:
                if text in (str(member.value), member.name):
                    return member
            raise ValueError
        value = json.loads(text)
        if dataclasses.is_dataclass(annotation) and isinstance(value, dict):
            return annotation(**value)
        if hasattr(annotation, "model_validate"):  # a pydantic model
            return annotation.model_validate(value)
        return value
    except (ValueError, TypeError, json.JSONDecodeError):
        name = getattr(annotation, "__name__", None) or str(annotation)
        raise bad(f"--{param}", text, f"a value of type {name}") from None


def parse_task_args(task: Any, argv: Sequence[str], run_options: Sequence[str] = ()) -> Dict[str, Any]:
    """``{parameter: value}`` for ``task`` from ``["--x", "3", "--name=abc"]``.

    Every parameter is named in full (no abbreviation) and at most once. ``run_options``
    are the command's own options: one that the task does not have as a parameter is
    refused with the hint that the command's options go before the file.
    """
    func = task.func
    signature = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func)
    except Exception:
        hints = {}
    params = {name.replace("_", "-"): p for name, p in signature.parameters.items()
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    allowed = ", ".join(f"--{k}" for k in params) or "none"
    out: Dict[str, Any] = {}
    i = 0
    argv = list(argv)
    while i < len(argv):
        item = argv[i]
        if not item.startswith("--") or len(item) == 2:
            raise bad("argument", item, f"--NAME VALUE for a parameter of {task.name}: {allowed}")
        key, eq, text = item[2:].partition("=")
        key = key.replace("_", "-")
        if key not in params:
            hint = (f" (reuse-ref run's own --{key} goes before FILE.py, as in flyte run)"
                    if f"--{key}" in run_options else "")
            raise bad("argument", item, f"a parameter of {task.name}: {allowed}{hint}")
        if params[key].name in out:
            raise bad(f"--{key}", item if eq else f"{item} {argv[i + 1] if i + 1 < len(argv) else ''}".strip(),
                      f"each parameter of {task.name} once; --{key} was given before")
        if not eq:
            if i + 1 >= len(argv):
                raise bad(f"--{key}", None, "a value after it")
            text = argv[i + 1]
            i += 1
        p = params[key]
        out[p.name] = convert(key, text, hints.get(p.name, p.annotation))
        i += 1
    missing = [f"--{k}" for k, p in params.items() if p.default is p.empty and p.name not in out]
    if missing:
        raise bad(missing[0], None, f"a value: {task.name} needs {', '.join(missing)}")
    return out
