"""Probes of ``TaskEnvironment``: its name, each argument over a table of values read back, ``clone_with``,
``add_dependency`` and the tasks it keeps."""
from __future__ import annotations

import dataclasses

from . import cases, probe

NAMES = [('"my_env-2"', "my_env-2"), ('"env"', "env"), ('"a1"', "a1"), ('"My Env"', "My Env"), ('"Env"', "Env"),
         ('"env_"', "env_"), ('"-env"', "-env"), ('"env--x"', "env--x"), ('"env.x"', "env.x"), ('""', ""),
         ('"1env"', "1env"), ('"env\\n"', "env\n"), ("5", 5), ("None", None)]
cases("environment", "name={}", NAMES, lambda f, v: f.TaskEnvironment(name=v).name)
probe("environment", 'TaskEnvironment("env") (name positional)', lambda f: f.TaskEnvironment("env").name)
probe("environment", "TaskEnvironment() (no name)", lambda f: f.TaskEnvironment().name)


def _env(f, **kw):
    return f.TaskEnvironment(name="probe-env", **kw)


def _policy(f):
    return f.ReusePolicy(replicas=2)


# Each argument: values given, read back from the environment.
ARGUMENTS = {
    "reusable": [("ReusePolicy(replicas=2)", _policy), ("None", lambda f: None),
                 ('{"replicas": 2} (a dict)', lambda f: {"replicas": 2}), ('"off"', lambda f: "off"),
                 ("True", lambda f: True)],
    "resources": [('Resources(cpu=1, memory="1Gi")', lambda f: f.Resources(cpu=1, memory="1Gi")),
                  ('{"cpu": 1} (a dict)', lambda f: {"cpu": 1}), ("None", lambda f: None)],
    "env_vars": [('{"A": "1"}', lambda f: {"A": "1"}), ('{"A": 1} (an int value)', lambda f: {"A": 1}),
                 ('[("A", "1")]', lambda f: [("A", "1")]), ("{}", lambda f: {})],
    "secrets": [('"token"', lambda f: "token"), ('["a", "b"]', lambda f: ["a", "b"]),
                ('Secret("api-key")', lambda f: f.Secret(key="api-key")),
                ('[Secret("k", group="g"), "b"]', lambda f: [f.Secret(key="k", group="g"), "b"]),
                ("123", lambda f: 123), ('("a", "b") (a tuple)', lambda f: ("a", "b")),
                ('{"A": "1"} (a dict)', lambda f: {"A": "1"})],
    "image": [('"python:3.12"', lambda f: "python:3.12"), ('"auto"', lambda f: "auto"), ("None", lambda f: None),
              ("Image.from_debian_base()", lambda f: f.Image.from_debian_base()), ("5", lambda f: 5)],
    "description": [('"Runs things"', lambda f: "Runs things"), ('"x" * 300', lambda f: "x" * 300),
                    ("5", lambda f: 5)],
    "interruptible": [("True", lambda f: True), ("False", lambda f: False), ('"yes"', lambda f: "yes")],
    "include": [('("a.txt",)', lambda f: ("a.txt",)), ('["a.txt"]', lambda f: ["a.txt"]),
                ('"a.txt" (a bare str)', lambda f: "a.txt"), ("(1,)", lambda f: (1,))],
    "service_account": [('"runner"', lambda f: "runner"), ("5", lambda f: 5)],
    "queue": [('"gpu-queue"', lambda f: "gpu-queue"), ("5", lambda f: 5)],
    "cache": [('"auto"', lambda f: "auto"), ('"always"', lambda f: "always"), ("True", lambda f: True),
              ("5", lambda f: 5), ('Cache("auto")', lambda f: f.Cache(behavior="auto"))],
    "pod_template": [('"tmpl"', lambda f: "tmpl"), ("PodTemplate()", lambda f: f.PodTemplate()), ("5", lambda f: 5)],
    "plugin_config": [("object()", lambda f: object())],
    "depends_on": [("[another environment]", lambda f: [f.TaskEnvironment(name="other")]),
                   ('["other"]', lambda f: ["other"]), ("None", lambda f: None)],
}
for arg, table in ARGUMENTS.items():
    cases("environment", f"{arg}={{}} read back", table,
          lambda f, make, a=arg: getattr(_env(f, **{a: make(f)}), a))
    if arg != "reusable":
        cases("environment", f"{arg}={{}} with a reusable policy", table,
              lambda f, make, a=arg: getattr(_env(f, reusable=_policy(f), **{a: make(f)}), a))

probe("environment", "defaults read back", lambda f: (lambda e: (
    e.reusable, e.resources, e.env_vars, e.secrets, e.description, e.interruptible, e.include, e.service_account,
    e.queue, e.cache, e.pod_template, e.plugin_config, e.depends_on))(_env(f)))
probe("environment", "image default", lambda f: _env(f).image)
probe("environment", "TaskEnvironment(unknown=1)", lambda f: _env(f, unknown=1))
probe("environment", "isinstance(env, Environment)", lambda f: isinstance(_env(f), f.Environment))
probe("environment", "TaskEnvironment is a dataclass", lambda f: dataclasses.is_dataclass(f.TaskEnvironment))
probe("environment", "env.tasks before any task", lambda f: _env(f).tasks)


def _async(x: int) -> int:
    return x


async def double(x: int) -> int:
    return 2 * x


def _with_task(f):
    env = _env(f, reusable=_policy(f))
    env.task(double)
    return env


probe("environment", "env.tasks keyed by env.function", lambda f: sorted(_with_task(f).tasks))
probe("environment", "env.tasks values are the tasks", lambda f: [t.name for t in _with_task(f).tasks.values()])

# clone_with: what is kept, what is replaced.
CLONES = [("name only", {}), ("reusable=None", {"reusable": None}),
          ("reusable=ReusePolicy(replicas=4)", {"reusable": "policy4"}), ('image="python:3.12"', {"image": "python:3.12"}),
          ('env_vars={"B": "2"}', {"env_vars": {"B": "2"}}), ('secrets="s"', {"secrets": "s"}),
          ('description="d"', {"description": "d"}), ("interruptible=True", {"interruptible": True}),
          ('cache="auto"', {"cache": "auto"}), ('queue="q"', {"queue": "q"}), ("unknown=1", {"unknown": 1}),
          ('include=["x"]', {"include": ["x"]}), ('service_account="sa"', {"service_account": "sa"})]


def _clone(f, changes):
    base = _env(f, reusable=_policy(f), resources=f.Resources(cpu=1), env_vars={"A": "1"}, description="base",
                cache="auto", queue="base-q")
    changes = {k: (f.ReusePolicy(replicas=4) if v == "policy4" else v) for k, v in changes.items()}
    c = base.clone_with("copy", **changes)
    return (c.name, c.reusable == base.reusable, getattr(c.reusable, "max_replicas", None), c.resources == base.resources,
            c.env_vars, c.secrets, c.description, c.interruptible, c.cache, c.queue, c.include, c.service_account,
            c.image == base.image, len(c.tasks))


cases("environment", "clone_with({})", CLONES, _clone)
probe("environment", "clone_with(name=...) by keyword", lambda f: _env(f).clone_with(name="copy").name)
probe("environment", "clone_with(depends_on=[env])",
      lambda f: (lambda e: [d.name for d in e.clone_with("main", depends_on=[e]).depends_on])(_env(f)))
probe("environment", 'clone_with("Bad Name")', lambda f: _env(f).clone_with("Bad Name").name)
probe("environment", "clone_with keeps the tasks out", lambda f: len(_with_task(f).clone_with("copy").tasks))


def _add(f, what):
    env = _env(f)
    other = f.TaskEnvironment(name="other")
    args = {"another environment": (other,), "the same one twice": (other, other), "itself": (env,),
            "a string": ("other",)}[what]
    env.add_dependency(*args)
    return [d.name for d in env.depends_on]


cases("environment", "add_dependency({})", [(w, w) for w in ("another environment", "the same one twice", "itself",
                                                              "a string")], _add)
