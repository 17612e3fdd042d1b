"""What a run keeps in its own directory besides its logs, beside its index entry.

- ``job.json``: a job run's CustomJob as it stands (REST JSON; written by the executor).
- ``replicas.json``: a job run's replicas: state, exit code, attempts, times, log file.
- ``pipeline.json``: a pipeline run's tasks in order: kind, state and why.
- ``<task>/task.log``: what a pipeline's kfp.local task printed (a custom-job task's
  replicas log into ``<task>/logs/`` as every job run does).

Each file is replaced whole (:func:`write_json`), so a reader never sees half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path
from typing import Any

JOB_FILE = "job.json"
REPLICAS_FILE = "replicas.json"
PIPELINE_FILE = "pipeline.json"
TASK_LOG = "task.log"


def task_dir(pipeline_dir: Path, task: str) -> Path:
    """The directory of a pipeline's task ``task`` (``outer/inner`` -> ``outer.inner``):
    a custom-job task's run directory, or where a kfp.local task's log goes."""
    return pipeline_dir / task.replace("/", ".")


def write_json(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as indented JSON (OSError when it cannot)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        partial.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        os.replace(partial, path)  # readers never see half a file
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_replicas(run_dir: Path) -> list[dict[str, Any]]:
    """A job run's replicas (``replicas.json``) in Vertex order; none when unreadable."""
    data = read_json(run_dir / REPLICAS_FILE)
    return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []


def read_tasks(run_dir: Path) -> list[dict[str, Any]]:
    """A pipeline run's tasks (``pipeline.json``) in order; none when unreadable."""
    data = read_json(run_dir / PIPELINE_FILE)
    tasks = data.get("tasks") if isinstance(data, dict) else None
    return [t for t in tasks if isinstance(t, dict)] if isinstance(tasks, list) else []
