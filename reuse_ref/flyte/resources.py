"""``flyte.Resources`` and the accelerators (``GPU``, ``TPU``, ``Device``...), as the SDK takes and keeps them.

The SDK's ``Resources`` is a dataclass that checks types and keeps strings as given:
``memory`` is a Kubernetes quantity string (``1024`` is refused: it would mean 1024
bytes), ``gpu`` a count, an accelerator from the SDK's list (``"A100:8"``), or a
:class:`Device`. This one does the same, with the same tables, and adds the reference's
parsed quantities (:attr:`cpu_cores`, :attr:`memory_bytes`, :attr:`gpu_count`...), which
the runtime reads to place a replica and to kill one that goes over its memory. A
quantity string the reference cannot parse (``"1Gb"``) is refused when it is written:
Kubernetes refuses it too, but only when the task is deployed.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, Literal, Optional, Tuple, Union

from ..config import resources as _ref

__all__ = ["Resources", "Device", "DeviceClass", "GPU", "TPU", "Neuron", "AMD_GPU", "HABANA_GAUDI", "APPLE_SILICON",
           "ACCELERATORS"]

DeviceClass = Literal["GPU", "TPU", "NEURON", "AMD_GPU", "HABANA_GAUDI", "APPLE_SILICON"]
_EIGHT = tuple(range(1, 9))
SHARED_GPUS = ("T4 shared", "L4 shared", "A10G shared", "A10 shared", "L40S shared")
"""Time-sliced shares of one GPU: a count of 1, no partition."""
GPUS: Dict[str, Tuple[int, ...]] = {
    "A2": (1,), "A10": _EIGHT, "A10G": _EIGHT, "A100": _EIGHT, "A100_80G": _EIGHT, "B200": _EIGHT, "H100": _EIGHT,
    "H200": _EIGHT, "L4": _EIGHT, "L40s": _EIGHT, "T4": _EIGHT, "V100": _EIGHT, "RTX_PRO_4500": (1,),
    "RTX_PRO_6000": (1, 2), "GB10": (1,), **{s: (1,) for s in SHARED_GPUS}}
"""Each GPU type, with the counts its accelerator string takes (``"A100:8"``)."""
PARTITIONS = {
    "A100": ("1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"),
    "A100_80G": ("1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
    "H100": ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
    "H200": ("1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"),
    "RTX_PRO_6000": ("1g.24gb", "2g.48gb", "4g.96gb")}
"""The MIG partitions of the GPUs that have them."""
TPU_SLICES = {
    "V5E": ("1x1", "2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16"),
    "V5P": ("2x2x1", "2x2x2", "2x4x4", "4x4x4", "4x4x8", "4x8x8", "8x8x8", "8x8x16", "8x16x16", "16x16x16", "16x16x24"),
    "V6E": ("1x1", "2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16")}
NEURONS: Dict[str, Tuple[int, ...]] = {**{t: (1, 4, 8, 16) for t in ("Trn1", "Trn1n", "Trn2", "Trn2u")},
                                       "Inf1": tuple(range(1, 17)), "Inf2": tuple(range(1, 13))}
AMD_GPUS = ("MI100", "MI210", "MI250", "MI250X", "MI300A", "MI300X", "MI325X", "MI350X", "MI355X")
HABANA = ("Gaudi1",)
APPLE = "AppleSilicon"
_OLD_GPU_NAMES = {"A100 80G": "A100_80G", "RTX PRO 6000": "RTX_PRO_6000"}
"""Names written with spaces before the SDK's underscore spellings: accepted, renamed, with a warning."""

ACCELERATORS = frozenset(
    [f"{t}:{n}" for t, counts in GPUS.items() for n in counts]
    + [f"{t}:{n}" for t, counts in NEURONS.items() for n in counts]
    + [f"{t}:1" for t in AMD_GPUS + HABANA] + [APPLE, f"{APPLE}:1"])
"""Every accelerator string ``gpu=`` takes, as the SDK lists them."""
_CLASS_OF = {**{t: "GPU" for t in GPUS}, **{t: "TPU" for t in TPU_SLICES}, **{t: "NEURON" for t in NEURONS},
             **{t: "AMD_GPU" for t in AMD_GPUS}, **{t: "HABANA_GAUDI" for t in HABANA}, APPLE: "APPLE_SILICON"}
_log = logging.getLogger("flyte")


def _renamed(device: str) -> str:
    new = _OLD_GPU_NAMES.get(device)
    if new is None:
        return device
    _log.warning("GPU type %r is deprecated, use %r instead.", device, new)
    return new


@dataclass(frozen=True)
class Device:
    """An accelerator: how many, of which class, which model, which partition or slice."""

    quantity: int
    device_class: DeviceClass
    device: Optional[str] = None
    partition: Optional[str] = None

    def __post_init__(self) -> None:
        if self.quantity < 1:
            raise ValueError(f"quantity={self.quantity!r} is not valid: GPU quantity must be at least 1")
        if (self.device == APPLE) != (self.device_class == "APPLE_SILICON"):
            raise ValueError(f"device={self.device!r} is not valid with device_class={self.device_class!r}: the Apple "
                             f'Silicon device is device="AppleSilicon" with device_class="APPLE_SILICON"')
        if self.device_class == "APPLE_SILICON" and self.quantity != 1:
            raise ValueError(f"quantity={self.quantity!r} is not valid: an Apple Silicon Mac has one GPU")


def _one_of(param: str, value: Any, allowed: Any, what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{param}={value!r} is not valid: {what}, one of {tuple(allowed)}")


def GPU(device: str, quantity: int, partition: Optional[str] = None) -> Device:
    """A GPU of a model the SDK knows, with a MIG partition where the model has them."""
    if quantity < 1:
        raise ValueError(f"quantity={quantity!r} is not valid: GPU quantity must be at least 1")
    device = _renamed(device)
    _one_of("device", device, GPUS, "a GPU type")
    if partition is not None:
        if device in SHARED_GPUS:
            raise ValueError(f"partition={partition!r} is not valid for {device}: a shared GPU takes no partition")
        if device in PARTITIONS:
            _one_of("partition", partition, PARTITIONS[device], f"a partition of {device}")
    return Device(quantity=quantity, device_class="GPU", device=device, partition=partition)


def TPU(device: str, partition: Optional[str] = None) -> Device:
    """A Google Cloud TPU, with its slice."""
    _one_of("device", device, TPU_SLICES, "a TPU type")
    if partition is not None:
        _one_of("partition", partition, TPU_SLICES[device], f"a slice of {device}")
    return Device(1, "TPU", device, partition)


def _single(kind: DeviceClass, names: Any, what: str):
    def make(device: str) -> Device:
        _one_of("device", device, names, what)
        return Device(quantity=1, device_class=kind, device=device)
    make.__name__ = make.__qualname__ = kind if kind != "NEURON" else "Neuron"
    make.__doc__ = f"One {what} device."
    return make


Neuron = _single("NEURON", NEURONS, "an AWS Neuron type")
AMD_GPU = _single("AMD_GPU", AMD_GPUS, "an AMD GPU type")
HABANA_GAUDI = _single("HABANA_GAUDI", HABANA, "a Habana Gaudi type")


def APPLE_SILICON() -> Device:
    """The Metal GPU of the Mac a devbox runs on (recorded: replicas here run where the program runs)."""
    return Device(quantity=1, device_class="APPLE_SILICON", device=APPLE)


def _cpu(value: Any, pair: bool = True) -> None:
    if isinstance(value, tuple) and pair:
        for item in value:
            if item is None:
                raise ValueError(f"cpu={value!r} is not valid: both halves of a (request, limit) pair must be set")
            _cpu(item, pair=False)
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"cpu={value!r} is not valid: a core count or a Kubernetes quantity string such as 1, 0.5 "
                         f"or '100m', or a (request, limit) pair of them")
    if not isinstance(value, str) and value < 0:
        raise ValueError(f"cpu={value!r} is not valid: cpu must be greater than or equal to 0")


def _quantity(param: str, value: Any, pair: bool = False) -> None:
    if isinstance(value, tuple) and pair:
        for item in value:
            if item is None:
                raise ValueError(f"{param}={value!r} is not valid: both halves of a (request, limit) pair must be set")
            _quantity(param, item)
        return
    if not isinstance(value, str):
        raise ValueError(f"{param}={value!r} is not valid: {param} must be a Kubernetes quantity string such as "
                         f"'1Gi', '512Mi' or '2G' (an int would mean bytes)")


@dataclass
class Resources:
    """What one replica holds: ``cpu``, ``memory``, ``gpu``, ``disk``, ``shm``, kept as given (see the module)."""

    cpu: Union[int, float, str, Tuple[Any, Any], None] = None
    memory: Union[str, Tuple[str, str], None] = None
    gpu: Union[str, int, Device, None] = None
    disk: Optional[str] = None
    shm: Optional[str] = None

    def __post_init__(self) -> None:
        for param in ("cpu", "memory"):
            value = getattr(self, param)
            if isinstance(value, tuple) and len(value) != 2:
                raise ValueError(f"{param}={value!r} is not valid: a (request, limit) pair has exactly two items")
        if self.cpu is not None:
            _cpu(self.cpu)
        for param in ("memory", "disk", "shm"):
            if getattr(self, param) is not None:
                _quantity(param, getattr(self, param), pair=param == "memory")
        gpu = self.gpu
        if isinstance(gpu, bool):
            raise ValueError(f"gpu={gpu!r} is not valid: a count of GPUs is an int (True is one by accident)")
        if isinstance(gpu, int):
            if gpu < 0:
                raise ValueError(f"gpu={gpu!r} is not valid: gpu must be greater than or equal to 0")
        elif isinstance(gpu, str):
            device, sep, count = gpu.partition(":")
            if device in _OLD_GPU_NAMES:
                self.gpu = gpu = f"{_renamed(device)}{sep}{count}"
            if gpu not in ACCELERATORS:
                raise ValueError(f"gpu={gpu!r} is not valid: an accelerator such as 'A100:4', 'L4:1' or 'T4 shared:1' "
                                 f"(the SDK's list), a device count, or a GPU()/TPU()/Device()")
        elif gpu is not None and not isinstance(gpu, Device):
            raise ValueError(f"gpu={gpu!r} is not valid: an accelerator string such as 'A100:4', a device count, or "
                             f"a GPU()/TPU()/Device() instance")
        self.parsed()  # a quantity the reference cannot read is refused now, not when a replica starts

    def get_device(self) -> Optional[Device]:
        """The accelerator as a :class:`Device`; ``None`` without one (``gpu=0`` included)."""
        gpu = self.gpu
        if gpu is None or (isinstance(gpu, int) and gpu == 0):
            return None
        if isinstance(gpu, int):
            return Device(quantity=gpu, device_class="GPU")
        if isinstance(gpu, str):
            device, _, count = gpu.partition(":")
            return Device(quantity=int(count or 1), device_class=_CLASS_OF[device], device=device)  # type: ignore
        return gpu

    def get_shared_memory(self) -> Optional[str]:
        """``shm`` as the SDK hands it on: ``""`` for ``"auto"`` (the node's maximum)."""
        return None if self.shm is None else "" if self.shm == "auto" else self.shm

    # The reference's parsed quantities (what the runtime and the footprint read).
    def parsed(self) -> _ref.Resources:
        """These resources as the reference's model, which parses every quantity."""
        device = self.get_device()
        return _ref.Resources(cpu=self.cpu, memory=self.memory, disk=self.disk, shm=self.shm,
                              gpu=None if device is None else device.quantity,
                              gpu_type=None if device is None else device.device)

    @property
    def cpu_cores(self) -> Optional[float]:
        return self.parsed().cpu_cores

    @property
    def memory_bytes(self) -> Optional[int]:
        return self.parsed().memory_bytes

    @property
    def gpu_count(self) -> Optional[int]:
        return self.parsed().gpu_count

    @property
    def gpu_kind(self) -> Optional[str]:
        return self.parsed().gpu_kind

    @property
    def disk_bytes(self) -> Optional[int]:
        return self.parsed().disk_bytes

    @property
    def shm_bytes(self) -> Optional[int]:
        return self.parsed().shm_bytes

    def footprint(self, replica_seconds: float, replicas: int = 1) -> Dict[str, float]:
        """Resource-seconds held by ``replica_seconds`` of replicas of this size (see the reference's)."""
        return self.parsed().footprint(replica_seconds, replicas)
