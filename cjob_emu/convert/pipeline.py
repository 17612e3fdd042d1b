"""Run a compiled KFP pipeline on this machine, custom-job tasks on the local executor.

    from cjob_emu.convert import run_pipeline

    run = run_pipeline("pipeline.yaml", {"rows": 20}, backend="docker",
                       gcs_root="out/gcs", image_map={"python:3.11": "my/image:tag"})
    run.raise_for_state().outputs["Output"]

The DAG walk is ours: each custom-job task (GCPC's launcher, whoever converted it)
runs through :mod:`.custom_job_task`, every other container task through kfp.local
(:mod:`.kfp_local`), outputs flowing between them. Artifacts live under the gs://
root: the pipeline root is ``gs://cjob-emu/pipeline_root`` (or the pipeline's own
``gs://`` default root) in the local directory standing for gs://.

Conditions (dsl.If/Elif/Else, :mod:`.conditions`) skip the tasks under a false one, and
any task that takes an output of a skipped task; loops (dsl.ParallelFor) run their
iterations one after another; an exit handler's task runs after its group, whether
the group succeeded or failed. Importers, loops over artifacts and collected
artifacts are refused before anything runs; every option that has no effect locally
is listed in :attr:`PipelineRun.ignored`.
"""

from __future__ import annotations

import datetime
import graphlib
import json
import os
import re
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from cjob_emu.convert.check import is_compiled_pipeline, read_pipeline
from cjob_emu.convert.conditions import ConditionError, parse
from cjob_emu.convert.custom_job_task import CustomJobSettings, run_custom_job_task
from cjob_emu.convert.executor_input import (
    build_executor_input,
    missing_inputs,
    parameter_values,
    task_root,
)
from cjob_emu.convert.launcher import (
    LOCATION_PLACEHOLDER,
    PERSISTENT_RESOURCE_ID_PLACEHOLDER,
    PROJECT_PLACEHOLDER,
    is_launcher_container,
)
from cjob_emu.convert.placeholders import resolve_pipeline_placeholders
from cjob_emu.errors import InputError, JobFailedError
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

PipelineSource = Union[str, "os.PathLike[str]", Mapping[str, Any]]
ImageMapLike = Union[ImageMap, Mapping[str, str], str, "os.PathLike[str]", None]

DEFAULT_PIPELINE_ROOT = "gs://cjob-emu/pipeline_root"
DEFAULT_PROJECT = "cjob-emu-local"
DEFAULT_LOCATION = "us-central1"
_LOG_TAIL = 12
_KFP_PIN = re.compile(r"'kfp==([^']+)'")
_FIELD_SELECTOR = re.compile(r'parseJson\(string_value\)\["([^"]+)"\]')
_EXIT_TASK = "ALL_UPSTREAM_TASKS_COMPLETED"
RUN_LABELS = "vertex-ai-pipelines-run-billing-id"
"""The label the Pipelines backend gives every job of a run (VERTEX_AI_PIPELINES_RUN_LABELS)."""


class LaunchWarning(UserWarning):
    """Vertex would run something other than what the pipeline says (GCPC's launcher drops
    an empty pool, a value breaks or changes the payload...); also in
    :attr:`PipelineRun.warnings`."""


@dataclass(frozen=True)
class TaskResult:
    """One task of the run.

    Attributes:
        name: The task's name; tasks inside sub-DAGs are ``outer/inner``.
        kind: ``"custom-job"``, ``"container"`` (run by kfp.local) or ``"dag"`` (a
            sub-pipeline, condition, loop or exit handler group).
        succeeded: Whether it succeeded (a skipped task did not fail: True).
        outputs: Output parameters, and artifacts as RuntimeArtifact JSON (gs:// URIs).
        error: Why it failed.
        skipped: Why it did not run (its condition was false, an input of it came from
            a skipped task); empty when it ran.
    """

    name: str
    kind: str
    succeeded: bool
    outputs: dict[str, Any]
    error: str = ""
    skipped: str = ""

    @property
    def state(self) -> str:
        """``"SUCCEEDED"``, ``"FAILED"`` or ``"SKIPPED"``, as Vertex names task states."""
        if self.skipped:
            return "SKIPPED"
        return "SUCCEEDED" if self.succeeded else "FAILED"


@dataclass(frozen=True)
class PipelineRun:
    """The end of a local pipeline run.

    Attributes:
        name: The run's name (``<pipeline>-<time>``): its outputs are under
            ``<pipeline_root>/<name>/<task>/``.
        succeeded: Whether every task succeeded or was skipped (an exit handler's task
            does not count: the run's state is its group's).
        outputs: The pipeline's outputs by name; artifacts as kfp ``dsl.Artifact``
            objects whose ``uri`` (and ``path``) is the host file under the gs:// root.
        tasks: Every task that ran or was skipped, in order, by name; loop iterations
            are ``loop/iteration-N/inner``.
        ignored: Options of the pipeline that have no effect locally, one line each.
        warnings: Where Vertex would run something else than the user wrote.
        pipeline_root: The gs:// URI of the pipeline root.
        gcs_root: The local directory standing for gs://.
    """

    name: str
    succeeded: bool
    outputs: dict[str, Any]
    tasks: dict[str, TaskResult]
    ignored: tuple[str, ...]
    warnings: tuple[str, ...]
    pipeline_root: str
    gcs_root: Path

    @property
    def failed_task(self) -> TaskResult | None:
        """The task that failed, if one did."""
        return next((t for t in self.tasks.values() if not t.succeeded), None)

    def raise_for_state(self) -> PipelineRun:
        """Self if the run succeeded; else :class:`JobFailedError` naming the task."""
        failed = self.failed_task
        if not self.succeeded and failed is not None:
            raise JobFailedError(f"task {failed.name} failed: {failed.error}")
        return self


@dataclass
class _Run:
    """What the walk shares: the spec, where things go, and what was said."""

    spec: Mapping[str, Any]
    name: str
    gcs: GcsRoot
    pipeline_root: str
    pipeline_values: dict[str, str]
    settings: CustomJobSettings
    images: ImageMap
    runner: Any
    echo: bool
    say: Callable[[str], None]
    tasks: dict[str, TaskResult] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def warn(self, task: str, message: str) -> None:
        self.warnings.append(f"{task}: {message}")
        self.say(f"WARNING {task}: {message}")
        warnings.warn(f"{task}: {message}", LaunchWarning, stacklevel=2)


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
    echo: bool = True,
    strict: bool = False,
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
        project: The pipeline's project (``{{$.pipeline_google_cloud_project_id}}``).
        location: The pipeline's location (``{{$.pipeline_google_cloud_location}}``).
        options: Choices for the CustomJobs' replicas (see :class:`RunOptions`).
        runs_dir: Where each CustomJob's run directory goes (logs, final job).
        max_restarts: Bound for ``restart_job_on_worker_restart`` in every CustomJob.
        on_event: Called with every executor event of every CustomJob.
        say: Called with progress lines and warnings (default: nothing).
        echo: Show what kfp.local tasks print on stderr.
        strict: A validation warning on a CustomJob fails its task, as an error does.

    Raises InputError (not a compiled pipeline, unknown or missing parameters, a
    feature the local runner does not run), EnvironmentProblem (no such backend),
    KeyboardInterrupt after stopping whatever ran.
    """
    spec = dict(pipeline) if isinstance(pipeline, Mapping) else read_pipeline(pipeline)
    if not is_compiled_pipeline(spec):
        raise InputError("not a compiled pipeline (no pipelineInfo/deploymentSpec/root)")
    _refuse_unsupported(spec)
    gcs = GcsRoot.at(gcs_root if gcs_root is not None else DEFAULT_WORK_DIR / "gcs")
    root_inputs = _pipeline_arguments(spec, arguments or {}, gcs)
    chosen = get_backend(backend)
    run_id = new_run_id()
    name = f"{spec['pipelineInfo']['name']}-{run_id}"
    root_uri = pipeline_root or _default_root(spec)
    if not root_uri.startswith("gs://"):
        raise InputError(f"pipeline_root {root_uri!r} must be a gs:// URI")
    gcs.local_path(root_uri)  # refuses a root that leaves the gs:// root
    images = ImageMap.load(image_map)
    opts = options or RunOptions()
    from cjob_emu.convert import kfp_local

    run = _Run(
        spec=spec,
        name=name,
        gcs=gcs,
        pipeline_root=root_uri,
        pipeline_values={
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
        },
        settings=CustomJobSettings(
            backend=chosen,
            image_map=images,
            options=opts,
            runs_dir=None if runs_dir is None else Path(runs_dir) / name,
            max_restarts=max_restarts,
            on_event=on_event,
            strict=strict,
        ),
        images=images,
        runner=None,
        echo=echo,
        say=say or (lambda _: None),
    )
    if chosen.name == "process":
        run.ignored.append(
            "process backend: task images are ignored; ordinary tasks run in this Python "
            "(kfp.local's SubprocessRunner without a virtual environment)"
        )
        run.ignored.extend(_foreign_kfp(spec))
    labels = owner_labels(run_id)
    with kfp_local.task_runner(chosen.name, labels, as_host_user=opts.run_as_host_user) as runner:
        run.runner = runner
        outputs, ok = _run_dag(run, spec["root"], root_inputs, "")
    if run.cached:
        run.ignored.append(
            f"caching of {', '.join(run.cached)}: Vertex may reuse an earlier identical "
            "task's outputs; the local runner always runs every task"
        )
    return PipelineRun(
        name=name,
        succeeded=ok,
        outputs={k: _public(v, gcs) for k, v in outputs.items()} if ok else {},
        tasks=dict(run.tasks),
        ignored=tuple(dict.fromkeys(run.ignored)),
        warnings=tuple(run.warnings),
        pipeline_root=root_uri,
        gcs_root=gcs.path,
    )


def _run_dag(
    run: _Run,
    dag_component: Mapping[str, Any],
    inputs: Mapping[str, Any],
    prefix: str,
    scope: str = "",
) -> tuple[dict[str, Any], bool]:
    """Run a DAG's tasks in order: its outputs (those whose producer ran) and whether it
    succeeded. After a failure only exit-handler tasks still run. ``scope`` keeps a
    loop iteration's task roots apart (``loop/iteration-N/``)."""
    dag = dag_component.get("dag", {})
    tasks = dag.get("tasks", {})
    produced: dict[str, dict[str, Any]] = {}
    skipped: set[str] = set()
    ended: set[str] = set()
    failed = False
    for task_name in _task_order(tasks):
        task = tasks[task_name]
        exit_task = task.get("triggerPolicy", {}).get("strategy") == _EXIT_TASK
        if exit_task and not set(task.get("dependentTasks", [])) <= ended:
            continue  # its group never started (something before it failed)
        if failed and not exit_task:
            continue
        result = _run_one(run, task_name, task, inputs, produced, skipped, prefix, scope)
        run.tasks.setdefault(result.name, result)
        ended.add(task_name)
        if result.skipped:
            skipped.add(task_name)
        elif not result.succeeded:
            failed = failed or not exit_task
        else:
            produced[task_name] = result.outputs
    if failed:
        return {}, False
    return _dag_outputs(dag, produced), True


def _run_one(
    run: _Run,
    task_name: str,
    task: Mapping[str, Any],
    inputs: Mapping[str, Any],
    produced: Mapping[str, Mapping[str, Any]],
    skipped: set[str],
    prefix: str,
    scope: str,
) -> TaskResult:
    """One task of a DAG: skipped, a sub-DAG (condition, loop, group) or a container."""
    path = prefix + task_name
    component_name = task["componentRef"]["name"]
    component = run.spec["components"][component_name]
    kind = "dag" if "dag" in component else "container"
    found, absent = _task_arguments(task, inputs, produced)
    if absent:
        producer = absent[0][1]
        why = "was skipped" if producer in skipped else "produced no such output"
        reason = f"its input {absent[0][0]} comes from task {prefix}{producer}, which {why}"
        run.say(f"task {path}: skipped: {reason}")
        return TaskResult(path, kind, True, {}, skipped=reason)
    arguments = _resolve(run, found)
    condition = task.get("triggerPolicy", {}).get("condition")
    if condition:
        try:
            holds = parse(condition).holds(arguments)
        except ConditionError as exc:
            return TaskResult(path, kind, False, {}, f"its condition cannot be evaluated: {exc}")
        if not holds:
            reason = f"condition {condition} is false"
            run.say(f"task {path}: skipped: {reason}")
            return TaskResult(path, kind, True, {}, skipped=reason)
    _note_ignored(run, path, task, component)
    if "dag" not in component:
        return _run_task(run, path, task_name, component_name, component, arguments, scope)
    sub_inputs = parameter_values(component, arguments, resolve=lambda v: _resolve(run, v))
    sub_inputs.update({k: v for k, v in arguments.items() if k not in sub_inputs})
    if "parameterIterator" in task:
        return _run_loop(run, path, task, component, sub_inputs, scope + task_name + "/")
    outputs, ok = _run_dag(run, component, sub_inputs, path + "/", scope)
    return TaskResult(path, "dag", ok, outputs, "" if ok else "an inner task failed")


def _run_loop(
    run: _Run,
    path: str,
    task: Mapping[str, Any],
    component: Mapping[str, Any],
    inputs: dict[str, Any],
    scope: str,
) -> TaskResult:
    """A dsl.ParallelFor: its iterations one after another; each output collected into a
    list (what dsl.Collected reads)."""
    iterator = task["parameterIterator"]
    items_spec = iterator.get("items", {})
    if "raw" in items_spec:
        items = json.loads(items_spec["raw"])
    else:
        items = inputs.get(items_spec.get("inputParameter", ""))
        if isinstance(items, str):
            items = json.loads(items)
    if not isinstance(items, list):
        return TaskResult(path, "dag", False, {}, f"its loop items are not a list: {items!r}")
    limit = task.get("iteratorPolicy", {}).get("parallelismLimit")
    run.ignored.append(
        f"{path}: loop iterations run one after another"
        + (f" (parallelism {limit} not applied)" if limit else "")
    )
    # an empty loop collects empty lists, as on Vertex
    collected: dict[str, list[Any]] = {
        name: [] for name in component.get("outputDefinitions", {}).get("parameters", {})
    }
    for index, item in enumerate(items):
        step = f"iteration-{index}/"
        outputs, ok = _run_dag(
            run, component, {**inputs, iterator["itemInput"]: item}, f"{path}/{step}", scope + step
        )
        if not ok:
            return TaskResult(path, "dag", False, {}, f"iteration {index} failed")
        for name, value in outputs.items():
            collected.setdefault(name, []).append(value)
    return TaskResult(path, "dag", True, dict(collected))


def _run_task(
    run: _Run,
    path: str,
    task_name: str,
    component_name: str,
    component: Mapping[str, Any],
    arguments: Mapping[str, Any],
    scope: str = "",
) -> TaskResult:
    # a loop iteration's tasks go under <run>/<loop>/iteration-N/
    root_name = run.name + ("/" + scope.rstrip("/") if scope else "")
    executor = run.spec["deploymentSpec"]["executors"][component["executorLabel"]]
    container = executor.get("container", {})
    parameters = parameter_values(component, arguments, resolve=lambda v: _resolve(run, v))
    artifacts = {k: v for k, v in arguments.items() if k not in parameters}
    missing = missing_inputs(component, {**parameters, **artifacts})
    if missing:
        raise InputError(f"task {path}: no value for required input(s) {', '.join(missing)}")
    if is_launcher_container(container):
        run.say(f"task {path}: CustomJob on the {_backend_name(run.settings.backend)} backend")
        executor_input = build_executor_input(
            component,
            parameters,
            {name: [artifact] for name, artifact in artifacts.items()},
            # kfp.local's task roots are named so too: unique, also across sub-DAGs
            task_root(run.pipeline_root, root_name, component_name.removeprefix("comp-")),
        )
        values = {
            **run.pipeline_values,
            "{{$.pipeline_task_name}}": task_name,
            "{{$.pipeline_task_uuid}}": str(uuid.uuid4()),
        }
        outcome = run_custom_job_task(
            task_name=path.replace("/", "."),
            component=component,
            container=container,
            executor_input=executor_input,
            gcs=run.gcs,
            pipeline_values=values,
            system_labels={RUN_LABELS: str(uuid.uuid4().int % 10**19)},
            settings=run.settings,
            warn=lambda message: run.warn(path, message),
        )
        run.ignored.extend(f"{path}: {notice}" for notice in outcome.notices)
        return TaskResult(path, "custom-job", outcome.succeeded, outcome.outputs, outcome.error)
    from cjob_emu.convert import kfp_local

    image = run.images.resolve(str(container.get("image", "")))
    kfp_local.check_runnable(run.runner, path, container, image, pull=run.settings.options.pull)
    run.say(f"task {path}: kfp.local ({image})")
    done = kfp_local.run_task(
        run_name=root_name,
        component_name=component_name,
        component=component,
        executor=executor,
        arguments={**parameters, **artifacts},
        gcs=run.gcs,
        pipeline_root=run.pipeline_root,
        runner=run.runner,
        image=image,
        echo=run.echo,
    )
    tail = "\n".join(done.log.strip().splitlines()[-_LOG_TAIL:])
    error = "" if done.succeeded else f"the task exited non-zero; last lines of its log:\n{tail}"
    return TaskResult(path, "container", done.succeeded, done.outputs, error)


def _task_arguments(
    task: Mapping[str, Any], inputs: Mapping[str, Any], produced: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A task's arguments from its inputs spec: constants, the DAG's inputs, upstream
    outputs; and the (input, producer task) pairs whose upstream output is absent (the
    producer was skipped, or produced nothing for it)."""
    arguments: dict[str, Any] = {}
    absent: list[tuple[str, str]] = []
    given = task.get("inputs", {})
    keys = (("Parameter", "outputParameterKey"), ("Artifact", "outputArtifactKey"))
    for kind, output_key in keys:
        for name, source in given.get(kind.lower() + "s", {}).items():
            if "runtimeValue" in source:
                arguments[name] = source["runtimeValue"].get("constant")
            elif f"taskOutput{kind}" in source:
                upstream = source[f"taskOutput{kind}"]
                outputs = produced.get(upstream["producerTask"], {})
                if upstream[output_key] in outputs:
                    arguments[name] = outputs[upstream[output_key]]
                else:
                    absent.append((name, upstream["producerTask"]))
            elif f"componentInput{kind}" in source:
                parent = source[f"componentInput{kind}"]
                if parent in inputs:
                    arguments[name] = _select(inputs[parent], source)
    return arguments, absent


def _select(value: Any, source: Mapping[str, Any]) -> Any:
    """A loop item's field (``dsl.ParallelFor`` over dicts: ``item.a``), as the compiler's
    ``parseJson(string_value)["a"]`` selects it."""
    selector = source.get("parameterExpressionSelector")
    if not selector:
        return value
    match = _FIELD_SELECTOR.fullmatch(selector)
    item = json.loads(value) if isinstance(value, str) else value
    if match is None or not isinstance(item, dict) or match.group(1) not in item:
        raise InputError(f"cannot select {selector} from the loop item {value!r}")
    return item[match.group(1)]


def _dag_outputs(dag: Mapping[str, Any], produced: Mapping[str, Mapping[str, Any]]) -> dict:
    """The DAG's outputs whose producer ran; a dsl.OneOf output from whichever branch did."""
    outputs: dict[str, Any] = {}
    spec = dag.get("outputs", {})
    selected: list[tuple[str, list[Mapping[str, Any]], str]] = []
    for name, selector in spec.get("parameters", {}).items():
        if "valueFromOneof" in selector:
            choices = selector["valueFromOneof"].get("parameterSelectors", [])
        else:
            choices = [selector.get("valueFromParameter", {})]
        selected.append((name, choices, "outputParameterKey"))
    for name, selectors in spec.get("artifacts", {}).items():
        selected.append((name, selectors.get("artifactSelectors", []), "outputArtifactKey"))
    for name, choices, key in selected:
        for source in choices:
            upstream = produced.get(source.get("producerSubtask", ""), {})
            if source.get(key) in upstream:
                outputs[name] = upstream[source[key]]
                break
    return outputs


def _resolve(run: _Run, value: Any) -> Any:
    """``value`` with pipeline-level placeholders filled in, wherever strings sit in it
    (kfp.local does not know them: it fails on ``{{$.pipeline_google_cloud_project_id}}``)."""
    if isinstance(value, str):
        return resolve_pipeline_placeholders(value, run.pipeline_values)
    if isinstance(value, list):
        return [_resolve(run, item) for item in value]
    if isinstance(value, dict):
        return {key: _resolve(run, item) for key, item in value.items()}
    return value


def _pipeline_arguments(
    spec: Mapping[str, Any], arguments: Mapping[str, Any], gcs: GcsRoot
) -> dict[str, Any]:
    definitions = spec["root"].get("inputDefinitions", {})
    artifacts = {
        name: _artifact_argument(name, arguments[name], definition, gcs)
        for name, definition in definitions.get("artifacts", {}).items()
        if name in arguments
    }
    known = {**definitions.get("parameters", {}), **definitions.get("artifacts", {})}
    unknown = sorted(set(arguments) - set(known))
    if unknown:
        raise InputError(
            f"the pipeline has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters: {', '.join(sorted(known)) or 'none'}"
        )
    values = parameter_values(
        spec["root"], {k: v for k, v in arguments.items() if k not in artifacts}
    )
    values.update(artifacts)
    missing = missing_inputs(spec["root"], values)
    if missing:
        raise InputError(f"pipeline input(s) {', '.join(missing)} need a value")
    return values


def _artifact_argument(
    name: str, value: Any, definition: Mapping[str, Any], gcs: GcsRoot
) -> dict[str, Any]:
    """An input artifact given by the caller (a kfp ``dsl.Artifact``), as RuntimeArtifact
    JSON with a gs:// URI; its ``uri`` may be gs:// or a host path inside the gs:// root."""
    uri = getattr(value, "uri", None)
    if not isinstance(uri, str) or not uri:
        raise InputError(
            f"input artifact {name!r} must be a kfp dsl.Artifact (e.g. dsl.Dataset(uri=...)) "
            f"with a uri, got {type(value).__name__}"
        )
    if not uri.startswith("gs://"):
        if not gcs.holds(uri):
            raise InputError(
                f"input artifact {name!r}: {uri} is neither a gs:// URI nor a path inside "
                f"the gs:// root {gcs.path}; put the file there so replicas see it under /gcs"
            )
        uri = gcs.uri(uri)
    return {
        "name": getattr(value, "name", "") or name,
        "type": dict(definition.get("artifactType", {})),
        "uri": uri,
        "metadata": dict(getattr(value, "metadata", {}) or {}),
    }


def _refuse_unsupported(spec: Mapping[str, Any]) -> None:
    """What the local runner does not run, or a spec that does not hang together, refused
    before anything runs (naming the task)."""
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    components = spec.get("components", {})
    dags = [("", spec["root"])] + [
        (name.removeprefix("comp-") + "/", c) for name, c in components.items() if "dag" in c
    ]
    for prefix, component in dags:
        tasks = component.get("dag", {}).get("tasks", {})
        for name, task in tasks.items():
            target = components.get(task.get("componentRef", {}).get("name"))
            executor = executors.get((target or {}).get("executorLabel", ""), {})
            feature = None
            if target is None or not ("dag" in target or executor):
                raise InputError(
                    f"task {prefix}{name}: its component or executor is missing from the "
                    "pipeline spec (not a spec kfp's compiler wrote?)"
                )
            condition = task.get("triggerPolicy", {}).get("condition")
            if condition:
                try:
                    parse(condition)
                except ConditionError as exc:
                    raise InputError(
                        f"task {prefix}{name}: its condition is not one cjob-emu's local "
                        f"runner evaluates: {exc}"
                    ) from None
            items = task.get("parameterIterator", {}).get("items", {})
            if "artifactIterator" in task:
                feature = "a loop over artifacts (dsl.ParallelFor over a list of artifacts)"
            elif "parameterIterator" in task and not ("raw" in items or "inputParameter" in items):
                feature = "a loop whose items are neither a list nor an input"
            elif "parameterIterator" in task and target.get("dag", {}).get("outputs", {}).get(
                "artifacts"
            ):
                feature = "artifacts collected from a loop (dsl.Collected of artifacts)"
            elif "importer" in executor:
                feature = "an importer (dsl.importer)"
            elif "container" not in executor and "dag" not in target:
                feature = "an executor that is not a container"
            if feature is not None:
                raise InputError(
                    f"task {prefix}{name} uses {feature}, which cjob-emu's local runner "
                    "does not run; run such pipelines with kfp.local or on Vertex"
                )
        try:
            _task_order(tasks)
        except graphlib.CycleError as exc:
            raise InputError(f"the tasks {exc.args[1]} depend on each other in a cycle") from None


def _task_order(tasks: Mapping[str, Any]) -> list[str]:
    """Task names in an order where every task comes after the tasks it depends on, by
    ``dependentTasks`` and by the outputs it takes."""
    graph = {}
    for name, task in sorted(tasks.items()):
        producers = set(task.get("dependentTasks", []))
        inputs = task.get("inputs", {})
        for source in [
            *inputs.get("parameters", {}).values(),
            *inputs.get("artifacts", {}).values(),
        ]:
            upstream = source.get("taskOutputParameter") or source.get("taskOutputArtifact")
            if upstream:
                producers.add(upstream["producerTask"])
        graph[name] = producers
    return list(graphlib.TopologicalSorter(graph).static_order())


def _note_ignored(
    run: _Run, path: str, task: Mapping[str, Any], component: Mapping[str, Any]
) -> None:
    """Options of a task that have no effect locally, said once each."""
    if task.get("cachingOptions", {}).get("enableCache"):
        run.cached.append(path)
    retry = task.get("retryPolicy", {})
    if retry.get("maxRetryCount"):
        run.ignored.append(f"{path}: retry policy ({retry['maxRetryCount']} retries): not applied")
    if "executorLabel" not in component:
        return
    executor = run.spec["deploymentSpec"]["executors"][component["executorLabel"]]
    resources = executor.get("container", {}).get("resources", {})
    if resources and not is_launcher_container(executor.get("container", {})):
        run.ignored.append(
            f"{path}: container resources {sorted(resources)}: kfp.local ignores them"
        )


def _foreign_kfp(spec: Mapping[str, Any]) -> list[str]:
    """On the process backend a Lightweight Python component's ``pip install kfp==V`` runs
    in this Python: harmless when V is installed, else it needs the network and changes
    this environment; said before anything runs."""
    from kfp import __version__ as installed

    wanted = {
        version
        for executor in spec.get("deploymentSpec", {}).get("executors", {}).values()
        for part in executor.get("container", {}).get("command", [])
        for version in _KFP_PIN.findall(str(part))
    }
    return [
        f"process backend: tasks run `pip install kfp=={version}` in this Python, which has "
        f"kfp {installed}: that needs the network and changes this environment"
        for version in sorted(wanted - {installed})
    ]


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


def _backend_name(backend: str | Backend) -> str:
    return backend.name if isinstance(backend, Backend) else backend


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
