"""pytest plugin of cjob-emu, registered through the ``pytest11`` entry point.

Fixtures: ``fake_vertex`` (a local Vertex API server with the SDK pointed at it),
``fake_vertex_server`` (the session's server itself), ``vertex_mock`` (the same API
through ``responses``, no port).

It declares the ``docker`` marker and enforces its policy: a ``docker`` test
is skipped with a reason when no Docker engine answers, and fails instead
when ``CI=true``, so a CI run can never pass by skipping them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

DOCKER_MARKER = "docker: needs a running Docker engine (fails instead of skipping when CI=true)"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", DOCKER_MARKER)


@cache
def docker_engine_problem() -> str | None:
    """Why no Docker engine answers, or ``None`` when one does (asked once a session)."""
    from cjob_emu.executor.docker import engine_problem

    return engine_problem()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("docker") is None:
        return
    problem = docker_engine_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            f"CI=true and no Docker engine answers ({problem}); run scripts/test.sh", pytrace=False
        )
    pytest.skip(f"no Docker engine answers ({problem}); scripts/test.sh starts one")


@pytest.fixture(scope="session")
def fake_vertex_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One fake Vertex API (+ Cloud Storage over a temp gs:// root) per session or xdist worker."""
    from cjob_emu.fake_api import fixtures

    yield from fixtures.fake_vertex_server(tmp_path_factory)


@pytest.fixture
def fake_vertex(fake_vertex_server: Any) -> Iterator[Any]:
    """The server emptied, aiplatform pointed at it (REST, anonymous, 0.05 s polls,
    STORAGE_EMULATOR_HOST), restored afterwards."""
    from cjob_emu.fake_api import fixtures

    yield from fixtures.fake_vertex(fake_vertex_server)


@pytest.fixture
def vertex_mock(tmp_path: Path) -> Iterator[Any]:
    """The same API in-process through ``responses``, on Vertex's own endpoint."""
    from cjob_emu.fake_api import fixtures

    yield from fixtures.vertex_mock(tmp_path)
