"""``cjob-emu run FILE``: a CustomJob or a compiled pipeline on this machine, as on Vertex."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType
from typing import Any

from cjob_emu.cli.exit_codes import EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK
from cjob_emu.cli.replica_options import add_replica_options, run_options
from cjob_emu.cli.style import print_json
from cjob_emu.cli.validate import STRICT_HELP
from cjob_emu.errors import InputError


def add_parser(commands: Any) -> None:
    """Add ``run`` to the CLI's subcommands."""
    parser = commands.add_parser(
        "run",
        help="run a CustomJob or a compiled KFP pipeline on this machine, as Vertex would",
        description="Validate the job, then run every replica (Docker containers, or host "
        "processes where no engine answers) with the environment Vertex gives it; stream "
        "their logs; exit 0 when the job SUCCEEDED, 1 when it FAILED, 130 on Ctrl-C. "
        "A compiled pipeline runs task by task: custom-job tasks as GCPC's launcher would "
        "create them, every replica on the same backend; other tasks through kfp.local; "
        "a summary lists every option ignored locally.",
    )
    parser.add_argument("file", metavar="JOB_OR_PIPELINE_FILE")
    _pipeline_options(parser)
    add_replica_options(parser)
    parser.add_argument("--strict", action="store_true", help=STRICT_HELP)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the final job (REST JSON) and per-replica exit codes on stdout",
    )
    parser.set_defaults(handler=run)


def _pipeline_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-parallel",
        type=int,
        default=None,
        metavar="N",
        help="a pipeline's container tasks running at once (default: the machine's cores)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="pipeline parameter (repeatable; lists and structs as JSON)",
    )
    parser.add_argument(
        "--artifact",
        action="append",
        default=[],
        metavar="NAME=URI_OR_PATH",
        help="pipeline input artifact: a gs:// URI under --gcs-root, or a host path "
        "(copied to gs://cjob-emu/inputs/NAME/ unless inside --gcs-root); repeatable",
    )
    parser.add_argument(
        "--pipeline-root",
        metavar="GS_URI",
        help="pipeline root (default: the pipeline's gs:// root, else gs://cjob-emu/pipeline_root)",
    )
    parser.add_argument(
        "--project",
        help="the pipeline's project, for {{$.pipeline_google_cloud_project_id}} "
        "(default: cjob-emu-local)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the file: a compiled pipeline task by task, or a CustomJob (read once)."""
    # imported on use: it loads the aiplatform types (~1 s; see cli.validate)
    from cjob_emu.cli.inputs import read_input

    found = read_input(args.file)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        if found.pipeline is not None:
            # only a pipeline needs kfp, an optional dependency
            from cjob_emu.cli.run_pipeline import run_pipeline_file

            return run_pipeline_file(args, found.pipeline)
        if args.param or args.artifact or args.pipeline_root or args.project or args.max_parallel:
            raise InputError(
                "--param, --artifact, --pipeline-root, --project and --max-parallel apply to "
                "compiled pipelines"
            )
        return _run_custom_job(args, found.job or {})
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_custom_job(args: argparse.Namespace, document: dict[str, Any]) -> int:
    from cjob_emu import cluster
    from cjob_emu.cli.console import RunConsole
    from cjob_emu.executor import ImageMap, submit
    from cjob_emu.spec import load_job

    job = load_job(document)
    # With --json, stdout carries only the final JSON; the run's output goes to stderr.
    stream = sys.stderr if args.json else sys.stdout
    console = RunConsole(stream, cluster.replicas(job), live=stream.isatty())
    running = submit(
        job,
        backend=args.backend,
        gcs_root=args.gcs_root,
        run_dir=args.run_dir,
        image_map=ImageMap.load(args.image_map_file, args.image_map),
        options=run_options(args),
        timeout=args.timeout,
        max_restarts=args.max_restarts,
        location=args.location,
        strict=args.strict,
        on_event=console.on_event,
    )
    console.running = running
    interrupted = False
    try:
        while not running.done:
            console.refresh()
            running.join(0.5)
    except KeyboardInterrupt:
        interrupted = True
        # A second Ctrl-C must not cut the cleanup short and leave replicas behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("cjob-emu: cancelling the job (stopping every replica)", file=sys.stderr)
        running.cancel()
    try:
        result = running.wait()
    finally:
        console.finish(running.result)
    if args.json:
        print_json(result.to_dict())
    if interrupted:
        return EXIT_INTERRUPTED
    if result.succeeded:
        return EXIT_OK
    return EXIT_INTERRUPTED if result.state.name == "JOB_STATE_CANCELLED" else EXIT_INVALID


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
