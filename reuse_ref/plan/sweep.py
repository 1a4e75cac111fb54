"""Running a plan's candidates: each one simulated on its own, serially or in worker processes.

A sweep runs *runs*: ``(policy, reading)`` pairs, a candidate under a reading of rule 3
(``scaledown``; a plan asks for both readings, :mod:`reuse_ref.plan.readings`), or
``(policy, reading, k)`` triples: the candidate under its ``k``-th replication, one draw
of its random inputs (:class:`Replication`: which of the sweep's workloads, which cold
start). :func:`replicated` makes ``K`` runs of each run, for a plan with odds; every run,
whatever its replication, goes through the same engine.

Each run is simulated by the compiled twin where it covers the run (one pool of
independent jobs, :mod:`reuse_ref.sim.compiled`) and by ``simulate`` otherwise, or always
by ``simulate`` with ``engine="python"``; either way its :class:`Outcome` is the same, to
the last bit (``tests/test_compiled.py``). A worker prepares each workload (its arrays)
and each replication's cold starts (drawn ahead, in the order replicas start, the same for
every candidate) once, and every candidate it runs reads them.

Candidates are independent, so a sweep can run them in any order and anywhere; what each
run sends back is small (its measures without the window, its replicas' spans and the
target's percentile), never its trace. The charge over the common window (section "The
trace and its measures" of the Concepts page) is applied afterwards by
:mod:`reuse_ref.plan.planner`, with :func:`reuse_ref.trace.measures.over_window`, once every
candidate has ended and the window is known. Results come back in candidate order, so a
parallel sweep gives exactly the answer of a serial one.
"""
from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, List, NamedTuple, Optional, Sequence, Tuple

from ..trace import Measures, gc_paused, percentile
from ..trace.measures import Spans, measure
from ..trace.run_times import roots_of, run_times
from ..trace.window import waits as window_waits

__all__ = ["Outcome", "Replication", "SweepContext", "context_of", "replicated", "run_one", "run_all", "run_on_ray",
           "default_workers"]  # plan() is the interface


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


class Replication(NamedTuple):
    """One draw of a candidate's random inputs: the index of its workload among the sweep's
    ``workloads`` (arrivals drawn again: another workload) and its ``cold_start`` (a number,
    or a :class:`~reuse_ref.sim.cold_starts.ColdStart` seeded for this draw)."""

    workload: int
    cold_start: Any


class SweepContext(NamedTuple):
    """What every run of a sweep shares, sent once to each worker: the ``workloads`` (lists of
    jobs), the ``replications`` (run ``(policy, reading, k)`` uses ``replications[k]``; a
    pair uses ``replications[0]``), each replica's ``resources``, the target's ``percentile``
    and time window (``since``, ``until``; ``None``: every task), ``cpu_bound``, what the
    target bounds, ``kind``: ``"wait"`` (queue wait) or ``"run"`` (a run's time,
    :mod:`reuse_ref.trace.run_times`, which only ``simulate``'s loop measures), and the
    ``engine``: ``"python"`` (always ``simulate``'s loop) or ``"auto"`` (the compiled twin
    wherever it covers a run)."""

    workloads: Tuple[Any, ...]
    replications: Tuple[Replication, ...]
    resources: Any
    percentile: int
    since: Optional[float]
    until: Optional[float]
    cpu_bound: float = 0.0
    kind: str = "wait"
    engine: str = "auto"


def context_of(jobs: Any, cold_start: Any, resources: Any, percentile_: int, since: Optional[float] = None,
               until: Optional[float] = None, cpu_bound: float = 0.0, engine: str = "auto",
               kind: str = "wait") -> SweepContext:
    """The context of a sweep of one workload and one cold start (a single draw: ``K = 1``)."""
    return SweepContext((jobs,), (Replication(0, cold_start),), resources, percentile_, since, until, cpu_bound,
                        kind, engine)


def replicated(runs: Sequence[Any], k: int) -> List[Tuple[Any, str, int]]:
    """Each run ``(policy, reading)`` ``k`` times, as ``(policy, reading, 0)`` ... ``(policy,
    reading, k - 1)``: a candidate's ``k`` draws, each through the same engine, for a
    context with ``k`` replications."""
    return [(policy, reading, r) for policy, reading in runs for r in range(k)]


_CONTEXT: dict = {}  # this process's sweep: its context and what it prepared from it


def _init(context: SweepContext) -> None:
    _CONTEXT.clear()
    _CONTEXT.update(context=context, workloads={}, colds={})


def _workload(index: int) -> tuple:
    """The sweep's workload ``index``, checked, with its arrays for the twin and its environment's name."""
    from ..sim import compiled
    from ..sim.arguments import DEFAULT_NAME
    from ..sim.workloads import check_workload

    ready = _CONTEXT["workloads"].get(index)
    if ready is None:
        checked = check_workload(_CONTEXT["context"].workloads[index])
        named = checked.envs - {None}
        env = next(iter(named)) if len(named) == 1 else DEFAULT_NAME
        ready = _CONTEXT["workloads"][index] = (checked, compiled.Arrivals(checked.jobs), env)
    return ready


def run_one(run) -> Outcome:
    """Simulate one run, ``(policy, reading of rule 3)`` or ``(policy, reading, k)``, in this
    process, with the context ``_init`` set."""
    from ..sim import compiled

    policy, scaledown, k = run if len(run) == 3 else (run[0], run[1], 0)
    c: SweepContext = _CONTEXT["context"]
    rep = c.replications[k]
    checked, arrivals, env = _workload(rep.workload)
    if c.engine != "python" and c.kind == "wait" and not isinstance(policy, dict) and \
            compiled.covers(policy, checked, cpu_bound=c.cpu_bound):
        cold = _CONTEXT["colds"].get(k)
        if cold is None:
            cold = _CONTEXT["colds"][k] = compiled.ColdDraws(rep.cold_start)
        twin = compiled.run(arrivals, policy, cold, scaledown)
        if twin is not None:  # None: a time is not finite, and simulate says why
            with gc_paused():
                m, spans, last_end, queued, waits = compiled.measure(
                    twin, len(arrivals.ids), {env: policy}, {env: c.resources}, env)
            if c.since is None:
                value = {50: m.wait_p50, 95: m.wait_p95, 99: m.wait_p99}[c.percentile]
            else:
                value = compiled.window_percentile(queued, waits, c.since, c.until, c.percentile)
            return Outcome(m, spans, last_end, value)
    return _simulated(policy, checked.jobs, rep.cold_start, scaledown, c)


def _simulated(policy: Any, jobs: Any, cold_start: Any, scaledown: str, c: SweepContext) -> Outcome:
    """A run's :class:`Outcome` from ``simulate``'s Python loop and ``measure``: the reference."""
    from ..sim.event_loop import simulate

    trace = simulate(policy, jobs, cold_start=cold_start, resources=c.resources, progress=False,
                     cpu_bound=c.cpu_bound, scaledown=scaledown, engine="python")
    with gc_paused():
        m, spans, last_end = measure(trace.rows(), trace.policies, trace.resources)
    if c.kind == "run":  # each run's time, from its root's first task_queued to its end
        value = percentile(run_times(trace.rows(), roots_of(jobs), c.since, c.until), c.percentile)
    elif c.since is None:
        value = {50: m.wait_p50, 95: m.wait_p95, 99: m.wait_p99}[c.percentile]
    else:
        value = percentile(window_waits(trace, since=c.since, until=c.until), c.percentile)
    return Outcome(m, spans, last_end, value)


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with(parent: int) -> None:
    """Make this worker end when the sweep's process ends, however it ends. A pool's worker
    waits for work on a pipe whose other end it holds itself (a forked copy), so a sweep
    killed with ``SIGKILL`` left its workers waiting for good. Linux sends this process
    ``SIGKILL`` when its parent goes; elsewhere nothing is set. A parent that went before
    the request was made is seen by the parent's pid having changed."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            return
        if os.getppid() != parent:
            os._exit(1)


def _prepare(context: SweepContext) -> None:
    """A worker's start of a sweep (a pool's process, or a Ray worker's first chunk)."""
    warnings.simplefilter("ignore")  # a policy's warnings were given, once, where it was built
    _init(context)


def _worker_init(context: SweepContext, parent: int) -> None:
    """A pool's process: it ends with the sweep's process, and leaves Ctrl-C to it."""
    _die_with(parent)
    # Ctrl-C reaches the whole process group, and the sweep's own process decides what happens
    # (it ends the workers, _end_now): a worker ignores it. The worker was forked with the
    # signals held (_starting), so none could arrive before this line; they pass again after.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
    _prepare(context)


_HELD = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _starting():
    """Hold Ctrl-C and ``SIGTERM`` while a pool starts its workers. A worker forked now copies
    the held signal mask, so a Ctrl-C between its fork and its initializer cannot make it
    print a traceback; the threads the pool starts copy it too; and in this process neither
    signal lands inside a fork's own callbacks, where Python would print the exception and
    go on as if nothing had happened (seen: a SIGTERM in ``logging``'s fork hook). Held, the
    signal waits for the main thread, which takes it as soon as the work is submitted, and
    the pool is ended."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _end_now(pool: ProcessPoolExecutor, before: set) -> None:
    """End a pool whose sweep was interrupted (Ctrl-C, ``SIGTERM``, an error), without waiting.

    ``with ProcessPoolExecutor()`` would wait for every candidate already submitted: minutes,
    or forever when the interrupt landed while the pool was still starting its workers (seen
    under ``reuse-ref plan --workers 2``). Nothing a worker computes is wanted any more, so
    the workers are killed first: the pool then finds itself broken, marks every pending
    future so and its own thread ends; the shutdown that follows waits on no candidate.
    The workers are the processes this process started since the pool was made (``before``:
    its children then), which also finds one interrupted between its start and its entry in
    the pool's own table.
    """
    workers = [p for p in mp.active_children() if p.pid not in before]
    for process in workers:
        if process.is_alive():
            process.kill()
    for process in workers:
        process.join(timeout=10)
    pool.shutdown(wait=True, cancel_futures=True)


def _run_chunk(runs: Sequence[Any]) -> List[Outcome]:
    """A worker's share of a sweep: a few runs, one after another. The sweep submits these
    itself, not through ``Executor.map``, whose iterator cancels the pending work as an
    interrupt passes through it, while the pool's own thread, finding its workers killed,
    marks the same work broken: two threads finishing one future, and a traceback."""
    return [run_one(run) for run in runs]


def run_all(runs: Sequence[Any], context: SweepContext, workers: int,
            bar: Optional[Callable[[], Any]] = None) -> List[Outcome]:
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
            _init(context)
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
        before = {p.pid for p in mp.active_children()}
        pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init,
                                   initargs=(context, os.getpid()))
        try:
            with _starting():  # the first submit starts the workers
                futures = [pool.submit(_run_chunk, runs[i:i + chunk]) for i in range(0, n, chunk)]
            shown = bar() if bar is not None else None
            for future in futures:
                done = future.result()
                out.extend(done)
                if shown is not None:
                    shown.update(len(done))
        except BaseException:
            _end_now(pool, before)
            raise
        pool.shutdown(wait=True)
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
        _prepare(context)
    return [run_one(run) for run in runs]


def run_on_ray(runs: Sequence[Any], context: SweepContext, address: Optional[str] = None,
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
