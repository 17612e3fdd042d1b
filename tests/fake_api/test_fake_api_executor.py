"""Executor mode: jobs the unmodified SDK creates on the fake API really run.

The process backend needs nothing but Python; the docker test runs a 3-replica job in
containers of the image built from cjob_emu/image_recipes/test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import docker
import pytest
from google.cloud import aiplatform, aiplatform_v1
from support.docker_leftovers import remove_and_assert_none
from support.executor_jobs import BUCKET, IMAGE, stage_script, training_module

from cjob_emu.executor import RunOptions
from cjob_emu.fake_api import FakeVertexServer, sdk_pointed_at
from cjob_emu.fake_api.executor_runner import ExecutorRunner

SUCCEEDED = aiplatform_v1.JobState.JOB_STATE_SUCCEEDED
CANCELLED = aiplatform_v1.JobState.JOB_STATE_CANCELLED


def pool(code: str | None = None, *, command: list[str] | None = None, replicas: int = 1,
         args: list[str] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"image_uri": IMAGE,
                                 "command": command or ["python3", "-c", code or ""]}
    if args:
        container["args"] = args
    return {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": replicas,
            "container_spec": container}


@pytest.fixture
def process_server(tmp_path: Path, gcs: Path) -> Iterator[FakeVertexServer]:
    """A server whose jobs run as host processes unless labelled simulated."""
    runner = ExecutorRunner(backend="process", gcs_root=gcs, work_dir=tmp_path / "work")
    with FakeVertexServer(mode="executor", executor_runner=runner) as server, \
            sdk_pointed_at(server.url, staging_bucket=f"gs://{BUCKET}"):
        yield server


WRITE_MODEL = (
    "import os, pathlib\n"
    "out = pathlib.Path(os.environ['AIP_MODEL_DIR'])\n"
    "out.mkdir(parents=True, exist_ok=True)\n"
    "(out / 'model.txt').write_text(os.environ['CLOUD_ML_JOB_ID'])\n"
)


def test_sdk_run_really_runs_the_job_and_its_model_lands_in_the_gcs_root(
    process_server: FakeVertexServer, gcs: Path
) -> None:
    job = aiplatform.CustomJob(display_name="real", worker_pool_specs=[pool(WRITE_MODEL)],
                               base_output_dir=f"gs://{BUCKET}/real")
    job.run(sync=True)
    assert job.state == SUCCEEDED
    job_id = job.resource_name.rsplit("/", 1)[1]
    assert (gcs / BUCKET / "real" / "model" / "model.txt").read_text() == job_id
    resource = job.gca_resource
    assert resource.create_time <= resource.start_time <= resource.end_time


def test_failing_replica_fails_the_job_with_vertex_error(process_server: FakeVertexServer,
                                                         ) -> None:
    job = aiplatform.CustomJob(display_name="exit-3",
                               worker_pool_specs=[pool("raise SystemExit(3)")])
    with pytest.raises(RuntimeError, match="Job failed with") as info:
        job.run(sync=True)
    assert "The replica workerpool0-0 exited with a non-zero status of 3" in str(info.value)


def test_cancel_stops_the_real_run(process_server: FakeVertexServer) -> None:
    job = aiplatform.CustomJob(display_name="sleeper",
                               worker_pool_specs=[pool("import time; time.sleep(300)")])
    job.submit()
    deadline = time.monotonic() + 60
    while job.state != aiplatform_v1.JobState.JOB_STATE_RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    started = time.monotonic()
    job.cancel()
    with pytest.raises(RuntimeError, match="CANCELED"):
        job.wait_for_completion()
    assert job.state == CANCELLED
    assert time.monotonic() - started < 30


def test_mode_label_picks_simulation_per_job(process_server: FakeVertexServer, gcs: Path,
                                             ) -> None:
    job = aiplatform.CustomJob(display_name="pretend", worker_pool_specs=[pool(WRITE_MODEL)],
                               base_output_dir=f"gs://{BUCKET}/pretend",
                               labels={"cjob-emu-mode": "simulated"})
    job.run(sync=True)
    assert job.state == SUCCEEDED
    assert not (gcs / BUCKET / "pretend").exists()
    modes = {j["job"]["displayName"]: j["mode"] for j in process_server.dump()["jobs"]}
    assert modes == {"pretend": "simulated"}


def test_stopping_the_server_cancels_running_jobs(tmp_path: Path, gcs: Path) -> None:
    runner = ExecutorRunner(backend="process", gcs_root=gcs, work_dir=tmp_path / "work")
    marker = tmp_path / "still-running"
    code = f"import time, pathlib\nwhile True:\n    pathlib.Path({str(marker)!r}).touch()\n" \
           "    time.sleep(0.1)\n"
    with FakeVertexServer(mode="executor", executor_runner=runner) as server, \
            sdk_pointed_at(server.url):
        job = aiplatform.CustomJob(display_name="orphan?", worker_pool_specs=[pool(code)])
        job.submit()
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    marker.unlink()
    time.sleep(0.5)
    assert not marker.exists()


@pytest.mark.docker
def test_sdk_three_replica_job_runs_in_containers(tmp_path: Path, gcs: Path,
                                                  cjob_test_image: str) -> None:
    script = stage_script(gcs, "allreduce.py")
    command = ["python3", script]
    args = ["--steps", "2", "--size", "200"]
    runner = ExecutorRunner(
        backend="docker",
        gcs_root=gcs,
        work_dir=tmp_path / "work",
        image_map={IMAGE: cjob_test_image},
        options=RunOptions(stop_grace=1),
    )
    with FakeVertexServer(mode="executor", executor_runner=runner) as server, \
            sdk_pointed_at(server.url, staging_bucket=f"gs://{BUCKET}"):
        job = aiplatform.CustomJob(
            display_name="three",
            worker_pool_specs=[pool(command=command, args=args),
                               pool(command=command, args=args, replicas=2)],
            base_output_dir=f"gs://{BUCKET}/three",
        )
        job.run(sync=True)
        assert job.state == SUCCEEDED
    module = training_module("allreduce.py")
    expected = [module.reduce_all(3, step, 200) for step in range(2)]
    model_dir = gcs / BUCKET / "three" / "model"
    names = sorted(p.name for p in model_dir.iterdir())
    assert names == [f"allreduce-{n}.json" for n in
                     ("workerpool0-0", "workerpool1-0", "workerpool1-1")]
    for name in names:
        record = json.loads((model_dir / name).read_text())
        assert record["world_size"] == 3
        assert record["results"] == expected, name
    with closing(docker.from_env()) as engine:
        remove_and_assert_none(engine)
