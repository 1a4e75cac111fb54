"""The ``reuse-ref`` command: simulate a policy on a workload file and print its measures.

    reuse-ref simulate --replicas 2,5 --concurrency 1 --idle-ttl 600 --scaledown-ttl 60 \\
        --cold-start 10 --workload jobs.csv [--json] [--trace trace.csv] [--plot timeline.png]
    reuse-ref simulate --workload calls.csv --idle-ttl 600 \\
        --env driver --replicas 1 --concurrency 8 --env worker --replicas 0,4 --concurrency 2

A workload of several environments (a recorded run's driver and workers) takes a policy
per environment: ``--env NAME`` and the policy and size options after it
(:mod:`reuse_ref.environment_options`).

The workload file is CSV with a header naming ``at`` and ``duration`` (seconds) and
optionally ``id``, ``name``, ``parent``, ``env`` and ``retries`` (see
:func:`reuse_ref.sim.workload_csv.read_csv`). Bad input (a file, an option value, a policy the
rules refuse) is reported on stderr with exit status 2, and no output file is written:
every output is checked before any work starts, and written as
:mod:`reuse_ref.output_files` says (never over an input, never half a file, a device or a
FIFO written to as it is).

Options are never abbreviated (``--c`` is not ``--cold-start``), and ``reuse-ref run``
reads its own options before ``FILE``, as ``flyte run`` does: what follows ``FILE`` is the
program's, the task's name and its arguments.

An interrupted command cleans up as a failed one does (replicas stopped, temporary files and
directories removed, no output half written) and says so in one line: Ctrl-C exits with
status 130, ``SIGTERM`` with 143; a reader that closes the output early (``| head``) ends the
command quietly with 141, as ``SIGPIPE`` ends other tools.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import sys
import warnings
from typing import Optional, Sequence

from . import __version__
from .environment_options import (PerEnvironmentValue, add_env_option, add_reusable_option, check_environments,
                                  resources_of, sections, simulate_example, simulate_policies)
from .interrupts import Terminated, sigterm_raises, stdout_gone
from .option_types import (add_cold_start as _add_cold_start, add_replica_size as _add_replica_size,
                           add_scaledown as _add_scaledown, cold as _cold, cold_start as _cold_start,
                           positive_int as _positive_int, replicas as _replicas, scaledown as _scaledown,
                           seconds as _seconds, seconds_int as _seconds_int, ttl as _ttl)
from .plan_options import add_plan_parser
from .output_files import Output, OutputError, check_outputs, figure_format, write_outputs

PROG = "reuse-ref"
EXIT_USAGE = 2


class _Fail(Exception):
    """Bad input: print the message and exit with status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, allow_abbrev=False,
        description="Reference semantics of Flyte 2 container reuse: simulate a ReusePolicy on a workload.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    sim = commands.add_parser(
        "simulate", allow_abbrev=False,
        help="run a workload through a policy on a virtual clock and print the measures",
        description="Run a workload file through one ReusePolicy on a virtual clock and print the "
                    "measures of its trace (the Concepts page lists them).",
    )
    policy = sim.add_argument_group("policy (per --env: each environment's own, see --env)")
    policy.add_argument("--replicas", type=_replicas, default=2, metavar="N|MIN,MAX", action=PerEnvironmentValue,
                        help="a fixed pool of N, or autoscaling between MIN and MAX (default 2)")
    policy.add_argument("--concurrency", type=_positive_int, default=1, metavar="N", action=PerEnvironmentValue,
                        help="tasks one replica runs at once (default 1)")
    policy.add_argument("--idle-ttl", type=_ttl, default=30, metavar="SECONDS|none", action=PerEnvironmentValue,
                        help="stop every replica after this long with no task; 'none' keeps the "
                             "environment always on (default 30)")
    policy.add_argument("--scaledown-ttl", type=_seconds_int, default=30, metavar="SECONDS", action=PerEnvironmentValue,
                        help="idle time before one replica above min stops (default 30)")
    add_reusable_option(policy)
    add_env_option(sim, "policy and replica size")
    _add_cold_start(sim)
    _add_scaledown(sim)
    sim.add_argument("--workload", required=True, metavar="FILE.csv",
                     help="CSV with columns at,duration and optionally id,name,parent,env,retries,timeout,sync")
    sim.add_argument("--name", help="the environment's name in the trace, without --env (default: the one environment "
                                    "the workload names, as a recorded run does, else env)")
    _add_replica_size(sim, "replica size (for the footprint measures; per --env)")
    sim.add_argument("--json", action="store_true", help="print the measures as one JSON object")
    sim.add_argument("--trace", metavar="FILE.csv", help="write the trace records as CSV")
    sim.add_argument("--plot", metavar="FILE.png", help="save a figure (png, svg or pdf)")
    sim.add_argument("--figure", choices=("timeline", "occupancy"), default="timeline",
                     help="which figure --plot saves (default timeline)")
    _add_run_parser(commands)
    add_plan_parser(commands)
    _workload_parser(commands)
    return parser


def _add_run_parser(commands) -> None:
    """``reuse-ref run``: a Flyte program on the reference (the work is in reuse_ref.flyte.script)."""
    run = commands.add_parser(
        "run", allow_abbrev=False,
        usage=f"{PROG} run [OPTIONS] FILE.py [TASK [--NAME VALUE ...]]",
        help="run an unmodified Flyte program (import flyte) on real, warm replica processes",
        description="Run FILE.py with `import flyte` resolving to reuse_ref.flyte: TASK with its arguments "
                    "(--name value), or without TASK the file's __main__ block; then print the result and "
                    "the pool of each environment. As with `flyte run`, the options below go before FILE.py; "
                    "everything after it is the program's: the task's name, then the task's arguments.")
    run.add_argument("file", metavar="FILE.py")
    run.add_argument("program", nargs=argparse.REMAINDER, metavar="TASK [--NAME VALUE ...]",
                     help="a task of FILE.py (default: run its __main__ block), then its arguments")
    run.add_argument("--json", action="store_true", help="print one JSON object: result and environments")
    run.add_argument("--trace", metavar="FILE.csv", help="write the runtime's trace records as CSV")
    run.add_argument("--plot", metavar="FILE.png", help="save the timeline figure")
    run.add_argument("--workload-out", metavar="FILE.csv",
                     help="write every call of the run as a workload (at, duration, name, parent, env...), "
                          "which simulate and plan read as it is")
    run.add_argument("--time-scale", type=_seconds, default=1.0, metavar="X",
                     help="every policy duration lasts X times as long on the wall clock (default 1)")
    run.add_argument("--cold-start", type=_seconds, default=0.0, metavar="SECONDS",
                     help="extra policy seconds before a new replica is ready (default 0)")
    run.add_argument("--backend", default="processes", metavar="NAME",
                     help="where replicas run: processes (default), or ray (Ray actors on a local Ray "
                          "bound to 127.0.0.1; needs reuse-ref[ray])")
    _add_scaledown(run)



def _workload_parser(commands) -> None:
    """``reuse-ref workload runs``: the options; the work is :func:`reuse_ref.sim.arrivals.from_args`."""
    cmd = commands.add_parser("workload", allow_abbrev=False, help="build a workload file",
                              description="Build a workload file for simulate and plan.")
    kinds = cmd.add_subparsers(dest="workload_kind", metavar="KIND", required=True)
    runs = kinds.add_parser(
        "runs", allow_abbrev=False, help="runs arriving over time, each a copy of a recorded call tree",
        description="Copy a recorded run (reuse-ref run --workload-out) once per run start: by a rate, an hourly "
                    "profile, a file of start times or a burst. Run k's calls are named rk/<id>.")
    runs.add_argument("--calls", required=True, metavar="FILE.csv", help="the call tree of one run, as "
                      "reuse-ref run --workload-out writes it (any workload file)")
    arrivals = runs.add_mutually_exclusive_group(required=True)
    arrivals.add_argument("--rate", type=float, metavar="RUNS", help="runs per hour, a Poisson process")
    arrivals.add_argument("--profile", metavar="R0,...,R23", help="runs per hour for each hour of the day "
                          "(24 numbers, from 0:00), a Poisson process whose rate changes on the hour")
    arrivals.add_argument("--starts", metavar="FILE.csv", help="the runs' start times: a CSV file with an at "
                          "column, in seconds")
    arrivals.add_argument("--burst", type=int, metavar="N", help="N runs at once, at --at")
    runs.add_argument("--hours", type=float, default=24.0, metavar="H",
                      help="how long --rate and --profile run, in hours (default 24)")
    runs.add_argument("--at", type=float, default=0.0, metavar="SECONDS",
                      help="when the first hour (--rate, --profile) or the burst starts (default 0)")
    runs.add_argument("--seed", type=int, default=0, metavar="N", help="the seed of the draws (default 0)")
    runs.add_argument("-o", "--output", required=True, metavar="FILE.csv", help="the workload file to write")


def _workload(args) -> int:
    from .sim.arrivals import from_args
    from .sim.workload_csv import write_csv

    check_outputs([("--output", args.output)], inputs=[("--calls", args.calls), ("--starts", args.starts)])
    try:
        jobs = from_args(args)
    except ValueError as e:
        raise _Fail(str(e)) from None
    write_outputs([Output("--output", args.output, lambda path: write_csv(jobs, path))])
    count = len({job.id.split("/", 1)[0] for job in jobs})  # run k's calls are rk/<id>
    print(f"{PROG}: wrote {count} run(s), {len(jobs)} call(s), to {args.output}", file=sys.stderr)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``reuse-ref``; returns the exit status (0, or 2 for bad input)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or an argparse usage error (status 2)
        return int(e.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        with sigterm_raises():
            if args.command == "run":
                return _run(args)
            if args.command == "workload":
                return _workload(args)
            return _plan(args) if args.command == "plan" else _simulate(args)
    except (_Fail, OutputError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (Ctrl-C)", file=sys.stderr)
        return 128 + signal.SIGINT
    except Terminated:
        print(f"{PROG}: terminated (SIGTERM)", file=sys.stderr)
        return 128 + signal.SIGTERM
    except BrokenPipeError:
        return stdout_gone()


RUN_OPTIONS = ("--json", "--trace", "--plot", "--workload-out", "--time-scale", "--cold-start", "--backend",
               "--scaledown")


def _run(args) -> int:
    from .flyte.script import ScriptError, run_script

    program = list(args.program)
    if program and program[0] == "--":
        program.pop(0)
    task = program.pop(0) if program and not program[0].startswith("-") else None
    if task is None and program:
        option = program[0].partition("=")[0]
        where = (f"{PROG} run's own options go before FILE.py, as in flyte run: "
                 f"{PROG} run {option} ... {args.file}" if option in RUN_OPTIONS
                 else "task arguments need a TASK before them: FILE.py TASK --NAME VALUE")
        raise _Fail(f"{program[0]!r} after FILE.py is not valid: {where}")
    check_outputs([("--trace", args.trace), ("--plot", args.plot), ("--workload-out", args.workload_out)],
                  inputs=[("FILE.py", args.file)])
    try:
        return run_script(args.file, task, program, as_json=args.json, trace_path=args.trace,
                          plot_path=args.plot, workload_path=args.workload_out, time_scale=args.time_scale,
                          cold_start=args.cold_start, backend=args.backend, run_options=RUN_OPTIONS,
                          scaledown=args.scaledown)
    except ScriptError as e:
        raise _Fail(str(e)) from None


def _resources(args):
    try:
        return resources_of(args)
    except ValueError as e:
        raise _Fail(str(e)) from None


def _simulate_policies(args):
    """``simulate``'s policy (or mapping of them) and size, its warnings printed on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            found = simulate_policies(args)
        except ValueError as e:
            raise _Fail(str(e)) from None  # the model's one line
    for w in caught:
        print(f"{PROG}: warning: {w.message}", file=sys.stderr)
    return found


def _simulate(args) -> int:
    from .sim.event_loop import simulate
    from .sim.workload_csv import read_csv

    policy, resources = _simulate_policies(args)
    check_outputs([("--trace", args.trace), ("--plot", args.plot)], inputs=[("--workload", args.workload)])
    try:
        # --name: a job of another env is refused with its line; several envs are check_environments'
        jobs = read_csv(args.workload, envs=None if args.name is None else (args.name,))
    except OSError as e:
        raise _Fail(f"--workload {args.workload}: {e.strerror or e}") from None
    except ValueError as e:
        raise _Fail(str(e)) from None
    try:
        check_environments(list(sections(args)), (job.env for job in jobs), args.workload, simulate_example)
    except ValueError as e:
        raise _Fail(str(e)) from None
    if policy is None:  # --reusable off, one environment: named as a single policy would be
        named = {job.env for job in jobs} - {None}
        policy = {args.name or (named.pop() if len(named) == 1 else "env"): None}
    try:
        trace = simulate(policy, jobs, cold_start=_simulate_cold(args), resources=resources, name=args.name,
                         scaledown=args.scaledown)
    except ValueError as e:
        raise _Fail(str(e)) from None
    try:  # before any output: a measure that is not a finite number cannot be printed as one
        m = trace.measures()
        per_env = {env: trace.measures(env) for env in trace.envs}
        finite = all(math.isfinite(v) for measures in (m, *per_env.values())
                     for v in measures.as_dict().values() if isinstance(v, float))
    except ValueError:  # the footprint of a replica_seconds that is not finite
        finite = False
    if not finite:
        raise _Fail(f"--workload {args.workload}: the simulated times are not finite numbers: the jobs' at "
                    f"and duration, queued one after another, and --cold-start {args.cold_start!r} add up "
                    f"past the largest float ({sys.float_info.max:g} s); give smaller times")
    if args.json:
        text = json.dumps(_simulate_json(args, trace, m, per_env), allow_nan=False)  # never Infinity or NaN
    elif len(trace.envs) == 1:
        text = trace.summary()
    else:
        width = max(len(label) for label, _ in m.rows())
        text = "\n\n".join([trace.summary(env) for env in trace.envs] + [
            "\n".join(["all environments"] + [f"  {label:<{width}}  {value}" for label, value in m.rows()])])

    outputs = []
    if args.trace:
        outputs.append(Output("--trace", args.trace, trace.to_csv))
    if args.plot:
        outputs.append(Output("--plot", args.plot, lambda path: _save_figure(trace, args.figure, path, args.plot)))
    write_outputs(outputs)

    print(text)
    return 0


def _simulate_cold(args):
    """``simulate``'s cold start: one for every environment, or, when an ``--env`` section
    gives its own, ``{env: cold start}`` (the others take the one written before ``--env``)."""
    given = sections(args)
    if not any("cold_start" in section for section in given.values()):
        return _cold(args)
    return {name: _cold(args, section.get("cold_start", args.cold_start)) for name, section in given.items()}


def _simulate_json(args, trace, m, per_env) -> dict:
    """``simulate --json``: with one environment, ``env`` and ``policy`` (as always); with
    several, ``envs``; then the cold start, the reading, the whole trace's measures, and
    ``environments``: each one's ``policy`` (``null`` without reuse) and measures."""
    def policy_of(env):
        policy = trace.policies.get(env)
        return None if policy is None else json.loads(policy.model_dump_json())

    out = {"env": trace.envs[0], "policy": policy_of(trace.envs[0])} if len(trace.envs) == 1 else {"envs": trace.envs}
    cold = _simulate_cold(args)
    out["cold_start"] = ({env: c if isinstance(c, float) else str(c) for env, c in cold.items()}
                         if isinstance(cold, dict) else cold if isinstance(cold, float) else str(cold))
    out["scaledown"] = args.scaledown
    out.update(m.as_dict())
    out["environments"] = {env: {"policy": policy_of(env), **per_env[env].as_dict()} for env in trace.envs}
    return out


def _plan(args) -> int:
    from .plan_options import from_args

    check_outputs([("--csv", args.csv), ("--plot", args.plot)],
                  inputs=[(o, v) for o, v in (("--workload", args.workload), ("--calls", args.calls),
                                              ("--starts", args.starts)) if v is not None])
    try:
        # stdout is the plan's alone (one JSON object with --json): whatever prints while it is
        # made, such as the lines a Ray cluster forwards from its workers, goes to stderr
        with contextlib.redirect_stdout(sys.stderr):
            result, text = from_args(args, _resources(args))
    except ValueError as e:
        raise _Fail(str(e)) from None
    outputs = []
    if args.csv:
        outputs.append(Output("--csv", args.csv, result.to_csv))
    if args.plot:
        outputs.append(Output("--plot", args.plot, lambda path: _save_plan_figure(result, path, args.plot)))
    write_outputs(outputs)
    print(text)
    return 0


def _save_plan_figure(result, path: str, given: str) -> None:
    from . import figures as plot

    _save(plot.plan(result), path, given, bbox_inches="tight")


def _save_figure(trace, kind: str, path: str, given: str) -> None:
    from . import figures as plot

    _save(plot.timeline(trace) if kind == "timeline" else plot.occupancy(trace), path, given)


def _save(fig, path: str, given: str, **options) -> None:
    """Save ``fig`` to ``path`` in the format that ``given`` (the name the user gave) asks for."""
    import matplotlib.pyplot as plt

    try:
        fig.savefig(path, format=figure_format("--plot", given), dpi=120, **options)
    finally:
        plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
