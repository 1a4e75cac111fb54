"""Where replicas run: the seam between the runtime's driver and the machines that host them.

The driver (:mod:`reuse_ref.runtime.driver`) decides nothing about *how* a replica runs, and a
backend decides nothing about *when*: the pools decide that. A backend moves bytes and
processes. It starts a replica with its environment (variables, resources, the cold
start), delivers the driver's messages to it (``RUN``, ``REPLY``, ``CANCEL``, as
:mod:`reuse_ref.runtime.wire` defines them), hands back what the replica says (``READY``,
``DONE``, ``CALL``, ``WAITING``, ``CANCELLED``) in the order it said it, stops or kills
it, and reports its end: ``(EXITED, reason, detail)``, where ``reason`` is ``"crashed"``
or ``"oom"`` (over ``Resources.memory``) and ``detail`` says what happened, for the user.

Two backends ship: ``processes`` (local ``multiprocessing`` processes, the default) and
``ray`` (one Ray actor per replica, on a local instance or a cluster). A new place to
run replicas is one new module in this package: a :class:`ReplicaBackend` subclass and a
``backend(**options)`` function that makes it from ``Runtime``'s options (refusing the
ones it does not take, by name). ``Runtime(backend="NAME")`` finds it by its module's name.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Dict, List, Optional, Tuple

from ...config.resources import Resources

__all__ = ["ReplicaBackend", "BACKENDS", "EXITED", "LONGEST_WAIT", "make_backend"]

EXITED = "exited"
"""The message a backend adds for a replica that has ended by itself: ``(EXITED, reason, detail)``."""

LONGEST_WAIT = 3600.0
"""The longest timeout the driver gives :meth:`ReplicaBackend.wait` (wall s): a selector takes at
most 2**31 ms and refuses infinity, so a later timer (a TTL of 25 days) is reached in steps."""

BACKENDS = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")))
"""The backends of this package: each module is one, named after it."""


class ReplicaBackend:
    """How replicas are started, fed, watched and stopped; all calls come from the driver's thread.

    A replica is the driver's record of it (:class:`~reuse_ref.runtime.call_table.ReplicaHandle`); a backend keeps
    its own state in ``replica.io`` and sets ``replica.pid`` (and ``replica.node`` when it
    has several machines) as soon as it knows them.
    """

    name = ""

    def open(self, wakeup_fd: int) -> None:
        """Called once, in the driver's thread, before any other call: :meth:`wait` must
        return ``(None, None)`` when ``wakeup_fd`` (the driver's wakeup pipe) is readable."""
        raise NotImplementedError

    def start(self, replica: Any, env: Dict[str, str], resources: Optional[Resources]) -> None:
        """Start a replica: ``env`` holds the environment's own variables (``env_vars`` and
        secrets), which the replica's ``os.environ`` must have; what else it has is the
        backend's choice (local processes inherit the runtime's). It says ``READY`` as soon
        as it can take work (the driver adds ``Runtime(cold_start=...)`` itself). Raises
        when it cannot be started at all."""
        raise NotImplementedError

    def send(self, replica: Any, message: tuple) -> None:
        """Deliver one message to a live replica (a replica that has died: dropped silently,
        its ``EXITED`` is on the way)."""
        raise NotImplementedError

    def stop(self, replica: Any, kill: bool) -> None:
        """Stop a replica: let it exit (``kill=False``: it has no attempt) or kill it now;
        either way it is killed if it has not exited within the backend's grace period."""
        raise NotImplementedError

    def share(self, lock: Any) -> bool:
        """Whether callers' threads may read a replica's answer themselves (:mod:`reuse_ref.runtime.direct`).

        ``lock`` is the driver's: its thread holds it in every call here but lets go of it
        while :meth:`wait` blocks, so that a caller can carry out its own call meanwhile. A
        backend that answers True takes that on and implements :meth:`lend`,
        :meth:`receive` and :meth:`give_back`; the default answers False (every message is
        read by the driver's thread, as for Ray)."""
        return False

    def lend(self, replica: Any) -> None:
        """(Holding the lock, before the ``RUN`` is sent.) Take the replica's channel out of
        :meth:`wait`: the calling thread reads its next message itself."""
        raise NotImplementedError

    def receive(self, replica: Any) -> Optional[tuple]:
        """(Without the lock, in the caller's thread.) The lent replica's next message, or
        ``None`` at its end or once the driver has stopped it."""
        raise NotImplementedError

    def give_back(self, replica: Any, message: Optional[tuple]) -> Optional[tuple]:
        """(Holding the lock.) The channel goes back into :meth:`wait`; returns the message for the
        driver to handle (``(EXITED, ...)`` for an end), or ``None`` if the replica was stopped meanwhile."""
        raise NotImplementedError

    def wait(self, timeout: Optional[float]) -> List[Tuple[Any, Optional[tuple]]]:
        """Block until something happens or ``timeout`` seconds pass (``None``: no limit);
        returns ``[(replica, message)]``, and ``(None, None)`` when the driver was woken."""
        raise NotImplementedError

    def drain(self, hard: bool) -> None:
        """Wait until every stopped replica has exited (``hard``: kill them first)."""
        raise NotImplementedError

    def close(self) -> None:
        """Kill every replica still alive, wait for each, and release what the backend holds."""
        raise NotImplementedError


def make_backend(backend: Any, **options: Any) -> ReplicaBackend:
    """The backend named ``backend`` (or ``backend`` itself, when it is a :class:`ReplicaBackend`)."""
    if isinstance(backend, ReplicaBackend):
        return backend
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not valid: one of {', '.join(map(repr, BACKENDS))}, "
                         f"or a reuse_ref.runtime.backends.ReplicaBackend")
    return importlib.import_module(f"{__name__}.{backend}").backend(**options)
