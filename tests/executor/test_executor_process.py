"""The executor's job semantics on the process backend: real processes, no Docker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from google.cloud.aiplatform_v1 import JobState
from support.executor_jobs import (
    BUCKET,
    allreduce_job,
    check_allreduce,
    check_roles,
    five_replica_job,
    job,
    pool,
    python,
    read_json,
    stage_script,
)

from cjob_emu.errors import EnvironmentProblem, InvalidJobError, JobFailedError
from cjob_emu.executor import (
    JobResult,
    LogLine,
    Notice,
    ReplicaExited,
    Restarting,
    StateChanged,
    run_job,
    submit,
)
from cjob_emu.executor.backend import LABEL_PID, LABEL_PID_START, owner_labels
from cjob_emu.executor.process import RUN_MARKER, ProcessBackend, run_processes, state_dir

SUCCEEDED = JobState.JOB_STATE_SUCCEEDED
FAILED = JobState.JOB_STATE_FAILED
CANCELLED = JobState.JOB_STATE_CANCELLED


def children() -> list[int]:
    """Live (non-zombie) child processes of this test process."""
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            found.append(int(entry))
    return found


@pytest.fixture
def run(tmp_path: Path, gcs: Path):
    """run_job on the process backend with this test's gs:// root and run directories;
    after the test, no replica process (or child of this process) may be left."""
    results: list[JobResult] = []
    counter = iter(range(1000))

    def go(the_job: Any, **kwargs: Any) -> JobResult:
        kwargs.setdefault("backend", "process")
        kwargs.setdefault("gcs_root", gcs)
        kwargs.setdefault("run_dir", tmp_path / f"run{next(counter)}")
        result = run_job(the_job, **kwargs)
        results.append(result)
        return result

    yield go
    for result in results:
        assert run_processes(result.run_id) == [], f"processes of {result.run_id} left"
    assert children() == []


def test_five_replicas_greet_each_other_and_know_their_roles(run, gcs: Path) -> None:
    script = stage_script(gcs, "roles.py")
    result = run(five_replica_job(script, f"/gcs/{BUCKET}/roles"), timeout=120)

    assert result.state == SUCCEEDED, result.job.error.message

    def loopback(address: str, pool_name: str, index: int) -> None:
        assert address.startswith("127.0.0.1:")

    check_roles(gcs / BUCKET / "roles", loopback)
    assert result.exit_codes["workerpool0-0"] == 0
    assert result.job.start_time and result.job.end_time and result.job.create_time
    assert not result.job.error.message


def test_allreduce_equals_the_single_process_reduce(run, gcs: Path) -> None:
    result = run(allreduce_job(gcs, steps=3), timeout=120)

    assert result.state == SUCCEEDED, result.job.error.message
    check_allreduce(gcs, steps=3)


def test_a_failing_worker_fails_the_job_naming_it_with_its_last_lines(run) -> None:
    failing = (
        "import sys\nprint('loading shard 7')\nprint('bad shard', file=sys.stderr)\nsys.exit(3)"
    )
    started = time.monotonic()
    result = run(job("worker-fails", [python("import time; time.sleep(120)"), python(failing)]))

    assert time.monotonic() - started < 30
    assert result.state == FAILED
    error = result.job.error
    assert error.code == 3
    assert error.message.startswith("The replica workerpool1-0 exited with a non-zero status of 3.")
    assert "loading shard 7\nbad shard" in error.message
    assert result.replicas["workerpool1-0"].exit_code == 3
    assert result.replicas["workerpool0-0"].stopped
    assert "bad shard" in result.replicas["workerpool1-0"].log_path.read_text()
    with pytest.raises(JobFailedError, match="workerpool1-0"):
        result.raise_for_state()


def test_a_failing_chief_fails_the_job(run) -> None:
    chief = "raise RuntimeError('out of memory, pretend')"
    result = run(job("chief-fails", [python(chief), python("import time; time.sleep(120)")]))

    assert result.state == FAILED
    assert result.job.error.message.startswith(
        "The replica workerpool0-0 exited with a non-zero status of 1."
    )
    assert "RuntimeError: out of memory, pretend" in result.job.error.message
    assert result.replicas["workerpool1-0"].stopped


def test_the_primary_decides_success_and_the_rest_are_stopped(run) -> None:
    result = run(
        job("primary-decides", [python("print('done')"), python("import time; time.sleep(120)")])
    )

    assert result.state == SUCCEEDED
    worker = result.replicas["workerpool1-0"]
    assert worker.stopped and worker.exit_code == 128 + 15


def test_scheduling_timeout_fails_the_job_and_stops_everything(run) -> None:
    # The worker ignores SIGTERM and leaves a grandchild: both must still go.
    stubborn = (
        "import signal, subprocess, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "subprocess.Popen(['sleep', '300'])\n"
        "print('working', flush=True)\n"
        "time.sleep(300)"
    )
    started = time.monotonic()
    result = run(
        job("times-out", [python("import time; time.sleep(300)"), python(stubborn)], timeout="2s"),
        options=None,
    )

    assert result.state == FAILED
    assert result.job.error.code == 4
    assert "timeout of 2s" in result.job.error.message
    assert time.monotonic() - started < 30
    assert all(r.stopped for r in result.replicas.values())


def test_the_timeout_argument_replaces_scheduling_timeout(run) -> None:
    result = run(job("override", [python("import time; time.sleep(300)")]), timeout=1)
    assert result.state == FAILED and result.job.error.code == 4


def test_cancel_mid_run_stops_every_replica(tmp_path: Path, gcs: Path) -> None:
    training = threading.Event()
    running_state = threading.Event()
    events: list[Any] = []

    def watch(event: Any) -> None:
        events.append(event)
        if isinstance(event, LogLine) and event.line == "training":
            training.set()
        if isinstance(event, StateChanged) and event.state == JobState.JOB_STATE_RUNNING:
            running_state.set()

    code = "import time\nprint('training', flush=True)\ntime.sleep(300)"
    running = submit(
        job("cancel-me", [python(code), python(code, replicas=2)]),
        backend="process",
        gcs_root=gcs,
        run_dir=tmp_path / "run",
        on_event=watch,
    )
    try:
        assert training.wait(30) and running_state.wait(30)
        assert running.state == JobState.JOB_STATE_RUNNING
    finally:
        assert running.cancel()
        result = running.wait(30)

    assert result.state == CANCELLED
    assert result.job.error.code == 1
    assert all(r.stopped for r in result.replicas.values())
    assert run_processes(result.run_id) == []
    assert children() == []
    states = [e.state for e in events if isinstance(e, StateChanged)]
    assert states == [
        JobState.JOB_STATE_PENDING,
        JobState.JOB_STATE_RUNNING,
        JobState.JOB_STATE_CANCELLING,
        JobState.JOB_STATE_CANCELLED,
    ]
    assert not running.cancel()


def test_cancel_while_replicas_start_leaves_nothing(tmp_path: Path, gcs: Path) -> None:
    code = "import time\ntime.sleep(300)"
    running = submit(
        job("cancel-early", [python(code), python(code, replicas=3)]),
        backend="process",
        gcs_root=gcs,
        run_dir=tmp_path / "run",
    )
    running.cancel()
    result = running.wait(30)

    assert result.state == CANCELLED
    assert run_processes(result.run_id) == []
    assert children() == []


def test_an_invalid_job_is_refused_before_anything_runs(tmp_path: Path, gcs: Path) -> None:
    invalid = job("invalid", [python("print(1)", replicas=2)])  # pool 0 must have 1 replica
    with pytest.raises(InvalidJobError) as caught:
        run_job(invalid, backend="process", gcs_root=gcs, run_dir=tmp_path / "run")
    assert caught.value.report.errors
    assert not (tmp_path / "run").exists()


def test_a_pool_without_command_is_refused_on_the_process_backend(
    tmp_path: Path, gcs: Path
) -> None:
    the_job = job("entrypoint", [python("print(1)"), pool(None, ["--epochs", "3"])])
    running = submit(the_job, backend="process", gcs_root=gcs, run_dir=tmp_path / "run")
    with pytest.raises(EnvironmentProblem) as caught:
        running.wait(30)

    message = str(caught.value)
    assert "job_spec.worker_pool_specs[1] (workerpool1) has no container_spec.command" in message
    assert "--backend docker" in message
    assert running.state == FAILED
    assert running.job.error.code == 9
    assert all(status.phase == "waiting" for status in running.replica_status())
    assert children() == []


def test_restart_on_worker_restart_restarts_all_and_can_then_succeed(run, gcs: Path) -> None:
    marker = gcs / BUCKET / "second-attempt"
    flaky = (
        "import os, sys, time\n"
        f"marker = '/gcs/{BUCKET}/second-attempt'\n"
        "if not os.path.exists(marker):\n"
        "    os.makedirs(os.path.dirname(marker), exist_ok=True)\n"
        "    open(marker, 'w').close()\n"
        "    print('first attempt fails'); sys.exit(2)\n"
        "print('second attempt works')"
    )
    chief = "import time; time.sleep(2); print('chief done')"
    events: list[Any] = []
    result = run(job("flaky", [python(chief), python(flaky)], restart=True), on_event=events.append)

    assert marker.exists()
    assert result.state == SUCCEEDED, result.job.error.message
    assert result.replicas["workerpool0-0"].attempts == 2
    assert result.replicas["workerpool1-0"].attempts == 2
    restarts = [e for e in events if isinstance(e, Restarting)]
    assert len(restarts) == 1
    assert "workerpool1-0 exited with a non-zero status of 2" in restarts[0].reason
    log = result.replicas["workerpool1-0"].log_path.read_text()
    assert "first attempt fails\n--- attempt 2 ---\nsecond attempt works" in log


def test_restart_fails_the_job_at_the_bound(run) -> None:
    events: list[Any] = []
    the_job = job(
        "always-fails",
        [python("import time; time.sleep(60)"), python("import sys; sys.exit(5)")],
        restart=True,
    )
    result = run(the_job, max_restarts=2, on_event=events.append)

    assert result.state == FAILED
    assert result.job.error.message.startswith(
        "The replica workerpool1-0 exited with a non-zero status of 5."
    )
    assert "restarted 2 time(s)" in result.job.error.message
    assert result.replicas["workerpool1-0"].attempts == 3
    assert len([e for e in events if isinstance(e, Restarting)]) == 2


def test_without_restart_flag_a_failure_is_final(run) -> None:
    result = run(job("no-restart", [python("import time; time.sleep(60)"), python("exit(5)")]))
    assert result.state == FAILED
    assert result.replicas["workerpool1-0"].attempts == 1


def test_logs_are_streamed_as_events_and_kept_per_replica(run) -> None:
    events: list[Any] = []
    code = (
        "import os, sys\n"
        "print('out', os.environ['CLUSTER_SPEC'][:1])\n"
        "print('err', file=sys.stderr)"
    )
    result = run(job("logs", [python(code), python(code)]), on_event=events.append)

    assert result.state == SUCCEEDED
    lines = {(e.replica.name, e.line) for e in events if isinstance(e, LogLine)}
    assert ("workerpool0-0", "out {") in lines
    assert ("workerpool0-0", "err") in lines
    chief_log = result.replicas["workerpool0-0"].log_path
    assert chief_log == result.run_dir / "logs" / "workerpool0-0.log"
    assert sorted(chief_log.read_text().splitlines()) == ["err", "out {"]
    exited = {e.replica.name: e.exit_code for e in events if isinstance(e, ReplicaExited)}
    assert exited["workerpool0-0"] == 0
    assert read_json(result.run_dir / "job.json")["state"] == "JOB_STATE_SUCCEEDED"


def test_gcs_paths_and_uris_point_into_the_root(run, gcs: Path) -> None:
    code = textwrap.dedent(
        """
        import os, sys
        out = sys.argv[1]
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "env.txt"), "w") as f:
            f.write(os.environ["DATA"] + "\\n" + os.environ["AIP_MODEL_DIR"] + "\\n")
        """
    )
    the_job = job(
        "gcs-paths",
        [
            pool(
                ["python3", "-c", code],
                [f"/gcs/{BUCKET}/out"],
                env={"DATA": f"gs://{BUCKET}/data/train.csv"},
            )
        ],
        base_output=f"gs://{BUCKET}/base",
    )
    result = run(the_job)

    assert result.state == SUCCEEDED, result.job.error.message
    data, model_dir = (gcs / BUCKET / "out" / "env.txt").read_text().splitlines()
    assert data == f"{gcs.resolve()}/{BUCKET}/data/train.csv"
    assert model_dir == f"{gcs.resolve()}/{BUCKET}/base/model/"


def test_notices_say_what_is_not_emulated(run) -> None:
    the_job = job("notices", [python("print(1)", machine="n1-highmem-8")])
    the_job.job_spec.service_account = "trainer@p.iam.gserviceaccount.com"
    the_job.job_spec.network = "projects/1/global/networks/default"
    result = run(the_job)

    text = [str(n) for n in result.notices]
    assert any(n.startswith("job_spec.service_account: ") for n in text)
    assert any(n.startswith("job_spec.network: ") for n in text)
    assert any("not isolated" in n for n in text)
    assert len([n for n in text if "images are ignored" in n]) == 1
    assert any(n.kind == "unemulated" for n in result.notices if isinstance(n, Notice))


def test_events_iterator_replays_and_follows(tmp_path: Path, gcs: Path) -> None:
    running = submit(
        job("iterate", [python("print('hello')")]),
        backend="process",
        gcs_root=gcs,
        run_dir=tmp_path / "run",
    )
    events = list(running.events())
    states = [e.state for e in events if isinstance(e, StateChanged)]
    assert states[0] == JobState.JOB_STATE_PENDING
    assert states[-1] == SUCCEEDED
    assert running.wait(10).succeeded
    assert [e.state for e in running.events() if isinstance(e, StateChanged)] == states


_TASK = textwrap.dedent(
    """
    import json, os, sys
    out = os.environ["AIP_MODEL_DIR"]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "task.json"), "w") as f:
        json.dump({"args": sys.argv[1:], "module": __name__}, f)
    """
)


def _wheel(path: Path, task: str = _TASK) -> Path:
    """A minimal pure-Python wheel with trainer/task.py (no build step needed)."""
    files = {
        "trainer/__init__.py": "",
        "trainer/task.py": task,
        "trainer-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: trainer\nVersion: 0.1\n",
        "trainer-0.1.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files["trainer-0.1.dist-info/RECORD"] = "".join(f"{name},,\n" for name in files) + (
        "trainer-0.1.dist-info/RECORD,,\n"
    )
    wheel = path / "trainer-0.1-py3-none-any.whl"
    wheel.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return wheel


def test_python_package_pool_installs_into_a_venv_and_runs_the_module(run, gcs: Path) -> None:
    _wheel(gcs / BUCKET / "packages")
    the_job = job(
        "package",
        [
            {
                "machineSpec": {"machineType": "n1-standard-4"},
                "replicaCount": "1",
                "pythonPackageSpec": {
                    "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/sklearn:1",
                    "packageUris": [f"gs://{BUCKET}/packages/trainer-0.1-py3-none-any.whl"],
                    "pythonModule": "trainer.task",
                    "args": ["--epochs", "2"],
                },
            }
        ],
        base_output=f"gs://{BUCKET}/pkg",
    )
    result = run(the_job, timeout=300)

    assert result.state == SUCCEEDED, result.job.error.message
    record = read_json(gcs / BUCKET / "pkg" / "model" / "task.json")
    assert record == {"args": ["--epochs", "2"], "module": "__main__"}
    assert (result.run_dir / "venv" / "bin" / "python").exists()


def test_the_variables_describing_the_job_keep_its_gs_uris(run, gcs: Path) -> None:
    # CLUSTER_SPEC, TF_CONFIG and CLOUD_ML_JOB show the job as submitted: the package's
    # gs:// URI and the gs:// argument stay in CLOUD_ML_JOB as the job gives them.
    task = textwrap.dedent(
        """
        import json, os
        out = os.environ["AIP_MODEL_DIR"]
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "job.json"), "w") as f:
            json.dump({"CLOUD_ML_JOB": os.environ["CLOUD_ML_JOB"]}, f)
        """
    )
    _wheel(gcs / BUCKET / "packages", task)
    package = f"gs://{BUCKET}/packages/trainer-0.1-py3-none-any.whl"
    the_job = job(
        "job-text",
        [
            {
                "machineSpec": {"machineType": "n1-standard-4"},
                "replicaCount": "1",
                "pythonPackageSpec": {
                    "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/sklearn:1",
                    "packageUris": [package],
                    "pythonModule": "trainer.task",
                    "args": [f"--data=gs://{BUCKET}/data"],
                },
            }
        ],
        base_output=f"gs://{BUCKET}/text",
    )
    result = run(the_job, timeout=300)

    assert result.state == SUCCEEDED, result.job.error.message
    record = read_json(gcs / BUCKET / "text" / "model" / "job.json")
    assert record["CLOUD_ML_JOB"] == (
        '{"python_module":"trainer.task",'
        f'"package_uris":["{package}"],'
        f'"job_args":["--data\\u003dgs://{BUCKET}/data"]}}'
    )


def test_a_missing_package_stops_the_run_with_an_environment_problem(
    tmp_path: Path, gcs: Path
) -> None:
    the_job = job(
        "no-package",
        [
            {
                "machineSpec": {"machineType": "n1-standard-4"},
                "replicaCount": "1",
                "pythonPackageSpec": {
                    "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/x:latest",
                    "packageUris": [f"gs://{BUCKET}/missing.tar.gz"],
                    "pythonModule": "trainer.task",
                },
            }
        ],
    )
    with pytest.raises(EnvironmentProblem, match=r"missing\.tar\.gz not found"):
        run_job(the_job, backend="process", gcs_root=gcs, run_dir=tmp_path / "run")


def test_cleanup_dead_kills_runs_of_dead_owners_only(tmp_path: Path) -> None:
    backend = ProcessBackend()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    records = state_dir()
    records.mkdir(parents=True, exist_ok=True)

    def orphan(run_id: str, labels: dict[str, str]) -> subprocess.Popen[bytes]:
        (records / f"{run_id}.json").write_text(json.dumps(labels))
        env = {**os.environ, RUN_MARKER: run_id}
        return subprocess.Popen(["sleep", "300"], env=env, start_new_session=True)

    dead_id, live_id = f"test-dead-{os.getpid()}", f"test-live-{os.getpid()}"
    dead_labels = {**owner_labels(dead_id), LABEL_PID: str(dead.pid), LABEL_PID_START: ""}
    left = orphan(dead_id, dead_labels)
    alive = orphan(live_id, owner_labels(live_id))
    try:
        removed = backend.cleanup_dead()
        assert any(dead_id in line and str(left.pid) in line for line in removed)
        assert left.wait(10) == -9
        assert not (records / f"{dead_id}.json").exists()
        assert alive.poll() is None, "a live owner's run was touched"
        assert (records / f"{live_id}.json").exists()
    finally:
        alive.kill()
        alive.wait()
        left.kill()
        left.wait()
        (records / f"{live_id}.json").unlink(missing_ok=True)


def test_strict_fails_a_validation_warning_before_anything_runs(run, tmp_path: Path) -> None:
    warned = job("strict-warned", [python("print('ran')", machine="g4-standard-48")])
    with pytest.raises(InvalidJobError) as raised:
        run(warned, strict=True, run_dir=tmp_path / "strict")
    assert [(p.field, p.severity) for p in raised.value.report.errors] == [
        ("job_spec.worker_pool_specs[0].machine_spec.machine_type", "error")
    ]
    assert not (tmp_path / "strict").exists()
    relaxed = run(warned)
    assert relaxed.state == SUCCEEDED
    machine = "job_spec.worker_pool_specs[0].machine_spec.machine_type"
    assert "warning" in {n.kind for n in relaxed.notices if n.field == machine}


def test_strict_never_fails_a_run_for_what_is_not_emulated(run) -> None:
    web = job("strict-web", [python("print('ran')")])
    web.job_spec.enable_web_access = True
    result = run(web, strict=True)
    assert result.state == SUCCEEDED, result.job.error.message
    kinds = {n.kind for n in result.notices if n.field == "job_spec.enable_web_access"}
    assert kinds == {"unemulated"}
