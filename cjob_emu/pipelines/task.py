"""One container task of a pipeline: a CustomJob on the executor, or kfp.local's task."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
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
) -> TaskResult:
    # a loop iteration's tasks go under <run>/<loop>/iteration-N/
    root_name = run.name + ("/" + scope.rstrip("/") if scope else "")
    executor = run.spec["deploymentSpec"]["executors"][component["executorLabel"]]
    container = executor.get("container", {})
    parameters = parameter_values(component, arguments, resolve=lambda v: resolve(run, v))
    artifacts = {k: v for k, v in arguments.items() if k not in parameters}
    missing = missing_inputs(component, {**parameters, **artifacts})
    if missing:
        raise InputError(f"task {path}: no value for required input(s) {', '.join(missing)}")
    kind = "custom-job" if is_launcher_container(container) else "container"
    run.record.task_started(path, kind)
    if kind == "custom-job":
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
    image = run.images.resolve(str(container.get("image", "")))
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
        log_file=run.record.task_log(path),
    )
    tail = "\n".join(done.log.strip().splitlines()[-_LOG_TAIL:])
    error = "" if done.succeeded else f"the task exited non-zero; last lines of its log:\n{tail}"
    return TaskResult(path, "container", done.succeeded, done.outputs, error)


def _backend_name(backend: str | Backend) -> str:
    return backend.name if isinstance(backend, Backend) else backend
