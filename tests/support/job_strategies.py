"""Hypothesis strategies for CustomJob documents, shared by the property tests of the
validator and of the fake API: any JSON, job-shaped data, valid jobs, and the ways to
break one field of them."""

from __future__ import annotations

import copy
import re
from typing import Any

from hypothesis import strategies as st

from cjob_emu.validate import ValidationReport

LAST_RESORT = "The job could not be read"


def assert_sound(report: ValidationReport) -> None:
    assert isinstance(report, ValidationReport)
    for problem in [*report.errors, *report.warnings]:
        assert isinstance(problem.field, str) and isinstance(problem.message, str)
        assert not problem.message.startswith(LAST_RESORT), problem
    assert report.ok is (not report.errors)
    report.vertex_message()
    report.to_dict()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)
KEYS = st.sampled_from(
    [
        "displayName",
        "display_name",
        "jobSpec",
        "job_spec",
        "labels",
        "state",
        "createTime",
        "workerPoolSpecs",
        "worker_pool_specs",
        "machineSpec",
        "machineType",
        "acceleratorType",
        "acceleratorCount",
        "replicaCount",
        "containerSpec",
        "pythonPackageSpec",
        "imageUri",
        "args",
        "env",
        "name",
        "value",
        "diskSpec",
        "bootDiskSizeGb",
        "scheduling",
        "timeout",
        "maxWaitDuration",
        "strategy",
        "nfsMounts",
        "reservationAffinity",
        "error",
        "details",
    ]
)
SHAPED = st.recursive(
    JSON,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=40,
)


# -- valid jobs --------------------------------------------------------------------------

NAME = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)
LOWER = "abcdefghijklmnopqrstuvwxyz"
LABEL_KEY = st.builds(
    str.__add__, st.sampled_from(LOWER), st.text(LOWER + "0123456789_-", max_size=15)
)
LABEL_VALUE = st.text(LOWER + "0123456789_-", max_size=15)
ENV_NAME = st.builds(
    str.__add__, st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ_"),
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", max_size=15),
).filter(
    lambda n: not n.startswith(("AIP_", "CLOUD_ML_")) and n not in ("CLUSTER_SPEC", "TF_CONFIG")
)
ANY_TEXT = st.text(max_size=30)
MACHINES = st.sampled_from(["n1-standard-4", "n1-highmem-8", "e2-standard-4", "n2-standard-16"])
IMAGES = st.sampled_from(
    ["us-docker.pkg.dev/p/r/trainer:1", "gcr.io/p/t@sha256:" + "a" * 64, "python:3.11"]
)


@st.composite
def pools(draw: Any, primary: bool) -> dict[str, Any]:
    count = 1 if primary else draw(st.integers(1, 4))
    pool: dict[str, Any] = {
        "machineSpec": {"machineType": draw(MACHINES)},
        "replicaCount": draw(st.sampled_from([count, str(count)])),
    }
    if draw(st.booleans()):
        pool["diskSpec"] = {"bootDiskType": "pd-ssd", "bootDiskSizeGb": draw(st.integers(100, 500))}
    args = draw(st.lists(ANY_TEXT, max_size=4))
    if draw(st.booleans()):
        container: dict[str, Any] = {"imageUri": draw(IMAGES), "args": args}
        if draw(st.booleans()):
            container["command"] = draw(st.lists(ANY_TEXT.filter(bool), min_size=1, max_size=3))
        env = draw(st.dictionaries(ENV_NAME, ANY_TEXT, max_size=3))
        if env:
            container["env"] = [{"name": k, "value": v} for k, v in env.items()]
        pool["containerSpec"] = container
    else:
        pool["pythonPackageSpec"] = {
            "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest",
            "packageUris": ["gs://b/trainer-0.1.tar.gz"],
            "pythonModule": "trainer.task",
            "args": args,
        }
    return pool


@st.composite
def valid_jobs(draw: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "workerPoolSpecs": [draw(pools(True)), *draw(st.lists(pools(False), max_size=3))]
    }
    if draw(st.booleans()):
        spec["scheduling"] = {
            "timeout": f"{draw(st.integers(1, 10**6))}s",
            "restartJobOnWorkerRestart": draw(st.booleans()),
        }
    if draw(st.booleans()):
        spec["baseOutputDirectory"] = {"outputUriPrefix": "gs://b/out"}
    job: dict[str, Any] = {"displayName": draw(NAME), "jobSpec": spec}
    labels = draw(st.dictionaries(LABEL_KEY, LABEL_VALUE, max_size=3))
    if labels:
        job["labels"] = labels
    return job


# -- field paths -------------------------------------------------------------------------

Path_ = tuple[Any, ...]


def leaves_and_nodes(doc: Any, path: Path_ = ()) -> list[Path_]:
    """Every path in ``doc`` (objects, lists and scalars), the root excluded."""
    paths: list[Path_] = [path] if path else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            paths += leaves_and_nodes(value, (*path, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            paths += leaves_and_nodes(value, (*path, index))
    return paths


def get(doc: Any, path: Path_) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def replaced(doc: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    new = copy.deepcopy(doc)
    get(new, path[:-1])[path[-1]] = value
    return new


def field_name(path: Path_) -> str:
    """The validator's name of a document path: snake_case proto names, map keys as is."""
    out = ""
    in_map = False
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            name = step if in_map else re.sub(r"(?<!^)([A-Z])", r"_\1", step).lower()
            out += f".{name}" if out else name
            in_map = step == "labels"
    return out


INT_FIELDS = {"replicaCount", "bootDiskSizeGb", "acceleratorCount"}


def wrong_types(value: Any, key: Any) -> st.SearchStrategy[Any]:
    """Values no proto JSON parser accepts where ``value`` (at ``key``) stands; never None,
    which proto JSON reads as unset."""
    obj = st.dictionaries(st.text(max_size=5), JSON, min_size=1, max_size=2)
    seq = st.lists(JSON, min_size=1, max_size=2)
    if isinstance(value, dict):
        return st.text(max_size=5) | st.integers() | seq | st.booleans()
    if isinstance(value, list):
        return st.text(min_size=1, max_size=5) | st.integers() | obj | st.booleans()
    if isinstance(value, bool):
        return st.text(max_size=5) | st.integers() | seq | obj
    if key in INT_FIELDS:
        # int64 fields: numbers or numeric strings, nothing else
        text = st.text(max_size=5).filter(lambda t: not re.fullmatch(r"\s*-?\d+\s*", t))
        fraction = st.floats(allow_nan=False).filter(lambda f: not f.is_integer())
        return text | fraction | seq | obj | st.booleans() | st.sampled_from([2**64, -(2**64)])
    return st.integers() | st.floats() | seq | obj | st.booleans()
