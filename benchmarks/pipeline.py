"""How close the local pipeline runner comes to the ideal schedule of a pipeline.

The pipeline: 4 independent tasks of ``--seconds`` each, then a ``dsl.ParallelFor``
of 6 iterations with ``parallelism=3``; every task a CustomJob (a converted
component, one replica) that reports when it started and ended. Run on each backend,
with ``max_parallel=4``, it prints side by side:

- ``wall``: the run's wall time;
- ``sequential``: the sum of the tasks' own durations as the runner measured them
  (a CustomJob's start-up and teardown included): one task at a time;
- ``ideal``: the best schedule of those same durations under the pipeline's bounds
  (4 lanes for the independent tasks, then 3 for the loop), the baseline;
- ``sleep``: how long a task's component itself ran, on average (the rest of a task's
  duration is its CustomJob's start-up and teardown).

The goal: ``wall`` within 1.2x of ``ideal``. (kfp.local tasks run one at a time
among themselves, since kfp.local changes process-wide state; CustomJob tasks are
what runs side by side.)

    python benchmarks/pipeline.py [--seconds 2] [--backend process docker] [--image TAG]

No ``from __future__ import annotations``: KFP reads the component's annotations as types.
"""

import argparse
import heapq
import json
import sys
import tempfile
import time
from pathlib import Path

from kfp import compiler, dsl

from cjob_emu.converter import create_custom_training_job_from_component
from cjob_emu.pipelines import run_pipeline

BASE_IMAGE = "python:3.11"


@dsl.component(base_image=BASE_IMAGE)
def stamp(seconds: float) -> str:
    import json
    import time

    start = time.time()
    time.sleep(seconds)
    return json.dumps([start, time.time()])


stamp_job = create_custom_training_job_from_component(stamp)


@dsl.pipeline(name="schedule")
def schedule(seconds: float = 2.0) -> None:
    first = [stamp_job(seconds=seconds) for _ in range(4)]
    with dsl.ParallelFor([1, 2, 3, 4, 5, 6], parallelism=3):
        stamp_job(seconds=seconds).after(*first)


def lanes(durations: list[float], width: int) -> float:
    """The time ``durations`` take on ``width`` lanes, each task started as soon as a
    lane is free, in the given order (how the runner starts them)."""
    free = [0.0] * width
    for duration in durations:
        heapq.heapreplace(free, free[0] + duration)
    return max(free)


def measure(backend: str, seconds: float, image: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "schedule.yaml"
        compiler.Compiler().compile(schedule, str(path))
        started = time.monotonic()
        run = run_pipeline(
            path,
            {"seconds": seconds},
            backend=backend,
            gcs_root=Path(scratch) / "gcs",
            image_map={BASE_IMAGE: image} if image else None,
            echo=False,
            max_parallel=4,
        )
        wall = time.monotonic() - started
    if not run.succeeded:
        raise SystemExit(f"{backend}: the pipeline failed: {run.failed_task}")
    took = {
        name: (task.end_time or 0.0) - (task.start_time or 0.0)
        for name, task in run.tasks.items()
        if task.kind == "custom-job"
    }
    first = [seconds for name, seconds in took.items() if "for-loop" not in name]
    loop = [seconds for name, seconds in took.items() if "for-loop" in name]
    inside = [json.loads(t.outputs["Output"]) for t in run.tasks.values() if t.kind == "custom-job"]
    return {
        "wall": wall,
        "sequential": sum(first) + sum(loop),
        "ideal": lanes(first, 4) + lanes(loop, 3),
        "component": sum(end - start for start, end in inside) / len(inside),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--backend", nargs="+", default=["process", "docker"])
    parser.add_argument("--image", help="local image for python:3.11 (docker backend)")
    args = parser.parse_args()
    print(
        f"{'backend':<8} {'wall':>7} {'sequential':>11} {'ideal':>7} {'wall/ideal':>11} "
        f"{'sleep':>6}"
    )
    worst = 0.0
    for backend in args.backend:
        image = args.image
        if backend == "docker" and image is None:
            from cjob_emu import images

            image = images.ensure_recipe_image("test")
        m = measure(backend, args.seconds, image)
        ratio = m["wall"] / m["ideal"]
        worst = max(worst, ratio)
        print(
            f"{backend:<8} {m['wall']:>6.1f}s {m['sequential']:>10.1f}s {m['ideal']:>6.1f}s "
            f"{ratio:>10.2f}x {m['component']:>5.1f}s"
        )
    print(f"goal: wall within 1.2x of ideal: {'met' if worst <= 1.2 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
