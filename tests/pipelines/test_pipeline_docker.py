"""Compiled pipelines run locally on the docker backend: ordinary tasks in kfp.local's
containers, custom-job tasks as real multi-replica CustomJobs, outputs flowing between
them through the gs:// root. The test image stands in for python:3.11; after each test
no container or network of this process is left on the engine."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from kfp import compiler, dsl
from support import pipeline_components
from support.docker_leftovers import owned, remove_and_assert_none
from support.pipeline_checks import (
    PIPELINES,
    check_container_steps,
    check_train_eval,
    check_train_logs,
)

from cjob_emu import cli
from cjob_emu.errors import EnvironmentProblem, JobFailedError
from cjob_emu.executor import RunOptions
from cjob_emu.pipelines import run_component, run_pipeline

pytestmark = pytest.mark.docker

FAST = RunOptions(stop_grace=1)


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(autouse=True)
def nothing_left(engine: Any) -> Iterator[None]:
    """After each test: no container or network of this process (kfp.local's included)."""
    yield
    remove_and_assert_none(engine)


@pytest.fixture
def images(cjob_test_image: str) -> dict[str, str]:
    return {pipeline_components.BASE_IMAGE: cjob_test_image}


@pytest.mark.parametrize("name", ["train_eval.yaml", "train_eval_gcpc.yaml"])
def test_train_eval_runs_end_to_end(name: str, tmp_path: Path, images: dict[str, str]) -> None:
    gcs = tmp_path / "gcs"
    run = run_pipeline(
        PIPELINES / name,
        {"rows": 12},
        backend="docker",
        gcs_root=gcs,
        image_map=images,
        options=FAST,
        runs_dir=tmp_path / "runs",
        echo=False,
    )
    check_train_eval(run, gcs)
    assert "train: replicas run as uid:gid" in "\n".join(run.ignored)
    # three replicas ran; the chief's success ends the job (as on Vertex)
    check_train_logs(run, tmp_path / "runs", rows=12)


def test_run_component_runs_a_converted_component_and_returns_its_outputs(
    tmp_path: Path, images: dict[str, str]
) -> None:
    gcs = tmp_path / "gcs"
    data = gcs / "bucket" / "in.txt"
    data.parent.mkdir(parents=True)
    data.write_text("hello")
    outputs = run_component(
        pipeline_components.shout_job,
        {"text": "!", "data": dsl.Dataset(uri="gs://bucket/in.txt")},
        backend="docker",
        gcs_root=gcs,
        image_map=images,
        options=FAST,
        runs_dir=tmp_path / "runs",
    )
    out = outputs["out"]
    assert isinstance(out, dsl.Artifact)
    assert Path(out.path).read_text() == "HELLO!"
    assert Path(out.path).is_relative_to(gcs.resolve())
    assert out.metadata == {"chars": 5}
    assert outputs["Output"] == "workerpool0-0"
    assert "customJobs/" in json.loads(outputs["gcp_resources"])["resources"][0]["resourceUri"]


def test_a_failing_replica_fails_the_task_with_its_log(
    tmp_path: Path, images: dict[str, str]
) -> None:
    # (the log tail in the message may miss the traceback: the executor removes the
    # containers of a failed job while their last lines are still being read)
    failed = r"task crash failed: The replica workerpool0-0 exited with a non-zero status of 1"
    with pytest.raises(JobFailedError, match=failed):
        run_component(
            pipeline_components.crash_job,
            {"message": "kaput"},
            backend="docker",
            gcs_root=tmp_path / "gcs",
            runs_dir=tmp_path / "runs",
            image_map=images,
            options=FAST,
        )


def test_cli_exit_codes(tmp_path: Path, images: dict[str, str], capsys: Any) -> None:
    path = tmp_path / "crashing.yaml"
    compiler.Compiler().compile(pipeline_components.crashing, str(path))
    common = [
        "--backend",
        "docker",
        "--gcs-root",
        str(tmp_path / "gcs"),
        "--run-dir",
        str(tmp_path / "runs"),
        "--stop-grace",
        "1",
        "--image-map",
        f"python:3.11={images['python:3.11']}",
    ]
    assert cli.main(["run", str(path), "--param", "nope=1", *common]) == 2
    assert "no such parameter" in capsys.readouterr().err
    assert cli.main(["run", str(path), "--json", *common]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["succeeded"] is False
    assert summary["tasks"]["crash"]["succeeded"] is False
    assert "workerpool0-0 exited with a non-zero status of 1" in summary["tasks"]["crash"]["error"]


@pytest.mark.parametrize(
    "pipeline",
    [pipeline_components.napping, pipeline_components.napping_job],
    ids=["kfp.local container", "CustomJob replicas"],
)
def test_ctrl_c_stops_the_running_task_and_leaves_nothing(
    pipeline: Any, tmp_path: Path, images: dict[str, str], engine: Any
) -> None:
    path = tmp_path / "napping.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    command = [sys.executable, "-m", "cjob_emu.cli", "run", str(path), "--backend", "docker"]
    command += ["--stop-grace", "1", "--run-dir", str(tmp_path / "runs")]
    command += [
        "--gcs-root",
        str(tmp_path / "gcs"),
        "--image-map",
        f"python:3.11={images[pipeline_components.BASE_IMAGE]}",
    ]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not owned(engine, child.pid)[0]:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the task's container never started"
            time.sleep(0.2)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, err
    assert owned(engine, child.pid) == ([], [])


def test_a_task_image_missing_from_the_engine_is_an_environment_problem(tmp_path: Path) -> None:
    with pytest.raises(
        EnvironmentProblem,
        match=r"prepare-data: image cjob-emu/not-built:here is not .* map python:3.11",
    ):
        run_pipeline(
            PIPELINES / "train_eval.yaml",
            backend="docker",
            gcs_root=tmp_path / "gcs",
            image_map={"python:3.11": "cjob-emu/not-built:here"},
        )


def test_a_loop_with_a_condition_runs_its_iterations_in_containers(
    tmp_path: Path, images: dict[str, str]
) -> None:
    path = tmp_path / "counting.yaml"
    compiler.Compiler().compile(pipeline_components.counting, str(path))
    run = run_pipeline(
        path,
        {"count": 2},
        backend="docker",
        gcs_root=tmp_path / "gcs",
        image_map=images,
        options=FAST,
        runs_dir=tmp_path / "runs",
        echo=False,
    )
    assert run.succeeded and run.outputs == {"Output": 2 + 4}
    states = {t.name: t.state for t in run.tasks.values()}
    assert states["for-loop-1/iteration-0/condition-2"] == "NOT_TRIGGERED"
    assert states["for-loop-1/iteration-1/condition-2/whoami"] == "SUCCEEDED"
    assert run.tasks["for-loop-1/iteration-1/condition-2/whoami"].outputs["Output"] == (
        "workerpool0-0"
    )


@pytest.mark.parametrize("name", ["container_steps.yaml", "container_steps_gcpc.yaml"])
def test_container_components_that_write_only_their_artifact_files_run_end_to_end(
    name: str, tmp_path: Path, images: dict[str, str]
) -> None:
    gcs = tmp_path / "gcs"
    run = run_pipeline(
        PIPELINES / name,
        backend="docker",
        gcs_root=gcs,
        image_map=images,
        options=FAST,
        runs_dir=tmp_path / "runs",
        echo=False,
    )
    check_container_steps(run, gcs)
    logs = tmp_path / "runs" / run.name / "train" / "logs"
    assert "workerpool0-0: fitted a=2.0 b=1.0 on 20 rows" in (
        logs / "workerpool0-0.log"
    ).read_text()
    assert sorted(p.stem for p in logs.glob("*.log")) == [
        "workerpool0-0",
        "workerpool1-0",
        "workerpool1-1",
    ]


def _run_container_steps(
    tmp_path: Path, images: dict[str, str], capsys: Any, *params: str
) -> tuple[int, dict[str, Any]]:
    args = ["run", str(PIPELINES / "container_steps.yaml"), "--backend", "docker", "--json"]
    args += ["--gcs-root", str(tmp_path / "gcs"), "--stop-grace", "1"]
    args += ["--image-map", f"python:3.11={images['python:3.11']}"]
    code = cli.main([*args, *(f"--param={p}" for p in params)])
    return code, json.loads(capsys.readouterr().out)


def test_an_evaluation_that_exits_1_fails_the_run_naming_the_task(
    tmp_path: Path, images: dict[str, str], capsys: Any
) -> None:
    code, summary = _run_container_steps(tmp_path, images, capsys, "fail_evaluation=true")
    assert code == 1 and summary["succeeded"] is False
    assert {name: task["state"] for name, task in summary["tasks"].items()} == {
        "prep": "SUCCEEDED",
        "train": "SUCCEEDED",
        "evaluate": "FAILED",
    }
    assert "evaluate: failing on purpose (mae 0.0)" in summary["tasks"]["evaluate"]["error"]
    assert summary["outputs"] == {}


def test_a_producer_that_writes_nothing_fails_the_run_naming_both_tasks(
    tmp_path: Path, images: dict[str, str], capsys: Any
) -> None:
    code, summary = _run_container_steps(tmp_path, images, capsys, "write_data=false")
    assert code == 1 and summary["succeeded"] is False
    tasks = summary["tasks"]
    assert {name: task["state"] for name, task in tasks.items()} == {
        "prep": "SUCCEEDED",
        "train": "FAILED",
        "evaluate": "NOT_RUN",
    }
    uri = f"gs://cjob-emu/pipeline_root/{summary['run']}/prep/data"
    assert tasks["train"]["error"] == (
        f"its input data comes from task prep, which ran but wrote nothing at its output "
        f"artifact data ({uri}) and gave it no metadata"
    )
    assert tasks["evaluate"]["not_run"] == "task train, which it depends on, did not succeed"
    # the CustomJob never started: no replica ran
    assert not (tmp_path / "gcs" / "cjob-emu" / "pipeline_root" / summary["run"] / "train").exists()
