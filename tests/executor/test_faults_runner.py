"""The process running a job killed with SIGKILL while its replicas run.

Nothing can clean up at that moment: the replicas (containers and network, or host
processes in sessions of their own) outlive it. What it left is removed by
``cjob-emu cleanup`` (exit 0, one line per thing removed) or by the next run's
automatic dead-owner cleanup. The run directory's job.json shows the last state the
run reached (RUNNING, no endTime: it is written at every state change) until that
cleanup marks it FAILED, code 13, saying the process running it died.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import docker
import pytest
from google.cloud.aiplatform_v1 import JobState
from support.executor_jobs import IMAGE, job, python

from cjob_emu.executor import RunOptions, run_job
from cjob_emu.executor.backend import LABEL_PID, LABEL_RUN, LABEL_RUN_DIR, owner_labels
from cjob_emu.executor.docker_resources import remove_run
from cjob_emu.executor.process import run_processes, state_dir
from cjob_emu.executor.run_records import fail_dead_run
from cjob_emu.spec import job_to_json, job_to_rest

TRAIN = "import time\nprint('training', flush=True)\ntime.sleep(300)"
BACKENDS = [
    pytest.param("docker", marks=pytest.mark.docker),
    "process",
]


def start_runner(
    tmp_path: Path, backend: str, image: str | None, env: dict[str, str]
) -> subprocess.Popen[str]:
    job_file = tmp_path / "job.json"
    job_file.write_text(job_to_json(job("runner-killed", [python(TRAIN), python(TRAIN)])))
    command = [
        sys.executable, "-m", "cjob_emu.cli", "run", str(job_file),
        "--backend", backend,
        "--gcs-root", str(tmp_path / "gcs"),
        "--run-dir", str(tmp_path / "run"),
        "--stop-grace", "1",
    ]  # fmt: skip
    if image is not None:
        command += ["--image-map", f"{IMAGE}={image}"]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def job_document(run_dir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((run_dir / "job.json").read_text()))
    except (OSError, ValueError):
        return {}


def run_id_of(backend: str, pid: int) -> str:
    """The run id of the run owned by ``pid`` (its labels / its record)."""
    if backend == "process":
        (record,) = state_dir().glob("*.json")  # this test's own state directory
        return record.stem
    client = docker.from_env()
    try:
        (network,) = client.api.networks(filters={"label": [f"{LABEL_PID}={pid}"]})
        return str(network["Labels"][LABEL_RUN])
    finally:
        client.close()


def leftovers(backend: str, pid: int, run_id: str) -> list[str]:
    """What the dead runner ``pid`` left: containers and networks, or processes."""
    if backend == "process":
        found = [f"process {p}" for p in run_processes(run_id)]
        if (state_dir() / f"{run_id}.json").exists():
            found.append("run record")
        return found
    client = docker.from_env()
    try:
        selector = {"label": [f"{LABEL_PID}={pid}"]}
        return [c["Names"][0] for c in client.api.containers(all=True, filters=selector)] + [
            n["Name"] for n in client.api.networks(filters=selector)
        ]
    finally:
        client.close()


def destroyed_since(since: int, run_id: str) -> set[str]:
    """Names of the containers and networks of ``run_id`` destroyed since ``since``."""
    client = docker.from_env()
    try:
        events = client.events(
            since=since,
            until=int(time.time()) + 1,
            decode=True,
            filters={"label": f"{LABEL_RUN}={run_id}"},
        )
        return {
            "/" + e["Actor"]["Attributes"]["name"] if e["Type"] == "container"
            else e["Actor"]["Attributes"]["name"]
            for e in events
            if (e["Type"], e["Action"]) in {("container", "destroy"), ("network", "destroy")}
        }  # fmt: skip
    finally:
        client.close()


def remove_everything_of(backend: str, run_id: str) -> None:
    """Whatever a failed test left of the run (nothing when it passed)."""
    if backend == "process":
        for pid in run_processes(run_id):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return
    client = docker.from_env()
    try:
        remove_run(client, run_id)
    finally:
        client.close()


@pytest.mark.parametrize("then", ["cleanup", "next-run"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_killed_runner_leaves_a_record_and_leftovers_that_cleanup_removes(
    tmp_path: Path,
    backend: str,
    then: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = request.getfixturevalue("cjob_test_image") if backend == "docker" else None
    # Process runs are recorded under $XDG_RUNTIME_DIR: a directory of this test's own
    # keeps other test processes' dead-owner cleanups (they run at every start) off it.
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    runner = start_runner(tmp_path, backend, image, dict(os.environ))
    run_dir = tmp_path / "run"
    try:
        deadline = time.monotonic() + 60
        while job_document(run_dir).get("state") != "JOB_STATE_RUNNING":
            assert runner.poll() is None, runner.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        run_id = run_id_of(backend, runner.pid)
        time.sleep(0.5)  # the replicas are running their code
        killed_at = int(time.time()) - 1
        runner.send_signal(signal.SIGKILL)
        runner.communicate(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate()

    try:
        # What the user sees: the last state reached, never an end (on a shared engine,
        # another test process's run may have cleaned up after the dead runner already).
        record = job_document(run_dir)
        if backend == "process" or record["state"] != "JOB_STATE_FAILED":
            assert record["state"] == "JOB_STATE_RUNNING"
            assert "startTime" in record and "endTime" not in record
        left = set(leftovers(backend, runner.pid, run_id))
        # Two replicas, and the network (docker) or the run's record (process); on a shared
        # engine another test process's run may have removed some already, as a next run does.
        if backend == "docker":
            left |= destroyed_since(killed_at, run_id)
        assert len(left) == 3, left

        if then == "cleanup":
            cleanup = subprocess.run(
                [sys.executable, "-m", "cjob_emu.cli", "cleanup", "--backend", backend],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert cleanup.returncode == 0, cleanup.stderr
            lines = cleanup.stdout.splitlines()
        else:
            kwargs: dict[str, Any] = {"image_map": {IMAGE: image}} if image else {}
            result = run_job(
                job("next", [python("print('next')")]),
                backend=backend,
                gcs_root=tmp_path / "gcs",
                run_dir=tmp_path / "next",
                options=RunOptions(stop_grace=1),
                timeout=60,
                **kwargs,
            )
            assert result.state == JobState.JOB_STATE_SUCCEEDED, result.job.error.message
            lines = [
                n.message.removeprefix("cleaned up after a dead run: ")
                for n in result.notices
                if n.kind == "cleanup"
            ]
        assert leftovers(backend, runner.pid, run_id) == []
        # The job the dead process never ended: FAILED by the cleanup, with when and why.
        record = job_document(run_dir)
        assert record["state"] == "JOB_STATE_FAILED", record
        assert record["endTime"] >= record["startTime"]
        assert record["error"] == {
            "code": 13,
            "message": f"the cjob-emu process running this job (pid {runner.pid} on host "
            f"{socket.gethostname()}) died; its replicas were removed by cleanup",
        }
        # Other test processes clean up dead runs too and may have removed some (and marked
        # the job) first; what this one reports of the dead run names it and its dead owner.
        mine = [line for line in lines if run_id in line]
        # the run index's entry is marked as well (cjob-emu runs shows it FAILED)
        indexed = [line for line in mine if line.startswith(f"run {run_id} ")]
        assert all(
            f"(pid {runner.pid} on " in line and line.endswith("marked FAILED") for line in indexed
        ), lines
        mine = [line for line in mine if line not in indexed]
        job_file = (run_dir / "job.json").resolve()
        marked = f"job {job_file} (run {run_id}, dead process {runner.pid}): marked FAILED"
        if backend == "docker":
            assert all(f"dead process {runner.pid})" in line for line in mine), lines
            assert [line for line in mine if "job.json" in line] in ([], [marked]), lines
        else:
            # The run's record is in this test's own state directory: only this one saw it.
            assert len(mine) == 2 and "killed 2 process(es)" in mine[0], lines
            assert mine[1] == marked, lines
    finally:
        remove_everything_of(backend, run_id)


def test_cleanup_marks_only_a_job_that_had_not_ended(tmp_path: Path) -> None:
    """A run that ended before its owner died keeps its end; no record, nothing marked."""
    ended = tmp_path / "ended"
    ended.mkdir()
    running = tmp_path / "running"
    running.mkdir()
    document = job_to_rest(job("ended", [python("print()")]))
    (ended / "job.json").write_text(
        json.dumps({**document, "state": "JOB_STATE_SUCCEEDED", "endTime": "2026-01-02T03:04:05Z"})
    )
    (running / "job.json").write_text(json.dumps({**document, "state": "JOB_STATE_PENDING"}))
    before = (ended / "job.json").read_text()
    dead = {**owner_labels("dead-run"), LABEL_PID: "999999999"}

    assert fail_dead_run({**dead, LABEL_RUN_DIR: str(ended)}) is None
    assert (ended / "job.json").read_text() == before
    assert fail_dead_run(dead) is None  # a run recorded without its directory
    assert fail_dead_run({**dead, LABEL_RUN_DIR: str(tmp_path / "gone")}) is None
    line = fail_dead_run({**dead, LABEL_RUN_DIR: str(running)})
    where = running / "job.json"
    assert line == f"job {where} (run dead-run, dead process 999999999): marked FAILED"
    record = job_document(running)
    assert record["state"] == "JOB_STATE_FAILED" and "endTime" in record
    assert record["error"]["code"] == 13
    assert list(running.iterdir()) == [running / "job.json"]  # no temporary file left
