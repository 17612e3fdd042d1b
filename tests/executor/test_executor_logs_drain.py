"""A failing replica's last lines: in its log file and in the job's error, every time.

The replica prints 2,000 numbered lines, then dies of a traceback at once. Its output
is read to the end before its container is removed and before the job's end is
reported, also when whoever watches the run takes its time over every line (the
executor used to give the reader 2 s, then removed the container and closed the
file). On docker, stdout and stderr are copied apart by the engine, so the traceback
often lands among the last stdout lines in the log; the error names it anyway.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from google.cloud.aiplatform_v1 import JobState
from support.executor_jobs import IMAGE, job, python

from cjob_emu.executor import Event, JobResult, LogLine, RunOptions, StateChanged, run_job
from cjob_emu.executor.backend import LABEL_HOST, LABEL_PID

LINES = 2000
FAILING = f"""
for i in range({LINES}):
    print("line", i)

def train():
    raise ValueError("the loss is nan")

train()
"""
TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "<string>", line 8, in <module>',
    '  File "<string>", line 6, in train',
    "ValueError: the loss is nan",
]
NUMBERED = [f"line {i}" for i in range(LINES)]
BACKENDS = [pytest.param("docker", marks=pytest.mark.docker), "process"]
RUNS = {"docker": 5, "process": 20}


@pytest.fixture
def nothing_left(backend: str) -> Iterator[None]:
    """After a docker test: no container or network of this process on the engine."""
    yield
    if backend != "docker":
        return
    client = docker.from_env()
    try:
        selector = {"label": [f"{LABEL_HOST}={socket.gethostname()}", f"{LABEL_PID}={os.getpid()}"]}
        containers = client.api.containers(all=True, filters=selector)
        networks = client.api.networks(filters=selector)
        for container in containers:
            client.api.remove_container(container["Id"], force=True)
        for network in networks:
            client.api.remove_network(network["Id"])
    finally:
        client.close()
    assert [c["Names"] for c in containers] == []
    assert [n["Name"] for n in networks] == []


def run_failing(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, **kwargs: Any
) -> JobResult:
    if backend == "docker":
        kwargs["image_map"] = {IMAGE: request.getfixturevalue("cjob_test_image")}
    run_dir = tmp_path / f"run-{len(list(tmp_path.glob('run-*')))}"
    return run_job(
        job("drain", [python(FAILING)]),
        backend=backend,
        gcs_root=tmp_path / "gcs",
        run_dir=run_dir,
        options=RunOptions(stop_grace=1),
        timeout=60,
        **kwargs,
    )


def check_complete(result: JobResult, backend: str) -> None:
    """Every line in the log file, and the traceback in the job's error."""
    assert result.state == JobState.JOB_STATE_FAILED
    logged = result.log_paths()["workerpool0-0"].read_text().splitlines()
    # The two streams keep their own order; every line is there exactly once.
    assert [line for line in logged if line.startswith("line ")] == NUMBERED
    assert [line for line in logged if not line.startswith("line ")] == TRACEBACK
    if backend == "process":
        assert logged[-len(TRACEBACK) :] == TRACEBACK  # one pipe: the order as written
    message = result.job.error.message
    assert message.startswith(
        "The replica workerpool0-0 exited with a non-zero status of 1. Termination reason: Error."
    )
    assert "\n".join(TRACEBACK) in message, message
    assert message.endswith(str(result.log_paths()["workerpool0-0"]))


@pytest.mark.usefixtures("nothing_left")
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failing_replica_leaves_every_line_and_its_traceback(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    for _ in range(RUNS[backend]):
        check_complete(run_failing(tmp_path, backend, request), backend)


@pytest.mark.usefixtures("nothing_left")
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_slow_watcher_gets_every_line_before_the_end(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """A watcher that takes 1.5 ms a line (a slow terminal) needs 3 s for the output."""
    seen: list[str] = []
    logged_at_end: list[int] = []

    def watch(event: Event) -> None:
        if isinstance(event, LogLine):
            seen.append(event.line)
            time.sleep(0.0015)
        elif isinstance(event, StateChanged) and event.state == JobState.JOB_STATE_FAILED:
            # When the end is reported, the log file holds everything already.
            log = event.job.error.message.rpartition(": ")[2]
            logged_at_end.append(len(Path(log).read_text().splitlines()))

    result = run_failing(tmp_path, backend, request, on_event=watch)
    check_complete(result, backend)
    assert sorted(seen) == sorted(NUMBERED + TRACEBACK)
    assert logged_at_end == [LINES + len(TRACEBACK)]
