"""Side-by-side measurements of the local runtime (issue 4), printed as ratios.

(a) Round trip of a no-op call to a warm replica, against the process pools Python users
    already know (``concurrent.futures.ProcessPoolExecutor`` with spawn, loky's reusable
    executor), against a raw ``multiprocessing`` Pipe round trip to a child (the floor),
    and against the same task without reuse (``reusable="off"``: a fresh process per call,
    started by the default forkserver or by spawn). Targets (issue 26): warm no slower than
    ProcessPoolExecutor, within 2.5x the raw pipe, and a forkserver cold start at least 100x
    the warm call. A warm sync call is carried out by the calling thread itself
    (``reuse_ref.runtime.direct``: two wake-ups, the replica's and the caller's, as for the
    raw pipe); the same call through the driver's thread (four wake-ups: the driver's, the
    replica's, the driver's again, the caller's) is measured beside it, so the gain of that
    path is read in the same run. Both ends of a warm call spin briefly before they sleep
    (``reuse_ref.runtime.spinning``); a runtime whose replicas never spin
    (``backend_options={"spin": False}``) is measured beside it too, and so is what the spin
    costs: the CPU time per warm call of the caller's thread and of the replica, with and
    without it.
(b) Seed 003's fan-out: a parent gathers 500 async children that each sleep 50 ms, on
    ``ReusePolicy(replicas=2, concurrency=100)``. Ideal: every slot busy all the time.
    The pool has 2 x 100 = 200 slots and the parent holds one of them while it waits, so
    199 children run at once: ceil(500 / 199) = 3 waves of 50 ms = 150 ms. Target: at most
    1.1x that once warm.
(c) A task whose module loads a 200 MB stand-in for a model at import, called 20 times:
    with reuse the load is paid once per replica, without it on every call.
(d) The Ray backend (``Runtime(backend="ray")``, one actor per replica), on a local Ray
    bound to 127.0.0.1: the warm no-op round trip against a raw Ray actor method call
    (``ray.get(actor.f.remote(1))``) measured in the same run, and the fan-out of (b).
    Targets: within 1.5x the raw actor call, and at most 1.5x the ideal fan-out once warm.
    ``--no-ray`` leaves it out.

(a) and (b) run twice in one run, side by side: on the machine **as found**, then **loaded**
(one busy process per core added by the benchmark). A warm call pays every wake-up of a
sleeping thread or process, which costs most when the machine is quiet, so the goals are
for a quiet machine: each block prints ``/proc/loadavg`` before and after it, and the
first is called idle only if the 1-minute load was below ``IDLE_LOAD`` per core; otherwise
it says NOT idle (on a shared machine it rarely is: the ratios are then those of a loaded
one, and say so).

Run: ``python benchmarks/bench_runtime.py [--no-ray]`` (a few minutes on 2 cores). Medians
over many iterations, ``time.perf_counter``; the warm round trips of (a) are taken in turns
of 100 calls each, so that a drifting load falls on all of them alike; numbers vary by
machine, the ratios are the point.
"""
from __future__ import annotations

import asyncio
import math
import multiprocessing as mp
import os
import statistics
import sys
import time

from reuse_ref import ReusePolicy, Runtime, TaskEnvironment

ROUND_TRIPS = 3000
COLD_CALLS = 20
FAN_OUT = 500
FAN_SLEEP = 0.05
MODEL_CALLS = 20
IDLE_LOAD = 0.25  # 1-minute load per core below which the machine counts as idle

warm_env = TaskEnvironment("bench_warm", reusable=ReusePolicy(replicas=2, concurrency=1))


@warm_env.task
def noop(x: int) -> int:
    return x


fan_env = TaskEnvironment("bench_fan", reusable=ReusePolicy(replicas=2, concurrency=100))


@fan_env.task
async def nap(i: int) -> int:
    await asyncio.sleep(FAN_SLEEP)
    return i


@fan_env.task
async def reuse_concurrency(n: int) -> int:
    return sum(await asyncio.gather(*[nap(i) for i in range(n)]))


def plain_noop(x: int) -> int:
    return x


def _echo(conn) -> None:
    while True:
        try:
            conn.send(conn.recv())
        except EOFError:
            return


def median_seconds(call, n: int, warmup: int = 100) -> float:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def us(seconds: float) -> str:
    return f"{seconds * 1e6:9.1f} us"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:9.1f} ms"


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def interleaved_medians(calls: dict, n: int, chunk: int = 100, warmup: int = 100) -> dict:
    """The median of ``n`` timed calls of each, taken in turns of ``chunk`` calls, so that a
    change in the machine's load falls on every one alike (a shared machine's load drifts).
    The order of the turns rotates from one round to the next, so that each comes after each
    of the others as often: the first calls after another library's turn are slower (its
    processes still settling, caches cold), and a fixed order would lay that on one of them."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    times: dict = {name: [] for name in calls}
    clock = time.perf_counter
    order = list(calls)
    while len(times[order[0]]) < n:
        for name in order:
            call, out = calls[name], times[name]
            for _ in range(chunk):
                t = clock()
                call()
                out.append(clock() - t)
        order = order[1:] + order[:1]
    return {name: statistics.median(t) for name, t in times.items()}


def _through_driver(rt: Runtime):
    """The same call through the driver's thread, the path before issue 26 (an internal switch)."""
    def call():
        rt._c.direct.enabled = False
        try:
            return rt.run(noop, 1)
        finally:
            rt._c.direct.enabled = True
    return call


def cpu_per_call(rt: Runtime, n: int = 2000) -> tuple:
    """CPU seconds per warm call, ``(the caller's thread, the replicas)``, over ``n`` calls."""
    import psutil

    replicas = [psutil.Process(pid) for pid in rt.replica_pids if psutil.pid_exists(pid)]

    def replica_cpu() -> float:
        total = 0.0
        for p in replicas:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    for _ in range(100):
        rt.run(noop, 1)
    caller, replica = time.thread_time(), replica_cpu()
    for _ in range(n):
        rt.run(noop, 1)
    return (time.thread_time() - caller) / n, (replica_cpu() - replica) / n


def bench_round_trip(rt: Runtime, still: Runtime) -> dict:
    from concurrent.futures import ProcessPoolExecutor

    from loky import get_reusable_executor

    spawn = mp.get_context("spawn")
    parent, child = spawn.Pipe()
    proc = spawn.Process(target=_echo, args=(child,), daemon=True)
    proc.start()
    child.close()
    loky = get_reusable_executor(max_workers=2)
    with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as pool:
        out = interleaved_medians({
            "reuse_ref warm replica": lambda: rt.run(noop, 1),
            "warm, no spin": lambda: still.run(noop, 1),
            "warm, via the driver's thread": _through_driver(rt),
            "raw multiprocessing Pipe": lambda: (parent.send(("run", 1)), parent.recv()),
            "ProcessPoolExecutor (spawn)": lambda: pool.submit(plain_noop, 1).result(),
            "loky reusable executor": lambda: loky.submit(plain_noop, 1).result(),
        }, ROUND_TRIPS)
    loky.shutdown(wait=True)
    parent.close()
    proc.join(5)
    out["cpu: caller, spin"], out["cpu: replica, spin"] = cpu_per_call(rt)
    out["cpu: caller, no spin"], out["cpu: replica, no spin"] = cpu_per_call(still)

    cold = noop.override(reusable="off")
    out['reusable="off", forkserver'] = median_seconds(lambda: rt.run(cold, 1), COLD_CALLS, warmup=2)
    with Runtime(start_method="spawn") as fresh:
        out['reusable="off", spawn'] = median_seconds(lambda: fresh.run(cold, 1), COLD_CALLS, warmup=2)
    return out


def bench_fan_out(rt: Runtime) -> tuple:
    policy = fan_env.reusable
    parallel = policy.capacity - 1  # the waiting parent holds one slot
    ideal = math.ceil(FAN_OUT / parallel) * FAN_SLEEP
    first = rt.run(reuse_concurrency, FAN_OUT)  # cold: starts the replicas
    assert first.result == sum(range(FAN_OUT))
    walls = []
    for _ in range(5):
        t = time.perf_counter()
        assert rt.run(reuse_concurrency, FAN_OUT).result == sum(range(FAN_OUT))
        walls.append(time.perf_counter() - t)
    return first.wall_seconds, statistics.median(walls), ideal, parallel


def bench_model(rt: Runtime) -> tuple:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _big_model  # noqa: F401  (the task's module; replicas import it by name)

    def total(task) -> float:
        t = time.perf_counter()
        for i in range(MODEL_CALLS):
            rt.run(task, i)
        return time.perf_counter() - t

    reused = total(_big_model.predict)
    cold = total(_big_model.predict.override(reusable="off"))
    return reused, cold, _big_model.LOAD_SECONDS


class _Echo:
    """A raw Ray actor: the floor a replica on Ray is measured against."""

    def f(self, x: int) -> int:
        return x


def bench_ray() -> None:
    from reuse_ref.runtime.ray_connection import init_local

    init_local()
    import ray

    nodes = sorted({n["NodeManagerAddress"] for n in ray.nodes()})
    print(f"\n(d) the Ray backend: one actor per replica (Ray {ray.__version__}, nodes {nodes})")
    echo = ray.remote(_Echo).remote()
    raw = median_seconds(lambda: ray.get(echo.f.remote(1)), ROUND_TRIPS)
    with Runtime(time_scale=1.0, backend="ray") as rt:
        rt.run(noop, 0)
        warm = median_seconds(lambda: rt.run(noop, 1), ROUND_TRIPS)
        print(f"    raw actor call (ray.get(a.f.remote(1))) {us(raw)}")
        print(f"    reuse_ref warm replica on Ray   {us(warm)}")
        print(f"    warm on Ray / raw actor call = {warm / raw:6.2f}x   (target <= 1.5)  {verdict(warm <= 1.5 * raw)}")
        cold_wall, warm_wall, ideal, parallel = bench_fan_out(rt)
        print(f"    fan-out: ideal {ms(ideal)}, first run {ms(cold_wall)}, warm median of 5 {ms(warm_wall)}")
        print(f"    fan-out warm / ideal         = {warm_wall / ideal:6.2f}x   (target <= 1.5)  {verdict(warm_wall <= 1.5 * ideal)}")
    ray.shutdown()


def _busy(stop) -> None:
    while not stop.is_set():
        sum(range(10_000))


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def warm_block(rt: Runtime, still: Runtime, label: str) -> dict:
    """(a) and (b) once, under the conditions ``label`` names; returns the ratios."""
    before = loadavg()
    print(f"\n=== {label}: /proc/loadavg before {before}")
    rtt = bench_round_trip(rt, still)
    for name, value in rtt.items():
        print(f"    {name:32s} {us(value)}")
    warm = rtt["reuse_ref warm replica"]
    ratios = {"warm / ProcessPoolExecutor": warm / rtt["ProcessPoolExecutor (spawn)"],
              "warm / raw Pipe": warm / rtt["raw multiprocessing Pipe"],
              "no spin / raw Pipe": rtt["warm, no spin"] / rtt["raw multiprocessing Pipe"],
              "via driver / raw Pipe": rtt["warm, via the driver's thread"] / rtt["raw multiprocessing Pipe"],
              "off, forkserver / warm": rtt['reusable="off", forkserver'] / warm,
              "off, spawn / warm": rtt['reusable="off", spawn'] / warm}
    print(f"    warm / ProcessPoolExecutor   = {ratios['warm / ProcessPoolExecutor']:6.2f}x   (target <= 1)    "
          f"{verdict(ratios['warm / ProcessPoolExecutor'] <= 1)}")
    print(f"    warm / loky                  = {warm / rtt['loky reusable executor']:6.2f}x")
    print(f"    warm / raw Pipe              = {ratios['warm / raw Pipe']:6.2f}x   (target <= 2.5)  "
          f"{verdict(ratios['warm / raw Pipe'] <= 2.5)}")
    print(f"    no spin / raw Pipe           = {ratios['no spin / raw Pipe']:6.2f}x   (replicas and callers that always sleep)")
    print(f"    via driver / raw Pipe        = {ratios['via driver / raw Pipe']:6.2f}x   (the path before issue 26)")
    print(f"    off, forkserver / warm       = {ratios['off, forkserver / warm']:6.0f}x   (target >= 100)  "
          f"{verdict(ratios['off, forkserver / warm'] >= 100)}")
    print(f"    off, spawn / warm            = {ratios['off, spawn / warm']:6.0f}x")
    cold_wall, warm_wall, ideal, parallel = bench_fan_out(rt)
    ratios["fan-out warm / ideal"] = warm_wall / ideal
    print(f"    fan-out ({FAN_OUT} x {FAN_SLEEP * 1e3:.0f} ms, ideal {ms(ideal).strip()}): first {ms(cold_wall).strip()}, "
          f"warm median of 5 {ms(warm_wall).strip()}")
    print(f"    fan-out warm / ideal         = {warm_wall / ideal:6.2f}x   (target <= 1.1)  {verdict(warm_wall <= 1.1 * ideal)}")
    print(f"    /proc/loadavg after {loadavg()}")
    return ratios


def main() -> None:
    cpus = os.cpu_count() or 1
    print(f"bench_runtime: Python {sys.version.split()[0]}, {cpus} CPUs")
    print(f"(a) no-op round trip, median of {ROUND_TRIPS} warm calls ({COLD_CALLS} cold ones); "
          f"(b) fan-out, ReusePolicy(replicas=2, concurrency=100)")
    print("    (spawn starts a fresh interpreter per call, as a new container does; the default")
    print("     forkserver forks a server that has imported reuse_ref already, a cheaper cold start)")
    found = float(loadavg().split()[0]) if loadavg() != "unknown" else math.inf
    idle = found < IDLE_LOAD * cpus
    first = (f"as found, IDLE (1-minute load {found:.2f} < {IDLE_LOAD} x {cpus} cores)" if idle else
             f"as found, NOT idle (1-minute load {found:.2f} >= {IDLE_LOAD} x {cpus} cores: other work on the machine)")
    with Runtime(time_scale=1.0) as rt, Runtime(time_scale=1.0, backend_options={"spin": False}) as still:
        rt.run(noop, 0)
        still.run(noop, 0)
        quiet = warm_block(rt, still, first)
        stop = mp.get_context("spawn").Event()
        burners = [mp.get_context("spawn").Process(target=_busy, args=(stop,), daemon=True) for _ in range(cpus)]
        for b in burners:
            b.start()
        try:
            loaded = warm_block(rt, still, f"loaded ({cpus} busy processes added by the benchmark)")
        finally:
            stop.set()
            for b in burners:
                b.join(10)
    print("\n    side by side              " + f"{'as found':>12s} {'loaded':>12s}")
    for key in quiet:
        print(f"    {key:26s} {quiet[key]:11.2f}x {loaded[key]:11.2f}x")

    with Runtime(time_scale=1.0) as rt:
        print(f"\n(c) a 200 MB model loaded at import, {MODEL_CALLS} sequential calls")
        reused, cold, load = bench_model(rt)
        print(f"    one load of the module       {ms(load)}")
        print(f"    with reuse                   {ms(reused)}")
        print(f'    reusable="off"               {ms(cold)}')
        print(f"    off / reuse                  = {cold / reused:6.1f}x")

    if "--no-ray" not in sys.argv:
        bench_ray()


if __name__ == "__main__":
    main()
