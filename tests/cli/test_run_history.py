"""``cjob-emu runs``, ``show``, ``logs`` and ``cleanup --older-than`` over real runs (the
process backend, one docker job), each command a real subprocess in the run's directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler
from support import pipeline_components
from support.executor_jobs import IMAGE, job, python
from support.pipeline_checks import PIPELINES

from cjob_emu.spec import job_to_rest

TIMEOUT = 120
SLOW_PRINTER = (
    "import time\nfor n in range(8):\n    print('step', n, flush=True)\n    time.sleep(0.3)"
)
# the chief ends the job once the worker has had time to print
CHIEF = python("import time; time.sleep(1.5); print('chief done')")
WORKER = python("print('worker up', flush=True); import time; time.sleep(60)")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cjob_emu.cli", *args],
        cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT,
    )


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cjob_emu.cli", *args],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def write_job(path: Path, the_job: Any) -> Path:
    path.write_text(yaml.safe_dump(job_to_rest(the_job)))
    return path


def index(cwd: Path) -> list[dict[str, Any]]:
    path = cwd / ".cjob-emu" / "runs" / "index.json"
    return list(json.loads(path.read_text())["runs"]) if path.exists() else []


def wait_for(predicate: Any, what: str, child: subprocess.Popen[str] | None = None) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while not (found := predicate()):
        assert child is None or child.poll() is None, child.communicate() if child else ""
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)
    return found


def stop(child: subprocess.Popen[str]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGINT)
        try:
            child.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()


def test_runs_show_and_logs_of_a_job_run(tmp_path: Path) -> None:
    path = write_job(tmp_path / "job.yaml", job("hello", [CHIEF, WORKER]))
    assert cli("run", str(path), "--backend", "process", cwd=tmp_path).returncode == 0
    [entry] = index(tmp_path)

    runs = cli("runs", cwd=tmp_path)
    assert runs.returncode == 0, runs.stderr
    header, row = runs.stdout.splitlines()
    assert header.split() == ["ID", "KIND", "NAME", "STATE", "DURATION", "BACKEND", "CREATED"]
    assert row.split()[:4] == [entry["id"], "job", "hello", "SUCCEEDED"]
    assert row.split()[4].endswith("s") and row.split()[5] == "process"
    [listed] = json.loads(cli("runs", "--json", cwd=tmp_path).stdout)
    assert listed["id"] == entry["id"] and listed["durationSeconds"] >= 0

    shown = cli("show", entry["id"][:-3], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"run {entry['id']} (job hello): SUCCEEDED after ")
    assert '"state": "JOB_STATE_SUCCEEDED"' in shown.stdout  # the job JSON
    table = shown.stdout[shown.stdout.index("REPLICA"):].splitlines()
    assert table[1].split()[:4] == ["workerpool0-0", "succeeded", "0", "1"]
    assert table[2].split()[:4] == ["workerpool1-0", "stopped", "143", "1"]
    as_json = json.loads(cli("show", "last", "--json", cwd=tmp_path).stdout)
    assert as_json["job"]["displayName"] == "hello"
    assert [r["exitCode"] for r in as_json["replicas"]] == [0, 143]

    logs = cli("logs", "last", cwd=tmp_path)
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.splitlines() == ["workerpool0-0 | chief done", "workerpool1-0 | worker up"]
    one = cli("logs", "last", "workerpool1-0", cwd=tmp_path)
    assert one.stdout == "worker up\n"


def test_unknown_runs_replicas_and_ambiguous_ids_exit_2(tmp_path: Path) -> None:
    empty = cli("logs", "last", cwd=tmp_path)
    assert empty.returncode == 2 and "no run is recorded" in empty.stderr
    assert cli("runs", cwd=tmp_path).stdout.startswith("no runs recorded in ")
    path = write_job(tmp_path / "job.yaml", job("first", [python("pass")]))
    for _ in range(2):
        assert cli("run", str(path), "--backend", "process", cwd=tmp_path).returncode == 0
    first, second = (e["id"] for e in index(tmp_path))

    unknown = cli("show", "nope", cwd=tmp_path)
    assert unknown.returncode == 2
    assert f"no run 'nope' in .cjob-emu/runs/index.json; the newest: {second} (job first), " \
        f"{first} (job first)" in unknown.stderr
    ambiguous = cli("logs", first[:4], cwd=tmp_path)
    assert ambiguous.returncode == 2 and "start of 2 run ids" in ambiguous.stderr
    replica = cli("logs", "last", "workerpool3-0", cwd=tmp_path)
    assert replica.returncode == 2
    assert "has no replica 'workerpool3-0' (workerpool0-0)" in replica.stderr


def test_logs_follow_a_running_job_until_it_ends(tmp_path: Path) -> None:
    path = write_job(tmp_path / "job.yaml", job("slow", [python(SLOW_PRINTER)]))
    running = start("run", str(path), "--backend", "process", cwd=tmp_path)
    try:
        wait_for(lambda: any(e["state"] == "RUNNING" for e in index(tmp_path)), "RUNNING", running)
        followed = cli("logs", "last", "-f", cwd=tmp_path)
        entry = index(tmp_path)[0]
    finally:
        stop(running)

    assert followed.returncode == 0, followed.stderr
    # it read on while the job printed, and stopped once the job had ended
    assert followed.stdout.splitlines() == [f"step {n}" for n in range(8)]
    assert entry["state"] == "SUCCEEDED"


def test_runs_of_parallel_processes_are_all_recorded(tmp_path: Path) -> None:
    paths = [write_job(tmp_path / f"job{n}.yaml", job(f"par{n}", [python("pass")]))
             for n in range(4)]
    children = [start("run", str(p), "--backend", "process", cwd=tmp_path) for p in paths]
    for child in children:
        child.communicate(timeout=TIMEOUT)
        assert child.returncode == 0

    listed = json.loads(cli("runs", "--json", cwd=tmp_path).stdout)
    assert sorted((r["name"], r["state"]) for r in listed) == [
        (f"par{n}", "SUCCEEDED") for n in range(4)]


def test_a_run_whose_process_was_killed_is_shown_failed(tmp_path: Path) -> None:
    path = write_job(tmp_path / "job.yaml", job("killed", [python("import time; time.sleep(300)")]))
    running = start("run", str(path), "--backend", "process", cwd=tmp_path)
    try:
        wait_for(lambda: any(e["state"] == "RUNNING" for e in index(tmp_path)), "RUNNING", running)
        running.kill()
        running.communicate()
        runs = cli("runs", cwd=tmp_path)
    finally:
        cleaned = cli("cleanup", "--backend", "process", cwd=tmp_path)

    assert runs.returncode == 0
    assert f"its process (pid {running.pid} on " in runs.stderr
    assert runs.stdout.splitlines()[1].split()[3] == "FAILED"
    shown = json.loads(cli("show", "last", "--json", cwd=tmp_path).stdout)
    assert shown["job"]["state"] == "JOB_STATE_FAILED"  # job.json is settled too
    assert cleaned.returncode == 0, cleaned.stderr


def test_cleanup_older_than_removes_ended_runs_never_a_running_one(tmp_path: Path) -> None:
    path = write_job(tmp_path / "job.yaml", job("ended", [python("pass")]))
    assert cli("run", str(path), "--backend", "process", cwd=tmp_path).returncode == 0
    [ended] = index(tmp_path)
    sleeper = write_job(tmp_path / "s.yaml", job("going", [python("import time; time.sleep(300)")]))
    running = start("run", str(sleeper), "--backend", "process", cwd=tmp_path)
    try:
        wait_for(lambda: any(e["state"] == "RUNNING" for e in index(tmp_path)), "RUNNING", running)
        time.sleep(1.2)
        cleaned = cli("cleanup", "--older-than", "1s", cwd=tmp_path)
        left = index(tmp_path)
    finally:
        stop(running)

    assert cleaned.returncode == 0, cleaned.stderr
    assert f"removed run {ended['id']} (job ended, SUCCEEDED): {ended['runDir']}" in cleaned.stdout
    assert "kept run " in cleaned.stdout and "(job going): still RUNNING" in cleaned.stdout
    assert not Path(ended["runDir"]).exists()
    assert [(e["name"], e["state"]) for e in left] == [("going", "RUNNING")]
    assert Path(left[0]["runDir"]).is_dir()
    nothing = cli("cleanup", "--older-than", "7d", cwd=tmp_path)
    assert "no run in .cjob-emu/runs ended more than 7d00h ago" in nothing.stdout
    assert cli("cleanup", "--older-than", "soon", cwd=tmp_path).returncode == 2


def test_a_pipeline_run_shows_its_tasks_and_their_logs(tmp_path: Path) -> None:
    ran = cli("run", str(PIPELINES / "train_eval.yaml"), "--backend", "process", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    pipeline, train = index(tmp_path)
    assert (pipeline["kind"], pipeline["name"], pipeline["state"]) == (
        "pipeline", "train-eval", "SUCCEEDED")
    assert train["parent"] == {"runId": pipeline["id"], "task": "train"}
    assert Path(train["runDir"]).parent == Path(pipeline["runDir"])

    runs = cli("runs", "--all", cwd=tmp_path).stdout.splitlines()
    assert runs[1].split()[:4] == [pipeline["id"], "pipeline", "train-eval", "SUCCEEDED"]
    assert runs[2].split()[:2] == [train["id"], "job"]
    assert f"(task train of {pipeline['id']})" in runs[2]
    shown = cli("show", "last", cwd=tmp_path).stdout
    rows = [line.split()[:3] for line in shown[shown.index("TASK"):].splitlines()[1:]]
    assert rows == [["prepare-data", "container", "SUCCEEDED"],
                    ["train", "custom-job", "SUCCEEDED"],
                    ["evaluate", "container", "SUCCEEDED"]]
    assert f"run {train['id']}" in shown

    task = cli("logs", "last", "train", cwd=tmp_path)
    assert task.returncode == 0, task.stderr
    # the task's replicas, named as in its own run
    assert task.stdout and all(line.startswith("workerpool") for line in task.stdout.splitlines())
    assert "workerpool0-0 | [KFP Executor" in task.stdout
    container = cli("logs", "last", "evaluate", cwd=tmp_path)
    assert "Executing task" in container.stdout and " | " not in container.stdout.split("\n")[0]
    every = cli("logs", "last", cwd=tmp_path).stdout
    assert "prepare-data        | " in every and "train/workerpool0-0 | " in every
    missing = cli("logs", "last", "nope", cwd=tmp_path)
    assert missing.returncode == 2
    assert "has no task 'nope' (prepare-data, train, evaluate)" in missing.stderr


def test_ctrl_c_during_a_pipeline_names_the_cancelled_task(tmp_path: Path) -> None:
    path = tmp_path / "napping.yaml"
    compiler.Compiler().compile(pipeline_components.napping_job, str(path))
    running = start("run", str(path), "--backend", "process", "--stop-grace", "1", cwd=tmp_path)
    try:
        wait_for(lambda: any(e.get("parent") and e["state"] == "RUNNING" for e in index(tmp_path)),
                 "the task's job RUNNING", running)
        running.send_signal(signal.SIGINT)
        _, err = running.communicate(timeout=60)
    finally:
        stop(running)

    assert running.returncode == 130, err
    pipeline = index(tmp_path)[0]
    assert f"cjob-emu: pipeline run napping-job ({pipeline['id']}) interrupted: " \
        "cancelled task(s) nap" in err
    assert [(e["kind"], e["state"]) for e in index(tmp_path)] == [
        ("pipeline", "CANCELLED"), ("job", "CANCELLED")]
    tasks = json.loads(cli("show", "last", "--json", cwd=tmp_path).stdout)["tasks"]
    assert [(t["name"], t["state"]) for t in tasks] == [("nap", "CANCELLED")]


def test_an_unreadable_index_is_an_environment_problem(tmp_path: Path) -> None:
    runs = tmp_path / ".cjob-emu" / "runs"
    runs.mkdir(parents=True)
    (runs / "index.json").write_text("[1, 2")
    result = cli("runs", cwd=tmp_path)
    assert result.returncode == 3
    assert "the run index .cjob-emu/runs/index.json is not readable" in result.stderr


def test_another_runs_dir_is_read_with_runs_dir(tmp_path: Path) -> None:
    path = write_job(tmp_path / "job.yaml", job("elsewhere", [python("print('x')")]))
    assert cli("run", str(path), "--backend", "process", "--run-dir", str(tmp_path / "mine"),
               cwd=tmp_path).returncode == 0
    # a run with its own --run-dir is in the index of the default runs directory
    [entry] = index(tmp_path)
    assert entry["runDir"] == str((tmp_path / "mine").resolve())
    other = cli("runs", "--runs-dir", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert other.stdout.startswith("no runs recorded in ")
    assert cli("logs", "last", cwd=tmp_path).stdout == "x\n"


@pytest.mark.docker
def test_logs_of_a_container_job(tmp_path: Path, cjob_test_image: str) -> None:
    path = write_job(tmp_path / "job.yaml", job("boxed", [CHIEF, WORKER]))
    ran = cli("run", str(path), "--backend", "docker", "--image-map", f"{IMAGE}={cjob_test_image}",
              cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr

    [entry] = index(tmp_path)
    assert entry["backend"] == "docker"
    logs = cli("logs", entry["id"], cwd=tmp_path)
    assert logs.returncode == 0, logs.stderr
    lines = logs.stdout.splitlines()
    assert lines == ["workerpool0-0 | chief done", "workerpool1-0 | worker up"]
    assert os.path.isfile(Path(entry["logsDir"]) / "workerpool1-0.log")
