"""Run one custom-job task of a pipeline: what GCPC's launcher does, on the local executor.

executor input -> :func:`~cjob_emu.launcher.payload.prepare_launch` (placeholders
filled in, the launcher's payload treatment) -> :func:`cjob_emu.executor.submit`
-> ``gcp_resources`` and the component's outputs, read from the gs:// root where
the chief replica wrote them (``executor_output.json`` and output files under
``/gcs``, as on Vertex).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cjob_emu.cluster import ClusterOptions
from cjob_emu.errors import InvalidJobError
from cjob_emu.executor import (
    DEFAULT_MAX_RESTARTS,
    Backend,
    JobResult,
    RunningJob,
    RunOptions,
    submit,
)
from cjob_emu.executor.events import Event
from cjob_emu.executor.gcs import GcsRoot
from cjob_emu.executor.image_map import ImageMap
from cjob_emu.launcher.contract import GCP_RESOURCES
from cjob_emu.launcher.executor_input import read_outputs
from cjob_emu.launcher.payload import (
    LaunchFailed,
    gcp_resources,
    gcp_resources_file,
    prepare_launch,
)
from cjob_emu.run_index import ParentRun


@dataclass(frozen=True)
class CustomJobSettings:
    """How the pipeline's CustomJobs run (see :func:`cjob_emu.executor.submit`): each
    job's run directory is ``<runs_dir>/<task>``; it is recorded in the index of
    ``index_dir`` as a task of the pipeline run ``pipeline_run``."""

    backend: str | Backend = "auto"
    image_map: ImageMap = field(default_factory=ImageMap)
    options: RunOptions = field(default_factory=RunOptions)
    runs_dir: Path | None = None
    index_dir: Path | None = None
    pipeline_run: str = ""
    max_restarts: int = DEFAULT_MAX_RESTARTS
    on_event: Callable[[Event], None] | None = None
    strict: bool = False
    cancelled: threading.Event = field(default_factory=threading.Event)
    """Set on Ctrl-C: a running CustomJob is cancelled (tasks run in threads, where no
    KeyboardInterrupt arrives)."""


@dataclass(frozen=True)
class CustomJobTaskRun:
    """The outcome of a custom-job task.

    Attributes:
        succeeded: Whether the job ended SUCCEEDED.
        outputs: ``gcp_resources`` and the component's outputs (artifacts as
            RuntimeArtifact JSON with gs:// URIs).
        warnings: Where Vertex would run something else than the user wrote.
        notices: What the executor did not emulate or did differently.
        error: Why the task failed (the job's error, or the launcher's).
        result: The executor's result, when a job ran.
    """

    succeeded: bool
    outputs: dict[str, Any]
    warnings: tuple[str, ...]
    notices: tuple[str, ...] = ()
    error: str = ""
    result: JobResult | None = None


def run_custom_job_task(
    *,
    task_name: str,
    component: Mapping[str, Any],
    container: Mapping[str, Any],
    executor_input: Mapping[str, Any],
    gcs: GcsRoot,
    pipeline_values: Mapping[str, str],
    system_labels: Mapping[str, str] | None,
    settings: CustomJobSettings,
    warn: Callable[[str], None],
) -> CustomJobTaskRun:
    """Act as GCPC's launcher for one task: create the CustomJob on the local executor,
    wait for it, write ``gcp_resources`` and collect the component's outputs.

    ``warn`` is called at once with each warning (loudly, before the job runs). A job
    Vertex would refuse (invalid, or a payload the launcher cannot parse) fails the
    task; Ctrl-C cancels the job, waits for its replicas to go, and re-raises.
    """
    try:
        launch = prepare_launch(
            container,
            executor_input,
            pipeline_values=pipeline_values,
            system_labels=system_labels,
        )
    except LaunchFailed as exc:
        warn(str(exc))
        return CustomJobTaskRun(False, {}, (str(exc),), error=str(exc))
    for warning in launch.warnings:
        warn(warning)
    job = launch.job
    notices: list[str] = []
    backend = settings.backend
    if (backend.name if isinstance(backend, Backend) else backend) == "process":
        job, rewritten = _host_python(job)
        if rewritten:
            notices.append(
                f"process backend: 'python3' in the pools' commands runs {sys.executable} "
                "(as kfp.local's SubprocessRunner does), so kfp imports"
            )
    try:
        running = submit(
            job,
            backend=settings.backend,
            gcs_root=gcs.path,
            run_dir=None if settings.runs_dir is None else settings.runs_dir / task_name,
            runs_dir=settings.index_dir,
            parent=ParentRun(settings.pipeline_run, task_name) if settings.pipeline_run else None,
            image_map=settings.image_map,
            options=settings.options,
            max_restarts=settings.max_restarts,
            cluster_options=ClusterOptions(region=launch.location or None),
            location=launch.location or None,
            strict=settings.strict,
            on_event=settings.on_event,
        )
    except InvalidJobError as exc:
        message = f"Vertex refuses the CustomJob the launcher creates: {exc}"
        return CustomJobTaskRun(False, {}, launch.warnings, error=message)
    job_id = running.job.name.rsplit("/", 1)[-1]
    resources = json.dumps(gcp_resources(launch.project, launch.location, job_id))
    resources_path = gcs.local_path(gcp_resources_file(container, executor_input))
    resources_path.parent.mkdir(parents=True, exist_ok=True)
    resources_path.write_text(resources)
    result = _wait(running, settings.cancelled)
    notices += [n.message for n in result.notices]
    if not result.succeeded:
        error = result.job.error.message or result.state.name
        return CustomJobTaskRun(False, {}, launch.warnings, tuple(notices), error, result)
    outputs = _outputs(component, executor_input, gcs)
    outputs[GCP_RESOURCES] = resources
    return CustomJobTaskRun(True, outputs, launch.warnings, tuple(notices), "", result)


def _wait(running: RunningJob, cancelled: threading.Event) -> JobResult:
    """The job's end; cancelled when ``cancelled`` is set (the task runs in a thread,
    where no KeyboardInterrupt arrives) or on Ctrl-C in the main thread."""
    try:
        while not running.done:
            if cancelled.is_set():
                running.cancel()  # repeated calls are no-ops once it is cancelling
            running.join(0.2)
        return running.wait()
    except KeyboardInterrupt:
        running.cancel()
        running.wait()
        raise


def _outputs(
    component: Mapping[str, Any], executor_input: Mapping[str, Any], gcs: GcsRoot
) -> dict[str, Any]:
    outputs = executor_input.get("outputs", {})
    executor_output = None
    output_file = gcs.local_path(str(outputs.get("outputFile", "")))
    if output_file.is_file():
        executor_output = json.loads(output_file.read_text())
    files = {}
    for name, parameter in outputs.get("parameters", {}).items():
        path = gcs.local_path(str(parameter["outputFile"]))
        if name != GCP_RESOURCES and path.is_file():
            files[name] = path.read_text()
    return read_outputs(
        component, executor_input, executor_output, files, skip=frozenset([GCP_RESOURCES])
    )


def _host_python(job: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The job with ``python3`` in container commands and args made this interpreter, as
    kfp.local's SubprocessRunner does: on the process backend a replica runs on the host,
    where ``python3`` on PATH may lack kfp."""
    from kfp.local.subprocess_task_handler import replace_python_executable

    pools = job.get("job_spec", {}).get("worker_pool_specs", [])
    changed = False
    new_pools = []
    for pool in pools:
        container = pool.get("container_spec") if isinstance(pool, dict) else None
        if not container:
            new_pools.append(pool)
            continue
        full = [*container.get("command", []), *container.get("args", [])]
        replaced = replace_python_executable(full, sys.executable)
        changed = changed or replaced != full
        count = len(container.get("command", []))
        new_container = {**container, "command": replaced[:count], "args": replaced[count:]}
        new_pools.append({**pool, "container_spec": new_container})
    if not changed:
        return job, False
    spec = {**job["job_spec"], "worker_pool_specs": new_pools}
    return {**job, "job_spec": spec}, True
