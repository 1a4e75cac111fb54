"""``Resources``: what one replica holds, parsed once into canonical numbers."""
from __future__ import annotations

import math
import numbers
import re
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ._validate import bad

__all__ = ["Resources", "parse_cpu", "parse_bytes", "parse_gpu"]

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*$")
_BYTES_ALLOWED = 'an int number of bytes >= 0 or a quantity such as "500Mi", "1Gi" or "2G"'
_CPU_ALLOWED = 'a number of cores >= 0 (1, 0.5) or a quantity such as "500m" or "2"'
_GPU_ALLOWED = 'an int count >= 0, or "TYPE:COUNT" such as "L4:1", or a GPU type such as "A100"'


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    """Not NaN, not infinite, and (for a huge int) convertible to float."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def parse_cpu(value: Any, param: str = "cpu") -> float:
    """Cores as a float: ``2``, ``0.5``, ``"2"``, ``"500m"`` (Kubernetes millicores)."""
    if _is_number(value):
        if not _finite(value) or value < 0:
            raise bad(param, value, _CPU_ALLOWED)
        return float(value)
    if isinstance(value, str):
        m = _QUANTITY.match(value)
        if m and m.group(2) in ("", "m") and _finite(float(m.group(1))):
            n = float(m.group(1))
            return n / 1000 if m.group(2) == "m" else n
    raise bad(param, value, _CPU_ALLOWED)


def parse_bytes(value: Any, param: str = "memory") -> int:
    """Bytes as an int: ``1024``, ``"500Mi"``, ``"1Gi"``, ``"2G"``, ``"1.5Gi"``."""
    if _is_number(value):
        if isinstance(value, float) and not _finite(value) or value < 0:
            raise bad(param, value, _BYTES_ALLOWED)
        return int(value)
    if isinstance(value, str):
        m = _QUANTITY.match(value)
        if m:
            number, unit = float(m.group(1)), m.group(2)
            factor = 1 if unit == "" else _BINARY.get(unit) or _DECIMAL.get(unit)
            if factor and _finite(number * factor):
                return int(number * factor)
    raise bad(param, value, _BYTES_ALLOWED)


def parse_gpu(value: Any, param: str = "gpu") -> tuple[int, Optional[str]]:
    """``(count, type)``: ``1`` -> ``(1, None)``, ``"L4:1"`` -> ``(1, "L4")``, ``"A100"`` -> ``(1, "A100")``."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise bad(param, value, _GPU_ALLOWED)
        return value, None
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


class Resources(BaseModel):
    """What one replica holds: cpu cores, memory bytes, GPUs (count and type), disk bytes.

    Input is what Flyte users write: ``cpu=1``, ``cpu="500m"``, ``memory="1Gi"``,
    ``gpu="L4:1"``, ``disk="10Gi"``; flytekit's ``mem`` and ``ephemeral_storage`` are
    accepted as aliases of ``memory`` and ``disk``. Values are stored parsed, so
    ``Resources(memory="1Gi").memory == 1073741824``. An environment's footprint is its
    replica-seconds times these numbers (see :meth:`footprint`).

    >>> Resources(cpu="500m", memory="1Gi").cpu
    0.5
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu: Optional[float] = Field(default=None, description="Cores.")
    memory: Optional[int] = Field(default=None, description="Bytes.")
    gpu: Optional[int] = Field(default=None, description="GPU count.")
    gpu_type: Optional[str] = Field(default=None, description='GPU type, e.g. "L4".')
    disk: Optional[int] = Field(default=None, description="Ephemeral disk, bytes.")

    def __init__(self, cpu: Any = None, memory: Any = None, gpu: Any = None, disk: Any = None, *,
                 mem: Any = None, ephemeral_storage: Any = None, gpu_type: Any = None, **unknown: Any) -> None:
        if unknown:  # pydantic calls __init__ for model_validate too: a ValueError, not a TypeError
            key = sorted(unknown)[0]
            raise bad(key, unknown[key], "not a resource: give cpu, memory (or mem), gpu, gpu_type or disk (or ephemeral_storage)")
        if mem is not None:
            if memory is not None:
                raise bad("mem", mem, "give memory or its alias mem, not both")
            memory = mem
        if ephemeral_storage is not None:
            if disk is not None:
                raise bad("ephemeral_storage", ephemeral_storage, "give disk or its alias ephemeral_storage, not both")
            disk = ephemeral_storage
        super().__init__(cpu=cpu, memory=memory, gpu=gpu, disk=disk, gpu_type=gpu_type)

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> "Resources":
        """As pydantic's, but a mapping with a key that is not a str is a ``ValueError``:
        pydantic hands the mapping to ``__init__`` as keywords, where it is a ``TypeError``."""
        if isinstance(obj, dict) and not all(isinstance(k, str) for k in obj):
            raise bad("resources", obj, "a mapping of cpu, memory, gpu and disk, keyed by those names as str")
        return super().model_validate(obj, **options)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise bad("resources", data, "a mapping of cpu, memory, gpu and disk")
        out = dict(data)
        if out.get("cpu") is not None:
            out["cpu"] = parse_cpu(out["cpu"])
        for key in ("memory", "disk"):
            if out.get(key) is not None:
                out[key] = parse_bytes(out[key], key)
        if out.get("gpu_type") is not None:
            if not (isinstance(out["gpu_type"], str) and out["gpu_type"].strip()):
                raise bad("gpu_type", out["gpu_type"], 'a GPU type name such as "L4"')
            out["gpu_type"] = out["gpu_type"].strip()
        if out.get("gpu") is not None:
            count, kind = parse_gpu(out["gpu"])
            if kind and out.get("gpu_type") and kind != out["gpu_type"]:
                raise bad("gpu_type", out["gpu_type"], f"the type named in gpu={out['gpu']!r} ({kind!r}), or left out")
            out["gpu"] = count
            out["gpu_type"] = out.get("gpu_type") or kind
        return out

    def footprint(self, replica_seconds: float, replicas: int = 1) -> dict[str, float]:
        """Resource-seconds held by ``replica_seconds`` of replicas of this size (the footprint).

        Returns ``cpu_seconds``, ``gib_seconds`` (memory) and ``gpu_seconds``; a resource
        that is not set counts as zero.
        """
        if not isinstance(replica_seconds, numbers.Real) or isinstance(replica_seconds, bool) \
                or not _finite(replica_seconds) or replica_seconds < 0:
            raise bad("replica_seconds", replica_seconds, "a finite number of seconds >= 0")
        if not isinstance(replicas, numbers.Integral) or isinstance(replicas, bool) or replicas < 0:
            raise bad("replicas", replicas, "an int >= 0")
        try:  # a float times an int too large for a float raises OverflowError
            rs = replica_seconds * replicas
            out = {
                "cpu_seconds": rs * (self.cpu or 0.0),
                "gib_seconds": rs * (self.memory or 0) / 2**30,
                "gpu_seconds": rs * (self.gpu or 0),
            }
        except OverflowError:
            out = {"": math.inf}
        if not all(map(math.isfinite, out.values())):
            raise bad("replicas", replicas, f"an int >= 0 small enough that the footprint of {replica_seconds!r} "
                      f"replica-seconds x replicas of {self!r} is a finite number")
        return out

    def __repr__(self) -> str:
        parts = []
        if self.cpu is not None:
            parts.append(f"cpu={self.cpu:g}")
        if self.memory is not None:
            parts.append(f"memory={_human_bytes(self.memory)!r}")
        if self.gpu is not None:
            parts.append(f"gpu={(self.gpu_type + ':' + str(self.gpu)) if self.gpu_type else self.gpu!r}")
        if self.disk is not None:
            parts.append(f"disk={_human_bytes(self.disk)!r}")
        return f"Resources({', '.join(parts)})"

    __str__ = __repr__


def _human_bytes(n: int) -> str:
    # the largest unit, binary or decimal, that divides n: 10**10 is "10G", not "9765625Ki"
    units = [(u, _BINARY[u]) for u in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki")]
    units += [(u, _DECIMAL[u]) for u in ("E", "P", "T", "G", "M", "k")]
    fits = [(factor, unit) for unit, factor in units if n and n % factor == 0]
    if fits:
        factor, unit = max(fits)
        return f"{n // factor}{unit}"
    return str(n)
