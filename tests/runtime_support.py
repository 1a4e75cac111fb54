"""Helpers shared by the runtime tests: a scaled runtime, live-pid checks, trace filters."""
from __future__ import annotations

import time

import psutil

SCALE = 0.01  # 30 policy seconds = 0.3 s of wall time


def alive(pids):
    """The pids still running (a zombie waiting to be reaped does not count)."""
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def wait_for(predicate, timeout=5.0, step=0.02):
    """Poll ``predicate`` until it is truthy or ``timeout`` s pass; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def records(trace, env, kind=None):
    """The records of environment ``env`` (of one ``kind`` if given)."""
    return [r for r in trace if r.env == env and (kind is None or r.kind == kind)]
