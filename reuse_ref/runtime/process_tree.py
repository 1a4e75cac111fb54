"""Everything a replica process started, kept together so that it all ends with the replica.

A task may start processes of its own: a server it talks to, a ``subprocess`` with
``start_new_session=True``, a daemon that forks twice and calls ``setsid``. Each of those
leaves the replica's process group, and a daemon is re-parented to pid 1 when its first
parent exits; before issue 26 they outlived the run, and kept alive the forkserver and the
resource tracker whose pipes they had inherited. A replica of the processes backend calls
:func:`adopt` first thing, which makes it:

* the leader of a session and a process group of its own (``setsid``), which every process
  it starts belongs to unless that process asks for its own;
* on Linux, the *subreaper* of its descendants (``PR_SET_CHILD_SUBREAPER``): an orphan is
  re-parented to the replica, not to pid 1, so a double fork stays in the replica's tree;
* the holder of every descriptor it inherited as close-on-exec, and of an at-fork hook
  that points those descriptors at ``/dev/null`` in a process it forks (``os.fork``, a
  daemon's double fork): no process a task starts holds the driver's pipe, the
  forkserver's or the resource tracker's;
* the source of a tag in its environment (:data:`TAG_VARIABLE`), which every process it
  starts inherits, so that one which left the tree (the replica died, and its orphans went
  to pid 1) is still found.

:func:`end` then ends it all: it stops (``SIGSTOP``) the replica, its descendants, its
session, its process group and the tagged processes, again until no new one appears, and
kills (``SIGKILL``) them together, so that none can start another in between. Nothing
here needs privileges; a control group would hold the processes more tightly still, but a
process may only make one where the machine delegates a cgroup v2 subtree to it, which is
not the common case (a container, a CI runner), so the tree, the session and the tag are
what this module relies on.

The driver's side has the same problem one level up: a local Ray it started (its GCS,
raylet and agents), the directories it made (``reuse-ref run``'s own, ``multiprocessing``'s
``pymp-*``) must not outlive it, and a process killed with ``SIGKILL`` or ended with
``os._exit`` runs no clean-up of its own. :func:`watchdog` starts, once per process, a
small process of its own session that holds the read end of a pipe: when this process
ends, however it ends, the pipe reaches end of file and the watchdog kills every process
tagged as it was told (:meth:`Watchdog.kill_at_end`) and removes every directory it was
told of (:meth:`Watchdog.remove_at_end`). It imports this module by its path, so its own
start costs an interpreter and the standard library, not the package.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import stat
import sys
import threading
from typing import Dict, Iterable, Optional, Set, Tuple

__all__ = ["TAG_VARIABLE", "adopt", "end", "end_descendants", "new_tag", "Watchdog", "watchdog", "watch"]

TAG_VARIABLE = "REUSE_REF_REPLICA_TAG"
"""The environment variable that marks a replica and every process it starts."""

_PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
_ROUNDS = 20  # looks for new processes before the kill, at most

_machinery: Dict[int, Tuple[int, int]] = {}  # fd -> (device, inode): the replica's own descriptors


def new_tag(*parts: object) -> str:
    """A tag no other replica on this machine has: the driver's pid, the parts given, and random bits."""
    return ".".join([str(os.getpid()), *map(str, parts), os.urandom(4).hex()])


def adopt() -> None:
    """Called by a replica process before anything else runs in it (see the module docstring)."""
    try:
        os.setsid()
    except OSError:  # already a session leader
        try:
            os.setpgid(0, 0)
        except OSError:
            pass
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    for fd in _open_descriptors():
        if fd <= 2:
            continue
        try:
            os.set_inheritable(fd, False)
            st = os.fstat(fd)
        except OSError:
            continue
        _machinery[fd] = (st.st_dev, st.st_ino)
    os.register_at_fork(after_in_child=_forget_machinery)


def _open_descriptors() -> Iterable[int]:
    for where in ("/proc/self/fd", "/dev/fd"):
        try:
            return sorted(int(name) for name in os.listdir(where) if name.isdigit())
        except OSError:
            continue
    return range(3, 256)


def _forget_machinery() -> None:
    """In a process the replica forked: the replica's own descriptors point at /dev/null (the
    numbers stay valid, so nothing that still holds one closes another file by mistake)."""
    if not _machinery:
        return
    try:
        null = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return
    for fd, (dev, ino) in _machinery.items():
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) == (dev, ino) and not stat.S_ISREG(st.st_mode):
                os.dup2(null, fd, inheritable=False)
        except OSError:
            pass
    os.close(null)
    _machinery.clear()


def end(pid: Optional[int], tag: Optional[str], variable: str = TAG_VARIABLE) -> None:
    """Kill the replica ``pid`` (None: it has exited) with every process it started: its
    descendants, its session and process group, and every process tagged ``tag`` (whose
    environment has ``variable=tag``)."""
    _stop_then_kill(lambda: _members(pid, tag, variable))
    if pid is not None:  # where there is no /proc to look in, the group at least
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass


def end_descendants(tag: Optional[str]) -> None:
    """From inside a replica: kill every process it started (not itself)."""
    me = os.getpid()
    _stop_then_kill(lambda: _members(me, tag) - {me})


def _stop_then_kill(find) -> None:
    seen: Set[int] = set()
    for _ in range(_ROUNDS):
        found = find() - seen
        if not found:
            break
        for pid in found:
            _signal(pid, signal.SIGSTOP)
        seen |= found
    for pid in seen:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    if pid <= 1 or pid == os.getpid():
        return
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _members(pid: Optional[int], tag: Optional[str], variable: str = TAG_VARIABLE) -> Set[int]:
    """The processes of the replica ``pid``: itself, its descendants, the members of its session
    and process group (both numbered by its pid), and those tagged ``tag``."""
    out: Set[int] = set()
    marker = None if tag is None else f"{variable}={tag}".encode() + b"\0"
    parents: Dict[int, int] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        names = []
    for name in names:
        if not name.isdigit():
            continue
        p = int(name)
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        # after the command's name: state, ppid, pgrp, session
        if fields[0] == b"Z":
            continue
        parents[p] = int(fields[1])
        if pid is not None and (int(fields[2]) == pid or int(fields[3]) == pid or p == pid):
            out.add(p)
        elif marker is not None and _tagged(name, marker):
            out.add(p)
    if pid is not None:  # the descendants, whatever group or session they moved to
        children: Dict[int, list] = {}
        for child, parent in parents.items():
            children.setdefault(parent, []).append(child)
        stack = [pid]
        while stack:
            for child in children.get(stack.pop(), ()):
                if child not in out:
                    out.add(child)
                    stack.append(child)
    return out


def _users(directory: str) -> Set[int]:
    """The processes that name ``directory`` (ending in a separator) on their command line or
    hold a file under it open."""
    out: Set[int] = set()
    mark = directory.encode()
    try:
        names = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return out
    for name in names:
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if mark in f.read():
                    out.add(int(name))
                    continue
            for fd in os.listdir(f"/proc/{name}/fd"):
                if os.readlink(f"/proc/{name}/fd/{fd}").startswith(directory):
                    out.add(int(name))
                    break
        except OSError:
            continue
    return out


def _tagged(name: str, marker: bytes) -> bool:
    try:
        with open(f"/proc/{name}/environ", "rb") as f:
            return marker in f.read()
    except OSError:
        return False


# ---------------------------------------------------------------------- the driver's watchdog
_WATCHDOG_CODE = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('reuse_ref_watchdog', "
                  "sys.argv[1]); tree = importlib.util.module_from_spec(spec); spec.loader.exec_module(tree); "
                  "tree.watch(0)")


class Watchdog:
    """This process's watchdog (see the module docstring); :func:`watchdog` makes the one."""

    def __init__(self) -> None:
        read, self._fd = os.pipe()  # both close-on-exec: no process started from here holds them
        self._lock = threading.Lock()
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("REUSE_REF_")}
            self.pid = os.posix_spawn(sys.executable, [sys.executable, "-I", "-S", "-c", _WATCHDOG_CODE, __file__], env,
                                      file_actions=[(os.POSIX_SPAWN_DUP2, read, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
                                                    (os.POSIX_SPAWN_DUP2, devnull, 2)],
                                      setsid=True, setsigdef=(signal.SIGINT, signal.SIGTERM, signal.SIGPIPE))
        finally:
            os.close(read)
            os.close(devnull)

    def _order(self, kind: str, text: str) -> None:
        if "\0" in text:
            raise ValueError(f"{text!r} is not valid: no NUL character")
        with self._lock:
            if self._fd >= 0:
                os.write(self._fd, (kind + text + "\0").encode("utf-8", "surrogateescape"))

    def kill_at_end(self, variable: str, tag: str) -> None:
        """When this process ends, kill every process whose environment has ``variable=tag``."""
        self._order("T", f"{variable}={tag}")

    def kill_users_at_end(self, directory: str) -> None:
        """When this process ends, kill every process that names ``directory`` on its command line
        or holds a file in it open (one that renamed itself, whose environment then reads as its
        new name, is still found by its open log files)."""
        self._order("U", os.path.join(os.path.abspath(directory), ""))

    def remove_at_end(self, path: str) -> None:
        """When this process ends, remove the directory ``path`` if it is still there."""
        self._order("P", os.path.abspath(path))



_watchdog: Optional[Watchdog] = None
_watchdog_lock = threading.Lock()


def watchdog() -> Watchdog:
    """This process's :class:`Watchdog`, started on first use."""
    global _watchdog
    with _watchdog_lock:
        if _watchdog is None:
            _watchdog = Watchdog()
        return _watchdog


def _forget_watchdog() -> None:
    """In a child forked from this process: its copy of the pipe must not keep the watchdog
    waiting, and the watchdog is its parent's (the child starts its own if it needs one)."""
    global _watchdog, _watchdog_lock
    if _watchdog is not None:
        try:
            os.close(_watchdog._fd)
        except OSError:
            pass
        _watchdog = None
    _watchdog_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_watchdog)


def watch(fd: int) -> None:
    """The watchdog's own side: read orders until the end of the pipe ``fd``, then carry them out."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except InterruptedError:
            continue
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    orders = [item.decode("utf-8", "surrogateescape") for item in b"".join(chunks).split(b"\0") if item]
    for order in orders:
        if order[0] == "T":
            variable, _, tag = order[1:].partition("=")
            end(None, tag, variable)
        elif order[0] == "U":
            _stop_then_kill(lambda: _users(order[1:]))
    for order in orders:
        if order[0] == "P":
            shutil.rmtree(order[1:], ignore_errors=True)
