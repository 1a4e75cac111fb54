"""One bar per task: queued, running its own work, or waiting for the tasks it called.

A replica timeline (:func:`reuse_ref.figures.timeline`) shows what the pool held; it cannot
show that a busy slot belongs to a parent that is only *waiting* (rule 6), nor which
child ran when, since a replica's busy time merges its tasks. This figure draws each
task on a row of its own. A trace does not record when a parent stops working and starts
waiting, so the figure also takes the workload: a job's ``duration`` is its own work,
and whatever of its attempt comes after that is waiting for its children
(:class:`~reuse_ref.sim.workloads.Job`).
"""
from __future__ import annotations

from typing import Dict, Hashable, Iterable, List, Optional, Tuple

from ..sim.workloads import Job
from ..trace import Trace
from .style import COLORS, new_axes, time_unit, wrap_title

__all__ = ["task_bars"]

MAX_TASKS = 40
"""The most tasks :func:`task_bars` draws (one row each)."""


def _spans(records, end: float):
    """Per task: its queued spans, its attempts (start, end, replica) and its final failure."""
    queued: Dict[Hashable, List[Tuple[float, float]]] = {}
    attempts: Dict[Hashable, List[Tuple[float, float, Optional[int]]]] = {}
    failed: Dict[Hashable, Tuple[float, str]] = {}
    since: Dict[Hashable, float] = {}  # queued, not started yet
    running: Dict[Hashable, Tuple[float, Optional[int]]] = {}
    order: List[Hashable] = []
    for time, kind, replica, task, reason, _env in records:
        if kind == "task_queued":
            if task not in queued:
                order.append(task)
                queued[task], attempts[task] = [], []
            since[task] = time
        elif kind == "task_start":
            if task in since:
                queued[task].append((since.pop(task), time))
            running[task] = (time, replica)
        elif kind in ("task_end", "task_failed") and task in queued:
            if task in running:
                start, rep = running.pop(task)
                attempts[task].append((start, time, rep))
            elif task in since:  # failed while queued (starvation, a cancelled child)
                queued[task].append((since.pop(task), time))
            if kind == "task_failed" and not reason.endswith(" (retrying)"):
                failed[task] = (time, reason)
    for task, start in since.items():
        queued[task].append((start, end))
    for task, (start, rep) in running.items():
        attempts[task].append((start, end, rep))
    return order, queued, attempts, failed


def task_bars(trace: Trace, jobs: Iterable[Job], env: Optional[str] = None, ax=None, unit: str = "s",
              legend: bool = True):
    """One row per task of ``trace`` (at most 40), in order of arrival.

    An outlined, hatched bar is the time a task waited in the queue for a slot; a solid
    bar is its own work, labelled with the replica it ran on; a light bar with a
    different hatch is a parent waiting for the tasks it called, holding its slot; a cross
    marks a task that failed for good (its reason in the legend). Starvation is a dashed
    vermillion line, as in the timeline. ``jobs`` is the workload the trace was simulated
    from: each job's ``duration`` is its own work. Returns the Figure.
    """
    div, xlabel = time_unit(unit)
    work = {}
    for job in jobs:
        if not isinstance(job, Job):
            raise ValueError(f"jobs contains {job!r}, which is not valid: a reuse_ref.sim.workloads.Job")
        work[job.id] = (job.duration, job.name)
    records = trace.rows(env)
    end = records[-1][0] if records else 0.0
    order, queued, attempts, failed = _spans(records, end)
    missing = [t for t in order if t not in work]
    if missing:
        raise ValueError(f"jobs={len(work)} jobs is not valid for this trace: it lacks task {missing[0]!r}; "
                         f"give the workload the trace was simulated from")
    if len(order) > MAX_TASKS:
        raise ValueError(f"the trace has {len(order)} tasks, which is not valid here: at most {MAX_TASKS} "
                         f"(one row each); use reuse_ref.figures.timeline or occupancy")
    fig, ax = new_axes(ax, figsize=(5.0, 1.6 + 0.32 * max(len(order), 3)))
    import matplotlib.patches as mpatches
    from matplotlib.lines import Line2D

    task_kinds = ("task_queued", "task_start", "task_end", "task_failed", "starvation")
    last = max((r[0] for r in records if r[1] in task_kinds), default=end)
    right = last * 1.05 if last > 0 else 1.0
    reasons: List[str] = []
    waited = False
    for y, task in enumerate(order):
        for a, b in queued[task]:
            if b > a:
                ax.broken_barh([(a / div, (b - a) / div)], (y - 0.3, 0.6), facecolors="white",
                               edgecolors=COLORS["grey"], hatch="////", linewidth=0.8)
        own, _ = work[task]
        for a, b, replica in attempts[task]:
            busy_until = min(b, a + own)
            if busy_until > a:
                ax.broken_barh([(a / div, (busy_until - a) / div)], (y - 0.3, 0.6), facecolors=COLORS["blue"])
                if replica is not None and busy_until - a >= 0.08 * right:  # a label only where it fits
                    ax.text((a + busy_until) / 2 / div, y, f"#{replica}", ha="center", va="center",
                            color="white", fontsize=11)
            if b > busy_until:
                waited = True
                ax.broken_barh([(busy_until / div, (b - busy_until) / div)], (y - 0.3, 0.6),
                               facecolors="#cfe3f1", edgecolors=COLORS["blue"], hatch="..", linewidth=0.8)
        if task in failed:
            t, reason = failed[task]
            ax.plot([t / div], [y], marker="X", color=COLORS["vermillion"], markersize=9, linestyle="none", zorder=3)
            if reason not in reasons:
                reasons.append(reason)
    starved = [r[0] for r in records if r[1] == "starvation"]
    for t in starved:
        ax.axvline(t / div, color=COLORS["vermillion"], linestyle="--", linewidth=1.2)

    ax.set_yticks(range(len(order)))
    ax.set_yticklabels([f"{work[t][1] or 'task'} {t}" for t in order])
    ax.set_ylim(len(order) - 0.5 if order else 0.5, -0.5)
    ax.set_xlabel(xlabel)
    policies = trace.policies
    title = f"{env}: {policies[env]!r}" if env in policies else (
        f"{trace.envs[0]}: {policies[trace.envs[0]]!r}" if len(trace.envs) == 1 and trace.envs[0] in policies
        else "tasks")
    ax.set_title(wrap_title(title))
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlim(0, right / div)
    handles = [mpatches.Patch(facecolor="white", edgecolor=COLORS["grey"], hatch="////", label="queued (no slot)"),
               mpatches.Patch(color=COLORS["blue"], label="running (#replica)")]
    if waited:
        handles.append(mpatches.Patch(facecolor="#cfe3f1", edgecolor=COLORS["blue"], hatch="..",
                                      label="waiting for its children"))
    handles += [Line2D([], [], marker="X", color=COLORS["vermillion"], linestyle="none", label=f"failed: {r}")
                for r in reasons]
    if starved:
        handles.append(Line2D([], [], color=COLORS["vermillion"], linestyle="--", label="starvation"))
    ax.reuse_ref_handles = handles  # for plot.shared_legend
    if legend:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2, frameon=False)
    fig.tight_layout()
    return fig
