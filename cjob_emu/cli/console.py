"""How ``cjob-emu run`` shows a running job: prefixed log lines, a live table, a summary.

On a terminal, replica log lines scroll with a coloured ``workerpool1-0 | `` prefix
above a table of the replicas (phase, exit code, duration) that is redrawn in place;
elsewhere (a pipe, a CI log) every line is plain text and the table is printed once,
at the end. Colour follows :mod:`.style` (``--color``, ``NO_COLOR``). The fields a
local run does not emulate are folded into one line (``-v`` lists them); ``--quiet``
keeps only warnings and the final summary. Plain ANSI escape codes: nothing beyond
the standard library.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from google.cloud.aiplatform_v1 import JobState

from cjob_emu.cli.style import BOLD, CYAN, GREEN, RED, SETTINGS, YELLOW, colour_enabled, paint
from cjob_emu.cluster import Replica
from cjob_emu.executor import (
    Event,
    JobResult,
    LogLine,
    Notice,
    ReplicaExited,
    ReplicaStarted,
    ReplicaStatus,
    Restarting,
    RunningJob,
    StateChanged,
)
from cjob_emu.executor.logs import Prefixer

_NOTICE_LABELS = {
    "unemulated": "not emulated",
    "warning": "warning",
    "backend": "note",
    "cleanup": "cleanup",
    "note": "note",
}
_PHASE_COLOURS = {"running": CYAN, "succeeded": GREEN, "failed": RED, "stopped": YELLOW}


class RunConsole:
    """Renders one run's events on ``stream``; ``live`` redraws a table on a terminal."""

    def __init__(self, stream: TextIO, replicas: Sequence[Replica], *, live: bool) -> None:
        self.stream = stream
        self.live = live and not SETTINGS.quiet
        self.running: RunningJob | None = None
        self._prefixer = Prefixer(replicas, colour=colour_enabled(stream, terminal=live))
        self._lock = threading.Lock()
        self._table_lines = 0
        self._folded: list[Notice] = []

    def on_event(self, event: Event) -> None:
        """Show one event (called from the executor's threads)."""
        with self._lock:
            if self._fold(event):
                return
            lines = [self._unfold(), self._describe(event)]
            text = "\n".join(line for line in lines if line is not None)
            if not text:
                return
            self._erase_table()
            self.stream.write(text + "\n")
            self._draw_table()
            self.stream.flush()

    def refresh(self) -> None:
        """Redraw the live table (durations move on even when nothing is logged)."""
        if not self.live:
            return
        with self._lock:
            self._erase_table()
            self._draw_table()
            self.stream.flush()

    def finish(self, result: JobResult | None) -> None:
        """Replace the live table with the final summary."""
        with self._lock:
            self._erase_table()
            self.live = False
            folded = self._unfold()
            if folded is not None:
                self.stream.write(folded + "\n")
            if self.running is not None and not SETTINGS.quiet:
                self.stream.write(self._table(self.running.replica_status()) + "\n")
            if result is not None:
                self.stream.write(summary(result, colour=self._prefixer.colour) + "\n")
            self.stream.flush()

    def _fold(self, event: Event) -> bool:
        """Keep a not-emulated notice for the folded line (unless ``-v`` lists them)."""
        if isinstance(event, Notice) and event.kind == "unemulated" and not SETTINGS.verbose:
            self._folded.append(event)
            return True
        return False

    def _unfold(self) -> str | None:
        """The kept not-emulated notices as one line (the notice itself when alone)."""
        notices, self._folded = self._folded, []
        if not notices or SETTINGS.quiet:
            return None
        label = self._paint(YELLOW, f"{_NOTICE_LABELS['unemulated']}: ")
        if len(notices) == 1:
            return label + str(notices[0])
        return label + fold_fields([n.field or n.message for n in notices])

    def _describe(self, event: Event) -> str | None:
        if SETTINGS.quiet and not (isinstance(event, Notice) and event.kind == "warning"):
            return None
        if isinstance(event, LogLine):
            return self._prefixer.format(event.replica, event.line)
        if isinstance(event, Notice):
            label = _NOTICE_LABELS.get(event.kind, "note")
            return self._paint(YELLOW, f"{label}: ") + str(event)
        if isinstance(event, StateChanged):
            return self._paint(BOLD, f"job {event.state.name}")
        if isinstance(event, ReplicaStarted):
            again = f" (attempt {event.attempt + 1})" if event.attempt else ""
            return self._prefixer.prefix(event.replica) + f"[started{again}]"
        if isinstance(event, ReplicaExited):
            how = "stopped, exit code" if event.stopped else "exited with"
            return self._prefixer.prefix(event.replica) + f"[{how} {event.exit_code}]"
        if isinstance(event, Restarting):
            return self._paint(YELLOW, f"restarting every replica: {event.reason}")
        return None

    def _paint(self, code: str, text: str) -> str:
        return paint(code, text, self._prefixer.colour)

    def _erase_table(self) -> None:
        if self._table_lines:
            self.stream.write(f"\033[{self._table_lines}F\033[J")
            self._table_lines = 0

    def _draw_table(self) -> None:
        if not self.live or self.running is None:
            return
        table = self._table(self.running.replica_status())
        self.stream.write(table + "\n")
        self._table_lines = table.count("\n") + 1

    def _table(self, rows: Sequence[ReplicaStatus]) -> str:
        now = time.monotonic()
        width = max([len("REPLICA"), *(len(r.replica.name) for r in rows)])
        lines = [f"{'REPLICA'.ljust(width)}  {'STATE':<12} {'EXIT':>5} {'TIME':>8}"]
        for row in rows:
            duration = row.duration(now)
            took = "" if duration is None else f"{duration:7.1f}s"
            code = "" if row.exit_code is None else str(row.exit_code)
            phase = row.phase.ljust(12)
            if row.phase in _PHASE_COLOURS:
                phase = self._paint(_PHASE_COLOURS[row.phase], phase)
            lines.append(f"{row.replica.name.ljust(width)}  {phase} {code:>5} {took:>8}")
        return "\n".join(lines)


def fold_fields(fields: Sequence[str]) -> str:
    """Field paths as one line: ``6 fields (disk_spec, machine_type x4, ...); -v lists
    them``, each field named by its last part, in order of first appearance."""
    names = Counter(re.sub(r"\[\d+\]", "", field).rsplit(".", 1)[-1] for field in fields)
    shown = ", ".join(name if n == 1 else f"{name} x{n}" for name, n in names.items())
    return f"{len(fields)} fields ({shown}); -v lists them"


def summary(result: JobResult, *, colour: bool = False) -> str:
    """The final lines: state, how long, the error, where the logs are."""
    job = result.job
    state = JobState(job.state)
    took = ""
    if job.start_time and job.end_time:
        took = f" after {(job.end_time - job.start_time).total_seconds():.1f}s running"
    name = paint(GREEN if state == JobState.JOB_STATE_SUCCEEDED else RED, state.name, colour)
    lines = [f"job {job.display_name!r} {name}{took} ({result.backend} backend)"]
    if job.error.message:
        lines.append(f"error (code {job.error.code}): {job.error.message}")
    lines.append(f"logs: {result.run_dir / 'logs'}")
    return "\n".join(lines)
