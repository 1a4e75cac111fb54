"""Several policies on one figure: what each costs against the tail wait its users feel.

:func:`compare` charges every trace over one common window
(:func:`reuse_ref.trace.window.compare`), so that an always-on pool pays for the time it
would go on running.
"""
from __future__ import annotations

from typing import Iterable, List, Mapping, Optional, Tuple, Union

from ..trace import Measures, Trace
from ..trace.window import compare as over_window
from .style import COLORS, new_axes

__all__ = ["compare", "UTILISATION_BANDS"]

UTILISATION_BANDS = ((0.25, "under 25 %", "vermillion"), (0.5, "25 to 50 %", "orange"),
                     (0.75, "50 to 75 %", "sky"), (float("inf"), "75 % or more", "blue"))
"""The utilisation bands of :func:`compare`: upper bound, legend label, colour name."""


def compare(results: Union[Mapping[str, Union[Trace, Measures]], Iterable[Tuple[str, Union[Trace, Measures]]]],
            ax=None, horizon: Optional[float] = None):
    """A policy comparison for sweeps: footprint in replica-hours (what the policy costs)
    against the 95th-percentile queue wait (what users feel), one labelled point per policy.

    ``results`` maps a label to a ``Trace`` or its ``Measures`` (a dict, or pairs). Traces
    are charged over one common window (:func:`reuse_ref.trace.window.compare`, ``horizon``
    defaulting to their :func:`~reuse_ref.trace.window.common_horizon`), so that an always-on
    pool pays for the time it would go on running; ``Measures`` are taken as given.
    Points are coloured by utilisation band (:data:`UTILISATION_BANDS`). Lower left is
    better on both counts. Returns the Figure.
    """
    items = list(results.items()) if isinstance(results, Mapping) else list(results)
    if not items:
        raise ValueError("results=[] is not valid: give at least one (label, trace) pair")
    for label, value in items:
        if not isinstance(value, (Trace, Measures)):
            raise ValueError(f"results item {value!r} is not valid: a Trace or its Measures")
    traces = [(str(label), value) for label, value in items if isinstance(value, Trace)]
    windowed = over_window(traces, horizon=horizon) if traces else {}
    points = [(str(label), windowed.get(str(label)) if isinstance(value, Trace) else value) for label, value in items]
    fig, ax = new_axes(ax, figsize=(5.0, 4.0))
    xs = [m.replica_seconds / 3600 for _, m in points]
    ys = [m.wait_p95 for _, m in points]
    for top, band, color in UTILISATION_BANDS:
        low = max([b for b, _, _ in UTILISATION_BANDS if b < top], default=-1.0)
        chosen = [(x, y) for (_, m), x, y in zip(points, xs, ys) if low <= m.utilisation < top]
        if chosen:
            ax.scatter(*zip(*chosen), color=COLORS[color], s=70, edgecolors="black", linewidths=0.6, zorder=3,
                       label=f"utilisation {band}")
    # points that (nearly) coincide get their labels stacked instead of printed on each other
    span_x = (max(xs) - min(xs)) or 1.0
    span_y = (max(ys) - min(ys)) or 1.0
    placed: List[Tuple[float, float]] = []
    for (label, _), x, y in zip(points, xs, ys):
        nx, ny = (x - min(xs)) / span_x, (y - min(ys)) / span_y
        crowd = sum(1 for px, py in placed if abs(px - nx) < 0.15 and abs(py - ny) < 0.05)
        placed.append((nx, ny))
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(6, 5 + 13 * crowd))
    ax.set_xlabel("footprint (replica-hours)")
    ax.set_ylabel("p95 queue wait (s)")
    ax.set_title("Footprint against tail wait\n(lower left is better)")
    ax.grid(alpha=0.3)
    ax.margins(0.15)
    if min(xs) >= 0:
        ax.set_xlim(0, max(xs) * 1.3 or 1.0)
    if min(ys) >= 0:
        ax.set_ylim(0, max(ys) * 1.25 or 1.0)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    fig.tight_layout()
    return fig
