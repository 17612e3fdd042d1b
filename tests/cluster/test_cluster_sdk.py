"""The environment read back the way training code reads it: through the SDK's own parser.

``google.cloud.aiplatform.training_utils.environment_variables`` reads ``os.environ``
when it is imported, so each replica's environment is given to a fresh Python
process that imports it and prints what it parsed. The expected values are
spelled out here from Vertex's documented shapes, not computed by cjob_emu.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest
from google.cloud.aiplatform_v1 import CustomJob, CustomJobSpec
from google.protobuf import json_format
from support.cluster_jobs import five_replica_job, pool, single_replica_job
from support.cluster_jobs import job as job_of

from cjob_emu.cluster import ClusterOptions, all_replica_envs

READ_AS_TRAINING_CODE = """
import json, os
from google.cloud.aiplatform.training_utils import environment_variables as ev
print(json.dumps({
    "cluster_spec": ev.cluster_spec,
    "tf_config": ev.tf_config,
    "model_dir": ev.model_dir,
    "checkpoint_dir": ev.checkpoint_dir,
    "tensorboard_log_dir": ev.tensorboard_log_dir,
    "tensorboard_resource_name": ev.tensorboard_resource_name,
    "tensorboard_api_uri": ev.tensorboard_api_uri,
    "cloud_ml_job_id": ev.cloud_ml_job_id,
    "torch": {k: os.environ.get(k) for k in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK")},
}))
"""

BASE = "gs://sdk-check/out"
TENSORBOARD = "projects/123456789012/locations/us-central1/tensorboards/77"
JOB_NAME = "projects/123456789012/locations/us-central1/customJobs/5556667778889990001"
HOST = re.compile(r"cmle-training-(workerpool[0-3])-([0-9a-f]{10})-(\d+):2222")
CONTAINER_JOB = {"python_module": "", "package_uris": [], "job_args": []}


def read_in_replica(env: dict[str, str]) -> dict[str, Any]:
    """What the SDK's parser sees in a process whose environment is ``env`` (plus PATH)."""
    proc = subprocess.run(
        [sys.executable, "-c", READ_AS_TRAINING_CODE],
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def distributed_job() -> CustomJob:
    return five_replica_job(
        name=JOB_NAME,
        baseOutputDirectory={"outputUriPrefix": BASE},
        tensorboard=TENSORBOARD,
    )


def parsed_spec(text: str) -> CustomJobSpec:
    spec = CustomJobSpec()
    json_format.Parse(text, CustomJobSpec.pb(spec))
    return spec


@pytest.fixture(scope="module")
def five_replicas_seen() -> dict[str, dict[str, Any]]:
    envs = all_replica_envs(distributed_job())
    return {name: read_in_replica(env) for name, env in envs.items()}


def test_sdk_reads_every_replica_of_a_five_replica_job(
    five_replicas_seen: dict[str, dict[str, Any]],
) -> None:
    assert list(five_replicas_seen) == [
        "workerpool0-0",
        "workerpool1-0",
        "workerpool1-1",
        "workerpool2-0",
        "workerpool3-0",
    ]
    first = five_replicas_seen["workerpool0-0"]["cluster_spec"]["cluster"]
    hosts = [HOST.fullmatch(h) for members in first.values() for h in members]
    assert all(hosts)
    digests = {m[2] for m in hosts if m}
    assert len(digests) == 1
    h = digests.pop()
    cluster = {
        "workerpool0": [f"cmle-training-workerpool0-{h}-0:2222"],
        "workerpool1": [
            f"cmle-training-workerpool1-{h}-0:2222",
            f"cmle-training-workerpool1-{h}-1:2222",
        ],
        "workerpool2": [f"cmle-training-workerpool2-{h}-0:2222"],
        "workerpool3": [f"cmle-training-workerpool3-{h}-0:2222"],
    }
    tf_cluster = {
        "chief": cluster["workerpool0"],
        "worker": cluster["workerpool1"],
        "ps": cluster["workerpool2"],
    }
    roles = {
        "workerpool0-0": ("workerpool0", 0, "chief", "0"),
        "workerpool1-0": ("workerpool1", 0, "worker", "1"),
        "workerpool1-1": ("workerpool1", 1, "worker", "2"),
        "workerpool2-0": ("workerpool2", 0, "ps", "3"),
        "workerpool3-0": ("workerpool3", 0, "evaluator", None),
    }
    for name, seen in five_replicas_seen.items():
        pool_type, index, role, rank = roles[name]
        cs, tf = seen["cluster_spec"], seen["tf_config"]
        assert cs["cluster"] == cluster
        assert cs["environment"] == "cloud"
        assert cs["task"] == {"type": pool_type, "index": index}
        assert json.loads(cs["job"]) == CONTAINER_JOB
        assert tf["cluster"] == tf_cluster
        assert tf["task"] == {"type": role, "index": index}
        assert tf["environment"] == "cloud"
        assert json.loads(tf["job"]) == CONTAINER_JOB
        assert seen["model_dir"] == f"{BASE}/model/"
        assert seen["checkpoint_dir"] == f"{BASE}/checkpoints/"
        assert seen["tensorboard_log_dir"] == f"{BASE}/logs/"
        assert seen["tensorboard_resource_name"] == TENSORBOARD
        assert seen["tensorboard_api_uri"] == "aiplatform.googleapis.com"
        assert seen["cloud_ml_job_id"] == "5556667778889990001"
        if rank is None:
            assert seen["torch"] == dict.fromkeys(
                ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK")
            )
        else:
            assert seen["torch"] == {
                "MASTER_ADDR": f"cmle-training-workerpool0-{h}-0",
                "MASTER_PORT": "2222",
                "WORLD_SIZE": "4",
                "RANK": rank,
            }


def test_sdk_reads_a_single_replica_job() -> None:
    job = single_replica_job(baseOutputDirectory={"outputUriPrefix": BASE + "/"})
    envs = all_replica_envs(job)
    assert list(envs) == ["workerpool0-0"]
    seen = read_in_replica(envs["workerpool0-0"])
    cs = seen["cluster_spec"]
    (host,) = cs["cluster"]["workerpool0"]
    assert HOST.fullmatch(host)
    assert list(cs["cluster"]) == ["workerpool0"]
    assert cs["task"] == {"type": "workerpool0", "index": 0}
    assert cs["environment"] == "cloud"
    assert json.loads(cs["job"]) == CONTAINER_JOB
    assert seen["tf_config"] is None
    assert seen["model_dir"] == f"{BASE}/model/"
    assert seen["checkpoint_dir"] == f"{BASE}/checkpoints/"
    assert seen["tensorboard_log_dir"] == f"{BASE}/logs/"
    assert seen["tensorboard_resource_name"] is None
    assert seen["tensorboard_api_uri"] is None
    assert re.fullmatch(r"[1-9]\d{18}", seen["cloud_ml_job_id"])
    assert set(seen["torch"].values()) == {None}


def test_sdk_reads_a_tuning_trial_and_a_job_object() -> None:
    job = five_replica_job(baseOutputDirectory={"outputUriPrefix": BASE})
    options = ClusterOptions(cluster_spec_job_as="object", run_id="trial-run")
    env = all_replica_envs(job, trial="3", options=options)["workerpool1-1"]
    seen = read_in_replica(env)
    assert seen["cluster_spec"]["task"] == {"type": "workerpool1", "index": 1, "trial": "3"}
    assert seen["tf_config"]["task"] == {"type": "worker", "index": 1}
    for parsed in (seen["cluster_spec"]["job"], seen["tf_config"]["job"]):
        spec = CustomJobSpec()
        json_format.ParseDict(parsed, CustomJobSpec.pb(spec))
        assert spec == job.job_spec
    assert seen["model_dir"] == f"{BASE}/3/model/"
    assert seen["checkpoint_dir"] == f"{BASE}/3/checkpoints/"
    assert seen["tensorboard_log_dir"] == f"{BASE}/3/logs/"


def reduction_server_package_job() -> CustomJob:
    """A Python package chief, one container worker, two Reduction Server reducers."""
    chief = {
        "machineSpec": {"machineType": "n1-standard-4"},
        "replicaCount": "1",
        "pythonPackageSpec": {
            "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/pytorch-xla.2-1.py310:latest",
            "packageUris": ["gs://sdk-check/trainer-0.1.tar.gz"],
            "pythonModule": "trainer.task",
            "args": ["--epochs=3", "--name=a<b&c"],
        },
    }
    return job_of(
        chief,
        pool(1),
        pool(2, image="us-docker.pkg.dev/vertex-ai-restricted/training/reductionserver:latest"),
    )


def test_sdk_reads_every_replica_of_a_package_job_with_reducers() -> None:
    envs = all_replica_envs(reduction_server_package_job())
    seen = {name: read_in_replica(env) for name, env in envs.items()}
    assert list(seen) == ["workerpool0-0", "workerpool1-0", "workerpool2-0", "workerpool2-1"]
    chief_job = {
        "python_module": "trainer.task",
        "package_uris": ["gs://sdk-check/trainer-0.1.tar.gz"],
        "job_args": ["--epochs=3", "--name=a<b&c"],
    }
    jobs = {"workerpool0-0": chief_job}
    roles = {
        "workerpool0-0": ("chief", 0, "0"),
        "workerpool1-0": ("worker", 0, "1"),
        "workerpool2-0": ("ps", 0, None),
        "workerpool2-1": ("ps", 1, None),
    }
    for name, replica in seen.items():
        role, index, rank = roles[name]
        cs, tf = replica["cluster_spec"], replica["tf_config"]
        assert list(cs["cluster"]) == ["workerpool0", "workerpool1", "workerpool2"]
        assert len(cs["cluster"]["workerpool2"]) == 2
        assert cs["task"] == {"type": f"workerpool{name[10]}", "index": index}
        assert json.loads(cs["job"]) == jobs.get(name, CONTAINER_JOB)
        assert tf["cluster"]["ps"] == cs["cluster"]["workerpool2"]
        assert tf["task"] == {"type": role, "index": index}
        assert json.loads(tf["job"]) == json.loads(cs["job"])
        torch = replica["torch"]
        if rank is None:
            assert set(torch.values()) == {None}
        else:
            assert (torch["WORLD_SIZE"], torch["RANK"]) == ("2", rank)


def test_sdk_reads_the_spec_string_option() -> None:
    job = five_replica_job(baseOutputDirectory={"outputUriPrefix": BASE})
    options = ClusterOptions(cluster_spec_job_as="string")
    seen = read_in_replica(all_replica_envs(job, options=options)["workerpool2-0"])
    assert parsed_spec(seen["cluster_spec"]["job"]) == job.job_spec
    assert parsed_spec(seen["tf_config"]["job"]) == job.job_spec
