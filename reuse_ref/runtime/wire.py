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

On a local pipe, each message is one frame of ``multiprocessing.Connection``'s format (a
4-byte size, then the bytes), written and read by :func:`write_bytes` and :func:`read_bytes`.

A function is shipped once per replica (``function_bytes`` on its first RUN there, then
``None``); a task that a replica calls is shipped once per replica the same way
(``task_ref``). An error is the tuple ``(exception_bytes_or_None, type_name, message,
traceback_text, where)`` (:data:`Error`).
"""
from __future__ import annotations

import os
import pickle
import struct
import threading
from typing import Any, Optional, Tuple

__all__ = ["RUN", "REPLY", "CANCEL", "READY", "DONE", "CALL", "WAITING", "CANCELLED", "Error", "encode", "OneShot",
           "write_bytes", "write_frames", "read_bytes"]

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


_SIZE = struct.Struct("!i")  # multiprocessing.Connection's frame: a signed 4-byte size, then the bytes
_LONG_SIZE = struct.Struct("!Q")  # (after a size of -1, for 2 GiB and more)


def write_bytes(fd: int, data: bytes) -> None:
    """Write ``data`` to the pipe ``fd`` framed as ``Connection.send_bytes`` frames it, so that
    either end may read it with ``recv_bytes``: the same bytes, without Connection's layers of
    Python, which cost a warm call a few microseconds at each of its four ends."""
    if len(data) <= 16384:
        _write_all(fd, _head(len(data)) + data)
    else:  # not copied into one buffer
        _write_all(fd, _head(len(data)))
        _write_all(fd, data)


def write_frames(fd: int, frames: list) -> None:
    """Several messages' bytes, each framed as :func:`write_bytes` frames it, in one write
    (or as few as the pipe takes)."""
    if len(frames) == 1:
        return write_bytes(fd, frames[0])
    _write_all(fd, b"".join(part for data in frames for part in (_head(len(data)), data)))


def _head(n: int) -> bytes:
    return _SIZE.pack(n) if n <= 0x7FFFFFFF else _SIZE.pack(-1) + _LONG_SIZE.pack(n)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_bytes(fd: int) -> bytes:
    """One frame from the pipe ``fd`` (see :func:`write_bytes`); ``EOFError`` at its end."""
    size, = _SIZE.unpack(_read_exactly(fd, 4))
    if size == -1:
        size, = _LONG_SIZE.unpack(_read_exactly(fd, 8))
    return _read_exactly(fd, size)


def _read_exactly(fd: int, n: int) -> bytes:
    data = os.read(fd, n)
    if len(data) == n:
        return data
    if not data:
        raise EOFError
    parts = [data]
    left = n - len(data)
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            raise EOFError("end of file in the middle of a message")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


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
