"""A trace's replicas over time: one lane per replica, or the occupancy of the pool.

* :func:`timeline`: one lane per replica: its cold start, its busy slots (darker for more
  tasks at once), its idle time, and why it stopped; past ``max_lanes`` replicas, the
  occupancy view instead, since hundreds of lanes cannot be read.
* :func:`occupancy`: live replicas, queued tasks and busy slots over time.
* :func:`shared_legend`: one legend for several timelines drawn side by side.

Each function returns the matplotlib ``Figure``; pass ``ax=`` to draw into axes of your own.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from ..config.validation import strict_int
from ..trace import Trace
from .style import COLORS, new_axes, time_unit, wrap_title

__all__ = ["timeline", "occupancy", "shared_legend", "MAX_LANES", "STOP_MARKERS"]

STOP_MARKERS = {
    "scaledown": ("v", COLORS["orange"], "stopped: scaledown_ttl"),
    "idle_ttl": ("s", COLORS["vermillion"], "stopped: idle_ttl"),
    "crashed": ("X", COLORS["black"], "crashed"),
    "oom": ("P", COLORS["purple"], "killed: out of memory"),
    "timeout": ("D", COLORS["purple"], "killed: timeout"),
    "off": ("o", COLORS["sky"], "stopped: no reuse"),
    "shutdown": ("o", COLORS["grey"], "shut down"),
}
"""Marker, colour and legend label of each ``replica_stop`` reason in :func:`timeline`."""
_OTHER_STOP = ("*", COLORS["black"], "stopped: other")

MAX_LANES = 40
"""The most replicas :func:`timeline` draws one lane each for; past it, it draws the occupancy."""


def _env_and_title(trace: Trace, env: Optional[str]) -> Tuple[Optional[str], str]:
    envs = trace.envs
    if env is None and len(envs) == 1:
        env = envs[0]
    if env is None:
        return None, "all environments"
    policy = trace.policies.get(env)
    return env, f"{env}: {policy!r}" if policy is not None else env


# ---------------------------------------------------------------------- timeline
class ReplicaLane:
    """What a timeline draws of one replica: its start, readiness, stop, and busy spans."""

    __slots__ = ("start", "ready", "stop", "reason", "busy")

    def __init__(self, start: float) -> None:
        self.start = start
        self.ready: Optional[float] = None
        self.stop: Optional[float] = None
        self.reason = ""
        self.busy: List[Tuple[float, float, int]] = []  # (from, to, tasks running)


def _lanes(records, end: float) -> Dict[Tuple[str, int], ReplicaLane]:
    lanes: Dict[Tuple[str, int], ReplicaLane] = {}
    count: Dict[Tuple[str, int], Tuple[float, int]] = {}  # replica -> (since, tasks running)
    where: Dict[Any, Tuple[str, int]] = {}  # running (env, task) -> (env, replica)

    def change(key, t, delta):
        since, n = count.get(key, (t, 0))
        if n and t > since:
            lanes[key].busy.append((since, t, n))
        count[key] = (t, n + delta)

    for time, kind, replica, task, reason, env in records:
        if kind == "replica_start":
            lanes[(env, replica)] = ReplicaLane(time)
        elif kind == "replica_ready":
            lane = lanes.get((env, replica))
            if lane is not None:
                lane.ready = time
        elif kind == "task_start":
            key = (env, replica)
            where[(env, task)] = key
            if key in lanes:
                change(key, time, +1)
        elif kind in ("task_end", "task_failed"):
            key = where.pop((env, task), None)
            if key is not None and key in lanes:
                change(key, time, -1)
        elif kind == "replica_stop":
            key = (env, replica)
            lane = lanes.get(key)
            if lane is not None:
                change(key, time, 0)
                lane.stop, lane.reason = time, reason
    for key, (since, n) in count.items():
        if n and end > since and lanes[key].stop is None:
            lanes[key].busy.append((since, end, n))
    return lanes






def timeline(trace: Trace, env: Optional[str] = None, ax=None, unit: str = "s", legend: bool = True,
             until: Optional[float] = None, max_lanes: int = MAX_LANES):
    """One horizontal lane per replica, in order of start.

    A hatched bar is the cold start (``replica_start`` to ``replica_ready``); a thin grey
    line is the replica up and idle; filled bars are busy time, darker when more tasks run
    on it at once (up to the policy's ``concurrency``); a marker at the end shows why it
    stopped (see :data:`STOP_MARKERS`). Starvation is a dashed vermillion line.

    ``unit``: the time axis in ``"s"``, ``"min"`` or ``"h"``. ``legend``: draw the legend
    under the lanes. ``until``: the end of the window, in seconds: a replica still alive
    when the trace ends is drawn on (dotted) to it, as a comparison over that window
    charges it.

    ``max_lanes``: with more replicas than this, lanes a few pixels high tell nothing, so
    the figure is :func:`occupancy` instead (live replicas, then queued tasks and busy
    slots, as step plots over time), titled with the number of replicas; ``ax`` is then
    split in two, or may be a pair of axes. Returns the Figure.
    """
    strict_int("max_lanes", max_lanes, minimum=1, allowed="an int >= 1, the most replicas drawn one lane each")
    div, xlabel = time_unit(unit)
    env, title = _env_and_title(trace, env)
    records = trace.rows(env)  # rows: (time, kind, replica, task, reason, env)
    end = records[-1][0] if records else 0.0
    lanes = _lanes(records, end)
    if len(lanes) > max_lanes:
        return _many_lanes(trace, env, ax, unit, len(lanes), max_lanes, until)
    concurrency = max([trace.concurrency(e) for e in ({k[0] for k in lanes} or {env})] or [1])
    own_figure = ax is None
    fig, ax = new_axes(ax, figsize=(5.0, 1.4 + 0.3 * max(len(lanes), 3)))
    import matplotlib.patches as mpatches
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    cmap = colormaps["Blues"]

    def shade(n: int):
        return cmap(0.45 + 0.5 * min(n, concurrency) / concurrency)

    order = sorted(lanes, key=lambda k: (lanes[k].start, k[0], k[1]))
    seen_reasons = []
    levels_used = set()
    on_past_end = False
    for y, key in enumerate(order):
        lane = lanes[key]
        up_to = lane.stop if lane.stop is not None else end
        ready = lane.ready if lane.ready is not None else up_to
        if ready > lane.start:
            ax.broken_barh([(lane.start / div, (ready - lane.start) / div)], (y - 0.3, 0.6), facecolors="white",
                           edgecolors=COLORS["grey"], hatch="////", linewidth=0.6)
        if up_to > ready:
            ax.hlines(y, ready / div, up_to / div, colors="#bbbbbb", linewidth=2, zorder=1)
        if lane.stop is None and until is not None and until > end:
            ax.hlines(y, end / div, until / div, colors=COLORS["grey"], linestyles=":", linewidth=2, zorder=1)
            on_past_end = True
        by_level: Dict[int, list] = {}
        for a, b, n in lane.busy:
            by_level.setdefault(n, []).append((a / div, (b - a) / div))
        for n, spans in sorted(by_level.items()):
            ax.broken_barh(spans, (y - 0.3, 0.6), facecolors=shade(n), edgecolors="none", zorder=2)
            levels_used.add(n)
        if lane.stop is not None:
            marker, color, _ = STOP_MARKERS.get(lane.reason, _OTHER_STOP)
            ax.plot([lane.stop / div], [y], marker=marker, color=color, markersize=8, linestyle="none", zorder=3)
            if lane.reason not in seen_reasons:
                seen_reasons.append(lane.reason)
    starved = [r[0] for r in records if r[1] == "starvation"]
    for t in starved:
        ax.axvline(t / div, color=COLORS["vermillion"], linestyle="--", linewidth=1.2)

    ax.set_yticks(range(len(order)))
    many_envs = len({k[0] for k in order}) > 1
    ax.set_yticklabels([f"{k[0]} #{k[1]}" if many_envs else f"#{k[1]}" for k in order])
    ax.set_ylim(len(order) - 0.5 if order else 0.5, -0.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("replica")
    ax.set_title(wrap_title(title))
    ax.grid(axis="x", alpha=0.3)
    right = max(end, until or 0.0)
    if right > 0:
        ax.set_xlim(min((lanes[k].start for k in order), default=0.0) / div, right * 1.02 / div)

    handles = [mpatches.Patch(facecolor="white", edgecolor=COLORS["grey"], hatch="////", label="cold start"),
               Line2D([], [], color="#bbbbbb", linewidth=2, label="idle")]
    for n in sorted(levels_used):
        handles.append(mpatches.Patch(color=shade(n), label=f"{n} task{'s' if n > 1 else ''} running"))
    for reason in seen_reasons:
        marker, color, label = STOP_MARKERS.get(reason, _OTHER_STOP)
        handles.append(Line2D([], [], marker=marker, color=color, linestyle="none", label=label))
    if on_past_end:
        handles.append(Line2D([], [], color=COLORS["grey"], linestyle=":", linewidth=2, label="alive after the trace"))
    if starved:
        handles.append(Line2D([], [], color=COLORS["vermillion"], linestyle="--", label="starvation"))
    ax.reuse_ref_handles = handles  # for shared_legend
    if legend:
        rows = _legend_below(ax, handles, len(order))
        if own_figure and rows > 3:  # a legend taller than the lanes: make room, or it spills out
            fig.set_size_inches(fig.get_figwidth(), fig.get_figheight() + 0.2 * (rows - 3))
    fig.tight_layout()
    return fig


def _many_lanes(trace: Trace, env: Optional[str], ax, unit: str, lanes: int, max_lanes: int,
                until: Optional[float]):
    """The occupancy figure in place of a timeline of ``lanes`` > ``max_lanes`` replicas."""
    if ax is not None and hasattr(ax, "get_subplotspec"):  # one axes: split it in two
        spec = ax.get_subplotspec()
        if spec is None:
            raise ValueError(f"ax={ax!r} is not valid here: {lanes} replicas are more than max_lanes={max_lanes}, "
                             f"and the occupancy drawn instead needs axes from a grid (plt.subplots) or a pair")
        fig = ax.figure
        inner = spec.subgridspec(2, 1, hspace=0.15)
        ax.remove()
        top = fig.add_subplot(inner[0])
        ax = (top, fig.add_subplot(inner[1], sharex=top))
    if ax is not None:
        ax = tuple(ax)
        if len(ax) != 2:
            raise ValueError(f"ax of {len(ax)} axes is not valid here: {lanes} replicas are more than "
                             f"max_lanes={max_lanes}, and the occupancy drawn instead needs one axes or a pair")
    fig = occupancy(trace, env, ax=ax, unit=unit)
    top, bottom = fig.axes[-2:] if ax is None else ax
    top.set_title(wrap_title(f"{top.get_title()} ({lanes} replicas: too many to draw one lane each)"))
    if until is not None:
        bottom.set_xlim(right=until / time_unit(unit)[0])
    fig.tight_layout()
    return fig


_LEGEND_COLUMNS = 2


def _legend_below(ax, handles, lanes: int = 3) -> int:
    """Draw the legend under the axes; returns its number of rows."""
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2 - 0.45 / max(lanes, 3)),
              ncol=_LEGEND_COLUMNS, frameon=False)
    return -(-len(handles) // _LEGEND_COLUMNS)


def shared_legend(axes) -> None:
    """One legend under the last of ``axes`` (timelines drawn with ``legend=False``) that
    holds every entry of every one of them, each label once."""
    axes = list(axes)
    seen: Dict[str, Any] = {}
    for a in axes:
        for handle in getattr(a, "reuse_ref_handles", []):
            seen.setdefault(handle.get_label(), handle)
    _legend_below(axes[-1], list(seen.values()), len(axes[-1].get_yticks()))
    axes[-1].figure.tight_layout()


# ---------------------------------------------------------------------- occupancy
def occupancy(trace: Trace, env: Optional[str] = None, ax=None, unit: str = "s"):
    """Two panels sharing the time axis: live replicas (with the policy's min and max), and
    tasks queued and running (busy slots) over time. Returns the Figure.

    With ``ax`` (a pair of axes) the panels are drawn into them. ``unit``: the time axis
    in ``"s"``, ``"min"`` or ``"h"``.
    """
    div, xlabel = time_unit(unit)
    env, title = _env_and_title(trace, env)
    s = trace.series(env)
    if ax is None:
        fig, (top, bottom) = new_axes(None, nrows=2, figsize=(5.0, 5.2), sharex=True)
    else:
        top, bottom = ax
        fig = top.figure
    times = [t / div for t in s.times]
    if times:  # hold the last values a little so the final step is visible
        times.append(times[-1])

    def extend(values):
        return list(values) + values[-1:]
    top.step(times, extend(s.replicas), where="post", color=COLORS["blue"], label="live replicas")
    policy = trace.policies.get(env) if env is not None else None
    if policy is not None and getattr(policy, "replicas", None):
        lo, hi = policy.replicas
        top.axhline(hi, color=COLORS["blue"], linestyle=":", linewidth=1.2, label=f"max ({hi})")
        if lo:
            top.axhline(lo, color=COLORS["blue"], linestyle="--", linewidth=1.2, label=f"min ({lo})")
    top.set_ylabel("replicas")
    top.set_title(wrap_title(f"Occupancy: {title}"))
    top.legend(loc="upper right")
    top.grid(alpha=0.3)
    bottom.step(times, extend(s.queued), where="post", color=COLORS["vermillion"], label="queued")
    bottom.step(times, extend(s.busy), where="post", color=COLORS["green"], label="running (busy slots)")
    bottom.set_ylabel("tasks")
    bottom.set_xlabel(xlabel)
    bottom.legend(loc="upper right")
    bottom.grid(alpha=0.3)
    for a in (top, bottom):
        a.set_ylim(bottom=0)
    fig.tight_layout()
    return fig
