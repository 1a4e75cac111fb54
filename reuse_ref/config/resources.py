"""``Resources``: what one replica holds, kept as given, with canonical numbers beside it (rule 2)."""
from __future__ import annotations

import math
import numbers
import operator
import re
from typing import Any, Mapping, Optional

from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from .validation import Model, bad, is_int, is_number, number, strict_int

__all__ = ["Resources", "Quantity", "parse_cpu", "parse_bytes", "parse_gpu", "as_resources"]

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*$")
_BYTES_ALLOWED = 'an int number of bytes >= 0 or a quantity such as "500Mi", "1Gi" or "2G"'
_CPU_ALLOWED = 'a number of cores >= 0 (1, 0.5) or a quantity such as "500m" or "2"'
_GPU_ALLOWED = 'an int count >= 0, or "TYPE:COUNT" such as "L4:1", or a GPU type such as "A100"'


def parse_cpu(value: Any, param: str = "cpu") -> float:
    """Cores as a float: ``2``, ``0.5``, ``"2"``, ``"500m"`` (Kubernetes millicores)."""
    if isinstance(value, str):
        m = _QUANTITY.match(value)
        if m and m.group(2) in ("", "m") and is_number(float(m.group(1))):
            n = float(m.group(1))
            return n / 1000 if m.group(2) == "m" else n
        raise bad(param, value, _CPU_ALLOWED)
    return number(param, value, minimum=0, allowed=_CPU_ALLOWED)


def parse_bytes(value: Any, param: str = "memory") -> int:
    """Bytes as an int: ``1024``, ``"500Mi"``, ``"1Gi"``, ``"2G"``, ``"1.5Gi"``."""
    if isinstance(value, str):
        m = _QUANTITY.match(value)
        if m:
            amount, unit = float(m.group(1)), m.group(2)
            factor = 1 if unit == "" else _BINARY.get(unit) or _DECIMAL.get(unit)
            if factor and is_number(amount * factor):
                return int(amount * factor)
        raise bad(param, value, _BYTES_ALLOWED)
    if is_int(value):  # any size: an int of bytes need not fit a float
        return strict_int(param, value, minimum=0, allowed=_BYTES_ALLOWED)
    return int(number(param, value, minimum=0, allowed=_BYTES_ALLOWED))


def parse_gpu(value: Any, param: str = "gpu") -> tuple[int, Optional[str]]:
    """``(count, type)``: ``1`` -> ``(1, None)``, ``"L4:1"`` -> ``(1, "L4")``, ``"A100"`` -> ``(1, "A100")``."""
    if is_int(value):
        return strict_int(param, value, minimum=0, allowed=_GPU_ALLOWED), None
    if isinstance(value, str):
        kind, sep, count = value.partition(":")
        kind = kind.strip()
        # [0-9] and not str.isdigit(): "²".isdigit() is True but int("²") fails
        if sep and kind and re.fullmatch(r"[0-9]+", count.strip()):
            return int(count), kind
        if not sep and re.fullmatch(r"[0-9]+", value.strip()):
            return int(value), None
        if not sep and re.fullmatch(r"[A-Za-z][\w\-]*", kind):
            return 1, kind
    raise bad(param, value, _GPU_ALLOWED)


class Quantity(str):
    """A quantity string kept as the user wrote it (``"1Gi"``) that also acts as its parsed number.

    ``Resources`` keeps values as given, as Flyte's SDK does (rules of the Concepts page, and Flyte's SDK), so
    ``Resources(memory="1Gi").memory == "1Gi"``. Code written when the field held bytes
    (the local runtime's memory watch compares a replica's RSS with it) keeps working:
    comparisons and arithmetic with numbers use the parsed value. New code should read
    the parsed accessors (:attr:`Resources.memory_bytes` ...) instead.
    """

    value: float

    def __new__(cls, text: str, value: float) -> "Quantity":
        q = super().__new__(cls, text)
        q.value = value
        return q

    def __reduce__(self) -> Any:
        return (Quantity, (str(self), self.value))

    def _num(self, other: Any, op: Any) -> Any:
        if is_number(other, finite=False):
            return op(self.value, other)
        return NotImplemented

    def __lt__(self, other: Any) -> Any:
        return self._num(other, operator.lt) if is_number(other, finite=False) else str.__lt__(self, other)

    def __le__(self, other: Any) -> Any:
        return self._num(other, operator.le) if is_number(other, finite=False) else str.__le__(self, other)

    def __gt__(self, other: Any) -> Any:
        return self._num(other, operator.gt) if is_number(other, finite=False) else str.__gt__(self, other)

    def __ge__(self, other: Any) -> Any:
        return self._num(other, operator.ge) if is_number(other, finite=False) else str.__ge__(self, other)

    def __truediv__(self, other: Any) -> Any:
        return self._num(other, operator.truediv)

    def __int__(self) -> int:
        return int(self.value)

    def __float__(self) -> float:
        return float(self.value)

    __hash__ = str.__hash__
    __eq__ = str.__eq__


def _limit(value: Any) -> Any:
    """A ``(request, limit)`` pair, as the SDK accepts for cpu and memory, counts as its limit:
    the limit is what a replica may use before it is killed."""
    if isinstance(value, tuple):
        if len(value) != 2:
            return _BAD_PAIR
        return value[1]
    return value


_BAD_PAIR = object()


def _check_pair(key: str, value: Any, parse: Any, allowed: str, given: Any) -> Any:
    """Parse a value or a (request, limit) pair; an error names the whole value given."""
    if not isinstance(value, tuple):
        return parse(value, key)
    try:
        if len(value) != 2:
            raise ValueError
        parse(value[0], key)
        return parse(value[1], key)
    except ValueError:
        raise bad(key, given, allowed + ", or a (request, limit) pair of them") from None


class Resources(Model):
    """What one replica holds: cpu, memory, GPUs, disk, shared memory.

    Input is what Flyte users write: ``cpu=1``, ``cpu="500m"``, ``memory="1Gi"``,
    ``gpu="L4:1"``, ``disk="10Gi"``, and the SDK's ``(request, limit)`` pairs for cpu and
    memory; flytekit's ``mem`` and ``ephemeral_storage`` are accepted as aliases of
    ``memory`` and ``disk``. The fields keep the values as given, as Flyte's SDK does
    (``Resources(memory="1Gi").memory == "1Gi"``); each is parsed once, at construction,
    into the canonical numbers beside them: :attr:`cpu_cores`, :attr:`memory_bytes`,
    :attr:`gpu_count`, :attr:`gpu_kind`, :attr:`disk_bytes`. A pair counts as its limit.
    An environment's footprint is its replica-seconds times these numbers (see :meth:`footprint`).

    >>> r = Resources(cpu="500m", memory="1Gi")
    >>> r.cpu, r.cpu_cores, r.memory, r.memory_bytes
    ('500m', 0.5, '1Gi', 1073741824)
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    cpu: Any = Field(default=None, description="Cores, as given: 1, 0.5, \"500m\" or (request, limit).")
    memory: Any = Field(default=None, description="Memory, as given: \"1Gi\", bytes, or (request, limit).")
    gpu: Any = Field(default=None, description="GPUs, as given: a count, \"L4:1\" or a type.")
    gpu_type: Optional[str] = Field(default=None, description='GPU type, e.g. "L4" (a reference extra).')
    disk: Any = Field(default=None, description="Ephemeral disk, as given.")
    shm: Any = Field(default=None, description="Shared memory, as given (recorded, not enforced).")
    _parsed: dict = PrivateAttr(default_factory=dict)

    def __init__(self, cpu: Any = None, memory: Any = None, gpu: Any = None, disk: Any = None, *,
                 mem: Any = None, ephemeral_storage: Any = None, gpu_type: Any = None, shm: Any = None,
                 **unknown: Any) -> None:
        if unknown:  # pydantic calls __init__ for model_validate too: a ValueError, not a TypeError
            key = sorted(unknown)[0]
            raise bad(key, unknown[key], "not a resource: give cpu, memory (or mem), gpu, gpu_type, disk (or ephemeral_storage) or shm")
        if mem is not None:
            if memory is not None:
                raise bad("mem", mem, "give memory or its alias mem, not both")
            memory = mem
        if ephemeral_storage is not None:
            if disk is not None:
                raise bad("ephemeral_storage", ephemeral_storage, "give disk or its alias ephemeral_storage, not both")
            disk = ephemeral_storage
        super().__init__(cpu=cpu, memory=memory, gpu=gpu, disk=disk, gpu_type=gpu_type, shm=shm)

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> "Resources":
        """As pydantic's, but a mapping with a key that is not a str is a ``ValueError``:
        pydantic hands the mapping to ``__init__`` as keywords, where it is a ``TypeError``."""
        if isinstance(obj, dict) and not all(isinstance(k, str) for k in obj):
            raise bad("resources", obj, "a mapping of cpu, memory, gpu and disk, keyed by those names as str")
        return super().model_validate(obj, **options)

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise bad("resources", data, "a mapping of cpu, memory, gpu and disk")
        out = dict(data)
        parsed: dict = {}
        given = dict(out)
        for key in ("cpu", "memory"):  # JSON gives a (request, limit) pair back as a list
            if isinstance(out.get(key), list) and len(out[key]) == 2:
                out[key] = tuple(out[key])
        if out.get("cpu") is not None:
            _check_pair("cpu", out["cpu"], parse_cpu, _CPU_ALLOWED, given["cpu"])
        for key in ("memory", "disk", "shm"):
            value = out.get(key)
            if value is None or (key == "shm" and value == "auto"):
                continue
            if key != "memory" and isinstance(value, tuple):
                raise bad(key, value, _BYTES_ALLOWED)
            nbytes = _check_pair(key, value, parse_bytes, _BYTES_ALLOWED, given[key])
            if key == "memory" and isinstance(value, str):
                out[key] = Quantity(value, nbytes)
        if out.get("gpu_type") is not None:
            if not (isinstance(out["gpu_type"], str) and out["gpu_type"].strip()):
                raise bad("gpu_type", out["gpu_type"], 'a GPU type name such as "L4"')
            out["gpu_type"] = out["gpu_type"].strip()
        if out.get("gpu") is not None:
            count, kind = parse_gpu(out["gpu"])
            if kind and out.get("gpu_type") and kind != out["gpu_type"]:
                raise bad("gpu_type", out["gpu_type"], f"the type named in gpu={out['gpu']!r} ({kind!r}), or left out")
            parsed["gpu"] = count
            parsed["gpu_kind"] = out.get("gpu_type") or kind
        elif out.get("gpu_type") is not None:
            parsed["gpu_kind"] = out["gpu_type"]
        return out


    def model_post_init(self, context: Any) -> None:
        """Parse once, beside the values as given (the validator above has checked them)."""
        parsed: dict = {}
        if self.cpu is not None:
            parsed["cpu"] = parse_cpu(_limit(self.cpu))
        for key in ("memory", "disk", "shm"):
            value = getattr(self, key)
            if value is not None and not (key == "shm" and value == "auto"):
                parsed[key] = parse_bytes(_limit(value), key)
        if self.gpu is not None:
            count, kind = parse_gpu(self.gpu)
            parsed["gpu"], parsed["gpu_kind"] = count, self.gpu_type or kind
        elif self.gpu_type is not None:
            parsed["gpu_kind"] = self.gpu_type
        self._parsed = parsed

    # The parsed quantities: what the footprint, the trace and the runtime read.
    @property
    def cpu_cores(self) -> Optional[float]:
        """Cores as a float (``"500m"`` -> 0.5; a pair -> its limit); ``None`` when not set."""
        return self._parsed.get("cpu")

    @property
    def memory_bytes(self) -> Optional[int]:
        """Memory in bytes (``"1Gi"`` -> 1073741824; a pair -> its limit); ``None`` when not set."""
        return self._parsed.get("memory")

    @property
    def gpu_count(self) -> Optional[int]:
        """How many GPUs (``"L4:1"`` -> 1, ``"A100"`` -> 1); ``None`` when not set."""
        return self._parsed.get("gpu")

    @property
    def gpu_kind(self) -> Optional[str]:
        """The GPU type (``"L4:1"`` -> ``"L4"``, or ``gpu_type``); ``None`` when not named."""
        return self._parsed.get("gpu_kind")

    @property
    def disk_bytes(self) -> Optional[int]:
        """Ephemeral disk in bytes; ``None`` when not set."""
        return self._parsed.get("disk")

    @property
    def shm_bytes(self) -> Optional[int]:
        """Shared memory in bytes; ``None`` when not set or ``"auto"``."""
        return self._parsed.get("shm")

    def footprint(self, replica_seconds: float, replicas: int = 1) -> dict[str, float]:
        """Resource-seconds held by ``replica_seconds`` of replicas of this size (the footprint).

        Returns ``cpu_seconds``, ``gib_seconds`` (memory) and ``gpu_seconds``; a resource
        that is not set counts as zero.
        """
        number("replica_seconds", replica_seconds, minimum=0, allowed="a finite number of seconds >= 0")
        if not isinstance(replicas, numbers.Integral) or isinstance(replicas, bool) or replicas < 0:
            raise bad("replicas", replicas, "an int >= 0")
        try:  # a float times an int too large for a float raises OverflowError
            rs = replica_seconds * replicas
            out = {
                "cpu_seconds": rs * (self.cpu_cores or 0.0),
                "gib_seconds": rs * ((self.memory_bytes or 0) / 2**30),  # GiB first: bytes x seconds overflows sooner
                "gpu_seconds": rs * (self.gpu_count or 0),
            }
        except OverflowError:
            out = {"": math.inf}
        if not all(map(math.isfinite, out.values())):
            raise bad("replicas", replicas, f"an int >= 0 small enough that the footprint of {replica_seconds!r} "
                      f"replica-seconds x replicas of {self!r} is a finite number")
        return out

    def __repr__(self) -> str:
        parts = [f"{k}={_plain(getattr(self, k))!r}" for k in ("cpu", "memory", "gpu", "gpu_type", "disk", "shm")
                 if getattr(self, k) is not None]
        return f"Resources({', '.join(parts)})"

    __str__ = __repr__


def as_resources(value: Any, param: str = "resources") -> Optional[Resources]:
    """What one replica holds, from what a caller may give: ``None``, a :class:`Resources`, or a
    mapping of its fields (a configuration file's form)."""
    if value is None or isinstance(value, Resources):
        return value
    if isinstance(value, Mapping) and all(isinstance(key, str) for key in value):
        return Resources.model_validate(dict(value))
    raise bad(param, value, "a Resources, a mapping of cpu, memory, gpu and disk (keyed by those names), or None")


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Quantity) else value
