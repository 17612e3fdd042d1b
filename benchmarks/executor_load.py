"""The executor under load: many multi-replica jobs back to back and at once.

Each job has a chief and two workers. Every replica writes its CLUSTER_SPEC task
(pool type and index) and the job id it sees to ``gs://<bucket>/load/<job>/<replica>.json``;
the chief waits until both workers' files exist, so a SUCCEEDED job means all three
wrote. After the runs this checks, for every job: SUCCEEDED, each replica's file names
the right role and job, and nothing of the run is left (docker: no container or network
labelled with its run id; process: no process carrying its run id, no run record).

Prints the wall time of the back-to-back series (``--jobs`` jobs, one ``run_job``
after another) and of the concurrent batch (``--concurrent`` jobs through ``submit``
at once), with per-job medians and maxima; exits 1 if any check fails.

    python benchmarks/executor_load.py [--backend docker|process] [--jobs 20]
        [--concurrent 5] [--image TAG]

``--image`` defaults to the test image (built from cjob_emu/image_recipes/test if missing).
The tests run the same code (tests/executor/test_executor_load.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.cloud.aiplatform_v1 import CustomJob, JobState

from cjob_emu.executor import JobResult, RunOptions, run_job, submit
from cjob_emu.spec import load_job

BUCKET = "cjob-emu-load"
IMAGE = "us-docker.pkg.dev/cjob-emu/load/trainer:1"
REPLICAS = ("workerpool0-0", "workerpool1-0", "workerpool1-1")
FAST = RunOptions(stop_grace=1)

# The chief exits only once both workers wrote: the primary's exit ends the job and stops
# the others. The output directory is an argument, so the process backend rewrites /gcs.
_REPLICA = """
import json, os, sys, time
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
task = json.loads(os.environ["CLUSTER_SPEC"])["task"]
name = f"{task['type']}-{task['index']}"
record = {"task": task, "job_id": os.environ["CLOUD_ML_JOB_ID"]}
with open(os.path.join(out, name + ".json.tmp"), "w") as f:
    json.dump(record, f)
os.replace(os.path.join(out, name + ".json.tmp"), os.path.join(out, name + ".json"))
if task["type"] == "workerpool0":
    deadline = time.time() + 60
    wanted = [os.path.join(out, f"workerpool1-{i}.json") for i in (0, 1)]
    while not all(os.path.exists(p) for p in wanted):
        if time.time() > deadline:
            sys.exit("workers did not write within 60s")
        time.sleep(0.05)
"""


def load_job_spec(index: int) -> CustomJob:
    """Job ``index``: a chief and two workers writing their roles under load/job-<index>."""
    output = f"/gcs/{BUCKET}/load/job-{index}"
    pool: dict[str, Any] = {
        "machineSpec": {"machineType": "n1-standard-4"},
        "containerSpec": {"imageUri": IMAGE, "command": ["python3", "-c", _REPLICA, output]},
    }
    return load_job(
        {
            "displayName": f"load-{index}",
            "jobSpec": {
                "workerPoolSpecs": [{**pool, "replicaCount": "1"}, {**pool, "replicaCount": "2"}]
            },
        }
    )


@dataclass
class Series:
    """One series of jobs: its wall time, each job's seconds, and what went wrong."""

    name: str
    jobs: int
    wall: float = 0.0
    per_job: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        if not self.per_job:
            return f"{self.name}: no jobs"
        return (
            f"{self.name}: {self.jobs} jobs x {len(REPLICAS)} replicas in {self.wall:.1f}s "
            f"({self.wall / self.jobs:.2f}s/job; per job median "
            f"{statistics.median(self.per_job):.2f}s, max {max(self.per_job):.2f}s)"
        )


def check(result: JobResult, index: int, gcs_root: Path, backend: str) -> list[str]:
    """What is wrong with job ``index``'s result, its outputs and its leftovers."""
    problems = []
    if result.state != JobState.JOB_STATE_SUCCEEDED:
        problems.append(f"job {index}: {result.state.name}: {result.job.error.message}")
    job_id = result.job.name.rsplit("/", 1)[-1]
    for name in REPLICAS:
        path = gcs_root / BUCKET / "load" / f"job-{index}" / f"{name}.json"
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            problems.append(f"job {index}: {name} wrote no record: {exc}")
            continue
        pool, replica_index = name.rsplit("-", 1)
        if record["task"] != {"type": pool, "index": int(replica_index)}:
            problems.append(f"job {index}: {name} saw task {record['task']}")
        if record["job_id"] != job_id:
            problems.append(f"job {index}: {name} saw job id {record['job_id']}, not {job_id}")
    problems += [f"job {index}: left {what}" for what in leftovers(result.run_id, backend)]
    return problems


def leftovers(run_id: str, backend: str) -> list[str]:
    """What of run ``run_id`` is still there (containers, networks, processes, records)."""
    if backend == "docker":
        from cjob_emu.executor.docker_engine import shared_client as _shared_client
        from cjob_emu.executor.docker_resources import run_selector

        client = _shared_client()
        selector = run_selector(run_id)
        found = [f"container {c['Id'][:12]}" for c in client.api.containers(
            all=True, filters=selector)]
        return found + [f"network {n['Name']}" for n in client.api.networks(filters=selector)]
    from cjob_emu.executor.process import run_processes, state_dir

    found = [f"process {pid}" for pid in run_processes(run_id)]
    if (state_dir() / f"{run_id}.json").exists():
        found.append(f"run record {state_dir() / f'{run_id}.json'}")
    return found


def run_series(
    backend: str, jobs: int, *, concurrent: bool, work: Path, image: str | None,
    first_index: int = 0,
) -> Series:
    """Run ``jobs`` jobs one after another (or all at once) and check every one."""
    series = Series("concurrent" if concurrent else "back-to-back", jobs)
    gcs_root = work / "gcs"
    kwargs: dict[str, Any] = {
        "backend": backend, "gcs_root": gcs_root, "options": FAST, "timeout": 120,
    }
    if image is not None:
        kwargs["image_map"] = {IMAGE: image}
    indexes = range(first_index, first_index + jobs)
    results: dict[int, JobResult] = {}
    started = time.perf_counter()
    if concurrent:
        submitted = {}
        for i in indexes:
            submitted[i] = (time.perf_counter(), submit(
                load_job_spec(i), run_dir=work / "runs" / f"job-{i}", **kwargs))
        for i, (began, running) in submitted.items():
            results[i] = running.wait(300)
            series.per_job.append(_ended(results[i]) - began)
    else:
        for i in indexes:
            began = time.perf_counter()
            results[i] = run_job(load_job_spec(i), run_dir=work / "runs" / f"job-{i}", **kwargs)
            series.per_job.append(time.perf_counter() - began)
    series.wall = time.perf_counter() - started
    for i, result in results.items():
        series.problems += check(result, i, gcs_root, backend)
    return series


def _ended(result: JobResult) -> float:
    """perf_counter() time at which the job ended (from its end_time)."""
    return time.perf_counter() - (time.time() - result.job.end_time.timestamp())


def run_load(
    backend: str, jobs: int, concurrent: int, work: Path, image: str | None,
    report: Callable[[str], None] = print,
) -> list[Series]:
    """The back-to-back series, then the concurrent batch; each reported as it ends."""
    done = []
    for series_jobs, at_once, first in ((jobs, False, 0), (concurrent, True, jobs)):
        if series_jobs <= 0:
            continue
        series = run_series(backend, series_jobs, concurrent=at_once, work=work,
                            image=image, first_index=first)
        report(f"{backend} {series.line()}")
        for problem in series.problems:
            report(f"  PROBLEM {problem}")
        done.append(series)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["docker", "process"], default="docker")
    parser.add_argument("--jobs", type=int, default=20, help="jobs run back to back")
    parser.add_argument("--concurrent", type=int, default=5, help="jobs submitted at once")
    parser.add_argument("--image", help="image to run (docker; default: the test image)")
    args = parser.parse_args(argv)
    image = None
    if args.backend == "docker":
        from cjob_emu import images

        image = args.image or images.ensure_recipe_image("test")
    with tempfile.TemporaryDirectory(prefix="cjob-emu-load-") as scratch:
        done = run_load(args.backend, args.jobs, args.concurrent, Path(scratch), image)
    return 1 if any(s.problems for s in done) else 0


if __name__ == "__main__":
    sys.exit(main())
