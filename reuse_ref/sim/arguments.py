"""What ``simulate`` is given, checked, and turned into what its event loop needs.

Bad input is refused here, before anything runs, with a ``ValueError`` naming the
parameter (or the workload's item), the value and what is allowed: the environments and
their policies, the pool each job runs in, and the crashes.
"""
from __future__ import annotations

from typing import Any, Dict, Hashable, Iterable, List, Mapping, Optional, Tuple

from ..config.policy import ReusePolicy
from ..config.resources import as_resources
from ..config.validation import is_int, number
from .workloads import CheckedWorkload, Job

_ID = Job._fields.index("id")

__all__ = ["environments", "named_after", "pool_names", "crash_events", "DEFAULT_NAME"]

DEFAULT_NAME = "env"
"""The name of a single policy's environment when neither ``name`` nor the jobs give one."""


def environments(policy: Any, resources: Any, name: Optional[str]) -> Dict[str, tuple]:
    """``{environment name: (policy or None, resources)}``, in the order given, from ``simulate``'s
    arguments (``None``: an environment without reuse; a single policy without ``name`` is
    called ``"env"`` until :func:`named_after` names it after the jobs)."""
    if isinstance(policy, ReusePolicy):
        name = DEFAULT_NAME if name is None else name
        if not isinstance(name, str) or not name:
            raise ValueError(f"name={name!r} is not valid: the environment's name, a non-empty str")
        return {name: (policy, as_resources(resources))}
    if not isinstance(policy, Mapping) or not policy:
        raise ValueError(f"policy={policy!r} is not valid: a reuse_ref.ReusePolicy, or a non-empty mapping "
                         f"of environment name to ReusePolicy")
    if resources is not None and not (isinstance(resources, Mapping) and set(resources) <= set(policy)):
        raise ValueError(f"resources={resources!r} is not valid: with several environments, a mapping of "
                         f"environment name (one of {', '.join(map(repr, policy))}) to Resources")
    out = {}
    for env_name, env_policy in policy.items():
        if not isinstance(env_name, str) or not env_name:
            raise ValueError(f"policy={policy!r} is not valid: environment names are non-empty str, not {env_name!r}")
        if env_policy is None or env_policy == "off":  # tasks without reuse: a fresh replica each
            env_policy = None
        elif not isinstance(env_policy, ReusePolicy):
            raise ValueError(f"policy[{env_name!r}]={env_policy!r} is not valid: a reuse_ref.ReusePolicy, "
                             f"or None (or 'off') for an environment without reuse")
        out[env_name] = (env_policy, as_resources((resources or {}).get(env_name)))
    return out


def named_after(envs: Dict[str, tuple], workload: CheckedWorkload) -> Dict[str, tuple]:
    """A single policy given without a name takes the name of the one environment every job
    that names one names (a recorded run of one environment): its trace reads as the
    program does. Several environments, or none named, leave ``envs`` as they are."""
    named = workload.envs - {None}
    if len(envs) == 1 and DEFAULT_NAME in envs and len(named) == 1:
        return {next(iter(named)): envs[DEFAULT_NAME]}
    return envs


def pool_names(workload: CheckedWorkload, envs: Dict[str, tuple],
               every_job: bool = False) -> Optional[Dict[Hashable, str]]:
    """Each job's environment (``None`` when there is one and no job names another, unless
    ``every_job``: a run-scoped environment, whose jobs the simulation routes to their run's pool).

    A child without ``env`` runs where its parent runs. A ``sync`` job (a plain ``def``)
    needs an environment with ``concurrency == 1``: only async tasks share a replica."""
    jobs = workload.jobs
    names = list(envs)
    if len(names) == 1 and workload.envs <= {None, names[0]}:
        if workload.has_sync:
            _check_sync(jobs, lambda job: names[0], envs)
        return dict.fromkeys((job[_ID] for job in jobs), names[0]) if every_job else None
    out: Dict[Hashable, str] = {}
    by_id = workload.by_id
    for k, job in enumerate(jobs):
        env, j = job.env, job
        while env is None and j.parent is not None:  # a child runs where its parent runs
            j = by_id[j.parent]
            env = j.env
        if env is None:
            if len(names) > 1:
                raise ValueError(f"workload[{k}]: env=None is not valid: with several environments every "
                                 f"top-level job names one of {', '.join(map(repr, names))}")
            env = names[0]
        if env not in envs:
            raise ValueError(f"workload[{k}]: env={env!r} is not valid: one of {', '.join(map(repr, names))}")
        out[job.id] = env
    if workload.has_sync:
        _check_sync(jobs, lambda job: out[job.id], envs)
    return out


def _check_sync(jobs: List[Job], env_of: Any, envs: Dict[str, tuple]) -> None:
    parents = {job.parent for job in jobs if job.parent is not None}
    for k, job in enumerate(jobs):
        if job.sync and job.id in parents:
            raise ValueError(f"workload[{k}]: sync=True is not valid for a job with children: a sync task blocks on "
                             f"each call it makes, one at a time, which the model of a parent (calls at their "
                             f"offsets, then one await of them all) does not describe; make it async (sync=False)")
        if job.sync:
            policy = envs[env_of(job)][0]
            if policy is not None and policy.concurrency > 1:
                raise ValueError(f"workload[{k}]: sync=True is not valid in environment {env_of(job)!r}, whose "
                                 f"concurrency is {policy.concurrency}: a replica runs more than one task at a time "
                                 f"only for async tasks (sync=False), as the SDK requires")


def crash_events(crashes: Iterable, envs: Dict[str, tuple]) -> List[Tuple[float, int, str, str]]:
    """``(time, replica, reason, environment)`` of each crash given."""
    try:
        items = iter(crashes)
    except TypeError:  # not iterable
        raise ValueError(f"crashes={crashes!r} is not valid: a list of (time, replica), (time, replica, reason) "
                         f"or (time, replica, reason, env) items") from None
    crashes = list(items)
    out = []
    names = list(envs)
    for c in crashes:
        if not isinstance(c, (tuple, list)) or len(c) not in (2, 3, 4):
            raise ValueError(f"crashes item {c!r} is not valid: (time, replica), (time, replica, reason) "
                             f"or (time, replica, reason, env)")
        t = number("crash time", c[0], minimum=0, allowed="a finite number of seconds >= 0")
        rid = c[1]
        if not is_int(rid):
            raise ValueError(f"crashes item {c!r} is not valid: the replica must be an int id")
        reason = c[2] if len(c) >= 3 else "crashed"
        if reason not in ("crashed", "oom"):
            raise ValueError(f"crashes item {c!r} is not valid: the reason is 'crashed' or 'oom'")
        env = c[3] if len(c) == 4 else names[0]
        if not isinstance(env, str) or env.partition("#")[0] not in envs:
            raise ValueError(f"crashes item {c!r} is not valid: the environment is one of {', '.join(map(repr, names))}"
                             f" (or the name of a run's pool of one, such as {names[0] + '#2'!r})")
        out.append((t, rid, reason, env))
    return out
