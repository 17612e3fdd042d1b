"""A local pipeline run as its runs directory keeps it: its entry in the run index, and
its task table (``pipeline.json`` in its run directory) from the first task to the end.

The run directory is ``<runs_dir>/<pipeline>-<run id>``: each custom-job task's run
directory is in it (the job's own index entry points back to the pipeline run), and
so is each kfp.local task's log (:func:`~cjob_emu.run_index.files.task_dir`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cjob_emu.errors import EnvironmentProblem
from cjob_emu.executor.backend import LABEL_HOST, LABEL_PID, LABEL_PID_START
from cjob_emu.executor.run_records import RunIndexWarning
from cjob_emu.pipelines.results import PipelineRun, TaskResult
from cjob_emu.run_index import PIPELINE, Owner, RunEntry, RunIndex, now_rfc3339
from cjob_emu.run_index.files import PIPELINE_FILE, TASK_LOG, task_dir, write_json


class PipelineInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a local pipeline run; the message names the tasks it cancelled
    (their CustomJobs cancelled, kfp.local's containers removed) and those that had ended."""


class PipelineRecord:
    """Records one pipeline run: :meth:`begin` it, report each task's start and end,
    then :meth:`finish` (or :meth:`failed`, :meth:`interrupted`).

    A record that cannot be written never stops the run: it is said once, as a
    :class:`~cjob_emu.executor.run_records.RunIndexWarning`.
    """

    def __init__(self, index: RunIndex, entry: RunEntry) -> None:
        self.index = index
        self.entry = entry
        self.tasks: dict[str, dict[str, Any]] = {}
        self._warned = False

    @classmethod
    def begin(
        cls,
        index: RunIndex,
        *,
        run_id: str,
        name: str,
        directory_name: str,
        backend: str,
        gcs_root: Path,
        labels: Mapping[str, str],
    ) -> PipelineRecord:
        """Record the pipeline run ``run_id`` as RUNNING, its directory
        ``<runs_dir>/<directory_name>``."""
        run_dir = (index.runs_dir / directory_name).resolve()
        now = now_rfc3339()
        entry = RunEntry(
            id=run_id,
            kind=PIPELINE,
            name=name,
            state="RUNNING",
            backend=backend,
            run_dir=str(run_dir),
            logs_dir=str(run_dir),
            gcs_root=str(gcs_root),
            create_time=now,
            start_time=now,
            owner=Owner(
                labels.get(LABEL_HOST, ""),
                int(labels.get(LABEL_PID) or 0),
                labels.get(LABEL_PID_START, ""),
            ),
        )
        record = cls(index, entry)
        record._save(entry=True)
        return record

    @property
    def run_dir(self) -> Path:
        """The pipeline run's directory."""
        return Path(self.entry.run_dir)

    def task_log(self, task: str) -> Path:
        """Where the kfp.local task ``task`` logs what it prints."""
        path = task_dir(self.run_dir, task) / TASK_LOG
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def task_started(self, task: str, kind: str) -> None:
        """``task`` (``custom-job`` or ``container``) starts now."""
        where = task_dir(self.run_dir, task)
        self.tasks[task] = {
            "name": task,
            "kind": kind,
            "state": "RUNNING",
            "detail": "",
            "startTime": now_rfc3339(),
            "endTime": "",
            # a custom-job task's run directory; a kfp.local task's log
            "path": str(where if kind == "custom-job" else where / TASK_LOG),
        }
        self._save()

    def task_ended(self, result: TaskResult) -> None:
        """A task ended, or was skipped or not run (``result`` says which)."""
        started = self.tasks.get(result.name, {})
        self.tasks[result.name] = {
            "name": result.name,
            "kind": result.kind,
            "state": result.state,
            "detail": result.skipped or result.not_run or result.error.split("\n", 1)[0],
            "startTime": started.get("startTime", ""),
            "endTime": now_rfc3339(),
            "path": started.get("path", ""),
        }
        self._save()

    def running(self) -> list[str]:
        """The tasks started and not ended, in order."""
        return [name for name, row in self.tasks.items() if row["state"] == "RUNNING"]

    def finish(self, run: PipelineRun) -> None:
        """The run ended as ``run`` says."""
        failed = run.failed_task
        error = "" if run.succeeded or failed is None else f"task {failed.name} failed"
        self._end("SUCCEEDED" if run.succeeded else "FAILED", error)

    def failed(self, exc: BaseException) -> None:
        """The run stopped on ``exc`` (a task it could not run, the engine gone...)."""
        for task in self.running():
            self.tasks[task].update(state="FAILED", endTime=now_rfc3339())
        self._end("FAILED", str(exc).split("\n", 1)[0] or type(exc).__name__)

    def interrupted(self) -> PipelineInterrupted:
        """Ctrl-C: the running tasks and the run are CANCELLED; the exception to raise,
        naming them."""
        cancelled = self.running()
        for task in cancelled:
            self.tasks[task].update(state="CANCELLED", detail="cancelled by Ctrl-C",
                                    endTime=now_rfc3339())
        ended = [f"{n} ({r['state']})" for n, r in self.tasks.items() if n not in cancelled
                 and r["kind"] != "dag"]
        said = (f"cancelled task(s) {', '.join(cancelled)}" if cancelled
                else "no task was running")
        message = (f"pipeline run {self.entry.name} ({self.entry.id}) interrupted: {said}"
                   + (f"; ended before: {', '.join(ended)}" if ended else ""))
        self._end("CANCELLED", f"interrupted: {said}")
        return PipelineInterrupted(message)

    def _end(self, state: str, error: str) -> None:
        self.entry = self.entry.changed(state=state, end_time=now_rfc3339(), error=error)
        self._save(entry=True)

    def _save(self, *, entry: bool = False) -> None:
        document = {
            "id": self.entry.id,
            "name": self.entry.name,
            "state": self.entry.state,
            "tasks": list(self.tasks.values()),
        }
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_json(self.run_dir / PIPELINE_FILE, document)
            if entry:
                self.index.put(self.entry)
        except (OSError, EnvironmentProblem) as exc:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"pipeline run {self.entry.id} is not recorded in {self.index.path}: {exc}",
                    RunIndexWarning,
                    stacklevel=3,
                )
