"""How much the executor's docker backend costs over starting the containers by hand.

Runs a trivial 4-replica job (a chief and three workers that print a line and exit)
three ways and prints, side by side, the time from the start of the run until every
replica is running, and the wall time of the whole run (removal of containers and
network included):

- ``run_job``: through cjob-emu's executor API (validation, the job state machine,
  log streaming, the docker backend), as a user runs it;
- ``backend``: the docker backend alone (prepare, every replica started in parallel
  threads, wait, teardown), which shows what the backend adds over the SDK;
- ``docker SDK``: the same four containers on a network of their own, created and
  started straight through the docker SDK in parallel threads, then removed.

The ratios compare each to the docker SDK (the goal: at most 1.2x). Each figure is
the median of ``--repeat`` rounds taken in turn, after one warm-up round of each.

    python benchmarks/executor.py [--repeat 7] [--image TAG]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from cjob_emu.cluster import VERTEX_PORT, ClusterOptions, Replica, replica_env, replicas
from cjob_emu.spec import load_job

REPLICAS = 4
COMMAND = ["python3", "-c", "print('ready')"]


@dataclass(frozen=True)
class Timing:
    """Seconds from the start of a run until all replicas ran, and until it was over."""

    to_running: float
    wall: float


def trivial_job(image: str) -> Any:
    """A chief and REPLICAS-1 workers that print a line and exit."""
    pool: dict[str, Any] = {
        "machineSpec": {"machineType": "n1-standard-4"},
        "containerSpec": {"imageUri": image, "command": COMMAND},
    }
    return load_job(
        {
            "displayName": "benchmark-trivial",
            "jobSpec": {
                "workerPoolSpecs": [
                    {**pool, "replicaCount": 1},
                    {**pool, "replicaCount": REPLICAS - 1},
                ]
            },
        }
    )


def run_executor(image: str, scratch: Path) -> Timing:
    """The job through cjob-emu's executor API with the docker backend."""
    from cjob_emu.executor import StateChanged, submit

    started = time.perf_counter()
    all_running: list[float] = []

    def on_event(event: Any) -> None:
        if isinstance(event, StateChanged) and event.state.name == "JOB_STATE_RUNNING":
            all_running.append(time.perf_counter())

    running = submit(
        trivial_job(image),
        backend="docker",
        gcs_root=scratch / "gcs",
        run_dir=scratch / f"run-{uuid.uuid4().hex[:8]}",
        on_event=on_event,
    )
    result = running.wait()
    wall = time.perf_counter() - started
    if not result.succeeded:
        raise SystemExit(f"the benchmark job did not succeed: {result.job.error.message}")
    return Timing(all_running[0] - started, wall)


def run_backend(image: str, scratch: Path) -> Timing:
    """The job on the docker backend alone, every replica started in its own thread."""
    from cjob_emu.executor.backend import ReplicaLaunch, RunSpec, owner_labels
    from cjob_emu.executor.docker import DockerBackend
    from cjob_emu.executor.gcs import GcsRoot

    job = trivial_job(image)
    run_id = f"bench-{uuid.uuid4().hex[:10]}"
    started = time.perf_counter()
    backend = DockerBackend()
    run = RunSpec(
        run_id=run_id,
        job=job,
        replicas=tuple(replicas(job)),
        gcs=GcsRoot.at(scratch / "gcs"),
        run_dir=scratch,
        labels=owner_labels(run_id),
        images={image: image},
    )
    try:
        backend.prepare(run)
        options = ClusterOptions(run_id=run_id)

        def address(replica: Replica) -> str:
            return backend.address(run, replica)

        def start(replica: Replica) -> Any:
            launch = ReplicaLaunch(
                run=run,
                replica=replica,
                attempt=0,
                image=image,
                command=tuple(COMMAND),
                args=(),
                env=replica_env(job, replica, options=options, address=address),
                hostname=address(replica).rpartition(":")[0],
                address=address(replica),
            )
            return backend.start(launch)

        handles = _in_threads(start, list(run.replicas))
        to_running = time.perf_counter() - started
        codes = _in_threads(lambda handle: (list(handle.lines()), handle.wait())[1], handles)
        _in_threads(lambda handle: handle.close(), handles)
    finally:
        backend.teardown(run)
    wall = time.perf_counter() - started
    if any(codes):
        raise SystemExit(f"a replica failed on the backend: exit codes {codes}")
    return Timing(to_running, wall)


def run_direct(client: Any, image: str) -> Timing:
    """The same containers and network, created, started and removed straight through the SDK."""
    job = trivial_job(image)
    tag = uuid.uuid4().hex[:10]
    network_name = f"bench-{tag}"
    labels = {"cjob-emu.benchmark": tag}

    def hostname(replica: Replica) -> str:
        return f"cmle-training-{replica.pool_name}-{tag}-{replica.index}"

    def address(replica: Replica) -> str:
        return f"{hostname(replica)}:{VERTEX_PORT}"

    started = time.perf_counter()
    network = client.api.create_network(network_name, driver="bridge", labels=labels)["Id"]

    def start(replica: Replica) -> str:
        container: str = client.api.create_container(
            image,
            entrypoint=COMMAND,
            environment=replica_env(job, replica, address=address),
            hostname=hostname(replica),
            labels=labels,
            host_config=client.api.create_host_config(network_mode=network_name),
            networking_config=client.api.create_networking_config(
                {network_name: client.api.create_endpoint_config(aliases=[hostname(replica)])}
            ),
        )["Id"]
        client.api.start(container)
        return container

    ids = _in_threads(start, replicas(job))
    to_running = time.perf_counter() - started
    codes = _in_threads(lambda cid: client.api.wait(cid)["StatusCode"], ids)
    _in_threads(lambda cid: client.api.remove_container(cid, force=True), ids)
    client.api.remove_network(network)
    wall = time.perf_counter() - started
    if any(codes):
        raise SystemExit(f"a directly started container failed: exit codes {codes}")
    return Timing(to_running, wall)


def _in_threads(work: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    results: list[Any] = [None] * len(items)

    def one(i: int) -> None:
        results[i] = work(items[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(items))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="rounds to take the median of")
    parser.add_argument("--image", help="image to run (default: the test image, built if needed)")
    args = parser.parse_args(argv)
    from cjob_emu import images

    client = docker.from_env()
    image = args.image or images.ensure_recipe_image("test", client=client)
    ways: dict[str, Callable[[Path], Timing]] = {
        "run_job": lambda scratch: run_executor(image, scratch),
        "backend": lambda scratch: run_backend(image, scratch),
        "docker SDK": lambda scratch: run_direct(client, image),
    }
    timings: dict[str, list[Timing]] = {name: [] for name in ways}
    with tempfile.TemporaryDirectory(prefix="cjob-emu-bench-") as scratch:
        for round_ in range(args.repeat + 1):
            for name, way in ways.items():
                timing = way(Path(scratch))
                if round_:  # round 0 warms up engine caches and imports
                    timings[name].append(timing)

    def median(name: str, field: str) -> float:
        return statistics.median(getattr(t, field) for t in timings[name])

    print(f"trivial {REPLICAS}-replica job, image {image}, median of {args.repeat} rounds")
    header = "".join(f"{name:>12}" for name in ways)
    print(f"{'':30}{header}{'run_job/SDK':>13}{'backend/SDK':>13}")
    for label, field in (("run -> all replicas running", "to_running"), ("wall time", "wall")):
        values = {name: median(name, field) for name in ways}
        cells = "".join(f"{value:>11.2f}s" for value in values.values())
        direct = values["docker SDK"]
        print(
            f"{label:30}{cells}{values['run_job'] / direct:>12.2f}x"
            f"{values['backend'] / direct:>12.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
