"""``flyte.types``: the type markers Flyte programs name in signatures.

``FlytePickle`` tells the service to pickle a value it has no type for. Every value that
crosses between the reference's processes is pickled already, so the marker changes
nothing here; it exists so that signatures that name it (``FlytePickle[T]`` too) work.
"""
from __future__ import annotations

from typing import Any

from ._unmodelled import module_getattr

__all__ = ["FlytePickle"]


class FlytePickle:
    """A marker for "any picklable value" in a signature."""

    def __class_getitem__(cls, item: Any) -> Any:
        return cls


__getattr__ = module_getattr("flyte.types", "the reference pickles every value; only FlytePickle is named")
