"""The run index: written by several processes at once without losing an entry, read by
id, prefix or ``last``, and kept by the executor at every state change of a real run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from support.executor_jobs import job, python

from cjob_emu.errors import EnvironmentProblem
from cjob_emu.executor import LocalExecutor, run_job, submit
from cjob_emu.executor.run_records import settle_dead_runs
from cjob_emu.run_index import (
    JOB,
    Owner,
    ParentRun,
    RunEntry,
    RunIndex,
    UnknownRunError,
    now_rfc3339,
)
from cjob_emu.run_index.prune import prune

WRITER = textwrap.dedent(
    """
    import sys
    from cjob_emu.run_index import RunEntry, RunIndex

    runs_dir, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    index = RunIndex(runs_dir)
    for n in range(count):
        run_id = f"{worker}-{n:03d}"
        index.put(RunEntry(run_id, "job", f"job {n}", "RUNNING", "process", "/r", "/r/logs"))
        index.update(run_id, state="SUCCEEDED")
    """
)


def entry(run_id: str, *, state: str = "SUCCEEDED", **fields: object) -> RunEntry:
    made = RunEntry(run_id, JOB, f"name-{run_id}", state, "process", f"/runs/{run_id}",
                    f"/runs/{run_id}/logs")
    return made.changed(**fields)


def test_parallel_processes_lose_no_entry(tmp_path: Path) -> None:
    workers, count = 6, 30
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    children = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), f"w{w}", str(count)],
                         env=env)
        for w in range(workers)
    ]
    assert [child.wait(120) for child in children] == [0] * workers

    entries = RunIndex(tmp_path).entries()
    assert len(entries) == workers * count
    expected = {f"w{w}-{n:03d}" for w in range(workers) for n in range(count)}
    assert {e.id for e in entries} == expected
    assert {e.state for e in entries} == {"SUCCEEDED"}
    # one entry per line, the whole file valid JSON, no temporary file left
    text = (tmp_path / "index.json").read_text()
    assert len(json.loads(text)["runs"]) == workers * count
    assert len(text.splitlines()) == workers * count + 2
    assert not list(tmp_path.glob(".*.tmp"))


def test_find_by_id_prefix_or_last_and_unknown_names_the_newest(tmp_path: Path) -> None:
    index = RunIndex(tmp_path)
    for run_id in ["20250101-000000-aaaaaa", "20250102-000000-bbbbbb", "20250102-000001-cccccc"]:
        index.put(entry(run_id))
    index.put(entry("20250103-000000-dddddd", parent=ParentRun("20250102-000001-cccccc", "t")))

    assert index.find("20250101").id == "20250101-000000-aaaaaa"
    assert index.find("20250102-000000-bbbbbb").id == "20250102-000000-bbbbbb"
    # a pipeline's CustomJob is no one's "last"
    assert index.find("last").id == "20250102-000001-cccccc"
    with pytest.raises(UnknownRunError, match="start of 2 run ids") as ambiguous:
        index.find("20250102")
    assert ambiguous.value.exit_code == 2
    with pytest.raises(UnknownRunError, match=r"no run 'nope' in .*index.json; the newest: "
                       r"20250102-000001-cccccc \(job name-20250102-000001-cccccc\), "
                       r"20250102-000000-bbbbbb"):
        index.find("nope")
    assert [e.id for e in index.children("20250102-000001-cccccc")] == ["20250103-000000-dddddd"]
    with pytest.raises(UnknownRunError, match="no run is recorded"):
        RunIndex(tmp_path / "empty").find("last")


def test_an_unparsable_index_is_set_aside_by_the_next_writer(tmp_path: Path) -> None:
    (tmp_path / "index.json").write_text("{not json")
    index = RunIndex(tmp_path)
    with pytest.raises(EnvironmentProblem, match="not readable") as problem:
        index.entries()
    assert problem.value.exit_code == 3

    index.put(entry("a"))

    assert [e.id for e in index.entries()] == ["a"]
    assert (tmp_path / "index.json.unreadable").read_text() == "{not json"


def test_a_job_run_is_recorded_with_its_states_times_paths_and_replicas(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    seen: list[str] = []
    running = submit(
        job("recorded", [python("print('chief')"), python("import time; time.sleep(30)")]),
        backend="process",
        gcs_root=tmp_path / "gcs",
        runs_dir=runs,
        on_event=lambda event: seen.append(type(event).__name__),
    )
    result = running.wait(60)

    recorded = RunIndex(runs).get(result.run_id)
    assert recorded is not None
    assert (recorded.kind, recorded.name, recorded.state) == ("job", "recorded", "SUCCEEDED")
    assert recorded.backend == "process"
    assert Path(recorded.run_dir) == result.run_dir == (runs / result.run_id).resolve()
    assert recorded.logs_dir == str(result.run_dir / "logs")
    assert recorded.gcs_root == str((tmp_path / "gcs").resolve())
    assert recorded.create_time <= recorded.start_time <= recorded.end_time
    assert recorded.owner is not None and recorded.owner.pid == os.getpid()
    assert recorded.parent is None and recorded.error == ""
    replicas = json.loads((result.run_dir / "replicas.json").read_text())
    assert [(r["replica"], r["state"], r["exitCode"], r["attempts"]) for r in replicas] == [
        ("workerpool0-0", "succeeded", 0, 1),
        ("workerpool1-0", "stopped", result.exit_codes["workerpool1-0"], 1),
    ]
    assert replicas[0]["log"] == str(result.log_paths()["workerpool0-0"])
    # the caller's callback still gets every event
    assert "StateChanged" in seen and "LogLine" in seen


def test_a_failed_job_with_its_own_run_dir_is_recorded_in_the_runs_dir(tmp_path: Path) -> None:
    result = run_job(
        job("failing", [python("import sys; sys.exit(3)")]),
        backend="process",
        gcs_root=tmp_path / "gcs",
        run_dir=tmp_path / "elsewhere",
        runs_dir=tmp_path / "runs",
        parent=ParentRun("20250101-000000-pppppp", "train"),
    )

    recorded = RunIndex(tmp_path / "runs").find(result.run_id[:-2])
    assert recorded.id == result.run_id and recorded.state == "FAILED"
    assert recorded.error.startswith("The replica workerpool0-0 exited with a non-zero status")
    assert "\n" not in recorded.error
    assert recorded.run_dir == str((tmp_path / "elsewhere").resolve())
    assert recorded.parent == ParentRun("20250101-000000-pppppp", "train")
    assert not (tmp_path / "runs" / result.run_id).exists()


def test_local_executor_records_its_runs_in_its_runs_dir(tmp_path: Path) -> None:
    with LocalExecutor(backend="process", gcs_root=tmp_path / "gcs", runs_dir=tmp_path / "r") as ex:
        first = ex.run(job("one", [python("pass")]))
        second = ex.run(job("two", [python("pass")]))

    entries = RunIndex(tmp_path / "r").entries()
    assert [(e.id, e.name, e.state) for e in entries] == [
        (first.run_id, "one", "SUCCEEDED"),
        (second.run_id, "two", "SUCCEEDED"),
    ]


def test_runs_whose_process_died_are_settled_failed(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run_dir = tmp_path / "dead"
    run_dir.mkdir()
    job_file = run_dir / "job.json"
    job_file.write_text(json.dumps({"displayName": "d", "state": "JOB_STATE_RUNNING"}))
    index = RunIndex(tmp_path)
    host = os.uname().nodename
    index.put(entry("dead", state="RUNNING", run_dir=str(run_dir), owner=Owner(host, dead.pid)))
    index.put(entry("alive", state="RUNNING", owner=Owner(host, os.getpid())))

    said = settle_dead_runs(index)

    assert said == [f"run dead (job name-dead): its process (pid {dead.pid} on {host}) died "
                    "before it ended: marked FAILED"]
    assert index.get("dead").state == "FAILED"  # type: ignore[union-attr]
    assert json.loads(job_file.read_text())["state"] == "JOB_STATE_FAILED"
    assert index.get("alive").state == "RUNNING"  # type: ignore[union-attr]


def test_prune_removes_ended_old_runs_with_their_tasks_never_a_running_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runs = tmp_path / "runs"
    index = RunIndex(runs)
    for name, record in [("old", "job.json"), ("pipe", "pipeline.json"), ("going", "job.json"),
                         ("here", "job.json"), ("pipe/task", "job.json")]:
        (runs / name).mkdir(parents=True, exist_ok=True)
        (runs / name / record).write_text("{}")
    (tmp_path / "job.json").write_text("{}")  # a run put in --run-dir .
    old = "2020-01-01T00:00:00Z"
    index.put(entry("old", run_dir=str(runs / "old"), end_time=old))
    index.put(entry("pipe", run_dir=str(runs / "pipe"), end_time=old).changed(kind="pipeline"))
    index.put(entry("task", run_dir=str(runs / "pipe" / "task"), end_time=old,
                    parent=ParentRun("pipe", "task")))
    index.put(entry("going", state="RUNNING", run_dir=str(runs / "going"), create_time=old))
    index.put(entry("new", run_dir=str(runs / "here"), end_time=now_rfc3339()))
    index.put(entry("cwd", run_dir=str(tmp_path), end_time=old))

    done = prune(index, timedelta(days=7))

    assert [(p.entry.id, p.removed) for p in done] == [
        ("old", True), ("pipe", True), ("cwd", False)]
    assert "working directory" in done[2].why_kept
    assert [e.id for e in index.entries()] == ["going", "new"]
    assert sorted(p.name for p in runs.iterdir() if not p.name.startswith(".")) == [
        "going", "here", "index.json"]
    assert tmp_path.is_dir()
