"""Replicas, hostnames and the environment every replica of a CustomJob sees."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from google.cloud.aiplatform_v1 import CustomJob, CustomJobSpec
from google.protobuf import json_format
from support.cluster_jobs import five_replica_job, job, pool, single_replica_job

from cjob_emu.cluster import (
    ClusterOptions,
    Replica,
    all_replica_envs,
    cluster_spec,
    expand_env_value,
    hostname_hash,
    parse_replica_name,
    replica_by_name,
    replica_env,
    replicas,
    tf_config,
    vertex_hostname,
)
from cjob_emu.errors import CjobEmuError, InputError

HOST = re.compile(r"cmle-training-workerpool(?P<pool>[0-3])-(?P<hash>[0-9a-f]{10})-(?P<index>\d+)")

# What TensorFlow accepts in TF_CONFIG (tf.distribute.cluster_resolver.TFConfigClusterResolver
# and the multi-worker guides): the cluster holds only chief, worker and ps jobs, each a
# non-empty list of distinct "host:port" strings, at most one chief; the task's type is a
# job in the cluster, except "evaluator", which TensorFlow runs outside the cluster; the
# index is within that job's list (an evaluator's within the evaluators Vertex started).
TF_CLUSTER_JOBS = {"chief", "worker", "ps"}


def check_tf_config(tf: dict[str, Any], evaluators: int) -> None:
    cluster, task = tf["cluster"], tf["task"]
    assert set(cluster) <= TF_CLUSTER_JOBS
    assert "evaluator" not in cluster
    addresses = [a for members in cluster.values() for a in members]
    assert all(members for members in cluster.values())
    assert len(addresses) == len(set(addresses))
    assert all(re.fullmatch(r"[^:\s]+:\d+", a) for a in addresses)
    assert len(cluster.get("chief", [])) <= 1
    assert isinstance(task["index"], int)
    if task["type"] == "evaluator":
        assert 0 <= task["index"] < evaluators
    else:
        assert task["type"] in cluster
        assert 0 <= task["index"] < len(cluster[task["type"]])
    assert tf["environment"] == "cloud"


def env_json(env: dict[str, str], key: str) -> Any:
    return json.loads(env[key])


# --- replicas and names ---------------------------------------------------------------


def test_replicas_of_a_five_replica_job_in_vertex_order() -> None:
    found = replicas(five_replica_job())
    assert [r.name for r in found] == [
        "workerpool0-0",
        "workerpool1-0",
        "workerpool1-1",
        "workerpool2-0",
        "workerpool3-0",
    ]
    assert [r.role for r in found] == ["chief", "worker", "worker", "ps", "evaluator"]
    assert [r.pool_name for r in found] == [
        "workerpool0",
        "workerpool1",
        "workerpool1",
        "workerpool2",
        "workerpool3",
    ]
    assert [r.is_primary for r in found] == [True, False, False, False, False]
    assert found == sorted(found)


def test_skipped_middle_pool_keeps_later_pools_roles() -> None:
    found = replicas(job(pool(1), {}, pool(2)))
    assert [(r.name, r.role) for r in found] == [
        ("workerpool0-0", "chief"),
        ("workerpool2-0", "ps"),
        ("workerpool2-1", "ps"),
    ]
    evaluator_only = replicas(job(pool(1), {}, {}, pool(1)))
    assert [(r.name, r.role) for r in evaluator_only] == [
        ("workerpool0-0", "chief"),
        ("workerpool3-0", "evaluator"),
    ]


def test_more_than_four_pools_is_an_input_error() -> None:
    with pytest.raises(InputError, match="at most 4"):
        replicas(job(pool(1), pool(1), pool(1), pool(1), pool(1)))


def test_negative_replica_count_is_an_input_error() -> None:
    bad = job(pool(1), pool(1))
    bad.job_spec.worker_pool_specs[1].replica_count = -2
    with pytest.raises(InputError, match=r"worker_pool_specs\[1\].replica_count"):
        replicas(bad)


@pytest.mark.parametrize(
    ("name", "replica"),
    [
        ("workerpool0-0", Replica(0, 0)),
        ("workerpool1-0", Replica(1, 0)),
        ("workerpool1-12", Replica(1, 12)),
        ("workerpool3-0", Replica(3, 0)),
    ],
)
def test_parse_replica_name_round_trips(name: str, replica: Replica) -> None:
    assert parse_replica_name(name) == replica
    assert replica.name == name
    assert str(replica) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "workerpool4-0",
        "workerpool1",
        "workerpool1-",
        "workerpool-1",
        "workerpool01-0",
        "workerpool1-01",
        "workerpool1--1",
        "workerpool1-0 ",
        "WorkerPool1-0",
        "worker1-0",
        "chief",
        "workerpool1-x",
        "workerpool1_0",
    ],
)
def test_bad_replica_names_raise_input_error(name: str) -> None:
    with pytest.raises(InputError, match="workerpool<N>-<i>"):
        parse_replica_name(name)


def test_replica_by_name_names_the_replicas_the_job_has() -> None:
    j = job(pool(1), pool(2))
    assert replica_by_name(j, "workerpool1-1") == Replica(1, 1)
    with pytest.raises(InputError, match="workerpool0-0, workerpool1-0, workerpool1-1"):
        replica_by_name(j, "workerpool1-2")
    with pytest.raises(InputError, match="no replica workerpool2-0"):
        replica_by_name(j, "workerpool2-0")


# --- hostnames --------------------------------------------------------------------------


def test_vertex_hostnames_share_one_hash_and_carry_pool_and_index() -> None:
    j = five_replica_job()
    names = [vertex_hostname(j, r) for r in replicas(j)]
    parsed = [HOST.fullmatch(n) for n in names]
    assert all(parsed)
    assert {m["hash"] for m in parsed if m} == {hostname_hash(j)}
    assert [(int(m["pool"]), int(m["index"])) for m in parsed if m] == [
        (r.pool, r.index) for r in replicas(j)
    ]


def test_hostname_hash_is_deterministic_and_follows_run_id_then_job_name() -> None:
    a = five_replica_job()
    assert hostname_hash(a) == hostname_hash(five_replica_job())
    assert hostname_hash(a, ClusterOptions(run_id="run-1")) != hostname_hash(
        a, ClusterOptions(run_id="run-2")
    )
    named = job(pool(1), name="projects/1/locations/us-central1/customJobs/1")
    other = job(pool(1), name="projects/1/locations/us-central1/customJobs/2")
    assert hostname_hash(named) != hostname_hash(other)
    assert hostname_hash(named, ClusterOptions(run_id="r")) == hostname_hash(
        other, ClusterOptions(run_id="r")
    )


# --- CLUSTER_SPEC -----------------------------------------------------------------------


@pytest.mark.parametrize("make", [five_replica_job, single_replica_job])
def test_cluster_spec_on_every_replica(make: Any) -> None:
    j = make()
    digest = hostname_hash(j)
    expected_cluster: dict[str, list[str]] = {}
    for p, spec in enumerate(j.job_spec.worker_pool_specs):
        expected_cluster[f"workerpool{p}"] = [
            f"cmle-training-workerpool{p}-{digest}-{i}:2222" for i in range(spec.replica_count)
        ]
    for r in replicas(j):
        spec = env_json(replica_env(j, r), "CLUSTER_SPEC")
        assert spec["cluster"] == expected_cluster
        assert spec["environment"] == "cloud"
        assert spec["task"] == {"type": f"workerpool{r.pool}", "index": r.index}


def test_cluster_spec_lists_only_pools_with_replicas() -> None:
    j = job(pool(1), {}, pool(1), {"replicaCount": "0"})
    spec = cluster_spec(j, Replica(2, 0))
    assert list(spec["cluster"]) == ["workerpool0", "workerpool2"]
    assert spec["task"]["type"] == "workerpool2"


def test_cluster_spec_job_as_string_is_the_rest_spec() -> None:
    j = five_replica_job(baseOutputDirectory={"outputUriPrefix": "gs://b/o"})
    opts = ClusterOptions(cluster_spec_job_as="string")
    env = replica_env(j, Replica(1, 1), options=opts)
    spec = env_json(env, "CLUSTER_SPEC")
    assert env["CLOUD_ML_JOB"] == spec["job"]
    assert isinstance(spec["job"], str)
    decoded = json.loads(spec["job"])
    assert "workerPoolSpecs" in decoded  # REST JSON: camelCase keys
    assert decoded["workerPoolSpecs"][1]["replicaCount"] == "2"  # int64 as a string
    back = CustomJobSpec()
    json_format.ParseDict(decoded, CustomJobSpec.pb(back))
    assert back == j.job_spec


def test_cluster_spec_job_as_object_is_configurable() -> None:
    j = five_replica_job()
    opts = ClusterOptions(cluster_spec_job_as="object")
    env = replica_env(j, Replica(0, 0), options=opts)
    for key in ("CLUSTER_SPEC", "TF_CONFIG"):
        value = env_json(env, key)["job"]
        assert isinstance(value, dict)
        back = CustomJobSpec()
        json_format.ParseDict(value, CustomJobSpec.pb(back))
        assert back == j.job_spec


def test_bad_cluster_spec_job_as_is_refused() -> None:
    with pytest.raises(InputError, match="'trainer', 'string' or 'object'"):
        ClusterOptions(cluster_spec_job_as="yaml")  # type: ignore[arg-type]


# --- TF_CONFIG --------------------------------------------------------------------------


def test_tf_config_roles_of_a_five_replica_job() -> None:
    j = five_replica_job()
    digest = hostname_hash(j)
    envs = all_replica_envs(j)
    expected_cluster = {
        "chief": [f"cmle-training-workerpool0-{digest}-0:2222"],
        "worker": [
            f"cmle-training-workerpool1-{digest}-0:2222",
            f"cmle-training-workerpool1-{digest}-1:2222",
        ],
        "ps": [f"cmle-training-workerpool2-{digest}-0:2222"],
    }
    tasks = {}
    for name, env in envs.items():
        tf = env_json(env, "TF_CONFIG")
        check_tf_config(tf, evaluators=1)
        assert tf["cluster"] == expected_cluster
        assert "trial" not in tf["task"]
        assert json.loads(tf["job"]) == json.loads(env_json(env, "CLUSTER_SPEC")["job"])
        tasks[name] = tf["task"]
    assert tasks == {
        "workerpool0-0": {"type": "chief", "index": 0},
        "workerpool1-0": {"type": "worker", "index": 0},
        "workerpool1-1": {"type": "worker", "index": 1},
        "workerpool2-0": {"type": "ps", "index": 0},
        "workerpool3-0": {"type": "evaluator", "index": 0},
    }


@pytest.mark.parametrize(
    "pools",
    [
        [pool(1), pool(3)],
        [pool(1), {}, pool(2)],
        [pool(1), {}, {}, pool(1)],
        [pool(1), pool(1), {}, pool(2)],
        [pool(1), pool(4), pool(2), pool(1)],
    ],
    ids=["chief+workers", "chief+ps", "chief+evaluator", "skip-ps", "full"],
)
def test_tf_config_follows_tensorflow_rules(pools: list[dict[str, Any]]) -> None:
    j = job(*pools)
    members = replicas(j)
    evaluators = sum(r.role == "evaluator" for r in members)
    seen = set()
    clusters = []
    for r in members:
        tf = tf_config(j, r)
        assert tf is not None
        check_tf_config(tf, evaluators)
        clusters.append(tf["cluster"])
        seen.add((tf["task"]["type"], tf["task"]["index"]))
    # Every replica sees the same cluster, and each cluster slot is one replica's own.
    assert all(c == clusters[0] for c in clusters)
    slots = {(role, i) for role, members_ in clusters[0].items() for i in range(len(members_))}
    assert slots == {s for s in seen if s[0] != "evaluator"}


@pytest.mark.parametrize("pools", [[pool(1)], [pool(1), {}], [pool(1), {}, {}, {}]])
def test_no_tf_config_for_a_single_replica_job(pools: list[dict[str, Any]]) -> None:
    j = job(*pools)
    env = replica_env(j, Replica(0, 0))
    assert "TF_CONFIG" not in env
    assert tf_config(j, Replica(0, 0)) is None
    assert "CLUSTER_SPEC" in env


# --- trial ------------------------------------------------------------------------------


def test_trial_goes_into_tasks_and_output_directories() -> None:
    j = five_replica_job(baseOutputDirectory={"outputUriPrefix": "gs://b/hp"})
    env = replica_env(j, Replica(1, 1), trial="7")
    assert env_json(env, "CLUSTER_SPEC")["task"] == {
        "type": "workerpool1",
        "index": 1,
        "trial": "7",
    }
    assert env_json(env, "TF_CONFIG")["task"] == {"type": "worker", "index": 1}
    assert env["AIP_MODEL_DIR"] == "gs://b/hp/7/model/"
    assert env["AIP_CHECKPOINT_DIR"] == "gs://b/hp/7/checkpoints/"
    assert env["AIP_TENSORBOARD_LOG_DIR"] == "gs://b/hp/7/logs/"


@pytest.mark.parametrize("trial", ["", "1/2"])
def test_bad_trial_is_an_input_error(trial: str) -> None:
    with pytest.raises(InputError, match="trial"):
        replica_env(single_replica_job(), Replica(0, 0), trial=trial)


# --- AIP_* and CLOUD_ML_* ---------------------------------------------------------------


@pytest.mark.parametrize("base", ["gs://b/run", "gs://b/run/", "gs://b/run//"])
def test_output_directories_join_with_one_slash(base: str) -> None:
    j = single_replica_job(baseOutputDirectory={"outputUriPrefix": base})
    env = replica_env(j, Replica(0, 0))
    assert env["AIP_MODEL_DIR"] == "gs://b/run/model/"
    assert env["AIP_CHECKPOINT_DIR"] == "gs://b/run/checkpoints/"
    assert env["AIP_TENSORBOARD_LOG_DIR"] == "gs://b/run/logs/"


def test_bucket_root_as_base_output_directory() -> None:
    j = single_replica_job(baseOutputDirectory={"outputUriPrefix": "gs://b/"})
    assert replica_env(j, Replica(0, 0))["AIP_MODEL_DIR"] == "gs://b/model/"


def test_no_output_tensorboard_or_experiment_variables_unless_set() -> None:
    env = replica_env(single_replica_job(), Replica(0, 0))
    assert {k for k in env if k.startswith("AIP_")} == {"AIP_USE_CUSTOM_CONTAINER"}
    assert set(env) == {
        "CLUSTER_SPEC",
        "CLOUD_ML_PROJECT_ID",
        "CLOUD_ML_JOB_ID",
        "CLOUD_ML_REGION",
        "CLOUD_ML_JOB",
        "CLOUD_ML_JOB_SA",
        "AIP_USE_CUSTOM_CONTAINER",
    }


def test_tensorboard_and_experiment_variables() -> None:
    tb = "projects/123/locations/europe-west4/tensorboards/456"
    exp = "projects/123/locations/europe-west4/metadataStores/default/contexts/exp"
    run = f"{exp}-run1"
    j = single_replica_job(tensorboard=tb, experiment=exp, experimentRun=run)
    env = replica_env(j, Replica(0, 0))
    assert env["AIP_TENSORBOARD_RESOURCE_NAME"] == tb
    assert env["AIP_TENSORBOARD_API_URI"] == "aiplatform.googleapis.com"
    assert env["AIP_EXPERIMENT_NAME"] == exp
    assert env["AIP_EXPERIMENT_RUN_NAME"] == run
    opts = ClusterOptions(tensorboard_api_uri="localhost:8080")
    assert (
        replica_env(j, Replica(0, 0), options=opts)["AIP_TENSORBOARD_API_URI"] == "localhost:8080"
    )


def test_cloud_ml_defaults_without_a_job_name() -> None:
    j = single_replica_job()
    env = replica_env(j, Replica(0, 0))
    assert env["CLOUD_ML_PROJECT_ID"] == "123456789012"
    assert env["CLOUD_ML_REGION"] == "us-central1"
    assert re.fullmatch(r"[1-9]\d{18}", env["CLOUD_ML_JOB_ID"])
    assert (
        env["CLOUD_ML_JOB_ID"]
        == replica_env(single_replica_job(), Replica(0, 0))["CLOUD_ML_JOB_ID"]
    )
    other = replica_env(j, Replica(0, 0), options=ClusterOptions(run_id="another run"))
    assert re.fullmatch(r"[1-9]\d{18}", other["CLOUD_ML_JOB_ID"])
    assert other["CLOUD_ML_JOB_ID"] != env["CLOUD_ML_JOB_ID"]


def test_cloud_ml_from_the_job_name() -> None:
    j = job(
        pool(1), name="projects/987654321/locations/europe-west4/customJobs/4242424242424242424"
    )
    env = replica_env(j, Replica(0, 0))
    assert env["CLOUD_ML_PROJECT_ID"] == "987654321"
    assert env["CLOUD_ML_REGION"] == "europe-west4"
    assert env["CLOUD_ML_JOB_ID"] == "4242424242424242424"


def test_project_id_in_job_name_is_replaced_by_a_number() -> None:
    j = job(pool(1), name="projects/my-proj/locations/asia-east1/customJobs/77")
    env = replica_env(j, Replica(0, 0))
    assert env["CLOUD_ML_PROJECT_ID"] == "123456789012"
    assert env["CLOUD_ML_REGION"] == "asia-east1"
    assert env["CLOUD_ML_JOB_ID"] == "77"


def test_options_override_the_job_name() -> None:
    j = job(pool(1), name="projects/987/locations/europe-west4/customJobs/42")
    opts = ClusterOptions(project_number="555", job_id="66", region="us-east1")
    env = replica_env(j, Replica(0, 0), options=opts)
    assert env["CLOUD_ML_PROJECT_ID"] == "555"
    assert env["CLOUD_ML_JOB_ID"] == "66"
    assert env["CLOUD_ML_REGION"] == "us-east1"


@pytest.mark.parametrize(
    "kwargs",
    [{"project_number": "my-proj"}, {"job_id": "abc"}, {"project_number": ""}, {"region": ""}],
)
def test_bad_options_are_input_errors(kwargs: dict[str, str]) -> None:
    with pytest.raises(InputError, match="ClusterOptions"):
        ClusterOptions(**kwargs)  # type: ignore[arg-type]


# --- PyTorch ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pools",
    [
        [pool(1), pool(2), pool(1), pool(1)],
        [pool(1), {}, pool(3)],
        [pool(1), pool(5)],
        [pool(1), {}, {}, pool(2)],
    ],
    ids=["five", "skipped-workers", "chief+workers", "chief+evaluators"],
)
def test_pytorch_world(pools: list[dict[str, Any]]) -> None:
    j = job(*pools)
    envs = all_replica_envs(j)
    chief_host = env_json(envs["workerpool0-0"], "CLUSTER_SPEC")["cluster"]["workerpool0"][0]
    training = {n: e for n, e in envs.items() if not n.startswith("workerpool3-")}
    evaluators = {n: e for n, e in envs.items() if n.startswith("workerpool3-")}
    ranks = [int(e["RANK"]) for e in training.values()]
    assert sorted(ranks) == list(range(len(training)))
    # Rank follows pools 0, 1, 2 in order, so the chief is rank 0.
    assert ranks == list(range(len(training)))
    for e in training.values():
        assert e["WORLD_SIZE"] == str(len(training))
        assert f"{e['MASTER_ADDR']}:{e['MASTER_PORT']}" == chief_host
        assert e["MASTER_PORT"] == "2222"
    for e in evaluators.values():
        assert not {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK"} & set(e)


def test_pytorch_variables_are_off_for_one_replica_and_on_request() -> None:
    assert "RANK" not in replica_env(single_replica_job(), Replica(0, 0))
    off = ClusterOptions(pytorch_env=False)
    for env in all_replica_envs(five_replica_job(), options=off).values():
        assert not {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK"} & set(env)
        assert "TF_CONFIG" in env


# --- address hook -----------------------------------------------------------------------


def test_address_hook_replaces_hostnames_everywhere() -> None:
    j = five_replica_job()
    ports = {r: 41000 + n for n, r in enumerate(replicas(j))}

    def local(replica: Replica) -> str:
        return f"127.0.0.1:{ports[replica]}"

    envs = all_replica_envs(j, address=local)
    for env in envs.values():
        assert "cmle-training" not in env["CLUSTER_SPEC"] + env["TF_CONFIG"]
        spec = env_json(env, "CLUSTER_SPEC")
        assert spec["cluster"]["workerpool1"] == ["127.0.0.1:41001", "127.0.0.1:41002"]
        assert env_json(env, "TF_CONFIG")["cluster"]["chief"] == ["127.0.0.1:41000"]
    assert envs["workerpool1-1"]["MASTER_ADDR"] == "127.0.0.1"
    assert envs["workerpool1-1"]["MASTER_PORT"] == "41000"


@pytest.mark.parametrize("bad", ["127.0.0.1", "host:", ":2222", "host:port"])
def test_address_hook_must_answer_host_and_port(bad: str) -> None:
    with pytest.raises(CjobEmuError, match="host:port"):
        replica_env(five_replica_job(), Replica(1, 0), address=lambda r: bad)


# --- $(VAR) expansion of the pool's env -------------------------------------------------

DEFINED = {"A": "alpha", "B": "beta", "EMPTY": ""}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$(A)", "alpha"),
        ("x-$(A)-$(B)-y", "x-alpha-beta-y"),
        ("$(A)$(A)", "alphaalpha"),
        ("$(EMPTY)|", "|"),
        ("$(MISSING)", "$(MISSING)"),
        ("$(A)/$(MISSING)", "alpha/$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$alpha"),
        ("$$$$(A)", "$$(A)"),
        ("$$", "$"),
        ("a$$b", "a$b"),
        ("$A", "$A"),
        ("${A}", "${A}"),
        ("$(A", "$(A"),
        ("$()", "$()"),
        ("end$", "end$"),
        ("plain", "plain"),
        ("", ""),
    ],
)
def test_expand_env_value_kubernetes_cases(value: str, expected: str) -> None:
    assert expand_env_value(value, DEFINED) == expected


def test_pool_env_applied_last_with_expansion() -> None:
    env_list = {
        "EPOCHS": "3",
        "RUN": "r-$(EPOCHS)-$(CLOUD_ML_REGION)",
        "LATER_REF": "$(DEFINED_LATER)",
        "DEFINED_LATER": "x",
        "LITERAL": "$$(EPOCHS)",
        "UNKNOWN": "$(NOT_SET)",
        "OUT": "$(AIP_MODEL_DIR)best",
        "AIP_CHECKPOINT_DIR": "/tmp/ckpt",
    }
    j = job(pool(1, env=env_list), baseOutputDirectory={"outputUriPrefix": "gs://b/o"})
    env = replica_env(j, Replica(0, 0))
    assert env["RUN"] == "r-3-us-central1"
    assert env["LATER_REF"] == "$(DEFINED_LATER)"
    assert env["LITERAL"] == "$(EPOCHS)"
    assert env["UNKNOWN"] == "$(NOT_SET)"
    assert env["OUT"] == "gs://b/o/model/best"
    assert env["AIP_CHECKPOINT_DIR"] == "/tmp/ckpt"  # the pool's env has the last word
    # New names follow the service's variables, in list order.
    assert list(env)[-7:] == list(env_list)[:7]


def test_repeated_name_sees_its_previous_value() -> None:
    spec = pool(1)
    spec["containerSpec"]["env"] = [
        {"name": "P", "value": "/a"},
        {"name": "P", "value": "$(P):/b"},
    ]
    assert replica_env(job(spec), Replica(0, 0))["P"] == "/a:/b"


def test_python_package_pool_env_is_applied() -> None:
    spec = {
        "machineSpec": {"machineType": "n1-standard-4"},
        "replicaCount": "1",
        "pythonPackageSpec": {
            "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-12.py310:latest",
            "packageUris": ["gs://b/trainer-0.1.tar.gz"],
            "pythonModule": "trainer.task",
            "env": [{"name": "WHERE", "value": "$(CLOUD_ML_REGION)"}],
        },
    }
    assert replica_env(job(spec), Replica(0, 0))["WHERE"] == "us-central1"


def test_each_pool_gets_its_own_env() -> None:
    j = job(pool(1, env={"WHO": "chief"}), pool(1, env={"WHO": "worker"}), pool(1))
    envs = all_replica_envs(j)
    assert envs["workerpool0-0"]["WHO"] == "chief"
    assert envs["workerpool1-0"]["WHO"] == "worker"
    assert "WHO" not in envs["workerpool2-0"]


# --- errors and purity ------------------------------------------------------------------


def test_replica_not_in_job_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no replica workerpool1-2"):
        replica_env(five_replica_job(), Replica(1, 2))


def test_job_without_primary_is_an_input_error() -> None:
    with pytest.raises(InputError, match="primary"):
        replica_env(job({}, pool(2)), Replica(1, 0))


def test_all_replica_envs_keyed_in_vertex_order_and_pure() -> None:
    j = five_replica_job(baseOutputDirectory={"outputUriPrefix": "gs://b/o"})
    before = CustomJob.to_json(j)
    first = all_replica_envs(j, trial="2")
    assert list(first) == [r.name for r in replicas(j)]
    assert all_replica_envs(j, trial="2") == first
    assert CustomJob.to_json(j) == before
    assert all(isinstance(v, str) for env in first.values() for v in env.values())
