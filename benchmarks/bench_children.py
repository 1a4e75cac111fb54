"""Does one parent with many children cost the simulator the same per child at any size?

The workload: one parent that calls N children at once (default 10,000, 100,000 and
1,000,000), each child 1 s of work, through ``ReusePolicy(replicas=(0, 50), concurrency=4)``
with 10 s cold starts: 200 slots, the parent holding one of them while it awaits the
rest, so the children queue and go through the pool 199 at a time.

The parent waits on its children (rule 6), and every child that ends changes what it
waits on, so the pools look at the starvation rule after every child. Before issue 26 each
look copied the parent's pending children and the pool's queue into new sets: a pass over
N per child, N squared in all (10,000 children took 4.5 s, 30,000 took 42 s and 100,000
over 200 s). Now the parent waits on the call tree's own record of its pending children,
which shrinks as they end, and a pool that runs a task that does not wait is set aside
before anything is copied: each child costs the same, whatever N.

For each N the benchmark prints the wall time, the microseconds per child, and the cost
per child against the smallest N's (1.0 is linear; N squared would give N / N_smallest).
The machine-independent form of the same check is in ``tests/test_scaling.py``, which
counts how often the simulator looks at a child's id. Wall-clock figures on a shared
machine move by 10 % or more between runs; the flat cost per child is the point.

Run: ``python benchmarks/bench_children.py [--children 10000,100000,1000000]`` (about a
minute for the three sizes; a million children need about 1 GB of memory).
"""
from __future__ import annotations

import argparse
import gc
import resource
import time

from reuse_ref import ReusePolicy
from reuse_ref.sim import Job, simulate

POLICY = dict(replicas=(0, 50), concurrency=4)


def workload(n: int) -> list:
    return [Job("parent", 0.0, 1.0)] + [Job(f"c{i}", 0.0, 1.0, parent="parent") for i in range(n)]


def run(n: int) -> tuple:
    jobs = workload(n)
    gc.collect()
    t = time.perf_counter()
    trace = simulate(ReusePolicy(**POLICY), jobs, cold_start=10.0, progress=False)
    wall = time.perf_counter() - t
    ended = sum(1 for r in trace.records if r.kind == "task_end")
    assert ended == n + 1, (ended, n)
    return wall, trace.measures().makespan


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", default="10000,100000,1000000",
                        help="the numbers of children, comma-separated (default 10000,100000,1000000)")
    args = parser.parse_args(argv)
    try:
        sizes = [int(x) for x in args.children.split(",")]
    except ValueError:
        parser.error(f"argument --children: invalid value {args.children!r}: give whole numbers such as 10000,100000")
    if not sizes or min(sizes) < 1:
        parser.error(f"argument --children: invalid value {args.children!r}: each at least 1")
    print(f"bench_children: one parent, N children, ReusePolicy(replicas={POLICY['replicas']}, "
          f"concurrency={POLICY['concurrency']})\n")
    print(f"  {'children':>10}  {'wall s':>8}  {'us/child':>9}  {'vs first':>8}  {'makespan s':>10}  {'peak RSS':>9}")
    first = None
    for n in sorted(sizes):
        wall, makespan = run(n)
        per = wall / n
        first = first or per
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  {n:>10,}  {wall:8.2f}  {per * 1e6:9.1f}  {per / first:7.2f}x  {makespan:10.0f}  {rss:7.0f} MB")
    print("\n  vs first: the cost per child against the smallest N's (1.00x: linear; N squared would grow as N)")


if __name__ == "__main__":
    main()
