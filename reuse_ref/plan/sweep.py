"""Running a plan's candidates: each one simulated on its own, serially or in worker processes.

A sweep runs *runs*: ``(policy, reading)`` pairs, a candidate under a reading of rule 3
(``scaledown``; a plan asks for both readings, :mod:`reuse_ref.plan.readings`).
Candidates are independent, so a sweep can run them in any order and anywhere; what each
run sends back is small (its measures without the window, its replicas' spans and the
target's percentile), never its trace. The charge over the common window (section "The
trace and its measures" of the Concepts page) is applied afterwards by
:mod:`reuse_ref.plan.planner`, with :func:`reuse_ref.trace.measures.over_window`, once every
candidate has ended and the window is known. Results come back in candidate order, so a
parallel sweep gives exactly the answer of a serial one.
"""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, List, NamedTuple, Optional, Sequence

from ..trace import Measures, gc_paused, percentile
from ..trace.measures import Spans, measure
from ..trace.window import waits as window_waits

__all__ = ["Outcome", "run_one", "run_all", "run_on_ray", "default_workers"]  # plan() is the interface


class Outcome(NamedTuple):
    """What one candidate's run sends back.

    ``measures``: its measures without a window (replica-seconds until its last record);
    ``spans``: its replicas' spans (:data:`~reuse_ref.trace.measures.Spans`), which the
    plan charges over the common window; ``last_end``: its last task's end; ``value``:
    the target percentile of queue wait (in the target's time window when it has one)."""

    measures: Measures
    spans: Spans
    last_end: float
    value: float


_CONTEXT: dict = {}


def _init(jobs, cold_start, resources, percentile_, since, until, cpu_bound=0.0) -> None:
    _CONTEXT.update(jobs=jobs, cold_start=cold_start, resources=resources, p=percentile_,
                    since=since, until=until, cpu_bound=cpu_bound)


def run_one(run) -> Outcome:
    """Simulate one run, ``(policy, reading of rule 3)``, in this process, with the context ``_init`` set."""
    from ..sim.event_loop import simulate

    policy, scaledown = run
    c = _CONTEXT
    trace = simulate(policy, c["jobs"], cold_start=c["cold_start"], resources=c["resources"], progress=False,
                     cpu_bound=c["cpu_bound"], scaledown=scaledown)
    with gc_paused():
        m, spans, last_end = measure(trace.rows(), trace.policies, trace.resources)
    if c["since"] is None:
        value = {50: m.wait_p50, 95: m.wait_p95, 99: m.wait_p99}[c["p"]]
    else:
        value = percentile(window_waits(trace, since=c["since"], until=c["until"]), c["p"])
    return Outcome(m, spans, last_end, value)


def _worker_init(*context) -> None:
    warnings.simplefilter("ignore")  # a policy's warnings were given, once, where it was built
    _init(*context)


def run_all(runs: Sequence[Any], context: tuple, workers: int, bar: Optional[Callable[[], Any]] = None) -> List[Outcome]:
    """Every run's :class:`Outcome`, in the order of ``runs`` (``(policy, reading)`` pairs).

    ``workers == 1`` runs them here, one after another; more starts that many processes
    (never more than there are candidates), each given the workload once. ``bar`` makes
    a progress bar (with ``update`` and ``close``), after the processes have started:
    a bar's thread is never copied into a worker.
    """
    n = len(runs)
    workers = max(1, min(workers, n))
    out: List[Outcome] = []
    shown = None
    try:
        if workers == 1:
            saved = dict(_CONTEXT)
            _init(*context)
            shown = bar() if bar is not None else None
            try:
                for run in runs:
                    out.append(run_one(run))
                    if shown is not None:
                        shown.update(1)
            finally:
                _CONTEXT.clear()
                _CONTEXT.update(saved)
            return out
        chunk = max(1, min(16, n // (workers * 4)))
        with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init, initargs=context) as pool:
            results = pool.map(run_one, runs, chunksize=chunk)  # submits every chunk, starting the workers
            shown = bar() if bar is not None else None
            for outcome in results:
                out.append(outcome)
                if shown is not None:
                    shown.update(1)
        return out
    finally:
        if shown is not None:
            shown.close()


_RAY_CONTEXTS: dict = {}  # in a Ray worker: the sweep's context, fetched once per sweep


def _ray_chunk(holder: list, runs: list) -> List[Outcome]:
    """A Ray task: some candidates, simulated with the sweep's context (``holder[0]``, an
    object ref inside a list so that Ray passes the ref and this worker fetches it once)."""
    import ray

    ref = holder[0]
    key = ref.hex()
    context = _RAY_CONTEXTS.get(key)
    if context is None:
        _RAY_CONTEXTS.clear()
        context = _RAY_CONTEXTS[key] = ray.get(ref)
    _worker_init(*context)
    return [run_one(run) for run in runs]


def run_on_ray(runs: Sequence[Any], context: tuple, address: Optional[str] = None,
               bar: Optional[Callable[[], Any]] = None) -> List[Outcome]:
    """Every run's :class:`Outcome`, in the order of ``runs`` (``(policy, reading)`` pairs), from Ray tasks of a
    few candidates each, on the cluster at ``address`` (or the Ray this process is connected
    to, or a local instance started for the sweep and stopped after it)."""
    from ..runtime.ray_connection import connect

    ray, started = connect(address)
    shown = None
    try:
        holder = [ray.put(context)]
        task = ray.remote(_ray_chunk)
        n = len(runs)
        size = max(1, min(16, n // 32))
        chunks = [list(runs[i:i + size]) for i in range(0, n, size)]
        refs = [task.remote(holder, chunk) for chunk in chunks]
        shown = bar() if bar is not None else None
        out: List[Outcome] = []
        for ref in refs:
            part = ray.get(ref)
            out.extend(part)
            if shown is not None:
                shown.update(len(part))
        return out
    finally:
        if shown is not None:
            shown.close()
        if started:
            ray.shutdown()


def default_workers() -> int:
    """All the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
