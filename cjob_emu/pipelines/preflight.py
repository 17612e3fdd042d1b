"""Everything a run can know before it starts, checked before any task runs: features the
local runner does not run, a spec that does not hang together, runners and images."""

from __future__ import annotations

import graphlib
import re
from collections.abc import Mapping
from typing import Any

from cjob_emu.errors import InputError
from cjob_emu.launcher.contract import is_launcher_container
from cjob_emu.pipelines import kfp_local
from cjob_emu.pipelines.conditions import ConditionError, parse
from cjob_emu.pipelines.context import RunContext
from cjob_emu.pipelines.graph import dags, task_order

_KFP_PIN = re.compile(r"'kfp==([^']+)'")


def check_tasks(run: RunContext) -> None:
    """Every ordinary task's runner and image checked before any task runs, so a run
    never stops half-way for what was known at the start."""
    executors = run.spec.get("deploymentSpec", {}).get("executors", {})
    components = run.spec.get("components", {})
    ordinary = []
    for prefix, dag in dags(run.spec):
        for name, task in dag.get("dag", {}).get("tasks", {}).items():
            target = components[task["componentRef"]["name"]]
            container = executors.get(target.get("executorLabel", ""), {}).get("container")
            if container is not None and not is_launcher_container(container):
                image = run.images.resolve(str(container.get("image", "")))
                ordinary.append(kfp_local.OrdinaryTask(prefix + name, container, image))
    kfp_local.check_runnable(run.runner, ordinary, pull=run.settings.options.pull)


def refuse_unsupported(spec: Mapping[str, Any]) -> None:
    """What the local runner does not run, or a spec that does not hang together, refused
    before anything runs (naming the task)."""
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    components = spec.get("components", {})
    for prefix, component in dags(spec):
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
            task_order(tasks)
        except graphlib.CycleError as exc:
            raise InputError(f"the tasks {exc.args[1]} depend on each other in a cycle") from None


def foreign_kfp(spec: Mapping[str, Any]) -> list[str]:
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
