"""The Ray connection, on its own: how the runtime and a plan's sweep join or start a Ray.

Both the Ray backend (:mod:`reuse_ref.runtime.backends.ray`: replicas as actors) and a
plan whose candidates run as Ray tasks (:mod:`reuse_ref.plan.sweep`) connect the same
way, and a local instance they start binds 127.0.0.1 only. Importing this module needs
no Ray; connecting does (``pip install 'reuse-ref[ray]'``).
"""
from __future__ import annotations

import os
import sys
from typing import Any, Optional, Tuple

__all__ = ["connect", "init_local", "LOOPBACK_VARIABLE"]

LOOPBACK_VARIABLE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Set to ``"0"`` before a local Ray starts, so that every node binds 127.0.0.1."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError("backend='ray' needs Ray: pip install 'reuse-ref[ray]'") from None
    return ray


def init_local(**options: Any) -> Any:
    """Start a local Ray instance as the runtime would: bound to 127.0.0.1, its workers
    able to import what this process can (``sys.path``, for tasks shipped by reference).
    A test session or a notebook may start one this way and give it to several runtimes,
    which then use it and leave it running. Returns what ``ray.init`` returns."""
    # Ray reads the variable when it is imported, here and in every process it starts. If
    # this process imported Ray before the variable was set, its constant is set to match,
    # or the node would bind every interface.
    os.environ[LOOPBACK_VARIABLE] = "0"
    ray = _import_ray()
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False
    path = os.pathsep.join(p for p in sys.path if p)
    # "local": a new instance, never a cluster found on this machine (ray.init() alone joins
    # the last one started here, if its address file is still there, even when it is gone)
    options.setdefault("address", "local")
    options.setdefault("include_dashboard", False)
    options.setdefault("configure_logging", False)
    options.setdefault("runtime_env", {"env_vars": {"PYTHONPATH": path}})
    return ray.init(**options)


def connect(address: Optional[str] = None) -> Tuple[Any, bool]:
    """``(ray, started)``: Ray connected as the runtime and the plan's sweeps connect it. One
    connection this process already has is used; with ``address``, that cluster is joined;
    without it a local instance is started (``init_local``): ``started`` says so, and the
    caller stops it (``ray.shutdown()``) when it is done."""
    ray = _import_ray()
    if ray.is_initialized():
        return ray, False
    if address is None:
        init_local()
        return ray, True
    ray.init(address=address, configure_logging=False)
    return ray, False
