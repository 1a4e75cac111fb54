"""A stand-in for a model: importing this module builds ~200 MB of data, as loading
weights would. ``bench_runtime.py`` calls :func:`predict` with and without reuse; only a
reused replica keeps the loaded module between calls.

Replicas import this module by name (cloudpickle ships ``predict`` by reference), so the
benchmark's main process never has to load it.
"""
import time

from reuse_ref import ReusePolicy, TaskEnvironment

_t0 = time.perf_counter()
WEIGHTS = bytearray(b"\x07") * (200 * 2**20)  # 200 MiB, every page written
TABLE = [i * 0.5 for i in range(2_000_000)]  # and some Python objects to build
LOAD_SECONDS = time.perf_counter() - _t0

model_env = TaskEnvironment("big_model", reusable=ReusePolicy(replicas=2, concurrency=1))


@model_env.task
def predict(i: int) -> float:
    return WEIGHTS[i] + TABLE[i]
