"""``ReusePolicy``: how many replicas, how many tasks each, and when they stop."""
from __future__ import annotations

import os
import sys
import warnings
from datetime import timedelta
from typing import Any, Literal, Optional, Tuple, Union

from pydantic import ConfigDict, Field, ValidationInfo, field_serializer, field_validator

from .validation import Model, as_seconds, bad, is_int, seconds, strict_int
from .errors import STARVATION_REMEDIES, StarvationWarning

__all__ = ["ReusePolicy", "MIN_TTL_SECONDS"]

MIN_TTL_SECONDS = 30
"""Both TTLs must be at least this many seconds (Flyte's container reuse docs)."""

REPLICA_ENV = "REUSE_REF_REPLICA"
"""A replica process sets this variable to ``"1"`` before it imports user code (see :func:`_in_replica`)."""

REPLICA_PROCESS_PREFIX = "reuse-replica-"
"""The start of every replica process's ``multiprocessing`` name (see :func:`_in_replica`)."""


def _in_replica() -> bool:
    """Whether this process is a replica of a reuse_ref runtime, where a policy's warning
    was already given once, by the process that built the policy.

    A replica re-imports the user's module, which builds the same policy again; warning
    there would print one more copy per replica. Two marks, because the first import can
    come before any code of the replica runs: ``multiprocessing`` imports the user's main
    script (as ``__mp_main__``) while it prepares a child, after it has set the child's
    process name, so a process named ``reuse-replica-...`` is a replica from its first
    line; and the variable ``REUSE_REF_REPLICA=1``, which a replica sets when it starts,
    marks the rest (it is inherited by what a task starts, which is part of the replica).
    """
    if os.environ.get(REPLICA_ENV) == "1":
        return True
    mp = sys.modules.get("multiprocessing")  # a multiprocessing child has always imported it
    return mp is not None and mp.current_process().name.startswith(REPLICA_PROCESS_PREFIX)


_REPLICAS_ALLOWED = "an int n >= 1, or a pair (min, max) of ints with 0 <= min <= max and max >= 1"


class ReusePolicy(Model):
    """Keep a pool of warm replicas for a ``TaskEnvironment`` and reuse them across task calls.

    Parameters:

    * ``replicas``: an int ``n`` for a fixed pool of ``n`` (normalised to ``(n, n)``), or a
      pair ``(min, max)`` for a pool that autoscales between the two. Default 2.
    * ``idle_ttl``: when no task has run or waited for this long, every replica stops,
      ``min`` included; the next task starts the environment cold. Int seconds or
      ``timedelta``, at least 30 s; ``None`` keeps the environment always on. Default 30 s.
    * ``concurrency``: how many tasks one replica runs at once (more than 1 needs async
      tasks). Default 1.
    * ``scaledown_ttl``: how long a replica above ``min`` must sit idle before it is
      stopped; at most one replica stops per period. At least 30 s. Default 30 s.
    * ``scope``: ``"global"`` shares one pool across every run of a runtime; ``"run"``
      gives each run its own pool, torn down when the run ends.

    Every invalid value raises ``ValueError`` naming the field, the value and what is
    allowed. JSON carries the TTLs as seconds, an int when whole (exact at any size) and
    else a float, which cannot hold a fraction of a second past about 285 years: such a
    TTL (``timedelta.max``, say) is refused when the policy is built, so that every policy
    that exists reads back from its JSON as itself. For "never", give ``idle_ttl=None``. A policy with ``max_replicas == 1`` and ``concurrency == 1`` warns with
    :class:`~reuse_ref.config.errors.StarvationWarning`.

    >>> ReusePolicy(replicas=(1, 5), concurrency=4).capacity
    20
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    replicas: Tuple[int, int] = Field(default=(2, 2), description="(min, max) replicas; an int n means (n, n).")
    # JSON carries TTLs as seconds (see _ttl_as_seconds); the schema says so, default included.
    idle_ttl: Optional[timedelta] = Field(
        default=timedelta(seconds=30), description="Environment idle timeout; None means always on.",
        json_schema_extra={"default": MIN_TTL_SECONDS},
    )
    concurrency: int = Field(default=1, description="Tasks one replica runs at once.")
    scaledown_ttl: timedelta = Field(default=timedelta(seconds=30), description="Idle time before one replica above min stops.",
                                     json_schema_extra={"default": MIN_TTL_SECONDS})
    scope: Literal["global", "run"] = Field(default="global", description="Share the pool across runs or not.")

    @field_validator("replicas", mode="before", json_schema_input_type=Union[int, Tuple[int, int]])
    @classmethod
    def _replicas(cls, value: Any) -> Tuple[int, int]:
        if is_int(value):
            return (strict_int("replicas", value, minimum=1, allowed=_REPLICAS_ALLOWED),) * 2
        if isinstance(value, (tuple, list)) and len(value) == 2:
            lo, hi = value
            if all(map(is_int, value)) and 0 <= lo <= hi and hi >= 1:
                return (lo, hi)
        raise bad("replicas", value, _REPLICAS_ALLOWED)

    # In Python a TTL is int seconds or a timedelta; JSON also gives float seconds, which is
    # how a fractional timedelta is serialised, so the JSON round trip holds.
    @field_validator("idle_ttl", mode="before", json_schema_input_type=Optional[float])
    @classmethod
    def _idle_ttl(cls, value: Any, info: ValidationInfo) -> Optional[timedelta]:
        return seconds("idle_ttl", value, minimum=MIN_TTL_SECONDS, allow_none=True, allow_float=info.mode == "json")

    @field_validator("scaledown_ttl", mode="before", json_schema_input_type=float)
    @classmethod
    def _scaledown_ttl(cls, value: Any, info: ValidationInfo) -> timedelta:
        return seconds("scaledown_ttl", value, minimum=MIN_TTL_SECONDS, allow_float=info.mode == "json")

    @field_validator("concurrency", mode="before", json_schema_input_type=int)
    @classmethod
    def _concurrency(cls, value: Any) -> int:
        return strict_int("concurrency", value, minimum=1)

    @field_validator("scope", mode="before")
    @classmethod
    def _scope(cls, value: Any) -> str:
        if value not in ("global", "run") or not isinstance(value, str):
            raise bad("scope", value, 'one of "global" (one pool shared by every run) or "run" (a pool per run)')
        return value

    def model_post_init(self, context: Any) -> None:
        """Warn once, when a policy is built, if it can starve (as Flyte does).

        A post-init hook rather than a validator: validators run again each time an
        existing policy is checked as a field (of a ``TaskEnvironment``, say). Only in the
        process that built the policy: a replica importing the same module stays quiet
        (:func:`_in_replica`)."""
        if self.max_replicas == 1 and self.concurrency == 1 and not _in_replica():
            warnings.warn(
                f"ReusePolicy(replicas={self.replicas}, concurrency=1) can starve: a task that waits "
                f"for another task of the same environment holds the only slot. To avoid it, "
                f"{STARVATION_REMEDIES}.",
                StarvationWarning,
                stacklevel=4,  # 1 this hook, 2 BaseModel.__init__ or model_validate*, 3 Model's own, 4 the caller
            )

    @field_serializer("idle_ttl", "scaledown_ttl", when_used="json")
    def _ttl_as_seconds(self, value: Optional[timedelta]) -> Any:
        return as_seconds(value)

    # Accessors (Flyte's ReusePolicy API reference; the SDK)
    @property
    def min_replicas(self) -> int:
        """The smallest number of replicas kept while the environment is alive."""
        return self.replicas[0]

    @property
    def max_replicas(self) -> int:
        """The largest number of replicas the pool scales up to."""
        return self.replicas[1]

    @property
    def ttl(self) -> Optional[timedelta]:
        """The environment idle timeout as a ``timedelta``; ``None`` when always on."""
        return self.idle_ttl

    def get_scaledown_ttl(self) -> timedelta:
        """The per-replica scale-down delay as a ``timedelta``."""
        return self.scaledown_ttl

    @property
    def capacity(self) -> int:
        """Tasks the whole pool can run at once: ``max_replicas x concurrency``."""
        return self.max_replicas * self.concurrency

    @property
    def autoscales(self) -> bool:
        """True when ``min_replicas < max_replicas``."""
        return self.min_replicas < self.max_replicas

    def __repr__(self) -> str:
        rep = self.min_replicas if not self.autoscales else self.replicas
        idle = "None" if self.idle_ttl is None else f"{as_seconds(self.idle_ttl)}"
        extra = "" if self.scope == "global" else f", scope={self.scope!r}"
        return (
            f"ReusePolicy(replicas={rep}, concurrency={self.concurrency}, idle_ttl={idle}, "
            f"scaledown_ttl={as_seconds(self.scaledown_ttl)}{extra})"
        )

    __str__ = __repr__

