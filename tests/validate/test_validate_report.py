"""How a report reads: Vertex's 400 text, the BadRequest details, the JSON view."""

from __future__ import annotations

from support.validate_cases import changed

from cjob_emu.errors import InvalidJobError
from cjob_emu.validate import Problem, ValidationReport, validate

PAIR = "Both `accelerator_type` and `accelerator_count` should be specified or none."
MS0 = "job_spec.worker_pool_specs[0].machine_spec"


def two_errors_and_a_warning() -> ValidationReport:
    return validate(
        changed(
            {
                "jobSpec.workerPoolSpecs[0].machineSpec.acceleratorType": "NVIDIA_TESLA_T4",
                "jobSpec.workerPoolSpecs[0].replicaCount": 3,
                "jobSpec.scheduling.strategy": "LOW_COST",
            }
        )
    )


def test_vertex_message_is_vertex_text() -> None:
    report = two_errors_and_a_warning()
    assert report.vertex_message() == (
        "List of found errors:\t"
        f"1.Field: {MS0}.accelerator_type; Message: {PAIR}\t"
        "2.Field: job_spec.worker_pool_specs[0].replica_count; "
        "Message: The primary worker pool must have `replica_count` 1.\t"
    )


def test_vertex_message_matches_the_reference_example() -> None:
    # The one 400 answer quoted in the reference, word for word.
    report = validate(changed({"jobSpec.workerPoolSpecs[0].machineSpec.acceleratorCount": 1}))
    assert report.vertex_message() == (
        "List of found errors:\t"
        "1.Field: job_spec.worker_pool_specs[0].machine_spec.accelerator_type;"
        " Message: Both `accelerator_type` and `accelerator_count` should be specified or none.\t"
    )


def test_vertex_message_is_empty_without_errors() -> None:
    report = validate(changed({"jobSpec.scheduling.strategy": "ON_DEMAND"}))
    assert report.ok and len(report.warnings) == 1
    assert report.vertex_message() == ""


def test_errors_and_warnings_kept_apart() -> None:
    report = two_errors_and_a_warning()
    assert all(p.severity == "error" for p in report.errors)
    assert report.warnings == [
        Problem(
            "job_spec.scheduling.strategy",
            "Strategy `LOW_COST` is deprecated; use `STANDARD` or `SPOT`.",
            "warning",
        )
    ]
    assert not report.ok


def test_to_dict() -> None:
    assert two_errors_and_a_warning().to_dict() == {
        "valid": False,
        "errors": [
            {"field": f"{MS0}.accelerator_type", "message": PAIR},
            {
                "field": "job_spec.worker_pool_specs[0].replica_count",
                "message": "The primary worker pool must have `replica_count` 1.",
            },
        ],
        "warnings": [
            {
                "field": "job_spec.scheduling.strategy",
                "message": "Strategy `LOW_COST` is deprecated; use `STANDARD` or `SPOT`.",
            }
        ],
    }
    assert validate(changed({})).to_dict() == {"valid": True, "errors": [], "warnings": []}


def test_field_violations_and_rpc_error() -> None:
    report = two_errors_and_a_warning()
    violations = [
        {"field": f"{MS0}.accelerator_type", "description": PAIR},
        {
            "field": "job_spec.worker_pool_specs[0].replica_count",
            "description": "The primary worker pool must have `replica_count` 1.",
        },
    ]
    assert report.field_violations() == violations
    assert report.to_rpc_error() == {
        "error": {
            "code": 400,
            "message": report.vertex_message(),
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": violations,
                }
            ],
        }
    }


def test_rpc_error_is_a_google_rpc_status() -> None:
    # The JSON parses as google.rpc.Status with a BadRequest detail, as the REST client reads it.
    from google.protobuf import json_format
    from google.rpc import error_details_pb2, status_pb2

    body = two_errors_and_a_warning().to_rpc_error()["error"]
    status = json_format.ParseDict(
        {"code": body["code"], "message": body["message"], "details": body["details"]},
        status_pb2.Status(),
    )
    detail = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(detail)
    assert [v.field for v in detail.field_violations] == [
        f"{MS0}.accelerator_type",
        "job_spec.worker_pool_specs[0].replica_count",
    ]


def test_invalid_job_error_carries_the_vertex_text() -> None:
    report = two_errors_and_a_warning()
    error = InvalidJobError(report)
    assert str(error) == report.vertex_message()
    assert error.report is report
