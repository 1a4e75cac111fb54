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

A plan can also look at several environments at once (a driver and its workers: one
policy per environment, every combination simulated together, so that starvation in any
of them rejects the combination, and the cost the sum of theirs), bound a run's time
rather than each task's wait (``run-p95<=600``), and give odds: with ``replications=K``
every candidate is simulated on the same K draws of its random inputs
(:mod:`reuse_ref.plan.draws`), and the recommendation is the cheapest that meets the
target in at least ``confidence`` of them (:mod:`reuse_ref.plan.odds`). One draw is the
plan without odds, exactly.

Candidates are independent, so they run in worker processes (``concurrent.futures``)
and come back in order: the answer does not depend on ``workers``.
"""
from __future__ import annotations

import csv
import math
import sys
import dataclasses
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from .readings import OtherReading, other_reading, runs
from .sweep import Outcome, Replication, SweepContext, default_workers, replicated, run_all, run_on_ray
from ..config.resources import as_resources
from ..config.validation import bad, number, optional_flag, strict_int
from ..sim.arrivals import RunArrivals
from ..sim.cold_starts import check_cold_start, per_environment
from ..sim.compiled import check_engine, covers, use_twin
from ..sim.contention import check_cpu_bound
from .candidates import (Prices, Target, as_prices, as_target, candidate_policies, counts_text,
                         environment_candidates, environment_prices, per_environment_form, policies_text)
from .draws import cold_start_draw, workload_draws
from .odds import Odds, Score, check_confidence, choose, odds_of, tie_order
from ..config.policy import ReusePolicy
from ..core.pool import PACED, check_scaledown
from ..trace import Measures
from .charges import charge, window_horizon
from ..sim.workloads import Job, check_jobs, check_workload

__all__ = ["plan", "Plan", "Candidate", "front_table", "tie_order"]
_REPLICATIONS_ALLOWED = "an int >= 1; 1 is the single-draw plan"

_AUTO_BAR = 100
_WORKERS_ALLOWED = ("None (all cores), an int >= 1 (1 runs the candidates one after another), "
                    "or 'ray' (Ray tasks; pip install 'reuse-ref[ray]')")


ALWAYS_ON_NOTE = ("idle_ttl=None (always on) is the reference's own value: the Flyte SDK refuses it; in a Flyte "
                  "program write a long timeout instead, such as idle_ttl=timedelta(days=7)")
"""What a plan's summary adds under a recommendation that never stops (``idle_ttl=None``)."""


class Candidate(NamedTuple):
    """One candidate of a plan: its policy, its measures over the window, the target's
    percentile (``value``: of queue wait, or of a run's time), its ``cost``, its ``verdict``
    (``"recommended"`` or ``"rejected"``), the ``category`` of the rejection
    (``"starves"``, ``"misses the target"``, ``"dominated"``, ``"costs more"``, ``"tie"``; ``""``
    when recommended) and a ``reason`` in words.

    A plan of several environments gives ``policy`` as ``{env: ReusePolicy or None}`` (as
    ``policies`` always does) and ``by_env``, each environment's replica-seconds, footprint
    and cost over the window. A plan with odds (``replications > 1``) gives ``odds``
    (:class:`~reuse_ref.plan.odds.Odds`), ``measures`` of its first draw, and ``value`` and
    ``cost`` as their medians over the draws."""

    policy: Any
    measures: Measures
    value: float
    cost: float
    verdict: str
    category: str
    reason: str
    odds: Optional[Odds] = None
    by_env: Optional[Dict[str, Dict[str, float]]] = None

    @property
    def policies(self) -> Dict[Optional[str], Any]:
        """``{env: policy}``: the one policy of a plan of one environment under the key ``None``."""
        return dict(self.policy) if isinstance(self.policy, dict) else {None: self.policy}

    @property
    def replica_hours(self) -> float:
        """Replica-hours over the window (of the first draw)."""
        return self.measures.replica_seconds / 3600.0

    @property
    def p_meets(self) -> float:
        """The share of draws that meet the target (one draw: 1.0 or 0.0)."""
        if self.odds is not None:
            return self.odds.p_meets
        return 0.0 if self.category in ("starves", "misses the target") else 1.0

    def as_dict(self) -> Dict[str, Any]:
        """A flat, JSON-ready row: the policy's knobs (``env.knob`` per environment), the value,
        the cost, the measures, the odds (with ``replications > 1``), each environment's cost
        (several environments), the verdict."""
        p = self.policy
        if isinstance(p, dict):
            row: Dict[str, Any] = {"policy": policies_text(p)}
            for env, q in p.items():
                row.update(_knobs(q, f"{env}."))
        else:
            row = {"policy": repr(p)}
            row.update(_knobs(p, ""))
        row.update(value=self.value, cost=self.cost, replica_hours=self.replica_hours)
        row.update(self.measures.as_dict())
        if self.odds is not None:
            row.update(self.odds.as_dict())
        for env, part in (self.by_env or {}).items():
            row.update({f"{env}.{k}": v for k, v in part.items()})
        row.update(verdict=self.verdict, category=self.category, reason=self.reason)
        return row


def _knobs(p: Optional[ReusePolicy], prefix: str) -> Dict[str, Any]:
    if p is None:
        return {prefix + k: None for k in ("min", "max", "concurrency", "scaledown_ttl", "idle_ttl")}
    return {prefix + "min": p.min_replicas, prefix + "max": p.max_replicas, prefix + "concurrency": p.concurrency,
            prefix + "scaledown_ttl": p.scaledown_ttl.total_seconds(),
            prefix + "idle_ttl": None if p.idle_ttl is None else p.idle_ttl.total_seconds()}


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
    * ``replications``, ``confidence``, ``seed``: the draws and the share of them the
      recommendation meets the target in; ``envs``: the environments of a plan of several
      (empty for one); ``prices`` is then ``{env: Prices}``; ``horizon`` is the first draw's window,
      ``horizons`` every draw's;
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
    prices: Any
    horizon: float
    scaledown: str = PACED
    other_reading: Optional[OtherReading] = None
    replications: int = 1
    confidence: float = 0.9
    seed: int = 0
    envs: Tuple[str, ...] = ()
    horizons: Tuple[float, ...] = ()

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
        ``skipped``, ``candidates``, ``target``, ``horizon``, ``scaledown``,
        ``other_reading`` (:meth:`~reuse_ref.plan.readings.OtherReading.as_dict`),
        ``replications``, ``confidence``, ``seed`` and ``envs``."""
        t = self.target
        prices = ({env: p._asdict() for env, p in self.prices.items()} if isinstance(self.prices, dict)
                  else self.prices._asdict())
        return {
            "recommended": None if self.recommended is None else self.recommended.as_dict(),
            "front": [c.as_dict() for c in self.front],
            "rejected": self.rejected,
            "skipped": dict(self.skipped),
            "candidates": [c.as_dict() for c in self.candidates],
            "target": {"percentile": t.percentile, "seconds": t.seconds, "since": t.since, "until": t.until,
                       "kind": t.kind},
            "prices": prices,
            "horizon": self.horizon,
            "scaledown": self.scaledown,
            "other_reading": None if self.other_reading is None else self.other_reading.as_dict(),
            "replications": self.replications, "confidence": self.confidence, "seed": self.seed,
            "envs": list(self.envs),
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
            if isinstance(r.policy, dict):
                lines.append("recommended:")
                lines.extend(f"  {env}: {'no reuse' if q is None else repr(q)}" for env, q in r.policy.items())
            else:
                lines.append(f"recommended: {r.policy!r}")
            lines.append(f"  {r.reason}")
            if any(q is not None and q.idle_ttl is None for q in r.policies.values()):
                lines.append(f"  note: {ALWAYS_ON_NOTE}")
        if self.other_reading is not None:
            lines.append(self.other_reading.line(t.measure))
        draws = "" if self.replications == 1 else (f", on {self.replications} draws (seed {self.seed}; recommended "
                                                    f"when it meets the target in >= {self.confidence:g} of them)")
        lines.append(f"{len(self.candidates)} candidate(s) simulated over the window [0, {self.horizon:g}] s{draws}; "
                     f"skipped: {counts_text(self.skipped)}; rejected: {counts_text(self.rejected)}")
        lines.append("")
        median = "" if self.replications == 1 else " (medians over the draws)"
        lines.append(f"Pareto front (cost against the target's percentile{median}), cheapest first:")
        lines.extend(front_table(self.front, t))
        return "\n".join(lines)


def front_table(front: Sequence[Candidate], target: Target) -> List[str]:
    """The front as lines of a text table (with the share of draws that meet the target, for a plan with odds)."""
    odds = any(c.odds is not None for c in front)
    head = ("policy", f"{target.measure} s", "cost", "replica-h") + (("meets",) if odds else ()) + ("verdict",)
    body = [(policies_text(c.policy), f"{c.value:.6g}", f"{c.cost:.6g}",
             f"{c.replica_hours if c.odds is None else c.odds.replica_seconds_p50 / 3600:.6g}")
            + ((f"{c.p_meets:.0%}",) if odds else ())
            + (c.verdict if c.verdict == "recommended" else c.category,) for c in front]
    widths = [max(len(row[k]) for row in [head] + body) for k in range(len(head))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [head] + body]


def _workers(workers: Any) -> Any:
    if workers == "ray":
        return workers
    if workers is None:
        return default_workers()
    return strict_int("workers", workers, minimum=1, allowed=_WORKERS_ALLOWED)


# ---------------------------------------------------------------------- the plan
def plan(workload: Any, candidates: Any, target: Any, prices: Any, cold_start: Any = 10.0,
         resources: Any = None, cpu_bound: float = 0.0, horizon: Optional[float] = None,
         workers: Any = None, progress: Optional[bool] = None, ray_address: Optional[str] = None,
         scaledown: str = PACED, engine: str = "auto", replications: int = 1, confidence: float = 0.9,
         seed: int = 0) -> Plan:
    """Simulate every candidate policy on ``workload`` and choose the cheapest that meets ``target``.

    * ``workload``: a list of :class:`~reuse_ref.sim.workloads.Job` (a recorded day), or a
      :class:`~reuse_ref.sim.arrivals.RunArrivals` (runs arriving by a rate, a profile, start
      times or a burst, which each draw draws again).
    * ``candidates``: for one environment, a mapping of knob to values, such as ``{"min":
      range(0, 9), "max": range(1, 17), "concurrency": [1, 4, 8], "scaledown_ttl": [30, 120, 600],
      "idle_ttl": [300, 3600, None]}``, whose every combination is a candidate, or a list
      of ``ReusePolicy`` (see :func:`reuse_ref.plan.candidates.candidate_policies`). For a
      workload of several environments, ``{env: that, or one ReusePolicy, or None}`` (None:
      no reuse), one entry per environment the workload names: a candidate is one policy per
      environment, every combination of theirs, simulated together (starvation in any
      environment rejects it; :func:`reuse_ref.plan.candidates.environment_candidates`).
    * ``target``: ``"p95<=30"`` (p50, p95 or p99 of queue wait, of every task of every
      environment, at most that many seconds), ``"run-p95<=600"`` (of a run's time: a
      top-level call's first ``task_queued`` to its end, :mod:`reuse_ref.trace.run_times`),
      a :class:`~reuse_ref.plan.candidates.Target` (which may hold a time window), or
      ``("p95<=30", (since, until))``: the tasks (runs) first queued in that window.
    * ``prices``: a mapping (or :class:`~reuse_ref.plan.candidates.Prices`) of ``cpu_hour``, ``gib_hour``,
      ``gpu_hour`` (each needs ``resources`` with that resource) and ``replica_hour``; with
      several environments, one for all or ``{env: prices}``. The cost of a candidate of
      several environments is the sum of each environment's prices times its measures.
    * ``cold_start``, ``resources``: as in :func:`reuse_ref.sim.event_loop.simulate`, one for
      all environments or ``{env: value}``; a seeded
      :class:`~reuse_ref.sim.cold_starts.ColdStart` gives every candidate the same draws.
    * ``cpu_bound``: the CPU share of each task's duration (0 to 1; 0, the default, is
      tasks that wait on I/O, for which concurrency costs no speed). That part shares the
      replica's ``resources.cpu`` cores, at least one, with the tasks running beside it,
      as in :func:`reuse_ref.sim.event_loop.simulate`.
    * ``horizon``: the end of the common window, in seconds; by default the latest end of
      any candidate's last task plus the largest finite ``idle_ttl`` among them
      (:func:`reuse_ref.trace.window.common_horizon`), for each draw. Every candidate is charged over
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
      without timeouts, ``cpu_bound=0``, a target of queue wait) when numba is installed and
      the sweep is large, by ``simulate``'s Python loop otherwise (every plan of several
      environments or on runs' times); ``"python"``, always the loop; ``"compiled"``,
      always the twin (a candidate it does not cover is a ``ValueError``). The plan is the
      same every way (:mod:`reuse_ref.sim.compiled`).
    * ``replications``: K, the draws of the random inputs every candidate is simulated on
      (:mod:`reuse_ref.plan.draws`); 1 (the default) is the plan of the inputs as given.
      ``confidence``: the share of draws, in (0, 1], in which the recommendation must meet
      the target (default 0.9); ``seed``: the seed of draws 1 to K - 1.

    Returns a :class:`Plan`. Bad input raises ``ValueError`` naming the parameter, before anything runs.
    """
    t = as_target(target)
    progress = optional_flag("progress", progress, f"a bar past {_AUTO_BAR} candidates")
    k_draws = strict_int("replications", replications, minimum=1, allowed=_REPLICATIONS_ALLOWED)
    confidence = check_confidence(confidence)
    seed = strict_int("seed", seed)
    cpu_bound = check_cpu_bound(cpu_bound)
    scaledown = check_scaledown(scaledown)
    engine = check_engine(engine)
    if horizon is not None:
        horizon = number("horizon", horizon, minimum=0, allowed="a finite number of seconds >= 0, or None")
    n_workers = _workers(workers)
    if ray_address is not None and (n_workers != "ray" or not isinstance(ray_address, str) or not ray_address):
        raise bad("ray_address", ray_address, "a Ray cluster's address, with workers='ray'")
    jobs = workload.draw() if isinstance(workload, RunArrivals) else check_jobs(workload)
    envs: List[str] = list(dict.fromkeys(job.env for job in jobs if job.env is not None))
    if per_environment_form(candidates):
        policies, skipped = environment_candidates(candidates, envs)
        sizes = resources if isinstance(resources, Mapping) and set(resources) <= set(envs) and resources else None
        res: Any = {env: as_resources((sizes or {}).get(env) if sizes is not None else resources,
                                      f"resources[{env!r}]" if sizes is not None else "resources") for env in envs}
        price: Any = environment_prices(prices, res, envs)
        per_environment(cold_start, envs)  # checked here, each draw's simulations draw from it afresh
        if not isinstance(cold_start, Mapping):
            check_cold_start(cold_start)
        strip = False
    else:
        if len(envs) > 1:
            raise bad("workload", f"jobs in environments {sorted(envs)}", "jobs of one environment, or candidates "
                      "per environment: {env: knobs, ...}, one entry for each environment the workload names")
        res = as_resources(resources)
        price = as_prices(prices, res)
        check_cold_start(cold_start)  # checked here; each candidate's simulation draws from it afresh
        policies, skipped = candidate_policies(candidates)
        envs, strip = [], True  # the one environment's name is a label: each candidate is simulated as that environment
    days = workload_draws(jobs if not isinstance(workload, RunArrivals) else workload, k_draws, seed)
    if isinstance(workload, RunArrivals):
        days[0] = jobs
    if strip:
        days = [[job._replace(env=None) for job in day] for day in days]
    todo = replicated(runs(policies, scaledown), k_draws)  # every candidate, then those the other reading can change
    bar = None
    if progress or (progress is None and len(policies) * k_draws > _AUTO_BAR):
        def bar():
            from tqdm import tqdm
            return tqdm(total=len(todo), unit="candidate" if k_draws == 1 else "candidate-draw",
                        desc="plan, both readings", mininterval=0.5)
    checked = check_workload(days[0])
    covered = [not envs and t.kind == "wait" and covers(p, checked, cpu_bound=cpu_bound) for p in policies]
    twin = any([use_twin(engine, c, len(days[0]) * len(todo)) for c in covered])
    context = SweepContext(tuple(days), tuple(Replication(k, cold_start_draw(cold_start, k, seed))
                                              for k in range(k_draws)),
                           res, t.percentile, t.since, t.until, cpu_bound, t.kind, "auto" if twin else "python")
    if n_workers == "ray":
        outcomes = run_on_ray(todo, context, ray_address, bar)
    else:
        outcomes = run_all(todo, context, n_workers, bar)
    grouped = [tuple(outcomes[i:i + k_draws]) for i in range(0, len(outcomes), k_draws)]  # each run's K draws
    n = len(policies)
    given = None if horizon is None else [horizon] * k_draws

    def decide(there: Sequence[Sequence[Outcome]], horizons: Optional[List[float]]) -> Plan:
        return _choose(policies, there, skipped, t, price, res, horizons, confidence, envs)

    main = decide(grouped[:n], given)
    at = next((k for k, c in enumerate(main.candidates) if c is main.recommended), None)
    other = other_reading(policies, grouped, scaledown, decide, list(main.horizons), horizon is not None, at)
    return dataclasses.replace(main, scaledown=scaledown, other_reading=other, replications=k_draws,
                               confidence=confidence, seed=seed, envs=tuple(envs))


def _choose(policies: Sequence[Any], outcomes: Sequence[Sequence[Outcome]], skipped: Dict[str, int],
            target: Target, prices: Any, resources: Any, horizons: Optional[List[float]], confidence: float,
            envs: List[str]) -> Plan:
    """Charge every run of every draw over that draw's common window, then pick, draw the front and give reasons."""
    k_draws = len(outcomes[0])
    windows = []
    for k in range(k_draws):
        draw = [o[k] for o in outcomes]
        latest = max(o.last_end for o in draw)
        if horizons is None:
            windows.append(float(window_horizon(policies, draw)))
        elif horizons[k] < latest:
            raise bad("horizon", horizons[k], f"a window that holds every task: at least {latest!r} s, when the last "
                      f"candidate's last task ends")
        else:
            windows.append(float(horizons[k]))
    scores, firsts = [], []
    for p, runs_of_p in zip(policies, outcomes):
        charged = [charge(p, o, windows[k], prices, resources, envs) for k, o in enumerate(runs_of_p)]
        m, cost, parts = charged[0]
        firsts.append((m, parts))
        label = policies_text(p)
        if k_draws == 1:
            scores.append(Score(p, label, cost, runs_of_p[0].value, m.replica_seconds, m.starved, None))
            continue
        o = odds_of([r.value for r in runs_of_p], [c[1] for c in charged], [c[0].replica_seconds for c in charged],
                    [c[0].starved for c in charged], target.seconds)
        scores.append(Score(p, label, o.cost_p50, o.value_p50, o.replica_seconds_p50,
                            sum(c[0].starved for c in charged), o))
    choice = choose(scores, target, confidence, windows[0])
    out = [Candidate(s.policy, m, s.value, s.cost, *verdict, odds=s.odds, by_env=parts)
           for s, (m, parts), verdict in zip(scores, firsts, choice.verdicts)]
    front = tuple(out[k] for k in choice.front)
    recommended = None if choice.best is None else out[choice.best]
    return Plan(tuple(out), recommended, front, dict(skipped), target, prices, windows[0], horizons=tuple(windows))

