"""``cjob-emu validate FILE...``: every problem of CustomJob files and compiled pipelines."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from cjob_emu.cli.exit_codes import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from cjob_emu.cli.gcloud_options import add_create_options, build_job, job_flags_given
from cjob_emu.cli.style import Style, print_json
from cjob_emu.errors import InputError, InvalidJobError

if TYPE_CHECKING:
    from cjob_emu.validate import ValidationReport


STRICT_HELP = (
    "every validation warning is an error (what is not emulated locally is no warning "
    "and never fails a run)"
)


def add_parser(commands: Any) -> None:
    """Add ``validate`` to the CLI's subcommands."""
    parser = commands.add_parser(
        "validate",
        help="check CustomJob files or compiled pipelines against Vertex's create-time rules",
        description="Check each CustomJob or CustomJobSpec file (REST JSON or YAML, camelCase "
        "or snake_case), every custom-job task of a pipeline (compiled, or FILE.py[:NAME]), "
        "or the job of gcloud's flags, against the rules Vertex applies at create time; "
        "report every problem with its path.",
    )
    parser.add_argument("files", nargs="*", metavar="FILE")
    parser.add_argument("--json", action="store_true", help="one JSON object per file")
    parser.add_argument(
        "--location",
        "--region",
        default="us-central1",
        help="region to check (default: us-central1)",
    )
    parser.add_argument(
        "--vertex", action="store_true", help="also print the error text Vertex would answer"
    )
    parser.add_argument("--strict", action="store_true", help=STRICT_HELP)
    add_create_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Validate every file (or the job of gcloud's flags); the worst exit code of them."""
    files = [*args.files, *([args.config] if args.config else [])]
    if job_flags_given(args):
        return _validate_flags(args, files)
    if not files:
        raise InputError("give a FILE to validate, or gcloud's --worker-pool-spec flags")
    worst = EXIT_OK
    for path in files:
        try:
            reports = reports_of(
                path, args.location, strict=args.strict, display_name=args.display_name
            )
        except InputError as exc:
            worst = max(worst, EXIT_USAGE)
            if args.json:
                print_json({"file": path, "valid": False, "unreadable": str(exc)}, indent=None)
            else:
                print(f"{Style(sys.stderr).red('unreadable')} {exc}", file=sys.stderr)
            continue
        if any(not report.ok for report in reports.values()):
            worst = max(worst, EXIT_INVALID)
        _show(path, reports, args)
    return worst


def _validate_flags(args: argparse.Namespace, files: list[str]) -> int:
    """Validate the one job made of gcloud's flags (and a FILE, if given)."""
    # imported on use: they load the aiplatform types (~1 s; see reports_of)
    from cjob_emu.cli.inputs import read_input
    from cjob_emu.validate import validate

    if len(files) > 1:
        raise InputError("gcloud's job flags make one job: give one FILE at most")
    document = read_input(files[0]).job if files else None
    if files and document is None:
        raise InputError(f"{files[0]}: a pipeline; gcloud's job flags apply to a CustomJob")
    try:
        job = build_job(args, document, files[0] if files else None)
        report = validate(job, location=args.location, strict=args.strict)
    except InvalidJobError as exc:
        report = exc.report.as_strict() if args.strict else exc.report
    _show(files[0] if files else "(flags)", {None: report}, args)
    return EXIT_OK if report.ok else EXIT_INVALID


def reports_of(
    path: str, location: str | None, *, strict: bool = False, display_name: str | None = None
) -> dict[str | None, ValidationReport]:
    """One report for a CustomJob (or CustomJobSpec) file, one per custom-job task for a
    pipeline (the file read once); with ``strict``, every warning made an error."""
    # imported on use (here and in every command), so `cjob-emu --help` and a usage error
    # wait for none of them; a job file needs only the validator (its types come from
    # the schema cache), a pipeline also the converter, which loads the aiplatform types
    from cjob_emu.cli.inputs import read_input
    from cjob_emu.spec import as_custom_job
    from cjob_emu.validate import validate

    found = read_input(path)
    if found.pipeline is None:
        # a CustomJobSpec becomes a CustomJob; its problems keep the paths the user wrote
        document = as_custom_job(found.job or {}, display_name=display_name, source=path)
        report = validate(document.data, location=location, strict=strict)
        return {None: document.user_report(report)}

    from cjob_emu.converter.check import validate_pipeline

    reports = validate_pipeline(found.pipeline, location=location)
    by_task: dict[str | None, ValidationReport] = {
        task: rep.as_strict() if strict else rep for task, rep in reports.items()
    }
    return by_task


def _show(
    path: str, reports: dict[str | None, ValidationReport], args: argparse.Namespace
) -> None:
    out, style = sys.stdout, Style(sys.stdout)
    for task, report in reports.items():
        where = {"file": path} if task is None else {"file": path, "task": task}
        if args.json:
            print_json({**where, **report.to_dict()}, indent=None)
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
