"""Probes of the module's names: every name of ``flyte.__all__`` (SDK 2.12.1), what kind of thing it
is, how a program asks whether a name exists, and the context helpers a task calls."""
from __future__ import annotations

from . import cases, probe, run_coroutine

ALL = ("AMD_GPU", "APPLE_SILICON", "GPU", "HABANA_GAUDI", "TPU", "AppHandle", "AsyncFunctionTaskTemplate", "Backoff",
       "BaseCheckpoint", "Cache", "CachePolicy", "CacheRequest", "Checkpoint", "ConditionWebhook", "Cron", "Device",
       "DeviceClass", "Documentation", "Environment", "FixedRate", "Image", "ImageBuild", "Link", "Neuron",
       "OnArtifact", "PodTemplate", "Resources", "RetryStrategy", "ReusePolicy", "Secret", "SecretRequest",
       "TaskEnvironment", "TaskTemplate", "Timeout", "TimeoutType", "Trigger", "TriggerTime", "TriggeredArtifact",
       "TriggeredPartition", "__version__", "build", "build_images", "ctx", "current_domain", "current_project",
       "custom_context", "deploy", "get_custom_context", "group", "init", "init_from_api_key", "init_from_config",
       "init_in_cluster", "init_passthrough", "is_control_plane_available", "latest_checkpoint",
       "load_interactive_ctx", "load_plugin_config", "logger", "map", "new_condition", "rerun", "run",
       "run_python_script", "serve", "system_logger", "trace", "version", "with_runcontext", "with_servecontext")
"""``flyte.__all__`` of the SDK this table was written against (the test compares it with the installed one)."""


def _kind(f, name):
    value = getattr(f, name)
    return "class" if isinstance(value, type) else "callable" if callable(value) else "value"


cases("names", "hasattr(flyte, {!r})", [(n, n) for n in ALL], lambda f, n: hasattr(f, n))
cases("names", "flyte.{} is a class, a callable or a value", [(n, n) for n in ALL], _kind)
probe("names", 'hasattr(flyte, "no_such_name")', lambda f: hasattr(f, "no_such_name"))
probe("names", 'getattr(flyte, "no_such_name", None)', lambda f: getattr(f, "no_such_name", None))
probe("names", "flyte.__version__ major", lambda f: f.__version__.split(".")[0])
probe("names", "flyte.version() == flyte.__version__", lambda f: f.version() == f.__version__)
probe("names", "flyte.logger.name", lambda f: f.logger.name)
probe("names", "flyte.system_logger is a Logger", lambda f: type(f.system_logger).__name__)
probe("names", "TaskTemplate is AsyncFunctionTaskTemplate's base",
      lambda f: issubclass(f.AsyncFunctionTaskTemplate, f.TaskTemplate))
probe("names", "issubclass(TaskEnvironment, Environment)", lambda f: issubclass(f.TaskEnvironment, f.Environment))
probe("names", "is_control_plane_available() before init", lambda f: f.is_control_plane_available())
probe("names", "current_project() before init", lambda f: f.current_project())
probe("names", "current_domain() before init", lambda f: f.current_domain())
probe("names", "ctx() outside a task", lambda f: f.ctx())
probe("names", "get_custom_context() outside a task", lambda f: f.get_custom_context())


def _custom(f):
    with f.custom_context(team="ml"):
        return f.get_custom_context()


probe("names", "custom_context(...) outside a task", _custom)


def _group(f):
    with f.group("g"):
        return "ran"


probe("names", "group(...) as a context manager", _group)


def _trace(f):
    @f.trace
    def add(a: int, b: int) -> int:
        return a + b
    return add(2, 3)


probe("names", "@trace keeps the function's result", _trace)


def _trace_async(f):
    @f.trace
    async def add(a: int, b: int) -> int:
        return a + b
    return run_coroutine(add(2, 3))


probe("names", "@trace on an async function", _trace_async)
probe("names", "latest_checkpoint() outside a task", lambda f: f.latest_checkpoint())
probe("names", "Link has get_link", lambda f: hasattr(f.Link, "get_link"))
probe("names", "flyte.errors and flyte.report are there after import flyte",
      lambda f: [hasattr(f, m) for m in ("errors", "report")])
