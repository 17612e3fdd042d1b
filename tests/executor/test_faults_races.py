"""Timeouts and cancels racing replica exits: always one terminal state, reported once.

A replica exits right around the job's timeout, or a cancel arrives right as the
replicas exit; the jitter moves the exit across the deadline or the cancel so both
orders happen. Whatever wins, the run ends in exactly one terminal state, its terminal
StateChanged event comes once and last, no replica's exit is reported twice, and a
cancel() that returned True ends the job CANCELLED (one that returned False does not).
Many repetitions on the process backend, a few on docker.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import docker
import pytest
from google.cloud.aiplatform_v1 import JobState
from support.executor_jobs import IMAGE, job, python

from cjob_emu.executor import (
    ReplicaExited,
    RunningJob,
    RunOptions,
    StateChanged,
    submit,
)
from cjob_emu.executor.backend import LABEL_RUN
from cjob_emu.executor.process import run_processes

TERMINAL = {
    JobState.JOB_STATE_SUCCEEDED,
    JobState.JOB_STATE_FAILED,
    JobState.JOB_STATE_CANCELLED,
}
FAST = RunOptions(stop_grace=0.5)
BATCH = 5  # jobs at once: concurrency adds its own jitter


def sleeper(seconds: float, code: int = 0) -> str:
    return f"import sys, time\ntime.sleep({seconds})\nsys.exit({code})"


class Watched:
    """A submitted job and every event it reported."""

    def __init__(self, the_job: Any, **kwargs: Any) -> None:
        self.events: list[Any] = []
        self.cancelled: bool | None = None
        self.running: RunningJob = submit(the_job, on_event=self.events.append, **kwargs)

    def check(self) -> JobState:
        """Assert the invariants; the final state."""
        result = self.running.wait(120)
        states = [e.state for e in self.events if isinstance(e, StateChanged)]
        terminal = [s for s in states if s in TERMINAL]
        assert terminal == [result.state], states
        assert states[-1] == result.state, states
        exits = Counter((e.replica, e.attempt) for e in self.events if isinstance(e, ReplicaExited))
        assert all(n == 1 for n in exits.values()), exits
        if JobState.JOB_STATE_CANCELLING in states:
            assert result.state == JobState.JOB_STATE_CANCELLED, states
        if self.cancelled is True:
            assert result.state == JobState.JOB_STATE_CANCELLED, states
        if self.cancelled is False:
            assert result.state != JobState.JOB_STATE_CANCELLED, states
        assert self.running.cancel() is False  # too late now, and nothing changes
        assert self.running.state == result.state
        if result.run_dir.joinpath("job.json").exists():
            assert result.run_dir.joinpath("job.json").read_text().count(result.state.name) == 1
        return result.state


def process_kwargs(tmp_path: Path, name: str) -> dict[str, Any]:
    return {
        "backend": "process",
        "gcs_root": tmp_path / "gcs",
        "run_dir": tmp_path / name,
        "options": FAST,
    }


def test_exits_around_the_timeout_end_in_one_state_reported_once(tmp_path: Path) -> None:
    seen: Counter[str] = Counter()
    for batch in range(4):
        watched = []
        for i in range(BATCH):
            # The deadline counts from RUNNING (every replica started), the sleep from the
            # interpreter's start: exits from well before it to after it, the worker
            # failing just as late.
            delay = (0.0, 0.1, 0.2, 0.25, 0.3)[i] + 0.02 * batch
            the_job = job("race-timeout", [python(sleeper(delay)), python(sleeper(delay, 3))])
            watched.append(
                Watched(the_job, timeout=0.3, **process_kwargs(tmp_path, f"t{batch}-{i}"))
            )
        for w in watched:
            state = w.check()
            seen[state.name] += 1
            if state == JobState.JOB_STATE_FAILED:
                code = w.running.job.error.code
                assert code in (3, 4), w.running.job.error
                seen[f"FAILED code {code}"] += 1
            assert run_processes(w.running.run.run_id) == []
    # Both sides of the race happened: the timeout, and an exit before it.
    assert seen["FAILED code 4"] > 0, seen
    assert seen["JOB_STATE_SUCCEEDED"] + seen["FAILED code 3"] > 0, seen
    print(dict(seen))


def cancel_after_running(watched: Watched, delay: float) -> threading.Thread:
    """Cancel ``delay`` seconds after the job reached RUNNING (every replica started)."""

    def go() -> None:
        deadline = time.monotonic() + 60
        while watched.running.state != JobState.JOB_STATE_RUNNING and not watched.running.done:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(delay)
        watched.cancelled = watched.running.cancel()

    thread = threading.Thread(target=go)
    thread.start()
    return thread


def test_cancels_racing_exits_end_in_one_state_reported_once(tmp_path: Path) -> None:
    outcomes: Counter[tuple[bool | None, str]] = Counter()
    for batch in range(4):
        pairs = []
        for i in range(BATCH):
            exit_code = (0, 0, 3)[i % 3]  # the chief succeeds, or a worker fails
            chief = sleeper(0.2, 0) if exit_code == 0 else sleeper(30)
            worker = sleeper(0.2, exit_code) if exit_code else sleeper(0.1)
            the_job = job("race-cancel", [python(chief), python(worker)])
            w = Watched(the_job, timeout=60, **process_kwargs(tmp_path, f"c{batch}-{i}"))
            # The exit comes ~0.2 s after RUNNING plus the interpreter's start: cancels
            # from before it to after it.
            pairs.append((w, cancel_after_running(w, 0.1 + 0.15 * ((batch + i) % 5))))
        for w, thread in pairs:
            thread.join()
            outcomes[(w.cancelled, w.check().name)] += 1
            assert run_processes(w.running.run.run_id) == []
    print(dict(outcomes))
    assert set(outcomes) <= {
        (True, "JOB_STATE_CANCELLED"),
        (False, "JOB_STATE_SUCCEEDED"),
        (False, "JOB_STATE_FAILED"),
    }, outcomes


@pytest.mark.docker
def test_cancels_and_timeouts_racing_exits_on_docker(tmp_path: Path, cjob_test_image: str) -> None:
    kwargs: dict[str, Any] = {
        "backend": "docker",
        "gcs_root": tmp_path / "gcs",
        "image_map": {IMAGE: cjob_test_image},
        "options": RunOptions(stop_grace=1),
    }
    watched = []
    for i in range(3):
        the_job = job("race-docker", [python(sleeper(1.0)), python(sleeper(30))])
        w = Watched(the_job, timeout=60, run_dir=tmp_path / f"c{i}", **kwargs)
        # The chief exits ~1.1-1.5 s after RUNNING (its interpreter starts first), then the
        # worker is stopped (1 s grace) and removed: cancels before, during and after.
        watched.append((w, cancel_after_running(w, (0.8, 1.6, 4.0)[i])))
        timed = job("race-docker-timeout", [python(sleeper((0.5, 0.9, 1.3)[i]))])
        watched.append((Watched(timed, timeout=1.0, run_dir=tmp_path / f"t{i}", **kwargs), None))
    outcomes: Counter[tuple[bool | None, str]] = Counter()
    for w, thread in watched:
        if thread is not None:
            thread.join()
        outcomes[(w.cancelled, w.check().name)] += 1
    print(dict(outcomes))
    engine = docker.from_env()
    try:
        for w, _ in watched:
            selector = {"label": [f"{LABEL_RUN}={w.running.run.run_id}"]}
            assert engine.api.containers(all=True, filters=selector) == []
            assert engine.api.networks(filters=selector) == []
    finally:
        engine.close()
