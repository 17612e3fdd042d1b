"""Simulated mode: jobs that end as scripted, without real work.

A new job reads PENDING for the provisioning time (:class:`Provisioning`, 0.2 s by
default), as a new job does on Vertex while its machines come up. After that, a
simulated job moves one step each time it is read: the first GET after the
provisioning time finds it RUNNING, the GET number ``polls`` (counted from that one;
GETs while it provisions do not count) finds it in its final state (SUCCEEDED by
default). Outcomes come, strongest first, from the job's labels
(``cjob-emu-outcome: succeed|fail|stay-running``, ``cjob-emu-polls: "N"``,
``cjob-emu-error-code: "N"``), from outcomes scripted through the admin API
(each for the next matching job, or for all of them), and from the server's
default. CustomJobs and PipelineJobs alike; a simulated PipelineJob also lists its
root tasks in ``job_detail`` (see :func:`.pipeline_details.scripted_details`).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from google.cloud.aiplatform_v1 import PipelineJob
from google.protobuf import json_format

from cjob_emu.executor.outcomes import replica_failure_message
from cjob_emu.fake_api.kinds import CANCELLED, FAILED, RUNNING, SUCCEEDED
from cjob_emu.fake_api.pipeline_details import pipeline_failure, root_tasks, scripted_details
from cjob_emu.fake_api.rpc import bad_request
from cjob_emu.fake_api.runner_protocol import Job, JobError, JobRun, Report

Result = Literal["succeed", "fail", "stay-running"]
RESULTS: tuple[Result, ...] = ("succeed", "fail", "stay-running")

LABEL_OUTCOME = "cjob-emu-outcome"
LABEL_POLLS = "cjob-emu-polls"
LABEL_ERROR_CODE = "cjob-emu-error-code"

CANCELLED_ERROR: JobError = (1, "CANCELED")
"""What Vertex puts in ``error`` of a cancelled job."""

FAILED_CODE = 3  # what Vertex reports when the primary replica exits non-zero
PIPELINE_FAILED_CODE = 9  # FAILED_PRECONDITION: a pipeline whose tasks failed
DEFAULT_PROVISIONING = 0.2


class Provisioning:
    """How long a new job reads PENDING, in seconds; shared by the runners of one API."""

    def __init__(self, seconds: float = DEFAULT_PROVISIONING) -> None:
        self.seconds = DEFAULT_PROVISIONING
        self.set(seconds)
        self._configured = self.seconds

    def reset(self) -> None:
        """Back to the time it was made with."""
        self.seconds = self._configured

    def set(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                or not 0 <= seconds <= 3600:
            raise ValueError(f"provisioning must be 0..3600 seconds, not {seconds!r}")
        self.seconds = float(seconds)


@dataclass(frozen=True)
class Outcome:
    """How a simulated job ends and how many reads (GETs) it takes to get there.

    ``polls`` counts GETs of the job once it is provisioned: the first finds it
    RUNNING (``startTime`` set), GET number ``polls`` finds it ended. ``stay-running``
    never ends on its own (cancel it or force its state). ``error_code`` defaults to
    Vertex's code for the kind of job (3 for a CustomJob, 9 for a PipelineJob),
    ``error_message`` to Vertex's text (a primary replica that exited with status 1;
    a pipeline whose last task failed).
    """

    result: Result = "succeed"
    polls: int = 2
    error_code: int | None = None
    error_message: str | None = None

    def __post_init__(self) -> None:
        if self.result not in RESULTS:
            raise ValueError(f"result must be one of {', '.join(RESULTS)}, not {self.result!r}")
        if isinstance(self.polls, bool) or not isinstance(self.polls, int) or self.polls < 1:
            raise ValueError(f"polls must be an integer of at least 1, not {self.polls!r}")
        code = self.error_code
        if code is not None and (isinstance(code, bool) or not isinstance(code, int)
                                 or not 1 <= code <= 16):
            raise ValueError(f"error_code must be a google.rpc code 1..16, not {code!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outcome:
        """Read ``{"result", "polls", "errorCode"|"error_code", "errorMessage"|...}``."""
        known = {"result", "polls", "error_code", "error_message"}
        values = {_snake(k): v for k, v in data.items()}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown outcome field(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


@dataclass
class ScriptedOutcome:
    """An outcome for the next ``times`` created jobs whose display name matches.

    ``display_name`` is a pattern with ``*`` wildcards (``None`` matches every
    job); ``times=None`` applies it to every matching job until a reset.
    """

    outcome: Outcome
    display_name: str | None = None
    times: int | None = 1

    def matches(self, job: Job) -> bool:
        if self.display_name is None:
            return True
        parts = (re.escape(p) for p in self.display_name.split("*"))
        return re.fullmatch(".*".join(parts), job.display_name, re.DOTALL) is not None

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome.to_dict(), "displayName": self.display_name,
                "times": self.times}


class SimulatedRun:
    """A job that stays PENDING until ``ready_at`` (epoch seconds), then moves one step
    per GET towards its :class:`Outcome`; ``failure`` is the error it fails with."""

    def __init__(
        self,
        outcome: Outcome,
        report: Report,
        failure: JobError,
        *,
        ready_at: float = 0.0,
        polls: int = 0,
        cancelling: bool = False,
    ) -> None:
        self._outcome = outcome
        self._report = report
        self._failure = failure
        self._ready_at = ready_at
        self._polls = polls
        self._cancelling = cancelling

    def on_poll(self) -> None:
        if self._cancelling:
            self._report(CANCELLED, CANCELLED_ERROR)
            return
        if time.time() < self._ready_at:
            return  # still provisioning: this read does not count
        self._polls += 1
        if self._polls == 1:
            self._report(RUNNING, None)
        result = self._outcome.result
        if result == "stay-running" or self._polls < self._outcome.polls:
            return
        if result == "succeed":
            self._report(SUCCEEDED, None)
        else:
            self._report(FAILED, self._failure)

    def cancel(self) -> None:
        # Vertex cancels asynchronously: the job shows CANCELLING until the next read.
        self._cancelling = True

    def snapshot(self) -> dict[str, Any]:
        return {"outcome": self._outcome.to_dict(), "polls": self._polls,
                "cancelling": self._cancelling, "readyAt": self._ready_at}


class SimulatedRunner:
    """Runs jobs by script: outcomes from labels, the scripted queue, or the default."""

    def __init__(self, default: Outcome | None = None,
                 provisioning: Provisioning | None = None) -> None:
        self.default = default or Outcome()
        self.provisioning = provisioning or Provisioning()
        self._scripts: list[ScriptedOutcome] = []
        self._lock = threading.Lock()

    def script(self, scripted: ScriptedOutcome) -> None:
        """Queue an outcome; the first matching script in queue order wins."""
        with self._lock:
            self._scripts.append(scripted)

    def scripts(self) -> list[ScriptedOutcome]:
        with self._lock:
            return list(self._scripts)

    def clear(self) -> None:
        with self._lock:
            self._scripts.clear()

    def start(self, job: Job, report: Report) -> SimulatedRun:
        from_labels = _outcome_labels(job)
        outcome = self._take_script(job)
        if from_labels:
            outcome = Outcome(**{**outcome.to_dict(), **from_labels})
        ready_at = time.time() + self.provisioning.seconds
        return SimulatedRun(outcome, _with_details(job, report), failure_error(job, outcome),
                            ready_at=ready_at)

    def resume(self, job: Job, snapshot: Mapping[str, Any], report: Report) -> JobRun:
        outcome = Outcome.from_dict(snapshot["outcome"])
        return SimulatedRun(
            outcome,
            _with_details(job, report),
            failure_error(job, outcome),
            ready_at=float(snapshot.get("readyAt", 0.0)),
            polls=int(snapshot.get("polls", 0)),
            cancelling=bool(snapshot.get("cancelling", False)),
        )

    def close(self) -> None:
        """Nothing runs in the background."""

    def _take_script(self, job: Job) -> Outcome:
        with self._lock:
            for i, scripted in enumerate(self._scripts):
                if not scripted.matches(job):
                    continue
                if scripted.times is not None:
                    scripted.times -= 1
                    if scripted.times <= 0:
                        del self._scripts[i]
                return scripted.outcome
        return self.default


def held_run(report: Report) -> SimulatedRun:
    """A run that stays where an admin forced the job, and still honours cancel."""
    return SimulatedRun(Outcome(result="stay-running"), report, (2, ""), polls=1)


def failure_error(job: Job, outcome: Outcome | None = None) -> JobError:
    """The error ``job`` fails with: the outcome's code and message, else Vertex's for the
    kind of job (a primary replica that exited with status 1; a pipeline whose last root
    task failed)."""
    message = outcome.error_message if outcome is not None else None
    code = outcome.error_code if outcome is not None else None
    if isinstance(job, PipelineJob):
        tasks = root_tasks(_spec(job))
        return (code or PIPELINE_FAILED_CODE,
                message or pipeline_failure(tasks[-1:]))
    return code or FAILED_CODE, message or replica_failure_message(job.name)


def _spec(job: PipelineJob) -> dict[str, Any]:
    return json_format.MessageToDict(PipelineJob.pb(job).pipeline_spec)


def _with_details(job: Job, report: Report) -> Report:
    """``report``, adding a simulated PipelineJob's task details to every state it reports."""
    if not isinstance(job, PipelineJob):
        return report
    spec = _spec(job)

    def with_details(state: int | None, error: JobError | None = None, *,
                     detail: Any = None) -> None:
        if state is not None:
            detail = scripted_details(spec, state, error[1] if error else "")
        report(state, error, detail=detail)

    return with_details


def _outcome_labels(job: Job) -> dict[str, Any]:
    labels = job.labels
    found: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    if LABEL_OUTCOME in labels:
        value = labels[LABEL_OUTCOME]
        if value in RESULTS:
            found["result"] = value
        else:
            problems.append((f"labels[{LABEL_OUTCOME}]", f"must be one of {', '.join(RESULTS)}"))
    for label, key, low, high in (
        (LABEL_POLLS, "polls", 1, 1_000_000),
        (LABEL_ERROR_CODE, "error_code", 1, 16),
    ):
        if label in labels:
            value = labels[label]
            if value.isdigit() and low <= int(value) <= high:
                found[key] = int(value)
            else:
                problems.append((f"labels[{label}]", f"must be an integer {low}..{high}"))
    if problems:
        message = "; ".join(f"{f}: {d}" for f, d in problems)
        raise bad_request(f"cjob-emu simulation labels: {message}", problems)
    return found
