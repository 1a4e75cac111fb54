"""Traces of LLM inference requests (``TIMESTAMP,ContextTokens,GeneratedTokens``) as workloads.

Public traces of inference services, such as the hour of Azure code-completion traffic in
``data/azure-llm-inference-2023/``, record when each request arrived and how many tokens
it read and wrote, but not how long it ran: that depends on the model and the GPU, which
the trace does not say. So a request becomes a :class:`~reuse_ref.sim.workloads.Job` through a
duration model that the caller states, and whose rates are the caller's to choose::

    duration = overhead_s + ContextTokens / prefill_tokens_per_s + GeneratedTokens / decode_tokens_per_s

Prefill (reading the prompt) comes first and decode (writing the answer) after it, which
is the order the simulator gives a task's contended part and its free part under
``cpu_bound`` (see :func:`prefill_share`). The rates have no defaults on purpose: any
number would be a claim about hardware the trace does not record.

:func:`read_llm_requests` reads the file as it is; :func:`read_llm_trace` reads it and
applies the model. Bad input raises ``ValueError`` naming the parameter (or the file,
line and column), the value, and what is allowed, as :func:`reuse_ref.sim.workload_csv.read_csv` does.
"""
from __future__ import annotations

import csv
import math
import os
import re
from datetime import datetime
from typing import List, NamedTuple, Optional, Sequence

from ..config.validation import bad, number, strict_int
from .workload_csv import csv_header
from .workloads import Job, check_jobs

__all__ = ["LLMRequest", "LLM_TRACE_COLUMNS", "read_llm_requests", "read_llm_trace", "request_seconds",
           "prefill_share"]

LLM_TRACE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
"""The header of an LLM inference trace, in any order, and no other column."""

_TIMESTAMP = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[ T]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?")
_TIMESTAMP_ALLOWED = "a time such as '2023-11-16 18:17:03.9799600' (UTC, no zone suffix)"
_MOST_TOKENS = 2**53  # a count a float holds exactly, so that every duration is a finite number
_TOKENS_ALLOWED = f"a whole number of tokens >= 0 and below 2**53 ({_MOST_TOKENS:,})"


class LLMRequest(NamedTuple):
    """One request of the trace: ``id`` (its position in the file, from 0), ``at`` (seconds
    after the earliest request of the file), ``context_tokens`` (prompt length) and
    ``generated_tokens`` (answer length)."""

    id: int
    at: float
    context_tokens: int
    generated_tokens: int


# ---------------------------------------------------------------------- the duration model
def _rates(prefill_tokens_per_s, decode_tokens_per_s, overhead_s) -> tuple:
    rate = "a finite number of tokens per second > 0"
    return (number("prefill_tokens_per_s", prefill_tokens_per_s, above=0, allowed=rate),
            number("decode_tokens_per_s", decode_tokens_per_s, above=0, allowed=rate),
            number("overhead_s", overhead_s, minimum=0, allowed="a finite number of seconds >= 0"))


def request_seconds(context_tokens: int, generated_tokens: int, *, prefill_tokens_per_s: float,
                    decode_tokens_per_s: float, overhead_s: float = 0.0) -> float:
    """The model's duration of one request, in seconds: ``overhead_s + context_tokens /
    prefill_tokens_per_s + generated_tokens / decode_tokens_per_s``.

    It is the time the request takes alone on its GPU; beside others, the simulator
    stretches its contended part (``cpu_bound``).

    >>> request_seconds(2000, 40, prefill_tokens_per_s=4000, decode_tokens_per_s=40, overhead_s=0.1)
    1.6
    """
    prefill, decode, overhead = _rates(prefill_tokens_per_s, decode_tokens_per_s, overhead_s)
    for param, value in (("context_tokens", context_tokens), ("generated_tokens", generated_tokens)):
        if strict_int(param, value, minimum=0, allowed=_TOKENS_ALLOWED) >= _MOST_TOKENS:
            raise bad(param, value, _TOKENS_ALLOWED)
    return overhead + context_tokens / prefill + generated_tokens / decode


def prefill_share(requests: Sequence[LLMRequest], *, prefill_tokens_per_s: float, decode_tokens_per_s: float,
                  overhead_s: float = 0.0) -> float:
    """The share of the trace's total duration that is prefill, between 0 and 1 (0 without requests).

    Why it matters: prefill is compute-bound and keeps the GPU busy, while the decode steps
    of requests batched together run side by side at close to the speed of one. Given as
    ``cpu_bound`` to a simulation whose replica holds one core standing for its GPU, the
    prefill of concurrent requests shares the device by processor sharing and their decode
    does not slow them. The simulator takes one share for every task, so this is the
    trace's average, not each request's own."""
    prefill, decode, overhead = _rates(prefill_tokens_per_s, decode_tokens_per_s, overhead_s)
    tokens_in = sum(r.context_tokens for r in requests)
    total = overhead * len(requests) + tokens_in / prefill + sum(r.generated_tokens for r in requests) / decode
    return (tokens_in / prefill) / total if total > 0 else 0.0


# ---------------------------------------------------------------------- the file
def read_llm_requests(path) -> List[LLMRequest]:
    """Read an LLM inference trace: a header naming ``TIMESTAMP``, ``ContextTokens`` and
    ``GeneratedTokens``, then one request per line; blank lines are skipped.

    ``path`` is a file name or an open text file. Times are read to the digit (Azure's
    traces give seven decimals of a second, more than ``datetime`` reads) and count from
    the earliest request, so the first request of a sorted file is at 0.0. The requests
    come back sorted by arrival (ties in file order); ``id`` keeps each one's position in
    the file. A missing file, a wrong header or a bad value raises ``ValueError``:
    ``code.csv, line 3, column ContextTokens: ContextTokens='x' is not valid: ...``.
    """
    if hasattr(path, "read"):
        return _read_rows(path, getattr(path, "name", "<file>"))
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return _read_rows(f, os.fspath(path))
    except UnicodeDecodeError as e:
        raise ValueError(f"{os.fspath(path)}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise bad("path", os.fspath(path), f"an LLM inference trace that can be read ({e.strerror or e}): a CSV "
                  f"file with the header {','.join(LLM_TRACE_COLUMNS)}") from None


def read_llm_trace(path, *, prefill_tokens_per_s: float, decode_tokens_per_s: float, overhead_s: float = 0.0,
                   env: Optional[str] = None) -> List[Job]:
    """Read an LLM inference trace (:func:`read_llm_requests`) as a workload: one
    :class:`~reuse_ref.sim.workloads.Job` per request, with the request's ``id``, ``at`` in
    seconds from the earliest request and the duration of :func:`request_seconds`.

    The rates are checked before the file is read. ``env`` names the environment whose
    pool runs the jobs (``None``: the only one).
    """
    prefill, decode, overhead = _rates(prefill_tokens_per_s, decode_tokens_per_s, overhead_s)
    if env is not None and (not isinstance(env, str) or not env):
        raise bad("env", env, "the name of an environment (a non-empty str) or None")
    jobs = [Job(r.id, r.at, overhead + r.context_tokens / prefill + r.generated_tokens / decode, env=env)
            for r in read_llm_requests(path)]
    for job in jobs:
        if not math.isfinite(job.duration):
            raise bad("prefill_tokens_per_s, decode_tokens_per_s", (prefill, decode),
                      f"rates that give request {job.id} a finite duration")
    return check_jobs(jobs)


def _read_rows(f, label: str) -> List[LLMRequest]:
    reader = csv.reader(f)
    try:
        columns = csv_header(reader, label, f"the header {','.join(LLM_TRACE_COLUMNS)}")
        if sorted(columns) != sorted(LLM_TRACE_COLUMNS):
            raise ValueError(f"{label}, line 1: header={','.join(columns)!r} is not valid: the columns "
                             f"{', '.join(LLM_TRACE_COLUMNS)}, each once, in any order")
        pos = [columns.index(c) for c in LLM_TRACE_COLUMNS]
        rows = []
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(columns):
                raise ValueError(f"{label}, line {line}: {len(row)} fields, but the header names {len(columns)}")
            stamp, context, generated = (row[k].strip() for k in pos)
            rows.append((_stamp(label, line, stamp), _tokens(label, line, "ContextTokens", context),
                         _tokens(label, line, "GeneratedTokens", generated)))
    except csv.Error as e:
        raise ValueError(f"{label}, line {reader.line_num}: not valid CSV ({e})") from None
    if not rows:
        return []
    first = min(r[0] for r in rows)
    requests = [LLMRequest(i, float(whole - first[0]) + (frac - first[1]), context, generated)
                for i, ((whole, frac), context, generated) in enumerate(rows)]
    requests.sort(key=lambda r: r.at)  # stable: ties keep the file's order
    return requests


def _stamp(label: str, line: int, text: str) -> tuple:
    """(whole seconds since year 1, fraction of a second): the whole part is exact as an int."""
    m = _TIMESTAMP.fullmatch(text)
    try:
        if m is None:
            raise ValueError
        day = datetime(*(int(g) for g in m.groups()[:6]))
    except ValueError:
        raise ValueError(f"{label}, line {line}, column TIMESTAMP: TIMESTAMP={text!r} is not valid: "
                         f"{_TIMESTAMP_ALLOWED}") from None
    whole = day.toordinal() * 86400 + day.hour * 3600 + day.minute * 60 + day.second
    return whole, float(m.group(7)) if m.group(7) else 0.0


def _tokens(label: str, line: int, column: str, text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text) or len(text) > 16 or int(text) >= _MOST_TOKENS:
        raise ValueError(f"{label}, line {line}, column {column}: {column}={text!r} is not valid: {_TOKENS_ALLOWED}")
    return int(text)
