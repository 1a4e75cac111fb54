"""The Ray backend beyond what every backend shares: loopback only, placement by resources,
a lost node, a local instance of its own, and bad input.

The behaviour tests of the runtime (test_runtime*.py) run on Ray too, through the
``backend`` fixture. A process holds one Ray connection, and the session's is a local
instance (``ray_session``), so the tests that need another (a two-node cluster, a local
instance the runtime starts itself) run in a subprocess of their own.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from reuse_ref import ReusePolicy, Resources, Runtime, TaskEnvironment
from reuse_ref.config.errors import ReplicaCrashedError

from runtime_support import alive, wait_for

pytestmark = pytest.mark.timeout(300)

LOOPBACK = ("127.0.0.1", "::ffff:127.0.0.1")
ROOT = Path(__file__).resolve().parent.parent


def _script(tmp_path: Path, body: str, *args: str, timeout: float = 240) -> dict:
    """Run ``body`` in a fresh interpreter (its own Ray connection); it prints one JSON line."""
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(body))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=tmp_path)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(lines[-1])


def _listening(pids) -> list:
    """``(process name, address)`` of every TCP socket those processes listen on."""
    out = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            conns = proc.net_connections(kind="tcp") if hasattr(proc, "net_connections") else proc.connections("tcp")
        except psutil.Error:
            continue
        out += [(proc.name(), c.laddr.ip) for c in conns if c.status == psutil.CONN_LISTEN]
    return out


def test_every_ray_node_and_socket_is_on_loopback(ray_session):
    ray = ray_session
    assert os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"
    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert nodes and {n["NodeManagerAddress"] for n in nodes} == {"127.0.0.1"}
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
    # the Ray processes this process started (GCS, raylet, workers) listen on loopback only
    children = [p.pid for p in psutil.Process().children(recursive=True)]
    sockets = _listening(children)
    assert sockets, "the Ray processes of this session listen somewhere"
    assert [s for s in sockets if s[1] not in LOOPBACK] == []


def test_a_replica_no_node_can_hold_fails_at_once_and_says_why(ray_session):
    # concurrency 2 (and an async task): a one-slot pool would warn of starvation, which is not this test's
    huge = TaskEnvironment("ray_huge", reusable=ReusePolicy(replicas=1, concurrency=2),
                           resources=Resources(cpu=1000))

    @huge.task
    async def nothing() -> int:
        return 1

    with Runtime(time_scale=0.01, backend="ray") as rt:
        with pytest.raises(ReplicaCrashedError, match="no node of the Ray cluster can hold") as info:
            rt.run(nothing)
        assert "num_cpus=1000" in str(info.value)
        stops = [r.reason for r in rt.trace if r.kind == "replica_stop"]
        assert stops == ["crashed"] * 3, "three start failures in a row close the pool"


@pytest.mark.parametrize("kwargs, param", [
    ({"backend": "kubernetes"}, "backend"),
    ({"backend": 3}, "backend"),
    ({"backend": "ray", "ray_address": ""}, "ray_address"),
    ({"backend": "ray", "start_method": "spawn"}, "start_method"),
    ({"backend": "processes", "ray_address": "127.0.0.1:6379"}, "ray_address"),
    ({"backend": "processes", "backend_options": {"num_nodes": 2}}, "num_nodes"),
    ({"backend": "ray", "backend_options": ["stop_grace"]}, "backend_options"),
])
def test_bad_backend_options_are_refused_by_name(kwargs, param, ray_session):
    with pytest.raises(ValueError, match=f"{param}=") as info:
        Runtime(**kwargs)
    assert "is not valid" in str(info.value)


def test_a_runtime_starts_its_own_local_ray_on_loopback_and_stops_it(tmp_path):
    out = _script(tmp_path, """
        import json, os
        os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)  # the runtime sets it itself
        import ray  # imported before the runtime, as a user's program may
        from reuse_ref import ReusePolicy, TaskEnvironment, Runtime

        env = TaskEnvironment("own", reusable=ReusePolicy(replicas=1))

        @env.task
        def pid() -> int:
            return os.getpid()

        if __name__ == "__main__":
            with Runtime(time_scale=0.01, backend="ray") as rt:
                pids = {rt.run(pid).result for _ in range(3)}
                nodes = sorted(n["NodeManagerAddress"] for n in ray.nodes())
                gcs = ray.get_runtime_context().gcs_address
            print(json.dumps({"pids": sorted(pids), "nodes": nodes, "gcs": gcs,
                              "after_close": ray.is_initialized()}))
        """)
    assert len(out["pids"]) == 1, "one warm replica served every call"
    assert out["nodes"] == ["127.0.0.1"] and out["gcs"].startswith("127.0.0.1:")
    assert out["after_close"] is False, "a local Ray the runtime started is stopped at close"


TWO_NODES = """
    import json, os, sys, threading, time
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before Ray is imported: loopback only
    import ray
    from ray.cluster_utils import Cluster
    from reuse_ref import ReusePolicy, Resources, TaskEnvironment, Runtime

    big = TaskEnvironment("big", reusable=ReusePolicy(replicas=(1, 2)), resources=Resources(cpu=2))
    small = TaskEnvironment("small", reusable=ReusePolicy(replicas=2), resources=Resources(cpu=1))

    @big.task
    def where_big() -> str:
        return ray.get_runtime_context().get_node_id()

    @small.task(retries=3)
    def step(i: int, gate: str) -> str:
        node = ray.get_runtime_context().get_node_id()
        open(os.path.join(gate, f"{node}-{i}"), "w").close()
        # hold the slot until a task runs on the other node too (a state, not a delay): the
        # queue then waits for the replica that can only start there, once 'big' leaves it
        deadline = time.monotonic() + 60
        while len({f.split("-")[0] for f in os.listdir(gate)}) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)
        return node

    if __name__ == "__main__":
        gate = sys.argv[1]
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        worker = cluster.add_node(num_cpus=2)
        cluster.wait_for_nodes()
        with Runtime(time_scale=0.01, backend="ray", ray_address=cluster.address) as rt:
            nodes = sorted(n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"])
            big_on = rt.run(where_big).result  # two cores: only the second node has them
            results = [None] * 8

            def call(i):
                results[i] = rt.run(step, i, gate).result

            threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            # one core on the head: a replica of 'small' runs on the second node; once a task
            # runs there (a state, not a delay), that node's raylet is killed
            deadline = time.monotonic() + 60
            while not any(f.startswith(worker.node_id) for f in os.listdir(gate)) and time.monotonic() < deadline:
                time.sleep(0.02)
            cluster.remove_node(worker, allow_graceful=False)
            for t in threads:
                t.join(120)
            trace = rt.trace
        print(json.dumps({
            "nodes": nodes, "worker": worker.node_id, "big_on": big_on, "results": results,
            "small_stops": [r.reason for r in trace if r.kind == "replica_stop" and r.env == "small"],
            "small_failed": [r.reason for r in trace if r.kind == "task_failed" and r.env == "small"],
            "small_ends": sum(r.kind == "task_end" and r.env == "small" for r in trace),
        }))
        ray.shutdown()  # the runtime joined this cluster and left it running: leave it, then stop it
        cluster.shutdown()
"""


def test_two_nodes_place_replicas_by_resources_and_survive_a_lost_node(tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    out = _script(tmp_path, TWO_NODES, str(gate))
    assert out["nodes"] == ["127.0.0.1", "127.0.0.1"], "both nodes bind loopback"
    assert out["big_on"] == out["worker"], "a replica that needs two cores goes where two cores are"
    assert None not in out["results"] and len(out["results"]) == 8, "no call was lost"
    assert "crashed" in out["small_stops"], "the replica on the lost node crashed (rule 5)"
    assert out["small_ends"] == 8
    assert all(r == "crashed (retrying)" for r in out["small_failed"]), out["small_failed"]


LINGER = """
import os, time
import flyte

env = flyte.TaskEnvironment("linger", reusable=flyte.ReusePolicy(replicas=1, idle_ttl=None))


@env.task
def f(out: str) -> int:
    with open(out + ".tmp", "w") as fh:
        fh.write(str(os.getpid()))
    os.replace(out + ".tmp", out)
    time.sleep(1000)
    return 0
"""


def test_sigkill_of_the_driver_ends_its_local_ray_at_once(tmp_path):
    """Issue 26, item 6: Ray's agents (ray::DashboardAgent, ray::RuntimeEnvAgent) outlived a
    driver killed with SIGKILL by 16 to 36 s, still listening; now every process of the local
    Ray the driver started ends the moment the driver does (its watchdog)."""
    (tmp_path / "linger.py").write_text(LINGER)
    out = tmp_path / "pid.txt"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.Popen([sys.executable, "-m", "reuse_ref.cli", "run", "--backend", "ray", "linger.py", "f",
                             "--out", str(out)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        assert wait_for(out.exists, timeout=180), "the task never started"
        ray_processes = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        names = {psutil.Process(p).name() for p in ray_processes if p in alive(ray_processes)}
        assert int(out.read_text()) in ray_processes and {"raylet", "gcs_server"} <= names, names
    finally:
        proc.kill()
        proc.wait(30)
    # at once: Ray's own watch takes 16 s and more for its agents
    assert wait_for(lambda: alive(ray_processes) == [], timeout=10), \
        [(p, psutil.Process(p).name()) for p in alive(ray_processes)]


def test_sigterm_of_a_driver_on_ray_ends_it_in_one_line(tmp_path):
    """``ray.init`` puts Ray's own C++ handler of SIGTERM in place (a crash report, then an
    abort: status -6) over the command's, which stops its replicas and says so in one line
    (status 143). The connection puts the command's back."""
    (tmp_path / "linger.py").write_text(LINGER)
    out = tmp_path / "pid.txt"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.Popen([sys.executable, "-m", "reuse_ref.cli", "run", "--backend", "ray", "linger.py", "f",
                             "--out", str(out)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(out.exists, timeout=180), "the task never started"
        ray_processes = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "reuse-ref: terminated (SIGTERM)", err
    assert "SIGTERM received" not in err, err
    assert wait_for(lambda: alive(ray_processes) == [], timeout=10), \
        [(p, psutil.Process(p).name()) for p in alive(ray_processes)]
