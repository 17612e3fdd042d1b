"""The replica environment held against what real Vertex jobs showed.

Expected values are the texts of the "Observed on real Vertex" table of the project's
reference (vertex-customjob.md), written out here, not computed by cjob_emu: the
compact CLUSTER_SPEC in the order cluster, environment, task, job; the legacy trainer
JSON in ``job`` and CLOUD_ML_JOB; CLOUD_ML_JOB_SA; AIP_USE_CUSTOM_CONTAINER; and
Reduction Server reducers kept out of the PyTorch world.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.cluster_jobs import job, pool

from cjob_emu.cluster import ClusterOptions, Replica, all_replica_envs, replica_env
from cjob_emu.cluster.vertex_job import REDUCTION_SERVER_IMAGE, is_reduction_server_pool

NAME = "projects/987654321/locations/europe-west4/customJobs/4242424242424242424"
CONTAINER_JOB = '{"python_module":"","package_uris":[],"job_args":[]}'
REDUCER_IMAGE = "us-docker.pkg.dev/vertex-ai-restricted/training/reductionserver:latest"
TORCH = ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK")


def fixed(replica: Replica) -> str:
    return f"h{replica.pool}-{replica.index}:2222"


def package_pool(count: int, *args: str) -> dict[str, Any]:
    return {
        "machineSpec": {"machineType": "n1-standard-4"},
        "replicaCount": str(count),
        "pythonPackageSpec": {
            "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-12.py310:latest",
            "packageUris": ["gs://b/trainer-0.1.tar.gz", "gs://b/extra-1.0.tar.gz"],
            "pythonModule": "trainer.task",
            "args": list(args),
        },
    }


def reduction_server_job(image: str = REDUCER_IMAGE) -> Any:
    """Chief, two workers and two reducers (pool 2), as Vertex's Reduction Server docs lay out."""
    return job(pool(1), pool(2), pool(2, image=image))


# --- CLUSTER_SPEC and TF_CONFIG text ---------------------------------------------------


def test_cluster_spec_text_is_compact_in_vertex_key_order() -> None:
    env = replica_env(job(pool(1), name=NAME), Replica(0, 0), address=fixed)
    assert env["CLUSTER_SPEC"] == (
        '{"cluster":{"workerpool0":["h0-0:2222"]},"environment":"cloud",'
        '"task":{"type":"workerpool0","index":0},'
        '"job":"{\\"python_module\\":\\"\\",\\"package_uris\\":[],\\"job_args\\":[]}"}'
    )


def test_tf_config_text_is_compact_with_the_same_job() -> None:
    env = replica_env(job(pool(1), pool(1), name=NAME), Replica(1, 0), address=fixed)
    assert env["TF_CONFIG"] == (
        '{"cluster":{"chief":["h0-0:2222"],"worker":["h1-0:2222"]},"environment":"cloud",'
        '"task":{"type":"worker","index":0},'
        '"job":"{\\"python_module\\":\\"\\",\\"package_uris\\":[],\\"job_args\\":[]}"}'
    )


def test_trial_only_in_cluster_spec_task_during_tuning() -> None:
    env = replica_env(job(pool(1), pool(1)), Replica(1, 0), trial="4", address=fixed)
    assert json.loads(env["CLUSTER_SPEC"])["task"] == {
        "type": "workerpool1",
        "index": 0,
        "trial": "4",
    }
    assert json.loads(env["TF_CONFIG"])["task"] == {"type": "worker", "index": 0}
    outside = replica_env(job(pool(1), pool(1)), Replica(1, 0), address=fixed)
    assert '"trial"' not in outside["CLUSTER_SPEC"] + outside["TF_CONFIG"]


# --- CLOUD_ML_JOB and CLUSTER_SPEC.job ---------------------------------------------------


def test_container_pool_job_is_the_empty_trainer_json() -> None:
    env = replica_env(job(pool(1), name=NAME), Replica(0, 0))
    assert env["CLOUD_ML_JOB"] == CONTAINER_JOB
    assert json.loads(env["CLUSTER_SPEC"])["job"] == CONTAINER_JOB


def test_python_package_pool_job_names_module_packages_and_args() -> None:
    env = replica_env(job(package_pool(1, "--epochs=3", "--lr", "0.1")), Replica(0, 0))
    assert env["CLOUD_ML_JOB"] == (
        '{"python_module":"trainer.task",'
        '"package_uris":["gs://b/trainer-0.1.tar.gz","gs://b/extra-1.0.tar.gz"],'
        '"job_args":["--epochs\\u003d3","--lr","0.1"]}'
    )
    assert json.loads(env["CLOUD_ML_JOB"])["job_args"] == ["--epochs=3", "--lr", "0.1"]
    assert json.loads(env["CLUSTER_SPEC"])["job"] == env["CLOUD_ML_JOB"]


def test_each_replica_is_told_about_its_own_pool() -> None:
    envs = all_replica_envs(job(package_pool(1, "--role=chief"), pool(1)))
    assert json.loads(envs["workerpool0-0"]["CLOUD_ML_JOB"])["job_args"] == ["--role=chief"]
    assert envs["workerpool1-0"]["CLOUD_ML_JOB"] == CONTAINER_JOB


def test_spec_string_and_object_options_keep_cloud_ml_job_equal_to_the_job_key() -> None:
    j = job(pool(1), pool(1))
    as_object = replica_env(j, Replica(0, 0), options=ClusterOptions(cluster_spec_job_as="object"))
    spec = json.loads(as_object["CLUSTER_SPEC"])["job"]
    assert spec["workerPoolSpecs"][1]["replicaCount"] == "1"
    assert json.loads(as_object["CLOUD_ML_JOB"]) == spec
    as_string = replica_env(j, Replica(0, 0), options=ClusterOptions(cluster_spec_job_as="string"))
    assert as_string["CLOUD_ML_JOB"] == json.loads(as_string["CLUSTER_SPEC"])["job"]
    assert json.loads(as_string["CLOUD_ML_JOB"]) == spec


# --- service account and container flag -------------------------------------------------


def test_run_as_account_is_the_service_agent_of_the_project_number() -> None:
    env = replica_env(job(pool(1), name=NAME), Replica(0, 0))
    assert env["CLOUD_ML_JOB_SA"] == (
        "service-987654321@gcp-sa-aiplatform-cc.iam.gserviceaccount.com"
    )
    assert env["CLOUD_ML_PROJECT_ID"] == "987654321"
    fake = replica_env(job(pool(1)), Replica(0, 0))
    assert fake["CLOUD_ML_JOB_SA"] == (
        "service-123456789012@gcp-sa-aiplatform-cc.iam.gserviceaccount.com"
    )
    chosen = replica_env(job(pool(1)), Replica(0, 0), options=ClusterOptions(project_number="55"))
    assert chosen["CLOUD_ML_JOB_SA"] == "service-55@gcp-sa-aiplatform-cc.iam.gserviceaccount.com"


def test_run_as_account_is_the_jobs_own_when_set() -> None:
    account = "trainer@my-project.iam.gserviceaccount.com"
    env = replica_env(job(pool(1), serviceAccount=account), Replica(0, 0))
    assert env["CLOUD_ML_JOB_SA"] == account


def test_custom_container_flag_on_container_pools_only() -> None:
    envs = all_replica_envs(job(pool(1), package_pool(1)))
    assert envs["workerpool0-0"]["AIP_USE_CUSTOM_CONTAINER"] == "true"
    assert "AIP_USE_CUSTOM_CONTAINER" not in envs["workerpool1-0"]


# --- Reduction Server --------------------------------------------------------------------


def test_reducers_are_not_in_the_torch_world() -> None:
    envs = all_replica_envs(reduction_server_job(), address=fixed)
    world = {name: {k: env[k] for k in TORCH} for name, env in envs.items() if "RANK" in env}
    assert world == {
        "workerpool0-0": {
            "MASTER_ADDR": "h0-0",
            "MASTER_PORT": "2222",
            "WORLD_SIZE": "3",
            "RANK": "0",
        },
        "workerpool1-0": {
            "MASTER_ADDR": "h0-0",
            "MASTER_PORT": "2222",
            "WORLD_SIZE": "3",
            "RANK": "1",
        },
        "workerpool1-1": {
            "MASTER_ADDR": "h0-0",
            "MASTER_PORT": "2222",
            "WORLD_SIZE": "3",
            "RANK": "2",
        },
    }
    for reducer in ("workerpool2-0", "workerpool2-1"):
        assert not set(TORCH) & set(envs[reducer])


def test_reducers_stay_in_cluster_spec_and_are_ps_in_tf_config() -> None:
    envs = all_replica_envs(reduction_server_job(), address=fixed)
    for env in envs.values():
        assert json.loads(env["CLUSTER_SPEC"])["cluster"]["workerpool2"] == [
            "h2-0:2222",
            "h2-1:2222",
        ]
        assert json.loads(env["TF_CONFIG"])["cluster"]["ps"] == ["h2-0:2222", "h2-1:2222"]
    assert json.loads(envs["workerpool2-1"]["TF_CONFIG"])["task"] == {"type": "ps", "index": 1}


def test_another_image_in_pool_2_is_a_parameter_server_in_the_world() -> None:
    envs = all_replica_envs(reduction_server_job("us-docker.pkg.dev/p/r/ps:1"))
    assert {env["WORLD_SIZE"] for env in envs.values()} == {"5"}
    assert envs["workerpool2-1"]["RANK"] == "4"


@pytest.mark.parametrize(
    ("image", "pool_index", "expected"),
    [
        (REDUCER_IMAGE, 2, True),
        (REDUCTION_SERVER_IMAGE, 2, True),
        (f"{REDUCTION_SERVER_IMAGE}:20231011", 2, True),
        (f"{REDUCTION_SERVER_IMAGE}@sha256:{'a' * 64}", 2, True),
        (REDUCER_IMAGE, 1, False),
        ("us-docker.pkg.dev/vertex-ai-restricted/training/reductionserver2:latest", 2, False),
        ("us-docker.pkg.dev/p/r/ps:1", 2, False),
    ],
)
def test_which_pool_holds_reducers(image: str, pool_index: int, expected: bool) -> None:
    pools = [pool(1), pool(1), pool(1)]
    pools[pool_index] = pool(1, image=image)
    assert is_reduction_server_pool(job(*pools), pool_index) is expected


def test_a_python_package_pool_2_holds_no_reducers() -> None:
    assert is_reduction_server_pool(job(pool(1), pool(1), package_pool(1)), 2) is False
    assert is_reduction_server_pool(job(pool(1)), 2) is False
