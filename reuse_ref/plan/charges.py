"""A candidate's measures and cost over a draw's common window (section "The trace and its measures").

A sweep sends back each run's measures without a window and its replicas' spans
(:class:`~reuse_ref.plan.sweep.Outcome`); once every candidate of a draw has ended, the
draw's window is known (:func:`window_horizon`) and each run is charged over it here, with
:func:`reuse_ref.trace.measures.over_window`, as ``Trace.measures(horizon=...)`` charges a
trace. A candidate of several environments is charged environment by environment: each
one's replicas at its own size and prices, the cost the sum of theirs.
"""
from __future__ import annotations

import math
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .candidates import Prices, policies_text
from .sweep import Outcome
from ..trace import Measures
from ..trace.measures import over_window

__all__ = ["charge", "window_horizon", "overflowing"]


def window_horizon(policies: Sequence[Any], outcomes: Sequence[Outcome]) -> float:
    """The common window's end: the latest end of any run's last task plus the largest finite
    ``idle_ttl`` among the candidates (of every environment's policy)."""
    end = max(o.last_end for o in outcomes)
    ttls = [q.idle_ttl.total_seconds() for p in policies for q in (p.values() if isinstance(p, dict) else (p,))
            if q is not None and q.idle_ttl is not None]
    return end + max(ttls, default=0.0)


def overflowing(prices: Prices, m: Any, policy: Any) -> ValueError:
    """The error of prices whose cost of one candidate is past the largest float: every cost
    would print as ``inf`` and every candidate tie."""
    given = {k: v for k, v in prices._asdict().items() if v}
    names = ", ".join(f"prices[{k!r}]={v!r}" for k, v in given.items())
    return ValueError(f"{names} is not valid: the cost of {policies_text(policy)} ({m.replica_seconds / 3600:.6g} "
                      f"replica-hours over the window) is past the largest float ({sys.float_info.max:g}), so no two "
                      f"costs could be told apart; give the prices in a larger unit of money (thousands, millions)")


def charge(p: Any, o: Outcome, horizon: float, prices: Any, resources: Any,
            envs: List[str]) -> Tuple[Measures, float, Optional[Dict[str, Dict[str, float]]]]:
    """One run's measures over ``[0, horizon]`` (as ``Trace.measures(horizon=...)`` charges them),
    its cost, and with several environments each one's part (a run's pool ``env#2`` is its env's)."""
    if not envs:
        m = over_window(o.measures, o.spans, horizon, {env: p for env in o.spans}, {env: resources for env in o.spans})
        cost = prices.cost(m)
        if not math.isfinite(cost):
            raise overflowing(prices, m, p)
        return m, cost, None
    home = {pool: pool.partition("#")[0] for pool in o.spans}
    m = over_window(o.measures, o.spans, horizon, {k: p[e] for k, e in home.items()},
                    {k: resources[e] for k, e in home.items()})
    parts, cost = {}, 0.0
    for env in envs:
        own = {k: v for k, v in o.spans.items() if home[k] == env}
        part = over_window(o.measures, own, horizon, {k: p[env] for k in own}, {k: resources[env] for k in own})
        env_cost = prices[env].cost(part)
        if not math.isfinite(env_cost):
            raise overflowing(prices[env], part, p)
        cost += env_cost
        parts[env] = {"replica_hours": part.replica_seconds / 3600.0, "cpu_seconds": part.cpu_seconds,
                      "gib_seconds": part.gib_seconds, "gpu_seconds": part.gpu_seconds, "cost": env_cost}
    return m, cost, parts
