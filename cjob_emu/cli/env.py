"""``cjob-emu env FILE``: the environment variables each replica would see."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cjob_emu.cli.exit_codes import EXIT_OK
from cjob_emu.cli.style import Style, print_json
from cjob_emu.errors import InvalidJobError


def add_parser(commands: Any) -> None:
    """Add ``env`` to the CLI's subcommands."""
    parser = commands.add_parser(
        "env",
        help="show the environment variables each replica would see",
        description="Print CLUSTER_SPEC, TF_CONFIG, AIP_* and the pool's own variables "
        "for every replica of the job, as Vertex sets them.",
    )
    parser.add_argument("file", metavar="FILE", help="a CustomJob or CustomJobSpec file")
    parser.add_argument(
        "--display-name", help="the job's display name (default: a CustomJobSpec's file name)"
    )
    parser.add_argument("--replica", metavar="NAME", help="only this replica, e.g. workerpool1-0")
    parser.add_argument("--json", action="store_true", help="an object keyed by replica name")
    parser.add_argument("--trial", help="hyperparameter-tuning trial id")
    parser.add_argument(
        "--location", help="CLOUD_ML_REGION (default: the job name's location, else us-central1)"
    )
    parser.add_argument(
        "--project-number", default=None, help="CLOUD_ML_PROJECT_ID (default: a fixed fake)"
    )
    parser.add_argument(
        "--no-pytorch-env",
        action="store_true",
        help="leave out MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK",
    )
    parser.add_argument(
        "--cluster-spec-job",
        choices=["trainer", "string", "object"],
        default="trainer",
        help="CLUSTER_SPEC.job: the legacy trainer JSON string (default, as seen on Vertex), "
        "or the CustomJobSpec as a JSON string or object (as the docs describe it)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print every replica's environment (or the one asked for)."""
    # imported on use: the aiplatform types take ~1 s to load (see cli.validate)
    from cjob_emu import cluster
    from cjob_emu.spec import load_job
    from cjob_emu.validate import Problem, ValidationReport

    job = load_job(args.file, display_name=args.display_name)
    options = cluster.ClusterOptions(
        project_number=args.project_number,
        region=args.location,
        pytorch_env=not args.no_pytorch_env,
        cluster_spec_job_as=args.cluster_spec_job,
    )
    replicas = cluster.replicas(job)
    if not replicas:
        problem = Problem(
            field="job_spec.worker_pool_specs",
            message="The job has no replicas: give pool 0 a machine and a replica count.",
            severity="error",
        )
        raise InvalidJobError(ValidationReport(errors=[problem], warnings=[]))
    if args.replica:
        replicas = [cluster.replica_by_name(job, args.replica)]
    envs = {
        r.name: cluster.replica_env(job, r, options=options, trial=args.trial) for r in replicas
    }
    if args.json:
        print_json(envs)
        return EXIT_OK
    style = Style(sys.stdout)
    for name, env in envs.items():
        print(style.bold(f"# {name}"))
        for key, value in env.items():
            print(f"{key}={value}")
        print()
    return EXIT_OK
