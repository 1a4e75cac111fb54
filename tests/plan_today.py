"""The workloads and plans whose answers, as the planner gave them before plans with odds
(issue 22, items 3 to 5), are stored in ``tests/plan_today.json``: a plan with
``replications=1`` must give them back key for key (``tests/test_plan_odds.py``).

``python tests/plan_today.py`` rewrites the file; run it only from a commit whose
planner is the one to keep as the reference."""
from __future__ import annotations

import json
import os
import sys
import warnings

from reuse_ref import Resources
from reuse_ref.plan import plan
from reuse_ref.sim.cold_starts import ColdStart
from reuse_ref.sim.workloads import burst, bursts, diurnal, fan_out, merge, poisson

PATH = os.path.join(os.path.dirname(__file__), "plan_today.json")
GRID = {"min": [0, 1], "max": [1, 2, 4], "concurrency": [1, 4], "scaledown_ttl": [30, 300], "idle_ttl": [60, None]}


def cases():
    """``{name: (args, kwargs)}`` of :func:`reuse_ref.plan.plan`: small, each well under a second."""
    res = Resources(cpu=2, memory="4Gi")
    return {
        "poisson-p95": ((poisson(0.05, 40, 2000, seed=2), GRID, "p95<=30", {"replica_hour": 1.0}),
                        {"cold_start": 10.0}),
        "bursts-lognormal-cpu": ((bursts(12, 3, 900, duration=30), GRID, "p50<=5", {"cpu_hour": 0.05,
                                                                                   "gib_hour": 0.006}),
                                 {"cold_start": ColdStart.lognormal(8, 40, seed=3), "resources": res}),
        "day-window": ((merge(diurnal(0.004, horizon=6 * 3600, duration=60, seed=3),
                              burst(40, at=3 * 3600, duration=30)), GRID, ("p99<=100", (3 * 3600, 4 * 3600)),
                        {"replica_hour": 0.3}), {"cold_start": ColdStart.samples([5, 9, 30], seed=1)}),
        "fan-out-per-replica": ((fan_out(9, 20.0), {"min": [0, 1], "max": [1, 3, 5], "concurrency": [1, 2, 8],
                                                    "scaledown_ttl": [30, 120]}, "p95<=1000",
                                 {"replica_hour": 2.0}), {"cold_start": 5.0, "scaledown": "per_replica"}),
        "starving": ((burst(6, duration=20), {"max": [1, 2, 6], "min": [0]}, "p95<=0", {"replica_hour": 1.0}),
                     {"cold_start": 3.0, "horizon": 5000.0}),
    }


def today() -> dict:
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (args, kwargs) in cases().items():
            out[name] = plan(*args, workers=1, progress=False, **kwargs).to_dict()
    return out


if __name__ == "__main__":
    with open(PATH, "w", encoding="utf-8") as f:
        json.dump(today(), f, indent=1, sort_keys=True, allow_nan=False)
        f.write("\n")
    print(f"wrote {PATH}", file=sys.stderr)
