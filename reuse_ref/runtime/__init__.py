"""The local runtime: warm replica processes driven by the pool state machine.

``Runtime`` runs tasks on real replica processes (``multiprocessing``, forkserver or
spawn, never fork), one pool per environment and effective policy, on a real clock
scaled by ``time_scale``; ``run`` does the same on a default runtime made on first use
and closed at exit::

    with Runtime(time_scale=0.01) as rt:      # a 30 s TTL lasts 0.3 s
        run = rt.run(task, 1, 2)
        run.result, run.trace, run.measures

Modules: ``runtime`` (the ``Runtime`` users hold), ``controller`` (the driver: the one
thread that feeds every pool, and knows calls, routing, the cache and time), ``calls``
(what the driver keeps per run, call, attempt, replica and pool), ``backends`` (where
replicas run: ``processes`` by default, ``ray`` for Ray actors), ``replica`` (the code a
replica runs), ``protocol`` (the messages and how user objects are pickled), ``cache``
(task result cache).

Choices the public docs leave open, and how the runtime makes them:

* **Every lifecycle decision is the pool's.** The runtime only turns what happens into
  pool events and carries out the pool's actions. Tasks without reuse
  (``reusable=None``, ``override(reusable="off")``) cannot be a pool (no policy says "a
  replica per call"), so a small machine with the pool's interface handles them (``reuse_ref.unpooled``): a
  fresh replica per attempt, stopped when the attempt ends (``replica_stop`` reason
  ``"off"``); its pool is named ``env:off`` when the environment itself reuses.
* **Pool names.** An environment's pool has its name; a task overridden to another
  policy gets a pool ``env:2`` (``env:3``...); a second pool of the same name alive at
  the same time (concurrent runs of a ``scope="run"`` environment) gets ``#2``.
  Replica ids grow per name and are never reused within a runtime.
* **Time.** Pools see policy seconds: wall seconds since the runtime started divided by
  ``time_scale``, so traces read like the simulator's. ``cold_start`` is policy seconds.
  Task ``timeout`` is wall seconds: it bounds the task's own code, which the scale does
  not speed up.
* **Scale-down order on a real clock.** Replicas seldom go idle at the same instant, so
  the replica idle longest reaches ``scaledown_ttl`` first and stops first; the pool's
  highest-id rule decides between replicas idle equally long (rule 3).
* **Timeouts.** An async attempt is cancelled on its replica (``TaskTimeoutError``;
  the replica stays). It keeps its slot until the replica says the attempt stopped; a
  replica whose event loop does not come back within ``stop_grace`` (a busy loop or a
  blocking call in an async task) is killed, ``replica_stop`` reason ``"timeout"``, and
  replaced. A sync attempt cannot be interrupted: its replica is killed at once, with
  the same reason. A task's own ``asyncio.CancelledError`` (it awaited something that
  someone else cancelled) is its error, not a timeout.
* **Waiting (rule 6).** A task waits while it is blocked on the results of tasks it
  called: a sync call; on an async replica, an ``await`` of a call, of a task that awaits
  one, or of ``asyncio.gather``, ``asyncio.wait``, ``asyncio.as_completed`` or an
  ``asyncio.TaskGroup`` over them. The replica looks at its asyncio tasks after each call
  and reply (and every 10 ms while calls are in flight) and reports changes. A child
  started with ``asyncio.ensure_future`` and not awaited does not make its parent wait,
  and neither does a wait with a timeout (``asyncio.wait(..., timeout=5)``, or an
  ``asyncio.timeout()`` block): the clock wakes that parent, so it cannot starve.
* **Failure policy (rule 7).** ``Runtime(failure_policy=...)`` and ``rt.run(...,
  failure_policy=...)``: ``"FAIL_IMMEDIATELY"`` (default) cancels the other calls of a
  failed task (``TaskCancelledError``, ``task_failed`` reason ``"cancelled"``); a sync
  call that is running cannot be stopped, so its result is dropped when it ends.
  ``"FAIL_AFTER_EXECUTABLE_NODES_COMPLETE"`` lets them run to their end, and the failed
  task holds its slot until then. Calls still running when the task that made them ends
  well are cancelled too.
* **Retries.** A failed attempt is tried again while the task has retries left, except
  one that raised :class:`~reuse_ref.errors.NonRecoverableError` (Flyte's
  ``flyte.errors.NonRecoverableError`` is one): it fails at once, ``task_failed`` reason
  ``"non_recoverable"``, on every backend.
* **Processes a task starts** belong to its replica's process group, and stop with it.
* **Memory.** A replica whose environment sets ``Resources(memory=...)`` is watched:
  its RSS is read every ``memory_poll`` s (0.05) and it is killed over the limit
  (``OOMError``, ``replica_stop`` reason ``oom``).
* **Cache.** Keys are the task's name, ``cache_version`` and its inputs bound to the
  signature (defaults applied) minus ``cache_ignore_input_vars``. A hit never reaches a
  pool: no trace record, counted in ``Runtime.cache_hits`` and ``Run.cached``. The store
  lives in memory as long as the runtime. ``cache_serialize`` applies to cached tasks.
* **Interrupts.** ``KeyboardInterrupt`` in the thread waiting in ``run`` (a notebook's
  interrupt button) stops every replica of the runtime and fails its other runs; the
  runtime stays usable and the next call starts cold.
* **Functions travel once per replica**, by reference when the task's module can be
  imported (so module-level state such as a loaded model is loaded once per replica and
  shared by that module's tasks), by value (cloudpickle) for functions of ``__main__`` (a
  notebook, a script) or of modules registered with
  ``cloudpickle.register_pickle_by_value``; such a function keeps its own copy of the
  globals it uses.
* **Replica environment.** ``os.environ`` of the controller when the replica starts,
  plus the environment's ``env_vars`` and secrets (a secret given by name only takes its
  value from that environment; ``run`` refuses it if the variable is not set).
* **Scripts** must guard their top level with ``if __name__ == "__main__":``, as with
  any ``multiprocessing`` program: replicas import the main module.
* **Run traces** are the runtime's records between the run's start and end; replicas
  that were warm before the run began have their start outside that window.
"""
from .runtime import Run, Runtime, default_runtime, run

__all__ = ["Runtime", "Run", "run", "default_runtime"]
