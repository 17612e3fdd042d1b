"""The ``cjob-emu`` command: the parser made of every command's own, and one exit policy.

Exit codes, the same for every command (:mod:`.exit_codes`): 0 success (valid,
SUCCEEDED); 1 the job is invalid or FAILED; 2 usage error or unreadable input; 3
environment problem (no engine, missing image or package, port in use); 130
interrupted or CANCELLED by Ctrl-C. Errors are printed as one line, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cjob_emu import __version__
from cjob_emu.cli import cleanup, convert, env, logs, run, runs, serve, show, validate
from cjob_emu.cli.exit_codes import EXIT_INTERRUPTED, EXIT_INVALID
from cjob_emu.cli.style import COLOR_MODES, QUIET, Style, configure
from cjob_emu.errors import CjobEmuError, InvalidJobError
from cjob_emu.optional import as_environment_problem

_COMMANDS = (validate, convert, serve, env, run, runs, logs, show, cleanup)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``cjob-emu`` (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="cjob-emu",
        description="Test Vertex AI CustomJobs offline: validate, inspect, run.",
        epilog="Exit codes: 0 ok, 1 invalid or failed, 2 usage or unreadable input, "
        "3 environment problem, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"cjob-emu {__version__}")
    _output_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(commands)
    for subparser in commands.choices.values():
        _output_options(subparser, top=False)
    return parser


def _output_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The global output flags, before or after the command (``cjob-emu -q run`` and
    ``cjob-emu run -q``): a command's own copy sets nothing unless given, so it never
    resets what was given before the command."""

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    group = parser.add_argument_group("output")
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default(False),
        help="print only results, warnings and errors",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default(0),
        help="print more: every notice in full, kfp.local's own output",
    )
    group.add_argument(
        "--color",
        choices=COLOR_MODES,
        default=default("auto"),
        help="colour the output: auto (a terminal without NO_COLOR set; the default), "
        "always, never",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quiet and args.verbose:
        parser.error("--quiet and --verbose contradict each other")
    configure(color=args.color, verbosity=QUIET if args.quiet else args.verbose)
    try:
        return _run(args)
    finally:
        configure()  # back to the defaults: main() may run again in this process (tests)


def _run(args: argparse.Namespace) -> int:
    try:
        code: int = args.handler(args)
    except InvalidJobError as exc:
        _report_invalid(exc)
        return EXIT_INVALID
    except CjobEmuError as exc:
        print(f"cjob-emu: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        # a pipeline's says which tasks it cancelled
        print(f"cjob-emu: {exc or 'interrupted'}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ImportError as exc:
        problem = as_environment_problem(exc, f"cjob-emu {args.command}")
        if problem is None:
            raise
        print(f"cjob-emu: {problem}", file=sys.stderr)
        return problem.exit_code
    return code


def _report_invalid(exc: InvalidJobError) -> None:
    style = Style(sys.stderr)
    print(f"cjob-emu: {style.red('invalid job')}", file=sys.stderr)
    for problem in exc.report.errors:
        print(f"  error   {problem.field}: {problem.message}", file=sys.stderr)
