"""The schema cache against the aiplatform types: the same report for every job.

The same jobs are validated in three child processes: with the types read from
aiplatform itself (``CJOB_EMU_NO_CACHE=1``: the message-based path as it was before
the cache), building a fresh cache (cold) and reading it back (warm). Every report
must be the same in all three. The jobs: every fixture job file, every case of the
validate tests (documents, and messages for the forms that are messages), and 10,000
generated from tests/support/job_strategies.py: each valid job drawn gives ten (as
drawn, in snake_case, with a wrong type somewhere, with machines, accelerators,
reservations and scheduling varied over every enum value, with the rule tests'
changes applied, job-keyed garbage), each at a location drawn from valid, misspelt
and absent ones.
"""

from __future__ import annotations

import copy
import os
import pickle
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import test_validate_garbage
import test_validate_rules
import test_validate_structure
from google.cloud.aiplatform_v1 import AcceleratorType, ReservationAffinity, Scheduling
from hypothesis import given
from hypothesis import strategies as st
from support.fuzz_support import FuzzCases, fuzz_cases_fixture  # noqa: F401  (the fixture)
from support.job_strategies import (
    SHAPED,
    get,
    leaves_and_nodes,
    replaced,
    valid_jobs,
    wrong_types,
)
from support.paths import FIXTURES, ROOT
from support.validate_cases import BASE, changed

from cjob_emu.errors import InputError
from cjob_emu.spec import parse_job_text
from cjob_emu.validate import cache, machines

Item = tuple[str, Any, Any]  # (kind, job, location); kind: "doc", "message", "proto-plus"

GENERATED = 1_000  # drawn jobs, ten documents each

LOCATIONS = [None, "us-central1", "europe-west4", "US-Central1", "us-centrl1", "mars-north1", ""]
MACHINE_TYPES = sorted(
    set().union(*machines.MACHINE_TYPES.values())
    | set(machines.FIXED_GPUS)
    | {"cloud-tpu", "ct5lp-hightpu-4t", "ct6e-standard-4t", "g4-standard-48", "a3-edgegpu-8g"}
    | {"n1-standard-3", "n2-standrd-8", "custom-4-16384", "n2-custom-8-32768", "N1-STANDARD-4"}
    | {"", "x"}
)
ACCELERATORS = [a.name for a in AcceleratorType] + [0, 5, 12, 99, "7", "NVIDIA_TESLA_T5", "tpu-v3"]
COUNTS = [None, 0, 1, 2, 3, 4, 8, 16, -1, "8"]
STRATEGIES = [s.name for s in Scheduling.Strategy] + [5, 42, "SPOTTY"]
AFFINITIES = [t.name for t in ReservationAffinity.Type] + [9]
DURATIONS = [None, "0s", "-5s", "3600s", "1.5s", "604800s"]
RESERVATION_KEYS = ["", "compute.googleapis.com/reservation-name", "other"]
RESERVATION_VALUES = [[], ["projects/p/zones/z/reservations/r"], ["r1"]]

CHILD = """
import pickle, sys
from cjob_emu.validate import validate

def job(kind, doc):
    if kind == "doc":
        return doc
    from google.cloud import aiplatform_v1
    from google.protobuf import json_format
    message = json_format.ParseDict(doc, aiplatform_v1.CustomJob.pb()())
    return aiplatform_v1.CustomJob.wrap(message) if kind == "proto-plus" else message

with open(sys.argv[1], "rb") as f:
    items = pickle.load(f)
reports = [validate(job(kind, doc), location=where).to_dict() for kind, doc, where in items]
with open(sys.argv[2], "wb") as f:
    pickle.dump(reports, f)
"""


def snake(doc: Any, in_map: bool = False) -> Any:
    """``doc`` with snake_case keys (map keys as they are)."""
    if isinstance(doc, dict):
        return {
            (key if in_map else re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()): snake(
                value, key == "labels"
            )
            for key, value in doc.items()
        }
    if isinstance(doc, list):
        return [snake(item) for item in doc]
    return doc


def varied_machines(job: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """``job`` with every pool's machine and the scheduling drawn anew."""
    job = copy.deepcopy(job)
    for pool in job["jobSpec"]["workerPoolSpecs"]:
        spec: dict[str, Any] = {"machineType": rng.choice(MACHINE_TYPES)}
        if rng.random() < 0.8:
            spec["acceleratorType"] = rng.choice(ACCELERATORS)
        count = rng.choice(COUNTS)
        if count is not None:
            spec["acceleratorCount"] = count
        if rng.random() < 0.2:
            spec["tpuTopology"] = rng.choice(["2x2", "4x4"])
        if rng.random() < 0.2:
            spec["gpuPartitionSize"] = "1g.5gb"
        if rng.random() < 0.3:
            spec["reservationAffinity"] = {
                "reservationAffinityType": rng.choice(AFFINITIES),
                "key": rng.choice(RESERVATION_KEYS),
                "values": rng.choice(RESERVATION_VALUES),
            }
        pool["machineSpec"] = spec
    if rng.random() < 0.7:
        scheduling = {
            "strategy": rng.choice(STRATEGIES),
            "timeout": rng.choice(DURATIONS),
            "maxWaitDuration": rng.choice(DURATIONS),
            "disableRetries": rng.random() < 0.5,
            "restartJobOnWorkerRestart": rng.random() < 0.5,
        }
        job["jobSpec"]["scheduling"] = {k: v for k, v in scheduling.items() if v is not None}
    return job


RULE_CHANGES = [case.values[i] for case in test_validate_rules.CASES for i in (0, 2)]


def with_rule_changes(job: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """``job`` with one to three of the rule tests' changes (those its shape allows)."""
    for _ in range(rng.randint(1, 3)):
        try:
            job = changed(rng.choice(RULE_CHANGES), base=job)
        except (KeyError, IndexError, TypeError):
            continue  # the change deletes or indexes what this job lacks
    return job


@st.composite
def ten_jobs(draw: Any) -> list[Item]:
    job = draw(valid_jobs())
    rng = draw(st.randoms(use_true_random=False))
    path = draw(st.sampled_from(leaves_and_nodes(job)))
    wrong = replaced(job, path, draw(wrong_types(get(job, path), path[-1])))
    keys = st.sampled_from(["displayName", "jobSpec", "labels", "x"])
    garbage = draw(st.dictionaries(keys, SHAPED, max_size=4))
    docs = [
        job,
        snake(job),
        wrong,
        garbage,
        *(varied_machines(job, rng) for _ in range(3)),
        with_rule_changes(job, rng),
        with_rule_changes(varied_machines(job, rng), rng),
        snake(varied_machines(job, rng)),
    ]
    return [("doc", doc, rng.choice(LOCATIONS)) for doc in docs]


def plain(value: Any) -> bool:
    """Data a child process can unpickle without this module's classes."""
    if isinstance(value, dict):
        return type(value) is dict and all(plain(k) and plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(plain(v) for v in value)
    return value is None or isinstance(value, (str, bytes, int, float))


def case_items() -> list[Item]:
    """The fixture job files and the validate tests' cases, each where its test puts it."""
    items: list[Item] = []
    for path in sorted(FIXTURES.glob("jobs/*.*")) + sorted(FIXTURES.glob("invalid/*.*")):
        try:
            doc = parse_job_text(path.read_text(), source=path.name)
        except InputError:
            continue  # unreadable files never reach the validator
        items += [("doc", doc, None), ("doc", doc, "us-central1"), ("doc", doc, "us-centrl1")]
    for case in test_validate_rules.CASES:
        failing, expected, passing, location = case.values
        good = "us-central1" if expected[1] == "location" else location
        items += [("doc", changed(failing), location), ("doc", changed(passing), good)]
    items += [("doc", changed(case.values[0]), None) for case in test_validate_structure.STRUCTURAL]
    rest = test_validate_structure.PROBLEMS_REST
    for name, make in test_validate_structure.FORMS.items():
        kind = {"proto-plus": "proto-plus", "raw protobuf": "message"}.get(name, "doc")
        items.append((kind, rest if kind != "doc" else make(rest), None))
    items += [("doc", doc, None) for doc in test_validate_garbage.GARBAGE if plain(doc)]
    items += [("doc", job, None) for job in ["x", None, 3, [BASE], True, b"{}"]]
    return items


def reports(items_file: Path, out: Path, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(items_file), str(out)],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k != cache.NO_CACHE_ENV},
            "PYTHONPATH": str(ROOT),
            **env,
        },
    )


def finished(child: subprocess.Popen[bytes], out: Path) -> list[dict[str, Any]]:
    assert child.wait(timeout=600) == 0
    with out.open("rb") as f:
        found: list[dict[str, Any]] = pickle.load(f)
    return found


def assert_same(items: list[Item], expected: list[Any], got: list[Any], label: str) -> None:
    differ = [i for i, (a, b) in enumerate(zip(expected, got, strict=True)) if a != b]
    if differ:
        first = differ[0]
        raise AssertionError(
            f"{label}: {len(differ)} of {len(items)} reports differ; the first, for "
            f"{items[first]!r}:\nfrom the types: {expected[first]}\n{label}: {got[first]}"
        )


def test_cached_types_report_as_the_aiplatform_types(
    fuzz_cases: FuzzCases, tmp_path: Path
) -> None:
    generated: list[Item] = []

    @fuzz_cases.settings(GENERATED)
    @given(ten_jobs())
    def collect(jobs: list[Item]) -> None:
        fuzz_cases.tick()
        generated.extend(jobs)

    collect()
    fuzz_cases.expect()
    cases = case_items()
    items = cases + generated
    assert len(generated) >= 10 * GENERATED and len(cases) > 300
    items_file = tmp_path / "items.pickle"
    with items_file.open("wb") as f:
        pickle.dump(items, f)

    cache_dir = str(tmp_path / "cache")
    outs = {name: tmp_path / f"{name}.pickle" for name in ("types", "cold", "warm")}
    types = reports(items_file, outs["types"], **{cache.NO_CACHE_ENV: "1"})
    cold = reports(items_file, outs["cold"], **{cache.CACHE_DIR_ENV: cache_dir})
    expected, from_cold = finished(types, outs["types"]), finished(cold, outs["cold"])
    warm = reports(items_file, outs["warm"], **{cache.CACHE_DIR_ENV: cache_dir})
    from_warm = finished(warm, outs["warm"])

    assert_same(items, expected, from_cold, "cache cold")
    assert_same(items, expected, from_warm, "cache warm")
    # The jobs reach every kind of finding, so agreeing means something.
    valid = sum(report["valid"] for report in expected[len(cases) :])
    assert 1_000 < valid < 9 * GENERATED
    messages = [p["message"] for r in expected for p in [*r["errors"], *r["warnings"]]]
    for text in ("Accelerator ", "Strategy `", "Required field", "Output only", "region"):
        assert sum(text in m for m in messages) > 20, text
