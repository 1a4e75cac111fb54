"""The compiled twin of the simulator agrees with the Python loop: records, measures, plans.

The Python loop over the core's pools (``engine="python"``) is the definition; the twin
(``engine="compiled"``, numba: :mod:`reuse_ref.sim.compiled`) is kept only while these
hold: the same records, record for record, on random workloads, policies, cold starts and
both readings of rule 3 (hypothesis); the same measures and target percentile for every
run of a sweep, replications included; the same plan, every candidate's measures, verdict
and reason, the front and the recommendation, on the plan tests' workloads.
"""
from __future__ import annotations

import math
import os
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")

from reuse_ref import ReusePolicy, Resources, simulate  # noqa: E402
from reuse_ref.plan import plan  # noqa: E402
from reuse_ref.plan import sweep  # noqa: E402
from reuse_ref.plan.candidates import Target  # noqa: E402
from reuse_ref.sim import compiled  # noqa: E402
from reuse_ref.sim.cold_starts import ColdStart  # noqa: E402
from reuse_ref.sim.workloads import Job, burst, bursts, diurnal, fan_out, merge, poisson  # noqa: E402

SETTINGS = settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", 300)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
RES = Resources(cpu=2, memory="4Gi")
PRICES = {"cpu_hour": 0.05, "gib_hour": 0.006}
GRID = {"min": [0, 1, 2], "max": [1, 3, 16], "concurrency": [1, 4, 8], "scaledown_ttl": [30, 300],
        "idle_ttl": [60, 900, None]}


@st.composite
def policies(draw):
    lo = draw(st.integers(0, 4))
    hi = max(lo, 1) + draw(st.integers(0, 7))
    idle = draw(st.sampled_from([None, 30, 31, 45, 120, 600]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max 1, concurrency 1 warns of starvation
        return ReusePolicy(replicas=(lo, hi), concurrency=draw(st.integers(1, 6)), idle_ttl=idle,
                           scaledown_ttl=draw(st.sampled_from([30, 31, 45, 60, 300])))


@st.composite
def workloads(draw, max_jobs=60):
    """Independent jobs with many ties: arrivals on a coarse grid or anywhere, durations 0,
    short, around the TTLs or long, so that timers, arrivals and ends meet at one instant."""
    n = draw(st.integers(0, max_jobs))
    at = st.one_of(st.integers(0, 40).map(lambda k: 15.0 * k), st.floats(0, 900, allow_nan=False))
    dur = st.one_of(st.sampled_from([0.0, 1.0, 15.0, 30.0, 45.0, 120.0]), st.floats(0, 400, allow_nan=False))
    return [Job(k, draw(at), draw(dur)) for k in range(n)]


colds = st.one_of(st.sampled_from([0.0, 1.0, 10.0, 15.0, 60.0]),
                  st.integers(0, 50).map(lambda s: ColdStart.lognormal(10, 40, seed=s)),
                  st.integers(0, 50).map(lambda s: ColdStart.samples([0, 5, 15, 90], seed=s)))
readings = st.sampled_from(["paced", "per_replica"])


@SETTINGS
@given(policy=policies(), jobs=workloads(), cold=colds, scaledown=readings)
def test_the_twin_writes_the_reference_records(policy, jobs, cold, scaledown):
    want = simulate(policy, jobs, cold_start=cold, scaledown=scaledown, engine="python")
    got = simulate(policy, jobs, cold_start=cold, scaledown=scaledown, engine="compiled")
    assert got.rows() == want.rows()


@SETTINGS
@given(policy=policies(), jobs=workloads(), cold=colds, scaledown=readings, p=st.sampled_from([50, 95, 99]),
       window=st.one_of(st.none(), st.tuples(st.floats(0, 600), st.floats(1, 900))))
def test_a_run_of_a_sweep_sends_back_what_the_reference_does(policy, jobs, cold, scaledown, p, window):
    """Measures, spans, last end and the target's percentile (in a time window or not)."""
    since, until = (None, None) if window is None else (window[0], window[0] + window[1])
    outcomes = []
    for engine in ("python", "auto"):
        sweep._init(sweep.context_of(jobs, cold, RES, p, since, until, engine=engine))
        outcomes.append(sweep.run_one((policy, scaledown)))
    assert outcomes[1] == outcomes[0]


def day_with_burst():
    return merge(diurnal(0.01, duration=60, seed=3), burst(120, at=9 * 3600, duration=30))


@pytest.mark.parametrize("workload, target, cold, scaledown", [
    (lambda: poisson(0.2, 40, 3600, seed=2, jitter=0.5), "p95<=60", 20, "paced"),
    (lambda: bursts(20, 4, 1200, duration=50), "p50<=20", ColdStart.lognormal(10, 40, seed=3), "per_replica"),
    (day_with_burst, "p99<=200", 20, "per_replica"),
    (day_with_burst, Target(95, 100.0, 9 * 3600, 10 * 3600), ColdStart.samples([5, 20, 60], seed=1), "paced"),
])
def test_the_plan_is_the_same_on_both_engines(workload, target, cold, scaledown):
    """Every candidate's measures, value, cost, verdict and reason, the front, the
    recommendation and the other reading's answer."""
    jobs = workload()
    kw = dict(cold_start=cold, resources=RES, workers=1, scaledown=scaledown)
    reference = plan(jobs, GRID, target, PRICES, engine="python", **kw)
    fast = plan(jobs, GRID, target, PRICES, engine="compiled", **kw)
    assert fast == reference
    assert fast.recommended is not None and fast.front and fast.other_reading == reference.other_reading


def test_k_replications_each_go_through_the_twin_and_agree(monkeypatch):
    """The sweep's hook for odds: run ``(policy, reading, k)`` uses replication ``k`` (its
    workload and its seeded cold start), through the twin, with the reference's outcome."""
    calls = []
    run = compiled.run
    monkeypatch.setattr(compiled, "run", lambda *a: calls.append(a) or run(*a))
    days = (poisson(0.2, 40, 3600, seed=2, jitter=0.5), poisson(0.2, 40, 3600, seed=3, jitter=0.5))
    reps = tuple(sweep.Replication(k % 2, ColdStart.lognormal(10, 40, seed=k)) for k in range(4))
    context = sweep.SweepContext(days, reps, RES, 95, None, None)
    pols = [ReusePolicy(replicas=(0, 4), concurrency=2), ReusePolicy(replicas=(1, 8), concurrency=1)]
    runs = sweep.replicated([(p, "paced") for p in pols], 4)
    assert runs[:4] == [(pols[0], "paced", k) for k in range(4)]
    fast = sweep.run_all(runs, context, 1)
    assert len(calls) == len(runs), "every draw of every candidate went through the twin"
    assert fast == sweep.run_all(runs, sweep.SweepContext(*context[:-1], engine="python"), 1)
    assert len({o.measures for o in fast[:4]}) == 4, "each draw is its own"


def test_auto_takes_the_twin_where_it_covers_the_simulation_and_pays(monkeypatch):
    calls = []
    run = compiled.run
    monkeypatch.setattr(compiled, "run", lambda *a: calls.append(a) or run(*a))
    policy = ReusePolicy(replicas=(1, 3))
    simulate(policy, poisson(0.5, 20, 600, seed=1))
    assert calls == [], "a small workload: loading numba would cost more than it saves"
    monkeypatch.setattr(compiled, "AUTO_MIN_JOB_RUNS", 10)
    simulate(policy, poisson(0.5, 20, 600, seed=1))
    assert len(calls) == 1
    simulate(policy, fan_out(3, 20))  # parents and children: not the twin's
    simulate(policy, poisson(0.5, 20, 600, seed=1), cpu_bound=0.5)
    simulate(policy, poisson(0.5, 20, 600, seed=1), crashes=[(30, 1)])
    simulate(policy, [j._replace(timeout=60.0) for j in poisson(0.5, 20, 600, seed=1)])
    assert len(calls) == 1


def test_the_engine_is_checked(rejects):
    jobs = poisson(0.5, 20, 300, seed=1)
    policy = ReusePolicy(replicas=(1, 3))
    for bad in ("fast", None, 1):
        with rejects("engine", bad, "'auto'", "'python'", "'compiled'"):
            simulate(policy, jobs, engine=bad)
        with rejects("engine", bad, "'auto'", "'python'", "'compiled'"):
            plan(jobs, {"max": [1, 2]}, "p95<=30", {"replica_hour": 1.0}, workers=1, engine=bad)
    with rejects("engine", "compiled", "independent jobs"):
        simulate(policy, fan_out(3, 20), engine="compiled")
    with rejects("engine", "compiled", "scope 'global'"):
        plan(jobs, [policy, ReusePolicy(replicas=(1, 3), scope="run")], "p95<=30", {"replica_hour": 1.0},
             workers=1, engine="compiled")


def test_a_workload_whose_times_overflow_is_refused_as_by_the_reference():
    jobs = [Job(k, 0.0, 1e308) for k in range(3)]  # queued one after another: past the largest float
    policy = ReusePolicy(replicas=(1, 1), concurrency=2)
    messages = []
    for engine in ("python", "compiled"):
        with pytest.raises(ValueError) as info:
            simulate(policy, jobs, engine=engine)
        messages.append(str(info.value))
    assert messages[0] == messages[1] and "past the largest float" in messages[0]


def test_nearest_rank_is_the_reference_percentile():
    import numpy as np

    from reuse_ref.trace import percentile

    for values in ([], [0.0], [0.0, 0.0, 3.0], [5.0, 0.0, 1.0, 0.0, 9.0, 2.0], [0.0] * 99 + [7.0], list(range(1, 201))):
        got = compiled.nearest_rank(np.array(values, dtype=float), (50, 95, 99))
        assert got == [percentile([float(v) for v in values], p) for p in (50, 95, 99)]
        assert all(isinstance(v, float) and not math.isnan(v) for v in got)


def test_importing_the_package_loads_neither_numpy_nor_numba():
    """A replica's process imports reuse_ref: the twin's libraries would add to its memory
    (a replica's limit counts it) and to every start; they load when a simulation uses them."""
    import subprocess
    import sys

    code = ("import sys, reuse_ref, reuse_ref.plan, reuse_ref.sim.compiled; "
            "print(sorted(m for m in ('numpy', 'numba') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
