"""The command line's options per environment: ``--env NAME``, then NAME's own options.

A program has a driver environment and one or more worker environments, and each has its
own ``ReusePolicy``. ``reuse-ref simulate`` takes a policy per environment in this shape,
made so that candidate values per environment (for ``reuse-ref plan``) read the same::

    --idle-ttl 600 --env driver --replicas 1 --concurrency 8 --env worker --replicas 0,4 --concurrency 2

``--env NAME`` starts NAME's section: the options marked per environment that follow it,
up to the next ``--env``, are NAME's. Those written before the first ``--env`` are every
environment's, unless its section gives its own (``--idle-ttl 600`` above is both
environments'). ``--reusable off`` in a section is an environment without reuse (a fresh
replica for each attempt, as Flyte's ``reusable="off"``). Without any ``--env`` the
options are the one environment's, as they always were. The other options (the workload,
the cold start, the outputs) are the command's, wherever they are written.

argparse reads the options in the order given, so two small actions keep the sections:
:class:`EnvironmentStart` for ``--env`` and :class:`PerEnvironmentValue` for the options
it owns. :func:`section_values` gives each section its values, and :func:`check_environments`
checks the sections against the environments the workload names. Every refusal names the option,
the value and what is allowed, and is a ``ValueError`` (exit status 2 on the command line).
"""
from __future__ import annotations

import argparse
import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

__all__ = ["EnvironmentStart", "PerEnvironmentValue", "add_env_option", "add_reusable_option", "sections",
           "written_before_env", "section_values", "check_environments", "names_text", "OFF", "POLICY_OPTIONS",
           "SIZE_OPTIONS", "SIMULATE_PER_ENV", "policy_of", "resources_of", "simulate_policies", "simulate_example"]

OFF = "off"
"""``--reusable off``: the environment runs without reuse (Flyte's ``reusable="off"``)."""

POLICY_OPTIONS = ("replicas", "concurrency", "idle_ttl", "scaledown_ttl")
"""The options (their dests) that make a ``ReusePolicy``: ``simulate``'s, per ``--env``."""
SIZE_OPTIONS = ("cpu", "memory", "gpu")
"""The options that make a replica's ``Resources``."""
SIMULATE_PER_ENV = POLICY_OPTIONS + ("reusable",) + SIZE_OPTIONS
"""``simulate``'s options per ``--env``."""

_SECTIONS = "_env_sections"  # the namespace's {name: {dest: value}}, in the order given
_CURRENT = "_env_current"    # the section being read (None before the first --env)
_SHARED = "_env_shared"      # the dests written before the first --env


class EnvironmentStart(argparse.Action):
    """``--env NAME``: the options after it, up to the next ``--env``, are NAME's."""

    def __call__(self, parser, namespace, value, option_string=None):
        found = getattr(namespace, _SECTIONS, None)
        if found is None:
            found = {}
            setattr(namespace, _SECTIONS, found)
        if not value:
            raise argparse.ArgumentError(self, f"invalid value {value!r}: give an environment's name")
        if value in found:
            raise argparse.ArgumentError(self, f"{value!r} is given twice: give each environment once, followed "
                                               f"by all its options")
        found[value] = {}
        setattr(namespace, _CURRENT, value)


class PerEnvironmentValue(argparse.Action):
    """An option that belongs to the section it is written in: the current ``--env``'s, or
    before any ``--env`` every environment's (the namespace's own attribute, as a plain
    option). In a section, giving it twice is refused rather than the first value lost."""

    def __call__(self, parser, namespace, value, option_string=None):
        current = getattr(namespace, _CURRENT, None)
        if current is None:
            setattr(namespace, self.dest, value)
            shared = getattr(namespace, _SHARED, None)
            setattr(namespace, _SHARED, (shared or set()) | {self.dest})
            return
        section = getattr(namespace, _SECTIONS)[current]
        if self.dest in section:
            raise argparse.ArgumentError(self, f"given twice for --env {current} ({section[self.dest]!r}, then "
                                               f"{value!r}): give it once in each environment's section")
        section[self.dest] = value


def add_env_option(parser, what: str) -> None:
    """``--env NAME`` on ``parser``; ``what`` says what a section holds (a policy, candidates)."""
    parser.add_argument("--env", action=EnvironmentStart, metavar="NAME",
                        help=f"start the section of environment NAME: the options marked 'per --env' after it, up "
                             f"to the next --env, are its {what}; written before the first --env they are every "
                             f"environment's. Every environment the workload names needs a section once one is given")


def _reusable(text: str) -> str:
    if text.strip().lower() != OFF:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: give off (an environment without reuse: a fresh "
                                         f"replica for each attempt, as Flyte's reusable=\"off\")")
    return OFF


def add_reusable_option(group) -> None:
    """``--reusable off``, an environment without reuse (per ``--env``)."""
    group.add_argument("--reusable", type=_reusable, action=PerEnvironmentValue, metavar="off",
                       help="per --env: off runs the environment without reuse, a fresh replica for each attempt "
                            "(Flyte's reusable=\"off\"); its policy options are then not given")


def sections(args) -> Dict[str, Dict[str, Any]]:
    """``{name: {dest: value}}`` of every ``--env`` given, in the order given (empty without ``--env``)."""
    return dict(getattr(args, _SECTIONS, None) or {})


def written_before_env(args) -> set:
    """The options (their dests) written before the first ``--env``: every environment's."""
    return set(getattr(args, _SHARED, None) or ())


def names_text(names: Iterable[Optional[str]]) -> str:
    """``'driver', 'worker'``: environment names for a message."""
    return ", ".join(repr(n) for n in names)


def section_values(args, dests: Sequence[str]) -> Dict[str, Dict[str, Any]]:
    """Each ``--env`` section's values of ``dests``, ``{name: {dest: value}}`` in the order
    given: the section's own value, else the one written before the first ``--env``, else
    the option's default. Empty without ``--env``."""
    return {name: {dest: section.get(dest, getattr(args, dest)) for dest in dests}
            for name, section in sections(args).items()}


def check_environments(given: Sequence[str], workload_envs: Iterable[Optional[str]], workload: str,
                       example: Callable[[List[str]], str]) -> None:
    """Refuse ``--env`` sections (``given``, their names) that do not match the environments
    the workload names (``workload_envs``, ``None`` for a job that names none): an ``--env``
    the workload does not name, an environment it names without a section, or, without any
    ``--env``, a workload of several environments. ``workload`` is the file's name, and
    ``example(names)`` a line of options for those names, for the message that asks for sections."""
    named: List[str] = []
    for env in workload_envs:
        if env is not None and env not in named:
            named.append(env)
    if not given:
        if len(named) > 1:
            raise ValueError(f"--workload {workload} names {len(named)} environments ({names_text(named)}): give "
                             f"each its own options after --env NAME, e.g. {example(named)}")
        return
    for name in given:
        if name not in named:
            allowed = (f"the workload names {names_text(named)}" if named else
                       "the workload names no environment (it has no env column): give the options without --env")
            raise ValueError(f"--env {name} is not valid: {allowed}")
    missing = [name for name in named if name not in given]
    if missing:
        raise ValueError(f"--workload {workload} names environment {missing[0]!r}, which has no --env section: "
                         f"give every environment of the workload ({names_text(named)}) its options after "
                         f"--env NAME, e.g. {example(named)}")


# ---------------------------------------------------------------------- simulate's policies
def _getter(values):
    return values.get if isinstance(values, dict) else lambda key: getattr(values, key)


def policy_of(values, where: str = ""):
    """The ``ReusePolicy`` of the policy options in ``values`` (the parsed options, or one
    ``--env`` section's ``{dest: value}``); ``where`` (``"--env worker: "``) starts the
    message of a policy the rules refuse, and of any warning the policy gives."""
    from .config.policy import ReusePolicy

    get = _getter(values)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            policy = ReusePolicy(replicas=get("replicas"), concurrency=get("concurrency"),
                                 idle_ttl=get("idle_ttl"), scaledown_ttl=get("scaledown_ttl"))
        except ValueError as e:
            raise ValueError(where + _own_message(e)) from None
    for w in caught:
        warnings.warn(f"{where}{w.message}", w.category, stacklevel=2)
    return policy


def _own_message(error: ValueError) -> str:
    """The policy's own message, without pydantic's framing."""
    errors = getattr(error, "errors", None)
    if callable(errors):
        messages = []
        for item in errors():
            msg = str(item.get("msg", ""))
            messages.append(msg[len("Value error, "):] if msg.startswith("Value error, ") else msg)
        if messages:
            return "; ".join(messages)
    return str(error)


def resources_of(values, where: str = ""):
    """The ``Resources`` of ``--cpu``, ``--memory`` and ``--gpu`` in ``values``, or ``None``."""
    get = _getter(values)
    given = {k: get(k) for k in SIZE_OPTIONS if get(k) is not None}
    if not given:
        return None
    from .config.resources import Resources

    if "gpu" in given and given["gpu"].strip().isdigit():
        given["gpu"] = int(given["gpu"])
    try:
        return Resources(**given)
    except ValueError as e:
        raise ValueError(where + "--" + _own_message(e)) from None


def _without_reuse(values: Dict[str, Any], written: set, where: str) -> bool:
    """Whether ``--reusable off`` applies; refused beside a policy option written with it."""
    if values["reusable"] != OFF:
        return False
    for dest in POLICY_OPTIONS:
        if dest in written:
            raise ValueError(f"{where}--{dest.replace('_', '-')} {values[dest]!r} is not valid with --reusable off: "
                             f"an environment without reuse has no policy; give --reusable off or its policy, "
                             f"not both")
    return True


def simulate_example(names: Sequence[str]) -> str:
    """A line of ``simulate``'s options for the environments ``names``, for a message."""
    return " ".join(f"--env {name} --replicas {'1' if k == 0 else '0,4'}" for k, name in enumerate(names))


def simulate_policies(args):
    """``(policy, resources)`` for :func:`reuse_ref.simulate`, from ``simulate``'s options.

    Without ``--env``: one ``ReusePolicy`` (``None`` for ``--reusable off``) and one size
    (or ``None``). With ``--env``: a mapping of each section's name to its policy (``None``:
    without reuse), and a mapping of those with a size to it (or ``None``). Every policy
    is built before the workload is read, so a bad one is refused first. ``--reusable
    off`` beside a policy option written in the same section (or, written before the first
    ``--env``, beside one in the environment's own section) is refused; ``--name`` with
    ``--env`` too (the sections name the environments)."""
    given = sections(args)
    shared = written_before_env(args)
    if not given:
        values = {dest: getattr(args, dest) for dest in SIMULATE_PER_ENV}
        return (None if _without_reuse(values, shared, "") else policy_of(args)), resources_of(args)
    if args.name is not None:
        raise ValueError(f"--name {args.name!r} is not valid with --env: each environment is named by its "
                         f"--env NAME")
    policies, sizes = {}, {}
    for name, values in section_values(args, SIMULATE_PER_ENV).items():
        where = f"--env {name}: "
        written = set(given[name]) | (shared if "reusable" not in given[name] else set())
        policies[name] = None if _without_reuse(values, written, where) else policy_of(values, where)
        size = resources_of(values, where)
        if size is not None:
            sizes[name] = size
    return policies, (sizes or None)
