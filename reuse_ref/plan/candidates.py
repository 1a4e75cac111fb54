"""The inputs of a plan: candidate policies, a target of queue wait, and prices.

A plan (:mod:`reuse_ref.plan`) is given a value or a list of values for each knob of a
``ReusePolicy``; every combination is a candidate. A combination the rules refuse
(``min > max``, a TTL under 30 s, a concurrency under 1) is skipped and counted by
reason, never dropped silently, so that a sweep over ranges says how much of the grid it
did not run. The target is a percentile of queue wait (section "The trace and its
measures" of the Concepts page), optionally for the tasks of a time window only; the
prices turn a footprint into money. The command line's forms (``"0..8"``, ``"1,4,8"``,
``"p95<=30"``) are read here too, so that the command and the Python API accept the same
values.
"""
from __future__ import annotations

import itertools
import math
import re
import warnings
from datetime import timedelta
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple

from ..config.validation import bad, is_int, is_number, number
from ..config.policy import MIN_TTL_SECONDS, ReusePolicy
from ..config.resources import Resources
from ..core.pools import check_min_replicas
from ..trace import Measures

__all__ = ["Target", "Prices", "KNOBS", "MOST_CANDIDATES", "MOST_COMBINATIONS", "candidate_policies", "parse_values", "parse_target", "as_target", "as_prices",
           "counts_text", "per_environment_form", "environment_candidates", "policies_text",
           "environment_prices"]

KNOBS = ("min", "max", "concurrency", "scaledown_ttl", "idle_ttl")
"""The knobs a plan varies: ``replicas=(min, max)``, ``concurrency`` and the two TTLs."""

MOST_CANDIDATES = 10_000
"""The most candidate policies one plan simulates. Each is a whole simulation of the
workload, and its measures and replicas' spans stay in memory until the plan is charged:
a grid of a million (``--min 0..1000 --max 0..1000``) ran out of memory. Past it, a plan
is refused before anything runs; a coarse grid first (``1,2,4,8,16``), then a finer one
around its answer, finds the same policy."""

MOST_COMBINATIONS = 10 * MOST_CANDIDATES
"""The most combinations of knob values a plan looks at (the rules skip many: ``min >
max``, a TTL under 30 s), and the most values one knob may have."""

_NARROW = ("give fewer values per knob, such as 1,2,4,8,16 rather than 1..16, then plan again with a finer "
           "grid around the answer")

_DEFAULTS = {"min": (2,), "max": (2,), "concurrency": (1,), "scaledown_ttl": (MIN_TTL_SECONDS,),
             "idle_ttl": (MIN_TTL_SECONDS,)}
_PERCENTILES = (50, 95, 99)


class Target(NamedTuple):
    """A percentile (50, 95 or 99) that must not be above ``seconds``: of queue wait
    (``kind="wait"``, every task of every environment), or of a run's time (``kind="run"``:
    a top-level call's first ``task_queued`` to its end, :mod:`reuse_ref.trace.run_times`).

    With ``since`` and ``until`` (seconds), only the tasks (the runs, by their root) first
    queued in ``[since, until)`` count (see :func:`reuse_ref.trace.window.waits`): a
    target for a known burst. ``Target.parse("p95<=30")`` and
    ``Target.parse("run-p95<=600")`` read the command line's form."""

    percentile: int
    seconds: float
    since: Optional[float] = None
    until: Optional[float] = None
    kind: str = "wait"

    @property
    def measure(self) -> str:
        """The name of the percentile: ``"p95"``, or ``"run-p95"`` for a run's time."""
        return f"run-p{self.percentile}" if self.kind == "run" else f"p{self.percentile}"

    def __str__(self) -> str:
        text = f"{self.measure} <= {self.seconds:g} s"
        if self.since is not None:
            what = "runs started" if self.kind == "run" else "tasks queued"
            text += f" for {what} in [{self.since:g}, {self.until:g}) s"
        return text

    @staticmethod
    def parse(text: str) -> "Target":
        """``"p50<=10"``, ``"p95<=30"``, ``"p99 <= 120"`` or ``"run-p95<=600"``."""
        return parse_target(text)


class Prices(NamedTuple):
    """Prices per hour: of a core (``cpu_hour``), a GiB of memory (``gib_hour``), a GPU
    (``gpu_hour``), each times the replica's :class:`~reuse_ref.config.resources.Resources`, and
    of a replica whatever its size (``replica_hour``). A candidate's cost is the sum of
    each price times what it held over the window."""

    cpu_hour: float = 0.0
    gib_hour: float = 0.0
    gpu_hour: float = 0.0
    replica_hour: float = 0.0

    def cost(self, m: Measures) -> float:
        """The cost of the measures ``m`` (taken over the window)."""
        return (self.cpu_hour * m.cpu_seconds + self.gib_hour * m.gib_seconds + self.gpu_hour * m.gpu_seconds
                + self.replica_hour * m.replica_seconds) / 3600.0



# ---------------------------------------------------------------------- inputs
_TARGET = re.compile(r"^\s*(run-)?p(50|95|99)\s*<=\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*$")
_TARGET_ALLOWED = ('p50, p95 or p99 of queue wait, or run-p50, run-p95 or run-p99 of a run\'s time, then <= and '
                   'seconds, such as "p95<=30" or "run-p95<=600"')
KINDS = ("wait", "run")
"""What a target bounds: queue wait, or a run's time."""


def parse_target(text: Any, param: str = "target") -> Target:
    """A :class:`Target` from ``"p95<=30"`` (p50, p95 or p99 of queue wait, then seconds) or
    ``"run-p95<=600"`` (of a run's time); a bad one is a ``ValueError`` naming ``param``
    (``--target`` on the command line)."""
    m = _TARGET.match(text) if isinstance(text, str) else None
    if m is None or not math.isfinite(float(m.group(3))):
        raise bad(param, text, _TARGET_ALLOWED)
    return Target(int(m.group(2)), float(m.group(3)), kind="run" if m.group(1) else "wait")


def parse_values(text: Any, param: str, none: bool = False) -> List[Any]:
    """A knob's values from the command line's form: ``"0..8"`` (both ends included),
    ``"1,4,8"``, or a mix such as ``"1..3,8"``; with ``none=True`` also ``"none"``."""
    allowed = 'ints separated by commas, or ranges such as "0..8" (both ends included)'
    allowed += ', and "none"' if none else ""
    if not isinstance(text, str) or not text.strip():
        raise bad(param, text, allowed)
    out: List[Any] = []
    for part in text.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("..")
        if none and part.lower() == "none":
            out.append(None)
        elif sep and re.fullmatch(r"[0-9]+", lo.strip()) and re.fullmatch(r"[0-9]+", hi.strip()) \
                and int(lo) <= int(hi):
            if int(hi) - int(lo) + 1 + len(out) > MOST_COMBINATIONS:  # refused before it is expanded
                raise bad(param, text, f"at most {MOST_COMBINATIONS:,} values: {_NARROW}")
            out.extend(range(int(lo), int(hi) + 1))
        elif re.fullmatch(r"[0-9]+", part):
            out.append(int(part))
        else:
            raise bad(param, text, allowed)
    return out


def as_target(target: Any) -> Target:
    if isinstance(target, str):
        return parse_target(target)
    if isinstance(target, tuple) and not isinstance(target, Target) and len(target) == 2 \
            and isinstance(target[0], str):  # ("p95<=30", (since, until))
        t, window = parse_target(target[0]), target[1]
        if not (isinstance(window, (tuple, list)) and len(window) == 2):
            raise bad("target", target, '("p95<=30", (since, until)) with the window in seconds')
        target = t._replace(since=window[0], until=window[1])
    if not isinstance(target, Target):
        raise bad("target", target, _TARGET_ALLOWED + ', a reuse_ref.plan.Target, or ("p95<=30", (since, until))')
    if target.kind not in KINDS:
        raise bad("target.kind", target.kind, "'wait' (queue wait) or 'run' (a run's time)")
    if target.percentile not in _PERCENTILES:
        raise bad("target.percentile", target.percentile, "50, 95 or 99")
    seconds = number("target.seconds", target.seconds, minimum=0, allowed="a finite number of seconds >= 0")
    if (target.since is None) != (target.until is None):
        raise bad("target", target, "a time window with both since and until, or neither")
    if target.since is not None:
        since, until = target.since, target.until
        if not (is_number(since) and since >= 0 and is_number(until, finite=False) and until > since):
            raise bad("target window", (since, until), "(since, until) in seconds with 0 <= since < until")
        target = target._replace(since=float(since), until=float(until))
    return target._replace(seconds=seconds)


def as_prices(prices: Any, resources: Optional[Resources]) -> Prices:
    allowed = ("a mapping of prices per hour >= 0: cpu_hour (a core), gib_hour (a GiB of memory), "
               "gpu_hour (a GPU) and/or replica_hour (a replica)")
    if isinstance(prices, Prices):
        given = prices._asdict()
    elif isinstance(prices, Mapping) and prices:
        unknown = [k for k in prices if k not in Prices._fields]
        if unknown:
            raise bad(f"prices[{unknown[0]!r}]", prices[unknown[0]], allowed)
        given = dict(prices)
    else:
        raise bad("prices", prices, allowed)
    for key, value in given.items():
        given[key] = number(f"prices[{key!r}]", value, minimum=0, allowed="a finite price per hour >= 0")
    for key, field in (("cpu_hour", "cpu"), ("gib_hour", "memory"), ("gpu_hour", "gpu")):
        if given.get(key) and (resources is None or not getattr(resources, field)):
            raise bad(f"prices[{key!r}]", given[key], f"a price per {field} hour needs resources with {field} "
                      f"(resources={resources!r}); or give replica_hour")
    return Prices(**given)


def _values(knob: str, value: Any) -> List[Any]:
    allowed = {"idle_ttl": "int seconds, timedelta or None", "scaledown_ttl": "int seconds or timedelta"}.get(
        knob, "an int")
    if isinstance(value, (list, tuple, range)):
        try:
            count = len(value)
        except OverflowError:  # a range too long for len()
            count = MOST_COMBINATIONS + 1
        if count > MOST_COMBINATIONS:
            raise bad(f"candidates[{knob!r}]", value, f"at most {MOST_COMBINATIONS:,} values: {_NARROW}")
    values = list(value) if isinstance(value, (list, tuple, range)) else [value]
    if not values:
        raise bad(f"candidates[{knob!r}]", value, f"at least one value: {allowed}, or a list or range of them")
    for v in values:
        ok = is_int(v)
        if knob.endswith("_ttl"):
            ok = ok or isinstance(v, timedelta) or (v is None and knob == "idle_ttl")
        if not ok:
            raise bad(f"candidates[{knob!r}]", value, f"{allowed}, or a list or range of them (not {v!r})")
    return values


def _skip_reason(mn, mx, conc, sd, idle) -> Optional[str]:
    def secs(x):
        return x.total_seconds() if isinstance(x, timedelta) else x
    if mx < 1:
        return "max < 1"
    if mn < 0:
        return "min < 0"
    if mn > mx:
        return "min > max"
    if conc < 1:
        return "concurrency < 1"
    if secs(sd) < MIN_TTL_SECONDS:
        return f"scaledown_ttl < {MIN_TTL_SECONDS} s"
    if idle is not None and secs(idle) < MIN_TTL_SECONDS:
        return f"idle_ttl < {MIN_TTL_SECONDS} s"
    return None


def candidate_policies(candidates: Any) -> Tuple[List[ReusePolicy], Dict[str, int]]:
    """The policies to simulate and the combinations skipped, counted by reason.

    ``candidates`` is a mapping of knob (:data:`KNOBS`) to a value or a list or range of
    values (a knob left out keeps ``ReusePolicy``'s default), whose every combination is
    a candidate; or a sequence of ``ReusePolicy``. A combination the rules refuse
    (``min > max``, a TTL under 30 s, ...) and a repeated policy are skipped and counted.
    """
    skipped: Dict[str, int] = {}
    seen: set = set()
    out: List[ReusePolicy] = []

    def keep(policy: ReusePolicy) -> None:
        if policy in seen:
            skipped["duplicate"] = skipped.get("duplicate", 0) + 1
        else:
            seen.add(policy)
            out.append(policy)

    if isinstance(candidates, Mapping):
        unknown = [k for k in candidates if k not in KNOBS]
        if unknown:
            raise bad("candidates", unknown[0], f"a knob: one of {', '.join(KNOBS)}")
        lists = [_values(k, candidates[k]) if k in candidates else list(_DEFAULTS[k]) for k in KNOBS]
        combinations = math.prod(map(len, lists))
        if combinations > MOST_COMBINATIONS:
            sizes = " x ".join(f"{len(v)} {k}" for k, v in zip(KNOBS, lists) if len(v) > 1)
            raise bad("candidates", _summary(candidates), f"at most {MOST_COMBINATIONS:,} combinations of the knobs' "
                      f"values; these make {combinations:,} ({sizes}): {_NARROW}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a policy that can starve shows it in its simulation
            for mn, mx, conc, sd, idle in itertools.product(*lists):
                reason = _skip_reason(mn, mx, conc, sd, idle)
                if reason is not None:
                    skipped[reason] = skipped.get(reason, 0) + 1
                    continue
                keep(ReusePolicy(replicas=(mn, mx), concurrency=conc, scaledown_ttl=sd, idle_ttl=idle))
    elif isinstance(candidates, (list, tuple)) and candidates:
        for k, p in enumerate(candidates):
            if not isinstance(p, ReusePolicy):
                raise bad(f"candidates[{k}]", p, "a reuse_ref.ReusePolicy (or give a mapping of knobs to values)")
            keep(p)
    else:
        raise bad("candidates", candidates, f"a mapping of knobs ({', '.join(KNOBS)}) to values, "
                  "or a non-empty list of ReusePolicy")
    if not out:
        raise bad("candidates", candidates, f"at least one valid combination (all were skipped: {counts_text(skipped)})")
    for policy in out:  # refused now, rather than by each worker's simulation
        check_min_replicas(policy, "a candidate of the plan")
    if len(out) > MOST_CANDIDATES:
        raise bad("candidates", _summary(candidates), f"at most {MOST_CANDIDATES:,} candidate policies, each a whole "
                  f"simulation; these are {len(out):,}: {_NARROW}")
    return out, skipped


def per_environment_form(candidates: Any) -> bool:
    """Whether ``candidates`` are given per environment, ``{env: knobs | [ReusePolicy...] |
    ReusePolicy | None}``, rather than for the one environment (a mapping of knobs, or a list)."""
    return isinstance(candidates, Mapping) and bool(candidates) and not set(candidates) <= set(KNOBS)


def environment_candidates(candidates: Mapping, envs: List[str]) -> Tuple[List[Dict[str, Any]], Dict[str, int]]:
    """The candidates of a plan of several environments: one policy per environment, every
    combination of each environment's candidates, in the order of ``envs`` (the workload's
    environments). Each environment's value is a mapping of knobs or a list of policies (as
    :func:`candidate_policies` reads them, its skipped combinations counted under
    ``"env: reason"``), one ``ReusePolicy`` (fixed), or ``None`` (no reuse: a fresh replica
    for each attempt). Every environment of the workload needs an entry, and no other is allowed."""
    for key in candidates:
        if key not in envs:
            allowed = (f"an environment the workload names ({', '.join(map(repr, envs))})" if envs else
                       "an environment the workload names, and it names none: give the knobs without environments")
            raise bad("candidates", key, f"{allowed}, or a knob ({', '.join(KNOBS)}) for a workload of one environment")
    missing = [env for env in envs if env not in candidates]
    if missing:
        raise bad("candidates", list(candidates), f"an entry for every environment of the workload: {missing[0]!r} has "
                  f"none (knobs, a list of ReusePolicy, one ReusePolicy, or None for no reuse)")
    lists: List[List[Any]] = []
    skipped: Dict[str, int] = {}
    for env in envs:
        value = candidates[env]
        if value is None or value == "off":
            lists.append([None])
        elif isinstance(value, ReusePolicy):
            check_min_replicas(value, f"the candidate of environment {env!r}")
            lists.append([value])
        else:
            try:
                policies, own = candidate_policies(value)
            except ValueError as e:
                raise ValueError(f"candidates[{env!r}]: {e}") from None
            skipped.update((f"{env}: {reason}", n) for reason, n in own.items())
            lists.append(policies)
    total = math.prod(map(len, lists))
    if total > MOST_CANDIDATES:
        sizes = " x ".join(f"{len(v)} {env}" for env, v in zip(envs, lists))
        raise bad("candidates", {env: f"{len(v):,} policies" for env, v in zip(envs, lists)},
                  f"at most {MOST_CANDIDATES:,} combinations of the environments' policies, each a whole simulation; "
                  f"these make {total:,} ({sizes}): {_NARROW}")
    return [dict(zip(envs, combo)) for combo in itertools.product(*lists)], skipped


def environment_prices(prices: Any, resources: Mapping[str, Optional[Resources]],
                       envs: List[str]) -> Dict[str, Prices]:
    """Each environment's :class:`Prices`: ``prices`` for all of them, or ``{env: prices}``
    with an entry for each. A price per core, GiB or GPU needs that environment's
    ``resources`` to hold it; the error names the environment."""
    per_env = isinstance(prices, Mapping) and bool(prices) and all(k in envs for k in prices) \
        and not any(k in Prices._fields for k in prices)
    if per_env:
        missing = [env for env in envs if env not in prices]
        if missing:
            raise bad("prices", dict(prices), f"prices for every environment of the workload: {missing[0]!r} has none "
                      f"(or one mapping of prices for all of them)")
    out = {}
    for env in envs:
        try:
            out[env] = as_prices(prices[env] if per_env else prices, resources.get(env))
        except ValueError as e:
            raise ValueError(f"environment {env!r}: {e}") from None
    return out


def policies_text(policies: Any) -> str:
    """A candidate as a reason names it: ``repr`` of one policy, or ``driver: ReusePolicy(...);
    worker: ReusePolicy(...)`` (``no reuse`` for ``None``) for a policy per environment."""
    if not isinstance(policies, dict):
        return repr(policies)
    return "; ".join(f"{env}: {'no reuse' if p is None else repr(p)}" for env, p in policies.items())


def _summary(candidates: Any) -> Any:
    """``candidates`` as an error shows it: a knob's long list of values by its ends and length."""
    if not isinstance(candidates, Mapping):
        return f"{len(candidates):,} policies" if isinstance(candidates, (list, tuple)) else candidates
    out = {}
    for knob, value in candidates.items():
        if isinstance(value, (list, tuple)) and len(value) > 6:
            value = f"[{value[0]!r}, ..., {value[-1]!r}] ({len(value):,} values)"
        out[knob] = value
    return out


def counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in counts.items()) or "none"
