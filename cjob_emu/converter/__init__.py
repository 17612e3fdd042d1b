"""KFP components as Vertex CustomJobs: convert them, check compiled pipelines.

- :func:`create_custom_training_job_from_component`: GCPC's converter, its
  defects fixed, with pools per role and Python package training (needs kfp).
- :func:`validate_pipeline`: check every CustomJob task of a compiled pipeline.

Running what it converts is :mod:`cjob_emu.pipelines`' job. Names are imported
on first use, so the CLI starts without loading kfp or the aiplatform types.
"""

from __future__ import annotations

from cjob_emu import _lazy

_EXPORTS = {
    "cjob_emu.converter.component": [
        "create_custom_training_job_from_component",
        "create_custom_training_job_op_from_component",
    ],
    "cjob_emu.converter.check": ["validate_pipeline", "check_payload", "RuntimeValue"],
    "cjob_emu.launcher.pipeline_spec": ["is_compiled_pipeline"],
    "cjob_emu.launcher.contract": ["DEFAULT_LAUNCHER_TAG", "LAUNCHER_IMAGE_NAME"],
    "cjob_emu.converter.options": ["ROLES"],
}
__getattr__, __dir__, __all__ = _lazy.attach(__name__, _EXPORTS)
