"""What a run of the fixtures/pipelines pipelines must show, whatever the backend."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from cjob_emu.pipelines import PipelineRun
from support import paths

PIPELINES = paths.FIXTURES / "pipelines"


def check_train_eval(run: PipelineRun, gcs: Path) -> None:
    """Every task ran, the chief's model reached evaluate, gcp_resources names the job."""
    assert run.succeeded, run.failed_task
    assert [(t.name, t.kind) for t in run.tasks.values()] == [
        ("prepare-data", "container"),
        ("train", "custom-job"),
        ("evaluate", "container"),
    ]
    # y = 2x + 1 fitted exactly: the evaluation's mean absolute error is 0
    assert run.outputs["Output"] == 0.0
    assert run.pipeline_root == "gs://cjob-emu/pipeline_root"
    task_dir = gcs / "cjob-emu" / "pipeline_root" / run.name / "train"
    model = json.loads((task_dir / "model").read_text())
    assert model == {"a": 2.0, "b": 1.0, "trained_by": "workerpool0-0"}
    train = run.tasks["train"]
    assert train.outputs["model"]["uri"] == (f"gs://cjob-emu/pipeline_root/{run.name}/train/model")
    # the chief alone writes the executor output: its role is the task's Output
    assert train.outputs["Output"] == "workerpool0-0"
    resources = json.loads((task_dir / "gcp_resources").read_text())
    uri = resources["resources"][0]["resourceUri"]
    assert uri.startswith(
        "https://us-central1-aiplatform.googleapis.com/v1/projects/cjob-emu-local"
        "/locations/us-central1/customJobs/"
    )
    assert json.loads(train.outputs["gcp_resources"]) == resources
    assert any("caching of prepare-data, train, evaluate" in line for line in run.ignored)


def check_train_logs(run: PipelineRun, runs_dir: Path, rows: int) -> None:
    """The train task's three replicas each left a log; the chief fitted on ``rows`` rows."""
    logs = runs_dir / run.name / "train" / "logs"
    assert sorted(p.stem for p in logs.glob("*.log")) == [
        "workerpool0-0",
        "workerpool1-0",
        "workerpool1-1",
    ]
    chief = (logs / "workerpool0-0.log").read_text()
    assert f"workerpool0-0: fitted a=2.0 b=1.0 on {rows} rows, 3 epochs" in chief


def fixture_module(name: str) -> Any:
    """A pipeline script of fixtures/pipelines, imported (its components and ``build``)."""
    spec = importlib.util.spec_from_file_location(name, PIPELINES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def check_container_steps(run: PipelineRun, gcs: Path) -> None:
    """prep -> train (3 replicas) -> evaluate ran, each step's artifact reaching the next
    although no step wrote an executor_output.json."""
    assert run.succeeded, run.failed_task
    assert [(t.name, t.kind, t.state) for t in run.tasks.values()] == [
        ("prep", "container", "SUCCEEDED"),
        ("train", "custom-job", "SUCCEEDED"),
        ("evaluate", "container", "SUCCEEDED"),
    ]
    root = f"gs://cjob-emu/pipeline_root/{run.name}"
    for task, name, schema in [
        ("prep", "data", "system.Dataset"),
        ("train", "model", "system.Model"),
        ("evaluate", "report", "system.Artifact"),
    ]:
        artifact = run.tasks[task].outputs[name]
        assert artifact == {
            "name": name,
            "type": {"schemaTitle": schema, "schemaVersion": "0.0.1"},
            "uri": f"{root}/{task}/{name}",
            "metadata": {},
        }
    run_dir = gcs / "cjob-emu" / "pipeline_root" / run.name
    model = json.loads((run_dir / "train" / "model").read_text())
    assert model == {"a": 2.0, "b": 1.0, "trained_by": "workerpool0-0"}
    report = run.outputs["Output"]
    assert report.uri == str(run_dir / "evaluate" / "report")
    assert json.loads(Path(report.uri).read_text()) == {"mae": 0.0}
