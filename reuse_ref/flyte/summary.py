"""The per-environment measures that ``reuse-ref run`` prints: the pool behind a Flyte program.

The runtime's pools are named by environment (``env``, ``env:off`` for calls without
reuse, ``env:2`` for another policy, ``#2`` for a second run-scoped pool); a program's
reader thinks in environments, so the measures of every pool of one environment are
added up, and the replica pids come from what each replica noted (see
:mod:`reuse_ref.flyte.tasks`).
"""
from __future__ import annotations

import os
import re
from typing import Any, Dict, List

__all__ = ["environments", "print_summary", "environment_of"]


def environment_of(pool: str) -> str:
    """``"fan:off"`` and ``"fan#2"`` -> ``"fan"``."""
    return re.split(r"[:#]", pool, maxsplit=1)[0]


def _pids(pids_dir: str) -> Dict[str, List[int]]:
    out: Dict[str, List[int]] = {}
    try:
        names = os.listdir(pids_dir)
    except OSError:
        return out
    for name in names:
        pid, _, env = name.partition("-")
        if pid.isdigit() and env:
            out.setdefault(env, []).append(int(pid))
    return {k: sorted(v) for k, v in out.items()}


def environments(trace: Any, pids_dir: str) -> Dict[str, Dict[str, Any]]:
    """``{environment: measures}`` with ``replica_pids``, for every environment that ran a task.

    ``cold_start_samples`` is every cold start the environment's replicas took, request to
    ready (the process's start and the program's imports included), in policy seconds, as
    ``samples:S1,S2,...``: the form ``--cold-start`` reads, to simulate with the cold starts
    measured (``None`` when no replica became ready)."""
    pids = _pids(pids_dir)
    out: Dict[str, Dict[str, Any]] = {}
    pools = trace.envs if trace is not None else []
    for pool in pools:
        m = trace.measures(pool)
        env = out.setdefault(environment_of(pool), {
            "pools": [], "tasks": 0, "replicas_started": 0, "cold_starts": 0, "warm_starts": 0,
            "peak_replicas": 0, "starved": 0, "failed": 0, "policy": None})
        env["pools"].append(pool)
        env["tasks"] += m.tasks
        env["replicas_started"] += m.cold_starts
        env["cold_starts"] += m.cold_starts
        env["warm_starts"] += m.warm_starts
        env["peak_replicas"] = max(env["peak_replicas"], m.peak_replicas)
        env["starved"] += m.starved
        env["failed"] += m.failed
        env.setdefault("measured", []).extend(trace.cold_start_seconds(pool))
        policy = trace.policies.get(pool)
        if env["policy"] is None and ":" not in pool:
            env["policy"] = repr(getattr(policy, "model", policy)) if policy is not None else "no reuse"
    for name, env in out.items():
        measured = env.pop("measured")
        env["cold_start_samples"] = "samples:" + ",".join(f"{round(s, 3):g}" for s in measured) if measured else None
        env["replica_pids"] = pids.get(name, [])
        env["distinct_replica_pids"] = len(env["replica_pids"])
        if env["policy"] is None:
            env["policy"] = "no reuse"
    return out


def print_summary(envs: Dict[str, Dict[str, Any]]) -> None:
    if not envs:
        print("no task ran on a replica")
        return
    for name, m in envs.items():
        print(f"environment {name!r}: {m['policy']}")
        print(f"  tasks {m['tasks']}, replicas started {m['replicas_started']}, distinct replica pids "
              f"{m['distinct_replica_pids']}, cold starts {m['cold_starts']}, warm starts {m['warm_starts']}, "
              f"peak replicas {m['peak_replicas']}, starved {m['starved']}, failed {m['failed']}")
