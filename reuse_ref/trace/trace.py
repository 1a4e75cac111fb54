"""The trace: every event and action of the pools, in the order they happened.

A :class:`Trace` is what a simulation or a runtime session leaves behind: its records,
plus the policy and resources of each environment. Everything else is derived from the
records alone: :meth:`Trace.measures` (the numbers, :mod:`reuse_ref.trace.measures`),
:meth:`Trace.series` (step series for plots), :meth:`Trace.to_csv` and
:meth:`Trace.to_dataframe` (for other tools), and the figures of :mod:`reuse_ref.figures`.
"""
from __future__ import annotations

import csv
import gc
import operator
import os
import re
from contextlib import contextmanager
from functools import partial
from itertools import islice
from typing import Hashable, Iterator, List, NamedTuple, Optional

from ..config.validation import number
from ..core.records import KINDS, RETRYING, Row
from .calls import CallNote
from .measures import Measures, measure

__all__ = ["Record", "Trace", "Series", "CSV_COLUMNS", "gc_paused", "parse_id"]

CSV_COLUMNS = ("time", "kind", "replica", "task", "reason", "env")
"""The columns of :meth:`Trace.to_csv`, one per :class:`Record` field."""


class Record(NamedTuple):
    """One line of a trace: at ``time`` (policy seconds), in environment ``env``, ``kind``
    happened to ``replica`` and/or ``task``, for ``reason`` (stops and failures).

    A pool writes its records as plain tuples in this field order (a :data:`~reuse_ref.core.records.Row`), which
    are cheaper to make by the million; :attr:`Trace.records` gives them these names.
    """

    time: float
    kind: str
    replica: Optional[int] = None
    task: Optional[Hashable] = None
    reason: str = ""
    env: str = ""


_as_record = partial(tuple.__new__, Record)  # Row -> Record, at C speed


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
    rows a :class:`~reuse_ref.core.pool.Pool` writes). A trace is read-only. Records are kept
    in the order they happened. The measures are computed from the records
    alone (see :meth:`measures`), and so are the series, the CSV and the DataFrame.

    A runtime's trace also has ``calls``: a :class:`~reuse_ref.trace.calls.CallNote` per
    call, saying who called whom and how long each parent was blocked on its calls, which
    the records do not (the CSV form leaves them out). A simulated trace has none.
    """

    def __init__(self, records, policies=None, resources=None, calls=()):
        self._rows: List[Row] = list(records)
        self._records: Optional[List[Record]] = None
        self.policies = dict(policies or {})
        self.resources = dict(resources or {})
        self.calls: List[CallNote] = list(calls)

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

    def rows(self, env: Optional[str] = None) -> List[Row]:
        """The records of ``env`` (or of every environment) as plain tuples, in time order:
        what the measures, the series and the figures read."""
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

    def cold_start_seconds(self, env: Optional[str] = None) -> List[float]:
        """Every cold start of ``env`` (or of every environment), in the order replicas were
        asked for: seconds from a ``replica_start`` (the pool asks for a replica) to its
        ``replica_ready``; on a runtime's trace, plus the time the replica then spent
        importing its tasks' modules (their first calls there, ``CallNote.attempts``), which
        the simulator counts as part of the cold start, not of a task. A replica that never
        became ready is left out. ``ColdStart.samples(...)`` (or ``--cold-start
        samples:...``) replays them in a simulation."""
        imports: dict = {}  # (pool, replica) -> seconds its attempts spent loading their functions
        for note in self.calls:
            for _, replica, load, _ in note.attempts:
                imports[(note.pool, replica)] = imports.get((note.pool, replica), 0.0) + load
        asked = {}  # (pool, replica) -> its place in out, and when it was asked for
        out: List[Optional[float]] = []
        for time, kind, replica, _, _, name in self.rows(env):
            if kind == "replica_start":
                asked[(name, replica)] = (len(out), time)
                out.append(None)
            elif kind == "replica_ready" and (name, replica) in asked:
                k, since = asked.pop((name, replica))
                out[k] = time - since + imports.get((name, replica), 0.0)
        return [t for t in out if t is not None]

    def concurrency(self, env: str) -> int:
        """The concurrency of ``env``'s policy (1 for an environment without reuse)."""
        return getattr(self.policies.get(env), "concurrency", 1)

    # ------------------------------------------------------------------ measures
    def measures(self, env: Optional[str] = None, horizon: Optional[float] = None) -> Measures:
        """The measures for environment ``env``, or for the whole trace (see :class:`~reuse_ref.trace.measures.Measures`).

        ``horizon``: the end of the window, in seconds, no earlier than the trace's last
        task end. A replica still alive when the trace ends is then charged until
        ``horizon``, and replica time after it is not counted; without it, until the
        trace's last record.
        """
        if horizon is not None:
            number("horizon", horizon, minimum=0, allowed="a finite number of seconds >= 0, or None")
        with gc_paused():
            return measure(self.rows(env), self.policies, self.resources, horizon)[0]

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
            return self._series(self.rows(env))

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


_INT = re.compile(r"^-?(0|[1-9][0-9]*)$")


def parse_id(text: str):
    """A task id read from a CSV file: one that reads as a plain int (``7``, ``-3``; not
    ``007``) becomes an int, anything else stays a str (traces and workload files alike)."""
    return int(text) if _INT.match(text) else text


def _read_records(f, label: str) -> List[Record]:
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
                              parse_id(task) if task else None, reason, env))
        except ValueError as e:
            raise ValueError(f"{label}, line {reader.line_num}: not a trace record ({e})") from None
    return out
