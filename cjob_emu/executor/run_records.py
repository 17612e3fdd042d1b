"""What a run keeps: ``job.json`` in its directory, and its entry in the run index.

The state machine rewrites ``<run_dir>/job.json`` at every state change (replica logs
sit beside it, see :mod:`.logs`), so a run whose process was killed shows the state it
had reached, until the dead-owner cleanup (``cjob-emu cleanup`` or the next run) marks
it FAILED (:func:`fail_dead_run`). :class:`RunRecorder` keeps the run's entry in its
runs directory's index (:mod:`cjob_emu.run_index`) and its replica table
(``replicas.json``) from the run's events; :func:`settle_dead_runs` marks the entries
of runs whose process died FAILED.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from google.cloud.aiplatform_v1 import CustomJob, JobState
from google.protobuf import json_format

from cjob_emu.errors import EnvironmentProblem
from cjob_emu.executor.backend import (
    LABEL_HOST,
    LABEL_PID,
    LABEL_PID_START,
    LABEL_RUN,
    LABEL_RUN_DIR,
    RunSpec,
    owner_alive,
)
from cjob_emu.executor.events import Event, ReplicaExited, ReplicaStarted, StateChanged
from cjob_emu.executor.logs import log_path
from cjob_emu.executor.outcomes import TERMINAL_STATES, owner_died
from cjob_emu.run_index import JOB, Owner, ParentRun, RunEntry, RunIndex, now_rfc3339, rfc3339
from cjob_emu.run_index.files import JOB_FILE, REPLICAS_FILE, write_json
from cjob_emu.spec import job_to_json


class RunIndexWarning(UserWarning):
    """A run could not be recorded in its runs directory's index (it ran all the same)."""


def write_job(run_dir: Path, job: CustomJob) -> bool:
    """Replace the run's ``job.json`` with ``job``; whether it could."""
    return _write_job_file(run_dir / JOB_FILE, job)


def fail_dead_run(labels: Mapping[str, str]) -> str | None:
    """Mark the ``job.json`` of the run ``labels`` name FAILED, its owner having died.

    For ``cleanup_dead`` (after it removed the run's replicas): a job the dead process
    had not ended gets code 13 (INTERNAL) saying so, and its end time. Returns a line
    saying what was marked, or None when there is nothing to mark (no
    :data:`~cjob_emu.executor.backend.LABEL_RUN_DIR`, no readable ``job.json``, or the
    job had ended).
    """
    run_dir = labels.get(LABEL_RUN_DIR)
    if not run_dir:
        return None
    path = Path(run_dir) / JOB_FILE
    try:
        pb = json_format.Parse(path.read_text(), CustomJob.pb()(), ignore_unknown_fields=True)
    except (OSError, ValueError, json_format.ParseError):
        return None
    job = CustomJob.wrap(pb)
    if JobState(job.state) in TERMINAL_STATES:
        return None
    pid, host = labels.get(LABEL_PID, "?"), labels.get(LABEL_HOST, "?")
    now = datetime.now(timezone.utc)
    job.state = JobState.JOB_STATE_FAILED
    job.update_time = now
    job.end_time = now
    job.error = owner_died(pid, host)
    if not _write_job_file(path, job):
        return None
    return f"job {path} (run {labels.get(LABEL_RUN, '?')}, dead process {pid}): marked FAILED"


def _write_job_file(path: Path, job: CustomJob) -> bool:
    """Replace ``path`` with ``job``'s JSON; whether it could."""
    partial = path.with_name(f".job.json.{os.getpid()}.tmp")
    try:
        partial.write_text(job_to_json(job) + "\n")
        os.replace(partial, path)  # readers never see half a file
    except OSError:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        return False
    return True


class RunRecorder:
    """Records one job run in ``index`` at every state change and its replicas in
    ``<run_dir>/replicas.json`` at every start and end of one, from the run's events,
    then hands each event to ``on_event``.

    ``parent`` names the pipeline run (and task) the job belongs to. A record that
    cannot be written (a full disk, a read-only runs directory) never stops the run:
    it is said once, as a :class:`RunIndexWarning`.
    """

    def __init__(
        self,
        index: RunIndex,
        run: RunSpec,
        backend: str,
        *,
        parent: ParentRun | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self._index = index
        self._run = run
        self._backend = backend
        self._parent = parent
        self._on_event = on_event
        self._warned = False
        self._replicas: dict[str, dict[str, Any]] = {
            r.name: {
                "replica": r.name,
                "state": "waiting",
                "exitCode": None,
                "attempts": 0,
                "startTime": "",
                "endTime": "",
                "log": str(log_path(run.run_dir, r)),
            }
            for r in run.replicas
        }

    def __call__(self, event: Event) -> None:
        """Record ``event`` (events come one at a time), then hand it on."""
        try:
            self._record(event)
        except (OSError, EnvironmentProblem) as exc:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"run {self._run.run_id} is not recorded in {self._index.path}: {exc}",
                    RunIndexWarning,
                    stacklevel=2,
                )
        if self._on_event is not None:
            self._on_event(event)

    def _record(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            if event.state == JobState.JOB_STATE_PENDING:
                self._write_replicas()
            self._index.put(self._entry(event.job))
            return
        if isinstance(event, ReplicaStarted):
            replica = self._replicas[event.replica.name]
            replica.update(state="running", exitCode=None, endTime="",
                           startTime=now_rfc3339(), attempts=replica["attempts"] + 1)
        elif isinstance(event, ReplicaExited):
            state = "succeeded" if event.exit_code == 0 else "failed"
            self._replicas[event.replica.name].update(
                state="stopped" if event.stopped else state,
                exitCode=event.exit_code,
                endTime=now_rfc3339(),
            )
        else:
            return
        self._write_replicas()

    def _write_replicas(self) -> None:
        write_json(self._run.run_dir / REPLICAS_FILE, list(self._replicas.values()))

    def _entry(self, job: CustomJob) -> RunEntry:
        run, labels = self._run, self._run.labels
        return RunEntry(
            id=run.run_id,
            kind=JOB,
            name=job.display_name,
            state=JobState(job.state).name.removeprefix("JOB_STATE_"),
            backend=self._backend,
            run_dir=str(run.run_dir),
            logs_dir=str(run.run_dir / "logs"),
            gcs_root=str(run.gcs.path),
            create_time=rfc3339(job.create_time),
            start_time=rfc3339(job.start_time),
            end_time=rfc3339(job.end_time),
            error=job.error.message.split("\n", 1)[0],
            parent=self._parent,
            owner=Owner(
                labels.get(LABEL_HOST, ""),
                int(labels.get(LABEL_PID) or 0),
                labels.get(LABEL_PID_START, ""),
            ),
        )


def settle_dead_runs(index: RunIndex) -> list[str]:
    """Mark FAILED every run of ``index`` that has not ended but whose process died
    (and a job's ``job.json`` too); a line saying so for each."""
    settled: list[str] = []
    for entry in index.entries():
        owner = entry.owner
        if entry.ended or owner is None:
            continue
        labels = {
            LABEL_HOST: owner.host,
            LABEL_PID: str(owner.pid),
            LABEL_PID_START: owner.pid_start,
            LABEL_RUN: entry.id,
        }
        if owner_alive(labels):
            continue
        error = f"its process (pid {owner.pid} on {owner.host}) died before it ended"
        if entry.kind == JOB:
            fail_dead_run({**labels, LABEL_RUN_DIR: entry.run_dir})
        index.update(entry.id, state="FAILED", end_time=now_rfc3339(), error=error)
        settled.append(f"run {entry.id} ({entry.kind} {entry.name}): {error}: marked FAILED")
    return settled
