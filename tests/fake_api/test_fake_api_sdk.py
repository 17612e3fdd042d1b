"""The real, unmodified aiplatform SDK against the fake API: the server and the responses mock.

Every test runs twice, once over HTTP (``fake_vertex``) and once in-process
(``vertex_mock``), through the same fixtures users get from the pytest plugin.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform, aiplatform_v1
from google.cloud.aiplatform import initializer, jobs

from cjob_emu import pytest_plugin
from cjob_emu.fake_api import FakeVertexServer, VertexMock, sdk_pointed_at
from cjob_emu.fake_api import fixtures as _fixtures
from cjob_emu.fake_api.projects import derived_number
from cjob_emu.fake_api.sdk import DEFAULT_LOCATION, DEFAULT_PROJECT

if not hasattr(pytest_plugin, "fake_vertex"):  # until the plugin declares them
    fake_vertex_server = pytest.fixture(scope="session")(_fixtures.fake_vertex_server)
    fake_vertex = pytest.fixture(_fixtures.fake_vertex)
    vertex_mock = pytest.fixture(_fixtures.vertex_mock)

PARENT = f"projects/{DEFAULT_PROJECT}/locations/{DEFAULT_LOCATION}"
# what Vertex names resources with: the project number
NAMED = f"projects/{derived_number(DEFAULT_PROJECT)}/locations/{DEFAULT_LOCATION}"
POOLS = [
    {
        "machine_spec": {"machine_type": "n1-standard-4"},
        "replica_count": 1,
        "container_spec": {"image_uri": "gcr.io/p/trainer:1", "args": ["--epochs=2"]},
    }
]

Fake = FakeVertexServer | VertexMock


@pytest.fixture(params=["server", "mock"])
def vertex(request: pytest.FixtureRequest) -> Iterator[Fake]:
    """The fake API with aiplatform pointed at it: over HTTP, then in-process."""
    yield request.getfixturevalue("fake_vertex" if request.param == "server" else "vertex_mock")


def new_job(display_name: str = "train", **kwargs: Any) -> aiplatform.CustomJob:
    return aiplatform.CustomJob(display_name=display_name, worker_pool_specs=POOLS, **kwargs)


def job_service(vertex: Fake) -> aiplatform_v1.JobServiceClient:
    """The generated client, as code that does not use the high-level SDK builds it."""
    endpoint = vertex.url if isinstance(vertex, FakeVertexServer) else (
        f"https://{DEFAULT_LOCATION}-aiplatform.googleapis.com"
    )
    return aiplatform_v1.JobServiceClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options={"api_endpoint": endpoint},
    )


def test_run_sync_succeeds_with_fast_polling(vertex: Fake) -> None:
    job = new_job(labels={"team": "ml"})
    started = time.perf_counter()
    job.run(sync=True)
    elapsed = time.perf_counter() - started
    assert job.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED
    assert job.resource_name.startswith(f"{NAMED}/customJobs/")
    resource = job.gca_resource
    assert resource.start_time and resource.end_time
    assert resource.labels == {"team": "ml"}
    # The SDK filled the output directory from the staging bucket, and it round-tripped.
    assert resource.job_spec.base_output_directory.output_uri_prefix.startswith(
        "gs://cjob-emu-staging/aiplatform-custom-job-"
    )
    assert elapsed < 2.5  # the SDK's own 5 s wait between polls would exceed this


def test_failing_job_raises_runtime_error_as_on_vertex(vertex: Fake) -> None:
    vertex.script_outcome("fail", error_message="The replica workerpool0-0 exited with 1.")
    job = new_job()
    with pytest.raises(RuntimeError, match=r"^Job failed with:\n") as info:
        job.run(sync=True)
    assert "code: 3" in str(info.value)
    assert "The replica workerpool0-0 exited with 1." in str(info.value)
    assert job.state == aiplatform_v1.JobState.JOB_STATE_FAILED


def test_cancel_ends_cancelled_and_waiting_raises(vertex: Fake) -> None:
    job = new_job(labels={"cjob-emu-outcome": "stay-running"})
    job.submit()
    job.cancel()
    with pytest.raises(RuntimeError, match="Job failed with") as info:
        job.wait_for_completion()
    assert job.state == aiplatform_v1.JobState.JOB_STATE_CANCELLED
    assert job.gca_resource.error.code == 1
    assert "CANCELED" in str(info.value)


def test_cancelling_a_finished_job_is_bad_request(vertex: Fake) -> None:
    job = new_job()
    job.run(sync=True)
    with pytest.raises(exceptions.BadRequest, match="JOB_STATE_SUCCEEDED"):
        job.cancel()


def test_delete_then_get_is_not_found(vertex: Fake) -> None:
    job = new_job()
    job.run(sync=True)
    name = job.resource_name
    job.delete()
    with pytest.raises(exceptions.NotFound):
        aiplatform.CustomJob.get(name)


def test_get_by_name_and_list_with_filters(vertex: Fake) -> None:
    a = new_job("nightly-a", labels={"team": "ml"})
    a.run(sync=True)
    b = new_job("nightly-b", labels={"team": "data"})
    b.submit()
    c = new_job("adhoc")
    c.submit()

    fetched = aiplatform.CustomJob.get(a.resource_name)
    assert fetched.display_name == "nightly-a"
    assert fetched.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED

    def names(text: str) -> set[str]:
        return {j.display_name for j in aiplatform.CustomJob.list(filter=text)}

    assert names('display_name:"nightly-*"') == {"nightly-a", "nightly-b"}
    assert names('state="JOB_STATE_SUCCEEDED"') == {"nightly-a"}
    assert names("labels.team=data OR display_name=adhoc") == {"nightly-b", "adhoc"}
    assert names("NOT labels.team:*") == {"adhoc"}
    assert names("") == {"nightly-a", "nightly-b", "adhoc"}
    with pytest.raises(exceptions.BadRequest, match="unsupported field"):
        aiplatform.CustomJob.list(filter='colour="red"')


def test_generated_rest_client_lists_over_two_pages(vertex: Fake) -> None:
    vertex.set_provisioning(60)  # the jobs stay PENDING, as new jobs on Vertex do
    client = job_service(vertex)
    template = aiplatform_v1.CustomJob(
        display_name="paged", job_spec=aiplatform_v1.CustomJobSpec(worker_pool_specs=POOLS)
    )
    created = [client.create_custom_job(parent=PARENT, custom_job=template).name
               for _ in range(3)]
    pager = client.list_custom_jobs(request={"parent": PARENT, "page_size": 2})
    pages = list(pager.pages)
    assert [len(p.custom_jobs) for p in pages] == [2, 1]
    assert [j.name for p in pages for j in p.custom_jobs] == created[::-1]
    got = client.get_custom_job(name=created[0])
    assert got.state == aiplatform_v1.JobState.JOB_STATE_PENDING


def test_invalid_job_is_bad_request_with_vertex_message(vertex: Fake) -> None:
    pools = [dict(POOLS[0], machine_spec={"machine_type": "n1-standard-4",
                                          "accelerator_count": 1})]
    job = aiplatform.CustomJob(display_name="bad", worker_pool_specs=pools)
    with pytest.raises(exceptions.BadRequest) as info:
        job.run(sync=True)
    field = "job_spec.worker_pool_specs[0].machine_spec.accelerator_type"
    assert info.value.code == 400
    # api_core puts "POST <url>: " before the server's message over REST, on Vertex too.
    assert info.value.message.split(": ", 1)[1].startswith(
        f"List of found errors:\t1.Field: {field}; Message: "
    )
    assert info.value.details[0]["fieldViolations"][0]["field"] == field
    assert vertex.jobs() == []


def test_injected_faults_reach_the_client_as_api_core_exceptions(vertex: Fake) -> None:
    client = job_service(vertex)
    vertex.inject_fault(503, count=1, methods=["list"])
    with pytest.raises(exceptions.ServiceUnavailable):
        list(client.list_custom_jobs(parent=PARENT))
    vertex.inject_fault(429)
    with pytest.raises(exceptions.TooManyRequests):
        new_job().run(sync=True)
    assert list(client.list_custom_jobs(parent=PARENT)) == []


def test_mock_answers_vertex_own_endpoint(vertex_mock: VertexMock) -> None:
    vertex_mock.set_provisioning(0)  # RUNNING at the first read: no polls while it provisions
    new_job().run(sync=True)
    urls = [call.request.url for call in vertex_mock.responses.calls]
    assert urls[0].startswith(
        f"https://{DEFAULT_LOCATION}-aiplatform.googleapis.com/v1/{PARENT}/customJobs?"
    )
    assert len(urls) == 3  # create, then the SDK's first GET, then one poll


def test_mock_as_decorator_keeps_its_state_between_uses() -> None:
    fake = VertexMock()

    @fake
    def submit_one() -> str:
        with sdk_pointed_at(None):
            job = new_job()
            job.submit()
            return str(job.resource_name)

    first = submit_one()
    second = submit_one()
    assert [j["name"] for j in fake.jobs()] == [first, second]


def test_sdk_configuration_is_restored_afterwards(fake_vertex_server: FakeVertexServer) -> None:
    config = initializer.global_config
    before = (dict(vars(config)), jobs._JOB_WAIT_TIME)
    with sdk_pointed_at(fake_vertex_server.url, project="elsewhere", poll_interval=0.01):
        assert config.api_endpoint == fake_vertex_server.url
        assert config.project == "elsewhere"
        assert jobs._JOB_WAIT_TIME == 0.01
    assert (dict(vars(config)), jobs._JOB_WAIT_TIME) == before
