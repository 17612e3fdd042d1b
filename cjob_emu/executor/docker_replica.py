"""A replica running as a container: its output, its end, and why it ended.

Its stdout and stderr are followed apart (the engine keeps no order between them, and
this way a failed replica's last stderr lines are known for sure). Its end is waited
for across an engine restart (see :mod:`.docker_engine`); what the engine knows beyond
the exit code (out of memory, stopped by the engine itself) becomes its termination
reason.
"""

from __future__ import annotations

import math
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import requests
from docker.errors import APIError, NotFound

from cjob_emu.cluster import Replica
from cjob_emu.errors import EnvironmentProblem
from cjob_emu.executor import docker_engine
from cjob_emu.executor.backend import ReplicaHandle
from cjob_emu.executor.docker_engine import engine_back, engine_problem
from cjob_emu.executor.docker_resources import remove_containers

KILLED_EXIT_CODE = 137
"""Exit code of a replica removed before its end was seen (128 + SIGKILL)."""

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
        self._reason: str | None = None
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
                code, reason = KILLED_EXIT_CODE, "Error (its container was removed)"
                self._set_reason(reason)
            except requests.RequestException as exc:
                if timeout is not None:
                    return None  # the engine did not answer within the timeout
                code = self._after_engine_loss(exc)  # None: it still runs (live restore)
            else:
                code = int(result["StatusCode"])
                if code != 0 and not self._stopping:
                    self._set_reason(self._exit_reason(code))
        with self._lock:
            if self._exit_code is None:
                self._exit_code = code
            return self._exit_code

    def termination_reason(self) -> str | None:
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

    def _set_reason(self, reason: str | None) -> None:
        with self._lock:
            if self._reason is None:
                self._reason = reason

    def _exit_reason(self, code: int) -> str | None:
        """What the engine knows beyond a non-zero exit code: out of memory, or that
        the engine itself stopped the container as it shut down."""
        try:
            info = self._client.api.inspect_container(self.container_id)
        except requests.RequestException:
            info = {}
        state = info.get("State") or {}
        if state.get("OOMKilled"):
            limit = (info.get("HostConfig") or {}).get("Memory") or 0
            within = f": its container's limit is {limit / 2**20:.0f} MiB" if limit else ""
            return f"OOMKilled (the replica ran out of memory{within})"
        if code in (128 + 9, 128 + 15) and engine_problem() is not None:
            # A shutting-down engine stops its containers, then stops answering.
            return (
                f"Error (killed by signal {code - 128}: the Docker engine stopped it as the "
                "engine shut down or restarted)"
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
            state = self._client.api.inspect_container(self.container_id)["State"]
        except NotFound:
            self._set_reason("Error (the Docker engine restarted and its container is gone)")
            return KILLED_EXIT_CODE
        if state.get("Running"):
            return None
        self._set_reason(
            "Error (the Docker engine restarted while it ran and stopped its container)"
        )
        return int(state.get("ExitCode") or KILLED_EXIT_CODE)
