"""Jobs and helpers the executor tests share (both backends).

Training scripts from fixtures/training are copied under the gs:// root and run as
``python3 /gcs/<bucket>/scripts/<name>``: in docker the root is mounted at /gcs, on the
process backend /gcs paths are rewritten to the root.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from google.cloud.aiplatform_v1 import CustomJob

from cjob_emu.spec import load_job
from support import paths

TRAINING = paths.FIXTURES / "training"
BUCKET = "cjob-emu-tests"
IMAGE = "us-docker.pkg.dev/cjob-emu/tests/trainer:1"


def stage_script(gcs_root: Path, name: str) -> str:
    """Copy fixtures/training/``name`` under the gs:// root; its /gcs path in a replica."""
    target = gcs_root / BUCKET / "scripts" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(TRAINING / name, target)
    return f"/gcs/{BUCKET}/scripts/{name}"


def training_module(name: str) -> ModuleType:
    """Import fixtures/training/``name`` (to compute what a script should produce)."""
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), TRAINING / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pool(
    command: Sequence[str] | None,
    args: Sequence[str] = (),
    *,
    replicas: int = 1,
    image: str = IMAGE,
    env: dict[str, str] | None = None,
    machine: str = "n1-standard-4",
) -> dict[str, Any]:
    """A container pool as REST JSON."""
    container: dict[str, Any] = {"imageUri": image, "args": list(args)}
    if command is not None:
        container["command"] = list(command)
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {
        "machineSpec": {"machineType": machine},
        "replicaCount": str(replicas),
        "containerSpec": container,
    }


def python(code: str, **kwargs: Any) -> dict[str, Any]:
    """A pool whose replicas run ``python3 -c code``."""
    return pool(["python3", "-c"], [code], **kwargs)


def job(
    name: str,
    pools: Sequence[dict[str, Any]],
    *,
    timeout: str | None = None,
    restart: bool = False,
    base_output: str | None = None,
) -> CustomJob:
    """A CustomJob of ``pools`` (REST JSON dicts; ``{}`` for a skipped pool)."""
    spec: dict[str, Any] = {"workerPoolSpecs": list(pools)}
    scheduling: dict[str, Any] = {}
    if timeout:
        scheduling["timeout"] = timeout
    if restart:
        scheduling["restartJobOnWorkerRestart"] = True
    if scheduling:
        spec["scheduling"] = scheduling
    if base_output:
        spec["baseOutputDirectory"] = {"outputUriPrefix": base_output}
    return load_job({"displayName": name, "jobSpec": spec})


def five_replica_job(script: str, output: str, **kwargs: Any) -> CustomJob:
    """Chief, two workers, a parameter server and an evaluator, all running ``script``."""
    command = ["python3", script, "--output", output]
    return job(
        "five-roles",
        [
            pool(command),
            pool(command, replicas=2),
            pool(command),
            pool(command),
        ],
        **kwargs,
    )


def allreduce_job(gcs_root: Path, steps: int, size: int = 200) -> CustomJob:
    """Chief, two workers and a parameter server all-reducing with allreduce.py; each writes
    its result to AIP_MODEL_DIR (read as /gcs/, as on Vertex)."""
    command = ["python3", stage_script(gcs_root, "allreduce.py"), "--steps", str(steps)]
    command += ["--size", str(size)]
    return job(
        "allreduce",
        [pool(command), pool(command, replicas=2), pool(command)],
        base_output=f"gs://{BUCKET}/allreduce",
    )


def check_allreduce(gcs_root: Path, steps: int, size: int = 200) -> None:
    """Every replica of :func:`allreduce_job` got what one process reducing the data gets."""
    expected = [training_module("allreduce.py").reduce_all(4, step, size) for step in range(steps)]
    model_dir = gcs_root / BUCKET / "allreduce" / "model"
    for name in ("workerpool0-0", "workerpool1-0", "workerpool1-1", "workerpool2-0"):
        record = read_json(model_dir / f"allreduce-{name}.json")
        assert record["world_size"] == 4
        assert record["results"] == expected


FIVE_ROLES = {
    "workerpool0-0": ("chief", 0),
    "workerpool1-0": ("worker", 0),
    "workerpool1-1": ("worker", 1),
    "workerpool2-0": ("ps", 0),
    "workerpool3-0": ("evaluator", 0),
}
"""Replica name -> (TF_CONFIG role, index) of :func:`five_replica_job`."""


def check_roles(output: Path, check_address: Callable[[str, str, int], None]) -> None:
    """Every replica of :func:`five_replica_job` wrote its CLUSTER_SPEC and TF_CONFIG task
    under ``output``, and each peer answered from the address CLUSTER_SPEC gave it, as the
    replica it is. ``check_address(address, pool, index)`` checks the backend's address."""
    for name, (role, index) in FIVE_ROLES.items():
        record = read_json(output / f"{name}.json")
        pool_name = name.split("-")[0]
        assert record["cluster_spec_task"] == {"type": pool_name, "index": index}
        assert record["tf_config_task"] == {"type": role, "index": index}
        check_address(record["address"], pool_name, index)
        assert sorted(record["peers"]) == sorted(set(FIVE_ROLES) - {name})
        for peer, answer in record["peers"].items():
            assert answer["from"] == peer
            assert answer["tf_config_task"]["type"] == FIVE_ROLES[peer][0]


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
