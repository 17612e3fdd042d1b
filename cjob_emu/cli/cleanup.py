"""``cjob-emu cleanup``: remove what runs of dead processes left behind."""

from __future__ import annotations

import argparse
from typing import Any

from cjob_emu.cli.exit_codes import EXIT_OK


def add_parser(commands: Any) -> None:
    """Add ``cleanup`` to the CLI's subcommands."""
    parser = commands.add_parser(
        "cleanup",
        help="remove what runs of dead processes left behind",
        description="Remove containers, networks and processes of runs whose owning "
        "process is dead; live runs of other processes are never touched.",
    )
    parser.add_argument(
        "--backend", choices=["docker", "process"], help="only this backend (default: both)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Clean up and say what was done, one line each."""
    # imported on use: the executor loads the aiplatform types (~1 s; see cli.validate)
    from cjob_emu.executor import cleanup

    backends = [args.backend] if args.backend else ["docker", "process"]
    removed = cleanup(backends)
    for line in removed:
        print(line)
    if not removed:
        print("nothing to clean up: no run of a dead process left anything behind")
    return EXIT_OK
