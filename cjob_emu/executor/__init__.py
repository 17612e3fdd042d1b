"""Run a CustomJob on this machine the way Vertex runs it.

    from cjob_emu.executor import run_job, submit

    result = run_job("job.yaml", backend="process", gcs_root="out/gcs")
    result.state, result.exit_codes, result.log_paths(), result.job.error

    running = submit(job, on_event=print)   # returns at once; the run goes on
    running.state; running.cancel(); running.wait(timeout=60)

Backends (``backend=``):

- ``"docker"``: every replica a container on a network of its own, reachable by its
  Vertex hostname; the gs:// root mounted at ``/gcs``.
- ``"process"``: every replica a host process; images ignored, addresses on
  127.0.0.1, ``/gcs`` paths rewritten to the root (see :mod:`.process`).
- ``"auto"`` (default): docker where an engine answers, else process.
- a :class:`Backend` instance of your own.

Where things go: the gs:// root defaults to ``./.cjob-emu/gcs`` (:mod:`.gcs`); each
run gets a directory, by default ``./.cjob-emu/runs/<run id>``, holding
``logs/<replica>.log`` and ``job.json`` (the job as it stands, rewritten at every
state change, so a run whose process died shows the state it reached, until
:func:`cleanup` or the next run marks it FAILED), and ``replicas.json`` (each replica's
state, exit code and log); every run is recorded in its runs directory's index
(``runs_dir``, default ``./.cjob-emu/runs``; see :mod:`cjob_emu.run_index`).

Several jobs into one root, all ended in one call (what the ``local_executor`` pytest
fixture is): :class:`LocalExecutor`.
"""

from cjob_emu.executor.backend import Backend, RunOptions
from cjob_emu.executor.events import (
    Event,
    LogLine,
    Notice,
    ReplicaExited,
    ReplicaStarted,
    Restarting,
    StateChanged,
)
from cjob_emu.executor.gcs import GcsRoot
from cjob_emu.executor.image_map import ImageMap
from cjob_emu.executor.job import DEFAULT_MAX_RESTARTS, RunningJob
from cjob_emu.executor.local import LocalExecutor
from cjob_emu.executor.results import JobResult, ReplicaResult, ReplicaStatus
from cjob_emu.executor.submission import (
    DEFAULT_WORK_DIR,
    ImageMapLike,
    cleanup,
    get_backend,
    new_run_id,
    run_job,
    submit,
)

__all__ = [
    "DEFAULT_MAX_RESTARTS",
    "DEFAULT_WORK_DIR",
    "Backend",
    "Event",
    "GcsRoot",
    "ImageMap",
    "ImageMapLike",
    "JobResult",
    "LocalExecutor",
    "LogLine",
    "Notice",
    "ReplicaExited",
    "ReplicaResult",
    "ReplicaStarted",
    "ReplicaStatus",
    "Restarting",
    "RunOptions",
    "RunningJob",
    "StateChanged",
    "cleanup",
    "get_backend",
    "new_run_id",
    "run_job",
    "submit",
]
