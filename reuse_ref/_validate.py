"""Small helpers that turn bad input into ValueErrors naming parameter, value and what is allowed."""
from __future__ import annotations

from datetime import timedelta
from typing import Any


def bad(param: str, value: Any, allowed: str) -> ValueError:
    """Build the one error message shape used everywhere: parameter, value given, what is allowed."""
    return ValueError(f"{param}={value!r} is not valid: {allowed}")


def strict_int(param: str, value: Any, *, minimum: int | None = None, allowed: str | None = None) -> int:
    """An int that is not a bool (``True`` is not a replica count), optionally with a lower bound."""
    what = allowed or (f"an int >= {minimum}" if minimum is not None else "an int")
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(param, value, what)
    if minimum is not None and value < minimum:
        raise bad(param, value, what)
    return value


def seconds(param: str, value: Any, *, minimum: float = 0, allow_none: bool = False) -> timedelta | None:
    """An int number of seconds or a ``timedelta``, normalised to ``timedelta``."""
    what = f"an int number of seconds or a datetime.timedelta, at least {minimum:g} s"
    if allow_none:
        what += ", or None"
    if value is None:
        if allow_none:
            return None
        raise bad(param, value, what)
    if isinstance(value, timedelta):
        td = value
    elif isinstance(value, int) and not isinstance(value, bool):
        td = timedelta(seconds=value)
    else:
        raise bad(param, value, what)
    if td.total_seconds() < minimum:
        raise bad(param, value, what)
    return td


def as_seconds(td: timedelta | None) -> float | int | None:
    """A timedelta as JSON-friendly seconds (an int when whole)."""
    if td is None:
        return None
    s = td.total_seconds()
    return int(s) if s == int(s) else s
