"""The job state machine: one CustomJob run on a backend, as Vertex runs it.

States: PENDING from submission (``create_time``), RUNNING once every replica has
started (``start_time``), then SUCCEEDED, FAILED or CANCELLED (``end_time``); a cancel
passes through CANCELLING. The rules:

- The primary replica (workerpool0-0) decides: when it exits 0 the job succeeds and
  the other replicas are stopped. A non-zero exit of any replica fails the job with
  ``error`` code 3 and Vertex's text ("The replica workerpool1-0 exited with a
  non-zero status of 1. ...") plus the last lines of that replica's log. Ends close
  together count in the order of the backend's exit times, not of their arrival here
  (:func:`~cjob_emu.executor.outcomes.first_decisive`).
- Reduction Server reducers (pool 2 on Vertex's reduction server image) are not
  started: their image exists only in Vertex's restricted registry. They keep their
  addresses in CLUSTER_SPEC and TF_CONFIG, read "not emulated" in the replica table,
  and count for neither RUNNING nor the outcome.
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
cleanup`` or the next run) marks it FAILED
(:func:`~cjob_emu.executor.run_records.fail_dead_run`).
"""

from __future__ import annotations

import atexit
import contextlib
import queue
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from google.cloud.aiplatform_v1 import CustomJob, JobState
from google.rpc import status_pb2

from cjob_emu.cluster import ClusterOptions, Replica
from cjob_emu.errors import CjobEmuError
from cjob_emu.executor import outcomes, plan
from cjob_emu.executor.backend import Backend, ReplicaHandle, ReplicaLaunch, RunSpec
from cjob_emu.executor.events import (
    Event,
    EventFanout,
    LogLine,
    Notice,
    ReplicaExited,
    ReplicaStarted,
    Restarting,
    StateChanged,
)
from cjob_emu.executor.logs import TAIL_LINES, ReplicaLog, log_path
from cjob_emu.executor.outcomes import TERMINAL_STATES, Outcome, ReplicaEnd
from cjob_emu.executor.results import JobResult, ReplicaStatus, ReplicaTable
from cjob_emu.executor.run_records import write_job

DEFAULT_MAX_RESTARTS = 3
"""How often ``restart_job_on_worker_restart`` restarts a job before it fails
(Vertex documents no bound; this one keeps a crashing job from looping)."""

# A replica's output is read to its end before its container is removed and the job's
# end reported: for as long as lines keep coming (a slow watcher, a busy machine), but
# at most _READER_LIMIT seconds (a stray child writing on) and never after _READER_IDLE
# seconds without a line (a stray child holding the pipe open, a stuck watcher).
_READER_IDLE = 2.0
_READER_LIMIT = 60.0
_CANCEL = object()


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
        self._timeout = timeout if timeout is not None else plan.job_timeout(run.job)
        self._max_restarts = max_restarts
        self._lock = threading.RLock()
        self._events = EventFanout(on_event)
        self._done = threading.Event()
        self._cancel = threading.Event()
        self._exits: queue.Queue[Any] = queue.Queue()
        self._closing = False  # the final state is being decided: cancel() is too late
        self._notices: list[Notice] = []
        self._live: dict[Replica, _Live] = {}
        not_emulated = [r for r in run.replicas if r not in run.emulated]
        self._replicas = ReplicaTable(run.replicas, run.run_dir, not_emulated=not_emulated)
        self._deadline = float("inf")
        self._failure: BaseException | None = None
        self._result: JobResult | None = None
        self._job = CustomJob.deserialize(CustomJob.serialize(run.job))
        self._job.name = self._job.name or plan.job_name(run, cluster_options)
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
        return self._replicas.statuses()

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
        return self._events.events()

    # ----- the run

    def _run(self) -> None:
        state, error = JobState.JOB_STATE_FAILED, outcomes.internal("the run ended early")
        try:
            state, error = self._execute()
        except CjobEmuError as exc:
            self._failure = exc
            state, error = JobState.JOB_STATE_FAILED, outcomes.not_started(exc)
        except Exception as exc:
            self._failure = exc
            message = f"internal error: {exc!r}\n{traceback.format_exc()}"
            state, error = JobState.JOB_STATE_FAILED, outcomes.internal(message)
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
                return JobState.JOB_STATE_FAILED, outcomes.timed_out(self._timeout)
            if outcome.kind == "cancelled" or outcome.replica is None:
                break
            if outcome.kind == "lost":
                return JobState.JOB_STATE_FAILED, outcomes.lost(outcome.replica, outcome.reason)
            restart = self.run.job.job_spec.scheduling.restart_job_on_worker_restart
            if restart and attempt < self._max_restarts:
                attempt += 1
                launches = self._launches(attempt)
                reason = f"{outcome.replica} exited with a non-zero status of {outcome.code}"
                self._events.emit(Restarting(attempt, reason))
                continue
            error = self._replica_error(outcome.replica, outcome.code, attempt)
            return JobState.JOB_STATE_FAILED, error
        return JobState.JOB_STATE_CANCELLED, None

    def _launches(self, attempt: int = 0) -> dict[Replica, ReplicaLaunch]:
        run = self.run
        addresses = {r: self.backend.address(run, r) for r in run.replicas}
        packages = {uri: run.gcs.package_path(uri) for uri in plan.package_uris(run)}
        return plan.launches(
            run, attempt, options=self._options, addresses=addresses, packages=packages
        )

    def _start_all(self, launches: dict[Replica, ReplicaLaunch], attempt: int) -> None:
        """Start every replica at once: a container start takes ~0.3 s, so starting them
        one after another made a 4-replica job 1.4x slower than parallel SDK calls."""

        def start(replica: Replica) -> None:
            if not self._cancel.is_set():
                self._start(launches[replica], attempt)

        with ThreadPoolExecutor(max_workers=len(launches) or 1) as pool:
            # list() re-raises the first start that failed, as the sequential loop did.
            list(pool.map(start, launches))

    def _start(self, launch: ReplicaLaunch, attempt: int) -> None:
        replica = launch.replica
        handle = self.backend.start(launch)
        log = ReplicaLog(log_path(self.run.run_dir, replica), attempt)
        reader = threading.Thread(
            target=self._read, args=(replica, attempt, handle, log), daemon=True
        )
        with self._lock:
            # Together: a stop that finds the replica live finds it started in the table.
            self._replicas.started(replica, attempt, log.path)
            self._live[replica] = _Live(handle, log, reader, attempt)
        reader.start()
        threading.Thread(target=self._watch, args=(replica, attempt, handle), daemon=True).start()
        self._events.emit(ReplicaStarted(replica, attempt))

    def _watch(self, replica: Replica, attempt: int, handle: ReplicaHandle) -> None:
        """Report the replica's end and when the backend says it happened; a backend
        that cannot tell it (an engine gone for good) reports why, so the job fails
        instead of waiting for ever."""
        try:
            code: int | str | None = handle.wait()
            at = handle.ended_at()
        except Exception as exc:
            code, at = str(exc) or repr(exc), None
        if code is None:
            code = "the backend stopped waiting for it without an exit code"
        self._exits.put((attempt, replica, code, at if at is not None else time.time()))

    def _read(self, replica: Replica, attempt: int, handle: ReplicaHandle, log: ReplicaLog) -> None:
        for line in handle.lines():
            log.write(line)
            self._events.emit(LogLine(replica, attempt, line))

    def _supervise(self, attempt: int) -> Outcome:
        while True:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                return Outcome("timeout")
            try:
                item = self._exits.get(timeout=min(remaining, 3600.0))
            except queue.Empty:
                continue
            if item is _CANCEL:
                return Outcome("cancelled")
            item_attempt, replica, code, at = item
            if item_attempt != attempt:
                continue
            if isinstance(code, str):
                return Outcome("lost", replica, reason=code)
            ends = [ReplicaEnd(replica, code, at)]
            if outcomes.decides(ends[0]):
                # Another end may have happened first and still be on its way here.
                ends += self._ended_meanwhile(replica)
            for end in sorted(ends, key=lambda e: e.at):
                self._ended(end.replica, end.code, stopped=False)
            outcome = outcomes.first_decisive(ends)
            if outcome is not None:
                return outcome

    def _ended_meanwhile(self, reported: Replica) -> list[ReplicaEnd]:
        """The ends of live replicas besides ``reported`` that the backend knows of now,
        with its times for them."""
        with self._lock:
            live = [
                (r, each.handle)
                for r, each in self._live.items()
                if not each.done and r != reported
            ]
        ends = []
        for replica, handle in live:
            code = handle.poll()
            if code is not None:
                at = handle.ended_at()
                ends.append(ReplicaEnd(replica, code, at if at is not None else time.time()))
        return ends

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
        self._replicas.ended(replica, live.attempt, code, stopped=stopped)
        self._events.emit(ReplicaExited(replica, live.attempt, code, stopped))

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
        return outcomes.replica_failed(
            replica,
            code,
            ended=outcomes.termination(live.handle.termination_reason(), code),
            restarts=attempt,
            log_tail=live.log.tail(),
            stderr_tail=live.stderr_tail or [],
            log_path=live.log.path,
        )

    def _finish(self, state: int, error: status_pb2.Status | None) -> None:
        with self._lock:
            # Decided under the lock cancel() takes: a cancel that got in ends the job
            # CANCELLED, one that comes later is refused; never both, never CANCELLING last.
            self._closing = True
            if self._cancel.is_set() and self._failure is None:
                state, error = JobState.JOB_STATE_CANCELLED, outcomes.cancelled()
            if error is not None:
                self._job.error = error
            self._job.end_time = _utcnow()
        self._set_state(state)
        self._result = JobResult(
            job=self.job,
            run_id=self.run.run_id,
            run_dir=self.run.run_dir,
            backend=self.backend.name,
            replicas=self._replicas.results(),
            notices=tuple(self.notices),
        )
        self._done.set()
        _RUNNING.discard(self)
        self._events.end()

    def _set_state(self, state: int, *, now: datetime | None = None, started: bool = False) -> None:
        """Enter ``state`` and report it, unless the job has ended already (a terminal
        state is final and reported once). Writes ``job.json`` in the run directory at
        every change, so a run whose process died still shows where it got to."""
        # Never called with _lock held: watchers run under the events' lock and may take
        # _lock. Changing and reporting under the events' lock keeps them in order.
        with self._events.lock:
            with self._lock:
                if JobState(self._job.state) in TERMINAL_STATES:
                    return
                now = now or _utcnow()
                self._job.state = state
                self._job.update_time = now
                if started:
                    self._job.start_time = now
                snapshot = CustomJob.deserialize(CustomJob.serialize(self._job))
            write_job(self.run.run_dir, snapshot)
            self._events.emit(StateChanged(JobState(state), snapshot))

    def _notice(self, notice: Notice) -> None:
        with self._lock:
            self._notices.append(notice)
        self._events.emit(notice)


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


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)
