"""Test configuration of the cjob-emu project itself (users get theirs from the pytest plugin).

The ``docker`` marker and its skip-or-fail policy live in ``cjob_emu.pytest_plugin``; this file
adds what only this repository's tests need: the image built from cjob_emu/image_recipes/test, a
header that says which engine a run used, and Hypothesis settings that hold on a busy
two-core CI machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from cjob_emu import images
from cjob_emu.pytest_plugin import docker_engine_problem

pytest_plugins = ["pytester"]

# GCPC, the converter's reference, needs google-cloud-aiplatform<2, so the aip2 tox env cannot
# install it. That env sets CJOB_EMU_WITHOUT_GCPC=1 and leaves out the converter's tests (they
# run in aip1), and the report header says so; anywhere else a missing GCPC fails collection.
WITHOUT_GCPC = os.environ.get("CJOB_EMU_WITHOUT_GCPC") == "1"
collect_ignore_glob = ["tests/converter/*.py"] if WITHOUT_GCPC else []

# Timing-based deadlines fail at random on a shared machine; CI also wants the same examples
# on every run so a red build can be repeated.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else "dev")


def pytest_report_header(config: pytest.Config) -> list[str]:
    problem = docker_engine_problem()
    engine = "answers" if problem is None else f"none ({problem})"
    where = os.environ.get("DOCKER_HOST", "default socket")
    header = [f"cjob-emu: CI={os.environ.get('CI', '')!r}, Docker engine at {where}: {engine}"]
    if WITHOUT_GCPC:
        header.append("cjob-emu: CJOB_EMU_WITHOUT_GCPC=1: converter tests left out (run in aip1)")
    return header


@pytest.fixture
def gcs(gcs_root: Path) -> Path:
    """The plugin's per-test gs:// root, under the short name the executor tests use."""
    return gcs_root


@pytest.fixture(scope="session")
def cjob_test_image() -> str:
    """Tag of the image built from cjob_emu/image_recipes/test (built once, cached after)."""
    return images.ensure_recipe_image("test")
