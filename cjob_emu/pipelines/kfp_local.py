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

What a task prints is handed on line by line (:class:`TaskLine`), told apart from
kfp's own lines: kfp.local's log records and separators, and the KFP executor's
INFO lines with its full executor input (:class:`KfpExecutorLog`), which a reader
wants only when asking for everything.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

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


def stop_tasks(runner: Any, labels: Mapping[str, str]) -> None:
    """Stop the tasks ``runner`` is running now (Ctrl-C): on docker their containers
    (labelled ``labels``) are removed, which ends kfp.local's wait for them; a
    SubprocessRunner task is left to end (the terminal's Ctrl-C reaches it too)."""
    if not isinstance(runner, local.DockerRunner):
        return
    import docker

    client = docker.from_env()
    try:
        _remove_containers(client, labels)
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


_ONE_AT_A_TIME = threading.Lock()


@dataclass(frozen=True)
class TaskLine:
    """One line of a kfp.local task's output: ``task`` its name, ``own`` False for kfp's
    own lines (kfp.local's log and separators, the KFP executor's INFO lines)."""

    task: str
    text: str
    own: bool = True


TaskEcho = Callable[[TaskLine], None]
"""What is given each line of a kfp.local task's output as it comes."""


def print_task_line(line: TaskLine) -> None:
    """The default echo: a task's own lines on stderr, as ``  TASK | text``."""
    if line.own:
        print(f"  {line.task} | {line.text}", file=sys.stderr, flush=True)


_KFP_INFO = re.compile(r"\[KFP Executor [^\]]* INFO\]: ")


class KfpExecutorLog:
    """Tells, line by line, the KFP executor's own INFO lines in a component's output
    (``[KFP Executor <time> INFO]: ...``, the executor input it got dumped as indented
    JSON among them) from what the component itself prints. One per output stream."""

    def __init__(self) -> None:
        self._state = ""  # "open": the dump's "{" comes next; "dump": inside it

    def is_kfp(self, line: str) -> bool:
        """Whether ``line`` is the executor's (the lines of its input dump included)."""
        if self._state == "open":
            self._state = "dump" if line == "{" else ""
        if self._state == "dump":
            if line == "}":  # the dump (json.dumps, indent 4) ends at the first column
                self._state = ""
            return True
        if _KFP_INFO.match(line):
            if line.endswith("Got executor_input:"):
                self._state = "open"
            return True
        return False


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
    task: str = "",
    echo: TaskEcho | None = print_task_line,
    log_file: Path | None = None,
) -> TaskRun:
    """Run one container task through kfp.local.

    ``component`` and ``executor`` are pipeline-spec JSON; ``arguments`` the task's
    parameter values (free of pipeline-level placeholders) and input artifacts
    (RuntimeArtifact JSON, gs:// URIs); ``pipeline_root`` a gs:// URI; ``image`` the
    local image to run instead of the executor's (the image map applied); ``echo`` is
    given every line of output as it comes, named ``task`` (default: the component's);
    all of it is also written to ``log_file``.
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
    name = task or component_name.removeprefix("comp-")
    # kfp.local swaps process-wide state while a task runs (the root logger's handlers,
    # builtins.print, sys.stdout): one task at a time in this process, across runs too
    # (the fake API runs pipelines side by side)
    with _ONE_AT_A_TIME, _captured(name, echo, log_file) as log, _engine_errors(component_name):
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
    return TaskRun(succeeded, converted, log.text())


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


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SEPARATOR = re.compile(r"-{20,}")  # kfp.local's line after each task, unindented
_IMAGE_NOTE = re.compile(r"(Found|Pulling) image '.*'|Image pull complete")
_INDENT = " " * 4  # kfp.local indents a task's output by this much


class _TaskOutput(io.TextIOBase):
    """Stands in for ``sys.stdout`` while kfp.local runs a task: keeps everything (the
    log), and hands each line to the echo, told apart as :class:`TaskLine` says. Blank
    lines are held until a line follows (kfp.local ends a task's output with two, and
    follows its own "Found image" with one)."""

    def __init__(self, task: str, echo: TaskEcho | None, file: TextIO | None = None) -> None:
        self._task = task
        self._echo = echo
        self._file = file
        self._log: list[str] = []
        self._partial = ""
        self._blank = 0
        self._own = False  # whether the last line that was not blank was the task's own
        self._executor = KfpExecutorLog()

    def write(self, text: str) -> int:
        self._log.append(text)
        self._copy(text)
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line)
        return len(text)

    def kfp_line(self, text: str) -> None:
        """A line of kfp.local's own log (not printed on stdout, see :class:`_KfpLocalLog`)."""
        self._log.append(text + "\n")
        self._copy(text + "\n")
        self._hand_on(text, own=False)

    def _copy(self, text: str) -> None:
        if self._file is not None:
            self._file.write(text)
            self._file.flush()

    def text(self) -> str:
        """Everything kfp.local and the task printed."""
        return "".join(self._log)

    def close(self) -> None:
        if self._partial:
            self._line(self._partial)
        self._blank = 0
        super().close()

    def _line(self, raw: str) -> None:
        line = raw.removeprefix(_INDENT) if raw.startswith(_INDENT) else raw
        if not line.strip():
            self._blank += 1
            return
        kfp = _SEPARATOR.fullmatch(raw) or _IMAGE_NOTE.fullmatch(line)
        own = not (kfp or self._executor.is_kfp(line))
        blanks, self._blank = self._blank, 0
        for _ in range(blanks):  # a blank line after kfp's own is kfp's too
            self._hand_on("", own=own and self._own)
        self._hand_on(line, own=own)
        self._own = own

    def _hand_on(self, text: str, *, own: bool) -> None:
        if self._echo is not None:
            self._echo(TaskLine(self._task, _ANSI.sub("", text), own))


class _KfpLocalLog(logging.Filter):
    """kfp.local logs through the root logger, to a handler on ``sys.stdout`` it makes
    for each task: its records go to the task's output as kfp's own lines instead."""

    def __init__(self, output: _TaskOutput) -> None:
        super().__init__()
        self._output = output

    def filter(self, record: logging.LogRecord) -> bool:
        for line in record.getMessage().splitlines():
            self._output.kfp_line(line)
        return False


@contextlib.contextmanager
def _captured(
    task: str, echo: TaskEcho | None, log_file: Path | None = None
) -> Iterator[_TaskOutput]:
    """kfp.local prints a task's output, and logs its own lines, to ``sys.stdout``: both
    are kept (and written to ``log_file``) and handed to ``echo`` line by line, so our
    stdout stays ours (``--json``)."""
    with contextlib.ExitStack() as stack:
        file = None if log_file is None else stack.enter_context(log_file.open("a"))
        output = _TaskOutput(task, echo, file)
        records = _KfpLocalLog(output)
        root = logging.getLogger()
        root.addFilter(records)
        try:
            with contextlib.redirect_stdout(output):
                yield output
        finally:
            root.removeFilter(records)
            output.close()
