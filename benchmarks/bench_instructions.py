"""Instructions per simulated job: reuse_ref.simulate against the SimPy pool model, counted
by valgrind instead of timed.

On a shared machine the wall-clock ratio of ``bench_simulate.py`` wanders by 10 to 30 %
from run to run. The number of machine instructions a run executes does not: it is the
same on every run of the same Python, so it shows what a change to the code did even when
the clock cannot. It is not a replacement for the timed benchmark (memory traffic and
branch prediction are not counted), but the two agree to within a few per cent here.

Each side runs in its own ``python`` under ``valgrind --tool=cachegrind --cache-sim=no``
on the workload of ``bench_simulate.py`` (``--jobs``, default 100,000, is enough: the cost
per job is flat): ``simulate(engine="compiled")`` (the compiled twin of the simulator,
numba, which ``simulate`` takes by itself from 100,000 jobs on), ``simulate(engine="python")``
(the Python loop, the definition) and the SimPy model. A run that only builds the workload is taken off the
Python loop's and SimPy's counts; one that also loads the twin (numba's import and its
compiled code, from its cache, with a run of a handful of jobs) is taken off the twin's,
so what is left is the simulation alone; that one-off load is printed on its own line. The
process leaves with ``os._exit`` right after, so freeing memory at exit is not counted
either. A first run under valgrind compiles the twin for valgrind's CPU into numba's cache,
which the counted runs then load.

Run: ``python benchmarks/bench_instructions.py [--jobs N]`` (needs ``valgrind``; under
valgrind a run is about 30 times slower, so 100,000 jobs take half a minute a side).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GOAL = 5.0

CHILD = """
import os, sys
sys.path.insert(0, {here!r})
import bench_simulate as b
jobs = b.poisson(b.RATE, b.DURATION, {jobs} / b.RATE, seed=1, jitter=b.JITTER)
import simpy  # imported by every side, so that the baseline counts it too
print(len(jobs))
sys.stdout.flush()
side = {side!r}
if side in ("loaded", "reuse_ref"):
    b.run_reuse_ref(jobs[:20], engine="compiled")  # loads numba and the twin
if side == "reuse_ref":
    b.run_reuse_ref(jobs, engine="compiled")
elif side == "python":
    b.run_reuse_ref(jobs, engine="python")
elif side == "simpy":
    b.run_simpy_pool(jobs)
os._exit(0)
"""


def count(side: str, jobs: int):
    """(instructions, number of jobs) of one side, run under cachegrind."""
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
           sys.executable, "-c", CHILD.format(here=HERE, jobs=jobs, side=side)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise RuntimeError(f"valgrind printed no instruction count for {side}:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", "")), int(done.stdout.split()[0])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="number of jobs (default 100,000)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"argument --jobs: invalid value {args.jobs}: give a positive number of jobs")
    if shutil.which("valgrind") is None:
        print("bench_instructions.py needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    # numba's cache is kept per CPU, and under valgrind the CPU is valgrind's: one run fills it
    count("loaded", 20)
    base, n = count("none", args.jobs)
    loaded, _ = count("loaded", args.jobs)
    print(f"{n:,} jobs of bench_simulate.py's workload, instructions per job (valgrind cachegrind), "
          f"Python {sys.version.split()[0]}")
    per = {}
    sides = (("reuse_ref", "simulate, compiled twin", loaded), ("python", "simulate, Python loop", base),
             ("simpy", "SimPy, same pool model", base))
    for side, label, start in sides:
        total, _ = count(side, args.jobs)
        per[side] = (total - start) / n
        print(f"  {label:<23} {per[side]:>9,.0f}")
    print(f"  (loading the compiled twin, once per process: {loaded - base:,} instructions)")
    ratio = per["simpy"] / per["reuse_ref"]
    print(f"ratio: reuse_ref executes {ratio:.2f}x fewer instructions per job than the SimPy, same pool model "
          f"(engine='python': {per['simpy'] / per['python']:.2f}x)")
    print(f"goal: at least {GOAL:g}x fewer instructions per job than the SimPy, same pool model: "
          f"{'met' if ratio >= GOAL else 'NOT met'} ({ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
