"""The inputs users already have, through the real CLI: gcloud's CustomJobSpec files and
flags, pipelines in .py files, and local-run's way of running a script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cjob_emu.cli import main

# the --config example of `gcloud ai custom-jobs create --help`, as written there
GCLOUD_CONFIG = """\
workerPoolSpecs:
  machineSpec:
    machineType: n1-highmem-2
  replicaCount: 1
  containerSpec:
    imageUri: gcr.io/ucaip-test/ucaip-training-test
    args:
    - port=8500
    command:
    - start
"""
# the --worker-pool-spec example of the same help
GCLOUD_POOL = (
    "replica-count=1,machine-type=n1-highmem-2,"
    "container-image-uri=gcr.io/ucaip-test/ucaip-training-test"
)
PRINT_ARGS = (
    "import json, os, sys, time; "
    "print('args', sys.argv[1:], 'GREETING', os.environ.get('GREETING'), flush=True); "
    # the chief's end stops the other replicas: let them print first
    "task = json.loads(os.environ['CLUSTER_SPEC'])['task']; "
    "time.sleep(2 if task['type'] == 'workerpool0' else 0)"
)

PIPELINE = """\
from kfp import dsl


@dsl.component(base_image="python:3.11")
def add(a: int, b: int) -> int:
    return a + b


@dsl.component(base_image="python:3.11")
def double(x: int) -> int:
    return 2 * x


@dsl.pipeline(name="adder")
def adder(x: int = 1) -> int:
    return double(x=add(a=x, b=2).output).output
"""


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "cjob_emu.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        env=os.environ,
    )


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_validate_takes_gclouds_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "config.yaml", GCLOUD_CONFIG)
    assert main(["validate", str(path)]) == 0
    assert f"{path}: valid (0 error(s)" in capsys.readouterr().out


def test_a_config_files_problems_name_the_paths_written_in_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path / "config.yaml",
        """\
        workerPoolSpecs:
        - machineSpec: {machineType: n1-highmem-2}
          replicaCount: 2
          containerSpec: {imageUri: gcr.io/p/t:1}
        baseOutputDirectory: {outputUriPrefix: not-a-gs-uri}
        """,
    )
    assert main(["validate", "--json", str(path)]) == 1
    result = json.loads(capsys.readouterr().out)
    fields = [e["field"] for e in result["errors"]]
    assert "worker_pool_specs[0].replica_count" in fields
    assert not [f for f in fields if f.startswith("job_spec") or f == "display_name"]


def test_env_takes_a_config_file_and_a_display_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "config.yaml", GCLOUD_CONFIG)
    assert main(["env", "--json", str(path), "--display-name", "mine"]) == 0
    env = json.loads(capsys.readouterr().out)
    assert list(env) == ["workerpool0-0"]
    assert json.loads(env["workerpool0-0"]["CLUSTER_SPEC"])["task"]["type"] == "workerpool0"


def test_run_takes_a_config_file_named_after_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path / "nightly-train.yaml",
        f"""\
        workerPoolSpecs:
        - machineSpec: {{machineType: n1-standard-4}}
          replicaCount: 1
          containerSpec:
            imageUri: python:3.11
            command: [python3, -c, "{PRINT_ARGS}"]
        """,
    )
    result = cli("run", "--backend=process", str(path), "--args=a,b", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "workerpool0-0 | args ['a', 'b']" in result.stdout
    assert "job 'nightly-train' JOB_STATE_SUCCEEDED" in result.stdout


def test_run_refuses_a_config_file_naming_the_paths_written_in_it(tmp_path: Path) -> None:
    path = write(
        tmp_path / "config.yaml",
        """\
        workerPoolSpecs:
        - machineSpec: {machineType: n1-standard-4}
          replicaCount: 2
          containerSpec: {imageUri: python:3.11, command: [python3, -c, "print(1)"]}
        """,
    )
    result = cli("run", "--backend=process", str(path), cwd=tmp_path)
    assert result.returncode == 1
    assert "error   worker_pool_specs[0].replica_count: The primary worker pool" in result.stderr
    assert "job_spec" not in result.stderr


def test_validate_takes_gclouds_worker_pool_spec_flags(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["validate", f"--worker-pool-spec={GCLOUD_POOL}", "--display-name=test"]
    assert main([*argv, "--region=us-central1"]) == 0
    assert "(flags): valid" in capsys.readouterr().out
    second = GCLOUD_POOL.replace("replica-count=1", "replica-count=2")
    assert main(["validate", f"--worker-pool-spec={second}", "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert [e["field"] for e in result["errors"]] == ["job_spec.worker_pool_specs[0].replica_count"]


def test_worker_pool_specs_replace_a_config_files_pools(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "config.yaml", "baseOutputDirectory: {outputUriPrefix: gs://b/o}\n")
    assert main(["validate", "--config", str(path)]) == 1  # no pool: Vertex refuses it
    capsys.readouterr()
    argv = ["validate", "--config", str(path), f"--worker-pool-spec={GCLOUD_POOL}"]
    assert main(argv) == 0
    assert f"{path}: valid" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--worker-pool-spec=machine-type=n1-standard-4,frobnicate=1"],
            "unknown key [frobnicate]",
        ),
        (["--worker-pool-spec=machine-type=n1-standard-4"], "exactly one of keys"),
        ([f"--worker-pool-spec={GCLOUD_POOL}", "--env=NOVALUE"], "--env 'NOVALUE'"),
    ],
)
def test_bad_gcloud_flags_are_one_line_and_exit_2(
    flags: list[str], message: str, tmp_path: Path
) -> None:
    result = cli("validate", *flags, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_run_takes_worker_pool_specs_with_gclouds_lists_and_env(tmp_path: Path) -> None:
    pool = "machine-type=n1-standard-4,replica-count=1,container-image-uri=python:3.11"
    result = cli(
        "run",
        "--backend=process",
        f"--worker-pool-spec={pool}",
        "--worker-pool-spec=",
        f"--worker-pool-spec={pool}",
        f"--command=^|^python3|-c|{PRINT_ARGS}",
        "--args=--lr=0.1,--tags=^x",
        "--args=last",
        "--env=GREETING=hello",
        "--display-name=from-flags",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    printed = "args ['--lr=0.1', '--tags=^x', 'last'] GREETING hello"
    assert f"workerpool0-0 | {printed}" in result.stdout
    assert f"workerpool2-0 | {printed}" in result.stdout
    assert "workerpool1" not in result.stdout
    assert "job 'from-flags' JOB_STATE_SUCCEEDED" in result.stdout


def test_local_run_on_the_process_backend_runs_the_module_from_its_directory(
    tmp_path: Path,
) -> None:
    package = tmp_path / "app"
    (package / "trainer").mkdir(parents=True)
    (package / "trainer" / "__init__.py").write_text("")
    # the chief's exit ends the job (workers still running are stopped, as on Vertex):
    # it waits until the worker has said its line
    marker = tmp_path / "worker-said-it"
    (package / "trainer" / "task.py").write_text(
        "import json, os, pathlib, sys, time\n"
        "task = json.loads(os.environ['CLUSTER_SPEC'])['task']\n"
        "print(task['type'], 'in', os.getcwd(), 'with', sys.argv[1:], flush=True)\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if task['type'] == 'workerpool1':\n"
        "    marker.write_text('done')\n"
        "deadline = time.time() + 60\n"
        "while not marker.exists() and time.time() < deadline:\n"
        "    time.sleep(0.05)\n"
    )
    result = cli(
        "run",
        "--backend=process",
        "--executor-image-uri=us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-4:latest",
        f"--local-package-path={package}",
        "--python-module=trainer.task",
        "--replica-count=2",
        "--",
        "--epochs",
        "3",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for pool in ("workerpool0", "workerpool1"):
        assert f"{pool}-0 | {pool} in {package} with ['--epochs', '3']" in result.stdout
    assert "job 'task' JOB_STATE_SUCCEEDED" in result.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--backend=process"], "give a job FILE, --worker-pool-spec"),
        (["run", "a.yaml", "b.yaml"], "one FILE at a time"),
        (["run", "--script=task.py"], "--executor-image-uri is required"),
        (["run", "--executor-image-uri=i", "--requirements=numpy"], "--script or --python-module"),
        (["run", "--executor-image-uri=i", "--script=absent.py"], "--script: file 'absent.py'"),
    ],
)
def test_run_without_one_job_to_run_exits_2(argv: list[str], message: str, tmp_path: Path) -> None:
    result = cli(*argv, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr


def test_run_compiles_a_pipeline_in_a_py_file_and_runs_it(tmp_path: Path) -> None:
    path = write(tmp_path / "pipeline.py", PIPELINE)
    result = cli("run", str(path), "--backend=process", "--param=x=5", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pipeline run adder-" in result.stdout and "SUCCEEDED" in result.stdout
    assert "output Output = 14" in result.stdout


def test_run_a_component_of_a_py_file_as_one_task(tmp_path: Path) -> None:
    path = write(tmp_path / "pipeline.py", PIPELINE)
    result = cli(
        "run", f"{path}:add", "--backend=process", "--param=a=1", "--param=b=4", cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "task add (container): succeeded" in result.stdout
    assert "output Output = 5" in result.stdout


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        (
            PIPELINE.replace('@dsl.pipeline(name="adder")\n', ""),
            "p.py",
            "no @dsl.pipeline at the top of the file (pipelines: none; components: add, double); "
            "run a component as one task with p.py:NAME",
        ),
        (
            PIPELINE + '\n\n@dsl.pipeline(name="other")\ndef other() -> int:\n'
            "    return add(a=1, b=1).output\n",
            "p.py",
            "2 pipelines (adder, other); pick one with p.py:NAME",
        ),
        (PIPELINE, "p.py:nothing", "no such name (pipelines: adder; components: add, double)"),
        (PIPELINE + "\nhelper = 3\n", "p.py:helper", "not a kfp pipeline or component"),
        ("import not_a_module_anywhere\n", "p.py", "importing it failed: ModuleNotFoundError"),
    ],
)
def test_a_py_file_without_one_pipeline_names_the_candidates(
    source: str, target: str, message: str, tmp_path: Path
) -> None:
    write(tmp_path / "p.py", source)
    result = cli("run", target, "--backend=process", cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_validate_a_pipeline_in_a_py_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "pipeline.py", PIPELINE)
    assert main(["validate", str(path)]) == 0
    assert "compiled pipeline with no CustomJob task" in capsys.readouterr().out
