"""Probes of ``task.override`` and of the option objects a task takes: ``Cache``, ``Secret``,
``RetryStrategy``, ``Backoff``, ``Timeout``, ``Documentation``, ``Image``, ``PodTemplate``, triggers."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

from . import cases, probe


async def double(x: int) -> int:
    return 2 * x


def _task(f, reusable=True, **opts):
    kw = {"reusable": f.ReusePolicy(replicas=2)} if reusable else {}
    env = f.TaskEnvironment(name="probe-env", **kw)
    return env.task(**opts)(double) if opts else env.task(double)


def _count(retries):
    return getattr(retries, "count", retries)


def _made(f, v):
    """Table values that need the module: named by a string that starts with '@'."""
    if not (isinstance(v, str) and v.startswith("@")):
        return v
    return {"@policy4": lambda: f.ReusePolicy(replicas=4), "@policy-c2": lambda: f.ReusePolicy(replicas=2, concurrency=2),
            "@resources": lambda: f.Resources(cpu=2), "@cache": lambda: f.Cache(behavior="auto"),
            "@secret": lambda: f.Secret(key="token"), "@strategy": lambda: f.RetryStrategy(count=5),
            "@timeout": lambda: f.Timeout(max_runtime=90), "@docs": lambda: f.Documentation(description="d"),
            "@image": lambda: f.Image.from_debian_base()}[v]()


# override(option=value) on a reusable task and on one without reuse: what is read back.
OVERRIDES = [
    ("reusable", [('"off"', "off"), ("None", None), ("ReusePolicy(replicas=4)", "@policy4"), ('"OFF"', "OFF"),
                  ("False", False), ('{"replicas": 4} (a dict)', {"replicas": 4})],
     lambda t: getattr(t.reusable, "max_replicas", t.reusable)),
    ("resources", [("Resources(cpu=2)", "@resources")], lambda t: getattr(t.resources, "cpu", None)),
    ("env_vars", [('{"A": "1"}', {"A": "1"})], lambda t: t.env_vars),
    ("secrets", [('"token"', "token"), ("Secret(\"token\")", "@secret")],
     lambda t: [getattr(s, "key", s) for s in (t.secrets if isinstance(t.secrets, list) else [t.secrets])]),
    ("service_account", [('"sa"', "sa")], lambda t: t.service_account),
    ("retries", [("3", 3), ("0", 0), ("RetryStrategy(count=5)", "@strategy"), ("-1", -1)],
     lambda t: _count(t.retries)),
    ("timeout", [("60", 60), ("0", 0), ("timedelta(seconds=90)", timedelta(seconds=90)),
                 ("Timeout(max_runtime=90)", "@timeout")],
     lambda t: getattr(t.timeout, "max_runtime", t.timeout)),
    ("cache", [('"auto"', "auto"), ('"disable"', "disable"), ('Cache("auto")', "@cache"), ("True", True)],
     lambda t: t.cache.behavior),
    ("short_name", [('"twice"', "twice"), ('""', "")], lambda t: (t.name, t.short_name)),
    ("interruptible", [("True", True), ("False", False)], lambda t: t.interruptible),
    ("queue", [('"q"', "q")], lambda t: t.queue),
    ("pod_template", [('"tmpl"', "tmpl")], lambda t: t.pod_template),
    ("max_inline_io_bytes", [("2048", 2048), ("0", 0)], lambda t: t.max_inline_io_bytes),
    ("links", [("()", ())], lambda t: len(t.links)),
    ("entrypoint", [("True", True)], lambda t: t.entrypoint),
    ("produces_artifacts", [("True", True)], lambda t: t.produces_artifacts),
    ("debuggable", [("True", True), ("False", False)], lambda t: t.debuggable),
    ("report", [("True", True)], lambda t: t.report),
    ("plugin_config", [("object()", "object")], lambda t: t.name),
    ("name", [('"other"', "other")], lambda t: t.name),
    ("image", [('"python:3.12"', "python:3.12")], lambda t: t.name),
    ("docs", [('Documentation("d")', "@docs")], lambda t: t.name),
    ("interface", [("None", None)], lambda t: t.name),
    ("unknown", [("1", 1)], lambda t: t.name),
]
for option, table, read in OVERRIDES:
    for reusable in (True, False):
        where = "a reusable task" if reusable else "a task without reuse"
        cases("override", f"override({option}={{}}) on {where}", table,
              lambda f, v, o=option, r=read, reuse=reusable: r(_task(f, reuse).override(
                  **{o: object() if v == "object" else _made(f, v)})))

probe("override", 'override(reusable="off", resources=...) on a reusable task',
      lambda f: (lambda t: (t.reusable, t.resources.cpu))(_task(f).override(reusable="off", resources=f.Resources(cpu=2))))
probe("override", 'override(reusable="off", env_vars=..., secrets=...) on a reusable task',
      lambda f: (lambda t: (t.reusable, t.env_vars))(_task(f).override(reusable="off", env_vars={"A": "1"}, secrets="s")))
probe("override", "override(reusable=ReusePolicy(concurrency=2)) of a sync task",
      lambda f: f.TaskEnvironment(name="probe-env").task(lambda x: x).override(
          reusable=f.ReusePolicy(replicas=2, concurrency=2)).reusable.concurrency)
probe("override", "override() with no arguments keeps everything",
      lambda f: (lambda t, o: (o.name, o.short_name, _count(o.retries), o.reusable == t.reusable))(
          *(lambda t: (t, t.override()))(_task(f, retries=2))))
probe("override", "override(retries=0) after retries=2", lambda f: _count(_task(f, retries=2).override(retries=0).retries))
probe("override", "override(timeout=0) after timeout=60", lambda f: _task(f, timeout=60).override(timeout=0).timeout)
probe("override", "override(cache=None) keeps the cache",
      lambda f: _task(f, cache="auto").override(cache=None).cache.behavior)
probe("override", "override returns a new task", lambda f: (lambda t: t.override(short_name="x") is not t)(_task(f)))
probe("override", "override leaves the original as it was",
      lambda f: (lambda t: (t.override(short_name="x"), t.short_name)[1])(_task(f)))
probe("override", "override(reusable=ReusePolicy(replicas=4)) keeps the environment's name",
      lambda f: _task(f).override(reusable=f.ReusePolicy(replicas=4)).parent_env_name)

# The option objects, over tables of their arguments.
CACHES = [('"auto"', {"behavior": "auto"}), ('"override", version_override="1"', {"behavior": "override",
                                                                                  "version_override": "1"}),
          ('"override"', {"behavior": "override"}), ('"disable"', {"behavior": "disable"}),
          ('"enable"', {"behavior": "enable"}), ('"ON"', {"behavior": "ON"}), ('"no"', {"behavior": "no"}),
          ('"always"', {"behavior": "always"}), ("True", {"behavior": True}), ("(no behavior)", {}),
          ('"auto", serialize=True', {"behavior": "auto", "serialize": True}),
          ('"auto", ignored_inputs="x"', {"behavior": "auto", "ignored_inputs": "x"}),
          ('"auto", ignored_inputs=("x", "y")', {"behavior": "auto", "ignored_inputs": ("x", "y")}),
          ('"auto", salt="s"', {"behavior": "auto", "salt": "s"}), ('"auto", policies=[]', {"behavior": "auto",
                                                                                          "policies": []}),
          ('"auto", max_age=60', {"behavior": "auto", "max_age": 60}),
          ('"auto", max_age=-1', {"behavior": "auto", "max_age": -1}),
          ('"auto", max_age="1h"', {"behavior": "auto", "max_age": "1h"}),
          ('"disable", policies=[]', {"behavior": "disable", "policies": []})]
cases("cache", "Cache({})", CACHES, lambda f, kw: (lambda c: (
    c.behavior, c.version_override, c.serialize, c.get_ignored_inputs(), c.is_enabled(), c.max_age))(f.Cache(**kw)))
probe("cache", 'Cache("override", version_override="7").get_version()',
      lambda f: f.Cache(behavior="override", version_override="7").get_version())
probe("cache", 'Cache("disable").get_version()', lambda f: f.Cache(behavior="disable").get_version())
probe("cache", 'Cache("auto").get_version() without parameters', lambda f: f.Cache(behavior="auto").get_version())
probe("cache", "Cache is a dataclass", lambda f: dataclasses.is_dataclass(f.Cache))
probe("cache", "a Cache's default policy is a CachePolicy",
      lambda f: [isinstance(p, f.CachePolicy) for p in f.Cache(behavior="auto").policies])

SECRETS = [('"api-key"', {"key": "api-key"}), ('"k", group="g"', {"key": "k", "group": "g"}),
           ('"k", as_env_var="MY_VAR"', {"key": "k", "as_env_var": "MY_VAR"}),
           ('"k", as_env_var="my-var"', {"key": "k", "as_env_var": "my-var"}),
           ('"k", mount="/etc/flyte/secrets"', {"key": "k", "mount": "/etc/flyte/secrets"}),
           ('"k", mount="/elsewhere"', {"key": "k", "mount": "/elsewhere"}), ('"1k"', {"key": "1k"}),
           ('"k.v"', {"key": "k.v"}), ("(no key)", {})]
cases("secrets", "Secret({})", SECRETS,
      lambda f, kw: (lambda s: (s.key, s.group, None if s.mount is None else str(s.mount), s.as_env_var))(f.Secret(**kw)))
probe("secrets", 'Secret("k") == Secret("k")', lambda f: f.Secret(key="k") == f.Secret(key="k"))
probe("secrets", 'hash(Secret("k")) is stable', lambda f: hash(f.Secret(key="k")) == hash(f.Secret(key="k")))

RETRIES = [("3", {"count": 3}), ("0", {"count": 0}), ("-1", {"count": -1}), ("1.5", {"count": 1.5}),
           ("(no count)", {})]
cases("retries", "RetryStrategy({})", RETRIES, lambda f, kw: (lambda r: (r.count, r.backoff))(f.RetryStrategy(**kw)))
BACKOFFS = [("base=10s", {"base": timedelta(seconds=10)}),
            ("base=10s, factor=2, cap=5min", {"base": timedelta(seconds=10), "factor": 2.0, "cap": timedelta(minutes=5)}),
            ("base=10s, factor=2 (no cap)", {"base": timedelta(seconds=10), "factor": 2.0}),
            ("base=-1s", {"base": timedelta(seconds=-1)}), ("base=10s, factor=0.5", {"base": timedelta(seconds=10),
                                                                                       "factor": 0.5}),
            ("base=10 (an int)", {"base": 10}), ("(no base)", {})]
cases("retries", "Backoff({})", BACKOFFS, lambda f, kw: (lambda b: (b.base, b.factor, b.cap))(f.Backoff(**kw)))
probe("retries", "Backoff(10s, 2, 5min).compute_delay(3)",
      lambda f: f.Backoff(base=timedelta(seconds=10), factor=2.0, cap=timedelta(minutes=5)).compute_delay(3))
probe("retries", "RetryStrategy(count=2, backoff=Backoff(10s)) on a task",
      lambda f: _count(_task(f, retries=f.RetryStrategy(count=2, backoff=f.Backoff(base=timedelta(seconds=10)))).retries))
TIMEOUTS = [("max_runtime=60", {"max_runtime": 60}), ("max_runtime=timedelta(1 min)", {"max_runtime": timedelta(minutes=1)}),
            ("max_queued_time=60", {"max_queued_time": 60}), ("deadline=3600", {"deadline": 3600}), ("()", {})]
cases("retries", "Timeout({})", TIMEOUTS,
      lambda f, kw: (lambda t: (t.max_runtime, t.max_queued_time, t.deadline))(f.Timeout(**kw)))
probe("task options", 'Documentation("d").description', lambda f: f.Documentation(description="d").description)
probe("task options", "Documentation() (no description)", lambda f: f.Documentation().description)

IMAGES = [("Image.from_debian_base()", lambda f: f.Image.from_debian_base()),
          ('Image.from_debian_base(python="3.12")', lambda f: f.Image.from_debian_base(python="3.12")),
          ('Image.from_base("python:3.12")', lambda f: f.Image.from_base("python:3.12")),
          ('...with_pip_packages("numpy")', lambda f: f.Image.from_debian_base().with_pip_packages("numpy")),
          ('...with_apt_packages("curl")', lambda f: f.Image.from_debian_base().with_apt_packages("curl")),
          ('...with_env_vars({"A": "1"})', lambda f: f.Image.from_debian_base().with_env_vars({"A": "1"})),
          ('...with_commands(["echo"])', lambda f: f.Image.from_debian_base().with_commands(["echo"])),
          ('Image.from_ref_name("my-image")', lambda f: f.Image.from_ref_name("my-image"))]
cases("image", "{}", IMAGES, lambda f, make: type(make(f)).__name__)
probe("image", "Image.from_debian_base() twice compare equal",
      lambda f: f.Image.from_debian_base() == f.Image.from_debian_base())
probe("image", 'Image.from_base("python:3.12").uri', lambda f: f.Image.from_base("python:3.12").uri)
probe("image", "an environment's image given as a str reads back", lambda f: f.TaskEnvironment(
    name="probe-env", image="python:3.12").image)
probe("image", "a task's image from a str", lambda f: type(f.TaskEnvironment(name="probe-env", image="python:3.12")
                                                           .task(double).image).__name__)
probe("image", "PodTemplate() fields", lambda f: (lambda p: (p.pod_spec, p.primary_container_name, p.labels,
                                                             p.annotations))(f.PodTemplate()))

TRIGGERS = [("Cron(\"0 * * * *\")", lambda f: f.Trigger("hourly", f.Cron("0 * * * *"))),
            ("FixedRate(60)", lambda f: f.Trigger("often", f.FixedRate(60))),
            ("no automation", lambda f: f.Trigger("manual"))]
cases("names", "Trigger with {}", TRIGGERS, lambda f, make: make(f).name)
probe("names", 'Cron("0 * * * *").expression', lambda f: f.Cron("0 * * * *").expression)
probe("names", "FixedRate(60).interval_minutes", lambda f: f.FixedRate(60).interval_minutes)
