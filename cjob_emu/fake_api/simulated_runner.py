"""Simulated mode: jobs that end as scripted, without real work.

A simulated job moves one step each time it is read: the first GET finds it
RUNNING, the GET number ``polls`` finds it in its final state (SUCCEEDED by
default). Outcomes come, strongest first, from the job's labels
(``cjob-emu-outcome: succeed|fail|stay-running``, ``cjob-emu-polls: "N"``,
``cjob-emu-error-code: "N"``), from outcomes scripted through the admin API
(each for the next matching job, or for all of them), and from the server's
default.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from google.cloud.aiplatform_v1 import CustomJob, JobState

from cjob_emu.executor.outcomes import replica_failure_message
from cjob_emu.fake_api.rpc import bad_request
from cjob_emu.fake_api.runner_protocol import JobError, JobRun, Report

Result = Literal["succeed", "fail", "stay-running"]
RESULTS: tuple[Result, ...] = ("succeed", "fail", "stay-running")

LABEL_OUTCOME = "cjob-emu-outcome"
LABEL_POLLS = "cjob-emu-polls"
LABEL_ERROR_CODE = "cjob-emu-error-code"

CANCELLED_ERROR: JobError = (1, "CANCELED")
"""What Vertex puts in ``error`` of a cancelled job."""

FAILED_CODE = 3  # what Vertex reports when the primary replica exits non-zero


@dataclass(frozen=True)
class Outcome:
    """How a simulated job ends and how many reads (GETs) it takes to get there.

    ``polls`` counts GETs of the job: the first finds it RUNNING (``startTime``
    set), GET number ``polls`` finds it ended. ``stay-running`` never ends on
    its own (cancel it or force its state). ``error_message`` defaults to
    Vertex's text for a primary replica that exited with status 1.
    """

    result: Result = "succeed"
    polls: int = 2
    error_code: int = FAILED_CODE
    error_message: str | None = None

    def __post_init__(self) -> None:
        if self.result not in RESULTS:
            raise ValueError(f"result must be one of {', '.join(RESULTS)}, not {self.result!r}")
        if isinstance(self.polls, bool) or not isinstance(self.polls, int) or self.polls < 1:
            raise ValueError(f"polls must be an integer of at least 1, not {self.polls!r}")
        if not isinstance(self.error_code, int) or not 1 <= self.error_code <= 16:
            raise ValueError(f"error_code must be a google.rpc code 1..16, not {self.error_code!r}")

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

    def matches(self, job: CustomJob) -> bool:
        if self.display_name is None:
            return True
        parts = (re.escape(p) for p in self.display_name.split("*"))
        return re.fullmatch(".*".join(parts), job.display_name, re.DOTALL) is not None

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome.to_dict(), "displayName": self.display_name,
                "times": self.times}


class SimulatedRun:
    """A job that moves one step per GET, towards its :class:`Outcome`."""

    def __init__(
        self,
        name: str,
        outcome: Outcome,
        report: Report,
        *,
        polls: int = 0,
        cancelling: bool = False,
    ) -> None:
        self._name = name
        self._outcome = outcome
        self._report = report
        self._polls = polls
        self._cancelling = cancelling

    def on_poll(self) -> None:
        if self._cancelling:
            self._report(JobState.JOB_STATE_CANCELLED, CANCELLED_ERROR)
            return
        self._polls += 1
        if self._polls == 1:
            self._report(JobState.JOB_STATE_RUNNING, None)
        result = self._outcome.result
        if result == "stay-running" or self._polls < self._outcome.polls:
            return
        if result == "succeed":
            self._report(JobState.JOB_STATE_SUCCEEDED, None)
        else:
            message = self._outcome.error_message or replica_failure_message(self._name)
            self._report(JobState.JOB_STATE_FAILED, (self._outcome.error_code, message))

    def cancel(self) -> None:
        # Vertex cancels asynchronously: the job shows CANCELLING until the next read.
        self._cancelling = True

    def snapshot(self) -> dict[str, Any]:
        return {"outcome": self._outcome.to_dict(), "polls": self._polls,
                "cancelling": self._cancelling}


class SimulatedRunner:
    """Runs jobs by script: outcomes from labels, the scripted queue, or the default."""

    def __init__(self, default: Outcome | None = None) -> None:
        self.default = default or Outcome()
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

    def start(self, job: CustomJob, report: Report) -> SimulatedRun:
        from_labels = _outcome_labels(job)
        outcome = self._take_script(job)
        if from_labels:
            outcome = Outcome(**{**outcome.to_dict(), **from_labels})
        return SimulatedRun(job.name, outcome, report)

    def resume(self, job: CustomJob, snapshot: Mapping[str, Any], report: Report) -> JobRun:
        return SimulatedRun(
            job.name,
            Outcome.from_dict(snapshot["outcome"]),
            report,
            polls=int(snapshot.get("polls", 0)),
            cancelling=bool(snapshot.get("cancelling", False)),
        )

    def close(self) -> None:
        """Nothing runs in the background."""

    def _take_script(self, job: CustomJob) -> Outcome:
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


def held_run(name: str, report: Report) -> SimulatedRun:
    """A run that stays where an admin forced the job, and still honours cancel."""
    return SimulatedRun(name, Outcome(result="stay-running"), report, polls=1)


def _outcome_labels(job: CustomJob) -> dict[str, Any]:
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
