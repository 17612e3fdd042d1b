"""Loading and dumping CustomJobs in every form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.cloud.aiplatform_v1 import AcceleratorType, CustomJob, Scheduling
from support.paths import ROOT

from cjob_emu.errors import InputError, InvalidJobError
from cjob_emu.spec import (
    job_to_json,
    job_to_rest,
    job_to_snake,
    load_job,
    read_job_document,
    worker_pool_specs,
)

SAMPLE_JOBS = sorted((ROOT / "fixtures" / "jobs").glob("*.*"))


def test_there_are_sample_jobs() -> None:
    assert len(SAMPLE_JOBS) >= 5


@pytest.mark.parametrize("path", SAMPLE_JOBS, ids=lambda p: p.name)
def test_round_trip_rest_and_snake(path: Path) -> None:
    job = load_job(path)
    assert load_job(job_to_rest(job)) == job
    assert load_job(job_to_snake(job)) == job
    assert load_job(json.loads(job_to_json(job))) == job


@pytest.mark.parametrize("path", SAMPLE_JOBS, ids=lambda p: p.name)
def test_dump_then_load_through_a_file(path: Path, tmp_path: Path) -> None:
    job = load_job(path)
    out = tmp_path / "job.json"
    out.write_text(job_to_json(job))
    assert load_job(out) == job


def test_rest_form_is_camel_case_with_enum_names_and_int64_strings() -> None:
    job = load_job(ROOT / "fixtures/jobs/gpu_sdk_style.json")
    rest = job_to_rest(job)
    pool = rest["jobSpec"]["workerPoolSpecs"][1]
    assert pool["machineSpec"]["acceleratorType"] == "NVIDIA_TESLA_A100"
    assert pool["replicaCount"] == "3"
    assert rest["jobSpec"]["scheduling"]["strategy"] == "SPOT"


def test_snake_form_and_enum_numbers_are_understood() -> None:
    job = load_job(ROOT / "fixtures/jobs/gpu_sdk_style.json")
    assert job.job_spec.worker_pool_specs[0].machine_spec.accelerator_type == (
        AcceleratorType.NVIDIA_TESLA_A100
    )
    assert job.job_spec.scheduling.strategy == Scheduling.Strategy.SPOT
    snake = job_to_snake(job)
    assert snake["job_spec"]["worker_pool_specs"][1]["replica_count"] == 3
    assert snake["job_spec"]["scheduling"]["restart_job_on_worker_restart"] is True


def test_mixed_key_conventions_load() -> None:
    job = load_job(
        {
            "display_name": "mixed",
            "jobSpec": {
                "worker_pool_specs": [
                    {
                        "machineSpec": {"machine_type": "n1-standard-4"},
                        "replica_count": "1",
                        "containerSpec": {"imageUri": "gcr.io/p/i:1"},
                    }
                ]
            },
        }
    )
    assert job.display_name == "mixed"
    assert job.job_spec.worker_pool_specs[0].machine_spec.machine_type == "n1-standard-4"


def test_skipped_pool_stays_in_place() -> None:
    job = load_job(ROOT / "fixtures/jobs/skipped_pool.yaml")
    pools = worker_pool_specs(job)
    assert pools[1] == {}
    assert pools[2]["replica_count"] == 2


def test_worker_pool_specs_are_what_the_sdk_takes() -> None:
    from google.cloud.aiplatform_v1 import CustomJobSpec

    job = load_job(ROOT / "fixtures/jobs/distributed.yaml")
    # The SDK's CustomJob(worker_pool_specs=...) builds exactly this message.
    spec = CustomJobSpec(worker_pool_specs=worker_pool_specs(job))
    assert list(spec.worker_pool_specs) == list(job.job_spec.worker_pool_specs)


def test_yaml_timestamps_stay_text() -> None:
    job = load_job({"displayName": "t", "createTime": "2024-05-01T10:00:00Z"})
    assert job.create_time.isoformat().startswith("2024-05-01T10:00:00")


def test_a_message_is_returned_as_is() -> None:
    job = CustomJob(display_name="x")
    assert load_job(job) is job


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.yaml", "", "is empty"),
        ("blank.json", "  \n", "is empty"),
        ("list.yaml", "- a\n- b\n", "holds a list; expected a CustomJob mapping"),
        ("scalar.json", "42", "holds a int; expected a CustomJob mapping"),
        ("null.yaml", "null\n", "holds nothing"),
        ("broken.json", '{"displayName": "x", "jobSpec": {', "not valid JSON or YAML (line 2"),
        ("tabs.yaml", "a:\n\t- b\n", "not valid JSON or YAML"),
    ],
)
def test_unreadable_documents_name_file_and_problem(
    tmp_path: Path, name: str, content: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError) as info:
        read_job_document(path)
    assert str(info.value).startswith(str(path))
    assert expected in str(info.value)


def test_missing_file_directory_and_binary(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_job_document(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="is a directory"):
        read_job_document(tmp_path)
    binary = tmp_path / "job.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="not UTF-8"):
        read_job_document(binary)


def test_structure_errors_list_every_path() -> None:
    with pytest.raises(InvalidJobError) as info:
        load_job(
            {
                "displayName": "x",
                "jobSpec": {
                    "workerPoolSpecs": [
                        {
                            "replicaCount": "many",
                            "containerSpec": {"imageUri": "i", "arguments": []},
                        }
                    ]
                },
            }
        )
    fields = {p.field for p in info.value.report.errors}
    assert "job_spec.worker_pool_specs[0].replica_count" in fields
    assert "job_spec.worker_pool_specs[0].container_spec.arguments" in fields
