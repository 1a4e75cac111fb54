"""``flyte.ReusePolicy``: the SDK's dataclass, validated by the reference's model.

The SDK's ``ReusePolicy`` is a dataclass: programs build it positionally, copy it with
``dataclasses.replace``, turn it into a dict with ``dataclasses.asdict``. This one is a
dataclass with the same fields in the same order, normalised as the SDK normalises them
(``replicas`` to a pair, the TTLs to ``timedelta``), and every value is checked by
:class:`reuse_ref.ReusePolicy`, the model the rest of the package uses (:attr:`model`):
so the reference's rules hold here too (``replicas=0`` is refused, ``idle_ttl=None`` means
always on, a two-item list is a pair), and a policy that can starve warns once.

It is frozen, where the SDK's is not: a policy is the key of its pool, so a policy that
changed after an environment took it would leave that environment's tasks in the pool of
the old one; and assignment would skip the checks. ``dataclasses.replace`` makes a
changed copy, checked again.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, Optional, Tuple, Union

from ..config import policy as _ref

__all__ = ["ReusePolicy"]


@dataclass(frozen=True)
class ReusePolicy:
    """Keep a pool of warm replicas for a ``TaskEnvironment`` (see :class:`reuse_ref.ReusePolicy` for each field)."""

    replicas: Union[int, Tuple[int, int]] = 2
    idle_ttl: Union[int, timedelta, None] = 30
    concurrency: int = 1
    scaledown_ttl: Union[int, timedelta] = 30
    scope: Literal["global", "run"] = "global"

    def __post_init__(self) -> None:
        model = _ref.ReusePolicy(replicas=self.replicas, idle_ttl=self.idle_ttl, concurrency=self.concurrency,
                                 scaledown_ttl=self.scaledown_ttl, scope=self.scope)
        for name in ("replicas", "idle_ttl", "concurrency", "scaledown_ttl", "scope"):
            object.__setattr__(self, name, getattr(model, name))
        object.__setattr__(self, "_model", model)

    @property
    def model(self) -> _ref.ReusePolicy:
        """The same policy as the reference's validated model (what plans and the simulator take)."""
        return self._model  # type: ignore[attr-defined]

    @property
    def min_replicas(self) -> int:
        return self.replicas[0]  # type: ignore[index]

    @property
    def max_replicas(self) -> int:
        return self.replicas[1]  # type: ignore[index]

    def get_scaledown_ttl(self) -> timedelta:
        return self.scaledown_ttl  # type: ignore[return-value]

    # The reference's extras (not in the SDK): listed on the book's Fidelity page.
    @property
    def ttl(self) -> Optional[timedelta]:
        """The environment idle timeout; ``None`` when always on (SDK 2.0's API reference names it)."""
        return self.idle_ttl  # type: ignore[return-value]

    @property
    def capacity(self) -> int:
        """Tasks the whole pool can run at once: ``max_replicas x concurrency`` (the SDK's docstring)."""
        return self.max_replicas * self.concurrency

    @property
    def autoscales(self) -> bool:
        return self.min_replicas < self.max_replicas

    def __reduce__(self):  # the normalised fields rebuild it (and its model) in a replica
        return (ReusePolicy, (self.replicas, self.idle_ttl, self.concurrency, self.scaledown_ttl, self.scope))
