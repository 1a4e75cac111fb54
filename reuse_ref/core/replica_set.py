"""The sets of replicas that a :class:`~reuse_ref.pool.Pool`'s rules read, kept up to date by
every event so that no rule scans the replicas, and no event costs more than O(log n) in a
pool of n replicas (amortised): a pool of 400,000 replicas costs per event what a pool of
ten does (``benchmarks/bench_big_pool.py``).

* ``_open``: a heap of the ids of the ready replicas with a free slot. Rule 1 takes
  ``_open[0]``, the lowest. A replica that fills up is at the top, and is popped; a
  replica that is removed elsewhere in the heap leaves its id behind (counted in
  ``_open_stale``), popped when it comes to the top, so that ``_open[0]`` always has a
  free slot; the heap is rebuilt when half of it is stale.
* ``_idle``: the idle ready replicas in the order they went idle (an ``OrderedDict``,
  whose first entry costs O(1) to find however many were deleted before it; a plain dict
  scans past them). Rule 3's due time is the first one's ``idle_since + scaledown_ttl``.
* ``_ripe``: a heap of the negated ids of the replicas found idle for ``scaledown_ttl``,
  moved there from the front of ``_idle`` by a scale-down. Rule 3 stops the highest id of
  those, the top; ``_n_ripe`` counts them, and a replica that takes a task or stops leaves
  a stale id, skipped when it comes to the top.

The pool's hot paths (a task starting on a free slot, an attempt ending) read and write
these lists and dicts inline; the functions below are the rarer steps, bound as methods of
``Pool`` (a base class instead would be shown, and linked, on the API page).
"""
from __future__ import annotations

from collections import OrderedDict
from heapq import heapify, heappop, heappush
from typing import Any, Dict, List, Optional

__all__ = ["init_replica_sets", "scaledown_due", "ripe_victim", "forget_replica", "drop_stale_open"]

STARTING = "starting"
READY = "ready"


def init_replica_sets(self: Any) -> None:
    """Empty sets: a new pool, or one whose every replica has just stopped."""
    self._open: List[int] = []
    self._open_stale = 0
    self._idle: Dict[int, Any] = OrderedDict()
    self._ripe: List[int] = []
    self._n_ripe = 0


def scaledown_due(self: Any) -> Optional[float]:
    """When rule 3 may next stop a replica, or None while the pool is at min or none is idle.

    While a replica is in ``_ripe``, it is ``_last_scaledown + scaledown_ttl``: the
    scale-down that moved it there (at ``now``, with ``idle_since + scaledown_ttl <=
    now``) stopped a replica and became the last, so the longest idle replica's own
    due time is no later than the last scale-down's."""
    if not (self._idle or self._n_ripe) or len(self.replicas) <= self.min:
        return None
    ttl = self.scaledown_ttl
    if self._n_ripe:
        return self._last_scaledown + ttl
    due = next(iter(self._idle.values())).idle_since + ttl  # _idle is in order of idle_since
    last = self._last_scaledown
    if last is not None and last + ttl > due:
        due = last + ttl
    return due


def ripe_victim(self: Any, now: float) -> Any:
    """Rule 3's victim: of the replicas idle for ``scaledown_ttl`` at ``now``, the highest id.

    Those are the first ones of ``_idle``; they move to ``_ripe`` when found, and stay
    ripe while idle, since ``now`` never goes back. ``None`` if there is none."""
    idle, ripe, replicas, ttl = self._idle, self._ripe, self.replicas, self.scaledown_ttl
    if len(ripe) > 2 * self._n_ripe + 64:  # mostly stale: rebuild it from the ripe replicas
        ripe[:] = {rid for rid in ripe if -rid not in idle and (r := replicas.get(-rid)) is not None
                   and r.idle_since is not None}
        heapify(ripe)
    while idle:
        r = next(iter(idle.values()))
        if now < r.idle_since + ttl:
            break
        idle.popitem(last=False)
        heappush(ripe, -r.id)
        self._n_ripe += 1
    while ripe:
        r = replicas.get(-ripe[0])
        if r is not None and r.idle_since is not None and r.idle_since + ttl <= now:
            return r
        heappop(ripe)
    return None


def forget_replica(self: Any, r: Any) -> None:
    """Drop a removed replica (no longer in ``replicas``) from the sets and the starting count."""
    if r.state == STARTING:
        self._starting -= 1
        return
    if len(r.running) < self.concurrency:  # its id is in _open, and now stale
        self._open_stale += 1
        if self._open[0] == r.id:
            self._drop_stale_open()
        elif 2 * self._open_stale > len(self._open) + 64:
            self._open[:] = [rid for rid in self._open if rid in self.replicas]
            heapify(self._open)
            self._open_stale = 0
    if not r.running:
        try:
            del self._idle[r.id]
        except KeyError:  # it was ripe
            self._n_ripe -= 1
        r.idle_since = None  # so that its id in _ripe, if any, is stale


def drop_stale_open(self: Any) -> None:
    """Pop removed replicas off the top of ``_open``, so that its top has a free slot."""
    open_, replicas = self._open, self.replicas
    while open_ and open_[0] not in replicas:
        heappop(open_)
        self._open_stale -= 1
