"""``cjob-emu run`` and ``cjob-emu cleanup`` as a user runs them: a real subprocess each."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.executor_jobs import job, pool, python

from cjob_emu.spec import job_to_rest

TIMEOUT = 120


def write_job(path: Path, the_job: Any) -> Path:
    path.write_text(yaml.safe_dump(job_to_rest(the_job)))
    return path


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cjob_emu.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, **(env or {})},
    )


def processes_with(token: str) -> list[int]:
    """Pids of live processes whose environment holds ``token``."""
    needle = token.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if needle in environ.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def test_run_succeeds_with_exit_0_prefixed_logs_and_a_summary(tmp_path: Path) -> None:
    path = write_job(
        tmp_path / "job.yaml", job("hello", [python("print('hello from chief')"), python("pass")])
    )
    result = cli("run", str(path), "--backend", "process", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "workerpool0-0 | hello from chief" in result.stdout
    assert "job 'hello' JOB_STATE_SUCCEEDED" in result.stdout
    assert "\033[" not in result.stdout  # not a terminal: plain text
    logs = tmp_path / ".cjob-emu" / "runs"
    assert len(list(logs.glob("*/logs/workerpool0-0.log"))) == 1


def test_run_json_prints_the_final_job_and_exit_codes(tmp_path: Path) -> None:
    path = write_job(
        tmp_path / "job.yaml",
        job("fails", [python("import time; time.sleep(60)"), python("import sys; sys.exit(4)")]),
    )
    result = cli(
        "run", str(path), "--backend", "process", "--json", "--gcs-root", "g", cwd=tmp_path
    )

    assert result.returncode == 1, result.stderr
    out = json.loads(result.stdout)
    assert out["job"]["state"] == "JOB_STATE_FAILED"
    assert out["job"]["error"]["code"] == 3
    assert out["job"]["error"]["message"].startswith(
        "The replica workerpool1-0 exited with a non-zero status of 4."
    )
    assert {k for k in out["job"] if k.endswith("Time")} >= {"createTime", "startTime", "endTime"}
    assert out["replicas"]["workerpool1-0"]["exitCode"] == 4
    assert out["replicas"]["workerpool0-0"]["stopped"] is True
    assert "workerpool1-0 | [exited with 4]" in result.stderr
    assert (tmp_path / "g").is_dir()


def test_run_refuses_an_invalid_job_with_the_validation_list(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "displayName": "bad",
                "jobSpec": {
                    "workerPoolSpecs": [
                        {"replicaCount": "2", "containerSpec": {"imageUri": "i", "command": ["x"]}}
                    ]
                },
            }
        )
    )
    result = cli("run", str(path), "--backend", "process", cwd=tmp_path)

    assert result.returncode == 1
    assert "invalid job" in result.stderr
    assert "job_spec.worker_pool_specs[0]" in result.stderr
    assert not (tmp_path / ".cjob-emu" / "runs").exists()


def test_run_of_an_unreadable_file_exits_2(tmp_path: Path) -> None:
    result = cli("run", str(tmp_path / "missing.yaml"), cwd=tmp_path)
    assert result.returncode == 2
    assert "no such file" in result.stderr


def test_a_pool_without_command_on_the_process_backend_exits_3(tmp_path: Path) -> None:
    path = write_job(tmp_path / "job.yaml", job("entry", [pool(None, ["--x"])]))
    result = cli("run", str(path), "--backend", "process", cwd=tmp_path)
    assert result.returncode == 3
    assert "workerpool0" in result.stderr and "no container_spec.command" in result.stderr


def test_the_docker_backend_without_an_engine_exits_3(tmp_path: Path) -> None:
    path = write_job(tmp_path / "job.yaml", job("d", [python("pass")]))
    result = cli(
        "run",
        str(path),
        "--backend",
        "docker",
        cwd=tmp_path,
        env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"},
    )
    assert result.returncode == 3
    assert "Docker engine" in result.stderr


def test_ctrl_c_cancels_the_job_cleans_up_and_exits_130(tmp_path: Path) -> None:
    token = f"CJOB_TEST_TOKEN={uuid.uuid4().hex}"
    name, value = token.split("=")
    code = "import time\nprint('training', flush=True)\ntime.sleep(300)"
    path = write_job(
        tmp_path / "job.yaml",
        job(
            "ctrl-c", [python(code, env={name: value}), python(code, replicas=2, env={name: value})]
        ),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "cjob_emu.cli", "run", str(path), "--backend", "process"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + TIMEOUT
        seen = []
        for line in process.stdout:
            seen.append(line)
            text = "".join(seen)
            if "| training" in text and "job JOB_STATE_RUNNING" in text:
                break
            assert time.monotonic() < deadline
        assert len(processes_with(token)) == 3
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 130, err
    assert "cancelling the job" in err
    assert "JOB_STATE_CANCELLED" in out
    assert processes_with(token) == []


def test_cleanup_says_what_it_removed(tmp_path: Path) -> None:
    result = cli("cleanup", "--backend", "process", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip()


@pytest.mark.parametrize("args", [["--image-map", "no-equals"], ["--max-restarts", "-1"]])
def test_bad_run_options_exit_2(tmp_path: Path, args: list[str]) -> None:
    path = write_job(tmp_path / "job.yaml", job("opts", [python("pass")]))
    result = cli("run", str(path), "--backend", "process", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr


def test_the_live_console_redraws_a_replica_table_in_place(tmp_path: Path) -> None:
    from cjob_emu.cli.console import RunConsole
    from cjob_emu.cluster import replicas
    from cjob_emu.executor import submit

    the_job = job("live", [python("print('step 1')"), python("import time; time.sleep(30)")])
    stream = io.StringIO()
    console = RunConsole(stream, replicas(the_job), live=True)
    running = submit(
        the_job,
        backend="process",
        gcs_root=tmp_path / "g",
        run_dir=tmp_path / "r",
        on_event=console.on_event,
    )
    console.running = running
    result = running.wait(60)
    console.refresh()
    console.finish(result)

    text = stream.getvalue()
    assert "workerpool0-0 | \033[0mstep 1" in text
    assert "\033[3F\033[J" in text  # the 3-line table (header + 2 replicas) is erased, redrawn
    final = text.rsplit("\033[J", 1)[1]
    assert "workerpool1-0" in final and "stopped" in final and "143" in final
    assert "JOB_STATE_SUCCEEDED" in final
