"""Ordinary (non custom-job) tasks, run by kfp.local's own single-task machinery.

The pipeline walk is ours (custom-job tasks go to the executor), but a container
task runs exactly as ``kfp.local`` runs it: its executor input, placeholders,
Docker container or subprocess, and outputs. ``kfp.local`` has no public
per-task entry point that accepts upstream artifacts, so this module calls
``kfp.local.task_dispatcher.run_single_task_implementation`` (what kfp.local's
own DAG orchestrator calls); it is the only place that touches kfp.local.

kfp.local sees artifacts at local paths: its pipeline root is a directory inside
the gs:// root, mounted at the same absolute path in its containers, so an
artifact is ``gs://B/P`` for a CustomJob replica (``/gcs/B/P``) and
``<root>/B/P`` for a kfp.local task.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from kfp import dsl, local
from kfp.dsl import component_factory
from kfp.dsl import executor as kfp_executor
from kfp.local import status, task_dispatcher
from kfp.pipeline_spec import pipeline_spec_pb2

from cjob_emu.errors import EnvironmentProblem, InputError
from cjob_emu.executor.backend import LABEL_RUN
from cjob_emu.executor.gcs import GcsRoot
from cjob_emu.launcher.executor_input import Artifact, output_artifact, task_root


@contextlib.contextmanager
def task_runner(
    backend: str, labels: Mapping[str, str], *, as_host_user: bool = True
) -> Iterator[Any]:
    """The kfp.local runner for ordinary tasks on ``backend`` ("docker" or "process").

    docker: kfp.local's DockerRunner on a network of the run's own (labelled
    ``labels``, as its containers are), the invoking user's uid/gid like the
    executor's replicas; on exit, also after Ctrl-C (which leaves kfp.local's
    detached container running), its containers and network are removed.
    process: kfp.local's SubprocessRunner in this Python, without a virtual
    environment (one per task would need the network to install kfp into it).
    """
    if backend != "docker":
        yield local.SubprocessRunner(use_venv=False)
        return
    import docker

    try:
        client = docker.from_env()
        network = client.networks.create(
            f"cjob-emu-{labels.get(LABEL_RUN, 'run')}-tasks", driver="bridge", labels=dict(labels)
        )
    except docker.errors.DockerException as exc:
        raise EnvironmentProblem(f"no network for kfp.local's containers: {exc}") from None
    extra: dict[str, Any] = {"labels": dict(labels), "network": network.name}
    if as_host_user:
        extra["user"] = f"{os.getuid()}:{os.getgid()}"
    try:
        yield local.DockerRunner(**extra)
    finally:
        try:
            _remove_containers(client, labels)
            with contextlib.suppress(docker.errors.NotFound):
                network.remove()
        finally:
            client.close()


def _remove_containers(client: Any, labels: Mapping[str, str]) -> None:
    """Remove the labelled containers and wait until they are gone (kfp.local starts them
    with auto_remove, so a removal may already be under way)."""
    from docker.errors import APIError, NotFound

    selector = {"label": [f"{key}={value}" for key, value in labels.items() if value]}
    deadline = time.monotonic() + 30
    # The low-level listing: the high-level one inspects each container and fails on
    # one that auto_remove took away in between.
    while containers := client.api.containers(all=True, filters=selector):
        for container in containers:
            with contextlib.suppress(NotFound, APIError):
                client.api.remove_container(container["Id"], force=True)
        if time.monotonic() > deadline:
            names = ", ".join(name for c in containers for name in c.get("Names", []))
            raise EnvironmentProblem(f"kfp.local's containers {names} could not be removed")
        time.sleep(0.2)


def check_runnable(runner: Any, tasks: Sequence[OrdinaryTask], *, pull: bool) -> None:
    """Refuse, before any task starts, the tasks kfp.local cannot run, all named at once:
    on docker an image that is not on the engine (unless ``pull``); on the process
    backend anything but a Lightweight Python component (kfp.local's SubprocessRunner
    refuses container and containerized Python components)."""
    if isinstance(runner, local.DockerRunner):
        _check_images(tasks, pull=pull)
        return
    refused = [task.path for task in tasks if not _lightweight(task.container)]
    if refused:
        which = (
            f"task {refused[0]} is a container component"
            if len(refused) == 1
            else f"tasks {', '.join(refused)} are container components"
        )
        raise InputError(
            f"{which}: on the process backend only Lightweight Python components "
            "(@dsl.component) and CustomJob tasks run locally (kfp.local's SubprocessRunner "
            "refuses container and containerized Python components); use --backend docker"
        )


@dataclass(frozen=True)
class OrdinaryTask:
    """A task kfp.local runs: its path in the pipeline, its container spec (pipeline-spec
    JSON) and the local image it runs (the image map applied)."""

    path: str
    container: Mapping[str, Any]
    image: str


def _check_images(tasks: Sequence[OrdinaryTask], *, pull: bool) -> None:
    import docker
    from docker.errors import DockerException, ImageNotFound

    client = docker.from_env()
    missing: list[OrdinaryTask] = []
    try:
        for task in tasks:
            try:
                client.images.get(task.image)
            except ImageNotFound:
                missing.append(task)
    except DockerException as exc:
        raise EnvironmentProblem(f"the Docker engine: {exc}") from None
    finally:
        client.close()
    if missing and not pull:
        named = "; ".join(
            f"task {task.path}: image {task.image} is not on this Docker engine" for task in missing
        )
        raise EnvironmentProblem(
            f"{named}; map {missing[0].container.get('image')} to a local tag "
            "(--image-map URI=TAG, image_map=) or allow pulling (--pull)"
        )


def _lightweight(container: Mapping[str, Any]) -> bool:
    full = [str(part) for part in [*container.get("command", []), *container.get("args", [])]]
    lightweight = any(component_factory.EXECUTOR_MODULE in part for part in full)
    prefix = component_factory.CONTAINERIZED_PYTHON_COMPONENT_COMMAND
    return lightweight and full[: len(prefix)] != prefix


@dataclass(frozen=True)
class TaskRun:
    """The outcome of one kfp.local task: ``outputs`` (parameters; artifacts as
    RuntimeArtifact JSON with gs:// URIs) and ``log`` (what it printed)."""

    succeeded: bool
    outputs: dict[str, Any]
    log: str


def run_task(
    *,
    run_name: str,
    component_name: str,
    component: Mapping[str, Any],
    executor: Mapping[str, Any],
    arguments: Mapping[str, Any],
    gcs: GcsRoot,
    pipeline_root: str,
    runner: Any,
    image: str,
    echo: bool = True,
    log_file: Path | None = None,
) -> TaskRun:
    """Run one container task through kfp.local.

    ``component`` and ``executor`` are pipeline-spec JSON; ``arguments`` the task's
    parameter values (free of pipeline-level placeholders) and input artifacts
    (RuntimeArtifact JSON, gs:// URIs); ``pipeline_root`` a gs:// URI; ``image`` the
    local image to run instead of the executor's (the image map applied); what the task
    prints is also written to ``log_file`` as it comes.
    """
    component_spec = json_format.ParseDict(component, pipeline_spec_pb2.ComponentSpec())
    executor_spec = copy.deepcopy(dict(executor))
    executor_spec["container"] = {**executor_spec["container"], "image": image}
    executor_pb = json_format.ParseDict(
        executor_spec, pipeline_spec_pb2.PipelineDeploymentConfig.ExecutorSpec()
    )
    local_arguments = {
        name: _local_artifact(value, gcs) if _is_artifact(value) else value
        for name, value in arguments.items()
    }
    with _captured(echo, log_file) as log, _engine_errors(component_name):
        outputs, task_status = task_dispatcher.run_single_task_implementation(
            pipeline_resource_name=run_name,
            component_name=component_name,
            component_spec=component_spec,
            executor_spec=executor_pb,
            arguments=local_arguments,
            pipeline_root=str(gcs.local_path(pipeline_root)),
            runner=runner,
            raise_on_error=False,
            block_input_artifact=False,
            unique_pipeline_id=run_name,
        )
    converted = {
        name: _gcs_artifact(value, gcs) if isinstance(value, dsl.Artifact) else value
        for name, value in outputs.items()
    }
    succeeded = task_status == status.Status.SUCCESS
    if succeeded:
        # kfp.local lists only the artifacts an executor_output.json names; on Vertex every
        # output artifact of a succeeded task exists, its URI assigned before the task ran.
        root = task_root(pipeline_root, run_name, component_name.removeprefix("comp-"))
        definitions = component.get("outputDefinitions", {}).get("artifacts", {})
        for name, definition in definitions.items():
            converted.setdefault(name, output_artifact(name, definition, root))
    return TaskRun(succeeded, converted, log.getvalue())


@contextlib.contextmanager
def _engine_errors(task: str) -> Iterator[None]:
    """The Docker engine refusing kfp.local's container is our EnvironmentProblem."""
    try:
        import docker.errors
    except ImportError:
        yield
        return
    try:
        yield
    except docker.errors.DockerException as exc:
        raise EnvironmentProblem(f"task {task}: the Docker engine: {exc}") from None


def _is_artifact(value: Any) -> bool:
    return isinstance(value, dict) and "uri" in value and "type" in value


def _local_artifact(artifact: Artifact, gcs: GcsRoot) -> dsl.Artifact:
    uri = str(artifact["uri"])
    local_uri = str(gcs.local_path(uri)) if uri.startswith("gs://") else uri
    instance: dsl.Artifact = kfp_executor.create_artifact_instance({**artifact, "uri": local_uri})
    return instance


def _gcs_artifact(artifact: dsl.Artifact, gcs: GcsRoot) -> Artifact:
    uri = gcs.uri(artifact.uri) if gcs.holds(artifact.uri) else artifact.uri
    return {
        "name": artifact.name,
        "type": {"schemaTitle": artifact.schema_title, "schemaVersion": artifact.schema_version},
        "uri": uri,
        "metadata": dict(artifact.metadata),
    }


class _Tee(io.StringIO):
    def __init__(self, *copies: Any) -> None:
        super().__init__()
        self._copies = [c for c in copies if c is not None]

    def write(self, text: str) -> int:
        for copy_to in self._copies:
            copy_to.write(text)
            copy_to.flush()
        return super().write(text)


@contextlib.contextmanager
def _captured(echo: bool, log_file: Path | None = None) -> Iterator[io.StringIO]:
    """kfp.local prints a task's output, and logs its own lines, to ``sys.stdout`` (its
    logger's handler is made on entry): both are kept (and written to ``log_file``), and
    shown on stderr when ``echo``, so our stdout stays ours (``--json``)."""
    with contextlib.ExitStack() as stack:
        log = None if log_file is None else stack.enter_context(log_file.open("a"))
        buffer = _Tee(sys.stderr if echo else None, log)
        with contextlib.redirect_stdout(buffer):
            yield buffer
