"""Trace records: every event and action of a pool, and the measures of SPEC 6."""
from __future__ import annotations

from typing import Hashable, NamedTuple, Optional

__all__ = ["Record", "KINDS"]

KINDS = (
    "replica_start", "replica_ready", "task_queued", "task_start", "task_end",
    "task_failed", "replica_stop", "starvation",
)
"""The record kinds of SPEC 6, in the order a task's life meets them."""


class Record(NamedTuple):
    """One line of a trace: at ``time`` (policy seconds), in environment ``env``, ``kind``
    happened to ``replica`` and/or ``task``, for ``reason`` (stops and failures)."""

    time: float
    kind: str
    replica: Optional[int] = None
    task: Optional[Hashable] = None
    reason: str = ""
    env: str = ""
