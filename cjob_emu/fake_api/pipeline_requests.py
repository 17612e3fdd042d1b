"""What ``pipelineJobs.create`` accepts: a PipelineJob with a compiled pipeline, and its id.

The request is proto3 JSON of ``PipelineJob`` (what the SDK's ``PipelineJob.submit``
sends); ``pipelineJobId`` in the query is the job's id (the SDK always sends one:
``<pipeline name>-<timestamp>``; without it the server makes one alike). Refused
with 400, before anything runs: a body that is not a PipelineJob, no compiled
pipeline in ``pipelineSpec``, an id Vertex would refuse, a parameter the pipeline
does not have.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from google.cloud.aiplatform_v1 import PipelineJob
from google.protobuf import json_format

from cjob_emu.fake_api.rpc import bad_request
from cjob_emu.launcher.pipeline_spec import is_compiled_pipeline
from cjob_emu.validate.docstrings import output_only_fields

JOB_ID = re.compile(r"^[a-z][-a-z0-9]{0,127}$")
"""A pipeline job id as the SDK and Vertex take it."""

_OUTPUT_ONLY = output_only_fields(PipelineJob)


def parse_pipeline_job(data: Mapping[str, Any], query: Mapping[str, list[str]]
                       ) -> tuple[Any, str]:
    """The PipelineJob protobuf message of a create request and the job's id."""
    pb = PipelineJob.pb()()
    try:
        json_format.ParseDict(dict(data), pb)
    except Exception as exc:  # json_format raises several types for bad shapes
        raise bad_request(f"Invalid JSON payload received. {exc}", []) from None
    for name in _OUTPUT_ONLY:  # Vertex ignores output-only fields in a request
        pb.ClearField(name)
    spec = json_format.MessageToDict(pb.pipeline_spec)
    if not spec:
        raise _refused("pipeline_spec", "is required (a compiled pipeline, PipelineSpec JSON)")
    if not is_compiled_pipeline(spec):
        raise _refused("pipeline_spec", "is not a compiled pipeline (it needs pipelineInfo, "
                       "deploymentSpec and root)")
    _check_parameters(spec, pb)
    job_id = _last(query, "pipelineJobId", "pipeline_job_id") or _new_id(spec)
    if not JOB_ID.match(job_id):
        raise _refused("pipeline_job_id", f"{job_id!r} must match {JOB_ID.pattern}")
    return pb, job_id


def pipeline_spec(pb: Any) -> dict[str, Any]:
    """The compiled pipeline of a PipelineJob protobuf message, as JSON."""
    return json_format.MessageToDict(pb.pipeline_spec)


def runtime_parameters(pb: Any) -> dict[str, Any]:
    """``runtime_config.parameter_values`` as plain values (numbers are floats)."""
    values = pb.runtime_config.parameter_values
    return {name: json_format.MessageToDict(value) for name, value in values.items()}


def _check_parameters(spec: Mapping[str, Any], pb: Any) -> None:
    definitions = spec["root"].get("inputDefinitions", {})
    known = {*definitions.get("parameters", {}), *definitions.get("artifacts", {})}
    given = [*pb.runtime_config.parameter_values, *pb.runtime_config.parameters]
    unknown = sorted(set(given) - known)
    if unknown:
        raise _refused(
            "runtime_config.parameter_values",
            f"the pipeline has no parameter {', '.join(unknown)}; its parameters: "
            f"{', '.join(sorted(known)) or 'none'}",
        )


def _new_id(spec: Mapping[str, Any]) -> str:
    """``<pipeline name>-<time>``, as the SDK makes ids (with microseconds: unique here)."""
    name = str(spec.get("pipelineInfo", {}).get("name", "pipeline")).lower()
    name = re.sub("[^-0-9a-z]+", "-", name).strip("-") or "pipeline"
    if not name[0].isalpha():
        name = "p-" + name
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%S%f")
    return f"{name[:100]}-{stamp}"


def _last(query: Mapping[str, list[str]], *names: str) -> str:
    for name in names:
        if name in query:
            return query[name][-1]
    return ""


def _refused(field: str, why: str) -> Exception:
    return bad_request(f"{field}: {why}", [(field, why)])
