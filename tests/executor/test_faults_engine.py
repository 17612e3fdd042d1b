"""The Docker engine restarted or crashed while a job runs, on a private engine.

The shared engine is never restarted (other tests use it): each test here runs
``cjob-emu run`` (or a script) in a subprocess pointed at a dockerd of its own
(tests/private_engine.py) and stops that engine mid-job. The job must end FAILED in
bounded time with a message saying the engine went away, and whatever it left must go:
removed by the run itself once the engine is back, else by ``cjob-emu cleanup``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.executor_jobs import IMAGE, job, python
from support.paths import TESTS
from support.private_engine import PrivateEngine, private_engine_problem

from cjob_emu.executor.backend import LABEL_PID
from cjob_emu.spec import job_to_json

pytestmark = pytest.mark.docker

TRAIN = "import time\nprint('training', flush=True)\ntime.sleep(300)"


@pytest.fixture(scope="module")
def engine(cjob_test_image: str) -> Iterator[PrivateEngine]:
    problem = private_engine_problem()
    if problem is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and no private Docker engine can run: {problem}")
        pytest.skip(problem)
    private = PrivateEngine()
    try:
        private.start()
        private.load_image(cjob_test_image)
        yield private
    finally:
        private.close()


def env_for(engine: PrivateEngine) -> dict[str, str]:
    return {
        **os.environ,
        "DOCKER_HOST": engine.host,
        "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path]),
    }


def left(engine: PrivateEngine, pid: int) -> list[str]:
    """Containers and networks of the process ``pid`` on the private engine."""
    client = engine.client()
    try:
        selector = {"label": [f"{LABEL_PID}={pid}"]}
        containers = client.api.containers(all=True, filters=selector)
        networks = client.api.networks(filters=selector)
        return [c["Names"][0] for c in containers] + [n["Name"] for n in networks]
    finally:
        client.close()


def wait_running(run_dir: Path, runner: subprocess.Popen[str], timeout: float = 60) -> None:
    """Until the run's job.json says RUNNING (every replica started)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if json.loads((run_dir / "job.json").read_text())["state"] == "JOB_STATE_RUNNING":
                return
        except (OSError, ValueError, KeyError):
            pass
        assert runner.poll() is None, runner.communicate()
        assert time.monotonic() < deadline, "the job did not reach RUNNING"
        time.sleep(0.1)


def start_cli_run(engine: PrivateEngine, tmp_path: Path, image: str) -> subprocess.Popen[str]:
    job_file = tmp_path / "job.json"
    job_file.write_text(job_to_json(job("engine-fault", [python(TRAIN), python(TRAIN)])))
    command = [
        sys.executable, "-m", "cjob_emu.cli", "run", str(job_file),
        "--backend", "docker",
        "--gcs-root", str(tmp_path / "gcs"),
        "--run-dir", str(tmp_path / "run"),
        "--image-map", f"{IMAGE}={image}",
        "--stop-grace", "1",
        "--json",
    ]  # fmt: skip
    return subprocess.Popen(
        command, env=env_for(engine), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(runner: subprocess.Popen[str], timeout: float = 90) -> dict[str, Any]:
    out, err = runner.communicate(timeout=timeout)
    assert runner.returncode == 1, (out, err)
    result: dict[str, Any] = json.loads(out)
    assert result["job"]["state"] == "JOB_STATE_FAILED", result
    return result


@pytest.mark.parametrize("how", ["restarted", "crashed"])
def test_an_engine_restart_fails_the_job_saying_so_and_leaves_nothing(
    engine: PrivateEngine, tmp_path: Path, cjob_test_image: str, how: str
) -> None:
    runner = start_cli_run(engine, tmp_path, cjob_test_image)
    try:
        wait_running(tmp_path / "run", runner)
        started = time.monotonic()
        # restarted: as `systemctl restart docker` (the engine stops its containers first);
        # crashed: dockerd killed, its containers orphaned until it starts again.
        engine.restart(signal.SIGTERM if how == "restarted" else signal.SIGKILL)
        result = finished(runner)
        took = time.monotonic() - started
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate()

    error = result["job"]["error"]
    assert error["code"] == 3
    assert re.match(
        r"The replica workerpool[01]-0 exited with a non-zero status of 137\. "
        r"Termination reason: Error \(", error["message"]
    ), error["message"]
    engine_said = {
        "restarted": "the Docker engine stopped it as the engine shut down or restarted",
        "crashed": "the Docker engine restarted while it ran and stopped its container",
    }[how]
    assert engine_said in error["message"]
    assert took < 60
    # The run waited for the engine to come back and removed its containers and network.
    assert left(engine, runner.pid) == [], result["notices"]
    final = json.loads((tmp_path / "run" / "job.json").read_text())
    assert final["state"] == "JOB_STATE_FAILED" and final["error"] == error


_OWNER = """
import json, sys
import cjob_emu.executor.docker_engine as docker_backend
from support.executor_jobs import IMAGE, job, python
from cjob_emu.executor import RunOptions, run_job

docker_backend.ENGINE_RETURN_WAIT = 2  # give up on a gone engine quickly
train = "import time\\nprint('training', flush=True)\\ntime.sleep(300)"
kwargs = dict(backend="docker", gcs_root=sys.argv[1], image_map={IMAGE: sys.argv[3]},
              options=RunOptions(stop_grace=1))
result = run_job(job("engine-gone", [python(train), python(train)]), run_dir=sys.argv[2], **kwargs)
print(json.dumps(result.to_dict()), flush=True)
if sys.argv[4] == "next-run":
    sys.stdin.readline()  # the engine is back
    after = run_job(job("after", [python("print(1)")]), run_dir=sys.argv[2] + "-after", **kwargs)
    cleaned = [n.message for n in after.notices if n.kind == "cleanup"]
    print(json.dumps({"state": after.state.name, "cleanup": cleaned}), flush=True)
"""


@pytest.mark.parametrize("then", ["cleanup", "next-run"])
def test_an_engine_gone_for_good_fails_the_job_and_what_it_left_goes_later(
    engine: PrivateEngine, tmp_path: Path, cjob_test_image: str, then: str
) -> None:
    run_dir = tmp_path / "run"
    command = [sys.executable, "-c", _OWNER, str(tmp_path / "gcs"), str(run_dir),
               cjob_test_image, then]  # fmt: skip
    with open(tmp_path / "stderr", "w") as stderr:
        runner = subprocess.Popen(
            command, env=env_for(engine), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=stderr, text=True,
        )  # fmt: skip
    assert runner.stdin is not None and runner.stdout is not None
    try:
        wait_running(run_dir, runner)
        started = time.monotonic()
        engine.stop(signal.SIGKILL)
        first = runner.stdout.readline()
        took = time.monotonic() - started
        engine.start()
        assert first, (tmp_path / "stderr").read_text()
        result = json.loads(first)
        if then == "next-run":
            leftovers = left(engine, runner.pid)
            runner.stdin.write("\n")
            runner.stdin.flush()
            after = json.loads(runner.stdout.readline())
        runner.stdin.close()
        assert runner.wait(60) == 0, (tmp_path / "stderr").read_text()
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        if not engine.answers():
            engine.start()

    error = result["job"]["error"]
    assert result["job"]["state"] == "JOB_STATE_FAILED"
    assert error["code"] == 14  # UNAVAILABLE
    assert re.match(
        r"cjob-emu lost track of the replica workerpool[01]-0: the Docker engine went away "
        r"while workerpool[01]-0 ran \(.+\) and did not answer again within 2s",
        error["message"],
    ), error["message"]
    assert took < 45
    assert any(
        "could not remove the containers and network of run" in notice
        and "`cjob-emu cleanup` removes them" in notice
        for notice in result["notices"]
    ), result["notices"]
    assert json.loads((run_dir / "job.json").read_text())["state"] == "JOB_STATE_FAILED"

    if then == "next-run":
        # The same process's next run, once the engine is back, removed what the first left.
        assert len(leftovers) == 3, leftovers  # two containers and the network
        assert after["state"] == "JOB_STATE_SUCCEEDED"
        assert len(after["cleanup"]) == 3, after
        assert all("torn down without an engine" in line for line in after["cleanup"]), after
    else:
        # The engine is back; the run's owner is dead: cleanup removes what it left.
        leftovers = left(engine, runner.pid)
        assert len(leftovers) == 3, leftovers
        cleanup = subprocess.run(
            [sys.executable, "-m", "cjob_emu.cli", "cleanup", "--backend", "docker"],
            env=env_for(engine), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert cleanup.returncode == 0, cleanup.stderr
        # cleanup also marks dead runs in the run index (this test's and earlier tests'):
        # the engine's leftovers are the lines naming this run's dead owner
        lines = cleanup.stdout.splitlines()
        removed = [line for line in lines if f"dead process {runner.pid})" in line]
        assert len(removed) == 3, cleanup.stdout
        # the rest are run-index entries of dead runs, marked FAILED
        assert all(line.endswith("marked FAILED") for line in lines if line not in removed)
    assert left(engine, runner.pid) == []
