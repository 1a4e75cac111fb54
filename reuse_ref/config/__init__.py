"""What users write: the reuse policy, the resources of a replica, environments and tasks.

The bottom layer. Every other layer reads these models and none of them reads back up:
``policy`` (``ReusePolicy``), ``resources`` (``Resources``), ``environment``
(``TaskEnvironment``, ``Task``, ``TaskOptions``), ``errors`` (what a run can fail with)
and ``validation`` (the one place that turns bad input into a ``ValueError`` naming the
parameter, the value and what is allowed).
"""
from .environment import Task, TaskEnvironment, TaskOptions
from .policy import ReusePolicy
from .resources import Resources

__all__ = ["ReusePolicy", "Resources", "TaskEnvironment", "Task", "TaskOptions"]
