"""Beyond GCPC: pools of their own per role, Python package training, the launcher tag.

Each converted component is compiled in a pipeline by kfp, and its payload goes
through GCPC 2.22's own launcher code to the CustomJob it would create on Vertex.
No ``from __future__ import annotations``: KFP reads pipeline functions' annotations as types.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from google.cloud import aiplatform_v1
from kfp import dsl
from support import convert_components as cc
from support.convert_helpers import backend_payload, compile_pipeline, default_pools, launcher_job

from cjob_emu.builder import container_pool, machine, python_package_pool
from cjob_emu.converter import create_custom_training_job_from_component as convert
from cjob_emu.launcher.contract import LAUNCHER_IMAGE_NAME
from cjob_emu.spec import worker_pool_specs

COMMAND = ["python", "-m", "trainer.task"]
ARGS = [
    "--lr",
    "{{$.inputs.parameters['lr']}}",
    "--epochs",
    "{{$.inputs.parameters['epochs']}}",
    "--out",
    "{{$.outputs.parameters['out'].output_file}}",
]


def _pipeline(converted: Any, **arguments: Any) -> Any:
    @dsl.pipeline(name="beyond")
    def pipeline() -> None:
        converted(**arguments)

    return pipeline


ROLE_POOLS = {
    "chief": container_pool("", machine_type="n1-highmem-8", boot_disk_size_gb=250),
    "workers": container_pool(
        "",
        replica_count=3,
        machine_type="n1-standard-8",
        accelerator_type="NVIDIA_TESLA_T4",
        accelerator_count=2,
    ),
    "parameter_servers": container_pool(
        "us-docker.pkg.dev/proj/repo/ps:2",
        command=["python", "-m", "trainer.ps"],
        replica_count=2,
        machine_type="n1-highcpu-16",
        env={"ROLE": "ps"},
    ),
    "evaluator": {
        "container_spec": {"image_uri": "us-docker.pkg.dev/proj/repo/eval:3"},
        "machine_spec": {"machine_type": "n1-standard-4"},
        "replica_count": 1,
    },
}


def test_each_role_has_its_own_pool_filled_from_the_component(tmp_path: Path) -> None:
    converted = convert(cc.train_container, worker_pool_specs=ROLE_POOLS, timeout="7200s")
    spec = compile_pipeline(_pipeline(converted, lr=0.5, epochs=2), tmp_path / "p.yaml")
    chief, workers, ps, evaluator = default_pools(spec, "train-container")
    assert chief["container_spec"] == {"image_uri": cc.IMAGE, "command": COMMAND, "args": ARGS}
    assert chief["machine_spec"] == {"machine_type": "n1-highmem-8"}
    assert chief["disk_spec"] == {"boot_disk_size_gb": 250.0}
    assert workers["machine_spec"] == {
        "machine_type": "n1-standard-8",
        "accelerator_type": "NVIDIA_TESLA_T4",
        "accelerator_count": 2.0,
    }
    assert workers["replica_count"] == 3.0
    assert ps["container_spec"] == {
        "image_uri": "us-docker.pkg.dev/proj/repo/ps:2",
        "command": ["python", "-m", "trainer.ps"],
        "args": ARGS,
        "env": [{"name": "ROLE", "value": "ps"}],
    }
    assert evaluator["container_spec"]["image_uri"] == "us-docker.pkg.dev/proj/repo/eval:3"
    assert evaluator["container_spec"]["command"] == COMMAND

    job = launcher_job(backend_payload(spec, "train-container", {"lr": 0.5, "epochs": 2}))
    pools = job.job_spec.worker_pool_specs
    assert [p.replica_count for p in pools] == [1, 3, 2, 1]
    assert [p.machine_spec.machine_type for p in pools] == [
        "n1-highmem-8",
        "n1-standard-8",
        "n1-highcpu-16",
        "n1-standard-4",
    ]
    assert pools[1].machine_spec.accelerator_type == aiplatform_v1.AcceleratorType.NVIDIA_TESLA_T4
    assert list(pools[0].container_spec.args) == [
        "--lr",
        "0.5",
        "--epochs",
        "2",
        "--out",
        "{{$.outputs.parameters['out'].output_file}}",
    ]
    assert job.job_spec.scheduling.timeout.total_seconds() == 7200


def test_roles_as_a_list_or_a_mapping_give_the_same_component(tmp_path: Path) -> None:
    as_list = [ROLE_POOLS[role] for role in ("chief", "workers", "parameter_servers", "evaluator")]
    a = compile_pipeline(
        _pipeline(convert(cc.train_container, worker_pool_specs=as_list), lr=1.0, epochs=1),
        tmp_path / "a.yaml",
    )
    b = compile_pipeline(
        _pipeline(convert(cc.train_container, worker_pool_specs=ROLE_POOLS), lr=1.0, epochs=1),
        tmp_path / "b.yaml",
    )
    assert a == b


def test_trailing_skipped_roles_are_left_out(tmp_path: Path) -> None:
    converted = convert(
        cc.train_container,
        worker_pool_specs=[container_pool(""), container_pool("", replica_count=2), None, {}],
    )
    spec = compile_pipeline(_pipeline(converted, lr=1.0, epochs=1), tmp_path / "p.yaml")
    assert [p["replica_count"] for p in default_pools(spec, "train-container")] == [1.0, 2.0]


def test_python_component_in_pools_of_its_own_keeps_the_escaped_executor_input(
    tmp_path: Path,
) -> None:
    converted = convert(
        cc.train_python,
        worker_pool_specs={
            "chief": container_pool("", machine_type="n1-standard-8"),
            "workers": container_pool("", replica_count=2, machine_type="n1-standard-8"),
        },
    )

    @dsl.pipeline(name="python-pools")
    def pipeline() -> None:
        imported = dsl.importer(artifact_uri="gs://b/d.csv", artifact_class=dsl.Dataset)
        converted(data=imported.output, epochs=5)

    spec = compile_pipeline(pipeline, tmp_path / "p.yaml")
    chief, _ = default_pools(spec, "train-python")
    assert chief["container_spec"]["args"][:2] == ["--executor_input", "{{$.json_escape[1]}}"]
    assert chief["container_spec"]["image_uri"] == "python:3.11"
    job = launcher_job(backend_payload(spec, "train-python", {"epochs": 5}))
    executor_input = job.job_spec.worker_pool_specs[1].container_spec.args[1]
    assert json.loads(executor_input) == {"inputs": {"parameterValues": {"epochs": 5}}}


PACKAGE = {
    "executor_image_uri": "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-15.py310:latest",
    "package_uris": ["gs://bucket/trainer-0.1.tar.gz"],
    "python_module": "trainer.task",
}


def test_python_package_training_in_gcpc_pools_takes_the_component_args(tmp_path: Path) -> None:
    converted = convert(cc.train_container, replica_count=3, python_package=PACKAGE)
    spec = compile_pipeline(_pipeline(converted, lr=0.1, epochs=4), tmp_path / "p.yaml")
    chief, workers = default_pools(spec, "train-container")
    for pool in (chief, workers):
        assert "container_spec" not in pool
        assert pool["python_package_spec"] == {**PACKAGE, "args": ARGS, "env": []}
    assert workers["replica_count"] == 2.0
    job = launcher_job(backend_payload(spec, "train-container", {"lr": 0.1, "epochs": 4}))
    package = job.job_spec.worker_pool_specs[0].python_package_spec
    assert package.python_module == "trainer.task"
    assert list(package.args)[:4] == ["--lr", "0.1", "--epochs", "4"]


def test_python_package_with_args_of_its_own(tmp_path: Path) -> None:
    converted = convert(
        cc.train_container, python_package={**PACKAGE, "args": ["--config", "prod.yaml"]}
    )
    spec = compile_pipeline(_pipeline(converted, lr=0.1, epochs=4), tmp_path / "p.yaml")
    (pool,) = default_pools(spec, "train-container")
    assert pool["python_package_spec"]["args"] == ["--config", "prod.yaml"]


def test_python_package_pools_mixed_with_container_pools(tmp_path: Path) -> None:
    package_pool = python_package_pool(
        PACKAGE["executor_image_uri"],
        PACKAGE["package_uris"],
        "trainer.ps",
        replica_count=2,
        machine_type="n1-highmem-4",
    )
    converted = convert(
        cc.train_container,
        worker_pool_specs=[container_pool(""), container_pool("", replica_count=2), package_pool],
    )
    spec = compile_pipeline(_pipeline(converted, lr=0.1, epochs=4), tmp_path / "p.yaml")
    job = launcher_job(backend_payload(spec, "train-container", {"lr": 0.1, "epochs": 4}))
    ps = job.job_spec.worker_pool_specs[2]
    assert ps.python_package_spec.python_module == "trainer.ps"
    assert list(ps.python_package_spec.args)[:2] == ["--lr", "0.1"]
    assert job.job_spec.worker_pool_specs[0].container_spec.image_uri == cc.IMAGE


def test_invalid_pool_of_its_own_fails_at_conversion() -> None:
    from cjob_emu.errors import InvalidJobError

    pool = container_pool("", machine_type="n1-standard-4", accelerator_type="NVIDIA_TESLA_A100")
    with pytest.raises(InvalidJobError) as info:
        convert(cc.train_container, worker_pool_specs=[container_pool(""), pool])
    assert [p.field for p in info.value.report.errors] == [
        "job_spec.worker_pool_specs[1].machine_spec.accelerator_type"
    ]


def test_pool_from_a_whole_builder_job(tmp_path: Path) -> None:
    from cjob_emu.builder import distributed_job

    job = distributed_job(
        "x",
        chief=container_pool("", machine_type="n1-standard-8"),
        workers=container_pool("", replica_count=4),
    )
    converted = convert(cc.train_container, worker_pool_specs=worker_pool_specs(job))
    spec = compile_pipeline(_pipeline(converted, lr=0.1, epochs=4), tmp_path / "p.yaml")
    assert [p["replica_count"] for p in default_pools(spec, "train-container")] == [1.0, 4.0]


def test_launcher_image_tag_is_configurable(tmp_path: Path) -> None:
    converted = convert(cc.train_container, launcher_image_tag="2.19.0")
    spec = compile_pipeline(_pipeline(converted, lr=0.1, epochs=4), tmp_path / "p.yaml")
    (executor,) = spec["deploymentSpec"]["executors"].values()
    assert executor["container"]["image"] == f"{LAUNCHER_IMAGE_NAME}:2.19.0"


def test_gcpc_shaped_component_runs_through_the_launcher_with_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    converted = convert(
        cc.train_container,
        replica_count=2,
        machine_type="n1-standard-8",
        accelerator_type="NVIDIA_TESLA_T4",
        labels={"team": "ml"},
        env={"MODE": "fast"},
    )
    spec = compile_pipeline(_pipeline(converted, lr=0.1, epochs=4), tmp_path / "p.yaml")
    monkeypatch.setenv("VERTEX_AI_PIPELINES_RUN_LABELS", json.dumps({"team": "x", "run": "r1"}))
    job = launcher_job(backend_payload(spec, "train-container", {"lr": 0.1, "epochs": 4}))
    assert dict(job.labels) == {"team": "ml", "run": "r1"}
    assert [p.replica_count for p in job.job_spec.worker_pool_specs] == [1, 1]
    assert job.job_spec.worker_pool_specs[1].container_spec.env[0].value == "fast"
    assert job.job_spec.worker_pool_specs[0].disk_spec.boot_disk_size_gb == 100
    # The launcher drops max_wait_duration unless the strategy is FLEX_START.
    assert "max_wait_duration" not in aiplatform_v1.Scheduling.to_dict(job.job_spec.scheduling)


def test_machine_helper_pools_without_container(tmp_path: Path) -> None:
    pool = aiplatform_v1.WorkerPoolSpec(machine_spec=machine("n1-standard-16"), replica_count=1)
    converted = convert(cc.train_container, worker_pool_specs=[pool])
    spec = compile_pipeline(_pipeline(converted, lr=0.1, epochs=4), tmp_path / "p.yaml")
    (only,) = default_pools(spec, "train-container")
    assert only["container_spec"] == {"image_uri": cc.IMAGE, "command": COMMAND, "args": ARGS}
