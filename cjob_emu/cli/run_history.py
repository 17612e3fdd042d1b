"""What ``runs``, ``logs``, ``show`` and ``cleanup`` share: the runs directory option,
the index with the runs of dead processes settled, and how times are shown.

Only the run index is read (no aiplatform import) unless a run has not ended: then
the executor tells whether its process still lives.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from cjob_emu.run_index import DEFAULT_RUNS_DIR, RunEntry, RunIndex, parse_time

RUN_HELP = "a run id, a unique start of one, or 'last' (the newest run)"


def add_runs_dir_option(parser: argparse.ArgumentParser) -> None:
    """``--runs-dir DIR``: the runs directory whose index is read."""
    parser.add_argument(
        "--runs-dir",
        metavar="DIR",
        default=str(DEFAULT_RUNS_DIR),
        help=f"the runs directory whose index is read (default: {DEFAULT_RUNS_DIR})",
    )


def settled_index(args: argparse.Namespace) -> tuple[RunIndex, list[str]]:
    """The index of ``--runs-dir``, each run whose process died while it went on
    marked FAILED first; the lines saying which were."""
    index = RunIndex(args.runs_dir)
    if all(entry.ended for entry in index.entries()):
        return index, []
    # imported on use: the executor loads the aiplatform types (~1 s; see cli.validate),
    # and only a run that has not ended needs its owner checked
    from cjob_emu.executor.run_records import settle_dead_runs

    return index, settle_dead_runs(index)


def duration_text(seconds: float | None) -> str:
    """``4.2s``, ``3m04s``, ``2h05m``, ``3d04h``; ``-`` for None."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def local_time(text: str) -> str:
    """An index time as local ``YYYY-MM-DD HH:MM:SS``; ``-`` when there is none."""
    moment = parse_time(text)
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def describe(entry: RunEntry, now: datetime | None = None) -> str:
    """One line: ``run ID (job NAME): STATE after 1.2s on the process backend``."""
    took = duration_text(entry.duration(now))
    return (f"run {entry.id} ({entry.kind} {entry.name}): {entry.state} "
            f"after {took} on the {entry.backend} backend")


def table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, str(row[-1])]).rstrip())
    return "\n".join(lines)


def task_job(children: list[RunEntry], task: str) -> RunEntry | None:
    """The CustomJob run of a pipeline's task ``task`` (``outer/inner`` or
    ``outer.inner``) among the pipeline run's ``children``; None if it has none."""
    wanted = task.replace("/", ".")
    found = [c for c in children if c.parent is not None and c.parent.task == wanted]
    return found[-1] if found else None
