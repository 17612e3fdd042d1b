"""The Docker engine: whether one answers, the client runs share, waiting for its return.

An engine that stops answering mid-run (restarted, crashed) is waited for, at most
:data:`ENGINE_RETURN_WAIT` seconds, by replica waits, stops and the teardown alike.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import docker
import requests
from docker.errors import DockerException

from cjob_emu.errors import EnvironmentProblem

ENGINE_RETURN_WAIT = 30.0
"""Seconds a run waits for an engine that stopped answering (restarted, crashed) to
answer again before it gives up on the run's replicas."""

# Long-lived log streams (stdout and stderr) and waits hold three connections per replica.
_MAX_CONNECTIONS = 200
_ENGINE_TIMEOUT = 120

_CLIENT_LOCK = threading.Lock()
_CLIENTS: dict[int, Any] = {}


def engine_problem() -> str | None:
    """Why no Docker engine answers, or ``None`` when one does."""
    try:
        client = docker.from_env(timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    except (DockerException, requests.RequestException) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def shared_client() -> Any:
    """One engine client per process (a forked child makes its own): runs share its pool."""
    with _CLIENT_LOCK:
        client = _CLIENTS.get(os.getpid())
        if client is None:
            try:
                client = docker.from_env(timeout=_ENGINE_TIMEOUT, max_pool_size=_MAX_CONNECTIONS)
                client.ping()
            except (DockerException, requests.RequestException) as exc:
                raise EnvironmentProblem(f"no Docker engine answers: {exc}") from exc
            _CLIENTS.clear()
            _CLIENTS[os.getpid()] = client
        return client


def engine_back() -> bool:
    """Whether the engine answers (again) within :data:`ENGINE_RETURN_WAIT` seconds
    (read at each call, so a test may shorten it).

    Asks over a new connection each time: an engine shutting down still answers on
    connections it had open, so the run's pooled client could mistake it for back.
    """
    deadline = time.monotonic() + ENGINE_RETURN_WAIT
    while engine_problem() is not None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
    return True
