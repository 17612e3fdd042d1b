"""The fake API answers as Vertex does (the reference's "Observed on real Vertex" table).

A new job reads PENDING while it provisions; create fills in the boot disk; resource
names carry the project number (and Resource Manager's stand-in answers it, the same
number replicas get); ``$alt=json;enum-encoding=int`` gets integer enums; a CustomJob
name with a non-numeric id is Vertex's 400. Raw HTTP, so the wire itself is pinned.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from google.cloud import aiplatform
from google.cloud.aiplatform.utils import resource_manager_utils
from google.cloud.aiplatform_v1 import CustomJob

from cjob_emu import pytest_plugin
from cjob_emu.executor.unemulated import unemulated_fields
from cjob_emu.fake_api import FakeVertexServer, VertexMock, sdk_pointed_at
from cjob_emu.fake_api import fixtures as _fixtures
from cjob_emu.fake_api.executor_runner import ExecutorRunner
from cjob_emu.fake_api.projects import derived_number
from cjob_emu.fake_api.sdk import DEFAULT_PROJECT

if not hasattr(pytest_plugin, "fake_vertex"):  # until the plugin declares them
    fake_vertex_server = pytest.fixture(scope="session")(_fixtures.fake_vertex_server)
    fake_vertex = pytest.fixture(_fixtures.fake_vertex)
    vertex_mock = pytest.fixture(_fixtures.vertex_mock)

PARENT = "projects/proj/locations/us-central1"
NUMBER = derived_number("proj")
POOL = {"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1",
        "containerSpec": {"imageUri": "gcr.io/p/trainer:1"}}
JOB: dict[str, Any] = {"displayName": "train", "jobSpec": {"workerPoolSpecs": [POOL]}}
SDK_QUERY = "$alt=json;enum-encoding=int"
INVALID_NAME = "List of found errors:\t1.Field: name; Message: Invalid CustomJob resource name.\t"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeVertexServer]:
    with FakeVertexServer() as s:  # the default provisioning time
        yield s


@pytest.fixture
def http(server: FakeVertexServer) -> Iterator[requests.Session]:
    server.reset()
    with requests.Session() as session:
        yield session
    server.reset()


def create(server: FakeVertexServer, http: requests.Session, job: dict[str, Any] | None = None,
           parent: str = PARENT, query: str = "") -> dict[str, Any]:
    response = http.post(f"{server.url}/v1/{parent}/customJobs?{query}", json=job or JOB)
    assert response.status_code == 200, response.text
    return dict(response.json())


def state(server: FakeVertexServer, http: requests.Session, name: str) -> str:
    return str(http.get(f"{server.url}/v1/{name}").json()["state"])


# -- PENDING while provisioning ----------------------------------------------------------------


def test_a_new_job_reads_pending_until_its_provisioning_time_has_passed(
    server: FakeVertexServer, http: requests.Session
) -> None:
    server.set_provisioning(1.0)  # room for slow reads on a busy machine
    name = create(server, http)["name"]
    reads = [state(server, http, name) for _ in range(3)]
    assert reads == ["JOB_STATE_PENDING"] * 3
    job = http.get(f"{server.url}/v1/{name}").json()
    assert "startTime" not in job
    time.sleep(1.05)
    assert state(server, http, name) == "JOB_STATE_RUNNING"
    assert state(server, http, name) == "JOB_STATE_SUCCEEDED"


def test_polls_count_only_the_reads_after_provisioning(
    server: FakeVertexServer, http: requests.Session
) -> None:
    server.set_provisioning(1.0)
    name = create(server, http, {**JOB, "labels": {"cjob-emu-polls": "3"}})["name"]
    early = []
    while (now := state(server, http, name)) == "JOB_STATE_PENDING":
        early.append(now)
        time.sleep(0.02)
    assert len(early) >= 3  # many reads while it provisioned, none counted
    assert now == "JOB_STATE_RUNNING"  # poll 1
    assert [state(server, http, name) for _ in range(2)] == ["JOB_STATE_RUNNING",
                                                              "JOB_STATE_SUCCEEDED"]


def test_provisioning_time_is_set_by_admin_and_reset_restores_it(
    server: FakeVertexServer, http: requests.Session
) -> None:
    assert http.post(f"{server.url}/_cjob_emu/provisioning", json={"seconds": 0}).ok
    assert http.get(f"{server.url}/_cjob_emu/state").json()["provisioningSeconds"] == 0
    name = create(server, http)["name"]
    assert state(server, http, name) == "JOB_STATE_RUNNING"
    bad = http.post(f"{server.url}/_cjob_emu/provisioning", json={"seconds": -1})
    assert bad.status_code == 400
    server.reset()
    assert server.dump()["provisioningSeconds"] == 0.2
    name = create(server, http)["name"]
    assert state(server, http, name) == "JOB_STATE_PENDING"


def test_a_job_cancelled_while_it_provisions_never_starts(
    server: FakeVertexServer, http: requests.Session
) -> None:
    name = create(server, http)["name"]
    assert http.post(f"{server.url}/v1/{name}:cancel", json={}).ok
    job = http.get(f"{server.url}/v1/{name}").json()
    assert job["state"] == "JOB_STATE_CANCELLED"
    assert "startTime" not in job


# -- the boot disk ---------------------------------------------------------------------------------


def test_create_fills_the_boot_disk_where_a_pool_sets_none(
    server: FakeVertexServer, http: requests.Session
) -> None:
    pools = [
        POOL,
        {**POOL, "diskSpec": {"bootDiskSizeGb": 200}},
        {**POOL, "diskSpec": {"bootDiskType": "pd-standard", "bootDiskSizeGb": 300}},
        {},
    ]
    job = create(server, http, {"displayName": "disks", "jobSpec": {"workerPoolSpecs": pools}})
    disks = [p.get("diskSpec") for p in job["jobSpec"]["workerPoolSpecs"]]
    assert disks == [
        {"bootDiskType": "pd-ssd", "bootDiskSizeGb": 100},
        {"bootDiskType": "pd-ssd", "bootDiskSizeGb": 200},
        {"bootDiskType": "pd-standard", "bootDiskSizeGb": 300},
        None,  # an empty pool (a skipped role) stays empty
    ]
    again = http.get(f"{server.url}/v1/{job['name']}").json()
    assert again["jobSpec"] == job["jobSpec"]


def test_the_not_emulated_notice_speaks_only_of_disks_the_user_set(
    server: FakeVertexServer, http: requests.Session
) -> None:
    pools = [POOL, {**POOL, "diskSpec": {"bootDiskType": "pd-standard", "bootDiskSizeGb": 300}}]
    job = create(server, http, {"displayName": "disks", "jobSpec": {"workerPoolSpecs": pools}})
    as_created = CustomJob.from_json(json.dumps(job), ignore_unknown_fields=True)
    disks = [u.field for u in unemulated_fields(as_created) if "disk_spec" in u.field]
    assert disks == ["job_spec.worker_pool_specs[1].disk_spec"]


# -- the project number ------------------------------------------------------------------------


def test_names_carry_the_project_number_whichever_way_the_request_named_it(
    server: FakeVertexServer, http: requests.Session
) -> None:
    by_id = create(server, http)
    assert by_id["name"].startswith(f"projects/{NUMBER}/locations/us-central1/customJobs/")
    by_number = create(server, http, parent=f"projects/{NUMBER}/locations/us-central1")
    assert by_number["name"].startswith(f"projects/{NUMBER}/")
    job_id = by_id["name"].rsplit("/", 1)[1]
    for project in ("proj", NUMBER):
        got = http.get(f"{server.url}/v1/projects/{project}/locations/us-central1/"
                       f"customJobs/{job_id}")
        assert got.json()["name"] == by_id["name"]
        listed = http.get(f"{server.url}/v1/projects/{project}/locations/us-central1/customJobs")
        assert [j["name"] for j in listed.json()["customJobs"]] == [by_number["name"],
                                                                     by_id["name"]]
    # lists of different projects never merge
    other = create(server, http, parent="projects/other-proj/locations/us-central1")
    assert other["name"].startswith(f"projects/{derived_number('other-proj')}/")
    listed = http.get(f"{server.url}/v1/projects/other-proj/locations/us-central1/customJobs")
    assert [j["name"] for j in listed.json()["customJobs"]] == [other["name"]]
    default = http.get(f"{server.url}/v1/projects/123456789012/locations/us-central1/customJobs")
    assert default.json() == {}


def test_resource_manager_answers_each_project_its_number(
    server: FakeVertexServer, http: requests.Session
) -> None:
    project = http.get(f"{server.url}/v3/projects/proj").json()
    assert project["name"] == f"projects/{NUMBER}"
    assert project["projectId"] == "proj" and project["state"] == "ACTIVE"
    by_number = http.get(f"{server.url}/v3/projects/{NUMBER}").json()
    assert by_number["projectId"] == "proj"
    assert http.get(f"{server.url}/v3/projects/999999999999").status_code == 404
    assert http.delete(f"{server.url}/v3/projects/proj").status_code == 405
    assert derived_number("proj") == NUMBER and len(NUMBER) == 12  # stable, Vertex-sized


def test_a_configured_number_is_the_one_names_and_resource_manager_use(tmp_path: Path) -> None:
    with FakeVertexServer(project_numbers={"proj": "555000111222"}) as configured, \
            requests.Session() as http:
        name = create(configured, http)["name"]
        assert name.startswith("projects/555000111222/")
        answer = http.get(f"{configured.url}/v3/projects/proj").json()
        assert answer["name"] == "projects/555000111222"
        assert http.post(f"{configured.url}/_cjob_emu/projects",
                         json={"projectId": "next", "number": "555000111333"}).ok
        assert create(configured, http, parent="projects/next/locations/us-central1")[
            "name"].startswith("projects/555000111333/")
        taken = http.post(f"{configured.url}/_cjob_emu/projects",
                          json={"projectId": "third", "number": "555000111222"})
        assert taken.status_code == 400


@pytest.mark.parametrize("where", ["server", "mock"])
def test_the_sdks_project_number_lookup_is_answered_offline(
    request: pytest.FixtureRequest, where: str
) -> None:
    fake: FakeVertexServer | VertexMock = request.getfixturevalue(
        "fake_vertex" if where == "server" else "vertex_mock"
    )
    started = time.perf_counter()
    assert resource_manager_utils.get_project_number(DEFAULT_PROJECT) == derived_number(
        DEFAULT_PROJECT
    )
    assert time.perf_counter() - started < 5  # Resource Manager itself: a minute's wait
    job = aiplatform.CustomJob(display_name="n", worker_pool_specs=[{
        "machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1,
        "container_spec": {"image_uri": "gcr.io/p/t:1"}}])
    job.submit()
    assert job.resource_name.split("/")[1] == derived_number(DEFAULT_PROJECT)
    assert fake.jobs()[0]["name"] == job.resource_name


def test_the_lookup_is_put_back_afterwards(fake_vertex_server: FakeVertexServer) -> None:
    from google.cloud.aiplatform import pipeline_jobs

    before = (resource_manager_utils.get_project_number, pipeline_jobs._JOB_WAIT_TIME)
    with sdk_pointed_at(fake_vertex_server.url, poll_interval=0.01):
        assert resource_manager_utils.get_project_number is not before[0]
        assert pipeline_jobs._JOB_WAIT_TIME == 0.01
    assert (resource_manager_utils.get_project_number, pipeline_jobs._JOB_WAIT_TIME) == before


REPORT_PROJECT = (
    "import os, pathlib\n"
    "pathlib.Path(os.environ['AIP_MODEL_DIR']).mkdir(parents=True, exist_ok=True)\n"
    "(pathlib.Path(os.environ['AIP_MODEL_DIR']) / 'project.txt').write_text("
    "os.environ['CLOUD_ML_PROJECT_ID'])\n"
)


def test_replicas_get_the_same_project_number(tmp_path: Path) -> None:
    gcs = tmp_path / "gcs"
    (gcs / "bucket").mkdir(parents=True)
    runner = ExecutorRunner(backend="process", gcs_root=gcs, work_dir=tmp_path / "work")
    with FakeVertexServer(mode="executor", executor_runner=runner, gcs_root=gcs) as server, \
            sdk_pointed_at(server.url, project="replica-proj", staging_bucket="gs://bucket"):
        job = aiplatform.CustomJob(
            display_name="number", base_output_dir="gs://bucket/out",
            worker_pool_specs=[{"machine_spec": {"machine_type": "n1-standard-4"},
                                "replica_count": 1,
                                "container_spec": {"image_uri": "python:3.11",
                                                   "command": ["python3", "-c",
                                                               REPORT_PROJECT]}}])
        job.run(sync=True)
        number = resource_manager_utils.get_project_number("replica-proj")
    assert (gcs / "bucket" / "out" / "model" / "project.txt").read_text() == number
    assert job.resource_name.split("/")[1] == number == derived_number("replica-proj")


# -- integer enums -----------------------------------------------------------------------------


def test_the_sdks_enum_encoding_gets_integers_and_a_plain_request_names(
    server: FakeVertexServer, http: requests.Session
) -> None:
    server.set_provisioning(0)
    created = create(server, http, query=SDK_QUERY)
    name = created["name"]
    assert created["state"] == 2  # JOB_STATE_PENDING
    assert http.get(f"{server.url}/v1/{name}?{SDK_QUERY}").json()["state"] == 3  # RUNNING
    assert http.get(f"{server.url}/v1/{name}").json()["state"] == "JOB_STATE_SUCCEEDED"
    assert http.get(f"{server.url}/v1/{name}?{SDK_QUERY}").json()["state"] == 4
    encoded = "%24alt=json%3Benum-encoding%3Dint"  # as the SDK's transport sends it
    listed = http.get(f"{server.url}/v1/{PARENT}/customJobs?{encoded}").json()
    assert listed["customJobs"][0]["state"] == 4
    assert http.get(f"{server.url}/v1/{PARENT}/customJobs").json()["customJobs"][0][
        "state"] == "JOB_STATE_SUCCEEDED"
    assert http.get(f"{server.url}/v1/{name}?$alt=json").json()["state"] == "JOB_STATE_SUCCEEDED"


# -- a name Vertex refuses ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "DELETE", "POST"])
def test_a_non_numeric_custom_job_id_is_vertex_400(
    server: FakeVertexServer, http: requests.Session, method: str
) -> None:
    suffix = ":cancel" if method == "POST" else ""
    response = http.request(method, f"{server.url}/v1/{PARENT}/customJobs/customjob-x{suffix}",
                            json={} if method == "POST" else None)
    assert response.status_code == 400
    assert response.json() == {"error": {"code": 400, "message": INVALID_NAME,
                                         "status": "INVALID_ARGUMENT"}}
    missing = http.get(f"{server.url}/v1/{PARENT}/customJobs/1234567890123456789")
    assert missing.status_code == 404
