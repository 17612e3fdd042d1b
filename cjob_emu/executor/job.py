"""The job state machine: one CustomJob run on a backend, as Vertex runs it.

States: PENDING from submission (``create_time``), RUNNING once every replica has
started (``start_time``), then SUCCEEDED, FAILED or CANCELLED (``end_time``); a cancel
passes through CANCELLING. The rules:

- The primary replica (workerpool0-0) decides: when it exits 0 the job succeeds and
  the other replicas are stopped. A non-zero exit of any replica fails the job with
  ``error`` code 3 and Vertex's text ("The replica workerpool1-0 exited with a
  non-zero status of 1. ...") plus the last lines of that replica's log.
- ``scheduling.timeout`` (default 7 days), counted from RUNNING, fails the job with
  code 4 (DEADLINE_EXCEEDED); Vertex's own wording for this case is not known.
- With ``scheduling.restart_job_on_worker_restart`` a non-zero exit of any replica
  restarts every replica, at most ``max_restarts`` times (default
  :data:`DEFAULT_MAX_RESTARTS`), within the same timeout; then the job fails.
- Cancel stops every replica; the job ends CANCELLED with ``error`` code 1. A cancel
  racing the job's end either wins (CANCELLED, ``cancel()`` returned True) or is
  refused (``cancel()`` returned False): one terminal state, reported once.
- A replica whose end the backend cannot see (a Docker engine gone for good) fails
  the job with code 14 (UNAVAILABLE) and the backend's reason, instead of a hang.
- What cannot start (a missing image, an install that fails) ends the job FAILED with
  code 9 (FAILED_PRECONDITION); :meth:`RunningJob.wait` then raises that error.

Replicas still running when the outcome is known are stopped with a short grace
period, and the backend's ``teardown`` runs whatever way the run ends. The run
directory's ``job.json`` is rewritten at every state change: a run whose process was
killed shows the state it had reached, until the dead-owner cleanup (``cjob-emu
cleanup`` or the next run) marks it FAILED (:func:`fail_dead_run`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import signal
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from google.cloud.aiplatform_v1 import CustomJob, JobState, WorkerPoolSpec
from google.protobuf import json_format
from google.rpc import status_pb2

from cjob_emu import cluster
from cjob_emu.cluster import ClusterOptions, Replica
from cjob_emu.errors import CjobEmuError, JobCancelledError, JobFailedError
from cjob_emu.executor.backend import (
    LABEL_HOST,
    LABEL_PID,
    LABEL_RUN,
    LABEL_RUN_DIR,
    Backend,
    PythonPackage,
    ReplicaHandle,
    ReplicaLaunch,
    RunSpec,
)
from cjob_emu.executor.events import (
    Event,
    LogLine,
    Notice,
    ReplicaExited,
    ReplicaStarted,
    Restarting,
    StateChanged,
)
from cjob_emu.executor.logs import TAIL_LINES, ReplicaLog, log_path

DEFAULT_MAX_RESTARTS = 3
"""How often ``restart_job_on_worker_restart`` restarts a job before it fails
(Vertex documents no bound; this one keeps a crashing job from looping)."""

DEFAULT_TIMEOUT = 7 * 24 * 3600.0
"""``scheduling.timeout`` when the job sets none: 7 days, as on Vertex."""

CODE_CANCELLED = 1
CODE_INVALID_ARGUMENT = 3
CODE_DEADLINE_EXCEEDED = 4
CODE_FAILED_PRECONDITION = 9
CODE_INTERNAL = 13
CODE_UNAVAILABLE = 14

TERMINAL_STATES = frozenset(
    {JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED}
)

# A replica's output is read to its end before its container is removed and the job's
# end reported: for as long as lines keep coming (a slow watcher, a busy machine), but
# at most _READER_LIMIT seconds (a stray child writing on) and never after _READER_IDLE
# seconds without a line (a stray child holding the pipe open, a stuck watcher).
_READER_IDLE = 2.0
_READER_LIMIT = 60.0
_CANCEL = object()
_END = object()


@dataclass(frozen=True)
class ReplicaResult:
    """How one replica ended.

    ``exit_code`` is None when it never started; ``stopped`` when the executor stopped
    it because the job ended (primary done, another replica failed, timeout, cancel).
    ``attempts`` counts its starts (more than 1 after restarts).
    """

    replica: Replica
    exit_code: int | None
    stopped: bool
    log_path: Path
    attempts: int
    start_time: datetime | None
    end_time: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (what ``cjob-emu run --json`` prints per replica)."""
        return {
            "exitCode": self.exit_code,
            "stopped": self.stopped,
            "attempts": self.attempts,
            "logPath": str(self.log_path),
            "startTime": _rfc3339(self.start_time),
            "endTime": _rfc3339(self.end_time),
        }


@dataclass(frozen=True)
class JobResult:
    """The end of a run: the final CustomJob (state, times, error) and every replica."""

    job: CustomJob
    run_id: str
    run_dir: Path
    backend: str
    replicas: dict[str, ReplicaResult]
    notices: tuple[Notice, ...]

    @property
    def state(self) -> JobState:
        """The final state: SUCCEEDED, FAILED or CANCELLED."""
        return JobState(self.job.state)

    @property
    def succeeded(self) -> bool:
        """Whether the job ended SUCCEEDED."""
        return self.state == JobState.JOB_STATE_SUCCEEDED

    @property
    def exit_codes(self) -> dict[str, int | None]:
        """Replica name -> exit code (None: never started)."""
        return {name: r.exit_code for name, r in self.replicas.items()}

    def log_paths(self) -> dict[str, Path]:
        """Replica name -> its log file."""
        return {name: r.log_path for name, r in self.replicas.items()}

    def raise_for_state(self) -> JobResult:
        """Self if SUCCEEDED; else JobFailedError / JobCancelledError with Vertex's text."""
        if self.state == JobState.JOB_STATE_CANCELLED:
            raise JobCancelledError(self.job.error.message or "CANCELLED")
        if not self.succeeded:
            raise JobFailedError(self.job.error.message or self.state.name)
        return self

    def to_dict(self) -> dict[str, Any]:
        """The final job as REST JSON plus the run's facts (``cjob-emu run --json``)."""
        from cjob_emu.spec import job_to_rest

        return {
            "job": job_to_rest(self.job),
            "replicas": {name: r.to_dict() for name, r in self.replicas.items()},
            "runId": self.run_id,
            "runDir": str(self.run_dir),
            "backend": self.backend,
            "notices": [str(n) for n in self.notices],
        }


@dataclass(frozen=True)
class ReplicaStatus:
    """A replica right now: ``phase`` is waiting, running, succeeded, failed or stopped."""

    replica: Replica
    phase: str
    exit_code: int | None
    attempt: int
    started: float | None
    ended: float | None

    def duration(self, now: float | None = None) -> float | None:
        """Seconds it ran (so far), or None before it started."""
        if self.started is None:
            return None
        end = self.ended if self.ended is not None else (now or time.monotonic())
        return end - self.started


@dataclass(frozen=True)
class _Outcome:
    kind: str  # succeeded, failed, lost, timeout or cancelled
    replica: Replica | None = None
    code: int = 0
    reason: str = ""  # lost: why the backend cannot tell how the replica ended


@dataclass
class _Live:
    handle: ReplicaHandle
    log: ReplicaLog
    reader: threading.Thread
    attempt: int
    done: bool = False
    stderr_tail: list[str] | None = None  # of a failed replica, where lines() reorders it


class RunningJob:
    """A submitted job: watch it (``state``, ``job``, ``events()``), ``wait()``, ``cancel()``.

    Made by :func:`cjob_emu.executor.submit`; the run goes on in a thread of its own.
    """

    def __init__(
        self,
        run: RunSpec,
        backend: Backend,
        *,
        cluster_options: ClusterOptions,
        timeout: float | None = None,
        max_restarts: int = DEFAULT_MAX_RESTARTS,
        notices: list[Notice] | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.run = run
        self.backend = backend
        self._options = cluster_options
        self._timeout = timeout if timeout is not None else _job_timeout(run.job)
        self._max_restarts = max_restarts
        self._on_event = on_event
        self._lock = threading.RLock()
        self._emit_lock = threading.RLock()
        self._done = threading.Event()
        self._cancel = threading.Event()
        self._exits: queue.Queue[Any] = queue.Queue()
        self._subscribers: list[queue.Queue[Any]] = []
        self._history: list[Event] = []
        self._ended_events = False
        self._closing = False  # the final state is being decided: cancel() is too late
        self._notices: list[Notice] = []
        self._live: dict[Replica, _Live] = {}
        self._status: dict[Replica, ReplicaStatus] = {
            r: ReplicaStatus(r, "waiting", None, 0, None, None) for r in run.replicas
        }
        self._results: dict[Replica, ReplicaResult] = {}
        self._deadline = float("inf")
        self._failure: BaseException | None = None
        self._result: JobResult | None = None
        self._job = CustomJob.deserialize(CustomJob.serialize(run.job))
        self._job.name = self._job.name or _job_name(run, cluster_options)
        for name in ("state", "start_time", "end_time", "update_time", "error"):
            CustomJob.pb(self._job).ClearField(name)
        now = _utcnow()
        self._job.create_time = now
        self._set_state(JobState.JOB_STATE_PENDING, now=now)
        for notice in notices or []:
            self._notice(notice)
        self._thread = threading.Thread(target=self._run, name=f"cjob-{run.run_id}", daemon=True)
        _RUNNING.add(self)
        self._thread.start()

    # ----- watching and controlling

    @property
    def state(self) -> JobState:
        """The job's state now."""
        with self._lock:
            return JobState(self._job.state)

    @property
    def job(self) -> CustomJob:
        """A copy of the job message now (state, times, error)."""
        with self._lock:
            return CustomJob.deserialize(CustomJob.serialize(self._job))

    @property
    def done(self) -> bool:
        """Whether the run has ended (and its resources are removed)."""
        return self._done.is_set()

    @property
    def notices(self) -> list[Notice]:
        """Everything the run said it does not emulate or does differently, so far."""
        with self._lock:
            return list(self._notices)

    @property
    def result(self) -> JobResult | None:
        """The :class:`JobResult` once the run ended, else None."""
        return self._result if self._done.is_set() else None

    def join(self, timeout: float | None = None) -> bool:
        """Wait at most ``timeout`` seconds for the run to end; whether it has."""
        return self._done.wait(timeout)

    def replica_status(self) -> list[ReplicaStatus]:
        """Every replica now, in Vertex order (for live tables)."""
        with self._lock:
            return [self._status[r] for r in self.run.replicas]

    def wait(self, timeout: float | None = None) -> JobResult:
        """Block until the run ended; its :class:`JobResult` (also when FAILED/CANCELLED).

        Raises the error that kept the job from starting (e.g. EnvironmentProblem for a
        missing image), or TimeoutError when ``timeout`` seconds pass first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        # Short waits keep the calling thread responsive to Ctrl-C.
        while not self._done.wait(0.2):
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"job {self.run.run_id} still {self.state.name} after {timeout}s"
                )
        if self._failure is not None:
            raise self._failure
        assert self._result is not None
        return self._result

    def cancel(self) -> bool:
        """Ask the run to stop every replica and end CANCELLED; False if it has ended (or
        its end is being decided: then it ends as decided)."""
        with self._lock:
            if self._closing or JobState(self._job.state) in TERMINAL_STATES:
                return False
            if self._cancel.is_set():
                return True
            self._cancel.set()
        # Refused (no event) if the run ended meanwhile: it ends CANCELLED then, see _finish.
        self._set_state(JobState.JOB_STATE_CANCELLING)
        self._exits.put(_CANCEL)
        return True

    def events(self) -> Iterator[Event]:
        """Every event but log lines so far, then every new event until the run ends."""
        subscription: queue.Queue[Any] = queue.Queue()
        with self._emit_lock:
            history = list(self._history)
            ended = self._ended_events
            if not ended:
                self._subscribers.append(subscription)
        yield from history
        if ended:
            return
        while (event := subscription.get()) is not _END:
            yield event

    # ----- the run

    def _run(self) -> None:
        state, error = JobState.JOB_STATE_FAILED, _status(CODE_INTERNAL, "the run ended early")
        try:
            state, error = self._execute()
        except CjobEmuError as exc:
            self._failure = exc
            state, error = JobState.JOB_STATE_FAILED, _status(CODE_FAILED_PRECONDITION, str(exc))
        except Exception as exc:
            self._failure = exc
            message = f"internal error: {exc!r}\n{traceback.format_exc()}"
            state, error = JobState.JOB_STATE_FAILED, _status(CODE_INTERNAL, message)
        finally:
            self._stop_all(stopped=True)
            try:
                self.backend.teardown(self.run)
            except Exception as exc:
                self._notice(Notice(f"teardown of run {self.run.run_id} failed: {exc}"))
            self._finish(state, error)

    def _execute(self) -> tuple[int, status_pb2.Status | None]:
        for removed in self.backend.cleanup_dead():
            self._notice(Notice(f"cleaned up after a dead run: {removed}", kind="cleanup"))
        for note in self.backend.prepare(self.run):
            self._notice(Notice(note, kind="backend"))
        launches = self._launches()
        attempt = 0
        while not self._cancel.is_set():
            self._start_all(launches, attempt)
            if attempt == 0 and not self._cancel.is_set():
                self._deadline = time.monotonic() + self._timeout
                self._set_state(JobState.JOB_STATE_RUNNING, started=True)
            outcome = self._supervise(attempt)
            self._stop_all(stopped=True)
            if outcome.kind == "succeeded":
                return JobState.JOB_STATE_SUCCEEDED, None
            if outcome.kind == "timeout":
                message = (
                    f"The job exceeded its timeout of {self._timeout:g}s "
                    "(job_spec.scheduling.timeout); every replica was stopped."
                )
                return JobState.JOB_STATE_FAILED, _status(CODE_DEADLINE_EXCEEDED, message)
            if outcome.kind == "cancelled" or outcome.replica is None:
                break
            if outcome.kind == "lost":
                message = f"cjob-emu lost track of the replica {outcome.replica}: {outcome.reason}"
                return JobState.JOB_STATE_FAILED, _status(CODE_UNAVAILABLE, message)
            restart = self.run.job.job_spec.scheduling.restart_job_on_worker_restart
            if restart and attempt < self._max_restarts:
                attempt += 1
                launches = self._launches(attempt)
                reason = f"{outcome.replica} exited with a non-zero status of {outcome.code}"
                self._emit(Restarting(attempt, reason))
                continue
            error = self._replica_error(outcome.replica, outcome.code, attempt)
            return JobState.JOB_STATE_FAILED, error
        return JobState.JOB_STATE_CANCELLED, None

    def _launches(self, attempt: int = 0) -> dict[Replica, ReplicaLaunch]:
        run, job = self.run, self.run.job

        def address(replica: Replica) -> str:
            return self.backend.address(run, replica)

        launches = {}
        for replica in run.replicas:
            env = cluster.replica_env(job, replica, options=self._options, address=address)
            env.setdefault("PYTHONUNBUFFERED", "1")
            pool = job.job_spec.worker_pool_specs[replica.pool]
            task = WorkerPoolSpec.pb(pool).WhichOneof("task")
            package = None
            if task == "python_package_spec":
                spec = pool.python_package_spec
                uri, command, args = spec.executor_image_uri, tuple[str, ...](), tuple(spec.args)
                paths = tuple(run.gcs.package_path(p) for p in spec.package_uris)
                package = PythonPackage(spec.python_module, paths)
            else:
                spec_c = pool.container_spec
                uri, command, args = spec_c.image_uri, tuple(spec_c.command), tuple(spec_c.args)
            launches[replica] = ReplicaLaunch(
                run=run,
                replica=replica,
                attempt=attempt,
                image=run.images.get(uri, uri),
                command=command,
                args=args,
                env=env,
                hostname=cluster.vertex_hostname(job, replica, self._options),
                address=address(replica),
                python_package=package,
                gpus=pool.machine_spec.accelerator_count,
                image_uri=uri,
            )
        return launches

    def _start_all(self, launches: dict[Replica, ReplicaLaunch], attempt: int) -> None:
        """Start every replica at once: a container start takes ~0.3 s, so starting them
        one after another made a 4-replica job 1.4x slower than parallel SDK calls."""

        def start(replica: Replica) -> None:
            if not self._cancel.is_set():
                self._start(launches[replica], attempt)

        with ThreadPoolExecutor(max_workers=len(launches) or 1) as pool:
            # list() re-raises the first start that failed, as the sequential loop did.
            list(pool.map(start, self.run.replicas))

    def _start(self, launch: ReplicaLaunch, attempt: int) -> None:
        replica = launch.replica
        handle = self.backend.start(launch)
        log = ReplicaLog(log_path(self.run.run_dir, replica), attempt)
        reader = threading.Thread(
            target=self._read, args=(replica, attempt, handle, log), daemon=True
        )
        with self._lock:
            self._live[replica] = _Live(handle, log, reader, attempt)
            self._status[replica] = ReplicaStatus(
                replica, "running", None, attempt, time.monotonic(), None
            )
            previous = self._results.get(replica)
            self._results[replica] = ReplicaResult(
                replica,
                None,
                False,
                log.path,
                (previous.attempts if previous else 0) + 1,
                _utcnow(),
                None,
            )
        reader.start()
        threading.Thread(target=self._watch, args=(replica, attempt, handle), daemon=True).start()
        self._emit(ReplicaStarted(replica, attempt))

    def _watch(self, replica: Replica, attempt: int, handle: ReplicaHandle) -> None:
        """Report the replica's end; a backend that cannot tell it (an engine gone for
        good) reports why, so the job fails instead of waiting for ever."""
        try:
            code: int | str | None = handle.wait()
        except Exception as exc:
            code = str(exc) or repr(exc)
        if code is None:
            code = "the backend stopped waiting for it without an exit code"
        self._exits.put((attempt, replica, code))

    def _read(self, replica: Replica, attempt: int, handle: ReplicaHandle, log: ReplicaLog) -> None:
        for line in handle.lines():
            log.write(line)
            self._emit(LogLine(replica, attempt, line))

    def _supervise(self, attempt: int) -> _Outcome:
        while True:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                return _Outcome("timeout")
            try:
                item = self._exits.get(timeout=min(remaining, 3600.0))
            except queue.Empty:
                continue
            if item is _CANCEL:
                return _Outcome("cancelled")
            item_attempt, replica, code = item
            if item_attempt != attempt:
                continue
            if isinstance(code, str):
                return _Outcome("lost", replica, reason=code)
            self._ended(replica, code, stopped=False)
            if code != 0:
                return _Outcome("failed", replica, code)
            if replica.is_primary:
                return _Outcome("succeeded")

    def _ended(self, replica: Replica, code: int, *, stopped: bool) -> None:
        with self._lock:
            live = self._live.get(replica)
            if live is None or live.done:
                return
            live.done = True
        _drain(live)
        if code != 0 and not stopped:
            live.stderr_tail = live.handle.stderr_tail(TAIL_LINES)
        live.handle.close()
        live.log.close()
        phase = "stopped" if stopped else ("succeeded" if code == 0 else "failed")
        with self._lock:
            status = self._status[replica]
            self._status[replica] = ReplicaStatus(
                replica, phase, code, live.attempt, status.started, time.monotonic()
            )
            result = self._results[replica]
            self._results[replica] = ReplicaResult(
                replica,
                code,
                stopped,
                result.log_path,
                result.attempts,
                result.start_time,
                _utcnow(),
            )
        self._emit(ReplicaExited(replica, live.attempt, code, stopped))

    def _stop_all(self, *, stopped: bool) -> None:
        with self._lock:
            remaining = [(r, live) for r, live in self._live.items() if not live.done]
        grace = self.run.options.stop_grace

        def stop(replica: Replica, live: _Live) -> None:
            try:
                live.handle.stop(grace)
                code = live.handle.wait(grace + 10)
            except Exception as exc:
                self._notice(Notice(f"stopping {replica} failed: {exc}"))
                code = None
            self._ended(replica, code if code is not None else -1, stopped=stopped)

        threads = [threading.Thread(target=stop, args=item, daemon=True) for item in remaining]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _replica_error(self, replica: Replica, code: int, attempt: int) -> status_pb2.Status:
        live = self._live[replica]
        tail = "\n".join(live.log.tail())
        message = (
            f"The replica {replica} exited with a non-zero status of {code}. "
            f"Termination reason: {_termination_reason(live.handle, code)}."
        )
        if attempt:
            message += (
                f" The job had been restarted {attempt} time(s) (restart_job_on_worker_restart)."
            )
        if tail:
            message += f"\nLast lines of its log:\n{tail}"
        stderr = live.stderr_tail or []
        if not set(stderr) <= set(live.log.tail()):
            message += (
                "\nLast lines of its stderr (logged apart from stdout, so they may stand "
                "earlier in its log):\n" + "\n".join(stderr)
            )
        message += (
            f"\nTo find out more about why your job exited please check the logs: {live.log.path}"
        )
        return _status(CODE_INVALID_ARGUMENT, message)

    def _finish(self, state: int, error: status_pb2.Status | None) -> None:
        with self._lock:
            # Decided under the lock cancel() takes: a cancel that got in ends the job
            # CANCELLED, one that comes later is refused; never both, never CANCELLING last.
            self._closing = True
            if self._cancel.is_set() and self._failure is None:
                state, error = JobState.JOB_STATE_CANCELLED, _status(CODE_CANCELLED, "CANCELED")
            if error is not None:
                self._job.error = error
            self._job.end_time = _utcnow()
        self._set_state(state)
        self._result = JobResult(
            job=self.job,
            run_id=self.run.run_id,
            run_dir=self.run.run_dir,
            backend=self.backend.name,
            replicas={r.name: self._result_of(r) for r in self.run.replicas},
            notices=tuple(self.notices),
        )
        self._done.set()
        _RUNNING.discard(self)
        with self._emit_lock:
            self._ended_events = True
            for subscription in self._subscribers:
                subscription.put(_END)
            self._subscribers.clear()

    def _result_of(self, replica: Replica) -> ReplicaResult:
        return self._results.get(replica) or ReplicaResult(
            replica, None, False, log_path(self.run.run_dir, replica), 0, None, None
        )

    def _set_state(self, state: int, *, now: datetime | None = None, started: bool = False) -> None:
        """Enter ``state`` and report it, unless the job has ended already (a terminal
        state is final and reported once). Writes ``job.json`` in the run directory at
        every change, so a run whose process died still shows where it got to."""
        # Never called with _lock held: watchers run under _emit_lock and may take _lock.
        # Changing and reporting under _emit_lock keeps the events in the order of changes.
        with self._emit_lock:
            with self._lock:
                if JobState(self._job.state) in TERMINAL_STATES:
                    return
                now = now or _utcnow()
                self._job.state = state
                self._job.update_time = now
                if started:
                    self._job.start_time = now
                snapshot = CustomJob.deserialize(CustomJob.serialize(self._job))
            self._write_job(snapshot)
            self._emit(StateChanged(JobState(state), snapshot))

    def _write_job(self, job: CustomJob) -> None:
        _write_job_file(self.run.run_dir / "job.json", job)

    def _notice(self, notice: Notice) -> None:
        with self._lock:
            self._notices.append(notice)
        self._emit(notice)

    def _emit(self, event: Event) -> None:
        with self._emit_lock:
            if not isinstance(event, LogLine):
                self._history.append(event)
            for subscription in self._subscribers:
                subscription.put(event)
            if self._on_event is not None:
                try:
                    self._on_event(event)
                except Exception:
                    # A watcher's bug must not stop the job (or leave replicas running).
                    traceback.print_exc()


_RUNNING: weakref.WeakSet[RunningJob] = weakref.WeakSet()


@atexit.register
def _cancel_at_exit() -> None:
    # Runs live in daemon threads: an exiting interpreter would otherwise leave replicas.
    jobs = list(_RUNNING)
    for job in jobs:
        job.cancel()
    for job in jobs:
        with contextlib.suppress(BaseException):
            job.wait(60)


def _drain(live: _Live) -> None:
    """Wait until the reader of ``live`` has read the replica's output to its end (see
    :data:`_READER_IDLE` and :data:`_READER_LIMIT` for when it gives up)."""
    now = time.monotonic()
    limit, idle_until, seen = now + _READER_LIMIT, now + _READER_IDLE, live.log.written
    while live.reader.is_alive() and now < min(limit, idle_until):
        live.reader.join(0.05)
        now, written = time.monotonic(), live.log.written
        if written != seen:
            seen, idle_until = written, now + _READER_IDLE


def fail_dead_run(labels: Mapping[str, str]) -> str | None:
    """Mark the ``job.json`` of the run ``labels`` name FAILED, its owner having died.

    For ``cleanup_dead`` (after it removed the run's replicas): a job the dead process
    had not ended gets code 13 (INTERNAL) saying so, and its end time. Returns a line
    saying what was marked, or None when there is nothing to mark (no
    :data:`~cjob_emu.executor.backend.LABEL_RUN_DIR`, no readable ``job.json``, or the
    job had ended).
    """
    run_dir = labels.get(LABEL_RUN_DIR)
    if not run_dir:
        return None
    path = Path(run_dir) / "job.json"
    try:
        pb = json_format.Parse(path.read_text(), CustomJob.pb()(), ignore_unknown_fields=True)
    except (OSError, ValueError, json_format.ParseError):
        return None
    job = CustomJob.wrap(pb)
    if JobState(job.state) in TERMINAL_STATES:
        return None
    pid, host = labels.get(LABEL_PID, "?"), labels.get(LABEL_HOST, "?")
    now = _utcnow()
    job.state = JobState.JOB_STATE_FAILED
    job.update_time = now
    job.end_time = now
    job.error = _status(
        CODE_INTERNAL,
        f"the cjob-emu process running this job (pid {pid} on host {host}) died; "
        "its replicas were removed by cleanup",
    )
    if not _write_job_file(path, job):
        return None
    return f"job {path} (run {labels.get(LABEL_RUN, '?')}, dead process {pid}): marked FAILED"


def _write_job_file(path: Path, job: CustomJob) -> bool:
    """Replace ``path`` with ``job``'s JSON; whether it could."""
    from cjob_emu.spec import job_to_json

    partial = path.with_name(f".job.json.{os.getpid()}.tmp")
    try:
        partial.write_text(job_to_json(job) + "\n")
        os.replace(partial, path)  # readers never see half a file
    except OSError:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        return False
    return True


def _termination_reason(handle: ReplicaHandle, code: int) -> str:
    """Vertex's "Error", with what the backend or the exit code tells beyond it."""
    reason = handle.termination_reason()
    if reason:
        return reason
    if code > 128:
        with contextlib.suppress(ValueError):
            name = signal.Signals(code - 128).name
            return f"Error (killed by signal {code - 128}, {name})"
    return "Error"


def _job_timeout(job: CustomJob) -> float:
    timeout = job.job_spec.scheduling.timeout
    seconds = timeout.total_seconds() if timeout else 0.0
    return seconds if seconds > 0 else DEFAULT_TIMEOUT


def _job_name(run: RunSpec, options: ClusterOptions) -> str:
    env = cluster.replica_env(run.job, run.replicas[0], options=options)
    project, region, job_id = (
        env["CLOUD_ML_PROJECT_ID"],
        env["CLOUD_ML_REGION"],
        env["CLOUD_ML_JOB_ID"],
    )
    return f"projects/{project}/locations/{region}/customJobs/{job_id}"


def _status(code: int, message: str) -> status_pb2.Status:
    return status_pb2.Status(code=code, message=message)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _rfc3339(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
