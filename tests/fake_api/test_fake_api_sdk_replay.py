"""The SDK's own CustomJob unit tests, replayed against the fake API instead of mocks.

google-cloud-aiplatform's ``tests/unit/aiplatform/test_custom_job.py`` mocks
``JobServiceClient`` with answers it expects from Vertex: a job read right after it
was created is ``JOB_STATE_PENDING``, then RUNNING, then SUCCEEDED. Here the same calls
go to the fake API (server and ``responses`` mock), with the test's own constants. Two
changes, for values Vertex refuses on create (and so does the fake): the accelerator
NVIDIA_TESLA_K80 is retired, the pools use NVIDIA_TESLA_T4; the encryption key
``key_1234`` is no KMS key name, the tests use a full one.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud import aiplatform
from google.cloud.aiplatform.compat.types import custom_job as gca_custom_job_compat
from google.cloud.aiplatform.compat.types import io as gca_io_compat
from google.cloud.aiplatform.compat.types import job_state as gca_job_state_compat
from google.protobuf import duration_pb2

from cjob_emu import pytest_plugin
from cjob_emu.fake_api import FakeVertexServer, VertexMock
from cjob_emu.fake_api import fixtures as _fixtures
from cjob_emu.fake_api.projects import derived_number

if not hasattr(pytest_plugin, "fake_vertex"):  # until the plugin declares them
    fake_vertex_server = pytest.fixture(scope="session")(_fixtures.fake_vertex_server)
    fake_vertex = pytest.fixture(_fixtures.fake_vertex)
    vertex_mock = pytest.fixture(_fixtures.vertex_mock)

# tests/unit/aiplatform/constants.py and test_custom_job.py
_TEST_PROJECT = "test-project"
_TEST_LOCATION = "us-central1"
_TEST_DISPLAY_NAME = "my_job_1234"
_TEST_STAGING_BUCKET = "gs://test-staging-bucket"
_TEST_BASE_OUTPUT_DIR = f"{_TEST_STAGING_BUCKET}/{_TEST_DISPLAY_NAME}"
_TEST_TRAINING_CONTAINER_IMAGE = "gcr.io/test-training/container:image"
_TEST_RUN_ARGS = ["-v", "0.1", "--test=arg"]
_TEST_WORKER_POOL_SPEC = [
    {
        "machine_spec": {
            "machine_type": "n1-standard-4",
            "accelerator_type": "NVIDIA_TESLA_T4",  # the SDK's tests: NVIDIA_TESLA_K80
            "accelerator_count": 1,
        },
        "replica_count": 1,
        "disk_spec": {"boot_disk_type": "pd-ssd", "boot_disk_size_gb": 100},
        "container_spec": {
            "image_uri": _TEST_TRAINING_CONTAINER_IMAGE,
            "command": [],
            "args": _TEST_RUN_ARGS,
        },
    }
]
_TEST_SERVICE_ACCOUNT = "vinnys@my-project.iam.gserviceaccount.com"
_TEST_NETWORK = f"projects/{_TEST_PROJECT}/global/networks/1028944691210842416"
_TEST_TIMEOUT = 8000
_TEST_RESTART_JOB_ON_WORKER_RESTART = True
_TEST_DISABLE_RETRIES = True
_TEST_MAX_WAIT_DURATION = 8000
_TEST_LABELS = {"my_key": "my_value"}
_TEST_DEFAULT_ENCRYPTION_KEY_NAME = (  # the SDK's tests: "key_1234"
    f"projects/{_TEST_PROJECT}/locations/{_TEST_LOCATION}/keyRings/kr/cryptoKeys/key_1234"
)
_TEST_PARENT = f"projects/{derived_number(_TEST_PROJECT)}/locations/{_TEST_LOCATION}"

_TEST_BASE_CUSTOM_JOB_PROTO = gca_custom_job_compat.CustomJob(
    display_name=_TEST_DISPLAY_NAME,
    job_spec=gca_custom_job_compat.CustomJobSpec(
        worker_pool_specs=_TEST_WORKER_POOL_SPEC,
        base_output_directory=gca_io_compat.GcsDestination(
            output_uri_prefix=_TEST_BASE_OUTPUT_DIR
        ),
        scheduling=gca_custom_job_compat.Scheduling(
            timeout=duration_pb2.Duration(seconds=_TEST_TIMEOUT),
            restart_job_on_worker_restart=_TEST_RESTART_JOB_ON_WORKER_RESTART,
            disable_retries=_TEST_DISABLE_RETRIES,
            max_wait_duration=duration_pb2.Duration(seconds=_TEST_MAX_WAIT_DURATION),
        ),
        service_account=_TEST_SERVICE_ACCOUNT,
        network=_TEST_NETWORK,
    ),
    labels=_TEST_LABELS,
)

Fake = FakeVertexServer | VertexMock


@pytest.fixture(params=["server", "mock"])
def vertex(request: pytest.FixtureRequest) -> Iterator[Fake]:
    """The fake API with aiplatform pointed at it: over HTTP, then in-process."""
    fake = request.getfixturevalue("fake_vertex" if request.param == "server" else "vertex_mock")
    fake.set_provisioning(30)  # reads within a test find a new job PENDING, as on Vertex
    yield fake


def _init(**extra: Any) -> None:
    """``aiplatform.init`` as the SDK's tests call it, on the fixture's endpoint."""
    aiplatform.init(project=_TEST_PROJECT, location=_TEST_LOCATION,
                    staging_bucket=_TEST_STAGING_BUCKET,
                    encryption_spec_key_name=_TEST_DEFAULT_ENCRYPTION_KEY_NAME, **extra)


def _job() -> aiplatform.CustomJob:
    return aiplatform.CustomJob(display_name=_TEST_DISPLAY_NAME,
                                worker_pool_specs=_TEST_WORKER_POOL_SPEC,
                                base_output_dir=_TEST_BASE_OUTPUT_DIR, labels=_TEST_LABELS)


def _submitted() -> aiplatform.CustomJob:
    job = _job()
    job.submit(service_account=_TEST_SERVICE_ACCOUNT, network=_TEST_NETWORK,
               timeout=_TEST_TIMEOUT,
               restart_job_on_worker_restart=_TEST_RESTART_JOB_ON_WORKER_RESTART,
               create_request_timeout=None, disable_retries=_TEST_DISABLE_RETRIES,
               max_wait_duration=_TEST_MAX_WAIT_DURATION)
    return job


def test_get_custom_job(vertex: Fake) -> None:
    _init()
    name = _submitted().resource_name

    job = aiplatform.CustomJob.get(name)

    assert job._gca_resource.state == gca_job_state_compat.JobState.JOB_STATE_PENDING
    assert job.job_spec == _TEST_BASE_CUSTOM_JOB_PROTO.job_spec


def test_submit_custom_job(vertex: Fake) -> None:
    _init()
    job = _submitted()
    job.wait_for_resource_creation()
    assert job.resource_name.startswith(f"{_TEST_PARENT}/customJobs/")
    job.wait()

    assert job.job_spec == _TEST_BASE_CUSTOM_JOB_PROTO.job_spec
    assert job._gca_resource.state == gca_job_state_compat.JobState.JOB_STATE_PENDING
    assert job.network == _TEST_NETWORK


@pytest.mark.parametrize("sync", [True, False])
def test_create_custom_job(vertex: Fake, sync: bool) -> None:
    vertex.set_provisioning(0.1)  # run() waits for the end: a short provisioning
    _init(network=_TEST_NETWORK, service_account=_TEST_SERVICE_ACCOUNT)
    job = _job()
    job.run(timeout=_TEST_TIMEOUT,
            restart_job_on_worker_restart=_TEST_RESTART_JOB_ON_WORKER_RESTART, sync=sync,
            create_request_timeout=None, disable_retries=_TEST_DISABLE_RETRIES,
            max_wait_duration=_TEST_MAX_WAIT_DURATION)
    job.wait_for_resource_creation()
    assert job.resource_name.startswith(f"{_TEST_PARENT}/customJobs/")
    job.wait()

    assert job.job_spec == _TEST_BASE_CUSTOM_JOB_PROTO.job_spec
    assert job._gca_resource.state == gca_job_state_compat.JobState.JOB_STATE_SUCCEEDED
    assert job.network == _TEST_NETWORK


def test_custom_job_get_state_raises_without_run(vertex: Fake) -> None:
    _init()
    job = _job()
    with pytest.raises(RuntimeError):
        print(job.state)


def test_check_custom_job_availability(vertex: Fake) -> None:
    vertex.set_provisioning(0.1)
    _init()
    job = _job()
    assert not job._resource_is_available
    assert job.__repr__().startswith("<google.cloud.aiplatform.jobs.CustomJob object")
    job.run(service_account=_TEST_SERVICE_ACCOUNT, network=_TEST_NETWORK,
            timeout=_TEST_TIMEOUT,
            restart_job_on_worker_restart=_TEST_RESTART_JOB_ON_WORKER_RESTART,
            disable_retries=_TEST_DISABLE_RETRIES, max_wait_duration=_TEST_MAX_WAIT_DURATION)
    job.wait_for_resource_creation()
    assert job._resource_is_available
    assert "resource name" in job.__repr__()
    job.wait()


def test_create_custom_job_without_base_output_dir(vertex: Fake) -> None:
    _init()
    job = aiplatform.CustomJob(display_name=_TEST_DISPLAY_NAME,
                               worker_pool_specs=_TEST_WORKER_POOL_SPEC)
    job.submit()
    fetched = aiplatform.CustomJob.get(job.resource_name)
    assert fetched.job_spec.base_output_directory.output_uri_prefix.startswith(
        f"{_TEST_STAGING_BUCKET}/aiplatform-custom-job"
    )
    assert fetched.state == gca_job_state_compat.JobState.JOB_STATE_PENDING


def test_a_pool_without_a_disk_reads_back_with_vertex_default(vertex: Fake) -> None:
    _init()
    pools = copy.deepcopy(_TEST_WORKER_POOL_SPEC)
    del pools[0]["disk_spec"]
    job = aiplatform.CustomJob(display_name=_TEST_DISPLAY_NAME, worker_pool_specs=pools)
    job.submit()
    # what the SDK's tests expect back is the disk its own pool builder writes
    expected = _TEST_BASE_CUSTOM_JOB_PROTO.job_spec.worker_pool_specs[0].disk_spec
    assert aiplatform.CustomJob.get(job.resource_name).job_spec.worker_pool_specs[0] \
        .disk_spec == expected
