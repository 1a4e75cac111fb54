"""Cold starts as a seeded distribution: a fixed time, observed samples, or a lognormal.

A replica's cold start (image pull, boot, imports) is rarely the same twice, and its
spread is what the tail of queue wait feels first. A simulation therefore takes either a
number of seconds, the same for every replica, or a :class:`ColdStart`: each replica
start draws its time from the distribution, in the order replicas start, from a
``random.Random`` seeded by ``seed``. Each simulation draws afresh from that seed, so
the same arguments give the same records, and every candidate of a plan sees the same
sequence of draws.

* :meth:`ColdStart.samples`: cold starts you measured, drawn at random with replacement;
* :meth:`ColdStart.lognormal`: from a median and a 95th percentile (``mu = ln(median)``,
  ``sigma = (ln(p95) - ln(median)) / 1.645``), the usual shape of start-up times.
"""
from __future__ import annotations

import math
import random
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional, Sequence, Tuple

from ..config.validation import bad, is_number, number, strict_int

__all__ = ["ColdStart", "parse_cold_start", "check_cold_start", "per_environment", "Z95"]

Z95 = 1.6448536269514722
"""The 95th percentile of the standard normal distribution."""

_ALLOWED = ('a number of seconds >= 0, "samples:S1,S2,..." (seconds observed, drawn at random) or '
            '"lognormal:MEDIAN,P95" (seconds, 0 < MEDIAN <= P95)')


class ColdStart(NamedTuple):
    """A seeded distribution of cold starts (build it with :meth:`samples` or :meth:`lognormal`)."""

    kind: str
    values: Tuple[float, ...]
    seed: int = 0

    @classmethod
    def samples(cls, samples: Any, seed: int = 0) -> "ColdStart":
        """Draw each cold start at random (with replacement) from ``samples``, in seconds."""
        items = list(samples) if isinstance(samples, (list, tuple)) else None
        if not items or not all(_seconds_ok(x) for x in items):
            raise bad("cold_start samples", samples, "a non-empty list of finite numbers of seconds >= 0")
        return cls("samples", tuple(float(x) for x in items), strict_int("seed", seed))

    @classmethod
    def lognormal(cls, median: float, p95: float, seed: int = 0) -> "ColdStart":
        """A lognormal whose median and 95th percentile are given, in seconds."""
        median = number("median", median, above=0, allowed="a finite number of seconds > 0")
        p95 = number("p95", p95, minimum=median, allowed=f"a finite number of seconds >= the median ({median!r})")
        return cls("lognormal", (median, p95), strict_int("seed", seed))

    def sampler(self) -> Callable[[], float]:
        """A fresh draw function, seeded: the n-th call gives the n-th replica's cold start."""
        rng = random.Random(self.seed)
        if self.kind == "samples":
            values = self.values
            return lambda: rng.choice(values)
        median, p95 = self.values
        mu, sigma = math.log(median), (math.log(p95) - math.log(median)) / Z95
        return lambda: rng.lognormvariate(mu, sigma)

    def __str__(self) -> str:
        if self.kind == "samples":
            return f"samples:{','.join(f'{v:g}' for v in self.values)} (seed {self.seed})"
        return f"lognormal:{self.values[0]:g},{self.values[1]:g} (seed {self.seed})"


def _seconds_ok(x: Any) -> bool:
    return is_number(x) and x >= 0


def check_cold_start(value: Any) -> Tuple[float, Optional[Callable[[], float]]]:
    """``(seconds, None)`` for a fixed cold start, or ``(0.0, draw)`` for a distribution."""
    if isinstance(value, ColdStart):
        return 0.0, value.sampler()
    return number("cold_start", value, minimum=0,
                  allowed="a finite number of seconds >= 0, or a reuse_ref.sim.cold_starts.ColdStart"), None


def per_environment(value: Any, envs: Sequence[str], name: str = "cold_start") -> Any:
    """A cold start given per environment, ``{env: seconds or ColdStart}``, checked against the
    simulation's environments ``envs``: every one needs its own (a recording measures each
    environment's), and no other is allowed. With one environment the answer is that
    environment's value, so that the simulation is the one of a single cold start; with
    several, ``{env: (seconds, draw or None)}`` as :func:`check_cold_start` gives each.
    A value that is not a mapping is returned as it is."""
    if not isinstance(value, Mapping):
        return value
    envs = list(envs)
    for env in value:
        if env not in envs:
            raise bad(name, dict(value), f"a cold start per environment of the simulation ({', '.join(map(repr, envs))})"
                      f", not {env!r}")
    missing = [env for env in envs if env not in value]
    if missing:
        raise bad(name, dict(value), f"a cold start for every environment of the simulation: {missing[0]!r} has none "
                  f"(give {{{', '.join(repr(e) + ': ...' for e in envs)}}}, or one value for all)")
    out: Dict[str, Tuple[float, Optional[Callable[[], float]]]] = {}
    for env in envs:
        try:
            out[env] = check_cold_start(value[env])
        except ValueError:
            raise bad(f"{name}[{env!r}]", value[env], _ALLOWED.replace('"samples', 'ColdStart.samples', 1)) from None
    if len(envs) == 1:
        return value[envs[0]]
    return out


def parse_cold_start(text: str, seed: int = 0):
    """The command line's form: ``"10"``, ``"samples:8,9,30"`` or ``"lognormal:10,40"``."""
    kind, sep, rest = text.partition(":") if isinstance(text, str) else ("", "", "")
    try:
        if not sep:
            value = float(text)
            if _seconds_ok(value):
                return value
        else:
            numbers = [float(x) for x in rest.split(",")]
            if kind.strip() == "samples":
                return ColdStart.samples(numbers, seed)
            if kind.strip() == "lognormal" and len(numbers) == 2:
                return ColdStart.lognormal(numbers[0], numbers[1], seed)
    except ValueError:
        pass
    raise bad("--cold-start", text, _ALLOWED)
