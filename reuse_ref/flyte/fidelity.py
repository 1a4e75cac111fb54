"""One set of probes run against Flyte's SDK and against ``reuse_ref.flyte``, and the written list of
where the reference differs on purpose.

Each probe takes the module (``flyte`` or ``reuse_ref.flyte``), does one thing a user does
(build a policy, read an accessor, override a task) and returns a plain value. Bad input
counts as ``refused`` whichever error class says so (the SDK raises ``TypeError`` in
places where the reference's rule is ``ValueError`` for every bad input). :func:`compare`
runs both and gives each probe a verdict: ``same``, or the kind of difference from
:data:`DIFFERENCES` (``stricter``, ``looser``, ``not modelled``); a difference that is not
listed is ``unlisted``, which the shared test (tests/test_fidelity.py) fails on, as it
fails on a listed one that no longer differs. The book's Fidelity page prints the table.
"""
from __future__ import annotations

import warnings
from datetime import timedelta
from typing import Any, Callable, Dict, List, NamedTuple, Tuple

__all__ = ["PROBES", "DIFFERENCES", "outcome", "compare", "Row"]

PROBES: Dict[str, Tuple[str, Callable[[Any], Any]]] = {}


def probe(area: str, name: str):
    def register(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        PROBES[name] = (area, fn)
        return fn
    return register


def _seconds(td: Any) -> Any:
    return td.total_seconds() if isinstance(td, timedelta) else td


def _env(f: Any, name: str = "probe-env", **kw: Any) -> Any:
    kw.setdefault("reusable", f.ReusePolicy(replicas=2))
    return f.TaskEnvironment(name=name, **kw)


def _task(f: Any, env: Any = None, **opts: Any) -> Any:
    env = env if env is not None else _env(f)

    async def double(x: int) -> int:
        return 2 * x

    return env.task(**opts)(double) if opts else env.task(double)


# --- ReusePolicy: construction, validation, accessors --------------------------------------
@probe("policy", "ReusePolicy() defaults")
def _(f): p = f.ReusePolicy(); return (tuple(p.replicas), p.concurrency, _seconds(p.idle_ttl), _seconds(p.scaledown_ttl))
@probe("policy", "replicas=3 is a fixed pool (3, 3)")
def _(f): p = f.ReusePolicy(replicas=3); return (p.min_replicas, p.max_replicas)
@probe("policy", "replicas=(1, 5) autoscales")
def _(f): p = f.ReusePolicy(replicas=(1, 5)); return (p.min_replicas, p.max_replicas)
@probe("policy", "idle_ttl=60 read back as ttl")
def _(f): return _seconds(f.ReusePolicy(idle_ttl=60).ttl)
@probe("policy", "idle_ttl=timedelta(minutes=2)")
def _(f): return _seconds(f.ReusePolicy(idle_ttl=timedelta(minutes=2)).ttl)
@probe("policy", "scaledown_ttl=60 read back")
def _(f): return _seconds(f.ReusePolicy(scaledown_ttl=60).get_scaledown_ttl())
@probe("policy", "idle_ttl=10 (under 30 s)")
def _(f): return f.ReusePolicy(idle_ttl=10)
@probe("policy", "scaledown_ttl=10 (under 30 s)")
def _(f): return f.ReusePolicy(scaledown_ttl=10)
@probe("policy", "concurrency=0")
def _(f): return f.ReusePolicy(concurrency=0)
@probe("policy", "replicas=(3, 1) (min above max)")
def _(f): return f.ReusePolicy(replicas=(3, 1))
@probe("policy", "replicas=0")
def _(f): return f.ReusePolicy(replicas=0).max_replicas
@probe("policy", "replicas=True (a bool)")
def _(f): return f.ReusePolicy(replicas=True).max_replicas
@probe("policy", "replicas=[1, 2] (a two-item list)")
def _(f): return f.ReusePolicy(replicas=[1, 2]).max_replicas
@probe("policy", "idle_ttl=None (always on)")
def _(f): return f.ReusePolicy(idle_ttl=None).ttl
@probe("policy", "replicas=(0, 2) (scale to zero)")
def _(f): p = f.ReusePolicy(replicas=(0, 2)); return (p.min_replicas, p.max_replicas)


# --- Resources -------------------------------------------------------------------------
@probe("resources", 'memory="1Gi" kept as given')
def _(f): return f.Resources(memory="1Gi").memory
@probe("resources", 'cpu="500m" kept as given')
def _(f): return f.Resources(cpu="500m").cpu
@probe("resources", 'gpu="L4:1" kept as given')
def _(f): return f.Resources(gpu="L4:1").gpu
@probe("resources", "cpu=(1, 2) request and limit")
def _(f): return f.Resources(cpu=(1, 2)).cpu
@probe("resources", "cpu=-1")
def _(f): return f.Resources(cpu=-1)
@probe("resources", "gpu=-1")
def _(f): return f.Resources(gpu=-1)


# --- TaskEnvironment -------------------------------------------------------------------
@probe("environment", 'name "my_env-2" (snake/kebab case)')
def _(f): return f.TaskEnvironment(name="my_env-2").name
@probe("environment", 'name "My Env"')
def _(f): return f.TaskEnvironment(name="My Env").name
@probe("environment", 'name "Env" (upper case)')
def _(f): return f.TaskEnvironment(name="Env").name
@probe("environment", "env.tasks keyed by env.function")
def _(f): env = _env(f); _task(f, env); return sorted(env.tasks)
@probe("environment", "short_name changes the display name only")
def _(f): t = _task(f, short_name="twice"); return (t.name, t.short_name)
@probe("environment", "a sync task under concurrency=2")
def _(f):
    env = _env(f, reusable=f.ReusePolicy(replicas=2, concurrency=2))
    def sync(x: int) -> int:
        return x
    return env.task(sync).name
@probe("environment", "pod_template with a reusable environment")
def _(f): return _env(f).task(pod_template="tmpl")
@probe("environment", "clone_with(reusable=None) turns reuse off")
def _(f): return _env(f).clone_with("cold", reusable=None).reusable
@probe("environment", "clone_with keeps what is not given")
def _(f): e = _env(f, resources=f.Resources(cpu=1)); c = e.clone_with("copy"); return (c.name, c.resources == e.resources, c.reusable == e.reusable)
@probe("environment", "clone_with(depends_on=[env])")
def _(f): e = _env(f); return [d.name for d in e.clone_with("main", depends_on=[e]).depends_on]
@probe("environment", "clone_with(unknown=1)")
def _(f): return _env(f).clone_with("x", unknown=1)


# --- override rules --------------------------------------------------------------------
@probe("override", "resources while reusable")
def _(f): return _task(f).override(resources=f.Resources(cpu=2))
@probe("override", "env_vars while reusable")
def _(f): return _task(f).override(env_vars={"A": "1"})
@probe("override", "secrets while reusable")
def _(f): return _task(f).override(secrets="token")
@probe("override", 'resources with reusable="off"')
def _(f): return _task(f).override(reusable="off", resources=f.Resources(cpu=2)).reusable
@probe("override", "reusable=None changes nothing")
def _(f): return _task(f).override(reusable=None).reusable.max_replicas
@probe("override", "reusable=ReusePolicy(replicas=4)")
def _(f): return _task(f).override(reusable=f.ReusePolicy(replicas=4)).reusable.max_replicas
@probe("override", "name cannot be overridden")
def _(f): return _task(f).override(name="other").name
@probe("override", "image cannot be overridden")
def _(f): return _task(f).override(image="python:3.12").name
@probe("override", "short_name")
def _(f): t = _task(f).override(short_name="twice"); return (t.name, t.short_name)
@probe("override", "retries=0 after retries=2")
def _(f): return _retries(_task(f, retries=2).override(retries=0))


# --- task options ----------------------------------------------------------------------
def _retries(t: Any) -> Any:
    return getattr(t.retries, "count", t.retries)


@probe("task options", "retries=3")
def _(f): return _retries(_task(f, retries=3))
@probe("task options", "timeout=60")
def _(f): t = _task(f, timeout=60).timeout; return _seconds(getattr(t, "max_runtime", t))
@probe("task options", 'cache="auto" turns the cache on')
def _(f): c = _task(f, cache="auto").cache; return getattr(c, "behavior", c) in ("auto", True)
@probe("task options", "the task is still the function outside a run")
def _(f): import asyncio; return asyncio.run(_task(f).forward(21))


# --- the rest of the API a reuse program touches -----------------------------------------
@probe("api", "errors.RuntimeUserError(code, message).code")
def _(f): return f.errors.RuntimeUserError("ValueError", "boom").code
@probe("api", "errors.OOMError is a RuntimeUserError")
def _(f): return issubclass(f.errors.OOMError, f.errors.RuntimeUserError)
@probe("api", "Image.from_debian_base().with_pip_packages(...)")
def _(f): return type(f.Image.from_debian_base().with_pip_packages("unionai-reuse")).__name__
@probe("api", "group(...) as a context manager")
def _(f):
    with f.group("g"):
        return "ran"
@probe("api", "@trace keeps the function's result")
def _(f):
    @f.trace
    def add(a: int, b: int) -> int:
        return a + b
    return add(2, 3)
@probe("api", "ctx() outside a task")
def _(f): return f.ctx()


class Difference(NamedTuple):
    kind: str  # stricter, looser or not modelled
    reason: str


DIFFERENCES: Dict[str, Difference] = {
    "replicas=0": Difference("stricter", "a pool that can never have a replica would never run a task; "
                             "the reference asks for max >= 1 at construction"),
    "replicas=True (a bool)": Difference("stricter", "True is an int in Python, but one replica written as True is "
                                         "almost always a mistake"),
    "replicas=[1, 2] (a two-item list)": Difference("looser", "configuration files (JSON, YAML) give pairs as lists"),
    "idle_ttl=None (always on)": Difference("looser", "the user guide documents None as an always-on environment; "
                                            "the SDK's model refuses it"),
    "retries=0 after retries=2": Difference("stricter", "the SDK reads 0 as 'not given' and keeps 2; the reference "
                                            "sets what was written, so a retry can be turned off"),
    "idle_ttl=60 read back as ttl": Difference("looser", "the ReusePolicy API reference of SDK 2.0 lists a ttl "
                                               "accessor that later SDKs dropped; the reference keeps it"),
    "idle_ttl=timedelta(minutes=2)": Difference("looser", "read through the same ttl accessor"),
    "ctx() outside a task": Difference("not modelled", "the SDK's local context object exists outside a run; the "
                                       "reference has a task context only on a replica"),
}


def outcome(fn: Callable[[Any], Any], module: Any) -> Tuple[str, Any]:
    """``("value", v)`` or ``("refused", error class name)`` (any other exception is ``("error", ...)``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = fn(module)
        except (ValueError, TypeError) as exc:
            return ("refused", type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - shown in the table, never hidden
            return ("error", f"{type(exc).__name__}: {exc}"[:80])
    if isinstance(value, (list, tuple)):
        value = tuple(value)
    if value is not None and not isinstance(value, (str, int, float, bool, tuple)):
        value = type(value).__name__
    return ("value", value)


class Row(NamedTuple):
    area: str
    probe: str
    sdk: Tuple[str, Any]
    reference: Tuple[str, Any]
    verdict: str  # same, stricter, looser, not modelled, unlisted, listed-but-same
    reason: str


def _same(a: Tuple[str, Any], b: Tuple[str, Any]) -> bool:
    return a[0] == b[0] and (a[0] == "refused" or a[1] == b[1])


def compare(sdk: Any, reference: Any) -> List[Row]:
    rows = []
    for name, (area, fn) in PROBES.items():
        a, b = outcome(fn, sdk), outcome(fn, reference)
        listed = DIFFERENCES.get(name)
        if _same(a, b):
            verdict, reason = ("same", "") if listed is None else ("listed-but-same", listed.reason)
        else:
            verdict, reason = (listed.kind, listed.reason) if listed else ("unlisted", "")
        rows.append(Row(area, name, a, b, verdict, reason))
    return rows
