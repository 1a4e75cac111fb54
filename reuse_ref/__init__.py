"""reuse_ref: the reference semantics of Flyte 2 container reuse.

The configuration models (``ReusePolicy``, ``Resources``, ``TaskEnvironment``) follow
Flyte's names; the pool state machine, the virtual-clock simulator and the local runtime
show what the four numbers of a policy do.
"""
from .environment import Task, TaskEnvironment, TaskOptions
from .errors import (
    DeprecatedTaskWarning,
    OOMError,
    RemoteTaskError,
    ReplicaCrashedError,
    StarvationError,
    StarvationWarning,
    TaskTimeoutError,
)
from .policy import ReusePolicy
from .resources import Resources

__version__ = "0.1.0"

__all__ = [
    "ReusePolicy", "Resources", "TaskEnvironment", "Task", "TaskOptions",
    "StarvationWarning", "DeprecatedTaskWarning", "StarvationError", "ReplicaCrashedError",
    "OOMError", "TaskTimeoutError", "RemoteTaskError", "__version__",
]
