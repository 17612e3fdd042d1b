"""The local pipeline runner's pure parts: executor input, the launcher's treatment of a
payload, typed --param values, what is refused. No Docker, no GCPC (runs in aip2 too):
GCPC's own output is the precompiled fixtures/pipelines/train_eval_gcpc.yaml."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler
from support import pipeline_components
from support.paths import FIXTURES

from cjob_emu.cli.run_pipeline import parse_params
from cjob_emu.errors import InputError
from cjob_emu.launcher.contract import (
    LOCATION_PLACEHOLDER,
    PERSISTENT_RESOURCE_ID_PLACEHOLDER,
    PROJECT_PLACEHOLDER,
)
from cjob_emu.launcher.executor_input import (
    build_executor_input,
    missing_inputs,
    parameter_values,
    read_outputs,
)
from cjob_emu.launcher.payload import LaunchFailed, gcp_resources, prepare_launch
from cjob_emu.launcher.placeholders import resolve_pipeline_placeholders
from cjob_emu.pipelines import run_pipeline
from cjob_emu.spec import load_job
from cjob_emu.validate import validate

PIPELINES = FIXTURES / "pipelines"
VALUES = {
    PROJECT_PLACEHOLDER: "proj",
    LOCATION_PLACEHOLDER: "europe-west4",
    PERSISTENT_RESOURCE_ID_PLACEHOLDER: "",
}
DATA = {
    "name": "data",
    "type": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"},
    "uri": "gs://b/root/run/prepare-data/data",
    "metadata": {},
}
ROOT = "gs://b/root/run/train"


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((PIPELINES / name).read_text())
    return document


def resolve(value: Any) -> Any:
    return resolve_pipeline_placeholders(value, VALUES) if isinstance(value, str) else value


def train_launch(name: str, arguments: dict[str, Any] | None = None) -> tuple[Any, dict]:
    spec = load(name)
    component = spec["components"]["comp-train"]
    container = spec["deploymentSpec"]["executors"]["exec-train"]["container"]
    params = parameter_values(component, {"epochs": 3, **(arguments or {})}, resolve=resolve)
    executor_input = build_executor_input(component, params, {"data": [DATA]}, ROOT)
    launch = prepare_launch(
        container, executor_input, pipeline_values=VALUES, system_labels={"run": "7"}
    )
    return launch, executor_input


def test_parameter_values_take_arguments_then_resolved_defaults_and_make_integers_ints() -> None:
    component = load("train_eval.yaml")["components"]["comp-train"]
    values = parameter_values(component, {"epochs": 5.0}, resolve=resolve)
    assert values["epochs"] == 5 and isinstance(values["epochs"], int)
    assert values["project"] == "proj" and values["location"] == "europe-west4"
    assert values["persistent_resource_id"] == ""
    assert values["display_name"] == "train-eval"
    # optional inputs without a default are left out, as the backend leaves them
    assert "labels" not in values and "reserved_ip_ranges" not in values
    assert missing_inputs(component, values) == ["data"]


def test_executor_input_puts_outputs_under_the_task_root_seen_under_gcs() -> None:
    component = load("train_eval.yaml")["components"]["comp-train"]
    executor_input = build_executor_input(component, {"epochs": 3}, {"data": [DATA]}, ROOT)
    outputs = executor_input["outputs"]
    assert outputs["outputFile"] == "/gcs/b/root/run/train/executor_output.json"
    assert outputs["parameters"]["gcp_resources"] == {
        "outputFile": "/gcs/b/root/run/train/gcp_resources"
    }
    model = outputs["artifacts"]["model"]["artifacts"][0]
    assert model["uri"] == f"{ROOT}/model" and model["type"]["schemaTitle"] == "system.Model"
    assert executor_input["inputs"]["artifacts"]["data"]["artifacts"] == [DATA]


@pytest.mark.parametrize("name", ["train_eval.yaml", "train_eval_gcpc.yaml"])
def test_launch_of_both_converters_is_the_same_valid_job(name: str) -> None:
    launch, executor_input = train_launch(name)
    job = launch.job
    assert launch.project == "proj" and launch.location == "europe-west4"
    assert launch.warnings == ()
    assert job["display_name"] == "train-eval"
    assert job["labels"] == {"run": "7"}
    pools = job["job_spec"]["worker_pool_specs"]
    assert [p["replica_count"] for p in pools] == [1, 2]
    assert all(isinstance(p["replica_count"], int) for p in pools)
    # the launcher's empty-value pass and max-wait rule
    assert "max_wait_duration" not in job["job_spec"]["scheduling"]
    for empty in ("persistent_resource_id", "network", "service_account", "reserved_ip_ranges"):
        assert empty not in job["job_spec"]
    assert "encryption_spec" not in job
    # {{$.json_escape[1]}} inside the payload became the executor input, one argument
    args = pools[0]["container_spec"]["args"]
    assert json.loads(args[args.index("--executor_input") + 1]) == executor_input
    assert validate(load_job(job), location="europe-west4").ok


def test_the_two_converters_give_the_same_pools() -> None:
    ours, _ = train_launch("train_eval.yaml")
    theirs, _ = train_launch("train_eval_gcpc.yaml")
    assert ours.job["job_spec"]["worker_pool_specs"] == theirs.job["job_spec"]["worker_pool_specs"]


def test_a_value_that_breaks_the_payload_fails_the_task_as_on_vertex() -> None:
    with pytest.raises(LaunchFailed, match="display_name") as caught:
        train_launch("train_eval.yaml", {"display_name": 'say "hi"'})
    assert "fails on Vertex too" in str(caught.value)


def test_a_value_the_payload_changes_is_warned_about_and_run_as_vertex_would() -> None:
    launch, _ = train_launch("train_eval.yaml", {"display_name": "tab\\there"})
    assert launch.job["display_name"] == "tab\there"  # the JSON escape took effect
    assert any("display_name" in w and "unescaped" in w for w in launch.warnings)


def test_an_empty_pool_is_dropped_and_the_role_shift_warned_about() -> None:
    pools = [
        {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1.0},
        {},
        {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 2.0},
    ]
    for pool in (pools[0], pools[2]):
        pool["container_spec"] = {"image_uri": "python:3.11", "command": ["true"]}
    launch, _ = train_launch("train_eval.yaml", {"worker_pool_specs": pools})
    assert len(launch.job["job_spec"]["worker_pool_specs"]) == 2
    assert any("pool 2 runs as pool 1" in w for w in launch.warnings)


def test_max_wait_duration_set_by_the_user_without_flex_start_is_warned_about() -> None:
    launch, _ = train_launch("train_eval.yaml", {"max_wait_duration": "3600s"})
    assert "max_wait_duration" not in launch.job["job_spec"]["scheduling"]
    assert any("max_wait_duration '3600s' is dropped" in w for w in launch.warnings)
    flex, _ = train_launch(
        "train_eval.yaml", {"max_wait_duration": "3600s", "strategy": "FLEX_START"}
    )
    assert flex.job["job_spec"]["scheduling"]["max_wait_duration"] == "3600s"


def test_read_outputs_from_files_and_executor_output() -> None:
    component = {
        "outputDefinitions": {
            "parameters": {
                "count": {"parameterType": "NUMBER_INTEGER"},
                "score": {"parameterType": "NUMBER_DOUBLE"},
                "ok": {"parameterType": "BOOLEAN"},
                "who": {"parameterType": "STRING"},
                "gcp_resources": {"parameterType": "STRING"},
            },
            "artifacts": {"model": {"artifactType": {"schemaTitle": "system.Model"}}},
        }
    }
    executor_input = build_executor_input(component, {}, {}, ROOT)
    written = {
        "parameterValues": {"count": 3.0, "score": 2.0},
        "artifacts": {"model": {"artifacts": [{"uri": "/elsewhere", "metadata": {"acc": 0.9}}]}},
    }
    files = {"ok": "True", "who": "workerpool0-0\n"}
    outputs = read_outputs(
        component, executor_input, written, files, skip=frozenset(["gcp_resources"])
    )
    assert outputs["count"] == 3 and isinstance(outputs["count"], int)
    assert outputs["score"] == 2.0 and isinstance(outputs["score"], float)
    assert outputs["ok"] is True and outputs["who"] == "workerpool0-0\n"
    # the artifact stays where the executor input put it; the metadata comes back
    assert outputs["model"]["uri"] == f"{ROOT}/model"
    assert outputs["model"]["metadata"] == {"acc": 0.9}
    assert "gcp_resources" not in outputs
    with pytest.raises(ValueError, match="count"):
        read_outputs(component, executor_input, None, {"count": "three"})


def test_gcp_resources_names_the_job_as_the_launcher_does() -> None:
    assert gcp_resources("p", "us-east1", "42") == {
        "resources": [
            {
                "resourceType": "CustomJob",
                "resourceUri": "https://us-east1-aiplatform.googleapis.com/v1/projects/p"
                "/locations/us-east1/customJobs/42",
            }
        ]
    }


def test_params_are_typed_by_the_pipeline() -> None:
    spec = load("train_eval.yaml")
    assert parse_params(spec, ["rows=7", "epochs=2"]) == {"rows": 7, "epochs": 2}
    with pytest.raises(InputError, match="--param rows='seven': NUMBER_INTEGER"):
        parse_params(spec, ["rows=seven"])
    with pytest.raises(InputError, match="no such parameter"):
        parse_params(spec, ["rowz=1"])
    with pytest.raises(InputError, match="NAME=VALUE"):
        parse_params(spec, ["rows"])


def test_unknown_arguments_are_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no parameter 'rowz'"):
        run_pipeline(PIPELINES / "train_eval.yaml", {"rowz": 1}, gcs_root=tmp_path)


def test_an_importer_is_refused_with_the_task_named(tmp_path: Path) -> None:
    path = tmp_path / "importing.yaml"
    compiler.Compiler().compile(pipeline_components.importing, str(path))
    with pytest.raises(InputError, match=r"task importer uses an importer \(dsl.importer\)"):
        run_pipeline(path, gcs_root=tmp_path / "gcs")


def test_artifacts_collected_from_a_loop_are_refused_with_the_task_named(
    tmp_path: Path,
) -> None:
    path = tmp_path / "collecting.yaml"
    compiler.Compiler().compile(pipeline_components.collecting_artifacts, str(path))
    with pytest.raises(InputError, match=r"task for-loop-2 uses artifacts collected from a loop"):
        run_pipeline(path, gcs_root=tmp_path / "gcs")


def test_a_kfp_pin_other_than_the_installed_one_is_said_for_the_process_backend() -> None:
    # (running it would pip-install that kfp into this Python: only the check is tested)
    from kfp import __version__ as installed

    from cjob_emu.pipelines.preflight import foreign_kfp

    spec = load("train_eval.yaml")
    commands = [e["container"] for e in spec["deploymentSpec"]["executors"].values()]

    def pin(version: str) -> None:
        for container in commands:
            container["command"] = [
                re.sub(r"'kfp==[^']+'", f"'kfp=={version}'", c)
                for c in container.get("command", [])
            ]

    pin(installed)
    assert foreign_kfp(spec) == []
    pin("0.0.1")
    assert foreign_kfp(spec) == [
        "process backend: tasks run `pip install kfp==0.0.1` in this Python, which has "
        f"kfp {installed}: that needs the network and changes this environment"
    ]


def test_a_spec_that_does_not_hang_together_is_refused_naming_the_task(tmp_path: Path) -> None:
    spec = load("train_eval.yaml")
    del spec["components"]["comp-evaluate"]
    with pytest.raises(InputError, match="task evaluate: its component or executor is missing"):
        run_pipeline(spec, gcs_root=tmp_path)
    spec = load("train_eval.yaml")
    spec["root"]["dag"]["tasks"]["prepare-data"]["dependentTasks"] = ["evaluate"]
    with pytest.raises(InputError, match="depend on each other in a cycle"):
        run_pipeline(spec, gcs_root=tmp_path)


def echo_launch(msg: str) -> Any:
    """The launch of a converted container component whose args hold its input ``msg``."""
    from google.protobuf import json_format
    from kfp import components

    from cjob_emu.converter import create_custom_training_job_from_component

    text = yaml.safe_dump(
        {
            "name": "echo",
            "inputs": [{"name": "msg", "type": "String", "default": "plain"}],
            "implementation": {
                "container": {
                    "image": "us-docker.pkg.dev/p/r/t:1",
                    "command": ["python3", "-m", "t"],
                    "args": ["--msg", {"inputValue": "msg"}],
                }
            },
        }
    )
    op = create_custom_training_job_from_component(components.load_component_from_text(text))
    spec = json_format.MessageToDict(op.pipeline_spec)
    (component,) = spec["components"].values()
    (executor,) = spec["deploymentSpec"]["executors"].values()
    params = parameter_values(component, {"msg": msg}, resolve=resolve)
    executor_input = build_executor_input(component, params, {}, ROOT)
    return prepare_launch(executor["container"], executor_input, pipeline_values=VALUES)


def test_a_container_components_own_inputs_in_its_args_get_their_values() -> None:
    # The backend's second pass: worker_pool_specs written into the payload still holds
    # the wrapped component's input placeholders, which Vertex then fills in too.
    launch = echo_launch("hello world")
    pool = launch.job["job_spec"]["worker_pool_specs"][0]
    assert pool["container_spec"]["args"] == ["--msg", "hello world"]
    assert launch.warnings == ()


def test_a_component_input_that_breaks_the_payload_in_the_second_pass_is_named() -> None:
    with pytest.raises(LaunchFailed, match="input 'msg'"):
        echo_launch('say "hi"')
