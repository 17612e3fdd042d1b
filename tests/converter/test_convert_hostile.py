"""The converter and the placeholder resolver given hostile strings.

Quotes, backslashes, newlines, NUL, braces, unicode and look-alikes of KFP placeholders
go into every value a user gives: the job options (display_name, env, labels), a
component input's default and values known only when the pipeline runs. Each one either
comes out of GCPC's own launcher code intact (the payload staying valid JSON), or is
refused up front with one of our errors naming the input. Values set at run time cannot be
refused at conversion: the pipeline check reports those it knows.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.cloud import aiplatform_v1
from hypothesis import given, settings
from hypothesis import strategies as st
from kfp import components, dsl
from support.convert_helpers import backend_payload, compile_pipeline, launcher_job

from cjob_emu.converter import create_custom_training_job_from_component
from cjob_emu.converter.check import check_payload, validate_pipeline
from cjob_emu.errors import ConversionError, InvalidJobError
from cjob_emu.launcher.contract import payload_template
from cjob_emu.launcher.placeholders import (
    ANY_PLACEHOLDER,
    EXECUTOR_INPUT_ANYWHERE,
    needs_json_escape,
    resolve_io,
)

IMAGE = "us-docker.pkg.dev/proj/repo/trainer:1"

HOSTILE = [
    'say "hi"',
    "back\\slash",
    "two\nlines",
    "tab\there",
    "nul\x00byte",
    "{{",
    "}}",
    "{}",
    "{{$}}",
    "{{$.json_escape[1]}}",
    "x {{$.json_escape[1]}} y",
    "{{$.inputs.parameters['x']}}",
    "{{$.inputs.parameters['msg']}}",
    "{{$.inputs.parameters['",
    "{{$.outputs.parameters['gcp_resources'].output_file}}",
    "{{$.pipeline_job_name}}",
    "entraînement-モデル ✓ \u2028 \U0001f600",
    "'; rm -rf / #",
    "\\u0022",
    "",
]


def echo_component(default: str = "plain") -> Any:
    """A container component passing its one string input ``msg`` as an argument."""
    spec = {
        "name": "echo",
        "inputs": [{"name": "msg", "type": "String", "default": default}],
        "implementation": {
            "container": {
                "image": IMAGE,
                "command": ["python", "-m", "trainer.task"],
                "args": ["--msg", {"inputValue": "msg"}],
            }
        },
    }
    return components.load_component_from_text(yaml.safe_dump(spec))


def converted(default: str = "plain", **options: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. unknown machine notes
        return create_custom_training_job_from_component(echo_component(default), **options)


def compiled(op: Any, tmp_path: Path, **arguments: Any) -> tuple[dict[str, Any], str]:
    """A one-task pipeline around ``op`` compiled by kfp; its spec and the task's name."""

    @dsl.pipeline(name="hostile")
    def pipeline():  # no annotation: kfp would read the postponed "None" as a type
        op(**arguments)

    spec = compile_pipeline(pipeline, tmp_path / "pipeline.yaml")
    (task,) = spec["root"]["dag"]["tasks"]
    return spec, task


def created_job(op: Any, tmp_path: Path, arguments: dict[str, Any] | None = None) -> dict:
    """The CustomJob GCPC's launcher creates for the task (snake_case dict)."""
    spec, task = compiled(op, tmp_path)
    payload = backend_payload(spec, task, arguments or {})
    json.loads(payload, strict=False)  # what the launcher parses first
    return aiplatform_v1.CustomJob.to_dict(launcher_job(payload))


def as_vertex_fills(value: str) -> str:
    """The value a string option ends as: like on Vertex (and with GCPC), a placeholder of
    one of the task's own inputs is filled in; nothing else is touched."""
    return "plain" if value == "{{$.inputs.parameters['msg']}}" else value


def refused(value: str) -> bool:
    """Whether the converter must refuse ``value`` in a place written into the payload as is:
    the backend escapes nothing, and replaces the executor-input placeholders."""
    return needs_json_escape(value) or bool(EXECUTOR_INPUT_ANYWHERE.search(value))


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_display_name_comes_out_intact_or_is_refused_naming_it(value: str, tmp_path: Path) -> None:
    try:
        op = converted(display_name=value)
    except (ConversionError, InvalidJobError) as exc:
        assert refused(value), exc
        assert "display_name" in str(exc)
        return
    assert not refused(value)
    # An empty display_name means the component's name (as in GCPC).
    assert created_job(op, tmp_path)["display_name"] == (as_vertex_fills(value) or "echo")


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_env_values_come_out_intact_or_are_refused_naming_them(value: str, tmp_path: Path) -> None:
    try:
        op = converted(env={"HOSTILE": value})
    except InvalidJobError as exc:
        assert EXECUTOR_INPUT_ANYWHERE.search(value), exc
        (problem,) = exc.report.errors
        assert problem.field == "job_spec.worker_pool_specs[0].container_spec.env[0].value"
        assert "env value" in problem.message
        return
    assert not EXECUTOR_INPUT_ANYWHERE.search(value)  # env sits in JSON: escaping is fine
    (env,) = created_job(op, tmp_path)["job_spec"]["worker_pool_specs"][0]["container_spec"]["env"]
    assert env == {"name": "HOSTILE", "value": as_vertex_fills(value)}


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_label_values_are_intact_or_refused_naming_the_label(value: str, tmp_path: Path) -> None:
    try:
        op = converted(labels={"team": value})
    except InvalidJobError as exc:
        assert {p.field for p in exc.report.errors} == {"labels.team"}
        return
    # GCPC's launcher drops empty values, an empty label included.
    assert created_job(op, tmp_path).get("labels", {}) == ({"team": value} if value else {})


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_a_component_input_default_comes_out_intact_or_is_refused_naming_the_input(
    value: str, tmp_path: Path
) -> None:
    try:
        op = converted(default=value)
    except InvalidJobError as exc:
        assert refused(value), exc
        assert "'msg'" in str(exc)
        return
    assert not refused(value)
    args = created_job(op, tmp_path)["job_spec"]["worker_pool_specs"][0]["container_spec"]["args"]
    assert args == ["--msg", value]


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_values_given_to_the_task_are_checked_like_defaults(value: str, tmp_path: Path) -> None:
    """Constants given in the pipeline reach the payload at run time: the pipeline check
    names the ones that would break it or be changed; the others come out intact."""
    spec, _ = compiled(converted(), tmp_path, msg=value, display_name=value or "x")
    (report,) = validate_pipeline(spec).values()
    fields = {p.field for p in report.errors}
    assert ("display_name" in fields) is (refused(value) and bool(value)), report.errors
    assert (
        "job_spec.worker_pool_specs[0].container_spec.args[1]" in fields or "msg" in fields
    ) is refused(value), report.errors
    if not refused(value):
        job = created_job(converted(), tmp_path, {"msg": value, "display_name": value or "x"})
        assert job["display_name"] == (value or "x")
        assert job["job_spec"]["worker_pool_specs"][0]["container_spec"]["args"] == [
            "--msg",
            value,
        ]


TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30) | st.sampled_from(HOSTILE)


@settings(max_examples=300)
@given(TEXT, TEXT)
def test_resolve_io_writes_values_as_they_are_and_escapes_the_executor_input_once(
    msg: str, other: str
) -> None:
    executor_input = {"inputs": {"parameterValues": {"msg": msg, "other": other}}}
    line = "--msg={{$.inputs.parameters['msg']}} --other={{$.inputs.parameters['other']}}"
    resolved = resolve_io(line, executor_input)
    if not EXECUTOR_INPUT_ANYWHERE.search(msg + other):
        assert resolved == f"--msg={msg} --other={other}"  # one pass: values never resolved
    # Inside the payload's JSON, the escaped executor input reads back exactly.
    embedded = resolve_io('{"arg": "{{$.json_escape[1]}}"}', executor_input)
    assert json.loads(json.loads(embedded)["arg"]) == executor_input


@settings(max_examples=300)
@given(st.sampled_from(["display_name", "service_account", "network", "tensorboard"]), TEXT)
def test_check_payload_names_every_value_that_breaks_or_changes_the_payload(
    name: str, value: str
) -> None:
    values = {"display_name": "ok", "worker_pool_specs": [], name: value}
    report = check_payload(payload_template(), values, note_runtime=False)
    named = [p for p in report.errors if name in p.field and repr(value) in p.message]
    assert bool(named) is (refused(value) and not _is_runtime(value, name)), report.errors


def _is_runtime(value: str, name: str) -> bool:
    """A value holding a placeholder is set at run time (e.g. {{$.pipeline_job_name}}):
    checked only for the executor-input placeholders, which never belong there."""
    return bool(ANY_PLACEHOLDER.search(value)) and not EXECUTOR_INPUT_ANYWHERE.search(value)
