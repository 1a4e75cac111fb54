"""``Secret``, ``PodTemplate``, ``Timeout`` and ``RetryStrategy``: Flyte's option objects, in the
reference's terms.

Each one is turned into what the reference models: a secret into a variable of the
replica's environment, a timeout into the
attempt's run time, a retry strategy into its count. What cannot be modelled is kept and
recorded (``PodTemplate``, a retry backoff).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Dict, Optional, Tuple, Union

from .._validate import bad
from ._unmodelled import record

__all__ = ["Secret", "PodTemplate", "Timeout", "RetryStrategy", "Backoff", "secrets_of", "timeout_of", "retries_of"]


@dataclass(frozen=True)
class Secret:
    """A secret the task reads from its environment. Locally its value comes from the
    controller's own variable ``as_env_var`` (or the key, upper-cased with '-' as '_')."""

    key: str
    group: Optional[str] = None
    mount: Any = None
    as_env_var: Optional[str] = None

    @property
    def env_var(self) -> str:
        return self.as_env_var or self.key.upper().replace("-", "_")


def secrets_of(value: Any) -> Any:
    """The reference's ``secrets`` (names or a mapping) for the SDK's ``SecretRequest``."""
    if value is None:
        return None
    items = value if isinstance(value, (list, tuple)) else [value]
    names = []
    for item in items:
        if isinstance(item, Secret):
            if item.mount is not None:
                record("Secret(mount=...) (secrets are environment variables here)", item.key)
            names.append(item.env_var)
        elif isinstance(item, str):
            names.append(item.upper().replace("-", "_"))
        else:
            raise bad("secrets", value, "a secret key, a flyte.Secret, or a list of them")
    return names


@dataclass(frozen=True)
class PodTemplate:
    """Recorded only: replicas are processes, not pods."""

    pod_spec: Any = None
    primary_container_name: str = "primary"
    labels: Optional[Dict[str, str]] = None
    annotations: Optional[Dict[str, str]] = None


@dataclass(frozen=True)
class Timeout:
    """``max_runtime`` bounds an attempt; ``max_queued_time`` and ``deadline`` are recorded."""

    max_runtime: Union[timedelta, int, None] = None
    max_queued_time: Union[timedelta, int, None] = None
    deadline: Union[timedelta, int, None] = None


def timeout_of(value: Any) -> Any:
    if isinstance(value, Timeout):
        if value.max_queued_time or value.deadline:
            record("Timeout(max_queued_time=..., deadline=...) (only max_runtime bounds an attempt)")
        return value.max_runtime
    return value


@dataclass(frozen=True)
class Backoff:
    base: float = 1.0
    factor: float = 2.0
    cap: Optional[float] = None


@dataclass(frozen=True)
class RetryStrategy:
    """``count`` retries; a ``backoff`` is recorded (retries here start at once)."""

    count: int = 0
    backoff: Optional[Backoff] = field(default=None)


def retries_of(value: Any) -> Any:
    if isinstance(value, RetryStrategy):
        if value.backoff is not None:
            record("RetryStrategy(backoff=...) (a retry is queued at once)")
        return value.count
    return value
