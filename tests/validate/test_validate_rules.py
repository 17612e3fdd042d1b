"""Each create-time rule: a job breaking it (field path, message, severity), one keeping it.

Every case changes one thing in a job Vertex accepts (validate_cases.BASE). The failing
change must produce exactly the expected problem; the passing change must leave a job
with no problem at all.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.validate_cases import DELETE, changed, found

from cjob_emu.validate import validate

REQUIRED = "Required field is not set."
OUTPUT_ONLY = "Output only field; Vertex ignores it in a create request."
PAIR = "Both `accelerator_type` and `accelerator_count` should be specified or none."

W0 = "job_spec.worker_pool_specs[0]"
W1 = "job_spec.worker_pool_specs[1]"
MS0 = f"{W0}.machine_spec"
CS0 = f"{W0}.container_spec"
PP0 = f"{W0}.python_package_spec"

# Document keys (camelCase) of the same places.
D0 = "jobSpec.workerPoolSpecs[0]"
DMS0 = f"{D0}.machineSpec"
DCS0 = f"{D0}.containerSpec"

POOL: dict[str, Any] = {
    "machineSpec": {"machineType": "n1-standard-4"},
    "replicaCount": "1",
    "containerSpec": {"imageUri": "us-docker.pkg.dev/my-project/trainers/task:1"},
}
WORKERS = {**POOL, "replicaCount": "2"}
PACKAGE = {
    "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-12.py310:latest",
    "packageUris": ["gs://my-bucket/trainer-0.1.tar.gz"],
    "pythonModule": "trainer.task",
}
NETWORK = "projects/12345/global/networks/training-vpc"
ATTACHMENT = "projects/my-project/regions/us-central1/networkAttachments/training"
ACCOUNT = "trainer@my-project.iam.gserviceaccount.com"
TENSORBOARD = "projects/123/locations/us-central1/tensorboards/456"
CONTEXTS = "projects/123/locations/us-central1/metadataStores/default/contexts"
KMS = "projects/p/locations/us-central1/keyRings/kr/cryptoKeys/k"
RESERVATION = "projects/p/zones/us-central1-a/reservations/r1"


def machine(machine_type: str, accelerator: Any = None, count: Any = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"machineType": machine_type}
    if accelerator is not None:
        spec["acceleratorType"] = accelerator
    if count is not None:
        spec["acceleratorCount"] = count
    return {DMS0: spec}


def python_package(**fields: Any) -> dict[str, Any]:
    spec = {k: v for k, v in {**PACKAGE, **fields}.items() if v is not DELETE}
    return {DCS0: DELETE, f"{D0}.pythonPackageSpec": spec}


def case(
    name: str,
    failing: dict[str, Any],
    expected: tuple[str, str, str],
    passing: dict[str, Any] | None = None,
    location: str | None = None,
) -> Any:
    return pytest.param(failing, expected, passing or {}, location, id=name)


CASES = [
    # --- required fields (docstring "Required.") -------------------------------------------
    case("display_name required", {"displayName": DELETE}, ("error", "display_name", REQUIRED)),
    case("display_name null is unset", {"displayName": None}, ("error", "display_name", REQUIRED)),
    case("job_spec required", {"jobSpec": DELETE}, ("error", "job_spec", REQUIRED)),
    case(
        "worker_pool_specs required",
        {"jobSpec.workerPoolSpecs": []},
        ("error", "job_spec.worker_pool_specs", REQUIRED),
    ),
    case(
        "image_uri required",
        {f"{DCS0}.imageUri": ""},
        ("error", f"{CS0}.image_uri", REQUIRED),
        {f"{DCS0}.imageUri": "python:3.11-slim"},
    ),
    *[
        case(
            f"python package {field} required",
            python_package(**{key: DELETE}),
            ("error", f"{PP0}.{field}", REQUIRED),
            python_package(),
        )
        for key, field in [
            ("executorImageUri", "executor_image_uri"),
            ("packageUris", "package_uris"),
            ("pythonModule", "python_module"),
        ]
    ],
    case(
        "env name required",
        {f"{DCS0}.env": [{"value": "1"}]},
        ("error", f"{CS0}.env[0].name", REQUIRED),
        {f"{DCS0}.env": [{"name": "A", "value": "1"}]},
    ),
    case(
        "env value empty",
        {f"{DCS0}.env": [{"name": "A", "value": ""}]},
        (
            "warning",
            f"{CS0}.env[0].value",
            "Required field is empty; Vertex may refuse an environment variable without a value.",
        ),
        {f"{DCS0}.env": [{"name": "A", "value": "0"}]},
    ),
    case(
        "nfs mount fields required",
        {"jobSpec.network": NETWORK, f"{D0}.nfsMounts": [{"server": "10.0.0.2", "path": "/x"}]},
        ("error", f"{W0}.nfs_mounts[0].mount_point", REQUIRED),
        {
            "jobSpec.network": NETWORK,
            f"{D0}.nfsMounts": [{"server": "10.0.0.2", "path": "/x", "mountPoint": "data"}],
        },
    ),
    case(
        "lustre mount fields required",
        {
            f"{D0}.lustreMounts": [
                {"instanceIp": "10.0.0.3", "volumeHandle": "v", "filesystem": "f"}
            ]
        },
        ("error", f"{W0}.lustre_mounts[0].mount_point", REQUIRED),
        {
            f"{D0}.lustreMounts": [
                {
                    "instanceIp": "10.0.0.3",
                    "volumeHandle": "v",
                    "filesystem": "f",
                    "mountPoint": "l",
                }
            ]
        },
    ),
    case(
        "reservation type required",
        {f"{DMS0}.reservationAffinity": {}},
        ("error", f"{MS0}.reservation_affinity.reservation_affinity_type", REQUIRED),
        {f"{DMS0}.reservationAffinity": {"reservationAffinityType": "ANY_RESERVATION"}},
    ),
    case(
        "output_uri_prefix required",
        {"jobSpec.baseOutputDirectory": {}},
        ("error", "job_spec.base_output_directory.output_uri_prefix", REQUIRED),
        {"jobSpec.baseOutputDirectory": {"outputUriPrefix": "gs://my-bucket/out"}},
    ),
    case(
        "kms_key_name required",
        {"encryptionSpec": {}},
        ("error", "encryption_spec.kms_key_name", REQUIRED),
        {"encryptionSpec": {"kmsKeyName": KMS}},
    ),
    case(
        "dns peering fields required",
        {
            "jobSpec.pscInterfaceConfig": {
                "dnsPeeringConfigs": [{"domain": "corp.", "targetProject": "p"}]
            }
        },
        ("error", "job_spec.psc_interface_config.dns_peering_configs[0].target_network", REQUIRED),
        {
            "jobSpec.pscInterfaceConfig": {
                "networkAttachment": ATTACHMENT,
                "dnsPeeringConfigs": [
                    {"domain": "corp.", "targetProject": "p", "targetNetwork": "n"}
                ],
            }
        },
    ),
    case(
        "dns peering domain ends with a dot",
        {
            "jobSpec.pscInterfaceConfig": {
                "dnsPeeringConfigs": [
                    {"domain": "corp", "targetProject": "p", "targetNetwork": "n"}
                ]
            }
        },
        (
            "error",
            "job_spec.psc_interface_config.dns_peering_configs[0].domain",
            "`domain` must end with a dot.",
        ),
    ),
    # --- output-only fields ----------------------------------------------------------------
    case("state is output only", {"state": "JOB_STATE_RUNNING"}, ("warning", "state", OUTPUT_ONLY)),
    case(
        "create_time is output only",
        {"createTime": "2024-05-01T12:00:00Z"},
        ("warning", "create_time", OUTPUT_ONLY),
    ),
    case(
        "name is output only",
        {"name": "projects/p/locations/us-central1/customJobs/1"},
        ("warning", "name", OUTPUT_ONLY),
    ),
    case(
        "web_access_uris are output only",
        {"webAccessUris": {"workerpool0-0": "https://x"}},
        ("warning", "web_access_uris", OUTPUT_ONLY),
    ),
    case(
        "error is output only",
        {"error": {"code": 3, "message": "boom", "details": []}},
        ("warning", "error", OUTPUT_ONLY),
    ),
    # --- display name ----------------------------------------------------------------------
    case(
        "display_name at most 128 characters",
        {"displayName": "x" * 129},
        (
            "error",
            "display_name",
            "`display_name` is 129 characters long; at most 128 are allowed.",
        ),
        {"displayName": "é" * 128},  # 256 UTF-8 bytes, 128 characters: allowed
    ),
    # --- worker pools ----------------------------------------------------------------------
    case(
        "at most 4 pools",
        {"jobSpec.workerPoolSpecs": [POOL, WORKERS, WORKERS, WORKERS, WORKERS]},
        ("error", "job_spec.worker_pool_specs", "At most 4 worker pools are allowed; got 5."),
        {"jobSpec.workerPoolSpecs": [POOL, WORKERS, WORKERS, WORKERS]},
    ),
    case(
        "first pool not empty",
        {"jobSpec.workerPoolSpecs": [{}, WORKERS]},
        ("error", W0, "The first worker pool runs the primary replica and cannot be empty."),
        {"jobSpec.workerPoolSpecs": [POOL, {}, WORKERS]},
    ),
    case(
        "primary pool has one replica",
        {f"{D0}.replicaCount": "2"},
        ("error", f"{W0}.replica_count", "The primary worker pool must have `replica_count` 1."),
        {f"{D0}.replicaCount": 1},
    ),
    case(
        "primary pool replica count unset",
        {f"{D0}.replicaCount": DELETE},
        (
            "warning",
            f"{W0}.replica_count",
            "`replica_count` is not set; the primary worker pool needs 1 replica.",
        ),
    ),
    case(
        "other pools run replicas",
        {"jobSpec.workerPoolSpecs": [POOL, {**WORKERS, "replicaCount": 0}]},
        (
            "warning",
            f"{W1}.replica_count",
            "`replica_count` is 0, so this pool runs nothing; skip a pool with `{}`.",
        ),
        {"jobSpec.workerPoolSpecs": [POOL, {**WORKERS, "replicaCount": "3"}]},
    ),
    case(
        "replica count not negative",
        {"jobSpec.workerPoolSpecs": [POOL, {**WORKERS, "replicaCount": -1}]},
        ("error", f"{W1}.replica_count", "`replica_count` must not be negative."),
    ),
    case(
        "a pool runs a container or a package",
        {DCS0: DELETE},
        ("error", W0, "One of `container_spec` or `python_package_spec` must be set."),
        python_package(),
    ),
    # --- machine types and accelerators ----------------------------------------------------
    case(
        "machine type required",
        {DMS0: {}},
        ("error", f"{MS0}.machine_type", REQUIRED),
    ),
    case(
        "machine type syntax",
        machine("N1 Standard 4"),
        ("error", f"{MS0}.machine_type", 'Machine type "N1 Standard 4" is not supported.'),
        machine("n1-highcpu-16"),
    ),
    case(
        "unknown machine family",
        machine("z9-standard-4"),
        (
            "warning",
            f"{MS0}.machine_type",
            'Machine type "z9-standard-4" is not a known Vertex AI training machine type.',
        ),
        machine("e2-standard-4"),
    ),
    case(
        "unknown size in a known family",
        machine("n1-standard-3"),
        (
            "error",
            f"{MS0}.machine_type",
            'Machine type "n1-standard-3" is not supported; did you mean n1-standard-32?',
        ),
        machine("n1-standard-96"),
    ),
    case(
        "typo in a fully listed CPU family",
        machine("n2-standrd-8"),
        (
            "error",
            f"{MS0}.machine_type",
            'Machine type "n2-standrd-8" is not supported; did you mean n2-standard-8?',
        ),
        machine("n2-standard-8"),
    ),
    case(
        "unknown size in a fully listed family, nothing close",
        machine("c3-ultramem-8"),
        ("error", f"{MS0}.machine_type", 'Machine type "c3-ultramem-8" is not supported.'),
        machine("c3-standard-176-lssd"),
    ),
    case(
        "a family the tables do not list stays a warning",
        machine("g4-standard-48"),
        (
            "warning",
            f"{MS0}.machine_type",
            'Machine type "g4-standard-48" is not a known Vertex AI training machine type.',
        ),
        machine("n2-custom-8-32768"),
    ),
    case(
        "accelerator type without count",
        machine("n1-standard-4", "NVIDIA_TESLA_T4"),
        ("error", f"{MS0}.accelerator_type", PAIR),
        machine("n1-standard-4", "NVIDIA_TESLA_T4", 1),
    ),
    case(
        "accelerator count without type",
        machine("n1-standard-4", None, 1),
        ("error", f"{MS0}.accelerator_type", PAIR),
    ),
    case(
        "accelerator count positive",
        machine("n1-standard-4", "NVIDIA_TESLA_T4", -1),
        ("error", f"{MS0}.accelerator_count", "`accelerator_count` must be positive."),
    ),
    case(
        "no GPU on a CPU-only family",
        machine("e2-standard-4", "NVIDIA_TESLA_T4", 1),
        (
            "error",
            f"{MS0}.accelerator_type",
            'Accelerator "NVIDIA_TESLA_T4" is not supported for machine type "e2-standard-4"',
        ),
    ),
    case(
        "deprecated K80 refused (Vertex's own text)",
        machine("n1-standard-4", "NVIDIA_TESLA_K80", 1),
        (
            "error",
            f"{MS0}.accelerator_type",
            'Accelerator "NVIDIA_TESLA_K80" is not supported for machine type "n1-standard-4"',
        ),
        machine("n1-standard-4", "NVIDIA_TESLA_P4", 1),
    ),
    case(
        "A2 machines take A100s",
        machine("a2-highgpu-1g", "NVIDIA_TESLA_T4", 1),
        (
            "error",
            f"{MS0}.accelerator_type",
            'Accelerator "NVIDIA_TESLA_T4" is not supported for machine type "a2-highgpu-1g"',
        ),
        machine("a2-highgpu-1g", "NVIDIA_TESLA_A100", 1),
    ),
    case(
        "A3 ultra machines take H200s",
        machine("a3-ultragpu-8g", "NVIDIA_H100_80GB", 8),
        (
            "error",
            f"{MS0}.accelerator_type",
            'Accelerator "NVIDIA_H100_80GB" is not supported for machine type "a3-ultragpu-8g"',
        ),
        machine("a3-ultragpu-8g", "NVIDIA_H200_141GB", 8),
    ),
    case(
        "TPUs only on TPU machine types",
        machine("n1-standard-8", "TPU_V3", 8),
        (
            "error",
            f"{MS0}.accelerator_type",
            'Accelerator "TPU_V3" is not supported for machine type "n1-standard-8"',
        ),
        machine("cloud-tpu", "TPU_V3", 8),
    ),
    case(
        "no GPU on a TPU machine",
        machine("cloud-tpu", "NVIDIA_TESLA_T4", 1),
        (
            "error",
            f"{MS0}.accelerator_type",
            'Accelerator "NVIDIA_TESLA_T4" is not supported for machine type "cloud-tpu"',
        ),
    ),
    case(
        "TPU generation of the TPU machine type",
        machine("cloud-tpu", "TPU_V5_LITEPOD", 4),
        (
            "warning",
            f"{MS0}.accelerator_type",
            'Accelerator "TPU_V5_LITEPOD" is not supported for machine type "cloud-tpu"',
        ),
        machine("ct5lp-hightpu-4t", "TPU_V5_LITEPOD", 4),
    ),
    case(
        "A2 GPU count fixed",
        machine("a2-highgpu-2g", "NVIDIA_TESLA_A100", 1),
        (
            "error",
            f"{MS0}.accelerator_count",
            'Accelerator count 1 is not supported for accelerator "NVIDIA_TESLA_A100" and '
            'machine type "a2-highgpu-2g". Supported: 2.',
        ),
        machine("a2-highgpu-2g", "NVIDIA_TESLA_A100", 2),
    ),
    case(
        "G2 GPU count by size",
        machine("g2-standard-24", "NVIDIA_L4", 1),
        (
            "error",
            f"{MS0}.accelerator_count",
            'Accelerator count 1 is not supported for accelerator "NVIDIA_L4" and '
            'machine type "g2-standard-24". Supported: 2.',
        ),
        machine("g2-standard-24", "NVIDIA_L4", 2),
    ),
    case(
        "N1 GPU counts",
        machine("n1-standard-8", "NVIDIA_TESLA_T4", 3),
        (
            "error",
            f"{MS0}.accelerator_count",
            'Accelerator count 3 is not supported for accelerator "NVIDIA_TESLA_T4" and '
            'machine type "n1-standard-8". Supported: 1, 2, 4.',
        ),
        machine("n1-standard-8", "NVIDIA_TESLA_V100", 8),
    ),
    case(
        "N1 vCPU limit per GPU count",
        machine("n1-standard-64", "NVIDIA_TESLA_T4", 1),
        (
            "warning",
            f"{MS0}.accelerator_count",
            "Compute Engine attaches 1 NVIDIA_TESLA_T4 only to N1 machines of up to 48 vCPUs "
            'and 312 GB; "n1-standard-64" has 64 vCPUs and 240 GB.',
        ),
        machine("n1-standard-64", "NVIDIA_TESLA_T4", 4),
    ),
    case(
        "N1 memory limit per GPU count",
        machine("n1-highmem-64", "NVIDIA_TESLA_P100", 4),
        (
            "warning",
            f"{MS0}.accelerator_count",
            "Compute Engine attaches 4 NVIDIA_TESLA_P100 only to N1 machines of up to 64 vCPUs "
            'and 208 GB; "n1-highmem-64" has 64 vCPUs and 416 GB.',
        ),
        machine("n1-highmem-32", "NVIDIA_TESLA_P100", 4),
    ),
    case(
        "cloud-tpu v2 comes as 8 cores",
        machine("cloud-tpu", "TPU_V2", 4),
        (
            "warning",
            f"{MS0}.accelerator_count",
            "TPU_V2 on cloud-tpu comes as 8 cores; set `accelerator_count` to 8.",
        ),
        machine("cloud-tpu", "TPU_V2", 8),
    ),
    case(
        "accelerator-optimized machines declare their GPUs",
        machine("a2-highgpu-1g"),
        (
            "warning",
            f"{MS0}.accelerator_type",
            'Machine type "a2-highgpu-1g" comes with 1 NVIDIA_TESLA_A100; '
            "set `accelerator_type` and `accelerator_count` to match.",
        ),
        machine("a4-highgpu-8g", "NVIDIA_B200", 8),
    ),
    case(
        "TPU jobs use one pool",
        {
            "jobSpec.workerPoolSpecs": [
                {
                    **POOL,
                    "machineSpec": {
                        "machineType": "cloud-tpu",
                        "acceleratorType": "TPU_V3",
                        "acceleratorCount": 8,
                    },
                },
                WORKERS,
            ]
        },
        (
            "warning",
            "job_spec.worker_pool_specs",
            "TPU training runs in a single worker pool with a single replica; "
            "this job has 2 pools.",
        ),
        {"jobSpec.workerPoolSpecs": [POOL, WORKERS]},
    ),
    case(
        "tpu_topology on TPU machines only",
        {**machine("n1-standard-4"), f"{DMS0}.tpuTopology": "2x2"},
        ("warning", f"{MS0}.tpu_topology", "`tpu_topology` applies to TPU machine types only."),
        {**machine("ct5lp-hightpu-4t"), f"{DMS0}.tpuTopology": "2x2"},
    ),
    case(
        "gpu_partition_size needs a GPU",
        {f"{DMS0}.gpuPartitionSize": "1g.10gb"},
        (
            "warning",
            f"{MS0}.gpu_partition_size",
            "`gpu_partition_size` partitions an NVIDIA GPU; set an NVIDIA `accelerator_type`.",
        ),
        {**machine("a2-highgpu-1g", "NVIDIA_TESLA_A100", 1), f"{DMS0}.gpuPartitionSize": "1g.10gb"},
    ),
    case(
        "gpu_partition_size with one GPU",
        {**machine("n1-standard-8", "NVIDIA_TESLA_T4", 2), f"{DMS0}.gpuPartitionSize": "1g.10gb"},
        (
            "warning",
            f"{MS0}.accelerator_count",
            "With `gpu_partition_size` set, `accelerator_count` should be 1.",
        ),
    ),
    case(
        "specific reservation needs a key",
        {
            f"{DMS0}.reservationAffinity": {
                "reservationAffinityType": "SPECIFIC_RESERVATION",
                "values": [RESERVATION],
            }
        },
        (
            "error",
            f"{MS0}.reservation_affinity.key",
            "`key` is required with `SPECIFIC_RESERVATION`.",
        ),
        {
            f"{DMS0}.reservationAffinity": {
                "reservationAffinityType": "SPECIFIC_RESERVATION",
                "key": "compute.googleapis.com/reservation-name",
                "values": [RESERVATION],
            }
        },
    ),
    case(
        "specific reservation needs values",
        {f"{DMS0}.reservationAffinity": {"reservationAffinityType": 3, "key": "k"}},
        (
            "error",
            f"{MS0}.reservation_affinity.values",
            "`values` are required with `SPECIFIC_RESERVATION`.",
        ),
    ),
    case(
        "reservation names are resource names",
        {
            f"{DMS0}.reservationAffinity": {
                "reservationAffinityType": "SPECIFIC_RESERVATION",
                "key": "compute.googleapis.com/reservation-name",
                "values": ["r1"],
            }
        },
        (
            "warning",
            f"{MS0}.reservation_affinity.values[0]",
            "Reservation names have the form "
            "projects/{project}/zones/{zone}/reservations/{reservation}.",
        ),
    ),
    case(
        "key and values only for a specific reservation",
        {f"{DMS0}.reservationAffinity": {"reservationAffinityType": "ANY_RESERVATION", "key": "k"}},
        (
            "warning",
            f"{MS0}.reservation_affinity",
            "`key` and `values` only apply to `SPECIFIC_RESERVATION`.",
        ),
    ),
    # --- disks -----------------------------------------------------------------------------
    case(
        "boot disk at least 100 GB",
        {f"{D0}.diskSpec": {"bootDiskSizeGb": 50}},
        (
            "error",
            f"{W0}.disk_spec.boot_disk_size_gb",
            "`boot_disk_size_gb` must be between 100 and 64,000; got 50.",
        ),
        {f"{D0}.diskSpec": {"bootDiskSizeGb": 100}},
    ),
    case(
        "boot disk at most 64000 GB",
        {f"{D0}.diskSpec": {"bootDiskSizeGb": 64001}},
        (
            "error",
            f"{W0}.disk_spec.boot_disk_size_gb",
            "`boot_disk_size_gb` must be between 100 and 64,000; got 64001.",
        ),
        {f"{D0}.diskSpec": {"bootDiskSizeGb": 64000}},
    ),
    case(
        "boot disk type",
        {f"{D0}.diskSpec": {"bootDiskType": "pd-balanced"}},
        (
            "error",
            f"{W0}.disk_spec.boot_disk_type",
            "`boot_disk_type` must be one of pd-ssd, pd-standard, hyperdisk-balanced; "
            'got "pd-balanced".',
        ),
        {f"{D0}.diskSpec": {"bootDiskType": "hyperdisk-balanced"}},
    ),
    # --- labels ----------------------------------------------------------------------------
    case(
        "label keys lowercase",
        {"labels": {"Team": "ml"}},
        (
            "error",
            "labels.Team",
            "Label keys can only contain lowercase letters, numeric characters, "
            "underscores and dashes.",
        ),
        {"labels": {"équipe": "données", "チーム": "ml_1-x"}},  # international characters
    ),
    case(
        "label values lowercase",
        {"labels": {"team": "ML"}},
        (
            "error",
            "labels.team",
            "Label values can only contain lowercase letters, numeric characters, "
            "underscores and dashes.",
        ),
        {"labels": {"team": ""}},
    ),
    case(
        "label keys at most 64 characters",
        {"labels": {"k" * 65: "v"}},
        ("error", f"labels.{'k' * 65}", "Label keys can be no longer than 64 characters."),
        {"labels": {"k" * 64: "v" * 64}},
    ),
    case(
        "label values at most 64 characters",
        {"labels": {"k": "v" * 65}},
        ("error", "labels.k", "Label values can be no longer than 64 characters."),
    ),
    case(
        "label keys not empty",
        {"labels": {"": "v"}},
        ("error", "labels.", "Label keys must not be empty."),
    ),
    case(
        "label keys start with a letter",
        {"labels": {"1team": "ml"}},
        ("warning", "labels.1team", "Label keys should start with a lowercase letter."),
    ),
    case(
        "at most 64 labels",
        {"labels": {f"k{i}": "v" for i in range(65)}},
        ("warning", "labels", "A resource can have at most 64 labels; this job has 65."),
        {"labels": {f"k{i}": "v" for i in range(64)}},
    ),
    # --- containers and packages -----------------------------------------------------------
    *[
        case(
            f"env name {name!r} not a C identifier",
            {f"{DCS0}.env": [{"name": name, "value": "1"}]},
            (
                "error",
                f"{CS0}.env[0].name",
                f'Environment variable name "{name}" is not a valid C identifier.',
            ),
            {f"{DCS0}.env": [{"name": "_Model_Dir2", "value": "1"}]},
        )
        for name in ("1A", "MY-VAR", "A B", "É")
    ],
    case(
        "env names once",
        {f"{DCS0}.env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]},
        ("warning", f"{CS0}.env[1].name", "Environment variable `A` is already set by `env[0]`."),
        {f"{DCS0}.env": [{"name": "A", "value": "1"}, {"name": "B", "value": "$(A)"}]},
    ),
    case(
        "at most 100 env vars",
        {f"{DCS0}.env": [{"name": f"V{i}", "value": "1"} for i in range(101)]},
        ("error", f"{CS0}.env", "At most 100 environment variables are allowed; got 101."),
        {f"{DCS0}.env": [{"name": f"V{i}", "value": "1"} for i in range(100)]},
    ),
    case(
        "args at most 100,000 characters together",
        {f"{DCS0}.args": ["a" * 50_000, "b" * 50_001]},
        (
            "warning",
            f"{CS0}.args",
            "The arguments are 100,001 characters long together; at most 100,000 are allowed.",
        ),
        {f"{DCS0}.args": ["a" * 50_000, "b" * 50_000]},
    ),
    *[
        case(
            f"image reference {uri!r}",
            {f"{DCS0}.imageUri": uri},
            ("warning", f"{CS0}.image_uri", f'"{uri}" is not a valid container image reference.'),
            {f"{DCS0}.imageUri": good},
        )
        for uri, good in [
            ("not an image", "python:3.11-slim"),
            ("gcr.io/p/Trainer:1", "gcr.io/p/trainer:1"),
            ("gcr.io/p/t:", "localhost:5000/a/b@sha256:" + "0" * 64),
            ("https://gcr.io/p/t", "europe-docker.pkg.dev/p/r/t:v1.2-rc_3"),
        ]
    ],
    case(
        "executor image reference",
        python_package(executorImageUri="us-docker.pkg.dev/x/Y"),
        (
            "warning",
            f"{PP0}.executor_image_uri",
            '"us-docker.pkg.dev/x/Y" is not a valid container image reference.',
        ),
    ),
    case(
        "at most 100 package URIs",
        python_package(packageUris=[f"gs://b/p{i}.tar.gz" for i in range(101)]),
        ("error", f"{PP0}.package_uris", "At most 100 package URIs are allowed; got 101."),
        python_package(packageUris=[f"gs://b/p{i}.tar.gz" for i in range(100)]),
    ),
    case(
        "package URIs on Cloud Storage",
        python_package(packageUris=["https://example.com/trainer.tar.gz"]),
        (
            "warning",
            f"{PP0}.package_uris[0]",
            "Package URIs should be Cloud Storage URIs (gs://...).",
        ),
    ),
    case(
        "python module name",
        python_package(pythonModule="trainer/task.py"),
        ("warning", f"{PP0}.python_module", '"trainer/task.py" is not a valid Python module name.'),
        python_package(pythonModule="trainer.task_2"),
    ),
    # --- scheduling ------------------------------------------------------------------------
    case(
        "timeout positive",
        {"jobSpec.scheduling": {"timeout": "-5s"}},
        ("error", "job_spec.scheduling.timeout", "`timeout` must be a positive duration."),
        {"jobSpec.scheduling": {"timeout": "0.5s"}},
    ),
    case(
        "timeout zero",
        {"jobSpec.scheduling": {"timeout": "0s"}},
        (
            "warning",
            "job_spec.scheduling.timeout",
            "`timeout` is 0s; Vertex may read it as unset (7 days).",
        ),
    ),
    case(
        "max_wait_duration not negative",
        {"jobSpec.scheduling": {"strategy": "FLEX_START", "maxWaitDuration": "-1s"}},
        (
            "error",
            "job_spec.scheduling.max_wait_duration",
            "`max_wait_duration` must not be negative.",
        ),
        {"jobSpec.scheduling": {"strategy": "FLEX_START", "maxWaitDuration": "0s"}},
    ),
    case(
        "max_wait_duration needs FLEX_START",
        {"jobSpec.scheduling": {"strategy": "STANDARD", "maxWaitDuration": "1800s"}},
        (
            "warning",
            "job_spec.scheduling.max_wait_duration",
            "`max_wait_duration` only applies with the `FLEX_START` strategy; it is ignored.",
        ),
        {"jobSpec.scheduling": {"strategy": 6, "maxWaitDuration": "1800s"}},
    ),
    *[
        case(
            f"deprecated strategy {name}",
            {"jobSpec.scheduling": {"strategy": value}},
            (
                "warning",
                "job_spec.scheduling.strategy",
                f"Strategy `{name}` is deprecated; use `STANDARD` or `SPOT`.",
            ),
            {"jobSpec.scheduling": {"strategy": "SPOT"}},
        )
        for name, value in [("ON_DEMAND", "ON_DEMAND"), ("LOW_COST", 2)]
    ],
    case(
        "disable_retries overrides restarts",
        {"jobSpec.scheduling": {"disableRetries": True, "restartJobOnWorkerRestart": True}},
        (
            "warning",
            "job_spec.scheduling.restart_job_on_worker_restart",
            "`disable_retries` is true, so `restart_job_on_worker_restart` has no effect.",
        ),
        {"jobSpec.scheduling": {"disableRetries": False, "restartJobOnWorkerRestart": True}},
    ),
    # --- networking and linked resources ---------------------------------------------------
    case(
        "network and PSC-I exclude each other",
        {
            "jobSpec.network": NETWORK,
            "jobSpec.pscInterfaceConfig": {"networkAttachment": ATTACHMENT},
        },
        (
            "error",
            "job_spec.psc_interface_config",
            "`network` and `psc_interface_config` cannot be set at the same time.",
        ),
        {"jobSpec.pscInterfaceConfig": {"networkAttachment": ATTACHMENT}},
    ),
    case(
        "NFS needs a network",
        {f"{D0}.nfsMounts": [{"server": "10.0.0.2", "path": "/x", "mountPoint": "d"}]},
        ("error", f"{W0}.nfs_mounts", "`nfs_mounts` require `job_spec.network` to be set."),
        {
            "jobSpec.network": NETWORK,
            f"{D0}.nfsMounts": [{"server": "10.0.0.2", "path": "/x", "mountPoint": "d"}],
        },
    ),
    case(
        "NFS path absolute",
        {
            "jobSpec.network": NETWORK,
            f"{D0}.nfsMounts": [{"server": "10.0.0.2", "path": "x", "mountPoint": "d"}],
        },
        ("error", f"{W0}.nfs_mounts[0].path", "`path` has to start with '/'."),
    ),
    case(
        "reserved ranges need a network",
        {"jobSpec.reservedIpRanges": ["vertex-range"]},
        (
            "warning",
            "job_spec.reserved_ip_ranges",
            "`reserved_ip_ranges` are ranges of the VPC `network`, which is not set.",
        ),
        {"jobSpec.reservedIpRanges": ["vertex-range"], "jobSpec.network": NETWORK},
    ),
    case(
        "network resource name",
        {"jobSpec.network": "training-vpc"},
        (
            "error",
            "job_spec.network",
            "`network` must have the form projects/{project}/global/networks/{network}.",
        ),
    ),
    case(
        "network project number",
        {"jobSpec.network": "projects/my-project/global/networks/vpc"},
        (
            "warning",
            "job_spec.network",
            "The project in `network` should be a project number, as in 12345.",
        ),
    ),
    case(
        "output directory on Cloud Storage",
        {"jobSpec.baseOutputDirectory": {"outputUriPrefix": "/tmp/out"}},
        (
            "error",
            "job_spec.base_output_directory.output_uri_prefix",
            "`output_uri_prefix` must be a Cloud Storage URI (gs://bucket/path).",
        ),
        {"jobSpec.baseOutputDirectory": {"outputUriPrefix": "gs://my-bucket"}},
    ),
    case(
        "service account email",
        {"jobSpec.serviceAccount": "trainer"},
        (
            "error",
            "job_spec.service_account",
            "`service_account` must be a service account email address.",
        ),
        {"jobSpec.serviceAccount": ACCOUNT},
    ),
    case(
        "tensorboard resource name",
        {"jobSpec.tensorboard": "tb-1", "jobSpec.serviceAccount": ACCOUNT},
        (
            "error",
            "job_spec.tensorboard",
            "`tensorboard` must have the form "
            "projects/{project}/locations/{location}/tensorboards/{tensorboard}.",
        ),
        {"jobSpec.tensorboard": TENSORBOARD, "jobSpec.serviceAccount": ACCOUNT},
    ),
    case(
        "tensorboard needs a service account",
        {"jobSpec.tensorboard": TENSORBOARD},
        ("warning", "job_spec.tensorboard", "`service_account` is required with `tensorboard`."),
    ),
    case(
        "tensorboard in the job's region",
        {
            "jobSpec.tensorboard": TENSORBOARD.replace("us-central1", "europe-west4"),
            "jobSpec.serviceAccount": ACCOUNT,
        },
        (
            "warning",
            "job_spec.tensorboard",
            "The Tensorboard is in europe-west4, not in the job's region us-central1.",
        ),
        {"jobSpec.tensorboard": TENSORBOARD, "jobSpec.serviceAccount": ACCOUNT},
        location="us-central1",
    ),
    case(
        "experiment and tensorboard not together",
        {
            "jobSpec.tensorboard": TENSORBOARD,
            "jobSpec.serviceAccount": ACCOUNT,
            "jobSpec.experiment": f"{CONTEXTS}/exp",
        },
        (
            "warning",
            "job_spec.tensorboard",
            "`experiment` and `tensorboard` cannot be set together.",
        ),
        {"jobSpec.experiment": f"{CONTEXTS}/exp", "jobSpec.experimentRun": f"{CONTEXTS}/exp-run-1"},
    ),
    case(
        "experiment resource name",
        {"jobSpec.experiment": "my-experiment"},
        (
            "warning",
            "job_spec.experiment",
            "`experiment` should have the form projects/{project}/locations/{location}/"
            "metadataStores/{metadata_store}/contexts/{name}.",
        ),
        {"jobSpec.experiment": f"{CONTEXTS}/my-experiment"},
    ),
    case(
        "experiment run needs its experiment",
        {"jobSpec.experimentRun": f"{CONTEXTS}/exp-run-1"},
        ("warning", "job_spec.experiment_run", "`experiment_run` is set without `experiment`."),
    ),
    case(
        "experiment run named after its experiment",
        {"jobSpec.experiment": f"{CONTEXTS}/exp", "jobSpec.experimentRun": f"{CONTEXTS}/other-1"},
        (
            "warning",
            "job_spec.experiment_run",
            "`experiment_run` should be named {experiment-name}-{experiment-run-name} "
            "after its `experiment`.",
        ),
    ),
    case(
        "experiment run resource name",
        {"jobSpec.experiment": f"{CONTEXTS}/exp", "jobSpec.experimentRun": "exp-run-1"},
        (
            "warning",
            "job_spec.experiment_run",
            "`experiment_run` should have the form projects/{project}/locations/{location}/"
            "metadataStores/{metadata_store}/contexts/{name}.",
        ),
    ),
    case(
        "model resource names",
        {"jobSpec.models": ["my-model"]},
        (
            "warning",
            "job_spec.models[0]",
            "Model names have the form "
            "projects/{project}/locations/{location}/models/{model}[@version].",
        ),
        {"jobSpec.models": ["projects/p/locations/us-central1/models/m@golden"]},
    ),
    case(
        "persistent resource id",
        {"jobSpec.persistentResourceId": "My_Pool"},
        (
            "warning",
            "job_spec.persistent_resource_id",
            "`persistent_resource_id` should be 1 to 63 lowercase letters, digits or dashes, "
            "starting with a letter.",
        ),
        {"jobSpec.persistentResourceId": "my-pool-1"},
    ),
    case(
        "protected artifact location",
        {"jobSpec.protectedArtifactLocationId": "mars-west1"},
        (
            "warning",
            "job_spec.protected_artifact_location_id",
            '"mars-west1" is not a Vertex AI region the SDK knows.',
        ),
        {"jobSpec.protectedArtifactLocationId": "europe-west4"},
    ),
    case(
        "KMS key name",
        {"encryptionSpec": {"kmsKeyName": "my-key"}},
        (
            "error",
            "encryption_spec.kms_key_name",
            "`kms_key_name` must have the form "
            "projects/{project}/locations/{location}/keyRings/{key_ring}/cryptoKeys/{key}.",
        ),
    ),
    case(
        "KMS key in the job's region",
        {"encryptionSpec": {"kmsKeyName": KMS.replace("us-central1", "europe-west4")}},
        (
            "error",
            "encryption_spec.kms_key_name",
            "The key is in europe-west4; it must be in the job's region us-central1.",
        ),
        {"encryptionSpec": {"kmsKeyName": KMS}},
        location="us-central1",
    ),
    case(
        "location is a Vertex AI region",
        {},
        ("error", "location", 'Unsupported region for Vertex AI: "moon-central1".'),
        location="moon-central1",
    ),
    case(
        "a region close to a Vertex AI region is named",
        {},
        (
            "error",
            "location",
            'Unsupported region for Vertex AI: "us-centrl1"; did you mean us-central1?',
        ),
        location="us-centrl1",
    ),
]


@pytest.mark.parametrize(("failing", "expected", "passing", "location"), CASES)
def test_rule(
    failing: dict[str, Any],
    expected: tuple[str, str, str],
    passing: dict[str, Any],
    location: str | None,
) -> None:
    bad = validate(changed(failing), location=location)
    assert expected in found(bad)
    assert bad.ok is (expected[0] != "error")
    good_location = "us-central1" if expected[1] == "location" else location
    assert found(validate(changed(passing), location=good_location)) == []


def test_every_region_the_sdk_lists_is_accepted() -> None:
    from google.cloud.aiplatform.constants import base

    for region in sorted(base.SUPPORTED_REGIONS):
        assert validate(changed({}), location=region).ok, region


def test_location_must_be_text() -> None:
    report = validate(changed({}), location=5)  # type: ignore[arg-type]
    assert found(report) == [("error", "location", "Invalid location 5: expected a string.")]
