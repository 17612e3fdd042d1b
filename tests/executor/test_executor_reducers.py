"""Reduction Server reducers in a local run: listed, addressed, never started.

Pool 2 on Vertex's reduction server image holds reducers (Vertex docs); the image exists
only in Vertex's restricted registry, so a local run starts no container or process for
them, says so once, and the training world (WORLD_SIZE, RANK) runs without them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from google.cloud.aiplatform_v1 import CustomJob, JobState
from support.docker_leftovers import remove_and_assert_none
from support.executor_jobs import BUCKET, IMAGE, job, pool, read_json, stage_script, training_module

from cjob_emu.cluster.vertex_job import REDUCTION_SERVER_IMAGE
from cjob_emu.executor import JobResult, ReplicaStarted, RunOptions, submit
from cjob_emu.executor.plan import image_uris
from cjob_emu.executor.process import run_processes
from cjob_emu.executor.unemulated import unemulated_fields

REDUCER_IMAGE = f"{REDUCTION_SERVER_IMAGE}:latest"
NOTICE = (
    "2 Reduction Server reducer(s) not started: their image "
    "(us-docker.pkg.dev/vertex-ai-restricted/training/reductionserver) exists only in "
    "Vertex's restricted registry. They stay in CLUSTER_SPEC and TF_CONFIG; the training "
    "world (WORLD_SIZE, RANK) runs without them, all-reducing among its own replicas"
)
STEPS, SIZE = 2, 50


def reduction_server_job(command: list[str]) -> CustomJob:
    """Chief and 2 workers running ``command``; 2 reducers in pool 2, as Vertex's docs
    set Reduction Server up (the reducers' image and a CPU machine, no command)."""
    return job(
        "reduction-server",
        [
            pool(command),
            pool(command, replicas=2),
            pool(None, image=REDUCER_IMAGE, replicas=2, machine="n1-highcpu-16"),
        ],
        base_output=f"gs://{BUCKET}/world",
    )


def test_the_reducer_pool_is_one_notice_and_its_image_is_not_resolved() -> None:
    the_job = reduction_server_job(["python3", "-c", "pass"])
    assert image_uris(the_job) == [IMAGE, IMAGE]
    notices = [u for u in unemulated_fields(the_job) if "worker_pool_specs[2]" in u.field]
    assert [(u.field, u.message) for u in notices] == [("job_spec.worker_pool_specs[2]", NOTICE)]


def run_world(tmp_path: Path, gcs: Path, **kwargs: Any) -> JobResult:
    """Run the all-reduce over the PyTorch world of a job with reducers; check the run."""
    stage_script(gcs, "allreduce.py")  # world_allreduce.py imports it from beside itself
    script = stage_script(gcs, "world_allreduce.py")
    command = ["python3", script, "--steps", str(STEPS), "--size", str(SIZE)]
    started: list[str] = []

    def on_event(event: Any) -> None:
        if isinstance(event, ReplicaStarted):
            started.append(event.replica.name)

    running = submit(
        reduction_server_job(command),
        gcs_root=gcs,
        run_dir=tmp_path / "run",
        options=RunOptions(stop_grace=1),
        timeout=120,
        on_event=on_event,
        **kwargs,
    )
    result = running.wait(180)

    assert result.state == JobState.JOB_STATE_SUCCEEDED, result.job.error.message
    assert sorted(started) == ["workerpool0-0", "workerpool1-0", "workerpool1-1"]
    phases = {s.replica.name: s.phase for s in running.replica_status()}
    assert phases["workerpool0-0"] == "succeeded"
    assert {phases["workerpool1-0"], phases["workerpool1-1"]} <= {"succeeded", "stopped"}
    for name in ("workerpool2-0", "workerpool2-1"):
        reducer = result.replicas[name]
        assert (reducer.exit_code, reducer.attempts, reducer.emulated) == (None, 0, False)
        assert phases[name] == "not emulated"
    assert [n.message for n in result.notices if n.field == "job_spec.worker_pool_specs[2]"] == [
        NOTICE
    ]
    assert [n.kind for n in result.notices if n.field == "job_spec.worker_pool_specs[2]"] == [
        "unemulated"
    ]

    reduce_all = training_module("allreduce.py").reduce_all
    expected = [reduce_all(3, step, SIZE) for step in range(STEPS)]
    ranks = {"workerpool0-0": 0, "workerpool1-0": 1, "workerpool1-1": 2}
    for name, rank in ranks.items():
        record = read_json(gcs / BUCKET / "world" / "model" / f"world-{name}.json")
        assert (record["rank"], record["world_size"]) == (rank, 3)
        # The reducers are in CLUSTER_SPEC all the same.
        assert record["cluster"] == {"workerpool0": 1, "workerpool1": 2, "workerpool2": 2}
        # torch's gloo may add in another order than rank order: equal up to rounding.
        for got, want in zip(record["results"], expected, strict=True):
            assert got == pytest.approx(want), record["implementation"]
    return result


def test_a_job_with_reducers_all_reduces_over_a_world_of_3_on_the_process_backend(
    tmp_path: Path, gcs: Path
) -> None:
    result = run_world(tmp_path, gcs, backend="process")
    assert not any(REDUCTION_SERVER_IMAGE in n.message for n in result.notices if n.field is None)
    assert run_processes(result.run_id) == []


@pytest.fixture
def engine() -> Iterator[Any]:
    client = docker.from_env()
    yield client
    remove_and_assert_none(client)
    client.close()


@pytest.mark.docker
def test_a_job_with_reducers_all_reduces_over_a_world_of_3_on_docker(
    engine: Any, tmp_path: Path, gcs: Path, cjob_test_image: str
) -> None:
    # The reducers' image is not in the image map and cannot be pulled offline: the run
    # neither looks for it (a missing image stops a run before it starts) nor starts it.
    result = run_world(tmp_path, gcs, backend="docker", image_map={IMAGE: cjob_test_image})
    assert result.backend == "docker"
