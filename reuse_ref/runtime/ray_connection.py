"""The Ray connection, on its own: how the runtime and a plan's sweep join or start a Ray.

Both the Ray backend (:mod:`reuse_ref.runtime.backends.ray`: replicas as actors) and a
plan whose candidates run as Ray tasks (:mod:`reuse_ref.plan.sweep`) connect the same
way, and a local instance they start binds 127.0.0.1 only and ends with the process that
started it: Ray's node processes end with their driver only after a while (its agents, up to
half a minute, still listening), and not at all if the driver is killed at the wrong moment,
so every process of the instance is tagged (:data:`RAY_TAG_VARIABLE`) and this process's
watchdog (:func:`reuse_ref.runtime.process_tree.watchdog`) kills them all the moment this
process ends, however it ends. Importing this module needs no Ray; connecting does (``pip
install 'reuse-ref[ray]'``).
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any, Optional, Tuple

from . import process_tree

__all__ = ["connect", "init_local", "LOOPBACK_VARIABLE", "RAY_TAG_VARIABLE"]

LOOPBACK_VARIABLE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Set to ``"0"`` before a local Ray starts, so that every node binds 127.0.0.1."""

RAY_TAG_VARIABLE = "REUSE_REF_RAY_TAG"
"""In the environment of every process of a local Ray this process started: its tag."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError("backend='ray' needs Ray: pip install 'reuse-ref[ray]'") from None
    return ray


def _python_sigterm() -> Any:
    """This process's Python handler of ``SIGTERM`` (None where none can be set: not the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.getsignal(signal.SIGTERM)


def _restore_sigterm(handler: Any) -> None:
    """Put back the Python handler of ``SIGTERM`` that ``ray.init`` replaced.

    A driver's ``ray.init`` installs Ray's own C++ handler of ``SIGTERM`` (a crash report,
    then an abort), over whatever the process had: ``reuse-ref``'s, which ends a command in
    one line with status 143 after stopping its replicas, or a user's. Python still believes
    its handler is in place, so setting it again is what restores it."""
    if handler is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


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
    tag = process_tree.new_tag("ray")
    options.setdefault("runtime_env", {"env_vars": {"PYTHONPATH": path}})
    # The node's processes inherit this process's environment as ray.init starts them (its
    # workers, the raylet's): the tag is there only while it does.
    process_tree.watchdog().kill_at_end(RAY_TAG_VARIABLE, tag)
    os.environ[RAY_TAG_VARIABLE] = tag
    term = _python_sigterm()
    try:
        context = ray.init(**options)
    finally:
        if os.environ.get(RAY_TAG_VARIABLE) == tag:
            del os.environ[RAY_TAG_VARIABLE]
        _restore_sigterm(term)
    # Its agents rename themselves ("ray::DashboardAgent"), which hides their environment, but
    # they keep their logs open in the instance's session directory
    node = getattr(getattr(ray, "_private", None) and ray._private.worker, "_global_node", None)
    if node is not None:
        process_tree.watchdog().kill_users_at_end(node.get_session_dir_path())
    return context


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
    term = _python_sigterm()
    try:
        ray.init(address=address, configure_logging=False)
    finally:
        _restore_sigterm(term)
    return ray, False
