"""The ``cjob-emu`` command: argument parsing and printing only.

Exit codes, the same for every command: 0 success (valid, SUCCEEDED); 1 the job
is invalid or FAILED; 2 usage error or unreadable input; 3 environment problem
(no engine, missing image, port in use); 130 interrupted or CANCELLED by Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from cjob_emu import __version__
from cjob_emu.errors import CjobEmuError, InputError, InvalidJobError

if TYPE_CHECKING:
    from cjob_emu.validate import ValidationReport

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERRUPTED = 130

_STRICT_HELP = (
    "every validation warning is an error (what is not emulated locally is no warning "
    "and never fails a run)"
)


class _Style:
    """ANSI colours when writing to a terminal, plain text otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.enabled = stream.isatty()

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text

    def red(self, text: str) -> str:
        return self._wrap("31", text)

    def yellow(self, text: str) -> str:
        return self._wrap("33", text)

    def green(self, text: str) -> str:
        return self._wrap("32", text)

    def bold(self, text: str) -> str:
        return self._wrap("1", text)


def _cmd_validate(args: argparse.Namespace) -> int:
    out, style = sys.stdout, _Style(sys.stdout)
    worst = EXIT_OK
    for path in args.files:
        try:
            reports = _reports_of(path, args.location, strict=args.strict)
        except InputError as exc:
            worst = max(worst, EXIT_USAGE)
            if args.json:
                _print_json({"file": path, "valid": False, "unreadable": str(exc)}, indent=None)
            else:
                print(f"{style.red('unreadable')} {exc}", file=sys.stderr)
            continue
        for task, report in reports.items():
            if not report.ok:
                worst = max(worst, EXIT_INVALID)
            where = {"file": path} if task is None else {"file": path, "task": task}
            if args.json:
                _print_json({**where, **report.to_dict()}, indent=None)
                continue
            label = path if task is None else f"{path} [{task}]"
            verdict = style.green("valid") if report.ok else style.red("invalid")
            counts = f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
            print(f"{label}: {verdict} ({counts})", file=out)
            for problem in report.errors:
                print(f"  {style.red('error')}   {problem.field}: {problem.message}", file=out)
            for problem in report.warnings:
                print(f"  {style.yellow('warning')} {problem.field}: {problem.message}", file=out)
            if args.vertex and not report.ok:
                print(f"  Vertex would answer: 400 INVALID_ARGUMENT {report.vertex_message()!r}")
        if not reports and not args.json:
            print(f"{path}: compiled pipeline with no CustomJob task", file=out)
    return worst


def _cmd_serve(args: argparse.Namespace) -> int:
    from cjob_emu.fake_api.cli_support import serve

    return serve(
        host=args.host,
        port=args.port,
        mode=args.mode,
        state_dir=args.state_dir,
        backend=args.backend,
        gcs_root=args.gcs_root,
        work_dir=args.work_dir,
    )


def _reports_of(
    path: str, location: str | None, *, strict: bool
) -> dict[str | None, ValidationReport]:
    """One report for a CustomJob file, one per custom-job task for a compiled pipeline;
    with ``strict``, every warning made an error."""
    from cjob_emu.convert.cli_support import pipeline_reports
    from cjob_emu.spec import read_job_document
    from cjob_emu.validate import validate

    tasks = pipeline_reports(path, location=location)
    if tasks is None:
        return {None: validate(read_job_document(path), location=location, strict=strict)}
    return {task: rep.as_strict() if strict else rep for task, rep in tasks.items()}


def _cmd_env(args: argparse.Namespace) -> int:
    from cjob_emu import cluster
    from cjob_emu.spec import load_job

    job = load_job(args.file)
    options = cluster.ClusterOptions(
        project_number=args.project_number,
        region=args.location,
        pytorch_env=not args.no_pytorch_env,
        cluster_spec_job_as=args.cluster_spec_job,
    )
    replicas = cluster.replicas(job)
    if not replicas:
        raise InvalidJobError(_no_replicas_report())
    if args.replica:
        replicas = [cluster.replica_by_name(job, args.replica)]
    envs = {
        r.name: cluster.replica_env(job, r, options=options, trial=args.trial) for r in replicas
    }
    if args.json:
        _print_json(envs)
        return EXIT_OK
    style = _Style(sys.stdout)
    for name, env in envs.items():
        print(style.bold(f"# {name}"))
        for key, value in env.items():
            print(f"{key}={value}")
        print()
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    from cjob_emu.convert.check import pipeline_document

    pipeline = pipeline_document(args.file)
    if pipeline is not None:
        return _run_pipeline(args, pipeline)
    if args.param or args.artifact or args.pipeline_root or args.project:
        raise InputError(
            "--param, --artifact, --pipeline-root and --project apply to compiled pipelines"
        )
    return _run_custom_job(args)


def _run_pipeline(args: argparse.Namespace, pipeline: dict[str, Any]) -> int:
    from cjob_emu.convert.run_cli import cmd_run_pipeline

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return cmd_run_pipeline(args, pipeline)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_custom_job(args: argparse.Namespace) -> int:
    from cjob_emu import cluster
    from cjob_emu.console import RunConsole
    from cjob_emu.convert.run_cli import run_options
    from cjob_emu.executor import ImageMap, submit
    from cjob_emu.spec import load_job

    job = load_job(args.file)
    image_map = ImageMap.load(args.image_map_file, args.image_map)
    options = run_options(args)
    # With --json, stdout carries only the final JSON; the run's output goes to stderr.
    stream = sys.stderr if args.json else sys.stdout
    console = RunConsole(stream, cluster.replicas(job), live=stream.isatty())
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        running = submit(
            job,
            backend=args.backend,
            gcs_root=args.gcs_root,
            run_dir=args.run_dir,
            image_map=image_map,
            options=options,
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
    finally:
        signal.signal(signal.SIGTERM, previous)
    if args.json:
        _print_json(result.to_dict())
    if interrupted:
        return EXIT_INTERRUPTED
    if result.succeeded:
        return EXIT_OK
    return EXIT_INTERRUPTED if result.state.name == "JOB_STATE_CANCELLED" else EXIT_INVALID


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _cmd_cleanup(args: argparse.Namespace) -> int:
    from cjob_emu.executor import cleanup

    backends = [args.backend] if args.backend else ["docker", "process"]
    removed = cleanup(backends)
    for line in removed:
        print(line)
    if not removed:
        print("nothing to clean up: no run of a dead process left anything behind")
    return EXIT_OK


def _no_replicas_report() -> Any:
    from cjob_emu.validate import Problem, ValidationReport

    problem = Problem(
        field="job_spec.worker_pool_specs",
        message="The job has no replicas: give pool 0 a machine and a replica count.",
        severity="error",
    )
    return ValidationReport(errors=[problem], warnings=[])


def _print_json(data: Any, *, indent: int | None = 2) -> None:
    print(json.dumps(data, indent=indent, ensure_ascii=False))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``cjob-emu`` (exposed for documentation and tests)."""
    from cjob_emu.convert.cli_support import add_convert_arguments, cmd_convert

    parser = argparse.ArgumentParser(
        prog="cjob-emu",
        description="Test Vertex AI CustomJobs offline: validate, inspect, run.",
        epilog="Exit codes: 0 ok, 1 invalid or failed, 2 usage or unreadable input, "
        "3 environment problem, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"cjob-emu {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate",
        help="check CustomJob files or compiled pipelines against Vertex's create-time rules",
        description="Check each CustomJob file (REST JSON or YAML, camelCase or snake_case), "
        "or every custom-job task of a compiled pipeline, against the rules Vertex applies at "
        "create time; report every problem with its path.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--json", action="store_true", help="one JSON object per file")
    validate.add_argument(
        "--location", default="us-central1", help="region to check (default: us-central1)"
    )
    validate.add_argument(
        "--vertex", action="store_true", help="also print the error text Vertex would answer"
    )
    validate.add_argument("--strict", action="store_true", help=_STRICT_HELP)
    validate.set_defaults(handler=_cmd_validate)

    convert = commands.add_parser(
        "convert",
        help="wrap a KFP component as a Vertex CustomJob component",
        description="Like GCPC's create_custom_training_job_from_component, with its defects "
        "fixed, plus different pools per role and Python package training.",
    )
    add_convert_arguments(convert)
    convert.set_defaults(handler=cmd_convert)

    serve = commands.add_parser(
        "serve", help="run the fake Vertex API (and Cloud Storage) on a local port"
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1); any address but loopback is reachable "
        "from other machines and is warned about: the fake API has no authentication",
    )
    serve.add_argument("--port", type=int, default=0, help="port (default: a free one, printed)")
    serve.add_argument("--mode", choices=["simulated", "executor"], default="simulated")
    serve.add_argument("--state-dir", help="keep jobs in DIR so they survive a restart")
    serve.add_argument(
        "--gcs-root",
        help="served as Cloud Storage and the gs:// root of executor jobs "
        "(default ./.cjob-emu/gcs)",
    )
    serve.add_argument(
        "--backend",
        choices=["auto", "docker", "process"],
        default="auto",
        help="for executor-mode jobs",
    )
    serve.add_argument("--work-dir", help="run directories of executor-mode jobs")
    serve.set_defaults(handler=_cmd_serve)

    env = commands.add_parser(
        "env",
        help="show the environment variables each replica would see",
        description="Print CLUSTER_SPEC, TF_CONFIG, AIP_* and the pool's own variables "
        "for every replica of the job, as Vertex sets them.",
    )
    env.add_argument("file", metavar="FILE")
    env.add_argument("--replica", metavar="NAME", help="only this replica, e.g. workerpool1-0")
    env.add_argument("--json", action="store_true", help="an object keyed by replica name")
    env.add_argument("--trial", help="hyperparameter-tuning trial id")
    env.add_argument(
        "--location", help="CLOUD_ML_REGION (default: the job name's location, else us-central1)"
    )
    env.add_argument(
        "--project-number", default=None, help="CLOUD_ML_PROJECT_ID (default: a fixed fake)"
    )
    env.add_argument(
        "--no-pytorch-env",
        action="store_true",
        help="leave out MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK",
    )
    env.add_argument(
        "--cluster-spec-job",
        choices=["trainer", "string", "object"],
        default="trainer",
        help="CLUSTER_SPEC.job: the legacy trainer JSON string (default, as seen on Vertex), "
        "or the CustomJobSpec as a JSON string or object (as the docs describe it)",
    )
    env.set_defaults(handler=_cmd_env)

    run = commands.add_parser(
        "run",
        help="run a CustomJob or a compiled KFP pipeline on this machine, as Vertex would",
        description="Validate the job, then run every replica (Docker containers, or host "
        "processes where no engine answers) with the environment Vertex gives it; stream "
        "their logs; exit 0 when the job SUCCEEDED, 1 when it FAILED, 130 on Ctrl-C. "
        "A compiled pipeline runs task by task: custom-job tasks as GCPC's launcher would "
        "create them, every replica on the same backend; other tasks through kfp.local; "
        "a summary lists every option ignored locally.",
    )
    run.add_argument("file", metavar="JOB_OR_PIPELINE_FILE")
    run.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="pipeline parameter (repeatable; lists and structs as JSON)",
    )
    run.add_argument(
        "--artifact",
        action="append",
        default=[],
        metavar="NAME=URI_OR_PATH",
        help="pipeline input artifact: a gs:// URI under --gcs-root, or a host path "
        "(copied to gs://cjob-emu/inputs/NAME/ unless inside --gcs-root); repeatable",
    )
    run.add_argument(
        "--pipeline-root",
        metavar="GS_URI",
        help="pipeline root (default: the pipeline's gs:// root, else gs://cjob-emu/pipeline_root)",
    )
    run.add_argument(
        "--project",
        help="the pipeline's project, for {{$.pipeline_google_cloud_project_id}} "
        "(default: cjob-emu-local)",
    )
    run.add_argument(
        "--backend",
        choices=["auto", "docker", "process"],
        default="auto",
        help="where replicas run (default: docker where an engine answers, else process)",
    )
    run.add_argument(
        "--gcs-root", metavar="DIR", help="directory standing for gs:// (default: .cjob-emu/gcs)"
    )
    run.add_argument(
        "--run-dir", metavar="DIR", help="logs and final job (default: .cjob-emu/runs/RUN_ID)"
    )
    run.add_argument(
        "--image-map",
        action="append",
        default=[],
        metavar="URI=TAG",
        help="run local image TAG for image URI (repeatable; URI may end in *)",
    )
    run.add_argument(
        "--image-map-file", metavar="FILE", help="YAML/JSON mapping of image URI to local tag"
    )
    run.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="replaces job_spec.scheduling.timeout"
    )
    run.add_argument(
        "--max-restarts",
        type=int,
        default=3,
        metavar="N",
        help="restarts allowed by restart_job_on_worker_restart (default: 3)",
    )
    run.add_argument(
        "--location",
        default=None,
        help="region to validate the job for; a pipeline's location (default: us-central1)",
    )
    run.add_argument("--strict", action="store_true", help=_STRICT_HELP)
    run.add_argument("--gpus", action="store_true", help="pass host GPUs through (docker)")
    run.add_argument("--pull", action="store_true", help="pull missing images (docker)")
    run.add_argument(
        "--resource-limits",
        action="store_true",
        help="limit CPU and memory from the machine type, scaled to the host (docker)",
    )
    run.add_argument(
        "--as-image-user",
        action="store_true",
        help="run replicas as the image's user, not as yours (docker)",
    )
    run.add_argument(
        "--stop-grace",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="between SIGTERM and SIGKILL when stopping replicas (default: 2)",
    )
    run.add_argument(
        "--json",
        action="store_true",
        help="print the final job (REST JSON) and per-replica exit codes on stdout",
    )
    run.set_defaults(handler=_cmd_run)

    cleanup = commands.add_parser(
        "cleanup",
        help="remove what runs of dead processes left behind",
        description="Remove containers, networks and processes of runs whose owning "
        "process is dead; live runs of other processes are never touched.",
    )
    cleanup.add_argument(
        "--backend", choices=["docker", "process"], help="only this backend (default: both)"
    )
    cleanup.set_defaults(handler=_cmd_cleanup)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except InvalidJobError as exc:
        _report_invalid(exc)
        return EXIT_INVALID
    except CjobEmuError as exc:
        print(f"cjob-emu: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cjob-emu: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code


def _report_invalid(exc: InvalidJobError) -> None:
    style = _Style(sys.stderr)
    print(f"cjob-emu: {style.red('invalid job')}", file=sys.stderr)
    for problem in exc.report.errors:
        print(f"  error   {problem.field}: {problem.message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
