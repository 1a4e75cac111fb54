"""Bad input becomes a ``ValueError`` naming the parameter, the value given and what is allowed.

The one place where "a number", "an int" and "seconds" are defined, so that every layer
refuses the same values with the same words: a ``bool`` is never a number here (``True``
is not one replica, one core or one second), NaN and infinity are not numbers of seconds,
and an int too large for a float is not a finite number either.
"""
from __future__ import annotations

import math
import numbers
from datetime import timedelta
from typing import Any, Optional

__all__ = ["bad", "is_int", "is_number", "number", "strict_int", "seconds", "as_seconds"]


def bad(param: str, value: Any, allowed: str) -> ValueError:
    """The error of every bad input: ``param=value is not valid: what is allowed``."""
    return ValueError(f"{param}={value!r} is not valid: {allowed}")


def is_int(value: Any) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any, *, finite: bool = True) -> bool:
    """A real number that is not a bool (an int, a float, a ``Fraction``, a NumPy scalar), and
    with ``finite`` one a float can hold that is neither NaN nor infinite."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    if not finite:
        return True
    try:
        return math.isfinite(value)
    except OverflowError:  # an int past the largest float
        return False


def number(param: str, value: Any, *, minimum: float = -math.inf, above: Optional[float] = None,
           maximum: float = math.inf, allowed: Optional[str] = None) -> float:
    """``value`` as a float, when it is a finite number (:func:`is_number`) with ``minimum <=
    value <= maximum`` and, given ``above``, ``value > above``; otherwise :func:`bad`.

    ``allowed`` says what is allowed in the error; by default "a finite number" and its bounds.
    """
    if not is_number(value) or value < minimum or value > maximum or (above is not None and value <= above):
        if allowed is None:
            bounds = [f"> {above:g}"] if above is not None else []
            bounds += [f">= {minimum:g}"] if minimum > -math.inf else []
            bounds += [f"<= {maximum:g}"] if maximum < math.inf else []
            allowed = "a finite number" + (" " + " and ".join(bounds) if bounds else "")
        raise bad(param, value, allowed)
    return float(value)


def strict_int(param: str, value: Any, *, minimum: int | None = None, allowed: str | None = None) -> int:
    """An int that is not a bool (``True`` is not a replica count), optionally with a lower bound."""
    what = allowed or (f"an int >= {minimum}" if minimum is not None else "an int")
    if not is_int(value) or (minimum is not None and value < minimum):
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
    if isinstance(value, timedelta):
        td = value
    elif is_int(value) or (allow_float and isinstance(value, float) and is_number(value)):
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
