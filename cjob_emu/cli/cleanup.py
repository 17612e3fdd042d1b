"""``cjob-emu cleanup``: remove what runs of dead processes left behind, and with
``--older-than`` the directories and index entries of runs that ended long ago."""

from __future__ import annotations

import argparse
import re
from datetime import timedelta
from typing import Any

from cjob_emu.cli.exit_codes import EXIT_OK
from cjob_emu.cli.run_history import add_runs_dir_option, duration_text, settled_index
from cjob_emu.run_index import RunIndex
from cjob_emu.run_index.prune import prune, still_running

_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def add_parser(commands: Any) -> None:
    """Add ``cleanup`` to the CLI's subcommands."""
    parser = commands.add_parser(
        "cleanup",
        help="remove what runs of dead processes left behind, and old runs",
        description="Remove containers, networks and processes of runs whose owning "
        "process is dead, and mark those runs FAILED; live runs of other processes are "
        "never touched. With --older-than, also remove the run directories and index "
        "entries of runs that ended longer ago than that (a run that has not ended is "
        "never removed).",
    )
    parser.add_argument(
        "--backend", choices=["docker", "process"], help="only this backend (default: both)"
    )
    parser.add_argument(
        "--older-than",
        type=age,
        metavar="AGE",
        help="also remove runs that ended longer ago than AGE (30m, 12h, 7d, 2w)",
    )
    add_runs_dir_option(parser)
    parser.set_defaults(handler=run)


def age(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``45s``, ``2w`` as a time span (argparse type)."""
    match = _AGE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is no age: write a number and s, m, h, d or w (7d, 12h)"
        )
    return timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]])


def run(args: argparse.Namespace) -> int:
    """Clean up and say what was done, one line each."""
    # imported on use: the executor loads the aiplatform types (~1 s; see cli.validate)
    from cjob_emu.executor import cleanup

    backends = [args.backend] if args.backend else ["docker", "process"]
    removed = cleanup(backends)
    for line in removed:
        print(line)
    index, settled = settled_index(args)
    for line in settled:
        print(line)
    if not removed and not settled:
        print("nothing to clean up: no run of a dead process left anything behind")
    if args.older_than is not None:
        _remove_old(index, args.older_than)
    return EXIT_OK


def _remove_old(index: RunIndex, older_than: timedelta) -> None:
    span = duration_text(older_than.total_seconds())
    done = prune(index, older_than)
    for pruned in done:
        entry = pruned.entry
        what = f"run {entry.id} ({entry.kind} {entry.name}, {entry.state})"
        if pruned.removed:
            print(f"removed {what}: {entry.run_dir}")
        elif pruned.forgotten:
            print(f"removed {what} from the index; {pruned.why_kept}")
        else:
            print(f"kept {what}: {pruned.why_kept}")
    for entry in still_running(index, older_than):
        print(f"kept run {entry.id} ({entry.kind} {entry.name}): still {entry.state}")
    if not done:
        print(f"no run in {index.runs_dir} ended more than {span} ago")
