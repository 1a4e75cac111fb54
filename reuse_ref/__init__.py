"""reuse_ref: the reference semantics of Flyte 2 container reuse.

The configuration models (``ReusePolicy``, ``Resources``, ``TaskEnvironment``) follow
Flyte's names; the pool state machine, the virtual-clock simulator and the local runtime
show what the four numbers of a policy do.

One folder per layer, each importing only those below it: ``config`` (what users
declare), ``core`` (every lifecycle decision, sans I/O), ``trace`` (records and
measures), the two drivers of the core, ``sim`` (virtual clock) and ``runtime`` (real
replicas), then ``plan``, ``figures``, ``flyte`` and the command line, ``cli``.
"""
from .config.environment import Task, TaskEnvironment, TaskOptions
from .config.errors import (
    DeprecatedTaskWarning,
    OOMError,
    RemoteTaskError,
    ReplicaCrashedError,
    StarvationError,
    StarvationWarning,
    TaskTimeoutError,
)
from .config.policy import ReusePolicy
from .config.resources import Resources
from .sim.event_loop import simulate
from .sim.llm_trace import read_llm_trace
from .sim.recorded import recorded_workload
from .sim.arrivals import RunArrivals, runs
from .sim.workload_csv import read_csv, write_csv
from .sim.workloads import Job, burst, bursts, diurnal, fan_out, merge, poisson
from .trace import Measures, Record, Trace

__version__ = "0.1.0"

_RUNTIME = ("Runtime", "Run", "run")


def __getattr__(name: str):
    """``Runtime``, ``Run``, ``run`` (and ``reuse_ref.runtime``) load the local runtime
    (processes, pipes) on first use, so that importing the package for the simulator
    alone stays light."""
    if name in _RUNTIME or name == "runtime":
        import importlib

        runtime = importlib.import_module(".runtime", __name__)  # not "from . import": it asks us again
        value = globals()[name] = runtime if name == "runtime" else getattr(runtime, name)
        return value
    raise AttributeError(f"module 'reuse_ref' has no attribute {name!r}")


__all__ = [
    "ReusePolicy", "Resources", "TaskEnvironment", "Task", "TaskOptions",
    "StarvationWarning", "DeprecatedTaskWarning", "StarvationError", "ReplicaCrashedError",
    "OOMError", "TaskTimeoutError", "RemoteTaskError", "Runtime", "Run", "run",
    "simulate", "Job", "Trace", "Measures", "Record",
    "poisson", "burst", "bursts", "diurnal", "fan_out", "merge", "read_csv", "write_csv",
    "read_llm_trace", "recorded_workload", "runs", "RunArrivals", "__version__",
]
