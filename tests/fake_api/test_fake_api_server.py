"""The fake Vertex API over real HTTP: routes, proto JSON, errors, lifecycle, admin, persistence.

These talk raw HTTP with ``requests`` so they pin the wire format itself; the SDK's
view is in test_fake_api_sdk.py.
"""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cjob_emu.cli.serve import serve
from cjob_emu.errors import EnvironmentProblem
from cjob_emu.fake_api import FakeVertexServer
from cjob_emu.fake_api.projects import derived_number

PARENT = "projects/proj/locations/us-central1"
# Vertex names its resources by project number, whichever way the request named it
NAMED = f"projects/{derived_number('proj')}/locations/us-central1"
JOB: dict[str, Any] = {
    "displayName": "train",
    "jobSpec": {
        "workerPoolSpecs": [
            {
                "machineSpec": {"machineType": "n1-standard-4"},
                "replicaCount": "1",
                "containerSpec": {"imageUri": "gcr.io/p/trainer:1", "args": ["--epochs=2"]},
            }
        ]
    },
}
SDK_QUERY = "$alt=json;enum-encoding=int"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeVertexServer]:
    # no provisioning time: the first read of a job finds it RUNNING (see the
    # provisioning tests for the PENDING a new job reads first by default)
    with FakeVertexServer(provisioning=0) as s:
        yield s


@pytest.fixture
def api(server: FakeVertexServer) -> Iterator[Api]:
    server.reset()
    with requests.Session() as session:
        yield Api(server.url, session)
    server.reset()


class Api:
    """Small raw-HTTP client: keeps the tests about the wire, not about a client library.

    Plain requests (enums by name); the SDK's ``$alt=json;enum-encoding=int`` is tested
    on its own."""

    def __init__(self, url: str, session: requests.Session) -> None:
        self.url = url
        self.session = session

    def create(self, job: dict[str, Any] | None = None, **changes: Any) -> requests.Response:
        body = copy.deepcopy(job if job is not None else JOB)
        body.update(changes)
        return self.session.post(f"{self.url}/v1/{PARENT}/customJobs", json=body)

    def created(self, job: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
        response = self.create(job, **changes)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def get(self, name: str) -> requests.Response:
        return self.session.get(f"{self.url}/v1/{name}")

    def state(self, name: str) -> str:
        return str(self.get(name).json()["state"])

    def list(self, **params: Any) -> requests.Response:
        return self.session.get(f"{self.url}/v1/{PARENT}/customJobs", params=params)

    def cancel(self, name: str) -> requests.Response:
        return self.session.post(f"{self.url}/v1/{name}:cancel", json={})

    def delete(self, name: str) -> requests.Response:
        return self.session.delete(f"{self.url}/v1/{name}")

    def admin(self, method: str, route: str, body: Any = None) -> requests.Response:
        return self.session.request(method, f"{self.url}/_cjob_emu/{route}", json=body)


def rpc_error(response: requests.Response, http: int, status: str) -> dict[str, Any]:
    """Assert the google.rpc error shape and return its ``error`` object."""
    assert response.status_code == http, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == http
    assert error["status"] == status
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)


# -- create and the proto JSON mapping ---------------------------------------------------------


def test_create_answers_pending_job_with_vertex_name_and_times(api: Api) -> None:
    job = api.created()
    assert job["name"].startswith(f"{NAMED}/customJobs/")
    job_id = job["name"].rsplit("/", 1)[1]
    assert len(job_id) == 19 and job_id.isdigit()
    assert job["state"] == "JOB_STATE_PENDING"
    assert job["createTime"] == job["updateTime"]
    assert job["createTime"].endswith("Z")
    assert "startTime" not in job and "endTime" not in job
    # Vertex fills in the boot disk of a pool that sets none
    expected = copy.deepcopy(JOB["jobSpec"])
    expected["workerPoolSpecs"][0]["diskSpec"] = {"bootDiskType": "pd-ssd",
                                                  "bootDiskSizeGb": 100}
    assert job["jobSpec"] == expected


def test_create_accepts_snake_case_enum_numbers_and_int64_numbers_and_answers_rest_json(
    api: Api,
) -> None:
    snake = {
        "display_name": "gpu",
        "job_spec": {
            "worker_pool_specs": [
                {
                    "machine_spec": {
                        "machine_type": "n1-standard-4",
                        "accelerator_type": 5,
                        "accelerator_count": 1,
                    },
                    "replica_count": 1,
                    "container_spec": {"image_uri": "gcr.io/p/t:1"},
                }
            ],
            "scheduling": {"timeout": "3600s", "strategy": "SPOT"},
        },
        "labels": {"team": "ml"},
    }
    job = api.created(snake)
    pool = job["jobSpec"]["workerPoolSpecs"][0]
    assert pool["machineSpec"] == {
        "machineType": "n1-standard-4",
        "acceleratorType": "NVIDIA_TESLA_T4",
        "acceleratorCount": 1,
    }
    assert pool["replicaCount"] == "1"
    assert job["jobSpec"]["scheduling"] == {"timeout": "3600s", "strategy": "SPOT"}
    assert job["labels"] == {"team": "ml"}


def test_create_ignores_output_only_fields_sent_by_the_client(api: Api) -> None:
    job = api.created(name="projects/x/locations/y/customJobs/1", state="JOB_STATE_SUCCEEDED",
                      endTime="2020-01-01T00:00:00Z", error={"code": 3, "message": "x"})
    assert job["name"].startswith(f"{NAMED}/customJobs/")
    assert job["state"] == "JOB_STATE_PENDING"
    assert "endTime" not in job and "error" not in job


def test_invalid_job_answers_400_with_vertex_message_and_field_violations(api: Api) -> None:
    job = copy.deepcopy(JOB)
    job["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]["acceleratorCount"] = 1
    error = rpc_error(api.create(job), 400, "INVALID_ARGUMENT")
    field = "job_spec.worker_pool_specs[0].machine_spec.accelerator_type"
    assert error["message"].startswith(f"List of found errors:\t1.Field: {field}; Message: ")
    assert error["message"].endswith("\t")
    (detail,) = error["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert detail["fieldViolations"][0]["field"] == field
    assert api.list().json() == {}


def test_unknown_field_and_wrong_type_are_400_naming_the_field(api: Api) -> None:
    error = rpc_error(api.create(bogusField=1), 400, "INVALID_ARGUMENT")
    assert "bogus" in error["message"]
    error = rpc_error(api.create(displayName=["not", "a", "string"]), 400, "INVALID_ARGUMENT")
    assert "display_name" in error["message"]


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", b"", b"\xff\xfe", b"null", b'"text"', b"[" * 100_000],
)
def test_malformed_create_body_is_400(api: Api, body: bytes) -> None:
    response = api.session.post(f"{api.url}/v1/{PARENT}/customJobs", data=body)
    error = rpc_error(response, 400, "INVALID_ARGUMENT")
    assert error["message"].startswith("Invalid JSON payload received.")


# -- lifecycle ---------------------------------------------------------------------------------


def test_simulated_job_runs_on_first_get_and_succeeds_on_second(api: Api) -> None:
    name = api.created()["name"]
    first = api.get(name).json()
    assert first["state"] == "JOB_STATE_RUNNING"
    assert "startTime" in first and "endTime" not in first
    second = api.get(name).json()
    assert second["state"] == "JOB_STATE_SUCCEEDED"
    assert second["startTime"] == first["startTime"]
    assert second["endTime"] >= second["startTime"] >= second["createTime"]
    assert "error" not in second
    assert api.get(name).json() == second  # ended jobs never change


def test_scripted_failure_carries_error_and_takes_the_scripted_polls(
    api: Api, server: FakeVertexServer
) -> None:
    server.script_outcome("fail", polls=3, error_code=9, error_message="out of memory")
    name = api.created()["name"]
    assert [api.state(name) for _ in range(3)] == [
        "JOB_STATE_RUNNING",
        "JOB_STATE_RUNNING",
        "JOB_STATE_FAILED",
    ]
    assert api.get(name).json()["error"] == {"code": 9, "message": "out of memory"}


def test_default_failure_message_is_vertex_replica_text(api: Api) -> None:
    name = api.created(labels={"cjob-emu-outcome": "fail", "cjob-emu-polls": "1"})["name"]
    job = api.get(name).json()
    assert job["state"] == "JOB_STATE_FAILED"
    assert "startTime" in job
    assert job["error"]["code"] == 3
    assert job["error"]["message"].startswith(
        "The replica workerpool0-0 exited with a non-zero status of 1."
    )
    assert name.rsplit("/", 1)[1] in job["error"]["message"]


def test_outcome_labels_override_scripts_and_bad_labels_are_400(
    api: Api, server: FakeVertexServer
) -> None:
    server.script_outcome("fail", polls=1)
    name = api.created(labels={"cjob-emu-outcome": "succeed", "cjob-emu-polls": "1"})["name"]
    assert api.state(name) == "JOB_STATE_SUCCEEDED"
    error = rpc_error(api.create(labels={"cjob-emu-outcome": "explode"}), 400,
                      "INVALID_ARGUMENT")
    assert error["details"][0]["fieldViolations"][0]["field"] == "labels[cjob-emu-outcome]"
    error = rpc_error(api.create(labels={"cjob-emu-mode": "dreaming"}), 400, "INVALID_ARGUMENT")
    assert "cjob-emu-mode" in error["message"]


def test_scripts_apply_in_order_to_matching_display_names_only(
    api: Api, server: FakeVertexServer
) -> None:
    server.script_outcome("fail", polls=1, display_name="etl-*", times=2)
    other = api.created(displayName="train")["name"]
    etl = [api.created(displayName=f"etl-{i}")["name"] for i in range(3)]
    assert api.state(other) == "JOB_STATE_RUNNING"
    assert [api.state(n) for n in etl] == ["JOB_STATE_FAILED", "JOB_STATE_FAILED",
                                           "JOB_STATE_RUNNING"]


def test_stay_running_then_cancel_goes_cancelling_then_cancelled_with_code_1(api: Api) -> None:
    name = api.created(labels={"cjob-emu-outcome": "stay-running"})["name"]
    assert [api.state(name) for _ in range(5)] == ["JOB_STATE_RUNNING"] * 5
    response = api.cancel(name)
    assert response.status_code == 200 and response.json() == {}
    assert api.cancel(name).status_code == 200  # cancelling twice is fine while it lasts
    job = api.get(name).json()
    assert job["state"] == "JOB_STATE_CANCELLED"
    assert job["error"] == {"code": 1, "message": "CANCELED"}
    assert "endTime" in job


def test_cancel_before_the_job_started_leaves_no_start_time(api: Api) -> None:
    name = api.created()["name"]
    assert api.cancel(name).status_code == 200
    assert api.session.get(f"{api.url}/_cjob_emu/state").json()["jobs"][0]["job"]["state"] == (
        "JOB_STATE_CANCELLING"
    )
    job = api.get(name).json()
    assert job["state"] == "JOB_STATE_CANCELLED"
    assert "startTime" not in job


def test_cancelling_an_ended_job_is_failed_precondition(api: Api) -> None:
    name = api.created(labels={"cjob-emu-polls": "1"})["name"]
    assert api.state(name) == "JOB_STATE_SUCCEEDED"
    error = rpc_error(api.cancel(name), 400, "FAILED_PRECONDITION")
    assert "JOB_STATE_SUCCEEDED" in error["message"]


def test_delete_answers_done_operation_that_can_be_polled_also_under_ui(api: Api) -> None:
    name = api.created(labels={"cjob-emu-polls": "1"})["name"]
    api.get(name)
    response = api.delete(name)
    assert response.status_code == 200
    op = response.json()
    assert op["name"].startswith(f"{NAMED}/operations/")
    assert op["done"] is True
    assert op["metadata"]["@type"] == (
        "type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata"
    )
    assert "createTime" in op["metadata"]["genericMetadata"]
    assert op["response"] == {"@type": "type.googleapis.com/google.protobuf.Empty"}
    for prefix in ("v1", "ui"):
        assert api.session.get(f"{api.url}/{prefix}/{op['name']}").json() == op
    rpc_error(api.get(name), 404, "NOT_FOUND")
    rpc_error(api.delete(name), 404, "NOT_FOUND")


def test_deleting_a_running_job_is_refused(api: Api) -> None:
    name = api.created()["name"]
    rpc_error(api.delete(name), 400, "FAILED_PRECONDITION")
    assert api.state(name) == "JOB_STATE_RUNNING"


def test_a_job_answers_to_the_project_number_too(api: Api) -> None:
    # Vertex names a job by the project number and answers to the number as well as the
    # id; a replica only knows the number (CLOUD_ML_PROJECT_ID).
    name = api.created(labels={"cjob-emu-outcome": "stay-running"})["name"]
    project, rest = name.split("/", 2)[1:]
    assert project == derived_number("proj") and project.isdigit() and len(project) == 12
    by_id = f"projects/proj/{rest}"
    assert api.get(by_id).json()["name"] == name
    assert api.cancel(by_id).status_code == 200
    api.state(name)
    assert api.delete(name).status_code == 200
    rpc_error(api.get(by_id), 404, "NOT_FOUND")
    other_location = f"projects/{project}/locations/asia-east1/{rest.split('/', 2)[2]}"
    rpc_error(api.get(other_location), 404, "NOT_FOUND")
    # another project's number never finds it (the old catch-all default number included)
    kept = api.created(labels={"cjob-emu-outcome": "stay-running"})["name"]
    for number in ("123456789012", derived_number("other-proj")):
        rpc_error(api.get(f"projects/{number}/{kept.split('/', 2)[2]}"), 404, "NOT_FOUND")


def test_unknown_job_and_operation_are_404(api: Api) -> None:
    missing = f"{PARENT}/customJobs/1234567890123456789"
    for response in (api.get(missing), api.cancel(missing), api.delete(missing),
                     api.session.get(f"{api.url}/ui/{PARENT}/operations/42")):
        rpc_error(response, 404, "NOT_FOUND")


def test_unknown_routes_and_wrong_methods_answer_in_rpc_shape(api: Api) -> None:
    rpc_error(api.session.get(f"{api.url}/"), 404, "NOT_FOUND")
    rpc_error(api.session.get(f"{api.url}/v1/{PARENT}/trainingPipelines"), 404, "NOT_FOUND")
    rpc_error(api.session.post(f"{api.url}/v1/{PARENT}/customJobs/1:explode"), 404, "NOT_FOUND")
    response = api.session.put(f"{api.url}/v1/{PARENT}/customJobs")
    rpc_error(response, 405, "UNIMPLEMENTED")
    assert response.headers["Allow"] == "GET, POST"
    rpc_error(api.session.get(f"{api.url}/v1/{PARENT}/customJobs/1:cancel"), 405,
              "UNIMPLEMENTED")


def test_v1beta1_paths_reach_the_same_jobs(api: Api) -> None:
    name = api.created()["name"]
    response = api.session.get(f"{api.url}/v1beta1/{name}")
    assert response.status_code == 200 and response.json()["name"] == name


# -- list ----------------------------------------------------------------------------------------


def test_list_pages_newest_first_and_token_is_tied_to_the_filter(api: Api) -> None:
    names = [api.created(displayName=f"job-{i}")["name"] for i in range(5)]
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        body = api.list(pageSize=2, pageToken=token).json()
        seen += [j["name"] for j in body["customJobs"]]
        pages += 1
        token = body.get("nextPageToken", "")
        if not token:
            break
    assert pages == 3
    assert seen == names[::-1]
    first = api.list(pageSize=2).json()
    error = rpc_error(api.list(pageSize=2, pageToken=first["nextPageToken"],
                               filter='display_name="job-1"'), 400, "INVALID_ARGUMENT")
    assert "page_token" in error["message"]
    rpc_error(api.list(pageToken="garbage!"), 400, "INVALID_ARGUMENT")
    rpc_error(api.list(pageSize="ten"), 400, "INVALID_ARGUMENT")
    rpc_error(api.list(pageSize=-1), 400, "INVALID_ARGUMENT")


def test_list_is_per_parent(api: Api) -> None:
    api.created()
    other = api.session.get(f"{api.url}/v1/projects/proj/locations/europe-west4/customJobs")
    assert other.status_code == 200 and other.json() == {}


def test_list_filters(api: Api, server: FakeVertexServer) -> None:
    a = api.created(displayName="my_job_a", labels={"team": "ml", "tier": "gold"})["name"]
    b = api.created(displayName="my_job_b", labels={"team": "data"})["name"]
    c = api.created(displayName="other")["name"]
    api.get(a)
    api.get(a)  # a: SUCCEEDED
    server.force_state(b, "JOB_STATE_FAILED")
    created_c = api.get(c).json()["createTime"]

    def names(text: str) -> set[str]:
        response = api.list(filter=text)
        assert response.status_code == 200, response.text
        return {j["name"] for j in response.json().get("customJobs", [])}

    assert names('state="JOB_STATE_SUCCEEDED" AND display_name:"my_job_*"') == {a}
    assert names('state!="JOB_STATE_FAILED" OR display_name="my_job_b"') == {a, b, c}
    assert names('NOT display_name="my_job_a"') == {b, c}
    assert names("displayName:*job*") == {a, b}
    assert names(f'create_time>="{created_c}"') == {c}
    assert names(f"createTime<{created_c}") == {a, b}
    assert names("labels.team=ml") == {a}
    assert names("labels.team:*") == {a, b}
    assert names("labels.tier:* OR labels.team=data") == {a, b}
    assert names('(labels.team=ml OR labels.team=data) AND -state=JOB_STATE_FAILED') == {a}
    assert names('display_name="other" state="JOB_STATE_RUNNING"') == {c}
    assert names("") == {a, b, c}


@pytest.mark.parametrize(
    "text",
    ['foo="x"', 'state<"JOB_STATE_FAILED"', "state=NOT_A_STATE", 'create_time>"yesterday"',
     'display_name="unterminated', "(display_name=x", "display_name", "display_name>x",
     "labels=x", "AND"],
)
def test_bad_filters_are_400_naming_the_problem(api: Api, text: str) -> None:
    error = rpc_error(api.list(filter=text), 400, "INVALID_ARGUMENT")
    assert "filter" in error["message"].lower()


# -- faults, latency, admin -------------------------------------------------------------------


def test_injected_faults_answer_the_next_calls_then_stop(api: Api) -> None:
    assert api.admin("POST", "faults", {"status": 503, "count": 2}).status_code == 200
    rpc_error(api.list(), 503, "UNAVAILABLE")
    rpc_error(api.create(), 503, "UNAVAILABLE")
    assert api.list().status_code == 200
    api.admin("POST", "faults", {"status": 429, "count": 1, "methods": ["get"]})
    name = api.created()["name"]  # create is not targeted
    rpc_error(api.get(name), 429, "RESOURCE_EXHAUSTED")
    assert api.get(name).status_code == 200
    api.admin("POST", "faults", {"status": 500, "count": None})
    for _ in range(3):
        rpc_error(api.list(), 500, "INTERNAL")
    assert api.admin("GET", "health").json() == {"ok": True}  # admin is never faulted
    api.admin("DELETE", "faults")
    assert api.list().status_code == 200


def test_latency_delays_api_calls(api: Api) -> None:
    api.admin("POST", "latency", {"seconds": 0.2})
    started = time.perf_counter()
    api.list()
    assert time.perf_counter() - started >= 0.2
    api.admin("POST", "latency", {"seconds": 0})
    started = time.perf_counter()
    api.list()
    assert time.perf_counter() - started < 0.2


def test_admin_state_force_and_reset(api: Api) -> None:
    name = api.created()["name"]
    api.admin("POST", "outcomes", {"result": "fail", "polls": 4, "displayName": "x*"})
    forced = api.admin("POST", "force", {"name": name, "state": "RUNNING"}).json()
    assert forced["state"] == "JOB_STATE_RUNNING" and "startTime" in forced
    assert [api.state(name) for _ in range(3)] == ["JOB_STATE_RUNNING"] * 3  # held there
    forced = api.admin(
        "POST", "force", {"name": name, "state": 5, "error": {"code": 8, "message": "quota"}}
    ).json()
    assert forced["state"] == "JOB_STATE_FAILED"
    assert forced["error"] == {"code": 8, "message": "quota"}
    state = api.admin("GET", "state").json()
    assert [j["job"]["name"] for j in state["jobs"]] == [name]
    assert state["jobs"][0]["mode"] == "simulated"
    assert state["outcomes"][0]["outcome"]["result"] == "fail"
    assert api.admin("POST", "reset").status_code == 200
    state = api.admin("GET", "state").json()
    assert state["jobs"] == [] and state["outcomes"] == []
    rpc_error(api.get(name), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "route", "body", "http"),
    [
        ("POST", "faults", {"status": 418}, 400),
        ("POST", "faults", {"status": 503, "count": 0}, 400),
        ("POST", "faults", {"status": 503, "methods": ["launch"]}, 400),
        ("POST", "outcomes", {"result": "explode"}, 400),
        ("POST", "outcomes", {"polls": 0}, 400),
        ("POST", "outcomes", {"colour": "red"}, 400),
        ("POST", "latency", {"seconds": -1}, 400),
        ("POST", "force", {"name": f"{PARENT}/customJobs/1", "state": "RUNNING"}, 404),
        ("POST", "force", {"name": "x", "state": "SLEEPING"}, 400),
        ("GET", "nothing", None, 404),
    ],
)
def test_bad_admin_requests_are_4xx_in_rpc_shape(
    api: Api, method: str, route: str, body: Any, http: int
) -> None:
    response = api.admin(method, route, body)
    assert response.status_code == http, response.text
    assert response.json()["error"]["code"] == http


# -- robustness ----------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=3),
    max_leaves=12,
)
_keys = st.sampled_from(["displayName", "jobSpec", "display_name", "labels", "state", "x"])


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        _json.map(lambda v: json.dumps(v).encode()),
        st.dictionaries(_keys, _json, max_size=4).map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=40),
    ),
    path=st.sampled_from(["customJobs", "customJobs/1", "customJobs/abc:cancel", "operations/x",
                          "customJobs/%2F..%2F", "nothing"]),
    method=st.sampled_from(["GET", "POST", "DELETE", "PATCH"]),
    query=st.text(max_size=30),
)
def test_bad_input_never_answers_5xx(
    api: Api, body: bytes, path: str, method: str, query: str
) -> None:
    response = api.session.request(
        method, f"{api.url}/v1/{PARENT}/{path}", params={"filter": query, "pageSize": query[:3]},
        data=body,
    )
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]["code"] == response.status_code


def test_keep_alive_serves_many_requests_on_one_connection(api: Api) -> None:
    name = api.created()["name"]
    for _ in range(50):
        assert api.get(name).status_code == 200
    assert len(api.session.adapters["http://"].poolmanager.pools) == 1


def test_concurrent_clients(server: FakeVertexServer, api: Api) -> None:
    errors: list[str] = []

    def client() -> None:
        with requests.Session() as session:
            mine = Api(server.url, session)
            for _ in range(20):
                response = mine.create()
                if response.status_code != 200:
                    errors.append(response.text)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(api.list(pageSize=1000).json()["customJobs"]) == 80


# -- server lifecycle, persistence, serve --------------------------------------------------------


def test_port_in_use_is_an_environment_problem() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EnvironmentProblem, match="in use") as info:
            FakeVertexServer(port=port).start()
    assert info.value.exit_code == 3


def test_stop_closes_kept_alive_connections_and_frees_the_port() -> None:
    server = FakeVertexServer().start()
    port = server.port
    session = requests.Session()
    assert session.get(f"{server.url}/_cjob_emu/health").status_code == 200
    server.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(f"http://127.0.0.1:{port}/_cjob_emu/health", timeout=2)
    with FakeVertexServer(port=port) as again:
        assert requests.get(f"{again.url}/_cjob_emu/health").json() == {"ok": True}


def test_jobs_survive_a_restart_with_a_state_dir(tmp_path: Path) -> None:
    with FakeVertexServer(state_dir=tmp_path, provisioning=0) as first, \
            requests.Session() as session:
        api = Api(first.url, session)
        done = api.created(labels={"cjob-emu-polls": "1"})["name"]
        assert api.state(done) == "JOB_STATE_SUCCEEDED"
        slow = api.created(labels={"cjob-emu-polls": "3"})["name"]
        assert api.state(slow) == "JOB_STATE_RUNNING"
        deleted = api.created(labels={"cjob-emu-polls": "1"})["name"]
        api.get(deleted)
        assert api.delete(deleted).status_code == 200
        before = {j["name"]: j for j in api.list().json()["customJobs"]}
    files = sorted(p.name for p in (tmp_path / "customJobs").iterdir())
    assert files == sorted(f"{n.rsplit('/', 1)[1]}.json" for n in (done, slow))
    with FakeVertexServer(state_dir=tmp_path, provisioning=0) as second, \
            requests.Session() as session:
        api = Api(second.url, session)
        after = {j["name"]: j for j in api.list().json()["customJobs"]}
        assert after == before
        assert api.state(slow) == "JOB_STATE_RUNNING"  # poll 2 of 3: progress was kept
        assert api.state(slow) == "JOB_STATE_SUCCEEDED"
        assert [j["name"] for j in api.list().json()["customJobs"]] == [slow, done]
        newer = api.created()["name"]
        assert api.list().json()["customJobs"][0]["name"] == newer


def test_executor_jobs_cut_short_by_a_restart_come_back_failed(tmp_path: Path) -> None:
    from cjob_emu.fake_api.simulated_runner import Outcome

    class _Forgetful:
        """A runner whose runs cannot be resumed, like the executor's."""

        def start(self, job: Any, report: Any) -> Any:
            return _Run()

        def resume(self, job: Any, snapshot: Any, report: Any) -> None:
            return None

        def close(self) -> None:
            pass

    class _Run:
        def on_poll(self) -> None:
            pass

        def cancel(self) -> None:
            pass

        def snapshot(self) -> None:
            return None

    with FakeVertexServer(state_dir=tmp_path, mode="executor", executor_runner=_Forgetful(),
                          default_outcome=Outcome()) as first:
        name = Api(first.url, requests.Session()).created()["name"]
    with FakeVertexServer(state_dir=tmp_path) as second:
        job = Api(second.url, requests.Session()).get(name).json()
    assert job["state"] == "JOB_STATE_FAILED"
    assert job["error"]["code"] == 13
    assert "restarted" in job["error"]["message"]


def test_serve_prints_address_serves_and_stops_cleanly(tmp_path: Path) -> None:
    import io

    out, err = io.StringIO(), io.StringIO()
    stop = threading.Event()
    codes: list[int] = []
    thread = threading.Thread(
        target=lambda: codes.append(serve(state_dir=tmp_path / "state", gcs_root=tmp_path / "gcs",
                                          out=out, err=err, stop=stop))
    )
    thread.start()
    deadline = time.monotonic() + 10
    while "listening on" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    url = out.getvalue().splitlines()[0].rsplit(" ", 1)[1]
    assert url.startswith("http://127.0.0.1:")
    assert requests.get(f"{url}/_cjob_emu/health").json() == {"ok": True}
    assert requests.get(f"{url}/storage/v1/b/missing").status_code == 404
    (tmp_path / "gcs" / "bucket").mkdir()
    assert requests.get(f"{url}/storage/v1/b/bucket").json()["name"] == "bucket"
    stop.set()
    thread.join(10)
    assert codes == [0]
    assert err.getvalue() == ""


def test_serve_on_a_non_loopback_address_warns_loudly(tmp_path: Path) -> None:
    import io

    out, err = io.StringIO(), io.StringIO()
    stop = threading.Event()
    stop.set()
    assert serve(host="0.0.0.0", gcs_root=tmp_path, out=out, err=err, stop=stop) == 0
    assert "WARNING: listening on 0.0.0.0, not loopback" in err.getvalue()
