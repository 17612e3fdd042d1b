"""Cloud Storage over the gs:// root: the real google-cloud-storage client, and the SDK's
``CustomJob.from_local_script`` whose uploaded package then really runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform, aiplatform_v1
from google.cloud.storage import Client as StorageClient

from cjob_emu import pytest_plugin
from cjob_emu.fake_api import FakeVertexServer, VertexMock, sdk_pointed_at
from cjob_emu.fake_api import fixtures as _fixtures
from cjob_emu.fake_api.executor_runner import ExecutorRunner

if not hasattr(pytest_plugin, "fake_vertex"):  # until the plugin declares them
    fake_vertex_server = pytest.fixture(scope="session")(_fixtures.fake_vertex_server)
    fake_vertex = pytest.fixture(_fixtures.fake_vertex)
    vertex_mock = pytest.fixture(_fixtures.vertex_mock)

Fake = FakeVertexServer | VertexMock


@pytest.fixture(params=["server", "mock"])
def gcs(request: pytest.FixtureRequest) -> Iterator[tuple[StorageClient, Path]]:
    """A storage client on the fake API (server, then mock) and the root it writes to."""
    fake: Fake = request.getfixturevalue(
        "fake_vertex" if request.param == "server" else "vertex_mock"
    )
    root = fake.app.storage.root.path if fake.app.storage is not None else None
    assert root is not None
    yield StorageClient(project="p", credentials=AnonymousCredentials()), root


def test_upload_lands_as_a_plain_file_and_downloads_back(gcs: tuple[StorageClient, Path]
                                                         ) -> None:
    client, root = gcs
    bucket = client.create_bucket("data-bucket")
    assert (root / "data-bucket").is_dir()
    blob = bucket.blob("raw/2024/part-0.csv")
    blob.upload_from_string("a,b\n1,2\n", content_type="text/csv")
    assert (root / "data-bucket" / "raw" / "2024" / "part-0.csv").read_text() == "a,b\n1,2\n"
    assert blob.size == 8 and blob.md5_hash and blob.crc32c
    again = client.bucket("data-bucket").blob("raw/2024/part-0.csv")
    assert again.download_as_bytes() == b"a,b\n1,2\n"  # checksums are checked by the client
    assert client.bucket("data-bucket").get_blob("raw/2024/part-0.csv").size == 8


def test_files_written_under_the_root_are_objects(gcs: tuple[StorageClient, Path]) -> None:
    client, root = gcs
    (root / "models" / "run1").mkdir(parents=True)
    (root / "models" / "run1" / "model.bin").write_bytes(b"\x00\x01weights")
    (root / "models" / "run1" / "metrics.json").write_text("{}")
    (root / "models" / "top.txt").write_text("x")
    bucket = client.bucket("models")
    assert bucket.exists()
    assert [b.name for b in client.list_blobs("models")] == [
        "run1/metrics.json", "run1/model.bin", "top.txt"]
    listing = client.list_blobs("models", delimiter="/")
    assert [b.name for b in listing] == ["top.txt"]
    assert listing.prefixes == {"run1/"}
    assert [b.name for b in client.list_blobs("models", prefix="run1/", max_results=1)] == [
        "run1/metrics.json"]
    assert [b.name for b in client.list_blobs("models", page_size=1)] == [
        "run1/metrics.json", "run1/model.bin", "top.txt"]
    assert bucket.blob("run1/model.bin").download_as_bytes(start=2) == b"weights"


def test_resumable_upload_in_chunks(gcs: tuple[StorageClient, Path]) -> None:
    client, root = gcs
    client.create_bucket("big")
    data = os.urandom(3 * 256 * 1024 + 1000)
    blob = client.bucket("big").blob("shard.bin", chunk_size=256 * 1024)
    blob.upload_from_string(data)
    assert (root / "big" / "shard.bin").read_bytes() == data
    assert client.bucket("big").blob("shard.bin").download_as_bytes() == data


def test_missing_things_and_bad_names(gcs: tuple[StorageClient, Path]) -> None:
    client, root = gcs
    assert not client.bucket("nope").exists()
    with pytest.raises(exceptions.NotFound):
        client.bucket("nope").blob("x").download_as_bytes()
    client.create_bucket("bkt1")
    with pytest.raises(exceptions.Conflict):
        client.create_bucket("bkt1")
    with pytest.raises(exceptions.NotFound):
        client.bucket("bkt1").blob("missing").download_as_bytes()
    with pytest.raises(exceptions.BadRequest):
        client.bucket("bkt1").blob("../escape").upload_from_string("x")
    assert not (root / "escape").exists()
    client.bucket("bkt1").blob("gone").upload_from_string("x")
    client.bucket("bkt1").blob("gone").delete()
    assert not (root / "bkt1" / "gone").exists()
    client.bucket("bkt1").delete()
    assert not (root / "bkt1").exists()


def test_storage_errors_are_google_rpc_json(fake_vertex: FakeVertexServer) -> None:
    response = requests.get(f"{fake_vertex.url}/storage/v1/b/nope/o/x")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == 404


def test_no_storage_without_a_root() -> None:
    with FakeVertexServer() as server:
        response = requests.get(f"{server.url}/storage/v1/b/any")
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


PREBUILT = "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest"
TRAIN = """\
import os, pathlib, sys
out = pathlib.Path(os.environ["AIP_MODEL_DIR"])
out.mkdir(parents=True, exist_ok=True)
(out / "model.txt").write_text("trained " + " ".join(sys.argv[1:]))
"""


def test_from_local_script_uploads_its_package_and_the_package_runs(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    root = tmp_path / "gcs"
    (root / "staging").mkdir(parents=True)
    runner = ExecutorRunner(backend="process", gcs_root=root, work_dir=tmp_path / "work")
    with FakeVertexServer(mode="executor", executor_runner=runner, gcs_root=root) as server, \
            sdk_pointed_at(server.url, staging_bucket="gs://staging", storage_host=server.url):
        job = aiplatform.CustomJob.from_local_script(
            display_name="from-script",
            script_path=str(script),
            # A prebuilt training image, so the SDK makes a python package pool, which the
            # process backend installs into a venv of the run (never into the host's Python).
            container_uri=PREBUILT,
            args=["--epochs", "1"],
            base_output_dir="gs://staging/out",
        )
        job.run(sync=True)
        assert job.state == aiplatform_v1.JobState.JOB_STATE_SUCCEEDED
        (package,) = job.job_spec.worker_pool_specs[0].python_package_spec.package_uris
    assert package.startswith("gs://staging/") and package.endswith(".tar.gz")
    assert (root / package.removeprefix("gs://")).is_file()
    assert (root / "staging" / "out" / "model" / "model.txt").read_text() == "trained --epochs 1"


def test_each_test_starts_with_an_empty_gcs_root_part_1(fake_vertex: FakeVertexServer) -> None:
    assert fake_vertex.gcs_root is not None
    assert sorted(p.name for p in fake_vertex.gcs_root.iterdir()) == ["cjob-emu-staging"]
    (fake_vertex.gcs_root / "left-behind").mkdir()


def test_each_test_starts_with_an_empty_gcs_root_part_2(fake_vertex: FakeVertexServer) -> None:
    assert fake_vertex.gcs_root is not None
    assert sorted(p.name for p in fake_vertex.gcs_root.iterdir()) == ["cjob-emu-staging"]
