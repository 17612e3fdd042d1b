"""validate_pipeline: every CustomJob task of a compiled pipeline, ours or GCPC's, by task name.

No ``from __future__ import annotations``: KFP reads pipeline functions' annotations as types.
"""

from pathlib import Path
from typing import Any

import pytest
from google_cloud_pipeline_components.v1.custom_job import CustomTrainingJobOp
from google_cloud_pipeline_components.v1.custom_job import utils as gcpc_utils
from kfp import compiler, dsl
from support import convert_components as cc
from support.convert_helpers import compile_pipeline
from support.paths import FIXTURES

from cjob_emu.cli.inputs import read_input
from cjob_emu.cli.validate import reports_of
from cjob_emu.converter import create_custom_training_job_from_component as convert
from cjob_emu.converter import validate_pipeline
from cjob_emu.errors import InputError

GCPC = gcpc_utils.create_custom_training_job_from_component
POOL = {
    "machine_spec": {"machine_type": "n1-standard-4"},
    "replica_count": 1,
    "container_spec": {"image_uri": cc.IMAGE},
}


def _errors(report: Any) -> list[tuple[str, str]]:
    return [(p.field, p.message) for p in report.errors]


def test_every_custom_job_task_is_checked_whoever_converted_it(tmp_path: Path) -> None:
    ours = convert(cc.train_container, replica_count=3)
    theirs = GCPC(cc.train_container, replica_count=2, accelerator_type="NVIDIA_TESLA_T4")

    @dsl.pipeline(name="mixed")
    def mixed(lr: float = 0.1) -> None:
        ours(lr=lr, epochs=1)
        theirs(lr=lr, epochs=2)
        CustomTrainingJobOp(display_name="op", worker_pool_specs=[POOL, POOL])
        cc.make_data(rows=3)

    spec = compile_pipeline(mixed, tmp_path / "p.yaml")
    reports = validate_pipeline(spec)
    assert sorted(reports) == ["custom-training-job", "train-container", "train-container-2"]
    assert all(r.ok for r in reports.values()), {k: _errors(r) for k, r in reports.items()}
    # The file gives the same answer.
    assert {k: r.to_dict() for k, r in validate_pipeline(tmp_path / "p.yaml").items()} == {
        k: r.to_dict() for k, r in reports.items()
    }


def test_gcpc_conversion_with_an_invalid_accelerator_is_caught(tmp_path: Path) -> None:
    theirs = GCPC(cc.train_container, accelerator_type="NVIDIA_TESLA_A100")

    @dsl.pipeline(name="bad-gpu")
    def bad_gpu() -> None:
        theirs(lr=0.1, epochs=1)

    (report,) = validate_pipeline(compile_pipeline(bad_gpu, tmp_path / "p.yaml")).values()
    assert [f for f, _ in _errors(report)] == [
        "job_spec.worker_pool_specs[0].machine_spec.accelerator_type"
    ]


def test_an_empty_pool_in_the_middle_shifts_roles(tmp_path: Path) -> None:
    @dsl.pipeline(name="skipped")
    def skipped() -> None:
        CustomTrainingJobOp(display_name="op", worker_pool_specs=[POOL, {}, POOL])

    (report,) = validate_pipeline(compile_pipeline(skipped, tmp_path / "p.yaml")).values()
    field, message = _errors(report)[0]
    assert field == "job_spec.worker_pool_specs[2]"
    assert "removed by GCPC's launcher, so pool 2 runs as pool 1 on Vertex" in message


def test_a_task_value_that_breaks_the_payload_json(tmp_path: Path) -> None:
    ours = convert(cc.train_container)

    @dsl.pipeline(name="quotes")
    def quotes() -> None:
        ours(lr=0.1, epochs=1, display_name='my "best" run')

    (report,) = validate_pipeline(compile_pipeline(quotes, tmp_path / "p.yaml")).values()
    assert _errors(report)[0][0] == "display_name"
    assert "between quotes unescaped" in _errors(report)[0][1]


def test_an_argument_value_that_breaks_the_payload_json(tmp_path: Path) -> None:
    ours = convert(cc.artifact_container)

    @dsl.pipeline(name="arg-quotes")
    def arg_quotes() -> None:
        data = dsl.importer(artifact_uri="gs://b/d", artifact_class=dsl.Dataset)
        ours(data=data.output, note='a "quoted" note')

    reports = validate_pipeline(compile_pipeline(arg_quotes, tmp_path / "p.yaml"))
    (field, message), *_ = _errors(reports["artifact-container"])
    assert field == "job_spec.worker_pool_specs[0].container_spec.args[9]"
    assert "input 'note' is 'a \"quoted\" note'" in message


def test_pipeline_parameter_defaults_are_used_and_runtime_values_only_warned(
    tmp_path: Path,
) -> None:
    ours = convert(cc.train_container)

    @dsl.pipeline(name="params")
    def params(timeout: str = "soon", account: str = "") -> None:
        first = ours(lr=0.1, epochs=1, timeout=timeout)
        ours(lr=0.1, epochs=1, display_name=first.outputs["out"], service_account=account)

    spec = compile_pipeline(params, tmp_path / "p.yaml")
    spec["root"]["inputDefinitions"]["parameters"]["account"].pop("defaultValue")
    reports = validate_pipeline(spec)
    assert [f for f, _ in _errors(reports["train-container"])] == ["job_spec.scheduling.timeout"]
    second = reports["train-container-2"]
    assert second.ok
    warned = {p.field: p.message for p in second.warnings}
    assert warned["display_name"] == (
        "set at run time (output out of task train-container); not checked"
    )
    assert warned["job_spec.service_account"] == (
        "set at run time (pipeline parameter account, no default); not checked"
    )


def test_pools_from_an_upstream_task_are_not_checked_but_the_rest_is(tmp_path: Path) -> None:
    @dsl.component(base_image="python:3.11")
    def pools() -> list:
        return []

    @dsl.pipeline(name="upstream-pools")
    def upstream_pools() -> None:
        CustomTrainingJobOp(display_name="op", worker_pool_specs=pools().output, timeout="forever")

    (report,) = validate_pipeline(compile_pipeline(upstream_pools, tmp_path / "p.yaml")).values()
    assert [f for f, _ in _errors(report)] == ["job_spec.scheduling.timeout"]
    assert [p.field for p in report.warnings if "set at run time" in p.message] == [
        "job_spec.worker_pool_specs"
    ]


def test_tasks_inside_conditions_and_loops_are_named_by_their_path(tmp_path: Path) -> None:
    ours_ok = convert(cc.train_container)

    @dsl.pipeline(name="nested")
    def nested(go: bool = True, lr: float = 0.1) -> None:
        with dsl.If(go == True):  # noqa: E712 - a KFP condition
            ours_ok(lr=lr, epochs=1, timeout="2h")  # not a proto duration
        with dsl.ParallelFor([1, 2]) as epochs:
            ours_ok(lr=lr, epochs=epochs)

    reports = validate_pipeline(compile_pipeline(nested, tmp_path / "p.yaml"))
    assert sorted(reports) == ["condition-1/train-container", "for-loop-3/train-container-2"]
    assert [f for f, _ in _errors(reports["condition-1/train-container"])] == [
        "job_spec.scheduling.timeout"
    ]
    assert reports["for-loop-3/train-container-2"].ok


def test_compiled_pipeline_file_with_a_platform_document(tmp_path: Path) -> None:
    ours = convert(cc.train_container)

    @dsl.pipeline(name="platform")
    def platform() -> None:
        ours(lr=0.1, epochs=1)

    path = tmp_path / "p.yaml"
    compiler.Compiler().compile(platform, str(path))
    path.write_text(path.read_text() + "---\nplatforms:\n  kubernetes: {}\n")
    assert list(reports_of(str(path), None)) == ["train-container"]


def test_not_a_pipeline(tmp_path: Path) -> None:
    job = FIXTURES / "jobs" / "distributed.yaml"
    assert read_input(job).pipeline is None
    with pytest.raises(InputError, match=r"missing\.yaml: no such file"):
        read_input(tmp_path / "missing.yaml")
    with pytest.raises(InputError, match="not a compiled pipeline"):
        validate_pipeline(job)
    with pytest.raises(InputError, match="not a compiled pipeline"):
        validate_pipeline({"displayName": "x"})


def test_gcpc_literal_concat_and_if_present_are_flagged(tmp_path: Path) -> None:
    theirs = GCPC(cc.structured_container)
    ours = convert(cc.structured_container)

    @dsl.pipeline(name="structures")
    def structures() -> None:
        theirs(name="a")
        ours(name="b")

    reports = validate_pipeline(compile_pipeline(structures, tmp_path / "p.yaml"))
    flagged = sorted(p.field for p in reports["structured-container"].warnings)
    assert flagged == [
        "job_spec.worker_pool_specs[0].container_spec.args[0]",
        "job_spec.worker_pool_specs[0].container_spec.args[1]",
        "job_spec.worker_pool_specs[0].container_spec.args[2]",
        "job_spec.worker_pool_specs[0].container_spec.command[2]",
    ]
    assert "kubeflow/pipelines#12498" in reports["structured-container"].warnings[0].message
    assert reports["structured-container-2"].warnings == []
