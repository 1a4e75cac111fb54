"""Trace measures on a small hand-made trace whose answers are worked out by hand."""
from __future__ import annotations

import csv
import io
import sys
import warnings

import pytest

from reuse_ref import ReusePolicy, Resources, StarvationWarning
from reuse_ref.trace import CSV_COLUMNS, Measures, Record, Trace, percentile

R = Record


def hand_made(with_final_stop: bool = True) -> Trace:
    """Environment "e", concurrency 2: tasks A and B run together on replica 1, C arrives
    later, fails once and is retried, then fails for good; D starves; replica 2 starts for
    C but never runs anything."""
    records = [
        R(0, "task_queued", None, "A", "", "e"),
        R(0, "replica_start", 1, None, "", "e"),
        R(0, "task_queued", None, "B", "", "e"),
        R(10, "replica_ready", 1, None, "", "e"),
        R(10, "task_start", 1, "A", "cold", "e"),
        R(10, "task_start", 1, "B", "warm", "e"),
        R(12, "task_queued", None, "C", "", "e"),
        R(12, "replica_start", 2, None, "", "e"),
        R(20, "task_end", 1, "A", "", "e"),
        R(20, "task_start", 1, "C", "warm", "e"),
        R(22, "replica_ready", 2, None, "", "e"),
        R(30, "task_end", 1, "B", "", "e"),
        R(40, "task_failed", 1, "C", "error (retrying)", "e"),
        R(40, "task_queued", None, "C", "retry", "e"),
        R(40, "task_start", 1, "C", "warm", "e"),
        R(50, "task_failed", 1, "C", "error", "e"),
        R(52, "replica_stop", 2, None, "scaledown", "e"),
        R(60, "task_queued", None, "D", "", "e"),
        R(61, "starvation", None, None, "Starvation in 'e': every slot, all of them, is held", "e"),
        R(61, "task_failed", None, "D", "starvation", "e"),
    ]
    if with_final_stop:
        records.append(R(100, "replica_stop", 1, None, "idle_ttl", "e"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarvationWarning)
        policy = ReusePolicy(replicas=(1, 2), concurrency=2, idle_ttl=40, scaledown_ttl=30)
    return Trace(records, {"e": policy}, {"e": Resources(cpu=2, memory="4Gi", gpu=1)})


def test_measures_of_the_hand_made_trace():
    m = hand_made().measures()
    assert m == Measures(
        tasks=4,              # A, B, C, D (C's retry is not a new task)
        done=2,               # A, B
        failed=1,             # C, for good at 50
        starved=1,            # D
        cold_starts=2,        # replicas 1 and 2
        warm_starts=3,        # B, and both attempts of C, went to replica 1 after A
        wait_p50=10.0,        # waits: A 10, B 10, C 20 - 12 = 8 (D never started)
        wait_p95=10.0,        # nearest rank: ceil(0.95 x 3) = 3rd of [8, 10, 10]
        wait_p99=10.0,
        wait_max=10.0,
        makespan=61.0,        # first queued at 0, last ended (D) at 61
        replica_seconds=140.0,  # replica 1: 0..100, replica 2: 12..52
        busy_slot_seconds=60.0,  # A 10 + B 20 + C 20 + C's retry 10
        utilisation=60.0 / (140.0 * 2),
        peak_replicas=2,
        cpu_seconds=280.0,    # 2 cores x 140 s
        gib_seconds=560.0,    # 4 GiB x 140 s
        gpu_seconds=140.0,
    )
    assert m.done + m.failed + m.starved == m.tasks


def test_a_replica_still_live_at_the_end_counts_until_the_last_record():
    m = hand_made(with_final_stop=False).measures()
    assert m.replica_seconds == 61.0 + 40.0


def test_an_attempt_still_running_at_the_end_counts_until_the_last_record():
    records = [R(0, "replica_start", 1), R(5, "replica_ready", 1), R(5, "task_queued", None, "x"),
               R(5, "task_start", 1, "x", "cold"), R(25, "task_queued", None, "y"), R(30, "task_start", 1, "y", "warm")]
    m = Trace(records).measures()
    assert m.busy_slot_seconds == 25.0 + 0.0
    assert (m.tasks, m.done, m.makespan) == (2, 0, 0.0)  # nothing has ended yet
    assert m.utilisation == 25.0 / 30.0  # no policy: concurrency counts as 1


def test_measures_of_an_empty_trace_are_zero():
    assert Trace([]).measures() == Measures()


def test_percentile_is_nearest_rank():
    assert percentile([4, 1, 3, 2], 50) == 2
    assert percentile([4, 1, 3, 2], 95) == 4
    assert percentile([4, 1, 3, 2], 25) == 1
    assert percentile([7.5], 95) == 7.5
    assert percentile([], 50) == 0.0
    assert percentile(list(range(1, 101)), 95) == 95
    for p in (0, -1, 101):
        with pytest.raises(ValueError, match=f"p={p}"):
            percentile([1], p)


def test_series_steps_after_all_records_at_each_time():
    s = hand_made().series()
    at = {t: (n, q, b) for t, n, q, b in zip(s.times, s.replicas, s.queued, s.busy)}
    assert s.times == sorted(set(s.times))
    assert at[0] == (1, 2, 0)
    assert at[10] == (1, 0, 2)
    assert at[12] == (2, 1, 2)
    assert at[20] == (2, 0, 2)
    assert at[40] == (2, 0, 1)   # C failed, queued again and restarted at the same instant
    assert at[50] == (2, 0, 0)
    assert at[61] == (1, 0, 0)   # D left the queue when it starved
    assert at[100] == (0, 0, 0)


def test_several_environments_are_measured_together_or_apart():
    a = [R(0, "replica_start", 1, None, "", "a"), R(0, "task_queued", None, 1, "", "a"),
         R(10, "replica_ready", 1, None, "", "a"), R(10, "task_start", 1, 1, "cold", "a"),
         R(30, "task_end", 1, 1, "", "a"), R(40, "replica_stop", 1, None, "idle_ttl", "a")]
    b = [R(5, "replica_start", 1, None, "", "b"), R(5, "task_queued", None, 1, "", "b"),
         R(15, "replica_ready", 1, None, "", "b"), R(15, "task_start", 1, 1, "cold", "b"),
         R(20, "task_end", 1, 1, "", "b"), R(25, "replica_stop", 1, None, "idle_ttl", "b")]
    records = sorted(a + b, key=lambda r: r.time)
    pa, pb = ReusePolicy(replicas=1, concurrency=2), ReusePolicy(replicas=1, concurrency=4)
    trace = Trace(records, {"a": pa, "b": pb})
    assert trace.envs == ["a", "b"]
    both = trace.measures()
    assert both.tasks == 2 and both.peak_replicas == 2  # same ids in two environments: two replicas
    assert both.replica_seconds == 40 + 20
    assert both.utilisation == (20 + 5) / (40 * 2 + 20 * 4)
    assert trace.measures("a").utilisation == 20 / 80
    assert trace.measures("b").wait_max == 10
    with pytest.raises(ValueError, match="env='c'"):
        trace.measures("c")


def test_records_out_of_time_order_are_measured_in_time_order():
    records = hand_made().records
    shuffled = records[10:] + records[:10]
    assert Trace(shuffled, hand_made().policies).measures().replica_seconds == 140.0


def test_csv_has_the_columns_and_reads_back_to_the_same_records():
    trace = hand_made()
    buffer = io.StringIO()
    trace.to_csv(buffer)
    rows = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert rows[0] == list(CSV_COLUMNS) == ["time", "kind", "replica", "task", "reason", "env"]
    assert len(rows) == len(trace.records) + 1
    assert rows[1] == ["0.0", "task_queued", "", "A", "", "e"]
    assert rows[5] == ["10.0", "task_start", "1", "A", "cold", "e"]
    back = Trace.from_csv(io.StringIO(buffer.getvalue()))
    assert back.records == [r._replace(time=float(r.time)) for r in trace.records]


def test_csv_round_trip_through_a_file_keeps_int_task_ids(tmp_path):
    trace = Trace([R(0.5, "task_queued", None, 7, "", "e"), R(1.25, "task_queued", None, "t-1", "", "e")])
    path = tmp_path / "trace.csv"
    trace.to_csv(path)
    assert Trace.from_csv(path).records == trace.records


def test_reading_a_file_that_is_not_a_trace_names_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("time,kind,replica,task,reason,env\n0,task_queued,,a,,e\nsoon,task_end,1,a,,e\n")
    with pytest.raises(ValueError, match="line 3"):
        Trace.from_csv(path)
    path.write_text("at,duration\n")
    with pytest.raises(ValueError, match="line 1"):
        Trace.from_csv(path)


def test_dataframe_has_one_row_per_record_and_the_csv_columns():
    pytest.importorskip("pandas")
    df = hand_made().to_dataframe()
    assert list(df.columns) == list(CSV_COLUMNS)
    assert len(df) == len(hand_made().records)
    assert str(df["replica"].dtype) == "Int64"
    assert df["kind"].value_counts()["task_start"] == 4


def test_dataframe_without_pandas_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        hand_made().to_dataframe()


def test_summary_names_the_environment_policy_and_measures():
    text = hand_made().summary()
    assert "environment 'e'" in text and "ReusePolicy(replicas=(1, 2)" in text
    assert "tasks              4 (done 2, failed 1, starved 1)" in text
    assert "p95 10 s" in text and "21.4 %" in text


def test_measures_as_dict_is_json_ready():
    import json

    d = hand_made().measures().as_dict()
    assert json.loads(json.dumps(d)) == d
    assert list(d)[:3] == ["tasks", "done", "failed"]


# --- figures drawn from a trace ---------------------------------------------------------------

def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_timeline_has_a_lane_per_replica_and_marks_each_stop_reason():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from reuse_ref import figures as plot

    with warnings.catch_warnings():  # a legend taller than two lanes still fits: no "Tight layout not applied"
        warnings.simplefilter("error", UserWarning)
        fig = plot.timeline(hand_made())
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["#1", "#2"]
    assert ax.get_xlabel() == "time (s)" and "e: ReusePolicy(replicas=(1, 2)" in ax.get_title().replace("\n", " ")
    labels = _legend(ax)
    for label in ("cold start", "idle", "1 task running", "2 tasks running", "stopped: scaledown_ttl",
                  "stopped: idle_ttl", "starvation"):
        assert label in labels
    assert "crashed" not in labels
    plt.close(fig)


def test_occupancy_and_compare_figures():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from reuse_ref import figures as plot

    fig = plot.occupancy(hand_made())
    top, bottom = fig.axes
    assert top.get_ylabel() == "replicas" and bottom.get_xlabel() == "time (s)"
    assert "max (2)" in _legend(top) and "queued" in _legend(bottom)
    plt.close(fig)
    fig = plot.compare({"hand made": hand_made(), "same again": hand_made().measures()})
    ax = fig.axes[0]
    assert ax.get_xlabel() == "footprint (replica-hours)"
    assert ax.get_ylabel() == "p95 queue wait (s)"
    assert sorted(t.get_text() for t in ax.texts) == ["hand made", "same again"]
    plt.close(fig)
    with pytest.raises(ValueError, match="results"):
        plot.compare({})


def test_figures_of_an_empty_trace_do_not_fail():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from reuse_ref import figures as plot

    for fig in (plot.timeline(Trace([])), plot.occupancy(Trace([]))):
        plt.close(fig)


def test_rows_and_records_give_the_same_trace():
    """A pool writes plain tuples (rows); a Trace of rows names them on first read, and
    everything derived from it is what a Trace of Records gives."""
    named = hand_made()
    rows = [tuple(r) for r in named.records]
    assert all(type(r) is tuple for r in rows)
    plain = Trace(rows, named.policies, named.resources)
    assert plain.measures() == named.measures()
    assert plain.series() == named.series()
    assert plain.envs == named.envs == ["e"]
    assert len(plain) == len(named) == len(rows)
    records = plain.records
    assert all(type(r) is Record for r in records) and records == named.records
    assert plain.records is records, "named once, then kept"
    assert list(plain) == records
    a, b = io.StringIO(), io.StringIO()
    plain.to_csv(a)
    named.to_csv(b)
    assert a.getvalue() == b.getvalue()


def test_a_pool_writes_rows_in_record_field_order():
    from reuse_ref.core.pool import Pool

    pool = Pool(ReusePolicy(replicas=(1, 2)), name="p")
    pool.submit(0.0, "t")
    pool.replica_ready(5.0, 1)
    pool.finish(7.5, "t")
    assert all(type(r) is tuple and len(r) == len(Record._fields) for r in pool.records)
    assert [(r.time, r.kind, r.replica, r.task, r.env) for r in Trace(pool.records).records] == [
        (0.0, "task_queued", None, "t", "p"),
        (0.0, "replica_start", 1, None, "p"),
        (5.0, "replica_ready", 1, None, "p"),
        (5.0, "task_start", 1, "t", "p"),
        (7.5, "task_end", 1, "t", "p"),
    ]


def test_gc_paused_restores_the_collector_and_promotes_what_a_simulation_keeps():
    import gc

    from reuse_ref.trace import gc_paused

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        temporary = [[] for _ in range(100)]
    assert gc.isenabled() and temporary
    with gc_paused(long_lived=True):
        kept = [[] for _ in range(100)]
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert any(o is kept[0] for o in gc.get_objects(generation=2)), "moved to the oldest generation"
    assert not any(o is kept[0] for o in gc.get_objects(generation=0))
    gc.disable()
    try:
        with gc_paused(long_lived=True):
            pass
        assert not gc.isenabled(), "a collector paused by the caller stays paused"
    finally:
        gc.enable()


def test_gc_paused_leaves_objects_the_caller_froze_frozen():
    import gc

    from reuse_ref.trace import gc_paused

    mine = [[] for _ in range(10)]
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with gc_paused(long_lived=True):
            kept = [[] for _ in range(10)]
        assert gc.get_freeze_count() == frozen, "gc.unfreeze would have released the caller's objects"
        assert mine and kept
    finally:
        gc.unfreeze()


def test_figures_are_readable_on_a_phone_and_compare_uses_one_window():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from reuse_ref import ReusePolicy, figures as plot, simulate
    from reuse_ref.sim.workloads import burst, merge

    plot.use_book_style(check=False)
    work = merge(burst(4, at=0, duration=60), burst(4, at=900, duration=60))
    runs = {str(ttl): simulate(ReusePolicy(replicas=(2, 2), idle_ttl=ttl), work, cold_start=30, name=str(ttl))
            for ttl in (1200, None)}
    for fig in (plot.timeline(runs["None"], until=3000), plot.occupancy(runs["1200"]), plot.compare(runs)):
        assert plot.smallest_text_pt(fig) >= plot.MIN_TEXT_PT
        plt.close(fig)
    # the always-on point sits where its replicas would be charged over the window, not
    # where its trace happens to end (there it looked cheaper than the 1200 s pool)
    xs = sorted(pt[0] for c in plot.compare(runs).axes[0].collections for pt in c.get_offsets())
    assert xs[0] == xs[-1]  # both pools hold two replicas over the same window
    assert runs["None"].measures().replica_seconds / 3600 < xs[0]
    # a figure too wide for a phone is refused
    fig, ax = plt.subplots(figsize=(12, 3))
    ax.set_title("a long title at the default size " * 2, fontsize=9)
    assert plot.smallest_text_pt(fig) < plot.MIN_TEXT_PT
    plt.close(fig)


def _many_replicas(n: int) -> Trace:
    """A burst of ``n`` tasks on a pool of up to ``n`` replicas, one task each: ``n`` lanes."""
    from reuse_ref import simulate
    from reuse_ref.sim.workloads import burst

    return simulate(ReusePolicy(replicas=(0, n), concurrency=1, scaledown_ttl=30, idle_ttl=60),
                    burst(n, at=0, duration=120), cold_start=10, name="wide")


@pytest.mark.parametrize("n, max_lanes, lanes", [(12, 40, True), (41, 40, False), (12, 11, False), (12, 12, True)])
def test_timeline_draws_lanes_up_to_max_lanes_then_the_occupancy(n, max_lanes, lanes):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from reuse_ref import figures as plot

    trace = _many_replicas(n)
    assert trace.measures().peak_replicas == n
    fig = plot.timeline(trace, max_lanes=max_lanes)
    if lanes:
        (ax,) = fig.axes
        assert len(ax.get_yticks()) == n and ax.get_ylabel() == "replica"
    else:
        top, bottom = fig.axes
        assert top.get_ylabel() == "replicas" and bottom.get_ylabel() == "tasks"
        assert f"({n} replicas: too many to draw one lane each)" in top.get_title().replace("\n", " ")
        # the live replicas reach every one of the n, and the busy slots the n tasks
        (replicas,) = [line for line in top.get_lines() if line.get_label() == "live replicas"]
        assert max(replicas.get_ydata()) == n
        (busy,) = [line for line in bottom.get_lines() if line.get_label() == "running (busy slots)"]
        assert max(busy.get_ydata()) == n
    plt.close(fig)


def test_timeline_past_max_lanes_fills_the_axes_it_is_given():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from reuse_ref import figures as plot

    trace = _many_replicas(41)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    assert plot.timeline(trace, ax=right, until=600) is fig
    assert left in fig.axes and right not in fig.axes and len(fig.axes) == 3  # the right one split in two
    assert fig.axes[-1].get_xlim()[1] == 600
    plt.close(fig)
    fig, pair = plt.subplots(2, 1)
    plot.timeline(trace, ax=pair, unit="min")
    assert pair[1].get_xlabel() == "time (min)" and pair[0].get_ylabel() == "replicas"
    plt.close(fig)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "40", None])
def test_timeline_refuses_a_bad_max_lanes(rejects, bad):
    from reuse_ref import figures as plot

    with rejects("max_lanes", bad, "an int >= 1"):
        plot.timeline(hand_made(), max_lanes=bad)


def test_task_bars_draw_each_child_and_the_parents_wait_apart_from_its_work():
    """One row per task; a parent's own work (its job's duration) is a solid bar labelled
    with its replica, and the rest of its attempt, waiting for its children, a bar of
    another kind; queued time a third; starved tasks get a cross."""
    import matplotlib.pyplot as plt

    from reuse_ref import figures as plot, simulate
    from reuse_ref.sim.workloads import fan_out

    jobs = fan_out(3, 10, 5)
    relief = simulate(ReusePolicy(replicas=(1, 2), idle_ttl=60, scaledown_ttl=60), jobs, cold_start=10)
    fig = plot.task_bars(relief, jobs)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["parent 0", "child 1", "child 2", "child 3"]
    labels = [h.get_label() for h in ax.reuse_ref_handles]
    assert "waiting for its children" in labels and "queued (no slot)" in labels
    # the parent works 5 s on replica 1 after its 10 s cold start, then waits while the
    # children run one after the other on replica 2 (each its own bar)
    texts = sorted((round(t.get_position()[1]), round(t.get_position()[0], 3), t.get_text()) for t in ax.texts)
    assert texts == [(0, 12.5, "#1"), (1, 25.0, "#2"), (2, 35.0, "#2"), (3, 45.0, "#2")]
    plt.close(fig)

    with pytest.warns(StarvationWarning):  # one slot: the policy itself warns, as the SDK does
        lone = ReusePolicy(replicas=(1, 1), concurrency=1, idle_ttl=60, scaledown_ttl=60)
    starved = simulate(lone, jobs, cold_start=10)
    import matplotlib as mpl

    with mpl.rc_context({k: v for k, v in plot.BOOK_RC.items() if v is not None}):  # as the book draws it
        fig = plot.task_bars(starved, jobs)
    labels = [h.get_label() for h in fig.axes[0].reuse_ref_handles]
    assert "failed: starvation" in labels and "starvation" in labels
    # starvation is declared the moment the parent starts to wait: at the end of its 5 s of work
    assert "waiting for its children" not in labels
    assert [r.time for r in starved if r.kind == "starvation"] == [15.0]
    assert plot.smallest_text_pt(fig) >= plot.MIN_TEXT_PT
    plt.close(fig)
    with pytest.raises(ValueError, match="jobs"):
        plot.task_bars(relief, fan_out(2, 10, 5))  # the workload lacks child 3
    with pytest.raises(ValueError, match="unit"):
        plot.task_bars(relief, jobs, unit="days")
