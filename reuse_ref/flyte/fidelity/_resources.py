"""Probes of ``Resources`` and the accelerator constructors (``GPU``, ``TPU``, ``Device``...): each field
over a table of values, read back as given and through ``get_device()``."""
from __future__ import annotations

import dataclasses

from . import cases, probe

CPU = [("1", 1), ("0.5", 0.5), ("0", 0), ('"500m"', "500m"), ('"2"', "2"), ("(1, 2)", (1, 2)), ('("1", "2")', ("1", "2")),
       ("-1", -1), ("(-1, 2)", (-1, 2)), ("(1, 2, 3)", (1, 2, 3)), ("[1]", [1]), ("(None, 2)", (None, 2)),
       ('"abc"', "abc"), ('"-1"', "-1"), ("True", True)]
MEMORY = [('"1Gi"', "1Gi"), ('"500Mi"', "500Mi"), ('"2G"', "2G"), ('"1.5Gi"', "1.5Gi"), ('"1Gb"', "1Gb"),
          ('"1 Gi"', "1 Gi"), ('"abc"', "abc"), ("1024", 1024), ("1.5", 1.5), ('("1Gi", "2Gi")', ("1Gi", "2Gi")),
          ('("1Gi",)', ("1Gi",)), ('("1Gi", None)', ("1Gi", None)), ('["1Gi", "2Gi"]', ["1Gi", "2Gi"]),
          ('"-1Gi"', "-1Gi"), ('"0"', "0")]
GPU = [("1", 1), ("0", 0), ("8", 8), ("-1", -1), ('"L4:1"', "L4:1"), ('"A100:8"', "A100:8"), ('"H100:2"', "H100:2"),
       ('"A100"', "A100"), ('"L4"', "L4"), ('"L4:9"', "L4:9"), ('"A100 80G:1"', "A100 80G:1"),
       ('"A100_80G:1"', "A100_80G:1"), ('"T4 shared:1"', "T4 shared:1"), ('"V5E:1"', "V5E:1"), ('"Trn1:1"', "Trn1:1"),
       ('"MI300X:1"', "MI300X:1"), ('"AppleSilicon"', "AppleSilicon"), ('"1"', "1"), ("True", True),
       ("(\"A100\", 1)", ("A100", 1)), ("1.0", 1.0)]
DISK = [('"10Gi"', "10Gi"), ('"1Ti"', "1Ti"), ("10", 10), ('"ten"', "ten"), ('("1Gi", "2Gi")', ("1Gi", "2Gi"))]
SHM = [('"auto"', "auto"), ('"1Gi"', "1Gi"), ("1", 1), ('"big"', "big")]


def _device(d):
    return None if d is None else (d.quantity, d.device_class, d.device, d.partition)


cases("resources", "cpu={}", CPU, lambda f, v: f.Resources(cpu=v).cpu)
cases("resources", "memory={}", MEMORY, lambda f, v: f.Resources(memory=v).memory)
cases("resources", "gpu={}", GPU, lambda f, v: f.Resources(gpu=v).gpu)
cases("resources", "gpu={} get_device()", GPU, lambda f, v: _device(f.Resources(gpu=v).get_device()))
cases("resources", "disk={}", DISK, lambda f, v: f.Resources(disk=v).disk)
cases("resources", "shm={}", SHM, lambda f, v: (lambda r: (r.shm, r.get_shared_memory()))(f.Resources(shm=v)))

probe("resources", "Resources() is all None", lambda f: (lambda r: (r.cpu, r.memory, r.gpu, r.disk, r.shm))(f.Resources()))
probe("resources", 'Resources(1, "1Gi") (positional)', lambda f: (lambda r: (r.cpu, r.memory))(f.Resources(1, "1Gi")))
probe("resources", 'Resources(mem="1Gi") (flytekit spelling)', lambda f: f.Resources(mem="1Gi").memory)
probe("resources", 'Resources(ephemeral_storage="1Gi") (flytekit spelling)',
      lambda f: f.Resources(ephemeral_storage="1Gi").disk)
probe("resources", "Resources(gpu_type=...) (not an argument)", lambda f: f.Resources(gpu_type="L4").gpu)
probe("resources", "Resources(unknown=1)", lambda f: f.Resources(unknown=1))
probe("resources", "equal resources compare equal",
      lambda f: f.Resources(cpu=1, memory="1Gi") == f.Resources(cpu=1, memory="1Gi"))
probe("resources", '"1Gi" and "1024Mi" compare unequal (kept as given)',
      lambda f: f.Resources(memory="1Gi") == f.Resources(memory="1024Mi"))
probe("resources", "Resources is a dataclass", lambda f: dataclasses.is_dataclass(f.Resources))
probe("resources", "dataclasses.replace(resources, cpu=2)",
      lambda f: (lambda r: (r.cpu, r.memory))(dataclasses.replace(f.Resources(cpu=1, memory="1Gi"), cpu=2)))
probe("resources", "get_device() without a gpu", lambda f: f.Resources(cpu=1).get_device())
probe("resources", "get_shared_memory() without shm", lambda f: f.Resources(cpu=1).get_shared_memory())

GPU_CALLS = [('"A100", 1', ("A100", 1, None)), ('"A100", 2, "1g.5gb"', ("A100", 2, "1g.5gb")),
             ('"A100", 1, "9g.99gb"', ("A100", 1, "9g.99gb")), ('"H100", 1, "1g.10gb"', ("H100", 1, "1g.10gb")),
             ('"L4", 8', ("L4", 8, None)), ('"L4", 0', ("L4", 0, None)), ('"X1", 1', ("X1", 1, None)),
             ('"A100 80G", 1', ("A100 80G", 1, None)), ('"T4 shared", 1', ("T4 shared", 1, None)),
             ('"T4 shared", 1, "1g.5gb"', ("T4 shared", 1, "1g.5gb"))]
cases("resources", "GPU({})", GPU_CALLS, lambda f, v: _device(f.GPU(*v)))
cases("resources", "Resources(gpu=GPU({})).get_device()", GPU_CALLS[:5],
      lambda f, v: _device(f.Resources(gpu=f.GPU(*v)).get_device()))
TPU_CALLS = [('"V5P"', ("V5P",)), ('"V5P", "2x2x1"', ("V5P", "2x2x1")), ('"V5E", "2x2"', ("V5E", "2x2")),
             ('"V6E", "9x9"', ("V6E", "9x9")), ('"V9"', ("V9",))]
cases("resources", "TPU({})", TPU_CALLS, lambda f, v: _device(f.TPU(*v)))
DEVICES = [("Neuron", "Inf2"), ("Neuron", "Inf9"), ("AMD_GPU", "MI300X"), ("AMD_GPU", "MI9"),
           ("HABANA_GAUDI", "Gaudi1"), ("HABANA_GAUDI", "Gaudi9")]
cases("resources", "{}", [(f"{c}({d!r})", (c, d)) for c, d in DEVICES], lambda f, v: _device(getattr(f, v[0])(v[1])))
probe("resources", "APPLE_SILICON()", lambda f: _device(f.APPLE_SILICON()))
DEVICE_CALLS = [('1, "GPU"', (1, "GPU")), ('2, "GPU", "A100"', (2, "GPU", "A100")), ('0, "GPU"', (0, "GPU")),
                ('1, "TPU", "V5P", "2x2x1"', (1, "TPU", "V5P", "2x2x1"))]
cases("resources", "Device({})", DEVICE_CALLS, lambda f, v: _device(f.Device(*v)))
