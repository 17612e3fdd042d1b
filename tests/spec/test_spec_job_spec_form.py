"""CustomJobSpec files (gcloud's ``--config``), loaded as CustomJobs by the spec loader."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cjob_emu.errors import InvalidJobError
from cjob_emu.spec import (
    DEFAULT_DISPLAY_NAME,
    as_custom_job,
    is_custom_job_spec,
    job_to_snake,
    load_job,
    with_worker_pool_specs,
)

# the example of `gcloud ai custom-jobs create --help` for --config, as written there:
# one pool as a mapping, not a list
GCLOUD_CONFIG = """\
workerPoolSpecs:
  machineSpec:
    machineType: n1-highmem-2
  replicaCount: 1
  containerSpec:
    imageUri: gcr.io/ucaip-test/ucaip-training-test
    args:
    - port=8500
    command:
    - start
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_gclouds_config_example_loads_with_the_file_name_as_display_name(tmp_path: Path) -> None:
    job = load_job(write(tmp_path / "train-config.yaml", GCLOUD_CONFIG))
    assert job.display_name == "train-config"
    (pool,) = job.job_spec.worker_pool_specs
    assert pool.machine_spec.machine_type == "n1-highmem-2"
    assert list(pool.container_spec.command) == ["start"]
    assert list(pool.container_spec.args) == ["port=8500"]


def test_display_name_given_wins_over_the_documents_and_the_files(tmp_path: Path) -> None:
    path = write(tmp_path / "spec.yaml", GCLOUD_CONFIG)
    assert load_job(path, display_name="given").display_name == "given"
    own = yaml.safe_load(GCLOUD_CONFIG) | {"displayName": "own"}
    assert load_job(own).display_name == "own"
    assert load_job(own, display_name="given").display_name == "given"
    assert load_job(yaml.safe_load(GCLOUD_CONFIG)).display_name == DEFAULT_DISPLAY_NAME


def test_every_custom_job_spec_field_and_the_jobs_own_fields_find_their_place() -> None:
    data = {
        "workerPoolSpecs": [
            {
                "machineSpec": {"machineType": "n1-standard-4"},
                "replicaCount": "1",
                "containerSpec": {"imageUri": "gcr.io/p/t:1"},
            },
        ],
        "baseOutputDirectory": {"outputUriPrefix": "gs://b/out"},
        "scheduling": {"timeout": "600s"},
        "service_account": "sa@p.iam.gserviceaccount.com",
        "labels": {"team": "ml"},
    }
    assert is_custom_job_spec(data)
    snake = job_to_snake(load_job(data))
    assert snake["labels"] == {"team": "ml"}
    assert snake["job_spec"]["base_output_directory"] == {"output_uri_prefix": "gs://b/out"}
    assert snake["job_spec"]["scheduling"]["timeout"] == "600s"
    assert snake["job_spec"]["service_account"] == "sa@p.iam.gserviceaccount.com"


@pytest.mark.parametrize(
    "data",
    [
        {"displayName": "x", "jobSpec": {"workerPoolSpecs": []}},
        {"display_name": "x", "job_spec": {}},
        {"displayName": "x"},
        {},
    ],
)
def test_a_custom_job_is_not_taken_for_a_spec(data: dict) -> None:
    assert not is_custom_job_spec(data)
    assert as_custom_job(data).data == data


def test_problems_of_a_spec_name_the_paths_the_user_wrote(tmp_path: Path) -> None:
    text = """\
workerPoolSpecs:
- machineSpec: {machineType: n1-standard-4}
  replicaCount: 1
  containerSpec: {imageUri: gcr.io/p/t:1, bogus: 1}
baseOutputDirectory: {outputUriPrefix: gs://b/out}
"""
    with pytest.raises(InvalidJobError) as caught:
        load_job(write(tmp_path / "spec.yaml", text))
    fields = [p.field for p in caught.value.report.errors]
    assert fields == ["worker_pool_specs[0].container_spec.bogus"]
    assert not any(field.startswith("job_spec") for field in fields)


def test_a_custom_job_keeps_its_paths(tmp_path: Path) -> None:
    text = "displayName: x\njobSpec:\n  workerPoolSpecs:\n  - {bogus: 1}\n"
    with pytest.raises(InvalidJobError) as caught:
        load_job(write(tmp_path / "job.yaml", text))
    fields = [p.field for p in caught.value.report.errors]
    assert "job_spec.worker_pool_specs[0].bogus" in fields


def test_pools_are_replaced_as_gcloud_replaces_a_configs(tmp_path: Path) -> None:
    job = load_job(write(tmp_path / "spec.yaml", GCLOUD_CONFIG))
    replaced = with_worker_pool_specs(
        job,
        [
            {
                "machine_spec": {"machine_type": "e2-standard-4"},
                "replica_count": 1,
                "container_spec": {"image_uri": "gcr.io/p/other:2"},
            },
            {},
        ],
    )
    assert replaced.display_name == "spec"
    pools = replaced.job_spec.worker_pool_specs
    assert [p.container_spec.image_uri for p in pools] == ["gcr.io/p/other:2", ""]
