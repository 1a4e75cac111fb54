"""Rule 7, failure propagation: who called whom, and what a parent's end does to its children.

The state of rule 7 (flytekit's ``WorkflowFailurePolicy``), kept for every pool of a run
by :class:`~reuse_ref.core.pools.Pools`, which acts on it:

* a child that fails for good makes its parent's await raise that error (the parent's
  code, or the simulator's model of it, decides when it awaits: not this module);
* when a parent's attempt fails by itself, its other pending children are cancelled
  (``FAIL_IMMEDIATELY``, the default), or, under ``FAIL_AFTER_EXECUTABLE_NODES_COMPLETE``,
  they run to their end while the parent's failure is *held*: it becomes final, and the
  parent's slot free, once the last of them has ended;
* when a task ends for good, the children it still holds are cancelled (always when it
  ended well; under ``FAIL_IMMEDIATELY`` when it failed): no work runs for a parent that
  is gone;
* a child is called by one attempt of its parent (both drivers: a retried parent runs its
  code again and calls its children again, so an attempt that ends takes its own
  children with it), or, when a driver does not say which attempt, by the parent task as
  a whole.
"""
from __future__ import annotations

from typing import Dict, Hashable, List, Optional, Set, Tuple

__all__ = ["CallTree", "Node", "FAIL_IMMEDIATELY", "FAIL_AFTER_EXECUTABLE_NODES_COMPLETE", "FAILURE_POLICIES",
           "check_failure_policy"]

Node = Tuple[Optional[str], Hashable]
"""A call as the core knows it: ``(pool name, task id)``; the pool is ``None`` for a call
outside every pool (a run's root in the runtime)."""

FAIL_IMMEDIATELY = "FAIL_IMMEDIATELY"
FAIL_AFTER_EXECUTABLE_NODES_COMPLETE = "FAIL_AFTER_EXECUTABLE_NODES_COMPLETE"
FAILURE_POLICIES = (FAIL_IMMEDIATELY, FAIL_AFTER_EXECUTABLE_NODES_COMPLETE)
"""The run's failure policies, named as flytekit's ``WorkflowFailurePolicy`` names them."""


def check_failure_policy(value: object) -> str:
    """The failure policy named by ``value`` (a string, or an enum whose ``name`` is one)."""
    name = getattr(value, "name", value)
    if name not in FAILURE_POLICIES:
        raise ValueError(f"failure_policy={value!r} is not valid: one of {', '.join(map(repr, FAILURE_POLICIES))}")
    return str(name)


class CallTree:
    """The calls of a run between tasks, by node, with the held failures (see the module docstring)."""

    def __init__(self, failure_policy: str = FAIL_IMMEDIATELY) -> None:
        self.failure_policy = check_failure_policy(failure_policy)
        self.children: Dict[Node, Dict[Node, None]] = {}  # a parent -> its children not ended yet, in call order
        self.parent: Dict[Node, Node] = {}  # a child not ended yet -> its parent
        self.caller_attempt: Dict[Node, int] = {}  # a child -> the parent's attempt that called it (absent: the task)
        self.attempt_callers: Dict[Node, Set[int]] = {}  # a parent -> its attempts that called children
        self.held: Dict[Node, Tuple[str, str]] = {}  # a parent -> its failure, final once its children end
        self.policies: Dict[Node, str] = {}  # a task whose run chose its own failure policy

    def called(self, parent: Node, child: Node, attempt: Optional[int] = None) -> None:
        """``parent`` (a running task; with ``attempt``, that attempt of it) called ``child``."""
        self.children.setdefault(parent, {})[child] = None
        self.parent[child] = parent
        if attempt is not None:
            self.caller_attempt[child] = attempt
            self.attempt_callers.setdefault(parent, set()).add(attempt)

    def choose_policy(self, node: Node, failure_policy: str) -> None:
        """``node`` belongs to a run with its own failure policy."""
        if failure_policy != self.failure_policy:
            self.policies[node] = check_failure_policy(failure_policy)

    def policy(self, node: Node) -> str:
        return self.policies.get(node, self.failure_policy)

    def pending(self, parent: Node) -> List[Node]:
        """The children of ``parent`` that have not ended, in the order they were called."""
        return list(self.children.get(parent, ()))

    def of_attempt(self, parent: Node, attempt: int) -> List[Node]:
        """The pending children that ``attempt`` of ``parent`` called."""
        return [c for c in self.children.get(parent, ()) if self.caller_attempt.get(c) == attempt]

    def cancels_on_failure(self, node: Node) -> bool:
        """Whether a failure of ``node`` cancels its pending children (``FAIL_IMMEDIATELY``)."""
        return self.policy(node) == FAIL_IMMEDIATELY

    def ended(self, node: Node) -> Optional[Node]:
        """``node`` has ended for good: it is no longer anyone's child, and holds no failure.
        Returns its parent, if it had one that has not ended."""
        self.held.pop(node, None)
        self.policies.pop(node, None)
        self.caller_attempt.pop(node, None)
        self.attempt_callers.pop(node, None)  # its children's fate was decided as it ended
        parent = self.parent.pop(node, None)
        if parent is not None:
            kids = self.children.get(parent)
            if kids is not None:
                kids.pop(node, None)
                if not kids:
                    del self.children[parent]
                    self.attempt_callers.pop(parent, None)
        return parent
