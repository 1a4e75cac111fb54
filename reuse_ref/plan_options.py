"""``reuse-ref plan``: its options, and the plan they ask for.

One environment, as always::

    reuse-ref plan --workload day.csv --min 0,1 --max 2..8 --target p95<=30 --price-replica-hour 1

Several environments take their candidates in ``--env`` sections, as ``simulate`` takes its
policies (:mod:`reuse_ref.environment_options`): the knobs' values, ``--reusable off``, the
replica's size, the prices and the cold start are per ``--env``, and those written before
the first ``--env`` are every environment's::

    reuse-ref plan --calls calls.csv --profile 0,...,40,... --target run-p95<=600 \\
        --replications 20 --price-replica-hour 1 --idle-ttl 600 \\
        --env driver --max 1,2 --concurrency 4,8 --env worker --max 2..8 --concurrency 2

The workload is a file (``--workload``), or runs of a recorded call tree arriving by a
rate, a profile, start times or a burst (``--calls`` and the options of ``reuse-ref
workload runs``), which each draw draws again. ``--replications K`` simulates every
candidate on K draws and recommends the cheapest that meets the target in ``--confidence``
of them (:func:`reuse_ref.plan.plan`). Every bad option is a ``ValueError`` naming it, the
value and what is allowed, before anything runs (exit status 2).
"""
from __future__ import annotations

import json
import math
from typing import Any, Dict, Optional, Tuple

from .environment_options import (PerEnvironmentValue, add_env_option, add_reusable_option, check_environments,
                                  resources_of, section_values, sections, written_before_env)
from .option_types import add_cold_start, add_replica_size, add_scaledown, cold, positive_int, seconds

__all__ = ["add_plan_parser", "from_args", "KNOB_OPTIONS", "PRICE_OPTIONS", "PLAN_PER_ENV"]

KNOB_OPTIONS = ("min", "max", "concurrency", "scaledown_ttl", "idle_ttl")
"""The candidates' options (their dests), per ``--env``."""
PRICE_OPTIONS = (("price_cpu_hour", "cpu_hour", "cpu", "--cpu"), ("price_gib_hour", "gib_hour", "memory", "--memory"),
                 ("price_gpu_hour", "gpu_hour", "gpu", "--gpu"), ("price_replica_hour", "replica_hour", None, None))
"""Each price option's dest, its key in ``Prices``, the size it needs and that size's option."""
PLAN_PER_ENV = KNOB_OPTIONS + ("reusable", "cpu", "memory", "gpu", "cold_start") + tuple(o[0] for o in PRICE_OPTIONS)
"""``plan``'s options per ``--env``."""
_ARRIVALS = ("rate", "profile", "starts", "burst")


def add_plan_parser(commands) -> None:
    """``reuse-ref plan`` on the subcommands ``commands``."""
    cmd = commands.add_parser(
        "plan", allow_abbrev=False, help="simulate every candidate policy over one window and recommend the cheapest "
                                         "that meets a target",
        description="Simulate every combination of the knobs' values on a workload (per environment with --env), "
                    "charge each over one common window, and print the cheapest policy that meets the target, why, "
                    "and the Pareto front of cost against the target's percentile; with --replications, over that "
                    "many draws of the cold starts and arrivals, with the odds of meeting the target.")
    cmd.add_argument("--workload", metavar="FILE.csv", help="CSV with columns at,duration, ... (or use --calls)")
    runs = cmd.add_argument_group("runs arriving over time (instead of --workload), as reuse-ref workload runs makes "
                                  "them; each draw draws the arrivals again")
    runs.add_argument("--calls", metavar="FILE.csv", help="the call tree of one run (reuse-ref run --workload-out)")
    runs.add_argument("--rate", type=float, metavar="RUNS", help="runs per hour, a Poisson process")
    runs.add_argument("--profile", metavar="R0,...,R23", help="runs per hour for each hour of the day (24 numbers)")
    runs.add_argument("--starts", metavar="FILE.csv", help="the runs' start times: a CSV file with an at column")
    runs.add_argument("--burst", type=int, metavar="N", help="N runs at once, at --at")
    runs.add_argument("--hours", type=float, metavar="H", help="how long --rate and --profile run (default 24)")
    runs.add_argument("--at", type=float, metavar="SECONDS", help="when the first hour or the burst starts (default 0)")
    knobs = cmd.add_argument_group("candidates (per --env; ints, lists such as 1,4,8 and ranges such as 0..8, both "
                                   "ends included)")
    for knob, extra in (("min", ""), ("max", ""), ("concurrency", ""), ("scaledown-ttl", " (seconds)"),
                        ("idle-ttl", " (seconds, or none)")):
        knobs.add_argument(f"--{knob}", metavar="VALUES", action=PerEnvironmentValue,
                           help=f"values of {knob}{extra}; default: ReusePolicy's")
    add_reusable_option(knobs)
    add_env_option(cmd, "candidates, replica size, prices and cold start")
    cmd.add_argument("--target", required=True, metavar="[run-]pNN<=SECONDS",
                     help="p50, p95 or p99 of queue wait (p95<=30), or of a run's time, from its root call's first "
                          "queue to its end (run-p95<=600), at most SECONDS")
    cmd.add_argument("--target-window", metavar="SINCE..UNTIL",
                     help="count only the tasks (runs) first queued in this window (seconds), e.g. 32400..36000")
    odds = cmd.add_argument_group("odds")
    odds.add_argument("--replications", type=positive_int, default=1, metavar="K",
                      help="simulate every candidate on K draws of the cold starts and arrivals (default 1: the "
                           "inputs as given)")
    odds.add_argument("--confidence", type=float, default=0.9, metavar="C",
                      help="recommend the cheapest candidate that meets the target in at least this share of the "
                           "draws, in (0, 1] (default 0.9)")
    odds.add_argument("--seed", type=int, metavar="N", help="the seed of the draws (default 0); with --calls, of "
                                                              "the first draw's arrivals too")
    prices = cmd.add_argument_group("prices per hour (at least one; per --env)")
    for what, unit in (("cpu", "core (needs --cpu)"), ("gib", "GiB of memory (needs --memory)"),
                       ("gpu", "GPU (needs --gpu)"), ("replica", "replica, whatever its size")):
        prices.add_argument(f"--price-{what}-hour", type=float, metavar="PRICE", action=PerEnvironmentValue,
                            help=f"the price of a {unit} for an hour")
    add_replica_size(cmd, "replica size (per --env)")
    add_cold_start(cmd)
    add_scaledown(cmd)
    cmd.add_argument("--cpu-bound", type=float, default=0.0, metavar="F",
                     help="the CPU share of each task's duration, 0 to 1, shared by the tasks of a replica "
                          "on its --cpu cores (default 0: tasks that wait on I/O)")
    cmd.add_argument("--horizon", type=seconds, metavar="SECONDS",
                     help="the end of the common window (default: the last task's end plus the largest idle TTL)")
    cmd.add_argument("--workers", type=positive_int, metavar="N", help="processes to run the candidates in "
                     "(default: every core; 1 runs them one after another)")
    cmd.add_argument("--ray", nargs="?", const="", metavar="ADDRESS", help="run the candidates as Ray tasks: on "
                     "the cluster at ADDRESS, or without it on a local Ray bound to 127.0.0.1 (needs reuse-ref[ray])")
    cmd.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    cmd.add_argument("--csv", metavar="FILE.csv", help="write every candidate, its measures and verdict as CSV")
    cmd.add_argument("--plot", metavar="FILE.png", help="save the plan's figure (png, svg or pdf): cost against "
                     "the target's percentile for every candidate, the Pareto front and the recommendation")


def _bad(option: str, value: Any, allowed: str) -> ValueError:
    return ValueError(f"{option}={value!r} is not valid: {allowed}")


def _knob_values(values: Dict[str, Any], where: str) -> Dict[str, Any]:
    from .plan.candidates import parse_values

    return {knob: parse_values(values[knob], where + "--" + knob.replace("_", "-"), none=knob == "idle_ttl")
            for knob in KNOB_OPTIONS if values.get(knob) is not None}


def _prices(values: Dict[str, Any], size: Any, where: str) -> Dict[str, float]:
    from .config.validation import number

    out = {}
    for option, key, field, needs in PRICE_OPTIONS:
        value = values.get(option)
        if value is None:
            continue
        name = where + "--" + option.replace("_", "-")
        value = number(name, value, minimum=0, allowed="a finite price per hour >= 0")
        if field is not None and value and (size is None or not getattr(size, field)):
            env = f" in this environment ({where.rstrip(': ')})" if where else ""
            raise ValueError(f"{name}={value!r} is not valid: a price per {field} hour needs {needs} (what one "
                             f"replica holds){env}")
        out[key] = value
    if not out:
        raise ValueError(f"{where}prices=None is not valid: give at least one of --price-cpu-hour, --price-gib-hour, "
                         f"--price-gpu-hour or --price-replica-hour")
    return out


def _workload(args) -> Tuple[Any, list]:
    """The workload (a list of jobs, or a ``RunArrivals``) and the jobs of its first draw."""
    from .sim.arrivals import arrivals_from_args
    from .sim.workload_csv import read_csv

    given = [k for k in _ARRIVALS + ("hours", "at") if getattr(args, k) is not None]
    if args.workload is not None and args.calls is not None:
        raise _bad("--workload", args.workload, "not with --calls: give a workload file, or a recorded call tree "
                                                "and how its runs arrive")
    if args.workload is None and args.calls is None:
        raise ValueError("--workload None is not valid: give --workload FILE.csv, or --calls FILE.csv and how its "
                         "runs arrive (--rate, --profile, --starts or --burst)")
    if args.workload is not None:
        if given:
            raise _bad("--" + given[0], getattr(args, given[0]), "only with --calls (runs of a recorded call tree); "
                                                                "--workload is a whole day already")
        if args.seed is not None and args.replications == 1:
            raise _bad("--seed", args.seed, "only with --replications K > 1 or --calls: with --workload and one "
                                            "draw there is nothing to draw")
        try:
            jobs = read_csv(args.workload)
        except OSError as e:
            raise ValueError(f"--workload {args.workload}: {e.strerror or e}") from None
        return jobs, jobs
    arrivals = arrivals_from_args(args)
    return arrivals, arrivals.draw()


def _target(args):
    from .plan.candidates import parse_target

    target = parse_target(args.target, "--target")
    if args.target_window is not None:
        since, sep, until = args.target_window.partition("..")
        try:
            window = (float(since), float(until)) if sep else None
        except ValueError:
            window = None
        if window is None or not (0 <= window[0] < window[1] < math.inf):
            raise _bad("--target-window", args.target_window, 'SINCE..UNTIL in seconds, such as "32400..36000"')
        target = target._replace(since=window[0], until=window[1])
    return target


def _per_environment(args, envs) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any], Any]:
    """Each ``--env`` section's candidates, size, prices and cold start."""
    given, shared = sections(args), written_before_env(args)
    candidates, sizes, prices, colds = {}, {}, {}, {}
    for name, values in section_values(args, PLAN_PER_ENV).items():
        where = f"--env {name}: "
        if values["reusable"] == "off":
            written = set(given[name]) | (shared if "reusable" not in given[name] else set())
            knob = next((k for k in KNOB_OPTIONS if k in written), None)
            if knob is not None:
                raise ValueError(f"{where}--{knob.replace('_', '-')} {values[knob]!r} is not valid with --reusable "
                                 f"off: an environment without reuse has no candidates; give --reusable off or its "
                                 f"knobs' values, not both")
            candidates[name] = None
        else:
            candidates[name] = _knob_values(values, where)
        sizes[name] = resources_of(values, where)
        prices[name] = _prices(values, sizes[name], where)
        colds[name] = cold(args, values["cold_start"])
    one_cold = all(c == colds[envs[0]] for c in colds.values()) if envs else True
    return candidates, sizes, prices, (colds[envs[0]] if one_cold else colds)


def from_args(args, resources: Optional[Any] = None) -> Tuple[Any, str]:
    """``reuse-ref plan``: the plan of the command's options (``args``, from ``argparse``) and the
    text to print (the summary, or one JSON object with ``--json``). ``resources``: the one
    environment's size (``--cpu`` ... without ``--env``)."""
    from .plan.odds import check_confidence
    from .plan.planner import plan
    from .sim.contention import check_cpu_bound

    target = _target(args)
    check_confidence(args.confidence, "--confidence")
    if args.workers is not None and args.workers < 1:
        raise _bad("--workers", args.workers, "an int >= 1 (1 runs the candidates one after another)")
    if args.replications < 1:
        raise _bad("--replications", args.replications, "an int >= 1; 1 is the single-draw plan")
    ray = getattr(args, "ray", None)
    if ray is not None and args.workers is not None:
        raise _bad("--workers", args.workers, "not with --ray (Ray places the candidates itself)")
    check_cpu_bound(args.cpu_bound, "--cpu-bound")
    if sections(args):
        envs = list(sections(args))
        candidates, sizes, prices, cold_start = _per_environment(args, envs)
        workload, jobs = _workload(args)
        check_environments(envs, (job.env for job in jobs), args.workload or args.calls, _example)
        resources = {env: size for env, size in sizes.items() if size is not None} or None
        order = list(dict.fromkeys(job.env for job in jobs if job.env is not None))  # the workload's order
        candidates = {env: candidates[env] for env in order}
    else:
        candidates = _knob_values(vars(args), "")
        prices = _prices(vars(args), resources, "")
        cold_start = cold(args)
        workload, jobs = _workload(args)
        check_environments([], (job.env for job in jobs), args.workload or args.calls, _example)
    try:
        result = plan(workload, candidates, target, prices, cold_start=cold_start, resources=resources,
                      cpu_bound=args.cpu_bound, horizon=args.horizon, progress=True,
                      workers="ray" if ray is not None else args.workers, ray_address=ray or None,
                      scaledown=getattr(args, "scaledown", "paced"), replications=args.replications,
                      confidence=args.confidence, seed=args.seed or 0)
    except ValueError as e:  # a price the API names prices['replica_hour'] is --price-replica-hour here
        text = str(e)
        for option, key, _, _ in PRICE_OPTIONS:
            text = text.replace(f"prices[{key!r}]", "--" + option.replace("_", "-"))
        raise ValueError(text) from None
    text = json.dumps(result.to_dict(), allow_nan=False) if args.json else result.summary()
    return result, text


def _example(names) -> str:
    """A line of ``plan``'s options for the environments ``names``, for a message."""
    return " ".join(f"--env {name} --max {'1,2' if k == 0 else '2..8'}" for k, name in enumerate(names))
