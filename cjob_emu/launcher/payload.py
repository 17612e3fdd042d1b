"""From a custom-job task to the CustomJob GCPC's launcher would create, with no I/O.

On Vertex the Pipelines backend fills in the launcher task's placeholders
(parameters unescaped, ``{{$.json_escape[1]}}`` with the executor input escaped
once, pipeline-level values such as the project), then GCPC's launcher parses
``--payload`` strictly, merges the run's labels, removes empty values and drops
``max_wait_duration`` unless the strategy is FLEX_START. :func:`prepare_launch`
does all of that and says where the result differs from what the user wrote.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cjob_emu.errors import JobFailedError
from cjob_emu.launcher.contract import GCP_RESOURCES, JOB_INPUTS_BY_NAME, launcher_arg
from cjob_emu.launcher.placeholders import (
    INPUT_PARAMETER,
    integral_floats_as_ints,
    launch_notes,
    launcher_job,
    needs_json_escape,
    parameter_text,
    resolve_io,
    resolve_pipeline_placeholders,
    substitute_parameters,
)


class LaunchFailed(JobFailedError):
    """GCPC's launcher would fail on this task before creating a job (as on Vertex)."""


@dataclass(frozen=True)
class Launch:
    """What the launcher does for one task.

    Attributes:
        job: The CustomJob it creates, snake_case JSON (as the launcher sends it).
        project: The ``--project`` it creates the job in.
        location: The ``--location``.
        warnings: Where Vertex would run something other than what the user wrote
            (a pool dropped, a role shifted, a value that breaks or changes the payload).
    """

    job: dict[str, Any]
    project: str
    location: str
    warnings: tuple[str, ...]


def prepare_launch(
    container: Mapping[str, Any],
    executor_input: Mapping[str, Any],
    *,
    pipeline_values: Mapping[str, str],
    system_labels: Mapping[str, str] | None = None,
) -> Launch:
    """The launch of a custom-job task whose executor is ``container`` (pipeline-spec JSON).

    ``executor_input`` is the task's ExecutorInput (JSON), its parameter values free of
    pipeline-level placeholders; ``pipeline_values`` maps those placeholders
    (``{{$.pipeline_google_cloud_project_id}}``...) to their values for the launcher's
    own arguments; ``system_labels`` are the run's labels (VERTEX_AI_PIPELINES_RUN_LABELS).

    Raises :class:`LaunchFailed` where the launcher fails on Vertex too: no payload,
    a type other than CustomJob, a payload that is not a JSON object once values are in.
    """
    args = [str(arg) for arg in container.get("args", [])]
    kind = launcher_arg(args, "--type")
    if kind != "CustomJob":
        raise LaunchFailed(f"the launcher only creates CustomJobs here; --type is {kind!r}")
    template = launcher_arg(args, "--payload")
    if template is None:
        raise LaunchFailed("the launcher task has no --payload argument")
    values = executor_input.get("inputs", {}).get("parameterValues", {})

    def resolved(text: str) -> str:
        return resolve_io(resolve_pipeline_placeholders(text, pipeline_values), executor_input)

    def value_text(name: str) -> str:
        if name in values:
            return parameter_text(values[name])
        # An optional input nobody set (GCPC's labels, reserved_ip_ranges): the backend
        # writes nothing between quotes and null in a bare place; the launcher drops both.
        job_input = JOB_INPUTS_BY_NAME.get(name)
        return "null" if job_input is not None and not job_input.quoted else ""

    # Two passes, as the backend makes: the first writes in the job inputs
    # (worker_pool_specs...), whose text holds the wrapped component's own input
    # placeholders, which the second fills in.
    first = substitute_parameters(template, value_text)
    text = resolved(substitute_parameters(first, value_text))
    written = [*INPUT_PARAMETER.findall(template), *INPUT_PARAMETER.findall(first)]
    warnings = [
        f"input {name!r} is {values[name]!r}: the Pipelines backend writes it into the "
        "launcher's JSON payload unescaped, and its quote, backslash or control character "
        "breaks the payload or changes the value on Vertex"
        for name in dict.fromkeys(written)
        if isinstance(values.get(name), str) and needs_json_escape(values[name])
    ]
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        cause = "; ".join(warnings) or "the payload template itself is not JSON"
        raise LaunchFailed(
            f"GCPC's launcher cannot parse the payload once values are in ({exc}), so the "
            f"task fails on Vertex too: {cause}"
        ) from None
    if not isinstance(payload, dict):
        raise LaunchFailed(f"the launcher's payload is not a JSON object: {text[:80]!r}")
    warnings += launch_notes(_without_default_wait(payload))
    job = integral_floats_as_ints(launcher_job(payload, system_labels))
    return Launch(
        job=job,
        project=resolved(launcher_arg(args, "--project") or ""),
        location=resolved(launcher_arg(args, "--location") or ""),
        warnings=tuple(warnings),
    )


def gcp_resources(project: str, location: str, job_id: str) -> dict[str, Any]:
    """What the launcher writes to its ``gcp_resources`` output for a created job."""
    uri = (
        f"https://{location}-aiplatform.googleapis.com/v1/projects/{project}"
        f"/locations/{location}/customJobs/{job_id}"
    )
    return {"resources": [{"resourceType": "CustomJob", "resourceUri": uri}]}


def gcp_resources_file(container: Mapping[str, Any], executor_input: Mapping[str, Any]) -> str:
    """Where the launcher writes ``gcp_resources``: its ``--gcp_resources`` argument resolved,
    else the task's output file of that name."""
    args = [str(arg) for arg in container.get("args", [])]
    given = launcher_arg(args, "--gcp_resources")
    if given is not None:
        return resolve_io(given, executor_input)
    output = executor_input.get("outputs", {}).get("parameters", {}).get(GCP_RESOURCES, {})
    return str(output.get("outputFile", ""))


def _without_default_wait(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload without a ``max_wait_duration`` that is the component's default: every
    converted component has one, and its drop is no news."""
    scheduling = payload.get("job_spec", {}).get("scheduling", {})
    default = JOB_INPUTS_BY_NAME["max_wait_duration"].default
    if not isinstance(scheduling, dict) or scheduling.get("max_wait_duration") != default:
        return payload
    trimmed = {k: v for k, v in scheduling.items() if k != "max_wait_duration"}
    return {**payload, "job_spec": {**payload["job_spec"], "scheduling": trimmed}}
