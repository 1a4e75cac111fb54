"""Probes of ``flyte.errors``: every class the SDK has, built as the SDK builds it, read back
(``code``, ``kind``, the message, ``worker``), and where it sits in the hierarchy."""
from __future__ import annotations

from . import cases, probe

# The classes of flyte.errors in SDK 2.12.1, each with the arguments it is built from.
MESSAGE = ("m",)
CODE_MESSAGE = ("C", "m")
ERRORS = {
    "BaseRuntimeError": ("C", "user", "m"), "InitializationError": ("C", "user", "m"),
    "RuntimeUserError": CODE_MESSAGE, "RuntimeSystemError": CODE_MESSAGE, "RuntimeUnknownError": CODE_MESSAGE,
    "OOMError": CODE_MESSAGE, "TaskInterruptedError": CODE_MESSAGE, "PrimaryContainerNotFoundError": CODE_MESSAGE,
    "RetriesExhaustedError": CODE_MESSAGE, "InvalidImageNameError": CODE_MESSAGE, "ImagePullBackOffError": CODE_MESSAGE,
    "NotInTaskContextError": CODE_MESSAGE, "UnionRpcError": CODE_MESSAGE, "CustomError": CODE_MESSAGE,
    "TaskTimeoutError": MESSAGE, "MaxRuntimeExceededError": MESSAGE, "MaxQueuedTimeExceededError": MESSAGE,
    "DeadlineExceededError": MESSAGE, "NonRecoverableError": MESSAGE, "ActionAbortedError": MESSAGE,
    "CodeBundleError": MESSAGE, "ConditionAlreadyExistsError": MESSAGE, "ConditionFailedError": MESSAGE,
    "ConditionNotFoundError": MESSAGE, "ConditionTimedoutError": MESSAGE, "DeploymentError": MESSAGE,
    "ImageBuildError": MESSAGE, "InlineIOMaxBytesBreached": MESSAGE, "LogsNotYetAvailableError": MESSAGE,
    "ModuleLoadError": MESSAGE, "OnlyAsyncIOSupportedError": MESSAGE, "ParameterMaterializationError": MESSAGE,
    "RemoteTaskNotFoundError": MESSAGE, "RemoteTaskUsageError": MESSAGE, "ResourceExhaustedError": MESSAGE,
    "RestrictedTypeError": MESSAGE, "SlowDownError": MESSAGE, "SyncTaskCallInAsyncContextError": MESSAGE,
    "TraceDoesNotAllowNestedTasksError": MESSAGE, "InvalidPackageError": ("pkg", "oops"),
    "RuntimeDataValidationError": ("v", "bad"), "GPUFaultError": ("C", "user", "m"),
    "GPUFaultUserError": CODE_MESSAGE, "GPUFaultSystemError": CODE_MESSAGE,
    "AppleSiliconError": MESSAGE, "AppleSiliconNotAvailableError": MESSAGE, "AppleSiliconHostExecFailedError": MESSAGE,
    "AppleSiliconDaemonStartFailedError": MESSAGE, "AppleSiliconDaemonOOMError": MESSAGE,
    "AppleSiliconModelNotFoundError": MESSAGE, "AppleSiliconBridgeUnreachableError": MESSAGE,
    "ActionNotFoundError": (),
}
BASES = ("BaseRuntimeError", "RuntimeUserError", "RuntimeSystemError", "TaskTimeoutError")


def _built(f, item):
    name, args = item
    e = getattr(f.errors, name)(*args)
    return (getattr(e, "code", None), getattr(e, "kind", None), str(e), getattr(e, "worker", None))


def _bases(f, name):
    cls = getattr(f.errors, name)
    return [b for b in BASES if issubclass(cls, getattr(f.errors, b))] + [issubclass(cls, RuntimeError)]


names = [(n, n) for n in ERRORS]
cases("errors", "errors.{} exists", names, lambda f, n: hasattr(f.errors, n))
cases("errors", "errors.{} built as the SDK builds it", [(n, (n, a)) for n, a in ERRORS.items()], _built)
cases("errors", "errors.{}(\"m\") (one message argument)", names, lambda f, n: str(getattr(f.errors, n)("m")))
cases("errors", "errors.{} bases", names, _bases)
probe("errors", "NonRecoverableError(\"m\", code=\"X\").code", lambda f: f.errors.NonRecoverableError("m", code="X").code)
probe("errors", "TaskTimeoutError(\"m\", code=\"X\").code", lambda f: f.errors.TaskTimeoutError("m", code="X").code)
probe("errors", "GPUFaultUserError with fault fields",
      lambda f: (lambda e: (e.fault_kind, e.gpu_index, e.node))(
          f.errors.GPUFaultUserError("GpuXidError", "m", fault_kind="xid", gpu_index=0, node="n1")))
probe("errors", "GPU_FAULT_CODES", lambda f: sorted(f.errors.GPU_FAULT_CODES))
probe("errors", "APPLE_SILICON_ERRORS_BY_CODE", lambda f: sorted(f.errors.APPLE_SILICON_ERRORS_BY_CODE))
cases("errors", "errors.{}(\"m\").recoverable",
      [(n, n) for n in ERRORS if n.startswith("AppleSilicon")], lambda f, n: getattr(f.errors, n)("m").recoverable)
probe("errors", "raise and catch NonRecoverableError as RuntimeUserError", lambda f: _caught(f))
probe("errors", "hasattr(flyte.errors, \"NoSuchError\")", lambda f: hasattr(f.errors, "NoSuchError"))
probe("errors", "getattr(flyte.errors, \"NoSuchError\", None)", lambda f: getattr(f.errors, "NoSuchError", None))
probe("errors", "flyte.errors.NoSuchError raises AttributeError", lambda f: _attribute_error(f.errors, "NoSuchError"))


def _caught(f):
    try:
        raise f.errors.NonRecoverableError("stop")
    except f.errors.RuntimeUserError as exc:
        return (exc.code, exc.kind, str(exc))


def _attribute_error(module, name):
    try:
        getattr(module, name)
    except AttributeError:
        return "AttributeError"
    return "no error"
