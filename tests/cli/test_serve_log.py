"""``cjob-emu serve`` logs each request and each job state change on stderr, one line
each; ``--quiet`` silences them. A real server subprocess, real HTTP."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import requests

PARENT = "projects/proj/locations/us-central1"
JOB = {
    "displayName": "logged",
    "jobSpec": {
        "workerPoolSpecs": [
            {
                "machineSpec": {"machineType": "n1-standard-4"},
                "replicaCount": "1",
                "containerSpec": {"imageUri": "gcr.io/p/trainer:1"},
            }
        ]
    },
}


def serve_and_poll(tmp_path: Path, *flags: str) -> tuple[str, str]:
    """Start ``cjob-emu serve``, create a (simulated) job and read it until it ends; stop
    the server; its stdout and stderr."""
    server = subprocess.Popen(
        # no provisioning time: the first read after create finds the job RUNNING
        [sys.executable, "-m", "cjob_emu.cli", "serve", "--gcs-root", str(tmp_path),
         "--provisioning", "0", *flags],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().rsplit(" ", 1)[1].strip()
        created = requests.post(f"{url}/v1/{PARENT}/customJobs", json=JOB, timeout=30)
        assert created.status_code == 200, created.text
        name = created.json()["name"]
        for _ in range(2):  # a simulated job runs on the first read, ends on the second
            assert requests.get(f"{url}/v1/{name}", timeout=30).status_code == 200
        assert requests.get(f"{url}/v1/{PARENT}/customJobs/404", timeout=30).status_code == 404
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0, err
    return out, err


def test_serve_logs_requests_and_state_changes_one_line_each(tmp_path: Path) -> None:
    _, err = serve_and_poll(tmp_path)

    lines = err.splitlines()
    stamp = r"\d\d:\d\d:\d\d "
    requests_seen = [line for line in lines if re.match(stamp + r"(GET|POST) ", line)]
    assert [line.split()[1:4] for line in requests_seen] == [
        ["POST", f"/v1/{PARENT}/customJobs", "200"],
        ["GET", requests_seen[1].split()[2], "200"],
        ["GET", requests_seen[1].split()[2], "200"],
        ["GET", f"/v1/{PARENT}/customJobs/404", "404"],
    ]
    assert all(re.fullmatch(stamp + r"\S+ \S+ \d{3} \d+ms", line) for line in requests_seen)
    name = requests_seen[1].split()[2].removeprefix("/v1/")
    states = [line.split(": ")[-1] for line in lines if f"job {name} ('logged'): " in line]
    assert states == ["JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"]
    assert len(lines) == len(requests_seen) + len(states)


def test_serve_quiet_logs_nothing(tmp_path: Path) -> None:
    out, err = serve_and_poll(tmp_path, "--quiet")
    assert err == ""
    assert out.endswith("cjob-emu fake Vertex API stopped\n")
