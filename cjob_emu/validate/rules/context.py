"""What every rule reads: the message, its worker pools, the target location."""

from __future__ import annotations

from typing import Any

from cjob_emu.validate.cache import catalog

CustomJobPb = Any  # the raw protobuf CustomJob class (generated at run time)
CATALOG = catalog()
CUSTOM_JOB_PB = CATALOG.job_class
POOLS = "job_spec.worker_pool_specs"


class Pool:
    """One worker pool and the parts rules read; ``empty`` pools (``{}``) are skipped ones."""

    __slots__ = ("empty", "index", "machine", "machine_path", "path", "spec", "task")

    def __init__(self, index: int, spec: Any) -> None:
        self.index = index
        self.spec = spec
        self.path = f"{POOLS}[{index}]"
        self.empty = spec.ByteSize() == 0
        self.machine = spec.machine_spec
        self.machine_path = f"{self.path}.machine_spec"
        which = spec.WhichOneof("task")
        #: The container or Python package spec that is set, with its path.
        self.task: tuple[Any, str] | None = (
            None if which is None else (getattr(spec, which), f"{self.path}.{which}")
        )


class Context:
    """A job under validation."""

    __slots__ = ("active", "job", "location", "pools", "spec")

    def __init__(self, job: CustomJobPb, location: str | None) -> None:
        self.job = job
        self.spec = job.job_spec
        # Region names are lower case; the SDK lower-cases what it is given.
        self.location = location.lower() if location else location
        self.pools = [Pool(i, p) for i, p in enumerate(self.spec.worker_pool_specs)]
        #: Pools that are not skipped.
        self.active = [p for p in self.pools if not p.empty]


def seconds(duration: Any) -> float:
    """A google.protobuf.Duration as seconds."""
    return float(duration.seconds) + duration.nanos / 1e9
