"""What a replica can reach: no engine socket, no privileges, no host secrets, no path out.

A replica is the user's training code, so it must get nothing from the host beyond what
Vertex would give it: the job's own environment, /gcs (the gs:// root) and the files the
job names. The docker tests inspect the containers of a running job on the real engine;
the process backend cannot isolate, but it still builds each replica's environment from
an allow-list. Paths that try to leave the gs:// root are refused with GcsPathError.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from google.cloud.aiplatform_v1 import JobState
from support.docker_leftovers import owned, remove_and_assert_none
from support.executor_jobs import BUCKET, IMAGE, job, python

from cjob_emu.errors import GcsPathError, InputError
from cjob_emu.executor import RunOptions, run_job, submit
from cjob_emu.executor.gcs import GcsRoot

FAST = RunOptions(stop_grace=1)
SUCCEEDED = JobState.JOB_STATE_SUCCEEDED

# Written by every replica of the env-dump job: its environment, then it waits for the
# test to look at its container before it exits.
DUMP_ENV = f"""
import json, os, pathlib, time
out = pathlib.Path('/gcs/{BUCKET}/security')
out.mkdir(parents=True, exist_ok=True)
(out / 'env.tmp').write_text(json.dumps(dict(os.environ)))
(out / 'env.tmp').rename(out / 'env.json')
release = out / 'release'
for _ in range(600):
    if release.exists():
        break
    time.sleep(0.05)
"""

SECRET_NAME = "CJOB_EMU_TEST_SECRET_" + secrets.token_hex(4).upper()


@pytest.fixture
def host_secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Secrets in this process's environment, as a developer's shell or a CI runner has."""
    values = {
        "AWS_SECRET_ACCESS_KEY": secrets.token_hex(16),
        "GOOGLE_APPLICATION_CREDENTIALS": "/home/me/.config/gcloud/key.json",
        "GITHUB_TOKEN": secrets.token_hex(16),
        SECRET_NAME: secrets.token_hex(16),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def env_job(asked: dict[str, str] | None = None) -> Any:
    return job("security", [python(DUMP_ENV, env=asked)])


def assert_no_secret(env: dict[str, str], host: dict[str, str]) -> None:
    leaked = sorted(k for k in env if k in host or k == "DOCKER_HOST")
    assert leaked == [], f"host variables leaked into a replica: {leaked}"
    leaked_values = sorted(k for k, v in env.items() if v in host.values())
    assert leaked_values == [], f"host secret values leaked into a replica: {leaked_values}"


# -- the docker backend ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture
def nothing_left(engine: Any) -> Iterator[None]:
    yield
    remove_and_assert_none(engine)


def _wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.docker
@pytest.mark.usefixtures("nothing_left")
def test_docker_replicas_get_no_socket_no_privilege_no_host_namespace_no_secret(
    engine: Any, gcs: Path, tmp_path: Path, cjob_test_image: str, host_secrets: dict[str, str]
) -> None:
    running = submit(
        env_job(),
        backend="docker",
        gcs_root=gcs,
        run_dir=tmp_path / "run",
        image_map={IMAGE: cjob_test_image},
        options=FAST,
    )
    out = gcs / BUCKET / "security"
    try:
        _wait_for(out / "env.json")
        (container,), _ = owned(engine)
        info = engine.api.inspect_container(container["Id"])
    finally:
        out.mkdir(parents=True, exist_ok=True)
        (out / "release").touch()
        result = running.wait(timeout=120)
    assert result.state == SUCCEEDED, result.job.error.message

    host = info["HostConfig"]
    assert host["Privileged"] is False
    assert not host.get("CapAdd"), host.get("CapAdd")
    assert not any("unconfined" in o for o in host.get("SecurityOpt") or []), host["SecurityOpt"]
    assert not host.get("Devices"), host.get("Devices")
    assert host["NetworkMode"] not in ("host", "bridge", "default")  # the run's own network
    assert host.get("PidMode", "") == "" and host.get("IpcMode") != "host"
    assert host.get("UTSMode", "") == "" and host.get("UsernsMode", "") == ""
    assert not host.get("VolumesFrom")
    assert info["Config"].get("User", "") != "0"
    mounts = [(m["Type"], m["Source"], m["Destination"], m["RW"]) for m in info["Mounts"]]
    assert mounts == [("bind", str(gcs.resolve()), "/gcs", True)]
    sockets = [m for m in info["Mounts"] if "docker.sock" in m["Source"] + m["Destination"]]
    assert sockets == []
    assert_no_secret(dict(v.split("=", 1) for v in info["Config"]["Env"]), host_secrets)
    assert_no_secret(json.loads((out / "env.json").read_text()), host_secrets)


@pytest.mark.docker
@pytest.mark.usefixtures("nothing_left")
def test_docker_replicas_get_a_host_secret_only_when_the_job_sets_it(
    gcs: Path, tmp_path: Path, cjob_test_image: str, host_secrets: dict[str, str]
) -> None:
    (gcs / BUCKET / "security").mkdir(parents=True)
    (gcs / BUCKET / "security" / "release").touch()
    asked = {SECRET_NAME: "given-by-the-job"}
    result = run_job(
        env_job(asked),
        backend="docker",
        gcs_root=gcs,
        run_dir=tmp_path / "run",
        image_map={IMAGE: cjob_test_image},
        options=FAST,
        timeout=120,
    )
    assert result.state == SUCCEEDED, result.job.error.message
    env = json.loads((gcs / BUCKET / "security" / "env.json").read_text())
    assert env[SECRET_NAME] == "given-by-the-job"
    assert "AWS_SECRET_ACCESS_KEY" not in env and "GITHUB_TOKEN" not in env


# -- the process backend ---------------------------------------------------------------------


def test_process_replicas_get_an_allow_list_of_the_host_environment(
    gcs: Path, tmp_path: Path, host_secrets: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    monkeypatch.setenv("AIP_MODEL_DIR", "/host/value")  # Vertex sets these, never the host
    (gcs / BUCKET / "security").mkdir(parents=True)
    (gcs / BUCKET / "security" / "release").touch()
    result = run_job(
        env_job({"FROM_THE_JOB": "yes"}),
        backend="process",
        gcs_root=gcs,
        run_dir=tmp_path / "run",
        options=FAST,
        timeout=60,
    )
    assert result.state == SUCCEEDED, result.job.error.message
    env = json.loads((gcs / BUCKET / "security" / "env.json").read_text())
    assert_no_secret(env, host_secrets)
    assert "DOCKER_HOST" not in env and "AIP_MODEL_DIR" not in env
    assert env["FROM_THE_JOB"] == "yes"
    # What programs need still comes through (a pyenv shim may prepend its own entries).
    assert env["PATH"].endswith(os.environ["PATH"]) and env["HOME"] == os.environ["HOME"]
    assert env["CLOUD_ML_JOB_ID"] and "CLUSTER_SPEC" in env


# -- paths that leave the gs:// root ---------------------------------------------------------

ESCAPES = [
    "gs://b/../../etc",
    "gs://b/../../../etc/passwd",
    "gs://../etc",
    "gs://b/x/../../../etc",
    "gs:///etc/passwd",
    "gs://",
    "/gcs/b/../../etc",
    "/gcs/../etc",
    "/etc/passwd",
    "etc/passwd",
    "gs:/b/x",
    "s3://b/x",
]


@pytest.mark.parametrize("location", ESCAPES)
def test_paths_leaving_the_root_are_refused(tmp_path: Path, location: str) -> None:
    root = GcsRoot.at(tmp_path / "gcs")
    with pytest.raises(GcsPathError) as caught:
        root.local_path(location)
    assert repr(location) in str(caught.value)
    assert isinstance(caught.value, InputError)  # exit code 2: the input is wrong


def test_paths_inside_the_root_map_into_it(tmp_path: Path) -> None:
    root = GcsRoot.at(tmp_path / "gcs")
    assert root.local_path("/gcs//etc") == root.path / "etc"  # bucket "etc", not /etc
    assert root.local_path("gs://b/x/./y") == root.path / "b" / "x" / "y"


def test_a_symlink_pointing_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = GcsRoot.at(tmp_path / "gcs")
    (root.path / "b").mkdir()
    (root.path / "b" / "out").symlink_to("/etc")
    with pytest.raises(GcsPathError, match="outside the gs:// root"):
        root.local_path("gs://b/out/passwd")
    with pytest.raises(GcsPathError, match="outside the gs:// root"):
        root.uri("/etc/passwd")


@pytest.mark.parametrize(
    "uri", ["gs://b/../../etc/passwd", "gs://b/pkg/../../../x.tar.gz", "/gcs/b/../../x.tar.gz"]
)
def test_package_uris_leaving_the_root_are_refused(tmp_path: Path, uri: str) -> None:
    root = GcsRoot.at(tmp_path / "gcs")
    with pytest.raises(GcsPathError, match=r"'\.\.'|outside"):
        root.package_path(uri)


@pytest.mark.parametrize("backend", ["process", pytest.param("docker", marks=pytest.mark.docker)])
def test_a_job_naming_a_package_outside_the_root_does_not_run(
    tmp_path: Path, backend: str, cjob_test_image: str
) -> None:
    executor = "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest"
    pool = {
        "machineSpec": {"machineType": "n1-standard-4"},
        "replicaCount": "1",
        "pythonPackageSpec": {
            "executorImageUri": executor,
            "packageUris": [f"gs://{BUCKET}/../../../etc/passwd"],
            "pythonModule": "trainer.task",
        },
    }
    with pytest.raises(GcsPathError, match=r"uses '\.\.'"):
        run_job(
            job("escape", [pool]),
            backend=backend,
            gcs_root=tmp_path / "gcs",
            run_dir=tmp_path / "run",
            image_map={executor: cjob_test_image},
            options=FAST,
            timeout=60,
        )
