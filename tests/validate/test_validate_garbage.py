"""Whatever comes in, validate answers a report and never raises."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from support.job_strategies import SHAPED, assert_sound
from support.validate_cases import BASE, changed

from cjob_emu.validate import ValidationReport, validate


class Hostile(Mapping[str, Any]):
    """A mapping whose reads fail."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("no")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("no")

    def __len__(self) -> int:
        return 1


GARBAGE = [
    {"jobSpec": {"workerPoolSpecs": [None, 1, "x", [], {"machineSpec": []}]}},
    {"jobSpec": {"workerPoolSpecs": {"0": {}}}},
    {"labels": {1: "a", None: "b", ("t",): "c"}},
    {"displayName": "\ud800"},  # a lone surrogate: no UTF-8 for it
    {"labels": {"\udfff": "x"}},
    {1: 2, None: 3, (): 4},
    {"jobSpec": {"scheduling": {"timeout": "9" * 5000 + "s"}}},
    {"jobSpec": {"workerPoolSpecs": [{"replicaCount": 10**5000}]}},
    {"jobSpec": {"workerPoolSpecs": [{"replicaCount": "9" * 5000}]}},
    {"jobSpec": {"workerPoolSpecs": [{"replicaCount": math.nan}]}},
    {"jobSpec": {"workerPoolSpecs": [{"replicaCount": math.inf}]}},
    {"createTime": "0000-01-01T00:00:00Z"},
    {"createTime": "9999-12-31T23:59:59-23:59"},
    {"createTime": "2024-05-01T25:61:61Z"},
    {"error": {"details": [{"@type": 5}]}},
    {"error": {"details": "x"}},
    {
        "error": {
            "details": [{"@type": "type.googleapis.com/google.protobuf.Duration", "value": "x"}]
        }
    },
    {"jobSpec": {"workerPoolSpecs": [{"containerSpec": {"imageUri": "a" * 100_000}}]}},
    {"jobSpec": {"workerPoolSpecs": [{"machineSpec": {"machineType": "-" * 10_000}}]}},
    {"labels": {"k" * 10_000: "v"}},
    {"jobSpec": {"workerPoolSpecs": [{}] * 1000}},
    {"jobSpec": {"workerPoolSpecs": [{"containerSpec": {"args": list(range(1000))}}]}},
    {"jobSpec": {"tensorboard": "projects/" + "/" * 5000}},
    Hostile(),
    {"jobSpec": Hostile()},
    changed({"jobSpec.workerPoolSpecs[0].machineSpec.acceleratorType": 2**40}),
    changed({"jobSpec.workerPoolSpecs[0].machineSpec.acceleratorCount": -(2**31)}),
    changed({"jobSpec.workerPoolSpecs[0].machineSpec.acceleratorType": float("nan")}),
]


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"jobSpec": value, "x": [value]} if depth % 2 else [value]
    return value


def test_garbage_never_raises() -> None:
    for job in [*GARBAGE, nested(200), nested(5000)]:
        report = validate(job)
        assert isinstance(report, ValidationReport)


def test_garbage_answers_structural_errors_not_the_last_resort() -> None:
    for job in GARBAGE:
        if isinstance(job, dict) and not any(isinstance(v, Hostile) for v in job.values()):
            assert_sound(validate(job))


def test_hostile_mapping_hits_the_last_resort_only() -> None:
    report = validate(Hostile())
    assert [p.message for p in report.errors] == ["The job could not be read (RuntimeError)."]



@settings(max_examples=300)
@given(SHAPED)
def test_any_json_value_gives_a_sound_report(job: Any) -> None:
    assert_sound(validate(job))


@settings(max_examples=300)
@given(st.data())
def test_any_value_anywhere_in_a_valid_job_gives_a_sound_report(data: st.DataObject) -> None:
    path = data.draw(
        st.sampled_from(
            [
                "displayName",
                "labels",
                "labels.team",
                "jobSpec.workerPoolSpecs",
                "jobSpec.workerPoolSpecs[0]",
                "jobSpec.workerPoolSpecs[0].replicaCount",
                "jobSpec.workerPoolSpecs[0].machineSpec",
                "jobSpec.workerPoolSpecs[0].machineSpec.machineType",
                "jobSpec.workerPoolSpecs[0].machineSpec.acceleratorType",
                "jobSpec.workerPoolSpecs[0].machineSpec.acceleratorCount",
                "jobSpec.workerPoolSpecs[0].containerSpec.env",
                "jobSpec.workerPoolSpecs[0].containerSpec.env[0].name",
                "jobSpec.workerPoolSpecs[1]",
                "jobSpec.scheduling.timeout",
                "jobSpec.scheduling.strategy",
                "createTime",
                "error",
            ]
        )
    )
    job = changed({path: data.draw(SHAPED)})
    report = validate(job, location=data.draw(st.none() | st.sampled_from(["us-central1", "x"])))
    assert_sound(report)


def test_base_job_is_valid() -> None:
    assert validate(BASE).to_dict() == {"valid": True, "errors": [], "warnings": []}
