"""``reuse-ref run`` and the Flyte layer's behaviour: programs written for ``import flyte`` on real replicas.

Each program runs in a subprocess (``import flyte`` must resolve to reuse_ref.flyte there
and in its replicas, whatever else this test process imported).
"""
import json
import subprocess
import sys
import textwrap

import pytest

import reuse_ref.flyte as flyte

pytestmark = pytest.mark.timeout(180)

PROGRAM = '''
import asyncio
import flyte
import flyte.errors
from flyte import ReusePolicy

env = flyte.TaskEnvironment(
    name="workers", resources=flyte.Resources(cpu=1, memory="1Gi"),
    reusable=ReusePolicy(replicas=2, concurrency=4, idle_ttl=60, scaledown_ttl=60),
    image=flyte.Image.from_debian_base().with_pip_packages("unionai-reuse"))
main_env = env.clone_with(name="driver", reusable=None, depends_on=[env])

@env.task
async def square(x: int) -> int:
    await asyncio.sleep(0.05)
    if x < 0:
        raise KeyError(x)
    return x * x

@main_env.task
async def total(n: int, fail: bool = False) -> int:
    if fail:
        try:
            await square(-1)
        except flyte.errors.RuntimeUserError as e:
            return -100 if e.code == "KeyError" else -1
    with flyte.group("squares"):
        results = await asyncio.gather(*[square(i) for i in range(n)])
    return sum(results)

if __name__ == "__main__":
    flyte.init_from_config()
    run = flyte.with_runcontext().run(total, n=10)
    print(run.name, run.url)
    run.wait()
    print("outputs", run.outputs())
'''


def _run(tmp_path, *args, program=PROGRAM, options=()):
    """``reuse-ref run [OPTIONS] prog.py ARGS``: run's own options go before the file, as in flyte run."""
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(program))
    return subprocess.run([sys.executable, "-m", "reuse_ref.cli", "run", "--time-scale", "0.01", *options, str(path),
                           *args], capture_output=True, text=True, timeout=170, cwd=tmp_path)


def test_main_block_runs_unchanged_on_real_replicas(tmp_path):
    proc = _run(tmp_path, options=["--json"])
    assert proc.returncode == 0, proc.stderr
    assert "outputs (285,)" in proc.stderr  # with --json the program's own output goes to stderr ...
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1  # ... and stdout is the one object
    out = json.loads(lines[0])
    assert out["result"] == 285
    assert any(f.startswith("flyte.Image") for f in out["recorded"])  # accepted, recorded, not built
    assert any(f.startswith("flyte.init_from_config") for f in out["recorded"])
    workers = out["environments"]["workers"]
    assert workers["tasks"] == 10 and workers["failed"] == 0
    assert 1 <= workers["replicas_started"] <= 2
    assert 1 <= len(set(workers["replica_pids"])) <= workers["replicas_started"]
    driver = out["environments"]["driver"]
    assert driver["policy"] == "no reuse" and driver["tasks"] == 1
    assert not set(driver["replica_pids"]) & set(workers["replica_pids"])


def test_the_same_program_runs_on_ray_actors(tmp_path):
    proc = _run(tmp_path, options=["--json", "--backend", "ray"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["result"] == 285
    workers = out["environments"]["workers"]
    assert workers["tasks"] == 10 and workers["failed"] == 0 and 1 <= workers["replicas_started"] <= 2
    assert 1 <= len(set(workers["replica_pids"])) <= workers["replicas_started"], "each actor left its pid"
    assert out["environments"]["driver"]["policy"] == "no reuse"
    proc = _run(tmp_path, options=["--backend", "kubernetes"])
    assert proc.returncode == 2 and "--backend='kubernetes' is not valid" in proc.stderr


def test_task_with_arguments_from_the_signature(tmp_path):
    proc = _run(tmp_path, "total", "--n", "4")
    assert proc.returncode == 0, proc.stderr
    assert "result: 14" in proc.stdout
    assert "environment 'workers'" in proc.stdout and "replicas started" in proc.stdout


def test_a_child_error_reaches_the_parent_as_runtime_user_error_with_its_code(tmp_path):
    proc = _run(tmp_path, "total", "--n", "1", "--fail", "true")
    assert proc.returncode == 0, proc.stderr
    assert "result: -100" in proc.stdout


@pytest.mark.parametrize("args, words", [
    (["nope"], ["TASK='nope'", "total"]),
    (["total"], ["--n", "needs"]),
    (["total", "--n", "x"], ["--n='x'", "int"]),
    (["total", "--m", "1"], ["--m", "--n, --fail"]),
])
def test_bad_input_exits_2_with_a_clear_message(tmp_path, args, words):
    proc = _run(tmp_path, *args)
    assert proc.returncode == 2
    assert all(w in proc.stderr for w in words), proc.stderr


def test_a_missing_file_exits_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "reuse_ref.cli", "run", str(tmp_path / "none.py")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "FILE=" in proc.stderr


def test_unmodelled_features_name_themselves():
    with pytest.raises(flyte.NotModelledError, match="flyte.remote.Project"):
        flyte.remote.Project
    with pytest.raises(flyte.NotModelledError, match="flyte.io.Table"):
        flyte.io.Table
    with pytest.raises(flyte.NotModelledError, match="flyte.types.TypeEngine"):
        flyte.types.TypeEngine
    with pytest.raises(flyte.NotModelledError, match="flyte.serve"):
        flyte.serve
    with pytest.raises(AttributeError):  # Python's own probing still gets its answer
        flyte.__wrapped__


def test_errors_map_onto_the_reference():
    import reuse_ref

    err = flyte.errors.translate(reuse_ref.OOMError("too big"))
    assert isinstance(err, flyte.errors.OOMError) and isinstance(err, reuse_ref.OOMError)
    assert err.code == "OOMError" and isinstance(err, flyte.errors.RuntimeUserError)
    user = flyte.errors.translate(ValueError(3))
    assert (type(user), user.code, str(user)) == (flyte.errors.RuntimeUserError, "ValueError", "3")
    import pickle

    again = pickle.loads(pickle.dumps(err))
    assert type(again) is flyte.errors.OOMError and again.code == "OOMError"


def test_map_keeps_order_and_honours_the_concurrency_bound():
    import threading
    import time

    env = flyte.TaskEnvironment(name="mapped")
    lock, state = threading.Lock(), {"now": 0, "peak": 0}

    def slow(x: int) -> int:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.01 * (5 - x % 5))
        with lock:
            state["now"] -= 1
        return x * 10

    task = env.task(slow)
    assert list(flyte.map(task, range(12), concurrency=3)) == [x * 10 for x in range(12)]
    assert state["peak"] <= 3


def test_group_is_a_context_manager_and_trace_a_decorator():
    with flyte.group("outer"):
        with flyte.group("inner"):
            assert flyte.context.current_groups() == ("outer", "inner")
    assert flyte.context.current_groups() == ()

    @flyte.trace
    async def helper(x: int) -> int:
        return x + 1

    import asyncio

    assert asyncio.run(helper(1)) == 2


FILES = '''
import flyte
from flyte.io import Dir, File

env = flyte.TaskEnvironment(name="files", reusable=flyte.ReusePolicy(replicas=2, concurrency=2))

@env.task
async def write(text: str) -> File:
    f = File.new_remote()
    async with f.open("wb") as fh:
        await fh.write(text.encode())
    return f

@env.task
async def read(f: File) -> str:
    async with f.open("rb") as fh:
        return bytes(await fh.read()).decode()

@env.task
async def roundtrip(text: str) -> str:
    return await read(await write(text))
'''


def test_files_written_on_one_replica_are_read_on_another(tmp_path):
    proc = _run(tmp_path, "roundtrip", "--text", "hello", program=FILES)
    assert proc.returncode == 0, proc.stderr
    assert "result: 'hello'" in proc.stdout


def test_the_user_guide_example_runs_unchanged(tmp_path):
    """The 500-task example of Flyte's "Reusable containers" guide, as the tutorial runs it."""
    import os

    example = os.path.join(os.path.dirname(__file__), os.pardir, "notebooks", "programs", "reuse_concurrency.py")
    proc = subprocess.run([sys.executable, "-m", "reuse_ref.cli", "run", "--json", "--time-scale", "0.01", example],
                          capture_output=True, text=True, timeout=170, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    pool = out["environments"]["reuse_concurrency"]
    assert out["result"] == sum(range(500))
    assert (pool["tasks"], pool["replicas_started"], pool["peak_replicas"], pool["failed"]) == (501, 2, 2, 0)


SNIPPETS = '''
from flyte import ReusePolicy, TaskEnvironment, Resources

env = TaskEnvironment(
    name="fast_env",
    reusable=ReusePolicy(replicas=(1, 5), concurrency=1, idle_ttl=300, scaledown_ttl=60),
)
gpu_env = TaskEnvironment(
    name="gpu_worker",
    resources=Resources(cpu=4, memory="16Gi", gpu="L4:1"),
    reusable=ReusePolicy(replicas=2, concurrency=10),
)

@env.task
async def my_task(x: int) -> int:
    return x + 1

@gpu_env.task
async def infer_batch(prompts: list[str]) -> list[str]:
    return [p.upper() for p in prompts]

@env.task
async def check() -> list:
    try:
        my_task.override(resources=Resources(cpu="4"), reusable=ReusePolicy(replicas=1))
        refused = False
    except ValueError:
        refused = True
    bigger = my_task.override(resources=Resources(cpu="4"), reusable="off")
    return [refused, await bigger(1), await infer_batch(["a", "b"])]
'''


def test_the_container_reuse_page_snippets_run_unchanged(tmp_path):
    proc = _run(tmp_path, "check", program=SNIPPETS, options=["--json"])
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["result"] == [True, 2, ["A", "B"]]
    assert set(out["environments"]) == {"fast_env", "gpu_worker"}
    assert out["environments"]["fast_env"]["pools"] == ["fast_env", "fast_env:off"]


STARVES = '''
import flyte

env = flyte.TaskEnvironment(name="solo", reusable=flyte.ReusePolicy(replicas=1, concurrency=1))

@env.task
def child(x: int) -> int:
    return x

@env.task
def parent(x: int) -> int:
    return child(x)
'''


def test_starvation_is_reported_once_warned_once_and_counted(tmp_path):
    proc = _run(tmp_path, "parent", "--x", "1", program=STARVES, options=["--json"])
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["error"].startswith("StarvationError")
    assert out["environments"]["solo"]["starved"] >= 1
    assert proc.stderr.count("can starve") == 1  # in the controller, not again in the replica


MAPPED = '''
import flyte

workers = flyte.TaskEnvironment(name="mappers", reusable=flyte.ReusePolicy(replicas=2, concurrency=3))
driver = flyte.TaskEnvironment(name="map-driver")

@workers.task
async def slow_square(x: int) -> int:
    import asyncio
    await asyncio.sleep(0.01 * (x % 3))
    return x * x

@driver.task
def squares(n: int) -> list:
    return list(flyte.map(slow_square, range(n), concurrency=4))
'''


def test_map_on_real_replicas_keeps_the_order(tmp_path):
    proc = _run(tmp_path, "squares", "--n", "9", program=MAPPED,
                options=["--json", "--trace", str(tmp_path / "t.csv"), "--plot", str(tmp_path / "t.png")])
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["result"] == [x * x for x in range(9)]
    assert out["environments"]["mappers"]["tasks"] == 9
    from reuse_ref import Trace

    trace = Trace.from_csv(tmp_path / "t.csv")
    assert set(trace.envs) == {"mappers", "map-driver"}
    assert (tmp_path / "t.png").stat().st_size > 0


def test_a_blocking_map_from_async_code_is_refused_with_the_way_out():
    import asyncio

    env = flyte.TaskEnvironment(name="async-map")

    async def one(x: int) -> int:
        return x

    task = env.task(one)

    async def caller():
        return list(flyte.map(task, range(3)))

    with pytest.raises(flyte.errors.SyncTaskCallInAsyncContextError, match="flyte.map.aio"):
        asyncio.run(caller())

    async def right():
        return [x async for x in flyte.map.aio(task, range(3))]

    assert asyncio.run(right()) == [0, 1, 2]


SYNC_MAP = '''
import flyte

workers = flyte.TaskEnvironment(name="sync-workers", reusable=flyte.ReusePolicy(replicas=2))
driver = flyte.TaskEnvironment(name="sync-driver")

@workers.task
def double(x: int) -> int:
    return 2 * x

@driver.task
def doubles(n: int) -> list:
    return list(flyte.map(double, range(n), concurrency=2))
'''


def test_a_sync_map_inside_a_task_goes_to_the_pool(tmp_path):
    """Its calls run in worker threads, which must still see the replica's caller."""
    proc = _run(tmp_path, "doubles", "--n", "6", program=SYNC_MAP, options=["--json"])
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["result"] == [0, 2, 4, 6, 8, 10]
    workers = out["environments"]["sync-workers"]
    assert workers["tasks"] == 6 and workers["replicas_started"] == 2


def test_a_data_frame_comes_back_as_it_went_in(tmp_path, monkeypatch):
    import asyncio

    monkeypatch.setenv("REUSE_REF_FLYTE_STORE", str(tmp_path / "store"))
    frame = flyte.io.DataFrame.from_df({"name": ["a", "b"], "n": [1, 2]})
    assert frame.uri.startswith(str(tmp_path / "store"))
    assert asyncio.run(frame.open(dict).all()) == {"name": ["a", "b"], "n": [1, 2]}
    assert flyte.types.FlytePickle[int] is flyte.types.FlytePickle
