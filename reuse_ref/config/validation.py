"""Small helpers that turn bad input into ValueErrors naming parameter, value and what is allowed."""
from __future__ import annotations

import math
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


def seconds(param: str, value: Any, *, minimum: float = 0, allow_none: bool = False,
            allow_float: bool = False) -> timedelta | None:
    """An int number of seconds or a ``timedelta``, normalised to ``timedelta``.

    ``allow_float`` also takes a finite float number of seconds: JSON input, where a
    fractional ``timedelta`` is written as float seconds (see :func:`as_seconds`).
    """
    what = f"an int number of seconds or a datetime.timedelta, at least {minimum:g} s"
    if allow_none:
        what += ", or None"
    if value is None:
        if allow_none:
            return None
        raise bad(param, value, what)
    number = isinstance(value, int) or (allow_float and isinstance(value, float) and math.isfinite(value))
    if isinstance(value, timedelta):
        td = value
    elif number and not isinstance(value, bool):
        try:
            td = timedelta(seconds=value)
        except OverflowError:  # more than timedelta.max (about 2.7 million years)
            raise bad(param, value, what + ", and at most timedelta.max") from None
    else:
        raise bad(param, value, what)
    if td.total_seconds() < minimum:
        raise bad(param, value, what)
    if td.microseconds and not _float_seconds_exact(td):
        # JSON carries it as float seconds (as_seconds), which cannot hold a fraction of a
        # second past 2**53 microseconds (about 285 years): refused here, so that every
        # accepted value reads back from JSON as itself, rather than failing when read
        raise bad(param, value, what + "; a fraction of a second is only kept below about 285 years "
                  "(JSON carries it as float seconds): give whole seconds" + (" or None" if allow_none else ""))
    return td


def _float_seconds_exact(td: timedelta) -> bool:
    """Whether ``td`` reads back as itself from its float seconds (timedelta.max does not)."""
    try:
        return timedelta(seconds=td.total_seconds()) == td
    except OverflowError:
        return False


def as_seconds(td: timedelta | None) -> float | int | None:
    """A timedelta as JSON-friendly seconds (an int when whole)."""
    if td is None:
        return None
    if td.microseconds == 0:  # exact, whatever the size (a float would round past 2**53)
        return td.days * 86400 + td.seconds
    return td.total_seconds()
