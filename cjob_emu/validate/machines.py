"""Machine types of Vertex AI custom training and the accelerators each takes.

Sources:
- Vertex AI reference kept with the project (vertex-customjob.md, section 4).
- https://cloud.google.com/vertex-ai/docs/training/configure-compute
- https://cloud.google.com/compute/docs/gpus (GPU machine types; the N1
  vCPU and memory limits per GPU count)
- https://cloud.google.com/vertex-ai/docs/training/training-with-tpu-vm
- https://cloud.google.com/compute/docs/general-purpose-machines (the size tables
  of C4D, C4A, C4, N4D, N4A, N4, C3D, C3, N2D, N2, E2, N1, Tau T2A and T2D)
- https://cloud.google.com/compute/docs/compute-optimized-machines and the Vertex
  inference compute page (C2, C2D); compute/docs/memory-optimized-machines (M1-M3)

Accelerator names are members of the installed ``AcceleratorType`` enum (as
the schema catalog holds it), never strings: a table entry naming an
accelerator the installed types lack fails at import instead of silently never
matching.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from cjob_emu.validate.cache import catalog

#: An ``AcceleratorType`` member: its int is the enum number, its name the value's name.
Accelerator = IntEnum
# The enum is built at run time, so static types know its members only as Any.
A: Any = catalog().enum("AcceleratorType")

#: Lower-case words joined by dashes: "n1-standard-4", "a2-highgpu-1g", "cloud-tpu".
MACHINE_TYPE_SYNTAX = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)+")

#: Accelerator-optimized machine types come with a fixed GPU model and count
#: (reference section 4; Compute Engine GPU machine types page).
FIXED_GPUS: dict[str, tuple[Accelerator, int]] = {
    **{f"a2-highgpu-{n}g": (A.NVIDIA_TESLA_A100, n) for n in (1, 2, 4, 8)},
    "a2-megagpu-16g": (A.NVIDIA_TESLA_A100, 16),
    **{f"a2-ultragpu-{n}g": (A.NVIDIA_A100_80GB, n) for n in (1, 2, 4, 8)},
    **{f"a3-highgpu-{n}g": (A.NVIDIA_H100_80GB, n) for n in (1, 2, 4, 8)},
    "a3-megagpu-8g": (A.NVIDIA_H100_MEGA_80GB, 8),
    "a3-ultragpu-8g": (A.NVIDIA_H200_141GB, 8),
    "a4-highgpu-8g": (A.NVIDIA_B200, 8),
    "a4x-highgpu-4g": (A.NVIDIA_GB200, 4),
    **{f"g2-standard-{n}": (A.NVIDIA_L4, 1) for n in (4, 8, 12, 16, 32)},
    "g2-standard-24": (A.NVIDIA_L4, 2),
    "g2-standard-48": (A.NVIDIA_L4, 4),
    "g2-standard-96": (A.NVIDIA_L4, 8),
}
#: Families whose every machine type is listed in FIXED_GPUS.
FIXED_GPU_FAMILIES = frozenset(name.split("-")[0] for name in FIXED_GPUS)


@dataclass(frozen=True)
class GpuLimit:
    """The most vCPUs and memory an N1 machine may have with this many GPUs attached."""

    vcpus: int
    memory_gb: float


#: GPUs that attach to N1 machines, with the counts Compute Engine allows and
#: the largest machine each count supports (compute/docs/gpus; the K80 has
#: reached end of support and is not listed: Vertex refuses it).
N1_GPUS: dict[Accelerator, dict[int, GpuLimit]] = {
    A.NVIDIA_TESLA_T4: {1: GpuLimit(48, 312), 2: GpuLimit(48, 312), 4: GpuLimit(96, 624)},
    A.NVIDIA_TESLA_P4: {1: GpuLimit(24, 156), 2: GpuLimit(48, 312), 4: GpuLimit(96, 624)},
    A.NVIDIA_TESLA_P100: {1: GpuLimit(16, 104), 2: GpuLimit(32, 208), 4: GpuLimit(64, 208)},
    A.NVIDIA_TESLA_V100: {
        1: GpuLimit(12, 78),
        2: GpuLimit(24, 156),
        4: GpuLimit(48, 312),
        8: GpuLimit(96, 624),
    },
}

#: N1 machine shapes: vCPU counts and memory per vCPU (GB) of each kind.
N1_SHAPES: dict[str, tuple[frozenset[int], float]] = {
    "standard": (frozenset({1, 2, 4, 8, 16, 32, 64, 96}), 3.75),
    "highmem": (frozenset({2, 4, 8, 16, 32, 64, 96}), 6.5),
    "highcpu": (frozenset({2, 4, 8, 16, 32, 64, 96}), 0.9),
}

#: Families that take no accelerator at all (Compute Engine attaches GPUs only
#: to N1 and the accelerator-optimized A and G series).
CPU_FAMILIES = frozenset(
    {"e2", "n2", "n2d", "n4", "n4a", "n4d", "c2", "c2d", "c3", "c3d", "c4", "c4a", "c4d"}
    | {"m1", "m2", "m3", "t2a", "t2d"}
)


def _sizes(family: str, kinds: Iterable[str], vcpus: Iterable[int], suffix: str = "") -> set[str]:
    return {f"{family}-{kind}-{n}{suffix}" for kind in kinds for n in vcpus}


_SHS = ("standard", "highcpu", "highmem")
_SH = ("standard", "highmem")
_N2 = (2, 4, 8, 16, 32, 48, 64, 80, 96)

#: Every predefined machine type of the families whose tables list them all, from the
#: Compute Engine machine-family pages. Custom machine types (``n2-custom-8-32768``)
#: are not listed: they are judged by family only.
MACHINE_TYPES: dict[str, frozenset[str]] = {
    family: frozenset(names)
    for family, names in {
        "c4d": _sizes("c4d", _SHS, (2, 4, 8, 16, 32, 48, 64, 96, 192, 384))
        | _sizes("c4d", _SH, (8, 16, 32, 48, 64, 96, 192, 384), "-lssd")
        | _sizes("c4d", _SHS, (384,), "-metal"),
        "c4a": _sizes("c4a", _SHS, (1, 2, 4, 8, 16, 32, 48, 64, 72))
        | _sizes("c4a", _SH, (4, 8, 16, 32, 48, 64, 72), "-lssd")
        | {"c4a-highmem-96-metal"},
        "c4": _sizes("c4", _SHS, (2, 4, 8, 16, 24, 32, 48, 96, 144, 192, 288))
        | _sizes("c4", _SH, (4, 8, 16, 24, 32, 48, 96, 144, 192, 288), "-lssd")
        | _sizes("c4", _SH, (288,), "-metal")
        | _sizes("c4", _SH, (288,), "-lssd-metal"),
        "n4d": _sizes("n4d", _SHS, (2, 4, 8, 16, 32, 48, 64, 80, 96)),
        "n4a": _sizes("n4a", _SHS, (1, 2, 4, 8, 16, 32, 48, 64)),
        "n4": _sizes("n4", _SHS, (2, 4, 8, 16, 32, 48, 64, 80)),
        "c3d": _sizes("c3d", _SHS, (4, 8, 16, 30, 60, 90, 180, 360))
        | _sizes("c3d", _SH, (8, 16, 30, 60, 90, 180, 360), "-lssd"),
        "c3": _sizes("c3", _SHS, (4, 8, 22, 44, 88, 176))
        | _sizes("c3", _SHS, (192,), "-metal")
        | _sizes("c3", ("standard",), (4, 8, 22, 44, 88, 176), "-lssd"),
        "n2d": _sizes("n2d", ("standard", "highcpu"), (*_N2, 128, 224))
        | _sizes("n2d", ("highmem",), _N2),
        "n2": _sizes("n2", _SH, (*_N2, 128)) | _sizes("n2", ("highcpu",), _N2),
        "e2": _sizes("e2", ("standard", "highcpu"), (2, 4, 8, 16, 32))
        | _sizes("e2", ("highmem",), (2, 4, 8, 16))
        | {"e2-micro", "e2-small", "e2-medium"},
        "t2a": _sizes("t2a", ("standard",), (1, 2, 4, 8, 16, 32, 48)),
        "t2d": _sizes("t2d", ("standard",), (1, 2, 4, 8, 16, 32, 48, 60)),
        "c2": _sizes("c2", ("standard",), (4, 8, 16, 30, 60)),
        "c2d": _sizes("c2d", _SHS, (2, 4, 8, 16, 32, 56, 112)),
        "m1": {"m1-megamem-96", "m1-ultramem-40", "m1-ultramem-80", "m1-ultramem-160"},
        "m2": {"m2-megamem-416", "m2-hypermem-416", "m2-ultramem-208", "m2-ultramem-416"},
        "m3": _sizes("m3", ("megamem",), (64, 128)) | _sizes("m3", ("ultramem",), (32, 64, 128)),
        "n1": {f"n1-{kind}-{n}" for kind, (sizes, _) in N1_SHAPES.items() for n in sizes},
        # The accelerator-optimized families whose every machine type FIXED_GPUS holds
        # (a3 also has a3-edgegpu-8g, a4 and a4x may grow: judged by family only).
        "a2": {name for name in FIXED_GPUS if name.startswith("a2-")},
        "g2": {name for name in FIXED_GPUS if name.startswith("g2-")},
    }.items()
}

#: TPU machine types and the accelerator enum values each takes. The v2/v3/v4
#: generations run on "cloud-tpu"; later ones have their own machine types
#: (ct5lp-hightpu-4t ...) and need no accelerator_type at all.
TPU_FAMILIES: dict[str, frozenset[Accelerator]] = {
    "cloud-tpu": frozenset({A.TPU_V2, A.TPU_V3, A.TPU_V4_POD}),
    "ct4p": frozenset({A.TPU_V4_POD}),
    "ct5lp": frozenset({A.TPU_V5_LITEPOD}),
    "ct5p": frozenset(),
    "ct6e": frozenset(),
}
#: cloud-tpu hosts with TPU v2 or v3 come as 8 cores (training-with-tpu-vm).
CLOUD_TPU_CORES = 8

#: Accelerator kinds, read from the live enum names.
GPUS: frozenset[Accelerator] = frozenset(a for a in A if a.name.startswith("NVIDIA_"))
TPUS: frozenset[Accelerator] = frozenset(a for a in A if a.name.startswith("TPU_"))

KNOWN_FAMILIES = FIXED_GPU_FAMILIES | CPU_FAMILIES | frozenset(TPU_FAMILIES) | frozenset({"n1"})


def family(machine_type: str) -> str:
    """The family of a well-formed machine type: "n1", "a2", "cloud-tpu"."""
    return "cloud-tpu" if machine_type == "cloud-tpu" else machine_type.split("-", 1)[0]


def n1_shape(machine_type: str) -> tuple[int, float] | None:
    """``(vCPUs, memory GB)`` of an N1 machine type, None when it is not a known one."""
    parts = machine_type.split("-")
    if len(parts) != 3 or parts[0] != "n1" or parts[1] not in N1_SHAPES or not parts[2].isdigit():
        return None
    sizes, per_vcpu = N1_SHAPES[parts[1]]
    vcpus = int(parts[2])
    return (vcpus, vcpus * per_vcpu) if vcpus in sizes else None


def is_custom(machine_type: str) -> bool:
    """A custom machine type: ``custom-4-16384`` (N1) or ``<family>-custom-...``."""
    return machine_type.startswith("custom-") or machine_type.split("-")[1:2] == ["custom"]


def is_unlisted(machine_type: str) -> bool:
    """Whether the machine type is missing from its family's complete list in
    :data:`MACHINE_TYPES` (custom machine types never are)."""
    listed = MACHINE_TYPES.get(family(machine_type))
    return listed is not None and machine_type not in listed and not is_custom(machine_type)


def is_known(machine_type: str) -> bool:
    """Whether the machine type is one this table knows (not merely its family)."""
    fam = family(machine_type)
    if fam in FIXED_GPU_FAMILIES:
        return machine_type in FIXED_GPUS
    listed = MACHINE_TYPES.get(fam)
    if listed is not None and not is_custom(machine_type):
        return machine_type in listed
    return fam in KNOWN_FAMILIES
