"""Submitting a job: the backend chosen by name, the job validated, its run started.

:func:`submit` returns a :class:`~cjob_emu.executor.job.RunningJob` at once;
:func:`run_job` waits for its end; :func:`cleanup` removes what runs of dead processes
left behind. The package docstring (:mod:`cjob_emu.executor`) shows them in use.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from google.cloud.aiplatform_v1 import CustomJob

from cjob_emu import cluster
from cjob_emu.cluster import ClusterOptions
from cjob_emu.errors import EnvironmentProblem, InputError, InvalidJobError
from cjob_emu.executor.backend import Backend, RunOptions, RunSpec, owner_labels
from cjob_emu.executor.events import Event, Notice
from cjob_emu.executor.gcs import GcsRoot
from cjob_emu.executor.image_map import ImageMap
from cjob_emu.executor.job import DEFAULT_MAX_RESTARTS, RunningJob
from cjob_emu.executor.plan import image_uris
from cjob_emu.executor.process import ProcessBackend
from cjob_emu.executor.results import JobResult
from cjob_emu.executor.run_records import RunRecorder
from cjob_emu.executor.unemulated import unemulated_fields
from cjob_emu.run_index import DEFAULT_RUNS_DIR, ParentRun, RunIndex
from cjob_emu.spec import JobSource, load_job
from cjob_emu.validate import ValidationReport, validate

DEFAULT_WORK_DIR = Path(".cjob-emu")
"""Parent of the default gs:// root (``gcs/``) and run directories (``runs/``)."""

BACKEND_NAMES = ("docker", "process")

ImageMapLike = ImageMap | Mapping[str, str] | str | os.PathLike[str] | None


def get_backend(backend: str | Backend = "auto") -> Backend:
    """The backend called ``backend`` ("auto": docker where an engine answers, else process).

    Raises :class:`EnvironmentProblem` for "docker" without an engine, InputError for
    an unknown name.
    """
    if isinstance(backend, Backend):
        return backend
    if backend not in ("auto", *BACKEND_NAMES):
        raise InputError(f"unknown backend {backend!r}; choose auto, docker or process")
    if backend in ("auto", "docker"):
        docker_backend = _docker_backend_class()
        if docker_backend is not None and docker_backend.available():
            return docker_backend()
        if backend == "docker":
            raise EnvironmentProblem(
                "the docker backend needs a Docker engine and none answers "
                "(is dockerd running and DOCKER_HOST right?); or use --backend process"
            )
    return ProcessBackend()


def submit(
    job: JobSource,
    *,
    backend: str | Backend = "auto",
    gcs_root: str | os.PathLike[str] | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    runs_dir: str | os.PathLike[str] | None = None,
    parent: ParentRun | None = None,
    image_map: ImageMapLike = None,
    options: RunOptions | None = None,
    cluster_options: ClusterOptions | None = None,
    timeout: float | None = None,
    max_restarts: int = DEFAULT_MAX_RESTARTS,
    location: str | None = None,
    strict: bool = False,
    on_event: Callable[[Event], None] | None = None,
    host_env: Callable[[str], Mapping[str, str]] | None = None,
) -> RunningJob:
    """Validate ``job`` and start running it; returns at once with a :class:`RunningJob`.

    Args:
        job: A CustomJob message, a REST/snake_case mapping, or a JSON/YAML file path.
        backend: "auto" (docker where an engine answers, else process), "docker",
            "process", or a :class:`Backend` instance.
        gcs_root: The directory standing for gs:// (default ``./.cjob-emu/gcs``).
        run_dir: Where logs and the final job go (default ``<runs_dir>/<run id>``).
        runs_dir: The runs directory whose index records the run (default
            ``./.cjob-emu/runs``; see :mod:`cjob_emu.run_index`), also with ``run_dir``.
        parent: The pipeline run (and its task) the job is run for, recorded with it.
        image_map: Registry image -> local tag: an :class:`ImageMap`, a mapping, or a
            YAML/JSON file.
        options: Backend choices (GPU passthrough, pulling, uid, limits, stop grace).
        cluster_options: Project number, region, CLUSTER_SPEC ``job`` form, PyTorch
            variables (its ``run_id`` is always the run's id).
        timeout: Seconds; replaces ``scheduling.timeout`` (default: the job's, else 7 days).
        max_restarts: Bound for ``restart_job_on_worker_restart``.
        location: Region the job is validated for.
        strict: Every validation warning is an error (not-emulated notices are not
            warnings and never fail a run).
        on_event: Called with every :class:`Event`, one at a time, from executor threads.
        host_env: Called once before any replica starts with the address at which this
            host is reachable from the replicas (docker: the run network's gateway;
            process: ``127.0.0.1``); the variables it returns go into every replica's
            environment (the job's own win). A server for the replicas listens there.

    Raises InputError (unreadable job), InvalidJobError (the validation report, before
    anything runs), EnvironmentProblem (no such backend here).
    """
    loaded = load_job(job)
    report = validate(loaded, location=location, strict=strict)
    if not report.ok:
        raise InvalidJobError(report)
    if max_restarts < 0:
        raise InputError(f"max_restarts must be 0 or more, got {max_restarts}")
    if timeout is not None and timeout <= 0:
        raise InputError(f"timeout must be positive, got {timeout}")
    chosen = get_backend(backend)
    run_id = new_run_id()
    opts = options or RunOptions()
    runs = Path(runs_dir) if runs_dir is not None else DEFAULT_RUNS_DIR
    directory = Path(run_dir) if run_dir is not None else runs / run_id
    directory.mkdir(parents=True, exist_ok=True)
    root = GcsRoot.at(gcs_root if gcs_root is not None else DEFAULT_WORK_DIR / "gcs")
    images = ImageMap.load(image_map)
    run = RunSpec(
        run_id=run_id, job=loaded, replicas=tuple(cluster.replicas(loaded)), gcs=root,
        run_dir=directory.resolve(), labels=owner_labels(run_id, directory), options=opts,
        images={uri: images.resolve(uri) for uri in image_uris(loaded)}, host_env=host_env,
        image_hint=images.hint,
    )
    chosen_options = dataclasses.replace(cluster_options or ClusterOptions(), run_id=run_id)
    recorder = RunRecorder(RunIndex(runs), run, chosen.name, parent=parent, on_event=on_event)
    return RunningJob(run, chosen, cluster_options=chosen_options, timeout=timeout,
                      max_restarts=max_restarts, notices=_notices(report, loaded, opts),
                      on_event=recorder)


def run_job(job: JobSource, **kwargs: Any) -> JobResult:
    """Run ``job`` to its end and return the :class:`JobResult` (FAILED and CANCELLED too).

    Takes the keyword arguments of :func:`submit` (``backend="auto"|"docker"|"process"``
    or a :class:`Backend`, ``gcs_root``, ``image_map``, ``timeout``, ...). Ctrl-C
    cancels the job, waits for its replicas to be removed, and re-raises. Call
    ``result.raise_for_state()`` to turn FAILED/CANCELLED into exceptions.
    """
    running = submit(job, **kwargs)
    try:
        return running.wait()
    except KeyboardInterrupt:
        running.cancel()
        running.wait()
        raise


def cleanup(backends: Iterable[str] = BACKEND_NAMES) -> list[str]:
    """Remove what runs whose owning process died left behind, and mark their
    ``job.json`` FAILED; describe what was done.

    Live runs of other processes are never touched. A backend that cannot run here
    (no docker engine) is skipped.
    """
    removed: list[str] = []
    for name in backends:
        if name == "docker":
            docker_backend = _docker_backend_class()
            if docker_backend is None or not docker_backend.available():
                continue
            removed += docker_backend().cleanup_dead()
        else:
            removed += get_backend(name).cleanup_dead()
    return removed


def new_run_id() -> str:
    """A fresh run id: UTC time and random hex, e.g. ``20250102-030405-1a2b3c``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def _notices(report: ValidationReport, job: CustomJob, options: RunOptions) -> list[Notice]:
    """What the run says before it starts: validation warnings, then unemulated fields."""
    notices = [Notice(p.message, p.field, kind="warning") for p in report.warnings]
    notices += [
        Notice(u.message, u.field, kind="unemulated") for u in unemulated_fields(job, options)
    ]
    return notices


def _docker_backend_class() -> type[Backend] | None:
    # Imported here: the docker SDK (and requests) load only when docker is asked for,
    # and a Python without the SDK still runs the process backend.
    try:
        from cjob_emu.executor.docker import DockerBackend
    except ImportError:
        return None
    return DockerBackend

