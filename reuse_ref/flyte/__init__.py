"""``reuse_ref.flyte``: Flyte 2's public names over the reference, so Flyte programs run unchanged.

``import reuse_ref.flyte as flyte`` in a notebook, or ``reuse-ref run FILE.py``, which
makes ``import flyte`` (and ``from flyte import ...``, ``import flyte.errors``) resolve
here, in the controller and in every replica. Tasks then run on the reference's pools:
real, warm replica processes under the environment's ``ReusePolicy``, where Flyte's local
mode runs everything in one process.

What the reference does not model is accepted and recorded when ignoring it cannot change
a result (image builds, reports, triggers, queues, ``init``'s connection), and refused
with ``NotModelledError``, naming the feature, when it could (``flyte.remote``, a run
started inside a task). ``flyte.io``'s ``File``, ``Dir`` and ``DataFrame`` keep their
bytes in a local directory that the controller and its replicas share.
An unknown public name raises that error too, never an ``AttributeError``.
"""
from __future__ import annotations

from ..policy import ReusePolicy
from ..resources import Resources
from . import errors, io, models, remote, report, types
from ._unmodelled import NotModelledError, module_getattr, recorded
from .context import TaskContext, ctx, group, logger, trace
from .image import Image
from .map import map
from .cache import Cache, CachePolicy, CacheRequest
from .models import Backoff, PodTemplate, RetryStrategy, Secret, Timeout
from .session import Run, init, init_from_api_key, init_from_config, init_in_cluster, init_passthrough, run, \
    with_runcontext
from .tasks import TaskEnvironment, TaskTemplate

__all__ = [
    "TaskEnvironment", "TaskTemplate", "ReusePolicy", "Resources", "Image", "Secret", "Cache", "CachePolicy", "CacheRequest",
    "PodTemplate",
    "Timeout", "RetryStrategy", "Backoff", "init", "init_from_config", "init_from_api_key", "init_in_cluster",
    "init_passthrough", "run", "with_runcontext", "Run", "map", "group", "trace", "ctx", "TaskContext", "logger",
    "errors", "report", "io", "remote", "models", "types", "NotModelledError", "recorded",
]

AsyncFunctionTaskTemplate = TaskTemplate

__getattr__ = module_getattr("flyte")
