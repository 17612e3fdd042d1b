"""What a run keeps in its directory: ``job.json``, the job as it stands.

The state machine rewrites ``<run_dir>/job.json`` at every state change (replica logs
sit beside it, see :mod:`.logs`), so a run whose process was killed shows the state it
had reached, until the dead-owner cleanup (``cjob-emu cleanup`` or the next run) marks
it FAILED (:func:`fail_dead_run`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from google.cloud.aiplatform_v1 import CustomJob, JobState
from google.protobuf import json_format

from cjob_emu.executor.backend import LABEL_HOST, LABEL_PID, LABEL_RUN, LABEL_RUN_DIR
from cjob_emu.executor.outcomes import TERMINAL_STATES, owner_died
from cjob_emu.spec import job_to_json

JOB_FILE = "job.json"
"""The name of the job's record in the run directory."""


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
