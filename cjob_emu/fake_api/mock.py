"""The fake Vertex API without a port: the same app behind ``responses``.

The SDK's REST transport is a ``requests`` session, so intercepting
``requests`` is enough: every ``http(s)://<any host>/v1/...``, ``/v1beta1/...``,
``/ui/...``, ``/_cjob_emu/...`` and ``/v3/projects/...`` (Resource Manager) request
is answered by a :class:`~cjob_emu.fake_api.app.FakeVertexApp`, whatever endpoint
the SDK was given. With ``gcs_root`` it also answers the Cloud Storage JSON API
(``.../storage/v1/...`` on any host, ``storage.googleapis.com`` included) over that
directory. Other requests fail with a ``ConnectionError``, as ``responses`` does,
unless their URL starts with one of ``passthrough``.

Use ``with VertexMock() as fake:`` or decorate a function with an instance::

    fake = VertexMock()

    @fake
    def test_it():
        fake.script_outcome("fail")
        ...

State persists across uses of one instance; call :meth:`reset` to start over.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from cjob_emu.fake_api.admin import AdminControls, ApiState
from cjob_emu.fake_api.app import FakeVertexApp
from cjob_emu.fake_api.simulated_runner import DEFAULT_PROVISIONING, Outcome
from cjob_emu.fake_api.wire import Request

if TYPE_CHECKING:
    import responses
    from requests import PreparedRequest

URL_PATTERN = re.compile(r"^https?://[^/?#]+/(?:(?:v1|v1beta1|ui|_cjob_emu)/|v3/projects/)")
"""The requests the mock answers: the API's paths on any http(s) host."""

STORAGE_URL_PATTERN = re.compile(r"^https?://[^/?#]+/(?:upload/|download/)?storage/v1/")
"""Cloud Storage JSON API requests, answered too when the mock has a gs:// root."""

_METHODS = ("GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS")


class VertexMock(AdminControls, contextlib.ContextDecorator):
    """Answer the SDK's Vertex REST calls in-process (see the module docstring)."""

    def __init__(
        self,
        *,
        mode: str = "simulated",
        default_outcome: Outcome | None = None,
        passthrough: Iterable[str] = (),
        gcs_root: str | os.PathLike[str] | None = None,
        provisioning: float = DEFAULT_PROVISIONING,
        app: FakeVertexApp | None = None,
    ) -> None:
        self.app = app or FakeVertexApp(
            mode=mode, default_outcome=default_outcome, gcs_root=gcs_root,
            provisioning=provisioning,
        )
        self._passthrough = tuple(passthrough)
        self._mock: responses.RequestsMock | None = None

    @property
    def api_state(self) -> ApiState:
        return self.app.api_state

    @property
    def responses(self) -> responses.RequestsMock:
        """The active ``responses`` mock, to add answers for other URLs."""
        if self._mock is None:
            raise RuntimeError("VertexMock is not active; use it as a context manager")
        return self._mock

    def __enter__(self) -> VertexMock:
        import responses

        mock = responses.RequestsMock(
            assert_all_requests_are_fired=False, passthru_prefixes=self._passthrough
        )
        patterns = [URL_PATTERN]
        if self.app.storage is not None:
            patterns.append(STORAGE_URL_PATTERN)
        for pattern in patterns:
            for method in _METHODS:
                mock.add_callback(method, pattern, callback=self._answer, content_type=None)
        mock.start()
        self._mock = mock
        return self

    def __exit__(self, *exc: object) -> None:
        mock, self._mock = self._mock, None
        if mock is not None:
            mock.stop()
            mock.reset()

    def _answer(self, prepared: PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        url = prepared.url or ""
        scheme, _, rest = url.partition("://")
        host = rest.split("/", 1)[0]
        path_and_query = "/" + rest.split("/", 1)[-1]
        path, _, query = path_and_query.partition("?")
        body: Any = prepared.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):  # a file or generator body
            body = b"".join(body)
        headers = {
            _text(k).lower(): _text(v) for k, v in prepared.headers.items()
        }
        request = Request(prepared.method or "GET", path.split("#", 1)[0], query, body, headers,
                          f"{scheme}://{host}")
        response = self.app.handle(request)
        return response.status, dict(response.headers), response.body


def _text(value: str | bytes) -> str:
    # requests keeps header names and values as given; some clients give bytes.
    return value.decode("latin-1") if isinstance(value, bytes) else value
