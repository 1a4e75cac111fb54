"""``reuse-ref run FILE.py [TASK] [--name value ...]``: an unmodified Flyte program on the reference.

The shape is ``flyte run --local FILE TASK --arg value``: with ``TASK``, the file is
imported as a module (its ``__main__`` block does not run), the task's arguments are read
from the command line by the task's signature, and the task runs; without ``TASK`` the
file runs as ``python FILE.py`` would, ``__main__`` block included. Either way ``import
flyte`` resolves to :mod:`reuse_ref.flyte`, here and in every replica (see ``_alias``), and
tasks run on real replica processes. Afterwards the command prints the result and, per
environment, what Flyte's local mode cannot show: the pool (replicas started, distinct
replica pids, cold and warm starts, peak replicas, starvation, failures).
"""
from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import runpy
import shutil
import sys
import tempfile
import traceback
from typing import Any, Dict, List, Optional, Sequence

from ._unmodelled import recorded
from .args import parse_task_args
from .summary import environments, print_summary

__all__ = ["run_script", "ScriptError"]


class ScriptError(Exception):
    """Bad input for ``reuse-ref run`` (exit status 2)."""


def _prepare(path: str, time_scale: float, cold_start: float, pids_dir: str, backend: str,
             scaledown: str = "paced") -> None:
    from . import _alias

    os.environ["REUSE_REF_BACKEND"] = backend
    os.environ["REUSE_REF_SCALEDOWN"] = scaledown
    os.environ["REUSE_REF_TIME_SCALE"] = repr(time_scale)
    os.environ["REUSE_REF_COLD_START"] = repr(cold_start)
    os.environ["REUSE_REF_FLYTE_PIDS"] = pids_dir
    script_dir = os.path.dirname(os.path.abspath(path))
    for entry in (script_dir, _alias.SHIM_DIR):  # the shim ends up first, then the script's directory
        if entry in sys.path:
            sys.path.remove(entry)
        sys.path.insert(0, entry)
    _alias.install()


def _load_task(path: str, name: str) -> Any:
    from ..config.environment import Task

    module_name = os.path.splitext(os.path.basename(path))[0]
    if not module_name.isidentifier():
        raise ScriptError(f"FILE={path!r} is not valid with a TASK: its name must be a Python module name")
    if module_name in sys.stdlib_module_names:
        raise ScriptError(f"FILE={path!r} is not valid with a TASK: it shadows the standard library's "
                          f"{module_name} (the task is imported as the module {module_name!r}); rename the file")
    module = _import(path, module_name)
    task = getattr(module, name, None)
    if not isinstance(task, Task):
        found = sorted(k for k, v in vars(module).items() if isinstance(v, Task))
        raise ScriptError(f"TASK={name!r} is not valid: not a task of {path}; its tasks are: {', '.join(found) or 'none'}")
    return task


def _import(path: str, module_name: str) -> Any:
    """The program as the module ``module_name``, imported as a replica will import it. A file
    that does not compile is bad input (``ScriptError``); an error its code raises while it is
    imported is the program's (:class:`ProgramError`); a module of that name imported already
    from elsewhere (a package's) is refused, since the replicas would import that one."""
    try:
        module = importlib.import_module(module_name)
    except (SyntaxError, ValueError) as e:
        if isinstance(e, SyntaxError) or "null bytes" in str(e):  # ValueError: source code ... null bytes
            where = f" (line {e.lineno})" if isinstance(e, SyntaxError) and e.lineno else ""
            raise ScriptError(f"FILE={path!r} is not valid: it is not Python that compiles{where}: "
                              f"{type(e).__name__}: {getattr(e, 'msg', None) or e}") from None
        raise ProgramError(e) from None
    except Exception as e:  # noqa: BLE001 - the program's own error, raised while it is imported
        raise ProgramError(e) from None
    found = getattr(module, "__file__", None)
    if found is None or not os.path.exists(found) or not os.path.samefile(found, path):
        raise ScriptError(f"FILE={path!r} is not valid with a TASK: the module {module_name!r} is already "
                          f"imported from {found or 'Python itself'}, so the task would be looked up there; "
                          f"rename the file")
    return module


class ProgramError(Exception):
    """The program raised ``error`` while it was imported (exit status 1, as any failure of it)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def run_script(path: str, task_name: Optional[str], task_argv: Sequence[str], *, as_json: bool = False,
               trace_path: Optional[str] = None, plot_path: Optional[str] = None,
               workload_path: Optional[str] = None, time_scale: float = 1.0,
               cold_start: float = 0.0, backend: str = "processes", run_options: Sequence[str] = (),
               scaledown: str = "paced") -> int:
    """Run the program; returns the exit status (0 ok, 1 the program failed). Bad input raises ScriptError.

    ``run_options`` are the command's own options: a task argument spelled as one of them,
    which the task does not have, is refused with a message that says where they go.
    """
    if not os.path.isfile(path) or not path.endswith(".py"):
        raise ScriptError(f"FILE={path!r} is not valid: give an existing Python file (FILE.py)")
    if not time_scale > 0:
        raise ScriptError(f"--time-scale={time_scale!r} is not valid: a number > 0")
    from ..runtime.runtime import check_clock

    try:
        check_clock(time_scale, cold_start)
    except ValueError as e:
        raise ScriptError("--" + str(e).replace("_", "-", 1)) from None
    from ..runtime.backends import BACKENDS

    if backend not in BACKENDS:
        raise ScriptError(f"--backend={backend!r} is not valid: one of {', '.join(BACKENDS)}")
    from ..core.pool import SCALEDOWN_READINGS

    if scaledown not in SCALEDOWN_READINGS:
        raise ScriptError(f"--scaledown={scaledown!r} is not valid: paced or per-replica (the reading of rule 3)")
    if task_name is None and task_argv:
        raise ScriptError(f"{task_argv[0]!r} is not valid without a TASK: task arguments need a task name")
    from ..runtime.process_tree import watchdog

    work = tempfile.mkdtemp(prefix="reuse-ref-run-")  # the replica pids and the files of flyte.io, removed at the end
    try:
        watchdog().remove_at_end(work)  # however this process ends (SIGKILL, os._exit in the program)
        return _run_in(work, path, task_name, task_argv, as_json, trace_path, plot_path, workload_path,
                       time_scale, cold_start, backend, run_options, scaledown)
    finally:  # an error, Ctrl-C, SIGTERM (the command raises it), a closed stdout
        shutil.rmtree(work, ignore_errors=True)


def _run_in(work: str, path: str, task_name: Optional[str], task_argv: Sequence[str], as_json: bool,
            trace_path: Optional[str], plot_path: Optional[str], workload_path: Optional[str], time_scale: float,
            cold_start: float, backend: str, run_options: Sequence[str], scaledown: str) -> int:
    pids_dir = os.path.join(work, "pids")
    os.makedirs(pids_dir)
    os.environ.setdefault("REUSE_REF_FLYTE_STORE", os.path.join(work, "store"))
    from . import session

    result: Any = None
    error: Optional[BaseException] = None
    json_out = _stdout_to_stderr() if as_json else None  # --json: stdout carries the one object only
    try:
        _prepare(path, time_scale, cold_start, pids_dir, backend, scaledown)
        if task_name is not None:
            try:
                task = _load_task(path, task_name)
            except ProgramError as e:
                error = e
        if task_name is not None and error is None:
            try:
                kwargs = parse_task_args(task, task_argv, run_options=run_options)
            except ValueError as e:
                raise ScriptError(str(e)) from None
            try:
                result = session.run(task, **kwargs).result
            except Exception as exc:
                error = exc
        elif task_name is None:
            argv = sys.argv[:]
            sys.argv = [path]
            try:
                runpy.run_path(path, run_name="__main__")
            except SystemExit as exc:
                if exc.code not in (None, 0):
                    error = exc
            except Exception as exc:
                error = exc
            finally:
                sys.argv = argv
            done = session.runs()
            result = done[-1].result if done else None
        rt = session._runtime
        trace = rt.trace if rt is not None else None
        envs = environments(trace, pids_dir)
        _write_outputs(trace, trace_path, plot_path, workload_path)
    finally:
        session.close()
    if error is not None and not as_json:
        _print_failure(error, path)
    if as_json:
        non_finite: List[str] = []
        out: Dict[str, Any] = {"result": _jsonable(result, "result", non_finite), "environments": envs,
                               "recorded": [feature for feature, _ in recorded()]}
        if non_finite:  # JSON has no infinity or NaN: they are written as strings, and named here
            out["non_finite"] = non_finite
        if error is not None:
            out["error"] = _describe(error)
        with os.fdopen(json_out, "w") as f:
            f.write(json.dumps(out, allow_nan=False) + "\n")
    else:
        if error is None:
            print(f"result: {result!r}")
        print_summary(envs)
        if recorded():
            print("accepted and recorded, not modelled: " + "; ".join(f for f, _ in recorded()))
    return 0 if error is None else 1


def _print_failure(error: BaseException, path: str) -> None:
    """The program's failure: one line that says what failed, then the program's traceback (an
    error raised while the file was imported: from its first line in the file, as ``python
    FILE.py`` shows it, without the frames of reuse-ref's import)."""
    if isinstance(error, ProgramError):
        print(f"reuse-ref run: the program failed while {path} was imported: {_describe(error)}",
              file=sys.stderr)
        error = error.error
        tb = error.__traceback__
        target = os.path.abspath(path)
        while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) != target:
            tb = tb.tb_next
        traceback.print_exception(type(error), error, tb or error.__traceback__, file=sys.stderr)
        return
    print(f"reuse-ref run: the program failed: {_describe(error)}", file=sys.stderr)
    if not isinstance(error, SystemExit):
        traceback.print_exception(error, file=sys.stderr)


def _stdout_to_stderr() -> int:
    """Send the program's output, and its replicas' (they inherit file descriptor 1), to stderr;
    returns a descriptor of the real stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    return saved


def _describe(error: BaseException) -> str:
    if isinstance(error, ProgramError):
        error = error.error
    code = getattr(error, "code", None)
    name = type(error).__name__
    if isinstance(code, str) and code != name:
        name = f"{name}[{code}]"
    return f"{name}: {error}"


_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def _jsonable(value: Any, path: str, non_finite: List[str]) -> Any:
    """``value`` as JSON has it: a number that is not finite becomes the string ``"Infinity"``,
    ``"-Infinity"`` or ``"NaN"`` (what ``float()`` and JavaScript's ``Number()`` read back), and
    its path is added to ``non_finite``; what JSON cannot hold at all is its ``repr``."""
    if isinstance(value, float) and not math.isfinite(value):
        non_finite.append(path)
        return _NON_FINITE.get(value, "NaN")
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{path}[{i}]", non_finite) for i, v in enumerate(value)]
    if isinstance(value, dict) and all(k is None or isinstance(k, (str, int, float)) for k in value):
        # keys as json.dumps writes them (1 -> "1", True -> "true")
        return {k if isinstance(k, str) else json.dumps(k): _jsonable(v, f"{path}[{k!r}]", non_finite)
                for k, v in value.items()}
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _write_outputs(trace: Any, trace_path: Optional[str], plot_path: Optional[str],
                   workload_path: Optional[str] = None) -> None:
    """The run's trace, figure and workload (every call, :func:`reuse_ref.sim.recorded_workload`),
    written as every command writes its outputs (the paths were checked before the program
    ran); a write that fails is reported, the result still printed."""
    from ..output_files import Output, OutputError, write_outputs

    if trace is None:
        return
    outputs = []
    if trace_path:
        outputs.append(Output("--trace", trace_path, trace.to_csv))
    if plot_path:
        outputs.append(Output("--plot", plot_path, lambda path: _save_timeline(trace, path, plot_path)))
    if workload_path:
        from ..sim.recorded import recorded_workload
        from ..sim.workload_csv import write_csv

        jobs = recorded_workload(trace)
        outputs.append(Output("--workload-out", workload_path, lambda path: write_csv(jobs, path)))
    try:
        write_outputs(outputs)
    except OutputError as e:
        print(f"reuse-ref run: error: {e}", file=sys.stderr)


def _save_timeline(trace: Any, path: str, given: str) -> None:
    from .. import figures as plot
    from ..output_files import figure_format
    import matplotlib.pyplot as plt

    fig = plot.timeline(trace)
    try:
        fig.savefig(path, format=figure_format("--plot", given), dpi=120)
    finally:
        plt.close(fig)
