"""The structural pass: JSON shapes Vertex's front end refuses, and every form a job comes in."""

from __future__ import annotations

from typing import Any

import pytest
from google.cloud import aiplatform_v1
from google.protobuf import json_format
from support.validate_cases import BASE, DELETE, changed, found

from cjob_emu.validate import validate

W0 = "job_spec.worker_pool_specs[0]"
D0 = "jobSpec.workerPoolSpecs[0]"
_MACHINE_SPEC = aiplatform_v1.MachineSpec.pb().DESCRIPTOR
ACCELERATORS = ", ".join(
    v.name for v in _MACHINE_SPEC.fields_by_name["accelerator_type"].enum_type.values
)


def invalid(path: str, type_label: str, shown: str, reason: str) -> tuple[str, str, str]:
    where = f"custom_job.{path}" if path else "custom_job"
    return ("error", path, f"Invalid value at '{where}' ({type_label}), {shown}: {reason}.")


STRUCTURAL = [
    pytest.param(
        {"foo": 1},
        (
            "error",
            "foo",
            'Invalid JSON payload received. Unknown name "foo" at '
            "'custom_job': Cannot find field.",
        ),
        id="unknown top-level field",
    ),
    pytest.param(
        {f"{D0}.containerSpec.arguments": ["x"]},
        (
            "error",
            f"{W0}.container_spec.arguments",
            'Invalid JSON payload received. Unknown name "arguments" at '
            f"'custom_job.{W0}.container_spec': Cannot find field.",
        ),
        id="unknown nested field",
    ),
    pytest.param(
        {"jobSpec": "x"},
        invalid(
            "job_spec",
            "type.googleapis.com/google.cloud.aiplatform.v1.CustomJobSpec",
            '"x"',
            "expected an object",
        ),
        id="string where a message goes",
    ),
    pytest.param(
        {"displayName": ["a"]},
        invalid("display_name", "TYPE_STRING", "[...]", "expected a string"),
        id="list where a string goes",
    ),
    pytest.param(
        {"displayName": 7},
        invalid("display_name", "TYPE_STRING", "7", "expected a string"),
        id="number where a string goes",
    ),
    pytest.param(
        {f"{D0}.containerSpec.args": "--epochs=3"},
        invalid(f"{W0}.container_spec.args", "TYPE_STRING", '"--epochs=3"', "expected a list"),
        id="string where a list goes",
    ),
    pytest.param(
        {f"{D0}.containerSpec.args": ["ok", None]},
        invalid(
            f"{W0}.container_spec.args[1]", "TYPE_STRING", "null", "null is not allowed in a list"
        ),
        id="null in a list",
    ),
    pytest.param(
        {f"{D0}.containerSpec.args": ["ok", 3]},
        invalid(f"{W0}.container_spec.args[1]", "TYPE_STRING", "3", "expected a string"),
        id="number in a list of strings",
    ),
    pytest.param(
        {
            f"{D0}.machineSpec.acceleratorType": "NVIDIA_TESLA_X",
            f"{D0}.machineSpec.acceleratorCount": 1,
        },
        invalid(
            f"{W0}.machine_spec.accelerator_type",
            "type.googleapis.com/google.cloud.aiplatform.v1.AcceleratorType",
            '"NVIDIA_TESLA_X"',
            f"expected one of {ACCELERATORS}",
        ),
        id="unknown enum name",
    ),
    pytest.param(
        {f"{D0}.machineSpec.acceleratorType": 99, f"{D0}.machineSpec.acceleratorCount": 1},
        invalid(
            f"{W0}.machine_spec.accelerator_type",
            "type.googleapis.com/google.cloud.aiplatform.v1.AcceleratorType",
            "99",
            f"expected one of {ACCELERATORS}",
        ),
        id="unknown enum number",
    ),
    pytest.param(
        {f"{D0}.machineSpec.acceleratorType": True, f"{D0}.machineSpec.acceleratorCount": 1},
        invalid(
            f"{W0}.machine_spec.accelerator_type",
            "type.googleapis.com/google.cloud.aiplatform.v1.AcceleratorType",
            "true",
            f"expected one of {ACCELERATORS}",
        ),
        id="boolean for an enum",
    ),
    *[
        pytest.param(
            {f"{D0}.replicaCount": value},
            invalid(f"{W0}.replica_count", "TYPE_INT64", shown, reason),
            id=f"replica count {shown}",
        )
        for value, shown, reason in [
            ("abc", '"abc"', "expected an integer"),
            ("1.5", '"1.5"', "expected an integer"),
            (1.5, "1.5", "expected an integer"),
            ("", '""', "expected an integer"),
            (" 1", '" 1"', "expected an integer"),
            ("1_0", '"1_0"', "expected an integer"),
            (True, "true", "expected an integer, not a boolean"),
            ([1], "[...]", "expected an integer"),
            (
                "99999999999999999999",
                '"99999999999999999999"',
                "out of range for TYPE_INT64 (-9223372036854775808..9223372036854775807)",
            ),
        ]
    ],
    pytest.param(
        {
            f"{D0}.machineSpec.acceleratorType": "NVIDIA_TESLA_T4",
            f"{D0}.machineSpec.acceleratorCount": 2**31,
        },
        invalid(
            f"{W0}.machine_spec.accelerator_count",
            "TYPE_INT32",
            str(2**31),
            "out of range for TYPE_INT32 (-2147483648..2147483647)",
        ),
        id="int32 out of range",
    ),
    pytest.param(
        {"jobSpec.enableWebAccess": "true"},
        invalid("job_spec.enable_web_access", "TYPE_BOOL", '"true"', "expected true or false"),
        id="string for a bool",
    ),
    pytest.param(
        {"jobSpec.enableWebAccess": 1},
        invalid("job_spec.enable_web_access", "TYPE_BOOL", "1", "expected true or false"),
        id="number for a bool",
    ),
    *[
        pytest.param(
            {"jobSpec.scheduling.timeout": value},
            invalid(
                "job_spec.scheduling.timeout",
                "type.googleapis.com/google.protobuf.Duration",
                shown,
                'expected a duration string like "3600s" or "1.5s"',
            ),
            id=f"duration {shown}",
        )
        for value, shown in [
            ("1h", '"1h"'),
            ("3600", '"3600"'),
            (3600, "3600"),
            ("1.1234567891s", '"1.1234567891s"'),
            ({"seconds": 5}, "{...}"),
        ]
    ],
    pytest.param(
        {"jobSpec.scheduling.timeout": "315576000001s"},
        invalid(
            "job_spec.scheduling.timeout",
            "type.googleapis.com/google.protobuf.Duration",
            '"315576000001s"',
            "a duration must be within 10,000 years",
        ),
        id="duration out of range",
    ),
    *[
        pytest.param(
            {"createTime": value},
            invalid("create_time", "type.googleapis.com/google.protobuf.Timestamp", shown, reason),
            id=f"timestamp {shown}",
        )
        for value, shown, reason in [
            (
                "yesterday",
                '"yesterday"',
                'expected an RFC 3339 timestamp like "2024-05-01T12:00:00Z"',
            ),
            (
                "2024-05-01 12:00:00Z",
                '"2024-05-01 12:00:00Z"',
                'expected an RFC 3339 timestamp like "2024-05-01T12:00:00Z"',
            ),
            (
                "2024-05-01T12:00:00",
                '"2024-05-01T12:00:00"',
                'expected an RFC 3339 timestamp like "2024-05-01T12:00:00Z"',
            ),
            ("2024-13-01T00:00:00Z", '"2024-13-01T00:00:00Z"', "not a valid date and time"),
            ("2024-02-30T00:00:00Z", '"2024-02-30T00:00:00Z"', "not a valid date and time"),
        ]
    ],
    pytest.param(
        {"labels": {"team": 1}},
        invalid("labels.team", "TYPE_STRING", "1", "expected a string"),
        id="map value not a string",
    ),
    pytest.param(
        {"labels": {"team": None}},
        invalid("labels.team", "TYPE_STRING", "null", "a map value cannot be null"),
        id="map value null",
    ),
    pytest.param(
        {"labels": ["team"]},
        invalid(
            "labels",
            "map<TYPE_STRING, TYPE_STRING>",
            "[...]",
            "expected an object of keys and values",
        ),
        id="list for a map",
    ),
    pytest.param(
        {"display_name": "again"},
        (
            "error",
            "display_name",
            'Field `display_name` is given more than once (as "displayName" and "display_name").',
        ),
        id="the same field by both names",
    ),
    pytest.param(
        {
            f"{D0}.pythonPackageSpec": {
                "executorImageUri": "python:3.11",
                "packageUris": ["gs://b/p.tar.gz"],
                "pythonModule": "m",
            }
        },
        (
            "error",
            f"{W0}.python_package_spec",
            "Only one of `container_spec` or `python_package_spec` may be set (oneof `task`).",
        ),
        id="both members of a oneof",
    ),
    pytest.param(
        {"error": {"code": 3, "details": [{"@type": "type.googleapis.com/no.such.Type"}]}},
        invalid(
            "error.details[0]",
            "type.googleapis.com/google.protobuf.Any",
            "{...}",
            "Can not find message descriptor by type_url: type.googleapis.com/no.such.Type at Any",
        ),
        id="Any of an unknown type",
    ),
]


@pytest.mark.parametrize(("changes", "expected"), STRUCTURAL)
def test_structural_error(changes: dict[str, Any], expected: tuple[str, str, str]) -> None:
    report = validate(changed(changes))
    assert expected in found(report)
    assert not report.ok


@pytest.mark.parametrize(
    "job",
    ["x", None, 3, [BASE], True, b"{}", object()],
    ids=["string", "None", "number", "list", "bool", "bytes", "object"],
)
def test_a_job_that_is_no_object(job: Any) -> None:
    report = validate(job)
    assert len(report.errors) == 1 and report.warnings == []
    problem = report.errors[0]
    assert problem.field == ""
    assert problem.message.startswith(
        "Invalid value at 'custom_job' (type.googleapis.com/google.cloud.aiplatform.v1.CustomJob), "
    )
    assert problem.message.endswith(": expected an object.")


def test_null_fields_are_unset() -> None:
    job = changed({"labels": None, "jobSpec.scheduling": None, f"{D0}.diskSpec": None})
    assert found(validate(job)) == []


def test_a_broken_value_is_not_reported_twice() -> None:
    # display_name is unusable, so the rule "Required field is not set." stays quiet.
    report = validate(changed({"displayName": 5}))
    assert [p.field for p in report.errors] == ["display_name"]
    # A broken pool keeps its index: pool 1 still reports as pool 1.
    report = validate(changed({"jobSpec.workerPoolSpecs": ["not a pool", {"replicaCount": 2}]}))
    assert [p.field for p in report.errors] == [
        "job_spec.worker_pool_specs[0]",
        "job_spec.worker_pool_specs[1]",
        "job_spec.worker_pool_specs[1].machine_spec.machine_type",
    ]


# --- every form of one job gives the same report -------------------------------------------

PROBLEMS_REST = {
    "displayName": "forms",
    "labels": {"Team": "ml"},
    "state": "JOB_STATE_RUNNING",
    "jobSpec": {
        "workerPoolSpecs": [
            {
                "machineSpec": {
                    "machineType": "n1-standard-4",
                    "acceleratorType": "NVIDIA_TESLA_T4",
                },
                "replicaCount": "2",
                "containerSpec": {
                    "imageUri": "gcr.io/p/t:1",
                    "env": [{"name": "1A", "value": "x"}],
                },
            },
            {},
            {
                "machineSpec": {
                    "machineType": "e2-standard-4",
                    "acceleratorType": "NVIDIA_L4",
                    "acceleratorCount": 1,
                },
                "replicaCount": "3",
                "pythonPackageSpec": {"executorImageUri": "python:3.11", "pythonModule": "t"},
                "diskSpec": {"bootDiskSizeGb": 10, "bootDiskType": "pd-ssd"},
            },
        ],
        "scheduling": {"timeout": "-1s", "strategy": "ON_DEMAND", "maxWaitDuration": "60s"},
    },
}


def _snake(rest: dict[str, Any]) -> dict[str, Any]:
    message = json_format.ParseDict(rest, aiplatform_v1.CustomJob.pb()())
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _enum_ints(rest: dict[str, Any]) -> dict[str, Any]:
    # What the SDK sends: `$alt=json;enum-encoding=int`, int64 as strings.
    message = json_format.ParseDict(rest, aiplatform_v1.CustomJob.pb()())
    return json_format.MessageToDict(message, use_integers_for_enums=True)


def _mixed(rest: dict[str, Any]) -> dict[str, Any]:
    snake = _snake(rest)
    snake["jobSpec"] = snake.pop("job_spec")  # camelCase and snake_case in one document
    snake["jobSpec"]["worker_pool_specs"][0]["replica_count"] = 2  # int64 as a number
    return snake


FORMS = {
    "rest": lambda rest: rest,
    "snake": _snake,
    "enum ints": _enum_ints,
    "mixed": _mixed,
    "proto-plus": lambda rest: aiplatform_v1.CustomJob.from_json(__import__("json").dumps(rest)),
    "raw protobuf": lambda rest: json_format.ParseDict(rest, aiplatform_v1.CustomJob.pb()()),
}


def test_every_form_gives_the_same_report() -> None:
    reports = {name: found(validate(make(PROBLEMS_REST))) for name, make in FORMS.items()}
    expected = reports["rest"]
    assert len(expected) == 11
    for name, report in reports.items():
        assert report == expected, name


def test_report_follows_document_order_whatever_the_key_order() -> None:
    reordered = {k: PROBLEMS_REST[k] for k in reversed(list(PROBLEMS_REST))}
    reordered["jobSpec"] = {
        k: PROBLEMS_REST["jobSpec"][k] for k in reversed(list(PROBLEMS_REST["jobSpec"]))
    }
    fields = [field for _, field, _ in found(validate(reordered))]
    assert fields == [field for _, field, _ in found(validate(PROBLEMS_REST))]
    errors = [p.field for p in validate(PROBLEMS_REST).errors]
    assert errors == [
        "job_spec.worker_pool_specs[0].container_spec.env[0].name",
        "job_spec.worker_pool_specs[0].machine_spec.accelerator_type",
        "job_spec.worker_pool_specs[0].replica_count",
        "job_spec.worker_pool_specs[2].python_package_spec.package_uris",
        "job_spec.worker_pool_specs[2].machine_spec.accelerator_type",
        "job_spec.worker_pool_specs[2].disk_spec.boot_disk_size_gb",
        "job_spec.scheduling.timeout",
        "labels.Team",
    ]


def test_message_with_an_enum_number_the_enum_lacks() -> None:
    message = aiplatform_v1.CustomJob.pb()()
    json_format.ParseDict(changed({}), message)
    message.job_spec.worker_pool_specs[0].machine_spec.accelerator_type = 99
    message.job_spec.worker_pool_specs[0].machine_spec.accelerator_count = 1
    assert found(validate(message))[0] == invalid(
        f"{W0}.machine_spec.accelerator_type",
        "type.googleapis.com/google.cloud.aiplatform.v1.AcceleratorType",
        "99",
        f"expected one of {ACCELERATORS}",
    )


def test_v1beta1_job_is_read_as_json() -> None:
    from google.cloud import aiplatform_v1beta1

    job = aiplatform_v1beta1.CustomJob(display_name="beta")
    job.job_spec.worker_pool_specs.append(
        aiplatform_v1beta1.WorkerPoolSpec(
            machine_spec={"machine_type": "n1-standard-4"},
            replica_count=1,
            container_spec={"image_uri": "python:3.11-slim"},
        )
    )
    assert found(validate(job)) == []


def test_valid_values_of_every_json_kind_pass() -> None:
    job = changed(
        {
            f"{D0}.replicaCount": 1.0,  # an integral float is an integer in proto3 JSON
            f"{D0}.machineSpec.acceleratorType": "5",  # enum number as a string
            f"{D0}.machineSpec.acceleratorCount": "1",
            f"{D0}.containerSpec.args": ("a", "b"),  # Python callers pass tuples
            "jobSpec.scheduling.timeout": "1.000000001s",
            "createTime": "2024-05-01T12:00:00.5+02:00",
            "jobSpec.enableWebAccess": True,
            "labels": {"a": "b"},
            "jobSpec.models": [],
        }
    )
    assert [field for _, field, _ in found(validate(job))] == ["create_time"]  # output only


def test_base_is_untouched() -> None:
    snapshot = repr(BASE)
    validate(changed({"displayName": DELETE}))
    assert repr(BASE) == snapshot


def test_yaml_integer_label_keys_read_as_strings() -> None:
    # YAML reads `labels: {2024: x}` with an int key; JSON would carry "2024".
    report = validate(changed({"labels": {2024: "x", True: "y"}}))
    assert found(report) == [
        invalid("labels.true", "TYPE_STRING", "true", "expected a string"),
        ("warning", "labels.2024", "Label keys should start with a lowercase letter."),
    ]


def test_location_is_compared_in_lower_case() -> None:
    kms = "projects/p/locations/us-central1/keyRings/kr/cryptoKeys/k"
    assert (
        found(validate(changed({"encryptionSpec": {"kmsKeyName": kms}}), location="US-Central1"))
        == []
    )


def test_kinds_a_custom_job_lacks_go_through_json_format() -> None:
    # Floats and bytes appear in no CustomJob field today; the pass stays correct for them.
    from google.cloud.aiplatform_v1.types import content

    from cjob_emu.validate.schema import schema_of
    from cjob_emu.validate.structure import StructureCheck

    check = StructureCheck()
    config = schema_of(content.GenerationConfig.pb().DESCRIPTOR)
    cleaned = check.root({"temperature": 0.5, "topP": "NaN", "topK": "hot"}, config)
    assert cleaned["temperature"] == 0.5 and "top_k" not in cleaned
    assert [path for path, _ in check.errors] == ["top_k"]
    assert check.root({"data": "aGVsbG8="}, schema_of(content.Blob.pb().DESCRIPTOR)) == {
        "data": b"hello"
    }
