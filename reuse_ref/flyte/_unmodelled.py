"""What the reference does not model: one error for refusing it, one list for what was accepted.

Flyte programs use much that has nothing to do with container reuse (image builds, remote
storage, reports, triggers, the hosted service's API). The Flyte layer accepts such a
feature and records it here when ignoring it cannot change what a program computes; when
it could, it raises :class:`NotModelledError`, whose message names the feature, so a user
never meets a bare ``AttributeError``. A name the module does not have raises
:class:`NotModelledAttributeError`, which is both: the message names the feature, and
``hasattr(flyte, "x")`` and ``getattr(flyte, "x", None)`` answer as they do with the SDK.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = ["NotModelledError", "NotModelledAttributeError", "refuse", "record", "recorded", "module_getattr"]

_RECORDED: List[Tuple[str, str]] = []


class NotModelledError(NotImplementedError):
    """A Flyte feature that the reference does not model, used where ignoring it would change the result."""

    def __init__(self, feature: str, why: str = "") -> None:
        self.feature = feature
        tail = f" ({why})" if why else ""
        super().__init__(f"{feature} is not modelled by reuse_ref{tail}: the reference models container "
                         f"reuse (pools, replicas, concurrency, TTLs) and runs everything else locally")

    def __reduce__(self) -> Any:
        return (_rebuild, (self.feature, str(self), type(self)))


class NotModelledAttributeError(NotModelledError, AttributeError):
    """A module name the reference does not have: a :class:`NotModelledError` that is also an
    ``AttributeError``, so ``hasattr`` and ``getattr(module, name, default)`` work."""


def _rebuild(feature: str, message: str, cls: type = NotModelledError) -> NotModelledError:
    err = cls.__new__(cls)
    NotImplementedError.__init__(err, message)
    err.feature = feature
    return err


def refuse(feature: str, why: str = "") -> NotModelledError:
    """The error to raise for ``feature``."""
    return NotModelledError(feature, why)


def record(feature: str, detail: Any = "") -> None:
    """Note that ``feature`` was accepted and ignored (shown by ``reuse-ref run``'s summary)."""
    item = (feature, str(detail)[:120])
    if item not in _RECORDED:
        _RECORDED.append(item)


def recorded() -> List[Tuple[str, str]]:
    """Every feature accepted and ignored so far in this process, in first-use order."""
    return list(_RECORDED)


def module_getattr(module: str, why: str = "", refused: Optional[Dict[str, str]] = None) -> Callable[[str], Any]:
    """A module ``__getattr__`` that names an unknown public feature: a :class:`NotModelledAttributeError`.

    ``refused`` gives, for names the SDK has and the reference refuses, why each one is
    refused. Private and dunder names raise a plain ``AttributeError``: Python's own
    machinery (pickle, inspect, ``from x import *``) asks for them and expects that answer.
    """
    def __getattr__(name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        raise NotModelledAttributeError(f"{module}.{name}", (refused or {}).get(name, why))
    return __getattr__
