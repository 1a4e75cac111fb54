"""Probes of ``@env.task``: each option over a table of values, read back from the task; what a task
inherits from its environment; calling a task outside a run."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from . import cases, probe, run_coroutine


def _env(f, reusable=True, **kw):
    if reusable:
        kw.setdefault("reusable", f.ReusePolicy(replicas=2))
    return f.TaskEnvironment(name="probe-env", **kw)


async def double(x: int) -> int:
    """Twice x."""
    return 2 * x


def count(x: int) -> int:
    return x


def _task(f, reusable=True, **opts):
    env = _env(f, reusable)
    return env.task(**opts)(double) if opts else env.task(double)


def _count(retries):
    return getattr(retries, "count", retries)


# Each option: values given to @env.task, and what is read back from the task.
OPTIONS = {
    "retries": ([("3", 3), ("0", 0), ("-1", -1), ("1.5", 1.5), ('"3"', "3"), ("True", True),
                 ("RetryStrategy(count=2)", "strategy")],
                lambda t: (type(t.retries).__name__, _count(t.retries))),
    "timeout": ([("60", 60), ("0", 0), ("timedelta(minutes=1)", timedelta(minutes=1)), ("-1", -1), ("1.5", 1.5),
                 ('"60"', "60"), ("Timeout(max_runtime=60)", "Timeout60"), ("None", None)],
                lambda t: t.timeout),
    "cache": ([('"auto"', "auto"), ('"override"', "override"), ('"disable"', "disable"), ('"enable"', "enable"),
               ('"always"', "always"), ("True", True), ("False", False), ("None", None),
               ('Cache("auto", serialize=True)', "CacheAuto")],
              lambda t: (t.cache.behavior, t.cache.serialize)),
    "short_name": ([('"twice"', "twice"), ('""', ""), ("None", None)], lambda t: (t.name, t.short_name)),
    "docs": ([('Documentation("Doubles")', "Documentation"), ('"Doubles" (a str)', "Doubles"), ("None", None)],
             lambda t: getattr(t.docs, "description", t.docs)),
    "report": ([("True", True), ("False", False)], lambda t: t.report),
    "interruptible": ([("True", True), ("False", False), ("None", None)], lambda t: t.interruptible),
    "queue": ([('"gpu"', "gpu"), ("None", None)], lambda t: t.queue),
    "max_inline_io_bytes": ([("1024", 1024)], lambda t: t.max_inline_io_bytes),
    "entrypoint": ([("True", True)], lambda t: t.entrypoint),
    "produces_artifacts": ([("True", True)], lambda t: t.produces_artifacts),
    "links": ([("()", ()), ("a Link", "Link")], lambda t: len(t.links)),
    "triggers": ([("()", ()), ("Trigger(Cron)", "Trigger")], lambda t: [x.name for x in t.triggers]),
    "pod_template": ([('"tmpl"', "tmpl"), ("None", None)], lambda t: t.pod_template),
    "service_account": ([('"sa"', "sa"), ("None", None)], lambda t: t.service_account),
    "task_resolver": ([("None", None)], lambda t: t.name),
    # flytekit 1.x spellings, which Flyte 2's env.task does not take
    "deprecated": ([('"use other"', "use other")], lambda t: t.name),
    "cache_version": ([('"1"', "1")], lambda t: t.name),
    "cache_serialize": ([("True", True)], lambda t: t.name),
    "cache_ignore_input_vars": ([('("x",)', ("x",))], lambda t: t.name),
    "unknown": ([("1", 1)], lambda t: t.name),
}


class _Link:
    name = "dashboard"
    icon_uri = ""

    def get_link(self, *args, **kwargs):
        return "https://example.com"


def _value(f, option, v):
    made = {"strategy": lambda: f.RetryStrategy(count=2), "Timeout60": lambda: f.Timeout(max_runtime=60),
            "CacheAuto": lambda: f.Cache(behavior="auto", serialize=True),
            "Documentation": lambda: f.Documentation(description="Doubles"), "Link": lambda: (_Link(),),
            "Trigger": lambda: (f.Trigger("nightly", f.Cron("0 0 * * *")),)}
    if option in ("retries", "timeout", "cache", "docs", "links", "triggers") and v in made:
        return made[v]()
    return v


for option, (table, read) in OPTIONS.items():
    for reusable in (True, False):
        suffix = "" if reusable else " (no reuse)"
        if not reusable and option not in ("pod_template", "service_account", "interruptible", "cache"):
            continue
        cases("task options", f"@env.task({option}={{}}){suffix}", table,
              lambda f, v, o=option, r=read, reuse=reusable: r(_task(f, reuse, **{o: _value(f, o, v)})))

# What a task reads back when no option was given: the SDK's defaults.
READ_BACK = ["name", "short_name", "task_type", "interruptible", "report", "queue", "service_account", "pod_template",
             "env_vars", "resources", "max_inline_io_bytes", "triggers", "links", "entrypoint", "produces_artifacts",
             "parent_env_name", "docs", "timeout", "debuggable", "plugin_config"]
cases("task read-back", "task.{} by default", [(a, a) for a in READ_BACK], lambda f, a: getattr(_task(f), a))
probe("task read-back", "task.retries by default", lambda f: (lambda r: (type(r).__name__, _count(r)))(_task(f).retries))
probe("task read-back", "task.cache by default", lambda f: _task(f).cache.behavior)
probe("task read-back", "task.image by default", lambda f: type(_task(f).image).__name__)
probe("task read-back", "task.reusable", lambda f: _task(f).reusable == f.ReusePolicy(replicas=2))
probe("task read-back", "task.reusable without reuse", lambda f: _task(f, reusable=False).reusable)
probe("task read-back", "task.func is the function", lambda f: _task(f).func is double)
probe("task read-back", "task.__name__", lambda f: _task(f).__name__)
probe("task read-back", "task.__doc__", lambda f: _task(f).__doc__)
probe("task read-back", "callable(task.aio)", lambda f: callable(_task(f).aio))
INHERITED = [("resources", lambda f: f.Resources(cpu=2)), ("env_vars", lambda f: {"A": "1"}),
             ("secrets", lambda f: ["token"]), ("interruptible", lambda f: True), ("queue", lambda f: "q"),
             ("service_account", lambda f: "sa"), ("cache", lambda f: "auto"), ("image", lambda f: "python:3.12")]


def _inherited(f, item):
    name, make = item
    t = _env(f, **{name: make(f)}).task(double)
    value = getattr(t, name)
    return getattr(value, "behavior", value) if name == "cache" else (type(value).__name__ if name == "image" else value)


cases("task read-back", "task.{} from the environment", [(n, (n, m)) for n, m in INHERITED], _inherited)
probe("task read-back", "task.secrets from Secret objects",
      lambda f: [getattr(s, "as_env_var", s) for s in _env(f, secrets=[f.Secret(key="api-key"), "b"]).task(double).secrets])


# A sync function under a policy with more than one slot; an async generator; a plain object.
def _sync(f, concurrency):
    env = f.TaskEnvironment(name="probe-env", reusable=f.ReusePolicy(replicas=2, concurrency=concurrency))
    return env.task(count).name


cases("task options", "a sync task under concurrency={}", [("1", 1), ("2", 2)], _sync)


async def _agen(x: int):
    yield x


probe("task options", "an async generator task", lambda f: _env(f).task(_agen).name)
probe("task options", "env.task(a lambda)", lambda f: _env(f).task(lambda x: x).name)
probe("task options", "env.task(5)", lambda f: _env(f).task(5))
probe("task options", "@env.task() with empty parentheses", lambda f: _env(f).task()(double).name)

# Calling a task outside a run: the SDK's local behaviour.
probe("task call", "an async task outside a run", lambda f: run_coroutine(_task(f)(21)))
probe("task call", "task.forward(21)", lambda f: run_coroutine(_task(f).forward(21)))
def _aio(f):
    out = run_coroutine(_task(f).aio(21))
    if asyncio.iscoroutine(out):  # what the SDK hands back outside a run: closed here, never awaited
        out.close()
        return "<coroutine>"
    return out


probe("task call", "await task.aio(21) outside a run", _aio)
probe("task call", "a sync task outside a run", lambda f: _env(f).task(count)(7))
probe("task call", "await sync_task.aio(7)", lambda f: run_coroutine(_env(f).task(count).aio(7)))


def _raising(f):
    env = _env(f)

    @env.task
    def boom(x: int) -> int:
        raise KeyError(x)
    try:
        boom(1)
    except Exception as exc:  # noqa: BLE001 - what the caller sees is the probe's result
        return (type(exc).__name__, getattr(exc, "code", None))


probe("task call", "a task that raises, called outside a run", _raising)
