"""``strict``: every validation warning is an error, in Python and on the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.paths import ROOT
from support.validate_cases import changed, found

from cjob_emu.cli import main
from cjob_emu.validate import Problem, ValidationReport, validate

MACHINE = "job_spec.worker_pool_specs[0].machine_spec.machine_type"
UNKNOWN_FAMILY = 'Machine type "g4-standard-48" is not a known Vertex AI training machine type.'
WARNED = changed({"jobSpec.workerPoolSpecs[0].machineSpec.machineType": "g4-standard-48"})


def write(tmp_path: Path, document: Any, name: str = "job.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document))
    return str(path)


def test_strict_makes_every_warning_an_error() -> None:
    assert found(validate(WARNED)) == [("warning", MACHINE, UNKNOWN_FAMILY)]
    strict = validate(WARNED, strict=True)
    assert found(strict) == [("error", MACHINE, UNKNOWN_FAMILY)]
    assert not strict.ok
    assert strict.vertex_message() == (
        f"List of found errors:\t1.Field: {MACHINE}; Message: {UNKNOWN_FAMILY}\t"
    )
    assert validate(changed({}), strict=True) == ValidationReport()


def test_as_strict_keeps_errors_first() -> None:
    report = ValidationReport(
        errors=[Problem("a", "A.", "error")], warnings=[Problem("b", "B.", "warning")]
    )
    assert report.as_strict() == ValidationReport(
        errors=[Problem("a", "A.", "error"), Problem("b", "B.", "error")], warnings=[]
    )


def test_cli_validate_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, WARNED)
    assert main(["validate", "--json", path]) == 0
    relaxed = json.loads(capsys.readouterr().out)
    assert (relaxed["valid"], relaxed["warnings"]) == (
        True,
        [{"field": MACHINE, "message": UNKNOWN_FAMILY}],
    )
    assert main(["validate", "--json", "--strict", path]) == 1
    strict = json.loads(capsys.readouterr().out)
    assert (strict["valid"], strict["errors"], strict["warnings"]) == (
        False,
        [{"field": MACHINE, "message": UNKNOWN_FAMILY}],
        [],
    )


def test_cli_validate_strict_on_a_pipeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "fixtures" / "pipelines" / "train_eval.yaml").read_text()
    path = tmp_path / "pipeline.yaml"
    path.write_text(text.replace("machine_type: n1-standard-4", "machine_type: g4-standard-48"))
    assert main(["validate", "--json", str(path)]) == 0
    capsys.readouterr()
    assert main(["validate", "--json", "--strict", str(path)]) == 1
    (result,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert result["task"] == "train" and result["valid"] is False and result["warnings"] == []
    assert {"field": MACHINE, "message": UNKNOWN_FAMILY} in result["errors"]


def test_cli_run_strict_refuses_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = changed(
        {
            "jobSpec.workerPoolSpecs[0].machineSpec.machineType": "g4-standard-48",
            "jobSpec.workerPoolSpecs[0].containerSpec.command": ["python3", "-c", "print(1)"],
        }
    )
    path = write(tmp_path, job)
    argv = ["run", "--backend", "process", "--gcs-root", str(tmp_path / "gcs"), "--strict"]
    assert main([*argv, "--run-dir", str(tmp_path / "run"), path]) == 1
    err = capsys.readouterr().err
    assert "invalid job" in err
    assert f"error   {MACHINE}: {UNKNOWN_FAMILY}" in err
    assert not (tmp_path / "run").exists()
