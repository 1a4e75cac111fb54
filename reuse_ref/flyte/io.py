"""``flyte.io``: the names exist, the remote storage behind them is not modelled (SPEC 7).

``File``, ``Dir`` and ``DataFrame`` move data through the service's blob store. Programs
name them in signatures (which is fine here); making or using one raises
:class:`NotModelledError` naming it, because pretending to store data would change what
the program computes.
"""
from __future__ import annotations

from typing import Any

from ._unmodelled import module_getattr, refuse

__all__ = ["File", "Dir", "DataFrame"]

_WHY = "remote storage: the reference has no blob store"


class _Unmodelled(type):
    def __getattr__(cls, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise refuse(f"flyte.io.{cls.__name__}.{name}", _WHY)

    def __getitem__(cls, item: Any) -> Any:  # File[...] in annotations
        return cls


class File(metaclass=_Unmodelled):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise refuse("flyte.io.File", _WHY)


class Dir(metaclass=_Unmodelled):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise refuse("flyte.io.Dir", _WHY)


class DataFrame(metaclass=_Unmodelled):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise refuse("flyte.io.DataFrame", _WHY)


__getattr__ = module_getattr("flyte.io", _WHY)
