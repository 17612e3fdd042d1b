"""How a job ends: Vertex's texts for start failures and out-of-memory kills, and which of
several replica ends close together decides the job.

The rule under test (README, "What differs from Vertex"): ends count in the order of the
times the backend gives them (docker: the container's ``State.FinishedAt``; process: the
time its wait returned), not in the order they reach the job; a non-zero exit before
the primary's exit 0 fails the job, one after it does not.
"""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from google.cloud.aiplatform_v1 import JobState
from support.docker_leftovers import remove_and_assert_none
from support.executor_jobs import BUCKET, IMAGE, job, pool, python

from cjob_emu.cluster import Replica
from cjob_emu.executor import JobResult, LogLine, RunOptions, run_job
from cjob_emu.executor.backend import (
    Backend,
    ReplicaHandle,
    ReplicaLaunch,
    RunSpec,
    Termination,
)
from cjob_emu.executor.docker import DockerBackend
from cjob_emu.executor.docker_replica import engine_time
from cjob_emu.executor.outcomes import Outcome, ReplicaEnd, first_decisive, replica_failed
from cjob_emu.executor.process import ProcessBackend, run_processes

SUCCEEDED = JobState.JOB_STATE_SUCCEEDED
FAILED = JobState.JOB_STATE_FAILED
FAST = RunOptions(stop_grace=1)
CHIEF, WORKER0, WORKER1 = Replica(0, 0), Replica(1, 0), Replica(1, 1)


# ----- which end decides: the pure rule


def test_a_failure_timed_after_the_primarys_success_does_not_count() -> None:
    # Arrival order: the worker's failure first; the backend's times say the chief came first.
    ends = [ReplicaEnd(WORKER0, 1, at=100.5), ReplicaEnd(CHIEF, 0, at=100.0)]
    assert first_decisive(ends) == Outcome("succeeded")


def test_a_failure_timed_before_the_primarys_success_fails_the_job() -> None:
    ends = [ReplicaEnd(CHIEF, 0, at=100.5), ReplicaEnd(WORKER1, 1, at=100.3)]
    assert first_decisive(ends) == Outcome("failed", WORKER1, 1)


def test_the_earliest_of_several_failures_is_the_one_reported() -> None:
    ends = [
        ReplicaEnd(WORKER1, 2, at=100.2),
        ReplicaEnd(CHIEF, 0, at=100.9),
        ReplicaEnd(WORKER0, 1, at=100.1),
    ]
    assert first_decisive(ends) == Outcome("failed", WORKER0, 1)


def test_at_the_same_instant_the_primarys_success_comes_first() -> None:
    ends = [ReplicaEnd(WORKER0, 1, at=100.0), ReplicaEnd(CHIEF, 0, at=100.0)]
    assert first_decisive(ends) == Outcome("succeeded")


def test_ends_that_decide_nothing_leave_the_job_running() -> None:
    assert first_decisive([ReplicaEnd(WORKER0, 0, at=100.0)]) is None
    assert first_decisive([]) is None


def test_the_engines_finish_times_are_read_to_the_microsecond() -> None:
    assert engine_time("2026-12-03T12:58:51.777678251Z") == pytest.approx(
        1796302731.777678, abs=1e-6
    )
    assert engine_time("2026-12-03T12:58:51Z") == 1796302731.0
    assert engine_time("0001-01-01T00:00:00Z") is None  # the engine's "never"
    assert engine_time(None) is None


# ----- Vertex's texts


def _error(code: int, ended: Termination) -> str:
    return replica_failed(
        WORKER0,
        code,
        ended=ended,
        restarts=0,
        log_tail=["last line"],
        stderr_tail=[],
        log_path=Path("/runs/r/logs/workerpool1-0.log"),
    ).message


def test_out_of_memory_reads_as_on_vertex() -> None:
    text = _error(137, Termination("OOMKilled", "Its container's memory limit is 512 MiB."))
    assert text == (
        "The replica workerpool1-0 ran out of memory and exited with a non-zero status of 137.\n"
        "Its container's memory limit is 512 MiB.\n"
        "Last lines of its log:\nlast line\n"
        "To find out more about why your job exited please check the logs: "
        "/runs/r/logs/workerpool1-0.log"
    )


def test_a_start_failure_reads_as_on_vertex_with_the_runtimes_reason() -> None:
    reason = 'exec: "trainer": executable file not found in $PATH: unknown'
    text = _error(128, Termination("StartError", reason))
    assert text.startswith(
        "The replica workerpool1-0 exited with a non-zero status of 128. "
        f"Termination reason: StartError. {reason}\n"
    )


def test_an_error_keeps_what_the_backend_adds_in_parentheses() -> None:
    text = _error(137, Termination("Error", "killed by signal 9, SIGKILL"))
    assert text.startswith(
        "The replica workerpool1-0 exited with a non-zero status of 137. "
        "Termination reason: Error (killed by signal 9, SIGKILL).\n"
    )


# ----- the rule inside a run: ends whose news reach the job in the wrong order


class _Ended(ReplicaHandle):
    """A replica that has ended (``code`` at backend time ``at``) but whose end reaches
    the job's watcher only after ``news_after`` seconds; ``poll`` knows it at once."""

    def __init__(self, replica: Replica, code: int, at: float, news_after: float) -> None:
        self.replica = replica
        self._code, self._at, self._news_after = code, at, news_after

    def lines(self) -> Iterator[str]:
        return iter(())

    def wait(self, timeout: float | None = None) -> int | None:
        if timeout is None:
            time.sleep(self._news_after)
        return self._code

    def poll(self) -> int | None:
        return self._code

    def ended_at(self) -> float | None:
        return self._at

    def stop(self, grace: float) -> None:
        return None

    def close(self) -> None:
        return None


class _Scripted(Backend):
    """Replicas that end as ``script`` says: name -> (code, backend time, news delay)."""

    name = "scripted"

    def __init__(self, script: dict[str, tuple[int, float, float]]) -> None:
        self.script = script

    @classmethod
    def available(cls) -> bool:
        return True

    def address(self, run: RunSpec, replica: Replica) -> str:
        return f"127.0.0.1:{2000 + replica.pool * 10 + replica.index}"

    def prepare(self, run: RunSpec) -> list[str]:
        return []

    def start(self, launch: ReplicaLaunch) -> ReplicaHandle:
        return _Ended(launch.replica, *self.script[launch.replica.name])

    def teardown(self, run: RunSpec) -> None:
        return None

    def cleanup_dead(self) -> list[str]:
        return []


def _three(tmp_path: Path, script: dict[str, tuple[int, float, float]]) -> JobResult:
    the_job = job("order", [python("pass"), python("pass", replicas=2)])
    return run_job(
        the_job, backend=_Scripted(script), gcs_root=tmp_path / "gcs", run_dir=tmp_path / "run"
    )


def test_workers_failing_after_the_chiefs_success_leave_the_job_succeeded(
    tmp_path: Path,
) -> None:
    # Their failures reach the job first; the chief's success 0.5 s later, timed earlier.
    result = _three(
        tmp_path,
        {
            "workerpool0-0": (0, 1000.0, 0.5),
            "workerpool1-0": (1, 1000.4, 0.0),
            "workerpool1-1": (1, 1000.5, 0.0),
        },
    )
    assert result.state == SUCCEEDED, result.job.error.message
    assert result.exit_codes == {"workerpool0-0": 0, "workerpool1-0": 1, "workerpool1-1": 1}


def test_workers_failing_before_the_chiefs_success_fail_the_job(tmp_path: Path) -> None:
    # The chief's success reaches the job first; the failures, timed earlier, 0.5 s later.
    result = _three(
        tmp_path,
        {
            "workerpool0-0": (0, 1000.5, 0.0),
            "workerpool1-0": (3, 1000.2, 0.5),
            "workerpool1-1": (1, 1000.1, 0.5),
        },
    )
    assert result.state == FAILED
    assert result.job.error.message.startswith(
        "The replica workerpool1-1 exited with a non-zero status of 1. "
        "Termination reason: Error."
    ), result.job.error.message


# ----- the rule on real backends: exits forced into a known order, news delayed

# Every replica says it is ready, waits for the go file (written once all three said so,
# holding the moment T), then exits with its code at T + its offset (one per index).
_AT_THE_SIGNAL = textwrap.dedent(
    """
    import json, os, sys, time
    go, offsets, code = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
    index = json.loads(os.environ["CLUSTER_SPEC"])["task"]["index"]
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.02)
    with open(go) as signal:
        at = float(signal.read()) + float(offsets[index])
    time.sleep(max(0.0, at - time.time()))
    print("exiting with", code, flush=True)
    sys.exit(code)
    """
)


class _LateNews(ReplicaHandle):
    """A real replica whose end reaches the job's watcher ``delay`` seconds late (a busy
    machine, a slow engine answer); everything else is the backend's own."""

    def __init__(self, inner: ReplicaHandle, delay: float) -> None:
        self.replica = inner.replica
        self._inner, self._delay = inner, delay

    def lines(self) -> Iterator[str]:
        return self._inner.lines()

    def wait(self, timeout: float | None = None) -> int | None:
        code = self._inner.wait(timeout)
        if timeout is None:
            time.sleep(self._delay)
        return code

    def poll(self) -> int | None:
        return self._inner.poll()

    def ended_at(self) -> float | None:
        return self._inner.ended_at()

    def stop(self, grace: float) -> None:
        self._inner.stop(grace)

    def close(self) -> None:
        self._inner.close()

    def termination_reason(self) -> Termination | None:
        return self._inner.termination_reason()

    def stderr_tail(self, lines: int) -> list[str] | None:
        return self._inner.stderr_tail(lines)


def _late(backend: type[Backend], pools: tuple[int, ...], delay: float = 2.0) -> Backend:
    """``backend`` whose replicas of ``pools`` report their ends ``delay`` seconds late."""

    class Late(backend):  # type: ignore[valid-type,misc]
        def start(self, launch: ReplicaLaunch) -> ReplicaHandle:
            handle = super().start(launch)
            return _LateNews(handle, delay) if launch.replica.pool in pools else handle

    return Late()


def _run_in_order(
    backend: Backend, tmp_path: Path, chief: str, workers: str, **kwargs: Any
) -> JobResult:
    """Chief exits 0 at T + ``chief``; workers exit 1 at T + ``workers`` (per index)."""
    go_file = tmp_path / "gcs" / BUCKET / "go"
    go_file.parent.mkdir(parents=True)
    ready: set[str] = set()

    def on_event(event: Any) -> None:
        if isinstance(event, LogLine) and event.line == "ready":
            ready.add(event.replica.name)
            if len(ready) == 3:
                staged = go_file.with_suffix(".tmp")
                staged.write_text(repr(time.time() + 0.5))
                os.replace(staged, go_file)

    go = f"/gcs/{BUCKET}/go"
    command = ["python3", "-c", _AT_THE_SIGNAL, go]
    the_job = job(
        "in-order",
        [pool(command, [chief, "0"]), pool(command, [workers, "1"], replicas=2)],
    )
    result = run_job(
        the_job,
        backend=backend,
        gcs_root=tmp_path / "gcs",
        run_dir=tmp_path / "run",
        options=FAST,
        timeout=120,
        on_event=on_event,
        **kwargs,
    )
    assert go_file.exists()
    return result


@pytest.fixture
def engine() -> Iterator[Any]:
    client = docker.from_env()
    yield client
    remove_and_assert_none(client)
    client.close()


def _backends() -> list[Any]:
    return [
        pytest.param(ProcessBackend, id="process"),
        pytest.param(DockerBackend, id="docker", marks=pytest.mark.docker),
    ]


def _image_map(backend: type[Backend], request: pytest.FixtureRequest) -> dict[str, Any]:
    if backend is DockerBackend:
        request.getfixturevalue("engine")
        return {"image_map": {IMAGE: request.getfixturevalue("cjob_test_image")}}
    return {}


@pytest.mark.parametrize("backend", _backends())
def test_on_a_real_backend_failures_after_the_chiefs_success_do_not_count(
    backend: type[Backend], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # The chief exits 0 at T; the workers exit 1 at T+0.5 s and T+0.7 s. The chief's end
    # reaches the job 2 s late, after the workers' failures.
    result = _run_in_order(
        _late(backend, pools=(0,)), tmp_path, "0", "0.5,0.7", **_image_map(backend, request)
    )
    assert result.state == SUCCEEDED, result.job.error.message
    assert result.exit_codes["workerpool0-0"] == 0
    assert run_processes(result.run_id) == []


@pytest.mark.parametrize("backend", _backends())
def test_on_a_real_backend_a_failure_before_the_chiefs_success_fails_the_job(
    backend: type[Backend], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # workerpool1-0 exits 1 at T, workerpool1-1 at T+0.2 s, the chief 0 at T+0.5 s. The
    # workers' ends reach the job 2 s late, after the chief's success.
    result = _run_in_order(
        _late(backend, pools=(1,)), tmp_path, "0.5", "0,0.2", **_image_map(backend, request)
    )
    assert result.state == FAILED
    assert result.job.error.code == 3
    assert result.job.error.message.startswith(
        "The replica workerpool1-0 exited with a non-zero status of 1. "
        "Termination reason: Error.\nLast lines of its log:\nready\nexiting with 1\n"
    ), result.job.error.message
    assert result.exit_codes["workerpool1-0"] == 1
    assert run_processes(result.run_id) == []


# ----- start failures (docker: the process backend cannot tell them from its own)


@pytest.mark.docker
@pytest.mark.parametrize(
    ("pools", "replica", "missing"),
    [
        ([pool(["no-such-trainer"])], "workerpool0-0", '"no-such-trainer": executable file'),
        (
            [python("import time; time.sleep(300)"), pool(["/opt/trainer/missing.sh"])],
            "workerpool1-0",
            '"/opt/trainer/missing.sh": stat /opt/trainer/missing.sh: no such file or directory',
        ),
    ],
    ids=["command-not-on-path", "no-such-file"],
)
def test_a_replica_that_cannot_start_fails_the_job_with_start_error(
    engine: Any,
    cjob_test_image: str,
    tmp_path: Path,
    pools: list[dict[str, Any]],
    replica: str,
    missing: str,
) -> None:
    result = run_job(
        job("start-error", pools),
        backend="docker",
        gcs_root=tmp_path / "gcs",
        run_dir=tmp_path / "run",
        image_map={IMAGE: cjob_test_image},
        options=FAST,
        timeout=60,
    )
    assert result.state == FAILED
    assert result.job.error.code == 3
    message = result.job.error.message
    assert message.startswith(
        f"The replica {replica} exited with a non-zero status of 128. "
        "Termination reason: StartError. "
    ), message
    assert f"exec: {missing}" in message.splitlines()[0]  # the runtime's reason, as on Vertex
    assert result.exit_codes[replica] == 128
    assert not result.replicas[replica].stopped
