"""``flyte.errors``: the SDK's error class names, mapped onto reuse_ref's errors.

Flyte wraps whatever a task call raises: a user exception reaches the caller as
``RuntimeUserError`` whose ``code`` is the exception's type name (the original is its
``__cause__``), and platform failures have classes of their own (``OOMError``,
``TaskTimeoutError``...). :func:`translate` does the same with the reference's errors,
and each mapped class also derives from the reference's own, so both
``except flyte.errors.OOMError`` and ``except reuse_ref.OOMError`` catch an OOM kill.
"""
from __future__ import annotations

from typing import Any, Optional

from ..config import errors as _ref
from ._unmodelled import NotModelledError

__all__ = ["BaseRuntimeError", "RuntimeUserError", "RuntimeSystemError", "RuntimeUnknownError", "OOMError",
           "TaskTimeoutError", "StarvationError", "ReplicaCrashedError", "NotModelledError", "translate"]


def _rebuild(cls: type, code: str, kind: str, message: str, worker: Optional[str]) -> "BaseRuntimeError":
    err = cls.__new__(cls)
    BaseRuntimeError.__init__(err, code, kind, message, worker)
    return err


class BaseRuntimeError(RuntimeError):
    """Every failure of a task call, with the SDK's ``code``, ``kind`` and ``worker``."""

    def __init__(self, code: str, kind: str, root_cause_message: str, worker: Optional[str] = None) -> None:
        super().__init__(root_cause_message)
        self.code = code
        self.kind = kind
        self.worker = worker

    def __reduce__(self) -> Any:  # the arguments differ from ``args``: pickle needs to be told
        return (_rebuild, (type(self), self.code, self.kind, str(self), self.worker))


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
        BaseRuntimeError.__init__(self, code, "user", message)


class StarvationError(RuntimeUserError, _ref.StarvationError):
    """Reference only: queued tasks that can never start (the hosted service would wait forever)."""


class ReplicaCrashedError(RuntimeSystemError, _ref.ReplicaCrashedError):
    """Reference only: the replica running the attempt died."""


# The SDK's other names, so that ``except flyte.errors.X`` in user code is valid.
# The reference never raises most of them: nothing it models fails that way.
_USER = ("TaskInterruptedError", "PrimaryContainerNotFoundError", "RetriesExhaustedError", "InvalidImageNameError",
         "ImagePullBackOffError", "NotInTaskContextError", "RemoteTaskNotFoundError", "RemoteTaskUsageError",
         "RuntimeDataValidationError", "DeploymentError", "ImageBuildError", "ModuleLoadError",
         "InlineIOMaxBytesBreached", "ActionAbortedError", "SlowDownError", "OnlyAsyncIOSupportedError",
         "ParameterMaterializationError", "RestrictedTypeError", "CodeBundleError",
         "SyncTaskCallInAsyncContextError", "TraceDoesNotAllowNestedTasksError", "InvalidPackageError",
         "NonRecoverableError", "ConditionAlreadyExistsError", "ConditionFailedError", "ConditionNotFoundError",
         "ConditionTimedoutError", "CustomError")
for _name in _USER:
    globals()[_name] = type(_name, (RuntimeUserError,), {"__module__": __name__})
for _name, _base in (("MaxQueuedTimeExceededError", TaskTimeoutError), ("MaxRuntimeExceededError", TaskTimeoutError),
                     ("DeadlineExceededError", TaskTimeoutError), ("UnionRpcError", RuntimeSystemError),
                     ("LogsNotYetAvailableError", BaseRuntimeError), ("ResourceExhaustedError", globals()["SlowDownError"])):
    globals()[_name] = type(_name, (_base,), {"__module__": __name__})
ActionNotFoundError = type("ActionNotFoundError", (RuntimeError,), {"__module__": __name__})
__all__ += list(_USER) + ["MaxQueuedTimeExceededError", "MaxRuntimeExceededError", "DeadlineExceededError",
                          "UnionRpcError", "LogsNotYetAvailableError", "ResourceExhaustedError", "ActionNotFoundError"]


def translate(exc: BaseException) -> BaseException:
    """What a Flyte caller sees for ``exc`` raised by a task call (the original becomes the cause)."""
    if isinstance(exc, (BaseRuntimeError, NotModelledError)) or not isinstance(exc, Exception):
        return exc
    message = str(exc)
    if isinstance(exc, _ref.OOMError):
        new: BaseRuntimeError = OOMError("OOMError", message)
    elif isinstance(exc, _ref.TaskTimeoutError):
        new = TaskTimeoutError(message)
    elif isinstance(exc, _ref.StarvationError):
        new = StarvationError("StarvationError", message)
    elif isinstance(exc, _ref.ReplicaCrashedError):
        new = ReplicaCrashedError("ReplicaCrashedError", message)
    elif isinstance(exc, _ref.RemoteTaskError):
        new = RuntimeUserError(exc.type_name, message)
    else:
        new = RuntimeUserError(type(exc).__name__, message)
    new.__cause__ = exc
    return new


from ._unmodelled import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr("flyte.errors")
