"""pytest fixtures of the fake Vertex API, as plain generator functions.

``cjob_emu.pytest_plugin`` turns them into fixtures; the names of the
parameters are the fixtures they depend on. Under pytest-xdist every worker is
its own session, so it gets its own server on its own free port.
"""

from __future__ import annotations

from collections.abc import Iterator

from cjob_emu.fake_api.mock import VertexMock
from cjob_emu.fake_api.sdk import sdk_pointed_at
from cjob_emu.fake_api.server import FakeVertexServer


def fake_vertex_server() -> Iterator[FakeVertexServer]:
    """Session scope: one fake Vertex API server on 127.0.0.1 and a free port."""
    server = FakeVertexServer().start()
    try:
        yield server
    finally:
        server.stop()


def fake_vertex(fake_vertex_server: FakeVertexServer) -> Iterator[FakeVertexServer]:
    """The session's server, emptied, with ``aiplatform`` pointed at it for one test.

    ``aiplatform.init`` gets the server's URL, REST transport, anonymous
    credentials, project ``cjob-emu-project``, ``us-central1`` and a staging
    bucket; the SDK polls jobs every 0.05 s. All of it is undone afterwards.
    """
    fake_vertex_server.reset()
    try:
        with sdk_pointed_at(fake_vertex_server.url):
            yield fake_vertex_server
    finally:
        fake_vertex_server.reset()


def vertex_mock() -> Iterator[VertexMock]:
    """The fake API in-process through ``responses``, with ``aiplatform`` set up as for
    :func:`fake_vertex` but on Vertex's own endpoint, which the mock intercepts."""
    with VertexMock() as mock, sdk_pointed_at(None):
        yield mock
