"""The draws of a plan with odds: the same K workloads and cold starts for every candidate.

A plan is made for next week's traffic, not for the one day in the file, and a cold start
is a distribution, not a number. So a plan with ``replications=K`` simulates each
candidate K times, on K draws of its random inputs, and every candidate sees the same K
draws (a paired comparison: two candidates differ by their policies, not by their luck).

* Draw ``0`` is the inputs as given: the workload (a :class:`~reuse_ref.sim.arrivals.RunArrivals`
  drawn with its own seed) and the cold starts with their own seeds. So ``K = 1`` is the
  plan of one draw, exactly the plan without odds.
* Draw ``k >= 1``: each :class:`~reuse_ref.sim.cold_starts.ColdStart` is seeded by
  ``(seed, environment, its seed, k)`` (a fixed number of seconds stays as it is); the
  arrivals are drawn again, ``RunArrivals.draw`` seeded by ``(seed, k)``, or, for a
  recorded day (a list of jobs), a bootstrap of its hours (:func:`bootstrap_hours`)
  seeded by ``(seed, k)``.

Every seed is an int made from its parts by SHA-256 (:func:`draw_seed`), the same on every
machine and Python, so the brute-force loop of the tests, written over ``simulate``,
reproduces every draw.
"""
from __future__ import annotations

import hashlib
import math
import random
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..sim.arrivals import HOUR, RunArrivals
from ..sim.cold_starts import ColdStart
from ..sim.workloads import Job

__all__ = ["draw_seed", "bootstrap_hours", "workload_draws", "cold_start_draw", "random_inputs"]


def draw_seed(*parts: Any) -> int:
    """An int seed made from ``parts`` (their ``repr``), by SHA-256: the same everywhere."""
    digest = hashlib.sha256(repr(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _root_of(jobs: Sequence[Job]) -> Dict[Any, Any]:
    """Each job's run: the id of its top-level ancestor."""
    by_id = {job.id: job for job in jobs}
    out: Dict[Any, Any] = {}
    for job in jobs:
        j, chain = job, []
        while j.parent is not None and j.id not in out:
            chain.append(j.id)
            j = by_id[j.parent]
        root = out.get(j.id, j.id)
        out[j.id] = root
        for jid in chain:
            out[jid] = root
    return out


def bootstrap_hours(jobs: Sequence[Job], rng: random.Random) -> List[Job]:
    """Another day like ``jobs``: each hour slot of the day (from hour 0 to the hour of its last
    run's start) takes the whole runs of an hour drawn at random, with replacement, shifted
    into the slot. A run belongs to the hour its root (top-level job) arrives in; its
    children keep their ``at``, which counts from their parent's start. Every copy's ids are
    prefixed with its slot (``h3/``), so that an hour drawn twice never collides."""
    jobs = list(jobs)
    if not jobs:
        return []
    root = _root_of(jobs)
    by_id = {job.id: job for job in jobs}
    hours = int(max(math.floor(by_id[r].at / HOUR) for r in set(root.values()))) + 1
    runs_of: List[List[Job]] = [[] for _ in range(hours)]
    for job in jobs:  # in the workload's order, kept in each copy
        runs_of[int(math.floor(by_id[root[job.id]].at / HOUR))].append(job)
    out: List[Job] = []
    for slot in range(hours):
        source = rng.randrange(hours)
        shift = (slot - source) * HOUR
        prefix = f"h{slot}/"
        for job in runs_of[source]:
            if job.parent is None:
                out.append(job._replace(id=prefix + str(job.id), at=job.at + shift))
            else:
                out.append(job._replace(id=prefix + str(job.id), parent=prefix + str(job.parent)))
    return out


def workload_draws(workload: Any, replications: int, seed: int) -> List[List[Job]]:
    """The K workloads: draw 0 as given, then a fresh draw of the arrivals for each ``k >= 1``."""
    if isinstance(workload, RunArrivals):
        first = workload.draw()
        return [first] + [workload.draw(draw_seed("arrivals", seed, k)) for k in range(1, replications)]
    jobs = list(workload)
    return [jobs] + [bootstrap_hours(jobs, random.Random(draw_seed("hours", seed, k)))
                     for k in range(1, replications)]


def cold_start_draw(cold_start: Any, k: int, seed: int, env: Optional[str] = None) -> Any:
    """The cold start of draw ``k``: as given for ``k = 0``, or a fixed number; else the
    distribution seeded by ``(seed, env, its seed, k)``. A mapping is drawn per environment."""
    if isinstance(cold_start, Mapping):
        return {e: cold_start_draw(c, k, seed, e) for e, c in cold_start.items()}
    if k == 0 or not isinstance(cold_start, ColdStart):
        return cold_start
    return cold_start._replace(seed=draw_seed("cold", seed, env, cold_start.seed, k))


def random_inputs(workload: Any, cold_start: Any) -> bool:
    """Whether a plan's draws can differ: a cold-start distribution, arrivals drawn at random
    (a rate or a profile) or a recorded day (whose hours a bootstrap draws again)."""
    colds: Sequence[Any] = list(cold_start.values()) if isinstance(cold_start, Mapping) else [cold_start]
    if any(isinstance(c, ColdStart) for c in colds):
        return True
    return workload.random if isinstance(workload, RunArrivals) else True

