"""A local training package built into an image, as ``gcloud ai custom-jobs local-run`` does,
and run by ``cjob-emu run`` with local-run's flags on a real engine."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from cjob_emu.errors import EnvironmentProblem, InputError
from cjob_emu.gcloud_flags import LocalPackage
from cjob_emu.package_image import dockerfile, ensure_package_image, package_files

TASK = """\
import json, os, sys, time
task = json.loads(os.environ["CLUSTER_SPEC"])["task"]
print(f"{task['type']}-{task['index']} ran {__file__} in {os.getcwd()} with {sys.argv[1:]}")
if task["type"] == "workerpool0":
    time.sleep(2)  # the chief's end stops the workers: let them print first
"""


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    engine = docker.from_env()
    yield engine
    engine.close()


@pytest.fixture
def package_dir(tmp_path: Path) -> Path:
    """A package of its own (a marker in the source: no earlier run's image matches it)."""
    root = tmp_path / "app"
    (root / "trainer").mkdir(parents=True)
    (root / "trainer" / "task.py").write_text(f"# {uuid.uuid4()}\n{TASK}")
    (root / "trainer" / "__init__.py").write_text("")
    (root / "trainer" / "__pycache__").mkdir()
    (root / "trainer" / "__pycache__" / "task.cpython-311.pyc").write_bytes(b"stale")
    (root / "notes.txt").write_text("not copied: outside the script's directory\n")
    return root


@pytest.fixture
def built_tags(client: Any) -> Iterator[list[str]]:
    """Tags a test built; removed after it."""
    tags: list[str] = []
    yield tags
    for tag in tags:
        if client.images.list(name=tag):
            client.images.remove(tag, force=True)


def tiny_wheel(directory: Path) -> str:
    """A pure-Python wheel without dependencies, installable offline; its file name."""
    name = "cjobemu_tiny-0.1-py3-none-any.whl"
    with zipfile.ZipFile(directory / name, "w") as wheel:
        wheel.writestr("cjobemu_tiny/__init__.py", "GREETING = 'hello from the wheel'\n")
        info = "cjobemu_tiny-0.1.dist-info"
        wheel.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: cjobemu-tiny\nVersion: 0.1\n"
        )
        wheel.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        wheel.writestr(f"{info}/RECORD", "")
    return name


def test_the_dockerfile_is_gclouds_dependencies_first_then_the_code() -> None:
    package = LocalPackage(
        ".",
        "base:1",
        python_module="trainer.task",
        requirements=("numpy==1.26", "pandas>=2"),
        extra_packages=("dist/dep-1.0.tar.gz",),
        extra_dirs=("data",),
    )
    text = dockerfile(package, "local/base:1", {"requirements.txt": b"six\n"})
    assert text.splitlines() == [
        "FROM local/base:1",
        "RUN mkdir -m 777 -p /usr/app /home",
        "WORKDIR /usr/app",
        "ENV HOME=/home",
        "ENV PYTHONDONTWRITEBYTECODE=1",
        'COPY ["src/requirements.txt", "./requirements.txt"]',
        "RUN python3 -m pip install --no-cache-dir -r ./requirements.txt",
        'COPY ["src/dist/dep-1.0.tar.gz", "dep-1.0.tar.gz"]',
        "RUN python3 -m pip install --no-cache-dir dep-1.0.tar.gz",
        "RUN python3 -m pip install --no-cache-dir --upgrade numpy==1.26 'pandas>=2'",
        'COPY ["src/trainer", "trainer"]',
        'COPY ["src/data", "data"]',
        'ENTRYPOINT ["python3", "-m", "trainer.task"]',
    ]


def test_the_image_gets_the_scripts_directory_without_caches(package_dir: Path) -> None:
    files = package_files(LocalPackage(str(package_dir), "b", script="trainer/task.py"))
    assert sorted(files) == ["trainer/__init__.py", "trainer/task.py"]
    whole = package_files(
        LocalPackage(str(package_dir), "b", script="trainer/task.py", extra_dirs=(".",))
    )
    assert "notes.txt" in whole


@pytest.mark.parametrize(
    ("package", "message"),
    [
        (LocalPackage("missing", "b", script="t.py"), "no such directory"),
        (LocalPackage(".", "b", script="nope.py"), "--script: file 'nope.py' is not found"),
        (LocalPackage(".", "b", python_module="no.mod"), "--python-module: file 'no/mod.py'"),
        (LocalPackage(".", "b", script="trainer/task.py", extra_dirs=("x",)), "--extra-dirs"),
        (LocalPackage(".", "b", script="trainer/task.py", extra_packages=("x.whl",)), "--extra-p"),
    ],
)
def test_what_is_not_there_is_named(package: LocalPackage, message: str, package_dir: Path) -> None:
    if package.path == ".":
        package = dataclasses.replace(package, path=str(package_dir))
    with pytest.raises(InputError, match=message):
        package_files(package)


@pytest.mark.docker
def test_a_package_builds_once_and_rebuilds_when_its_source_changes(
    client: Any, cjob_test_image: str, package_dir: Path, built_tags: list[str]
) -> None:
    package = LocalPackage(str(package_dir), cjob_test_image, python_module="trainer.task")
    first = ensure_package_image(client, package, log=lambda _: None)
    built_tags.append(first.tag)
    again = ensure_package_image(client, package, log=lambda _: None)

    assert first.built and first.tag.startswith("cjob-emu/package-task:")
    assert not again.built and (again.tag, again.image_id) == (first.tag, first.image_id)
    image = client.images.get(first.tag)
    assert image.attrs["Config"]["Entrypoint"] == ["python3", "-m", "trainer.task"]
    assert image.attrs["Config"]["WorkingDir"] == "/usr/app"

    (package_dir / "trainer" / "task.py").write_text(f"# changed\n{TASK}")
    changed = ensure_package_image(client, package, log=lambda _: None)
    built_tags.append(changed.tag)
    assert changed.built and changed.tag != first.tag


@pytest.mark.docker
def test_a_missing_executor_image_is_an_environment_problem(client: Any, package_dir: Path) -> None:
    package = LocalPackage(str(package_dir), "gcr.io/nowhere/absent:1", script="trainer/task.py")
    hint = re.escape("--image-map gcr.io/nowhere/absent:1=TAG")
    with pytest.raises(EnvironmentProblem, match=hint):
        ensure_package_image(client, package)


@pytest.mark.docker
def test_run_with_local_runs_flags_builds_and_runs_every_replica(
    client: Any, cjob_test_image: str, package_dir: Path, built_tags: list[str], tmp_path: Path
) -> None:
    wheel = tiny_wheel(package_dir)
    (package_dir / "trainer" / "task.py").write_text(
        f"# {uuid.uuid4()}\nimport cjobemu_tiny\nprint(cjobemu_tiny.GREETING)\n{TASK}"
    )
    executor = "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-4:latest"
    command = [
        "run",
        "--backend=docker",
        f"--executor-image-uri={executor}",
        f"--image-map={executor}={cjob_test_image}",
        f"--local-package-path={package_dir}",
        "--script=trainer/task.py",
        f"--extra-packages={wheel}",
        "--replica-count=2",
        f"--gcs-root={tmp_path / 'gcs'}",
        "--",
        "--epochs",
        "3",
    ]

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cjob_emu.cli", *command],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
            env=os.environ,
        )

    result = run()
    built = [line for line in result.stderr.splitlines() if "local package" in line]
    if built:
        built_tags.append(built[0].split()[5])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "built cjob-emu/package-task:" in result.stderr
    for replica in ("workerpool0-0", "workerpool1-0"):
        assert f"{replica} | hello from the wheel" in result.stdout
        assert (
            f"{replica} | {replica} ran /usr/app/trainer/task.py in /usr/app with ['--epochs', '3']"
            in (result.stdout)
        )

    again = run()
    assert again.returncode == 0, again.stdout + again.stderr
    assert "cached cjob-emu/package-task:" in again.stderr
