"""cjob-emu: test Vertex AI custom training jobs offline.

The public API, imported lazily so ``cjob-emu --help`` starts fast:

- building: :func:`container_pool`, :func:`python_package_pool`, :func:`custom_job`,
  :func:`single_replica_job`, :func:`distributed_job`, :func:`machine`, :func:`with_replicas`
- loading and dumping: :func:`load_job`, :func:`job_to_rest`, :func:`job_to_snake`,
  :func:`worker_pool_specs`
- checking: :func:`validate`, :class:`ValidationReport`, :class:`Problem`
- replica environment: :func:`replica_env`, :func:`replicas`, :class:`ClusterOptions`
- running locally: :func:`run_job`, :func:`submit`, :class:`RunningJob`, :class:`JobResult`
- KFP: :func:`create_custom_training_job_from_component`, :func:`validate_pipeline`
- errors: :class:`CjobEmuError` and its subclasses
"""

from __future__ import annotations

from cjob_emu import _lazy

__version__ = "0.2.0"
"""The version, also the distribution's (pyproject.toml reads it from here)."""

_EXPORTS = {
    "cjob_emu.builder": [
        "container_pool",
        "python_package_pool",
        "custom_job",
        "single_replica_job",
        "distributed_job",
        "machine",
        "with_replicas",
    ],
    "cjob_emu.spec": [
        "load_job",
        "job_to_rest",
        "job_to_snake",
        "job_to_json",
        "worker_pool_specs",
    ],
    "cjob_emu.validate": ["validate", "ValidationReport", "Problem"],
    "cjob_emu.cluster": ["replica_env", "replicas", "ClusterOptions", "Replica"],
    "cjob_emu.executor": ["run_job", "submit", "RunningJob", "JobResult", "RunOptions"],
    "cjob_emu.converter": ["create_custom_training_job_from_component", "validate_pipeline"],
    "cjob_emu.pipelines": ["run_pipeline", "run_component"],
    "cjob_emu.errors": [
        "CjobEmuError",
        "InputError",
        "InvalidJobError",
        "EnvironmentProblem",
        "JobFailedError",
        "JobCancelledError",
    ],
}
__getattr__, __dir__, _names = _lazy.attach(__name__, _EXPORTS)
__all__ = ["__version__", *_names]
