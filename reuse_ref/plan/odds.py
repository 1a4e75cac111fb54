"""A plan's choice: each candidate's odds over the draws, the order, the front and the reasons.

A candidate simulated on K draws (:mod:`reuse_ref.plan.draws`) has K values of the target's
percentile, K costs and K counts of starved tasks. :func:`odds_of` reads them: ``p_meets``,
the share of draws in which nothing starved and the value is within the target; the
cost's 5th, 50th and 95th percentiles and the value's 50th and 95th, by nearest rank over
the K draws (:func:`reuse_ref.trace.percentile`; with K = 1 each is the one draw's).

:func:`choose` then picks. The recommendation is the first, in the order cost p50, then
value p50, then replica-seconds p50, then the smaller policy (:func:`tie_order`), of the
candidates that starve in no draw and meet the target in at least ``confidence`` of the
draws. With one draw that is exactly the plan without odds: the cheapest candidate that
does not starve and meets the target. Starvation is a failure of the user's tasks, not a
slower day, so one draw with it is enough to refuse a candidate. The front is the Pareto
front of cost p50 against value p50 among the candidates that never starve; every other
candidate gets its category and a reason in words (:data:`CATEGORIES`).
"""
from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..config.policy import ReusePolicy
from ..config.validation import bad, is_number
from ..trace import percentile

__all__ = ["Odds", "Score", "Choice", "odds_of", "choose", "tie_order", "check_confidence", "CATEGORIES"]

CATEGORIES = ("starves", "misses the target", "dominated", "costs more", "tie")
"""Why a candidate is rejected, in the order a plan asks."""

_CONFIDENCE_ALLOWED = "a number in (0, 1]: the share of draws in which the recommendation meets the target"


def check_confidence(value: Any, param: str = "confidence") -> float:
    """``confidence`` as a float in (0, 1], or a ``ValueError`` naming ``param``."""
    if isinstance(value, bool) or not is_number(value) or not 0 < value <= 1:
        raise bad(param, value, _CONFIDENCE_ALLOWED)
    return float(value)


class Odds(NamedTuple):
    """What K draws say of one candidate: ``draws`` (K), ``met`` (draws with no starvation and
    the value within the target), ``starved_draws`` (draws in which some task starved) and
    ``starved_tasks`` (their starved tasks, summed), the cost's percentiles ``cost_p5``,
    ``cost_p50``, ``cost_p95``, the value's ``value_p50`` and ``value_p95``, the
    replica-seconds' ``replica_seconds_p50``, and each draw's ``values`` and ``costs``, in
    draw order (left out of :meth:`as_dict`, a row of a table)."""

    draws: int
    met: int
    starved_draws: int
    starved_tasks: int
    cost_p5: float
    cost_p50: float
    cost_p95: float
    value_p50: float
    value_p95: float
    replica_seconds_p50: float
    values: Tuple[float, ...] = ()
    costs: Tuple[float, ...] = ()

    @property
    def p_meets(self) -> float:
        """The share of draws that meet the target."""
        return self.met / self.draws

    def as_dict(self) -> Dict[str, Any]:
        """JSON-ready, with ``p_meets``."""
        out = self._asdict()
        del out["values"], out["costs"]
        out["p_meets"] = self.p_meets
        return out


def odds_of(values: Sequence[float], costs: Sequence[float], replica_seconds: Sequence[float],
            starved: Sequence[int], bound: float) -> Odds:
    """The :class:`Odds` of one candidate from its draws, in draw order: each draw's target
    value, cost, replica-seconds and starved tasks; ``bound`` is the target's seconds."""
    met = sum(1 for v, s in zip(values, starved) if s == 0 and v <= bound)
    return Odds(len(values), met, sum(1 for s in starved if s), sum(starved),
                percentile(list(costs), 5), percentile(list(costs), 50), percentile(list(costs), 95),
                percentile(list(values), 50), percentile(list(values), 95), percentile(list(replica_seconds), 50),
                tuple(values), tuple(costs))


def tie_order(policy: Any) -> tuple:
    """How a plan orders policies that tie on cost, wait and replica-hours: the smaller one
    first, by what a reader sees in each: fewer ``max`` replicas, then fewer ``min``, then
    the lower ``concurrency``, the shorter ``scaledown_ttl`` and the shorter ``idle_ttl``
    (``None``, always on, last); the policy's repr only separates policies that differ in
    nothing else (their ``scope``). A policy per environment (a mapping) is ordered by its
    environments' policies in turn, an environment without reuse (``None``) first."""
    if isinstance(policy, dict):
        return tuple(() if p is None else tie_order(p) for p in policy.values())
    assert isinstance(policy, ReusePolicy)
    idle = float("inf") if policy.idle_ttl is None else policy.idle_ttl.total_seconds()
    return (policy.max_replicas, policy.min_replicas, policy.concurrency, policy.scaledown_ttl.total_seconds(),
            idle, repr(policy))


class Score(NamedTuple):
    """One candidate as :func:`choose` reads it: its ``policy`` (for the tie order), ``label``
    (how a reason names it), ``cost``, ``value`` and ``replica_seconds`` (the one draw's, or
    the p50 over the draws), ``starved`` (tasks starved, over every draw) and its ``odds``
    (``None`` for a plan of one draw)."""

    policy: Any
    label: str
    cost: float
    value: float
    replica_seconds: float
    starved: int
    odds: Optional[Odds]


class Choice(NamedTuple):
    """What :func:`choose` decided: ``best`` (an index, or ``None``), ``front`` (indices, in
    order), and each candidate's ``(verdict, category, reason)``."""

    best: Optional[int]
    front: Tuple[int, ...]
    verdicts: Tuple[Tuple[str, str, str], ...]


def _percent(x: float) -> str:
    return f"{100 * x:.3g} %"


def choose(scores: Sequence[Score], target: Any, confidence: float, horizon: float) -> Choice:
    """Pick the recommendation, draw the front and give every candidate its reason (see the
    module docstring); ``target`` is the plan's :class:`~reuse_ref.plan.candidates.Target`,
    ``horizon`` the end of draw 0's window (for the recommendation's reason)."""
    def order(k: int) -> tuple:  # cost, then the value, then replica-hours, then the smaller policy: never a tie
        s = scores[k]
        return (s.cost, s.value, s.replica_seconds, tie_order(s.policy))

    def eligible(s: Score) -> bool:
        if s.odds is None:
            return s.starved == 0 and s.value <= target.seconds
        return s.starved == 0 and s.odds.p_meets >= confidence

    n = len(scores)
    meets = [k for k in range(n) if eligible(scores[k])]
    best = min(meets, key=order) if meets else None
    ranked = sorted((k for k in range(n) if scores[k].starved == 0), key=order)
    dominator: Dict[int, int] = {}
    on_front = set()
    lowest: Optional[int] = None  # the cheapest of the lowest values seen so far
    for k in ranked:
        r = scores[k]
        if lowest is not None and (scores[lowest].value < r.value or
                                   (scores[lowest].value == r.value and scores[lowest].cost < r.cost)):
            dominator[k] = lowest
        else:
            on_front.add(k)
        if lowest is None or r.value < scores[lowest].value:
            lowest = k
    m_name = target.measure
    p50 = "" if all(s.odds is None for s in scores) else " p50"
    out: List[Tuple[str, str, str]] = []
    for k, s in enumerate(scores):
        o = s.odds
        if k == best:
            verdict, category = "recommended", ""
            if o is None:
                reason = (f"the cheapest candidate with {target}: cost {s.cost:.6g} over the window "
                          f"[0, {horizon:g}] s ({s.replica_seconds / 3600:.6g} replica-hours), {m_name} {s.value:g} s")
            else:
                reason = (f"the cheapest candidate that meets {target} in {o.met} of {o.draws} draws "
                          f"({_percent(o.p_meets)}) >= {_percent(confidence)}: cost p50 {o.cost_p50:.6g} (p5 "
                          f"{o.cost_p5:.6g}, p95 {o.cost_p95:.6g}; {s.replica_seconds / 3600:.6g} replica-hours p50), "
                          f"{m_name} p50 {o.value_p50:g} s, p95 {o.value_p95:g} s")
        elif s.starved:
            verdict, category = "rejected", "starves"
            if o is None:
                reason = f"starves: {s.starved} task(s) failed with starvation (rule 6)"
            else:
                reason = (f"starves in {o.starved_draws} of {o.draws} draws: {s.starved} task(s) failed with "
                          f"starvation (rule 6)")
        elif o is None and s.value > target.seconds:
            verdict, category = "rejected", "misses the target"
            reason = (f"misses the target by {s.value - target.seconds:g} s ({m_name} {s.value:g} s > "
                      f"{target.seconds:g} s)")
        elif o is not None and o.p_meets < confidence:
            verdict, category = "rejected", "misses the target"
            reason = (f"meets {target} in {o.met} of {o.draws} draws ({_percent(o.p_meets)}) < "
                      f"{_percent(confidence)} ({m_name} p50 {o.value_p50:g} s, p95 {o.value_p95:g} s)")
        elif k in dominator:
            d = scores[dominator[k]]
            verdict, category = "rejected", "dominated"
            reason = (f"dominated by {d.label} (cost{p50} {d.cost:.6g} <= {s.cost:.6g}, "
                      f"{m_name}{p50} {d.value:g} s <= {s.value:g} s)")
        elif s.cost == scores[best].cost:
            verdict, category = "rejected", "tie"
            reason = (f"ties with the recommendation on cost{p50} ({s.cost:.6g}) and {m_name}; the recommendation "
                      f"comes first by {m_name}, then replica-hours, then as the smaller policy (max, min, "
                      f"concurrency, scaledown_ttl, idle_ttl)")
        else:
            verdict, category = "rejected", "costs more"
            reason = (f"meets the target with a lower {m_name}{p50} ({s.value:g} s) but costs "
                      f"{s.cost - scores[best].cost:.6g} more than the recommendation")
        out.append((verdict, category, reason))
    front = tuple(k for k in ranked if k in on_front)
    return Choice(best, front, tuple(out))
