"""A pool's cost per event does not grow with its size (every event O(log n), amortised).

No timing: the work is counted. The replica ids the pool makes are ints that count every
comparison made with them (the pool makes ids by adding 1 to ``first_replica_id``), and
comparisons are what a scan (``list.remove``, a loop for the highest id) or a heap does
with ids. Each phase of events gets a budget of ``C x log2(n)`` comparisons per event; a
comparison past the budget raises at once, so a linear scan of 200,000 ids fails fast
rather than running for minutes.
"""
from __future__ import annotations

import math
import random

from reuse_ref import ReusePolicy
from reuse_ref.core.actions import StartReplica
from reuse_ref.core.pool import Pool

N = 200_000
C = 4  # comparisons per event per doubling of the pool; a heap's push or pop needs about 1 to 2


class OverBudget(AssertionError):
    pass


class CountedId(int):
    """An int replica id that counts the comparisons made with it, up to a budget."""

    count = 0
    budget = math.inf

    def _tick(self):
        CountedId.count += 1
        if CountedId.count > CountedId.budget:
            raise OverBudget(f"more than {CountedId.budget:,.0f} comparisons of replica ids")

    def __lt__(self, other):
        self._tick()
        return int(self) < int(other)

    def __gt__(self, other):
        self._tick()
        return int(self) > int(other)

    def __le__(self, other):
        self._tick()
        return int(self) <= int(other)

    def __ge__(self, other):
        self._tick()
        return int(self) >= int(other)

    def __eq__(self, other):
        self._tick()
        return int(self) == int(other)

    def __ne__(self, other):
        self._tick()
        return int(self) != int(other)

    __hash__ = int.__hash__

    def __add__(self, other):
        return CountedId(int(self) + other)

    def __neg__(self):
        return CountedId(-int(self))


class Phase:
    """``with Phase(events):`` allows ``C x log2(N)`` comparisons for each of ``events``."""

    def __init__(self, name: str, events: int):
        self.name, self.events = name, events

    def __enter__(self):
        CountedId.count = 0
        CountedId.budget = C * math.log2(N) * self.events
        return self

    def __exit__(self, *exc):
        self.used = CountedId.count
        CountedId.budget = math.inf
        return False


def test_every_event_of_a_pool_of_200000_replicas_costs_o_log_n_comparisons():
    rng = random.Random(7)
    pool = Pool(ReusePolicy(replicas=(1, N), concurrency=1, scaledown_ttl=60, idle_ttl=None), name="big",
                first_replica_id=CountedId(1))
    used = {}
    with Phase("N replicas start, take a task each, end it in a shuffled order, 1 scale-down", 3 * N + 1) as p:
        ids = [a.replica for k in range(N) for a in pool.submit(0.0, f"t{k}") if isinstance(a, StartReplica)]
        assert len(ids) == N and all(type(rid) is CountedId for rid in ids)
        for rid in ids:
            pool.replica_ready(10.0, rid)
        order = [f"t{k}" for k in range(N)]
        rng.shuffle(order)
        for task in order:
            pool.finish(20.0, task)
        pool.advance(pool.wakeup_at)  # every replica is found idle long enough: one stops
    used[p.name] = (p.used, p.events)
    assert pool.live == N - 1

    with Phase("1,000 tasks on the lowest free id", 2000) as p:
        for k in range(1000):
            assert pool.submit(100.0 + k, f"u{k}")[0].replica == ids[0]  # the lowest id, every time
            pool.finish(100.5 + k, f"u{k}")
    used[p.name] = (p.used, p.events)

    crash = rng.sample(ids[1:-2000], 1000)  # not those that rule 3 stops first
    live = pool.live
    with Phase("1,000 replicas crash", 1000) as p:
        for rid in crash:
            pool.replica_crashed(pool.now, rid)
    used[p.name] = (p.used, p.events)
    assert pool.live == live - 1000

    with Phase("1,000 scale-downs", 1000) as p:
        for _ in range(1000):
            assert len(pool.advance(pool.wakeup_at)) == 1  # one StopReplica
    used[p.name] = (p.used, p.events)
    assert pool.live == live - 2000

    with Phase("the pool closes", N) as p:
        pool.close(pool.now + 1)
    used[p.name] = (p.used, p.events)
    assert pool.live == 0
    print({name: f"{count / events:.1f} per event" for name, (count, events) in used.items()})
