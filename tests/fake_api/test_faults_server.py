"""The fake API server (executor mode, ``--state-dir``) killed or stopped while a job runs.

``cjob-emu serve`` runs in a subprocess with the process backend. Killed (SIGKILL), it
can do nothing: the restarted server still has the job, now FAILED with a message
saying the server restarted while it ran, and ``cjob-emu cleanup`` removes the
replicas the dead server left. Stopped (SIGTERM), it cancels the run first: the job
is CANCELLED on disk and nothing is left. Either way no job record is lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from support.executor_jobs import job, python

from cjob_emu.executor.process import run_processes, state_dir
from cjob_emu.spec import job_to_rest

PARENT = "projects/cjob-emu-tests/locations/us-central1"
TRAIN = "import time\nprint('training', flush=True)\ntime.sleep(300)"


class Server:
    """``cjob-emu serve --mode executor`` in a subprocess."""

    def __init__(self, tmp_path: Path) -> None:
        command = [
            sys.executable, "-m", "cjob_emu.cli", "serve",
            "--mode", "executor",
            "--state-dir", str(tmp_path / "state"),
            "--backend", "process",
            "--gcs-root", str(tmp_path / "gcs"),
            "--work-dir", str(tmp_path / "work"),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        assert "listening on " in first, (first, self.process.stderr and self.process.stderr.read())
        self.url = first.split("listening on ", 1)[1].strip()

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = requests.request(method, f"{self.url}/v1/{path}", json=body, timeout=30)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_state(self, name: str, state: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (current := self.call("GET", name))["state"] != state:
            assert time.monotonic() < deadline, current
            time.sleep(0.1)
        return current

    def end(self, sig: int) -> int:
        self.process.send_signal(sig)
        self.process.communicate(timeout=150)
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Process runs recorded in a directory of this test's own (see test_faults_runner)."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    yield
    for record in state_dir().glob("*.json"):
        for pid in run_processes(record.stem):
            os.kill(pid, signal.SIGKILL)


def replica_processes() -> dict[str, list[int]]:
    return {record.stem: run_processes(record.stem) for record in state_dir().glob("*.json")}


@pytest.mark.parametrize("how", ["killed", "stopped"])
@pytest.mark.usefixtures("isolated")
def test_a_server_restart_keeps_the_job_in_a_defined_state(tmp_path: Path, how: str) -> None:
    first = Server(tmp_path)
    try:
        body = job_to_rest(job("server-restart", [python(TRAIN), python(TRAIN)]))
        name = first.call("POST", f"{PARENT}/customJobs", body)["name"]
        first.wait_state(name, "JOB_STATE_RUNNING")
        (run_id,) = replica_processes()
        assert len(replica_processes()[run_id]) == 2
        code = first.end(signal.SIGKILL if how == "killed" else signal.SIGTERM)
    finally:
        first.kill()

    if how == "stopped":
        assert code == 0
        assert replica_processes() == {}  # the run was cancelled and torn down
    else:
        left = replica_processes()[run_id]
        assert len(left) == 2  # nothing could stop them

    second = Server(tmp_path)
    try:
        again = second.call("GET", name)
        listed = second.call("GET", f"{PARENT}/customJobs")["customJobs"]
        if how == "killed":
            assert again["state"] == "JOB_STATE_FAILED"
            assert again["error"]["code"] == 13
            assert again["error"]["message"].startswith(
                "cjob-emu restarted while this job ran in executor mode; the run was lost."
            )
            assert "cjob-emu cleanup" in again["error"]["message"]
        else:
            assert again["state"] == "JOB_STATE_CANCELLED"
            assert again["error"]["code"] == 1
        assert "endTime" in again and "startTime" in again
        assert [j["name"] for j in listed] == [name]
    finally:
        assert second.end(signal.SIGTERM) == 0

    if how == "killed":
        cleanup = subprocess.run(
            [sys.executable, "-m", "cjob_emu.cli", "cleanup", "--backend", "process"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert cleanup.returncode == 0, cleanup.stderr
        # other dead runs in the same run index may be marked too: this run's lines only
        mine = [line for line in cleanup.stdout.splitlines() if run_id in line]
        line, marked, indexed = mine
        assert line.startswith(f"process run {run_id}: killed 2 process(es) ("), line
        # The run directory's job.json, left RUNNING by the killed server, is marked too.
        assert marked.startswith("job ") and f"(run {run_id}, " in marked, marked
        assert marked.endswith(": marked FAILED"), marked
        # and so is its entry in the run index (cjob-emu runs)
        assert indexed.startswith(f"run {run_id} (job server-restart): its process"), indexed
        assert indexed.endswith("died before it ended: marked FAILED"), indexed
        killed = line.rsplit("(", 1)[1].rstrip(")").split(", ")
        assert sorted(map(int, killed)) == sorted(left)
    assert replica_processes() == {}
