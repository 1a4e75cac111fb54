"""The virtual-clock driver: a workload through the core's pools, in virtual seconds.

``event_loop`` (``simulate``: the plain loop of one pool, and the event loop of the rest),
``arguments`` (what ``simulate`` is given, checked and read), ``call_tree`` (parents and
their children in a simulated run), ``run_scope`` (which run a job belongs to, and the
pools of ``scope="run"`` environments), ``contention`` (processor sharing under
``cpu_bound``), ``cold_starts`` (seeded cold-start draws), ``workloads`` (``Job`` and its
generators), ``workload_csv`` (a workload's CSV form), ``recorded`` (a run on the runtime
as a workload), ``arrivals`` (whole runs arriving over time, copies of one call tree),
``llm_trace`` (LLM inference traces as workloads).
"""
from .cold_starts import ColdStart
from .event_loop import simulate
from .recorded import recorded_workload
from .arrivals import runs
from .workloads import Job

__all__ = ["simulate", "Job", "ColdStart", "recorded_workload", "runs"]
