"""What a run of fixtures/pipelines/train_eval*.yaml must show, whatever the backend."""

from __future__ import annotations

import json
from pathlib import Path

from cjob_emu.convert import PipelineRun

PIPELINES = Path(__file__).resolve().parent.parent / "fixtures" / "pipelines"


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
