"""``flyte.Trigger`` and its automations (``Cron``, ``FixedRate``, ``OnArtifact``): accepted, kept, recorded.

A trigger asks the service to start a task on a schedule or when an artifact appears.
Locally a run starts when the program starts it, so a trigger never fires here; it is
kept on the task (``task.triggers``), as the SDK keeps it, and recorded, so a program
that declares its schedules runs unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, Mapping, Optional, Union

from ._unmodelled import record

__all__ = ["Trigger", "Cron", "FixedRate", "OnArtifact", "TriggerTime", "TriggeredArtifact", "TriggeredPartition"]


@dataclass(frozen=True)
class Cron:
    """Start on a cron schedule (``expression``, in ``timezone``)."""

    expression: str
    timezone: str = "UTC"


@dataclass(frozen=True)
class FixedRate:
    """Start every ``interval_minutes`` minutes, from ``start_time``."""

    interval_minutes: int
    start_time: Optional[datetime] = None


class OnArtifact:
    """Start when a new version of the artifact ``name`` appears."""

    def __init__(self, name: str, version: Optional[str] = None, partitions: Optional[Mapping[str, str]] = None,
                 **partition_kwargs: str) -> None:
        self.name = name
        self.version = version
        self.partitions = {**(partitions or {}), **partition_kwargs}


@dataclass
class Trigger:
    """A named automation of a task; recorded when made (it never fires locally)."""

    name: str
    automation: Union[Cron, FixedRate, OnArtifact, None] = None
    description: str = ""
    auto_activate: bool = True
    inputs: Optional[Dict[str, Any]] = None
    env_vars: Optional[Dict[str, str]] = None
    interruptible: Optional[bool] = None
    overwrite_cache: bool = False
    queue: Optional[str] = None
    max_action_concurrency: Optional[int] = None
    labels: Optional[Mapping[str, str]] = None
    annotations: Optional[Mapping[str, str]] = None
    notifications: Any = None
    custom_context: Optional[Mapping[str, str]] = field(default=None)

    def __post_init__(self) -> None:
        record("flyte.Trigger (kept on the task; a trigger never fires locally)", self.name)


class _Marker:
    """A value the service fills in when a trigger starts a run (the time, the artifact)."""

    def __init__(self, what: str) -> None:
        self._what = what

    def __repr__(self) -> str:
        return f"<{self._what}>"


TriggerTime = _Marker("the time a trigger fired")
TriggeredArtifact = _Marker("the artifact that fired a trigger")


@dataclass(frozen=True)
class TriggeredPartition:
    """The partition ``key`` of the artifact that fired a trigger."""

    key: str
