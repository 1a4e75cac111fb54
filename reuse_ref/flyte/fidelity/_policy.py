"""Probes of ``ReusePolicy``: each field over a table of values, read back; the accessors; the dataclass."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

from . import cases, probe

REPLICAS = [("2", 2), ("1", 1), ("3", 3), ("100", 100), ("0", 0), ("-1", -1), ("(1, 5)", (1, 5)),
            ("(0, 2)", (0, 2)), ("(0, 0)", (0, 0)), ("(2, 2)", (2, 2)), ("(3, 1)", (3, 1)), ("(-1, 2)", (-1, 2)),
            ("(1, 2, 3)", (1, 2, 3)), ("(1,)", (1,)), ("[1, 2]", [1, 2]), ("(1.0, 2)", (1.0, 2)),
            ('("1", "2")', ("1", "2")), ("True", True), ("(True, 2)", (True, 2)), ("None", None), ('"2"', "2"),
            ("2.0", 2.0)]
TTLS = [("30", 30), ("60", 60), ("3600", 3600), ("29", 29), ("0", 0), ("-30", -30),
        ("timedelta(seconds=30)", timedelta(seconds=30)), ("timedelta(minutes=2)", timedelta(minutes=2)),
        ("timedelta(seconds=29.5)", timedelta(seconds=29.5)), ("timedelta(seconds=30.5)", timedelta(seconds=30.5)),
        ("None", None), ("30.0", 30.0), ('"60"', "60"), ("True", True), ("timedelta.max", timedelta.max),
        ("10**9", 10**9)]
CONCURRENCY = [("1", 1), ("2", 2), ("100", 100), ("0", 0), ("-1", -1), ("True", True), ("1.0", 1.0), ('"2"', "2"),
               ("None", None)]
SCOPE = [('"global"', "global"), ('"run"', "run"), ('"RUN"', "RUN"), ('"session"', "session"), ("None", None)]


def _replicas(f, v):
    p = f.ReusePolicy(replicas=v)
    return (p.replicas, p.min_replicas, p.max_replicas)


def _idle(f, v):
    return f.ReusePolicy(idle_ttl=v).idle_ttl


def _scaledown(f, v):
    p = f.ReusePolicy(scaledown_ttl=v)
    return (p.scaledown_ttl, p.get_scaledown_ttl())


cases("policy", "replicas={}", REPLICAS, _replicas)
cases("policy", "idle_ttl={}", TTLS, _idle)
cases("policy", "scaledown_ttl={}", TTLS, _scaledown)
cases("policy", "concurrency={}", CONCURRENCY, lambda f, v: f.ReusePolicy(concurrency=v).concurrency)
cases("policy", "scope={}", SCOPE, lambda f, v: f.ReusePolicy(scope=v).scope)

probe("policy", "ReusePolicy() defaults",
      lambda f: dataclasses.astuple(f.ReusePolicy()) if dataclasses.is_dataclass(f.ReusePolicy) else None)
probe("policy", "ReusePolicy() fields read back", lambda f: (lambda p: (
    p.replicas, p.idle_ttl, p.concurrency, p.scaledown_ttl, p.scope))(f.ReusePolicy()))
probe("policy", "ReusePolicy(2, 60) (positional arguments)", lambda f: f.ReusePolicy(2, 60).idle_ttl)
probe("policy", "ReusePolicy(2, 60, 4, 90, 'run') (all positional)",
      lambda f: (lambda p: (p.replicas, p.idle_ttl, p.concurrency, p.scaledown_ttl, p.scope))(
          f.ReusePolicy(2, 60, 4, 90, "run")))
probe("policy", "ReusePolicy(unknown=1)", lambda f: f.ReusePolicy(unknown=1))
probe("policy", "ReusePolicy is a dataclass", lambda f: dataclasses.is_dataclass(f.ReusePolicy))
probe("policy", "dataclasses.fields(ReusePolicy)", lambda f: [x.name for x in dataclasses.fields(f.ReusePolicy)])
probe("policy", "dataclasses.replace(policy, concurrency=4)",
      lambda f: dataclasses.replace(f.ReusePolicy(replicas=(1, 3)), concurrency=4).concurrency)
probe("policy", "dataclasses.replace(policy, idle_ttl=10) is validated",
      lambda f: dataclasses.replace(f.ReusePolicy(), idle_ttl=10))
probe("policy", "dataclasses.asdict(policy)", lambda f: dataclasses.asdict(f.ReusePolicy(replicas=(1, 3))))
probe("policy", "equal policies compare equal",
      lambda f: f.ReusePolicy(replicas=3, idle_ttl=60) == f.ReusePolicy(replicas=(3, 3), idle_ttl=timedelta(seconds=60)))
probe("policy", "different policies compare unequal", lambda f: f.ReusePolicy(replicas=3) == f.ReusePolicy(replicas=4))
probe("policy", "type(ReusePolicy()).__name__", lambda f: type(f.ReusePolicy()).__name__)
probe("policy", "min_replicas and max_replicas of (1, 5)",
      lambda f: (lambda p: (p.min_replicas, p.max_replicas))(f.ReusePolicy(replicas=(1, 5))))
probe("policy", "get_scaledown_ttl() default", lambda f: f.ReusePolicy().get_scaledown_ttl())
probe("policy", "ttl accessor", lambda f: f.ReusePolicy(idle_ttl=60).ttl)
probe("policy", "capacity accessor", lambda f: f.ReusePolicy(replicas=(1, 3), concurrency=2).capacity)


def _assign(f):
    p = f.ReusePolicy()
    p.concurrency = 4
    return p.concurrency


probe("policy", "policy.concurrency = 4 (assignment)", _assign)


def _warns(f):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f.ReusePolicy(replicas=1, concurrency=1)
    return [w.category.__name__ for w in caught if "starv" in str(w.message).lower()]


probe("policy", "replicas=1 and concurrency=1 warn (a Python warning)", _warns)
probe("policy", "replicas=1 and concurrency=2 build quietly",
      lambda f: f.ReusePolicy(replicas=1, concurrency=2).max_replicas)
