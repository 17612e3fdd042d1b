"""How fast ``cjob_emu.validate.validate`` checks CustomJobs, next to merely building them.

Two sets: the sample jobs in fixtures/jobs (generated ones stand in when there are none)
and 10,000 generated jobs that vary in every dimension the rules look at (pools, machines,
accelerators, containers or packages, env, labels, scheduling, camelCase or snake_case
keys, enums as names or numbers), a fifth of them with a problem. For each set it prints
validations per second and the rate of ``json_format.ParseDict`` into ``CustomJob.pb()``,
the cheapest way to get a message from the same documents with the aiplatform types.

    python benchmarks/validate.py [--jobs 10000] [--rounds 3]

One process, one core. Goal: at least 5,000 validations per second on the generated set.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from google.cloud.aiplatform_v1.types.custom_job import CustomJob
from google.protobuf import json_format

from cjob_emu.validate import validate

ROOT = Path(__file__).resolve().parents[1]
GOAL = 5_000

MACHINES: list[tuple[str, str | None, int]] = [
    ("n1-standard-4", None, 0),
    ("n1-standard-8", "NVIDIA_TESLA_T4", 1),
    ("n1-highmem-16", "NVIDIA_TESLA_V100", 2),
    ("n1-standard-32", "NVIDIA_TESLA_P4", 4),
    ("e2-standard-8", None, 0),
    ("c2-standard-16", None, 0),
    ("a2-highgpu-1g", "NVIDIA_TESLA_A100", 1),
    ("a2-ultragpu-8g", "NVIDIA_A100_80GB", 8),
    ("a3-highgpu-8g", "NVIDIA_H100_80GB", 8),
    ("g2-standard-24", "NVIDIA_L4", 2),
    ("cloud-tpu", "TPU_V3", 8),
]
ENUM_NUMBERS = {"NVIDIA_TESLA_T4": 5, "NVIDIA_TESLA_A100": 8, "NVIDIA_L4": 11, "TPU_V3": 7}
# One problem each: the fifth of the jobs that are not valid carry one of these.
BREAKERS: list[Callable[[dict[str, Any]], None]] = [
    lambda job: job["pools"][0]["machine"].update(accelerator_count=0, accelerator_type="X"),
    lambda job: job["pools"][0].update(replica_count=3),
    lambda job: job.update(display_name=""),
    lambda job: job["labels"].update({"Bad Key": "v"}),
    lambda job: job["pools"][0].update(unknown_field=1),
    lambda job: job["pools"][0]["machine"].update(machine_type="e2-standard-4"),
    lambda job: job.update(timeout="1h"),
]


def _key(name: str, camel: bool) -> str:
    if not camel:
        return name
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _document(plan: dict[str, Any], camel: bool, enum_ints: bool) -> dict[str, Any]:
    """A REST document from a job plan, in camelCase or snake_case."""

    def k(name: str) -> str:
        return _key(name, camel)

    pools: list[dict[str, Any]] = []
    for pool in plan["pools"]:
        if pool is None:
            pools.append({})
            continue
        machine = pool["machine"]
        spec: dict[str, Any] = {k("machine_type"): machine["machine_type"]}
        accelerator = machine.get("accelerator_type")
        if accelerator:
            spec[k("accelerator_type")] = (
                ENUM_NUMBERS.get(accelerator, accelerator) if enum_ints else accelerator
            )
        if machine.get("accelerator_count"):
            spec[k("accelerator_count")] = machine["accelerator_count"]
        doc: dict[str, Any] = {
            k("machine_spec"): spec,
            k("replica_count"): str(pool["replica_count"]) if camel else pool["replica_count"],
        }
        env = [{"name": f"VAR_{i}", "value": str(i)} for i in range(pool["env"])]
        if pool["package"]:
            doc[k("python_package_spec")] = {
                k("executor_image_uri"): "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-12:latest",
                k("package_uris"): ["gs://bench/trainer-0.1.tar.gz"],
                k("python_module"): "trainer.task",
                "args": pool["args"],
                "env": env,
            }
        else:
            doc[k("container_spec")] = {
                k("image_uri"): f"us-docker.pkg.dev/bench/trainers/t{pool['image']}:1",
                "command": ["python3", "-m", "trainer.task"],
                "args": pool["args"],
                "env": env,
            }
        if pool["disk"]:
            doc[k("disk_spec")] = {k("boot_disk_type"): "pd-ssd", k("boot_disk_size_gb"): 200}
        if "unknown_field" in pool:
            doc["unknownField"] = pool["unknown_field"]
        pools.append(doc)
    job_spec: dict[str, Any] = {k("worker_pool_specs"): pools}
    if plan["timeout"]:
        job_spec["scheduling"] = {"timeout": plan["timeout"], "strategy": plan["strategy"]}
    if plan["output"]:
        job_spec[k("base_output_directory")] = {k("output_uri_prefix"): "gs://bench/out"}
    return {
        k("display_name"): plan["display_name"],
        "labels": plan["labels"],
        k("job_spec"): job_spec,
    }


def generated_jobs(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` varied REST documents, the same ones for the same seed."""
    rng = random.Random(seed)
    jobs = []
    for i in range(count):
        pools: list[dict[str, Any] | None] = []
        machine_type, accelerator, accelerators = rng.choice(MACHINES)
        for index in range(1 if accelerator == "TPU_V3" else rng.choice((1, 1, 2, 3, 4))):
            if index == 1 and rng.random() < 0.2:
                pools.append(None)  # a skipped pool
                continue
            pools.append(
                {
                    "machine": {
                        "machine_type": machine_type,
                        "accelerator_type": accelerator,
                        "accelerator_count": accelerators,
                    },
                    "replica_count": 1 if index == 0 else rng.randint(1, 8),
                    "package": rng.random() < 0.3,
                    "image": rng.randint(0, 50),
                    "args": [f"--arg{j}={rng.randint(0, 99)}" for j in range(rng.randint(0, 6))],
                    "env": rng.randint(0, 5),
                    "disk": rng.random() < 0.5,
                }
            )
        plan = {
            "display_name": f"bench-{i}",
            "labels": {f"k{j}": f"v{rng.randint(0, 9)}" for j in range(rng.randint(0, 4))},
            "pools": pools,
            "timeout": rng.choice((None, "3600s", "86400s")),
            "strategy": rng.choice(("STANDARD", "SPOT", "FLEX_START")),
            "output": rng.random() < 0.5,
        }
        if rng.random() < 0.2:
            rng.choice(BREAKERS)(plan)
        jobs.append(_document(plan, camel=rng.random() < 0.6, enum_ints=rng.random() < 0.3))
    return jobs


def fixture_jobs() -> list[dict[str, Any]]:
    """The sample jobs of fixtures/jobs (JSON or YAML)."""
    jobs = []
    for path in sorted((ROOT / "fixtures" / "jobs").glob("*")):
        if path.suffix == ".json":
            jobs.append(json.loads(path.read_text()))
        elif path.suffix in (".yaml", ".yml"):
            jobs.append(yaml.safe_load(path.read_text()))
    return jobs


def _rate(run: Callable[[Sequence[Any]], None], jobs: Sequence[Any], rounds: int) -> float:
    """Jobs per second of the best of ``rounds`` passes (the least disturbed by neighbours)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        run(jobs)
        best = min(best, time.perf_counter() - start)
    return len(jobs) / best


def _validate_all(jobs: Sequence[Any]) -> None:
    for job in jobs:
        validate(job)


_PB = CustomJob.pb()


def _parse_all(jobs: Sequence[Any]) -> None:
    for job in jobs:
        with contextlib.suppress(json_format.ParseError):  # stops at its first problem
            json_format.ParseDict(job, _PB())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="generated jobs (10000)")
    parser.add_argument("--rounds", type=int, default=3, help="passes per measure, best kept")
    args = parser.parse_args(argv)

    fixtures = fixture_jobs()
    fixture_label = f"fixtures/jobs ({len(fixtures)} files)"
    if not fixtures:
        fixtures = generated_jobs(20, seed=1)
        fixture_label = "fixtures/jobs missing: 20 generated"
    generated = generated_jobs(args.jobs)
    invalid = sum(not validate(job).ok for job in generated)

    # Fixtures are few: repeat them to time a comparable number of validations.
    repeated = fixtures * max(1, 2_000 // len(fixtures))
    rows = []
    for label, jobs in ((fixture_label, repeated), (f"generated ({len(generated):,})", generated)):
        checks = _rate(_validate_all, jobs, args.rounds)
        parses = _rate(_parse_all, jobs, args.rounds)
        rows.append((label, checks, parses))

    print(f"validate() over CustomJob documents, {args.rounds} rounds, best kept, one core")
    print(f"generated set: {invalid:,} of {len(generated):,} jobs have an error\n")
    header = ("job set", "validate/s", "ParseDict/s", "validate : ParseDict")
    widths = (max(len(header[0]), *(len(r[0]) for r in rows)), 12, 12, 22)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for label, checks, parses in rows:
        cells = (label, f"{checks:,.0f}", f"{parses:,.0f}", f"{checks / parses:.2f}x")
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    generated_rate = rows[-1][1]
    verdict = "met" if generated_rate >= GOAL else "NOT met"
    print(f"\ngoal >= {GOAL:,} validations/s on the generated set: {verdict}")
    return 0 if generated_rate >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
