"""``cjob-emu runs``: the recent runs of a runs directory, newest first, from its index."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import Any

from cjob_emu.cli.exit_codes import EXIT_OK
from cjob_emu.cli.run_history import (
    add_runs_dir_option,
    duration_text,
    local_time,
    settled_index,
    table,
)
from cjob_emu.cli.style import print_json


def add_parser(commands: Any) -> None:
    """Add ``runs`` to the CLI's subcommands."""
    parser = commands.add_parser(
        "runs",
        help="list recent runs of jobs and pipelines (id, kind, name, state, duration)",
        description="List the runs recorded in the runs directory's index, newest first: "
        "CustomJob runs (cjob-emu run, the executor, the fake API's executor mode) and "
        "pipeline runs. A run whose process died before it ended is marked FAILED.",
    )
    parser.add_argument(
        "--limit", type=int, default=20, metavar="N", help="at most N runs (default 20; 0: all)"
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="also the CustomJob runs of pipeline tasks (listed under their pipeline run)",
    )
    parser.add_argument("--json", action="store_true", help="the index entries as JSON")
    add_runs_dir_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the newest runs."""
    index, settled = settled_index(args)
    for line in settled:
        print(f"cjob-emu: {line}", file=sys.stderr)
    recorded = index.entries()
    top = [e for e in reversed(recorded) if e.parent is None]
    if args.limit > 0:
        top = top[: args.limit]
    entries = []
    for entry in top:
        entries.append(entry)
        if args.all:
            entries += [c for c in recorded if c.parent and c.parent.run_id == entry.id]
    now = datetime.now(timezone.utc)
    if args.json:
        print_json([{**e.to_dict(), "durationSeconds": e.duration(now)} for e in entries])
        return EXIT_OK
    if not entries:
        print(f"no runs recorded in {index.runs_dir}")
        return EXIT_OK
    rows = [
        [
            e.id,
            e.kind if e.parent is None else "  job",
            e.name if e.parent is None else f"{e.name} (task {e.parent.task} of {e.parent.run_id})",
            e.state,
            duration_text(e.duration(now)),
            e.backend,
            local_time(e.create_time),
        ]
        for e in entries
    ]
    header = ["ID", "KIND", "NAME", "STATE", "DURATION", "BACKEND", "CREATED"]
    print(table(header, rows))
    return EXIT_OK
