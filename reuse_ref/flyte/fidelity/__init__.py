"""One set of probes run against Flyte's SDK and against ``reuse_ref.flyte``, and the written list of
where the reference differs on purpose.

A probe takes the module (``flyte`` or ``reuse_ref.flyte``), does one thing a user of
reusable environments does (build a policy, resources, an environment, a task with
options, an override, an error; read each back) and returns a plain value. The probes are
generated from tables, one module per area (``_policy``, ``_resources``, ``_environment``,
``_tasks``, ``_options``, ``_errors``, ``_names``): each table row is an input, each
template a way to use it, so an area is covered evenly rather than by the cases someone
thought of.

:func:`outcome` turns what a probe did into a value that JSON can hold: ``("value", v)``,
``("refused", class)`` for ``ValueError`` and ``TypeError`` (the SDK raises either for bad
input; the reference always raises ``ValueError``), or ``("error", class)`` for anything
else. :func:`compare` runs both modules and gives each probe a verdict: ``same``, or the
kind of difference listed for it in :data:`DIFFERENCES` with its reason; a difference not
listed is ``unlisted``, and a listed one that is no longer a difference is
``listed-but-same``. The shared test (tests/test_fidelity.py) fails on either, and on any
probe whose SDK outcome is not the one stored in tests/fidelity_sdk_outcomes.json, so a
new SDK release that changes a behaviour names the probe. The book's Fidelity page prints
the counts and the table.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import warnings
from datetime import timedelta
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Tuple

__all__ = ["PROBES", "DIFFERENCES", "Difference", "outcome", "compare", "Row", "probe", "cases", "plain", "same",
           "run_coroutine"]

PROBES: Dict[str, Tuple[str, Callable[[Any], Any]]] = {}
"""Every probe by its name (unique, readable): ``(area, function of the module)``."""


def probe(area: str, name: str, fn: Callable[[Any], Any]) -> None:
    """Register one probe; a name used twice is a mistake in a table."""
    if name in PROBES:
        raise ValueError(f"name={name!r} is not valid: a probe of that name exists already")
    PROBES[name] = (area, fn)


def cases(area: str, template: str, table: Iterable[Tuple[str, Any]], make: Callable[[Any, Any], Any]) -> None:
    """One probe per row of ``table`` (``(label, input)``): ``make(module, input)``, named
    ``template.format(label)``."""
    for label, value in table:
        probe(area, template.format(label), lambda f, v=value: make(f, v))


def run_coroutine(coro: Any) -> Any:
    """Run ``coro`` to its end as a program's ``asyncio.run`` would, also where an event loop is
    running already (a notebook's): then in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def plain(value: Any) -> Any:
    """A value as JSON can hold it, the same for equal values in either library: a
    ``timedelta`` as ``"timedelta(s)"``, a tuple as a list, any other object as ``"<Type>"``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, timedelta):
        return f"timedelta({value.total_seconds():g})"
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, type):
        return f"<class {value.__name__}>"
    return f"<{type(value).__name__}>"


def outcome(fn: Callable[[Any], Any], module: Any) -> List[Any]:
    """``["value", v]``, ``["refused", class name]`` or ``["error", class name]``."""
    logging.disable(logging.CRITICAL)  # the SDK logs its warnings; the probes look at behaviour
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                value = fn(module)
            except (ValueError, TypeError) as exc:
                return ["refused", type(exc).__name__]
            except Exception as exc:  # noqa: BLE001 - shown in the table, never hidden
                return ["error", type(exc).__name__]
    finally:
        logging.disable(logging.NOTSET)
    return ["value", plain(value)]


def same(a: List[Any], b: List[Any]) -> bool:
    """Refusals are the same whatever their class (``ValueError`` here, ``TypeError`` there)."""
    return a[0] == b[0] and (a[0] == "refused" or a[1] == b[1])


class Difference(NamedTuple):
    kind: str  # stricter, looser, not modelled, or shape
    reason: str


class Row(NamedTuple):
    area: str
    probe: str
    sdk: List[Any]
    reference: List[Any]
    verdict: str  # same, stricter, looser, not modelled, shape, unlisted, listed-but-same
    reason: str


def compare(sdk: Any, reference: Any) -> List[Row]:
    """Every probe on both modules, with its verdict and the listed reason of a difference."""
    rows = []
    for name, (area, fn) in PROBES.items():
        a, b = outcome(fn, sdk), outcome(fn, reference)
        listed = DIFFERENCES.get(name)
        if same(a, b):
            verdict, reason = ("same", "") if listed is None else ("listed-but-same", listed.reason)
        else:
            verdict, reason = (listed.kind, listed.reason) if listed else ("unlisted", "")
        rows.append(Row(area, name, a, b, verdict, reason))
    return rows


from . import _policy, _resources, _environment, _tasks, _options, _errors, _names  # noqa: E402,F401  (they fill PROBES)
from ._differences import DIFFERENCES  # noqa: E402
