"""What the core asks its driver to do: the actions, one small immutable tuple each.

Every event method of :class:`~reuse_ref.core.pool.Pool`, of
:class:`~reuse_ref.core.unpooled.Unpooled` and of :class:`~reuse_ref.core.pools.Pools`
answers with a list of these. The driver carries each one out in order, and reports what
came of it as a new event: the simulator on its virtual clock, the runtime with real
processes. A new action is added here, once, and both drivers learn of it.
"""
from __future__ import annotations

from typing import Hashable, NamedTuple, Union

__all__ = ["StartReplica", "StopReplica", "Dispatch", "FailTask", "CancelAttempt", "Interrupt", "Action"]


class StartReplica(NamedTuple):
    """Start replica ``replica`` (a cold start); report ``replica_ready`` when it can take tasks.

    ``task``: the one task the replica is started for, when it serves one attempt and stops
    (a task without reuse: its replica takes that task's own settings); ``None`` for a
    replica of a pool, which serves whatever comes."""

    replica: int
    task: Hashable = None

    def __repr__(self) -> str:
        return f"StartReplica(replica={self.replica})" if self.task is None else \
            f"StartReplica(replica={self.replica}, task={self.task!r})"


class StopReplica(NamedTuple):
    """Stop replica ``replica``; ``reason`` is ``scaledown``, ``idle_ttl``, ``off``, ``shutdown``
    or ``timeout`` (a sync attempt over its timeout: the replica is killed, attempt and all)."""

    replica: int
    reason: str


class Dispatch(NamedTuple):
    """Run attempt ``attempt`` (1-based) of ``task`` on ``replica``; ``warm`` if it ran one before."""

    task: Hashable
    replica: int
    attempt: int
    warm: bool


class FailTask(NamedTuple):
    """``task`` has failed for good (no retries left): ``reason`` is ``starvation``, ``crashed``,
    ``oom``, ``timeout``, ``cancelled`` or the error reported by the driver; ``message``
    explains it."""

    task: Hashable
    reason: str
    message: str = ""


class CancelAttempt(NamedTuple):
    """Rule 7: stop the work of the running async attempt of ``task`` on ``replica``. The pool
    has already let it go (its slot is free, its ``task_failed`` recorded with ``cancelled``):
    whatever the attempt does from now on is not heard."""

    task: Hashable
    replica: int


class Interrupt(NamedTuple):
    """The running async attempt of ``task`` on ``replica`` is over its ``timeout``: cancel it
    there. It keeps its slot until the driver reports ``finish(now, task)``, once the work
    has stopped, so that a replica whose work will not stop takes no more; it fails with
    ``reason`` (``timeout``) whatever the report says."""

    task: Hashable
    replica: int
    reason: str


Action = Union[StartReplica, StopReplica, Dispatch, FailTask, CancelAttempt, Interrupt]
