"""Removing old runs: their directories and their index entries (``cleanup --older-than``).

Only runs that have ended go, by the time they ended (a pipeline run with the CustomJob
runs of its tasks); a run that has not ended is never touched. A directory is removed
only when it holds the run's record (``job.json`` or ``pipeline.json``) and is neither
the working directory (or one above it) nor holds the runs directory itself: a run put
in ``--run-dir .`` loses its index entry, never the user's files.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cjob_emu.run_index.entry import JOB, RunEntry, parse_time
from cjob_emu.run_index.files import JOB_FILE, PIPELINE_FILE
from cjob_emu.run_index.store import RunIndex


@dataclass(frozen=True)
class Pruned:
    """What became of one old run: its directory ``removed`` or why it was kept, and
    whether its entry left the index (``forgotten``: not when its directory could not
    be removed, so that a later cleanup tries again)."""

    entry: RunEntry
    removed: bool
    forgotten: bool
    why_kept: str = ""


def prune(index: RunIndex, older_than: timedelta, now: datetime | None = None) -> list[Pruned]:
    """Remove the runs of ``index`` that ended more than ``older_than`` ago."""
    cutoff = (now or datetime.now(timezone.utc)) - older_than
    entries = index.entries()
    old = [e for e in entries if e.parent is None and e.ended and _ended_before(e, cutoff)]
    done: list[Pruned] = []
    for entry in old:
        children = [c for c in entries if c.parent is not None and c.parent.run_id == entry.id]
        try:
            for child in children:
                _remove_dir(child, index)
            why_kept = _remove_dir(entry, index)
        except OSError as exc:
            done.append(Pruned(entry, False, False, f"cannot remove {entry.run_dir}: {exc}"))
            continue
        index.remove([entry.id, *(c.id for c in children)])
        done.append(Pruned(entry, not why_kept, True, why_kept))
    return done


def still_running(index: RunIndex, older_than: timedelta) -> list[RunEntry]:
    """The runs created more than ``older_than`` ago that have not ended (never pruned)."""
    cutoff = datetime.now(timezone.utc) - older_than
    return [e for e in index.entries() if e.parent is None and not e.ended
            and (parse_time(e.create_time) or cutoff) < cutoff]


def _ended_before(entry: RunEntry, cutoff: datetime) -> bool:
    ended = parse_time(entry.end_time) or parse_time(entry.create_time)
    return ended is not None and ended < cutoff


def _remove_dir(entry: RunEntry, index: RunIndex) -> str:
    """Remove the run's directory; why it was kept, or empty."""
    directory = Path(entry.run_dir)
    if not directory.is_dir():
        return f"its directory {directory} was gone"
    record = directory / (JOB_FILE if entry.kind == JOB else PIPELINE_FILE)
    resolved = directory.resolve()
    cwd = Path.cwd().resolve()
    if not record.is_file():
        return f"{directory} holds no {record.name}: not removed"
    if resolved == cwd or resolved in cwd.parents:
        return f"{directory} is the working directory or above it: not removed"
    runs_dir = index.runs_dir.resolve()
    if resolved == runs_dir or resolved in runs_dir.parents:
        return f"{directory} holds the runs directory: not removed"
    shutil.rmtree(directory)
    return ""
