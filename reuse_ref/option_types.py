"""The command line's option values: each read from its text, or refused with what is allowed.

``argparse`` calls these as an option's ``type``: a bad value is an ``ArgumentTypeError``,
which argparse reports with the option's name and exit status 2. They are shared by the
commands (``simulate``, ``plan``, ``run``) so that one option reads the same everywhere.
"""
from __future__ import annotations

import argparse

from .environment_options import PerEnvironmentValue

__all__ = ["replicas", "ttl", "seconds_int", "positive_int", "seconds", "cold_start", "scaledown", "add_scaledown",
           "add_cold_start", "add_replica_size", "cold"]


def replicas(text: str):
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = None
    if values is None or len(values) not in (1, 2):
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: give N (a fixed pool) or MIN,MAX, e.g. 3 or 2,5")
    return values[0] if len(values) == 1 else tuple(values)


def ttl(text: str):
    if text.strip().lower() == "none":
        return None
    return seconds_int(text)


def seconds_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: give a whole number of seconds") from None


def positive_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: give a whole number") from None


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: give a number of seconds >= 0")
    return value


def cold_start(text: str):
    from .sim.cold_starts import parse_cold_start

    try:
        return parse_cold_start(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: give a number of seconds >= 0, "
                                         f"samples:S1,S2,... or lognormal:MEDIAN,P95") from None


def scaledown(text: str) -> str:
    """``paced`` or ``per-replica`` (``per_replica`` too), as the Python keyword spells it."""
    value = text.strip().lower().replace("-", "_")
    if value not in ("paced", "per_replica"):
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: give paced or per-replica (the reading of "
                                         f"rule 3 for scaledown_ttl)")
    return value


def add_scaledown(parser) -> None:
    parser.add_argument("--scaledown", type=scaledown, default="paced", metavar="paced|per-replica",
                        help="the reading of rule 3: paced (default; at most one replica stops per scaledown_ttl "
                             "period) or per-replica (each replica above min stops once idle for scaledown_ttl)")


def add_replica_size(parser, title: str) -> None:
    """``--cpu``, ``--memory`` and ``--gpu``: one replica's size, in an ``--env`` section or for
    every environment (``simulate`` measures the footprint with it, ``plan`` also prices it)."""
    size = parser.add_argument_group(title)
    size.add_argument("--cpu", metavar="CORES", action=PerEnvironmentValue, help='cores per replica, e.g. 2 or "500m"')
    size.add_argument("--memory", metavar="QUANTITY", action=PerEnvironmentValue,
                      help='memory per replica, e.g. "4Gi"')
    size.add_argument("--gpu", metavar="COUNT|TYPE:COUNT", action=PerEnvironmentValue,
                      help='GPUs per replica, e.g. 1 or "L4:1"')


def add_cold_start(parser) -> None:
    parser.add_argument("--cold-start", type=cold_start, default=10.0, metavar="SECONDS|DIST",
                        action=PerEnvironmentValue,
                        help="seconds from a replica's start to its first task (default 10), or a distribution "
                             "each replica start draws from: samples:S1,S2,... (observed) or lognormal:MEDIAN,P95; "
                             "per --env: each environment's own")
    parser.add_argument("--cold-start-seed", type=int, default=0, metavar="N",
                        help="the seed of the cold-start draws (default 0)")


def cold(args, value=None):
    """The --cold-start value (or ``value``, an ``--env`` section's), with --cold-start-seed
    applied to a distribution."""
    given = args.cold_start if value is None else value
    return given if isinstance(given, float) else given._replace(seed=args.cold_start_seed)
