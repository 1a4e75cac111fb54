"""What the driver and its replicas say to each other: the messages, and how they travel.

Every message is a small tuple whose first item is its kind. Only primitives and
``bytes`` travel in a message, so the plain C pickler sends it; the user's objects
(arguments, results, functions, exceptions) are pickled on their own, once, into the
``bytes`` the message carries (:mod:`reuse_ref.runtime.pickling`).

Driver to replica::

    (RUN, attempt_id, function_id, function_bytes_or_None, payload, is_async)
    (REPLY, request_id, ok, result_bytes_or_error)     the answer to a nested CALL
    (CANCEL, attempt_id)                                 stop an async attempt (its timeout, or rule 7)

Replica to driver::

    (READY, pid)                                         the cold start is over
    (DONE, attempt_id, ok, result_bytes_or_error, load_seconds, run_seconds)
                                                         load: the function loaded (its module imported,
                                                         on its first call there; about 0 after); run:
                                                         the attempt itself (wall seconds, both)
    (CALL, parent_attempt_id, request_id, task_ref, task_bytes_or_None, payload, cache_key)
    (WAITING, attempt_id, request_ids)                   an async attempt now blocks on these calls
                                                         (an empty tuple: it runs again; rule 6)
    (CANCELLED, attempt_id)                              a cancelled attempt has stopped

A function is shipped once per replica (``function_bytes`` on its first RUN there, then
``None``); a task that a replica calls is shipped once per replica the same way
(``task_ref``). An error is the tuple ``(exception_bytes_or_None, type_name, message,
traceback_text, where)`` (:data:`Error`).
"""
from __future__ import annotations

import pickle
import threading
from typing import Any, Optional, Tuple

__all__ = ["RUN", "REPLY", "CANCEL", "READY", "DONE", "CALL", "WAITING", "CANCELLED", "Error", "encode", "OneShot"]

RUN = "run"
REPLY = "reply"
CANCEL = "cancel"
READY = "ready"
DONE = "done"
CALL = "call"
WAITING = "waiting"
CANCELLED = "cancelled"

Error = Tuple[Optional[bytes], str, str, str, str]
"""An exception as it travels: ``(exception_bytes_or_None, type_name, message, traceback_text, where)``."""


def encode(message: tuple) -> bytes:
    """A message as bytes (messages hold primitives and bytes only)."""
    return pickle.dumps(message, pickle.HIGHEST_PROTOCOL)


decode = pickle.loads  # a message back from its bytes: the standard library's own function (so not in
# __all__, which the API page documents), bound here so that both ends name the pair encode/decode


class OneShot:
    """A one-shot ``(ok, value)`` result a thread can block on: a released lock means "set".

    Used on both sides of the pipe: by a user thread waiting in ``Runtime.run`` and by a
    sync task on a replica waiting for a nested call.
    """

    __slots__ = ("_lock", "value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self.value: Any = None

    def set(self, ok: bool, value: Any) -> None:
        self.value = (ok, value)
        self._lock.release()

    def is_set(self) -> bool:
        return self.value is not None

    def wait(self, timeout: float = -1) -> bool:
        return self._lock.acquire(timeout=timeout)
