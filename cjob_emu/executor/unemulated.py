"""Every field of a job that a local run accepts but does not act on.

Walks the fields actually set on the message (the proto descriptors list them, so a
field added to ``aiplatform_v1`` later is reported too, never dropped silently) and
names each one a local run does not emulate, with what that means. A pool's
``disk_spec`` equal to Vertex's default (pd-ssd, 100 GB) is not named: Vertex fills it
in on create, and the SDK's own pool builder writes it, so it says nothing the user
chose.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from google.cloud.aiplatform_v1 import AcceleratorType, CustomJob
from google.protobuf.message import Message

from cjob_emu.cluster.vertex_job import (
    REDUCTION_SERVER_IMAGE,
    REDUCTION_SERVER_POOL,
    is_reduction_server_pool,
)
from cjob_emu.executor.backend import RunOptions


@dataclass(frozen=True)
class Unemulated:
    """One field that is accepted but not emulated, with its path and what happens."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


# Fields the executor acts on; a message-typed one is walked into when listed in _WALK.
_EMULATED = {
    "CustomJob": {"name", "display_name", "job_spec", "labels"},
    "CustomJobSpec": {"worker_pool_specs", "scheduling", "base_output_directory"},
    "WorkerPoolSpec": {"container_spec", "python_package_spec", "machine_spec", "replica_count"},
    "Scheduling": {"timeout", "restart_job_on_worker_restart"},
    "ContainerSpec": {"image_uri", "command", "args", "env"},
    "PythonPackageSpec": {"executor_image_uri", "package_uris", "python_module", "args", "env"},
    "GcsDestination": {"output_uri_prefix"},
    # machine_type and accelerators are judged against the run options below.
    "MachineSpec": {"machine_type", "accelerator_type", "accelerator_count"},
}
_WALK = {
    "job_spec",
    "worker_pool_specs",
    "scheduling",
    "container_spec",
    "python_package_spec",
    "machine_spec",
    "base_output_directory",
}
_DEFAULT_DISK = ("pd-ssd", 100)  # what Vertex fills in on create
_OUTPUT_ONLY = "output only: set by the run, the given value is replaced"
_REASONS = {
    "state": _OUTPUT_ONLY,
    "create_time": _OUTPUT_ONLY,
    "start_time": _OUTPUT_ONLY,
    "end_time": _OUTPUT_ONLY,
    "update_time": _OUTPUT_ONLY,
    "error": _OUTPUT_ONLY,
    "web_access_uris": _OUTPUT_ONLY,
    "satisfies_pzs": _OUTPUT_ONLY,
    "satisfies_pzi": _OUTPUT_ONLY,
    "encryption_spec": "nothing is encrypted with this key",
    "service_account": "replicas run with the host's identity, not this service account",
    "network": "replicas are not peered with this VPC network",
    "reserved_ip_ranges": "replica addresses do not come from these ranges",
    "psc_interface_config": "no Private Service Connect interface is set up",
    "persistent_resource_id": "replicas run on this machine, not on the persistent resource",
    "protected_artifact_location_id": "artifacts stay under the local gs:// root",
    "tensorboard": "AIP_TENSORBOARD_* are set, but nothing is uploaded to a TensorBoard",
    "enable_web_access": "no interactive shell is offered (webAccessUris stays empty)",
    "enable_dashboard_access": "no dashboard is offered",
    "experiment": "AIP_EXPERIMENT_NAME is set, but nothing is logged to Vertex Experiments",
    "experiment_run": "AIP_EXPERIMENT_RUN_NAME is set, but nothing is logged to Vertex Experiments",
    "models": "no model is registered",
    "nfs_mounts": "nothing is mounted from NFS",
    "lustre_mounts": "nothing is mounted from Lustre",
    "disk_spec": "replicas use the host's disk; no boot disk size or type applies",
    "strategy": "replicas start at once; no provisioning strategy (Spot, Flex-start) applies",
    "disable_retries": "the emulator never retries a job on its own",
    "max_wait_duration": "there is no wait for resources",
    "gpu_partition_size": "GPUs are not partitioned",
    "tpu_topology": "no TPU is emulated",
    "reservation_affinity": "no reservation is consumed",
}


def unemulated_fields(job: CustomJob, options: RunOptions | None = None) -> list[Unemulated]:
    """Every set field of ``job`` a local run with ``options`` accepts but does not emulate."""
    opts = options or RunOptions()
    found = list(_walk(CustomJob.pb(job), ""))
    pools = job.job_spec.worker_pool_specs
    for index, pool in enumerate(pools):
        if is_reduction_server_pool(job, index):
            continue  # not started at all: said once below
        path = f"job_spec.worker_pool_specs[{index}].machine_spec"
        machine = pool.machine_spec
        if machine.machine_type and not opts.resource_limits:
            found.append(
                Unemulated(
                    f"{path}.machine_type",
                    f"{machine.machine_type}: no CPU or memory limits (resource limits are off)",
                )
            )
        if machine.accelerator_count and not opts.gpus:
            kind = AcceleratorType(machine.accelerator_type).name
            found.append(
                Unemulated(
                    f"{path}.accelerator_type",
                    f"{machine.accelerator_count} x {kind}: replicas run on the CPU "
                    "(GPU passthrough is off)",
                )
            )
    if is_reduction_server_pool(job, REDUCTION_SERVER_POOL):
        found += _reducers(pools[REDUCTION_SERVER_POOL].replica_count)
    return found


def _reducers(count: int) -> list[Unemulated]:
    """The notice for ``count`` Reduction Server reducers (none for an empty pool)."""
    if count <= 0:
        return []
    message = (
        f"{count} Reduction Server reducer(s) not started: their image "
        f"({REDUCTION_SERVER_IMAGE}) exists only in Vertex's restricted registry. They "
        "stay in CLUSTER_SPEC and TF_CONFIG; the training world (WORLD_SIZE, RANK) runs "
        "without them, all-reducing among its own replicas"
    )
    return [Unemulated(f"job_spec.worker_pool_specs[{REDUCTION_SERVER_POOL}]", message)]


def _walk(message: Message, prefix: str) -> Iterator[Unemulated]:
    kind = message.DESCRIPTOR.name
    emulated = _EMULATED.get(kind, set())
    for descriptor, value in message.ListFields():
        path = f"{prefix}{descriptor.name}"
        if descriptor.name == "disk_spec" and _default_disk(value):
            continue
        if descriptor.name not in emulated:
            reason = _REASONS.get(descriptor.name, "not emulated")
            yield Unemulated(path, reason)
        elif descriptor.name in _WALK:
            if isinstance(value, Message):
                yield from _walk(value, f"{path}.")
            else:
                for index, item in enumerate(value):
                    yield from _walk(item, f"{path}[{index}].")


def _default_disk(disk: Message) -> bool:
    return (disk.boot_disk_type, disk.boot_disk_size_gb) == _DEFAULT_DISK
