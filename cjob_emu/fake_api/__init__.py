"""A fake Vertex AI API (``customJobs``, ``pipelineJobs``) for the real SDK: a local server
or a ``responses`` mock.

- :class:`FakeVertexServer`: the API over HTTP on a local port.
- :class:`VertexMock`: the same API in-process, intercepting ``requests``.
- :func:`sdk_pointed_at`: point ``aiplatform`` at either, with fast polling.
- :class:`Outcome`: how a simulated job ends; :class:`FakeVertexApp` the core both serve.
"""

from __future__ import annotations

from cjob_emu.fake_api.app import FakeVertexApp
from cjob_emu.fake_api.mock import VertexMock
from cjob_emu.fake_api.sdk import sdk_pointed_at
from cjob_emu.fake_api.server import FakeVertexServer
from cjob_emu.fake_api.simulated_runner import Outcome

__all__ = ["FakeVertexApp", "FakeVertexServer", "Outcome", "VertexMock", "sdk_pointed_at"]
