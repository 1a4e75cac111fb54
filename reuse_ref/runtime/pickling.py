"""How the user's objects travel to and from replicas: pickles, and the source lines with them.

Arguments and results go by the plain C pickler when it can, by cloudpickle (by value)
when it cannot (:func:`dumps`); a task's function goes by reference when its module can
be imported, so that module-level state loads once per replica (:func:`cloud_dumps`), and
code shipped by value carries its source lines, so that a traceback raised on a replica
shows them. Exceptions travel as :data:`~reuse_ref.runtime.wire.Error` tuples
(:func:`dump_error`, :func:`runtime_error`) and come back as themselves, or as a
:class:`~reuse_ref.config.errors.RemoteTaskError` (:func:`load_error`).
"""
from __future__ import annotations

import importlib
import io
import linecache
import os
import pickle
import sys
import traceback
import types
from typing import Any, Optional, Tuple

import cloudpickle

from ..config.errors import NonRecoverableError, RemoteTaskError
from .wire import Error

__all__ = ["cloud_dumps", "dumps", "remember_source", "dump_error", "runtime_error", "load_error", "non_recoverable"]

_PROTOCOL = pickle.HIGHEST_PROTOCOL
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # .../reuse_ref/

_CODE_REDUCE = cloudpickle.Pickler.dispatch_table[types.CodeType]
"""cloudpickle's own reducer of code objects, which :class:`_Pickler` wraps."""


def _task_function(module: str, qualname: str) -> Any:
    """The function of the task ``module.qualname`` (how a replica loads a task's function by reference)."""
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj.func


def _task_function_ref(func: Any) -> Optional[Tuple[str, str]]:
    """``(module, qualname)`` when ``func`` is the function of a task importable by that name.

    ``@env.task`` puts a Task where the function was, so cloudpickle, which looks the
    function up by name, would not find it and would ship it by value, together with
    every global it reads (a loaded model, say). Seeing through the Task lets a replica
    import the module instead, which is what reuse is for: the module loads once per
    replica. Functions of ``__main__`` (a notebook, a script) and of modules registered
    with ``cloudpickle.register_pickle_by_value`` still travel by value.
    """
    module_name = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", "")
    if not module_name or module_name in ("__main__", "__mp_main__") or "<" in qualname \
            or module_name in _by_value_modules():
        return None
    obj: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    from ..config.environment import Task

    if isinstance(obj, Task) and obj.func is func:
        return module_name, qualname
    return None


def _source_span(code: types.CodeType) -> Tuple[int, list]:
    """``(first, lines)``: the source lines of ``code`` as this process's linecache has them
    (a script's file, or a notebook cell that IPython registered), from its first line to
    its last; ``(0, [])`` when there is no source to be had."""
    try:
        numbers = [line for _, _, line in code.co_lines() if line]
    except Exception:
        return 0, []
    first = min([code.co_firstlineno] + numbers)
    last = max(numbers, default=first)
    lines = linecache.getlines(code.co_filename)
    if not lines or first < 1:
        return 0, []
    return first, lines[first - 1:last]


def _code_with_source(make: Any, args: tuple, filename: str, first: int, lines: list) -> types.CodeType:
    """Rebuild a code object shipped by value under its own file name, and teach this
    process's linecache its source lines, so a traceback raised on a replica shows them."""
    code = make(*args)
    if code.co_filename != filename:
        code = code.replace(co_filename=filename)
    if lines:
        remember_source(filename, first, lines)
    return code


def remember_source(filename: str, first: int, lines: list) -> None:
    """Put ``lines`` (line ``first`` onwards) of ``filename`` into linecache.

    The entry has no modification time, which tells linecache it did not come from a file
    it can check (as IPython does for notebook cells), so it is kept. Spans of several
    functions of one file merge into one entry; lines nobody sent stay empty. A file that
    exists here is left to linecache, which reads all of it: a partial entry would hide
    its other lines from this process's own tracebacks, and from the next pickle of a
    function of that file (the driver unpickles exception classes shipped by value).
    """
    if os.path.isfile(filename):
        return
    entry = linecache.cache.get(filename)
    known = list(entry[2]) if entry is not None and len(entry) == 4 and entry[1] is None else []
    end = first - 1 + len(lines)
    if len(known) < end:
        known.extend("\n" for _ in range(end - len(known)))
    known[first - 1:end] = lines
    linecache.cache[filename] = (sum(map(len, known)), None, known, filename)


class _Pickler(cloudpickle.Pickler):
    """cloudpickle, except that a task's function goes by reference when it can (see above),
    and that code shipped by value keeps its file name and carries its source lines.

    cloudpickle 3.1.3 and later rename every code object it ships to ``<dynamic-code>``
    (so that its bytes do not depend on where the function was defined). A replica then
    cannot show where in the user's code an error was raised. The source of a function
    from a notebook cell is in the runtime's linecache only, so it travels with the
    code: each code object once per pickle, its own lines only.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._spans: dict = {}  # filename -> [(first, last)] already carried in this pickle

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is types.FunctionType:
            ref = _task_function_ref(obj)
            if ref is not None:
                return _task_function, ref
        elif kind is types.CodeType:
            return self._reduce_code(obj)
        return super().reducer_override(obj)

    def _reduce_code(self, code: types.CodeType) -> Any:
        make, args = _CODE_REDUCE(code)
        filename = code.co_filename
        first, lines = _source_span(code)
        spans = self._spans.setdefault(filename, [])
        last = first + len(lines) - 1
        if any(a <= first and last <= b for a, b in spans):
            first, lines = 0, []  # an enclosing function already carries these lines
        elif lines:
            spans.append((first, last))
        return _code_with_source, (make, args, filename, first, lines)


def cloud_dumps(obj: Any) -> bytes:
    """``cloudpickle.dumps`` with tasks' functions by reference (see ``_task_function_ref``)."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=_PROTOCOL).dump(obj)
    return buffer.getvalue()


def dumps(obj: Any) -> bytes:
    """User data as bytes: the fast C pickler when it can, cloudpickle (by value) when it cannot.

    Plain pickle refuses what it cannot find again by name (a lambda, a function made
    inside another function), so the fallback is only paid for objects that need it.
    """
    try:
        blob = pickle.dumps(obj, _PROTOCOL)
    except Exception:
        return cloud_dumps(obj)
    # A reference by name into a main module (a notebook, a script) or into a module
    # registered with cloudpickle.register_pickle_by_value would not resolve on the
    # other side: such objects travel by value.
    if b"__main__" in blob or b"__mp_main__" in blob or any(m.encode() in blob for m in _by_value_modules()):
        return cloud_dumps(obj)
    return blob


def _by_value_modules() -> Any:
    return getattr(cloudpickle.cloudpickle, "_PICKLE_BY_VALUE_MODULES", ())


loads = pickle.loads  # what any of the dumps above made comes back with plain pickle (not in __all__:
# it is the standard library's, and the API page documents only this module's own names)


def dump_error(exc: BaseException) -> Error:
    """An exception raised by a task, as an error tuple (``where`` is filled in by the driver).

    The traceback text holds this hop's frames only, without the notes earlier hops
    added, so a chain of nested calls shows each replica's frames once; the runtime's
    own frames are left out.
    """
    frames = "".join(traceback.format_list(
        [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_PACKAGE)]))
    name = type(exc).__qualname__
    message = str(exc)
    text = f"Traceback (most recent call last):\n{frames}{name}: {message}" if frames else ""
    try:
        blob: Optional[bytes] = cloud_dumps(exc)
    except Exception:
        blob = None
    return (blob, name, message, text, "")


def non_recoverable(error: Error) -> bool:
    """Whether a task's error is a :class:`~reuse_ref.config.errors.NonRecoverableError` (a subclass too),
    after which its attempt is not retried (Flyte's rule)."""
    blob = error[0]
    if blob is None:
        return False
    try:
        return isinstance(pickle.loads(blob), NonRecoverableError)
    except Exception:
        return False


def runtime_error(exc: BaseException, where: str = "") -> Error:
    """An error made by the runtime itself (starvation, crash, timeout...), as an error tuple."""
    return (cloud_dumps(exc), type(exc).__qualname__, str(exc), "", where)


def load_error(error: Error) -> BaseException:
    """The exception an error tuple describes, ready to raise.

    The original type comes back when it unpickles; otherwise a :class:`~reuse_ref.config.errors.RemoteTaskError`
    carries its type name and message. The replica's traceback is attached as the
    attribute ``remote_traceback`` and as a note (shown under the error's own traceback).
    """
    blob, name, message, text, where = error
    exc: Any = None
    if blob is not None:
        try:
            exc = pickle.loads(blob)
        except Exception:
            exc = None
    if not isinstance(exc, Exception):
        # Not an Exception (SystemExit, KeyboardInterrupt, CancelledError, ...) or nothing
        # that unpickles: raised here as itself, it would end the caller's program or look
        # like the caller being cancelled, so it comes back as the task's error, naming it.
        exc = RemoteTaskError(name, message, text)
    if text:
        try:
            exc.remote_traceback = text
        except Exception:  # an exception class with __slots__
            pass
        exc.add_note(f"Raised in {where or 'a replica'}:\n{text}")
    return exc
