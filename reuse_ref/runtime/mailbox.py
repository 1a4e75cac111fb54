"""Commands from user threads to the driver's thread, and the pipe that wakes it for them.

The driver's thread sleeps in its backend's ``wait`` (a ``select`` over the replicas'
pipes, or Ray's completions); a command posted from another thread must wake it. A
:class:`Mailbox` is a queue with a self-pipe beside it: :meth:`~Mailbox.post` puts the command and
writes a byte, and the driver's wait watches ``Mailbox.read_fd`` (the backend's
``open``) and reads every command with :meth:`~Mailbox.take`.
"""
from __future__ import annotations

import os
import queue
from typing import Iterator

__all__ = ["Mailbox"]


class Mailbox:
    """Commands for the driver (``("run", run)``, ``("reset", done)``, ``("close", done)``, and
    ``("tick",)``, which only wakes it: a caller moved a timer earlier, see :mod:`reuse_ref.runtime.direct`)."""

    def __init__(self) -> None:
        self.queue: "queue.SimpleQueue[tuple]" = queue.SimpleQueue()
        self.read_fd, self._write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self._write_fd, False)

    def post(self, command: tuple) -> None:
        """From any thread: queue ``command`` and wake the driver."""
        self.queue.put(command)
        try:
            os.write(self._write_fd, b"!")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (the driver will drain it) or closed (the driver has ended)

    def take(self) -> Iterator[tuple]:
        """In the driver's thread: every command posted so far, in order."""
        try:
            os.read(self.read_fd, 65536)
        except (BlockingIOError, OSError):
            pass
        while True:
            try:
                yield self.queue.get_nowait()
            except queue.Empty:
                return

    def close(self) -> None:
        for fd in (self.read_fd, self._write_fd):
            try:
                os.close(fd)
            except OSError:
                pass
