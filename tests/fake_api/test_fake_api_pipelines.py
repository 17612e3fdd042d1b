"""``pipelineJobs`` for the real, unmodified SDK: ``aiplatform.PipelineJob`` in simulated mode.

Every SDK test runs against the server (``fake_vertex``) and the ``responses`` mock
(``vertex_mock``); the outcome is scripted as for CustomJobs. The executor mode, where
the pipeline really runs, is in test_fake_api_pipeline_runs.py.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform, aiplatform_v1
from support.paths import FIXTURES

from cjob_emu import pytest_plugin
from cjob_emu.fake_api import FakeVertexServer, VertexMock
from cjob_emu.fake_api import fixtures as _fixtures
from cjob_emu.fake_api.projects import derived_number
from cjob_emu.fake_api.sdk import DEFAULT_LOCATION, DEFAULT_PROJECT
from cjob_emu.fake_api.wire import Request

if not hasattr(pytest_plugin, "fake_vertex"):  # until the plugin declares them
    fake_vertex_server = pytest.fixture(scope="session")(_fixtures.fake_vertex_server)
    fake_vertex = pytest.fixture(_fixtures.fake_vertex)
    vertex_mock = pytest.fixture(_fixtures.vertex_mock)

TEMPLATE = FIXTURES / "pipelines" / "train_eval_gcpc.yaml"
PARENT = f"projects/{DEFAULT_PROJECT}/locations/{DEFAULT_LOCATION}"
NAMED = f"projects/{derived_number(DEFAULT_PROJECT)}/locations/{DEFAULT_LOCATION}"
State = aiplatform_v1.PipelineState
TaskState = aiplatform_v1.PipelineTaskDetail.State

Fake = FakeVertexServer | VertexMock


@pytest.fixture(params=["server", "mock"])
def vertex(request: pytest.FixtureRequest) -> Iterator[Fake]:
    """The fake API with aiplatform pointed at it: over HTTP, then in-process."""
    yield request.getfixturevalue("fake_vertex" if request.param == "server" else "vertex_mock")


def pipeline_job(display_name: str = "nightly", **kwargs: Any) -> aiplatform.PipelineJob:
    kwargs.setdefault("parameter_values", {"rows": 12})
    return aiplatform.PipelineJob(display_name=display_name, template_path=str(TEMPLATE),
                                  **kwargs)


def tasks(job: aiplatform.PipelineJob) -> dict[str, Any]:
    return {t.task_name: t for t in job.task_details}


def test_run_succeeds_and_lists_the_tasks_as_vertex_does(vertex: Fake) -> None:
    job = pipeline_job(enable_caching=False, labels={"team": "ml"})
    started = time.perf_counter()
    job.run()
    assert time.perf_counter() - started < 5  # the SDK's own 5 s between polls would exceed
    assert job.state == State.PIPELINE_STATE_SUCCEEDED
    assert job.resource_name.startswith(f"{NAMED}/pipelineJobs/train-eval-")
    resource = job.gca_resource
    assert resource.start_time and resource.end_time and resource.labels == {"team": "ml"}
    assert resource.runtime_config.parameter_values["rows"] == 12
    assert resource.runtime_config.gcs_output_directory == "gs://cjob-emu-staging"
    assert resource.pipeline_spec["pipelineInfo"]["name"] == "train-eval"
    found = tasks(job)
    assert list(found) == ["train-eval", "prepare-data", "train", "evaluate"]
    root = found["train-eval"]
    assert not root.parent_task_id
    assert {t.parent_task_id for n, t in found.items() if n != "train-eval"} == {root.task_id}
    assert {t.state for t in found.values()} == {TaskState.SUCCEEDED}


@pytest.mark.parametrize("root", [None, "gs://fresh-bucket/root"])
def test_submit_checks_or_makes_the_pipeline_roots_bucket_offline(
    vertex: Fake, root: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    """The SDK checks the bucket belongs to the project (Resource Manager's number), or
    creates it and grants it to the project's compute service account: no error logged."""
    caplog.set_level(logging.INFO, logger="google.cloud.aiplatform")
    job = pipeline_job(pipeline_root=root)
    started = time.perf_counter()
    job.submit()
    assert time.perf_counter() - started < 5  # no wait on Resource Manager
    assert "Error when trying to get or create a GCS bucket" not in caplog.text
    storage = vertex.app.storage
    assert storage is not None
    if root is not None:
        assert (storage.root.path / "fresh-bucket").is_dir()
        assert 'Creating GCS bucket for pipelines: "fresh-bucket"' in caplog.text
        url = "/storage/v1/b/fresh-bucket/iam"
        policy = json.loads(vertex.app.handle(Request("GET", url)).body)
        account = f"{derived_number(DEFAULT_PROJECT)}-compute@developer.gserviceaccount.com"
        member = f"serviceAccount:{account}"
        assert {b["role"]: b["members"] for b in policy["bindings"]}[
            "roles/storage.objectCreator"] == [member]


def test_submit_reads_pending_then_wait_sees_it_through(vertex: Fake) -> None:
    vertex.set_provisioning(1.0)  # room for a slow read on a busy machine
    job = pipeline_job()
    job.submit()
    assert job.gca_resource.state == State.PIPELINE_STATE_PENDING
    assert aiplatform.PipelineJob.get(job.resource_name).state == State.PIPELINE_STATE_PENDING
    job.wait()
    assert job.state == State.PIPELINE_STATE_SUCCEEDED
    assert job.has_failed is False


def test_a_scripted_failure_fails_run_with_the_pipeline_error(vertex: Fake) -> None:
    vertex.script_outcome("fail")
    job = pipeline_job()
    with pytest.raises(RuntimeError, match=r"^Job failed with:\n") as info:
        job.run()
    assert "code: 9" in str(info.value)
    message = "The DAG failed because some tasks failed. The failed tasks are: [evaluate]."
    assert message in str(info.value)
    assert job.has_failed
    found = tasks(job)
    assert found["evaluate"].state == TaskState.FAILED
    assert found["evaluate"].error.message == message
    assert found["train"].state == TaskState.SUCCEEDED


def test_cancel_ends_cancelled(vertex: Fake) -> None:
    job = pipeline_job(labels={"cjob-emu-outcome": "stay-running"})
    job.submit()
    job.cancel()
    job.wait()  # CANCELLED is an end the SDK does not raise on
    assert job.state == State.PIPELINE_STATE_CANCELLED
    assert job.gca_resource.error.code == 1
    with pytest.raises(exceptions.BadRequest, match="PIPELINE_STATE_CANCELLED"):
        job.cancel()


def test_get_list_filters_and_delete(vertex: Fake) -> None:
    # the SDK's default ids (<pipeline>-<time to the second>) collide within a second, on
    # Vertex too (409): jobs made together get their own
    a = pipeline_job("nightly-a", job_id="nightly-a", labels={"team": "ml"})
    a.run()
    b = pipeline_job("nightly-b", job_id="nightly-b",
                     labels={"team": "data", "cjob-emu-outcome": "stay-running"})
    b.submit()
    c = pipeline_job("adhoc", job_id="adhoc-run-1")
    c.submit()
    assert c.resource_name == f"{NAMED}/pipelineJobs/adhoc-run-1"
    fetched = aiplatform.PipelineJob.get(a.resource_name)
    assert fetched.display_name == "nightly-a" and fetched.state == State.PIPELINE_STATE_SUCCEEDED
    assert aiplatform.PipelineJob.get("adhoc-run-1").resource_name == c.resource_name

    def names(text: str) -> set[str]:
        return {j.display_name for j in aiplatform.PipelineJob.list(filter=text)}

    assert names('display_name:"nightly-*"') == {"nightly-a", "nightly-b"}
    assert names('state="PIPELINE_STATE_SUCCEEDED"') == {"nightly-a"}
    assert names("labels.team=data OR display_name=adhoc") == {"nightly-b", "adhoc"}
    assert names('pipeline_name="train-eval"') == {"nightly-a", "nightly-b", "adhoc"}
    assert names('pipeline_job_user_id:"adhoc-*"') == {"adhoc"}
    assert names(f'end_time>="{fetched.gca_resource.create_time.isoformat()}"') == {"nightly-a"}
    assert names("") == {"nightly-a", "nightly-b", "adhoc"}
    with pytest.raises(exceptions.BadRequest, match="unsupported field"):
        aiplatform.PipelineJob.list(filter='colour="red"')
    simple = aiplatform.PipelineJob.list(enable_simple_view=True)
    assert len(simple) == 3 and not simple[0].gca_resource.runtime_config.parameter_values
    a.delete()
    with pytest.raises(exceptions.NotFound):
        aiplatform.PipelineJob.get(a.resource_name)
    with pytest.raises(exceptions.BadRequest, match="cannot be deleted"):
        b.delete()


def test_the_generated_client_pages_and_sees_integer_states(vertex: Fake) -> None:
    endpoint = vertex.url if isinstance(vertex, FakeVertexServer) else (
        f"https://{DEFAULT_LOCATION}-aiplatform.googleapis.com"
    )
    client = aiplatform_v1.PipelineServiceClient(
        credentials=AnonymousCredentials(), transport="rest",
        client_options={"api_endpoint": endpoint},
    )
    vertex.set_provisioning(60)
    template = aiplatform_v1.PipelineJob.from_json(json.dumps(_body()))
    created = [client.create_pipeline_job(parent=PARENT, pipeline_job=template,
                                          pipeline_job_id=f"paged-{i}").name for i in range(3)]
    pages = list(client.list_pipeline_jobs(request={"parent": PARENT, "page_size": 2}).pages)
    assert [len(p.pipeline_jobs) for p in pages] == [2, 1]
    assert [j.name for p in pages for j in p.pipeline_jobs] == created[::-1]
    assert client.get_pipeline_job(name=created[0]).state == State.PIPELINE_STATE_PENDING
    with pytest.raises(exceptions.Conflict, match="already exists"):
        client.create_pipeline_job(parent=PARENT, pipeline_job=template,
                                   pipeline_job_id="paged-0")


# -- raw HTTP: what create refuses, the admin view -------------------------------------------------


@pytest.fixture
def api(fake_vertex: FakeVertexServer) -> Iterator[tuple[str, requests.Session]]:
    with requests.Session() as session:
        yield f"{fake_vertex.url}/v1/{PARENT}/pipelineJobs", session


def _body() -> dict[str, Any]:
    """What ``PipelineJob.submit`` sends, written out."""
    spec = yaml.safe_load(TEMPLATE.read_text())
    return {"displayName": "raw", "pipelineSpec": spec,
            "runtimeConfig": {"gcsOutputDirectory": "gs://cjob-emu-staging",
                              "parameterValues": {"rows": 12}}}


@pytest.mark.parametrize(
    ("change", "query", "field"),
    [
        ({"pipelineSpec": {}}, "", "pipeline_spec"),
        ({"pipelineSpec": {"pipelineInfo": {"name": "x"}}}, "", "pipeline_spec"),
        ({"runtimeConfig": {"parameterValues": {"colour": "red"}}}, "",
         "runtime_config.parameter_values"),
        ({}, "pipelineJobId=Not_Valid", "pipeline_job_id"),
        ({"bogus": 1}, "", None),
    ],
)
def test_create_refuses_what_vertex_would(api: tuple[str, requests.Session],
                                          change: dict[str, Any], query: str,
                                          field: str | None) -> None:
    url, session = api
    response = session.post(f"{url}?{query}", json={**_body(), **change})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    if field is not None:
        assert error["details"][0]["fieldViolations"][0]["field"] == field
    assert session.get(url).json() == {}


def test_a_job_without_an_id_gets_one_and_enums_follow_the_request(
    api: tuple[str, requests.Session], fake_vertex: FakeVertexServer
) -> None:
    url, session = api
    plain = session.post(url, json=_body()).json()
    assert plain["name"].startswith(f"{NAMED}/pipelineJobs/train-eval-")
    assert plain["state"] == "PIPELINE_STATE_PENDING"
    encoded = session.get(f"{fake_vertex.url}/v1/{plain['name']}?$alt=json;enum-encoding=int")
    assert encoded.json()["state"] == 2
    forced = fake_vertex.force_state(plain["name"], "FAILED")
    assert forced["state"] == "PIPELINE_STATE_FAILED" and forced["error"]["code"] == 9
    state = fake_vertex.dump()
    assert [j["job"]["name"] for j in state["pipelineJobs"]] == [plain["name"]]
    assert state["jobs"] == []


def test_pipeline_jobs_survive_a_restart_with_a_state_dir(tmp_path: Path) -> None:
    with FakeVertexServer(state_dir=tmp_path, provisioning=0) as first, \
            requests.Session() as session:
        url = f"{first.url}/v1/{PARENT}/pipelineJobs"
        name = session.post(f"{url}?pipelineJobId=kept", json=_body()).json()["name"]
        assert session.get(f"{first.url}/v1/{name}").json()["state"] == "PIPELINE_STATE_RUNNING"
    assert (tmp_path / "pipelineJobs" / "kept.json").is_file()
    with FakeVertexServer(state_dir=tmp_path, provisioning=0) as second, \
            requests.Session() as session:
        job = session.get(f"{second.url}/v1/{name}").json()
        assert job["state"] == "PIPELINE_STATE_SUCCEEDED"  # poll 2 of 2: progress was kept
        assert [t["taskName"] for t in job["jobDetail"]["taskDetails"]] == [
            "train-eval", "prepare-data", "train", "evaluate"]
