"""Replicas killed from outside: SIGKILL (docker and process backends) and out of memory.

Each ends the job FAILED with Vertex's replica error naming the replica and saying
what killed it, and leaves nothing behind.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from google.cloud.aiplatform_v1 import JobState
from support.docker_leftovers import remove_and_assert_none
from support.executor_jobs import IMAGE, job, python

from cjob_emu.executor import JobResult, LogLine, RunOptions, run_job
from cjob_emu.executor.backend import LABEL_PID, LABEL_REPLICA
from cjob_emu.executor.process import run_processes

FAILED = JobState.JOB_STATE_FAILED
FAST = RunOptions(stop_grace=1)
SLEEP = "import time; time.sleep(300)"
# Says its pid (the process backend's kill needs it), then waits to be killed.
VICTIM = "import os, time\nprint('victim', os.getpid(), flush=True)\ntime.sleep(300)"


def run_killed(kill: Callable[[LogLine], None], tmp_path: Path, **backend: Any) -> JobResult:
    """Run a job whose workerpool1-0 ``kill`` kills with SIGKILL once it said its pid.

    The job must end FAILED with Vertex's error naming the replica and the signal.
    """
    fired = threading.Event()

    def on_event(event: Any) -> None:
        if isinstance(event, LogLine) and event.line.startswith("victim ") and not fired.is_set():
            fired.set()
            # Not from the executor's thread: the kill must not hold up its event delivery.
            threading.Thread(target=kill, args=(event,), daemon=True).start()

    result = run_job(
        job("sigkill", [python(SLEEP), python(VICTIM)]),
        gcs_root=tmp_path / "gcs",
        run_dir=tmp_path / "run",
        options=FAST,
        timeout=60,
        on_event=on_event,
        **backend,
    )
    assert fired.is_set()
    assert result.state == FAILED
    assert result.job.error.code == 3
    assert result.job.error.message.startswith(
        "The replica workerpool1-0 exited with a non-zero status of 137. "
        "Termination reason: Error (killed by signal 9, SIGKILL)."
    ), result.job.error.message
    assert result.exit_codes["workerpool1-0"] == 137
    assert not result.replicas["workerpool1-0"].stopped
    return result


def test_process_replica_killed_with_sigkill_fails_the_job_naming_it(tmp_path: Path) -> None:
    def kill(event: LogLine) -> None:
        os.kill(int(event.line.split()[1]), signal.SIGKILL)

    result = run_killed(kill, tmp_path, backend="process")
    assert run_processes(result.run_id) == []


@pytest.fixture
def engine() -> Iterator[Any]:
    client = docker.from_env()
    yield client
    client.close()


@pytest.mark.docker
def test_docker_replica_killed_with_sigkill_fails_the_job_naming_it(
    engine: Any, tmp_path: Path, cjob_test_image: str
) -> None:
    def kill(event: LogLine) -> None:
        (victim,) = engine.api.containers(
            filters={"label": [f"{LABEL_PID}={os.getpid()}", f"{LABEL_REPLICA}={event.replica}"]}
        )
        engine.api.kill(victim["Id"], signal="SIGKILL")

    result = run_killed(kill, tmp_path, backend="docker", image_map={IMAGE: cjob_test_image})
    assert result.replicas["workerpool0-0"].stopped
    remove_and_assert_none(engine)


@pytest.mark.docker
def test_docker_replica_out_of_memory_fails_the_job_saying_so(
    engine: Any, tmp_path: Path, cjob_test_image: str
) -> None:
    # n1-highcpu-2 has 1.8 GB: with resource limits that is the container's memory limit.
    hog = (
        "chunks = []\n"
        "for i in range(64):\n"
        "    chunks.append(b'x' * 2**26)\n"
        "    print('holding', (i + 1) * 64, 'MiB', flush=True)\n"
        "print('never got here')\n"
    )
    the_job = job(
        "oom",
        [python(SLEEP, machine="n1-highcpu-2"), python(hog, machine="n1-highcpu-2")],
    )
    result = run_job(
        the_job,
        backend="docker",
        gcs_root=tmp_path / "gcs",
        run_dir=tmp_path / "run",
        image_map={IMAGE: cjob_test_image},
        options=RunOptions(stop_grace=1, resource_limits=True),
        timeout=90,
    )

    assert result.state == FAILED
    assert result.job.error.code == 3
    message = result.job.error.message
    # Vertex's sentence (as users quote it in issue threads), then the limit it ran into.
    assert message.startswith(
        "The replica workerpool1-0 ran out of memory and exited with a non-zero status of "
        "137.\nIts container's memory limit is 1843 MiB.\n"
    ), message
    assert "holding 1024 MiB" in message  # the last lines of its log come with it
    assert "never got here" not in result.replicas["workerpool1-0"].log_path.read_text()
    remove_and_assert_none(engine)
