"""reuse_ref.plan: the recommendation is the one a plain loop over simulate finds, over one window."""
from __future__ import annotations

import io
import itertools
import math
import warnings

import pytest

from reuse_ref import ReusePolicy, Resources, simulate
from reuse_ref.plan.candidates import Target, candidate_policies, parse_target, parse_values
from reuse_ref.plan import plan
from reuse_ref.trace import percentile
from reuse_ref.trace.window import common_horizon, compare, waits
from reuse_ref.sim.workloads import burst, bursts, diurnal, fan_out, merge, poisson

RES = Resources(cpu=2, memory="4Gi")
PRICES = {"cpu_hour": 0.05, "gib_hour": 0.006}
GRID = {"min": [0, 1, 2], "max": [1, 3, 16], "concurrency": [1, 4, 8], "scaledown_ttl": [30, 300],
        "idle_ttl": [60, 900, None]}


def policies_of(grid):
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for mn, mx, c, sd, idle in itertools.product(*(grid[k] for k in ("min", "max", "concurrency",
                                                                          "scaledown_ttl", "idle_ttl"))):
            if mn <= mx:
                out.append(ReusePolicy(replicas=(mn, mx), concurrency=c, scaledown_ttl=sd, idle_ttl=idle))
    return out


def brute_force(jobs, policies, p, bound, prices, resources, cold_start, window=None):
    """The recommendation written as a plain loop over simulate and the common window."""
    traces = {repr(pol): simulate(pol, jobs, cold_start=cold_start, resources=resources) for pol in policies}
    horizon = common_horizon(traces)
    measures = compare(traces, horizon)
    best = None
    for pol in policies:
        m = measures[repr(pol)]
        if window is None:
            value = getattr(m, f"wait_p{p}")
        else:
            value = percentile(waits(traces[repr(pol)], since=window[0], until=window[1]), p)
        cost = sum(prices.get(k, 0.0) * getattr(m, f) for k, f in (("cpu_hour", "cpu_seconds"),
                   ("gib_hour", "gib_seconds"), ("gpu_hour", "gpu_seconds"), ("replica_hour", "replica_seconds"))) / 3600
        if m.starved == 0 and value <= bound:
            # ties: the smaller policy, knob by knob (max, min, concurrency, the TTLs; None last)
            idle = math.inf if pol.idle_ttl is None else pol.idle_ttl.total_seconds()
            key = (cost, value, m.replica_seconds, pol.max_replicas, pol.min_replicas, pol.concurrency,
                   pol.scaledown_ttl.total_seconds(), idle, repr(pol))
            best = key if best is None or key < best else best
    return best, horizon, measures


def day_with_burst():
    return merge(diurnal(0.01, duration=60, seed=3), burst(120, at=9 * 3600, duration=30))


WORKLOADS = {
    "poisson": lambda: poisson(0.2, 40, 3600, seed=2, jitter=0.5),
    "bursts": lambda: bursts(20, 4, 1200, duration=50),
    "day with a burst": day_with_burst,
}


@pytest.mark.parametrize("name", list(WORKLOADS))
@pytest.mark.parametrize("target", ["p50<=20", "p95<=60", "p99<=200"])
def test_recommendation_is_the_brute_force_one(name, target):
    jobs = WORKLOADS[name]()
    t = parse_target(target)
    result = plan(jobs, GRID, target, PRICES, cold_start=20, resources=RES, workers=1)
    best, horizon, measures = brute_force(jobs, policies_of(GRID), t.percentile, t.seconds, PRICES, RES, 20)
    assert result.horizon == horizon
    assert best is not None, "the grid must hold a candidate that meets the target"
    assert repr(result.recommended.policy) == best[-1]
    assert result.recommended.cost == best[0]
    # every row is charged exactly as compare() charges it over the common window
    for c in result.candidates:
        assert c.measures == measures[repr(c.policy)]


def test_a_target_in_a_time_window_is_the_brute_force_one():
    jobs = day_with_burst()
    window = (9 * 3600, 10 * 3600)
    result = plan(jobs, GRID, Target(95, 100.0, *window), PRICES, cold_start=20, resources=RES, workers=1)
    best, _, _ = brute_force(jobs, policies_of(GRID), 95, 100.0, PRICES, RES, 20, window=window)
    assert repr(result.recommended.policy) == best[-1]
    whole = plan(jobs, GRID, "p95<=100", PRICES, cold_start=20, resources=RES, workers=1)
    # the burst is the hard part: the whole day's p95 is easier to meet than the burst's
    assert result.recommended.cost >= whole.recommended.cost
    assert result.recommended.value <= 100.0
    # the tuple form means the same target
    same = plan(jobs, GRID, ("p95<=100", window), PRICES, cold_start=20, resources=RES, workers=1)
    assert same == result


def test_an_always_on_pool_is_charged_to_the_window_end():
    jobs = burst(10, at=100, duration=30)
    on = ReusePolicy(replicas=1, concurrency=2, idle_ttl=None)
    off = ReusePolicy(replicas=1, concurrency=2, idle_ttl=3600)
    result = plan(jobs, [on, off], "p99<=1000", {"replica_hour": 1.0}, cold_start=10, workers=1)
    by = {c.policy: c for c in result.candidates}
    last_end = 100 + 10 + 5 * 30
    assert result.horizon == last_end + 3600
    # the always-on replica started at 100 and lives to the window's end; the other stops at the same time
    assert by[on].measures.replica_seconds == result.horizon - 100
    assert by[on].cost == by[off].cost == pytest.approx((result.horizon - 100) / 3600)
    # with a longer window the always-on pool costs more, the other does not
    longer = plan(jobs, [on, off], "p99<=1000", {"replica_hour": 1.0}, cold_start=10, workers=1,
                  horizon=result.horizon + 3600)
    by2 = {c.policy: c for c in longer.candidates}
    assert by2[on].cost == pytest.approx(by[on].cost + 1.0)
    assert by2[off].cost == by[off].cost
    assert longer.recommended.policy == off


def test_invalid_combinations_are_skipped_and_counted():
    policies, skipped = candidate_policies({"min": [0, 3], "max": [1, 2], "scaledown_ttl": [10, 30],
                                            "idle_ttl": [20, None], "concurrency": [0, 1]})
    assert skipped == {"min > max": 16, "concurrency < 1": 8, "scaledown_ttl < 30 s": 4, "idle_ttl < 30 s": 2}
    assert len(policies) == 2 and all(p.min_replicas == 0 for p in policies)
    _, dup = candidate_policies([ReusePolicy(), ReusePolicy(), ReusePolicy(replicas=3)])
    assert dup == {"duplicate": 1}
    result = plan(poisson(0.05, 10, 600), {"min": [0, 3], "max": [1, 2]}, "p95<=100", {"replica_hour": 1},
                  workers=1)
    assert result.skipped == {"min > max": 2} and len(result.candidates) == 2


def test_reasons_starves_misses_dominated_and_the_front():
    jobs = merge(fan_out(3, 20, 5), poisson(0.05, 20, 600, seed=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the first one can starve, and says so
        cands = [ReusePolicy(replicas=1, concurrency=1), ReusePolicy(replicas=(0, 1), concurrency=2),
                 ReusePolicy(replicas=(0, 4), concurrency=2), ReusePolicy(replicas=4, concurrency=2, idle_ttl=None),
                 ReusePolicy(replicas=(0, 4), concurrency=2, scaledown_ttl=600)]
    result = plan(jobs, cands, "p95<=15", {"replica_hour": 1.0}, cold_start=10, workers=1)
    by = {c.policy: c for c in result.candidates}
    assert by[cands[0]].category == "starves" and "starvation" in by[cands[0]].reason
    assert all(c.measures.starved == 0 for c in result.front)
    assert result.recommended.policy == cands[2] and result.recommended.value <= 15
    for c in result.candidates:
        if c.category == "misses the target":
            assert c.value > 15 and f"by {c.value - 15:g} s" in c.reason
        if c.category == "dominated":
            other = next(d for d in result.candidates if repr(d.policy) in c.reason)
            assert other.cost <= c.cost and other.value <= c.value
            assert c not in result.front
    # the front: no member beats another on both cost and wait; cheapest first
    for a, b in itertools.combinations(result.front, 2):
        assert (a.cost <= b.cost and a.value > b.value) or (a.cost, a.value) == (b.cost, b.value)
    assert set(result.rejected) == {"starves", "misses the target", "dominated", "costs more"}
    assert by[cands[4]].category == "dominated" and repr(cands[2]) in by[cands[4]].reason
    assert by[cands[3]].category == "costs more" and by[cands[3]] in result.front
    assert result.recommended in result.front
    assert sum(result.rejected.values()) == len(result.candidates) - 1


def test_parallel_workers_give_the_serial_answer():
    jobs = day_with_burst()
    serial = plan(jobs, GRID, "p95<=60", PRICES, cold_start=20, resources=RES, workers=1)
    parallel = plan(jobs, GRID, "p95<=60", PRICES, cold_start=20, resources=RES, workers=2)
    assert parallel == serial
    assert plan(jobs, GRID, "p95<=60", PRICES, cold_start=20, resources=RES, workers=None) == serial  # every core
    assert [c.policy for c in parallel.candidates] == [c.policy for c in serial.candidates]


def test_a_sweep_on_ray_gives_the_serial_answer(ray_session):
    jobs = day_with_burst()
    serial = plan(jobs, GRID, "p95<=60", PRICES, cold_start=20, resources=RES, workers=1)
    assert plan(jobs, GRID, "p95<=60", PRICES, cold_start=20, resources=RES, workers="ray") == serial
    assert ray_session.is_initialized(), "a sweep leaves a Ray it did not start running"


def test_a_progress_bar_over_the_candidates(capsys):
    plan(poisson(0.1, 20, 300), {"max": [1, 2, 3], "min": [0]}, "p95<=30", {"replica_hour": 1}, workers=2,
         progress=True)
    err = capsys.readouterr().err
    # three candidates under the plan's reading of rule 3, then the two whose records the other
    # reading can change (max - min >= 2): (0, 2) and (0, 3)
    assert "plan" in err and "5/5" in err


def test_table_exports():
    result = plan(poisson(0.1, 20, 900), {"max": [1, 2, 3], "min": [0]}, "p95<=30", {"replica_hour": 0.5}, workers=1)
    buf = io.StringIO()
    result.to_csv(buf)
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("policy,min,max,concurrency,scaledown_ttl,idle_ttl,value,cost,replica_hours")
    assert len(lines) == 1 + 3
    df = result.to_dataframe()
    assert list(df["max"]) == [1, 2, 3] and (df["verdict"] == "recommended").sum() == 1
    d = result.to_dict()
    assert set(d) >= {"recommended", "front", "rejected", "candidates", "skipped"}
    assert "recommended:" in result.summary() and "Pareto front" in result.summary()


def test_no_candidate_meets_the_target():
    result = plan(burst(50, duration=60), {"max": [1, 2], "min": [0]}, "p50<=1", {"replica_hour": 1}, workers=1)
    assert result.recommended is None and result.rejected == {"misses the target": 2}
    assert "no candidate meets the target" in result.summary()


def test_knob_values_from_the_command_line_form(rejects):
    assert parse_values("0..3", "--min") == [0, 1, 2, 3]
    assert parse_values("1,4,8", "--concurrency") == [1, 4, 8]
    assert parse_values("300,3600,none", "--idle-ttl", none=True) == [300, 3600, None]
    with rejects("--min", "1..x", "ranges such as"):
        parse_values("1..x", "--min")
    with rejects("--max", "none", "ints"):
        parse_values("none", "--max")
    assert parse_target("p99 <= 2.5") == Target(99, 2.5)


JOBS = poisson(0.05, 10, 300)


@pytest.mark.parametrize("kwargs, param, value, allowed", [
    ({"target": "p90<=30"}, "target", "p90<=30", "p50, p95 or p99"),
    ({"target": Target(95, -1.0)}, "target.seconds", -1.0, ">= 0"),
    ({"target": Target(95, 1.0, 100.0, 50.0)}, "target window", (100.0, 50.0), "since < until"),
    ({"prices": {"core_hour": 1}}, "prices['core_hour']", 1, "cpu_hour"),
    ({"prices": {"cpu_hour": -1}}, "prices['cpu_hour']", -1, ">= 0"),
    ({"prices": {"gpu_hour": 2.0}}, "prices['gpu_hour']", 2.0, "needs resources with gpu"),
    ({"prices": {}}, "prices", {}, "replica_hour"),
    ({"candidates": {"replicas": [1]}}, "candidates", "replicas", "min, max, concurrency"),
    ({"candidates": {"max": ["2"]}}, "candidates['max']", ["2"], "an int"),
    ({"candidates": {"max": []}}, "candidates['max']", [], "at least one value"),
    ({"candidates": {"min": [3], "max": [1]}}, "candidates", {"min": [3], "max": [1]}, "1 min > max"),
    ({"candidates": [ReusePolicy(), "x"]}, "candidates[1]", "x", "ReusePolicy"),
    ({"workers": 0}, "workers", 0, "an int >= 1"),
    ({"workers": "rays"}, "workers", "rays", "'ray'"),
    ({"ray_address": "127.0.0.1:6379"}, "ray_address", "127.0.0.1:6379", "with workers='ray'"),
    ({"cpu_bound": 1.5}, "cpu_bound", 1.5, "between 0 and 1"),
    ({"cold_start": -1}, "cold_start", -1, ">= 0"),
    ({"horizon": math.inf}, "horizon", math.inf, "finite"),
    ({"horizon": 10.0}, "horizon", 10.0, "holds every task"),
])
def test_bad_input_names_parameter_value_and_what_is_allowed(rejects, kwargs, param, value, allowed):
    args = {"workload": JOBS, "candidates": {"max": [1, 2]}, "target": "p95<=30",
            "prices": {"replica_hour": 1.0}, "workers": 1, **kwargs}
    with rejects(param, value, allowed):
        plan(**args)


def test_what_a_run_sends_back_is_what_the_trace_says():
    from reuse_ref.trace.measures import measure, over_window
    from reuse_ref.trace.window import last_task_end

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        starving = ReusePolicy(replicas=1, concurrency=1)
    for policy, jobs, crashes in [(starving, merge(fan_out(3, 20, 5), poisson(0.05, 20, 600)), ()),
                                  (ReusePolicy(replicas=(1, 3), idle_ttl=None), poisson(0.3, 10, 300), [(50, 0)])]:
        trace = simulate(policy, jobs, crashes=crashes)
        m, spans, end = measure(trace.rows(), trace.policies, trace.resources)  # what a sweep sends back
        assert m == trace.measures() and end == last_task_end(trace)
        starts = [r.time for r in trace.records if r.kind == "replica_start"]
        assert sorted(start for start, _ in spans["env"]) == starts  # every replica, once
        for horizon in (end, end + 1000):  # what the plan charges, from the spans alone
            assert over_window(m, spans, horizon, trace.policies, trace.resources) == trace.measures(horizon=horizon)


# --- the plan's figure ---------------------------------------------------------------------

def _scatter(ax, gid=None, label=None):
    """The offsets of the scatter with that gid (or whose label starts with ``label``)."""
    found = [c for c in ax.collections
             if (gid is not None and c.get_gid() == gid) or (label is not None and c.get_label().startswith(label))]
    assert len(found) == 1, [c.get_label() for c in ax.collections]
    return [tuple(map(float, xy)) for xy in found[0].get_offsets()]


def test_plan_figure_draws_every_candidate_the_front_and_the_recommendation():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from reuse_ref import figures as plot

    result = plan(day_with_burst(), GRID, "p95<=60", PRICES, cold_start=20, resources=RES, workers=1)
    fig = plot.plan(result, currency="USD")
    ax = fig.axes[0]
    r = result.recommended
    assert _scatter(ax, gid="recommended") == [(r.value, r.cost)]  # the star is at the recommendation
    assert ax.get_ylabel() == "cost over the window (USD)" and ax.get_xlabel() == "p95 queue wait (s)"
    # every candidate but the recommendation is one point of its group, at (value, cost)
    groups = {"misses the target": "misses the target", "meets it, not chosen": ("costs more", "dominated", "tie"),
              "starves": "starves"}
    drawn = 0
    for label, categories in groups.items():
        members = sorted((c.value, c.cost) for c in result.candidates if c.category in categories and c.category)
        if members:
            assert sorted(_scatter(ax, label=label)) == members
            assert f"{label} ({len(members)})" in [t.get_text() for t in ax.get_legend().get_texts()]
        drawn += len(members)
    assert drawn == len(result.candidates) - 1
    (front,) = [line for line in ax.get_lines() if line.get_gid() == "front"]
    assert list(zip(front.get_xdata(), front.get_ydata())) == [(c.value, c.cost) for c in result.front]
    # the target is the dashed vertical line, and the star's label names its four knobs
    (target,) = [line for line in ax.get_lines() if line.get_label().startswith("target")]
    assert list(target.get_xdata()) == [60.0, 60.0]
    (note,) = ax.texts
    assert note.get_text().startswith(f"replicas=({r.policy.min_replicas}, {r.policy.max_replicas})\n")
    plt.close(fig)


def test_plan_figure_counts_replica_hours_when_the_price_is_one_per_replica_hour():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from reuse_ref import figures as plot

    jobs = poisson(0.1, 20, 900, seed=4)
    for prices, money in (({"replica_hour": 1.0}, False), ({"replica_hour": 0.0}, False), ({"replica_hour": 2.0}, True)):
        result = plan(jobs, {"max": [1, 2, 3], "min": [0, 1]}, "p95<=30", prices, workers=1)
        fig = plot.plan(result, label=False)
        ax = fig.axes[0]
        r = result.recommended
        assert ax.get_ylabel() == ("cost over the window" if money else "replica-hours over the window")
        assert _scatter(ax, gid="recommended") == [(r.value, r.cost if money else r.replica_hours)]
        assert list(ax.texts) == []
        plt.close(fig)


def test_plan_figure_without_a_recommendation_and_of_a_window(rejects):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from reuse_ref import figures as plot

    result = plan(burst(50, duration=60), {"max": [1, 2], "min": [0]}, "p50<=1", {"replica_hour": 1}, workers=1)
    fig = plot.plan(result)
    ax = fig.axes[0]
    assert [c.get_gid() for c in ax.collections] == [None] and list(ax.texts) == []  # no star, no label
    assert sorted(_scatter(ax, label="misses the target")) == sorted((c.value, c.replica_hours)
                                                                     for c in result.candidates)
    plt.close(fig)
    windowed = plan(day_with_burst(), {"max": [4, 16], "min": [0]}, ("p95<=60", (9 * 3600, 10 * 3600)), PRICES,
                    resources=RES, workers=1)
    fig = plot.plan(windowed)
    assert "[32400, 36000) s" in fig.axes[0].get_title().replace("\n", " ")
    assert fig.axes[0].get_xlabel() == "p95 queue wait (s), in the window"
    plt.close(fig)
    with rejects("plan", "str", "reuse_ref.plan.Plan"):
        plot.plan("p95<=30")
    with rejects("currency", 3, "a str"):
        plot.plan(result, currency=3)


def test_plan_figure_is_readable_on_a_phone():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from reuse_ref import figures as plot

    plot.use_book_style(check=False)
    result = plan(day_with_burst(), GRID, "p95<=60", PRICES, cold_start=20, resources=RES, workers=1)
    fig = plot.plan(result, currency="USD")
    assert plot.smallest_text_pt(fig) >= plot.MIN_TEXT_PT
    plt.close(fig)


def test_a_tie_goes_to_the_smaller_policy_not_to_the_text_of_its_repr():
    """Two policies that behave alike (the burst never needs more than 4 replicas) tie on
    cost, wait and replica-hours; the plan keeps the one with fewer max replicas, though
    "(1, 10)" sorts before "(1, 4)" as text, and says so in the other's reason."""
    jobs = burst(4, duration=30)
    result = plan(jobs, {"min": [1], "max": [10, 4], "concurrency": [1], "scaledown_ttl": [60],
                         "idle_ttl": [300]}, "p95<=60", {"replica_hour": 1.0}, cold_start=20, workers=1)
    assert result.recommended.policy.replicas == (1, 4)
    (other,) = [c for c in result.candidates if c.verdict == "rejected"]
    assert other.category == "tie" and other.cost == result.recommended.cost
    assert "smaller policy" in other.reason


def test_a_recommendation_the_sdk_refuses_says_so_in_the_summary():
    """idle_ttl=None is tried only when asked for; when it wins, the summary gives the SDK's spelling."""
    from reuse_ref.plan.planner import ALWAYS_ON_NOTE

    jobs = bursts(3, 3, 900, duration=20)
    always = plan(jobs, {"min": [2], "max": [2], "concurrency": [2], "idle_ttl": [None]}, "p50<=5", {"replica_hour": 1.0},
                  cold_start=60, workers=1)
    assert always.recommended.policy.idle_ttl is None
    assert ALWAYS_ON_NOTE in always.summary() and "timedelta(days=7)" in ALWAYS_ON_NOTE
    timed = plan(jobs, {"min": [2], "max": [2], "concurrency": [2], "idle_ttl": [3600]}, "p50<=5", {"replica_hour": 1.0},
                 cold_start=60, workers=1)
    assert timed.recommended is not None and ALWAYS_ON_NOTE not in timed.summary()
