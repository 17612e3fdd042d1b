"""Rules on each pool's machine: machine type, accelerators, TPUs, reservations."""

from __future__ import annotations

from cjob_emu.validate import machines
from cjob_emu.validate.findings import Findings
from cjob_emu.validate.hints import closest, with_hint
from cjob_emu.validate.machines import Accelerator
from cjob_emu.validate.rules.context import CATALOG, POOLS, Context, Pool
from cjob_emu.validate.rules.documented import REQUIRED
from cjob_emu.validate.rules.names import RESERVATION

_DEPRECATED = CATALOG.deprecated_values("AcceleratorType")
_SPECIFIC = int(CATALOG.enum("ReservationAffinity.Type").SPECIFIC_RESERVATION)
_RESERVATION_NAME_KEY = "compute.googleapis.com/reservation-name"
# Without ACCELERATOR_TYPE_UNSPECIFIED: a lookup miss means "none or not a known number".
_ACCELERATORS: dict[int, Accelerator] = {int(a): a for a in machines.A if int(a) != 0}


def _accelerator(pool: Pool) -> Accelerator | None:
    """The pool's accelerator, None when unset or a number the enum lacks."""
    return _ACCELERATORS.get(pool.machine.accelerator_type)


def _well_formed(machine_type: str) -> bool:
    return machines.MACHINE_TYPE_SYNTAX.fullmatch(machine_type) is not None


def not_supported(accelerator: Accelerator, machine_type: str) -> str:
    """Vertex's text for an accelerator a machine type does not take."""
    return f'Accelerator "{accelerator.name}" is not supported for machine type "{machine_type}"'


def machine_type(ctx: Context, out: Findings) -> None:
    """Every non-empty pool names a machine type Vertex knows.

    Source: MachineSpec.machine_type docstring ("as part of WorkerPoolSpec this
    field is required"); reference section 4. A name that is not lower-case
    words joined by dashes can be no machine type: an error. Inside a family whose
    every machine type the Compute Engine tables list (machines.MACHINE_TYPES),
    another name is no machine type either: an error, with the closest listed name
    when one is near. A well-formed name of a family the tables do not list is a
    warning: the list of machine types grows (g4-standard-48 came after them).
    https://cloud.google.com/vertex-ai/docs/training/configure-compute#machine-types
    """
    for pool in ctx.active:
        name = pool.machine.machine_type
        path = f"{pool.machine_path}.machine_type"
        if not name:
            out.error(path, REQUIRED)
        elif not _well_formed(name):
            out.error(path, f'Machine type "{name[:100]}" is not supported.')
        elif machines.is_unlisted(name):
            listed = machines.MACHINE_TYPES[machines.family(name)]
            out.error(
                path,
                with_hint(f'Machine type "{name[:100]}" is not supported.', closest(name, listed)),
            )
        elif not machines.is_known(name):
            out.warning(
                path, f'Machine type "{name}" is not a known Vertex AI training machine type.'
            )


def accelerator_pair(ctx: Context, out: Findings) -> None:
    """``accelerator_type`` and ``accelerator_count`` come together, the count positive.

    Source: Vertex's 400 answer quoted in the reference (section 1, Errors, and
    section 4).
    """
    for pool in ctx.active:
        spec = pool.machine
        kind, count = spec.accelerator_type, spec.accelerator_count
        if (kind != 0) != (count != 0):
            out.error(
                f"{pool.machine_path}.accelerator_type",
                "Both `accelerator_type` and `accelerator_count` should be specified or none.",
            )
        elif count < 0:
            out.error(
                f"{pool.machine_path}.accelerator_count", "`accelerator_count` must be positive."
            )


def _supports(machine_type: str, accelerator: Accelerator) -> bool | None:
    """Whether the machine type takes the accelerator; None when the table cannot tell."""
    fam = machines.family(machine_type)
    if accelerator in _DEPRECATED or fam in machines.CPU_FAMILIES:
        return False
    if fam in machines.FIXED_GPU_FAMILIES:
        fixed = machines.FIXED_GPUS.get(machine_type)
        return None if fixed is None else fixed[0] == accelerator
    if fam == "n1":
        return accelerator in machines.N1_GPUS
    if fam in machines.TPU_FAMILIES:
        return accelerator in machines.TPUS
    return None


def accelerator_support(ctx: Context, out: Findings) -> None:
    """The accelerator is one the machine type takes.

    Source: Vertex's text ``Accelerator "NVIDIA_TESLA_K80" is not supported for
    machine type "n1-standard-4"`` (reference section 1); the family tables of
    reference section 4 and machines.py: GPUs attach only to N1 and the A/G
    series, each A/G machine type has its own GPU model, TPUs only run on TPU
    machine types; deprecated accelerators (AcceleratorType docstring: the K80
    "has reached end of support") are refused everywhere. A TPU of another
    generation than the TPU machine type's is a warning (weaker evidence,
    https://cloud.google.com/vertex-ai/docs/training/training-with-tpu-vm).
    """
    for pool in ctx.active:
        accelerator = _accelerator(pool)
        name = pool.machine.machine_type
        if accelerator is None or not name or not _well_formed(name):
            continue
        path = f"{pool.machine_path}.accelerator_type"
        supported = _supports(name, accelerator)
        if supported is False:
            out.error(path, not_supported(accelerator, name))
        elif supported is True:
            generations = machines.TPU_FAMILIES.get(machines.family(name))
            if generations is not None and accelerator not in generations:
                out.warning(path, not_supported(accelerator, name))


def accelerator_count(ctx: Context, out: Findings) -> None:
    """The accelerator count is one the machine type takes.

    Source: reference section 4 (a2-highgpu-Ng: A100 x N, g2-standard sizes,
    N1 counts 1/2/4 and 8 for V100); https://cloud.google.com/compute/docs/gpus.
    Errors for the fixed counts; the N1 vCPU and memory limits per GPU count
    come from Compute Engine, not Vertex: warnings. cloud-tpu hosts of TPU v2
    and v3 have 8 cores (training-with-tpu-vm): a warning.
    """
    for pool in ctx.active:
        accelerator = _accelerator(pool)
        spec = pool.machine
        count, name = spec.accelerator_count, spec.machine_type
        if accelerator is None or count <= 0 or not name:
            continue
        path = f"{pool.machine_path}.accelerator_count"
        fixed = machines.FIXED_GPUS.get(name)
        n1 = machines.N1_GPUS.get(accelerator) if machines.family(name) == "n1" else None
        allowed: list[int] | None = None
        if fixed is not None and fixed[0] == accelerator and count != fixed[1]:
            allowed = [fixed[1]]
        elif n1 is not None and count not in n1:
            allowed = sorted(n1)
        elif n1 is not None:
            shape = machines.n1_shape(name)
            limit = n1[count]
            if shape is not None and (shape[0] > limit.vcpus or shape[1] > limit.memory_gb):
                out.warning(
                    path,
                    f"Compute Engine attaches {count} {accelerator.name} only to N1 machines of "
                    f'up to {limit.vcpus} vCPUs and {limit.memory_gb:g} GB; "{name}" has '
                    f"{shape[0]} vCPUs and {shape[1]:g} GB.",
                )
        elif (
            name == "cloud-tpu"
            and accelerator in (machines.A.TPU_V2, machines.A.TPU_V3)
            and count != machines.CLOUD_TPU_CORES
        ):
            out.warning(
                path,
                f"{accelerator.name} on cloud-tpu comes as {machines.CLOUD_TPU_CORES} cores; "
                f"set `accelerator_count` to {machines.CLOUD_TPU_CORES}.",
            )
        if allowed is not None:
            out.error(
                path,
                f'Accelerator count {count} is not supported for accelerator "{accelerator.name}" '
                f'and machine type "{name}". Supported: {", ".join(map(str, allowed))}.',
            )


def gpus_declared(ctx: Context, out: Findings) -> None:
    """Accelerator-optimized machine types declare the GPUs they come with.

    Source: reference section 4 ("GPU machine families and counts must
    match"); https://cloud.google.com/vertex-ai/docs/training/configure-compute#gpu-compatibility-table
    shows the type and count for every A/G machine. Whether Vertex fills them
    in by itself is unknown: a warning.
    """
    for pool in ctx.active:
        spec = pool.machine
        fixed = machines.FIXED_GPUS.get(spec.machine_type)
        if fixed is not None and spec.accelerator_type == 0 and spec.accelerator_count == 0:
            out.warning(
                f"{pool.machine_path}.accelerator_type",
                f'Machine type "{spec.machine_type}" comes with {fixed[1]} {fixed[0].name}; '
                "set `accelerator_type` and `accelerator_count` to match.",
            )


def _uses_tpu(pool: Pool) -> bool:
    accelerator = _accelerator(pool)
    name = pool.machine.machine_type
    return (accelerator is not None and accelerator in machines.TPUS) or (
        bool(name) and machines.family(name) in machines.TPU_FAMILIES
    )


def tpu_layout(ctx: Context, out: Findings) -> None:
    """A TPU job is a single pool with a single replica.

    Source: reference section 4 ("TPU: a single pool with a single replica
    (docs; weaker evidence)"): a warning.
    """
    active = ctx.active
    if any(_uses_tpu(p) for p in active) and len(active) > 1:
        out.warning(
            POOLS,
            f"TPU training runs in a single worker pool with a single replica; "
            f"this job has {len(active)} pools.",
        )


def tpu_topology(ctx: Context, out: Findings) -> None:
    """``tpu_topology`` only means something on a TPU machine.

    Source: MachineSpec.tpu_topology docstring ("The topology of the TPUs").
    Inferred: a warning.
    """
    for pool in ctx.active:
        if pool.machine.tpu_topology and not _uses_tpu(pool):
            out.warning(
                f"{pool.machine_path}.tpu_topology",
                "`tpu_topology` applies to TPU machine types only.",
            )


def gpu_partition(ctx: Context, out: Findings) -> None:
    """A GPU partition size goes with one NVIDIA GPU.

    Source: MachineSpec.gpu_partition_size docstring ("If set, the
    accelerator_count should be set to 1."): "should", so a warning.
    """
    for pool in ctx.active:
        spec = pool.machine
        if not spec.gpu_partition_size:
            continue
        accelerator = _accelerator(pool)
        if accelerator is None or accelerator not in machines.GPUS:
            out.warning(
                f"{pool.machine_path}.gpu_partition_size",
                "`gpu_partition_size` partitions an NVIDIA GPU; set an NVIDIA `accelerator_type`.",
            )
        elif spec.accelerator_count != 1:
            out.warning(
                f"{pool.machine_path}.accelerator_count",
                "With `gpu_partition_size` set, `accelerator_count` should be 1.",
            )


def reservation(ctx: Context, out: Findings) -> None:
    """A specific reservation is named by ``key`` and ``values``; other types take neither.

    Source: ReservationAffinity.Type docstring ("SPECIFIC_RESERVATION ... the
    reservation must be identified via the key and values fields"): errors.
    ReservationAffinity.key / values docstrings (the reservation-name key takes
    full reservation resource names) and key/values on other types: warnings.
    """
    for pool in ctx.active:
        spec = pool.machine
        if not spec.HasField("reservation_affinity"):
            continue
        affinity = spec.reservation_affinity
        path = f"{pool.machine_path}.reservation_affinity"
        if affinity.reservation_affinity_type == _SPECIFIC:
            if not affinity.key:
                out.error(f"{path}.key", "`key` is required with `SPECIFIC_RESERVATION`.")
            if not len(affinity.values):
                out.error(f"{path}.values", "`values` are required with `SPECIFIC_RESERVATION`.")
            elif affinity.key == _RESERVATION_NAME_KEY:
                for i, value in enumerate(affinity.values):
                    if RESERVATION.fullmatch(value) is None:
                        out.warning(
                            f"{path}.values[{i}]",
                            "Reservation names have the form "
                            "projects/{project}/zones/{zone}/reservations/{reservation}.",
                        )
        elif affinity.key or len(affinity.values):
            out.warning(path, "`key` and `values` only apply to `SPECIFIC_RESERVATION`.")


RULES = (
    machine_type,
    accelerator_pair,
    accelerator_support,
    accelerator_count,
    gpus_declared,
    tpu_layout,
    tpu_topology,
    gpu_partition,
    reservation,
)
