"""CPU and memory limits for replica containers, from their Vertex machine types.

A machine type names its vCPUs and, by family, its memory (``n1-standard-8``: 8 vCPUs
at 3.75 GB each). A job rarely fits on the machine running it, so the limits of all
replicas together are scaled down to what the engine's host has, keeping their ratios.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

GB = 2**30
"""Compute Engine's "GB" of machine memory is 2**30 bytes."""

MIN_MEMORY_BYTES = 128 * 2**20
"""No replica gets less memory than this, however small the host: an interpreter needs it."""

MIN_CPUS = 0.05
"""No replica gets a smaller CPU share than this."""

# Memory per vCPU (GB) of the general-purpose families Vertex training offers.
_GB_PER_VCPU: Mapping[tuple[str, str], float] = {
    ("n1", "standard"): 3.75,
    ("n1", "highmem"): 6.5,
    ("n1", "highcpu"): 0.9,
    ("n2", "standard"): 4,
    ("n2", "highmem"): 8,
    ("n2", "highcpu"): 1,
    ("n2d", "standard"): 4,
    ("n2d", "highmem"): 8,
    ("n2d", "highcpu"): 1,
    ("e2", "standard"): 4,
    ("e2", "highmem"): 8,
    ("e2", "highcpu"): 1,
    ("c2", "standard"): 4,
    ("c2d", "standard"): 4,
    ("c2d", "highmem"): 8,
    ("c2d", "highcpu"): 2,
    ("g2", "standard"): 4,
}

# GPU machines: vCPUs and GB of memory per GPU, by family-type (``a2-highgpu-4g``: 4 GPUs).
_PER_GPU: Mapping[str, tuple[float, float]] = {
    "a2-highgpu": (12, 85),
    "a2-megagpu": (6, 85),
    "a2-ultragpu": (12, 170),
    "a3-highgpu": (26, 234),
    "a3-megagpu": (26, 234),
    "a3-ultragpu": (28, 369),
    "a4-highgpu": (28, 496),
}

# Machines whose memory does not follow a per-vCPU rule.
_FIXED: Mapping[str, tuple[float, float]] = {
    "m1-ultramem-40": (40, 961),
    "m1-ultramem-80": (80, 1922),
    "m1-ultramem-160": (160, 3844),
    "m1-megamem-96": (96, 1433.6),
}

_STANDARD_FORM = re.compile(r"(?P<family>[a-z][a-z0-9]*)-(?P<kind>[a-z]+)-(?P<cpus>[1-9][0-9]*)")
_GPU_FORM = re.compile(r"(?P<prefix>[a-z][a-z0-9]*-[a-z]+)-(?P<gpus>[1-9][0-9]*)g")


@dataclass(frozen=True)
class Resources:
    """CPUs (may be fractional) and memory in bytes."""

    cpus: float
    memory_bytes: int


def machine_resources(machine_type: str) -> Resources | None:
    """The vCPUs and memory of a Vertex machine type, or None when it is not in the tables."""
    if machine_type in _FIXED:
        cpus, gb = _FIXED[machine_type]
        return Resources(cpus, int(gb * GB))
    gpu = _GPU_FORM.fullmatch(machine_type)
    if gpu and gpu["prefix"] in _PER_GPU:
        cpus_per_gpu, gb_per_gpu = _PER_GPU[gpu["prefix"]]
        count = int(gpu["gpus"])
        return Resources(cpus_per_gpu * count, int(gb_per_gpu * count * GB))
    standard = _STANDARD_FORM.fullmatch(machine_type)
    if standard:
        per_cpu = _GB_PER_VCPU.get((standard["family"], standard["kind"]))
        if per_cpu is not None:
            cpus = int(standard["cpus"])
            return Resources(cpus, int(per_cpu * cpus * GB))
    return None


def scaled_limits(wanted: Sequence[Resources | None], host: Resources) -> list[Resources | None]:
    """``wanted`` scaled by one factor per dimension so that their sum fits ``host``.

    Entries that fit already keep their size (the factor is at most 1); None stays None
    (no limit). Each limit is also capped at the host's size and floored at
    :data:`MIN_CPUS` / :data:`MIN_MEMORY_BYTES`.
    """
    known = [w for w in wanted if w is not None]
    total_cpus = sum(w.cpus for w in known)
    total_memory = sum(w.memory_bytes for w in known)
    cpu_factor = min(1.0, host.cpus / total_cpus) if total_cpus else 1.0
    memory_factor = min(1.0, host.memory_bytes / total_memory) if total_memory else 1.0
    return [
        None
        if w is None
        else Resources(
            cpus=round(max(MIN_CPUS, min(host.cpus, w.cpus * cpu_factor)), 3),
            memory_bytes=max(
                MIN_MEMORY_BYTES, min(host.memory_bytes, int(w.memory_bytes * memory_factor))
            ),
        )
        for w in wanted
    ]
