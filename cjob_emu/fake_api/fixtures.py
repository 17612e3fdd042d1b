"""pytest fixtures of the fake Vertex API, as plain generator functions.

``cjob_emu.pytest_plugin`` turns them into fixtures; the names of the
parameters are the fixtures they depend on. Under pytest-xdist every worker is
its own session, so it gets its own server on its own free port and its own
gs:// root. ``fake_vertex`` is in simulated mode (a job runs nothing and ends as
scripted); ``fake_vertex_executor`` is the same server in executor mode (a job runs
its replicas); the server's repr says which.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cjob_emu.fake_api.app import FakeVertexApp
from cjob_emu.fake_api.executor_runner import ExecutorRunner
from cjob_emu.fake_api.mock import VertexMock
from cjob_emu.fake_api.sdk import DEFAULT_STAGING_BUCKET, sdk_pointed_at
from cjob_emu.fake_api.server import FakeVertexServer

MOCK_STORAGE_HOST = "https://storage.googleapis.com"
"""What ``vertex_mock`` sets ``STORAGE_EMULATOR_HOST`` to: GCS's own host, intercepted."""


def fake_vertex_server(
    tmp_path_factory: pytest.TempPathFactory,
    cjob_backend: str = "auto",
    cjob_image_map: Any = None,
) -> Iterator[FakeVertexServer]:
    """Session scope: one fake Vertex API on 127.0.0.1 and a free port, also serving a
    temporary gs:// root as Cloud Storage (``server.gcs_root``), in simulated mode.
    Executor-mode jobs run on ``cjob_backend`` with ``cjob_image_map`` (an image map,
    or an :class:`~cjob_emu.executor.ImageMap` whose hint names the fixture)."""
    gcs_root = tmp_path_factory.mktemp("gcs")
    work_dir = tmp_path_factory.mktemp("runs")
    runner = ExecutorRunner(
        backend=cjob_backend, gcs_root=gcs_root, work_dir=work_dir, image_map=cjob_image_map
    )
    server = FakeVertexServer(
        gcs_root=gcs_root, work_dir=work_dir, executor_runner=runner
    ).start()
    try:
        yield server
    finally:
        server.stop()


def fake_vertex(fake_vertex_server: FakeVertexServer) -> Iterator[FakeVertexServer]:
    """The session's server, emptied, with ``aiplatform`` pointed at it for one test.

    ``aiplatform.init`` gets the server's URL, REST transport, anonymous
    credentials, project ``cjob-emu-project``, ``us-central1`` and the staging
    bucket ``gs://cjob-emu-staging`` (created in the emptied gs:// root); the SDK
    polls CustomJobs and PipelineJobs every 0.05 s; ``STORAGE_EMULATOR_HOST`` points
    at the server, and so does the SDK's project-number lookup (Resource Manager, see
    :mod:`cjob_emu.fake_api.sdk`). All of it is undone afterwards.
    """
    fake_vertex_server.reset()
    _empty(fake_vertex_server.gcs_root)
    _make_staging_bucket(fake_vertex_server.gcs_root)
    try:
        with sdk_pointed_at(fake_vertex_server.url, storage_host=fake_vertex_server.url):
            yield fake_vertex_server
    finally:
        fake_vertex_server.reset()


def fake_vertex_executor(fake_vertex_server: FakeVertexServer) -> Iterator[FakeVertexServer]:
    """:func:`fake_vertex` in executor mode: every job created runs its replicas on the
    local executor (a job labelled ``cjob-emu-mode: simulated`` still runs nothing)."""
    store = fake_vertex_server.app.store
    before, store.default_mode = store.default_mode, "executor"
    try:
        yield from fake_vertex(fake_vertex_server)
    finally:
        store.default_mode = before


def vertex_mock(tmp_path: Path) -> Iterator[VertexMock]:
    """The fake API in-process through ``responses``, with ``aiplatform`` set up as for
    :func:`fake_vertex` but on Vertex's own endpoint, which the mock intercepts, and
    Cloud Storage answered over ``tmp_path/gcs``."""
    root = tmp_path / "gcs"
    _make_staging_bucket(root)
    mock = VertexMock(app=FakeVertexApp(gcs_root=root, work_dir=tmp_path / "runs"))
    with mock, sdk_pointed_at(None, storage_host=MOCK_STORAGE_HOST):
        yield mock


def _empty(root: Path | None) -> None:
    for child in root.iterdir() if root is not None else ():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _make_staging_bucket(root: Path | None) -> None:
    if root is not None:
        (root / DEFAULT_STAGING_BUCKET.removeprefix("gs://")).mkdir(parents=True, exist_ok=True)
