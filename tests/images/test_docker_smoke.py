"""The Docker path end to end: a replica's environment reaches a container of the test image.

Also what a CI run meets when Docker is missing: scripts/ensure-docker.sh's answers, and the
``docker`` marker's policy (with no engine such a test skips locally and fails under CI=true).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from support.paths import ROOT

from cjob_emu.cluster import cluster_spec, parse_replica_name, replica_env
from cjob_emu.spec import load_job

SMOKE_LABELS = {"cjob-emu.test": "docker-smoke"}
PRINT_CLUSTER_SPEC = 'import os; print(os.environ["CLUSTER_SPEC"])'


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    engine = docker.from_env()
    yield engine
    engine.close()


def run_python(client: Any, image: str, code: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``python3 -c code`` in a fresh container, then removed."""
    container = client.containers.run(
        image,
        ["python3", "-c", code],
        environment=env,
        labels=SMOKE_LABELS,
        network_disabled=True,
        detach=True,
    )
    try:
        status = container.wait(timeout=120)["StatusCode"]
        out = container.logs(stdout=True, stderr=False).decode()
        err = container.logs(stdout=False, stderr=True).decode()
    finally:
        container.remove(force=True)
    return status, out, err


@pytest.mark.docker
@pytest.mark.parametrize("name", ["workerpool0-0", "workerpool1-1", "workerpool3-0"])
def test_container_sees_the_cluster_spec_it_was_given(
    client: Any, cjob_test_image: str, name: str
) -> None:
    job = load_job(ROOT / "fixtures" / "jobs" / "distributed.yaml")
    replica = parse_replica_name(name)
    env = replica_env(job, replica)

    status, out, err = run_python(client, cjob_test_image, PRINT_CLUSTER_SPEC, env)

    assert status == 0, err
    assert out == env["CLUSTER_SPEC"] + "\n"
    printed = json.loads(out)
    assert printed == cluster_spec(job, replica)
    assert printed["task"] == {"type": f"workerpool{replica.pool}", "index": replica.index}
    assert client.containers.list(all=True, filters={"label": "cjob-emu.test=docker-smoke"}) == []


@pytest.mark.docker
def test_container_is_removed_when_the_code_fails(client: Any, cjob_test_image: str) -> None:
    status, _, err = run_python(client, cjob_test_image, "raise SystemExit('boom')", {})

    assert status == 1
    assert "boom" in err
    assert client.containers.list(all=True, filters={"label": "cjob-emu.test=docker-smoke"}) == []


DOCKER_TEST = """
import pytest

@pytest.mark.docker
def test_needs_docker():
    pass
"""


def run_without_engine(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str
) -> pytest.RunResult:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{pytester.path}/no-engine.sock")
    monkeypatch.setenv("CI", ci)
    pytester.makepyfile(DOCKER_TEST)
    return pytester.runpytest_subprocess("-rsf")


def test_docker_test_skips_without_engine_outside_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_without_engine(pytester, monkeypatch, ci="")

    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no Docker engine answers*"])


def test_docker_test_fails_without_engine_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_without_engine(pytester, monkeypatch, ci="true")

    # The plugin fails it in setup, so pytest counts an error: the run still exits non-zero.
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*CI=true and no Docker engine answers*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def ensure_docker(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure-docker.sh")],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.docker
def test_ensure_docker_does_nothing_when_an_engine_answers() -> None:
    result = ensure_docker({})

    assert result.returncode == 0
    assert "a Docker engine answers" in result.stderr
    assert "starting dockerd" not in result.stderr


def test_ensure_docker_will_not_start_an_engine_for_a_foreign_docker_host(tmp_path: Path) -> None:
    result = ensure_docker({"DOCKER_HOST": f"unix://{tmp_path}/elsewhere.sock"})

    assert result.returncode == 3
    assert "no engine answers there" in result.stderr
