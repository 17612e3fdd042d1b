"""KFP components as Vertex CustomJobs: convert them, check compiled pipelines.

- :func:`create_custom_training_job_from_component`: GCPC's converter, its
  defects fixed, with pools per role and Python package training (needs kfp).
- :func:`validate_pipeline`: check every CustomJob task of a compiled pipeline.
- :func:`run_pipeline`: run a compiled pipeline locally, custom-job tasks on the
  executor (every replica), other tasks through kfp.local.
- :func:`run_component`: run one component locally and get its outputs (for tests).

Imported lazily, so the CLI starts without loading kfp.
"""

from __future__ import annotations

from typing import Any

from cjob_emu import _lazy

_EXPORTS = {
    "cjob_emu.convert.component": [
        "create_custom_training_job_from_component",
        "create_custom_training_job_op_from_component",
    ],
    "cjob_emu.convert.check": [
        "validate_pipeline",
        "check_payload",
        "is_compiled_pipeline",
        "RuntimeValue",
    ],
    "cjob_emu.convert.launcher": ["DEFAULT_LAUNCHER_TAG", "LAUNCHER_IMAGE_NAME"],
    "cjob_emu.convert.pipeline": ["run_pipeline", "PipelineRun", "TaskResult", "LaunchWarning"],
    "cjob_emu.convert.local_component": ["run_component"],
    "cjob_emu.convert.options": ["ROLES"],
}
_WHERE = _lazy.where(_EXPORTS)

__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    return _lazy.load(__name__, globals(), _WHERE, name)


def __dir__() -> list[str]:
    return sorted(__all__)
