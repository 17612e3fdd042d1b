"""Containers and networks a test left on the engine: the docker tests' after-test check.

Everything the executor creates carries owner labels (host and pid of the process that
created it), so this process's leftovers are found by label without touching anything
else on the engine.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from cjob_emu.executor.backend import LABEL_HOST, LABEL_PID


def owned(engine: Any, pid: int | None = None, **labels: str) -> tuple[list[Any], list[Any]]:
    """Containers and networks carrying ``labels``, else those of process ``pid`` (default: us)."""
    wanted = labels or {LABEL_HOST: socket.gethostname(), LABEL_PID: str(pid or os.getpid())}
    selector = {"label": [f"{k}={v}" for k, v in wanted.items()]}
    return (
        engine.api.containers(all=True, filters=selector),
        engine.api.networks(filters=selector),
    )


def remove(engine: Any, pid: int | None = None) -> tuple[list[Any], list[Any]]:
    """Remove the containers and networks of process ``pid`` (default: this one); return them."""
    containers, networks = owned(engine, pid)
    for container in containers:
        engine.api.remove_container(container["Id"], force=True)
    for network in networks:
        engine.api.remove_network(network["Id"])
    return containers, networks


def remove_and_assert_none(engine: Any) -> None:
    """Remove this process's containers and networks, then assert there were none.

    Removing first keeps one failing test from failing every test after it.
    """
    containers, networks = remove(engine)
    assert [c["Names"] for c in containers] == []
    assert [n["Name"] for n in networks] == []
