"""Compiled pipelines run locally on the process backend: ordinary tasks through
kfp.local's SubprocessRunner, each CustomJob replica a host process, in this Python."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pipeline_components
import pytest
from kfp import compiler
from pipeline_checks import PIPELINES, check_train_eval, check_train_logs

from cjob_emu import cli
from cjob_emu.convert import LaunchWarning, run_component, run_pipeline
from cjob_emu.errors import InputError, JobFailedError
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
    check_train_logs(run, tmp_path / "runs", rows=20)


def compiled(pipeline: Any, tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    return path


def test_nested_pipelines_pass_outputs_in_and_out(tmp_path: Path) -> None:
    run = run_pipeline(
        compiled(pipeline_components.nested, tmp_path),
        {"a": 5},
        backend="process",
        gcs_root=tmp_path / "gcs",
        runs_dir=tmp_path / "runs",
        echo=False,
    )
    assert run.succeeded
    assert run.outputs == {"Output": 5 + 10 + 10 + 100}
    assert [(t.name, t.kind) for t in run.tasks.values()] == [
        ("inner/add", "container"),
        ("inner/add-2", "container"),
        ("inner", "dag"),
        ("add", "container"),
    ]


def test_a_failing_task_stops_the_run_and_says_why(tmp_path: Path) -> None:
    run = run_pipeline(
        compiled(pipeline_components.failing, tmp_path),
        backend="process",
        gcs_root=tmp_path / "gcs",
        echo=False,
    )
    assert not run.succeeded and run.outputs == {}
    assert run.tasks["add"].succeeded and run.tasks["add"].outputs == {"Output": 3}
    failed = run.failed_task
    assert failed is not None and failed.name == "fail"
    assert "ValueError: no luck 3" in failed.error
    with pytest.raises(JobFailedError, match="task fail failed"):
        run.raise_for_state()


def test_a_container_component_is_refused_on_the_process_backend(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="echo-text is a container component"):
        run_pipeline(
            compiled(pipeline_components.plain_container, tmp_path),
            backend="process",
            gcs_root=tmp_path / "gcs",
        )


def test_cli_runs_a_pipeline_with_typed_params(tmp_path: Path, capsys: Any) -> None:
    path = compiled(pipeline_components.nested, tmp_path)
    args = ["run", str(path), "--backend", "process", "--gcs-root", str(tmp_path / "gcs")]
    args += ["--run-dir", str(tmp_path / "runs")]
    assert cli.main([*args, "--param", "a=2", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["succeeded"] is True and summary["outputs"] == {"Output": 122}
    assert cli.main([*args, "--param", "a=3"]) == 0
    shown = capsys.readouterr()
    assert "SUCCEEDED" in shown.out and "output Output = 123" in shown.out
    assert "task inner/add (container): succeeded" in shown.out
    assert "ignored or different locally:" in shown.out and "task images are ignored" in shown.out
    assert "cjob-emu: task inner/add: kfp.local" in shown.err
    assert cli.main([*args, "--param", "a=two"]) == 2
    assert "--param a='two': NUMBER_INTEGER expected" in capsys.readouterr().err
    assert cli.main(["run", str(tmp_path / "missing.yaml")]) == 2


def test_a_value_the_payload_changes_warns_loudly_and_runs_as_on_vertex(tmp_path: Path) -> None:
    with pytest.warns(LaunchWarning, match="whoami: input 'display_name' is 'tab\\\\\\\\there'"):
        run = run_pipeline(
            compiled(pipeline_components.escaped, tmp_path),
            backend="process",
            gcs_root=tmp_path / "gcs",
            runs_dir=tmp_path / "runs",
            echo=False,
        )
    assert run.succeeded and run.outputs == {"Output": "workerpool0-0"}
    assert len(run.warnings) == 1 and "unescaped" in run.warnings[0]
    job = json.loads(next((tmp_path / "runs").glob("*/whoami/job.json")).read_text())
    assert job["displayName"] == "tab\there"  # the backslash sequence became a tab


def test_run_component_runs_a_python_component(tmp_path: Path) -> None:
    outputs = run_component(
        pipeline_components.add, {"a": 2, "b": 40}, backend="process", gcs_root=tmp_path / "gcs"
    )
    assert outputs == {"Output": 42}
