"""What a local pipeline run gives back: every task's state and the run's outputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cjob_emu.errors import JobFailedError
from cjob_emu.executor import JobResult


class LaunchWarning(UserWarning):
    """Vertex would run something other than what the pipeline says (GCPC's launcher drops
    an empty pool, a value breaks or changes the payload...); also in
    :attr:`PipelineRun.warnings`."""


@dataclass(frozen=True)
class TaskResult:
    """One task of the run.

    Attributes:
        name: The task's name; tasks inside sub-DAGs are ``outer/inner``.
        kind: ``"custom-job"``, ``"container"`` (run by kfp.local) or ``"dag"`` (a
            sub-pipeline, condition, loop or exit handler group).
        succeeded: Whether it succeeded (a task a condition skipped did not fail: True).
        outputs: Output parameters, and artifacts as RuntimeArtifact JSON (gs:// URIs).
        error: Why it failed.
        skipped: Why a condition kept it from running (its condition was false, or an
            input of it came from a task a condition skipped); empty otherwise.
        not_run: Why it did not run although no condition stopped it (a task it
            depends on failed or did not run); empty otherwise.
        skipped_outputs: Outputs of a sub-DAG that ran which do not exist because a
            condition skipped every task inside that produces them.
        attempts: How many times it ran (more than once under a retry policy).
        start_time, end_time: When it started and ended (``time.time()``), for a task
            that started.
        job: The executor's result of a custom-job task whose CustomJob ran: how each
            replica ended (``job.replicas``) and where its logs are (``job.log_paths()``).
    """

    name: str
    kind: str
    succeeded: bool
    outputs: dict[str, Any]
    error: str = ""
    skipped: str = ""
    not_run: str = ""
    skipped_outputs: frozenset[str] = frozenset()
    attempts: int = 1
    start_time: float | None = None
    end_time: float | None = None
    job: JobResult | None = None

    @property
    def state(self) -> str:
        """``SUCCEEDED``, ``FAILED``, ``NOT_TRIGGERED`` (a condition skipped it: Vertex's
        ``PipelineTaskDetail.State`` name; its ``SKIPPED`` means a cache hit) or
        ``NOT_RUN`` (cjob-emu's name: a task it depends on failed)."""
        if self.skipped:
            return "NOT_TRIGGERED"
        if self.not_run:
            return "NOT_RUN"
        return "SUCCEEDED" if self.succeeded else "FAILED"


@dataclass(frozen=True)
class PipelineRun:
    """The end of a local pipeline run.

    Attributes:
        name: The run's name (``<pipeline>-<time>``): its outputs are under
            ``<pipeline_root>/<name>/<task>/``.
        succeeded: Whether every task succeeded or a condition skipped it (an exit
            handler's task does not count: the run's state is its group's). A task that
            did not run for any other reason fails the run.
        outputs: The pipeline's outputs by name; artifacts as kfp ``dsl.Artifact``
            objects whose ``uri`` (and ``path``) is the host file under the gs:// root.
        tasks: Every task, in order, by name, with its state: ran, skipped by a
            condition, or not run; loop iterations are ``loop/iteration-N/inner``.
        ignored: Options of the pipeline that have no effect locally, one line each.
        warnings: Where Vertex would run something else than the user wrote.
        pipeline_root: The gs:// URI of the pipeline root.
        gcs_root: The local directory standing for gs://.
    """

    name: str
    succeeded: bool
    outputs: dict[str, Any]
    tasks: dict[str, TaskResult]
    ignored: tuple[str, ...]
    warnings: tuple[str, ...]
    pipeline_root: str
    gcs_root: Path

    @property
    def failed_task(self) -> TaskResult | None:
        """The first task that failed, if one did."""
        return next((t for t in self.tasks.values() if t.state == "FAILED"), None)

    def raise_for_state(self) -> PipelineRun:
        """Self if the run succeeded; else :class:`JobFailedError` naming the task."""
        if self.succeeded:
            return self
        failed = self.failed_task
        if failed is None:
            raise JobFailedError(f"pipeline run {self.name} failed")
        raise JobFailedError(f"task {failed.name} failed: {failed.error}")
