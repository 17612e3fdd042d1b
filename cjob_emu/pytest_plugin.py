"""pytest plugin of cjob-emu, registered through the ``pytest11`` entry point.

Fixtures:

- ``local_executor``: a :class:`~cjob_emu.executor.local.LocalExecutor` running jobs on
  the chosen backend into the test's own gs:// root and run directories
  (``.run(job, **kw) -> JobResult``, ``.submit(job, **kw) -> RunningJob``,
  ``.path("gs://b/x") -> Path``); jobs still running when the test ends are cancelled
  and their replicas removed.
- ``gcs_root``: the test's gs:// root directory (a ``Path``; ``gs://b/x`` is ``b/x`` in it).
- ``fake_vertex``: a local Vertex API server (and Cloud Storage over its own gs:// root)
  with the SDK pointed at it, in simulated mode: a job runs nothing and ends as scripted
  (SUCCEEDED by default); ``fake_vertex_executor``: the same in executor mode, every job
  running its replicas on ``--cjob-backend``; the server's repr names its mode;
  ``fake_vertex_server``: the session's server itself; ``vertex_mock``: the same API
  through ``responses``, no port.
- ``cjob_backend``: the backend name of ``--cjob-backend`` (auto|docker|process,
  default auto), used by ``local_executor`` and by ``fake_vertex``'s executor mode.
- ``cjob_image_map``: ``None``; override it in a conftest.py to map registry images to
  local tags (``{"us-docker.pkg.dev/p/r/trainer:1": "trainer:dev"}``) for both; a
  missing image's error names this fixture.

Under pytest-xdist every worker has its own server and its own directories, and every
container and network carries the worker's pid, so workers never share or remove each
other's resources.

It declares the ``docker`` marker and enforces its policy: a ``docker`` test
is skipped with a reason when no Docker engine answers, and fails instead
when ``CI=true``, so a CI run can never pass by skipping them.

The executor and the fake API are imported inside the fixtures that use them: the
plugin loads in every pytest session of every project that installs cjob-emu, and
those imports (the aiplatform types, the docker SDK) cost about a second.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

DOCKER_MARKER = "docker: needs a running Docker engine (fails instead of skipping when CI=true)"


BACKENDS = ("auto", "docker", "process")
IMAGE_MAP_HINT = "a cjob_image_map fixture (in conftest.py) mapping {uri} to a local tag"
"""How a test stands a local image in for ``{uri}``: what a missing image's error says."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("cjob-emu").addoption(
        "--cjob-backend",
        choices=BACKENDS,
        default="auto",
        help="where local_executor and fake_vertex's executor mode run replicas "
        "(auto: docker where an engine answers, else process; default auto)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", DOCKER_MARKER)


@cache
def docker_engine_problem() -> str | None:
    """Why no Docker engine answers, or ``None`` when one does (asked once a session)."""
    from cjob_emu.executor.docker_engine import engine_problem

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
def cjob_backend(pytestconfig: pytest.Config) -> str:
    """The backend name ``--cjob-backend`` chose: "auto", "docker" or "process"."""
    return str(pytestconfig.getoption("cjob_backend"))


@pytest.fixture(scope="session")
def cjob_image_map() -> Any:
    """Image map of local_executor and fake_vertex (``None``); override to map images."""
    return None


def _image_map(cjob_image_map: Any) -> Any:
    """``cjob_image_map`` as an ImageMap whose hint names the fixture, not the CLI flag."""
    from cjob_emu.executor.image_map import ImageMap

    return dataclasses.replace(ImageMap.load(cjob_image_map), hint=IMAGE_MAP_HINT)


@pytest.fixture
def gcs_root(tmp_path: Path) -> Path:
    """The test's own gs:// root directory: ``gs://bucket/name`` is ``gcs_root/bucket/name``."""
    root = tmp_path / "gcs"
    root.mkdir()
    return root


@pytest.fixture
def local_executor(
    gcs_root: Path, tmp_path: Path, cjob_backend: str, cjob_image_map: Any
) -> Iterator[Any]:
    """Runs jobs on ``--cjob-backend`` into ``gcs_root`` and ``tmp_path/runs``; ends them after."""
    from cjob_emu.executor.local import LocalExecutor

    with LocalExecutor(
        backend=cjob_backend,
        gcs_root=gcs_root,
        runs_dir=tmp_path / "runs",
        image_map=_image_map(cjob_image_map),
    ) as executor:
        yield executor


@pytest.fixture(scope="session")
def fake_vertex_server(
    tmp_path_factory: pytest.TempPathFactory, cjob_backend: str, cjob_image_map: Any
) -> Iterator[Any]:
    """One fake Vertex API (+ Cloud Storage over a temp gs:// root) per session or xdist
    worker; executor-mode jobs run on ``--cjob-backend``."""
    from cjob_emu.fake_api import fixtures

    yield from fixtures.fake_vertex_server(
        tmp_path_factory, cjob_backend, _image_map(cjob_image_map)
    )


@pytest.fixture
def fake_vertex(fake_vertex_server: Any) -> Iterator[Any]:
    """The server emptied, aiplatform pointed at it (REST, anonymous, 0.05 s polls,
    STORAGE_EMULATOR_HOST), restored afterwards. Simulated mode: a job runs nothing and
    ends as scripted (SUCCEEDED by default); ``fake_vertex_executor`` runs jobs."""
    from cjob_emu.fake_api import fixtures

    yield from fixtures.fake_vertex(fake_vertex_server)


@pytest.fixture
def fake_vertex_executor(fake_vertex_server: Any) -> Iterator[Any]:
    """``fake_vertex`` in executor mode: every job runs its replicas on ``--cjob-backend``
    (with ``cjob_image_map``) into the server's gs:// root."""
    from cjob_emu.fake_api import fixtures

    yield from fixtures.fake_vertex_executor(fake_vertex_server)


@pytest.fixture
def vertex_mock(tmp_path: Path) -> Iterator[Any]:
    """The same API in-process through ``responses``, on Vertex's own endpoint."""
    from cjob_emu.fake_api import fixtures

    yield from fixtures.vertex_mock(tmp_path)
