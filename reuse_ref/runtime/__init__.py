"""The local runtime: real task calls on warm replica processes, through the core's pools.

``Runtime`` runs tasks on real replica processes (``multiprocessing``, forkserver or
spawn, never fork; or Ray actors), one pool per environment and effective policy, on a
real clock scaled by ``time_scale``; ``run`` does the same on a default runtime made on
first use and closed at exit::

    with Runtime(time_scale=0.01) as rt:      # a 30 s TTL lasts 0.3 s
        run = rt.run(task, 1, 2)
        run.result, run.trace, run.measures

The path of one call, from ``task(...)`` to a replica and back (``Runtime.run`` here; a
task called by a task running on a replica comes in at 2, as that replica's ``CALL``)::

  user's thread  | driver's thread (Driver)                            | replica
                 |                                                     |
  Runtime.run -1-+> Mailbox -> _submit -2-> CallTable: its pool        |
  (a Waiter)     |                 |      (a cache hit: to 7)          |
                 |                 3                                   |
                 |                 v                                   |
                 |       core: Pools.submit -> actions                 |
                 |                                |                    |
                 |  StartReplica -4-> backend.start -------------------+> ReplicaWorker
                 |  Pools.replica_ready <---------------------- READY -+- (warm: it stays)
                 |  Dispatch -----5-> backend.send(RUN) ---------------+> the function runs
                 |                                                     |  (CALL: back to 2;
                 |                                                     |   WAITING: rule 6)
                 |  Pools.finish <-6- _done <- backend.wait <- DONE ---+-
                 |       |                                             |
                 |  Pools.ended (rule 7) -7-> _complete                |
  Waiter <---8---+-- the result or the error; or REPLY to a caller ----+> on its replica

1. ``Runtime.run`` checks the task and its arguments in the caller's thread, pickles the
   arguments, and posts the run to the driver's :class:`~reuse_ref.runtime.mailbox.Mailbox`;
   the caller's thread waits on the run's ``Waiter``.
2. The driver answers a cached call from its ``ResultCache``, lets an identical call that
   is running (``cache_serialize``) answer it, or finds in its ``CallTable`` the pool of
   the task's environment and effective policy, made on first use.
3. The core decides: ``Pools.submit`` queues the call or starts it at once. Every
   lifecycle decision comes back as an action (:mod:`reuse_ref.core.actions`).
4. ``StartReplica``: the backend starts a replica process (or Ray actor); its ``READY``,
   once ``cold_start`` has passed, is the core's ``replica_ready``, which dispatches.
5. ``Dispatch``: the function is pickled once per replica; ``RUN`` goes down its pipe. A
   sync attempt runs in the replica's main thread, an async one on its event loop. A task
   the function calls comes back as ``CALL`` and enters at 2, with this attempt as its
   parent; ``WAITING`` reports say who waits on whom (rule 6).
6. ``DONE`` comes back through ``backend.wait``; ``Pools.finish`` ends the attempt: a
   retry, a held failure (rule 7), or its end for good (``FailTask`` when it failed).
7. ``Pools.ended`` applies rule 7 to a call that ended for good (the calls it still holds
   are cancelled; a parent holding its failure for it may fail now); then the result is
   stored, shared with the calls that waited for it, and answered: to the user's thread,
   or as ``REPLY`` to the replica whose task called it.
8. The run is over: the user's thread wakes with the result, or raises the error.

Meanwhile the driver feeds the core time (``Pools.advance`` at the pools' ``wakeup_at``:
scale-down, idle TTL, timeouts) and deaths (a replica's end, ``EXITED``, is
``Pools.replica_crashed``).

Modules: ``runtime`` (the ``Runtime`` users hold), ``driver`` (the one thread that feeds
the pools and carries out their actions), ``call_table`` (what the driver keeps per run,
call, attempt, replica and pool), ``mailbox`` (commands from user threads), ``backends``
(where replicas run: ``processes`` by default, ``ray`` for Ray actors), ``ray_connection``
(how a Ray is joined or started), ``replica`` (the code a replica runs), ``waiting`` (what
a replica's suspended attempt waits on), ``wire`` (the messages), ``pickling`` (how user
objects travel), ``arguments`` (a call's arguments against the task's signature),
``cache`` (the task result cache), ``recording`` (who called whom, and how long parents waited:
what a run's trace carries beside its records, to be replayed as a workload).

Choices the public docs leave open, and how the runtime makes them:

* **Every lifecycle decision is the core's.** The runtime only turns what happens into
  events of the pools and carries out their actions. Tasks without reuse
  (``reusable=None``, ``override(reusable="off")``) cannot be a pool (no policy says "a
  replica per call"), so a small machine with the pool's interface handles them
  (:mod:`reuse_ref.core.unpooled`): a fresh replica per attempt, stopped when the attempt
  ends (``replica_stop`` reason ``"off"``); its pool is named ``env:off`` when the
  environment itself reuses.
* **Pool names.** An environment's pool has its name; a task overridden to another
  policy gets a pool ``env:2`` (``env:3``...); a second pool of the same name alive at
  the same time (concurrent runs of a ``scope="run"`` environment) gets ``#2``.
  Replica ids grow per name and are never reused within a runtime.
* **Time.** Pools see policy seconds: wall seconds since the runtime started divided by
  ``time_scale``, so traces read like the simulator's. ``cold_start`` is policy seconds.
  Task ``timeout`` is wall seconds: it bounds the task's own code, which the scale does
  not speed up; the pools, which decide when an attempt is over its time, get it in
  policy seconds.
* **Scale-down order on a real clock.** Replicas seldom go idle at the same instant, so
  the replica idle longest reaches ``scaledown_ttl`` first and stops first; the pool's
  highest-id rule decides between replicas idle equally long (rule 3). Both readings of
  rule 3 are the core's, so ``Runtime(scaledown="per_replica")`` behaves as
  ``simulate(..., scaledown="per_replica")`` does.
* **Timeouts** (decided in the core, as in the simulator). An async attempt is cancelled
  on its replica (``TaskTimeoutError``; the replica stays). It keeps its slot until the
  replica says the attempt stopped; a replica whose event loop does not come back within
  ``stop_grace`` (a busy loop or a blocking call in an async task) is killed,
  ``replica_stop`` reason ``"timeout"``, and replaced. A sync attempt cannot be interrupted: its replica is killed at once, with
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
  one that raised :class:`~reuse_ref.config.errors.NonRecoverableError` (Flyte's
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
* **Replica environment.** ``os.environ`` of the runtime's process when the replica starts,
  plus the environment's ``env_vars`` and secrets (a secret given by name only takes its
  value from that environment; ``run`` refuses it if the variable is not set).
* **Scripts** must guard their top level with ``if __name__ == "__main__":``, as with
  any ``multiprocessing`` program: replicas import the main module.
* **Run traces** are the runtime's records between the run's start and end; replicas
  that were warm before the run began have their start outside that window.
"""
from .runtime import Run, Runtime, default_runtime, run

__all__ = ["Runtime", "Run", "run", "default_runtime"]
