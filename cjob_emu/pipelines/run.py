"""Run a compiled KFP pipeline on this machine, custom-job tasks on the local executor.

    from cjob_emu.pipelines import run_pipeline

    run = run_pipeline("pipeline.yaml", {"rows": 20}, backend="docker",
                       gcs_root="out/gcs", image_map={"python:3.11": "my/image:tag"})
    run.raise_for_state().outputs["Output"]

The DAG walk is ours: each custom-job task (GCPC's launcher, whoever converted it)
runs through :mod:`.custom_job_task`, every other container task through kfp.local
(:mod:`.kfp_local`), outputs flowing between them. Artifacts live under the gs://
root: the pipeline root is ``gs://cjob-emu/pipeline_root`` (or the pipeline's own
``gs://`` default root) in the local directory standing for gs://.

Independent tasks run at the same time, as on Vertex (:mod:`.scheduler`; at most
``max_parallel`` container tasks at once); a task's retry policy is applied.
Conditions (dsl.If/Elif/Else, :mod:`.conditions`) skip the tasks under a false one, and
any task that takes an output of a skipped task; loops (dsl.ParallelFor) run their
iterations at once, up to ``parallelism``; an exit handler's task runs after its group,
whether the group succeeded or failed. Importers, loops over artifacts and collected
artifacts are refused before anything runs; every option that has no effect locally
is listed in :attr:`PipelineRun.ignored`.
"""

from __future__ import annotations

import datetime
import os
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Union

from cjob_emu.errors import InputError
from cjob_emu.executor import (
    DEFAULT_MAX_RESTARTS,
    DEFAULT_WORK_DIR,
    Backend,
    ImageMap,
    RunOptions,
    get_backend,
    new_run_id,
)
from cjob_emu.executor.backend import owner_labels
from cjob_emu.executor.events import Event
from cjob_emu.executor.gcs import GcsRoot
from cjob_emu.launcher.contract import (
    LOCATION_PLACEHOLDER,
    PERSISTENT_RESOURCE_ID_PLACEHOLDER,
    PROJECT_PLACEHOLDER,
)
from cjob_emu.launcher.pipeline_spec import is_compiled_pipeline, read_pipeline
from cjob_emu.pipelines import kfp_local
from cjob_emu.pipelines.context import RunContext
from cjob_emu.pipelines.custom_job_task import CustomJobSettings
from cjob_emu.pipelines.dag import run_dag
from cjob_emu.pipelines.inputs import pipeline_arguments
from cjob_emu.pipelines.preflight import check_tasks, foreign_kfp, refuse_unsupported
from cjob_emu.pipelines.record import PipelineInterrupted, PipelineRecord
from cjob_emu.pipelines.results import LaunchWarning, PipelineRun, TaskResult
from cjob_emu.pipelines.scheduler import DEFAULT_MAX_PARALLEL, Slots
from cjob_emu.run_index import RunIndex

__all__ = ["LaunchWarning", "PipelineInterrupted", "PipelineRun", "TaskResult", "run_pipeline"]

PipelineSource = Union[str, "os.PathLike[str]", Mapping[str, Any]]
ImageMapLike = Union[ImageMap, Mapping[str, str], str, "os.PathLike[str]", None]

DEFAULT_PIPELINE_ROOT = "gs://cjob-emu/pipeline_root"
DEFAULT_PROJECT = "cjob-emu-local"
DEFAULT_LOCATION = "us-central1"


def run_pipeline(
    pipeline: PipelineSource,
    arguments: Mapping[str, Any] | None = None,
    *,
    backend: str | Backend = "auto",
    gcs_root: str | os.PathLike[str] | None = None,
    image_map: ImageMapLike = None,
    pipeline_root: str | None = None,
    project: str = DEFAULT_PROJECT,
    location: str = DEFAULT_LOCATION,
    options: RunOptions | None = None,
    runs_dir: str | os.PathLike[str] | None = None,
    max_restarts: int = DEFAULT_MAX_RESTARTS,
    on_event: Callable[[Event], None] | None = None,
    say: Callable[[str], None] | None = None,
    echo: bool | kfp_local.TaskEcho = True,
    strict: bool = False,
    max_parallel: int = DEFAULT_MAX_PARALLEL,
) -> PipelineRun:
    """Run a compiled pipeline (a PipelineSpec YAML/JSON file, or its parsed mapping).

    Args:
        pipeline: The compiled pipeline.
        arguments: Pipeline parameters by name (defaults fill in the rest).
        backend: "auto", "docker" or "process": kfp.local's DockerRunner or
            SubprocessRunner for ordinary tasks, the executor's backend for CustomJobs.
        gcs_root: The directory standing for gs:// (default ``./.cjob-emu/gcs``).
        image_map: Registry image -> local tag, for ordinary tasks and replicas alike.
        pipeline_root: A gs:// URI (default: the pipeline's gs:// root, else
            :data:`DEFAULT_PIPELINE_ROOT`).
        project, location: The pipeline's (``{{$.pipeline_google_cloud_project_id}}``...).
        options: Choices for the CustomJobs' replicas (see :class:`RunOptions`).
        runs_dir: The runs directory (default ``./.cjob-emu/runs``): the run is
            recorded in its index (:mod:`cjob_emu.run_index`), its directory
            ``<runs_dir>/<name>`` holds each task's (CustomJob run directory, or a
            kfp.local task's ``task.log``) and ``pipeline.json`` (the task table).
        max_restarts: Bound for ``restart_job_on_worker_restart`` in every CustomJob.
        on_event: Called with every executor event of every CustomJob.
        say: Called with progress lines and warnings (default: nothing).
        echo: Show kfp.local tasks' own output on stderr, or a callable gets each TaskLine.
        strict: A validation warning on a CustomJob fails its task, as an error does.
        max_parallel: Container tasks running at once, across the whole run.

    Raises InputError (not a compiled pipeline, unknown or missing parameters, a
    feature the local runner does not run), EnvironmentProblem (no such backend),
    :class:`PipelineInterrupted` (a KeyboardInterrupt) after stopping whatever ran,
    naming the tasks it cancelled.
    """
    spec = dict(pipeline) if isinstance(pipeline, Mapping) else read_pipeline(pipeline)
    if not is_compiled_pipeline(spec):
        raise InputError("not a compiled pipeline (no pipelineInfo/deploymentSpec/root)")
    refuse_unsupported(spec)
    gcs = GcsRoot.at(gcs_root if gcs_root is not None else DEFAULT_WORK_DIR / "gcs")
    root_inputs = pipeline_arguments(spec, arguments or {}, gcs)
    chosen = get_backend(backend)
    run_id = new_run_id()
    name = f"{spec['pipelineInfo']['name']}-{run_id}"
    root_uri = _root_uri(pipeline_root or _default_root(spec), gcs)
    images = ImageMap.load(image_map)
    opts = options or RunOptions()
    slots = Slots(max_parallel)
    labels = owner_labels(run_id)
    record = PipelineRecord.begin(
        RunIndex(runs_dir), run_id=run_id, name=spec["pipelineInfo"]["name"],
        directory_name=name, backend=chosen.name, gcs_root=gcs.path, labels=labels,
    )
    settings = CustomJobSettings(
        backend=chosen, image_map=images, options=opts, runs_dir=record.run_dir,
        index_dir=record.index.runs_dir, pipeline_run=run_id, max_restarts=max_restarts,
        on_event=on_event, strict=strict, cancelled=slots.cancelled,
    )
    run = RunContext(
        spec=spec, name=name, gcs=gcs, pipeline_root=root_uri,
        pipeline_values=_pipeline_values(name, root_uri, project, location),
        settings=settings, images=images, runner=None, echo=echo,
        say=say or (lambda _: None), record=record, slots=slots,
    )
    if chosen.name == "process":
        run.ignored.extend(_process_notices(spec))
    return _walk(run, root_inputs, labels, opts)


def _walk(
    run: RunContext, root_inputs: Mapping[str, Any], labels: Mapping[str, str], opts: RunOptions
) -> PipelineRun:
    """Run the root DAG with kfp.local's runner; record how the run ended."""
    backend = run.settings.backend
    name = backend.name if isinstance(backend, Backend) else backend
    try:
        with kfp_local.task_runner(name, labels, as_host_user=opts.run_as_host_user) as runner:
            run.runner = runner
            run.stop_tasks = lambda: kfp_local.stop_tasks(runner, labels)
            check_tasks(run)
            root = run_dag(run, run.spec["root"], root_inputs, "")
    except KeyboardInterrupt:
        raise run.record.interrupted() from None
    except BaseException as exc:
        run.record.failed(exc)
        raise
    result = _finish(run, root)
    run.record.finish(result)
    return result


def _process_notices(spec: Mapping[str, Any]) -> list[str]:
    return [
        "process backend: task images are ignored; ordinary tasks run in this Python "
        "(kfp.local's SubprocessRunner without a virtual environment)",
        *foreign_kfp(spec),
    ]


def _finish(run: RunContext, root: TaskResult) -> PipelineRun:
    """The run's end: SUCCEEDED only when no task failed or did not run."""
    # belt and braces: whatever the walk said, a task that did not run fails the run
    ok = root.succeeded and all(t.state != "NOT_RUN" for t in run.tasks.values())
    if run.cached:
        run.ignored.append(
            f"caching of {', '.join(run.cached)}: Vertex may reuse an earlier identical "
            "task's outputs; the local runner always runs every task"
        )
    return PipelineRun(
        name=run.name,
        succeeded=ok,
        outputs={k: _public(v, run.gcs) for k, v in root.outputs.items()} if ok else {},
        tasks=dict(run.tasks),
        ignored=tuple(dict.fromkeys(run.ignored)),
        warnings=tuple(run.warnings),
        pipeline_root=run.pipeline_root,
        gcs_root=run.gcs.path,
    )


def _root_uri(uri: str, gcs: GcsRoot) -> str:
    if not uri.startswith("gs://"):
        raise InputError(f"pipeline_root {uri!r} must be a gs:// URI")
    gcs.local_path(uri)  # refuses a root that leaves the gs:// root
    return uri


def _pipeline_values(name: str, root_uri: str, project: str, location: str) -> dict[str, str]:
    """The pipeline-level placeholders the Pipelines backend fills in for every task."""
    return {
        PROJECT_PLACEHOLDER: project,
        LOCATION_PLACEHOLDER: location,
        PERSISTENT_RESOURCE_ID_PLACEHOLDER: "",
        "{{$.pipeline_job_name}}": name,
        "{{$.pipeline_job_resource_name}}": (
            f"projects/{project}/locations/{location}/pipelineJobs/{name}"
        ),
        "{{$.pipeline_job_uuid}}": str(uuid.uuid4()),
        "{{$.pipeline_root}}": root_uri,
        "{{$.pipeline_job_create_time_utc}}": _now(),
        "{{$.pipeline_job_schedule_time_utc}}": _now(),
    }


def _default_root(spec: Mapping[str, Any]) -> str:
    root = str(spec.get("defaultPipelineRoot", ""))
    return root if root.startswith("gs://") else DEFAULT_PIPELINE_ROOT


def _public(value: Any, gcs: GcsRoot) -> Any:
    """An output for the caller: artifacts as kfp ``dsl.Artifact`` at their host path."""
    if isinstance(value, dict) and "uri" in value and "type" in value:
        from kfp.dsl import executor as kfp_executor

        uri = str(value["uri"])
        local = str(gcs.local_path(uri)) if uri.startswith("gs://") else uri
        return kfp_executor.create_artifact_instance({**value, "uri": local})
    return value


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
