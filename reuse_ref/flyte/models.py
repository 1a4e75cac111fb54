"""Flyte's option objects, as the SDK builds and checks them: ``Secret``, ``Timeout``, ``RetryStrategy``,
``Backoff``, ``Documentation``, ``Link``, ``PodTemplate``; and how each becomes what the reference runs.

A secret becomes a variable of the replica's environment (its value is the controller's
variable of that name, as in Flyte's local mode); a timeout's ``max_runtime`` bounds an
attempt; a retry strategy's ``count`` is the task's retries. What cannot change what a
task computes is kept and recorded: a retry's backoff (a retry here is queued at once), a
timeout's ``max_queued_time`` and ``deadline``, a pod template (replicas are processes).
"""
from __future__ import annotations

import hashlib
import math
import pathlib
import re
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Dict, List, Optional, Protocol, Union, runtime_checkable

from ..config.validation import bad
from ._unmodelled import record

__all__ = ["Secret", "SecretRequest", "PodTemplate", "Timeout", "TimeoutType", "RetryStrategy", "Backoff",
           "Documentation", "Link", "secrets_from_request", "secret_variables", "max_runtime", "retry_count"]

_VARIABLE = re.compile(r"[A-Z_][A-Z0-9_]*")
SECRET_MOUNT = "/etc/flyte/secrets"


@dataclass
class Secret:
    """A secret the task reads: by default from the variable ``as_env_var`` (``GROUP_KEY`` upper-cased,
    '-' as '_'); locally its value is the controller's own variable of that name."""

    key: str
    group: Optional[str] = None
    mount: Optional[pathlib.Path] = None
    as_env_var: Optional[str] = None

    def __post_init__(self) -> None:
        if not self.mount and not self.as_env_var:
            name = f"{self.group}_{self.key}" if self.group else self.key
            self.as_env_var = name.replace("-", "_").upper()
        if self.mount and str(self.mount) != SECRET_MOUNT:
            raise ValueError(f"mount={self.mount!r} is not valid: only {SECRET_MOUNT} is supported as a secret mount path")
        if self.as_env_var is not None and not _VARIABLE.fullmatch(self.as_env_var):
            raise ValueError(f"as_env_var={self.as_env_var!r} is not valid: an environment variable name must match "
                             f"{_VARIABLE.pattern} (upper case, digits and '_', not starting with a digit)")

    def stable_hash(self) -> str:
        data = (self.key, self.group or "", str(self.mount) if self.mount else "", self.as_env_var or "")
        return hashlib.sha256("|".join(data).encode()).hexdigest()

    def __hash__(self) -> int:
        return int(self.stable_hash()[:16], 16)


SecretRequest = Union[str, Secret, List[Union[str, Secret]]]


def secrets_from_request(value: Any) -> List[Secret]:
    """The secrets ``secrets=`` names, as a list of :class:`Secret`."""
    if isinstance(value, str):
        return [Secret(key=value)]
    if isinstance(value, Secret):
        return [value]
    return [Secret(key=s) if isinstance(s, str) else s for s in value]


def secret_variables(value: Any) -> Optional[Dict[str, Optional[str]]]:
    """The variables a replica gets for ``secrets=`` (``{name: None}``: the value is the controller's)."""
    if not value:
        return None
    names: Dict[str, Optional[str]] = {}
    for secret in secrets_from_request(value):
        if not isinstance(secret, Secret):
            raise bad("secrets", value, "a secret key, a flyte.Secret, or a list of them")
        if secret.as_env_var is None:
            record("Secret(mount=...) (a mounted secret is an environment variable here)", secret.key)
        names[secret.as_env_var or secret.key.replace("-", "_").upper()] = None
    return names


@dataclass
class Timeout:
    """``max_runtime`` bounds each attempt; ``max_queued_time`` and ``deadline`` are recorded."""

    max_runtime: Union[timedelta, int, None] = None
    max_queued_time: Union[timedelta, int, None] = None
    deadline: Union[timedelta, int, None] = None


TimeoutType = Timeout | int | timedelta


def max_runtime(value: Any) -> Any:
    """What bounds one attempt, for the reference's ``timeout`` option (``None`` or 0: no bound)."""
    if isinstance(value, Timeout):
        if value.max_queued_time or value.deadline:
            record("Timeout(max_queued_time=..., deadline=...) (only max_runtime bounds an attempt)")
        return value.max_runtime or None
    return value or None


@dataclass(frozen=True)
class Backoff:
    """The delay before the n-th retry, ``min(base * factor**n, cap)`` (recorded: a retry here starts at once)."""

    base: timedelta
    factor: float = 1.0
    cap: Optional[timedelta] = None

    def __post_init__(self) -> None:
        if self.base < timedelta(0):
            raise ValueError(f"base={self.base!r} is not valid: Backoff.base must be >= 0")
        if isinstance(self.factor, bool) or not isinstance(self.factor, (int, float)) or not math.isfinite(self.factor):
            raise ValueError(f"factor={self.factor!r} is not valid: Backoff.factor must be a finite number")
        if self.factor < 1.0:
            raise ValueError(f"factor={self.factor!r} is not valid: Backoff.factor must be >= 1.0")
        if self.cap is not None and self.cap < timedelta(0):
            raise ValueError(f"cap={self.cap!r} is not valid: Backoff.cap must be >= 0")
        if self.factor > 1.0 and self.cap is None:
            raise ValueError("cap=None is not valid when factor > 1.0: Backoff.cap bounds the growing delay")

    def compute_delay(self, n: int) -> timedelta:
        if n < 0:
            raise ValueError(f"n={n!r} is not valid: the retry index must be >= 0")
        try:
            delay = self.base * (self.factor ** n)
        except OverflowError:
            if self.cap is None:
                raise
            return self.cap
        return self.cap if self.cap is not None and delay > self.cap else delay


@dataclass
class RetryStrategy:
    """``count`` user retries; a ``backoff`` is recorded."""

    count: int
    backoff: Optional[Backoff] = None

    def __post_init__(self) -> None:
        if not isinstance(self.count, int):
            raise ValueError(f"count={self.count!r} is not valid: RetryStrategy.count must be an int (a retry count)")
        if self.count < 0:
            raise ValueError(f"count={self.count!r} is not valid: RetryStrategy.count must be greater than or equal to 0")


def retry_strategy(value: Any) -> RetryStrategy:
    """``retries=`` as the SDK keeps it: an int becomes ``RetryStrategy(count=n)``."""
    if isinstance(value, RetryStrategy):
        return value
    if isinstance(value, int):
        return RetryStrategy(count=value)
    raise ValueError(f"retries={value!r} is not valid: an int (a retry count) or a flyte.RetryStrategy")


def retry_count(strategy: RetryStrategy) -> int:
    """The reference's ``retries`` for a strategy (its backoff is recorded)."""
    if strategy.backoff is not None:
        record("RetryStrategy(backoff=...) (a retry is queued at once)")
    if isinstance(strategy.count, bool):
        raise ValueError(f"retries={strategy.count!r} is not valid: a count of retries is an int (True is one by "
                         f"accident)")
    return strategy.count


@dataclass
class Documentation:
    """A task's description (by default, its docstring)."""

    description: str


@runtime_checkable
class Link(Protocol):
    """A link the UI shows beside a task (recorded)."""

    name: str
    icon_uri: Optional[str] = ""

    def get_link(self, run_name: str, project: str, domain: str, context: Dict[str, str], parent_action_name: str,
                 action_name: str, pod_name: str, **kwargs: Any) -> str: ...


@dataclass
class PodTemplate:
    """Recorded only: replicas are processes, not pods."""

    pod_spec: Any = None
    primary_container_name: str = "primary"
    labels: Optional[Dict[str, str]] = None
    annotations: Optional[Dict[str, str]] = None
    termination_grace_period: Optional[timedelta] = field(default=None, repr=False, compare=False)

    def with_termination_grace_period(self, termination_grace_period: Union[int, timedelta]) -> "PodTemplate":
        seconds = termination_grace_period if isinstance(termination_grace_period, timedelta) \
            else timedelta(seconds=termination_grace_period)
        return replace(self, termination_grace_period=seconds)
