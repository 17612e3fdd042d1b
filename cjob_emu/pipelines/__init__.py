"""The local pipeline runner: compiled KFP pipelines run as Vertex Pipelines would.

- :func:`run_pipeline`: a compiled pipeline, custom-job tasks on the local executor
  (every replica), other tasks through kfp.local; a :class:`PipelineRun` back.
- :func:`run_component`: one component (converted or not) and its outputs, for tests.

Needs kfp (``pip install 'cjob-emu[convert]'``); names are imported on first use,
and a missing kfp is an :class:`~cjob_emu.errors.EnvironmentProblem`.
"""

from __future__ import annotations

from cjob_emu import _lazy

_EXPORTS = {
    "cjob_emu.pipelines.run": [
        "run_pipeline",
        "PipelineRun",
        "TaskResult",
        "LaunchWarning",
        "PipelineInterrupted",
    ],
    "cjob_emu.pipelines.local_component": ["run_component"],
}
__getattr__, __dir__, __all__ = _lazy.attach(__name__, _EXPORTS)
