"""``reuse_ref.flyte``: Flyte 2's public names over the reference, so Flyte programs run unchanged.

``import reuse_ref.flyte as flyte`` in a notebook, or ``reuse-ref run FILE.py``, which
makes ``import flyte`` (and ``from flyte import ...``, ``import flyte.errors``) resolve
here, in the controller and in every replica. Tasks then run on the reference's pools:
real, warm replica processes under the environment's ``ReusePolicy``, where Flyte's local
mode runs everything in one process.

Every name of the SDK's ``flyte.__all__`` is here, or refused (``NAMES`` says which,
and why). What the reference does not model is accepted and recorded when ignoring it
cannot change a result (image builds, reports, triggers, queues, ``init``'s connection),
and refused with ``NotModelledError``, naming the feature, when it could (``flyte.remote``,
``deploy``, ``serve``, a run started inside a task). A name this module does not have
raises ``NotModelledAttributeError``: it names the feature and is an ``AttributeError``,
so ``hasattr(flyte, name)`` answers as with the SDK. ``flyte.io``'s ``File``, ``Dir`` and
``DataFrame`` keep their bytes in a local directory that the controller and its replicas
share.
"""
from __future__ import annotations

from typing import Dict, Tuple

from . import errors, io, models, remote, report, types
from ._unmodelled import NotModelledAttributeError, NotModelledError, module_getattr, recorded
from .cache import Cache, CachePolicy, CacheRequest
from .context import TaskContext, ctx, custom_context, get_custom_context, group, logger, system_logger, trace
from .image import Image
from .map import map
from .models import (Backoff, Documentation, Link, PodTemplate, RetryStrategy, Secret, SecretRequest, Timeout,
                     TimeoutType)
from .policy import ReusePolicy
from .resources import AMD_GPU, APPLE_SILICON, GPU, HABANA_GAUDI, TPU, Device, DeviceClass, Neuron, Resources
from .session import (Run, current_domain, current_project, init, init_from_api_key, init_from_config,
                      init_in_cluster, init_passthrough, is_control_plane_available, run, with_runcontext)
from .tasks import Environment, TaskEnvironment, TaskTemplate
from .triggers import Cron, FixedRate, OnArtifact, Trigger, TriggeredArtifact, TriggeredPartition, TriggerTime

__version__ = "2.12.1"
"""The version of Flyte's SDK whose behaviour this module follows (tests/fidelity_sdk_outcomes.json)."""

AsyncFunctionTaskTemplate = TaskTemplate


def version() -> str:
    """The version of Flyte's SDK this module follows, as ``flyte.version()`` gives the SDK's."""
    return __version__


_SERVICE = "the hosted service's API: the reference runs locally"
REFUSED: Dict[str, str] = {
    "AppHandle": "apps are long-running services, not tasks: the reference models tasks on reusable replicas",
    "serve": "apps are long-running services, not tasks: the reference models tasks on reusable replicas",
    "with_servecontext": "apps are long-running services, not tasks: the reference models tasks on reusable replicas",
    "BaseCheckpoint": "checkpoints live in the service's object store; an attempt here restarts from the beginning",
    "Checkpoint": "checkpoints live in the service's object store; an attempt here restarts from the beginning",
    "latest_checkpoint": "checkpoints live in the service's object store; an attempt here restarts from the beginning",
    "ConditionWebhook": "a condition waits for a signal from outside the run, which would never come locally",
    "new_condition": "a condition waits for a signal from outside the run, which would never come locally",
    "ImageBuild": "no image is built: replicas run in this Python (flyte.Image is recorded instead)",
    "build": "no image is built: replicas run in this Python (flyte.Image is recorded instead)",
    "build_images": "no image is built: replicas run in this Python (flyte.Image is recorded instead)",
    "deploy": _SERVICE,
    "rerun": _SERVICE,
    "run_python_script": _SERVICE,
    "load_interactive_ctx": "the interactive context of a notebook connected to the service: " + _SERVICE,
    "load_plugin_config": "task plugins (Ray, Spark...) run their own clusters; the reference has none",
}
"""The names of the SDK's ``flyte.__all__`` that the reference refuses, each with why."""

_MODELLED = ("AMD_GPU", "APPLE_SILICON", "GPU", "HABANA_GAUDI", "TPU", "Neuron", "Device", "DeviceClass", "Resources",
             "ReusePolicy", "TaskEnvironment", "TaskTemplate", "AsyncFunctionTaskTemplate", "Environment", "Cache",
             "CachePolicy", "CacheRequest", "RetryStrategy", "Secret", "SecretRequest", "Timeout", "TimeoutType",
             "Documentation", "ctx", "custom_context", "get_custom_context", "group", "trace", "map", "run",
             "with_runcontext", "logger", "system_logger", "version", "__version__", "current_project",
             "current_domain", "is_control_plane_available")
_RECORDED = ("Backoff", "Image", "PodTemplate", "Link", "Trigger", "Cron", "FixedRate", "OnArtifact", "TriggerTime",
             "TriggeredArtifact", "TriggeredPartition", "init", "init_from_api_key", "init_from_config",
             "init_in_cluster", "init_passthrough")
NAMES: Dict[str, Tuple[str, str]] = {
    **{n: ("modelled", "behaves as in the SDK, running locally on the reference's pools") for n in _MODELLED},
    **{n: ("recorded", "accepted, kept and read back as in the SDK; recorded, since it cannot change what a task "
                       "computes here") for n in _RECORDED},
    **{n: ("refused", why) for n, why in REFUSED.items()},
}
"""Every name of the SDK's ``flyte.__all__`` (2.12.1): ``(status, why)``, status one of modelled, recorded, refused."""

__all__ = [n for n in NAMES if n not in REFUSED] + [
    "errors", "io", "models", "remote", "report", "types", "Run", "TaskContext", "NotModelledError",
    "NotModelledAttributeError", "recorded", "NAMES", "REFUSED"]

__getattr__ = module_getattr("flyte", refused=REFUSED)
