"""One container task of a pipeline: a CustomJob on the executor, or kfp.local's task."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from cjob_emu.errors import InputError
from cjob_emu.executor import Backend
from cjob_emu.launcher.contract import is_launcher_container
from cjob_emu.launcher.executor_input import (
    build_executor_input,
    missing_inputs,
    parameter_values,
    task_root,
)
from cjob_emu.pipelines import kfp_local
from cjob_emu.pipelines.context import RunContext, resolve
from cjob_emu.pipelines.custom_job_task import run_custom_job_task
from cjob_emu.pipelines.results import TaskResult

_LOG_TAIL = 12
RUN_LABELS = "vertex-ai-pipelines-run-billing-id"
"""The label the Pipelines backend gives every job of a run (VERTEX_AI_PIPELINES_RUN_LABELS)."""


def run_task(
    run: RunContext,
    path: str,
    task_name: str,
    component_name: str,
    component: Mapping[str, Any],
    arguments: Mapping[str, Any],
    scope: str = "",
    retry: Mapping[str, Any] | None = None,
) -> TaskResult:
    """Run one container task in one of the run's slots, again after a failure as its
    retry policy (``set_retry``) allows, as on Vertex; a task the run was cancelled
    before is not run."""
    # a loop iteration's tasks go under <run>/<loop>/iteration-N/
    root_name = run.name + ("/" + scope.rstrip("/") if scope else "")
    executor = run.spec["deploymentSpec"]["executors"][component["executorLabel"]]
    parameters = parameter_values(component, arguments, resolve=lambda v: resolve(run, v))
    artifacts = {k: v for k, v in arguments.items() if k not in parameters}
    missing = missing_inputs(component, {**parameters, **artifacts})
    if missing:
        raise InputError(f"task {path}: no value for required input(s) {', '.join(missing)}")
    attempt = _Attempt(run, path, task_name, component_name, component, executor, root_name)
    retries = int((retry or {}).get("maxRetryCount", 0) or 0)
    with run.slots.taken() as go:
        if not go:
            return TaskResult(path, attempt.kind, False, {}, not_run=INTERRUPTED)
        run.record.task_started(path, attempt.kind)
        result = attempt.once(parameters, artifacts)
        for number in range(1, retries + 1):
            if result.succeeded or run.slots.cancelled.is_set():
                break
            delay = retry_delay(retry or {}, number)
            run.say(f"task {path}: failed; retry {number} of {retries} in {delay:.1f}s")
            if run.slots.cancelled.wait(delay):
                break
            result = replace(attempt.once(parameters, artifacts), attempts=number + 1)
    return result


INTERRUPTED = "the run was interrupted before it started"
RETRY_DELAY_CAP = 10.0
"""Seconds: the longest back-off between retries locally (Vertex's may be far longer:
``backoff_max_duration`` defaults to an hour); what a test run can wait."""


def retry_delay(policy: Mapping[str, Any], retry: int) -> float:
    """Seconds before retry number ``retry`` (1, 2...): ``backoffDuration`` times
    ``backoffFactor`` to the power ``retry - 1``, at most ``backoffMaxDuration`` and
    :data:`RETRY_DELAY_CAP` (KFP's compiled ``retryPolicy`` fields)."""
    first = _seconds(policy.get("backoffDuration", "0s"))
    factor = float(policy.get("backoffFactor", 2) or 2)
    longest = _seconds(policy.get("backoffMaxDuration", "3600s"))
    return min(first * factor ** (retry - 1), longest, RETRY_DELAY_CAP)


def _seconds(duration: Any) -> float:
    text = str(duration).strip()
    try:
        return max(0.0, float(text.removesuffix("s")))
    except ValueError:
        raise InputError(f"retry policy: {duration!r} is not a duration in seconds") from None


class _Attempt:
    """One run of a container task: a CustomJob on the executor, or kfp.local's task."""

    def __init__(
        self,
        run: RunContext,
        path: str,
        task_name: str,
        component_name: str,
        component: Mapping[str, Any],
        executor: Mapping[str, Any],
        root_name: str,
    ) -> None:
        self.run, self.path, self.task_name = run, path, task_name
        self.component_name, self.component, self.executor = component_name, component, executor
        self.root_name = root_name
        self.container = executor.get("container", {})
        self.kind = "custom-job" if is_launcher_container(self.container) else "container"

    def once(self, parameters: Mapping[str, Any], artifacts: Mapping[str, Any]) -> TaskResult:
        if self.kind == "custom-job":
            return self._custom_job(parameters, artifacts)
        return self._kfp_local({**parameters, **artifacts})

    def _custom_job(
        self, parameters: Mapping[str, Any], artifacts: Mapping[str, Any]
    ) -> TaskResult:
        run, path = self.run, self.path
        run.say(f"task {path}: CustomJob on the {_backend_name(run.settings.backend)} backend")
        executor_input = build_executor_input(
            self.component,
            parameters,
            {name: [artifact] for name, artifact in artifacts.items()},
            # kfp.local's task roots are named so too: unique, also across sub-DAGs
            task_root(run.pipeline_root, self.root_name, self.component_name.removeprefix("comp-")),
        )
        values = {
            **run.pipeline_values,
            "{{$.pipeline_task_name}}": self.task_name,
            "{{$.pipeline_task_uuid}}": str(uuid.uuid4()),
        }
        outcome = run_custom_job_task(
            task_name=path.replace("/", "."),
            component=self.component,
            container=self.container,
            executor_input=executor_input,
            gcs=run.gcs,
            pipeline_values=values,
            system_labels={RUN_LABELS: str(uuid.uuid4().int % 10**19)},
            settings=run.settings,
            warn=lambda message: run.warn(path, message),
        )
        run.ignored.extend(f"{path}: {notice}" for notice in outcome.notices)
        return TaskResult(
            path, "custom-job", outcome.succeeded, outcome.outputs, outcome.error,
            job=outcome.result,
        )

    def _kfp_local(self, arguments: Mapping[str, Any]) -> TaskResult:
        run, path = self.run, self.path
        image = run.images.resolve(str(self.container.get("image", "")))
        run.say(f"task {path}: kfp.local ({image})")
        done = kfp_local.run_task(
            run_name=self.root_name,
            component_name=self.component_name,
            component=self.component,
            executor=self.executor,
            arguments=arguments,
            gcs=run.gcs,
            pipeline_root=run.pipeline_root,
            runner=run.runner,
            image=image,
            task=path,
            echo=_echo(run),
            log_file=run.record.task_log(path),
        )
        tail = "\n".join(done.log.strip().splitlines()[-_LOG_TAIL:])
        error = (
            ""
            if done.succeeded
            else f"the task exited non-zero; last lines of its log:\n{tail}"
        )
        return TaskResult(path, "container", done.succeeded, done.outputs, error)


def _echo(run: RunContext) -> kfp_local.TaskEcho | None:
    if callable(run.echo):
        return run.echo
    return kfp_local.print_task_line if run.echo else None


def _backend_name(backend: str | Backend) -> str:
    return backend.name if isinstance(backend, Backend) else backend
