"""How a job ends: the terminal states, the ``error`` Vertex gives each end, and which
of several replica ends decides the job.

Codes are google.rpc's (:class:`google.rpc.code_pb2.Code`), texts Vertex's where they
are known (the "Observed on real Vertex" table of the reference):

- a replica exiting non-zero: INVALID_ARGUMENT (3), "The replica workerpool1-0 exited
  with a non-zero status of 1. Termination reason: Error." plus the log's last lines
  (observed: GoogleCloudPlatform/vertex-ai-samples#1504);
- a replica that cannot start (its command or entrypoint is not in the image; docker
  only): INVALID_ARGUMENT (3), "The replica workerpool0-0 exited with a non-zero status
  of 128. Termination reason: StartError." then the runtime's message (observed:
  GoogleCloudPlatform/vertex-ai-samples#1898);
- a replica killed for running out of memory (docker only): INVALID_ARGUMENT (3),
  "The replica workerpool1-0 ran out of memory and exited with a non-zero status of
  137." (as users quote it in issue threads; the code 3 is a guess by analogy);
- cancel: CANCELLED (1), "CANCELED";
- ``scheduling.timeout`` exceeded: DEADLINE_EXCEEDED (4) (Vertex's wording unknown);
- what cannot start on the emulator's side (a missing image, an install that fails):
  FAILED_PRECONDITION (9);
- a replica whose end the backend cannot see: UNAVAILABLE (14);
- a bug, or the owning process dying: INTERNAL (13).

Which end decides (:func:`first_decisive`): replicas' ends are taken in the order of
the times the backend gives them (:meth:`~.backend.ReplicaHandle.ended_at`), not the
order they reach the job; the first non-zero exit fails the job, unless the primary
replica's exit 0 comes before it. That the primary's success ends the job, so that a
later failure of another replica no longer counts, is our reading of Vertex ("the
primary replica reports for the whole job"); no document says what happens when the
two come milliseconds apart.

The fake API's simulated runs use :func:`replica_failure_message` from here too.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from google.cloud.aiplatform_v1 import JobState
from google.rpc import status_pb2
from google.rpc.code_pb2 import Code

from cjob_emu.cluster import Replica
from cjob_emu.executor.backend import Termination

TERMINAL_STATES = frozenset(
    {JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED}
)
"""States a job never leaves (Vertex's ``endTime`` states)."""

CANCELLED_MESSAGE = "CANCELED"
"""What Vertex puts in ``error.message`` of a cancelled job."""

_LOGS_POINTER = "To find out more about why your job exited please check the logs: "


@dataclass(frozen=True)
class Outcome:
    """What ended one attempt of a run (before any restart is decided)."""

    kind: str  # succeeded, failed, lost, timeout or cancelled
    replica: Replica | None = None
    code: int = 0
    reason: str = ""  # lost: why the backend cannot tell how the replica ended


@dataclass(frozen=True)
class ReplicaEnd:
    """One replica's exit: its code and when the backend says it happened (epoch s)."""

    replica: Replica
    code: int
    at: float


def decides(end: ReplicaEnd) -> bool:
    """Whether ``end`` alone would end the job: a non-zero exit, or the primary's 0."""
    return end.code != 0 or end.replica.is_primary


def first_decisive(ends: Iterable[ReplicaEnd]) -> Outcome | None:
    """What ``ends`` (in any order) decide: the earliest by backend time of a non-zero
    exit (failed) and the primary's exit 0 (succeeded); None if neither is among them.
    At the same instant the primary's success comes first: a failure must be *before*
    it to fail the job."""
    ordered = sorted(ends, key=lambda e: (e.at, not (e.replica.is_primary and e.code == 0)))
    for end in ordered:
        if end.code != 0:
            return Outcome("failed", end.replica, end.code)
        if end.replica.is_primary:
            return Outcome("succeeded")
    return None


def status(code: int, message: str) -> status_pb2.Status:
    """The ``error`` of a job: a google.rpc code and its message."""
    return status_pb2.Status(code=code, message=message)


def cancelled() -> status_pb2.Status:
    """The error of a cancelled job."""
    return status(Code.CANCELLED, CANCELLED_MESSAGE)


def timed_out(seconds: float) -> status_pb2.Status:
    """The error of a job that ran past its ``scheduling.timeout``."""
    message = (
        f"The job exceeded its timeout of {seconds:g}s "
        "(job_spec.scheduling.timeout); every replica was stopped."
    )
    return status(Code.DEADLINE_EXCEEDED, message)


def lost(replica: Replica, reason: str) -> status_pb2.Status:
    """The error of a job one of whose replicas the backend lost sight of."""
    return status(Code.UNAVAILABLE, f"cjob-emu lost track of the replica {replica}: {reason}")


def not_started(problem: Exception) -> status_pb2.Status:
    """The error of a job that could not start (a missing image, a failed install)."""
    return status(Code.FAILED_PRECONDITION, str(problem))


def internal(message: str) -> status_pb2.Status:
    """The error of a job ended by a bug of the emulator."""
    return status(Code.INTERNAL, message)


def owner_died(pid: str, host: str) -> status_pb2.Status:
    """The error cleanup gives a job whose owning process died before its end."""
    return internal(
        f"the cjob-emu process running this job (pid {pid} on host {host}) died; "
        "its replicas were removed by cleanup"
    )


def termination(reported: Termination | None, code: int) -> Termination:
    """Why a replica ended: what the backend reported, else Vertex's "Error", with the
    signal an exit code above 128 tells of."""
    if reported is not None:
        return reported
    if code > 128:
        with contextlib.suppress(ValueError):
            name = signal.Signals(code - 128).name
            return Termination("Error", f"killed by signal {code - 128}, {name}")
    return Termination("Error")


def replica_exited(replica: Replica | str, code: int) -> str:
    """Vertex's first sentence about a replica that exited non-zero."""
    return f"The replica {replica} exited with a non-zero status of {code}."


def replica_failed(
    replica: Replica,
    code: int,
    *,
    ended: Termination,
    restarts: int,
    log_tail: Sequence[str],
    stderr_tail: Sequence[str],
    log_path: Path,
) -> status_pb2.Status:
    """The error of a job failed by ``replica``: Vertex's text for how it ended, then its
    last log lines, then its last stderr lines where the log may hold them earlier
    (docker)."""
    message = _ended_text(replica, code, ended)
    if restarts:
        message += (
            f" The job had been restarted {restarts} time(s) (restart_job_on_worker_restart)."
        )
    tail = "\n".join(log_tail)
    if tail:
        message += f"\nLast lines of its log:\n{tail}"
    if not set(stderr_tail) <= set(log_tail):
        message += (
            "\nLast lines of its stderr (logged apart from stdout, so they may stand "
            "earlier in its log):\n" + "\n".join(stderr_tail)
        )
    message += f"\n{_LOGS_POINTER}{log_path}"
    return status(Code.INVALID_ARGUMENT, message)


def _ended_text(replica: Replica, code: int, ended: Termination) -> str:
    """Vertex's sentence for the end of ``replica`` (see the module docstring)."""
    if ended.reason == "OOMKilled":
        sentence = (
            f"The replica {replica} ran out of memory and exited with a non-zero status of {code}."
        )
        return f"{sentence}\n{ended.detail}" if ended.detail else sentence
    if ended.reason == "StartError":
        sentence = f"{replica_exited(replica, code)} Termination reason: StartError."
        return f"{sentence} {ended.detail}" if ended.detail else sentence
    reason = f"{ended.reason} ({ended.detail})" if ended.detail else ended.reason
    return f"{replica_exited(replica, code)} Termination reason: {reason}."


def replica_failure_message(job_name: str) -> str:
    """Vertex's text for a job whose primary replica exited with status 1."""
    project = job_name.split("/")[1] if job_name.count("/") >= 5 else ""
    job_id = job_name.rsplit("/", 1)[-1]
    return (
        f"{replica_exited('workerpool0-0', 1)} {_LOGS_POINTER}"
        "https://console.cloud.google.com/logs/"
        f"viewer?project={project}&resource=ml_job%2Fjob_id%2F{job_id}&advancedFilter="
        f"resource.type%3D%22ml_job%22%0Aresource.labels.job_id%3D%22{job_id}%22"
    )
