"""Does a plan's answer depend on the reading of rule 3? The other reading, simulated too.

The public sources leave ``scaledown_ttl`` open to two readings (rule 3 of the Concepts
page): *paced*, one replica stopped per ``scaledown_ttl`` period, and *per replica*, each
replica stopped once it has been idle that long. Which one Union runs is not public, so a
plan made under one reading also answers under the other: it charges its recommendation
there (cost and the target's percentile, over the same window whenever that holds every
task) and says which policy that reading would recommend. When both recommend the same
policy, a reader can act without knowing Union's rule.

What is simulated again, and why that is enough: every candidate whose records the reading
can change. A policy with ``max - min <= 1`` never has two replicas above ``min`` to choose
between, and the pacing never binds (a replica above ``min`` goes idle only after the pool
grew again, so after the last scale-down), so both readings write the same records for it
(``tests/test_properties_pool.py`` checks this on random workloads, crashes included): its
outcome is reused. Every other candidate is simulated under the other reading, since no
bound says in advance which of them the other reading would recommend: stopping replicas
sooner saves replica-seconds but may cost cold starts, and either can decide.

The other reading is two functions here: :func:`runs` says which simulations a plan
needs, ``(policy, reading)`` pairs for its own reading and the other, so that one sweep
runs them all (one pool of processes, one Ray session); :func:`other_reading` reads the
answer from their outcomes. A faster sweep serves it as it serves the plan.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..core.pool import PACED, PER_REPLICA
from .sweep import Outcome

__all__ = ["OtherReading", "other_reading", "reading_can_matter", "runs", "the_other"]


def the_other(reading: str) -> str:
    """The reading of rule 3 that is not ``reading``."""
    return PER_REPLICA if reading == PACED else PACED


def reading_can_matter(policy: Any) -> bool:
    """Whether the two readings of rule 3 can give ``policy`` different records: only with at
    least two replicas above ``min`` (see the module docstring). A policy per environment (a
    mapping; ``None`` for no reuse) can be changed when any of its environments' can."""
    if isinstance(policy, dict):
        return any(p is not None and reading_can_matter(p) for p in policy.values())
    return policy.max_replicas - policy.min_replicas >= 2


class OtherReading(NamedTuple):
    """What a plan finds under the other reading of rule 3 (``scaledown``).

    * ``recommended_there``: the plan's recommendation as charged under the other reading
      (its ``value``, ``cost``, and ``verdict`` and ``reason`` there), or ``None`` when the
      plan recommends nothing;
    * ``recommended``: the other reading's own recommendation (``None``: no candidate meets
      the target there);
    * ``horizon``: the window ``[0, horizon]`` it was charged over (the plan's, unless a
      task ends after it under this reading);
    * ``simulated``, ``reused``: candidates simulated again, and those whose outcome was
      the plan's own because the reading cannot change it.
    """

    scaledown: str
    recommended_there: Optional[Any]  # a planner.Candidate
    recommended: Optional[Any]  # a planner.Candidate
    horizon: float
    simulated: int
    reused: int

    @property
    def same(self) -> bool:
        """Whether the other reading recommends the same policy (or, both, none)."""
        mine, theirs = self.recommended_there, self.recommended
        if mine is None or theirs is None:
            return mine is None and theirs is None
        return theirs.policy == mine.policy

    def as_dict(self) -> Dict[str, Any]:
        """JSON-ready: the reading, whether the answer depends on it, the recommendation there
        (policy, value, cost, verdict) and the other reading's own recommendation."""
        def brief(c: Optional[Any]) -> Optional[Dict[str, Any]]:
            if c is None:
                return None
            return {"policy": repr(c.policy), "value": c.value, "cost": c.cost,
                    "replica_hours": c.replica_hours, "verdict": c.verdict, "category": c.category,
                    "reason": c.reason}

        return {"scaledown": self.scaledown, "depends_on_reading": not self.same,
                "recommended_there": brief(self.recommended_there), "recommended": brief(self.recommended),
                "horizon": self.horizon, "simulated": self.simulated, "reused": self.reused}

    def line(self, measure: str) -> str:
        """One line of text for a plan's summary (``measure``: the target's name, ``"p95"``)."""
        head = f"other reading of rule 3 (scaledown={self.scaledown!r}): "
        mine, theirs = self.recommended_there, self.recommended
        if mine is None:
            if theirs is None:
                return head + "no candidate meets the target there either"
            return head + f"it would recommend {theirs.policy!r} (cost {theirs.cost:.6g}, {measure} {theirs.value:g} s)"
        there = f"cost {mine.cost:.6g}, {measure} {mine.value:g} s there"
        if self.same:
            return head + f"the same recommendation ({there}): the answer does not depend on the reading"
        why = "misses the target" if mine.category == "misses the target" else (
            "starves" if mine.category == "starves" else "is not the cheapest")
        if theirs is None:
            return head + f"this policy {why} there ({there}) and no candidate meets the target"
        return (head + f"this policy {why} there ({there}); that reading recommends {theirs.policy!r} "
                f"(cost {theirs.cost:.6g}, {measure} {theirs.value:g} s)")


def runs(policies: Sequence[Any], reading: str) -> List[Tuple[Any, str]]:
    """The simulations a plan under ``reading`` needs, in order: every candidate under
    ``reading``, then, under the other reading, every candidate the reading can change
    (:func:`reading_can_matter`)."""
    other = the_other(reading)
    return [(p, reading) for p in policies] + [(p, other) for p in policies if reading_can_matter(p)]


def other_reading(policies: Sequence[Any], outcomes: Sequence[Sequence[Outcome]], reading: str,
                  choose: Callable[[Sequence[Sequence[Outcome]], List[float]], Any], horizons: Sequence[float],
                  horizon_given: bool, recommended_at: Optional[int]) -> OtherReading:
    """The plan under the reading that is not ``reading``.

    ``outcomes`` are those of :func:`runs`, in its order, each run's over the plan's draws
    (one per draw, K of them): the plan's own (one per policy), then the other reading's;
    ``choose(outcomes, horizons)`` charges and ranks one such entry per policy as the plan
    does (a :class:`~reuse_ref.plan.planner.Plan`); ``horizons`` are the plan's windows, one
    per draw, and ``recommended_at`` the index of its recommendation among ``policies``.
    Each draw's window is the plan's whenever every task ends within it under the other
    reading too, so that the two costs of one policy compare; otherwise (a task that ends
    later) the common-window rule is applied to this reading's own runs of that draw, unless
    the caller gave the window (then too short a one is refused, as in the plan)."""
    n = len(policies)
    fresh = iter(outcomes[n:])
    there = [next(fresh) if reading_can_matter(p) else o for p, o in zip(policies, outcomes[:n])]
    horizons = list(horizons)
    for k in range(len(horizons)):
        latest = max(o[k].last_end for o in there)
        if latest > horizons[k] and not horizon_given:
            ttls = [t.total_seconds() for t in _idle_ttls(policies)]
            horizons[k] = latest + max(ttls, default=0.0)
    plan_there = choose(there, horizons)
    mine = None if recommended_at is None else plan_there.candidates[recommended_at]
    again = len(outcomes) - n
    return OtherReading(the_other(reading), mine, plan_there.recommended, plan_there.horizon, again, n - again)


def _idle_ttls(policies: Sequence[Any]) -> List[Any]:
    """Every finite ``idle_ttl`` of the candidates (of each environment's policy, for a policy per environment)."""
    out = []
    for p in policies:
        for q in (p.values() if isinstance(p, dict) else (p,)):
            if q is not None and q.idle_ttl is not None:
                out.append(q.idle_ttl)
    return out
