"""Calls and where they go: the cache, the pools of environments, nested calls, rule 7 cancels.

:class:`Routing` is the part of the runtime's driver that knows task calls: it submits a
call to the pool of its environment and effective policy (made on first use, and named
so that a trace reads like the simulator's), answers it from the cache or from an
identical call running (``cache_serialize``), routes a nested call made on a replica,
turns a pool's ``FailTask`` into the caller's error, and cancels calls nobody waits
for any more (rule 7). It is a base class of the driver (``controller._Controller``),
which owns the state it uses: the pools, the attempts, the backend and the clock.
"""
from __future__ import annotations

import itertools
import time
from typing import Any, Dict, Optional, Tuple

from ..environment import Task
from ..errors import ReuseRefError, TaskCancelledError
from ..pool import Pool
from ..unpooled import Unpooled
from . import protocol as P
from .calls import FAILURES, USER_FAILURES, Attempt, Call, PoolState, Replica, RunState, Waiter

__all__ = ["Routing"]


class Routing:
    """Task calls, from submission to the answer; mixed into the driver, which owns the state."""

    ids: "itertools.count"
    functions: Dict[int, Tuple[int, Any, bytes]]

    def _submit(self, call: Call) -> None:
        task = call.task
        key = call.cache_key
        if key is not None:
            blob = self.cache.get(key)
            if blob is not None:
                self._complete(call, True, blob)
                return
            if task.options.cache_serialize:
                leader = self.cache.leaders.get(key)
                if leader is not None:
                    leader.followers.append(call)
                    call.leader = leader
                    return
                self.cache.leaders[key] = call
                call.followers = []
        ps = self._pool_for(task, call.run)
        call.ps = ps
        call.key = f"{task.short_name}#{next(self.ids)}"
        call.leader = None
        ps.calls[call.key] = call
        att = call.parent
        if att is not None and att.call.key is not None:
            self.graph.called((att.h.ps.name, att.call.key), (ps.name, call.key))
        self._do(ps, ps.pool.submit(self.now(ps), call.key, retries=task.options.retries))

    def _complete(self, call: Call, ok: bool, value: Any) -> None:
        """The call is over for good: store, share with followers, answer its caller."""
        if call.done:
            return
        call.done = True
        if call.ps is not None and call.key is not None:
            call.ps.calls.pop(call.key, None)
            self.graph.ended((call.ps.name, call.key))
        att = call.parent
        if att is not None:
            att.kids.pop(call, None)
            if att.held is not None and not att.kids:
                self._final_failure(att)
        key = call.cache_key
        if key is not None:
            if ok:
                self.cache.put(key, value)
            if self.cache.leaders.get(key) is call:
                del self.cache.leaders[key]
                followers, call.followers = call.followers or [], None
                for f in followers:
                    if ok:
                        self._complete(f, True, value)
                    else:  # the first one takes its turn; the others follow it
                        self._submit(f)
        origin = call.origin
        if type(origin) is Waiter:
            run = call.run
            run.ok, run.value = ok, value
            if run.id in self.graph.scoped:
                self.ended.append(run)  # its pools close first, once the actions in hand are done
            else:
                self._end_run(run)
        else:
            h, request = origin
            if not h.retired:
                self.backend.send(h, (P.REPLY, request, ok, value))

    def _fail(self, ps: PoolState, key: str, reason: str, message: str) -> None:
        call = ps.calls.get(key)
        if call is None:
            return
        if reason in USER_FAILURES and call.error is not None:
            error = call.error
        else:
            cls = FAILURES.get(reason, ReuseRefError)
            if reason == "starvation":
                text = message
            elif call.detail:
                text = call.detail
            else:
                text = f"task {call.task.name!r} failed: {message} ({reason})"
            error = P.runtime_error(cls(text))
        self._complete(call, False, error)

    def _final_failure(self, att: Attempt) -> None:
        """The children of a failed attempt have all ended: its failure is final now (rule 7)."""
        reason, message = att.held
        att.held = None
        ps = att.h.ps
        if ps.key in self.pools and att.call.key in ps.pool.running:
            self._do(ps, ps.pool.finish(self.now(ps), att.call.key, error=reason, message=message))

    def _cancel(self, call: Call, why: str) -> None:
        """Rule 7: a call nobody waits for any more stops (a queued one leaves its queue, a
        running async attempt is cancelled on its replica, a sync one runs on unheard)."""
        if call.done:
            return
        detail = f"task {call.task.name!r} was cancelled: {why}"
        call.detail = detail
        if call.leader is not None:  # waiting for an identical call: it just stops waiting
            followers = call.leader.followers
            if followers and call in followers:
                followers.remove(call)
            self._complete(call, False, P.runtime_error(TaskCancelledError(detail)))
            return
        ps, att = call.ps, call.attempt
        if ps is None or call.key is None or ps.key not in self.pools:
            self._complete(call, False, P.runtime_error(TaskCancelledError(detail)))
            return
        if att is not None and self.attempts.get(att.aid) is att:
            if not call.task.is_async:  # cannot be stopped: its result will be dropped
                self._complete(call, False, P.runtime_error(TaskCancelledError(detail)))
                return
            h = att.h
            del self.attempts[att.aid]
            h.attempts.discard(att.aid)
            h.cancelling[att.aid] = (time.monotonic() + self.stop_grace, att, "cancelled")
            self.backend.send(h, (P.CANCEL, att.aid))
            self._attempt_over(att, failed=True)
        self._do(ps, ps.pool.cancel(self.now(ps), call.key, detail))

    def _nested(self, h: Replica, msg: tuple) -> None:
        _, parent_aid, request, ref, blob, payload, key = msg
        try:
            task = h.tasks.get(ref)
            if task is None:
                task = h.tasks[ref] = P.loads(blob)
        except Exception as exc:
            err = P.runtime_error(ReuseRefError(f"the runtime could not load the task called on {h.where()}: {exc!r}"))
            self.backend.send(h, (P.REPLY, request, False, err))
            return
        parent = self.attempts.get(parent_aid) if parent_aid is not None else None
        run = parent.call.run if parent is not None else None
        call = Call(task, payload, key, (h, request), parent, run)
        if parent is not None:
            parent.requests[request] = call
            parent.kids[call] = None
        self._submit(call)

    def _pool_for(self, task: Task, run: Optional[RunState]) -> PoolState:
        policy = task.reusable
        scoped = policy is not None and policy.scope == "run" and run is not None
        key = (task.pool_key, run.id if scoped else None)
        ps = self.pools.get(key)
        if ps is not None:
            return ps
        name = self._name_for(task)
        first = self.next_rid.get(name, 1)
        pool = Pool(policy, name=name, first_replica_id=first) if policy is not None \
            else Unpooled(name, first_replica_id=first)
        ps = self.pools[key] = PoolState(key, name, pool, task)
        self.graph.add(pool, run.id if scoped else None)
        self.by_name[name] = ps
        self.policies[name] = policy
        self.resources[name] = task.resources
        return ps

    def _name_for(self, task: Task) -> str:
        """The environment's name; a task overridden to another policy gets ``name:2``,
        ``name:3``... (``name:off`` without reuse); a second live pool of the same name
        (two concurrent runs of a ``scope="run"`` environment) gets ``#2``."""
        env, policy = task.env, task.reusable
        if policy == env.reusable:
            base = env.name
        else:
            base = self.variants.get((env.name, policy))
            if base is None:
                k = 2 + sum(1 for (e, p) in self.variants if e == env.name and p is not None)
                base = self.variants[(env.name, policy)] = f"{env.name}:{'off' if policy is None else k}"
        live = {ps.name for ps in self.pools.values()}
        name, n = base, 2
        while name in live:
            name, n = f"{base}#{n}", n + 1
        return name

    def _function(self, func: Any) -> Tuple[int, bytes]:
        """A function's id and pickle (made once: a replica receives it once, then only its id)."""
        entry = self.functions.get(id(func))
        if entry is None or entry[1] is not func:
            entry = self.functions[id(func)] = (next(self.ids), func, P.cloud_dumps(func))
        return entry[0], entry[2]
