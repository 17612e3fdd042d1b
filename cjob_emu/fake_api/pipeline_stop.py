"""Stop the ordinary (kfp.local) tasks of one cancelled PipelineJob at once.

The local pipeline runner stops its tasks when it is interrupted, but kfp.local waits
on a task's output (its container's log stream, its subprocess's stdout) where no
interruption reaches it until the task prints or ends. So a cancel also stops those
tasks itself. They are found by ``marker``: the job's own pipeline root on this
machine, which every kfp.local task of the job (and of no other job) is given in its
arguments. Docker: containers of this process (``cjob-emu.owner-pid``) that are no
CustomJob replica, removed. Process backend: child processes of this process, sent
SIGTERM (Linux: read from ``/proc``; elsewhere the task runs to its end), CustomJob
replicas (which carry ``CLOUD_ML_JOB_ID``) left to the runner.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path

from cjob_emu.executor import Backend, get_backend
from cjob_emu.executor.backend import LABEL_PID, LABEL_REPLICA

log = logging.getLogger(__name__)


def stop_ordinary_tasks(backend: str | Backend, marker: str) -> None:
    """Stop the kfp.local tasks whose arguments name ``marker`` (on ``backend``, as the
    runner chose it); never raises."""
    try:
        if get_backend(backend).name == "docker":
            _remove_containers(marker)
        else:
            _kill_children(marker)
    except Exception:  # a cancel must not fail: the runner still stops the rest
        log.warning("could not stop the tasks of %s at once", marker, exc_info=True)


def _remove_containers(marker: str) -> None:
    import docker  # an optional dependency at import time: only docker runs need it
    from docker.errors import APIError, NotFound

    client = docker.from_env()
    try:
        selector = {"label": [f"{LABEL_PID}={os.getpid()}"]}
        for summary in client.api.containers(all=True, filters=selector):
            if LABEL_REPLICA in (summary.get("Labels") or {}):
                continue
            with contextlib.suppress(NotFound, APIError):
                info = client.api.inspect_container(summary["Id"])
                arguments = " ".join([*(info.get("Args") or []),
                                      *(info.get("Config", {}).get("Cmd") or [])])
                if marker in arguments:
                    client.api.remove_container(summary["Id"], force=True)
    finally:
        client.close()


def _kill_children(marker: str) -> None:
    proc = Path("/proc")
    if not proc.is_dir():
        return
    for entry in proc.iterdir():
        if entry.name.isdigit() and _a_task_of(entry, marker):
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGTERM)


def _a_task_of(entry: Path, marker: str) -> bool:
    """Whether process ``entry`` (``/proc/<pid>``) is a child of ours naming ``marker``
    and no CustomJob replica (the runner's cancel stops those, as the job's own)."""
    try:
        parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        if parent != os.getpid():
            return False
        command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        environment = b"\0" + (entry / "environ").read_bytes()
    except (OSError, ValueError, IndexError):
        return False  # gone meanwhile, or not ours to read
    return marker.encode() in command and b"\0CLOUD_ML_JOB_ID=" not in environment
