"""Executor mode: jobs created through the fake API really run on :mod:`cjob_emu.executor`.

Each job is handed to :func:`cjob_emu.executor.submit` under its API name, so the
replicas see the job id and region of that name. The executor's state changes
reach the store through one dispatcher thread: executor threads never wait for
the store's lock, and the store may cancel a run while holding it.

Served by a :class:`~cjob_emu.fake_api.server.FakeVertexServer`, every replica gets
``CJOB_EMU_API_ENDPOINT`` (and, with a gs:// root served, ``STORAGE_EMULATOR_HOST``):
the server's URL as the replica reaches it. On the docker backend that is the run
network's gateway, where the server listens for as long as the job runs.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.cloud.aiplatform_v1 import CustomJob, JobState

from cjob_emu.errors import EnvironmentProblem, InputError, InvalidJobError
from cjob_emu.executor import (
    Backend,
    Event,
    ImageMapLike,
    RunningJob,
    RunOptions,
    StateChanged,
    submit,
)
from cjob_emu.fake_api.rpc import ApiError, bad_request
from cjob_emu.fake_api.runner_protocol import Report

log = logging.getLogger(__name__)

_ERROR_STATES = (JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED)
_END_STATES = (*_ERROR_STATES, JobState.JOB_STATE_SUCCEEDED)
_CLOSE_WAIT = 120.0  # seconds to let cancelled runs remove their replicas

API_ENDPOINT_VARIABLE = "CJOB_EMU_API_ENDPOINT"
"""Set in every replica of an executor-mode job: the fake API's URL from the replica."""
STORAGE_VARIABLE = "STORAGE_EMULATOR_HOST"

Endpoint = Callable[[str], "tuple[str, Callable[[], None]]"]
"""``endpoint(host) -> (url, release)``: the server as reached through ``host``."""


@dataclass(frozen=True)
class ExecutorSettings:
    """Where and how executor-mode jobs run (arguments of :func:`cjob_emu.executor.submit`);
    PipelineJobs in executor mode run with the same."""

    backend: str | Backend = "auto"
    gcs_root: str | os.PathLike[str] | None = None
    work_dir: str | os.PathLike[str] | None = None
    image_map: ImageMapLike = None
    options: RunOptions | None = None


class ExecutorRun:
    """One job running on the executor."""

    def __init__(self, report: Report, name: str = "") -> None:
        self.report = report
        self.name = name
        self.running: RunningJob | None = None
        self._cancelled = False
        self._releases: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._released = False

    def on_poll(self) -> None:
        """The executor reports on its own; reads change nothing."""

    def cancel(self) -> None:
        self._cancelled = True
        if self.running is not None:
            self.running.cancel()

    def snapshot(self) -> None:
        # A real run cannot be taken over by a restarted server.
        return None

    def attach(self, running: RunningJob) -> None:
        self.running = running
        if self._cancelled:  # cancelled while submit() was still starting it
            running.cancel()

    def hold(self, release: Callable[[], None]) -> None:
        """Call ``release`` when the run has ended (at once if it has already)."""
        with self._lock:
            if not self._released:
                self._releases.append(release)
                return
        release()

    def release(self) -> None:
        """The run ended: release what it held (its listener for the replicas)."""
        with self._lock:
            self._released = True
            releases, self._releases = self._releases, []
        for release in releases:
            release()


class ExecutorRunner:
    """Runs fake-API jobs for real; arguments are those of :func:`cjob_emu.executor.submit`.

    ``work_dir`` holds one run directory per job (``<work_dir>/runs/<job id>``,
    logs and the final job); ``gcs_root`` is the gs:// root the replicas see.
    """

    def __init__(
        self,
        *,
        backend: str | Backend = "auto",
        gcs_root: str | os.PathLike[str] | None = None,
        work_dir: str | os.PathLike[str] | None = None,
        image_map: ImageMapLike = None,
        options: RunOptions | None = None,
    ) -> None:
        self._backend = backend
        self._gcs_root = gcs_root
        self._work_dir = work_dir
        self._image_map = image_map
        self._options = options
        self._events: queue.Queue[tuple[ExecutorRun, Event] | None] = queue.Queue()
        self._runs: list[ExecutorRun] = []
        self._lock = threading.Lock()
        self._dispatcher: threading.Thread | None = None
        self._endpoint: Endpoint | None = None
        self._storage = False

    @property
    def settings(self) -> ExecutorSettings:
        return ExecutorSettings(self._backend, self._gcs_root, self._work_dir, self._image_map,
                                self._options)

    def connect(self, endpoint: Endpoint, *, storage: bool) -> None:
        """Give replicas of later runs the server's URL (``storage``: it serves Cloud Storage).

        The server calls this when it starts; ``endpoint(host)`` makes it listen on
        ``host`` if need be, and returns its URL there and how to stop listening.
        """
        self._endpoint = endpoint
        self._storage = storage

    def start(self, job: CustomJob, report: Report) -> ExecutorRun:
        self._ensure_dispatcher()
        run = ExecutorRun(report, job.name)
        location = job.name.split("/")[3] if job.name.count("/") >= 5 else None
        run_dir = None
        if self._work_dir is not None:
            run_dir = os.path.join(self._work_dir, "runs", job.name.rsplit("/", 1)[-1])
        try:
            running = submit(
                job,
                backend=self._backend,
                gcs_root=self._gcs_root,
                run_dir=run_dir,
                image_map=self._image_map,
                options=self._options,
                location=location,
                on_event=lambda event: self._events.put((run, event)),
                host_env=self._host_env(run),
            )
        except InvalidJobError as exc:
            violations = [(p.field, p.message) for p in exc.report.errors]
            raise bad_request(exc.report.vertex_message(), violations) from None
        except InputError as exc:
            raise ApiError("INVALID_ARGUMENT", str(exc)) from None
        except EnvironmentProblem as exc:
            run.release()
            raise ApiError("FAILED_PRECONDITION", f"cannot run the job here: {exc}") from None
        run.attach(running)
        with self._lock:
            self._runs = [r for r in self._runs if r.running is None or not r.running.done]
            self._runs.append(run)
        return run

    def _host_env(self, run: ExecutorRun) -> Callable[[str], dict[str, str]] | None:
        endpoint = self._endpoint
        if endpoint is None:
            return None  # not served over HTTP (the responses mock): nothing to reach

        def env(host: str) -> dict[str, str]:
            try:
                url, release = endpoint(host)
            except EnvironmentProblem as exc:
                # E.g. a rootless or remote engine, whose gateway is not an address of
                # this machine: the job still runs, its replicas just cannot call home.
                log.warning("replicas of %s get no CJOB_EMU_API_ENDPOINT: %s", run.name, exc)
                return {}
            run.hold(release)
            variables = {API_ENDPOINT_VARIABLE: url}
            if self._storage:
                variables[STORAGE_VARIABLE] = url
            return variables

        return env

    def resume(self, job: CustomJob, snapshot: Mapping[str, Any], report: Report) -> None:
        return None

    def close(self) -> None:
        """Cancel every run, wait (bounded) for their replicas to be removed, stop dispatching."""
        with self._lock:
            runs, self._runs = self._runs, []
        for run in runs:
            run.cancel()
        deadline = time.monotonic() + _CLOSE_WAIT
        for run in runs:
            if run.running is not None:
                run.running.join(max(0.0, deadline - time.monotonic()))
            run.release()
        if self._dispatcher is not None:
            self._events.put(None)
            self._dispatcher.join()
            self._dispatcher = None

    def _ensure_dispatcher(self) -> None:
        with self._lock:
            if self._dispatcher is None:
                self._dispatcher = threading.Thread(
                    target=self._dispatch, name="cjob-emu-executor-events", daemon=True
                )
                self._dispatcher.start()

    def _dispatch(self) -> None:
        while (item := self._events.get()) is not None:
            run, event = item
            if not isinstance(event, StateChanged):
                continue
            if event.state in _END_STATES:
                run.release()
            error = None
            if event.state in _ERROR_STATES and event.job.error.code:
                error = (int(event.job.error.code), str(event.job.error.message))
            run.report(int(event.state), error)
