"""Choosing a policy for a workload: every candidate simulated and charged over one window.

The question a plan answers is "which four numbers for this traffic, at what cost?"
(section "Planning" of the Concepts page). :func:`plan` builds the candidates (every
combination of the values given for each knob, or a list of policies), skips and counts
the combinations the rules refuse, simulates the others, and charges every one of them
over the same window ``[0, horizon]`` (section "The trace and its measures"): a pool that
never stops is charged until the window's end, as long as the others could have been,
not only until its last task. Then it keeps the cheapest candidate whose queue wait
meets the target, draws the Pareto front of cost against that wait, and says why every
other candidate lost. It also answers under the other reading of rule 3
(:mod:`reuse_ref.plan.readings`): what its recommendation costs there, and what that
reading would recommend, so that a reader sees whether the answer depends on it.

Candidates are independent, so they run in worker processes (``concurrent.futures``)
and come back in order: the answer does not depend on ``workers``.
"""
from __future__ import annotations

import csv
import math
import sys
import dataclasses
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from .readings import OtherReading, other_reading, runs
from .sweep import Outcome, context_of, default_workers, run_all, run_on_ray
from ..config.resources import as_resources
from ..config.validation import bad, number, optional_flag, strict_int
from ..sim.cold_starts import check_cold_start
from ..sim.compiled import check_engine, covers, use_twin
from ..sim.contention import check_cpu_bound
from .candidates import Prices, Target, as_prices, as_target, candidate_policies, counts_text
from ..config.policy import ReusePolicy
from ..core.pool import PACED, check_scaledown
from ..config.resources import Resources
from ..trace import Measures
from ..trace.measures import over_window
from ..sim.workloads import Job, check_jobs, check_workload

__all__ = ["plan", "Plan", "Candidate", "front_table", "from_args", "tie_order"]

_AUTO_BAR = 100
_WORKERS_ALLOWED = ("None (all cores), an int >= 1 (1 runs the candidates one after another), "
                    "or 'ray' (Ray tasks; pip install 'reuse-ref[ray]')")


ALWAYS_ON_NOTE = ("idle_ttl=None (always on) is the reference's own value: the Flyte SDK refuses it; in a Flyte "
                  "program write a long timeout instead, such as idle_ttl=timedelta(days=7)")
"""What a plan's summary adds under a recommendation that never stops (``idle_ttl=None``)."""


class Candidate(NamedTuple):
    """One candidate of a plan: its policy, its measures over the window, the target's
    percentile of queue wait (``value``), its ``cost``, its ``verdict``
    (``"recommended"`` or ``"rejected"``), the ``category`` of the rejection
    (``"starves"``, ``"misses the target"``, ``"dominated"``, ``"costs more"``, ``"tie"``; ``""``
    when recommended) and a ``reason`` in words."""

    policy: ReusePolicy
    measures: Measures
    value: float
    cost: float
    verdict: str
    category: str
    reason: str

    @property
    def replica_hours(self) -> float:
        """Replica-hours over the window."""
        return self.measures.replica_seconds / 3600.0

    def as_dict(self) -> Dict[str, Any]:
        """A flat, JSON-ready row: the policy's knobs, the value, the cost, the measures, the verdict."""
        p = self.policy
        row: Dict[str, Any] = {
            "policy": repr(p), "min": p.min_replicas, "max": p.max_replicas, "concurrency": p.concurrency,
            "scaledown_ttl": p.scaledown_ttl.total_seconds(),
            "idle_ttl": None if p.idle_ttl is None else p.idle_ttl.total_seconds(),
            "value": self.value, "cost": self.cost, "replica_hours": self.replica_hours,
        }
        row.update(self.measures.as_dict())
        row.update(verdict=self.verdict, category=self.category, reason=self.reason)
        return row


@dataclasses.dataclass(frozen=True)
class Plan:
    """What :func:`plan` found.

    * ``candidates``: every candidate simulated, in the order they were built, with its
      measures over ``[0, horizon]``, value, cost and verdict (:class:`Candidate`);
    * ``recommended``: the cheapest candidate that meets ``target`` and does not starve
      (ties: the lower wait, then fewer replica-hours, then the smaller policy: fewer
      ``max`` replicas, then fewer ``min``, lower ``concurrency``, shorter ``scaledown_ttl``,
      shorter ``idle_ttl``; :func:`tie_order`), or ``None``;
    * ``front``: the Pareto front of cost against the target's percentile (candidates no
      other one beats on both, starving ones left out), cheapest first;
    * ``skipped``: the combinations not simulated, counted by reason (``"min > max"``,
      ``"idle_ttl < 30 s"``, ...);
    * ``scaledown``: the reading of rule 3 the candidates were simulated under;
    * ``other_reading``: the same plan under the other reading
      (:class:`~reuse_ref.plan.readings.OtherReading`): the recommendation's cost and
      percentile there, and that reading's own recommendation; ``depends_on_reading``
      says whether the two recommend different policies.
    """

    candidates: Tuple[Candidate, ...]
    recommended: Optional[Candidate]
    front: Tuple[Candidate, ...]
    skipped: Dict[str, int]
    target: Target
    prices: Prices
    horizon: float
    scaledown: str = PACED
    other_reading: Optional[OtherReading] = None

    @property
    def depends_on_reading(self) -> Optional[bool]:
        """Whether the other reading of rule 3 recommends another policy (``None``: not asked)."""
        return None if self.other_reading is None else not self.other_reading.same

    @property
    def rejected(self) -> Dict[str, int]:
        """The rejected candidates, counted by the category of their reason."""
        out: Dict[str, int] = {}
        for c in self.candidates:
            if c.verdict == "rejected":
                out[c.category] = out.get(c.category, 0) + 1
        return out

    def to_dict(self) -> Dict[str, Any]:
        """The plan as one JSON-ready object: ``recommended``, ``front``, ``rejected``,
        ``skipped``, ``candidates``, ``target``, ``horizon``, ``scaledown`` and
        ``other_reading`` (:meth:`~reuse_ref.plan.readings.OtherReading.as_dict`)."""
        t = self.target
        return {
            "recommended": None if self.recommended is None else self.recommended.as_dict(),
            "front": [c.as_dict() for c in self.front],
            "rejected": self.rejected,
            "skipped": dict(self.skipped),
            "candidates": [c.as_dict() for c in self.candidates],
            "target": {"percentile": t.percentile, "seconds": t.seconds, "since": t.since, "until": t.until},
            "prices": self.prices._asdict(),
            "horizon": self.horizon,
            "scaledown": self.scaledown,
            "other_reading": None if self.other_reading is None else self.other_reading.as_dict(),
        }

    def rows(self) -> List[Dict[str, Any]]:
        """Every candidate as a flat row (:meth:`Candidate.as_dict`)."""
        return [c.as_dict() for c in self.candidates]

    def to_csv(self, path_or_file) -> None:
        """Write :meth:`rows` as CSV (a path or an open text file); ``None`` is an empty field."""
        if hasattr(path_or_file, "write"):
            self._write_csv(path_or_file)
        else:
            with open(path_or_file, "w", newline="", encoding="utf-8") as f:
                self._write_csv(f)

    def _write_csv(self, f) -> None:
        rows = self.rows()
        columns = list(rows[0]) if rows else list(Candidate._fields)
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        for row in rows:
            w.writerow(["" if row[k] is None else (repr(row[k]) if isinstance(row[k], float) else row[k])
                        for k in columns])

    def to_dataframe(self):
        """:meth:`rows` as a pandas ``DataFrame``."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Plan.to_dataframe needs pandas, which is not installed: pip install pandas") from None
        return pd.DataFrame(self.rows())

    def summary(self) -> str:
        """The recommendation and why, the other reading of rule 3 in one line, the skipped and
        rejected counts, then the front as a table."""
        t = self.target
        lines = []
        r = self.recommended
        if r is None:
            lines.append(f"no candidate meets the target {t}: see the front below for the trade-off")
        else:
            lines.append(f"recommended: {r.policy!r}")
            lines.append(f"  {r.reason}")
            if r.policy.idle_ttl is None:
                lines.append(f"  note: {ALWAYS_ON_NOTE}")
        if self.other_reading is not None:
            lines.append(self.other_reading.line(t.measure))
        lines.append(f"{len(self.candidates)} candidate(s) simulated over the window [0, {self.horizon:g}] s; "
                     f"skipped: {counts_text(self.skipped)}; rejected: {counts_text(self.rejected)}")
        lines.append("")
        lines.append("Pareto front (cost against the target's percentile), cheapest first:")
        lines.extend(front_table(self.front, t))
        return "\n".join(lines)


def front_table(front: Sequence[Candidate], target: Target) -> List[str]:
    """The front as lines of a text table."""
    head = ("policy", f"{target.measure} s", "cost", "replica-h", "verdict")
    body = [(repr(c.policy), f"{c.value:.6g}", f"{c.cost:.6g}", f"{c.replica_hours:.6g}",
             c.verdict if c.verdict == "recommended" else c.category) for c in front]
    widths = [max(len(row[k]) for row in [head] + body) for k in range(len(head))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [head] + body]


def _workers(workers: Any) -> Any:
    if workers == "ray":
        return workers
    if workers is None:
        return default_workers()
    return strict_int("workers", workers, minimum=1, allowed=_WORKERS_ALLOWED)


def tie_order(policy: ReusePolicy) -> tuple:
    """How a plan orders policies that tie on cost, wait and replica-hours: the smaller one
    first, by what a reader sees in each: fewer ``max`` replicas, then fewer ``min``, then
    the lower ``concurrency``, the shorter ``scaledown_ttl`` and the shorter ``idle_ttl``
    (``None``, always on, last); the policy's repr only separates policies that differ in
    nothing else (their ``scope``)."""
    idle = float("inf") if policy.idle_ttl is None else policy.idle_ttl.total_seconds()
    return (policy.max_replicas, policy.min_replicas, policy.concurrency, policy.scaledown_ttl.total_seconds(),
            idle, repr(policy))


# ---------------------------------------------------------------------- the plan
def plan(workload: Sequence[Job], candidates: Any, target: Any, prices: Any, cold_start: float = 10.0,
         resources: Any = None, cpu_bound: float = 0.0, horizon: Optional[float] = None,
         workers: Any = None, progress: Optional[bool] = None, ray_address: Optional[str] = None,
         scaledown: str = PACED, engine: str = "auto") -> Plan:
    """Simulate every candidate policy on ``workload`` and choose the cheapest that meets ``target``.

    * ``workload``: a list of :class:`~reuse_ref.sim.workloads.Job` (one environment).
    * ``candidates``: a mapping of knob to values, such as ``{"min": range(0, 9), "max":
      range(1, 17), "concurrency": [1, 4, 8], "scaledown_ttl": [30, 120, 600],
      "idle_ttl": [300, 3600, None]}``, whose every combination is a candidate, or a list
      of ``ReusePolicy`` (see :func:`reuse_ref.plan.candidates.candidate_policies`).
    * ``target``: ``"p95<=30"`` (p50, p95 or p99 of queue wait, at most that many
      seconds), a :class:`~reuse_ref.plan.candidates.Target` (which may hold a time window), or ``("p95<=30",
      (since, until))``: the percentile of the tasks first queued in that window.
    * ``prices``: a mapping (or :class:`~reuse_ref.plan.candidates.Prices`) of ``cpu_hour``, ``gib_hour``,
      ``gpu_hour`` (each needs ``resources`` with that resource) and ``replica_hour``.
    * ``cold_start``, ``resources``: as in :func:`reuse_ref.sim.event_loop.simulate`; a seeded
      :class:`~reuse_ref.sim.cold_starts.ColdStart` gives every candidate the same draws.
    * ``cpu_bound``: the CPU share of each task's duration (0 to 1; 0, the default, is
      tasks that wait on I/O, for which concurrency costs no speed). That part shares the
      replica's ``resources.cpu`` cores, at least one, with the tasks running beside it,
      as in :func:`reuse_ref.sim.event_loop.simulate`.
    * ``horizon``: the end of the common window, in seconds; by default the latest end of
      any candidate's last task plus the largest finite ``idle_ttl`` among them
      (:func:`reuse_ref.trace.window.common_horizon`). Every candidate is charged over
      ``[0, horizon]``: a replica still alive at its trace's end is charged until then.
    * ``workers``: processes to run the candidates in; ``None`` uses every core, ``1``
      runs them here one after another; ``"ray"`` runs them as Ray tasks, on the cluster
      at ``ray_address`` (or the Ray this process is connected to, or a local instance
      started for the sweep, bound to 127.0.0.1). The answer is the same every way.
    * ``progress``: a tqdm bar over the candidates; ``None`` shows one past 100 of them.
    * ``scaledown``: the reading of rule 3 to plan under, ``"paced"`` (default) or
      ``"per_replica"``. Every plan also simulates the candidates under the other reading
      (those it can change: :mod:`reuse_ref.plan.readings`) and reports what its
      recommendation costs there and what that reading recommends (``Plan.other_reading``).
    * ``engine``: how each candidate is simulated: ``"auto"`` (the default) by the compiled
      twin of the simulator wherever it covers the candidate (one pool of independent jobs
      without timeouts, ``cpu_bound=0``) when numba is installed and the sweep is large, by
      ``simulate``'s Python loop otherwise; ``"python"``, always the loop; ``"compiled"``,
      always the twin (a candidate it does not cover is a ``ValueError``). The plan is the
      same every way (:mod:`reuse_ref.sim.compiled`).

    Returns a :class:`Plan`. Bad input raises ``ValueError`` naming the parameter.
    """
    t = as_target(target)
    progress = optional_flag("progress", progress, f"a bar past {_AUTO_BAR} candidates")
    res = as_resources(resources)
    price = as_prices(prices, res)
    check_cold_start(cold_start)  # checked here; each candidate's simulation draws from it afresh
    cpu_bound = check_cpu_bound(cpu_bound)
    scaledown = check_scaledown(scaledown)
    engine = check_engine(engine)
    if horizon is not None:
        horizon = number("horizon", horizon, minimum=0, allowed="a finite number of seconds >= 0, or None")
    n_workers = _workers(workers)
    if ray_address is not None and (n_workers != "ray" or not isinstance(ray_address, str) or not ray_address):
        raise bad("ray_address", ray_address, "a Ray cluster's address, with workers='ray'")
    jobs = check_jobs(workload)
    if any(job.env is not None for job in jobs):
        envs = sorted({job.env for job in jobs if job.env is not None})
        if len(envs) > 1:
            raise bad("workload", f"jobs in environments {envs}", "jobs of one environment")
        # the one environment's name is a label here: each candidate is simulated as that environment
        jobs = [job._replace(env=None) for job in jobs]
    policies, skipped = candidate_policies(candidates)

    todo = runs(policies, scaledown)  # every candidate, then those the other reading can change
    bar = None
    if progress or (progress is None and len(policies) > _AUTO_BAR):
        def bar():
            from tqdm import tqdm
            return tqdm(total=len(todo), unit="candidate", desc="plan, both readings", mininterval=0.5)
    checked = check_workload(jobs)
    twin = any([use_twin(engine, covers(p, checked, cpu_bound=cpu_bound), len(jobs) * len(todo)) for p in policies])
    context = context_of(jobs, cold_start, res, t.percentile, t.since, t.until, cpu_bound,
                         "auto" if twin else "python")
    if n_workers == "ray":
        outcomes = run_on_ray(todo, context, ray_address, bar)
    else:
        outcomes = run_all(todo, context, n_workers, bar)
    n = len(policies)
    main = _choose(policies, outcomes[:n], skipped, t, price, res, horizon)
    at = next((k for k, c in enumerate(main.candidates) if c is main.recommended), None)
    other = other_reading(policies, outcomes, scaledown,
                          lambda there, window: _choose(policies, there, skipped, t, price, res, window),
                          main.horizon, horizon is not None, at)
    return dataclasses.replace(main, scaledown=scaledown, other_reading=other)


def _window_horizon(policies: Sequence[ReusePolicy], outcomes: Sequence[Outcome]) -> float:
    end = max(o.last_end for o in outcomes)
    ttls = [p.idle_ttl.total_seconds() for p in policies if p.idle_ttl is not None]
    return end + max(ttls, default=0.0)


def _overflowing(prices: Prices, m: Any, policy: ReusePolicy) -> ValueError:
    """The error of prices whose cost of one candidate is past the largest float: every cost
    would print as ``inf`` and every candidate tie."""
    given = {k: v for k, v in prices._asdict().items() if v}
    names = ", ".join(f"prices[{k!r}]={v!r}" for k, v in given.items())
    return ValueError(f"{names} is not valid: the cost of {policy!r} ({m.replica_seconds / 3600:.6g} replica-hours "
                      f"over the window) is past the largest float ({sys.float_info.max:g}), so no two costs "
                      f"could be told apart; give the prices in a larger unit of money (thousands, millions)")


def _choose(policies: Sequence[ReusePolicy], outcomes: Sequence[Outcome], skipped: Dict[str, int],
           target: Target, prices: Prices, resources: Optional[Resources], horizon: Optional[float]) -> Plan:
    """Charge every run over the common window, then pick, draw the front and give reasons."""
    latest = max(o.last_end for o in outcomes)
    if horizon is None:
        horizon = _window_horizon(policies, outcomes)
    elif horizon < latest:
        raise bad("horizon", horizon, f"a window that holds every task: at least {latest!r} s, when the last "
                  f"candidate's last task ends")
    horizon = float(horizon)
    rows = []
    for p, o in zip(policies, outcomes):  # as Trace.measures(horizon=...) charges them
        m = over_window(o.measures, o.spans, horizon, {env: p for env in o.spans}, {env: resources for env in o.spans})
        cost = prices.cost(m)
        if not math.isfinite(cost):
            raise _overflowing(prices, m, p)
        rows.append((p, m, o.value, cost))

    def order(r):  # cost, then the wait, then replica-hours, then the smaller policy: never a tie
        return (r[3], r[2], r[1].replica_seconds, tie_order(r[0]))

    meets = [r for r in rows if r[1].starved == 0 and r[2] <= target.seconds]
    best = min(meets, key=order) if meets else None
    # Pareto front of (cost, value) among those that do not starve; the dominator of each other one
    ranked = sorted((r for r in rows if r[1].starved == 0), key=order)
    dominator: Dict[int, Any] = {}
    on_front = set()
    lowest = None  # the cheapest of the lowest values seen so far
    for r in ranked:
        if lowest is not None and (lowest[2] < r[2] or (lowest[2] == r[2] and lowest[3] < r[3])):
            dominator[id(r)] = lowest
        else:
            on_front.add(id(r))
        if lowest is None or r[2] < lowest[2]:
            lowest = r
    m_name = target.measure
    out = []
    for r in rows:
        p, m, value, cost = r
        if r is best:
            verdict, category = "recommended", ""
            reason = (f"the cheapest candidate with {target}: cost {cost:.6g} over the window "
                      f"[0, {horizon:g}] s ({m.replica_seconds / 3600:.6g} replica-hours), {m_name} {value:g} s")
        elif m.starved:
            verdict, category = "rejected", "starves"
            reason = f"starves: {m.starved} task(s) failed with starvation (rule 6)"
        elif value > target.seconds:
            verdict, category = "rejected", "misses the target"
            reason = f"misses the target by {value - target.seconds:g} s ({m_name} {value:g} s > {target.seconds:g} s)"
        elif id(r) in dominator:
            d = dominator[id(r)]
            verdict, category = "rejected", "dominated"
            reason = (f"dominated by {d[0]!r} (cost {d[3]:.6g} <= {cost:.6g}, "
                      f"{m_name} {d[2]:g} s <= {value:g} s)")
        elif cost == best[3]:
            verdict, category = "rejected", "tie"
            reason = (f"ties with the recommendation on cost ({cost:.6g}) and {m_name}; the recommendation "
                      f"comes first by {m_name}, then replica-hours, then as the smaller policy (max, min, "
                      f"concurrency, scaledown_ttl, idle_ttl)")
        else:
            verdict, category = "rejected", "costs more"
            reason = (f"meets the target with a lower {m_name} ({value:g} s) but costs {cost - best[3]:.6g} more "
                      f"than the recommendation")
        out.append(Candidate(p, m, value, cost, verdict, category, reason))
    by_id = {id(r): c for r, c in zip(rows, out)}
    front = tuple(by_id[id(r)] for r in ranked if id(r) in on_front)
    recommended = by_id[id(best)] if best is not None else None
    return Plan(tuple(out), recommended, front, dict(skipped), target, prices, horizon)


# ---------------------------------------------------------------------- the command line
_PRICE_OPTIONS = (("price_cpu_hour", "cpu_hour", "cpu", "--cpu"), ("price_gib_hour", "gib_hour", "memory", "--memory"),
                  ("price_gpu_hour", "gpu_hour", "gpu", "--gpu"), ("price_replica_hour", "replica_hour", None, None))


def from_args(args, resources: Optional[Resources]) -> Tuple[Plan, str]:
    """``reuse-ref plan``: the plan of the command's options (``args``, from ``argparse``)
    and the text to print (the summary, or one JSON object with ``--json``).

    Every bad option raises ``ValueError`` naming the option, before anything runs."""
    import json

    from .candidates import KNOBS, parse_target, parse_values
    from ..sim.workload_csv import read_csv

    candidates = {}
    for knob in KNOBS:
        text = getattr(args, knob)
        if text is not None:
            candidates[knob] = parse_values(text, "--" + knob.replace("_", "-"), none=knob == "idle_ttl")
    target = parse_target(args.target)
    if args.target_window is not None:
        since, sep, until = args.target_window.partition("..")
        try:
            window = (float(since), float(until)) if sep else None
        except ValueError:
            window = None
        if window is None or not (0 <= window[0] < window[1] < float("inf")):
            raise bad("--target-window", args.target_window, 'SINCE..UNTIL in seconds, such as "32400..36000"')
        target = target._replace(since=window[0], until=window[1])
    prices = {}
    for option, key, field, needs in _PRICE_OPTIONS:
        value = getattr(args, option)
        if value is None:
            continue
        name = "--" + option.replace("_", "-")
        value = number(name, value, minimum=0, allowed="a finite price per hour >= 0")
        if field is not None and value and (resources is None or not getattr(resources, field)):
            raise bad(name, value, f"a price per {field} hour needs {needs} (what one replica holds)")
        prices[key] = value
    if not prices:
        raise bad("prices", None, "give at least one of --price-cpu-hour, --price-gib-hour, --price-gpu-hour "
                  "or --price-replica-hour")
    if args.workers is not None and args.workers < 1:
        raise bad("--workers", args.workers, "an int >= 1 (1 runs the candidates one after another)")
    ray = getattr(args, "ray", None)
    if ray is not None and args.workers is not None:
        raise bad("--workers", args.workers, "not with --ray (Ray places the candidates itself)")
    try:
        jobs = read_csv(args.workload)
    except OSError as e:
        raise ValueError(f"--workload {args.workload}: {e.strerror or e}") from None
    check_cpu_bound(args.cpu_bound, "--cpu-bound")
    try:
        result = plan(jobs, candidates, target, prices, cold_start=args.cold_start, resources=resources,
                      cpu_bound=args.cpu_bound, horizon=args.horizon, progress=True,
                      workers="ray" if ray is not None else args.workers, ray_address=ray or None,
                      scaledown=getattr(args, "scaledown", PACED))
    except ValueError as e:  # a price the API names prices['replica_hour'] is --price-replica-hour here
        text = str(e)
        for option, key, _, _ in _PRICE_OPTIONS:
            text = text.replace(f"prices[{key!r}]", "--" + option.replace("_", "-"))
        raise ValueError(text) from None
    if args.json:
        text = json.dumps(result.to_dict(), allow_nan=False)
    else:
        text = result.summary()
    return result, text
