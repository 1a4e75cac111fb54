"""``Runtime``: what users hold to run tasks on warm replicas, and ``run`` on a default one.

The work happens in the runtime's driver (:mod:`reuse_ref.runtime.driver`), in a
thread of its own, except a plain warm call, which the calling thread carries out itself
(:mod:`reuse_ref.runtime.direct`); replicas run where the runtime's backend puts them
(:mod:`reuse_ref.runtime.backends`): local processes by default, or Ray actors.
"""
from __future__ import annotations

import atexit
import itertools
import multiprocessing.util  # noqa: F401  (imported before our atexit hook, so that ours runs first)
import os
import threading
import time
import weakref
from typing import Any, List, Optional

from ..config.environment import Task, warn_deprecated
from ..config.validation import bad, number
from ..core.pool import PACED, check_scaledown
from ..core.pools import check_min_replicas
from ..core.propagation import FAIL_IMMEDIATELY, check_failure_policy
from ..trace import Trace
from . import pickling
from .arguments import bind, check_args, check_task
from .backends import make_backend
from .cache import cache_key
from .call_table import Call, RunState, Waiter
from .driver import Driver

__all__ = ["Runtime", "Run", "run", "default_runtime", "check_clock", "LONGEST_COLD_START"]


class Run:
    """The outcome of :meth:`Runtime.run`: the task's ``result``, the run's ``trace`` and its ``measures``.

    ``trace`` holds the records the runtime made while the run was going on, in
    policy seconds; when other runs share the runtime at the same time, their records are
    in it too. ``cached`` is true when the call did not run itself: its result came from
    the cache, or from an identical call running at the same time (``cache_serialize``);
    such a call leaves no record. ``wall_seconds`` is the time ``run`` waited.
    """

    def __init__(self, task: Task, result: Any, driver: Any, start: int, end: int,
                 wall_seconds: float, cached: bool, run_id: Optional[int] = None) -> None:
        self.task = task
        self.result = result
        self.wall_seconds = wall_seconds
        self.cached = cached
        self._source = (driver, start, end, run_id)
        self._trace: Optional[Trace] = None

    @property
    def trace(self) -> Trace:
        """The records of the run's span, and the notes of its own calls (``Trace.calls``:
        who called whom, which ``reuse_ref.sim.recorded_workload`` turns into a workload)."""
        if self._trace is None:
            c, start, end, run_id = self._source
            self._trace = Trace(c.log[start:end], dict(c.table.policies), dict(c.table.resources),
                                c.table.recording.notes(c.scale, run_id) if run_id is not None else ())
        return self._trace

    @property
    def measures(self) -> Any:
        """``self.trace.measures()``."""
        return self.trace.measures()

    def __repr__(self) -> str:
        return f"Run({self.task.name}, result={self.result!r}, records={len(self.trace)}, wall={self.wall_seconds:.3f}s)"


LONGEST_COLD_START = 86400.0
"""The longest wall time a new replica may wait for its ``cold_start`` (``cold_start x
time_scale``): a day. Every call waits that long for its first replica, so a longer one is
a run that hangs; timers (TTLs, timeouts) have no such bound, since no run waits for them."""


def check_clock(time_scale: Any, cold_start: Any) -> tuple:
    """``(time_scale, cold_start)`` as floats, or ``ValueError``: both finite, the scale above 0,
    and the cold start at most :data:`LONGEST_COLD_START` wall seconds."""
    time_scale = number("time_scale", time_scale, above=0)
    cold_start = number("cold_start", cold_start, minimum=0)
    if not cold_start * time_scale <= LONGEST_COLD_START:
        raise bad("cold_start", cold_start, f"seconds whose wall time, cold_start x time_scale ({time_scale:g}), is "
                  f"at most a day ({LONGEST_COLD_START:g} s): every call would wait that long for a replica; give a "
                  f"smaller cold_start or time_scale (the simulator takes a cold start of any size)")
    return time_scale, cold_start


_drivers: "weakref.WeakSet[Driver]" = weakref.WeakSet()
_run_ids = itertools.count(1)


class Runtime:
    """Run tasks on warm replica processes, as a reusable Flyte environment would.

    >>> with Runtime(time_scale=0.01) as rt:            # doctest: +SKIP
    ...     rt.run(double, 21).result
    42

    * ``time_scale``: every policy duration takes ``time_scale`` times as long on the wall
      clock (``0.01`` turns a 30 s TTL into 0.3 s); the trace reports policy seconds.
      Validation is unchanged: a TTL under 30 s is still refused. Task timeouts are
      wall seconds (they bound the task's own code, which the scale does not speed up).
    * ``cold_start``: policy seconds from the moment a pool asks for a replica until it
      is ready, as in the simulator. The real start of the replica's process is inside
      that time, not added to it; a start that takes longer makes the replica ready once
      it is up. Its wall time, ``cold_start x time_scale``, is at most a day
      (:data:`LONGEST_COLD_START`). TTLs and timeouts of any size the models accept run.
    * ``backend``: where replicas run. ``"processes"`` (default): local processes.
      ``"ray"``: one Ray actor per replica, placed by the environment's ``Resources``
      (``pip install 'reuse-ref[ray]'``); ``ray_address`` joins a running cluster (left
      running at close), and without it the runtime starts a local Ray instance bound to
      127.0.0.1 and stops it at close (one already started in this process is used and
      left alone). A :class:`~reuse_ref.runtime.backends.ReplicaBackend` of your own works
      too; ``backend_options`` passes options only a backend knows (it refuses the others).
    * ``start_method`` (processes only): ``"forkserver"`` (default where available: replicas fork from a
      server that has imported ``reuse_ref`` already) or ``"spawn"`` (a fresh interpreter
      per replica, slower to start); never ``"fork"``. The environment variable
      ``REUSE_REF_START_METHOD`` sets the default.
      As with any ``multiprocessing`` program, a script must guard its top level with
      ``if __name__ == "__main__":``, because replicas import the main module.
    * ``memory_poll``: seconds between two looks at the memory of replicas whose
      environment sets ``Resources(memory=...)``; one over its limit is killed (OOM).
    * ``stop_grace``: seconds a stopping replica has to exit before it is killed.
    * ``scaledown``: the reading of rule 3 its pools follow, as in the simulator:
      ``"paced"`` (default: at most one replica stops per ``scaledown_ttl`` period) or
      ``"per_replica"`` (each replica above ``min`` stops once it has been idle for
      ``scaledown_ttl``).

    Each replica is a real process: module globals survive between the calls it serves,
    ``os.getpid()`` tells which one ran a call, and the environment's ``env_vars`` and
    ``secrets`` are in its ``os.environ``. Leaving the ``with`` block, ``close()``, an
    interrupt of ``run`` (``KeyboardInterrupt``) and the interpreter's exit stop every
    replica; replicas also exit by themselves if the controlling process dies.
    """

    def __init__(self, time_scale: float = 1.0, cold_start: float = 0.0, *,
                 backend: Any = "processes", start_method: Optional[str] = None, ray_address: Optional[str] = None,
                 memory_poll: float = 0.05, stop_grace: float = 2.0,
                 failure_policy: Any = FAIL_IMMEDIATELY, backend_options: Optional[dict] = None,
                 scaledown: str = PACED) -> None:
        self.time_scale, self.cold_start = check_clock(time_scale, cold_start)
        memory_poll = number("memory_poll", memory_poll, above=0)
        stop_grace = number("stop_grace", stop_grace, minimum=0)
        self.failure_policy = check_failure_policy(failure_policy)
        self.scaledown = check_scaledown(scaledown)
        options = {"memory_poll": memory_poll, "stop_grace": stop_grace}
        if start_method is not None:
            options["start_method"] = start_method
        if ray_address is not None:
            options["ray_address"] = ray_address
        if backend_options is not None:
            if not isinstance(backend_options, dict) or not all(isinstance(k, str) for k in backend_options):
                raise ValueError(f"backend_options={backend_options!r} is not valid: a dict of option name "
                                 f"to value, for the backend {backend!r}")
            options.update(backend_options)
        self.backend = make_backend(backend, **options)
        self.start_method = getattr(self.backend, "start_method", None)
        self._c = Driver(self.backend, self.time_scale, self.cold_start, stop_grace, self.scaledown)
        _drivers.add(self._c)
        self._thread = self._c.thread = threading.Thread(target=self._c.loop, name="reuse-ref-driver", daemon=True)
        self._thread.start()
        self._finalizer = weakref.finalize(self, _close_driver, self._c, False)
        # At exit our own hook (_close_all) closes every runtime and waits for it; a
        # finalizer running then too would race multiprocessing's exit hook.
        self._finalizer.atexit = False

    # ------------------------------------------------------------------ running
    def run(self, task: Task, *args: Any, failure_policy: Any = None, **kwargs: Any) -> Run:
        """Run ``task(*args, **kwargs)`` on a replica of its environment's pool and wait for it.

        Returns a :class:`Run`; a failed task raises its error here (the user's exception
        with the replica's traceback as a note, or ``StarvationError``,
        ``ReplicaCrashedError``, ``OOMError``, ``TaskTimeoutError``). Bad input (not a
        task, arguments that do not fit its signature) raises ``ValueError``.
        ``failure_policy`` (``"FAIL_IMMEDIATELY"`` or
        ``"FAIL_AFTER_EXECUTABLE_NODES_COMPLETE"``; the runtime's own by default) says
        what a failed task does to the other tasks its parent called (rule 7).
        """
        policy = self.failure_policy if failure_policy is None else check_failure_policy(failure_policy)
        if type(task) is not Task and not isinstance(task, Task):
            check_task(task)
        if task.reusable is not None:
            check_min_replicas(task.reusable, f"task {task.name!r}")
        options = task.options
        if options.cache:
            key = cache_key(task, bind(task, args, kwargs))
        else:
            check_args(task, args, kwargs)
            key = None
        c = self._c
        if c.closed:
            raise RuntimeError("this Runtime is closed: make a new one (or use reuse_ref.run)")
        if task.secret_variables:
            for name, value in task.secret_variables.items():
                if value is None and name not in os.environ:
                    raise ValueError(
                        f"secrets={name!r} is not valid for task {task.name!r}: the secret has no value "
                        f"here; set the environment variable {name} or give secrets={{{name!r}: value}}")
        if options.deprecated:
            warn_deprecated(task)
        try:
            payload = pickling.dumps((args, kwargs))
        except Exception as exc:
            raise ValueError(f"arguments for task {task.name!r} are not valid: they cannot be "
                             f"pickled to reach a replica ({exc!r})") from None
        waiter = Waiter()
        run = RunState(next(_run_ids), waiter, policy)
        run.call = Call(task, payload, key, waiter, None, run)
        start = time.perf_counter()
        try:
            if not c.direct.run(run):  # a plain warm call: this thread carries it out
                c.post(("run", run))
            ok, value = waiter.result(self._thread.is_alive)
        except BaseException:  # an interrupt: no replica may go on running this run's work
            self._reset()
            raise
        wall = time.perf_counter() - start
        if not ok:
            raise pickling.load_error(value)
        return Run(task, pickling.loads(value), c, run.start, run.end, wall, cached=run.call.ps is None, run_id=run.id)

    def _reset(self) -> None:
        """Stop every replica and close every pool; the runtime stays usable (next calls start cold)."""
        done = threading.Event()
        self._c.post(("reset", done))
        deadline = time.monotonic() + 30
        while not done.is_set() and self._thread.is_alive() and time.monotonic() < deadline:
            try:
                done.wait(0.1)
            except KeyboardInterrupt:
                continue

    # ------------------------------------------------------------------ state
    @property
    def closed(self) -> bool:
        return self._c.closed or not self._thread.is_alive()

    @property
    def trace(self) -> Trace:
        """Every record of this runtime so far (policy seconds), with each pool's policy and
        resources, and the notes of every call (``Trace.calls``)."""
        c = self._c
        return Trace(list(c.log), dict(c.table.policies), dict(c.table.resources), c.table.recording.notes(c.scale))

    @property
    def replica_pids(self) -> List[int]:
        """The process ids of every replica this runtime has started."""
        return list(self._c.pids)

    @property
    def cache_hits(self) -> int:
        """Calls answered from the cache (they do not appear in the trace)."""
        return self._c.cache.hits

    @property
    def cache_misses(self) -> int:
        """Calls of cached tasks that found no stored result (a call waiting for an identical
        one under ``cache_serialize`` counts here: nothing was stored when it looked)."""
        return self._c.cache.misses

    def now(self) -> float:
        """Policy seconds since the runtime started (the trace's clock)."""
        return (time.monotonic() - self._c.t0) / self.time_scale

    def close(self) -> None:
        """Stop every replica and the driver; waits until every replica process has exited."""
        self._finalizer.detach()
        _close_driver(self._c, True)

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"Runtime(time_scale={self.time_scale:g}, cold_start={self.cold_start:g}, {self.backend!r}, {state})"


def _close_driver(c: Driver, wait: bool) -> None:
    """Ask the driver to stop every replica and end; with ``wait``, until it has.

    A driver is forgotten only once its thread has ended, so that the exit hook
    still waits for one that a finalizer asked to close a moment before.
    """
    thread = c.thread
    if thread is None:
        return
    if thread.is_alive() and not c.closed:
        c.post(("close", threading.Event()))
    if wait and thread is not threading.current_thread():
        deadline = time.monotonic() + 60
        while thread.is_alive() and time.monotonic() < deadline:
            try:
                thread.join(0.1)
            except KeyboardInterrupt:  # a second Ctrl-C must not leave replicas behind
                continue
    if not thread.is_alive():
        _drivers.discard(c)


_default: Optional[Runtime] = None
_default_lock = threading.Lock()


def default_runtime() -> Runtime:
    """The runtime :func:`run` uses: made on first use (``time_scale=1``), closed at exit."""
    global _default
    with _default_lock:
        if _default is None or _default.closed:
            _default = Runtime()
        return _default


def run(task: Task, *args: Any, **kwargs: Any) -> Run:
    """``default_runtime().run(task, *args, **kwargs)``."""
    return default_runtime().run(task, *args, **kwargs)


@atexit.register
def _close_all() -> None:
    for c in list(_drivers):
        _close_driver(c, True)
