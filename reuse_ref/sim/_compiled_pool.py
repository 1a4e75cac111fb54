"""The compiled twin of the commonest simulation: one pool of independent jobs, in numba.

The definition is Python: :class:`~reuse_ref.core.pool.Pool` (the rules) driven by
:func:`~reuse_ref.sim.event_loop.run_plain` (the loop of one pool of independent jobs with
neither timeout nor crash). This module writes the same two, for that case only, over
arrays that numba compiles: a plan's thousands of simulations of one workload cost a
fraction of what they cost in Python. It is a *twin*, not a second definition: each
function is the method of the same name in ``Pool``, ``ReplicaSet`` or ``run_plain``, step
for step, and ``tests/test_compiled.py`` checks with hypothesis that it writes the
reference's records, record for record (random workloads, policies, cold starts, both
readings of rule 3). A rule changes in ``core/`` first, then here, and the test says
whether the two agree. All of it is in this one file: numba's cache watches a function's
own file only.

The arrays, and how each stands for the pool's objects, are described with their holder,
:class:`reuse_ref.sim.compiled.State`. An array that is full stops the run with
:data:`ERR_FULL` (the caller runs it again with more room); a time that is not finite, with
:data:`ERR_NOT_FINITE` (the Python loop then runs the workload and says what is wrong).
"""
from __future__ import annotations

import math

from numba import njit

__all__ = ["REASONS", "run", "OK", "ERR_FULL", "ERR_NOT_FINITE", "ERR_DRAWS", "ERR_BROKEN"]

REASONS = ("", "cold", "warm", "scaledown", "idle_ttl")
"""The reasons a record of this twin can carry, by index."""

# record kinds: their index in core.records.KINDS
REPLICA_START, REPLICA_READY, TASK_QUEUED, TASK_START, TASK_END, TASK_FAILED, REPLICA_STOP = range(7)
NO_REASON, COLD, WARM, SCALEDOWN, IDLE_TTL = range(5)
READY, WORK, ARRIVE, WAKE = 0, 1, 3, 4  # event kinds, as in sim.event_loop (arrivals: beside the heap)
STATE, NRUN, SERVED, PREV, NEXT, WHERE = range(6)  # a replica's row of rep
GONE, STARTING, IS_READY = 0, 1, 2  # its STATE
NOWHERE, IN_IDLE, IN_RIPE = 0, 1, 2  # WHERE it is: in ReplicaSet.idle, or moved from it to ripe
(CONC, MIN, MAX, PACED, HAS_IDLE_TTL, ALIVE, LIVE, N_STARTING, N_OPEN, N_RIPE, N_RUNNING, NEXT_ID,
 Q_HEAD, Q_TAIL, SEQ, N_REC, N_EV, N_OPEN_HEAP, OPEN_STALE, N_RIPE_HEAP, N_WAKES,
 HAS_SINCE, LOWEST_ALIVE, ENDED, ERR, N_SI) = range(26)  # slots of si
WAKEUP_AT, EMPTY_SINCE, LAST_SCALEDOWN, SCALEDOWN_TTL, IDLE_TTL_S, COLD_FIXED, N_SF = range(7)  # of sf
OK, ERR_FULL, ERR_NOT_FINITE, ERR_DRAWS, ERR_BROKEN = range(5)
INF = math.inf


def _compiled(fn, **options):
    """``numba.njit``, cached on disk, without numba's reference counting (``_nrt=False``):
    nothing here allocates, and counting the references of every array of the state on
    each call between these functions would cost ten times the work itself. A numba that
    no longer takes the option compiles the same code with the counting."""
    try:
        return njit(cache=True, _nrt=False, **options)(fn)
    except (TypeError, KeyError, ValueError):
        return njit(cache=True, **options)(fn)


def _inlined(fn):
    """:func:`_compiled`, inlined where called (``inline="always"``): each job's small steps."""
    return _compiled(fn, inline="always")


# ---------------------------------------------------------------------- records and heaps
@_inlined
def _record(st, t, kind, rid, task, reason):
    k = st.si[N_REC]
    if k >= st.rec_t.shape[0]:
        st.si[ERR] = ERR_FULL
    else:
        st.rec_t[k], st.rec_k[k], st.rec_r[k], st.rec_x[k], st.rec_c[k] = t, kind, rid, task, reason
        st.si[N_REC] = k + 1


@_inlined
def _move(st, to, frm):
    st.ev_t[to], st.ev_o[to], st.ev_x[to] = st.ev_t[frm], st.ev_o[frm], st.ev_x[frm]


@_inlined
def _push(st, t, kind, x):
    """``heappush(heap, (t, kind, seq, x))``, ordered as those tuples (``ev_o`` holds ``kind``
    and ``seq`` as one int, ``kind << 48 | seq``); ``seq`` counts every push, as the loop's
    does. The new event's place is found first and its parents moved down into the hole."""
    si = st.si
    k = si[N_EV]
    if not math.isfinite(t) or k >= st.ev_t.shape[0]:
        si[ERR] = ERR_FULL if math.isfinite(t) else ERR_NOT_FINITE
        return
    o = (kind << 48) | si[SEQ]
    si[SEQ] += 1
    si[N_EV] = k + 1
    while k > 0:
        parent = (k - 1) >> 1
        if st.ev_t[parent] < t or (st.ev_t[parent] == t and st.ev_o[parent] < o):
            break
        _move(st, k, parent)
        k = parent
    st.ev_t[k], st.ev_o[k], st.ev_x[k] = t, o, x


@_inlined
def _pop(st):
    """Take the first event off (read it at index 0 before): the last one goes down from the
    top into its place, the smaller child moved up into the hole at each level."""
    n = st.si[N_EV] - 1
    st.si[N_EV] = n
    t, o, x = st.ev_t[n], st.ev_o[n], st.ev_x[n]
    k = 0
    while 2 * k + 1 < n:
        child = 2 * k + 1
        right = child + 1
        if right < n and (st.ev_t[right] < st.ev_t[child]
                          or (st.ev_t[right] == st.ev_t[child] and st.ev_o[right] < st.ev_o[child])):
            child = right
        if t < st.ev_t[child] or (t == st.ev_t[child] and o < st.ev_o[child]):
            break
        _move(st, k, child)
        k = child
    st.ev_t[k], st.ev_o[k], st.ev_x[k] = t, o, x


@_inlined
def _sift_down(h, n, k):
    v = h[k]
    while 2 * k + 1 < n:
        child = 2 * k + 1
        if child + 1 < n and h[child + 1] < h[child]:
            child += 1
        if v <= h[child]:
            break
        h[k] = h[child]
        k = child
    h[k] = v


@_inlined
def _heap_push(h, n, v):
    """Push ``v`` on the int min-heap ``h[:n]`` (``open``, or ``ripe`` of negated ids); the new
    size, -1 when ``h`` is full."""
    if n >= h.shape[0]:
        return -1
    k = n
    while k > 0 and h[(k - 1) >> 1] > v:
        h[k] = h[(k - 1) >> 1]
        k = (k - 1) >> 1
    h[k] = v
    return n + 1


@_inlined
def _heap_pop(h, n):
    """Take ``h[0]`` off the int min-heap ``h[:n]``; the new size."""
    h[0] = h[n - 1]
    _sift_down(h, n - 1, 0)
    return n - 1


@_compiled
def _heapify(h, n):
    for k in range((n - 2) // 2, -1, -1):
        _sift_down(h, n, k)


@_inlined
def _open_push(st, rid):
    """``heappush(open, rid)``: ``rid`` has a free slot now."""
    n = _heap_push(st.open, st.si[N_OPEN_HEAP], rid)
    if n < 0:
        st.si[ERR] = ERR_FULL
    else:
        st.si[N_OPEN_HEAP] = n
        st.si[N_OPEN] += 1


@_inlined
def _drop_stale_open(st):
    """``ReplicaSet.drop_stale_open``: pop removed replicas off the top of ``open``."""
    si, h, rep = st.si, st.open, st.rep
    while si[N_OPEN_HEAP] > 0 and rep[h[0], STATE] == GONE:
        si[N_OPEN_HEAP] = _heap_pop(h, si[N_OPEN_HEAP])
        si[OPEN_STALE] -= 1


# ---------------------------------------------------------------------- the idle list (ReplicaSet.idle)
# A ring through rep's PREV and NEXT, row 0 its head: rep[0, NEXT] is the longest idle (0: none).
@_inlined
def _idle_append(st, rid, now):
    rep = st.rep
    st.idle_since[rid] = now
    last = rep[0, PREV]
    rep[rid, WHERE], rep[rid, PREV], rep[rid, NEXT] = IN_IDLE, last, 0
    rep[last, NEXT] = rep[0, PREV] = rid


@_inlined
def _idle_unlink(st, rid):
    rep = st.rep
    prev, nxt = rep[rid, PREV], rep[rid, NEXT]
    rep[prev, NEXT], rep[nxt, PREV] = nxt, prev
    rep[rid, WHERE] = NOWHERE


@_inlined
def _leave_idle(st, rid):
    """An idle replica takes a task or stops: out of ``idle``, or one fewer ripe."""
    if st.rep[rid, WHERE] == IN_IDLE:
        _idle_unlink(st, rid)
    else:
        st.si[N_RIPE] -= 1
        st.rep[rid, WHERE] = NOWHERE


# ---------------------------------------------------------------------- what the rules read
@_inlined
def _scaledown_due(st):
    """``ReplicaSet.scaledown_due`` (paced) or ``PerReplicaSet.scaledown_due``; ``inf`` for None."""
    si, sf = st.si, st.sf
    ttl = sf[SCALEDOWN_TTL]
    if si[PACED] == 1:
        if (st.rep[0, NEXT] == 0 and si[N_RIPE] == 0) or si[LIVE] <= si[MIN]:
            return INF
        if si[N_RIPE] > 0:
            return sf[LAST_SCALEDOWN] + ttl
        due = st.idle_since[st.rep[0, NEXT]] + ttl
        last = sf[LAST_SCALEDOWN]  # -inf when None: never later than due
        if last + ttl > due:
            due = last + ttl
        return due
    if si[LIVE] <= si[MIN]:
        return INF
    if si[N_RIPE] > 0:
        return sf[LAST_SCALEDOWN]
    if st.rep[0, NEXT] == 0:
        return INF
    return st.idle_since[st.rep[0, NEXT]] + ttl


# ---------------------------------------------------------------------- what happened to a replica
@_compiled
def _remove(st, rid):
    """``ReplicaSet.remove``: ``rid`` leaves the set and its indexes (its heap ids go stale)."""
    si, rep = st.si, st.rep
    state = rep[rid, STATE]
    rep[rid, STATE] = GONE
    si[LIVE] -= 1
    if state == STARTING:
        si[N_STARTING] -= 1
        return
    if rep[rid, NRUN] < si[CONC]:  # its id is in open, and now stale
        si[N_OPEN] -= 1
        si[OPEN_STALE] += 1
        if st.open[0] == rid:
            _drop_stale_open(st)
        elif 2 * si[OPEN_STALE] > si[N_OPEN_HEAP] + 64:
            h, n, keep = st.open, si[N_OPEN_HEAP], 0
            for k in range(n):
                if rep[h[k], STATE] != GONE:
                    h[keep] = h[k]
                    keep += 1
            _heapify(h, keep)
            si[N_OPEN_HEAP] = keep
            si[OPEN_STALE] = 0
    if rep[rid, NRUN] == 0:
        _leave_idle(st, rid)


@_compiled
def _stop(st, now, rid, reason):
    _remove(st, rid)
    _record(st, now, REPLICA_STOP, rid, -1, reason)


@_compiled
def _stop_all(st, now, reason):
    """``Pool._stop_all`` (rule 4): every replica stops, in id order; the indexes are emptied."""
    si, rep = st.si, st.rep
    for rid in range(si[LOWEST_ALIVE], si[NEXT_ID]):
        if rep[rid, STATE] != GONE:
            rep[rid, STATE] = GONE
            rep[rid, WHERE] = NOWHERE
            _record(st, now, REPLICA_STOP, rid, -1, reason)
    si[LOWEST_ALIVE] = si[NEXT_ID]
    for slot in (LIVE, N_STARTING, N_OPEN, N_RIPE, N_OPEN_HEAP, OPEN_STALE, N_RIPE_HEAP, ALIVE, HAS_SINCE):
        si[slot] = 0
    rep[0, NEXT] = rep[0, PREV] = 0  # the idle list is empty
    st.sf[LAST_SCALEDOWN] = -INF


@_compiled
def _start_replica(st, now):
    """One replica of rule 2 starts (``ReplicaSet.start``), and is ready after its cold start."""
    si, rep = st.si, st.rep
    rid = si[NEXT_ID]
    if rid >= rep.shape[0] or 0 < st.cold.shape[0] < rid:  # no room, or no cold start drawn for it
        si[ERR] = ERR_FULL if rid >= rep.shape[0] else ERR_DRAWS
        return
    si[NEXT_ID] = rid + 1
    rep[rid, STATE], rep[rid, NRUN], rep[rid, SERVED], rep[rid, WHERE] = STARTING, 0, 0, NOWHERE
    si[LIVE] += 1
    si[N_STARTING] += 1
    _record(st, now, REPLICA_START, rid, -1, NO_REASON)
    _push(st, now + (st.sf[COLD_FIXED] if st.cold.shape[0] == 0 else st.cold[rid - 1]), READY, rid)


# ---------------------------------------------------------------------- the rules
@_compiled
def _start(st, now, task):
    """``Pool._start`` (rule 1 for one task): ``task`` takes a slot on the lowest open replica."""
    si, sf, rep = st.si, st.sf, st.rep
    rid = st.open[0]
    if rep[rid, NRUN] == 0:
        _leave_idle(st, rid)
        si[HAS_SINCE] = 0
        sf[WAKEUP_AT] = _scaledown_due(st)
    rep[rid, NRUN] += 1
    si[N_RUNNING] += 1
    if rep[rid, NRUN] == si[CONC]:
        si[N_OPEN_HEAP] = _heap_pop(st.open, si[N_OPEN_HEAP])
        si[N_OPEN] -= 1
        if si[OPEN_STALE] > 0:
            _drop_stale_open(st)
    served = rep[rid, SERVED]
    rep[rid, SERVED] = served + 1
    _record(st, now, TASK_START, rid, task, WARM if served > 0 else COLD)
    st.task_replica[task] = rid
    _push(st, now + st.dur[task], WORK, task)
    return rid


@_compiled
def _ripe_victim(st, now):
    """``ReplicaSet.ripe_victim``: of the replicas idle for ``scaledown_ttl``, the highest id (0: none)."""
    si, rep = st.si, st.rep
    ttl = st.sf[SCALEDOWN_TTL]
    h = st.ripe
    if si[N_RIPE_HEAP] > 2 * si[N_RIPE] + 64:  # mostly stale: keep the ripe replicas only
        n, keep = si[N_RIPE_HEAP], 0
        for k in range(n):  # each ripe replica once (NEXT marks it: unused while it is not in the idle list)
            rid = -h[k]
            if rep[rid, WHERE] == IN_RIPE and rep[rid, NEXT] != -1:
                rep[rid, NEXT] = -1
                h[keep] = h[k]
                keep += 1
        for k in range(keep):
            rep[-h[k], NEXT] = 0
        _heapify(h, keep)
        si[N_RIPE_HEAP] = keep
    while st.rep[0, NEXT] != 0:
        rid = st.rep[0, NEXT]
        if now < st.idle_since[rid] + ttl:
            break
        _idle_unlink(st, rid)
        rep[rid, WHERE] = IN_RIPE
        n = _heap_push(h, si[N_RIPE_HEAP], -rid)
        if n < 0:
            si[ERR] = ERR_FULL
            return 0
        si[N_RIPE_HEAP] = n
        si[N_RIPE] += 1
    while si[N_RIPE_HEAP] > 0:
        rid = -h[0]
        if rep[rid, WHERE] == IN_RIPE:
            return rid
        si[N_RIPE_HEAP] = _heap_pop(h, si[N_RIPE_HEAP])
    return 0


@_compiled
def _apply(st, now):
    """``Pool._apply``: rules 1 to 4 in order after an event, then the pool's next wake-up."""
    si, sf = st.si, st.sf
    q = st.queue
    # rule 1: the queue's head goes to the lowest open replica
    while si[Q_HEAD] < si[Q_TAIL] and si[N_OPEN] > 0:
        task = q[si[Q_HEAD]]
        si[Q_HEAD] += 1
        _start(st, now, task)
    queued = si[Q_TAIL] - si[Q_HEAD]
    # rule 2: start replicas for the queue, never past max; keep at least min
    if queued > 0 or (si[ALIVE] == 1 and si[LIVE] < si[MIN]):
        conc = si[CONC]
        if si[ALIVE] == 0:
            si[ALIVE] = 1
            needed = -(-queued // conc)
            count = min(si[MAX], max(si[MIN], needed, 1))
        else:
            shortfall = queued - si[N_STARTING] * conc
            count = -(-shortfall // conc) if shortfall > 0 else 0
            count = max(count, si[MIN] - si[LIVE])
            count = min(count, si[MAX] - si[LIVE])
        for _ in range(count):
            _start_replica(st, now)
    if queued > 0 or si[N_RUNNING] > 0:
        si[HAS_SINCE] = 0
    elif si[HAS_SINCE] == 0:
        si[HAS_SINCE] = 1
        sf[EMPTY_SINCE] = now
    # rule 3: stop replicas idle for scaledown_ttl, above min (paced: one per period)
    wake = _scaledown_due(st)
    if now >= wake:
        ttl = sf[SCALEDOWN_TTL]
        while si[LIVE] > si[MIN]:
            if si[PACED] == 1 and now < sf[LAST_SCALEDOWN] + ttl:
                break
            victim = _ripe_victim(st, now)
            if victim == 0:
                break
            sf[LAST_SCALEDOWN] = now
            _stop(st, now, victim, SCALEDOWN)
        wake = _scaledown_due(st)
    # rule 4: the whole environment stops once empty for idle_ttl
    if si[HAS_SINCE] == 1 and si[ALIVE] == 1 and si[HAS_IDLE_TTL] == 1:
        due = sf[EMPTY_SINCE] + sf[IDLE_TTL_S]
        if now >= due:
            _stop_all(st, now, IDLE_TTL)
            wake = INF
        elif due < wake:
            wake = due
    sf[WAKEUP_AT] = wake


@_inlined
def _finish(st, now, task, rid):
    """``Pool.finish`` of an attempt that ended well, with its shortcut (no rule can fire)."""
    si, sf, rep = st.si, st.sf, st.rep
    rep[rid, NRUN] -= 1
    si[N_RUNNING] -= 1
    if rep[rid, NRUN] + 1 == si[CONC]:  # it was full: now it has a free slot
        _open_push(st, rid)
    if rep[rid, NRUN] == 0:
        _idle_append(st, rid, now)
    _record(st, now, TASK_END, rid, task, NO_REASON)
    if rep[rid, NRUN] > 0 and si[Q_HEAD] == si[Q_TAIL] and now < sf[WAKEUP_AT]:
        return
    _apply(st, now)


# ---------------------------------------------------------------------- the loop (run_plain)
@_compiled
def run(st):
    """``run_plain`` over ``st``: every job arrives, runs and ends; returns the error code
    (:data:`OK` when the run is complete; ``st.si[ENDED]`` jobs ended, ``st.si[N_REC]``
    records written)."""
    si, sf, rep = st.si, st.sf, st.rep
    at = st.at
    n = at.shape[0]
    wakes = st.wakes
    i = 0
    next_at = at[0] if n > 0 else INF
    next_wake = INF
    while si[ERR] == OK:
        due = sf[WAKEUP_AT]
        if due < next_wake:
            _push(st, due, WAKE, -1)  # (wakes has room: each of its times is an event of the heap)
            wakes[si[N_WAKES]] = due
            si[N_WAKES] += 1
            next_wake = due
        if si[N_EV] > 0:
            t = st.ev_t[0]
            first = next_at < t or (next_at == t and (st.ev_o[0] >> 48) >= ARRIVE)
        elif i < n:
            first = True
        else:
            break
        if first:  # the next arrival
            task = i
            now = next_at
            i += 1
            next_at = at[i] if i < n else INF
            _record(st, now, TASK_QUEUED, -1, task, NO_REASON)
            if si[N_OPEN] > 0 and si[Q_HEAD] == si[Q_TAIL] and now < sf[WAKEUP_AT]:
                _start(st, now, task)  # Pool.start_if_free: a free slot, nothing queued, no timer due
            else:  # Pool.submit: it joins the queue, and the rules run
                st.queue[si[Q_TAIL]] = task
                si[Q_TAIL] += 1
                _apply(st, now)
            continue
        now = st.ev_t[0]
        kind = st.ev_o[0] >> 48
        x = st.ev_x[0]
        _pop(st)
        if kind == WORK:  # an attempt ends: its job is done
            _finish(st, now, x, st.task_replica[x])
            si[ENDED] += 1
        elif kind == READY:
            if rep[x, STATE] != STARTING:
                continue  # stopped while starting: nothing to do
            rep[x, STATE] = IS_READY
            si[N_STARTING] -= 1
            _open_push(st, x)
            _idle_append(st, x, now)
            _record(st, now, REPLICA_READY, x, -1, NO_REASON)
            _apply(st, now)
        else:  # WAKE
            si[N_WAKES] -= 1
            next_wake = wakes[si[N_WAKES] - 1] if si[N_WAKES] > 0 else INF
            if sf[WAKEUP_AT] <= now:
                _apply(st, now)
                if sf[WAKEUP_AT] <= now:  # the pool asked to be woken and did nothing: a broken invariant
                    si[ERR] = ERR_BROKEN
    return si[ERR]
