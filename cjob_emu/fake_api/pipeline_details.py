"""A PipelineJob's ``job_detail``: one ``PipelineTaskDetail`` per task, as Vertex lists them.

:class:`TaskDetails` keeps the tasks of one job while it runs and renders them as a
``PipelineJobDetail`` message: the pipeline's own root task (named after the
pipeline), then each task as it starts, with ``parent_task_id`` linking a task inside
a condition, loop or sub-pipeline to that group's task (``task_name`` is the task's
own name, as on Vertex; the local runner's path ``outer/inner`` is the chain of
parents). When the run ends, :meth:`TaskDetails.finish` takes the runner's
:class:`~cjob_emu.pipelines.results.TaskResult` of every task: its state, error and
outputs (parameters in ``execution.metadata`` as ``output:<name>``, artifacts in
``outputs``).

The runner's task states map onto ``PipelineTaskDetail.State``: ``SUCCEEDED``,
``FAILED`` and ``NOT_TRIGGERED`` as named; ``NOT_RUN`` (a task whose upstream task
failed) is ``NOT_TRIGGERED`` too: its trigger policy (run when every upstream task
succeeded) is not satisfied, which is what that state says.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.cloud.aiplatform_v1 import PipelineJobDetail
from google.protobuf import json_format

from cjob_emu.fake_api.kinds import CANCELLED, FAILED, SUCCEEDED
from cjob_emu.pipelines.graph import task_order
from cjob_emu.pipelines.results import TaskResult

# PipelineTaskDetail.State and Execution.State numbers
T_RUNNING, T_SUCCEEDED, T_CANCELLED, T_FAILED, T_NOT_TRIGGERED = 2, 3, 6, 7, 9
_TASK_STATES = {"SUCCEEDED": T_SUCCEEDED, "FAILED": T_FAILED, "NOT_TRIGGERED": T_NOT_TRIGGERED,
                "NOT_RUN": T_NOT_TRIGGERED}
_END_OF = {SUCCEEDED: T_SUCCEEDED, FAILED: T_FAILED, CANCELLED: T_CANCELLED}
_EXECUTION_STATES = {T_RUNNING: 2, T_SUCCEEDED: 3, T_FAILED: 4, T_CANCELLED: 6}
TASK_ERROR_CODE = 9  # FAILED_PRECONDITION, the code of Vertex's pipeline failures (a guess)


def _now_ns() -> int:
    return time.time_ns() // 1000 * 1000


@dataclass
class _Task:
    task_id: int
    path: str
    parent: str | None  # path of the parent task; None for the pipeline's root task
    kind: str = "dag"
    state: int = T_RUNNING
    create_ns: int = 0
    start_ns: int = 0
    end_ns: int = 0
    error: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    custom_job: str = ""
    known: int = 0  # the task's end state, when known before the run's results


class TaskDetails:
    """The tasks of one PipelineJob as they run (thread-safe)."""

    def __init__(self, pipeline_name: str, clock: Callable[[], int] = _now_ns) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._next_id = 10**18 + secrets.randbelow(10**17)  # Vertex's ids are int64s
        self._tasks: dict[str, _Task] = {}
        self._root_name = pipeline_name
        self._add("", None)

    def started(self, path: str, kind: str = "dag") -> None:
        """Task ``path`` (``outer/inner``) began now; its groups have begun too."""
        with self._lock:
            task = self._ensure(path)
            task.kind = kind
            task.start_ns = task.start_ns or self._clock()

    def ended(self, path: str, state: int | None = None) -> None:
        """Task ``path`` ended now; ``state`` (a PipelineState number) when it is known
        before the run's results are (a CustomJob's end)."""
        with self._lock:
            task = self._tasks.get(path)
            if task is not None and not task.end_ns:
                task.end_ns = self._clock()
                task.known = _END_OF.get(state, 0) if state is not None else 0

    def custom_job(self, path: str, job_name: str) -> None:
        """Task ``path`` runs the CustomJob ``job_name``."""
        with self._lock:
            self._ensure(path).custom_job = job_name

    def finish(self, results: Mapping[str, TaskResult], state: int, error: str = "") -> None:
        """The run ended in ``state`` (a PipelineState number): every task's result."""
        now = self._clock()
        with self._lock:
            for path, result in results.items():
                task = self._ensure(path)
                task.kind = result.kind
                task.state = _TASK_STATES[result.state]
                task.error = result.error if result.state == "FAILED" else ""
                task.outputs = dict(result.outputs) if result.state == "SUCCEEDED" else {}
            # inner groups first: a group's state comes from its tasks'
            for task in sorted(self._tasks.values(), key=lambda t: -t.path.count("/")):
                undecided = task.state == T_RUNNING and task.path not in results
                if undecided and task.parent is not None:
                    task.state = self._group_state(task, state)
                task.start_ns = task.start_ns or now
                task.end_ns = task.end_ns or now
            root = self._tasks[""]
            root.state, root.error = _END_OF.get(state, T_FAILED), error

    def cancelled(self) -> None:
        """The run was cancelled before it gave results: a task still running is CANCELLED
        now, one that had ended keeps the state it ended in (SUCCEEDED unless known
        otherwise); :meth:`finish` then settles the groups."""
        now = self._clock()
        with self._lock:
            for task in self._tasks.values():
                if task.kind == "dag" or task.state != T_RUNNING:
                    continue
                task.state = (task.known or T_SUCCEEDED) if task.end_ns else T_CANCELLED
                task.start_ns = task.start_ns or now
                task.end_ns = task.end_ns or now

    def message(self) -> Any:
        """The ``PipelineJobDetail`` protobuf message of the tasks now."""
        detail = PipelineJobDetail.pb()()
        with self._lock:
            for task in self._tasks.values():
                self._render(task, detail.task_details.add())
        return detail

    # -- helpers ----------------------------------------------------------------------------

    def _add(self, path: str, parent: str | None) -> _Task:
        self._next_id += 1
        task = _Task(self._next_id, path, parent, create_ns=self._clock())
        task.start_ns = task.create_ns
        self._tasks[path] = task
        return task

    def _ensure(self, path: str) -> _Task:
        """The task ``path``, made (with its groups) when it is new."""
        found = self._tasks.get(path)
        if found is not None:
            return found
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        if parent:
            self._ensure(parent)
        task = self._add(path, parent)
        task.start_ns = 0
        return task

    def _group_state(self, task: _Task, state: int) -> int:
        """A task the runner reports no result of: a group (a loop iteration) from its
        tasks; a task of a run that ended without results, from the run's end."""
        inner = [t.state for t in self._tasks.values() if t.parent == task.path]
        if not inner:
            return T_CANCELLED if state == CANCELLED else T_FAILED
        if T_FAILED in inner:
            return T_FAILED
        if T_CANCELLED in inner or state == CANCELLED:
            return T_CANCELLED
        return T_SUCCEEDED

    def _render(self, task: _Task, pb: Any) -> None:
        pb.task_id = task.task_id
        if task.parent is not None:
            pb.parent_task_id = self._tasks[task.parent].task_id
        name = task.path.rsplit("/", 1)[-1] if task.path else self._root_name
        pb.task_name = name
        pb.state = task.state
        pb.create_time.FromNanoseconds(task.create_ns)
        if task.start_ns:
            pb.start_time.FromNanoseconds(task.start_ns)
        if task.end_ns and task.state != T_RUNNING:
            pb.end_time.FromNanoseconds(task.end_ns)
        if task.error:
            pb.error.code, pb.error.message = TASK_ERROR_CODE, task.error
        if task.custom_job:
            pb.executor_detail.custom_job_detail.job = task.custom_job
        execution = pb.execution
        execution.display_name = name
        execution.state = _EXECUTION_STATES.get(task.state, 0)
        execution.schema_title = ("system.DAGExecution" if task.kind == "dag"
                                  else "system.ContainerExecution")
        execution.schema_version = "0.0.1"
        parameters = {}
        for key, value in task.outputs.items():
            if _is_artifact(value) or (isinstance(value, list) and value
                                       and all(_is_artifact(v) for v in value)):
                items = value if isinstance(value, list) else [value]
                for item in items:
                    _artifact(item, pb.outputs[key].artifacts.add())
            else:
                parameters[f"output:{key}"] = _jsonable(value)
        if parameters:
            json_format.ParseDict(parameters, execution.metadata)


def _is_artifact(value: Any) -> bool:
    return isinstance(value, dict) and "uri" in value and "type" in value


def _artifact(value: Mapping[str, Any], pb: Any) -> None:
    pb.display_name = str(value.get("name", ""))
    pb.uri = str(value["uri"])
    pb.state = 2  # LIVE
    kind = value.get("type", {})
    pb.schema_title = str(kind.get("schemaTitle", ""))
    pb.schema_version = str(kind.get("schemaVersion", ""))
    metadata = value.get("metadata") or {}
    if metadata:
        json_format.ParseDict(_jsonable(dict(metadata)), pb.metadata)


def _jsonable(value: Any) -> Any:
    """``value`` as a JSON value a ``Struct`` takes (anything else becomes its text)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def root_tasks(spec: Mapping[str, Any]) -> list[str]:
    """The tasks of the pipeline's root DAG, in an order that runs each after its inputs."""
    tasks = spec.get("root", {}).get("dag", {}).get("tasks", {})
    return task_order(tasks) if isinstance(tasks, Mapping) else []


def pipeline_failure(failed: list[str], task_error: str = "") -> str:
    """Vertex's error text for a pipeline whose root tasks ``failed`` (and, ours, the first
    failed task's error after it)."""
    text = (
        "The DAG failed because some tasks failed. The failed tasks are: "
        f"[{', '.join(failed)}]."
    )
    return f"{text}; {task_error}" if task_error else text


def scripted_details(spec: Mapping[str, Any], state: int, error: str = "") -> Any:
    """The ``job_detail`` of a simulated PipelineJob now in ``state``: the root task, and
    once it ended every root-DAG task: all SUCCEEDED, or on failure the last one FAILED
    with the job's error, or all CANCELLED."""
    name = str(spec.get("pipelineInfo", {}).get("name", "pipeline"))
    details = TaskDetails(name)
    if state not in _END_OF:
        return details.message()
    tasks = root_tasks(spec)
    for task in tasks:
        details.started(task, "container")
    results = {}
    for index, task in enumerate(tasks):
        failed = state == FAILED and index == len(tasks) - 1
        results[task] = TaskResult(task, "container", not failed, {},
                                   error if failed else "")
    details.finish({} if state == CANCELLED else results, state, error)
    return details.message()
