"""The seam between the job store and whatever moves a job through its states.

The store owns the job records and every state change; a :class:`Runner` only
starts a :class:`JobRun` per job and reports what happens through the
:data:`Report` callback it is given. The simulated runner moves a job when it is
polled; the executor runner really runs it and reports from its own threads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from google.cloud.aiplatform_v1 import CustomJob

JobError = tuple[int, str]
"""A google.rpc status as ``(code number, message)``; the job's ``error`` field."""

Report = Callable[[int, "JobError | None"], None]
"""``report(JobState number, error)``: the run tells the store the job's new state."""


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

    def start(self, job: CustomJob, report: Report) -> JobRun:
        """Begin running a newly created job (state PENDING, ``name`` set).

        May raise :class:`cjob_emu.fake_api.rpc.ApiError` to refuse the job; the
        store then does not keep it.
        """
        ...

    def resume(self, job: CustomJob, snapshot: Mapping[str, Any], report: Report) -> JobRun | None:
        """Continue a job loaded from the state directory, or ``None`` when it cannot be."""
        ...

    def close(self) -> None:
        """Stop every run this runner started and release what it holds."""
