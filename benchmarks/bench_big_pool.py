"""How does one pool's cost grow with its size? A pool of N replicas (default 400,000) taken
through every kind of event, phase by phase, timed, and the cost per event printed.

The pool is ``ReusePolicy(replicas=(1, N), concurrency=1, scaledown_ttl=60, idle_ttl=60600)``:

1. N tasks arrive at once: a cold pool starts N replicas;
2. the N replicas become ready, each taking a queued task;
3. the N tasks end in a shuffled order (seeded), so that replicas get a free slot in no
   particular id order;
4. N new tasks arrive one by one, each going to the lowest id with a free slot (rule 1);
5. they end in id order, so the replicas go idle in id order;
6. N more tasks arrive, each on the lowest id, which is now the longest idle, and end;
7. 1 % of the replicas crash;
8. the pool scales down (rule 3): under the paced reading one replica per
   ``scaledown_ttl``, 1,000 times; read per replica, every idle replica above min at once;
9. the environment goes idle and every replica left stops at once (rule 4).

Both readings of rule 3 run, one after the other (``--scaledown`` picks one): they share
the same indexes, so every phase but the eighth does the same work.

Before the pool kept its bookkeeping in heaps, every phase but the first two cost time in
proportion to N per event (a sorted list with ``insort`` and ``list.remove``, a dict whose
first entry is found by scanning past the deleted ones, and a scan of the idle replicas at
each scale-down), so the whole run grew with N squared: 933 s for N = 400,000. Now each
event costs O(log N), amortised: the time per event stays nearly flat from N = 40,000 to
400,000 (``--replicas``). One line grows with N, on purpose: the first scale-down moves
every replica idle long enough (all N of them here) into the heap of candidates, once,
and the figure is that spread over 1,000 scale-downs. Wall-clock figures on a shared
machine move by 10 % or more between runs; the growth, not the figure, is the point.

Run: ``python benchmarks/bench_big_pool.py [--replicas N] [--seed S] [--scaledown paced|per_replica]``.
"""
from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from reuse_ref import ReusePolicy  # noqa: E402
from reuse_ref.core.pool import PACED, SCALEDOWN_READINGS, Pool  # noqa: E402

SCALEDOWNS = 1_000
IDLE_TTL = 60 * (SCALEDOWNS + 10)  # long enough for the scale-downs to come first


def phases(n: int, seed: int, scaledown: str = PACED):
    """Yield (phase name, number of events, seconds) for a pool of ``n`` replicas."""
    rng = random.Random(seed)
    pool = Pool(ReusePolicy(replicas=(1, n), concurrency=1, scaledown_ttl=60, idle_ttl=IDLE_TTL), name="big",
                scaledown=scaledown)
    clock = time.perf_counter

    t0 = clock()
    for k in range(n):
        pool.submit(0.0, ("a", k))
    yield "tasks arrive, N replicas start", n, clock() - t0

    t0 = clock()
    for rid in range(1, n + 1):
        pool.replica_ready(10.0, rid)
    yield "replicas ready, each takes a task", n, clock() - t0

    order = list(range(n))
    rng.shuffle(order)
    t0 = clock()
    for k in order:
        pool.finish(20.0, ("a", k))
    yield "tasks end, shuffled order", n, clock() - t0

    t0 = clock()
    for k in range(n):
        pool.submit(25.0, ("b", k))
    yield "tasks arrive, lowest free id", n, clock() - t0

    t0 = clock()
    for k in range(n):
        pool.finish(30.0, ("b", k))
    yield "tasks end, id order", n, clock() - t0

    t0 = clock()  # the lowest free id is now the longest idle: each start takes the first idle one
    for k in range(n):
        pool.submit(35.0, ("c", k))
    for k in range(n):
        pool.finish(40.0, ("c", k))
    yield "tasks arrive on the longest idle, end", 2 * n, clock() - t0

    crash = rng.sample(range(1, n + 1), n // 100)
    t0 = clock()
    for rid in crash:
        pool.replica_crashed(41.0, rid)
    yield "1 % of the replicas crash", len(crash), clock() - t0

    live = pool.live
    paced = scaledown == PACED
    t0 = clock()
    while pool.live > (live - SCALEDOWNS if paced else pool.min):  # per replica: one advance stops them all
        pool.advance(pool.wakeup_at)
    yield "scale-downs, " + (f"{SCALEDOWNS:,} paced" if paced else "all due at once"), live - pool.live, clock() - t0

    left = pool.live
    t0 = clock()
    pool.advance(40.0 + IDLE_TTL)
    assert pool.live == 0, "the environment must have gone idle"
    yield "environment idle: all stop", left, clock() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=400_000, help="replicas in the pool (default 400,000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the shuffles (default 1)")
    parser.add_argument("--scaledown", choices=SCALEDOWN_READINGS, help="one reading of rule 3 (default: both)")
    args = parser.parse_args(argv)
    if args.replicas < 2 * SCALEDOWNS:
        parser.error(f"argument --replicas: invalid value {args.replicas}: give at least {2 * SCALEDOWNS}")
    print(f"one pool of {args.replicas:,} replicas (concurrency 1), Python {sys.version.split()[0]}")
    gc.disable()  # the pool makes no reference cycles; a collection would land in one phase at random
    for reading in [args.scaledown] if args.scaledown else SCALEDOWN_READINGS:
        print(f"scaledown={reading!r}")
        total = 0.0
        for name, events, seconds in phases(args.replicas, args.seed, reading):
            total += seconds
            print(f"  {name:<38} {events:>9,} events {seconds:8.2f} s  {1e6 * seconds / events:8.2f} us/event")
        print(f"total {total:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
