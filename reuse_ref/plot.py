"""Figures drawn from a :class:`~reuse_ref.trace.Trace` (matplotlib).

* :func:`timeline`: one lane per replica: its cold start, its busy slots (darker for more
  tasks at once), its idle time, and why it stopped.
* :func:`occupancy`: live replicas, queued tasks and busy slots over time.
* :func:`compare`: several policies on one scatter: footprint against 95th-percentile wait.

Each function returns the matplotlib ``Figure``. matplotlib is imported only when a
figure is drawn, and through ``pyplot`` so that figures show in notebooks; on a machine
without a display pyplot falls back to the Agg backend by itself, and nothing here ever
calls ``plt.show()``. In a notebook, end the line with ``;`` (or assign the figure) so the
figure is not shown twice. Pass ``ax=`` to draw into axes of your own.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from .trace import Measures, Trace

__all__ = ["timeline", "occupancy", "compare", "STOP_MARKERS"]

STOP_MARKERS = {
    "scaledown": ("v", "tab:orange", "stopped: scaledown_ttl"),
    "idle_ttl": ("s", "tab:red", "stopped: idle_ttl"),
    "crashed": ("X", "black", "crashed"),
    "oom": ("P", "tab:purple", "killed: out of memory"),
    "shutdown": ("o", "tab:gray", "shut down"),
}
"""Marker, colour and legend label of each ``replica_stop`` reason in :func:`timeline`."""
_OTHER_STOP = ("*", "tab:brown", "stopped: other")


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        raise ImportError("reuse_ref.plot needs matplotlib: pip install matplotlib") from None
    return plt


def _new_axes(ax, nrows: int = 1, figsize=(9, 4), **kw):
    if ax is not None:
        return ax.figure, ax
    plt = _pyplot()
    fig, axes = plt.subplots(nrows, 1, figsize=figsize, **kw)
    return fig, axes


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


def timeline(trace: Trace, env: Optional[str] = None, ax=None):
    """One horizontal lane per replica, in order of start.

    A hatched bar is the cold start (``replica_start`` to ``replica_ready``); a thin grey
    line is the replica up and idle; filled bars are busy time, darker when more tasks run
    on it at once (up to the policy's ``concurrency``); a marker at the end shows why it
    stopped (see :data:`STOP_MARKERS`). Starvation is a dashed red line. Returns the Figure.
    """
    env, title = _env_and_title(trace, env)
    records = trace._select(env)  # rows: (time, kind, replica, task, reason, env)
    end = records[-1][0] if records else 0.0
    lanes = _lanes(records, end)
    concurrency = max([trace._concurrency(e) for e in ({k[0] for k in lanes} or {env})] or [1])
    fig, ax = _new_axes(ax, figsize=(10, 1.2 + 0.32 * max(len(lanes), 3)))
    import matplotlib.patches as mpatches
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    cmap = colormaps["Blues"]

    def shade(n: int):
        return cmap(0.35 + 0.6 * min(n, concurrency) / concurrency)

    order = sorted(lanes, key=lambda k: (lanes[k].start, k[0], k[1]))
    seen_reasons = []
    levels_used = set()
    for y, key in enumerate(order):
        lane = lanes[key]
        up_to = lane.stop if lane.stop is not None else end
        ready = lane.ready if lane.ready is not None else up_to
        if ready > lane.start:
            ax.broken_barh([(lane.start, ready - lane.start)], (y - 0.3, 0.6), facecolors="white",
                           edgecolors="tab:gray", hatch="////", linewidth=0.6)
        if up_to > ready:
            ax.hlines(y, ready, up_to, colors="lightgray", linewidth=1.5, zorder=1)
        by_level: Dict[int, list] = {}
        for a, b, n in lane.busy:
            by_level.setdefault(n, []).append((a, b - a))
        for n, spans in sorted(by_level.items()):
            ax.broken_barh(spans, (y - 0.3, 0.6), facecolors=shade(n), edgecolors="none", zorder=2)
            levels_used.add(n)
        if lane.stop is not None:
            marker, color, _ = STOP_MARKERS.get(lane.reason, _OTHER_STOP)
            ax.plot([lane.stop], [y], marker=marker, color=color, markersize=7, linestyle="none", zorder=3)
            if lane.reason not in seen_reasons:
                seen_reasons.append(lane.reason)
    starved = [r[0] for r in records if r[1] == "starvation"]
    for t in starved:
        ax.axvline(t, color="tab:red", linestyle="--", linewidth=1)

    ax.set_yticks(range(len(order)))
    many_envs = len({k[0] for k in order}) > 1
    ax.set_yticklabels([f"{k[0]} #{k[1]}" if many_envs else f"replica {k[1]}" for k in order])
    ax.set_ylim(len(order) - 0.5 if order else 0.5, -0.5)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("replica")
    ax.set_title(f"Replica timeline: {title}")
    ax.grid(axis="x", alpha=0.3)
    if end > 0:
        ax.set_xlim(min((lanes[k].start for k in order), default=0.0), end * 1.02 if end > 0 else 1)

    handles = [mpatches.Patch(facecolor="white", edgecolor="tab:gray", hatch="////", label="cold start"),
               Line2D([], [], color="lightgray", linewidth=1.5, label="idle")]
    for n in sorted(levels_used):
        handles.append(mpatches.Patch(color=shade(n), label=f"{n} task{'s' if n > 1 else ''} running"))
    for reason in seen_reasons:
        marker, color, label = STOP_MARKERS.get(reason, _OTHER_STOP)
        handles.append(Line2D([], [], marker=marker, color=color, linestyle="none", label=label))
    if starved:
        handles.append(Line2D([], [], color="tab:red", linestyle="--", label="starvation"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------- occupancy
def occupancy(trace: Trace, env: Optional[str] = None, ax=None):
    """Two panels sharing the time axis: live replicas (with the policy's min and max), and
    tasks queued and running (busy slots) over time. Returns the Figure.

    With ``ax`` (a pair of axes) the panels are drawn into them.
    """
    env, title = _env_and_title(trace, env)
    s = trace.series(env)
    if ax is None:
        fig, (top, bottom) = _new_axes(None, nrows=2, figsize=(10, 5.5), sharex=True)
    else:
        top, bottom = ax
        fig = top.figure
    times = list(s.times)
    if times:  # hold the last values a little so the final step is visible
        times.append(times[-1])
    def extend(values):
        return list(values) + values[-1:]
    top.step(times, extend(s.replicas), where="post", color="tab:blue", label="live replicas")
    policy = trace.policies.get(env) if env is not None else None
    if policy is not None and getattr(policy, "replicas", None):
        lo, hi = policy.replicas
        top.axhline(hi, color="tab:blue", linestyle=":", linewidth=1, label=f"max replicas ({hi})")
        if lo:
            top.axhline(lo, color="tab:blue", linestyle="--", linewidth=1, label=f"min replicas ({lo})")
    top.set_ylabel("replicas")
    top.set_title(f"Occupancy: {title}")
    top.legend(loc="upper right", fontsize="small")
    top.grid(alpha=0.3)
    bottom.step(times, extend(s.queued), where="post", color="tab:red", label="queued tasks")
    bottom.step(times, extend(s.busy), where="post", color="tab:green", label="running tasks (busy slots)")
    bottom.set_ylabel("tasks")
    bottom.set_xlabel("time (s)")
    bottom.legend(loc="upper right", fontsize="small")
    bottom.grid(alpha=0.3)
    for a in (top, bottom):
        a.set_ylim(bottom=0)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------- compare
def _measures_of(value: Union[Trace, Measures]) -> Measures:
    if isinstance(value, Measures):
        return value
    if isinstance(value, Trace):
        return value.measures()
    raise ValueError(f"results item {value!r} is not valid: a Trace or its Measures")


def compare(results: Union[Mapping[str, Union[Trace, Measures]], Iterable[Tuple[str, Union[Trace, Measures]]]], ax=None):
    """A policy comparison for sweeps: replica-seconds (what the policy costs) against the
    95th-percentile queue wait (what users feel), one labelled point per policy.

    ``results`` maps a label to a ``Trace`` or its ``Measures`` (a dict, or pairs). Points
    are coloured by utilisation. Lower left is better on both counts. Returns the Figure.
    """
    items = list(results.items()) if isinstance(results, Mapping) else list(results)
    if not items:
        raise ValueError("results=[] is not valid: give at least one (label, trace) pair")
    points = [(str(label), _measures_of(value)) for label, value in items]
    fig, ax = _new_axes(ax, figsize=(8, 5))
    xs = [m.replica_seconds for _, m in points]
    ys = [m.wait_p95 for _, m in points]
    util = [100 * m.utilisation for _, m in points]
    sc = ax.scatter(xs, ys, c=util, cmap="viridis", vmin=0, vmax=100, s=60, edgecolors="black", linewidths=0.5, zorder=3)
    # points that (nearly) coincide get their labels stacked instead of printed on each other
    span_x = (max(xs) - min(xs)) or 1.0
    span_y = (max(ys) - min(ys)) or 1.0
    placed: List[Tuple[float, float]] = []
    for (label, _), x, y in zip(points, xs, ys):
        nx, ny = (x - min(xs)) / span_x, (y - min(ys)) / span_y
        crowd = sum(1 for px, py in placed if abs(px - nx) < 0.15 and abs(py - ny) < 0.05)
        placed.append((nx, ny))
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(6, 5 + 11 * crowd), fontsize="small")
    cbar = fig.colorbar(sc, ax=ax)
    cbar.set_label("utilisation (% of paid slot-seconds)")
    ax.set_xlabel("footprint (replica-seconds)")
    ax.set_ylabel("95th-percentile queue wait (s)")
    ax.set_title("Policies compared: footprint against tail wait (lower left is better)")
    ax.grid(alpha=0.3)
    ax.margins(0.15)
    if min(xs) >= 0:
        ax.set_xlim(left=0)
    if min(ys) >= 0:
        ax.set_ylim(bottom=0)
    fig.tight_layout()
    return fig
