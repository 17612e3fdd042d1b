"""How ``cjob-emu run PIPELINE`` shows a run: progress, what the tasks print, a summary.

By default, on stderr: a line as each task starts and what the tasks themselves print
(``  TASK | `` for kfp.local's tasks, ``  workerpool0-0 | `` for a CustomJob's
replicas); then, on stdout, the summary: every task and its state, how each replica of
a CustomJob ended and where its logs are, the outputs, what is ignored locally, the
warnings. kfp's own lines (kfp.local's log, the KFP executor's INFO lines with the
executor input it dumps) are counted, not shown: ``-v`` shows them and each replica's
start and end; ``--quiet`` keeps only the warnings and the summary. Imported only for a
pipeline: it needs kfp.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any, TextIO

from cjob_emu.cli.style import CYAN, GREEN, RED, SETTINGS, YELLOW, colour_enabled, paint
from cjob_emu.executor import Event, LogLine, ReplicaExited, ReplicaStarted
from cjob_emu.pipelines.kfp_local import KfpExecutorLog, TaskLine
from cjob_emu.pipelines.results import TaskResult


class PipelineConsole:
    """Shows one pipeline run's progress on ``stream`` (the executor's threads call it)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.colour = colour_enabled(stream)
        self.hidden = 0
        """How many of kfp's own lines were left out."""
        self._kfp: dict[str, KfpExecutorLog] = {}
        self._lock = threading.Lock()

    def say(self, line: str) -> None:
        """A progress line or a warning of the runner."""
        if line.startswith("WARNING"):
            self._write("cjob-emu: " + paint(YELLOW, line, self.colour))
        elif not SETTINGS.quiet:
            self._write(f"cjob-emu: {line}")

    def on_task_line(self, line: TaskLine) -> None:
        """A line a kfp.local task printed."""
        self._show(line.task, line.text, own=line.own)

    def on_event(self, event: Event) -> None:
        """An event of a CustomJob task's run."""
        if isinstance(event, ReplicaStarted):
            with self._lock:
                self._kfp[event.replica.name] = KfpExecutorLog()
            again = f" (attempt {event.attempt + 1})" if event.attempt else ""
            self._show(event.replica.name, f"[started{again}]", own=False)
        elif isinstance(event, LogLine):
            with self._lock:
                kfp = self._kfp.setdefault(event.replica.name, KfpExecutorLog())
                own = not kfp.is_kfp(event.line)
            self._show(event.replica.name, event.line, own=own)
        elif isinstance(event, ReplicaExited):
            how = "stopped, exit code" if event.stopped else "exited with"
            self._show(event.replica.name, f"[{how} {event.exit_code}]", own=False)

    def finish(self) -> None:
        """Say how much was left out, and how to see it."""
        if self.hidden and not SETTINGS.quiet:
            self._write(
                f"cjob-emu: {self.hidden} lines of kfp's own output not shown (kfp.local's "
                "log, the KFP executor's INFO lines and executor input); -v shows them"
            )

    def _show(self, who: str, text: str, *, own: bool) -> None:
        if SETTINGS.quiet:
            return
        if not own and not SETTINGS.verbose:
            with self._lock:
                self.hidden += 1
            return
        self._write(f"  {paint(CYAN, who + ' |', self.colour)} {text}")

    def _write(self, text: str) -> None:
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()


def task_summary(task: TaskResult) -> dict[str, Any]:
    """One task as the summary (and ``--json``) shows it."""
    job = task.job
    return {
        "kind": task.kind,
        "state": task.state,
        "succeeded": task.succeeded,
        "error": task.error,
        "skipped": task.skipped,
        "not_run": task.not_run,
        "replicas": {} if job is None else {n: r.to_dict() for n, r in job.replicas.items()},
        "logs": None if job is None else str(job.run_dir / "logs"),
    }


def print_summary(summary: Mapping[str, Any], out: TextIO) -> None:
    """The summary as text: the run, its tasks (replica ends, logs), outputs, notes."""
    colour = colour_enabled(out)
    verdict = "SUCCEEDED" if summary["succeeded"] else "FAILED"
    verdict = paint(GREEN if summary["succeeded"] else RED, verdict, colour)
    print(f"pipeline run {summary['run']}: {verdict}", file=out)
    for name, task in summary["tasks"].items():
        print(f"  task {name} ({task['kind']}): {_state(task, colour)}", file=out)
        if task["replicas"]:
            ends = ", ".join(_replica_end(n, r) for n, r in task["replicas"].items())
            print(f"    replicas: {ends}", file=out)
        if task["logs"]:
            print(f"    logs: {task['logs']}", file=out)
    for name, value in summary["outputs"].items():
        print(f"  output {name} = {json.dumps(value, ensure_ascii=False)}", file=out)
    print(f"  outputs under {summary['pipeline_root']}/{summary['run']}/", file=out)
    print(f"  (gs:// is {summary['gcs_root']})", file=out)
    if summary["ignored"]:
        print("ignored or different locally:", file=out)
        for line in summary["ignored"]:
            print(f"  - {line}", file=out)
    if summary["warnings"]:
        print(paint(YELLOW, "WARNINGS (Vertex would run something else than written):", colour),
              file=out)
        for line in summary["warnings"]:
            print(f"  - {line}", file=out)


def _state(task: Mapping[str, Any], colour: bool) -> str:
    if task["skipped"]:
        return f"skipped: {task['skipped']}"
    if task["not_run"]:
        return paint(RED, "NOT RUN", colour) + f": {task['not_run']}"
    if task["succeeded"]:
        return paint(GREEN, "succeeded", colour)
    return paint(RED, "FAILED", colour) + f": {task['error']}"


def _replica_end(name: str, replica: Mapping[str, Any]) -> str:
    """``workerpool1-0 stopped (exit 143)``, from the replica's ``--json`` form."""
    code = replica["exitCode"]
    if code is None:
        end = "never started"
    elif replica["stopped"]:
        end = f"stopped (exit {code})"
    else:
        end = f"exited {code}"
    attempts = replica["attempts"]
    return f"{name} {end}" + (f" after {attempts} attempts" if attempts > 1 else "")

