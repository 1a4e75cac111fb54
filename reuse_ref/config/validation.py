"""Bad input becomes a ``ValueError`` naming the parameter, the value given and what is allowed.

The one place where "a number", "an int" and "seconds" are defined, so that every layer
refuses the same values with the same words: a ``bool`` is never a number here (``True``
is not one replica, one core or one second), NaN and infinity are not numbers of seconds,
and an int too large for a float is not a finite number either.

The models users build (``ReusePolicy``, ``Resources``, ``TaskEnvironment``, ``TaskOptions``)
are pydantic models, whose own error, ``pydantic.ValidationError``, wraps every message in
a frame of its own ("1 validation error for ReusePolicy ... [type=value_error,
input_value=...] ... https://errors.pydantic.dev"). They derive from :class:`Model`, which
raises a plain ``ValueError`` with the one line the command line prints instead: the
parameter, the value and what is allowed. Flyte's SDK builds these classes as dataclasses
that raise plain ``ValueError``, so code written for it catches ``ValueError``, never
pydantic's class.
"""
from __future__ import annotations

import math
import numbers
from datetime import timedelta
from typing import Any, Optional

from pydantic import BaseModel, ValidationError

__all__ = ["bad", "is_int", "is_number", "number", "optional_flag", "strict_int", "seconds", "as_seconds", "Model", "plain_error"]

def bad(param: str, value: Any, allowed: str) -> ValueError:
    """The error of every bad input: ``param=value is not valid: what is allowed``."""
    return ValueError(f"{param}={value!r} is not valid: {allowed}")


def plain_error(error: ValidationError, model: str, fields: Any = ()) -> ValueError:
    """pydantic's ``error`` as one ``ValueError``: each problem as ``param=value is not valid:
    what is allowed`` (the message of the model's own check as it is, after the name of the
    field that holds it when it came from a model inside this one), joined by semicolons."""
    messages = []
    for item in error.errors(include_url=False):
        msg = str(item.get("msg", ""))
        param = ".".join(str(part) for part in item.get("loc", ()))
        kind = item.get("type")
        given = item.get("input")
        if kind in ("value_error", "assertion_error"):
            text = msg.split(", ", 1)[1] if ", " in msg else msg
            messages.append(text if not param or text.startswith(param + "=") else f"{param}={given!r}: {text}")
        elif kind == "missing":
            messages.append(f"{param} is missing: {model} needs it")
        elif kind == "extra_forbidden":
            known = ", ".join(fields)
            messages.append(f"{param}={given!r} is not valid: not a parameter of {model}"
                            + (f" (its parameters: {known})" if known else ""))
        elif kind == "invalid_key":
            messages.append(f"{given!r} is not valid as a parameter of {model}: parameter names are str")
        elif kind == "frozen_instance":
            messages.append(f"{param}={given!r} is not valid: a {model} is frozen, it cannot be changed once made; "
                            f"make a new {model} with the value you want")
        else:
            messages.append(f"{param or model}={given!r} is not valid: {msg[:1].lower()}{msg[1:]}")
    return ValueError("; ".join(messages) or str(error))


class _PlainErrors(type(BaseModel)):  # type: ignore[misc]  # pydantic's metaclass, named without its internals
    """Building a model (``ReusePolicy(...)``) raises :func:`plain_error`'s ``ValueError``."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ValidationError as e:
            raise plain_error(e, cls.__name__, cls.model_fields) from None


class Model(BaseModel, metaclass=_PlainErrors):
    """A pydantic model whose bad input is one plain ``ValueError`` (see the module docstring):
    when it is built, validated from Python, JSON or strings, or has a field set."""

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Any:
        try:
            return super().model_validate(obj, **options)
        except ValidationError as e:
            raise plain_error(e, cls.__name__, cls.model_fields) from None

    @classmethod
    def model_validate_json(cls, json_data: Any, **options: Any) -> Any:
        try:
            return super().model_validate_json(json_data, **options)
        except ValidationError as e:
            raise plain_error(e, cls.__name__, cls.model_fields) from None

    @classmethod
    def model_validate_strings(cls, obj: Any, **options: Any) -> Any:
        try:
            return super().model_validate_strings(obj, **options)
        except ValidationError as e:
            raise plain_error(e, cls.__name__, cls.model_fields) from None

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as e:
            raise plain_error(e, type(self).__name__, type(self).model_fields) from None


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


def optional_flag(param: str, value: Any, none_means: str) -> Optional[bool]:
    """``True``, ``False`` or ``None`` (``none_means`` says what ``None`` does), and nothing else:
    any object is truthy, so a flag that took one would be on by accident."""
    if value is not None and not isinstance(value, bool):
        raise bad(param, value, f"True, False, or None ({none_means})")
    return value


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
