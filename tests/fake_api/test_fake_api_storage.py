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


def test_metadata_is_kept_patched_and_replaced(gcs: tuple[StorageClient, Path]) -> None:
    client, root = gcs
    bucket = client.create_bucket("meta-bucket")
    blob = bucket.blob("reports/summary")
    blob.metadata = {"owner": "team-a", "stage": "raw"}
    blob.cache_control = "no-cache"
    blob.upload_from_string(b"{}", content_type="application/json")
    got = bucket.get_blob("reports/summary")
    assert got.content_type == "application/json"
    assert got.metadata == {"owner": "team-a", "stage": "raw"}
    assert got.cache_control == "no-cache"
    assert got.metageneration == 1
    generation = got.generation

    got.metadata = {"stage": "clean", "owner": None, "extra": "1"}  # None: remove the key
    got.content_type = "text/plain"
    got.patch()
    assert got.metadata == {"stage": "clean", "extra": "1"}
    again = bucket.get_blob("reports/summary")
    assert (again.content_type, again.metadata) == ("text/plain", {"stage": "clean", "extra": "1"})
    assert again.metageneration == 2 and again.generation == generation
    assert again.download_as_bytes() == b"{}"  # the bytes did not change

    again.metadata = {"only": "this"}
    again.cache_control = None
    again.update()  # PUT: the writable fields become exactly these
    final = bucket.get_blob("reports/summary")
    assert final.metadata == {"only": "this"} and final.cache_control is None
    assert final.content_type == "text/plain" and final.metageneration == 3

    # A file rewritten beside the API is a new object with default metadata.
    (root / "meta-bucket" / "reports" / "summary").write_text("changed")
    fresh = bucket.get_blob("reports/summary")
    assert fresh.metadata is None and fresh.metageneration == 1
    assert fresh.content_type == "application/octet-stream"


def test_copy_rename_and_rewrite(gcs: tuple[StorageClient, Path]) -> None:
    client, root = gcs
    source_bucket = client.create_bucket("src-bucket")
    target_bucket = client.create_bucket("dst-bucket")
    blob = source_bucket.blob("data/part 1.csv")  # a space and a slash: both %-encoded
    blob.metadata = {"rows": "2"}
    blob.upload_from_string("a,b\n1,2\n", content_type="text/csv")

    copy = source_bucket.copy_blob(blob, target_bucket, "copies/part1.csv")
    assert copy.name == "copies/part1.csv" and copy.bucket.name == "dst-bucket"
    assert (root / "dst-bucket" / "copies" / "part1.csv").read_text() == "a,b\n1,2\n"
    assert copy.metadata == {"rows": "2"} and copy.content_type == "text/csv"
    assert (root / "src-bucket" / "data" / "part 1.csv").is_file()

    renamed = target_bucket.rename_blob(copy, "moved.csv")
    assert renamed.download_as_text() == "a,b\n1,2\n"
    assert not (root / "dst-bucket" / "copies" / "part1.csv").exists()

    data = os.urandom(300_000)
    source_bucket.blob("big.bin").upload_from_string(data)
    destination = target_bucket.blob("big-copy.bin")
    token, rewritten, total = destination.rewrite(source_bucket.blob("big.bin"))
    while token is not None:  # how users call it; the fake is done in one call
        token, rewritten, total = destination.rewrite(source_bucket.blob("big.bin"), token=token)
    assert rewritten == total == len(data)
    assert (root / "dst-bucket" / "big-copy.bin").read_bytes() == data
    assert destination.size == len(data)

    with pytest.raises(exceptions.NotFound):
        source_bucket.copy_blob(source_bucket.blob("missing"), target_bucket, "x")


def test_compose_concatenates_parts(gcs: tuple[StorageClient, Path]) -> None:
    client, root = gcs
    bucket = client.create_bucket("shards")
    parts = []
    for i in range(3):
        part = bucket.blob(f"parts/{i}.txt")
        part.upload_from_string(f"line {i}\n")
        parts.append(part)
    whole = bucket.blob("all.txt")
    whole.content_type = "text/plain"
    whole.metadata = {"parts": "3"}
    whole.compose(parts)
    assert (root / "shards" / "all.txt").read_text() == "line 0\nline 1\nline 2\n"
    got = bucket.get_blob("all.txt")
    assert got.content_type == "text/plain" and got.metadata == {"parts": "3"}
    with pytest.raises(exceptions.NotFound):
        bucket.blob("x.txt").compose([parts[0], bucket.blob("parts/missing")])
    with pytest.raises(exceptions.BadRequest):
        bucket.blob("x.txt").compose([parts[0]] * 33)
    assert not (root / "shards" / "x.txt").exists()


def test_generation_preconditions(gcs: tuple[StorageClient, Path]) -> None:
    client, root = gcs
    bucket = client.create_bucket("guarded")
    blob = bucket.blob("once.txt")
    blob.upload_from_string("first", if_generation_match=0)  # create only
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("once.txt").upload_from_string("second", if_generation_match=0)
    assert (root / "guarded" / "once.txt").read_text() == "first"
    current = bucket.get_blob("once.txt")
    with pytest.raises(exceptions.PreconditionFailed):
        current.patch(if_metageneration_match=current.metageneration + 1)
    with pytest.raises(exceptions.PreconditionFailed):
        current.delete(if_generation_match=current.generation + 1)
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.copy_blob(current, bucket, "copy.txt",
                         if_source_generation_match=current.generation + 1)
    bucket.blob("once.txt").upload_from_string("third", if_generation_match=current.generation)
    assert (root / "guarded" / "once.txt").read_text() == "third"
    current = bucket.get_blob("once.txt")
    current.delete(if_generation_match=current.generation)
    assert not (root / "guarded" / "once.txt").exists()
