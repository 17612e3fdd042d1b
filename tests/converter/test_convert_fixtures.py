"""The compiled pipeline fixtures are current, the same from both converters, and valid."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from google_cloud_pipeline_components.v1.custom_job import utils as gcpc_utils
from kfp import compiler
from support.pipeline_checks import PIPELINES, fixture_module

from cjob_emu.converter import create_custom_training_job_from_component, validate_pipeline


def _without_kfp_version(spec: dict[str, Any]) -> Any:
    text = yaml.safe_dump(spec)
    return yaml.safe_load(re.sub(r"kfp(==|-)\d+\.\d+\.\d+", r"kfp\1VERSION", text))


@pytest.mark.parametrize(
    ("name", "converter"),
    [
        ("train_eval.yaml", create_custom_training_job_from_component),
        ("train_eval_gcpc.yaml", gcpc_utils.create_custom_training_job_from_component),
        ("container_steps.yaml", create_custom_training_job_from_component),
        ("container_steps_gcpc.yaml", gcpc_utils.create_custom_training_job_from_component),
    ],
)
def test_fixture_is_what_its_script_compiles(name: str, converter: Any, tmp_path: Path) -> None:
    fresh = tmp_path / name
    script = name.removesuffix(".yaml").removesuffix("_gcpc")
    compiler.Compiler().compile(fixture_module(script).build(converter), str(fresh))
    committed = yaml.safe_load((PIPELINES / name).read_text())
    assert _without_kfp_version(committed) == _without_kfp_version(
        yaml.safe_load(fresh.read_text())
    ), f"stale: run python fixtures/pipelines/{script}.py {'--gcpc ' * ('gcpc' in name)}..."


@pytest.mark.parametrize("script", ["train_eval", "container_steps"])
def test_both_converters_compile_the_same_pipeline(script: str) -> None:
    ours = yaml.safe_load((PIPELINES / f"{script}.yaml").read_text())
    gcpc = yaml.safe_load((PIPELINES / f"{script}_gcpc.yaml").read_text())
    assert ours == gcpc


def test_training_task_is_a_valid_three_replica_custom_job() -> None:
    spec = yaml.safe_load((PIPELINES / "train_eval.yaml").read_text())
    assert list(spec["root"]["dag"]["tasks"]) == ["evaluate", "prepare-data", "train"]
    params = spec["components"]["comp-train"]["inputDefinitions"]["parameters"]
    pools = params["worker_pool_specs"]["defaultValue"]
    assert [p["replica_count"] for p in pools] == [1.0, 2.0]
    reports = validate_pipeline(PIPELINES / "train_eval.yaml")
    assert list(reports) == ["train"]
    assert reports["train"].ok and not reports["train"].warnings
