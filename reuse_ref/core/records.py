"""The words a trace is written in: record kinds, stop reasons and failure reasons.

This is the bottom layer: the pools write these words, the drivers pass them on, and the
trace, the measures, the figures and the book read them. Keeping them in one module
means a new reason is added once and every reader (the Concepts page's list included)
learns of it from here.
"""
from __future__ import annotations

from typing import Hashable, Optional, Tuple

__all__ = ["KINDS", "STOP_REASONS", "FAILURE_REASONS", "NEVER_RETRIED", "RETRYING", "Row"]

KINDS = (
    "replica_start", "replica_ready", "task_queued", "task_start", "task_end",
    "task_failed", "replica_stop", "starvation",
)
"""The record kinds, in the order a task's life meets them."""

STOP_REASONS = {
    "scaledown": "rule 3: a replica above the minimum was idle for scaledown_ttl",
    "idle_ttl": "rule 4: the whole environment was idle for idle_ttl",
    "crashed": "rule 5: the replica's process died",
    "oom": "rule 5: the replica went over its memory limit and was killed",
    "timeout": "a sync attempt ran past its timeout, so its replica was killed and replaced",
    "off": "a task without reuse: its replica stops when its one attempt ends",
    "shutdown": "the pool was closed (the runtime closed, a run-scoped pool's run ended, an interrupt)",
}
"""Why a replica stops (the ``reason`` of a ``replica_stop`` record), each with what it means."""

FAILURE_REASONS = {
    "error": "the task's code raised an exception",
    "non_recoverable": "the task's code raised NonRecoverableError: it is not retried, whatever its retries",
    "timeout": "the attempt ran past the task's timeout",
    "crashed": "the replica running the attempt died",
    "oom": "the replica running the attempt went over its memory limit",
    "starvation": "rule 6: the task could never start, every slot waits on it",
    "cancelled": "rule 7: the parent that called it failed or ended first",
}
"""Why an attempt fails (the ``reason`` of a ``task_failed`` record, before any suffix)."""

NEVER_RETRIED = ("cancelled", "non_recoverable")
"""Failure reasons after which an attempt is not tried again, even with retries left."""

RETRYING = " (retrying)"
"""The suffix of a ``task_failed`` reason when the failed attempt will be tried again."""

Row = Tuple[float, str, Optional[int], Optional[Hashable], str, str]
"""A record as a pool writes it: a plain tuple ``(time, kind, replica, task, reason, env)``."""
