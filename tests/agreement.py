"""One workload, two drivers: the simulator and the runtime must tell the same story.

A *case* is a workload (jobs with ``env``, ``parent`` and ``retries``), a policy per
environment, a failure policy and a reading of rule 3 (``scaledown``). :func:`simulated` runs it on the virtual clock;
:func:`ran` runs it on real replica processes, each job a task that sleeps its duration
(scaled), calls its children at their offsets, then awaits them, as the simulator's model
of a parent says. A job named ``"crash"`` kills its replica at the end of its first
attempt's work; the simulator gets the same crash at that moment, on the replica the
crash-free simulation ran it on. A job's ``timeout`` (policy seconds) becomes the task's
``timeout`` (wall seconds, scaled), and a ``sync`` job is a plain ``def`` that sleeps (it
calls no children). :func:`story` is what both must agree on: per environment, cold and
warm starts and peak replicas; the replicas' stops in order with their reasons; the
failure reasons; the number of starvation records.
"""
from __future__ import annotations

import asyncio
import os
import threading
import time
import warnings
from collections import Counter
from datetime import timedelta
from typing import Any, Dict, List, NamedTuple, Optional

from reuse_ref import Job, ReusePolicy, Runtime, StarvationWarning, TaskEnvironment, simulate

COLD_START = 10.0  # policy seconds, in both drivers
MARKERS = os.environ.get("REUSE_REF_AGREEMENT_DIR", "/tmp")


class Case(NamedTuple):
    name: str
    jobs: List[Job]
    policies: Dict[str, Optional[ReusePolicy]]  # None: the environment does not reuse
    failure_policy: str = "FAIL_IMMEDIATELY"
    scaledown: str = "paced"


def policy(**kwargs: Any) -> ReusePolicy:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarvationWarning)
        return ReusePolicy(**kwargs)


# ---------------------------------------------------------------------- the simulator
def simulated(case: Case):
    crashes = _crashes(case)
    return simulate(case.policies, case.jobs, cold_start=COLD_START, crashes=crashes,
                    failure_policy=case.failure_policy, scaledown=case.scaledown)


def _crashes(case: Case) -> list:
    """Where a ``crash`` job's first attempt ends in the crash-free run, its replica dies."""
    marked = {j.id for j in case.jobs if j.name == "crash"}
    if not marked:
        return []
    calm = simulate(case.policies, case.jobs, cold_start=COLD_START, failure_policy=case.failure_policy,
                    scaledown=case.scaledown)
    by_id = {j.id: j for j in case.jobs}
    out = []
    for r in calm.records:
        if r.kind == "task_start" and r.task in marked:
            marked.discard(r.task)
            # a moment before its work ends: the runtime's task exits at the end of its work
            out.append((r.time + by_id[r.task].duration - 1e-6, r.replica, "crashed", r.env))
    return out


# ---------------------------------------------------------------------- the runtime
_envs: Dict[tuple, Any] = {}


def _task(env_name: str, p: Optional[ReusePolicy]):
    """One task per environment and policy: it plays any job it is given."""
    key = (env_name, p)
    if key in _envs:
        return _envs[key]
    env = TaskEnvironment(env_name, reusable=p)

    @env.task
    async def job(spec: tuple) -> int:
        duration, kids, crash_marker = spec
        loop = asyncio.get_running_loop()
        start = loop.time()
        calls = []
        for at, kid_env, kid_spec, options in kids:
            await asyncio.sleep(max(0.0, start + at - loop.time()))
            task = _TASKS[kid_env]
            calls.append(asyncio.ensure_future((task.override(**options) if options else task)(kid_spec)))
        await asyncio.sleep(max(0.0, start + duration - loop.time()))
        if crash_marker:
            try:
                with open(crash_marker, "x"):
                    pass
                os._exit(3)  # the first attempt dies with its replica
            except FileExistsError:
                pass
        if calls:
            await asyncio.gather(*calls)
        return 1

    _envs[key] = job
    return job


def _sync_task(env_name: str, p: Optional[ReusePolicy]):
    """The sync twin of :func:`_task`: a plain function that sleeps its duration (no children)."""
    key = (env_name, p, "sync")
    if key in _envs:
        return _envs[key]
    env = TaskEnvironment(env_name, reusable=p)

    @env.task
    def sync_job(spec: tuple) -> int:
        time.sleep(spec[0])
        return 1

    _envs[key] = sync_job
    return sync_job


def _options(job: Job, scale: float) -> Dict[str, Any]:
    """The task options a job stands for: its retries, and its timeout in wall seconds."""
    out: Dict[str, Any] = {}
    if job.retries:
        out["retries"] = job.retries
    if job.timeout is not None:
        out["timeout"] = timedelta(seconds=job.timeout * scale)
    return out


_TASKS: Dict[str, Any] = {}
_SYNC_TASKS: Dict[str, Any] = {}


def _spec(job: Job, kids: Dict[Any, List[Job]], scale: float, tag: str) -> tuple:
    marker = os.path.join(MARKERS, f"agreement-{tag}-{job.id}") if job.name == "crash" else ""
    if marker and os.path.exists(marker):
        os.remove(marker)
    children = [(k.at * scale, _env_of(k, kids), _spec(k, kids, scale, tag), _options(k, scale))
                for k in sorted(kids.get(job.id, ()), key=lambda k: k.at)]
    return (job.duration * scale, tuple(children), marker)


_ENV_OF: Dict[Any, str] = {}


def _env_of(job: Job, kids) -> str:
    return _ENV_OF[job.id]


def ran(case: Case, scale: float = 0.05):
    """The case on real replicas; returns the runtime's trace once every run has ended and
    every replica the policies stop has stopped (or twice the longest TTLs have passed)."""
    reusing = [p for p in case.policies.values() if p is not None]  # None: an environment without reuse
    ttls = [p.idle_ttl.total_seconds() for p in reusing if p.idle_ttl is not None]
    ttls += [p.scaledown_ttl.total_seconds() * p.max_replicas for p in reusing] or [0.0]
    settle = 2 * max(ttls) + 60
    by_id = {j.id: j for j in case.jobs}
    kids: Dict[Any, List[Job]] = {}
    for j in case.jobs:
        env, p = j.env, j
        while env is None:
            p = by_id[p.parent]
            env = p.env
        _ENV_OF[j.id] = env
        if j.parent is not None:
            kids.setdefault(j.parent, []).append(j)
    for env_name, p in case.policies.items():
        _TASKS[env_name] = _task(env_name, p)
        if p is None or p.concurrency == 1:
            _SYNC_TASKS[env_name] = _sync_task(env_name, p)
    top = sorted((j for j in case.jobs if j.parent is None), key=lambda j: j.at)
    outcomes: List[Any] = []
    with Runtime(time_scale=scale, cold_start=COLD_START, failure_policy=case.failure_policy,
                 scaledown=case.scaledown) as rt:
        t0 = time.monotonic() + 0.2

        def submit(job: Job) -> None:
            task = (_SYNC_TASKS if job.sync else _TASKS)[_ENV_OF[job.id]]
            options = _options(job, scale)
            if options:
                task = task.override(**options)
            spec = _spec(job, kids, scale, case.name)
            time.sleep(max(0.0, t0 + job.at * scale - time.monotonic()))
            try:
                outcomes.append(rt.run(task, spec).result)
            except Exception as exc:  # noqa: BLE001 - the story compares failures
                outcomes.append(exc)

        threads = [threading.Thread(target=submit, args=(j,), daemon=True) for j in top]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        deadline = time.monotonic() + settle * scale
        while time.monotonic() < deadline and _live(rt.trace) > _kept(case):
            time.sleep(0.02)
        trace = rt.trace
    return trace


def _live(trace) -> int:
    started = sum(r.kind == "replica_start" for r in trace)
    stopped = sum(r.kind == "replica_stop" for r in trace)
    return started - stopped


def _kept(case: Case) -> int:
    """Replicas that stay up for good once the work is done: min of always-on pools."""
    return sum(p.min_replicas for p in case.policies.values() if p is not None and p.idle_ttl is None)


# ---------------------------------------------------------------------- the story
def story(trace) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for env in sorted(trace.envs):
        m = trace.measures(env)
        recs = [r for r in trace.records if r.env == env]
        out[env] = {
            "cold": m.cold_starts,
            "warm": m.warm_starts,
            "peak": m.peak_replicas,
            "stops": [(r.replica, r.reason) for r in recs if r.kind == "replica_stop" and r.reason != "shutdown"],
            "failures": sorted(Counter(r.reason for r in recs if r.kind == "task_failed").items()),
            "starvation": sum(r.kind == "starvation" for r in recs),
            "done": m.done,
        }
    return out
