"""The ``cjob-emu validate`` and ``cjob-emu env`` commands: output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support.paths import ROOT

from cjob_emu.cli import main

JOBS = ROOT / "fixtures" / "jobs"
INVALID = ROOT / "fixtures" / "invalid"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a child process, as a CI step runs it."""
    return subprocess.run(
        [sys.executable, "-m", "cjob_emu.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_validate_every_sample_job_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in JOBS.glob("*.*"))
    assert main(["validate", *files]) == 0
    out = capsys.readouterr().out
    assert out.count(": valid (0 error(s)") == len(files)


def test_validate_invalid_job_lists_every_problem_with_its_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["validate", str(INVALID / "many_problems.yaml")]) == 1
    out = capsys.readouterr().out
    assert "invalid" in out
    assert "job_spec.worker_pool_specs[0].replica_count" in out
    assert "job_spec.worker_pool_specs[0].machine_spec.accelerator_type" in out
    assert "job_spec.worker_pool_specs[1].container_spec.image_uri" in out
    assert "job_spec.worker_pool_specs[1].disk_spec.boot_disk_size_gb" in out


def test_validate_unknown_field_is_invalid_not_unreadable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["validate", "--json", str(INVALID / "unknown_field.json")]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["valid"] is False
    fields = [e["field"] for e in result["errors"]]
    assert "job_spec.worker_pool_specs[0].container_spec.arguments" in fields


def test_validate_json_prints_one_object_per_file(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(JOBS / "distributed.yaml"), str(INVALID / "many_problems.yaml")]
    assert main(["validate", "--json", *files]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["file"] == files[0] and first["valid"] is True and first["errors"] == []
    assert second["valid"] is False
    assert all(set(e) == {"field", "message"} for e in second["errors"])
    assert isinstance(second["warnings"], list)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("truncated.json", "not valid JSON or YAML"),
        ("a_list.yaml", "holds a list"),
        ("empty.yaml", "is empty"),
        ("does-not-exist.yaml", "no such file"),
    ],
)
def test_validate_unreadable_input_is_one_line_and_exit_2(name: str, expected: str) -> None:
    result = run_cli("validate", str(INVALID / name))
    assert result.returncode == 2
    assert expected in result.stderr
    assert name in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_validate_directory_is_unreadable() -> None:
    result = run_cli("validate", str(JOBS))
    assert result.returncode == 2
    assert "is a directory" in result.stderr


def test_unreadable_wins_over_invalid_in_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", str(INVALID / "many_problems.yaml"), str(INVALID / "empty.yaml")])
    assert code == 2


def test_validate_bad_region(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--location", "moon-central1", str(JOBS / "single_rest.json")]) == 1
    assert "moon-central1" in capsys.readouterr().out


def test_usage_errors_exit_2() -> None:
    assert run_cli().returncode == 2
    assert run_cli("validate").returncode == 2
    assert run_cli("frobnicate").returncode == 2


def test_env_json_is_keyed_by_replica(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "--json", str(JOBS / "distributed.yaml")]) == 0
    envs = json.loads(capsys.readouterr().out)
    assert list(envs) == [
        "workerpool0-0",
        "workerpool1-0",
        "workerpool1-1",
        "workerpool2-0",
        "workerpool3-0",
    ]
    for name, env in envs.items():
        assert all(isinstance(v, str) for v in env.values())
        spec = json.loads(env["CLUSTER_SPEC"])
        pool, index = name.removeprefix("workerpool").split("-")
        assert spec["task"]["type"] == f"workerpool{pool}"
        assert spec["task"]["index"] == int(index)
    assert json.loads(envs["workerpool3-0"]["TF_CONFIG"])["task"] == {
        "type": "evaluator",
        "index": 0,
    }
    # the pool's own env, with $(VAR) expansion
    assert envs["workerpool1-1"]["RUN_NAME"] == "roles-3-epochs"
    assert envs["workerpool0-0"]["AIP_MODEL_DIR"] == "gs://cjob-emu-demo/distributed-roles/model/"


def test_env_one_replica_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", str(JOBS / "distributed.yaml"), "--replica", "workerpool2-0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# workerpool2-0")
    assert '"task":{"type":"ps","index":0}' in out
    assert "workerpool1-0" not in out.splitlines()[0]


def test_env_single_replica_job_has_no_tf_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "--json", str(JOBS / "single_rest.json")]) == 0
    env = json.loads(capsys.readouterr().out)["workerpool0-0"]
    assert "CLUSTER_SPEC" in env and "TF_CONFIG" not in env


def test_env_unknown_replica_names_the_choices() -> None:
    result = run_cli("env", str(JOBS / "single_rest.json"), "--replica", "workerpool1-0")
    assert result.returncode == 2
    assert "workerpool0-0" in result.stderr


def test_env_no_pytorch_and_project_number(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "env",
        "--json",
        "--no-pytorch-env",
        "--project-number",
        "42",
        str(JOBS / "distributed.yaml"),
    ]
    assert main(argv) == 0
    env = json.loads(capsys.readouterr().out)["workerpool1-0"]
    assert "MASTER_ADDR" not in env and "RANK" not in env
    assert env["CLOUD_ML_PROJECT_ID"] == "42"


def test_env_cluster_spec_job_choices(capsys: pytest.CaptureFixture[str]) -> None:
    job_file = str(JOBS / "python_package_snake.yaml")
    assert main(["env", "--json", job_file]) == 0
    env = json.loads(capsys.readouterr().out)["workerpool0-0"]
    assert json.loads(env["CLUSTER_SPEC"])["job"] == env["CLOUD_ML_JOB"]
    assert set(json.loads(env["CLOUD_ML_JOB"])) == {"python_module", "package_uris", "job_args"}
    assert main(["env", "--json", "--cluster-spec-job", "string", job_file]) == 0
    env = json.loads(capsys.readouterr().out)["workerpool0-0"]
    assert "workerPoolSpecs" in json.loads(json.loads(env["CLUSTER_SPEC"])["job"])


def test_env_of_unreadable_and_invalid_structure() -> None:
    assert run_cli("env", str(INVALID / "empty.yaml")).returncode == 2
    result = run_cli("env", str(INVALID / "unknown_field.json"))
    assert result.returncode == 1
    assert "container_spec.arguments" in result.stderr


def test_validate_a_compiled_pipeline_names_each_custom_job_task(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pipeline = ROOT / "fixtures" / "pipelines" / "train_eval.yaml"
    assert main(["validate", "--json", str(pipeline)]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["file"], r["task"], r["valid"]) for r in results] == [(str(pipeline), "train", True)]
