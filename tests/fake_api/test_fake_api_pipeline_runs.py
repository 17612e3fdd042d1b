"""``PipelineJob(...).run()`` on the fake API in executor mode: the pipeline really runs.

The unmodified SDK submits a compiled pipeline (GCPC-converted custom-job task
included); the fake API runs it through the local pipeline runner, in a thread per
job, and answers with Vertex's pipeline states and ``job_detail.task_details``. The task
details must say what ``cjob-emu run --json`` says of the same pipeline. The server is
the ``fake_vertex`` fixture's own code with the backend chosen: the process backend
throughout, and one docker run.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import docker
import pytest
from google.cloud import aiplatform, aiplatform_v1
from kfp import compiler, dsl
from support import pipeline_components
from support.docker_leftovers import owned, remove_and_assert_none
from support.paths import FIXTURES

from cjob_emu import cli
from cjob_emu.executor.process import run_processes, state_dir
from cjob_emu.fake_api import FakeVertexServer
from cjob_emu.fake_api import fixtures as _fixtures
from cjob_emu.fake_api.projects import derived_number
from cjob_emu.fake_api.sdk import DEFAULT_PROJECT, DEFAULT_STAGING_BUCKET

GCPC_PIPELINE = FIXTURES / "pipelines" / "train_eval_gcpc.yaml"
BUCKET = DEFAULT_STAGING_BUCKET.removeprefix("gs://")  # the fixture's, the pipeline root
EXECUTOR = {"cjob-emu-mode": "executor"}
State = aiplatform_v1.PipelineState
TaskState = aiplatform_v1.PipelineTaskDetail.State
# the runner's task states, as PipelineTaskDetail states (its NOT_RUN is NOT_TRIGGERED)
AS_TASK_STATE = {"SUCCEEDED": "SUCCEEDED", "FAILED": "FAILED", "NOT_TRIGGERED": "NOT_TRIGGERED",
                 "NOT_RUN": "NOT_TRIGGERED"}


def fake_vertex_on(backend: str, factory: pytest.TempPathFactory,
                   image_map: Any = None) -> Iterator[FakeVertexServer]:
    """The ``fake_vertex`` fixture (the same code) with executor mode on ``backend``."""
    served = _fixtures.fake_vertex_server(factory, backend, image_map)
    server = next(served)
    try:
        yield from _fixtures.fake_vertex(server)
    finally:
        served.close()


@pytest.fixture
def process_server(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVertexServer]:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))  # this test's process runs
    yield from fake_vertex_on("process", tmp_path_factory)


def compiled(pipeline: Any, tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    return path


def by_path(job: aiplatform.PipelineJob) -> dict[str, Any]:
    """The task details by the runner's task path (``outer/inner``), the root task left out."""
    details = job.task_details
    ids = {t.task_id: t for t in details}

    def path(task: Any) -> str:
        parent = ids.get(task.parent_task_id)
        if parent is None or not parent.parent_task_id:
            return str(task.task_name)
        return f"{path(parent)}/{task.task_name}"

    return {path(t): t for t in details if t.parent_task_id}


def cli_summary(template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                *params: str) -> dict[str, Any]:
    args = ["run", str(template), "--backend", "process", "--json",
            "--gcs-root", str(tmp_path / "cli-gcs"), "--run-dir", str(tmp_path / "cli-runs")]
    for param in params:
        args += ["--param", param]
    capsys.readouterr()
    cli.main(args)
    return dict(json.loads(capsys.readouterr().out))


def until(condition: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_gcpc_pipeline_runs_and_its_task_details_match_the_cli(
    process_server: FakeVertexServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = aiplatform.PipelineJob(display_name="train-eval", template_path=str(GCPC_PIPELINE),
                                 parameter_values={"rows": 20}, labels=EXECUTOR)
    job.run()
    assert job.state == State.PIPELINE_STATE_SUCCEEDED
    summary = cli_summary(GCPC_PIPELINE, tmp_path, capsys, "rows=20")
    tasks = by_path(job)
    assert {p: t.state.name for p, t in tasks.items()} == {
        p: AS_TASK_STATE[t["state"]] for p, t in summary["tasks"].items()
    }
    assert job.task_details[0].task_name == "train-eval"
    # what each task gave: parameters in the execution's metadata, artifacts in outputs
    assert tasks["evaluate"].execution.metadata["output:Output"] == summary["outputs"]["Output"]
    assert tasks["train"].execution.metadata["output:Output"] == "workerpool0-0"
    model = tasks["train"].outputs["model"].artifacts[0]
    assert model.schema_title == "system.Model"
    job_id = job.resource_name.rsplit("/", 1)[1]
    number = derived_number(DEFAULT_PROJECT)
    assert model.uri.startswith(f"gs://{BUCKET}/{number}/{job_id}/")  # Vertex's layout
    local = process_server.gcs_root / model.uri.removeprefix("gs://")  # type: ignore[operator]
    assert json.loads(local.read_text())["trained_by"] == "workerpool0-0"
    assert "/customJobs/" in tasks["train"].executor_detail.custom_job_detail.job
    # the tasks ran one after the other, inside the job's own times
    order = [tasks[n] for n in ("prepare-data", "train", "evaluate")]
    for before, after in itertools.pairwise(order):
        assert before.end_time <= after.start_time
    resource = job.gca_resource
    assert resource.start_time <= order[0].start_time
    assert order[-1].end_time <= resource.end_time


def test_a_failing_task_fails_the_pipeline_job_with_its_error(
    process_server: FakeVertexServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = compiled(pipeline_components.crashing, tmp_path)
    job = aiplatform.PipelineJob(display_name="crashing", template_path=str(template),
                                 parameter_values={"message": "boom at epoch 3"},
                                 labels=EXECUTOR)
    with pytest.raises(RuntimeError, match="Job failed with") as info:
        job.run()
    assert job.state == State.PIPELINE_STATE_FAILED
    error = job.gca_resource.error
    assert error.code == 9
    assert error.message.startswith(
        "The DAG failed because some tasks failed. The failed tasks are: [crash]."
    )
    assert "RuntimeError: boom at epoch 3" in error.message
    assert "boom at epoch 3" in str(info.value)
    tasks = by_path(job)
    assert tasks["crash"].state == TaskState.FAILED
    assert "RuntimeError: boom at epoch 3" in tasks["crash"].error.message
    summary = cli_summary(template, tmp_path, capsys, "message=boom at epoch 3")
    assert {p: t.state.name for p, t in tasks.items()} == {
        p: AS_TASK_STATE[t["state"]] for p, t in summary["tasks"].items()
    }


def _children_naming(marker: str) -> list[int]:
    """Processes of ours (children of this test process) whose command line names ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and marker in command:
            found.append(int(entry.name))
    return found


@dsl.pipeline(name="add-then-nap")
def add_then_nap():  # no annotations: kfp reads them as types (see support/pipeline_components)
    first = pipeline_components.add(a=1, b=2)
    pipeline_components.nap(seconds=300).after(first)


@pytest.mark.parametrize("pipeline", ["add_then_nap", "napping_job"])
def test_cancel_stops_every_running_task(process_server: FakeVertexServer, tmp_path: Path,
                                         pipeline: str) -> None:
    """A kfp.local task (a subprocess) and a custom-job task (its replicas) alike; a task
    that had ended keeps its state."""
    source = add_then_nap if pipeline == "add_then_nap" else pipeline_components.napping_job
    template = compiled(source, tmp_path)
    job = aiplatform.PipelineJob(display_name=pipeline, template_path=str(template),
                                 labels=EXECUTOR)
    job.submit()
    until(lambda: by_path(job).get("nap") is not None
          and by_path(job)["nap"].state == TaskState.RUNNING)
    job_id = job.resource_name.rsplit("/", 1)[1]
    if pipeline == "napping_job":
        until(lambda: bool(by_path(job)["nap"].executor_detail.custom_job_detail.job))
        until(lambda: any(run_processes(r.stem) for r in state_dir().glob("*.json")))
    else:
        until(lambda: bool(_children_naming(job_id)))
    started = time.monotonic()
    job.cancel()
    job.wait()
    assert time.monotonic() - started < 60  # the tasks sleep 300 s
    assert job.state == State.PIPELINE_STATE_CANCELLED
    assert job.gca_resource.error.code == 1
    states = {path: task.state for path, task in by_path(job).items()}
    expected = {"nap": TaskState.CANCELLED}
    if pipeline == "add_then_nap":
        expected["add"] = TaskState.SUCCEEDED
    assert states == expected
    assert _children_naming(job_id) == []
    assert [run_processes(r.stem) for r in state_dir().glob("*.json")] in ([], [[]])


def test_pipeline_jobs_run_at_the_same_time(process_server: FakeVertexServer,
                                            tmp_path: Path) -> None:
    template = compiled(pipeline_components.napping, tmp_path)
    jobs = [aiplatform.PipelineJob(display_name=f"nap-{i}", template_path=str(template),
                                   job_id=f"nap-{i}", parameter_values={"seconds": 4},
                                   labels=EXECUTOR) for i in range(2)]
    for job in jobs:
        job.submit()
    for job in jobs:
        job.wait()
    naps = [by_path(job)["nap"] for job in jobs]
    assert all(n.state == TaskState.SUCCEEDED for n in naps)
    # each slept 4 s; they overlapped
    assert naps[0].start_time < naps[1].end_time and naps[1].start_time < naps[0].end_time


def test_input_artifacts_are_refused_in_executor_mode(process_server: FakeVertexServer) -> None:
    job = aiplatform.PipelineJob(display_name="x", template_path=str(GCPC_PIPELINE),
                                 input_artifacts={"data": "123"}, labels=EXECUTOR)
    with pytest.raises(Exception, match="input_artifacts"):
        job.submit()


@pytest.mark.docker
def test_a_gcpc_pipeline_runs_on_docker_as_the_cli_runs_it(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, cjob_test_image: str,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """Then a cancel removes the running task's container (kfp.local's, found by the job)."""
    images = {pipeline_components.BASE_IMAGE: cjob_test_image}
    served = fake_vertex_on("docker", tmp_path_factory, images)
    try:
        next(served)
        job = aiplatform.PipelineJob(display_name="train-eval", job_id="on-docker",
                                     template_path=str(GCPC_PIPELINE),
                                     parameter_values={"rows": 12}, labels=EXECUTOR)
        job.run()
        state, tasks = job.state, by_path(job)
        napping = aiplatform.PipelineJob(
            display_name="napping", job_id="napping-on-docker", labels=EXECUTOR,
            template_path=str(compiled(pipeline_components.napping, tmp_path)))
        napping.submit()
        with closing(docker.from_env()) as engine:
            until(lambda: bool(owned(engine)[0]))  # the nap's container runs
            started = time.monotonic()
            napping.cancel()
            napping.wait()
            assert time.monotonic() - started < 60  # it sleeps 300 s
            assert napping.state == State.PIPELINE_STATE_CANCELLED
            assert owned(engine) == ([], [])  # no container or network left
    finally:
        served.close()
    assert state == State.PIPELINE_STATE_SUCCEEDED
    summary = cli_summary(GCPC_PIPELINE, tmp_path, capsys, "rows=12")
    assert {p: t.state.name for p, t in tasks.items()} == {
        p: AS_TASK_STATE[t["state"]] for p, t in summary["tasks"].items()
    }
    assert tasks["evaluate"].execution.metadata["output:Output"] == 0.0
    with closing(docker.from_env()) as engine:
        remove_and_assert_none(engine)
