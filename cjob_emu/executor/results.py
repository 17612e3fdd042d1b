"""What a run tells of its replicas and of its end.

:class:`ReplicaStatus` is a replica now (for live tables), :class:`ReplicaResult` how
it ended, :class:`JobResult` the end of the whole run; :class:`ReplicaTable` keeps the
first two up to date while the run goes on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from google.cloud.aiplatform_v1 import CustomJob, JobState

from cjob_emu.cluster import Replica
from cjob_emu.errors import JobCancelledError, JobFailedError
from cjob_emu.executor.events import Notice
from cjob_emu.executor.logs import log_path
from cjob_emu.spec import job_to_rest


@dataclass(frozen=True)
class ReplicaResult:
    """How one replica ended.

    ``exit_code`` is None when it never started; ``stopped`` when the executor stopped
    it because the job ended (primary done, another replica failed, timeout, cancel).
    ``attempts`` counts its starts (more than 1 after restarts). ``emulated`` is False
    for a replica a local run never starts (a Reduction Server reducer).
    """

    replica: Replica
    exit_code: int | None
    stopped: bool
    log_path: Path
    attempts: int
    start_time: datetime | None
    end_time: datetime | None
    emulated: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (what ``cjob-emu run --json`` prints per replica)."""
        return {
            "exitCode": self.exit_code,
            "stopped": self.stopped,
            "attempts": self.attempts,
            "logPath": str(self.log_path),
            "startTime": _rfc3339(self.start_time),
            "endTime": _rfc3339(self.end_time),
            "emulated": self.emulated,
        }


@dataclass(frozen=True)
class JobResult:
    """The end of a run: the final CustomJob (state, times, error) and every replica."""

    job: CustomJob
    run_id: str
    run_dir: Path
    backend: str
    replicas: dict[str, ReplicaResult]
    notices: tuple[Notice, ...]

    @property
    def state(self) -> JobState:
        """The final state: SUCCEEDED, FAILED or CANCELLED."""
        return JobState(self.job.state)

    @property
    def succeeded(self) -> bool:
        """Whether the job ended SUCCEEDED."""
        return self.state == JobState.JOB_STATE_SUCCEEDED

    @property
    def exit_codes(self) -> dict[str, int | None]:
        """Replica name -> exit code (None: never started)."""
        return {name: r.exit_code for name, r in self.replicas.items()}

    def log_paths(self) -> dict[str, Path]:
        """Replica name -> its log file."""
        return {name: r.log_path for name, r in self.replicas.items()}

    def raise_for_state(self) -> JobResult:
        """Self if SUCCEEDED; else JobFailedError / JobCancelledError with Vertex's text."""
        if self.state == JobState.JOB_STATE_CANCELLED:
            raise JobCancelledError(self.job.error.message or "CANCELLED")
        if not self.succeeded:
            raise JobFailedError(self.job.error.message or self.state.name)
        return self

    def to_dict(self) -> dict[str, Any]:
        """The final job as REST JSON plus the run's facts (``cjob-emu run --json``)."""
        return {
            "job": job_to_rest(self.job),
            "replicas": {name: r.to_dict() for name, r in self.replicas.items()},
            "runId": self.run_id,
            "runDir": str(self.run_dir),
            "backend": self.backend,
            "notices": [str(n) for n in self.notices],
        }


@dataclass(frozen=True)
class ReplicaStatus:
    """A replica right now: ``phase`` is waiting, running, succeeded, failed, stopped or
    not emulated (a Reduction Server reducer, never started)."""

    replica: Replica
    phase: str
    exit_code: int | None
    attempt: int
    started: float | None
    ended: float | None

    def duration(self, now: float | None = None) -> float | None:
        """Seconds it ran (so far), or None before it started."""
        if self.started is None:
            return None
        end = self.ended if self.ended is not None else (now or time.monotonic())
        return end - self.started


NOT_EMULATED = "not emulated"
"""The phase of a replica a local run never starts (a Reduction Server reducer)."""


class ReplicaTable:
    """Every replica of a run: its status now and its result so far. Thread-safe."""

    def __init__(
        self, replicas: Sequence[Replica], run_dir: Path, *, not_emulated: Sequence[Replica] = ()
    ) -> None:
        self._replicas = tuple(replicas)
        self._run_dir = run_dir
        self._lock = threading.Lock()
        self._status = {
            r: ReplicaStatus(r, "waiting", None, 0, None, None) for r in replicas
        } | {r: ReplicaStatus(r, NOT_EMULATED, None, 0, None, None) for r in not_emulated}
        self._results: dict[Replica, ReplicaResult] = {
            r: ReplicaResult(r, None, False, log_path(run_dir, r), 0, None, None, emulated=False)
            for r in not_emulated
        }

    def started(self, replica: Replica, attempt: int, log: Path) -> None:
        """``replica`` started as ``attempt``, logging to ``log``."""
        with self._lock:
            self._status[replica] = ReplicaStatus(
                replica, "running", None, attempt, time.monotonic(), None
            )
            previous = self._results.get(replica)
            attempts = (previous.attempts if previous else 0) + 1
            self._results[replica] = ReplicaResult(
                replica, None, False, log, attempts, _utcnow(), None
            )

    def ended(self, replica: Replica, attempt: int, code: int, *, stopped: bool) -> None:
        """``replica`` (started as ``attempt``) ended with ``code``; ``stopped`` by the run."""
        phase = "stopped" if stopped else ("succeeded" if code == 0 else "failed")
        with self._lock:
            status = self._status[replica]
            self._status[replica] = ReplicaStatus(
                replica, phase, code, attempt, status.started, time.monotonic()
            )
            result = self._results[replica]
            self._results[replica] = ReplicaResult(
                replica,
                code,
                stopped,
                result.log_path,
                result.attempts,
                result.start_time,
                _utcnow(),
            )

    def statuses(self) -> list[ReplicaStatus]:
        """Every replica now, in Vertex order."""
        with self._lock:
            return [self._status[r] for r in self._replicas]

    def results(self) -> dict[str, ReplicaResult]:
        """Replica name -> how it ended (never started: no exit code), in Vertex order."""
        with self._lock:
            return {r.name: self._result_of(r) for r in self._replicas}

    def _result_of(self, replica: Replica) -> ReplicaResult:
        return self._results.get(replica) or ReplicaResult(
            replica, None, False, log_path(self._run_dir, replica), 0, None, None
        )


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _rfc3339(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
