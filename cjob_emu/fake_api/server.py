"""The fake Vertex API on a real port.

The standard library's threading HTTP server, kept lean: HTTP/1.1 keep-alive
(the SDK's ``requests`` session reuses one connection), Nagle off, and each
answer written in one ``send`` so no request waits on a delayed ACK. It binds to
127.0.0.1 and a free port unless told otherwise, and warns (``UnsafeBindWarning``, on
stderr by default) when told to bind anything else; ``on_request`` hears of every
request as its answer goes out (method, path, status, milliseconds: ``cjob-emu
serve``'s request log). In executor mode it also listens,
for each run, on the address at which the run's replicas reach this host (docker: the
run network's gateway), never on all interfaces
(:meth:`FakeVertexServer.listen_for_replicas`).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cjob_emu.errors import EnvironmentProblem
from cjob_emu.fake_api.admin import AdminControls, ApiState
from cjob_emu.fake_api.app import FakeVertexApp
from cjob_emu.fake_api.rpc import ApiError
from cjob_emu.fake_api.runner_protocol import Runner
from cjob_emu.fake_api.simulated_runner import DEFAULT_PROVISIONING, Outcome
from cjob_emu.fake_api.wire import Request, Response, error_response

log = logging.getLogger(__name__)

RequestHook = Callable[[str, str, int, float], None]
"""Told of each request answered: method, path, HTTP status, milliseconds taken."""

_MAX_BODY = 64 * 1024 * 1024
_WILDCARDS = ("", "0.0.0.0", "::")


class UnsafeBindWarning(UserWarning):
    """The fake API listens where other machines may reach it; it has no authentication."""


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        self.server.untrack(self.connection)
        super().finish()

    def _serve(self) -> None:
        started = time.monotonic()
        body = self._read_body()
        if body is None:
            return
        path, _, query = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        host = headers.get("host") or f"127.0.0.1:{self.server.server_port}"
        request = Request(self.command, path, query, body, headers, f"http://{host}")
        response = self.server.app.handle(request)
        self._heard(path, response.status, started)
        self._write(response)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_OPTIONS = _serve

    def do_HEAD(self) -> None:
        started = time.monotonic()
        body = self._read_body()
        if body is not None:
            path = self.path.partition("?")[0]
            response = self.server.app.handle(Request("HEAD", path))
            self._heard(path, response.status, started)
            self._write(response, head_only=True)

    def _heard(self, path: str, status: int, started: float) -> None:
        # Told before the answer goes out: a client's next request (on any connection)
        # is then heard after this one.
        if self.server.on_request is not None:
            elapsed = (time.monotonic() - started) * 1000
            self.server.on_request(self.command, path, status, elapsed)

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 <= length <= _MAX_BODY:
                raise ValueError
        except ValueError:
            self._refuse("INVALID_ARGUMENT", "Invalid Content-Length.")
            return None
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self._refuse("INVALID_ARGUMENT", "Malformed chunked request body.")
                return None
            total += size
            if total > _MAX_BODY:
                self._refuse("INVALID_ARGUMENT", "Request body too large.")
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _refuse(self, status: str, message: str) -> None:
        self.close_connection = True
        self._write(error_response(ApiError(status, message)))

    def _write(self, response: Response, *, head_only: bool = False) -> None:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.1 {response.status} {reason}",
                 f"Content-Length: {len(response.body)}"]
        lines += [f"{k}: {v}" for k, v in response.headers]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if head_only else head + response.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Malformed HTTP itself (bad request line, huge headers): still google.rpc JSON.
        self.close_connection = True
        # http.server's own 5xx answers are 501 (unknown method) and 505 (HTTP version).
        status = "INVALID_ARGUMENT" if code < 500 else "UNIMPLEMENTED"
        error = ApiError(status, message or HTTPStatus(code).phrase, http_status=code)
        self._write(error_response(error))

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], app: FakeVertexApp, on_request: RequestHook | None = None
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self.on_request = on_request
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, sock: socket.socket) -> None:
        with self._open_lock:
            self._open.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._open_lock:
            self._open.discard(sock)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is not worth a traceback on stderr.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def close_connections(self) -> None:
        """End kept-alive connections, so no client talks to a stopped server."""
        with self._open_lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._open.clear()


class FakeVertexServer(AdminControls):
    """The fake Vertex API served over HTTP on ``host:port`` (port 0: a free one).

    Use as a context manager, or :meth:`start` and :meth:`stop`. Point the SDK at
    :attr:`url` with ``api_transport="rest"`` (see :mod:`cjob_emu.fake_api.sdk`).
    ``on_request`` is called (from the serving threads) for each request, just before
    its answer is sent.
    With ``gcs_root`` it also serves that directory as Cloud Storage: set
    ``STORAGE_EMULATOR_HOST`` to :attr:`url`. ``provisioning`` and ``project_numbers``
    are those of :class:`~cjob_emu.fake_api.app.FakeVertexApp`.
    The admin methods (:meth:`reset`, :meth:`script_outcome`, :meth:`inject_fault`,
    :meth:`force_state`, ...) act on the same state as the HTTP admin surface.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        mode: str = "simulated",
        state_dir: str | os.PathLike[str] | None = None,
        default_outcome: Outcome | None = None,
        executor_runner: Runner | None = None,
        gcs_root: str | os.PathLike[str] | None = None,
        work_dir: str | os.PathLike[str] | None = None,
        provisioning: float = DEFAULT_PROVISIONING,
        project_numbers: Mapping[str, str] | None = None,
        app: FakeVertexApp | None = None,
        on_request: RequestHook | None = None,
    ) -> None:
        self.host = host
        self.on_request = on_request
        self.port = port
        self.app = app or FakeVertexApp(
            mode=mode,
            state_dir=state_dir,
            default_outcome=default_outcome,
            executor_runner=executor_runner,
            gcs_root=gcs_root,
            work_dir=work_dir,
            provisioning=provisioning,
            project_numbers=project_numbers,
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._extra: set[_Server] = set()
        self._extra_lock = threading.Lock()

    @property
    def api_state(self) -> ApiState:
        return self.app.api_state

    @property
    def gcs_root(self) -> Path | None:
        """The directory served as Cloud Storage (``STORAGE_EMULATOR_HOST=<url>``), if any."""
        return self.app.storage.root.path if self.app.storage is not None else None

    @property
    def url(self) -> str:
        """``http://host:port``, what ``aiplatform.init(api_endpoint=...)`` takes."""
        return _url(self.host, self.port)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Every ``(address, port)`` the server listens on now (main, then per-run ones)."""
        with self._extra_lock:
            servers = [s for s in (self._server, *self._extra) if s is not None]
        return [(str(s.server_address[0]), int(s.server_address[1])) for s in servers]

    def listen_for_replicas(self, host: str) -> tuple[str, Callable[[], None]]:
        """The URL at which replicas reach this server through ``host``, and its release.

        ``host`` is an address of this machine that the replicas of a run can reach
        (the docker run network's gateway, or 127.0.0.1). Unless the server listens
        there already, the same app is served on ``host`` too (this server's port when
        it is free there, else a free one) until the returned function is called or
        the server stops. A wildcard address is refused: replicas never widen the bind.
        """
        if host in _WILDCARDS:
            raise ValueError("replicas need a specific address, not all interfaces")
        if self._server is None:
            raise EnvironmentProblem("the fake Vertex API is not started")
        if self.host in _WILDCARDS or host == self.host or (
            host == "127.0.0.1" and self.host == "localhost"
        ):
            return _url(host, self.port), lambda: None
        try:
            extra = _Server((host, self.port), self.app, self.on_request)
        except OSError:
            try:
                extra = _Server((host, 0), self.app, self.on_request)
            except OSError as exc:
                raise EnvironmentProblem(
                    f"cannot serve the fake Vertex API to replicas on {host}: {exc.strerror}"
                ) from None
        with self._extra_lock:
            stopped = self._server is None
            if not stopped:
                self._extra.add(extra)
        if stopped:  # stop() ran meanwhile: it would never close this one
            extra.server_close()
            raise EnvironmentProblem("the fake Vertex API stopped")
        _serve_in_thread(extra)

        def release() -> None:
            with self._extra_lock:
                if extra not in self._extra:
                    return
                self._extra.discard(extra)
            _shut(extra)

        return _url(host, extra.server_address[1]), release

    def start(self) -> FakeVertexServer:
        """Bind and serve in a background thread; :class:`EnvironmentProblem` if it cannot."""
        if self._server is not None:
            return self
        try:
            server = _Server((self.host, self.port), self.app, self.on_request)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise EnvironmentProblem(
                    f"cannot serve the fake Vertex API on {self.host}:{self.port}: the port is "
                    "in use; choose another with --port, or 0 for a free one"
                ) from None
            raise EnvironmentProblem(
                f"cannot serve the fake Vertex API on {self.host}:{self.port}: {exc.strerror}"
            ) from None
        if not is_loopback(self.host):
            warnings.warn(
                f"the fake Vertex API listens on {self.host}, reachable from other machines; "
                "it has no authentication: anyone who reaches it can create, read and delete "
                "jobs and the files of its gs:// root (bind 127.0.0.1 unless you need this)",
                UnsafeBindWarning,
                stacklevel=2,
            )
        self.port = server.server_address[1]
        self._server = server
        self._thread = _serve_in_thread(server)
        connect = getattr(self.app.executor_runner, "connect", None)
        if connect is not None:
            connect(self.listen_for_replicas, storage=self.app.storage is not None)
        return self

    def stop(self) -> None:
        """Stop serving, close open connections, and stop real runs."""
        with self._extra_lock:
            server, self._server = self._server, None
            extra, self._extra = self._extra, set()
        if server is None:
            return
        for listener in (server, *extra):
            _shut(listener)
        if self._thread is not None:
            self._thread.join()
        self.app.close()

    def __repr__(self) -> str:
        mode = self.app.store.default_mode
        what = {
            "simulated": "jobs run nothing, they end as scripted (SUCCEEDED by default)",
            "executor": "jobs run their replicas on the local executor",
        }.get(mode, "")
        return f"<FakeVertexServer {self.url} mode={mode}: {what}>"

    def __enter__(self) -> FakeVertexServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _serve_in_thread(server: _Server) -> threading.Thread:
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"cjob-emu-fake-api-{server.server_address[1]}",
        daemon=True,
    )
    thread.start()
    return thread


def _shut(server: _Server) -> None:
    """Stop serving (waits for ``serve_forever`` to return), unbind, end open connections."""
    server.shutdown()
    server.server_close()
    server.close_connections()
