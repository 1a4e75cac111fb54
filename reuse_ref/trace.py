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


class Trace:
    """The records of one simulation or runtime session, with the policies that made them.

    ``Trace(records, policies={env: ReusePolicy}, resources={env: Resources or None})``.
    Records are kept in the order they happened. The measures of SPEC 6 are computed
    from the records alone (see :meth:`measures`).
    """

    def __init__(self, records, policies=None, resources=None):
        self.records = list(records)
        self.policies = dict(policies or {})
        self.resources = dict(resources or {})

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)
