"""Runs that arrive over time: a workload made of whole runs, each a copy of one call tree.

A recorded run (``reuse-ref run --workload-out calls.csv``, or
:func:`~reuse_ref.sim.recorded.recorded_workload`) is one program's calls. Traffic is
that program started again and again: "about 40 runs an hour", "busier from 9:00 to
17:00", "these start times from last Tuesday", "50 at once at 9:00". :func:`runs` makes
such a workload: each run is a copy of the call tree, its top-level calls shifted to the
run's start (the tree's first call at the start), its children kept as they are (their
``at`` counts from their parent's start), every id prefixed with the run's number
(``r17/main#1``, the 17th run to start) so that the copies never collide and a trace
still says which run a call belongs to.

Arrivals, exactly one of:

* ``rate``: runs per hour, a Poisson process over ``hours`` from ``at``;
* ``profile``: 24 rates, runs per hour for each hour of the day (hour 0 is the first
  hour after time 0, as for :func:`~reuse_ref.sim.workloads.diurnal`), a Poisson process
  whose rate changes on the hour, over ``hours`` from ``at``;
* ``starts``: the start times themselves, in seconds (:func:`read_run_starts` reads them
  from a CSV file);
* ``burst``: that many runs at once, at ``at``.

Draws come from ``random.Random(seed)``: the same arguments give the same workload on
every machine.
"""
from __future__ import annotations

import csv
import math
import os
import random
from typing import Any, Dict, List, Optional, Sequence

from ..config.validation import bad, is_number, number, strict_int
from .workloads import Job, check_workload

__all__ = ["runs", "RunArrivals", "read_run_starts", "arrivals_from_args", "HOUR", "CLI_NAMES"]

HOUR = 3600.0

_NAMES = {k: k for k in ("calls", "rate", "profile", "starts", "burst", "hours", "at", "seed")}


def runs(calls: Sequence[Job], *, rate: Optional[float] = None, profile: Optional[Sequence[float]] = None,
         starts: Optional[Sequence[float]] = None, burst: Optional[int] = None, hours: float = 24.0,
         at: float = 0.0, seed: int = 0) -> List[Job]:
    """A workload of whole runs, each a copy of the call tree ``calls`` (see the module docstring).

    >>> tree = [Job("main", 0.0, 5.0, "main"), Job("leaf", 1.0, 30.0, "leaf", parent="main")]
    >>> day = runs(tree, rate=40, hours=24, seed=1)      # about 960 runs, 2 calls each
    >>> [(j.id, j.parent) for j in day[:2]]
    [('r1/main', None), ('r1/leaf', 'r1/main')]
    >>> [j.at for j in runs(tree, starts=[600, 60])[::2]]   # runs are numbered in start order
    [60.0, 600.0]

    Raises ``ValueError`` naming the parameter, the value and what is allowed: a tree with a
    missing parent, a rate, profile, start or burst that is not valid, or not exactly one
    of ``rate``, ``profile``, ``starts`` and ``burst``.
    """
    return _runs(calls, rate, profile, starts, burst, hours, at, seed, _NAMES)


class RunArrivals:
    """The arguments of :func:`runs` kept, to draw the runs' arrivals again: ``draw(seed)`` is
    ``runs(calls, ..., seed=seed)``, the same jobs. A plan with odds
    (:func:`reuse_ref.plan.plan` with ``replications``) takes one as its workload: its first
    draw is ``draw()`` (the ``seed`` given here), the others are seeded by the plan.

    Built with the arguments of :func:`runs`, checked at once: a tree with a missing parent,
    a rate, profile, start or burst that is not valid raise ``ValueError`` here."""

    __slots__ = ("calls", "rate", "profile", "starts", "burst", "hours", "at", "seed", "_names")

    def __init__(self, calls: Sequence[Job], *, rate: Optional[float] = None,
                 profile: Optional[Sequence[float]] = None, starts: Optional[Sequence[float]] = None,
                 burst: Optional[int] = None, hours: float = 24.0, at: float = 0.0, seed: int = 0,
                 names: Optional[Dict[str, str]] = None) -> None:
        self.calls, self.rate, self.profile, self.starts = list(calls) if isinstance(calls, Sequence) and not \
            isinstance(calls, (str, bytes)) else calls, rate, profile, starts
        self.burst, self.hours, self.at, self.seed = burst, hours, at, seed
        self._names = dict(names or _NAMES)
        self.draw()  # checked now, before anything runs

    def draw(self, seed: Optional[int] = None) -> List[Job]:
        """The workload of one draw of the arrivals (``seed``; default: the one given)."""
        return _runs(self.calls, self.rate, self.profile, self.starts, self.burst, self.hours, self.at,
                     self.seed if seed is None else seed, self._names)

    @property
    def random(self) -> bool:
        """Whether another seed draws other arrivals (a rate or a profile; not start times or a burst)."""
        return self.rate is not None or self.profile is not None

    def __getstate__(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, state):
        for k, v in state.items():
            setattr(self, k, v)

    def __repr__(self) -> str:
        how = next(f"{k}={v!r}" for k, v in (("rate", self.rate), ("profile", self.profile),
                                             ("starts", self.starts), ("burst", self.burst)) if v is not None)
        return f"RunArrivals({len(self.calls)} calls, {how}, hours={self.hours!r}, at={self.at!r}, seed={self.seed!r})"


def _runs(calls: Sequence[Job], rate: Any, profile: Any, starts: Any, burst: Any, hours: Any, at: Any, seed: Any,
          names: Dict[str, str]) -> List[Job]:
    """:func:`runs`, with ``names`` saying how each parameter is called where it was given
    (``rate`` in Python, ``--rate`` on the command line)."""
    given = [k for k, v in (("rate", rate), ("profile", profile), ("starts", starts), ("burst", burst))
             if v is not None]
    if len(given) != 1:
        values = {"rate": rate, "profile": profile, "starts": starts, "burst": burst}
        shown = ", ".join(f"{names[k]}={values[k]!r}" for k in (given or values))
        options = ", ".join(names[k] for k in values)
        raise ValueError(f"{shown} is not valid: give exactly one of {options}: how the runs arrive")
    tree = _tree(calls, names["calls"])
    seed = strict_int(names["seed"], seed)
    if starts is not None:
        if at != 0.0:
            raise bad(names["at"], at, f"0: {names['starts']} are the runs' own start times")
        times = _start_times(starts, names["starts"])
    elif burst is not None:
        n = strict_int(names["burst"], burst, minimum=0, allowed="an int >= 0: how many runs start at once")
        times = [number(names["at"], at, minimum=0, allowed="a finite number of seconds >= 0")] * n
    else:
        at = number(names["at"], at, minimum=0, allowed="a finite number of seconds >= 0")
        hours = number(names["hours"], hours, above=0, allowed="a finite number of hours > 0")
        if rate is not None:
            rate = number(names["rate"], rate, minimum=0, allowed="a finite number of runs per hour >= 0")
            rates = [rate] * 24
        else:
            rates = _profile(profile, names["profile"])
        times = _poisson(rates, at, at + hours * HOUR, random.Random(seed))
    return _copies(tree, times)


def _tree(calls: Any, name: str) -> List[Job]:
    if isinstance(calls, (str, bytes)) or not isinstance(calls, Sequence):
        raise bad(name, calls, "a list of reuse_ref.Job (a recorded call tree, with parents)")
    jobs = check_workload(calls, where=lambda i: f"{name}[{i}]: ").jobs
    if not jobs:
        raise bad(name, calls, "a call tree of at least one job")
    text: Dict[str, Any] = {}
    for job in jobs:  # the copies' ids are text: two ids that read the same would collide
        other = text.setdefault(str(job.id), job.id)
        if other is not job.id and other != job.id:
            raise ValueError(f"{name}: ids {other!r} and {job.id!r} are not valid together: a run's copy names "
                             f"each call r<k>/<id>, and both read {str(job.id)!r}")
    return jobs


def _profile(profile: Any, name: str) -> List[float]:
    items = list(profile) if isinstance(profile, (list, tuple)) else None
    if items is None or len(items) != 24 or not all(is_number(r) and r >= 0 for r in items):
        raise bad(name, profile, "24 finite numbers >= 0: runs per hour for each hour of the day, from 0:00")
    return [float(r) for r in items]


def _start_times(starts: Any, name: str) -> List[float]:
    if isinstance(starts, (str, bytes)) or not isinstance(starts, Sequence):
        raise bad(name, starts, "a list of run start times in seconds (read_run_starts reads them from a CSV file)")
    times = []
    for i, t in enumerate(starts):
        times.append(number(f"{name}[{i}]", t, minimum=0, allowed="a finite number of seconds >= 0"))
    return sorted(times)


def _poisson(rates: List[float], since: float, until: float, rng: random.Random) -> List[float]:
    """Start times of a Poisson process whose rate (per hour) is ``rates[hour of the day]``,
    drawn hour by hour (exact for a rate constant within each hour: the process forgets)."""
    times: List[float] = []
    hour = math.floor(since / HOUR)
    while hour * HOUR < until:
        lo, hi = max(since, hour * HOUR), min(until, (hour + 1) * HOUR)
        per_second = rates[hour % 24] / HOUR
        if per_second > 0:
            t = lo + rng.expovariate(per_second)
            while t < hi:
                times.append(t)
                t += rng.expovariate(per_second)
        hour += 1
    return times


def _copies(tree: List[Job], times: List[float]) -> List[Job]:
    """One copy of ``tree`` per start time: run ``k`` (from 1) starts at ``times[k - 1]``."""
    first = min(job.at for job in tree if job.parent is None)
    out: List[Job] = []
    append = out.append
    for k, start in enumerate(times, 1):
        prefix = f"r{k}/"
        for job in tree:
            if job.parent is None:
                append(job._replace(id=prefix + str(job.id), at=start + (job.at - first)))
            else:
                append(job._replace(id=prefix + str(job.id), parent=prefix + str(job.parent)))
    return out


def read_run_starts(path: Any) -> List[float]:
    """Run start times from a CSV file: a header naming an ``at`` column (seconds), then one run
    a line (other columns are read past, blank lines skipped). Lines starting with ``#``
    before the header are comments. Raises ``ValueError`` naming the file and the line."""
    label = os.fspath(path) if not hasattr(path, "read") else getattr(path, "name", "<file>")
    if hasattr(path, "read"):
        return _read_starts(path, label)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return _read_starts(f, label)
    except UnicodeDecodeError as e:
        raise ValueError(f"{label}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None


def _read_starts(f: Any, label: str) -> List[float]:
    skipped = 0
    lines = iter(f)
    header = None
    for text in lines:
        skipped += 1
        if text.strip() and not text.lstrip("\ufeff").startswith("#"):
            header = [h.strip().lstrip("\ufeff") for h in next(csv.reader([text]))]
            break
    if header is None:
        raise ValueError(f"{label}, line {max(skipped, 1)}: the file is empty; it needs a header naming the at column "
                         f"(each run's start, in seconds)")
    if "at" not in header:
        raise ValueError(f"{label}, line {skipped}: the header must name an at column (each run's start, in "
                         f"seconds); found {','.join(header)}")
    column = header.index("at")
    reader = csv.reader(lines)
    out = []
    try:
        for row in reader:
            line = skipped + reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            text = row[column].strip() if column < len(row) else ""
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{label}, line {line}: at={text!r} is not valid: a finite number of seconds >= 0")
            out.append(value)
    except csv.Error as e:
        raise ValueError(f"{label}, line {skipped + reader.line_num}: not valid CSV ({e})") from None
    return out


CLI_NAMES = {"calls": "--calls", "rate": "--rate", "profile": "--profile", "starts": "--starts",
            "burst": "--burst", "hours": "--hours", "at": "--at", "seed": "--seed"}
"""How the command line names :func:`runs`' parameters, for its messages (``workload runs``, ``plan --calls``)."""


def arrivals_from_args(args: Any) -> RunArrivals:
    """The runs' arrivals that a command's options give (``args``, from ``argparse``): the
    recorded tree (``--calls``), how its runs arrive (``--rate``, ``--profile``, ``--starts``
    or ``--burst``), ``--hours``, ``--at`` and ``--seed``; options left out (None) take
    :func:`runs`' defaults. ``workload runs`` writes its first draw, ``plan --calls`` plans
    on it and its other draws. Every bad option raises ``ValueError`` naming it."""
    from .workload_csv import read_csv

    try:
        tree = read_csv(args.calls)
    except OSError as e:
        raise ValueError(f"--calls {args.calls}: {e.strerror or e}") from None
    profile = None
    if args.profile is not None:
        try:
            profile = [float(x) for x in args.profile.split(",")]
        except ValueError:
            raise bad("--profile", args.profile, "24 numbers >= 0 separated by commas: runs per hour for each "
                      "hour of the day, from 0:00") from None
        if len(profile) != 24 or not all(math.isfinite(r) and r >= 0 for r in profile):
            raise bad("--profile", args.profile, f"24 finite numbers >= 0 separated by commas (found {len(profile)} "
                      f"numbers): runs per hour for each hour of the day, from 0:00")
    starts = None
    if args.starts is not None:
        try:
            starts = read_run_starts(args.starts)
        except OSError as e:
            raise ValueError(f"--starts {args.starts}: {e.strerror or e}") from None
    return RunArrivals(tree, rate=args.rate, profile=profile, starts=starts, burst=args.burst,
                       hours=24.0 if args.hours is None else args.hours, at=0.0 if args.at is None else args.at,
                       seed=0 if args.seed is None else args.seed, names=CLI_NAMES)


def from_args(args: Any) -> List[Job]:
    """``reuse-ref workload runs``: the workload of the command's options (``args``, from
    ``argparse``); every bad option raises ``ValueError`` naming it, before anything is written."""
    return arrivals_from_args(args).draw()
