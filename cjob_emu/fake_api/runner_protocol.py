"""The seam between the job store and whatever moves a job through its states.

The store owns the job records and every state change; a :class:`Runner` only
starts a :class:`JobRun` per job and reports what happens through the
:class:`Report` callback it is given. The simulated runner moves a job when it is
polled; the executor runners really run it (a CustomJob on the executor, a
PipelineJob through the local pipeline runner) and report from their own threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from google.cloud.aiplatform_v1 import CustomJob, PipelineJob

JobError = tuple[int, str]
"""A google.rpc status as ``(code number, message)``; the job's ``error`` field."""

Job = CustomJob | PipelineJob
"""What a runner is handed: a copy of the job (proto-plus), never the stored one."""


class Report(Protocol):
    """``report(state, error, detail=...)``: the run tells the store the job's new state
    (a ``JobState``/``PipelineState`` number; ``None``: unchanged) and, for a
    PipelineJob, its ``job_detail`` (a ``PipelineJobDetail`` protobuf message)."""

    def __call__(self, state: int | None, error: JobError | None = None, *,
                 detail: Any = None) -> None: ...


class JobRun(Protocol):
    """One job being moved by a runner."""

    def on_poll(self) -> None:
        """The job was read (GET); a run driven by polls may report a new state now."""

    def cancel(self) -> None:
        """Stop the job; the run reports ``JOB_STATE_CANCELLED`` when it has stopped."""

    def snapshot(self) -> Mapping[str, Any] | None:
        """What :meth:`Runner.resume` needs to continue after a restart, or ``None``."""


class Runner(Protocol):
    """Starts runs of one mode (``simulated``, ``executor``)."""

    def start(self, job: Any, report: Report) -> JobRun:
        """Begin running a newly created job (state PENDING, ``name`` set): a :data:`Job`
        of the store's kind (a runner of one kind types it narrower).

        May raise :class:`cjob_emu.fake_api.rpc.ApiError` to refuse the job; the
        store then does not keep it.
        """
        ...

    def resume(self, job: Any, snapshot: Mapping[str, Any], report: Report) -> JobRun | None:
        """Continue a job loaded from the state directory, or ``None`` when it cannot be."""
        ...

    def close(self) -> None:
        """Stop every run this runner started and release what it holds."""
