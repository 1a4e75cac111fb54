"""reuse_ref.plan with several environments, targets on runs' times and odds over K draws.

The reference for each case is a plain loop over ``reuse_ref.simulate``: every candidate
pair, on every draw (made by :mod:`reuse_ref.plan.draws`, the definition of the draws),
charged over that draw's common window environment by environment, with each run's time
read from the records here. One draw must be the plan without odds, exactly: the plans in
``tests/plan_today.json`` were made by the planner before odds existed.
"""
from __future__ import annotations

import itertools
import json
import math
import random
import sys
import warnings
from pathlib import Path

import pytest

from reuse_ref import Job, ReusePolicy, Resources, simulate
from reuse_ref.plan import plan
from reuse_ref.plan.draws import bootstrap_hours, cold_start_draw, draw_seed, workload_draws
from reuse_ref.sim.arrivals import RunArrivals
from reuse_ref.sim.cold_starts import ColdStart
from reuse_ref.trace import percentile
from reuse_ref.trace.run_times import roots_of, run_times
from reuse_ref.trace.window import common_horizon

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_today import PATH as TODAY, cases as today_cases  # noqa: E402

TREE = [Job("main", 0.0, 10.0, "index", env="driver")] + [
    Job(f"e{b}", 0.0, 90.0, "embed", parent="main", env="worker") for b in range(4)]
DRIVERS = [ReusePolicy(replicas=(0, 1), concurrency=4, idle_ttl=300), ReusePolicy(replicas=1, concurrency=2,
                                                                                     idle_ttl=300)]
WORKERS = [ReusePolicy(replicas=(0, 2), concurrency=2, idle_ttl=120), ReusePolicy(replicas=(0, 4), concurrency=2,
                                                                                     idle_ttl=300),
           ReusePolicy(replicas=(1, 8), concurrency=2, idle_ttl=120)]
RES = {"driver": Resources(cpu=1, memory="1Gi"), "worker": Resources(cpu=2, memory="4Gi")}
PRICES = {"driver": {"replica_hour": 0.5}, "worker": {"cpu_hour": 0.05, "gib_hour": 0.01}}
COLD = {"driver": 5.0, "worker": ColdStart.lognormal(10, 40, seed=2)}


def subset(old, new, path=""):
    """Every key of ``old`` is in ``new`` with the same value (``new`` may add keys)."""
    if isinstance(old, dict):
        assert isinstance(new, dict), path
        for k in old:
            assert k in new, f"{path}/{k} missing"
            subset(old[k], new[k], f"{path}/{k}")
    elif isinstance(old, list):
        assert isinstance(new, list) and len(old) == len(new), path
        for i, (a, b) in enumerate(zip(old, new)):
            subset(a, b, f"{path}[{i}]")
    else:
        assert old == new, (path, old, new)


@pytest.mark.parametrize("name", sorted(today_cases()))
def test_one_draw_is_the_plan_without_odds(name):
    args, kwargs = today_cases()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = plan(*args, workers=1, progress=False, replications=1, **kwargs)
    got = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    subset(json.loads(Path(TODAY).read_text())[name], got)
    assert got["replications"] == 1 and got["envs"] == [] and result.candidates[0].odds is None


def brute_force(workload, pairs, bound, p, kind, k_draws, seed, confidence):
    """Each pair's values and costs on every draw, its odds, and the recommendation, by simulate."""
    days = workload_draws(workload, k_draws, seed)
    colds = [cold_start_draw(COLD, k, seed) for k in range(k_draws)]
    traces = [[simulate(pair, day, cold_start=cold, resources=RES) for pair in pairs] for day, cold in zip(days, colds)]
    values = [[0.0] * k_draws for _ in pairs]
    costs = [[0.0] * k_draws for _ in pairs]
    starved = [[0] * k_draws for _ in pairs]
    for k, (day, draw) in enumerate(zip(days, traces)):
        horizon = common_horizon(draw)
        roots = {job.id for job in day if job.parent is None}
        for i, trace in enumerate(draw):
            if kind == "run":
                queued, ended = {}, {}
                for r in trace.records:
                    if r.task in roots and r.kind == "task_queued":
                        queued.setdefault(r.task, r.time)
                    elif r.task in roots and r.kind in ("task_end", "task_failed"):
                        ended[r.task] = r.time
                values[i][k] = percentile([ended[t] - queued[t] for t in queued], p)
            else:
                values[i][k] = getattr(trace.measures(horizon=horizon), f"wait_p{p}")
            for env in ("driver", "worker"):
                m = trace.measures(env, horizon=horizon)
                price = PRICES[env]
                costs[i][k] += (price.get("replica_hour", 0) * m.replica_seconds + price.get("cpu_hour", 0) *
                                m.cpu_seconds + price.get("gib_hour", 0) * m.gib_seconds) / 3600
            starved[i][k] = trace.measures().starved
    meets = [sum(1 for v, s in zip(values[i], starved[i]) if s == 0 and v <= bound) / k_draws
             for i in range(len(pairs))]
    ok = [i for i in range(len(pairs)) if meets[i] >= confidence and not any(starved[i])]
    best = min(ok, key=lambda i: (percentile(costs[i], 50), percentile(values[i], 50))) if ok else None
    return values, costs, meets, best


@pytest.mark.parametrize("workload,target,kind", [
    (RunArrivals(TREE, rate=30, hours=1, seed=1), "run-p95<=300", "run"),
    (RunArrivals(TREE, rate=30, hours=2, seed=4).draw(), "p95<=60", "wait"),  # a recorded day: its hours drawn again
])
def test_two_environments_with_odds_are_a_loop_over_simulate(workload, target, kind):
    k_draws, seed, confidence = 4, 7, 0.75
    result = plan(workload, {"driver": DRIVERS, "worker": WORKERS}, target, PRICES, cold_start=COLD, resources=RES,
                  replications=k_draws, confidence=confidence, seed=seed, workers=1, progress=False)
    pairs = [dict(driver=d, worker=w) for d, w in itertools.product(DRIVERS, WORKERS)]
    assert [c.policy for c in result.candidates] == pairs and result.envs == ("driver", "worker")
    bound, p = result.target.seconds, result.target.percentile
    values, costs, meets, best = brute_force(workload, pairs, bound, p, kind, k_draws, seed, confidence)
    for i, c in enumerate(result.candidates):
        assert list(c.odds.values) == values[i], c.policy
        assert list(c.odds.costs) == pytest.approx(costs[i], rel=1e-12), c.policy
        assert c.p_meets == meets[i]
        assert (c.odds.cost_p5, c.cost, c.odds.cost_p95) == pytest.approx(
            (percentile(costs[i], 5), percentile(costs[i], 50), percentile(costs[i], 95)), rel=1e-12)
        assert c.value == percentile(values[i], 50)
    assert len({tuple(c.odds.values) for c in result.candidates}) > 1, "the candidates differ"
    assert any(len(set(c.odds.values)) > 1 for c in result.candidates), "the draws differ"
    assert (None if result.recommended is None else result.candidates.index(result.recommended)) == best
    assert best is not None and result.recommended.verdict == "recommended"
    for c in result.candidates:
        if c.verdict == "rejected" and c.category == "misses the target":
            assert c.p_meets < confidence and f"of {k_draws} draws" in c.reason


def test_the_draws_of_a_recorded_day_keep_its_runs_whole():
    day = RunArrivals(TREE, rate=20, hours=3, seed=2).draw()
    again = bootstrap_hours(day, random.Random(draw_seed("hours", 0, 1)))
    roots = roots_of(again)
    assert len(again) == len(roots) * len(TREE) and len({j.id for j in again}) == len(again)
    assert all(math.floor(j.at / 3600) < 3 for j in again if j.parent is None)
    assert workload_draws(day, 1, 0) == [day]


def test_serial_and_processes_give_the_same_plan_with_odds():
    args = (RunArrivals(TREE, rate=20, hours=1, seed=3), {"driver": DRIVERS[:1], "worker": WORKERS},
            "run-p50<=200", PRICES)
    kwargs = dict(cold_start=COLD, resources=RES, replications=3, seed=1, progress=False)
    assert plan(*args, workers=1, **kwargs).to_dict() == plan(*args, workers=2, **kwargs).to_dict()


def test_one_environment_with_odds_runs_every_draw_and_reads_them():
    from reuse_ref.sim.workloads import poisson

    jobs = poisson(0.05, 40, 3 * 3600, seed=2)
    cands = {"max": [1, 2, 4], "concurrency": [1, 2]}
    one = plan(jobs, cands, "p95<=30", {"replica_hour": 1}, cold_start=ColdStart.lognormal(8, 60, seed=1),
               workers=1, progress=False)
    many = plan(jobs, cands, "p95<=30", {"replica_hour": 1}, cold_start=ColdStart.lognormal(8, 60, seed=1),
                workers=1, progress=False, replications=5, confidence=0.6)
    for a, b in zip(one.candidates, many.candidates):
        assert b.odds.values[0] == a.value and b.odds.costs[0] == a.cost  # draw 0 is the plan of one draw
        assert b.measures == a.measures
    assert many.to_dict()["candidates"][0]["p_meets"] == many.candidates[0].p_meets
    assert "draws" in many.summary()


def test_a_run_target_reads_each_runs_time():
    day = RunArrivals(TREE, burst=3).draw()
    trace = simulate({"driver": DRIVERS[0], "worker": WORKERS[0]}, day, cold_start=5.0)
    times = run_times(trace.rows(), roots_of(day))
    # the driver's cold start (5 s), then the workers' (5 s) and a batch (90 s); the workers' four
    # slots take one run's four batches at a time, so each next run waits 90 s more
    assert times == [100.0, 190.0, 280.0]
    result = plan(day, {"driver": [DRIVERS[0]], "worker": [WORKERS[0]]}, "run-p99<=10000", {"replica_hour": 1},
                  cold_start=5.0, workers=1, progress=False)
    assert result.candidates[0].value == times[-1] and result.target.kind == "run"
    assert str(result.target) == "run-p99 <= 10000 s"


def test_simulate_takes_a_cold_start_per_environment():
    day = RunArrivals(TREE, burst=1).draw()
    trace = simulate({"driver": DRIVERS[0], "worker": WORKERS[1]}, day, cold_start={"driver": 3.0, "worker": 40.0})
    assert sorted(set(trace.cold_start_seconds("driver"))) == [3.0]
    assert sorted(set(trace.cold_start_seconds("worker"))) == [40.0]
    same = simulate({"driver": DRIVERS[0], "worker": WORKERS[1]}, day, cold_start=7.0)
    assert same.records == simulate({"driver": DRIVERS[0], "worker": WORKERS[1]}, day,
                                    cold_start={"driver": 7.0, "worker": 7.0}).records
    with pytest.raises(ValueError, match=r"cold_start=.*'worker' has none"):
        simulate({"driver": DRIVERS[0], "worker": WORKERS[1]}, day, cold_start={"driver": 3.0})
    with pytest.raises(ValueError, match=r"cold_start=.*not 'gpu'"):
        simulate({"driver": DRIVERS[0], "worker": WORKERS[1]}, day, cold_start={"driver": 3, "worker": 4, "gpu": 5})
    with pytest.raises(ValueError, match=r"cold_start\['worker'\]=-1 is not valid"):
        simulate({"driver": DRIVERS[0], "worker": WORKERS[1]}, day, cold_start={"driver": 3, "worker": -1})


TWO = {"driver": DRIVERS, "worker": WORKERS}


@pytest.mark.parametrize("kwargs,match", [
    (dict(replications=0), r"replications=0 is not valid: an int >= 1; 1 is the single-draw plan"),
    (dict(replications=2.0), r"replications=2.0 is not valid"),
    (dict(confidence=0), r"confidence=0 is not valid: a number in \(0, 1\]: the share of draws"),
    (dict(confidence=1.5), r"confidence=1.5 is not valid"),
    (dict(confidence=float("nan")), r"confidence=nan is not valid"),
    (dict(confidence=True), r"confidence=True is not valid"),
    (dict(seed="x"), r"seed='x' is not valid"),
    (dict(target="run-p97<=60"), r"target='run-p97<=60' is not valid: p50, p95 or p99 of queue wait, or run-p50"),
    (dict(candidates={"driver": DRIVERS, "worker": WORKERS, "gpu": WORKERS}),
     r"candidates='gpu' is not valid: an environment the workload names \('driver', 'worker'\)"),
    (dict(candidates={"driver": DRIVERS}), r"'worker' has none"),
    (dict(candidates={"max": [1, 2]}), r"workload=.* is not valid: jobs of one environment, or candidates per env"),
    (dict(candidates={"driver": {"max": [0]}, "worker": WORKERS}), r"candidates\['driver'\]: candidates="),
    (dict(prices={"cpu_hour": 1.0}, resources={"worker": Resources(cpu=2)}),
     r"environment 'driver': prices\['cpu_hour'\]=1.0 is not valid: a price per cpu hour needs resources"),
    (dict(prices={"driver": {"replica_hour": 1}}), r"prices=.* 'worker' has none"),
    (dict(cold_start={"driver": 1.0}), r"cold_start=.*'worker' has none"),
    (dict(engine="compiled"), r"engine='compiled' is not valid for this simulation"),
])
def test_bad_input_is_refused_before_anything_runs(kwargs, match):
    args = dict(workload=RunArrivals(TREE, burst=2), candidates=TWO, target="run-p95<=600",
                prices={"replica_hour": 1.0}, workers=1, progress=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        plan(**args)


def test_run_arrivals_refuse_a_tree_with_a_missing_parent():
    with pytest.raises(ValueError, match=r"calls\[1\]: parent='nope' is not valid"):
        RunArrivals([TREE[0], Job("x", 0.0, 1.0, "x", parent="nope", env="worker")], rate=3)
