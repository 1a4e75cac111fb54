"""The figure of a plan: every candidate's cost against the target's percentile of queue wait.

A plan's answer is one policy, but the reader has to trust it: the figure shows where
that policy sits among all the candidates, which of them form the Pareto front (no other
candidate is both cheaper and quicker) and where the target cuts the front. It is drawn
from a :class:`~reuse_ref.plan.planner.Plan` alone, not from a trace.
"""
from __future__ import annotations

import math
from typing import Optional

from ..config.validation import bad
from ..plan import Plan
from .style import COLORS, new_axes, wrap_title

__all__ = ["plan", "in_money", "short_label"]

_UNIT_PRICE = (0.0, 0.0, 0.0, 1.0)  # Prices(replica_hour=1): a cost that is replica-hours


def in_money(prices) -> bool:
    """Whether a plan's costs are money: some price is set, and the prices are not the unit
    price per replica-hour (under which the cost is the replica-hours themselves). With a
    plan's prices per environment (a mapping), whether any environment's are money."""
    if isinstance(prices, dict):
        return any(in_money(p) for p in prices.values())
    return any(v > 0 for v in prices) and tuple(prices) != _UNIT_PRICE


def short_label(policy) -> str:
    """A policy in four short lines (one a knob), for the label of a point; a policy per
    environment (a mapping) in one line per environment: its replicas and concurrency."""
    if isinstance(policy, dict):
        return "\n".join(f"{env}: no reuse" if p is None else
                         f"{env}: replicas=({p.replicas[0]}, {p.replicas[1]}), concurrency={p.concurrency}"
                         for env, p in policy.items())
    mn, mx = policy.replicas
    idle = "None" if policy.idle_ttl is None else f"{policy.idle_ttl.total_seconds():g} s"
    return (f"replicas=({mn}, {mx})\nconcurrency={policy.concurrency}\n"
            f"scaledown_ttl={policy.scaledown_ttl.total_seconds():g} s\nidle_ttl={idle}")


def plan(result, ax=None, currency: Optional[str] = None, label: bool = True):
    """A plan's candidates: cost (y) against the target's percentile (x) of queue wait or of a run's time.

    Hollow grey points miss the target, blue ones meet it but cost more or are beaten on
    both counts, black crosses starve; the orange line joins the Pareto front (cheapest
    first: no other candidate is both cheaper and quicker); the dashed line is the target,
    and the star, labelled with its four numbers, is the recommendation. The cost is in
    money, as the plan's prices give it (``currency`` names the unit on the axis), or in
    replica-hours when every price is 0 or the only one is 1 per replica-hour (the cost is
    then no money, or the replica-hours themselves). ``result`` is what
    :func:`reuse_ref.plan.planner.plan` returns; ``label=False`` leaves the star unlabelled.
    Returns the Figure.
    """

    if not isinstance(result, Plan):
        raise bad("plan", type(result).__name__, "a reuse_ref.plan.Plan, what reuse_ref.plan(...) returns")
    if currency is not None and not isinstance(currency, str):
        raise bad("currency", currency, 'a str such as "USD", or None')
    money = in_money(result.prices)
    t = result.target

    def y_of(c):  # with odds, the medians over the draws
        if money:
            return c.cost
        return c.replica_hours if c.odds is None else c.odds.replica_seconds_p50 / 3600

    fig, ax = new_axes(ax, figsize=(5.0, 5.0))
    drawable = [c for c in result.candidates if math.isfinite(c.value) and math.isfinite(y_of(c))]
    groups = (
        ("misses the target", lambda c: c.category == "misses the target",
         dict(marker="o", s=34, facecolors="white", edgecolors=COLORS["grey"], linewidths=1.0)),
        ("meets it, not chosen", lambda c: c.verdict == "rejected" and c.category in ("costs more", "dominated",
                                                                                       "tie"),
         dict(marker="o", s=34, color=COLORS["sky"], edgecolors=COLORS["blue"], linewidths=0.6)),
        ("starves", lambda c: c.category == "starves",
         dict(marker="X", s=46, color=COLORS["black"])),
    )
    for name, keep, style in groups:
        chosen = [c for c in drawable if keep(c)]
        if chosen:
            ax.scatter([c.value for c in chosen], [y_of(c) for c in chosen], zorder=2,
                       label=f"{name} ({len(chosen)})", **style)
    shown = {id(c) for c in drawable}
    front = [c for c in result.front if id(c) in shown]
    if front:
        ax.plot([c.value for c in front], [y_of(c) for c in front], color=COLORS["orange"], linewidth=2,
                zorder=3, label="Pareto front", gid="front")
    ax.axvline(t.seconds, color=COLORS["vermillion"], linestyle="--", linewidth=1.2, zorder=1,
               label=f"target: {t.measure} <= {t.seconds:g} s")
    r = result.recommended
    if r is not None:
        ax.scatter([r.value], [y_of(r)], marker="*", s=300, color=COLORS["vermillion"], edgecolors="black",
                   linewidths=0.8, zorder=4, label="recommended", gid="recommended")
    what = "run time" if t.kind == "run" else "queue wait"
    median = "" if result.replications == 1 else f", median of {result.replications} draws"
    ax.set_xlabel(f"{t.measure} {what} (s)" + (", in the window" if t.since is not None else "") + median)
    if money:
        ax.set_ylabel("cost over the window" + (f" ({currency})" if currency else ""))
    else:
        ax.set_ylabel("replica-hours over the window")
    title = f"{len(result.candidates)} candidates: cost against {t.measure} {'run time' if t.kind == 'run' else 'wait'}"
    if t.since is not None:
        title += f" for {'runs started' if t.kind == 'run' else 'tasks queued'} in [{t.since:g}, {t.until:g}) s"
    ax.set_title(wrap_title(title, 44))
    ax.grid(alpha=0.3)
    ax.margins(0.08)
    ax.set_xlim(left=min(0.0, ax.get_xlim()[0]))
    if r is not None and label:
        _label(ax, r.value, y_of(r), short_label(r.policy))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def _label(ax, x: float, y: float, text: str) -> None:
    """The recommendation's label, on the side of the point with more room."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    right = (x - x0) < 0.5 * (x1 - x0)
    above = (y - y0) < 0.5 * (y1 - y0)
    ax.annotate(text, (x, y), xytext=(14 if right else -14, 22 if above else -22), textcoords="offset points",
                ha="left" if right else "right", va="bottom" if above else "top", zorder=5,
                arrowprops=dict(arrowstyle="-", color=COLORS["vermillion"], linewidth=1),
                bbox=dict(boxstyle="round,pad=0.25", facecolor="white", edgecolor=COLORS["vermillion"], alpha=0.9))
