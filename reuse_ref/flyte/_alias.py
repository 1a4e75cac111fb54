"""Make ``import flyte`` mean ``reuse_ref.flyte`` in this process (and, through sys.path, in replicas).

``install()`` puts this package in ``sys.modules`` under ``flyte`` with each of its
submodules under ``flyte.<name>`` (so ``flyte.errors`` is one module, whichever name
imported it, and ``except flyte.errors.X`` catches what the reference raises), and a
finder that answers ``import flyte.<unknown>`` with an error naming the feature.

Replicas are spawn or forkserver children: before the runtime's code runs, they import
the script again (as ``__mp_main__``), with the controller's ``sys.path``. ``SHIM_DIR``
holds a package ``flyte`` whose ``__init__`` calls ``install()``; ``reuse-ref run`` puts
it first on ``sys.path``, so the name resolves here in every replica too, ahead of an
installed SDK.
"""
from __future__ import annotations

import importlib
import importlib.abc
import os
import sys
from typing import Any

__all__ = ["install", "SHIM_DIR", "SUBMODULES"]

SHIM_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_shim")
SUBMODULES = ("errors", "io", "report", "remote", "models", "image", "map", "context", "session", "tasks", "types")


class _Finder(importlib.abc.MetaPathFinder):
    """``flyte.<name>`` that is not one of ours: an error that names it, not a silent real SDK module."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if not fullname.startswith("flyte.") or sys.modules.get("flyte") is not _package():
            return None
        from ._unmodelled import NotModelledError

        message = str(NotModelledError(fullname))
        raise ModuleNotFoundError(message, name=fullname)


def _package() -> Any:
    return sys.modules.get(__name__.rsplit(".", 1)[0])


def install() -> None:
    """Alias ``flyte`` and ``flyte.<submodule>`` to this package; idempotent."""
    package = importlib.import_module(__name__.rsplit(".", 1)[0])
    sys.modules["flyte"] = package
    for name in SUBMODULES:
        sys.modules[f"flyte.{name}"] = importlib.import_module(f"{package.__name__}.{name}")
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
