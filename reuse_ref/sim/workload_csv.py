"""A workload's file: CSV with a header, one job a line (the ``reuse-ref`` command's format).

``at`` and ``duration`` are required; ``id``, ``name``, ``parent``, ``retries``, ``env``,
``timeout`` and ``sync`` are optional, and :func:`write_csv` writes the last three only
when some job sets them. :func:`read_csv` reads back exactly what :func:`write_csv`
wrote, and names the file and line of anything wrong.

:func:`write_csv` starts the file with a line that says which reuse-ref wrote it and in
which format (``# reuse-ref 0.1.0, workload format 1``): a file written in a format this
reuse-ref does not know (by a later one, say) is refused with that said, rather than
read wrongly. Lines starting with ``#`` before the header are comments; a file written by
hand, or by pandas, needs none.
"""
from __future__ import annotations

import csv
import itertools
import math
import os
import re
from typing import Iterable, List, Optional, Sequence

from ..trace import parse_id
from .workloads import Job, check_jobs

__all__ = ["CSV_COLUMNS", "read_csv", "write_csv", "csv_header", "FORMAT", "format_line"]

FORMAT = 1
"""The workload format this reuse-ref writes and reads (the columns below, times in seconds)."""

_CLAIM = re.compile(r"#\s*reuse-ref\b.*\bformat\b")  # a line that means to say the format
_FORMAT_LINE = re.compile(r"#\s*reuse-ref\s+(?P<version>\S+?),\s*workload format\s+(?P<format>\S+)\s*$")

CSV_COLUMNS = ("id", "at", "duration", "name", "parent", "retries", "env", "timeout", "sync")
"""The columns of a workload file; ``at`` and ``duration`` are required, the others optional
(``env``, ``timeout`` and ``sync`` are written only when some job sets them)."""

_OPTIONAL = (("env", lambda job: job.env is not None), ("timeout", lambda job: job.timeout is not None),
             ("sync", lambda job: job.sync))


def format_line() -> str:
    """The first line of every workload file reuse-ref writes: who wrote it, in which format."""
    try:
        from importlib.metadata import version

        mine = version("reuse-ref")
    except Exception:  # not installed (a source tree on sys.path): the format is what matters
        mine = "(source)"
    return f"# reuse-ref {mine}, workload format {FORMAT}"


def _format(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # shortest exact form: the file reads back to the same float
    return str(value)


def write_csv(jobs: Iterable[Job], path) -> None:
    """Write a workload as CSV: the :func:`format_line`, then the header
    ``id,at,duration,name,parent,retries`` (then ``env``, ``timeout`` and ``sync``, each when
    some job sets it), then one job a line.

    ``path`` is a path or an open text file. :func:`read_csv` reads it back to the same
    jobs (ids of type int or str; a str id that looks like an int reads back as the int).
    """
    jobs = check_jobs(jobs)
    if hasattr(path, "write"):
        _write_rows(jobs, path)
    else:
        with open(path, "w", newline="", encoding="utf-8") as f:
            _write_rows(jobs, f)


def _write_rows(jobs: List[Job], f) -> None:
    f.write(format_line() + "\n")
    w = csv.writer(f, lineterminator="\n")
    extra = [column for column, used in _OPTIONAL if any(map(used, jobs))]
    w.writerow(CSV_COLUMNS[:6] + tuple(extra))
    for job in jobs:
        row = [_format(job.id), _format(job.at), _format(job.duration), _format(job.name),
               _format(job.parent), _format(job.retries)]
        w.writerow(row + [_format(getattr(job, column)) for column in extra])


def read_csv(path, envs: Optional[Sequence[str]] = None, one_env: bool = False) -> List[Job]:
    """Read a workload file: a CSV header naming ``at`` and ``duration`` (required) and
    optionally ``id``, ``name``, ``parent``, ``retries``, ``env``, ``timeout`` and ``sync``,
    then one job per line.

    ``at`` and ``duration`` are seconds (numbers >= 0); ``id`` defaults to the job's
    position (0, 1, ...) and reads as an int when it looks like one; an empty ``name``,
    ``parent``, ``env`` or ``timeout`` means none; ``retries`` defaults to 0; ``sync`` is
    ``True`` or ``False`` (empty: ``False``). Blank lines are skipped, and so are lines
    starting with ``#`` before the header, but one saying that reuse-ref wrote the file in a
    workload format other than :data:`FORMAT` is refused. Any problem raises ``ValueError``
    naming the file and the line: ``jobs.csv, line 3: duration='-1' is not valid: ...``. With
    ``envs``, the environments a simulation has, an ``env`` that is none of them is refused the
    same way (the simulator, which never sees the file, could only name the job's position);
    with ``one_env``, an ``env`` other than the first one the file names is (a single policy
    simulates one environment, named after the one its jobs name).
    """
    if hasattr(path, "read"):
        return _read_rows(path, getattr(path, "name", "<file>"), envs, one_env)
    try:
        # utf-8-sig: a byte-order mark at the start (Excel's "CSV UTF-8") is not part of the header
        with open(path, newline="", encoding="utf-8-sig") as f:
            return _read_rows(f, os.fspath(path), envs, one_env)
    except UnicodeDecodeError as e:
        raise ValueError(f"{os.fspath(path)}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None


def csv_header(reader, label: str, needs: str, first_line: int = 1) -> List[str]:
    """The column names of a CSV file's first line (``first_line`` of the file), stripped (a
    byte-order mark too, in a file the caller opened); an empty file is refused, saying
    what it ``needs``."""
    header = next(reader, None)
    if header is None:
        raise ValueError(f"{label}, line {first_line}: the file is empty; it needs {needs}")
    columns = [h.strip() for h in header]
    if columns and columns[0].startswith("\ufeff"):
        columns[0] = columns[0][1:].strip()
    return columns


def _comments(f, label: str):
    """Skip the lines starting with ``#`` before the header, refusing a reuse-ref format line of
    another format; returns the lines to read as CSV (the header first) and how many were skipped."""
    skipped = 0
    while True:
        text = f.readline()
        stripped = text.lstrip("\ufeff").strip()
        if not text:  # the end of the file
            return iter(()), skipped
        if not stripped.startswith("#"):
            return itertools.chain([text], f), skipped
        skipped += 1
        match = _FORMAT_LINE.match(stripped)
        if match is None and _CLAIM.match(stripped):
            raise ValueError(f"{label}, line {skipped}: {stripped!r} is not a format line this reuse-ref reads: "
                             f"it writes '{format_line()}'")
        if match is not None and match["format"] != str(FORMAT):
            raise ValueError(f"{label}, line {skipped}: written by reuse-ref {match['version']} in workload format "
                             f"{match['format']}; this reuse-ref reads workload format {FORMAT} only: read the "
                             f"file with the reuse-ref that wrote it, or record the run again with this one")


def _read_rows(f, label: str, envs: Optional[Sequence[str]] = None, one_env: bool = False) -> List[Job]:
    lines_in, skipped = _comments(f, label)
    reader = csv.reader(lines_in)
    try:
        columns = csv_header(reader, label, "a header naming at and duration", first_line=1 + skipped)
        head = f"{label}, line {1 + skipped}"
        unknown = [c for c in columns if c not in CSV_COLUMNS]
        if unknown:
            raise ValueError(f"{head}: unknown column {unknown[0]!r}; the columns are {', '.join(CSV_COLUMNS)}")
        missing = [c for c in ("at", "duration") if c not in columns]
        if missing:
            raise ValueError(f"{head}: the header must name the columns at and duration; "
                             f"missing {' and '.join(missing)} (found {','.join(columns)})")
        dup = [c for c in columns if columns.count(c) > 1]
        if dup:
            raise ValueError(f"{head}: column {dup[0]!r} is named twice")
        pos = {c: k for k, c in enumerate(columns)}
        jobs: List[Job] = []
        lines: List[int] = []
        first_env = None  # (env, line): the first env named, with one_env
        for row in reader:
            line = reader.line_num + skipped
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(columns):
                raise ValueError(f"{label}, line {line}: {len(row)} fields, but the header names {len(columns)}")
            values = {c: row[k].strip() for c, k in pos.items()}
            at = _csv_number(label, line, "at", values["at"])
            duration = _csv_number(label, line, "duration", values["duration"])
            if "id" in values:
                if not values["id"]:
                    raise ValueError(f"{label}, line {line}: id is empty; give every job an id or leave the column out")
                jid = parse_id(values["id"])
            else:
                jid = len(jobs)
            name = values.get("name") or None
            parent = parse_id(values["parent"]) if values.get("parent") else None
            retries = 0
            if values.get("retries"):
                if not re.fullmatch(r"[0-9]+", values["retries"]):
                    raise ValueError(f"{label}, line {line}: retries={values['retries']!r} is not valid: an int >= 0")
                retries = int(values["retries"])
            timeout = _csv_number(label, line, "timeout", values["timeout"]) if values.get("timeout") else None
            sync = values.get("sync") or "False"
            if sync not in ("True", "False"):
                raise ValueError(f"{label}, line {line}: sync={sync!r} is not valid: True or False")
            env = values.get("env") or None
            if env is not None and envs is not None and env not in envs:
                raise ValueError(f"{label}, line {line}: env={env!r} is not valid: the environment simulated, "
                                 f"{' or '.join(map(repr, envs))}, or empty")
            if env is not None and one_env:
                first_env = first_env or (env, line)
                if env != first_env[0]:
                    raise ValueError(f"{label}, line {line}: env={env!r} is not valid: one policy simulates one "
                                     f"environment, and line {first_env[1]} names {first_env[0]!r}; give "
                                     f"{first_env[0]!r} or leave it empty")
            jobs.append(Job(jid, at, duration, name, parent, retries, env, timeout, sync == "True"))
            lines.append(line)
    except csv.Error as e:
        raise ValueError(f"{label}, line {reader.line_num + skipped}: not valid CSV ({e})") from None
    return check_jobs(jobs, where=lambda i: f"{label}, line {lines[i]}: ")


def _csv_number(label: str, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{label}, line {line}: {column}={text!r} is not valid: a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{label}, line {line}: {column}={text!r} is not valid: a finite number of seconds >= 0")
    return value
