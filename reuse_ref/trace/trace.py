"""Trace records: every event and action of a pool, and the measures computed from them.

A :class:`Trace` is what a simulation or a runtime session leaves behind: its records in
the order they happened, plus the policy and resources of each environment. Everything
else is derived from the records alone: :meth:`Trace.measures` (the numbers), 
:meth:`Trace.series` (step series for plots), :meth:`Trace.to_csv` and
:meth:`Trace.to_dataframe` (for other tools), and the figures of :mod:`reuse_ref.plot`.
"""
from __future__ import annotations

import csv
import gc
import math
import operator
import os
from itertools import islice
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Dict, Hashable, Iterator, List, NamedTuple, Optional, Tuple

from ..config.validation import number
from ..core.records import KINDS, RETRYING, STOP_REASONS, Row  # noqa: F401 (KINDS, STOP_REASONS: kept importable from here)

__all__ = ["Record", "Trace", "Measures", "Series", "percentile", "CSV_COLUMNS", "gc_paused"]

CSV_COLUMNS = ("time", "kind", "replica", "task", "reason", "env")
"""The columns of :meth:`Trace.to_csv`, one per :class:`Record` field."""


class Record(NamedTuple):
    """One line of a trace: at ``time`` (policy seconds), in environment ``env``, ``kind``
    happened to ``replica`` and/or ``task``, for ``reason`` (stops and failures).

    A pool writes its records as plain tuples in this field order (a :data:`~reuse_ref.records.Row`), which
    are cheaper to make by the million; :attr:`Trace.records` gives them these names.
    """

    time: float
    kind: str
    replica: Optional[int] = None
    task: Optional[Hashable] = None
    reason: str = ""
    env: str = ""


_as_record = partial(tuple.__new__, Record)  # Row -> Record, at C speed


def percentile(values: List[float], p: float) -> float:
    """The ``p``-th percentile (0 < p <= 100) of ``values`` by the nearest-rank method.

    Sort the values; the answer is the one at rank ``ceil(p / 100 x n)`` (1-based). It is
    always one of the values (no interpolation), so it is exact and deterministic:
    ``percentile([1, 2, 3, 4], 50) == 2`` and ``percentile([1, 2, 3, 4], 95) == 4``.
    An empty list gives 0.0.
    """
    if not 0 < p <= 100:
        raise ValueError(f"p={p!r} is not valid: a percentile between 0 (excluded) and 100")
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = math.ceil(p / 100 * len(ordered))
    return float(ordered[max(rank, 1) - 1])


@dataclass(frozen=True)
class Measures:
    """The measures of a trace, computed from a trace's records by :meth:`Trace.measures`.

    Counts:

    * ``tasks``: tasks submitted (first ``task_queued`` of each task; retries not counted).
    * ``done``: tasks that ended well (``task_end``).
    * ``failed``: tasks that failed for good for any reason but starvation (a crash with no
      retries left, a timeout, an error, a closed pool).
    * ``starved``: tasks that failed with ``starvation`` (rule 6): the queued tasks the
      pool gave up on, and the waiting parents that saw the ``StarvationError``.
      ``done + failed + starved == tasks`` once every task has ended.
    * ``cold_starts``: replicas started (``replica_start``); each is a cold start.
    * ``warm_starts``: attempts dispatched to a replica that had already run an attempt
      (``task_start`` with reason ``warm``).

    Queue wait, in seconds: for each task that started, the time from its first
    ``task_queued`` to the ``task_start`` of its first attempt (cold starts it waited for
    included; the waits of retries are not counted; tasks that never started have none).
    ``wait_p50``, ``wait_p95`` and ``wait_p99`` are nearest-rank percentiles
    (:func:`percentile`), ``wait_max`` the largest; all are 0.0 when no task started.
    :func:`reuse_ref.window.waits` gives the waits of the tasks queued in a time window.

    Time, in seconds:

    * ``makespan``: from the first ``task_queued`` to the last time a task ended
      (``task_end`` or a final ``task_failed``); 0.0 without tasks.
    * ``replica_seconds``: the sum over replicas of ``replica_stop - replica_start``, cold
      start included; a replica still live when the trace ends counts until the time of
      the trace's last record, or, when ``measures(horizon=H)`` is given, until ``H``
      (then only the time inside ``[0, H]`` counts). This measure, and ``utilisation``
      and the footprint made from it, depend on the window; compare policies over one
      window with :func:`reuse_ref.window.compare`.
    * ``busy_slot_seconds``: the sum over attempts of their end (``task_end`` or
      ``task_failed``) minus their ``task_start``; an attempt still running at the end
      counts until the last record. A parent waiting for its children is busy: it holds
      its slot.
    * ``utilisation``: ``busy_slot_seconds / (replica_seconds x concurrency)``, the share
      of the slots paid for that ran a task (0.0 without replica-seconds). With several
      environments the denominator sums each one's replica-seconds times its concurrency
      (an environment without a ``ReusePolicy`` counts concurrency 1).
    * ``peak_replicas``: the most replicas live (started and not stopped) at once.

    Footprint (replica-seconds times each environment's ``Resources``; 0.0 where unset):
    ``cpu_seconds`` (core-seconds), ``gib_seconds`` (GiB of memory times seconds),
    ``gpu_seconds``.
    """

    tasks: int = 0
    done: int = 0
    failed: int = 0
    starved: int = 0
    cold_starts: int = 0
    warm_starts: int = 0
    wait_p50: float = 0.0
    wait_p95: float = 0.0
    wait_p99: float = 0.0
    wait_max: float = 0.0
    makespan: float = 0.0
    replica_seconds: float = 0.0
    busy_slot_seconds: float = 0.0
    utilisation: float = 0.0
    peak_replicas: int = 0
    cpu_seconds: float = 0.0
    gib_seconds: float = 0.0
    gpu_seconds: float = 0.0

    def as_dict(self) -> Dict[str, Any]:
        """The measures as a plain dict (JSON-ready), in field order."""
        return asdict(self)

    def rows(self) -> List[Tuple[str, str]]:
        """``(label, value with unit)`` pairs, for a text table."""
        s = _fmt_seconds
        return [
            ("tasks", f"{self.tasks} (done {self.done}, failed {self.failed}, starved {self.starved})"),
            ("cold starts", f"{self.cold_starts} replica start(s)"),
            ("warm starts", f"{self.warm_starts} task start(s) on a used replica"),
            ("queue wait", f"p50 {s(self.wait_p50)}, p95 {s(self.wait_p95)}, p99 {s(self.wait_p99)}, max {s(self.wait_max)}"),
            ("makespan", s(self.makespan)),
            ("replica-seconds", s(self.replica_seconds)),
            ("busy slot-seconds", s(self.busy_slot_seconds)),
            ("utilisation", f"{100 * self.utilisation:.1f} % of paid slot-seconds"),
            ("peak replicas", str(self.peak_replicas)),
            ("footprint", f"{self.cpu_seconds:.6g} core-s, {self.gib_seconds:.6g} GiB-s, {self.gpu_seconds:.6g} GPU-s"),
        ]


def _fmt_seconds(x: float) -> str:
    return f"{x:.6g} s"


class Series(NamedTuple):
    """Step series of a trace (see :meth:`Trace.series`): after all records at ``times[k]``
    there are ``replicas[k]`` live replicas, ``queued[k]`` queued tasks and ``busy[k]``
    running attempts (busy slots), until ``times[k + 1]``. Draw with ``where="post"``."""

    times: List[float]
    replicas: List[int]
    queued: List[int]
    busy: List[int]


class Trace:
    """The records of one simulation or runtime session, with the policies that made them.

    ``Trace(records, policies={env: ReusePolicy}, resources={env: Resources or None})``,
    where ``records`` are :class:`Record` s or plain tuples in the same field order (the
    rows a :class:`~reuse_ref.pool.Pool` writes). A trace is read-only. Records are kept
    in the order they happened. The measures are computed from the records
    alone (see :meth:`measures`), and so are the series, the CSV and the DataFrame.
    """

    def __init__(self, records, policies=None, resources=None):
        self._rows: List[Row] = list(records)
        self._records: Optional[List[Record]] = None
        self.policies = dict(policies or {})
        self.resources = dict(resources or {})

    @property
    def records(self) -> List[Record]:
        """The records as :class:`Record` named tuples, in the order they happened.

        Made from the rows on first read (about a quarter of a microsecond a record) and
        kept; the measures, series and exports read the rows and do not need them.
        """
        if self._records is None:
            with gc_paused(long_lived=True):
                self._records = list(map(_as_record, self._rows))
        return self._records

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __repr__(self) -> str:
        envs = ", ".join(self.envs) or "no environment"
        return f"<Trace of {envs}: {len(self._rows)} records>"

    # ------------------------------------------------------------------ selection
    @property
    def envs(self) -> List[str]:
        """The environments named in the records (or the policies), in order of appearance."""
        seen = dict.fromkeys(self.policies)
        seen.update(dict.fromkeys(map(_env, self._rows)))
        return list(seen)

    def _select(self, env: Optional[str]) -> List[Row]:
        if env is None:
            records = self._rows
        else:
            if env not in self.envs:
                raise ValueError(f"env={env!r} is not valid: one of the trace's environments {self.envs}")
            records = [r for r in self._rows if _env(r) == env]
        # one pool's records are always in time order; merged ones may not be (sorted is stable)
        times = list(map(_time, records))
        if not all(map(operator.le, times, islice(times, 1, None))):
            records = sorted(records, key=_time)
        return records

    def _concurrency(self, env: str) -> int:
        return getattr(self.policies.get(env), "concurrency", 1)

    # ------------------------------------------------------------------ measures
    def measures(self, env: Optional[str] = None, horizon: Optional[float] = None) -> Measures:
        """The measures for environment ``env``, or for the whole trace (see :class:`Measures`).

        ``horizon``: the end of the window, in seconds, no earlier than the trace's last
        task end. A replica still alive when the trace ends is then charged until
        ``horizon``, and replica time after it is not counted; without it, until the
        trace's last record.
        """
        if horizon is not None:
            number("horizon", horizon, minimum=0, allowed="a finite number of seconds >= 0, or None")
        with gc_paused():
            return self._measures(self._select(env), horizon)

    def _measures(self, records: List[Row], horizon: Optional[float] = None, spans: Optional[list] = None) -> Measures:
        # spans (a plan's sweep): each replica's (start, stop or None) as summed, then the last task's end
        if not records:
            if spans is not None:
                spans.append(0.0)
            return Measures()
        queued: Dict[Any, float] = {}       # (env, task) -> first task_queued
        first_start: Dict[Any, float] = {}  # (env, task) -> first task_start
        attempt: Dict[Any, float] = {}      # (env, task) -> start of the running attempt
        alive: Dict[Any, float] = {}        # (env, replica) -> replica_start
        rs_env: Dict[str, float] = {}
        done = failed = starved = cold = warm = 0
        busy = 0.0
        live = peak = 0
        last_end = None
        # tasks and replicas are known by (env, id); by id alone when there is one env
        one_env = len(set(map(_env, records))) == 1
        for time, kind, replica, task, reason, env in records:
            if kind == "task_start":
                key = task if one_env else (env, task)
                attempt[key] = time
                if key not in first_start:
                    first_start[key] = time
                if reason == "warm":
                    warm += 1
            elif kind == "task_end":
                start = attempt.pop(task if one_env else (env, task), None)
                if start is not None:
                    busy += time - start
                done += 1
                last_end = time
            elif kind == "task_queued":
                key = task if one_env else (env, task)
                if key not in queued:
                    queued[key] = time
            elif kind == "task_failed":
                start = attempt.pop(task if one_env else (env, task), None)
                if start is not None:
                    busy += time - start
                if not reason.endswith(RETRYING):
                    if reason == "starvation":
                        starved += 1
                    else:
                        failed += 1
                    last_end = time
            elif kind == "replica_start":
                alive[(env, replica)] = time
                cold += 1
                live += 1
                if live > peak:
                    peak = live
            elif kind == "replica_stop":
                start = alive.pop((env, replica), None)
                if start is not None:
                    if spans is not None:
                        spans.append((start, time))
                    if horizon is not None:
                        time, start = min(time, horizon), min(start, horizon)
                    rs_env[env] = rs_env.get(env, 0.0) + (time - start)
                    live -= 1
        end = records[-1][0] if horizon is None else horizon
        for (e, _), start in alive.items():
            rs_env[e] = rs_env.get(e, 0.0) + (end - min(start, end))
        if spans is not None:
            spans.extend((start, None) for start in alive.values())
            spans.append(float(last_end or 0.0))
        for start in attempt.values():
            busy += end - start
        if horizon is not None and last_end is not None and last_end > horizon:
            raise ValueError(f"horizon={horizon!r} is not valid: the window must hold every task, and the "
                             f"last one ends at {last_end!r} s")
        waits = [t - queued[key] for key, t in first_start.items() if key in queued]
        waits.sort()
        replica_seconds = sum(rs_env.values())
        slot_seconds = sum(rs * self._concurrency(e) for e, rs in rs_env.items())
        cpu = gib = gpu = 0.0
        for e, rs in rs_env.items():
            res = self.resources.get(e)
            if res is not None:
                f = res.footprint(rs)
                cpu += f["cpu_seconds"]
                gib += f["gib_seconds"]
                gpu += f["gpu_seconds"]
        first_queued = min(queued.values()) if queued else None
        return Measures(
            tasks=len(queued),
            done=done,
            failed=failed,
            starved=starved,
            cold_starts=cold,
            warm_starts=warm,
            wait_p50=percentile(waits, 50),
            wait_p95=percentile(waits, 95),
            wait_p99=percentile(waits, 99),
            wait_max=float(waits[-1]) if waits else 0.0,
            makespan=float(last_end - first_queued) if first_queued is not None and last_end is not None else 0.0,
            replica_seconds=replica_seconds,
            busy_slot_seconds=busy,
            utilisation=busy / slot_seconds if slot_seconds > 0 else 0.0,
            peak_replicas=peak,
            cpu_seconds=cpu,
            gib_seconds=gib,
            gpu_seconds=gpu,
        )

    def summary(self, env: Optional[str] = None) -> str:
        """A readable block of text: the environment(s), their policies and the measures."""
        envs = [env] if env is not None else self.envs
        lines = []
        for e in envs:
            policy = self.policies.get(e)
            res = self.resources.get(e)
            head = f"environment {e!r}: {policy!r}" if policy is not None else f"environment {e!r}"
            if res is not None:
                head += f", {res!r} per replica"
            lines.append(head)
        m = self.measures(env)
        width = max(len(label) for label, _ in m.rows())
        lines += [f"  {label:<{width}}  {value}" for label, value in m.rows()]
        return "\n".join(lines)

    # ------------------------------------------------------------------ series
    def series(self, env: Optional[str] = None) -> Series:
        """Live replicas, queued tasks and busy slots over time, as step series (:class:`Series`).

        There is one point per distinct record time, holding the values after every record
        at that time. Queued: ``task_queued`` adds one, a ``task_start`` or a ``task_failed``
        of a queued task (starvation, a closed pool) takes one away. Busy: a ``task_start``
        adds one, the attempt's ``task_end`` or ``task_failed`` takes it away.
        """
        with gc_paused():
            return self._series(self._select(env))

    @staticmethod
    def _series(records: List[Row]) -> Series:
        times: List[float] = []
        reps: List[int] = []
        queue: List[int] = []
        busy: List[int] = []
        running = set()
        live = q = b = 0
        one_env = len(set(map(_env, records))) == 1  # then a task is known by its id alone
        for time, kind, _, task, reason, env in records:
            if kind == "task_queued":
                q += 1
            elif kind == "task_start":
                q -= 1
                b += 1
                running.add(task if one_env else (env, task))
            elif kind == "task_end" or kind == "task_failed":
                key = task if one_env else (env, task)
                if key in running:
                    running.discard(key)
                    b -= 1
                elif kind == "task_failed" and not reason.endswith(RETRYING):
                    q -= 1
            elif kind == "replica_start":
                live += 1
            elif kind == "replica_stop":
                live -= 1
            if times and times[-1] == time:
                reps[-1], queue[-1], busy[-1] = live, q, b
            else:
                times.append(time)
                reps.append(live)
                queue.append(q)
                busy.append(b)
        return Series(times, reps, queue, busy)

    # ------------------------------------------------------------------ export
    def to_csv(self, path_or_file) -> None:
        """Write the records as CSV with the header ``time,kind,replica,task,reason,env``.

        ``path_or_file`` is a path or an open text file. An absent replica or task is an
        empty field. :meth:`from_csv` reads the file back.
        """
        if hasattr(path_or_file, "write"):
            self._write_csv(path_or_file)
        else:
            with open(path_or_file, "w", newline="", encoding="utf-8") as f:
                self._write_csv(f)

    def _write_csv(self, f) -> None:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for time, kind, replica, task, reason, env in self._rows:
            w.writerow((repr(float(time)), kind, "" if replica is None else replica,
                        "" if task is None else task, reason, env))

    @classmethod
    def from_csv(cls, path_or_file, policies=None, resources=None) -> "Trace":
        """Read records written by :meth:`to_csv`. Replica ids read as ints; a task id that
        reads as a plain int (``42``) becomes an int, any other stays a str."""
        if hasattr(path_or_file, "read"):
            return cls(_read_records(path_or_file, getattr(path_or_file, "name", "<file>")), policies, resources)
        with open(path_or_file, newline="", encoding="utf-8") as f:
            return cls(_read_records(f, os.fspath(path_or_file)), policies, resources)

    def to_dataframe(self):
        """The records as a pandas ``DataFrame`` with columns time, kind, replica, task, reason, env."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Trace.to_dataframe needs pandas, which is not installed: "
                              "pip install pandas (or pip install 'reuse-ref[test]')") from None
        df = pd.DataFrame.from_records(self._rows, columns=list(CSV_COLUMNS))
        df["replica"] = df["replica"].astype("Int64")
        return df


_time = operator.itemgetter(0)  # Record.time
_env = operator.itemgetter(5)  # Record.env


@contextmanager
def gc_paused(long_lived: bool = False):
    """Pause the cyclic garbage collector for a block that makes millions of small objects
    and no cycles (a simulation, a pass over its records), which it would rescan in vain.
    ``long_lived=True`` (what the block made is kept) moves every tracked object to the
    oldest generation on the way out (``gc.freeze()``, ``gc.unfreeze()``: constant time),
    sparing the young collection the next allocation would start (7 % of a big simulation);
    skipped when the process has frozen objects of its own, which ``unfreeze`` would free."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if long_lived and gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if was_enabled:
            gc.enable()


def _read_records(f, label: str) -> List[Record]:
    from ..sim.workloads import _parse_id

    reader = csv.reader(f)
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != CSV_COLUMNS:
        raise ValueError(f"{label}, line 1: a trace file starts with the header {','.join(CSV_COLUMNS)}")
    out = []
    for row in reader:
        if not row:
            continue
        try:
            t, kind, replica, task, reason, env = row
            if kind not in KINDS:
                raise ValueError(f"kind={kind!r} is not one of {', '.join(KINDS)}")
            out.append(Record(float(t), kind, int(replica) if replica else None,
                              _parse_id(task) if task else None, reason, env))
        except ValueError as e:
            raise ValueError(f"{label}, line {reader.line_num}: not a trace record ({e})") from None
    return out
