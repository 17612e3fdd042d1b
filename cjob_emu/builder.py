"""Typed construction of CustomJob messages.

Every function returns ``google.cloud.aiplatform_v1`` messages, so the result
goes unchanged to the SDK, to the REST API (:func:`cjob_emu.spec.job_to_rest`)
or to GCPC (:func:`cjob_emu.spec.worker_pool_specs`). Nothing is validated
here: build freely, then call :func:`cjob_emu.validate.validate`.

>>> chief = container_pool("gcr.io/p/trainer:1", command=["python", "-m", "train"],
...                        machine_type="n1-highmem-8")
>>> workers = container_pool("gcr.io/p/trainer:1", command=["python", "-m", "train"],
...                          replica_count=4)
>>> job = distributed_job("mnist", chief=chief, workers=workers)
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

import proto
from google.cloud.aiplatform_v1 import (
    AcceleratorType,
    ContainerSpec,
    CustomJob,
    CustomJobSpec,
    DiskSpec,
    EncryptionSpec,
    EnvVar,
    GcsDestination,
    MachineSpec,
    PythonPackageSpec,
    Scheduling,
    WorkerPoolSpec,
)

from cjob_emu.errors import InputError

Duration = str | int | float | datetime.timedelta
"""A duration: ``"3600s"``, seconds as a number, or a ``timedelta``."""

EnvLike = Mapping[str, str] | Iterable[tuple[str, str]] | None
"""Environment variables: a mapping or (name, value) pairs, order kept."""

DEFAULT_MACHINE_TYPE = "n1-standard-4"

_E = TypeVar("_E", bound=proto.Enum)


def machine(
    machine_type: str = DEFAULT_MACHINE_TYPE,
    *,
    accelerator_type: str | int | None = None,
    accelerator_count: int = 0,
) -> MachineSpec:
    """A MachineSpec; ``accelerator_type`` is an ``AcceleratorType`` name or number."""
    spec = MachineSpec(machine_type=machine_type)
    if accelerator_type is not None:
        spec.accelerator_type = _enum(AcceleratorType, accelerator_type, "accelerator_type")
        spec.accelerator_count = accelerator_count or 1
    elif accelerator_count:
        spec.accelerator_count = accelerator_count
    return spec


def container_pool(
    image_uri: str,
    *,
    command: Sequence[str] = (),
    args: Sequence[str] = (),
    env: EnvLike = None,
    replica_count: int = 1,
    machine_type: str = DEFAULT_MACHINE_TYPE,
    accelerator_type: str | int | None = None,
    accelerator_count: int = 0,
    boot_disk_type: str | None = None,
    boot_disk_size_gb: int | None = None,
) -> WorkerPoolSpec:
    """A worker pool running a container; ``command`` replaces the image's ENTRYPOINT."""
    return WorkerPoolSpec(
        container_spec=ContainerSpec(
            image_uri=image_uri, command=list(command), args=list(args), env=_env(env)
        ),
        machine_spec=machine(
            machine_type, accelerator_type=accelerator_type, accelerator_count=accelerator_count
        ),
        replica_count=replica_count,
        disk_spec=_disk(boot_disk_type, boot_disk_size_gb),
    )


def python_package_pool(
    executor_image_uri: str,
    package_uris: Sequence[str],
    python_module: str,
    *,
    args: Sequence[str] = (),
    env: EnvLike = None,
    replica_count: int = 1,
    machine_type: str = DEFAULT_MACHINE_TYPE,
    accelerator_type: str | int | None = None,
    accelerator_count: int = 0,
    boot_disk_type: str | None = None,
    boot_disk_size_gb: int | None = None,
) -> WorkerPoolSpec:
    """A worker pool that installs Python packages in an executor image and runs a module."""
    return WorkerPoolSpec(
        python_package_spec=PythonPackageSpec(
            executor_image_uri=executor_image_uri,
            package_uris=list(package_uris),
            python_module=python_module,
            args=list(args),
            env=_env(env),
        ),
        machine_spec=machine(
            machine_type, accelerator_type=accelerator_type, accelerator_count=accelerator_count
        ),
        replica_count=replica_count,
        disk_spec=_disk(boot_disk_type, boot_disk_size_gb),
    )


def with_replicas(pool: WorkerPoolSpec, replica_count: int) -> WorkerPoolSpec:
    """A copy of ``pool`` with another replica count."""
    copy = WorkerPoolSpec()
    WorkerPoolSpec.copy_from(copy, pool)
    copy.replica_count = replica_count
    return copy


def custom_job(
    display_name: str,
    pools: Sequence[WorkerPoolSpec | None],
    *,
    timeout: Duration | None = None,
    strategy: str | int | None = None,
    restart_job_on_worker_restart: bool = False,
    max_wait_duration: Duration | None = None,
    service_account: str | None = None,
    network: str | None = None,
    base_output_directory: str | None = None,
    labels: Mapping[str, str] | None = None,
    tensorboard: str | None = None,
    encryption_key: str | None = None,
    enable_web_access: bool = False,
    experiment: str | None = None,
    experiment_run: str | None = None,
) -> CustomJob:
    """A CustomJob from its pools in order (chief, workers, ps, evaluator).

    ``None`` in ``pools`` is a skipped pool, sent as ``{}`` as Vertex expects,
    so the pools after it keep their roles. ``strategy`` is a
    ``Scheduling.Strategy`` name (``"SPOT"``, ``"FLEX_START"``...) or number.
    """
    spec = CustomJobSpec(
        worker_pool_specs=[pool if pool is not None else WorkerPoolSpec() for pool in pools],
        service_account=service_account or "",
        network=network or "",
        tensorboard=tensorboard or "",
        enable_web_access=enable_web_access,
        experiment=experiment or "",
        experiment_run=experiment_run or "",
    )
    if base_output_directory:
        spec.base_output_directory = GcsDestination(output_uri_prefix=base_output_directory)
    scheduling = Scheduling(restart_job_on_worker_restart=restart_job_on_worker_restart)
    if timeout is not None:
        scheduling.timeout = _duration(timeout)
    if max_wait_duration is not None:
        scheduling.max_wait_duration = _duration(max_wait_duration)
    if strategy is not None:
        scheduling.strategy = _enum(Scheduling.Strategy, strategy, "strategy")
    if scheduling != Scheduling():
        spec.scheduling = scheduling
    job = CustomJob(display_name=display_name, job_spec=spec, labels=dict(labels or {}))
    if encryption_key:
        job.encryption_spec = EncryptionSpec(kms_key_name=encryption_key)
    return job


def single_replica_job(display_name: str, pool: WorkerPoolSpec, **options: object) -> CustomJob:
    """A job of one replica; ``options`` are :func:`custom_job`'s keywords."""
    return custom_job(display_name, [with_replicas(pool, 1)], **options)  # type: ignore[arg-type]


def distributed_job(
    display_name: str,
    *,
    chief: WorkerPoolSpec,
    workers: WorkerPoolSpec | None = None,
    parameter_servers: WorkerPoolSpec | None = None,
    evaluator: WorkerPoolSpec | None = None,
    **options: object,
) -> CustomJob:
    """Chief (pool 0, one replica) + workers (pool 1) + parameter servers (pool 2) +
    evaluator (pool 3), each with its own machine, image and replica count.

    Pools left out before the last given one are sent empty so roles stay put;
    ``options`` are :func:`custom_job`'s keywords.
    """
    pools: list[WorkerPoolSpec | None] = [
        with_replicas(chief, 1),
        workers,
        parameter_servers,
        evaluator,
    ]
    while pools[-1] is None:
        pools.pop()
    return custom_job(display_name, pools, **options)  # type: ignore[arg-type]


def _enum(enum: type[_E], value: str | int, field: str) -> _E:
    """An enum member from its name or number; unknown ones are refused with the choices."""
    try:
        return enum[value] if isinstance(value, str) else enum(value)
    except (KeyError, ValueError):
        choices = ", ".join(member.name for member in enum)
        raise InputError(f"{field}: unknown value {value!r}; choose one of {choices}") from None


def _env(env: EnvLike) -> list[EnvVar]:
    if env is None:
        return []
    pairs = env.items() if isinstance(env, Mapping) else env
    return [EnvVar(name=name, value=value) for name, value in pairs]


def _disk(boot_disk_type: str | None, boot_disk_size_gb: int | None) -> DiskSpec | None:
    if boot_disk_type is None and boot_disk_size_gb is None:
        return None
    return DiskSpec(boot_disk_type=boot_disk_type or "", boot_disk_size_gb=boot_disk_size_gb or 0)


def _duration(value: Duration) -> datetime.timedelta | str:
    if isinstance(value, (int, float)):
        return datetime.timedelta(seconds=value)
    return value
