"""How a command ends when it is interrupted rather than finished.

Ctrl-C already raises ``KeyboardInterrupt`` in the main thread; ``SIGTERM`` is made to raise
:class:`Terminated` the same way, so the clean-ups on the way out (replicas stopped,
temporary files removed, no output half written) run for both. A reader that closes the
command's output early (``| head``) is not an error either: :func:`stdout_gone` quiets what
is left and gives the status ``SIGPIPE`` would. The CLI maps each to its one-line message and
exit status.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

__all__ = ["Terminated", "sigterm_raises", "stdout_gone"]


class Terminated(BaseException):
    """``SIGTERM``, raised in the main thread as Ctrl-C raises ``KeyboardInterrupt``, so that
    every clean-up on the way out runs (a ``BaseException``: a program's ``except Exception``
    does not swallow it)."""


def _terminate(signum, frame) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_raises():
    """While the command runs, ``SIGTERM`` raises :class:`Terminated` (in the main thread only,
    where a handler can be set; the previous handler comes back after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stdout_gone() -> int:
    """The reader of stdout went away (``| head``): nothing more can reach it, and Python's
    flush at exit must not complain either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return 128 + signal.SIGPIPE
