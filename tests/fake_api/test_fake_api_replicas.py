"""Replicas of executor-mode jobs reach the fake API that runs them.

Every replica gets ``CJOB_EMU_API_ENDPOINT`` and ``STORAGE_EMULATOR_HOST``. On the docker
backend they name the run network's gateway, where the server listens only while the job
runs; the server never listens on all interfaces (checked in the kernel's socket table).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import docker
import pytest
import requests
from google.cloud import aiplatform, aiplatform_v1
from support.docker_leftovers import remove_and_assert_none
from support.executor_jobs import IMAGE
from support.sockets import listening

from cjob_emu.executor import RunOptions
from cjob_emu.fake_api import FakeVertexServer, sdk_pointed_at
from cjob_emu.fake_api.executor_runner import ExecutorRunner

SUCCEEDED = aiplatform_v1.JobState.JOB_STATE_SUCCEEDED
ENDED = (SUCCEEDED, aiplatform_v1.JobState.JOB_STATE_FAILED,
         aiplatform_v1.JobState.JOB_STATE_CANCELLED)
BUCKET = "replica-bucket"
PROJECT = "replica-project"

# What the replica does: read its own job and an object through the API URLs it was
# given, write an object, report, then wait for the test's go-ahead (so the test can look
# at the server's sockets while the job runs).
REPLICA = """\
import json, os, time, urllib.request
api = os.environ["CJOB_EMU_API_ENDPOINT"]
storage = os.environ["STORAGE_EMULATOR_HOST"]
name = "projects/{}/locations/{}/customJobs/{}".format(
    os.environ["PROJECT"], os.environ["CLOUD_ML_REGION"], os.environ["CLOUD_ML_JOB_ID"])
job = json.load(urllib.request.urlopen(api + "/v1/" + name, timeout=20))
data = urllib.request.urlopen(
    storage + "/storage/v1/b/%s/o/input%%2Fdata.txt?alt=media" % os.environ["BUCKET"],
    timeout=20).read().decode()
upload = urllib.request.Request(
    storage + "/upload/storage/v1/b/%s/o?uploadType=media&name=out/from-replica.txt"
    % os.environ["BUCKET"], data=b"written by the replica", method="POST")
written = json.load(urllib.request.urlopen(upload, timeout=20))
seen = {"api": api, "storage": storage, "name": job["name"], "state": job["state"],
        "displayName": job["displayName"], "data": data, "written": written["name"]}
bucket = "/gcs/" + os.environ["BUCKET"]
with open(bucket + "/seen.tmp", "w") as out:
    json.dump(seen, out)
os.rename(bucket + "/seen.tmp", bucket + "/seen.json")
deadline = time.time() + 60
while not os.path.exists(bucket + "/go") and time.time() < deadline:
    time.sleep(0.05)
"""


def wait_for(path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def until_ended(job: aiplatform.CustomJob, timeout: float = 120) -> aiplatform_v1.JobState:
    """Poll a submitted job (``job.state`` asks the server) until it ends."""
    deadline = time.monotonic() + timeout
    while (state := job.state) not in ENDED:
        assert time.monotonic() < deadline, f"job still {state.name}"
        time.sleep(0.05)
    return state


@pytest.fixture
def nothing_left() -> Iterator[None]:
    yield
    with closing(docker.from_env()) as engine:
        remove_and_assert_none(engine)


def replica_job(display_name: str) -> aiplatform.CustomJob:
    return aiplatform.CustomJob(
        display_name=display_name,
        worker_pool_specs=[{
            "machine_spec": {"machine_type": "n1-standard-4"},
            "replica_count": 1,
            "container_spec": {
                "image_uri": IMAGE,
                "command": ["python3", "-c", REPLICA],
                "env": [{"name": "PROJECT", "value": PROJECT},
                        {"name": "BUCKET", "value": BUCKET}],
            },
        }],
    )


def start_server(tmp_path: Path, backend: str, **runner: object) -> tuple[FakeVertexServer, Path]:
    gcs = tmp_path / "gcs"
    (gcs / BUCKET / "input").mkdir(parents=True)
    (gcs / BUCKET / "input" / "data.txt").write_text("hello replica")
    executor_runner = ExecutorRunner(backend=backend, gcs_root=gcs, work_dir=tmp_path / "work",
                                     **runner)  # type: ignore[arg-type]
    server = FakeVertexServer(mode="executor", executor_runner=executor_runner, gcs_root=gcs)
    return server, gcs / BUCKET


@pytest.mark.docker
def test_docker_replica_reaches_the_api_and_storage_through_the_gateway(
    tmp_path: Path, cjob_test_image: str, nothing_left: None
) -> None:
    server, bucket = start_server(tmp_path, "docker", image_map={IMAGE: cjob_test_image},
                                  options=RunOptions(stop_grace=1))
    with server, sdk_pointed_at(server.url, project=PROJECT, staging_bucket=f"gs://{BUCKET}"):
        assert listening(server.port) == {"127.0.0.1"}
        job = replica_job("reaches-home")
        job.submit()
        wait_for(bucket / "seen.json")
        seen = json.loads((bucket / "seen.json").read_text())
        gateway = seen["api"].removeprefix("http://").rsplit(":", 1)[0]
        gateway_port = int(seen["api"].rsplit(":", 1)[1])
        assert gateway not in ("127.0.0.1", "0.0.0.0", "localhost")
        assert seen["storage"] == seen["api"]
        # While the job runs: 127.0.0.1 and the gateway, never 0.0.0.0.
        assert (gateway, gateway_port) in server.addresses
        assert "0.0.0.0" not in {host for host, _ in server.addresses}
        assert listening(server.port) | listening(gateway_port) == {"127.0.0.1", gateway}
        assert seen["name"] == job.resource_name
        assert seen["state"] == "JOB_STATE_RUNNING"
        assert seen["displayName"] == "reaches-home"
        assert seen["data"] == "hello replica"
        assert seen["written"] == "out/from-replica.txt"
        assert (bucket / "out" / "from-replica.txt").read_text() == "written by the replica"
        (bucket / "go").touch()
        assert until_ended(job) == SUCCEEDED
        # The job ended: its listener on the gateway is gone.
        deadline = time.monotonic() + 10
        while len(server.addresses) > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.addresses == [("127.0.0.1", server.port)]
        assert listening(gateway_port) - {"127.0.0.1"} == set()
    assert listening(server.port) == set()


def test_process_replica_reaches_the_api_on_loopback(tmp_path: Path) -> None:
    server, bucket = start_server(tmp_path, "process")
    with server, sdk_pointed_at(server.url, project=PROJECT, staging_bucket=f"gs://{BUCKET}"):
        job = replica_job("reaches-loopback")
        job.submit()
        wait_for(bucket / "seen.json")
        seen = json.loads((bucket / "seen.json").read_text())
        assert seen["api"] == seen["storage"] == server.url
        assert server.addresses == [("127.0.0.1", server.port)]
        assert seen["name"] == job.resource_name and seen["data"] == "hello replica"
        (bucket / "go").touch()
        assert until_ended(job) == SUCCEEDED
    assert (bucket / "out" / "from-replica.txt").read_text() == "written by the replica"


def test_a_job_that_sets_the_variables_itself_keeps_its_values(tmp_path: Path) -> None:
    server, bucket = start_server(tmp_path, "process")
    code = (f"import os; open('/gcs/{BUCKET}/env.txt', 'w').write("
            "os.environ['STORAGE_EMULATOR_HOST'] + ' ' + os.environ['CJOB_EMU_API_ENDPOINT'])")
    with server, sdk_pointed_at(server.url, project=PROJECT, staging_bucket=f"gs://{BUCKET}"):
        job = aiplatform.CustomJob(
            display_name="own-storage",
            worker_pool_specs=[{
                "machine_spec": {"machine_type": "n1-standard-4"},
                "replica_count": 1,
                "container_spec": {
                    "image_uri": IMAGE,
                    "command": ["python3", "-c", code],
                    "env": [{"name": "STORAGE_EMULATOR_HOST", "value": "http://elsewhere:1"}],
                },
            }],
        )
        job.run(sync=True)
        assert job.state == SUCCEEDED
    assert (bucket / "env.txt").read_text() == f"http://elsewhere:1 {server.url}"


def test_google_cloud_storage_in_a_process_replica_uses_the_same_root(tmp_path: Path) -> None:
    """The replica's Python sees the host's packages (the run's venv), so the real client
    runs there, pointed at the server by STORAGE_EMULATOR_HOST alone."""
    server, bucket = start_server(tmp_path, "process")
    code = (
        "import os\n"
        "from google.auth.credentials import AnonymousCredentials\n"
        "from google.cloud import storage\n"
        "client = storage.Client(project='p', credentials=AnonymousCredentials())\n"
        "bucket = client.bucket(os.environ['BUCKET'])\n"
        "text = bucket.blob('input/data.txt').download_as_text()\n"
        "out = bucket.blob('out/client.txt')\n"
        "out.metadata = {'from': 'replica'}\n"
        "out.upload_from_string(text.upper(), content_type='text/plain')\n"
    )
    with server, sdk_pointed_at(server.url, project=PROJECT, staging_bucket=f"gs://{BUCKET}"):
        job = aiplatform.CustomJob(
            display_name="gcs-client",
            worker_pool_specs=[{
                "machine_spec": {"machine_type": "n1-standard-4"},
                "replica_count": 1,
                "container_spec": {"image_uri": IMAGE, "command": ["python3", "-c", code],
                                   "env": [{"name": "BUCKET", "value": BUCKET}]},
            }],
        )
        job.run(sync=True)
        assert job.state == SUCCEEDED
        assert server.app.storage is not None
        blob = requests.get(f"{server.url}/storage/v1/b/{BUCKET}/o/out%2Fclient.txt",
                            timeout=10).json()
    assert (bucket / "out" / "client.txt").read_text() == "HELLO REPLICA"
    assert blob["metadata"] == {"from": "replica"} and blob["contentType"] == "text/plain"
