"""``validate``: a CustomJob in any form in, a report of every problem out."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format
from google.protobuf.message import Message

from cjob_emu.validate.findings import Findings, build_report
from cjob_emu.validate.report import Problem, ValidationReport
from cjob_emu.validate.rules import run_rules
from cjob_emu.validate.rules.context import CUSTOM_JOB_PB
from cjob_emu.validate.schema import schema_of
from cjob_emu.validate.structure import StructureCheck, enum_errors, show

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1.types.custom_job import CustomJob

_ROOT = schema_of(CUSTOM_JOB_PB.DESCRIPTOR)
_FULL_NAME = CUSTOM_JOB_PB.DESCRIPTOR.full_name


def validate(
    job: Mapping[str, Any] | CustomJob | Any,
    *,
    location: str | None = None,
    strict: bool = False,
) -> ValidationReport:
    """Check a CustomJob as Vertex AI would at create time, plus warnings.

    ``job`` is a REST-style mapping (camelCase or snake_case keys, enums as
    names or numbers, int64 as strings or numbers), an ``aiplatform_v1.CustomJob``
    or its raw protobuf message. ``location`` (e.g. "us-central1"), when given,
    is checked too and region-bound names are compared with it. ``strict``: every
    warning is an error (:meth:`ValidationReport.as_strict`). Never raises:
    whatever ``job`` is, the answer is a report.
    """
    try:
        report = _validate(job, location)
    except Exception as exc:  # a last resort; the tests hold every known shape to the rules
        problem = Problem("", f"The job could not be read ({type(exc).__name__}).", "error")
        return ValidationReport(errors=[problem])
    return report.as_strict() if strict else report


def _validate(job: Any, location: Any) -> ValidationReport:
    structural: list[tuple[str, str]] = []
    if location is not None and not isinstance(location, str):
        structural.append(("location", f"Invalid location {show(location)}: expected a string."))
        location = None
    message = None
    # A proto-plus message means proto-plus is loaded; checking for it through
    # sys.modules spares every other input its import.
    proto = sys.modules.get("proto")
    if proto is not None and isinstance(job, proto.Message):
        job = type(job).pb(job)
    if isinstance(job, Message):
        if job.DESCRIPTOR.full_name == _FULL_NAME:
            message = job
            structural.extend(enum_errors(job))
        else:  # another version's CustomJob (v1beta1...): read it as its JSON
            job = json_format.MessageToDict(job, preserving_proto_field_name=True)
    if message is None:
        check = StructureCheck()
        cleaned = check.root(job, _ROOT)
        structural.extend(check.errors)
        if not isinstance(job, Mapping):
            return build_report(_ROOT, structural, Findings())
        message = CUSTOM_JOB_PB(**cleaned)
    findings = Findings()
    run_rules(message, location, findings)
    return build_report(_ROOT, structural, findings)
