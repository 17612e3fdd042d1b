"""The ``run`` options that shape replicas, for a CustomJob file and a pipeline alike."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cjob_emu.executor import RunOptions


def add_replica_options(parser: argparse.ArgumentParser) -> None:
    """Backend, gs:// root, images, restarts and the docker-only switches."""
    parser.add_argument(
        "--backend",
        choices=["auto", "docker", "process"],
        default="auto",
        help="where replicas run (default: docker where an engine answers, else process)",
    )
    parser.add_argument(
        "--gcs-root", metavar="DIR", help="directory standing for gs:// (default: .cjob-emu/gcs)"
    )
    parser.add_argument(
        "--run-dir", metavar="DIR", help="logs and final job (default: .cjob-emu/runs/RUN_ID)"
    )
    parser.add_argument(
        "--image-map",
        action="append",
        default=[],
        metavar="URI=TAG",
        help="run local image TAG for image URI (repeatable; URI may end in *)",
    )
    parser.add_argument(
        "--image-map-file", metavar="FILE", help="YAML/JSON mapping of image URI to local tag"
    )
    parser.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="replaces job_spec.scheduling.timeout"
    )
    parser.add_argument(
        "--max-restarts",
        type=int,
        default=3,
        metavar="N",
        help="restarts allowed by restart_job_on_worker_restart (default: 3)",
    )
    parser.add_argument(
        "--location",
        "--region",
        default=None,
        help="region to validate the job for; a pipeline's location (default: us-central1)",
    )
    parser.add_argument("--gpus", action="store_true", help="pass host GPUs through (docker)")
    parser.add_argument("--pull", action="store_true", help="pull missing images (docker)")
    parser.add_argument(
        "--resource-limits",
        action="store_true",
        help="limit CPU and memory from the machine type, scaled to the host (docker)",
    )
    parser.add_argument(
        "--as-image-user",
        action="store_true",
        help="run replicas as the image's user, not as yours (docker)",
    )
    parser.add_argument(
        "--stop-grace",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="between SIGTERM and SIGKILL when stopping replicas (default: 2)",
    )


def run_options(args: argparse.Namespace) -> RunOptions:
    """The ``run`` command's RunOptions, for a CustomJob file and a pipeline alike."""
    # imported on use: the executor loads the aiplatform types (~1 s; see cli.validate)
    from cjob_emu.executor import RunOptions

    return RunOptions(
        gpus=args.gpus,
        pull=args.pull,
        run_as_host_user=not args.as_image_user,
        resource_limits=args.resource_limits,
        stop_grace=args.stop_grace,
    )
