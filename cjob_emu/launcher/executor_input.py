"""A task's ExecutorInput and its outputs, as the Vertex Pipelines backend builds and reads them.

Pure functions over pipeline-spec JSON (the compiled YAML, parsed): no kfp, no I/O.
Artifacts are RuntimeArtifact JSON (``{"name", "type", "uri", "metadata"}``) with
``gs://`` URIs; where a task sees a file is the caller's business (``path_of``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from cjob_emu.launcher.placeholders import gcs_path

EXECUTOR_OUTPUT_FILE = "executor_output.json"

Artifact = dict[str, Any]
"""A RuntimeArtifact as JSON data: name, type (schemaTitle, schemaVersion), uri, metadata."""


def task_root(pipeline_root: str, run_name: str, task_name: str) -> str:
    """The URI under which a task's outputs go: ``<pipeline root>/<run>/<task>``."""
    return f"{pipeline_root.rstrip('/')}/{run_name}/{task_name}"


def parameter_values(
    component: Mapping[str, Any],
    arguments: Mapping[str, Any],
    *,
    resolve: Callable[[Any], Any] = lambda value: value,
) -> dict[str, Any]:
    """The task's input parameter values: its arguments, else the component's defaults
    (passed through ``resolve``, which fills in pipeline-level placeholders); optional
    inputs nobody sets are left out. Integer inputs are ints (specs store doubles)."""
    definitions = component.get("inputDefinitions", {}).get("parameters", {})
    values: dict[str, Any] = {}
    for name, definition in definitions.items():
        if name in arguments:
            value = arguments[name]
        elif "defaultValue" in definition:
            value = resolve(definition["defaultValue"])
        else:
            continue
        if definition.get("parameterType") == "NUMBER_INTEGER" and isinstance(value, float):
            value = int(value)
        values[name] = value
    # Values kfp injects for f-strings (pipelinechannel--...) are inputs without a definition.
    artifacts = component.get("inputDefinitions", {}).get("artifacts", {})
    values.update(
        {k: v for k, v in arguments.items() if k not in definitions and k not in artifacts}
    )
    return values


def missing_inputs(component: Mapping[str, Any], values: Mapping[str, Any]) -> list[str]:
    """Required parameters and artifacts of ``component`` that ``values`` lacks."""
    definitions = component.get("inputDefinitions", {})
    return [
        name
        for kind in ("parameters", "artifacts")
        for name, definition in definitions.get(kind, {}).items()
        if name not in values
        and not definition.get("isOptional", False)
        and "defaultValue" not in definition
    ]


def output_artifact(name: str, definition: Mapping[str, Any], root: str) -> Artifact:
    """The empty output artifact ``name`` of a task whose outputs go under ``root``."""
    return {
        "name": name,
        "type": dict(definition.get("artifactType", {})),
        "uri": f"{root}/{name}",
        "metadata": {},
    }


def build_executor_input(
    component: Mapping[str, Any],
    parameters: Mapping[str, Any],
    artifacts: Mapping[str, list[Artifact]],
    root: str,
    *,
    path_of: Callable[[str], str] = gcs_path,
) -> dict[str, Any]:
    """The ExecutorInput (JSON) of a task of ``component`` whose outputs go under ``root``.

    ``parameters`` are the input values (see :func:`parameter_values`), ``artifacts``
    the input artifacts by name. Output files (parameters and ``executor_output.json``)
    are ``path_of`` their URI under ``root``: ``/gcs/...`` for replicas, as on Vertex.
    """
    outputs = component.get("outputDefinitions", {})
    executor_input: dict[str, Any] = {
        "inputs": {
            "parameterValues": dict(parameters),
            "artifacts": {name: {"artifacts": list(items)} for name, items in artifacts.items()},
        },
        "outputs": {
            "parameters": {
                name: {"outputFile": path_of(f"{root}/{name}")}
                for name in outputs.get("parameters", {})
            },
            "artifacts": {
                name: {"artifacts": [output_artifact(name, definition, root)]}
                for name, definition in outputs.get("artifacts", {}).items()
            },
            "outputFile": path_of(f"{root}/{EXECUTOR_OUTPUT_FILE}"),
        },
    }
    for side in ("inputs", "outputs"):
        for key in list(executor_input[side]):
            if not executor_input[side][key]:
                del executor_input[side][key]
    return executor_input


def read_outputs(
    component: Mapping[str, Any],
    executor_input: Mapping[str, Any],
    executor_output: Mapping[str, Any] | None,
    parameter_files: Mapping[str, str],
    *,
    skip: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """A finished task's outputs by name: parameter values and artifacts.

    Parameters come from the files the task wrote (``parameter_files``: name -> text;
    strings as they are, everything else JSON, as the backend reads them) and from
    ``executor_output`` (what kfp's executor writes, the chief alone in a CustomJob);
    artifacts are the task's output artifacts with the metadata the executor output
    gives them. Names in ``skip`` are left out. Raises ValueError for an unreadable file.
    """
    definitions = component.get("outputDefinitions", {})
    written = dict(executor_output or {})
    values: dict[str, Any] = dict(written.get("parameterValues", {}))
    for name, text in parameter_files.items():
        kind = definitions.get("parameters", {}).get(name, {}).get("parameterType", "STRING")
        values[name] = _parameter_from_text(name, text, kind)
    for name, definition in definitions.get("parameters", {}).items():
        if definition.get("parameterType") == "NUMBER_INTEGER" and isinstance(
            values.get(name), float
        ):
            values[name] = int(values[name])
    updated = written.get("artifacts", {})
    for name, holder in executor_input.get("outputs", {}).get("artifacts", {}).items():
        artifact = dict(holder["artifacts"][0])
        reported = (updated.get(name) or {}).get("artifacts") or [{}]
        artifact["metadata"] = {**artifact.get("metadata", {}), **reported[0].get("metadata", {})}
        values[name] = artifact
    return {name: value for name, value in values.items() if name not in skip}


def _parameter_from_text(name: str, text: str, kind: str) -> Any:
    if kind == "STRING":
        return text
    try:
        return json.loads(text.lower() if kind == "BOOLEAN" else text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"output parameter {name!r} ({kind}) is not JSON: {text[:80]!r}") from exc
