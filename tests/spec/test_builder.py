"""The typed builder produces messages the SDK, REST and GCPC accept."""

from __future__ import annotations

import datetime

from google.cloud.aiplatform_v1 import AcceleratorType, Scheduling, WorkerPoolSpec

from cjob_emu.builder import (
    container_pool,
    custom_job,
    distributed_job,
    machine,
    python_package_pool,
    single_replica_job,
    with_replicas,
)
from cjob_emu.spec import job_to_rest, load_job, worker_pool_specs

IMAGE = "us-docker.pkg.dev/my-project/trainers/t:1"


def test_distributed_job_has_a_machine_per_pool_and_keeps_roles() -> None:
    job = distributed_job(
        "d",
        chief=container_pool(IMAGE, machine_type="n1-highmem-8", replica_count=5),
        workers=container_pool(IMAGE, machine_type="n1-standard-8", replica_count=3),
        evaluator=container_pool(IMAGE, machine_type="e2-standard-4"),
    )
    pools = job.job_spec.worker_pool_specs
    assert [p.machine_spec.machine_type for p in pools] == [
        "n1-highmem-8",
        "n1-standard-8",
        "",
        "e2-standard-4",
    ]
    assert [p.replica_count for p in pools] == [1, 3, 0, 1]  # chief forced to one replica
    assert pools[2] == WorkerPoolSpec()
    assert worker_pool_specs(job)[2] == {}


def test_distributed_job_drops_trailing_missing_pools() -> None:
    job = distributed_job("d", chief=container_pool(IMAGE), workers=container_pool(IMAGE))
    assert len(job.job_spec.worker_pool_specs) == 2


def test_every_job_field() -> None:
    job = custom_job(
        "all",
        [
            container_pool(
                IMAGE,
                command=["python"],
                args=["-m", "t"],
                env={"A": "1", "B": "$(A)"},
                accelerator_type="NVIDIA_TESLA_T4",
                accelerator_count=2,
                boot_disk_type="pd-standard",
                boot_disk_size_gb=250,
            )
        ],
        timeout=3600,
        strategy="FLEX_START",
        restart_job_on_worker_restart=True,
        max_wait_duration=datetime.timedelta(minutes=30),
        service_account="sa@p.iam.gserviceaccount.com",
        network="projects/1/global/networks/n",
        base_output_directory="gs://b/out",
        labels={"team": "ml"},
        tensorboard="projects/1/locations/us-central1/tensorboards/2",
        encryption_key="projects/p/locations/l/keyRings/r/cryptoKeys/k",
        enable_web_access=True,
    )
    rest = job_to_rest(job)
    spec = rest["jobSpec"]
    assert spec["scheduling"] == {
        "timeout": "3600s",
        "strategy": "FLEX_START",
        "restartJobOnWorkerRestart": True,
        "maxWaitDuration": "1800s",
    }
    assert spec["baseOutputDirectory"] == {"outputUriPrefix": "gs://b/out"}
    assert rest["encryptionSpec"] == {
        "kmsKeyName": "projects/p/locations/l/keyRings/r/cryptoKeys/k"
    }
    pool = spec["workerPoolSpecs"][0]
    assert pool["machineSpec"] == {
        "machineType": "n1-standard-4",
        "acceleratorType": "NVIDIA_TESLA_T4",
        "acceleratorCount": 2,
    }
    assert pool["diskSpec"] == {"bootDiskType": "pd-standard", "bootDiskSizeGb": 250}
    assert pool["containerSpec"]["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "$(A)"},
    ]
    assert load_job(rest) == job


def test_python_package_pool() -> None:
    pool = python_package_pool(
        "exec:img", ["gs://b/p.tar.gz"], "trainer.task", args=["--x"], replica_count=2
    )
    assert pool.python_package_spec.python_module == "trainer.task"
    assert list(pool.python_package_spec.package_uris) == ["gs://b/p.tar.gz"]
    assert pool.replica_count == 2
    assert not WorkerPoolSpec.pb(pool).HasField("container_spec")


def test_single_replica_job_and_with_replicas_copy() -> None:
    pool = container_pool(IMAGE, replica_count=4)
    job = single_replica_job("one", pool, timeout="60s")
    assert job.job_spec.worker_pool_specs[0].replica_count == 1
    assert pool.replica_count == 4  # the caller's pool is not changed
    assert with_replicas(pool, 7).replica_count == 7
    assert job.job_spec.scheduling.timeout == datetime.timedelta(seconds=60)


def test_machine_defaults_count_to_one_with_a_type() -> None:
    spec = machine("g2-standard-4", accelerator_type="NVIDIA_L4")
    assert spec.accelerator_count == 1
    assert spec.accelerator_type == AcceleratorType.NVIDIA_L4


def test_no_scheduling_unless_asked() -> None:
    job = custom_job("x", [container_pool(IMAGE)])
    assert "scheduling" not in job_to_rest(job)["jobSpec"]
    assert job.job_spec.scheduling == Scheduling()


def test_unknown_enum_name_lists_the_choices() -> None:
    import pytest

    from cjob_emu.errors import InputError

    with pytest.raises(
        InputError, match=r"accelerator_type: unknown value 'TESLA_T4'.*NVIDIA_TESLA_T4"
    ):
        machine("n1-standard-4", accelerator_type="TESLA_T4")
    with pytest.raises(InputError, match=r"strategy: unknown value 'CHEAP'.*SPOT"):
        custom_job("x", [container_pool(IMAGE)], strategy="CHEAP")
