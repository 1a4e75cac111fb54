"""Errors and warnings raised by reuse_ref.

Every error a user can trigger with bad input is a plain ``ValueError`` (the models raise
one instead of pydantic's ``ValidationError``: :mod:`reuse_ref.config.validation`), whose
one-line message names the parameter, the value given and what is allowed. The classes below are the run-time failures of tasks and pools.
"""
from __future__ import annotations

__all__ = [
    "ReuseRefError",
    "StarvationWarning",
    "DeprecatedTaskWarning",
    "StarvationError",
    "ReplicaCrashedError",
    "OOMError",
    "TaskCancelledError",
    "TaskTimeoutError",
    "RemoteTaskError",
    "NonRecoverableError",
]

STARVATION_REMEDIES = (
    "raise replicas to at least 2 (e.g. replicas=(1, 2)), "
    "raise concurrency above 1 and make the tasks async, "
    'or run the waiting parent task without reuse: parent.override(reusable="off")'
)


class ReuseRefError(RuntimeError):
    """Base class of the failures a run can end with (not of bad input: that is ValueError)."""


class StarvationWarning(UserWarning):
    """A policy with ``max_replicas == 1`` and ``concurrency == 1`` can starve (Flyte warns of it).

    A parent task that waits for a child of the same environment holds the only slot, so
    the child can never start. Emitted once when such a ``ReusePolicy`` is built.
    """


class DeprecatedTaskWarning(UserWarning):
    """A task marked ``deprecated="..."`` was called (flytekit's ``TaskMetadata``)."""


class StarvationError(ReuseRefError):
    """Queued tasks can never start: every slot is held by a task waiting on the same pool (rule 6).

    The hosted service would wait forever; the reference fails the queued tasks at once and
    the waiting parent sees this error where it awaits its child. The message names the
    environment, its policy, the waiting tasks and the three remedies.
    """


class ReplicaCrashedError(ReuseRefError):
    """The replica running an attempt died (exit, signal, segfault) (rule 5).

    Only the attempts that replica held fail; the pool replaces the replica.
    """


class OOMError(ReplicaCrashedError):
    """The replica exceeded its ``Resources.memory`` limit and was killed (rule 5)."""


class TaskTimeoutError(ReuseRefError, TimeoutError):
    """An attempt ran longer than its task's ``timeout``.

    An async attempt is cancelled; a sync attempt costs its replica, which is replaced.
    """


class TaskCancelledError(ReuseRefError):
    """A task was cancelled because the parent that called it failed or ended first (rule 7):
    no work runs for a parent that is gone."""


class NonRecoverableError(ReuseRefError):
    """Raised by a task's code to fail at once: the attempt is not retried, whatever the task's
    ``retries`` (Flyte's ``flyte.errors.NonRecoverableError``, which derives from this one).

    The attempt is recorded ``task_failed`` with reason ``non_recoverable``. A caller that
    lets it propagate fails with it too; through ``reuse_ref.flyte``, as in the SDK, the
    caller sees a ``RuntimeUserError`` instead, and its own retries apply.
    """


class RemoteTaskError(ReuseRefError):
    """A user exception raised on a replica that could not be re-raised as its own type.

    Carries the original type name, message and the replica's traceback text.
    """

    def __init__(self, type_name: str, message: str, remote_traceback: str = ""):
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.remote_traceback = remote_traceback
