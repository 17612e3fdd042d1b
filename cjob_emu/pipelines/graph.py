"""The shape of a compiled pipeline's DAGs: which tasks, in which order, after which."""

from __future__ import annotations

import graphlib
from collections.abc import Mapping
from typing import Any


def dags(spec: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """Every DAG of the spec with the prefix its tasks are named by in messages."""
    components = spec.get("components", {})
    return [("", spec["root"])] + [
        (name.removeprefix("comp-") + "/", c) for name, c in components.items() if "dag" in c
    ]


def task_order(tasks: Mapping[str, Any]) -> list[str]:
    """Task names in an order where every task comes after the tasks it depends on, by
    ``dependentTasks`` and by the outputs it takes."""
    graph = {name: upstream(task) for name, task in sorted(tasks.items())}
    return list(graphlib.TopologicalSorter(graph).static_order())


def upstream(task: Mapping[str, Any]) -> set[str]:
    """The tasks ``task`` depends on: its ``dependentTasks`` and the producers of the
    outputs it takes."""
    producers = set(task.get("dependentTasks", []))
    inputs = task.get("inputs", {})
    for source in [*inputs.get("parameters", {}).values(), *inputs.get("artifacts", {}).values()]:
        upstream = source.get("taskOutputParameter") or source.get("taskOutputArtifact")
        if upstream:
            producers.add(upstream["producerTask"])
    return producers
