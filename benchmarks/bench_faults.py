"""Faults from outside: replicas killed every 40 ms under a 2,000-task fan-out, nothing lost.

A parent in an environment of its own (never killed) calls 2,000 children in a worker
environment with ``asyncio.gather(..., return_exceptions=True)``, while a thread kills a
random worker replica with SIGKILL every 40 ms. Each round is checked against the trace,
which is the runtime's own ledger:

* **once**: children with exactly one final record (``task_end``, or a ``task_failed`` that
  is not retried);
* **duplicates**: children with more than one final record;
* **missing**: children called but with no final record, or absent from the parent's result;
* **hangs**: rounds that did not end within their deadline (the runtime is then closed);
* **orphans**: replica processes still alive after ``rt.close()``.

Every kind of loss must be 0, with retries 0 (children fail with ``ReplicaCrashedError``)
and with retries 3 (most of them end well). Run: ``python benchmarks/bench_faults.py
[--tasks 2000] [--rounds 10] [--kill-every 0.04]``. ``tests/test_faults.py`` runs a
bounded version.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from typing import Dict

import cloudpickle
import psutil

from reuse_ref import ReusePolicy, Runtime, TaskEnvironment
from reuse_ref.core.records import RETRYING

driver = TaskEnvironment("faults_driver", reusable=ReusePolicy(replicas=1, concurrency=4))
workers = TaskEnvironment("faults_workers", reusable=ReusePolicy(replicas=(2, 4), concurrency=50))


@workers.task
async def child(i: int, seconds: float) -> int:
    await asyncio.sleep(seconds)
    return i


@driver.task
async def fan_out(n: int, seconds: float, retries: int) -> list:
    task = child.override(retries=retries) if retries else child
    results = await asyncio.gather(*[task(i, seconds) for i in range(n)], return_exceptions=True)
    return [r if isinstance(r, int) else type(r).__name__ for r in results]


def _worker_pids(rt: Runtime) -> list:
    """The pids of the worker environment's live replicas (the killer's targets)."""
    c = rt._c  # the benchmark reaches inside: it plays the part of the outside world
    return [h.pid for ps in list(c.table.pools.values()) if ps.name == workers.name
            for h in list(ps.replicas.values()) if h.ready and not h.retired]


def _alive(pids) -> list:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.Error:
            pass
    return out


def one_round(n: int, retries: int, kill_every: float, seed: int, child_seconds: float = 0.05,
              deadline: float = 120.0) -> Dict[str, int]:
    """One fan-out of ``n`` children under fire; returns the counts of the module docstring."""
    rng = random.Random(seed)
    rt = Runtime(time_scale=0.01)
    stop = threading.Event()
    kills = 0

    def killer() -> None:
        nonlocal kills
        while not stop.wait(kill_every):
            pids = _worker_pids(rt)
            if pids:
                try:
                    os.kill(rng.choice(pids), signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:
                    pass

    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = rt.run(fan_out, n, child_seconds, retries).result
        except Exception as exc:  # noqa: BLE001 - counted below
            outcome["error"] = exc

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    threading.Thread(target=killer, daemon=True).start()
    runner.join(deadline)
    hang = runner.is_alive()
    stop.set()
    trace = rt.trace
    rt.close()
    runner.join(10)
    orphans = len(_alive(rt.replica_pids))

    final = Counter()
    called = set()
    for r in trace.records:
        if r.env != workers.name:
            continue
        if r.kind == "task_queued" and r.reason != "retry":
            called.add(r.task)
        elif r.kind == "task_end" or (r.kind == "task_failed" and not r.reason.endswith(RETRYING)):
            final[r.task] += 1
    result = outcome.get("result") or []
    missing = sum(1 for t in called if final[t] == 0) + (n - len(result) if not hang else 0)
    return {
        "children": len(called),
        "once": sum(1 for t in called if final[t] == 1),
        "duplicates": sum(1 for t in called if final[t] > 1),
        "missing": missing,
        "hangs": int(hang),
        "orphans": orphans,
        "ok": sum(1 for v in result if isinstance(v, int)),
        "failed": sum(1 for v in result if not isinstance(v, int)),
        "kills": kills,
        "errors": int("error" in outcome),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--kill-every", type=float, default=0.04)
    parser.add_argument("--child-seconds", type=float, default=0.05)
    args = parser.parse_args(argv)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    bad = 0
    print(f"{args.tasks} children per round, a worker replica killed every {args.kill_every * 1000:g} ms")
    print(f"{'retries':>7} {'round':>5} {'kills':>5} {'once':>6} {'dup':>4} {'missing':>7} {'hangs':>5} "
          f"{'orphans':>7} {'ok':>6} {'failed':>6} {'wall s':>7}")
    for retries in (0, 3):
        totals = Counter()
        for k in range(args.rounds):
            start = time.perf_counter()
            counts = one_round(args.tasks, retries, args.kill_every, seed=k, child_seconds=args.child_seconds)
            wall = time.perf_counter() - start
            totals.update(counts)
            print(f"{retries:>7} {k + 1:>5} {counts['kills']:>5} {counts['once']:>6} {counts['duplicates']:>4} "
                  f"{counts['missing']:>7} {counts['hangs']:>5} {counts['orphans']:>7} {counts['ok']:>6} "
                  f"{counts['failed']:>6} {wall:>7.2f}")
        loss = totals["duplicates"] + totals["missing"] + totals["hangs"] + totals["orphans"] + totals["errors"]
        bad += loss
        print(f"retries {retries}: {totals['once']} of {totals['children']} children ended exactly once; "
              f"duplicates {totals['duplicates']}, missing {totals['missing']}, hangs {totals['hangs']}, "
              f"orphans {totals['orphans']}, kills {totals['kills']}")
    print("no loss" if bad == 0 else f"LOSS: {bad}")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
