"""Compiled pipelines run locally on the process backend: ordinary tasks through
kfp.local's SubprocessRunner, each CustomJob replica a host process, in this Python."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pipeline_checks import PIPELINES, check_train_eval

from cjob_emu.convert import run_pipeline
from cjob_emu.executor import RunOptions


@pytest.mark.parametrize("name", ["train_eval.yaml", "train_eval_gcpc.yaml"])
def test_train_eval_runs_end_to_end(name: str, tmp_path: Path) -> None:
    gcs = tmp_path / "gcs"
    run = run_pipeline(
        PIPELINES / name,
        backend="process",
        gcs_root=gcs,
        options=RunOptions(stop_grace=1),
        runs_dir=tmp_path / "runs",
        echo=False,
    )
    check_train_eval(run, gcs)
    ignored = "\n".join(run.ignored)
    # nothing differs silently: images, host Python, process isolation are all said
    assert "task images are ignored" in ignored
    assert f"'python3' in the pools' commands runs {sys.executable}" in ignored
    assert "process backend: replicas run as processes on this host" in ignored
    # the chief's success ends the job (workers still running are stopped, as on Vertex)
    logs = tmp_path / "runs" / run.name / "train" / "logs"
    assert sorted(p.stem for p in logs.glob("*.log")) == [
        "workerpool0-0",
        "workerpool1-0",
        "workerpool1-1",
    ]
    chief = (logs / "workerpool0-0.log").read_text()
    assert "workerpool0-0: fitted a=2.0 b=1.0 on 20 rows, 3 epochs" in chief
