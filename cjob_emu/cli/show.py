"""``cjob-emu show RUN``: one run in full: the job JSON and its replicas, or a
pipeline's tasks (each custom-job task with its CustomJob run)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cjob_emu.cli.exit_codes import EXIT_OK
from cjob_emu.cli.run_history import (
    RUN_HELP,
    add_runs_dir_option,
    describe,
    duration_text,
    local_time,
    settled_index,
    table,
    task_job,
)
from cjob_emu.cli.style import print_json
from cjob_emu.errors import EnvironmentProblem
from cjob_emu.run_index import JOB, RunEntry, RunIndex, parse_time
from cjob_emu.run_index.files import JOB_FILE, read_json, read_replicas, read_tasks


def add_parser(commands: Any) -> None:
    """Add ``show`` to the CLI's subcommands."""
    parser = commands.add_parser(
        "show",
        help="show one run: the job JSON and its replicas, or a pipeline's tasks",
        description="Show a run from the runs directory's index: for a CustomJob run, "
        "the job as it stands (REST JSON) and a table of its replicas (state, exit code, "
        "attempts, time, log file); for a pipeline run, its tasks (kind, state, the "
        "CustomJob run or log of each, why one failed or did not run).",
    )
    parser.add_argument("run_ref", metavar="RUN", help=RUN_HELP)
    parser.add_argument("--json", action="store_true", help="the same as one JSON object")
    add_runs_dir_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the run."""
    index, _ = settled_index(args)
    entry = index.find(args.run_ref)
    run_dir = Path(entry.run_dir)
    if not run_dir.is_dir():
        raise EnvironmentProblem(f"{describe(entry)}; its directory {run_dir} is gone")
    if entry.kind == JOB:
        return _show_job(entry, run_dir, args.json)
    return _show_pipeline(index, entry, run_dir, args.json)


def _show_job(entry: RunEntry, run_dir: Path, as_json: bool) -> int:
    job = read_json(run_dir / JOB_FILE)
    replicas = read_replicas(run_dir)
    if as_json:
        print_json({"run": entry.to_dict(), "job": job, "replicas": replicas})
        return EXIT_OK
    _header(entry)
    print(f"job ({run_dir / JOB_FILE}):")
    print(json.dumps(job, indent=2, ensure_ascii=False) if job is not None else "  (not written)")
    now = datetime.now(timezone.utc)
    rows = [
        [
            r.get("replica", "?"),
            str(r.get("state", "")),
            "" if r.get("exitCode") is None else str(r["exitCode"]),
            str(r.get("attempts", "")),
            duration_text(_took(r, now)),
            str(r.get("log", "")),
        ]
        for r in replicas
    ]
    print(table(["REPLICA", "STATE", "EXIT", "ATTEMPTS", "TIME", "LOG"], rows))
    return EXIT_OK


def _show_pipeline(index: RunIndex, entry: RunEntry, run_dir: Path, as_json: bool) -> int:
    tasks = read_tasks(run_dir)
    children = index.children(entry.id)
    for task in tasks:
        job = task_job(children, str(task.get("name", "")))
        task["run"] = job.id if job is not None else ""
    if as_json:
        print_json({"run": entry.to_dict(), "tasks": tasks})
        return EXIT_OK
    _header(entry)
    now = datetime.now(timezone.utc)
    rows = [
        [
            str(t.get("name", "?")),
            str(t.get("kind", "")),
            str(t.get("state", "")),
            duration_text(_took(t, now)) if t.get("startTime") else "-",
            f"run {t['run']}" if t["run"] else str(t.get("path") or "-"),
            str(t.get("detail", "")),
        ]
        for t in tasks
        if t.get("kind") != "dag"
    ]
    print(table(["TASK", "KIND", "STATE", "TIME", "RUN OR LOG", "DETAIL"], rows))
    return EXIT_OK


def _header(entry: RunEntry) -> None:
    print(describe(entry))
    print(f"  created {local_time(entry.create_time)}, started {local_time(entry.start_time)}, "
          f"ended {local_time(entry.end_time)}")
    if entry.parent is not None:
        print(f"  task {entry.parent.task} of pipeline run {entry.parent.run_id}")
    if entry.error:
        print(f"  error: {entry.error}")
    print(f"  run directory: {entry.run_dir}")
    print(f"  gs:// root: {entry.gcs_root}")
    sys.stdout.flush()


def _took(row: dict[str, Any], now: datetime) -> float | None:
    start, end = parse_time(str(row.get("startTime", ""))), parse_time(str(row.get("endTime", "")))
    if start is None:
        return None
    return ((end or now) - start).total_seconds()
