"""What every rule reads: the message, its worker pools, the target location."""

from __future__ import annotations

from typing import Any

from google.cloud.aiplatform_v1.types.custom_job import CustomJob

CustomJobPb = Any  # the raw protobuf class CustomJob.pb() (generated at run time)
CUSTOM_JOB_PB = CustomJob.pb()
POOLS = "job_spec.worker_pool_specs"


class Pool:
    """One worker pool with its path; ``empty`` pools (``{}``) are skipped ones."""

    __slots__ = ("empty", "index", "path", "spec")

    def __init__(self, index: int, spec: Any) -> None:
        self.index = index
        self.spec = spec
        self.path = f"{POOLS}[{index}]"
        self.empty = spec.ByteSize() == 0

    def task(self) -> tuple[Any, str] | None:
        """The container or Python package spec that is set, with its path."""
        which = self.spec.WhichOneof("task")
        return None if which is None else (getattr(self.spec, which), f"{self.path}.{which}")


class Context:
    """A job under validation."""

    __slots__ = ("job", "location", "pools", "spec")

    def __init__(self, job: CustomJobPb, location: str | None) -> None:
        self.job = job
        self.spec = job.job_spec
        self.location = location
        self.pools = [Pool(i, p) for i, p in enumerate(self.spec.worker_pool_specs)]

    def active_pools(self) -> list[Pool]:
        """Pools that are not skipped."""
        return [p for p in self.pools if not p.empty]


def seconds(duration: Any) -> float:
    """A google.protobuf.Duration as seconds."""
    return float(duration.seconds) + duration.nanos / 1e9
