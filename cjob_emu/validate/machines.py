"""Machine types of Vertex AI custom training and the accelerators each takes.

Sources:
- Vertex AI reference kept with the project (vertex-customjob.md, section 4).
- https://cloud.google.com/vertex-ai/docs/training/configure-compute
- https://cloud.google.com/compute/docs/gpus (GPU machine types; the N1
  vCPU and memory limits per GPU count)
- https://cloud.google.com/vertex-ai/docs/training/training-with-tpu-vm

Accelerator names are members of ``aiplatform_v1.AcceleratorType``, never
strings: a table entry naming an accelerator the installed types lack fails
at import instead of silently never matching.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from google.cloud.aiplatform_v1.types.accelerator_type import AcceleratorType

# The members are AcceleratorType values at run time; the generated class's
# static types only know them as ints.
A: Any = AcceleratorType

#: Lower-case words joined by dashes: "n1-standard-4", "a2-highgpu-1g", "cloud-tpu".
MACHINE_TYPE_SYNTAX = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)+")

#: Accelerator-optimized machine types come with a fixed GPU model and count
#: (reference section 4; Compute Engine GPU machine types page).
FIXED_GPUS: dict[str, tuple[AcceleratorType, int]] = {
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
N1_GPUS: dict[AcceleratorType, dict[int, GpuLimit]] = {
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
    {"e2", "n2", "n2d", "n4", "c2", "c2d", "c3", "c3d", "c4", "c4d", "m1", "m2", "m3", "t2d"}
)

#: TPU machine types and the accelerator enum values each takes. The v2/v3/v4
#: generations run on "cloud-tpu"; later ones have their own machine types
#: (ct5lp-hightpu-4t ...) and need no accelerator_type at all.
TPU_FAMILIES: dict[str, frozenset[AcceleratorType]] = {
    "cloud-tpu": frozenset({A.TPU_V2, A.TPU_V3, A.TPU_V4_POD}),
    "ct4p": frozenset({A.TPU_V4_POD}),
    "ct5lp": frozenset({A.TPU_V5_LITEPOD}),
    "ct5p": frozenset(),
    "ct6e": frozenset(),
}
#: cloud-tpu hosts with TPU v2 or v3 come as 8 cores (training-with-tpu-vm).
CLOUD_TPU_CORES = 8

#: Accelerator kinds, read from the live enum names.
GPUS: frozenset[AcceleratorType] = frozenset(a for a in A if a.name.startswith("NVIDIA_"))
TPUS: frozenset[AcceleratorType] = frozenset(a for a in A if a.name.startswith("TPU_"))

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


def is_known(machine_type: str) -> bool:
    """Whether the machine type is one this table knows (not merely its family)."""
    fam = family(machine_type)
    if fam in FIXED_GPU_FAMILIES:
        return machine_type in FIXED_GPUS
    if fam == "n1":
        return n1_shape(machine_type) is not None
    return fam in KNOWN_FAMILIES
