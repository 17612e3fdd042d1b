"""CustomJob messages for the cluster tests, built from REST JSON through the generated types."""

from __future__ import annotations

from typing import Any

from google.cloud.aiplatform_v1 import CustomJob
from google.protobuf import json_format


def pool(
    count: int,
    *,
    image: str = "us-docker.pkg.dev/p/r/trainer:1",
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A container pool of ``count`` replicas; ``env`` becomes its ordered env list."""
    container: dict[str, Any] = {"imageUri": image}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {
        "machineSpec": {"machineType": "n1-standard-4"},
        "replicaCount": str(count),
        "containerSpec": container,
    }


def job(*pools: dict[str, Any], name: str = "", **spec: Any) -> CustomJob:
    """A CustomJob with these pools (``{}`` for a skipped one) and extra jobSpec fields."""
    body: dict[str, Any] = {
        "displayName": "cluster-test",
        "jobSpec": {"workerPoolSpecs": list(pools), **spec},
    }
    if name:
        body["name"] = name
    message = CustomJob()
    json_format.ParseDict(body, CustomJob.pb(message))
    return message


def five_replica_job(**spec: Any) -> CustomJob:
    """Chief, two workers, a parameter server and an evaluator."""
    return job(pool(1), pool(2), pool(1), pool(1), **spec)


def single_replica_job(**spec: Any) -> CustomJob:
    return job(pool(1), **spec)
