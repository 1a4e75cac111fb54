"""Does the working tree's simulator write exactly the records of an earlier commit's?

A change meant only to make the pool or the simulator faster must not change a single
record. This script takes ``reuse_ref/`` as it was at a git commit (``git archive``, into
a temporary directory), imports both versions side by side, and runs the same workloads
through both: Poisson traffic, bursts, a diurnal day, fan-outs, merged workloads, retries
and crashes, under random policies and cold starts; and random call trees (children up to
three levels deep, in two environments, one of them sometimes without reuse, with retries,
crashes and either failure policy). Each pair of traces must have equal records, and equal
measures and series, for one environment and for two.

The commit may have either layout of the package: the working tree's (the simulator's
workloads in ``reuse_ref.sim.workloads``) or the one before the layers (61f03e9 and
earlier: ``reuse_ref.workloads``).

Run: ``python tools/same_records.py [--against REF] [--seeds N]`` (REF defaults to HEAD, N
to 60: about 720 runs and a million records, 15 s). Exit status 1 at the first difference,
with the seed and the policy that show it.

``--no-retried-parents`` gives the parents of the random call trees no retries (the rest
of each workload is the same): for comparing with a commit before the simulator's retried
parent called its children again (as the runtime's does), whose records differ exactly
where a parent with children is tried again.
"""
from __future__ import annotations

import argparse
import importlib
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(path: str):
    """Import the ``reuse_ref`` package found in ``path``, replacing any imported one."""
    for name in [n for n in sys.modules if n == "reuse_ref" or n.startswith("reuse_ref.")]:
        del sys.modules[name]
    sys.path.insert(0, path)
    try:
        package = importlib.import_module("reuse_ref")
        trace = importlib.import_module("reuse_ref.trace")  # Record: in both layouts
        layered = os.path.exists(os.path.join(path, "reuse_ref", "sim", "workloads.py"))
        workloads = importlib.import_module("reuse_ref.sim.workloads" if layered else "reuse_ref.workloads")
    finally:
        sys.path.pop(0)
    return package, trace, workloads


def extract(ref: str, into: str) -> None:
    archive = os.path.join(into, "reuse_ref.tar")
    done = subprocess.run(["git", "-C", ROOT, "archive", "-o", archive, ref, "reuse_ref"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise ValueError(f"--against={ref!r} is not valid: a git commit of this repository that has "
                         f"reuse_ref/ ({done.stderr.strip()})")
    with tarfile.open(archive) as tar:
        tar.extractall(into)


def workloads(W, rng: random.Random):
    yield W.poisson(rng.uniform(0.05, 3), rng.uniform(1, 60), rng.uniform(100, 3000), seed=rng.randrange(10**6),
                    jitter=rng.choice([0, 0.5, 0.9]))
    yield W.bursts(rng.randint(1, 30), rng.randint(1, 5), rng.uniform(10, 900), duration=rng.uniform(1, 120))
    yield W.diurnal(rng.uniform(0.001, 0.05), horizon=86400, duration=rng.uniform(10, 300), seed=rng.randrange(10**6))
    yield W.fan_out(rng.randint(1, 12), rng.uniform(1, 50), rng.uniform(0, 20))
    yield W.merge(W.fan_out(rng.randint(1, 6), 10, 5), W.fan_out(rng.randint(1, 6), 7, 3, at=rng.uniform(0, 30), first_id=100),
                  W.burst(rng.randint(1, 9), at=rng.uniform(0, 30), duration=rng.uniform(1, 40), first_id=1000))
    jobs = W.poisson(rng.uniform(0.1, 2), 20, 500, seed=rng.randrange(10**6), jitter=0.5)
    yield [j._replace(retries=rng.randint(0, 2)) for j in jobs]


def call_tree(W, rng: random.Random):
    """A random workload of parents and children: up to 40 jobs, children up to three levels
    deep, in environments "a" and "b" (a child without ``env`` runs in its parent's)."""
    jobs = []
    depth = {}
    for k in range(rng.randint(1, 40)):
        parents = [j.id for j in jobs if depth[j.id] < 3]
        if parents and rng.random() < 0.6:
            parent = rng.choice(parents)
            depth[k] = depth[parent] + 1
            env = rng.choice([None, None, "a", "b"])
            jobs.append(W.Job(k, rng.choice([0.0, rng.uniform(0, 30)]), rng.uniform(0, 40), None, parent,
                              rng.randint(0, 2), env))
        else:
            depth[k] = 0
            jobs.append(W.Job(k, rng.uniform(0, 300), rng.uniform(0, 60), None, None, rng.randint(0, 2),
                              rng.choice(["a", "b"])))
    return jobs


def policy_args(rng: random.Random) -> dict:
    lo = rng.randint(0, 3)
    hi = max(lo, 1) + rng.randint(0, 6)
    # both TTLs are at least 30 s; short ones against long jobs, long ones against short jobs
    kw = dict(replicas=(lo, hi) if lo != hi else hi, concurrency=rng.randint(1, 6),
              scaledown_ttl=rng.choice([30, 31, 60, 300]), idle_ttl=rng.choice([None, 30, 45, 120, 600]))
    if lo == 0 and kw["idle_ttl"] is None:
        kw["idle_ttl"] = 600
    return kw


def derived(side, records, policy, extra):
    """What a trace of ``records`` says: measures and series, alone and with a second environment."""
    package, trace, _ = side
    named = [trace.Record(*r) for r in records]
    other = [trace.Record(*r) for r in extra]
    alone = package.Trace(named, {"env": policy})
    both = package.Trace(named + other, {"env": policy})
    return (repr(alone.measures()), tuple(alone.series()), repr(both.measures()), tuple(both.series()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="HEAD", help="the git commit to compare with (default HEAD)")
    parser.add_argument("--seeds", type=int, default=60, help="random seeds, six workloads each (default 60)")
    parser.add_argument("--no-retried-parents", action="store_true",
                        help="no retries for the parents of the random call trees")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"argument --seeds: invalid value {args.seeds}: give a positive number")
    warnings.simplefilter("ignore")  # StarvationWarning of the random policies
    extra = [(0.0, "task_queued", None, "zz", "", "other"), (1.0, "task_start", 1, "zz", "cold", "other")]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            extract(args.against, tmp)
        except ValueError as e:
            parser.error(str(e))
        new = load(ROOT)
        old = load(tmp)
        runs = records = 0
        broken: list = []
        both_raised: list = []
        for seed in range(args.seeds):
            rng = random.Random(seed)
            kw = policy_args(rng)
            cold = rng.choice([0, 1, 10, 60])
            crashes = [(rng.uniform(0, 2000), rng.randint(1, 8), rng.choice(["crashed", "oom"]))
                       for _ in range(rng.randint(0, 3))]
            pairs = zip(workloads(new[2], random.Random(seed)), workloads(old[2], random.Random(seed)))
            for a, b in pairs:
                pn, po = new[0].ReusePolicy(**kw), old[0].ReusePolicy(**kw)
                for crash in ([], crashes):
                    ta = [tuple(r) for r in new[0].simulate(pn, a, cold_start=cold, crashes=crash, progress=False).records]
                    tb = [tuple(r) for r in old[0].simulate(po, b, cold_start=cold, crashes=crash, progress=False).records]
                    where = f"seed {seed}, ReusePolicy(**{kw}), cold_start={cold}, crashes={crash}"
                    if ta != tb:
                        first = next(i for i, (x, y) in enumerate(zip(ta + [None], tb + [None])) if x != y)
                        print(f"records differ at {where}, record {first}:\n  now    {ta[first:first + 1]}\n"
                              f"  before {tb[first:first + 1]}")
                        return 1
                    if derived(new, ta, pn, extra) != derived(old, tb, po, extra):
                        print(f"same records, different measures or series at {where}")
                        return 1
                    runs += 1
                    records += len(ta)
        for seed in range(args.seeds):
            rng = random.Random(seed)
            a, b = policy_args(rng), (policy_args(rng) if rng.random() < 0.7 else None)
            failure = rng.choice(["FAIL_IMMEDIATELY", "FAIL_AFTER_EXECUTABLE_NODES_COMPLETE"])
            cold = rng.choice([0, 1, 10])
            crashes = [(rng.uniform(0, 400), rng.randint(1, 6), rng.choice(["crashed", "oom"]), rng.choice("ab"))
                       for _ in range(rng.randint(0, 4))]
            jobs_new, jobs_old = call_tree(new[2], random.Random(seed)), call_tree(old[2], random.Random(seed))
            if args.no_retried_parents:
                parents = {j.parent for j in jobs_new}
                jobs_new, jobs_old = ([j._replace(retries=0) if j.id in parents else j for j in js]
                                      for js in (jobs_new, jobs_old))
            traces = []
            for side, jobs in ((new, jobs_new), (old, jobs_old)):
                envs = {"a": side[0].ReusePolicy(**a), "b": None if b is None else side[0].ReusePolicy(**b)}
                try:
                    trace = side[0].simulate(envs, jobs, cold_start=cold, crashes=crashes, failure_policy=failure,
                                             progress=False)
                except Exception as exc:  # noqa: BLE001 - a bug of one side is a difference too
                    traces.append(repr(exc))
                    continue
                traces.append(([tuple(r) for r in trace.records], repr(trace.measures()), repr(trace.measures("a"))))
            if isinstance(traces[0], str) and isinstance(traces[1], str):
                both_raised.append(seed)
            if isinstance(traces[1], str) and not isinstance(traces[0], str):
                broken.append(seed)  # the commit compared with fails where the working tree does not
                continue
            if traces[0] != traces[1]:
                ta, tb = (t if isinstance(t, str) else t[0] for t in traces)
                if ta == tb:
                    print(f"same records, different measures at call trees seed {seed}")
                    return 1
                first = next(i for i, (x, y) in enumerate(zip(ta + [None], tb + [None])) if x != y)
                print(f"records differ at call trees seed {seed}, a={a}, b={b}, {failure}, cold_start={cold}, "
                      f"crashes={crashes}, record {first}:\n  now    {ta[first:first + 1]}\n"
                      f"  before {tb[first:first + 1]}")
                return 1
            runs += 1
            records += len(traces[0][0]) if not isinstance(traces[0], str) else 0
    print(f"{runs} runs, {records:,} records: identical to {args.against}, and so are their measures and series")
    if both_raised:
        print(f"call trees of seeds {both_raised}: both raised the same error")
    if broken:
        print(f"call trees of seeds {broken}: {args.against} raised where the working tree did not (not compared)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
