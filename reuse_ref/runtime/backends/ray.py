"""Replicas as Ray actors: one actor per replica, placed by the environment's ``Resources``.

A replica is one actor (``num_cpus`` from ``Resources.cpu``, 0 when unset; ``num_gpus``
from the GPU count; ``memory`` in bytes), so Ray puts it on a node that has room for it,
and a pool can outgrow one machine. Inside the actor runs the same replica code as in a
local process (``runtime/replica.py``): its event loop for async attempts, the waiting
reports of rule 6, nested calls and cancels. Only the transport differs:

* a sync attempt's ``RUN`` is an actor call whose result is the attempt's ``DONE`` (one
  round trip, as close to a raw actor call as can be); everything else the driver says
  (async ``RUN``, ``REPLY``, ``CANCEL``) goes in batches, one actor call per replica and
  turn of the driver's loop, so a fan-out of hundreds of calls costs a few actor calls;
* whatever else the replica says (``READY``, ``CALL``, ``WAITING``, ``DONE`` of async
  attempts, ``CANCELLED``) waits in the actor's outbox, which the backend keeps one call
  open on, and comes back in batches too;
* each message carries the replica's sequence number, and the backend hands them to the
  driver in that order, whichever call brought them.

A dead actor (``ray.kill``, its node lost, Ray's own out-of-memory killer) fails every
call open on it; the backend reports the replica ``EXITED`` (rule 5: the pool replaces
it). ``Resources.memory`` is also watched inside the actor (its RSS every
``memory_poll`` s), as on processes: over the limit the replica is reported ``oom``.

Networking: a local instance that the backend starts binds 127.0.0.1 only
(``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, set before the start); with ``ray_address`` the
runtime joins that cluster and leaves it running at close.
"""
from __future__ import annotations

import collections
import os
import selectors
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from ...config.resources import Resources
from .. import wire as W
from ..ray_connection import connect
from . import EXITED, ReplicaBackend

__all__ = ["RayBackend", "backend", "actor_options", "CONTROL_THREADS"]

_OVER_MEMORY = "over_memory"  # the actor to this backend: (over_memory, rss, limit)


CONTROL_THREADS = 8
"""Actor threads beyond the policy's ``concurrency``: the outbox, replies and cancels must
get through while every slot is busy."""


def actor_options(resources: Optional[Resources], policy: Any) -> Dict[str, Any]:
    """The Ray actor options of one replica of an environment: what Ray places it by.

    ``num_cpus`` is ``Resources.cpu`` (0 when unset: a replica that asks for nothing takes
    no core from the scheduler), ``num_gpus`` the GPU count, ``memory`` the bytes of
    ``Resources.memory``; ``max_concurrency`` is the policy's ``concurrency`` (1 without
    reuse) plus :data:`CONTROL_THREADS`. ``concurrency`` tasks then share one actor, one
    process and whatever it holds (a GPU, a loaded model), which is not what a fractional
    ``num_gpus`` does: that packs separate actors, each with its own process, onto one GPU.

    >>> from reuse_ref import ReusePolicy, Resources
    >>> actor_options(Resources(cpu=4, memory="16Gi", gpu=1), ReusePolicy(replicas=2, concurrency=8))
    {'num_cpus': 4.0, 'num_gpus': 1, 'memory': 17179869184, 'max_concurrency': 16}
    """
    options: Dict[str, Any] = {"num_cpus": resources.cpu_cores if resources is not None and resources.cpu_cores else 0}
    if resources is not None and resources.gpu_count:
        options["num_gpus"] = resources.gpu_count
    if resources is not None and resources.memory_bytes:
        options["memory"] = resources.memory_bytes
    options["max_concurrency"] = (policy.concurrency if policy is not None else 1) + CONTROL_THREADS
    return options


# ---------------------------------------------------------------------- inside the actor
class RayReplicaActor:
    """The actor: the replica code of ``runtime/replica.py``, with an actor's transport.
    ``run``, ``feed`` and ``outbox`` are what the backend calls; it is made a Ray actor class
    when the backend starts, so that importing this module needs no Ray."""

    def __init__(self, env: Dict[str, str], limit: Optional[int], poll: float) -> None:
        from .. import replica as R
        from ...config.environment import current_caller

        os.environ.update(env)
        os.environ["REUSE_REF_REPLICA"] = "1"
        self.lock = threading.Lock()
        self.ready = threading.Condition(self.lock)  # the outbox has something
        self.shipped = threading.Condition(self.lock)  # a function has arrived
        self.seq = 0
        self.messages: List[Tuple[int, bytes]] = []  # the outbox
        self.runs: Dict[int, W.OneShot] = {}  # attempt -> the RUN call waiting for its end
        self.cancelled_early: set = set()  # attempts whose CANCEL came before their RUN
        self.active: set = set()  # attempts admitted and not ended
        backend = self

        class ActorWorker(R.ReplicaWorker):
            def send(self, message: tuple) -> None:
                backend.post(message)

        self.replica = ActorWorker(None)
        self.replica.role.acquire()  # nobody reads a pipe here: a blocked sync call waits for deliver()
        self.caller = self.replica.caller
        self.current_caller = current_caller
        self.node = _node_ip()
        self.post((W.READY, os.getpid(), self.node))
        if limit:
            threading.Thread(target=self._watch, args=(limit, poll), daemon=True).start()

    def post(self, message: tuple) -> None:
        """Number the message; give an attempt's end to its RUN call, the rest to the outbox."""
        with self.lock:
            self.seq += 1
            item = (self.seq, W.encode(message))
            run = None
            if message[0] in (W.DONE, W.CANCELLED):
                self.active.discard(message[1])
                run = self.runs.pop(message[1], None)
            if run is not None:
                run.set(True, item)
            else:
                self.messages.append(item)
                self.ready.notify()

    def _admit(self, aid: int, fid: int, blob: Optional[bytes], done: Optional[W.OneShot]) -> bool:
        """Actor calls may run in any order: a function's first RUN (the one that brings it)
        may come after a second, and a CANCEL before its RUN. False: it was cancelled."""
        replica = self.replica
        with self.lock:
            if blob is not None:
                replica.blobs[fid] = blob
                self.shipped.notify_all()
            elif not self.shipped.wait_for(lambda: fid in replica.blobs, timeout=60):
                raise RuntimeError(f"function {fid} never reached this replica")
            if aid in self.cancelled_early:
                self.cancelled_early.discard(aid)
                return False
            self.active.add(aid)
            if done is not None:
                self.runs[aid] = done
        return True

    def run(self, aid: int, fid: int, blob: Optional[bytes], payload: bytes) -> Tuple[int, bytes]:
        """A sync attempt, run in this call's thread; its ``DONE`` is the call's result."""
        done = W.OneShot()
        if not self._admit(aid, fid, blob, done):
            with self.lock:
                self.seq += 1
                return self.seq, W.encode((W.CANCELLED, aid))
        self.current_caller.set(self.caller)
        self.replica.run_sync(aid, fid, payload)
        done.wait()
        return done.value[1]

    def feed(self, batch: List[bytes]) -> None:
        """Async ``RUN``, ``REPLY`` and ``CANCEL`` messages, in the order the driver sent them."""
        replica = self.replica
        for data in batch:
            msg = W.decode(data)
            if msg[0] == W.RUN:
                _, aid, fid, blob, payload, _ = msg
                if self._admit(aid, fid, blob, None):
                    replica.loop.call_soon_threadsafe(replica.start_async, aid, fid, payload)
                else:
                    self.post((W.CANCELLED, aid))
            else:
                self.deliver(msg)

    def deliver(self, msg: tuple) -> None:
        if msg[0] == W.CANCEL:
            with self.lock:
                if msg[1] not in self.active:  # its RUN has not come yet (or it has ended)
                    self.cancelled_early.add(msg[1])
                    return
        self.replica.deliver(msg)

    def outbox(self) -> List[Tuple[int, bytes]]:
        """What the replica said since the last call (waiting up to 10 s for something)."""
        with self.lock:
            if not self.messages:
                self.ready.wait(10.0)
            out, self.messages = self.messages, []
        return out

    def _watch(self, limit: int, poll: float) -> None:
        import psutil

        me = psutil.Process()
        while True:
            rss = me.memory_info().rss
            if rss > limit:
                self.post((_OVER_MEMORY, rss, limit))
                return
            time.sleep(poll)


def _why(exc: BaseException) -> str:
    """Ray's reason for an actor's death, shortened to what helps: the first line and the
    worker's exit detail (Ray does not report a worker's exit code or signal)."""
    text = str(exc).strip()
    first = (text.splitlines() or [""])[0]
    out = f"{type(exc).__name__}: {first}"
    marker = "Worker exit detail: "
    if marker in text:
        out += " " + text.split(marker, 1)[1].split(" Some common causes", 1)[0].strip()
    return out[:400]


def _node_ip() -> str:
    import ray

    try:
        return ray.util.get_node_ip_address()
    except Exception:
        return ""


# ---------------------------------------------------------------------- the driver's side
class ActorHandle:
    """A replica's actor as the backend sees it: its handle, and its messages put in order."""

    __slots__ = ("replica", "actor", "next", "held", "stopped", "gone", "limit", "outbound")

    def __init__(self, replica: Any, actor: Any, limit: Optional[int]) -> None:
        self.replica = replica
        self.actor = actor
        self.next = 1
        self.held: Dict[int, tuple] = {}
        self.stopped = False
        self.gone = threading.Event()
        self.limit = limit
        self.outbound: List[bytes] = []  # messages for the next batch


class RayBackend(ReplicaBackend):
    """Replicas as Ray actors; see the module's docstring."""

    name = "ray"

    def __init__(self, ray_address: Optional[str] = None, memory_poll: float = 0.05, stop_grace: float = 2.0) -> None:
        self.memory_poll = memory_poll
        self.stop_grace = stop_grace
        ray, self.owned = connect(ray_address)
        self.ray = ray
        self.address = ray.get_runtime_context().gcs_address
        self.actor_class = ray.remote(RayReplicaActor)
        self.events: "collections.deque[tuple]" = collections.deque()
        self.signal_r, self.signal_w = os.pipe()
        os.set_blocking(self.signal_r, False)
        os.set_blocking(self.signal_w, False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.signal_r, selectors.EVENT_READ, "ray")
        self.live: Dict[ActorHandle, None] = {}
        self.dirty: List[ActorHandle] = []  # actors with messages waiting for the next batch
        self.here = _node_ip()

    def __repr__(self) -> str:
        return f"RayBackend({self.address})"

    # ------------------------------------------------------------------ the seam
    def open(self, wakeup_fd: int) -> None:
        self.sel.register(wakeup_fd, selectors.EVENT_READ, None)

    def start(self, replica: Any, env: Dict[str, str], resources: Optional[Resources]) -> None:
        options = self._placement(replica, resources)
        limit = resources.memory_bytes if resources is not None else None
        # the reference's own settings travel too (a node's environment does not have them)
        env = {**{k: v for k, v in os.environ.items() if k.startswith("REUSE_REF_")}, **env}
        actor = self.actor_class.options(**options).remote(
            env, limit, self.memory_poll)
        a = replica.io = ActorHandle(replica, actor, limit)
        self.live[a] = None
        self._outbox(a)

    def send(self, replica: Any, message: tuple) -> None:
        a = replica.io
        if a.stopped:
            return
        if message[0] == W.RUN and not message[5]:  # sync: a call of its own, DONE its result
            self._flush(a)
            _, aid, fid, blob, payload, _ = message
            self._watch(a, a.actor.run.remote(aid, fid, blob, payload), self._item)
            return
        if not a.outbound:
            self.dirty.append(a)
        a.outbound.append(W.encode(message))

    def stop(self, replica: Any, kill: bool) -> None:
        a = replica.io
        a.stopped = True
        self.ray.kill(a.actor, no_restart=True)  # an actor has nothing to flush: stopping is killing

    def wait(self, timeout: Optional[float]) -> List[Tuple[Any, Optional[tuple]]]:
        for a in self.dirty:  # what the driver said since the last turn, one call per replica
            self._flush(a)
        self.dirty.clear()
        out: List[Tuple[Any, Optional[tuple]]] = []
        for key, _ in self.sel.select(timeout):
            if key.data is None:
                out.append((None, None))
            else:
                try:
                    os.read(self.signal_r, 65536)
                except (BlockingIOError, OSError):
                    pass
        events = self.events
        while events:
            a, seq, msg = events.popleft()
            if seq is None:  # the actor is gone: after everything it said before
                out.extend((a.replica, m) for _, m in sorted(a.held.items()))
                a.held.clear()
                out.append((a.replica, msg))
                continue
            a.held[seq] = msg
            while a.next in a.held:
                out.append((a.replica, self._translate(a, a.held.pop(a.next))))
                a.next += 1
        return out

    def drain(self, hard: bool) -> None:
        deadline = time.monotonic() + self.stop_grace + 30.0  # at once, usually: Ray reports a killed actor late under load
        for a in list(self.live):
            if a.stopped and a.gone.wait(max(0.0, deadline - time.monotonic())):
                self._wait_exit(a, deadline)
                self.live.pop(a, None)

    def close(self) -> None:
        for a in list(self.live):
            if not a.stopped:
                a.stopped = True
                try:
                    self.ray.kill(a.actor, no_restart=True)
                except Exception:
                    pass
        self.drain(hard=True)
        self.sel.close()
        for fd in (self.signal_r, self.signal_w):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.owned:
            self.ray.shutdown()

    # ------------------------------------------------------------------ mechanics
    def _placement(self, replica: Any, resources: Optional[Resources]) -> Dict[str, Any]:
        """The actor's options; refused now (a start failure) when no node could ever hold
        it, rather than left waiting for ever."""
        options = actor_options(resources, replica.ps.pool.policy)
        keys = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}
        need = {k: v for k, v in options.items() if k in keys}
        nodes = [n.get("Resources", {}) for n in self.ray.nodes() if n.get("Alive")]
        if not any(all(have.get(keys[k], 0) >= v for k, v in need.items()) for have in nodes):
            raise RuntimeError(f"no node of the Ray cluster can hold a replica of {replica.ps.name!r} "
                               f"({', '.join(f'{k}={v:g}' for k, v in need.items())}); its nodes have "
                               f"{[{keys[k]: have.get(keys[k], 0) for k in need} for have in nodes]}")
        return options

    def _flush(self, a: ActorHandle) -> None:
        if a.outbound:
            batch, a.outbound = a.outbound, []
            if not a.stopped:
                a.actor.feed.remote(batch)

    def _outbox(self, a: ActorHandle) -> None:
        self._watch(a, a.actor.outbox.remote(), self._items)

    def _watch(self, a: ActorHandle, ref: Any, take: Any) -> None:
        """Call ``take(a, value)`` from Ray's thread when ``ref`` is ready, then wake the driver.
        ``_on_completed`` (what ``ObjectRef.future`` is made of) saves a future per call; the
        public ``future()`` is the fallback where it is missing."""
        def completed(value: Any) -> None:
            if isinstance(value, BaseException):  # the actor is gone (killed, its node lost, OOM)
                self._died(a, value)
            else:
                take(a, value)
            try:
                os.write(self.signal_w, b"!")
            except (BlockingIOError, OSError):
                pass

        def done(future: Any) -> None:
            try:
                value = future.result()
            except BaseException as exc:
                value = exc
            completed(value)

        on_completed = getattr(ref, "_on_completed", None)
        if on_completed is not None:
            on_completed(completed)
        else:
            ref.future().add_done_callback(done)

    def _item(self, a: ActorHandle, item: Tuple[int, bytes]) -> None:
        self.events.append((a, item[0], W.decode(item[1])))

    def _items(self, a: ActorHandle, items: List[Tuple[int, bytes]]) -> None:
        for item in items:
            self._item(a, item)
        self._outbox(a)  # on a stopped actor too: its failure says the actor is gone

    def _died(self, a: ActorHandle, exc: BaseException) -> None:
        if a.gone.is_set():
            return
        a.gone.set()
        if a.stopped:
            return
        oom = isinstance(exc, getattr(self.ray.exceptions, "OutOfMemoryError", ()))
        detail = f"{a.replica.where()} died: its Ray actor is gone ({_why(exc)})"
        self.events.append((a, None, (EXITED, "oom" if oom else "crashed", detail)))

    def _translate(self, a: ActorHandle, msg: tuple) -> tuple:
        """What only this backend says, in the driver's words; a ``READY`` tells the node."""
        if msg[0] == W.READY and len(msg) > 2 and msg[2]:
            a.replica.node = f"node {msg[2]}"
        elif msg[0] == _OVER_MEMORY:
            mib = lambda n: f"{n / 2**20:.0f} MiB"  # noqa: E731
            return (EXITED, "oom", f"{a.replica.where()} used {mib(msg[1])} of memory, more than its limit "
                                   f"of {mib(msg[2])} (Resources.memory), and was killed")
        return msg

    def _wait_exit(self, a: ActorHandle, deadline: float) -> None:
        """On this machine, until the actor's worker process has exited too (``close`` promises it)."""
        pid = a.replica.pid
        if pid is None or a.replica.node != f"node {self.here}":
            return
        import psutil

        while time.monotonic() < deadline:
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    return
            except psutil.Error:
                return
            time.sleep(0.02)


def backend(ray_address: Optional[str] = None, memory_poll: float = 0.05, stop_grace: float = 2.0,
            **unknown: Any) -> RayBackend:
    """The Ray backend, from ``Runtime``'s options."""
    if unknown:
        name = next(iter(unknown))
        raise ValueError(f"{name}={unknown[name]!r} is not valid: the 'ray' backend takes "
                         f"ray_address, memory_poll and stop_grace")
    if ray_address is not None and not (isinstance(ray_address, str) and ray_address.strip()):
        raise ValueError(f"ray_address={ray_address!r} is not valid: a Ray cluster's address "
                         f"('host:port', 'ray://host:port' or 'auto'), or None to start a local instance")
    return RayBackend(ray_address, memory_poll, stop_grace)
