"""A replica running as a container: its output, its end, and why it ended.

Its stdout and stderr are followed apart (the engine keeps no order between them, and
this way a failed replica's last stderr lines are known for sure). Its end is waited
for across an engine restart (see :mod:`.docker_engine`) and timed by the engine's
``State.FinishedAt``; what the engine knows beyond the exit code (out of memory,
stopped by the engine itself) becomes its termination reason. A container the runtime
could not start (its command or entrypoint is not in the image) is a
:class:`StartFailure`: exit 128, ``StartError``, as Vertex reports it.
"""

from __future__ import annotations

import math
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import requests
from docker.errors import APIError, NotFound

from cjob_emu.cluster import Replica
from cjob_emu.errors import EnvironmentProblem
from cjob_emu.executor import docker_engine
from cjob_emu.executor.backend import ReplicaHandle, Termination
from cjob_emu.executor.docker_engine import engine_back, engine_problem
from cjob_emu.executor.docker_resources import remove_containers

KILLED_EXIT_CODE = 137
"""Exit code of a replica removed before its end was seen (128 + SIGKILL)."""

START_ERROR_EXIT_CODE = 128
"""The exit status Vertex reports for a replica whose container could not start
(Kubernetes' ``StartError``; GoogleCloudPlatform/vertex-ai-samples#1898)."""

# The runtime's words when it cannot exec the container's process ('unable to start
# container process: exec: "x": executable file not found in $PATH' from runc 1.1 on,
# 'starting container process caused "exec: ...' before): the replica's own command
# or entrypoint. Other runtime failures (mounts, GPU hooks) are the emulator's.
_START_FAILURE = re.compile(r"(unable to start|starting) container process.{0,12}exec: ")
# The engine's RFC 3339 times: nanoseconds, always UTC ("Z"); year 1 means never.
_ENGINE_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z")

_STDERR_KEPT = 100  # last stderr lines of a replica kept for its job's error


class DockerReplica(ReplicaHandle):
    """A replica running as a container."""

    def __init__(
        self,
        client: Any,
        container_id: str,
        replica: Replica,
        forget: Callable[[str], None],
    ) -> None:
        self.replica = replica
        self.container_id = container_id
        self._client = client
        self._forget = forget
        self._lock = threading.Lock()
        self._exit_code: int | None = None
        self._ended_at: float | None = None
        self._reason: Termination | None = None
        self._stopping = False  # stopped by the run: why it ended is known
        self._closed = False
        self._stderr: deque[str] = deque(maxlen=_STDERR_KEPT)

    def lines(self) -> Iterator[str]:
        # stdout and stderr are followed apart: the engine keeps no order between them
        # anyway, and this way the last stderr lines (a traceback) are known for sure.
        merged: queue.Queue[str | None] = queue.Queue()
        for stream in ("stdout", "stderr"):
            threading.Thread(
                target=self._follow, args=(stream, merged), name=f"{stream}-{self.replica}",
                daemon=True,
            ).start()
        ended = 0
        while ended < 2:
            line = merged.get()
            if line is None:
                ended += 1
            else:
                yield line

    def stderr_tail(self, lines: int) -> list[str] | None:
        with self._lock:
            return list(self._stderr)[-lines:] if lines > 0 else []

    def _follow(self, stream: str, merged: queue.Queue[str | None]) -> None:
        """Put the lines of one output stream into ``merged``, then None once it ended."""
        try:
            for line in self._stream_lines(stream):
                if stream == "stderr":
                    with self._lock:
                        self._stderr.append(line)
                merged.put(line)
        finally:
            merged.put(None)

    def _stream_lines(self, stream: str) -> Iterator[str]:
        try:
            chunks = self._client.api.logs(
                self.container_id,
                stdout=stream == "stdout",
                stderr=stream == "stderr",
                stream=True,
                follow=True,
            )
            pending = b""
            for chunk in chunks:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    yield line.decode("utf-8", errors="replace").rstrip("\r")
            if pending:
                yield pending.decode("utf-8", errors="replace").rstrip("\r")
        except (NotFound, requests.RequestException):
            return  # removed while streaming: its output ends here

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code; with no timeout, also across an engine restart (bounded by
        :data:`.docker_engine.ENGINE_RETURN_WAIT`, then :class:`EnvironmentProblem`)."""
        with self._lock:
            if self._exit_code is not None:
                return self._exit_code
        code: int | None = None
        while code is None:
            try:
                result = self._client.api.wait(self.container_id, timeout=timeout)
            except NotFound:
                code = KILLED_EXIT_CODE
                self._set_reason(Termination("Error", "its container was removed"))
            except requests.RequestException as exc:
                if timeout is not None:
                    return None  # the engine did not answer within the timeout
                code = self._after_engine_loss(exc)  # None: it still runs (live restore)
            else:
                code = int(result["StatusCode"])
                self._record_end(code, self._inspect())
        return self._ended(code)

    def poll(self) -> int | None:
        with self._lock:
            if self._exit_code is not None:
                return self._exit_code
        info = self._inspect()
        state = info.get("State") or {}
        if not state or state.get("Running") or state.get("Status") not in ("exited", "dead"):
            return None
        code = int(state.get("ExitCode") or 0)
        self._record_end(code, info)
        return self._ended(code)

    def ended_at(self) -> float | None:
        with self._lock:
            return self._ended_at

    def termination_reason(self) -> Termination | None:
        with self._lock:
            return self._reason

    def stop(self, grace: float) -> None:
        self._stopping = True
        try:
            self._stop(grace)
        except requests.RequestException as exc:
            if isinstance(exc, APIError) or not engine_back():
                raise
            self._stop(grace)  # the engine restarted: the container is stopped or gone
        self.wait()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            remove_containers(self._client, [self.container_id])
        except requests.RequestException:
            return  # the engine is gone: teardown removes the run's containers by label
        self._forget(self.container_id)

    def _stop(self, grace: float) -> None:
        try:
            if grace > 0:
                self._client.api.stop(self.container_id, timeout=math.ceil(grace))
            else:
                self._client.api.kill(self.container_id)
        except NotFound:
            return
        except APIError as exc:
            if exc.status_code != 409:  # 409: not running any more
                raise

    def _ended(self, code: int) -> int:
        """Keep ``code`` as the replica's exit code (the first one found wins) and
        return the kept one."""
        with self._lock:
            if self._exit_code is None:
                self._exit_code = code
            if self._ended_at is None:
                self._ended_at = time.time()  # the engine gave no time: now
            return self._exit_code

    def _inspect(self) -> dict[str, Any]:
        try:
            return dict(self._client.api.inspect_container(self.container_id))
        except requests.RequestException:
            return {}

    def _record_end(self, code: int, info: dict[str, Any]) -> None:
        """Keep the engine's time of the end (``State.FinishedAt``) and, for a non-zero
        exit the run did not cause, why it ended."""
        state = info.get("State") or {}
        finished = engine_time(state.get("FinishedAt"))
        with self._lock:
            if self._ended_at is None and finished is not None:
                self._ended_at = finished
        if code != 0 and not self._stopping:
            self._set_reason(self._exit_reason(code, info))

    def _set_reason(self, reason: Termination | None) -> None:
        with self._lock:
            if self._reason is None:
                self._reason = reason

    def _exit_reason(self, code: int, info: dict[str, Any]) -> Termination | None:
        """What the engine knows beyond a non-zero exit code: out of memory, or that
        the engine itself stopped the container as it shut down."""
        state = info.get("State") or {}
        if state.get("OOMKilled"):
            limit = (info.get("HostConfig") or {}).get("Memory") or 0
            within = f"Its container's memory limit is {limit / 2**20:.0f} MiB." if limit else ""
            return Termination("OOMKilled", within)
        if code in (128 + 9, 128 + 15) and engine_problem() is not None:
            # A shutting-down engine stops its containers, then stops answering.
            return Termination(
                "Error",
                f"killed by signal {code - 128}: the Docker engine stopped it as the "
                "engine shut down or restarted",
            )
        return None

    def _after_engine_loss(self, exc: Exception) -> int | None:
        """The exit code once an engine that dropped the wait answers again."""
        if not engine_back():
            raise EnvironmentProblem(
                f"the Docker engine went away while {self.replica} ran ({exc}) and did not "
                # Looked up now, not at import: a test shortens the wait.
                f"answer again within {docker_engine.ENGINE_RETURN_WAIT:g}s"
            ) from exc
        try:
            info = self._client.api.inspect_container(self.container_id)
        except NotFound:
            self._set_reason(
                Termination("Error", "the Docker engine restarted and its container is gone")
            )
            return KILLED_EXIT_CODE
        state = info["State"]
        if state.get("Running"):
            return None
        self._set_reason(
            Termination(
                "Error", "the Docker engine restarted while it ran and stopped its container"
            )
        )
        code = int(state.get("ExitCode") or KILLED_EXIT_CODE)
        self._record_end(code, info)
        return code


class StartFailure(ReplicaHandle):
    """A replica whose container the runtime could not start (its command or entrypoint
    is not in the image, or is not executable): it ended at once with exit 128 and
    ``StartError``, the runtime's message as the detail, as Vertex reports it. Its
    container is removed already; it holds nothing."""

    def __init__(self, replica: Replica, message: str) -> None:
        self.replica = replica
        self._message = message
        self._ended_at = time.time()

    def lines(self) -> Iterator[str]:
        return iter(())

    def wait(self, timeout: float | None = None) -> int | None:
        return START_ERROR_EXIT_CODE

    def poll(self) -> int | None:
        return START_ERROR_EXIT_CODE

    def ended_at(self) -> float | None:
        return self._ended_at

    def stop(self, grace: float) -> None:
        return None

    def close(self) -> None:
        return None

    def termination_reason(self) -> Termination | None:
        return Termination("StartError", self._message)


def is_start_failure(message: str) -> bool:
    """Whether the engine's ``message`` on a failed container start says the runtime
    could not run the container's command or entrypoint (rather than the engine or the
    emulator's set-up failing)."""
    return _START_FAILURE.search(message) is not None


def engine_time(value: str | None) -> float | None:
    """Seconds since the epoch of an engine time (``2024-05-01T10:00:00.123456789Z``);
    None for the engine's "never" (year 1) or a time it did not give."""
    match = _ENGINE_TIME.fullmatch(value or "")
    if match is None or match.group(1).startswith("0001-"):
        return None
    whole = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return whole.timestamp() + float(match.group(2) or 0.0)
