"""A plan's sweep: candidates per second on 1 worker and on every core, against a plain loop.

The sweep is ``--candidates`` policies (default 1,000, built from a grid of the five
knobs) over a day of ``--jobs`` jobs (default 100,000: diurnal traffic with a burst at
9:00). It prints:

* the serial sweep (``plan(workers=1)``) and the same sweep written as a plain loop over
  ``simulate`` then ``window.compare`` (the two must recommend the same policy);
* the sweep on every core (``plan(workers=None)``), and the speed-up;
* where a candidate's time goes, from a sample of them: the simulation, the measures
  (and the replica intervals and windowed waits the sweep sends back), and the transfer
  between processes (pickling the result one way, the workload once per worker).

Wall-clock figures wander on a shared machine; the ratios are what to read. Run:
``python benchmarks/bench_plan.py [--jobs N] [--candidates N] [--sample N] [--ray]``.
"""
from __future__ import annotations

import argparse
import itertools
import os
import pickle
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from reuse_ref import ReusePolicy, Resources, simulate  # noqa: E402
from reuse_ref.plan import sweep as _sweep  # noqa: E402
from reuse_ref.trace.measures import measure  # noqa: E402
from reuse_ref.plan import plan  # noqa: E402
from reuse_ref.trace.window import common_horizon, compare  # noqa: E402
from reuse_ref.sim.workloads import burst, diurnal, merge  # noqa: E402

RES = Resources(cpu=2, memory="4Gi")
PRICES = {"cpu_hour": 0.05, "gib_hour": 0.006}
TARGET = "p95<=30"
COLD = 10.0


def day(jobs: int):
    peak = jobs * 0.97 / 86400 / 0.55  # diurnal's mean rate is 0.55 x its peak (trough 0.1)
    return merge(diurnal(peak, duration=60, seed=1, jitter=0.5), burst(int(jobs * 0.03), at=9 * 3600, duration=30))


def policies(n: int):
    grid = itertools.product(range(0, 9), [2, 4, 8, 16, 32, 64, 128], [1, 4, 8, 16], [30, 120, 600],
                             [300, 3600, None])
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for mn, mx, c, sd, idle in grid:
            if mn <= mx:
                out.append(ReusePolicy(replicas=(mn, mx), concurrency=c, scaledown_ttl=sd, idle_ttl=idle))
    step = len(out) / n if n < len(out) else 1.0  # spread over the grid, not its first corner
    return [out[int(k * step)] for k in range(min(n, len(out)))]


def plain_loop(jobs, pols):
    traces = {repr(p): simulate(p, jobs, cold_start=COLD, resources=RES, progress=False) for p in pols}
    measures = compare(traces, common_horizon(traces))
    best = None
    for p in pols:
        m = measures[repr(p)]
        cost = (PRICES["cpu_hour"] * m.cpu_seconds + PRICES["gib_hour"] * m.gib_seconds) / 3600
        if m.starved == 0 and m.wait_p95 <= 30:
            key = (cost, m.wait_p95, m.replica_seconds, repr(p))
            best = key if best is None or key < best else best
    return None if best is None else best[3]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--candidates", type=int, default=1_000)
    ap.add_argument("--sample", type=int, default=10, help="candidates timed one by one for the breakdown")
    ap.add_argument("--loop-max", type=int, default=100,
                    help="candidates for the plain loop, which keeps every trace in memory (default 100; "
                         "with more candidates, an evenly spread subset, and plan is timed on it too)")
    ap.add_argument("--no-loop", action="store_true", help="skip the plain loop")
    ap.add_argument("--ray", action="store_true", help="also run the sweep as Ray tasks on a local Ray "
                    "(127.0.0.1), against the serial sweep (needs reuse-ref[ray])")
    args = ap.parse_args(argv)
    jobs = day(args.jobs)
    pols = policies(args.candidates)
    n = len(pols)
    cores = _sweep.default_workers()
    print(f"{n} candidates over a day of {len(jobs):,} jobs, {cores} core(s)")

    t = time.perf_counter()
    serial = plan(jobs, pols, TARGET, PRICES, cold_start=COLD, resources=RES, workers=1, progress=False)
    t_serial = time.perf_counter() - t
    print(f"  plan, 1 worker      {t_serial:8.2f} s  {n / t_serial:8.2f} candidates/s")
    t = time.perf_counter()
    parallel = plan(jobs, pols, TARGET, PRICES, cold_start=COLD, resources=RES, workers=None, progress=False)
    t_par = time.perf_counter() - t
    print(f"  plan, {cores} workers     {t_par:8.2f} s  {n / t_par:8.2f} candidates/s  speed-up {t_serial / t_par:.2f}x")
    assert parallel == serial, "the parallel sweep must give the serial answer"
    if args.ray:
        from reuse_ref.runtime.ray_connection import init_local

        init_local(log_to_driver=False)
        t = time.perf_counter()
        on_ray = plan(jobs, pols, TARGET, PRICES, cold_start=COLD, resources=RES, workers="ray", progress=False)
        t_ray = time.perf_counter() - t
        print(f"  plan, Ray tasks     {t_ray:8.2f} s  {n / t_ray:8.2f} candidates/s  speed-up {t_serial / t_ray:.2f}x "
              f"(against 1 worker; {t_par / t_ray:.2f}x the local processes' rate)")
        assert on_ray == serial, "the sweep on Ray must give the serial answer"
    rec = None if serial.recommended is None else repr(serial.recommended.policy)
    if not args.no_loop:
        sub, t_sub, sub_rec = pols, t_serial, rec
        if n > args.loop_max:
            sub = pols[:: max(1, n // args.loop_max)][: args.loop_max]
            t = time.perf_counter()
            small = plan(jobs, sub, TARGET, PRICES, cold_start=COLD, resources=RES, workers=1, progress=False)
            t_sub = time.perf_counter() - t
            sub_rec = None if small.recommended is None else repr(small.recommended.policy)
            print(f"  plan, 1 worker, on {len(sub)} of them (the plain loop's subset): {t_sub:.2f} s")
        t = time.perf_counter()
        loop = plain_loop(jobs, sub)
        t_loop = time.perf_counter() - t
        print(f"  plain loop, {len(sub)} candidates {t_loop:8.2f} s  {len(sub) / t_loop:8.2f} candidates/s  "
              f"(plan, 1 worker, takes {t_sub / t_loop:.2f}x its time)")
        assert loop == sub_rec, f"plain loop recommends {loop}, plan {sub_rec}"
    print(f"  recommended: {rec}")

    # where the time goes, on a sample of candidates
    k = min(args.sample, n)
    sample = pols[:: max(1, n // k)][:k]
    context = (jobs, COLD, RES, 95, None, None, 0.0)
    _sweep._init(*context)
    sim = meas = ser = 0.0
    size = 0
    for p in sample:
        t = time.perf_counter()
        trace = simulate(p, jobs, cold_start=COLD, resources=RES, progress=False)
        sim += time.perf_counter() - t
        t = time.perf_counter()
        m, spans, end = measure(trace.rows(), trace.policies, trace.resources)
        out = _sweep.Outcome(m, spans, end, m.wait_p95)
        meas += time.perf_counter() - t
        t = time.perf_counter()
        blob = pickle.dumps(out)
        pickle.loads(blob)
        ser += time.perf_counter() - t
        size += len(blob)
    t = time.perf_counter()
    pickle.loads(pickle.dumps(context))
    t_ctx = time.perf_counter() - t
    total = sim + meas + ser
    print(f"  per candidate ({k} sampled): simulation {1000 * sim / k:.1f} ms ({100 * sim / total:.0f} %), "
          f"measures {1000 * meas / k:.1f} ms ({100 * meas / total:.0f} %), "
          f"result transfer {1000 * ser / k:.2f} ms ({100 * ser / total:.1f} %, {size / k / 1024:.1f} KiB)")
    print(f"  workload transfer: {1000 * t_ctx:.0f} ms once per worker")
    return 0


if __name__ == "__main__":
    sys.exit(main())
