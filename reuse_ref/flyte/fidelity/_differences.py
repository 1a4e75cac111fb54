"""Where the reference differs from the SDK on purpose, probe by probe, with the reason.

Kinds: **stricter** (the reference refuses what the SDK accepts), **looser** (it accepts
what the SDK refuses), **not modelled** (a name the reference refuses, naming the
feature), **shape** (both work, the value or the type differs). Each reason says what
the difference protects, or what the reference would have to give up without it.
"""
from __future__ import annotations

from typing import Dict, Iterable

from .. import REFUSED
from . import Difference
from ._names import ALL

DIFFERENCES: Dict[str, Difference] = {}


def _list(kind: str, reason: str, probes: Iterable[str]) -> None:
    for name in probes:
        DIFFERENCES[name] = Difference(kind, reason)


# --- ReusePolicy --------------------------------------------------------------------------
_list("stricter", "a pool whose maximum is 0 can never run a task, so every call would wait forever; the reference "
                  "asks for max >= 1 when the policy is built (min 0, scale to zero, is fine)",
      ["replicas=0", "replicas=(0, 0)"])
_list("stricter", "True is an int in Python, but a count written as True is almost always a mistake (True replicas, "
                  "True tasks per replica); the reference refuses a bool where it wants a count",
      ["replicas=True", "replicas=(True, 2)", "concurrency=True", "cpu=True", "gpu=True", "gpu=True get_device()",
       "@env.task(retries=True)"])
_list("looser", "configuration files (JSON, YAML) give a pair as a list; the reference reads [min, max] as (min, max)",
      ["replicas=[1, 2]"])
_list("looser", "the user guide documents idle_ttl=None as an always-on environment and the reference models it; "
                "the SDK refuses it, so a program for the SDK spells an always-on pool as a long idle_ttl instead",
      ["idle_ttl=None"])
_list("stricter", "plans and traces store a policy as JSON, whose float seconds cannot hold timedelta.max to the "
                  "microsecond; the reference refuses a TTL that would not read back as itself (a day, a year, "
                  "any whole number of seconds is fine)",
      ["idle_ttl=timedelta.max", "scaledown_ttl=timedelta.max"])
_list("looser", "the ReusePolicy API reference of SDK 2.0 lists a ttl accessor that later SDKs dropped; the "
                "reference keeps it, so programs written then still run", ["ttl accessor"])
_list("looser", "the SDK's docstring defines capacity as max_replicas x concurrency; the reference names it, "
                "since every plan and page reasons with it", ["capacity accessor"])
_list("stricter", "a policy is the key of its pool: one changed after an environment took it would leave that "
                  "environment's tasks in the pool of the old policy, and the change would skip every check "
                  "(the SDK takes concurrency = 0 without a word); dataclasses.replace() makes a checked copy",
      ["policy.concurrency = 4 (assignment)"])
_list("shape", "the reference warns with a Python warning (StarvationWarning, a UserWarning) where the SDK writes a "
               "log line: a warning can be caught, filtered and tested, and it is given once, not once per replica",
      ["replicas=1 and concurrency=1 warn (a Python warning)"])

# --- Resources ------------------------------------------------------------------------------
_list("stricter", "the runtime reads these quantities (it places a replica by its cores and kills one that goes over "
                  "its memory), and Kubernetes refuses them when the task is deployed; the reference refuses a "
                  "quantity it cannot read when it is written, naming it",
      ['cpu="abc"', 'cpu="-1"', 'memory="1Gb"', 'memory="abc"', 'memory="-1Gi"', 'disk="ten"', 'shm="big"'])

# --- TaskEnvironment ------------------------------------------------------------------------
_list("stricter", "a replica starts with these variables in its environment, which holds strings only; the SDK "
                  "keeps an int and fails when the task is deployed, the reference refuses it when it is written",
      ['env_vars={"A": 1} (an int value) read back', 'env_vars={"A": 1} (an int value) with a reusable policy'])
_list("stricter", '"yes" and "no" are both true to Python: interruptible takes True or False here',
      ['interruptible="yes" read back', 'interruptible="yes" with a reusable policy'])
_list("shape", "the environment is the reference's validated model (pydantic), which its simulator and planner "
               "take too; every argument reads back as in the SDK, but dataclasses.replace(env, ...) is not "
               "available: env.clone_with(...) is the SDK's own way to copy one", ["TaskEnvironment is a dataclass"])
_list("shape", "the SDK's docstring says a dependency added twice is ignored, and its code adds it twice; the "
               "reference does what the docstring says", ["add_dependency(the same one twice)"])

# --- tasks ----------------------------------------------------------------------------------
_list("stricter", "the runtime bounds every attempt by the timeout: a negative number, a float or a string cannot "
                  "bound anything, and the SDK fails on them only when the task is deployed",
      ["@env.task(timeout=-1)", "@env.task(timeout=1.5)", '@env.task(timeout="60")'])
_list("shape", "the reference wraps the function so that each replica notes its process id, which reuse-ref run "
               "reports per environment as evidence that tasks ran on warm replicas; task.func(...) and "
               "task.forward(...) call the function as in the SDK", ["task.func is the function"])
_list("shape", "a task carries its function's name, module and docstring (functools.update_wrapper) so that "
               "pickle finds it by name in a replica process; the SDK's task is a dataclass that has neither",
      ["task.__name__", "task.__doc__"])
_list("stricter", "the reference names the parameter and what it takes (a function); the SDK fails on the "
                  "missing __name__ with an AttributeError", ["env.task(5)"])
_list("shape", "outside a run, the SDK's task.aio(...) of an async task hands back an un-awaited coroutine (and "
               "Python warns that it was never awaited); the reference returns the task's result, which is what "
               "await task.aio(...) means inside a run", ["await task.aio(21) outside a run"])
_list("stricter", 'only "off" turns reuse off: the SDK keeps "OFF" as the policy and fails when the task is '
                  'deployed, reads False as "keep the policy" (so reuse stays on), and keeps a dict as the policy',
      [f"override(reusable={v}) on {w}" for v in ('"OFF"', "False", '{"replicas": 4} (a dict)')
       for w in ("a reusable task", "a task without reuse")])
_list("stricter", "a sync task cannot share a replica: the SDK refuses it under a policy with concurrency > 1 "
                  "when the task is defined, and the reference refuses the same task given that policy by override",
      ["override(reusable=ReusePolicy(concurrency=2)) of a sync task"])

# --- names the reference refuses (NotModelledAttributeError, naming the feature) -------------
for _name in ALL:
    if _name in REFUSED:
        _list("not modelled", REFUSED[_name], [f"hasattr(flyte, {_name!r})",
                                               f"flyte.{_name} is a class, a callable or a value"])
_list("not modelled", REFUSED["latest_checkpoint"], ["latest_checkpoint() outside a task"])
