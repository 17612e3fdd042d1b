"""The pure placeholder and payload functions, against the code they reproduce.

remove_empty and launcher_job against GCPC's launcher utilities, render_structures
against kfp.local's IfPresent/Concat resolution, payload_template against GCPC's
CustomTrainingJobOp.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf import json_format
from google_cloud_pipeline_components.container.v1.custom_job import remote_runner
from google_cloud_pipeline_components.container.v1.gcp_launcher.utils import (
    gcp_labels_util,
    json_util,
)
from google_cloud_pipeline_components.v1.custom_job import component as gcpc_component
from hypothesis import given
from hypothesis import strategies as st
from kfp.local import placeholder_utils

from cjob_emu.errors import ConversionError
from cjob_emu.launcher import contract as launcher
from cjob_emu.launcher.placeholders import (
    escape_executor_input,
    integral_floats_as_ints,
    launch_notes,
    launcher_job,
    needs_json_escape,
    parameter_text,
    remove_empty,
    render_structures,
    resolve_io,
    resolve_pipeline_placeholders,
    shifted_roles,
    substitute_parameters,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(-2, 2, allow_nan=False)
    | st.sampled_from(["", "x", "FLEX_START"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "c", "labels"]), children, max_size=4)
    ),
    max_leaves=25,
)


@given(st.dictionaries(st.sampled_from(["a", "b", "job_spec"]), json_values, max_size=4))
def test_remove_empty_is_gcpc_launchers_pass(payload: dict[str, Any]) -> None:
    assert remove_empty(payload) == json_util.recursive_remove_empty(payload)


@pytest.mark.parametrize(
    ("pools", "moves"),
    [
        ([{"a": 1}, {}, {"a": 1}], [(2, 1)]),
        ([{"a": 1}, {"replica_count": 0}, {"a": 1}, {"a": 2}], [(2, 1), (3, 2)]),
        ([{"a": 1}, {"a": 1}, {}], []),
        ([{}, {"a": 1}], [(1, 0)]),
    ],
)
def test_shifted_roles(pools: list[Any], moves: list[tuple[int, int]]) -> None:
    assert shifted_roles(pools) == moves
    kept = json_util.recursive_remove_empty({"p": pools})["p"]
    for old, new in moves:
        assert kept[new] == pools[old]


def _gcpc_launcher_job(payload: dict[str, Any]) -> dict[str, Any]:
    labelled = json.loads(remote_runner.insert_system_labels_into_payload(json.dumps(payload)))
    job = json_util.recursive_remove_empty(labelled)
    sent: dict[str, Any] = {}

    class Client:
        def create_custom_job(self, parent: str, custom_job: dict[str, Any]) -> Any:
            sent["job"] = custom_job
            return None

    remote_runner.create_custom_job_with_client(Client(), "projects/p/locations/l", job)
    return sent["job"]


@pytest.mark.parametrize("strategy", ["STANDARD", "FLEX_START", "", None])
@pytest.mark.parametrize("labels", [None, {}, {"team": "ml", "run": "mine"}])
@pytest.mark.parametrize("run_labels", [None, {"run": "r1", "pipeline": "p"}])
def test_launcher_job_is_what_gcpc_launcher_sends(
    strategy: str | None,
    labels: dict[str, str] | None,
    run_labels: dict[str, str] | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payload = {
        "display_name": "x",
        "job_spec": {
            "worker_pool_specs": [{"replica_count": 1}, {}, {"replica_count": 0}],
            "scheduling": {"strategy": strategy, "max_wait_duration": "60s", "timeout": ""},
            "network": "",
        },
        "labels": labels,
    }
    if run_labels is None:
        monkeypatch.delenv(gcp_labels_util.SYSTEM_LABEL_ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(gcp_labels_util.SYSTEM_LABEL_ENV_VAR, json.dumps(run_labels))
    assert launcher_job(payload, run_labels) == _gcpc_launcher_job(payload)


STRUCTURES = [
    '{"Concat": ["--a=", "{{$.inputs.parameters[\'a\']}}", "-x"]}',
    '{"IfPresent": {"InputName": "a", "Then": ["--a", "{{$.inputs.parameters[\'a\']}}"]}}',
    '{"IfPresent": {"InputName": "b", "Then": ["--b"], "Else": ["--no-b", "1"]}}',
    '{"IfPresent": {"InputName": "b", "Then": "--b"}}',
    '{"Concat": ["x", {"IfPresent": {"InputName": "a", "Then": "A", "Else": "none"}}]}',
    '{"Concat": ["x", {"IfPresent": {"InputName": "b", "Then": "B"}}, "y"]}',
    '{"IfPresent": {"InputName": "a", "Then": {"Concat": ["p", "q"]}}}',
    "plain {{$.inputs.parameters['a']}}",
]


@pytest.mark.parametrize("element", STRUCTURES)
def test_render_structures_is_kfp_local_resolution(element: str) -> None:
    provided = ["a"]
    ours = render_structures([element, "--end"], lambda name: name in provided)
    theirs = placeholder_utils.flatten_list(
        [placeholder_utils.resolve_struct_placeholders(e, provided) for e in [element, "--end"]]
    )
    assert ours == theirs


def test_text_that_only_looks_like_a_structure_stays() -> None:
    assert render_structures(['{"Concat": "not json'], lambda name: True) == [
        '{"Concat": "not json'
    ]


def test_unknown_presence_is_refused_naming_the_input() -> None:
    element = '{"IfPresent": {"InputName": "opt", "Then": ["--opt"]}}'
    with pytest.raises(ConversionError, match=r"IfPresent on input 'opt' cannot be converted"):
        render_structures([element], lambda name: None)


def test_concat_of_a_list_is_refused() -> None:
    element = '{"Concat": ["x", {"IfPresent": {"InputName": "a", "Then": ["p", "q"]}}]}'
    with pytest.raises(ConversionError, match="every part must render to one string"):
        render_structures([element], lambda name: True)


def test_executor_input_is_escaped_wherever_it_is() -> None:
    assert escape_executor_input(["{{$}}", "--in={{$}}", "{{$.inputs.parameters['x']}}"]) == [
        "{{$.json_escape[1]}}",
        "--in={{$.json_escape[1]}}",
        "{{$.inputs.parameters['x']}}",
    ]


def test_values_as_the_backend_writes_them() -> None:
    assert integral_floats_as_ints([{"replica_count": 2.0, "lr": 0.5, "on": True}]) == [
        {"replica_count": 2, "lr": 0.5, "on": True}
    ]
    assert parameter_text('a "b"') == 'a "b"'
    assert parameter_text({"k": 1.0}) == '{"k": 1}'
    assert parameter_text(None) == "null"
    text = "{{$.inputs.parameters['a']}}/{{$.inputs.parameters['b']}}"
    assert substitute_parameters(text, {"a": "1"}.get) == "1/{{$.inputs.parameters['b']}}"


@pytest.mark.parametrize(
    ("text", "breaks"),
    [("plain", False), ("ünïcode モデル", False), ('q"', True), ("b\\s", True), ("n\n", True)],
)
def test_needs_json_escape(text: str, breaks: bool) -> None:
    assert needs_json_escape(text) is breaks


def test_payload_template_is_gcpc_payload() -> None:
    spec = json_format.MessageToDict(gcpc_component.custom_training_job.pipeline_spec)
    (executor,) = spec["deploymentSpec"]["executors"].values()
    assert launcher.launcher_container() == executor["container"]
    (definition,) = spec["components"].values()
    gcpc_inputs = definition["inputDefinitions"]["parameters"]
    order = list(gcpc_component.custom_training_job.component_spec.inputs)
    assert [i.name for i in launcher.JOB_INPUTS] == order
    for job_input in launcher.JOB_INPUTS:
        assert job_input.parameter_type == gcpc_inputs[job_input.name]["parameterType"]
        assert job_input.default == gcpc_inputs[job_input.name].get("defaultValue")


def test_payload_paths_are_checked_against_custom_job() -> None:
    assert launcher._checked_path("job_spec.scheduling.timeout") == [
        "job_spec",
        "scheduling",
        "timeout",
    ]
    with pytest.raises(LookupError, match=r"CustomJob has no field job_spec\.schedule$"):
        launcher._checked_path("job_spec.schedule.timeout")
    with pytest.raises(LookupError, match="CustomJob has no field jobSpec"):
        launcher._checked_path("jobSpec")


EXECUTOR_INPUT = {
    "inputs": {
        "parameterValues": {"lr": 0.5, "epochs": 3.0, "name": 'say "hi"', "tags": ["a", "b"]},
        "artifacts": {
            "data": {
                "artifacts": [
                    {"uri": "gs://root/run/prep/data", "metadata": {"rows": 20.0, "k": "v"}}
                ]
            }
        },
    },
    "outputs": {
        "parameters": {"out": {"outputFile": "/gcs/root/run/train/out"}},
        "artifacts": {"model": {"artifacts": [{"uri": "gs://root/run/train/model"}]}},
        "outputFile": "/gcs/root/run/train/executor_output.json",
    },
}
IO_TEXTS = [
    "--lr={{$.inputs.parameters['lr']}} --epochs={{$.inputs.parameters['epochs']}}",
    "{{$.inputs.parameters['name']}}",
    "{{$.inputs.parameters['tags']}}",
    "{{$.outputs.parameters['out'].output_file}}",
    "{{$.inputs.artifacts['data'].uri}} {{$.inputs.artifacts['data'].path}}",
    "{{$.outputs.artifacts['model'].uri}}",
    "{{$.inputs.artifacts['data'].metadata}}",
    "{{$.inputs.artifacts['data'].metadata['k']}}",
    "{{$.outputs.output_file}}",
]


@pytest.mark.parametrize("text", IO_TEXTS)
def test_resolve_io_is_kfp_local_resolution(text: str) -> None:
    """kfp.local serves artifacts from local paths, so its .path is the URI itself."""
    theirs = placeholder_utils.resolve_individual_placeholder(
        text, EXECUTOR_INPUT, "job", "task", "gs://root", "1", "2"
    )
    assert resolve_io(text, EXECUTOR_INPUT, path_of=lambda uri: uri) == theirs.replace(
        "3.0", "3"
    ).replace("20.0", "20")


def test_resolve_io_as_on_vertex() -> None:
    text = "{{$.inputs.artifacts['data'].path}}|{{$.outputs.artifacts['model'].path}}"
    assert resolve_io(text, EXECUTOR_INPUT) == "/gcs/root/run/prep/data|/gcs/root/run/train/model"
    assert resolve_io("{{$.inputs.parameters['missing']}}", EXECUTOR_INPUT) == (
        "{{$.inputs.parameters['missing']}}"
    )
    assert json.loads(resolve_io("{{$}}", EXECUTOR_INPUT)) == EXECUTOR_INPUT


def test_escaped_executor_input_survives_the_payload_json() -> None:
    payload = '{"args": ["--executor_input", "{{$.json_escape[1]}}"]}'
    parsed = json.loads(resolve_io(payload, EXECUTOR_INPUT))
    assert json.loads(parsed["args"][1]) == EXECUTOR_INPUT


def test_pipeline_placeholders() -> None:
    values = {
        launcher.PROJECT_PLACEHOLDER: "proj",
        launcher.PERSISTENT_RESOURCE_ID_PLACEHOLDER: "",
    }
    text = json.dumps(
        {"p": launcher.PROJECT_PLACEHOLDER, "r": "x" + launcher.PERSISTENT_RESOURCE_ID_PLACEHOLDER}
    )
    assert json.loads(resolve_pipeline_placeholders(text, values)) == {"p": "proj", "r": "x"}


def test_launch_notes_name_what_the_launcher_changes() -> None:
    payload = {
        "job_spec": {
            "worker_pool_specs": [{"replica_count": 1}, {}, {}, {"replica_count": 2}],
            "scheduling": {"strategy": "SPOT", "max_wait_duration": "60s"},
        }
    }
    assert launch_notes(payload) == [
        "empty pool(s) 1, 2 are removed by GCPC's launcher, so pool 3 runs as pool 1 "
        "(another role) on Vertex",
        "max_wait_duration '60s' is dropped: the launcher keeps it only with strategy FLEX_START",
    ]
    assert launch_notes({"job_spec": {"worker_pool_specs": [{"a": 1}, {}]}}) == []
