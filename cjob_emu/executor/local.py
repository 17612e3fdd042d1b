"""Run several jobs on one backend into one gs:// root, and end them all in one call.

    with LocalExecutor(backend="process", gcs_root="out/gcs", runs_dir="out/runs") as ex:
        result = ex.run("job.yaml")
        model = ex.path("gs://bucket/model/model.txt")

What the ``local_executor`` pytest fixture hands a test (one per test, closed after it).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cjob_emu.executor.backend import Backend
from cjob_emu.executor.gcs import GcsRoot
from cjob_emu.executor.job import RunningJob
from cjob_emu.executor.results import JobResult
from cjob_emu.executor.submission import get_backend, submit
from cjob_emu.spec import JobSource

CLOSE_WAIT = 120.0
"""Seconds :meth:`LocalExecutor.close` waits for cancelled jobs to remove their replicas."""


class LocalExecutor:
    """Submits jobs with shared defaults and remembers them so :meth:`close` can end them.

    Args:
        backend: "auto", "docker", "process" or a :class:`Backend`; resolved once here
            (so "docker" without an engine raises :class:`EnvironmentProblem` at once).
        gcs_root: The directory standing for gs:// in every job.
        runs_dir: Each job's run directory is ``<runs_dir>/<n>-<display name>``; the
            runs are recorded in its index (:mod:`cjob_emu.run_index`).
        defaults: Keyword arguments of :func:`cjob_emu.executor.submit` for every job
            (``image_map``, ``options``, ``timeout``, ...); a call's own arguments win.
    """

    def __init__(
        self,
        *,
        backend: str | Backend = "auto",
        gcs_root: str | os.PathLike[str],
        runs_dir: str | os.PathLike[str],
        **defaults: Any,
    ) -> None:
        self.backend = get_backend(backend)
        self.gcs = GcsRoot.at(gcs_root)
        self.runs_dir = Path(runs_dir)
        self.defaults = defaults
        self.jobs: list[RunningJob] = []
        self._lock = threading.Lock()

    @property
    def gcs_root(self) -> Path:
        """The gs:// root directory."""
        return self.gcs.path

    def path(self, uri: str) -> Path:
        """The local file of ``gs://bucket/name`` (or ``/gcs/bucket/name``) under the root."""
        return self.gcs.local_path(uri)

    def submit(self, job: JobSource, **kwargs: Any) -> RunningJob:
        """Start ``job`` (see :func:`cjob_emu.executor.submit`); returns at once."""
        arguments = {**self.defaults, **kwargs}
        with self._lock:
            number = len(self.jobs)
            arguments.setdefault("run_dir", self.runs_dir / f"{number:03d}-{_slug(job)}")
            arguments.setdefault("runs_dir", self.runs_dir)  # its index records the runs
            running = submit(job, backend=self.backend, gcs_root=self.gcs.path, **arguments)
            self.jobs.append(running)
        return running

    def run(self, job: JobSource, **kwargs: Any) -> JobResult:
        """Run ``job`` to its end; the :class:`JobResult` (FAILED and CANCELLED too)."""
        return self.submit(job, **kwargs).wait()

    def close(self) -> None:
        """Cancel every job still running and wait (bounded) until its replicas are gone."""
        with self._lock:
            jobs = list(self.jobs)
        for running in jobs:
            running.cancel()
        for running in jobs:
            running.join(CLOSE_WAIT)

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _slug(job: JobSource) -> str:
    """A short file-name-safe label for a run directory."""
    if isinstance(job, (str, os.PathLike)):
        name = Path(job).stem
    elif isinstance(job, Mapping):
        name = str(job.get("displayName") or job.get("display_name") or "job")
    else:
        name = str(getattr(job, "display_name", "") or "job")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")[:40] or "job"
