"""The DAG walk: tasks in order, conditions, loops, exit handlers, outputs flowing on.

A task is skipped only by a condition (or for taking an output of a task a condition
skipped); a failure stops only what depends on it (Vertex's default failure policy,
fail slow), and a task that does not run for any other reason fails the run.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cjob_emu.errors import InputError
from cjob_emu.executor.gcs import GcsRoot
from cjob_emu.launcher.contract import is_launcher_container
from cjob_emu.launcher.executor_input import parameter_values
from cjob_emu.pipelines.conditions import ConditionError, parse
from cjob_emu.pipelines.context import RunContext, resolve
from cjob_emu.pipelines.graph import task_order, upstream
from cjob_emu.pipelines.results import TaskResult
from cjob_emu.pipelines.scheduler import run_ready
from cjob_emu.pipelines.task import INTERRUPTED, run_task

_FIELD_SELECTOR = re.compile(r'parseJson\(string_value\)\["([^"]+)"\]')
_EXIT_TASK = "ALL_UPSTREAM_TASKS_COMPLETED"


@dataclass
class _Walked:
    """What a DAG's walk knows of the tasks that ended: their outputs, those a condition
    skipped, and outputs a condition kept from existing inside a sub-DAG that ran."""

    produced: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)
    skipped_outputs: dict[str, frozenset[str]] = field(default_factory=dict)

    def condition_skipped(self, task: str, output: str) -> bool:
        """Whether ``task``'s ``output`` is absent because a condition skipped its producer."""
        return task in self.skipped or output in self.skipped_outputs.get(task, frozenset())


def run_dag(
    run: RunContext,
    dag_component: Mapping[str, Any],
    inputs: Mapping[str, Any],
    prefix: str,
    scope: str = "",
    position: tuple[int, ...] = (),
) -> TaskResult:
    """Run a DAG's tasks in order; the result carries its outputs (those whose producer
    ran) and whether it succeeded. ``scope`` keeps a loop iteration's task roots apart
    (``loop/iteration-N/``); ``position`` places its tasks in :attr:`RunContext.tasks`
    (the DAG's own position: its tasks follow in the DAG's order, whenever they end).

    Tasks start as soon as what they depend on has ended, several at once
    (:mod:`.scheduler`). A failure stops only what depends on the failed task: the
    others, running or not yet started, still run, as under Vertex's default failure
    policy (``PipelineFailurePolicy``: fail slow). A task that does not run because of a
    failure (or Ctrl-C) is recorded as ``NOT_RUN``."""
    dag = dag_component.get("dag", {})
    tasks = dag.get("tasks", {})
    walked = _Walked()
    ran: set[str] = set()
    stopped: set[str] = set()  # failed, or not run because of a failure
    failed: list[str] = []

    def start(task_name: str) -> Callable[[], TaskResult] | TaskResult:
        task = tasks[task_name]
        exit_task = _is_exit_task(task)
        blocker = _blocked_by(task, ran if exit_task else stopped, exit_task)
        if blocker is not None:
            reason = f"task {prefix}{blocker}, which it depends on, did not succeed"
            return _not_run(run, prefix + task_name, task, reason)
        if run.slots.cancelled.is_set():
            return _not_run(run, prefix + task_name, task, INTERRUPTED)
        ran.add(task_name)
        at = (*position, order.index(task_name))

        def work() -> TaskResult:
            began = time.time()
            result = _run_one(run, task_name, task, inputs, walked, prefix, scope, at)
            return replace(result, start_time=began, end_time=time.time())

        return work

    def ended(task_name: str, result: TaskResult) -> None:
        run.keep(result, (*position, order.index(task_name)))
        if result.skipped:
            walked.skipped.add(task_name)
        elif result.succeeded:
            walked.produced[task_name] = result.outputs
            walked.skipped_outputs[task_name] = result.skipped_outputs
        else:
            stopped.add(task_name)
            if not _is_exit_task(tasks[task_name]):
                failed.append(task_name)

    order = task_order(tasks)
    depends_on = {name: upstream(tasks[name]) & set(tasks) for name in order}
    run_ready(order, depends_on, start, ended, cancel=run.cancel)
    path = prefix.rstrip("/")
    if failed:
        return TaskResult(path, "dag", False, {}, "an inner task failed")
    outputs, skipped_outputs = _dag_outputs(dag, walked)
    return TaskResult(path, "dag", True, outputs, skipped_outputs=skipped_outputs)


def _blocked_by(task: Mapping[str, Any], tasks: set[str], exit_task: bool) -> str | None:
    """Why ``task`` cannot run: for an exit handler's task, a task of its group that never
    started (``tasks`` = those that ran); for any other, a task it depends on that failed
    or did not run (``tasks`` = those)."""
    for name in sorted(upstream(task)):
        if (name not in tasks) if exit_task else (name in tasks):
            return name
    return None


def _is_exit_task(task: Mapping[str, Any]) -> bool:
    return bool(task.get("triggerPolicy", {}).get("strategy") == _EXIT_TASK)


def _not_run(run: RunContext, path: str, task: Mapping[str, Any], reason: str) -> TaskResult:
    run.say(f"task {path}: not run: {reason}")
    component = run.spec["components"][task["componentRef"]["name"]]
    return TaskResult(path, task_kind(run, component), False, {}, not_run=reason)


def task_kind(run: RunContext, component: Mapping[str, Any]) -> str:
    if "dag" in component:
        return "dag"
    executor = run.spec["deploymentSpec"]["executors"][component["executorLabel"]]
    return "custom-job" if is_launcher_container(executor.get("container", {})) else "container"


def _run_one(
    run: RunContext,
    task_name: str,
    task: Mapping[str, Any],
    inputs: Mapping[str, Any],
    walked: _Walked,
    prefix: str,
    scope: str,
    position: tuple[int, ...],
) -> TaskResult:
    """One task of a DAG: skipped, a sub-DAG (condition, loop, group) or a container."""
    path = prefix + task_name
    component_name = task["componentRef"]["name"]
    component = run.spec["components"][component_name]
    kind = task_kind(run, component)
    found, absent = _task_arguments(run, task, inputs, walked)
    if absent is not None:
        reason = f"its input {absent.input} comes from task {prefix}{absent.producer}, {absent.why}"
        if absent.skipped:
            run.say(f"task {path}: skipped: {reason}")
            return TaskResult(path, kind, True, {}, skipped=reason)
        run.say(f"task {path}: FAILED: {reason}")
        return TaskResult(path, kind, False, {}, reason)
    arguments = resolve(run, found)
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
    note_ignored(run, path, task, component)
    if "dag" not in component:
        retry = task.get("retryPolicy")
        return run_task(run, path, task_name, component_name, component, arguments, scope, retry)
    sub_inputs = parameter_values(component, arguments, resolve=lambda v: resolve(run, v))
    sub_inputs.update({k: v for k, v in arguments.items() if k not in sub_inputs})
    if "parameterIterator" in task:
        loop_scope = scope + task_name + "/"
        return _run_loop(run, path, task, component, sub_inputs, loop_scope, position)
    return run_dag(run, component, sub_inputs, path + "/", scope, position)


def _run_loop(
    run: RunContext,
    path: str,
    task: Mapping[str, Any],
    component: Mapping[str, Any],
    inputs: dict[str, Any],
    scope: str,
    position: tuple[int, ...],
) -> TaskResult:
    """A dsl.ParallelFor: its iterations at the same time, at most ``parallelism`` of
    them (as on Vertex), each output collected into a list in iteration order (what
    dsl.Collected reads)."""
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
    limit = int(task.get("iteratorPolicy", {}).get("parallelismLimit", 0) or 0)
    results: dict[int, TaskResult] = {}

    def start(index: str) -> Callable[[], TaskResult]:
        step = f"iteration-{index}/"
        item_inputs = {**inputs, iterator["itemInput"]: items[int(index)]}
        at = (*position, int(index))
        return lambda: run_dag(run, component, item_inputs, f"{path}/{step}", scope + step, at)

    def ended(index: str, result: TaskResult) -> None:
        results[int(index)] = result

    # every iteration runs, also after one failed (fail slow, as in run_dag)
    names = [str(i) for i in range(len(items))]
    run_ready(names, {}, start, ended, limit=limit or None, cancel=run.cancel)
    # an empty loop collects empty lists, as on Vertex
    collected: dict[str, list[Any]] = {
        name: [] for name in component.get("outputDefinitions", {}).get("parameters", {})
    }
    for index in range(len(items)):
        for name, value in results[index].outputs.items():
            collected.setdefault(name, []).append(value)
    failed = [str(i) for i in range(len(items)) if not results[i].succeeded]
    if failed:
        return TaskResult(path, "dag", False, {}, f"iteration(s) {', '.join(failed)} failed")
    return TaskResult(path, "dag", True, dict(collected))


@dataclass(frozen=True)
class _Absent:
    """An input of a task whose upstream value does not exist, and why: a condition
    skipped its producer (``skipped``), or the producer ran and left nothing."""

    input: str
    producer: str
    why: str
    skipped: bool


def _task_arguments(
    run: RunContext, task: Mapping[str, Any], inputs: Mapping[str, Any], walked: _Walked
) -> tuple[dict[str, Any], _Absent | None]:
    """A task's arguments from its inputs spec: constants, the DAG's inputs, upstream
    outputs; and the first input whose upstream value does not exist."""
    arguments: dict[str, Any] = {}
    given = task.get("inputs", {})
    keys = (("Parameter", "outputParameterKey"), ("Artifact", "outputArtifactKey"))
    for kind, output_key in keys:
        for name, source in given.get(kind.lower() + "s", {}).items():
            if "runtimeValue" in source:
                arguments[name] = source["runtimeValue"].get("constant")
            elif f"taskOutput{kind}" in source:
                upstream = source[f"taskOutput{kind}"]
                producer, key = upstream["producerTask"], upstream[output_key]
                outputs = walked.produced.get(producer, {})
                if producer in walked.skipped:
                    return arguments, _Absent(name, producer, "which a condition skipped", True)
                if walked.condition_skipped(producer, key):
                    why = f"in which a condition skipped every task that produces its {key}"
                    return arguments, _Absent(name, producer, why, True)
                if key not in outputs:
                    why = f"which ran but did not produce its output {key}"
                    return arguments, _Absent(name, producer, why, False)
                empty = _left_nothing(run.gcs, outputs[key]) if kind == "Artifact" else None
                if empty is not None:
                    return arguments, _Absent(name, producer, empty, False)
                arguments[name] = outputs[key]
            elif f"componentInput{kind}" in source:
                parent = source[f"componentInput{kind}"]
                if parent in inputs:
                    arguments[name] = _select(inputs[parent], source)
    return arguments, None


def _left_nothing(gcs: GcsRoot, artifact: Any) -> str | None:
    """Why an output artifact of a task that ran is not there, or None if it is: on
    Vertex its URI exists once the task succeeds, but a task that neither wrote a file
    there nor gave it metadata left the consumer nothing to read."""
    uri = str(artifact.get("uri", "")) if isinstance(artifact, dict) else ""
    if not uri.startswith("gs://") or artifact.get("metadata"):
        return None
    if gcs.local_path(uri).exists():
        return None
    return (
        f"which ran but wrote nothing at its output artifact {artifact.get('name', '')} "
        f"({uri}) and gave it no metadata"
    )


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


def _dag_outputs(
    dag: Mapping[str, Any], walked: _Walked
) -> tuple[dict[str, Any], frozenset[str]]:
    """The DAG's outputs whose producer ran (a dsl.OneOf output from whichever branch
    did), and the names of those a condition kept from existing."""
    outputs: dict[str, Any] = {}
    skipped: set[str] = set()
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
            upstream = walked.produced.get(source.get("producerSubtask", ""), {})
            if source.get(key) in upstream:
                outputs[name] = upstream[source[key]]
                break
        else:
            if choices and all(
                walked.condition_skipped(c.get("producerSubtask", ""), c.get(key, ""))
                for c in choices
            ):
                skipped.add(name)
    return outputs, frozenset(skipped)


def note_ignored(
    run: RunContext, path: str, task: Mapping[str, Any], component: Mapping[str, Any]
) -> None:
    """Options of a task that have no effect locally, said once each."""
    if task.get("cachingOptions", {}).get("enableCache"):
        run.cached.append(path)
    if "executorLabel" not in component:
        return
    executor = run.spec["deploymentSpec"]["executors"][component["executorLabel"]]
    resources = executor.get("container", {}).get("resources", {})
    if resources and not is_launcher_container(executor.get("container", {})):
        run.ignored.append(
            f"{path}: container resources {sorted(resources)}: kfp.local ignores them"
        )
