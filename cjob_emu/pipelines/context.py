"""What one local pipeline run shares while it walks its DAGs."""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cjob_emu.executor.gcs import GcsRoot
from cjob_emu.executor.image_map import ImageMap
from cjob_emu.launcher.placeholders import resolve_pipeline_placeholders
from cjob_emu.pipelines.custom_job_task import CustomJobSettings
from cjob_emu.pipelines.record import PipelineRecord
from cjob_emu.pipelines.results import LaunchWarning, TaskResult
from cjob_emu.pipelines.scheduler import Slots

_AFTER_ITS_TASKS = sys.maxsize


@dataclass
class RunContext:
    """What the walk shares: the spec, where things go, and what was said."""

    spec: Mapping[str, Any]
    name: str
    gcs: GcsRoot
    pipeline_root: str
    pipeline_values: dict[str, str]
    settings: CustomJobSettings
    images: ImageMap
    runner: Any
    echo: bool | Callable[[Any], None]
    say: Callable[[str], None]
    record: PipelineRecord
    tasks: dict[str, TaskResult] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    slots: Slots = field(default_factory=Slots)
    stop_tasks: Callable[[], None] = lambda: None
    _positions: dict[str, tuple[int, ...]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    """Stops the ordinary tasks running now (the docker backend removes their containers)."""

    def keep(self, result: TaskResult, position: tuple[int, ...]) -> None:
        """Keep ``result`` in :attr:`tasks`, in the order of the pipeline's structure
        (``position``: a task's index in each DAG above it; a DAG after its tasks), not
        of the moment it ended, so a run's task list reads the same every time."""
        with self._lock:
            self._positions[result.name] = (*position, _AFTER_ITS_TASKS)
            if self.tasks.setdefault(result.name, result) is result:
                self.record.task_ended(result)
            ordered = sorted(self.tasks.items(), key=lambda kv: self._positions[kv[0]])
            self.tasks.clear()
            self.tasks.update(ordered)

    def cancel(self) -> None:
        """Ctrl-C: no task starts any more; running CustomJobs are cancelled (they watch
        ``slots.cancelled``) and running kfp.local tasks stopped."""
        self.slots.cancelled.set()
        self.stop_tasks()

    def warn(self, task: str, message: str) -> None:
        self.warnings.append(f"{task}: {message}")
        self.say(f"WARNING {task}: {message}")
        warnings.warn(f"{task}: {message}", LaunchWarning, stacklevel=2)


def resolve(run: RunContext, value: Any) -> Any:
    """``value`` with pipeline-level placeholders filled in, wherever strings sit in it
    (kfp.local does not know them: it fails on ``{{$.pipeline_google_cloud_project_id}}``)."""
    if isinstance(value, str):
        return resolve_pipeline_placeholders(value, run.pipeline_values)
    if isinstance(value, list):
        return [resolve(run, item) for item in value]
    if isinstance(value, dict):
        return {key: resolve(run, item) for key, item in value.items()}
    return value
