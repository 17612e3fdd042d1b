"""Shared jobs and helpers of the validate tests."""

from __future__ import annotations

import copy
import itertools
import re
from typing import Any

from cjob_emu.validate import ValidationReport

DELETE = object()

#: A job Vertex accepts, in the REST API's camelCase; the rule tests change one thing in it.
BASE: dict[str, Any] = {
    "displayName": "train",
    "jobSpec": {
        "workerPoolSpecs": [
            {
                "machineSpec": {"machineType": "n1-standard-4"},
                "replicaCount": "1",
                "containerSpec": {"imageUri": "us-docker.pkg.dev/my-project/trainers/task:1"},
            }
        ]
    },
}

_STEP = re.compile(r"([^.\[]+)|\[(\d+)\]")


def changed(changes: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A deep copy of ``base`` (default BASE) with each dotted path set (or DELETEd).

    Paths use the document's own keys: ``jobSpec.workerPoolSpecs[0].replicaCount``;
    missing objects on the way are created, lists grow with ``{}``.
    """
    job = copy.deepcopy(BASE if base is None else base)
    for path, value in changes.items():
        steps = [name or int(index) for name, index in _STEP.findall(path)]
        node: Any = job
        for here, after in itertools.pairwise(steps):
            if isinstance(here, int):
                while len(node) <= here:
                    node.append({})
            elif here not in node:
                node[here] = [] if isinstance(after, int) else {}
            node = node[here]
        last = steps[-1]
        if value is DELETE:
            del node[last]
        elif isinstance(last, int):
            while len(node) <= last:
                node.append({})
            node[last] = value
        else:
            node[last] = value
    return job


def found(report: ValidationReport) -> list[tuple[str, str, str]]:
    """Every problem as ``(severity, field, message)``, errors first."""
    return [(p.severity, p.field, p.message) for p in [*report.errors, *report.warnings]]
