"""Which engine runs a simulation, and the compiled twin's side of it in Python.

``simulate`` and ``plan`` take ``engine``: ``"python"`` runs the reference, the plain
Python loop over the core's pools, always; ``"compiled"`` runs the compiled twin of one
pool of independent jobs (``reuse_ref.sim._compiled_pool``, numba), and refuses a
simulation the twin does not cover; ``"auto"``, the default, takes the twin where it
covers the simulation, numba is installed (``pip install 'reuse-ref[fast]'``) and the
work is large enough to repay loading it (:data:`AUTO_MIN_JOB_RUNS`), and the reference
otherwise. Either way the records are the same: the twin is checked against the
reference record for record (``tests/test_compiled.py``, ``tools/same_records.py``).

The twin covers what ``run_plain`` covers: one pool under a reuse policy (``scope`` not
``"run"``), jobs without parents or timeouts, no crashes and ``cpu_bound=0`` (a sync job
then runs as any other: only a timeout or a cancel tells it apart):
a plan's candidates over a day of traffic, and the benchmarks' workloads.

Here: the workload as arrays (:class:`Arrivals`, made once and reused by every candidate
of a sweep), the cold starts drawn ahead in the order replicas start
(:class:`ColdDraws`), one run with room grown until it fits (:func:`run`), its records as
the rows a :class:`~reuse_ref.trace.trace.Trace` holds (:func:`rows`), and its measures
as :func:`~reuse_ref.trace.measures.measure` makes them (:func:`measure`). numpy is imported
by the functions that use it, as numba is: ``import reuse_ref`` (a replica's process, say)
loads neither.
"""
from __future__ import annotations

import math
from collections import namedtuple
from itertools import repeat
from operator import itemgetter
from typing import Any, List, NamedTuple, Optional, Tuple

from ..core.records import KINDS
from ..trace.measures import Measures, Spans, over_window

__all__ = ["ENGINES", "AUTO_MIN_JOB_RUNS", "check_engine", "available", "use_twin", "covers", "Arrivals",
           "ColdDraws", "State", "Twin", "run", "rows", "measure", "nearest_rank", "window_percentile"]

ENGINES = ("auto", "python", "compiled")
"""The values of ``engine``: the default first."""

AUTO_MIN_JOB_RUNS = 100_000
"""Jobs times simulations under which ``engine="auto"`` keeps to the Python loop: loading numba
and the compiled twin costs a process about what simulating this many jobs in Python does."""

TWIN_COVERS = ("one pool under a ReusePolicy (scope 'global') of independent jobs (no parent), without "
               "timeouts or crashes, and cpu_bound=0")

_ID, _AT, _DURATION = itemgetter(0), itemgetter(1), itemgetter(2)  # a Job's id, at and duration
_available: Optional[bool] = None
_kernels: dict = {}  # the compiled modules, imported (and numba loaded) on first use


def _kernel(measures: bool = False) -> Any:
    """The twin's compiled module (``reuse_ref.sim._compiled_pool``, or with ``measures``
    ``reuse_ref.sim._compiled_measures``), imported on first use: importing numba costs a
    process a fraction of a second, which a small simulation need not pay."""
    name = "measures" if measures else "pool"
    if name not in _kernels:
        if measures:
            from . import _compiled_measures as module
        else:
            from . import _compiled_pool as module
        _kernels[name] = module
    return _kernels[name]


def check_engine(value: Any, param: str = "engine") -> str:
    if not isinstance(value, str) or value not in ENGINES:
        raise ValueError(f"{param}={value!r} is not valid: 'auto' (the compiled twin where it covers the "
                         f"simulation and numba is installed, the Python loop otherwise), 'python' (the "
                         f"reference loop) or 'compiled' (the twin, numba; {TWIN_COVERS})")
    return value


def available() -> bool:
    """Whether numba can be imported (``pip install 'reuse-ref[fast]'``)."""
    global _available
    if _available is None:
        try:
            import numba  # noqa: F401
            _available = True
        except ImportError:
            _available = False
    return _available


def use_twin(engine: str, covered: bool, job_runs: int) -> bool:
    """Whether ``engine`` runs the twin for a simulation it ``covered`` (or not), of ``job_runs``
    jobs times simulations in all. ``"compiled"`` on a simulation the twin does not cover is a
    ``ValueError``, and without numba an ``ImportError``."""
    if engine == "python":
        return False
    if engine == "compiled":
        if not covered:
            raise ValueError(f"engine='compiled' is not valid for this simulation: the compiled twin covers "
                             f"{TWIN_COVERS}; use engine='auto' or 'python'")
        if not available():
            raise ImportError("engine='compiled' needs numba: pip install 'reuse-ref[fast]'")
        return True
    return covered and job_runs >= AUTO_MIN_JOB_RUNS and available()


def covers(policy: Any, workload: Any, crashes: Any = (), cpu_bound: float = 0.0) -> bool:
    """Whether the twin covers a simulation of ``policy`` (one ``ReusePolicy``) over ``workload``
    (a :class:`~reuse_ref.sim.workloads.CheckedWorkload` of one environment)."""
    return (policy is not None and getattr(policy, "scope", "global") != "run" and not workload.has_parents
            and not workload.has_timeouts and not crashes and cpu_bound == 0 and len(workload.envs - {None}) <= 1)


class Arrivals:
    """A workload as the twin reads it: arrival times and durations in arrival order (the
    stable sort by ``at`` that ``run_plain`` makes), and the jobs' ids in that order."""

    __slots__ = ("at", "dur", "ids", "room", "state")

    def __init__(self, jobs: List[Any]) -> None:
        import numpy as np

        n = len(jobs)
        at = np.fromiter(map(_AT, jobs), np.float64, n)
        dur = np.fromiter(map(_DURATION, jobs), np.float64, n)
        ids = list(map(_ID, jobs))
        if n > 1 and not (at[1:] >= at[:-1]).all():  # not in arrival order yet
            order = np.argsort(at, kind="stable")
            at, dur, ids = at[order], dur[order], [ids[k] for k in order.tolist()]
        self.at, self.dur, self.ids = at, dur, ids
        self.room = len(jobs) + 1024  # replica ids a run has room for; grows to what runs needed
        self.state: Optional["State"] = None  # the arrays of the last run, used again by the next


class ColdDraws:
    """Each replica's cold start, by id: the same number every time, or the draws of a
    :class:`~reuse_ref.sim.cold_starts.ColdStart` in the order replicas start (the n-th
    draw of a fresh sampler is replica n's, as in ``simulate``), drawn ahead and extended
    when a run starts more replicas."""

    __slots__ = ("fixed", "_draw", "values")

    def __init__(self, cold_start: Any) -> None:
        import numpy as np

        from .cold_starts import check_cold_start

        self.fixed, self._draw = check_cold_start(cold_start)
        self.values = np.zeros(0, np.float64)

    def at_least(self, count: int) -> Any:
        import numpy as np

        if self._draw is not None and len(self.values) < count:
            more = [self._draw() for _ in range(count - len(self.values))]
            self.values = np.concatenate([self.values, np.array(more, np.float64)])
        return self.values


State = namedtuple("State", ["si", "sf", "rep", "idle_since", "open", "ripe", "queue", "wakes", "ev_t", "ev_o",
                             "ev_x", "rec_t", "rec_k", "rec_r", "rec_x", "rec_c", "at", "dur", "cold",
                             "task_replica"])
"""Everything one run of the twin (``reuse_ref.sim._compiled_pool``) reads and writes, as arrays:

* a replica is a row of ``rep`` (state, attempts running, attempts served, its links in the
  idle list, where it is) and its ``idle_since``, indexed by its id (ids start at 1 and are
  never reused, as in the pool);
* ``ReplicaSet.idle`` (an ``OrderedDict``) is a ring through ``rep`` whose head is row 0;
  ``open`` and ``ripe`` are heaps of ids as there (``ripe`` of negated ids), whose stale
  entries are skipped when they come to the top, as there;
* the event heap holds ``(time, kind, seq, x)`` in three arrays (``ev_o``: ``kind << 48 |
  seq``), ordered as the loop's tuples are; ``wakes`` is the loop's list of wake-up times;
* the scalars of the pool and the loop (``wakeup_at``, ``alive``...) are slots of ``si``
  (ints) and ``sf`` (floats), named by the twin's constants; ``None`` is ``inf`` (or
  ``-inf``) for a time that is compared, a flag otherwise;
* a record is a row of five arrays: time, kind (the index of its word in
  :data:`~reuse_ref.core.records.KINDS`), replica (-1: none), task (the job's index in
  arrival order; -1: none) and reason (an index into the twin's ``REASONS``);
* ``at``, ``dur``: the jobs in arrival order; ``cold``: each replica's cold start by id - 1
  (empty: ``sf[COLD_FIXED]`` for every one); ``task_replica``: the replica of each running task.
"""


class Twin(NamedTuple):
    """One run of the twin: its records as numpy arrays (time, kind, replica, task index,
    reason), the jobs that ended and the replica ids it used."""

    time: Any
    kind: Any
    replica: Any
    task: Any
    reason: Any
    ended: int
    replicas: int


def _state(arrivals: Arrivals, draws: Any, fixed: float, policy: Any, paced: bool, room: int) -> State:
    """A fresh pool and loop for one run. The arrays of the arrivals' last run are used again
    when they have the room: the twin reads no slot of them before writing it, but the
    scalars and the idle list's head (row 0 of ``rep``), set here."""
    import numpy as np

    k = _kernel()
    n = len(arrivals.at)
    last = arrivals.state
    if last is not None and last.rep.shape[0] == room:
        si, sf = last.si, last.sf
        si[:] = 0
        sf[:] = 0.0
        last.rep[0, :] = 0
    else:
        si = np.zeros(k.N_SI, np.int64)
        sf = np.zeros(k.N_SF, np.float64)
    si[k.CONC], si[k.MIN], si[k.MAX] = policy.concurrency, policy.min_replicas, policy.max_replicas
    si[k.PACED] = 1 if paced else 0
    si[k.HAS_IDLE_TTL] = 0 if policy.idle_ttl is None else 1
    si[k.NEXT_ID] = si[k.LOWEST_ALIVE] = 1
    sf[k.WAKEUP_AT] = math.inf  # None
    sf[k.LAST_SCALEDOWN] = -math.inf  # None: never later than a due time
    sf[k.SCALEDOWN_TTL] = policy.scaledown_ttl.total_seconds()
    sf[k.IDLE_TTL_S] = 0.0 if policy.idle_ttl is None else policy.idle_ttl.total_seconds()
    sf[k.COLD_FIXED] = fixed
    if last is not None and last.rep.shape[0] == room:
        return last._replace(cold=draws)
    records, events, heap = 3 * n + 3 * room, n + room + 64, 2 * room + 64
    i8 = np.int64
    arrivals.state = State(si, sf, np.zeros((room, 6), i8), np.zeros(room), np.zeros(heap, i8), np.zeros(heap, i8),
                 np.zeros(max(n, 1), i8), np.zeros(events), np.zeros(events), np.zeros(events, i8),
                 np.zeros(events, i8), np.zeros(records), np.zeros(records, np.int8), np.zeros(records, i8),
                 np.zeros(records, i8), np.zeros(records, np.int8), arrivals.at, arrivals.dur, draws,
                 np.zeros(max(n, 1), i8))
    return arrivals.state


def run(arrivals: Arrivals, policy: Any, cold: ColdDraws, scaledown: str) -> Optional[Twin]:
    """The twin's run of ``arrivals`` under ``policy`` and a reading of rule 3; ``None`` when a
    time is not finite (the Python loop says why). The records are arrays of the arrivals'
    state, valid until their next run. Run again with more room, or more cold
    starts drawn, until it fits: the same run every time, so the answer is the same."""
    k = _kernel()
    room = arrivals.room
    while True:
        draws = cold.at_least(room)
        st = _state(arrivals, draws, cold.fixed, policy, scaledown == "paced", room)
        err = k.run(st)
        if err == k.OK:
            break
        if err == k.ERR_NOT_FINITE:
            return None
        if err not in (k.ERR_FULL, k.ERR_DRAWS):
            raise RuntimeError(f"the compiled twin of pool {policy!r} broke an invariant (error {err})")
        room *= 4
    used = int(st.si[k.NEXT_ID])
    arrivals.room = max(arrivals.room, used + used // 4 + 64)
    n = int(st.si[k.N_REC])
    return Twin(st.rec_t[:n], st.rec_k[:n], st.rec_r[:n], st.rec_x[:n], st.rec_c[:n], int(st.si[k.ENDED]), used)


def rows(twin: Twin, ids: List[Any], env: str) -> List[tuple]:
    """The twin's records as a pool writes them: ``(time, kind, replica, task, reason, env)``."""
    import numpy as np

    kinds = np.array(KINDS, dtype=object)[twin.kind]
    reasons = np.array(_kernel().REASONS, dtype=object)[twin.reason]
    replicas = np.array(list(range(twin.replicas)) + [None], dtype=object)[twin.replica]  # -1: the last, None
    tasks = np.array(ids + [None], dtype=object)[twin.task]
    return list(zip(twin.time.tolist(), kinds.tolist(), replicas.tolist(), tasks.tolist(), reasons.tolist(),
                    repeat(env)))


def nearest_rank(values: Any, ps: Tuple[float, ...]) -> List[float]:
    """:func:`reuse_ref.trace.measures.percentile` of queue waits (numbers >= 0) for each
    ``p`` of ``ps``: the value of rank ``ceil(p / 100 x n)`` in sorted order (0.0 for
    none), found without sorting them all. Most waits are 0 (a free slot): those ranks are
    0.0, and only the positive waits are partitioned, once for every rank."""
    import numpy as np

    n = len(values)
    if not n:
        return [0.0 for _ in ps]
    ranks = [max(math.ceil(p / 100 * n), 1) - 1 for p in ps]
    positive = values[values > 0]
    zeros = n - len(positive)
    high = sorted({r - zeros for r in ranks if r >= zeros})
    part = np.partition(positive, high) if high else positive
    return [0.0 if r < zeros else float(part[r - zeros]) for r in ranks]


def measure(twin: Twin, n_tasks: int, policies: Any, resources: Any, env: str
            ) -> Tuple[Measures, Spans, float, Any, Any]:
    """What :func:`~reuse_ref.trace.measures.measure` makes of the twin's records (the measures
    until the last record, the spans, the last task's end), with each task's first
    ``task_queued`` and its queue wait (for a target in a time window)."""
    import numpy as np

    if not len(twin.time):
        return Measures(), {}, 0.0, np.zeros(0), np.zeros(0)
    counts, busy, last_end, queued, waits, span_start, span_stop = _kernel(measures=True).measure_records(
        twin.time, twin.kind, twin.replica, twin.task, twin.reason, n_tasks, twin.replicas)
    done, cold, warm, peak, unmeasured = (int(c) for c in counts)
    if unmeasured:
        raise RuntimeError("the compiled measures met a record the twin does not write")
    started = ~np.isnan(waits)
    w = waits[started] if not started.all() else waits
    has_queued = ~np.isnan(queued)
    p50, p95, p99 = nearest_rank(w, (50, 95, 99))
    m = Measures(
        tasks=int(has_queued.sum()), done=done, failed=0, starved=0, cold_starts=cold, warm_starts=warm,
        wait_p50=p50, wait_p95=p95, wait_p99=p99,
        wait_max=float(w.max()) if len(w) else 0.0,
        makespan=float(last_end - queued[has_queued].min()) if has_queued.any() and not math.isnan(last_end) else 0.0,
        busy_slot_seconds=float(busy), peak_replicas=peak)
    stops = [None if math.isnan(s) else s for s in span_stop.tolist()]
    spans: Spans = {env: list(zip(span_start.tolist(), stops))} if len(span_start) else {}
    end = float(twin.time[-1])
    return (over_window(m, spans, end, policies, resources), spans, 0.0 if math.isnan(last_end) else float(last_end),
            queued, waits)


def window_percentile(queued: Any, waits: Any, since: float, until: float, p: float) -> float:
    """:func:`reuse_ref.trace.window.waits` and its percentile ``p``, from :func:`measure`'s
    arrays: the waits of the tasks first queued in ``[since, until)`` that started."""
    import numpy as np

    return nearest_rank(waits[(queued >= since) & (queued < until) & ~np.isnan(waits)], (p,))[0]
