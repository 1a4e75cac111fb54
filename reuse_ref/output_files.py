"""The files a command writes (a trace, a figure, a plan's table), written so that none is lost.

A user points ``--trace``, ``--plot`` or ``--csv`` at whatever their shell allows: a new
name, a file they already have, a symlink, ``/dev/stdout``, a named pipe that another
program reads. Each must end up as the user meant, and nothing else may be touched:

* every output is checked before any work starts (:func:`check_outputs`): its directory
  exists and is writable, it is not a directory, a figure's name ends in an extension
  matplotlib writes, and it is not the same file as one of the command's inputs (the
  workload, the program) or as another output. A run that would only fail when it
  writes, after minutes of work, or that would overwrite its own input, is refused
  before it starts;
* a regular file, or a name that does not exist yet, is written to a temporary file
  beside it and renamed into place once every output is whole (:func:`write_outputs`), so
  an error or a signal never leaves half a file; the replaced file keeps its mode (a new
  one gets the mode the umask gives, as ``open`` would), and a symlink is followed, so its
  target is replaced and the link stays a link;
* anything else (a device such as ``/dev/null`` or ``/dev/full``, a FIFO, a socket) is
  written straight to, as ``cat > NAME`` would: renaming a file over such a node would
  replace the node itself.
"""
from __future__ import annotations

import os
import stat
import tempfile
from typing import Callable, Iterable, List, NamedTuple, Optional, Sequence, Tuple

__all__ = ["OutputError", "Output", "check_outputs", "write_outputs", "FIGURE_FORMATS", "figure_format"]

FIGURE_FORMATS = ("png", "svg", "pdf")
TEMP_PREFIX = ".reuse-ref-"


class OutputError(ValueError):
    """An output that cannot or must not be written; the message names the option and the path."""


class Output(NamedTuple):
    """One file to write: the option that named it, its path, and ``write(path)`` that writes
    the whole content to the path it is given (a temporary file, or the node itself)."""

    option: str
    path: str
    write: Callable[[str], None]


def figure_format(option: str, path: str) -> str:
    """The image format of a figure's file name; one that matplotlib writes without extras."""
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in FIGURE_FORMATS:
        raise OutputError(f"{option} {path}: give a file name ending in .png, .svg or .pdf")
    return ext


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet: the same name is the same file
        return os.path.realpath(a) == os.path.realpath(b)


def check_outputs(outputs: Sequence[Tuple[str, Optional[str]]], inputs: Sequence[Tuple[str, Optional[str]]] = (),
                  figures: Iterable[str] = ("--plot",)) -> None:
    """Refuse, before any work, every ``(option, path)`` output that could not be written or
    would overwrite an input (``(option, path)`` pairs too) or another output.

    ``figures`` names the options whose file is a figure (its extension is checked).
    Raises :class:`OutputError`; returns nothing when every output can be written.
    """
    figures = set(figures)
    given = [(option, path) for option, path in outputs if path]
    for i, (option, path) in enumerate(given):
        for in_option, in_path in inputs:
            if in_path and _same_file(path, in_path):
                raise OutputError(f"{option} {path}: is the same file as {in_option} {in_path}; writing it would "
                                  f"overwrite the input: give another name")
        for other_option, other_path in given[:i]:
            if _same_file(path, other_path):
                raise OutputError(f"{option} {path}: is the same file as {other_option} {other_path}; give each "
                                  f"output its own name")
        _check_writable(option, path)
        if option in figures:
            figure_format(option, path)


def _check_writable(option: str, path: str) -> None:
    try:
        st = os.stat(path)  # follows a symlink
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise OutputError(f"{option} {path}: cannot write there ({e.strerror or e})") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{option} {path}: is a directory; give the name of a file to write")
    if st is not None and not stat.S_ISREG(st.st_mode):  # a device, a FIFO: written to as it is
        if not os.access(path, os.W_OK):
            raise OutputError(f"{option} {path}: cannot write there (permission denied)")
        return
    directory = os.path.dirname(os.path.realpath(path)) or "."
    if not os.path.isdir(directory):
        raise OutputError(f"{option} {path}: cannot write there (no such directory)")
    if not os.access(directory, os.W_OK | os.X_OK):  # the temporary file and the rename need both
        raise OutputError(f"{option} {path}: cannot write there (the directory {directory} is not writable)")


def _writes_in_place(path: str) -> bool:
    """True for a node that is not a regular file (device, FIFO, socket): written straight to.
    ``os.stat`` follows symlinks, so ``/dev/stdout`` is what it points at."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return False


def _new_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_outputs(outputs: Sequence[Output]) -> None:
    """Write every output; all the regular files appear at once, when all are whole.

    Regular files go through a temporary file beside their target (a symlink's target),
    which takes the replaced file's mode and is renamed over it at the end; devices and
    FIFOs are written straight to, after the staged files are whole and before they are
    renamed. On any failure the temporary files are removed and :class:`OutputError`
    names the output; the files already in place are left as they were.
    """
    staged: List[Tuple[str, str]] = []  # (temporary file, target)
    try:
        direct = []
        for out in outputs:
            if _writes_in_place(out.path):
                direct.append((out, out.path))
                continue
            target = os.path.realpath(out.path)  # a symlink's target is replaced, the link stays
            tmp = _stage(out, target)
            staged.append((tmp, target))
            _write(out, tmp)
        for out, target in direct:
            _write(out, target)
        for tmp, target in list(staged):
            try:
                os.replace(tmp, target)
            except OSError as e:
                raise OutputError(f"{target}: cannot write there ({e.strerror or e})") from None
            staged.remove((tmp, target))
    finally:
        for tmp, _ in staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _stage(out: Output, target: str) -> str:
    directory = os.path.dirname(target) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=os.path.splitext(target)[1], dir=directory)
    except OSError as e:
        raise OutputError(f"{out.option} {out.path}: cannot write there ({e.strerror or e})") from None
    try:
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = _new_file_mode()
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return tmp


def _write(out: Output, path: str) -> None:
    try:
        out.write(path)
    except OSError as e:
        raise OutputError(f"{out.option} {out.path}: cannot write there ({e.strerror or e})") from None
