"""Compile pipelines and push a launcher task's payload through GCPC's own launcher code.

``launcher_job`` plays the Vertex Pipelines backend in the simplest way (fill in
the task's values, then the pools' own placeholders, then the JSON-escaped
executor input) and hands the text to GCPC 2.22's launcher functions with a
client that records the CustomJob instead of sending it; the job is then built
as ``JobServiceClient.create_custom_job`` builds it, so unknown fields fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml
from google.cloud import aiplatform_v1
from google_cloud_pipeline_components.container.v1.custom_job import remote_runner
from google_cloud_pipeline_components.container.v1.gcp_launcher.utils import json_util
from kfp import compiler

from cjob_emu.launcher.contract import launcher_arg
from cjob_emu.launcher.placeholders import (
    JSON_ESCAPED_EXECUTOR_INPUT,
    parameter_text,
    substitute_parameters,
)


def compile_pipeline(pipeline: Any, path: Path) -> dict[str, Any]:
    """The pipeline compiled by kfp and read back as data."""
    compiler.Compiler().compile(pipeline, str(path))
    spec: dict[str, Any] = yaml.safe_load(path.read_text())
    return spec


def task_component(spec: dict[str, Any], task: str) -> dict[str, Any]:
    ref = spec["root"]["dag"]["tasks"][task]["componentRef"]["name"]
    component: dict[str, Any] = spec["components"][ref]
    return component


def default_pools(spec: dict[str, Any], task: str) -> list[dict[str, Any]]:
    """The worker_pool_specs default a converted task's component carries."""
    params = task_component(spec, task)["inputDefinitions"]["parameters"]
    pools: list[dict[str, Any]] = params["worker_pool_specs"]["defaultValue"]
    return pools


def backend_payload(spec: dict[str, Any], task: str, arguments: dict[str, Any]) -> str:
    """The ``--payload`` text the launcher receives for ``task`` run with ``arguments``."""
    component = task_component(spec, task)
    # An optional input without a default and not given is written as JSON null.
    values = {
        name: d.get("defaultValue")
        for name, d in component["inputDefinitions"]["parameters"].items()
    }
    values["persistent_resource_id"] = ""
    values.update(arguments)
    container = spec["deploymentSpec"]["executors"][component["executorLabel"]]["container"]
    payload = launcher_arg(container["args"], "--payload")
    assert payload is not None

    def lookup(name: str) -> str | None:
        return parameter_text(values[name]) if name in values else None

    text = substitute_parameters(substitute_parameters(payload, lookup), lookup)
    executor_input = json.dumps({"inputs": {"parameterValues": arguments}})
    return text.replace(JSON_ESCAPED_EXECUTOR_INPUT, json.dumps(executor_input)[1:-1])


def launcher_job(payload: str) -> aiplatform_v1.CustomJob:
    """The CustomJob GCPC's launcher would create from ``payload`` (run labels from
    ``VERTEX_AI_PIPELINES_RUN_LABELS``, as on Vertex)."""
    labelled = remote_runner.insert_system_labels_into_payload(payload)
    job_spec = json_util.recursive_remove_empty(json.loads(labelled, strict=False))
    sent: dict[str, Any] = {}

    class RecordingClient:
        def create_custom_job(self, parent: str, custom_job: dict[str, Any]) -> Any:
            sent["job"] = custom_job
            return SimpleNamespace(name=f"{parent}/customJobs/1")

    remote_runner.create_custom_job_with_client(
        RecordingClient(), "projects/p/locations/us-central1", job_spec
    )
    return aiplatform_v1.CustomJob(sent["job"])
