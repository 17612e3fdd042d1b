"""What cannot be converted, and GCPC's defects refused at conversion, each with its message.

Where GCPC fails obscurely or silently, the test shows that too, so the fix is visible.
No ``from __future__ import annotations``: KFP reads pipeline functions' annotations as types.
"""

import warnings
from pathlib import Path
from typing import Any

import pytest
from google_cloud_pipeline_components.v1.custom_job import utils as gcpc_utils
from kfp import compiler, components, dsl
from support import convert_components as cc

from cjob_emu.builder import container_pool
from cjob_emu.converter import create_custom_training_job_from_component as convert
from cjob_emu.errors import CjobEmuError, ConversionError, InvalidJobError

GCPC = gcpc_utils.create_custom_training_job_from_component


def test_errors_are_cjob_emu_errors_with_usage_exit_code() -> None:
    assert issubclass(ConversionError, CjobEmuError)
    assert ConversionError.exit_code == 2


# Things that are not one container component.


def test_plain_function() -> None:
    def train(x: int) -> int:
        return x

    with pytest.raises(AttributeError):
        GCPC(train)
    with pytest.raises(ConversionError, match=r"'train' is a plain function, not a KFP component"):
        convert(train)


def test_dsl_importer() -> None:
    with pytest.raises(AttributeError):
        GCPC(dsl.importer)
    with pytest.raises(ConversionError, match=r"dsl\.importer cannot be converted"):
        convert(dsl.importer)


def test_importer_loaded_from_a_compiled_pipeline(tmp_path: Path) -> None:
    @dsl.pipeline(name="just-import")
    def just_import() -> None:
        dsl.importer(artifact_uri="gs://b/data.csv", artifact_class=dsl.Dataset)

    path = tmp_path / "importer.yaml"
    compiler.Compiler().compile(just_import, str(path))
    loaded = components.load_component_from_file(str(path))
    with pytest.raises(KeyError):
        GCPC(loaded)
    with pytest.raises(
        ConversionError, match=r"'just-import' is an importer: .* runs no container"
    ):
        convert(loaded)


def test_pipeline() -> None:
    @dsl.pipeline(name="two-steps")
    def two_steps(lr: float = 0.1) -> None:
        cc.train_container(lr=lr, epochs=1)
        cc.train_container(lr=lr, epochs=2)

    GCPC(two_steps)  # GCPC silently wraps the first step
    with pytest.raises(ConversionError, match=r"'two-steps' is a pipeline \(2 tasks: "):
        convert(two_steps)


def test_pipeline_of_one_task() -> None:
    @dsl.pipeline(name="one-step")
    def one_step() -> None:
        cc.train_container(lr=0.1, epochs=1)

    with pytest.raises(ConversionError, match=r"'one-step' is a pipeline of one task"):
        convert(one_step)


def test_task_instead_of_component() -> None:
    seen: list[Any] = []

    @dsl.pipeline(name="holder")
    def holder() -> None:
        task = cc.train_container(lr=0.1, epochs=1)
        seen.append(task)
        with pytest.raises(AttributeError):
            GCPC(task)
        with pytest.raises(ConversionError, match=r"got a task of component 'train-container'"):
            convert(task)

    assert len(seen) == 1


def test_not_a_component_at_all() -> None:
    with pytest.raises(ConversionError, match=r"expected a KFP component, got str"):
        convert("component.yaml")


def test_already_converted_component() -> None:
    wrapped = convert(cc.train_container)
    GCPC(GCPC(cc.train_container))  # GCPC wraps its launcher in another CustomJob
    with pytest.raises(ConversionError, match=r"already runs as a CustomJob .* GCPC's launcher"):
        convert(wrapped)


# Options of the wrong type or value.


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"replica_count": "3"}, r"replica_count must be an int, not str '3'"),
        ({"replica_count": True}, r"replica_count must be an int, not bool True"),
        ({"machine_type": 4}, r"machine_type must be a string, not int 4"),
        ({"boot_disk_size_gb": 100.0}, r"boot_disk_size_gb must be an int, not float 100.0"),
        ({"labels": {"team": 1}}, r"labels must be a dict of strings or None"),
        ({"env": "MODE=fast"}, r"env must be a list of \{'name': ..., 'value': ...\} dicts"),
        ({"env": [{"name": "A"}]}, r"env must be a list of"),
        ({"reserved_ip_ranges": "r"}, r"reserved_ip_ranges must be a list of strings or None"),
        ({"enable_web_access": "yes"}, r"enable_web_access must be a bool"),
        ({"timeout": 3600}, r"timeout must be a duration string such as '3600s', not int"),
        ({"worker_pool_specs": "pools.yaml"}, r"worker_pool_specs must be a list of pools"),
    ],
)
def test_option_of_the_wrong_type(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        convert(cc.train_container, **options)


def test_every_wrong_option_is_named_at_once() -> None:
    with pytest.raises(ConversionError) as info:
        convert(cc.train_container, replica_count="3", accelerator_count="2")
    assert "replica_count must be an int" in str(info.value)
    assert "accelerator_count must be an int" in str(info.value)


def test_replica_count_below_one() -> None:
    GCPC(cc.train_container, replica_count=0)  # GCPC builds one pool of one replica anyway
    with pytest.raises(ConversionError, match=r"replica_count must be at least 1 \(the chief\)"):
        convert(cc.train_container, replica_count=0)


def test_network_with_psc_interface() -> None:
    psc = {"network_attachment": "projects/p/regions/r/networkAttachments/a"}
    with pytest.raises(ValueError, match="cannot be set at the same time"):
        GCPC(cc.train_container, network="projects/1/global/networks/n", psc_interface_config=psc)
    with pytest.raises(
        ConversionError, match=r"network and psc_interface_config cannot both be set"
    ):
        convert(
            cc.train_container, network="projects/1/global/networks/n", psc_interface_config=psc
        )


def test_pool_options_with_worker_pool_specs() -> None:
    with pytest.raises(
        ConversionError,
        match=r"worker_pool_specs sets every pool, so replica_count, machine_type cannot be given",
    ):
        convert(
            cc.train_container,
            replica_count=2,
            machine_type="n1-standard-8",
            worker_pool_specs=[container_pool("", machine_type="n1-standard-4")],
        )


# GCPC's defects, refused at conversion.


def test_input_named_like_a_job_input() -> None:
    GCPC(cc.timeout_clash)  # GCPC silently replaces the CustomJob's timeout input
    with pytest.raises(
        ConversionError,
        match=r"^Input parameter timeout already exists in the CustomJob component\. "
        r"Rename it in 'timeout-clash'",
    ):
        convert(cc.timeout_clash)


def test_output_named_like_the_job_output() -> None:
    with pytest.raises(
        ConversionError,
        match=r"^Output parameter gcp_resources already exists in the CustomJob component\.",
    ):
        convert(cc.output_clash)


def test_artifact_named_like_a_job_input() -> None:
    @dsl.container_component
    def labels_artifact(labels: dsl.Input[dsl.Artifact]) -> dsl.ContainerSpec:
        return dsl.ContainerSpec(image=cc.IMAGE, args=[labels.path])

    with pytest.raises(ConversionError, match=r"^Input artifact labels already exists"):
        convert(labels_artifact)


@pytest.mark.parametrize(
    ("options", "shown"),
    [
        ({"display_name": 'my "best" run'}, "display_name='my \"best\" run'"),
        ({"display_name": "two\nlines"}, "display_name='two\\nlines'"),
        ({"service_account": "a\\b@p.iam.gserviceaccount.com"}, "service_account="),
        ({"base_output_directory": 'gs://b/"x"'}, "base_output_directory="),
        ({"tensorboard": "tab\there"}, "tensorboard="),
    ],
)
def test_string_that_would_break_the_payload_json(options: dict[str, Any], shown: str) -> None:
    GCPC(cc.train_container, **options)  # GCPC writes it into the payload unescaped
    with pytest.raises(ConversionError) as info:
        convert(cc.train_container, **options)
    assert shown in str(info.value)
    assert "between quotes in its JSON payload without escaping them" in str(info.value)


def test_unicode_is_fine_in_the_payload() -> None:
    convert(cc.train_container, display_name="entraînement-モデル")


def test_input_default_that_would_break_the_payload_json() -> None:
    with pytest.raises(InvalidJobError) as info:
        convert(cc.quoted_default)
    (problem,) = info.value.report.errors
    assert problem.field == "job_spec.worker_pool_specs[0].container_spec.args[1]"
    assert "input 'msg' is 'say \"hi\"'" in problem.message


def test_if_present_on_an_optional_input_without_default() -> None:
    GCPC(cc.optional_if_present)  # the IfPresent reaches the container as JSON text
    with pytest.raises(
        ConversionError,
        match=r"'optional-if-present': IfPresent on input 'extra' cannot be converted: "
        r"'extra' is optional without a default",
    ):
        convert(cc.optional_if_present)


def test_invalid_machine_and_accelerator_pair_fails_at_conversion() -> None:
    GCPC(cc.train_container, accelerator_type="NVIDIA_TESLA_A100")  # fails only at submit
    with pytest.raises(InvalidJobError) as info:
        convert(cc.train_container, accelerator_type="NVIDIA_TESLA_A100", replica_count=2)
    fields = [p.field for p in info.value.report.errors]
    assert fields == [
        "job_spec.worker_pool_specs[0].machine_spec.accelerator_type",
        "job_spec.worker_pool_specs[1].machine_spec.accelerator_type",
    ]
    assert 'Accelerator "NVIDIA_TESLA_A100" is not supported for machine type "n1-standard-4"' in (
        info.value.report.errors[0].message
    )


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"timeout": "7 days"}, "job_spec.scheduling.timeout"),
        ({"strategy": "CHEAPEST"}, "job_spec.scheduling.strategy"),
        (
            {"accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 3},
            "job_spec.worker_pool_specs[0].machine_spec",
        ),
        ({"labels": {"Bad Key": "v"}}, "labels"),
    ],
)
def test_every_option_goes_through_the_validator(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidJobError) as info:
        convert(cc.train_container, **options)
    assert any(p.field.startswith(field) for p in info.value.report.errors), info.value


def test_validation_uses_the_location_when_given() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        convert(cc.train_container, validate_location="us-central1")


@pytest.mark.parametrize(
    ("pools", "message"),
    [
        (
            [container_pool("", machine_type="n1-standard-4"), None, container_pool("")],
            r"pool 1 \(workers\) is empty but pool 2 \(parameter servers\) is not\. "
            r"GCPC's launcher removes empty pools from the payload, so on Vertex pool 2 would run "
            r"as pool 1 \(workers\)",
        ),
        (
            {"chief": container_pool(""), "evaluator": container_pool("")},
            r"pool 1 \(workers\) is empty but pool 3 \(evaluator\) is not",
        ),
        ([None, container_pool("")], r"pool 0 \(chief\) is empty but pool 1 \(workers\) is not"),
        ([{}, None], r"worker_pool_specs has no pool"),
        ({"chef": container_pool("")}, r"unknown role\(s\) chef; the roles are chief, workers"),
        ([42], r"pool 0 must be a WorkerPoolSpec, a dict or None, not int"),
        (
            [{"replica_count": "many"}],
            r"^worker_pool_specs: pool 0\.replica_count: .*\"many\": expected an integer\.$",
        ),
    ],
)
def test_pool_shapes_that_cannot_work(pools: Any, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        convert(cc.train_container, worker_pool_specs=pools)
