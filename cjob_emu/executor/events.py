"""What a running job reports to those watching it.

Callbacks get every event, one at a time, from the executor's threads; iterators
(:meth:`RunningJob.events`) get them through a queue.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from dataclasses import field as _field

from google.cloud.aiplatform_v1 import CustomJob, JobState

from cjob_emu.cluster import Replica


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class StateChanged:
    """The job entered ``state``; ``job`` is a copy of the job message at that moment."""

    state: JobState
    job: CustomJob
    time: float = _field(default_factory=_now)


@dataclass(frozen=True)
class Notice:
    """Something the user should know before or during the run (nothing is ignored
    silently): ``field`` is the job field it concerns, when there is one.

    ``kind``: ``"unemulated"`` (a job field accepted but not emulated), ``"warning"``
    (a validation warning), ``"backend"`` (how the backend differs from Vertex),
    ``"cleanup"`` (leftovers of a dead run removed) or ``"note"``.
    """

    message: str
    field: str | None = None
    kind: str = "note"
    time: float = _field(default_factory=_now)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(frozen=True)
class ReplicaStarted:
    """``replica`` started (``attempt`` counts job restarts from 0)."""

    replica: Replica
    attempt: int
    time: float = _field(default_factory=_now)


@dataclass(frozen=True)
class ReplicaExited:
    """``replica`` ended with ``exit_code``; ``stopped`` when the executor stopped it."""

    replica: Replica
    attempt: int
    exit_code: int
    stopped: bool = False
    time: float = _field(default_factory=_now)


@dataclass(frozen=True)
class LogLine:
    """One line of ``replica``'s stdout or stderr."""

    replica: Replica
    attempt: int
    line: str
    time: float = _field(default_factory=_now)


@dataclass(frozen=True)
class Restarting:
    """Every replica is restarted (``restart_job_on_worker_restart``) as ``attempt``."""

    attempt: int
    reason: str
    time: float = _field(default_factory=_now)


Event = StateChanged | Notice | ReplicaStarted | ReplicaExited | LogLine | Restarting
"""Any event a running job reports."""
