"""Figures drawn from a :class:`~reuse_ref.trace.Trace` or a :class:`~reuse_ref.plan.Plan` (matplotlib).

* :func:`timeline`: one lane per replica: its cold start, its busy slots (darker for more
  tasks at once), its idle time, and why it stopped; past ``max_lanes`` replicas, the
  occupancy view instead, since hundreds of lanes cannot be read.
* :func:`occupancy`: live replicas, queued tasks and busy slots over time.
* :func:`task_bars`: one bar per task: queued, running its own work, or waiting for the
  tasks it called (defined in ``_plot_tasks``).
* :func:`compare`: several policies on one scatter: footprint (replica-hours, over one
  common window) against 95th-percentile wait.
* :func:`plan`: a plan's candidates, cost against the target's percentile of wait, with
  the Pareto front and the recommendation.
* :func:`use_book_style`: the book's figure style (colour-blind-safe Okabe-Ito colours,
  text large enough to read on a phone) and a check that refuses a figure whose text
  would be smaller than 8 pt when it is shown 360 px wide (:func:`smallest_text_pt`).

Each function returns the matplotlib ``Figure``. matplotlib is imported only when a
figure is drawn, and through ``pyplot`` so that figures show in notebooks; on a machine
without a display pyplot falls back to the Agg backend by itself, and nothing here ever
calls ``plt.show()``. In a notebook, end the line with ``;`` (or assign the figure) so the
figure is not shown twice. Pass ``ax=`` to draw into axes of your own.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from . import _plot_base
from ._plot_base import _new_axes, _wrap
from ._plot_tasks import task_bars
from .trace import Measures, Trace

__all__ = ["timeline", "task_bars", "shared_legend", "occupancy", "compare", "plan", "MAX_LANES", "STOP_MARKERS", "COLORS", "use_book_style",
           "smallest_text_pt", "FigureTooSmallError", "BOOK_RC", "MIN_TEXT_PT", "SHOWN_PX", "PNG_TEXT_KEY",
           "UTILISATION_BANDS"]

COLORS = _plot_base.COLORS
"""The Okabe-Ito palette (distinguishable with the common colour-vision deficiencies)."""


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

BOOK_RC = {
    "figure.figsize": (5.0, 3.4), "figure.dpi": 150, "savefig.dpi": 150,
    "font.size": 11.5, "axes.titlesize": 12, "axes.labelsize": 11.5, "xtick.labelsize": 11,
    "ytick.labelsize": 11, "legend.fontsize": 11, "legend.title_fontsize": 11,
    "figure.titlesize": 12, "axes.prop_cycle": None,
}
"""The book's matplotlib settings: figures 5 in wide, text 11 pt or more, Okabe-Ito colours.
A notebook shows a figure at ``figure.dpi``: at 150 a 5 in figure is about 750 px wide,
large on a desktop, and a phone scales it down to its screen."""

MIN_TEXT_PT = 8.0
"""The smallest text, in points, that a figure may show on a phone."""

SHOWN_PX = 360
"""A phone 400 px wide shows a figure about 360 px wide (the page has margins)."""


PNG_TEXT_KEY = "reuse_ref smallest text pt at 360 px"
"""The PNG text chunk in which a checked figure records :func:`smallest_text_pt`."""


class FigureTooSmallError(ValueError):
    """A figure's text would be smaller than :data:`MIN_TEXT_PT` on a phone."""


def smallest_text_pt(fig, shown_px: float = SHOWN_PX) -> float:
    """The size, in points, of the figure's smallest text when the figure (cropped as a
    notebook crops it, ``bbox_inches="tight"``) is shown ``shown_px`` CSS pixels wide.

    A figure shown at its natural size keeps its point sizes; a figure ``W`` inches wide
    squeezed into ``shown_px`` pixels scales them by ``shown_px / (96 W)`` (96 CSS pixels
    to the inch). Text wider figures than that shrink; ``inf`` when there is no text.
    """
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    width_in = fig.get_tightbbox(renderer).width
    scale = min(1.0, shown_px / (96.0 * width_in)) if width_in > 0 else 1.0
    sizes = [t.get_fontsize() for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and t.get_window_extent(renderer).width > 0]
    return min(sizes, default=float("inf")) * scale


_checking = False


def use_book_style(check: bool = True) -> None:
    """Apply :data:`BOOK_RC`; with ``check``, every figure a notebook shows afterwards is
    first measured by :func:`smallest_text_pt`, and one with text under 8 pt at 360 px
    raises :class:`FigureTooSmallError` instead of being shown; a PNG that is shown records
    the size in its text chunk :data:`PNG_TEXT_KEY`, for the book's browser check."""
    global _checking
    import matplotlib as mpl
    from cycler import cycler
    from matplotlib.backend_bases import FigureCanvasBase

    rc = dict(BOOK_RC)
    rc["axes.prop_cycle"] = cycler(color=[COLORS[k] for k in ("blue", "orange", "green", "vermillion",
                                                                "purple", "sky", "yellow", "black")])
    mpl.rcParams.update(rc)
    if check and not _checking:
        original = FigureCanvasBase.print_figure

        def print_figure(self, *args, **kwargs):
            size = smallest_text_pt(self.figure)
            if size < MIN_TEXT_PT:
                raise FigureTooSmallError(
                    f"figure {self.figure.get_size_inches().round(2).tolist()} in: its smallest text would be "
                    f"{size:.1f} pt on a phone (shown {SHOWN_PX} px wide); make it narrower or its text larger")
            if str(kwargs.get("format", "")).lower() == "png":  # the browser check reads it back
                kwargs["metadata"] = {**(kwargs.get("metadata") or {}), PNG_TEXT_KEY: f"{size:.2f}"}
            return original(self, *args, **kwargs)

        FigureCanvasBase.print_figure = print_figure
        _checking = True




def _env_and_title(trace: Trace, env: Optional[str]) -> Tuple[Optional[str], str]:
    envs = trace.envs
    if env is None and len(envs) == 1:
        env = envs[0]
    if env is None:
        return None, "all environments"
    policy = trace.policies.get(env)
    return env, f"{env}: {policy!r}" if policy is not None else env


# ---------------------------------------------------------------------- timeline
class _Lane:
    __slots__ = ("start", "ready", "stop", "reason", "busy")

    def __init__(self, start: float) -> None:
        self.start = start
        self.ready: Optional[float] = None
        self.stop: Optional[float] = None
        self.reason = ""
        self.busy: List[Tuple[float, float, int]] = []  # (from, to, tasks running)


def _lanes(records, end: float) -> Dict[Tuple[str, int], _Lane]:
    lanes: Dict[Tuple[str, int], _Lane] = {}
    count: Dict[Tuple[str, int], Tuple[float, int]] = {}  # replica -> (since, tasks running)
    where: Dict[Any, Tuple[str, int]] = {}  # running (env, task) -> (env, replica)

    def change(key, t, delta):
        since, n = count.get(key, (t, 0))
        if n and t > since:
            lanes[key].busy.append((since, t, n))
        count[key] = (t, n + delta)

    for time, kind, replica, task, reason, env in records:
        if kind == "replica_start":
            lanes[(env, replica)] = _Lane(time)
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


_UNITS = {"s": (1.0, "time (s)"), "min": (60.0, "time (min)"), "h": (3600.0, "time (hours)")}


def _unit(unit: str) -> Tuple[float, str]:
    if unit not in _UNITS:
        raise ValueError(f"unit={unit!r} is not valid: one of {', '.join(_UNITS)}")
    return _UNITS[unit]




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
    if isinstance(max_lanes, bool) or not isinstance(max_lanes, int) or max_lanes < 1:
        raise ValueError(f"max_lanes={max_lanes!r} is not valid: an int >= 1, the most replicas drawn one "
                         f"lane each")
    div, xlabel = _unit(unit)
    env, title = _env_and_title(trace, env)
    records = trace._select(env)  # rows: (time, kind, replica, task, reason, env)
    end = records[-1][0] if records else 0.0
    lanes = _lanes(records, end)
    if len(lanes) > max_lanes:
        return _many_lanes(trace, env, ax, unit, len(lanes), max_lanes, until)
    concurrency = max([trace._concurrency(e) for e in ({k[0] for k in lanes} or {env})] or [1])
    own_figure = ax is None
    fig, ax = _new_axes(ax, figsize=(5.0, 1.4 + 0.3 * max(len(lanes), 3)))
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
    ax.set_title(_wrap(title))
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
    top.set_title(_wrap(f"{top.get_title()} ({lanes} replicas: too many to draw one lane each)"))
    if until is not None:
        bottom.set_xlim(right=until / _unit(unit)[0])
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
    div, xlabel = _unit(unit)
    env, title = _env_and_title(trace, env)
    s = trace.series(env)
    if ax is None:
        fig, (top, bottom) = _new_axes(None, nrows=2, figsize=(5.0, 5.2), sharex=True)
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
    top.set_title(_wrap(f"Occupancy: {title}"))
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


# ---------------------------------------------------------------------- compare
UTILISATION_BANDS = ((0.25, "under 25 %", "vermillion"), (0.5, "25 to 50 %", "orange"),
                     (0.75, "50 to 75 %", "sky"), (float("inf"), "75 % or more", "blue"))
"""The utilisation bands of :func:`compare`: upper bound, legend label, colour name."""


def compare(results: Union[Mapping[str, Union[Trace, Measures]], Iterable[Tuple[str, Union[Trace, Measures]]]],
            ax=None, horizon: Optional[float] = None):
    """A policy comparison for sweeps: footprint in replica-hours (what the policy costs)
    against the 95th-percentile queue wait (what users feel), one labelled point per policy.

    ``results`` maps a label to a ``Trace`` or its ``Measures`` (a dict, or pairs). Traces
    are charged over one common window (:func:`reuse_ref.window.compare`, ``horizon``
    defaulting to their :func:`~reuse_ref.window.common_horizon`), so that an always-on
    pool pays for the time it would go on running; ``Measures`` are taken as given.
    Points are coloured by utilisation band (:data:`UTILISATION_BANDS`). Lower left is
    better on both counts. Returns the Figure.
    """
    from .window import compare as over_window

    items = list(results.items()) if isinstance(results, Mapping) else list(results)
    if not items:
        raise ValueError("results=[] is not valid: give at least one (label, trace) pair")
    for label, value in items:
        if not isinstance(value, (Trace, Measures)):
            raise ValueError(f"results item {value!r} is not valid: a Trace or its Measures")
    traces = [(str(label), value) for label, value in items if isinstance(value, Trace)]
    windowed = over_window(traces, horizon=horizon) if traces else {}
    points = [(str(label), windowed.get(str(label)) if isinstance(value, Trace) else value) for label, value in items]
    fig, ax = _new_axes(ax, figsize=(5.0, 4.0))
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


# ---------------------------------------------------------------------- plan
def plan(result, ax=None, currency: Optional[str] = None, label: bool = True):
    """A plan's candidates: cost (y) against the target's percentile of queue wait (x).

    Hollow grey points miss the target, blue ones meet it but cost more or are beaten on
    both counts, black crosses starve; the orange line joins the Pareto front (cheapest
    first: no other candidate is both cheaper and quicker); the dashed line is the target,
    and the star, labelled with its four numbers, is the recommendation. The cost is in
    money, as the plan's prices give it (``currency`` names the unit on the axis), or in
    replica-hours when every price is 0 or the only one is 1 per replica-hour (the cost is
    then no money, or the replica-hours themselves). ``result`` is what :func:`reuse_ref.plan.plan` returns;
    ``label=False`` leaves the star unlabelled. Returns the Figure.
    """
    from ._plot_plan import plan_figure

    return plan_figure(result, ax=ax, currency=currency, label=label)
