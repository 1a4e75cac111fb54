"""Runs in a simulation, and the pools of environments whose policy has ``scope="run"``.

A workload says which run a job belongs to by its call tree: every top-level job (one
without a ``parent``) is the root of a run, and every job it calls, directly or through
the jobs it calls, belongs to that run. That is the runtime's meaning too: everything
called inside one ``Runtime.run(task, ...)`` is that run. A workload of independent jobs
is then a workload of one-call runs, and a recorded call tree repeated over a day is a
day of runs.

An environment whose policy has ``scope="run"`` gets a pool of its own in each run that
uses it, made when the run first calls it and closed (reason ``shutdown``: its queued
and running tasks fail, its replicas stop) when the run's root ends for good; pools of
``scope="global"`` are shared by every run. The naming, the replica ids and the closing
are the core's (:meth:`~reuse_ref.core.pools.Pools.open_for_run`,
:meth:`~reuse_ref.core.pools.Pools.run_ended`), as on the runtime: two runs alive at once
have pools ``env`` and ``env#2``, and replica ids go on under a name, never used twice.
Union's guide says that ``scope`` applies today only to reusable Ray clusters; the
reference models the SDK's meaning of it.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Hashable, Optional, Tuple

from ..core.pools import Decisions, Pools

__all__ = ["RunScope", "scoped_environments"]


def scoped_environments(envs: Dict[str, tuple]) -> Dict[str, Any]:
    """The environments of ``simulate``'s ``envs`` whose policy has ``scope="run"``, with their policies."""
    return {name: p for name, (p, _) in envs.items() if p is not None and p.scope == "run"}


class RunScope:
    """Which pool each task runs in when some environments are run-scoped.

    ``pool_of`` is the simulation's map of task to pool name: it starts with every job's
    environment, and :meth:`route` writes the pool of a run-scoped task into it when the
    task is first submitted (a task runs in one pool for its whole life). ``by_id`` gives a
    job's parent, to find its run; ``on_new_pool(pool, env)`` hears of each pool made."""

    def __init__(self, pools: Pools, scoped: Dict[str, Any], pool_of: Dict[Hashable, str],
                 by_id: Dict[Hashable, Any], scaledown: str,
                 on_new_pool: Optional[Callable[[Any, str], None]] = None) -> None:
        self.pools = pools
        self.scoped = scoped
        self.pool_of = pool_of
        self.by_id = by_id
        self.scaledown = scaledown
        self.on_new_pool = on_new_pool
        self.env_of: Dict[Hashable, str] = {}  # a run-scoped task -> its environment
        self.run_of: Dict[Hashable, Hashable] = {}  # a task -> the root of its run
        self.open: Dict[Tuple[str, Hashable], str] = {}  # (environment, run) -> its pool's name
        self.names: Dict[str, str] = {}  # every run-scoped pool name made -> its environment

    def run(self, task: Hashable) -> Hashable:
        """The run of ``task``: the id of the top-level job its call tree starts from (a job
        called again by a retried parent is in ``by_id`` under its new id, so it finds it too)."""
        run = self.run_of.get(task)
        if run is None:
            chain = []
            t = task
            while run is None:
                chain.append(t)
                parent = self.by_id[t].parent
                if parent is None:
                    run = t
                else:
                    run = self.run_of.get(parent)
                    t = parent
            for t in chain:
                self.run_of[t] = run
        return run

    def route(self, task: Hashable) -> str:
        """The pool ``task`` runs in, written into ``pool_of``: its environment's, or, in a
        run-scoped environment, its run's pool of it, made on first use."""
        env = self.env_of.get(task)
        if env is None:
            env = self.pool_of[task]
            if env not in self.scoped:
                return env
            self.env_of[task] = env
        key = (env, self.run(task))
        name = self.open.get(key)
        if name is None:
            pool = self.pools.open_for_run(env, self.scoped[env], key[1], self.scaledown)
            name = self.open[key] = pool.name
            self.names[name] = env
            if self.on_new_pool is not None:
                self.on_new_pool(pool, env)
        self.pool_of[task] = name
        return name

    def run_ended(self, now: float, run: Hashable) -> Decisions:
        """The root of ``run`` ended for good: its run-scoped pools close (``shutdown``)."""
        for key in [k for k in self.open if k[1] == run]:
            del self.open[key]
        return self.pools.run_ended(now, run)
