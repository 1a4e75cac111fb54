"""How fast is the virtual-clock simulator? reuse_ref.simulate against the same model in SimPy.

The workload: N Poisson arrivals (default one million) at 1 job/s, each job 28 s of work
spread uniformly over 14-42 s (``poisson(rate=1.0, duration=28.0, jitter=0.5)``), through
``ReusePolicy(replicas=(1, 10), concurrency=4, scaledown_ttl=60, idle_ttl=600)`` with 10 s
cold starts. The offered load is 1 x 28 = 28 busy slots of the 40 the pool can grow to
(70 % of capacity): busy, with a short queue now and then, and stable.

reuse_ref runs twice: ``simulate`` as a user calls it (``engine="auto"``: for a workload
this big, the compiled twin of the simulator, :mod:`reuse_ref.sim.compiled`, which writes
the same records) and ``simulate(engine="python")``, the plain Python loop over the core's
pools that is the definition. The twin is loaded (numba, from its cache) before the clock
starts, as SimPy is imported before it: that one-off cost is printed on its own line.

Two SimPy models get the same jobs, and each does the same per-job work as reuse_ref:
arrival, a FIFO queue, slot acquisition, service, release, and three trace records
(queued, start with its container, end).

* "SimPy, same pool model": the pool of reuse_ref written on SimPy's engine. Containers
  start cold when the queue outgrows the slots on their way (10 s), at most 10, at least
  1; a job takes a slot on the lowest-numbered ready container with one free (kept, as in
  reuse_ref, in a set of containers with free slots); ``scaledown_ttl`` and ``idle_ttl``
  are SimPy timer processes started whenever a container or the pool goes idle. It starts
  exactly as many containers as reuse_ref on this workload. What it leaves out: the timer
  that fires stops *its own* container rather than the highest-numbered idle one, and
  there is no starvation check, no retry or attempt bookkeeping, no input validation, and
  its records are plain tuples rather than ``Record``s.
* "SimPy, fixed 40 slots": the shortest SimPy program for the same per-job work: 10 x 4
  slot tokens in a ``simpy.PriorityStore`` (lowest container first), always there: no cold
  starts, no scaling, no TTLs.

Both SimPy models therefore do less per job than reuse_ref does. reuse_ref's ``simulate``
pauses Python's cyclic garbage collector while it runs (it makes no reference cycles);
the SimPy models run as SimPy runs by default (pausing it changes SimPy's time by a few
per cent). Like the SimPy models, a reuse_ref pool writes its records as plain tuples;
``Trace.records`` names them (``Record``) only when it is first read. The benchmark
times that first read, and ``trace.measures()``, on a line of their own: they are not
part of the ratio, since the SimPy models do neither.

Timing follows ``timeit``'s advice: each side runs ``--repeat`` times (default 3), the
sides taking turns, and the best time of each is kept. The spread is the machine's noise
(other processes, and the first run's fresh memory pages), not the code's, and the best
time is the closest to what the code itself costs. Each run is timed with
``time.perf_counter``, the workload's generation excluded.

Run: ``python benchmarks/bench_simulate.py [--jobs N] [--seed S] [--repeat R] [--simpy both|pool|slots|none]``.
Prints jobs/s for each and the ratios. Goal (issue 23): ``simulate`` at least 6x the wall-clock
speed of the same pool model on SimPy.
"""
from __future__ import annotations

import argparse
import gc
import math
import sys
import time
from collections import deque

from reuse_ref import ReusePolicy
from reuse_ref.sim import simulate
from reuse_ref.sim.workloads import poisson

RATE = 1.0          # arrivals per second
DURATION = 28.0     # mean seconds of work per job
JITTER = 0.5        # durations uniform over 14 to 42 s
CONTAINERS = 10
SLOTS = 4
COLD_START = 10.0
POLICY = dict(replicas=(1, CONTAINERS), concurrency=SLOTS, scaledown_ttl=60, idle_ttl=600)


GOAL = 6.0


def run_reuse_ref(jobs, engine="auto"):
    trace = simulate(ReusePolicy(**POLICY), jobs, cold_start=COLD_START, progress=False, engine=engine)
    return trace


def run_reuse_ref_python(jobs):
    return run_reuse_ref(jobs, engine="python")


def run_simpy_pool(jobs):
    """The same pool model on SimPy's engine: autoscaling containers with cold starts,
    FIFO queue, lowest-id dispatch, and the two TTLs as SimPy timers."""
    import simpy

    lo, hi = POLICY["replicas"]
    scaledown_ttl, idle_ttl = POLICY["scaledown_ttl"], POLICY["idle_ttl"]
    env = simpy.Environment()
    queue = deque()   # grant events of queued jobs, first come first served
    running = {}      # ready container -> jobs running on it
    open_ = set()     # ready containers with a free slot
    idle = {}         # ready containers running nothing -> since when
    state = {"starting": 0, "next_id": 1, "last_stop": -math.inf, "empty_since": None}
    records = []
    record = records.append

    def live():
        return len(running) + state["starting"]

    def dispatch():
        while queue and open_:
            cid = min(open_)
            if running[cid] == 0:
                del idle[cid]
            while queue and running[cid] < SLOTS:
                queue.popleft().succeed(cid)
                running[cid] += 1
            if running[cid] == SLOTS:
                open_.discard(cid)

    def scale_up():
        shortfall = len(queue) - state["starting"] * SLOTS
        n = max(-(-shortfall // SLOTS), lo - live(), 1 if not live() else 0)
        for _ in range(min(n, hi - live())):
            cid = state["next_id"]
            state["next_id"] += 1
            state["starting"] += 1
            record((env.now, "replica_start", cid, None))
            env.process(cold_start(cid))

    def cold_start(cid):
        yield env.timeout(COLD_START)
        state["starting"] -= 1
        running[cid] = 0
        open_.add(cid)
        record((env.now, "replica_ready", cid, None))
        went_idle(cid)
        dispatch()

    def went_idle(cid):
        idle[cid] = env.now
        env.process(scaledown_timer(cid, env.now))

    def scaledown_timer(cid, since):
        yield env.timeout(scaledown_ttl)
        while idle.get(cid) == since and live() > lo:
            wait = state["last_stop"] + scaledown_ttl - env.now
            if wait <= 0:
                state["last_stop"] = env.now
                stop(cid, "scaledown")
                return
            yield env.timeout(wait)

    def stop(cid, reason):
        del running[cid]
        idle.pop(cid, None)
        open_.discard(cid)
        record((env.now, "replica_stop", cid, reason))

    def idle_timer(since):
        yield env.timeout(idle_ttl)
        if state["empty_since"] == since:
            for cid in list(running):
                stop(cid, "idle_ttl")

    def job(j):
        record((env.now, "task_queued", None, j.id))
        state["empty_since"] = None
        grant = env.event()
        queue.append(grant)
        dispatch()
        if queue:
            scale_up()
        cid = yield grant
        record((env.now, "task_start", cid, j.id))
        yield env.timeout(j.duration)
        record((env.now, "task_end", cid, j.id))
        running[cid] -= 1
        open_.add(cid)
        if running[cid] == 0:
            went_idle(cid)
        dispatch()
        if not queue and not any(running.values()):
            state["empty_since"] = env.now
            env.process(idle_timer(env.now))

    env.process(_arrivals(env, jobs, job))
    env.run()
    return records


def run_simpy_slots(jobs):
    """The smallest SimPy model of the same per-job work: 10 x 4 slots always there."""
    import simpy

    env = simpy.Environment()
    free = simpy.PriorityStore(env)
    for container in range(1, CONTAINERS + 1):
        for slot in range(SLOTS):
            free.put((container, slot))
    records = []
    record = records.append

    def job(j):
        record((env.now, "task_queued", None, j.id))
        token = yield free.get()
        record((env.now, "task_start", token[0], j.id))
        yield env.timeout(j.duration)
        record((env.now, "task_end", token[0], j.id))
        free.put(token)

    env.process(_arrivals(env, jobs, job))
    env.run()
    return records


def _arrivals(env, jobs, job):
    """The SimPy process that starts ``job(j)`` for each job at its arrival time."""
    for j in jobs:
        delay = j.at - env.now
        if delay > 0:
            yield env.timeout(delay)
        env.process(job(j))


def _count(records, kind):
    return sum(1 for r in records if r[1] == kind)


def _timed(fn, jobs):
    gc.collect()
    t0 = time.perf_counter()
    out = fn(jobs)
    return out, time.perf_counter() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000, help="number of jobs (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=1, help="workload seed (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, best kept (default 3)")
    parser.add_argument("--simpy", choices=("both", "pool", "slots", "none"), default="both",
                        help="which SimPy model(s) to time (default both)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"argument --jobs: invalid value {args.jobs}: give a positive number of jobs")
    if args.repeat < 1:
        parser.error(f"argument --repeat: invalid value {args.repeat}: give a positive number of runs")

    # a horizon of jobs / rate seconds gives about the requested number of jobs
    jobs = poisson(RATE, DURATION, args.jobs / RATE, seed=args.seed, jitter=JITTER)
    n = len(jobs)
    print(f"{n:,} Poisson jobs (rate {RATE:g}/s, {DURATION:g} s +/- {100 * JITTER:.0f} %) through "
          f"ReusePolicy(replicas={POLICY['replicas']}, concurrency={SLOTS}, scaledown_ttl={POLICY['scaledown_ttl']}, "
          f"idle_ttl={POLICY['idle_ttl']}), cold start {COLD_START:g} s; Python {sys.version.split()[0]}; "
          f"best of {args.repeat} run(s) each")

    models = {"python": ("reuse_ref, engine='python'", run_reuse_ref_python),
              "pool": ("SimPy, same pool model", run_simpy_pool), "slots": ("SimPy, fixed 40 slots", run_simpy_slots)}
    keys = ("python",) + (("pool", "slots") if args.simpy == "both" else () if args.simpy == "none" else (args.simpy,))
    times = {key: [] for key in ("ours",) + keys}
    facts = {}
    t0 = time.perf_counter()
    run_reuse_ref(poisson(RATE, DURATION, 200, seed=1), engine="compiled")  # loads numba and the twin
    load_s = time.perf_counter() - t0
    load_before = open("/proc/loadavg").read().split()[:3]
    for _ in range(args.repeat):
        trace, seconds = _timed(run_reuse_ref, jobs)
        times["ours"].append(seconds)
        t0 = time.perf_counter()
        m = trace.measures()
        t1 = time.perf_counter()
        named = trace.records
        t2 = time.perf_counter()
        assert m.done == n and len(named) == len(trace), "every job must end"
        facts["ours"] = (f"{m.cold_starts} cold starts, utilisation {100 * m.utilisation:.1f} %, "
                         f"wait p95 {m.wait_p95:.2f} s")
        facts["after"] = min(facts.get("after", (math.inf, math.inf)), (t1 - t0, t2 - t1))
        del named
        for key in keys:
            records, seconds = _timed(models[key][1], jobs)
            times[key].append(seconds)
            if key == "python":
                assert records.rows() == trace.rows(), "the compiled twin must write the Python loop's records"
                facts[key] = "the same records, record for record"
            else:
                assert _count(records, "task_end") == n, "every job must end"
                starts = _count(records, "replica_start")
                facts[key] = f"{starts} cold starts" if key == "pool" else "no replica lifecycle"
            del records
        del trace

    def line(label, key):
        best = min(times[key])
        spread = f"(runs {min(times[key]):.2f}-{max(times[key]):.2f} s)" if args.repeat > 1 else ""
        print(f"  {label:<23} {best:7.2f} s  {n / best:>9,.0f} jobs/s   {facts[key]} {spread}")

    line("reuse_ref.simulate", "ours")
    measures_s, records_s = facts["after"]
    print(f"    then trace.measures() {measures_s:.2f} s, first read of trace.records {records_s:.2f} s (not in the ratios)")
    print(f"    loading the compiled twin, once per process (numba, from its cache): {load_s:.2f} s (not in the ratios)")
    for key in keys:
        line(models[key][0], key)
    ours = min(times["ours"])
    for key in keys[1:]:
        print(f"ratio: reuse_ref is {min(times[key]) / ours:.2f}x as fast as the {models[key][0]} "
              f"(engine='python': {min(times[key]) / min(times['python']):.2f}x)")
    print(f"ratio: simulate is {min(times['python']) / ours:.2f}x as fast as its Python loop (engine='python')")
    if "pool" in keys:
        ratio = min(times["pool"]) / ours
        print(f"goal: at least {GOAL:g}x the wall-clock speed of the SimPy same pool model: "
              f"{'met' if ratio >= GOAL else 'NOT met'} ({ratio:.2f}x; load {' '.join(load_before)} before, "
              f"{' '.join(open('/proc/loadavg').read().split()[:3])} after)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
