"""``cjob-emu run``: a CustomJob or a pipeline on this machine, as on Vertex.

What runs: a CustomJob or CustomJobSpec file, a compiled pipeline, a pipeline (or one
component) in a ``.py`` file, a job made of gcloud's ``--worker-pool-spec`` flags, or
your code as ``gcloud ai custom-jobs local-run`` runs it (:mod:`.gcloud_options`).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from cjob_emu.cli.exit_codes import EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK
from cjob_emu.cli.gcloud_options import (
    add_create_options,
    add_local_run_options,
    as_written,
    build_job,
    job_flags_given,
    local_run_requested,
)
from cjob_emu.cli.replica_options import add_replica_options, run_options
from cjob_emu.cli.style import print_json
from cjob_emu.cli.validate import STRICT_HELP
from cjob_emu.errors import InputError, InvalidJobError

if TYPE_CHECKING:
    from cjob_emu.executor import ImageMap
    from cjob_emu.gcloud_flags import LocalPackage


def add_parser(commands: Any) -> None:
    """Add ``run`` to the CLI's subcommands."""
    parser = commands.add_parser(
        "run",
        help="run a CustomJob or a KFP pipeline on this machine, as Vertex would",
        description="Validate the job, then run every replica (Docker containers, or host "
        "processes where no engine answers) with the environment Vertex gives it; stream "
        "their logs; exit 0 when the job SUCCEEDED, 1 when it FAILED, 130 on Ctrl-C. "
        "A pipeline (compiled, or a @dsl.pipeline in FILE.py, or the pipeline or component "
        "NAME of FILE.py:NAME) runs task by task: custom-job tasks as GCPC's launcher would "
        "create them, every replica on the same backend; other tasks through kfp.local; "
        "a summary lists every option ignored locally.",
    )
    parser.add_argument(
        "inputs",
        nargs="*",
        metavar="FILE",
        help="a CustomJob or CustomJobSpec file (JSON or YAML), a compiled pipeline, or "
        "FILE.py[:NAME]; with local-run's flags, the application's arguments (after --)",
    )
    _pipeline_options(parser)
    add_replica_options(parser)
    add_create_options(parser)
    add_local_run_options(parser)
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
    """Run the input: a pipeline task by task, or a CustomJob (its file read once)."""
    # imported on use: it loads the aiplatform types (~1 s; see cli.validate)
    from cjob_emu.cli.inputs import read_input

    source, app_args = _source_and_app_args(args)
    found = read_input(source) if source is not None else None
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        if found is not None and found.pipeline is not None:
            if job_flags_given(args) or args.display_name:
                raise InputError("gcloud's job flags apply to a CustomJob, not to a pipeline")
            # only a pipeline needs kfp, an optional dependency
            from cjob_emu.cli.run_pipeline import run_pipeline_file

            return run_pipeline_file(args, found.pipeline)
        if args.param or args.artifact or args.pipeline_root or args.max_parallel:
            raise InputError(
                "--param, --artifact, --pipeline-root and --max-parallel apply to pipelines"
            )
        if args.project:  # accepted so a gcloud command's flags paste as they are
            _say("--project: not used by a CustomJob run locally")
        document = found.job if found is not None else None
        return _run_custom_job(args, document, source, app_args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _source_and_app_args(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """The job or pipeline file (positional or --config), and local-run's application
    arguments (every positional, with local-run's flags)."""
    if local_run_requested(args):
        if args.config:
            raise InputError("--config and local-run's flags: give one or the other")
        return None, list(args.inputs)
    files = [*args.inputs, *([args.config] if args.config else [])]
    if len(files) > 1:
        raise InputError(
            f"one FILE at a time, not {len(files)} ({' '.join(files)}); arguments after -- "
            "are the application's with local-run's --executor-image-uri"
        )
    return (files[0] if files else None), []


def _run_custom_job(
    args: argparse.Namespace,
    document: Mapping[str, Any] | None,
    source: str | None,
    app_args: Sequence[str],
) -> int:
    from cjob_emu import cluster
    from cjob_emu.cli.console import RunConsole
    from cjob_emu.executor import ImageMap, get_backend, submit

    image_map = ImageMap.load(args.image_map_file, args.image_map)
    backend: Any = args.backend

    def package_task(package: LocalPackage) -> dict[str, Any]:
        nonlocal backend
        backend = get_backend(args.backend)  # the package runs differently on each
        return _package_task(package, backend.name, image_map)

    job = build_job(args, document, source, package_task=package_task, app_args=app_args)
    # With --json, stdout carries only the final JSON; the run's output goes to stderr.
    stream = sys.stderr if args.json else sys.stdout
    console = RunConsole(stream, cluster.replicas(job), live=stream.isatty())
    try:
        running = submit(
            job,
            backend=backend,
            gcs_root=args.gcs_root,
            run_dir=args.run_dir,
            image_map=image_map,
            options=run_options(args),
            timeout=args.timeout,
            max_restarts=args.max_restarts,
            location=args.location,
            strict=args.strict,
            on_event=console.on_event,
        )
    except InvalidJobError as exc:
        raise InvalidJobError(as_written(document, exc.report)) from None
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


def _package_task(package: LocalPackage, backend: str, image_map: ImageMap) -> dict[str, Any]:
    """How a local package runs: its image built on the executor image (docker), or its
    script run on this host from its directory (process)."""
    # imported on use: the docker SDK is needed for a local package only
    from cjob_emu.package_image import check_package, ensure_package_image

    directory = check_package(package).resolve()
    if backend == "process":
        wanted = package.requirements or package.extra_packages
        if wanted or (directory / "requirements.txt").is_file():
            _say(
                "process backend: the package's requirements are not installed; it runs "
                "with this Python's packages"
            )
        return package.host_task(str(directory))
    from cjob_emu.images import engine_client

    image = ensure_package_image(
        engine_client(), package, base=image_map.resolve(package.executor_image_uri), log=_say
    )
    _say(f"local package {package.path}: {image.describe()}")
    return {"image_uri": image.tag}


def _say(line: str) -> None:
    print(f"cjob-emu: {line}", file=sys.stderr, flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
