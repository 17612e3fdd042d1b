"""One run as the index keeps it: what it is, how far it got, where its files are."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

JOB = "job"
"""The kind of a CustomJob run (alone, or a pipeline's custom-job task)."""
PIPELINE = "pipeline"
"""The kind of a local pipeline run."""

ENDED_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
"""The states a run never leaves (the index keeps states without ``JOB_STATE_``)."""


@dataclass(frozen=True)
class Owner:
    """The process that runs a run: its host, pid and the pid's start time (so that a
    reused pid is not mistaken for it; empty where it cannot be read)."""

    host: str
    pid: int
    pid_start: str = ""


@dataclass(frozen=True)
class ParentRun:
    """The pipeline run a CustomJob run is a task of: its id, and the task's name."""

    run_id: str
    task: str


@dataclass(frozen=True)
class RunEntry:
    """A run in the index.

    Attributes:
        id: The run id (``20250102-030405-1a2b3c``).
        kind: :data:`JOB` or :data:`PIPELINE`.
        name: The job's display name, or the pipeline's name.
        state: PENDING, RUNNING, CANCELLING, SUCCEEDED, FAILED or CANCELLED.
        backend: ``docker`` or ``process``.
        run_dir: The run's directory (absolute).
        logs_dir: Where its logs are (a job: ``<run_dir>/logs``; a pipeline: its run
            directory, whose task directories hold theirs).
        gcs_root: The directory that stood for gs://.
        create_time, start_time, end_time: RFC 3339 UTC times, empty until reached.
        error: Why it failed or was cancelled (first line), else empty.
        parent: For a pipeline's CustomJob: the pipeline run's id and the task.
        owner: The process running it, for telling a run whose process died.
    """

    id: str
    kind: str
    name: str
    state: str
    backend: str
    run_dir: str
    logs_dir: str
    gcs_root: str = ""
    create_time: str = ""
    start_time: str = ""
    end_time: str = ""
    error: str = ""
    parent: ParentRun | None = None
    owner: Owner | None = None

    @property
    def ended(self) -> bool:
        """Whether the run has reached a state it never leaves."""
        return self.state in ENDED_STATES

    def duration(self, now: datetime | None = None) -> float | None:
        """Seconds from its start (or creation) to its end, or to ``now`` while it goes
        on; None without a time to count from."""
        begin = parse_time(self.start_time) or parse_time(self.create_time)
        if begin is None:
            return None
        end = parse_time(self.end_time)
        if end is None:
            if self.ended:
                return None
            end = now or datetime.now(timezone.utc)
        return max(0.0, (end - begin).total_seconds())

    def changed(self, **changes: Any) -> RunEntry:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The entry as the index file holds it (camelCase keys, as REST JSON has)."""
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "state": self.state,
            "backend": self.backend,
            "runDir": self.run_dir,
            "logsDir": self.logs_dir,
            "gcsRoot": self.gcs_root,
            "createTime": self.create_time,
            "startTime": self.start_time,
            "endTime": self.end_time,
            "error": self.error,
        }
        if self.parent is not None:
            data["parent"] = {"runId": self.parent.run_id, "task": self.parent.task}
        if self.owner is not None:
            data["owner"] = {
                "host": self.owner.host,
                "pid": self.owner.pid,
                "pidStart": self.owner.pid_start,
            }
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunEntry:
        """An entry from the index file (keys it does not know are left aside)."""
        parent = data.get("parent")
        owner = data.get("owner")
        return cls(
            id=str(data["id"]),
            kind=str(data.get("kind", JOB)),
            name=str(data.get("name", "")),
            state=str(data.get("state", "")),
            backend=str(data.get("backend", "")),
            run_dir=str(data.get("runDir", "")),
            logs_dir=str(data.get("logsDir", "")),
            gcs_root=str(data.get("gcsRoot", "")),
            create_time=str(data.get("createTime", "")),
            start_time=str(data.get("startTime", "")),
            end_time=str(data.get("endTime", "")),
            error=str(data.get("error", "")),
            parent=(
                ParentRun(str(parent.get("runId", "")), str(parent.get("task", "")))
                if isinstance(parent, Mapping)
                else None
            ),
            owner=(
                Owner(str(owner.get("host", "")), int(owner.get("pid", 0)),
                      str(owner.get("pidStart", "")))
                if isinstance(owner, Mapping)
                else None
            ),
        )


def rfc3339(moment: datetime | None) -> str:
    """``moment`` as an RFC 3339 UTC time (``2025-01-02T03:04:05.123456Z``); empty for None."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    text = moment.astimezone(timezone.utc).isoformat()
    return text.replace("+00:00", "Z")


def now_rfc3339() -> str:
    """The time now, as :func:`rfc3339` writes it."""
    return rfc3339(datetime.now(timezone.utc))


def parse_time(text: str) -> datetime | None:
    """An RFC 3339 time the index holds, or None for an empty or unreadable one."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
