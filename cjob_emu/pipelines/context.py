"""What one local pipeline run shares while it walks its DAGs."""

from __future__ import annotations

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
    echo: bool
    say: Callable[[str], None]
    record: PipelineRecord
    tasks: dict[str, TaskResult] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

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
