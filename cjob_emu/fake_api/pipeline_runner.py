"""Executor mode for PipelineJobs: the compiled pipeline really runs, through the local
pipeline runner (:func:`cjob_emu.pipelines.run_pipeline`).

Each PipelineJob runs in a thread of its own, so several run at once, as on Vertex.
It reads PENDING for the provisioning time, then RUNNING while the runner walks the
DAG (custom-job tasks on the executor, ordinary tasks through kfp.local, on the
server's backend and gs:// root), then SUCCEEDED or FAILED with the runner's outcome.
Its ``job_detail`` follows the run (:mod:`.pipeline_details`): a task appears when the
runner says it starts (its ``say`` lines), a custom-job task names its CustomJob (the
executor's first event, reported from the task's own thread); when the run ends every
task gets the runner's result.

Outputs go under ``<pipeline root>/<project number>/<job id>/``, as on Vertex, and
there in the runner's own ``<run name>/<task>/`` layout. Cancel interrupts the
runner's thread as Ctrl-C interrupts ``cjob-emu run`` (CustomJobs cancelled and their
replicas removed, kfp.local's containers and network removed), and stops the job's
kfp.local tasks at once (:mod:`.pipeline_stop`); the job is CANCELLED when the runner
has stopped.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.cloud.aiplatform_v1 import PipelineJob

from cjob_emu.errors import CjobEmuError, InputError
from cjob_emu.executor import Event, StateChanged
from cjob_emu.executor.gcs import GcsRoot
from cjob_emu.executor.submission import DEFAULT_WORK_DIR
from cjob_emu.fake_api.executor_runner import ExecutorSettings
from cjob_emu.fake_api.kinds import CANCELLED, FAILED, PENDING, RUNNING, SUCCEEDED, TERMINAL
from cjob_emu.fake_api.pipeline_details import TaskDetails, pipeline_failure
from cjob_emu.fake_api.pipeline_requests import pipeline_spec, runtime_parameters
from cjob_emu.fake_api.pipeline_stop import stop_ordinary_tasks
from cjob_emu.fake_api.rpc import bad_request
from cjob_emu.fake_api.runner_protocol import JobError, Report
from cjob_emu.fake_api.simulated_runner import (
    CANCELLED_ERROR,
    PIPELINE_FAILED_CODE,
    Provisioning,
)

if TYPE_CHECKING:
    from cjob_emu.pipelines import PipelineRun

log = logging.getLogger(__name__)

_TASK_LINE = re.compile(r"^task (?P<path>\S+): (?P<what>.*)$")
_STARTS = {"CustomJob on": "custom-job", "kfp.local (": "container"}
_CLOSE_WAIT = 120.0  # seconds to let cancelled runs stop their tasks
DEFAULT_PIPELINE_ROOT = "gs://cjob-emu/pipeline_root"


class PipelineJobRun:
    """One PipelineJob running through the local pipeline runner, in its own thread."""

    def __init__(self, job: PipelineJob, report: Report, settings: ExecutorSettings,
                 provisioning: float, project_id: str) -> None:
        self._report = report
        self._settings = settings
        self._provisioning = provisioning
        self._project_id = project_id
        pb = PipelineJob.pb(job)
        self._spec = pipeline_spec(pb)
        self._arguments = runtime_parameters(pb)
        self._name = job.name
        parts = job.name.split("/")
        self._location, self._job_id, number = parts[3], parts[5], parts[1]
        self._gcs = GcsRoot.at(settings.gcs_root if settings.gcs_root is not None
                               else DEFAULT_WORK_DIR / "gcs")
        root = (pb.runtime_config.gcs_output_directory
                or str(self._spec.get("defaultPipelineRoot", "")) or DEFAULT_PIPELINE_ROOT)
        self._root = f"{root.rstrip('/')}/{number}/{self._job_id}"
        self._details = TaskDetails(str(self._spec["pipelineInfo"]["name"]))
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._in_runner = False
        self._interrupted = False
        self._current: dict[int, str] = {}  # thread id -> the task it runs now
        self._jobs: dict[str, str] = {}  # CustomJob name -> its task
        self.thread = threading.Thread(target=self._run, name=f"cjob-emu-{self._job_id}",
                                       daemon=True)

    # -- the JobRun protocol ---------------------------------------------------------------

    def on_poll(self) -> None:
        """The run reports on its own; reads change nothing."""

    def cancel(self) -> None:
        with self._lock:
            self._cancel.set()
            if not self._in_runner or self._interrupted:
                return
            self._interrupted = True
            _raise_in(self.thread, KeyboardInterrupt)
        # not in the caller's thread: it may hold the store's lock, and this talks to Docker
        threading.Thread(target=self._stop_tasks, daemon=True,
                         name=f"cjob-emu-stop-{self._job_id}").start()

    def _stop_tasks(self) -> None:
        stop_ordinary_tasks(self._settings.backend, str(self._gcs.local_path(self._root)))

    def snapshot(self) -> None:
        return None  # a real run cannot be taken over by a restarted server

    # -- the run ---------------------------------------------------------------------------

    def _run(self) -> None:
        outcome: tuple[int, JobError | None] | None = None
        try:
            try:
                outcome = self._execute()
            finally:
                self._leave_runner()
        except KeyboardInterrupt:  # the cancel, wherever it landed
            self._leave_runner()
        if outcome is None or self._cancel.is_set():
            self._details.cancelled()
            self._details.finish({}, CANCELLED)
            outcome = (CANCELLED, CANCELLED_ERROR)
        self._report(outcome[0], outcome[1], detail=self._details.message())

    def _execute(self) -> tuple[int, JobError | None] | None:
        """Provision, then run the pipeline; its end state and error (None: cancelled)."""
        if self._cancel.wait(self._provisioning):
            return None
        self._report(RUNNING, None, detail=self._details.message())
        try:
            # imported on use: the runner needs kfp, an optional dependency the rest of
            # the fake API does without (missing: an EnvironmentProblem)
            from cjob_emu.pipelines import run_pipeline
        except CjobEmuError as exc:
            return self._failed(PIPELINE_FAILED_CODE, f"cjob-emu: {exc}")
        with self._lock:
            if self._cancel.is_set():
                return None
            self._in_runner = True
        try:
            with _stdout_kept():
                run = run_pipeline(
                    self._spec,
                    self._arguments,
                    backend=self._settings.backend,
                    gcs_root=self._gcs.path,
                    image_map=self._settings.image_map,
                    pipeline_root=self._root,
                    project=self._project_id,
                    location=self._location,
                    options=self._settings.options,
                    runs_dir=None if self._settings.work_dir is None
                    else Path(self._settings.work_dir) / "runs",
                    on_event=self._on_event,
                    say=self._say,
                    echo=False,
                )
        except InputError as exc:
            return self._failed(3, f"cjob-emu cannot run this pipeline locally: {exc}")
        except CjobEmuError as exc:
            return self._failed(PIPELINE_FAILED_CODE, f"cjob-emu: {exc}")
        except Exception as exc:  # a bug of ours: the job fails, the server goes on
            log.exception("PipelineJob %s: the local runner failed", self._name)
            return self._failed(13, f"cjob-emu internal error: {type(exc).__name__}: {exc}")
        return self._ended(run)

    def _ended(self, run: PipelineRun) -> tuple[int, JobError | None]:
        if run.succeeded:
            self._details.finish(run.tasks, SUCCEEDED)
            return SUCCEEDED, None
        failed = [path for path, task in run.tasks.items()
                  if "/" not in path and task.state == "FAILED"]
        leaf = next((t for t in run.tasks.values() if t.state == "FAILED" and t.kind != "dag"),
                    run.failed_task)
        message = pipeline_failure(failed, f"task {leaf.name}: {leaf.error}" if leaf else "")
        self._details.finish(run.tasks, FAILED, message)
        return FAILED, (PIPELINE_FAILED_CODE, message)

    def _failed(self, code: int, message: str) -> tuple[int, JobError]:
        self._details.finish({}, FAILED, message)
        return FAILED, (code, message)

    def _leave_runner(self) -> None:
        """The runner has returned: no interrupt may reach this thread any more."""
        with self._lock:
            if self._in_runner and self._interrupted:
                _raise_in(self.thread, None)  # drop one that has not landed yet
            self._in_runner = False

    # -- what the runner says --------------------------------------------------------------

    def _say(self, line: str) -> None:
        match = _TASK_LINE.match(line)
        if match is None:
            return
        kind = next((k for start, k in _STARTS.items() if match["what"].startswith(start)),
                    None)
        if kind is None:
            return
        me = threading.get_ident()
        previous = self._current.get(me)
        if previous is not None:  # a thread runs one task at a time: that one has ended
            self._details.ended(previous)
        self._current[me] = match["path"]
        self._details.started(match["path"], kind)
        self._report(None, detail=self._details.message())

    def _on_event(self, event: Event) -> None:
        if not isinstance(event, StateChanged):
            return
        name = event.job.name
        if event.state == PENDING:  # reported by submit(), in the task's own thread
            path = self._current.get(threading.get_ident())
            if path is None:
                return
            self._jobs[name] = path
            self._details.custom_job(path, name)
        elif event.state in TERMINAL and name in self._jobs:
            self._details.ended(self._jobs[name], int(event.state))
        else:
            return
        self._report(None, detail=self._details.message())


class PipelineExecutorRunner:
    """Runs PipelineJobs through the local pipeline runner, each in a thread.

    ``settings`` gives the backend, gs:// root, run directories, image map and replica
    options (those of the server's executor mode); ``project_id`` the id of a project
    number (the pipeline's ``{{$.pipeline_google_cloud_project_id}}``).
    """

    def __init__(self, settings: Callable[[], ExecutorSettings], provisioning: Provisioning,
                 project_id: Callable[[str], str]) -> None:
        self._settings = settings
        self._provisioning = provisioning
        self._project_id = project_id
        self._runs: list[PipelineJobRun] = []
        self._lock = threading.Lock()

    def start(self, job: PipelineJob, report: Report) -> PipelineJobRun:
        config = job.runtime_config
        if config.input_artifacts:
            field = "runtime_config.input_artifacts"
            why = ("artifacts of Vertex ML Metadata cannot be read locally; give the pipeline "
                   "its inputs as parameters")
            raise bad_request(f"{field}: {why}", [(field, why)])
        run = PipelineJobRun(job, report, self._settings(), self._provisioning.seconds,
                             self._project_id(job.name.split("/")[1]))
        with self._lock:
            self._runs = [r for r in self._runs if r.thread.is_alive()]
            self._runs.append(run)
        run.thread.start()
        return run

    def resume(self, job: PipelineJob, snapshot: Mapping[str, Any], report: Report) -> None:
        return None

    def close(self) -> None:
        """Cancel every run and wait (bounded) for them to stop their tasks."""
        with self._lock:
            runs, self._runs = self._runs, []
        for run in runs:
            run.cancel()
        for run in runs:
            run.thread.join(_CLOSE_WAIT)


_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.restype = ctypes.c_int


def _raise_in(thread: threading.Thread, exception: type[BaseException] | None) -> None:
    """Raise ``exception`` in ``thread`` at its next Python instruction (None: take back
    one that has not landed yet): how a cancel reaches a runner that only stops on
    Ctrl-C. CPython's documented C API; the thread must run Python code to notice."""
    if thread.ident is None:
        return
    target = ctypes.c_ulong(thread.ident)
    _set_async_exc(target, ctypes.py_object(exception) if exception is not None else None)


class _StdoutKeeper:
    """kfp.local redirects ``sys.stdout`` while a task runs (``contextlib.redirect_stdout``,
    process-wide); runs in several threads can leave it pointing at one run's buffer. The
    stream from before the first run is put back when the last run ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._saved: Any = None

    @contextlib.contextmanager
    def kept(self) -> Iterator[None]:
        with self._lock:
            if self._active == 0:
                self._saved = sys.stdout
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0 and sys.stdout is not self._saved:
                    sys.stdout = self._saved


_stdout_kept = _StdoutKeeper().kept
