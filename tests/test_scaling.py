"""Size: what the simulator does with one parent of many children, and sizes past any sane bound.

No timing here (``benchmarks/bench_children.py`` times 10,000 to a million children):
the work is counted instead, as the times the simulator looks at a child's id (each hash
or comparison of it), which does not move with the machine's load.
"""
from __future__ import annotations

import warnings

import pytest

from reuse_ref import ReusePolicy
from reuse_ref.sim import Job, simulate


class CountedId:
    """A job id that counts how often the simulator looks at it (hashes or compares it)."""

    looks = 0
    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def __hash__(self) -> int:
        CountedId.looks += 1
        return hash(self.n)

    def __eq__(self, other: object) -> bool:
        CountedId.looks += 1
        return isinstance(other, CountedId) and other.n == self.n

    def __repr__(self) -> str:
        return f"c{self.n}"


def looks_per_child(n: int, failure_policy: str = "FAIL_IMMEDIATELY", failing: bool = False) -> float:
    jobs = [Job("parent", 0.0, 1.0)]
    if failing:  # a child over its timeout fails, and with it the parent's await (rule 7)
        jobs.append(Job("bad", 0.0, 5.0, parent="parent", timeout=2.0))
    jobs += [Job(CountedId(i), 0.0, 1.0, parent="parent") for i in range(n)]
    CountedId.looks = 0
    trace = simulate(ReusePolicy(replicas=(0, 5), concurrency=4), jobs, progress=False, failure_policy=failure_policy)
    assert {r.task for r in trace.records if r.kind in ("task_end", "task_failed")} >= {j.id for j in jobs[-n:]}
    return CountedId.looks / n


@pytest.mark.parametrize("failure_policy, failing", [
    ("FAIL_IMMEDIATELY", False),
    ("FAIL_AFTER_EXECUTABLE_NODES_COMPLETE", True),  # a held failure waits on the children left
])
def test_a_parent_of_many_children_costs_the_same_per_child_at_any_size(failure_policy, failing):
    """Issue 26: each child that ended made the pools copy the parent's pending children
    (rule 6), so 4x the children cost 16x the looks; now it is 4x."""
    small, large = looks_per_child(500, failure_policy, failing), looks_per_child(2000, failure_policy, failing)
    assert large <= 1.2 * small, (small, large)
