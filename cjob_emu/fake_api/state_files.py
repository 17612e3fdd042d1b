"""The fake API's state directory: one file per job, so the jobs survive a restart.

``<dir>/customJobs/<id>.json`` (``<dir>/pipelineJobs/<id>.json``) holds the job's
document (:func:`job_document`), replaced atomically on every change of the job.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from cjob_emu.errors import EnvironmentProblem
from cjob_emu.fake_api.kinds import CUSTOM_JOBS, Kind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredJob:
    """A job as the store keeps it: its order of creation, its mode, its message and
    how far its run got (the run's snapshot, ``None`` for a run that cannot resume)."""

    seq: int
    mode: str
    job: Any  # the job's protobuf message (CustomJob, PipelineJob)
    run: Mapping[str, Any] | None


def job_document(stored: StoredJob) -> dict[str, Any]:
    """The JSON form of a stored job (the job as REST JSON): what its state file holds and
    what the admin state lists."""
    return {
        "seq": stored.seq,
        "mode": stored.mode,
        "job": json_format.MessageToDict(stored.job),
        "run": dict(stored.run) if stored.run is not None else None,
    }


class StateFiles:
    """The job files of one kind under ``<state_dir>/<collection>``."""

    def __init__(self, state_dir: str | os.PathLike[str], kind: Kind = CUSTOM_JOBS) -> None:
        self.kind = kind
        self.directory = Path(state_dir) / kind.collection

    def save(self, stored: StoredJob) -> None:
        """Write the job's file, atomically."""
        data = json.dumps(job_document(stored))
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
            os.replace(tmp, self._path(stored.job.name))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def remove(self, name: str) -> None:
        """Remove the file of job ``name``, if there is one."""
        self._path(name).unlink(missing_ok=True)

    def load(self) -> list[StoredJob]:
        """Every job in the directory (made if missing); unreadable files are skipped with
        a warning, and half-written ones removed."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            paths = sorted(self.directory.glob("*.json"))
        except OSError as exc:
            raise EnvironmentProblem(f"state directory {self.directory}: {exc.strerror}") \
                from None
        for stale in self.directory.glob(".tmp-*"):
            stale.unlink(missing_ok=True)
        jobs = []
        for path in paths:
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
                pb = self.kind.new_message()
                json_format.ParseDict(doc["job"], pb)
                jobs.append(StoredJob(int(doc["seq"]), str(doc["mode"]), pb, doc.get("run")))
            except (OSError, ValueError, KeyError, TypeError, json_format.ParseError) as exc:
                log.warning("skipping unreadable job file %s: %s", path, exc)
        return jobs

    def _path(self, name: str) -> Path:
        return self.directory / (name.rsplit("/", 1)[-1] + ".json")
