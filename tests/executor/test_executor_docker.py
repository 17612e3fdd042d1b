"""The executor on the docker backend: real containers on a real engine.

Every test runs jobs in the image built from cjob_emu/image_recipes/test, standing in for a
registry image through the image map, and checks afterwards that no container or
network of this process is left on the engine.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from google.cloud.aiplatform_v1 import JobState
from support.docker_leftovers import owned, remove, remove_and_assert_none
from support.executor_jobs import (
    BUCKET,
    IMAGE,
    allreduce_job,
    check_allreduce,
    check_roles,
    five_replica_job,
    job,
    python,
    read_json,
    stage_script,
)
from support.paths import TESTS

from cjob_emu.errors import EnvironmentProblem, InvalidJobError
from cjob_emu.executor import JobResult, LogLine, RunOptions, run_job, submit
from cjob_emu.executor.backend import (
    LABEL_HOST,
    LABEL_PID,
    LABEL_PID_START,
    LABEL_REPLICA,
    LABEL_RUN,
    owner_labels,
)
from cjob_emu.executor.docker import DockerBackend

pytestmark = pytest.mark.docker

SUCCEEDED = JobState.JOB_STATE_SUCCEEDED
FAILED = JobState.JOB_STATE_FAILED
CANCELLED = JobState.JOB_STATE_CANCELLED
SLEEP = "import time; time.sleep(300)"
FAST = RunOptions(stop_grace=1)


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(autouse=True)
def nothing_left(engine: Any) -> Iterator[None]:
    """After each test: no container or network of this process on the engine."""
    yield
    remove_and_assert_none(engine)


@pytest.fixture
def run(tmp_path: Path, gcs: Path, cjob_test_image: str):
    """run_job on the docker backend with the test image standing in for IMAGE."""
    counter = iter(range(1000))

    def go(the_job: Any, **kwargs: Any) -> JobResult:
        kwargs.setdefault("backend", "docker")
        kwargs.setdefault("gcs_root", gcs)
        kwargs.setdefault("run_dir", tmp_path / f"run{next(counter)}")
        kwargs.setdefault("image_map", {IMAGE: cjob_test_image})
        kwargs.setdefault("options", FAST)
        return run_job(the_job, **kwargs)

    return go


def owned_by_me(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        assert (path.stat().st_uid, path.stat().st_gid) == (os.getuid(), os.getgid()), path


def test_five_replicas_reach_each_other_by_vertex_hostname(run, gcs: Path) -> None:
    script = stage_script(gcs, "roles.py")
    result = run(five_replica_job(script, f"/gcs/{BUCKET}/roles"), timeout=120)

    assert result.state == SUCCEEDED, result.job.error.message

    def vertex_hostname(address: str, pool_name: str, index: int) -> None:
        host, port = address.rsplit(":", 1)
        assert port == "2222"
        assert host.startswith(f"cmle-training-{pool_name}-") and host.endswith(f"-{index}")

    check_roles(gcs / BUCKET / "roles", vertex_hostname)
    owned_by_me(gcs / BUCKET / "roles")


def test_allreduce_across_containers_equals_the_single_process_reduce(run, gcs: Path) -> None:
    result = run(allreduce_job(gcs, steps=2), timeout=120)

    assert result.state == SUCCEEDED, result.job.error.message
    check_allreduce(gcs, steps=2)
    owned_by_me(gcs / BUCKET)


@pytest.mark.parametrize("failing", ["workerpool0-0", "workerpool1-0"])
def test_a_failing_replica_fails_the_job_naming_it(run, failing: str) -> None:
    code = "import sys\nprint('loading shard 7')\nprint('bad shard', file=sys.stderr)\nsys.exit(3)"
    chief, worker = (code, SLEEP) if failing == "workerpool0-0" else (SLEEP, code)
    result = run(job("fails", [python(chief), python(worker)]))

    assert result.state == FAILED
    assert result.job.error.code == 3
    assert result.job.error.message.startswith(
        f"The replica {failing} exited with a non-zero status of 3."
    )
    assert "loading shard 7" in result.job.error.message
    assert "bad shard" in result.job.error.message
    other = "workerpool1-0" if failing == "workerpool0-0" else "workerpool0-0"
    # The sleeper runs as PID 1, ignores SIGTERM, and is killed after the grace period.
    assert result.replicas[other].stopped
    assert result.replicas[other].exit_code == 137


def test_the_timeout_fails_the_job_and_stops_every_container(run) -> None:
    started = time.monotonic()
    result = run(job("times-out", [python(SLEEP), python(SLEEP)], timeout="2s"))

    assert result.state == FAILED
    assert result.job.error.code == 4
    assert "timeout of 2s" in result.job.error.message
    assert all(r.stopped for r in result.replicas.values())
    assert time.monotonic() - started < 30


def test_restart_on_worker_restart_starts_every_replica_in_a_fresh_container(run) -> None:
    worker = (
        "import os, sys\n"
        "marker = '/gcs/restart/attempted'\n"
        "if not os.path.exists(marker):\n"
        "    os.makedirs('/gcs/restart', exist_ok=True)\n"
        "    open(marker, 'w').close()\n"
        "    sys.exit(2)\n"
        "print('second attempt works')"
    )
    chief = (
        "import os, time\n"
        "while not os.path.exists('/gcs/restart/attempted'):\n"
        "    time.sleep(0.1)\n"
        "time.sleep(1)\n"
        "print('chief done')"
    )
    result = run(job("restart", [python(chief), python(worker)], restart=True), timeout=60)

    assert result.state == SUCCEEDED, result.job.error.message
    assert {name: r.attempts for name, r in result.replicas.items()} == {
        "workerpool0-0": 2,
        "workerpool1-0": 2,
    }
    assert "second attempt works" in result.replicas["workerpool1-0"].log_path.read_text()


def test_cancel_mid_run_and_what_the_containers_are_given(
    engine: Any, tmp_path: Path, gcs: Path, cjob_test_image: str
) -> None:
    seen = threading.Event()
    training: set[str] = set()

    def watch(event: Any) -> None:
        if isinstance(event, LogLine) and event.line == "training":
            training.add(event.replica.name)
            if len(training) == 3:
                seen.set()

    code = "import time\nprint('training', flush=True)\ntime.sleep(300)"
    the_job = job(
        "cancel-me",
        [python(code, machine="n1-standard-8"), python(code, replicas=2, machine="e2-highmem-2")],
    )
    options = RunOptions(stop_grace=1, resource_limits=True)
    running = submit(
        the_job,
        backend="docker",
        gcs_root=gcs,
        run_dir=tmp_path / "run",
        image_map={IMAGE: cjob_test_image},
        options=options,
        on_event=watch,
    )
    try:
        assert seen.wait(60)
        containers, networks = owned(engine, **{LABEL_RUN: running.run.run_id})
        assert len(containers) == 3 and len(networks) == 1
        host_cpus = engine.info()["NCPU"]
        for summary in containers:
            info = engine.api.inspect_container(summary["Id"])
            labels = info["Config"]["Labels"]
            replica = labels[LABEL_REPLICA]
            assert labels[LABEL_PID] == str(os.getpid()) and labels[LABEL_PID_START]
            assert info["Config"]["User"] == f"{os.getuid()}:{os.getgid()}"
            assert info["Config"]["Image"] == cjob_test_image
            assert not info["HostConfig"]["Privileged"]
            assert [(m["Source"], m["Destination"], m["RW"]) for m in info["Mounts"]] == [
                (str(gcs.resolve()), "/gcs", True)
            ]
            endpoint = info["NetworkSettings"]["Networks"][networks[0]["Name"]]
            assert info["Config"]["Hostname"] in endpoint["Aliases"]
            assert info["Config"]["Hostname"].startswith(f"cmle-training-{replica.split('-')[0]}-")
            # Limits follow the machine types, scaled so their sum fits the host.
            assert 0 < info["HostConfig"]["NanoCpus"] <= host_cpus * 10**9
            assert info["HostConfig"]["Memory"] > 0
        limits = {
            engine.api.inspect_container(c["Id"])["Config"]["Labels"][LABEL_REPLICA]: (
                engine.api.inspect_container(c["Id"])["HostConfig"]["NanoCpus"]
            )
            for c in containers
        }
        # n1-standard-8 (8 vCPUs) against e2-highmem-2 (2 vCPUs): the same 4:1 ratio.
        assert limits["workerpool0-0"] == pytest.approx(4 * limits["workerpool1-0"], rel=0.01)
        assert sum(limits.values()) <= host_cpus * 10**9
        assert running.state == JobState.JOB_STATE_RUNNING
        assert running.cancel()
        result = running.wait(60)
    finally:
        running.cancel()
        running.wait(60)

    assert result.state == CANCELLED
    assert result.job.error.code == 1
    assert all(r.stopped for r in result.replicas.values())


def test_a_missing_image_stops_the_run_before_any_container_starts(
    engine: Any, tmp_path: Path, gcs: Path, cjob_test_image: str
) -> None:
    vertex = "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-12.py310:latest"
    the_job = job(
        "missing-image",
        [
            python("print(1)", image=vertex),
            python("print(1)", image=cjob_test_image),
            python("print(1)", image=IMAGE),
        ],
    )
    since = int(time.time()) - 1
    running = submit(
        the_job,
        backend="docker",
        gcs_root=gcs,
        run_dir=tmp_path / "run",
        image_map={IMAGE: "cjob-emu/not-built:never"},
    )
    with pytest.raises(EnvironmentProblem) as caught:
        running.wait(60)
    message = str(caught.value)
    assert caught.value.exit_code == 3
    assert running.state == FAILED
    assert f"{vertex} is one of Vertex's prebuilt images" in message
    assert f"--image-map {vertex}=LOCAL_TAG" in message
    assert f"cjob-emu/not-built:never (standing in for {IMAGE}" in message
    assert cjob_test_image not in message  # the present image is fine
    # Nothing was even created: no container, no network of this run.
    happened = engine.events(
        since=since,
        until=int(time.time()) + 1,
        decode=True,
        filters={"label": f"{LABEL_RUN}={running.run.run_id}"},
    )
    assert [(e["Type"], e["Action"]) for e in happened] == []


def test_an_invalid_job_is_refused_before_anything_runs(tmp_path: Path, gcs: Path) -> None:
    invalid = job("invalid", [python("print(1)", replicas=2)])  # pool 0 must have 1 replica
    with pytest.raises(InvalidJobError) as caught:
        run_job(invalid, backend="docker", gcs_root=gcs, run_dir=tmp_path / "run")
    assert caught.value.report.errors
    assert not (tmp_path / "run").exists()


def _sdist(path: Path) -> Path:
    """A source distribution of package ``trainer``, as Vertex's packages usually are."""
    task = textwrap.dedent(
        """
        import json, os, sys
        out = os.environ["AIP_MODEL_DIR"].replace("gs://", "/gcs/", 1)
        os.makedirs(out, exist_ok=True)
        name = json.loads(os.environ["CLUSTER_SPEC"])["task"]["type"]
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump({"args": sys.argv[1:], "module": __name__}, f)
        """
    )
    files = {
        "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "trainer"\nversion = "0.1"\n',
        "PKG-INFO": "Metadata-Version: 2.1\nName: trainer\nVersion: 0.1\n",
        "trainer/__init__.py": "",
        "trainer/task.py": task,
    }
    archive = path / "trainer-0.1.tar.gz"
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for name, content in files.items():
            data = content.encode()
            info = tarfile.TarInfo(f"trainer-0.1/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


def test_python_package_pools_install_the_package_and_run_the_module(
    run, gcs: Path, tmp_path: Path, cjob_test_image: str
) -> None:
    _sdist(gcs / BUCKET / "packages")
    outside = _sdist(tmp_path / "elsewhere")  # a local path: mounted read-only on its own
    executor = "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest"

    def package_pool(uri: str) -> dict[str, Any]:
        return {
            "machineSpec": {"machineType": "n1-standard-4"},
            "replicaCount": "1",
            "pythonPackageSpec": {
                "executorImageUri": executor,
                "packageUris": [uri],
                "pythonModule": "trainer.task",
                "args": ["--epochs", "2"],
            },
        }

    the_job = job(
        "package",
        [package_pool(f"gs://{BUCKET}/packages/trainer-0.1.tar.gz"), package_pool(str(outside))],
        base_output=f"gs://{BUCKET}/pkg",
    )
    result = run(the_job, image_map={executor: cjob_test_image}, timeout=120)

    assert result.state == SUCCEEDED, result.job.error.message
    for pool_name in ("workerpool0", "workerpool1"):
        record = read_json(gcs / BUCKET / "pkg" / "model" / f"{pool_name}.json")
        assert record == {"args": ["--epochs", "2"], "module": "__main__"}
    owned_by_me(gcs / BUCKET / "pkg")


def test_gpu_passthrough_without_gpus_on_the_host_is_an_environment_problem(
    run, engine: Any
) -> None:
    if any("nvidia" in name for name in engine.info().get("Runtimes", {})):
        pytest.skip("this engine has an NVIDIA runtime")
    gpu_pool = python("print(1)")
    gpu_pool["machineSpec"] = {
        "machineType": "n1-standard-4",
        "acceleratorType": "NVIDIA_TESLA_T4",
        "acceleratorCount": 1,
    }
    with pytest.raises(EnvironmentProblem, match="GPU passthrough needs GPUs"):
        run(job("gpu", [gpu_pool]), options=RunOptions(stop_grace=1, gpus=True))


def test_cleanup_dead_removes_dead_owners_resources_only(engine: Any, cjob_test_image: str) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead_labels = {**owner_labels("dead-run"), LABEL_PID: str(dead.pid)}
        dead_labels.pop(LABEL_PID_START)
        alive_labels = {**owner_labels("alive-run"), LABEL_PID: str(alive.pid)}
        with open(f"/proc/{alive.pid}/stat") as stat:
            alive_labels[LABEL_PID_START] = stat.read().rsplit(")", 1)[1].split()[19]
        reused_labels = {**owner_labels("reused-run"), LABEL_PID: str(alive.pid)}
        reused_labels[LABEL_PID_START] = "1"  # the pid lives, but it is another process now
        elsewhere = {**dead_labels, LABEL_RUN: "other-host", LABEL_HOST: "some-other-host"}
        for labels in (dead_labels, alive_labels, reused_labels, elsewhere):
            engine.api.create_network(f"cjob-emu-test-{labels[LABEL_RUN]}", labels=labels)
            engine.api.create_container(cjob_test_image, command=["sleep", "60"], labels=labels)

        removed = DockerBackend().cleanup_dead()

        # Other processes' runs may remove them first (they clean up too): no count here.
        assert all(("run dead-run" in line) or ("run reused-run" in line) for line in removed)
        for run_id, left in (("dead-run", 0), ("reused-run", 0), ("alive-run", 1)):
            containers, networks = owned(engine, **{LABEL_RUN: run_id})
            assert (len(containers), len(networks)) == (left, left), run_id
        containers, networks = owned(engine, **{LABEL_RUN: "other-host"})
        assert (len(containers), len(networks)) == (1, 1)
    finally:
        alive.kill()
        alive.wait()
        for run_id in ("alive-run", "other-host", "dead-run", "reused-run"):
            containers, networks = owned(engine, **{LABEL_RUN: run_id})
            for container in containers:
                engine.api.remove_container(container["Id"], force=True)
            for network in networks:
                engine.api.remove_network(network["Id"])


_OWNER = """
import sys
from support.executor_jobs import IMAGE, job, python
from cjob_emu.executor import RunOptions, run_job

sleep = "import time; time.sleep(300)"
run_job(
    job("owner", [python(sleep), python(sleep)]),
    backend="docker",
    gcs_root=sys.argv[1],
    run_dir=sys.argv[2],
    image_map={IMAGE: sys.argv[3]},
    options=RunOptions(stop_grace=1),
)
"""


@pytest.mark.parametrize("how", ["ctrl-c", "killed"])
def test_an_interrupted_run_leaves_nothing_and_a_killed_one_is_cleaned_up(
    engine: Any, tmp_path: Path, gcs: Path, cjob_test_image: str, how: str
) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER, str(gcs), str(tmp_path / "run"), cjob_test_image],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])},
    )
    labels = {LABEL_HOST: socket.gethostname(), LABEL_PID: str(owner.pid)}
    try:
        deadline = time.monotonic() + 60
        while (
            len(engine.api.containers(filters={"label": [f"{k}={v}" for k, v in labels.items()]}))
            < 2
        ):
            assert owner.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        if how == "ctrl-c":
            owner.send_signal(signal.SIGINT)
            owner.wait(60)
            assert owned(engine, owner.pid) == ([], [])
        else:
            owner.kill()
            owner.wait(60)
            containers, networks = owned(engine, owner.pid)
            assert (len(containers), len(networks)) == (2, 1)
            removed = DockerBackend().cleanup_dead()
            # Another test process may clean up first; what this one removed was the dead run's.
            assert all(f"dead process {owner.pid})" in line for line in removed)
            assert owned(engine, owner.pid) == ([], [])
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        remove(engine, owner.pid)
