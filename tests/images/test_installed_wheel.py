"""cjob-emu as a user gets it: an sdist and a wheel built from the checkout, the wheel
installed into a fresh virtual environment outside it (the dependencies come from the
Python running the tests), and used from another directory: the version is one fact,
LICENSE ships, and the image recipes are package data, so ``python -m cjob_emu.images``
works there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest
from support.paths import ROOT

import cjob_emu
from cjob_emu import images

NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".tox", ".venv", ".cjob-emu", "__pycache__", "*.egg-info", "build", "dist",
    ".*_cache", ".hypothesis", "tests", "benchmarks",
)


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[str, str]:
    """``command``'s stdout and stderr; it must succeed."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=env)
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    return done.stdout, done.stderr


def build(hook: str, source: Path, out: Path) -> Path:
    """Run setuptools' PEP 517 ``hook`` in ``source`` (no isolation: this Python's
    setuptools); the file it made in ``out``."""
    code = f"from setuptools import build_meta; print(build_meta.{hook}({str(out)!r}))"
    name = run([sys.executable, "-c", code], cwd=source)[0].strip().splitlines()[-1]
    return out / name


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """sdist -> wheel -> a fresh venv with the wheel (and this Python's packages)."""
    work = tmp_path_factory.mktemp("wheel")
    checkout = work / "checkout"
    shutil.copytree(ROOT, checkout, ignore=NOT_SOURCES)
    sdist = build("build_sdist", checkout, work)
    with tarfile.open(sdist) as archive:
        archive.extractall(work / "unpacked", filter="data")
    wheel = build("build_wheel", next((work / "unpacked").iterdir()), work)
    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=work)
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--disable-pip-version-check", str(wheel)], cwd=work)
    # The dependencies, from the Python running the tests: its site-packages as a plain
    # path (its .pth files, the editable cjob-emu among them, are not processed).
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(run([str(python), "-c", code], cwd=work)[0].strip())
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return {"sdist": sdist, "wheel": wheel, "venv": venv, "python": python, "cwd": work}


def in_venv(installed: dict[str, Path], *args: str) -> str:
    """What the venv's Python prints (stdout, stderr) for ``args``, outside the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return "".join(run([str(installed["python"]), *args], cwd=installed["cwd"], env=env))


def test_the_sdist_and_the_wheel_carry_the_license_and_the_recipes(
    installed: dict[str, Path],
) -> None:
    version = cjob_emu.__version__
    with tarfile.open(installed["sdist"]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"LICENSE", "CHANGELOG.md", "cjob_emu/image_recipes/test/Dockerfile",
            "cjob_emu/image_recipes/test/requirements.txt"} <= names
    assert installed["wheel"].name == f"cjob_emu-{version}-py3-none-any.whl"
    with zipfile.ZipFile(installed["wheel"]) as wheel:
        files = set(wheel.namelist())
    assert "cjob_emu/image_recipes/test/Dockerfile" in files
    assert any(n.startswith(f"cjob_emu-{version}.dist-info/") and n.endswith("LICENSE")
               for n in files)


def test_the_installed_package_is_the_wheels_and_knows_its_version(
    installed: dict[str, Path],
) -> None:
    code = ("import cjob_emu, importlib.metadata as m; "
            "print(cjob_emu.__file__); print(cjob_emu.__version__, m.version('cjob-emu'))")
    where, versions = in_venv(installed, "-c", code).splitlines()
    assert Path(where).is_relative_to(installed["venv"])
    assert versions == f"{cjob_emu.__version__} {cjob_emu.__version__}"
    cli = installed["venv"] / "bin" / "cjob-emu"
    assert in_venv(installed, str(cli), "--version").strip() == f"cjob-emu {cjob_emu.__version__}"


def test_the_image_recipes_are_found_outside_the_checkout(installed: dict[str, Path]) -> None:
    assert "--skip-without-engine" in in_venv(
        installed, "-m", "cjob_emu.images", "build", "--help"
    )
    # the same recipe, so the same tag as the checkout's: an installed cjob-emu reuses the image
    tag = in_venv(installed, "-m", "cjob_emu.images", "tag", "test").strip()
    assert tag == images.recipe("test").tag


@pytest.mark.docker
def test_an_installed_cjob_emu_builds_the_images(
    installed: dict[str, Path], cjob_test_image: str
) -> None:
    built = in_venv(installed, "-m", "cjob_emu.images", "build")
    assert f"test: cached {cjob_test_image}" in built
