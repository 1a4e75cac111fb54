"""``flyte.errors``: the SDK's error classes, built as the SDK builds them, mapped onto reuse_ref's errors.

Flyte wraps whatever a task call raises: a user exception reaches the caller as
``RuntimeUserError`` whose ``code`` is the exception's type name (the original is its
``__cause__``), and platform failures have classes of their own (``OOMError``,
``TaskTimeoutError``...). :func:`translate` does the same with the reference's errors,
and each mapped class also derives from the reference's own, so both
``except flyte.errors.OOMError`` and ``except reuse_ref.OOMError`` catch an OOM kill.

Every class takes the arguments it takes in the SDK: most are built from one message
(``NonRecoverableError("bad input")``), with the ``code`` the SDK gives them; the
others from a code and a message. ``NonRecoverableError`` is also the reference's
:class:`reuse_ref.config.errors.NonRecoverableError`: a task that raises it fails at once, with
no retry, on every backend, as in the SDK.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from ..config import errors as _ref
from ._unmodelled import NotModelledError

__all__ = ["BaseRuntimeError", "RuntimeUserError", "RuntimeSystemError", "RuntimeUnknownError", "InitializationError",
           "OOMError", "TaskTimeoutError", "NonRecoverableError", "StarvationError", "ReplicaCrashedError",
           "NotModelledError", "GPUFaultError", "GPUFaultUserError", "GPUFaultSystemError", "AppleSiliconError",
           "InvalidPackageError", "RuntimeDataValidationError", "ActionNotFoundError", "GPU_FAULT_CODES",
           "APPLE_SILICON_ERRORS_BY_CODE", "translate"]


def _rebuild(cls: type, state: Dict[str, Any], message: str) -> "BaseRuntimeError":
    err = cls.__new__(cls)
    RuntimeError.__init__(err, message)
    err.__dict__.update(state)
    return err


class BaseRuntimeError(RuntimeError):
    """Every failure of a task call, with the SDK's ``code``, ``kind`` and ``worker``."""

    def __init__(self, code: str, kind: str, root_cause_message: str, worker: Optional[str] = None) -> None:
        super().__init__(root_cause_message)
        self.code = code
        self.kind = kind
        self.worker = worker

    def __reduce__(self) -> Any:  # the arguments differ from ``args``: pickle gets the state instead
        return (_rebuild, (type(self), dict(self.__dict__), str(self)))


class InitializationError(BaseRuntimeError):
    pass


class RuntimeSystemError(BaseRuntimeError):
    def __init__(self, code: str, message: str, worker: Optional[str] = None) -> None:
        super().__init__(code, "system", message, worker)


class RuntimeUnknownError(BaseRuntimeError):
    def __init__(self, code: str, message: str, worker: Optional[str] = None) -> None:
        super().__init__(code, "unknown", message, worker)


class RuntimeUserError(BaseRuntimeError):
    def __init__(self, code: str, message: str, worker: Optional[str] = None) -> None:
        super().__init__(code, "user", message, worker)


class OOMError(RuntimeUserError, _ref.OOMError):
    """A replica went over its ``Resources`` memory and was killed."""


class TaskTimeoutError(RuntimeUserError, _ref.TaskTimeoutError):
    """An attempt ran past its task's ``timeout``."""

    def __init__(self, message: str, code: str = "TaskTimeoutError") -> None:
        super().__init__(code, message, "user")  # the SDK passes "user" as the worker


class NonRecoverableError(RuntimeUserError, _ref.NonRecoverableError):
    """Raise it in a task to fail at once: no retry is made, whatever ``retries`` says."""

    def __init__(self, message: str, code: str = "NonRecoverableError") -> None:
        super().__init__(code, message)


class StarvationError(RuntimeUserError, _ref.StarvationError):
    """Reference only: queued tasks that can never start (the hosted service would wait forever)."""


class ReplicaCrashedError(RuntimeSystemError, _ref.ReplicaCrashedError):
    """Reference only: the replica running the attempt died."""


def _message_class(name: str, base: type, code: str, worker: Optional[str] = "user") -> type:
    """A class built from one message, with the code and worker the SDK gives it."""
    def __init__(self: Any, message: str) -> None:
        BaseRuntimeError.__init__(self, code, "system" if issubclass(base, RuntimeSystemError) else "user",
                                  message, worker)
    return type(name, (base,), {"__init__": __init__, "__module__": __name__})


def _timeout_class(name: str) -> type:
    def __init__(self: Any, message: str) -> None:
        TaskTimeoutError.__init__(self, message, code=name)
    return type(name, (TaskTimeoutError,), {"__init__": __init__, "__module__": __name__})


# (name, what it is built from, its code): the SDK's classes built from one message.
_MESSAGE_CLASSES: Tuple[Tuple[str, str, Optional[str]], ...] = (
    ("ActionAbortedError", "ActionAbortedError", "user"), ("CodeBundleError", "CodeBundleError", "user"),
    ("ConditionAlreadyExistsError", "ConditionAlreadyExistsError", "user"),
    ("ConditionFailedError", "ConditionFailedError", "user"),
    ("ConditionNotFoundError", "ConditionNotFoundError", "user"),
    ("ConditionTimedoutError", "ConditionTimedoutError", "user"), ("DeploymentError", "DeploymentError", "user"),
    ("ImageBuildError", "ImageBuildError", "user"), ("InlineIOMaxBytesBreached", "InlineIOMaxBytesBreached", "user"),
    ("ModuleLoadError", "ModuleLoadError", "user"), ("OnlyAsyncIOSupportedError", "OnlyAsyncIOSupportedError", "user"),
    ("ParameterMaterializationError", "ParameterMaterializationError", "user"),
    ("RemoteTaskNotFoundError", "RemoteTaskNotFoundError", "user"),
    ("RemoteTaskUsageError", "RemoteTaskUsageError", "user"), ("RestrictedTypeError", "RestrictedTypeUsage", "user"),
    ("SyncTaskCallInAsyncContextError", "SyncTaskCallInAsyncContextError", "user"),
    ("TraceDoesNotAllowNestedTasksError", "TraceDoesNotAllowNestedTasksError", None),
)
for _name, _code, _worker in _MESSAGE_CLASSES:
    globals()[_name] = _message_class(_name, RuntimeUserError, _code, _worker)
SlowDownError = _message_class("SlowDownError", RuntimeUserError, "SlowDownError")
ResourceExhaustedError = _message_class("ResourceExhaustedError", SlowDownError, "SlowDownError")
for _name in ("MaxRuntimeExceededError", "MaxQueuedTimeExceededError", "DeadlineExceededError"):
    globals()[_name] = _timeout_class(_name)

# The SDK's classes built from a code and a message.
for _name in ("TaskInterruptedError", "PrimaryContainerNotFoundError", "RetriesExhaustedError", "InvalidImageNameError",
              "ImagePullBackOffError", "NotInTaskContextError"):
    globals()[_name] = type(_name, (RuntimeUserError,), {"__module__": __name__})


class CustomError(RuntimeUserError):
    """A user error with a code of the user's choosing."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, "user")  # the SDK passes "user" as the worker


class LogsNotYetAvailableError(BaseRuntimeError):
    """A run's logs that the service has not made available yet."""

    def __init__(self, message: str) -> None:
        super().__init__("LogsNotYetAvailable", "system", message)


UnionRpcError = type("UnionRpcError", (RuntimeSystemError,), {"__module__": __name__})
ActionNotFoundError = type("ActionNotFoundError", (RuntimeError,), {"__module__": __name__})


class InvalidPackageError(RuntimeUserError):
    """An image's system package that does not exist (recorded here: no image is built)."""

    def __init__(self, package_name: str, original_error: str) -> None:
        super().__init__("InvalidPackageError", f"Invalid system package detected: {package_name!r}. This package "
                                                f"does not exist in apt repositories. Error: {original_error}")
        self.package_name = package_name
        self.original_error = original_error


class RuntimeDataValidationError(RuntimeUserError):
    """An input or output that could not be converted."""

    def __init__(self, var: str, e: Any, task_name: str = "") -> None:
        super().__init__("DataValidationError", f"In task {task_name} variable {var}, failed to serialize/deserialize "
                                                f"because of {e}")


GPU_FAULT_CODES = ("GpuXidError", "GpuFallenOffBus", "GpuEccUncorrectable", "GpuRowRemapPending", "GpuNvlinkError",
                   "GpuGspError")
"""The codes of a GPU fault (the reference runs no GPU, so it never raises one)."""
_FAULT_FIELDS = ("fault_kind", "fault_code", "fault_name", "severity", "gpu_uuid", "gpu_index", "node", "pci_bus_id",
                 "process")


class GPUFaultError(BaseRuntimeError):
    """A GPU failed under a task; the fields say which and how."""

    def __init__(self, code: str, kind: str, message: str, worker: Optional[str] = None, **fault: Any) -> None:
        unknown = sorted(set(fault) - set(_FAULT_FIELDS))
        if unknown:
            raise TypeError(f"{unknown[0]}={fault[unknown[0]]!r} is not valid: a GPU fault field, one of "
                            f"{', '.join(_FAULT_FIELDS)}")
        BaseRuntimeError.__init__(self, code, kind, message, worker)  # not the next class: a user or system error's
        for name in _FAULT_FIELDS:
            setattr(self, name, fault.get(name))


class GPUFaultUserError(GPUFaultError, RuntimeUserError):
    def __init__(self, code: str, message: str, worker: Optional[str] = None, **fault: Any) -> None:
        GPUFaultError.__init__(self, code, "user", message, worker, **fault)


class GPUFaultSystemError(GPUFaultError, RuntimeSystemError):
    def __init__(self, code: str, message: str, worker: Optional[str] = None, **fault: Any) -> None:
        GPUFaultError.__init__(self, code, "system", message, worker, **fault)


class AppleSiliconError(RuntimeUserError):
    """A failure of the Apple Silicon bridge of a devbox; ``recoverable`` says whether a retry can help."""

    code_name = "APPLE_SILICON_ERROR"
    recoverable = True

    def __init__(self, message: str, worker: Optional[str] = None) -> None:
        super().__init__(self.code_name, message, worker)


# (name, code, whether a retry can help)
_APPLE = (("AppleSiliconNotAvailableError", "APPLE_SILICON_NOT_AVAILABLE", False),
          ("AppleSiliconHostExecFailedError", "APPLE_SILICON_HOST_EXEC_FAILED", False),
          ("AppleSiliconDaemonStartFailedError", "APPLE_SILICON_DAEMON_START_FAILED", False),
          ("AppleSiliconDaemonOOMError", "APPLE_SILICON_DAEMON_OOM", True),
          ("AppleSiliconModelNotFoundError", "APPLE_SILICON_MODEL_NOT_FOUND", False),
          ("AppleSiliconBridgeUnreachableError", "APPLE_SILICON_BRIDGE_UNREACHABLE", True))
APPLE_SILICON_ERRORS_BY_CODE: Dict[str, type] = {}
for _name, _code, _recoverable in _APPLE:
    globals()[_name] = APPLE_SILICON_ERRORS_BY_CODE[_code] = type(
        _name, (AppleSiliconError,), {"code_name": _code, "recoverable": _recoverable, "__module__": __name__})

__all__ += [n for n, _, _ in _MESSAGE_CLASSES] + [n for n, _, _ in _APPLE] + [
    "SlowDownError", "ResourceExhaustedError", "LogsNotYetAvailableError", "MaxRuntimeExceededError",
    "MaxQueuedTimeExceededError", "DeadlineExceededError", "TaskInterruptedError", "PrimaryContainerNotFoundError",
    "RetriesExhaustedError", "InvalidImageNameError", "ImagePullBackOffError", "NotInTaskContextError", "CustomError",
    "UnionRpcError"]


def translate(exc: BaseException) -> BaseException:
    """What a Flyte caller sees for ``exc`` raised by a task call (the original becomes the cause).

    A child's ``NonRecoverableError`` reaches its caller as a ``RuntimeUserError`` with the
    same code, as in the SDK: it ended the child's retries, not the caller's.
    """
    if isinstance(exc, NonRecoverableError):
        new: BaseRuntimeError = RuntimeUserError(exc.code, str(exc), exc.worker)
    elif isinstance(exc, (BaseRuntimeError, NotModelledError)) or not isinstance(exc, Exception):
        return exc
    elif isinstance(exc, _ref.OOMError):
        new = OOMError("OOMError", str(exc))
    elif isinstance(exc, _ref.TaskTimeoutError):
        new = TaskTimeoutError(str(exc))
    elif isinstance(exc, _ref.StarvationError):
        new = StarvationError("StarvationError", str(exc))
    elif isinstance(exc, _ref.ReplicaCrashedError):
        new = ReplicaCrashedError("ReplicaCrashedError", str(exc))
    elif isinstance(exc, _ref.RemoteTaskError):
        new = RuntimeUserError(exc.type_name, str(exc))
    elif isinstance(exc, _ref.NonRecoverableError):
        new = RuntimeUserError("NonRecoverableError", str(exc))
    else:
        new = RuntimeUserError(type(exc).__name__, str(exc))
    new.__cause__ = exc
    return new


from ._unmodelled import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr("flyte.errors")
