"""The fake API's jobs (moto's backend): ids, states and times, paging, the state rules.

One :class:`JobStore` per kind of job (``customJobs``, ``pipelineJobs``: see
:mod:`.kinds`). Every state change goes through it, and it keeps Vertex's rules:
``startTime`` when a job first runs, ``endTime`` and no further change once it
ends, cancel only before the end, delete only after it. Runs (simulated or
executed) only report; see :mod:`cjob_emu.fake_api.runner_protocol`.

The store answers with messages (``CustomJob``/``PipelineJob`` and ``Operation``
protobuf messages); rendering them is the callers' job. A message it has handed out
never changes: every change of a job replaces its message, so callers may read one
without the store's lock. Names carry the project number: callers turn a project id
into its number (:mod:`.projects`) before they ask.

With a state directory the jobs are kept in files (:mod:`.state_files`) and survive
a restart.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.cloud.aiplatform_v1 import DeleteOperationMetadata
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2

from cjob_emu.fake_api.kinds import (
    CANCELLED,
    CANCELLING,
    CUSTOM_JOBS,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    TERMINAL,
    Kind,
)
from cjob_emu.fake_api.rpc import ApiError, bad_request, not_found
from cjob_emu.fake_api.runner_protocol import JobError, JobRun, Report, Runner
from cjob_emu.fake_api.simulated_runner import CANCELLED_ERROR, failure_error, held_run
from cjob_emu.fake_api.state_files import StateFiles, StoredJob

log = logging.getLogger(__name__)

MODES = ("simulated", "executor")
LABEL_MODE = "cjob-emu-mode"

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

_LOST_ERROR: JobError = (
    13,
    "cjob-emu restarted while this job ran in executor mode; the run was lost. What its "
    "replicas left is removed by the next job run here or by `cjob-emu cleanup`.",
)


@dataclass
class _Record:
    seq: int
    pb: Any  # the job's protobuf message, the single source of truth; replaced on change
    mode: str
    run: JobRun | None = None
    generation: int = 0  # bumped when an admin takes the job away from its run

    @property
    def terminal(self) -> bool:
        return self.pb.state in TERMINAL


@dataclass(frozen=True)
class Page:
    """One page of a list answer: job protobuf messages, newest first."""

    jobs: list[Any]
    next_page_token: str


class JobStore:
    """Jobs of one kind by resource name; thread-safe; optionally persisted to a directory."""

    def __init__(
        self,
        runners: Mapping[str, Runner],
        *,
        kind: Kind = CUSTOM_JOBS,
        default_mode: str = "simulated",
        state_dir: str | os.PathLike[str] | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        if default_mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {default_mode!r}")
        self.kind = kind
        self._runners = dict(runners)
        self.default_mode = default_mode
        self._clock = clock or _now_ns
        self._lock = threading.RLock()
        self._jobs: dict[str, _Record] = {}
        self._operations: dict[str, Any] = {}  # Operation protobuf messages by name
        self._seq = 0
        self._ids: set[str] = set()
        self._files = StateFiles(state_dir, kind) if state_dir is not None else None
        if self._files is not None:
            self._load(self._files)

    # -- the API methods -------------------------------------------------------------------

    def create(self, parent: str, pb: Any, job_id: str | None = None) -> Any:
        """Store a validated job (a message the store now owns) under ``parent`` in PENDING,
        start its run; the job. ``job_id`` is the caller's (``pipelineJobId``); ``None``
        makes a 19-digit one, as Vertex does for CustomJobs."""
        mode = self._mode_of(pb)
        runner = self._runner(mode)
        now = self._clock()
        with self._lock:
            if job_id is None:
                job_id = self._new_id()
            name = f"{parent}/{self.kind.collection}/{job_id}"
            if name in self._jobs:
                raise ApiError("ALREADY_EXISTS", f"{self.kind.noun} {name} already exists.")
            self._ids.add(job_id)
            pb.name = name
            pb.state = PENDING
            pb.create_time.FromNanoseconds(now)
            pb.update_time.FromNanoseconds(now)
            self._seq += 1
            record = _Record(self._seq, pb, mode)
            self._jobs[name] = record
        # Outside the lock: a real run may take a moment to start, and its reports
        # need the lock.
        try:
            run = runner.start(self._view(pb), self._reporter(name, 0))
        except BaseException:
            with self._lock:
                self._jobs.pop(name, None)
            raise
        with self._lock:
            current = self._jobs.get(name) is record
            if current and not record.terminal and record.generation == 0:
                record.run = run
            else:
                run.cancel()  # cancelled, forced or reset while it started
            if current:
                self._save(record)
            return record.pb

    def get(self, name: str) -> Any:
        """The job; reading a job is what moves a simulated one."""
        with self._lock:
            record = self._record(name)
            if record.run is not None and not record.terminal:
                record.run.on_poll()
            return record.pb

    def list(self, parent: str, predicate: Callable[[Any], bool], *, filter_text: str,
             page_size: int, page_token: str) -> Page:
        """Jobs under ``parent`` matching ``predicate``, newest first, one page."""
        if page_size < 0:
            raise ApiError("INVALID_ARGUMENT", f"page_size must not be negative, got {page_size}")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        fingerprint = _fingerprint(parent, filter_text)
        below = _read_token(page_token, fingerprint) if page_token else None
        prefix = f"{parent}/{self.kind.collection}/"
        with self._lock:
            records = sorted(
                (r for n, r in self._jobs.items()
                 if n.startswith(prefix) and (below is None or r.seq < below)),
                key=lambda r: r.seq,
                reverse=True,
            )
            page: list[_Record] = []
            more = False
            for record in records:
                if not predicate(record.pb):
                    continue
                if len(page) == size:
                    more = True
                    break
                page.append(record)
            token = _make_token(page[-1].seq, fingerprint) if more else ""
            return Page([r.pb for r in page], token)

    def cancel(self, name: str) -> None:
        """Ask the job's run to stop: CANCELLING now, CANCELLED when it has stopped."""
        with self._lock:
            record = self._record(name)
            if record.terminal:
                raise ApiError(
                    "FAILED_PRECONDITION",
                    f"Cannot cancel {self.kind.noun} {name} because it is in state "
                    f"{self.kind.state_name(record.pb.state)}.",
                )
            if record.pb.state == CANCELLING:
                return
            self._set_state(record, CANCELLING, None)
            if record.run is None:
                self._set_state(record, CANCELLED, CANCELLED_ERROR)
            else:
                record.run.cancel()

    def delete(self, name: str) -> Any:
        """Remove an ended job; the (already done) delete ``Operation``."""
        with self._lock:
            record = self._record(name)
            if not record.terminal:
                raise ApiError(
                    "FAILED_PRECONDITION",
                    f"{self.kind.noun} {name} is in state "
                    f"{self.kind.state_name(record.pb.state)} and cannot be deleted; cancel it "
                    "first.",
                )
            del self._jobs[record.pb.name]
            self._unsave(record)
            location = name.split(f"/{self.kind.collection}/")[0]
            op_name = f"{location}/operations/{self._new_id()}"
            op = operations_pb2.Operation(name=op_name, done=True)
            metadata = DeleteOperationMetadata.pb()()
            now = self._clock()
            metadata.generic_metadata.create_time.FromNanoseconds(now)
            metadata.generic_metadata.update_time.FromNanoseconds(now)
            op.metadata.Pack(metadata)
            op.response.Pack(empty_pb2.Empty())
            self._operations[op_name] = op
            return op

    def get_operation(self, name: str) -> Any:
        """The ``Operation`` of a delete, or ``None`` when this store made none such."""
        with self._lock:
            return self._operations.get(name)

    # -- admin -----------------------------------------------------------------------------

    def force(self, name: str, state: int, error: JobError | None = None) -> Any:
        """Put a job in ``state`` now, taking it from its run; the job.

        The run (a real one is cancelled) no longer moves the job; it stays in the
        forced state until cancelled or forced again. FAILED without an error gets
        Vertex's replica-failure error (a PipelineJob's failure error), CANCELLED gets
        code 1.
        """
        if state not in {int(s) for s in self.kind.states} or state == 0:
            raise ApiError("INVALID_ARGUMENT", f"not a job state: {state!r}")
        with self._lock:
            record = self._record(name)
            if record.run is not None and not record.terminal and record.mode != "simulated":
                record.run.cancel()
            record.generation += 1
            record.run = held_run(self._reporter(name, record.generation))
            if error is None and state == FAILED:
                error = failure_error(self._view(record.pb))
            if error is None and state == CANCELLED:
                error = CANCELLED_ERROR
            self._set_state(record, state, error, forced=True)
            return record.pb

    def reset(self) -> None:
        """Forget every job and operation (cancelling real runs), also on disk."""
        with self._lock:
            for record in self._jobs.values():
                if record.run is not None and not record.terminal:
                    record.run.cancel()
                self._unsave(record)
            self._jobs.clear()
            self._operations.clear()
            self._ids.clear()

    def jobs(self) -> Sequence[StoredJob]:
        """Every job, oldest first, without moving any of them."""
        with self._lock:
            return [self._stored(r) for r in sorted(self._jobs.values(), key=lambda r: r.seq)]

    def operations(self) -> Sequence[Any]:
        """Every ``Operation`` still kept (those of deletes), oldest first."""
        with self._lock:
            return list(self._operations.values())

    def close(self) -> None:
        """Stop every runner (real runs are cancelled)."""
        for runner in self._runners.values():
            runner.close()

    # -- state changes ---------------------------------------------------------------------

    def _reporter(self, name: str, generation: int) -> Report:
        def report(state: int | None, error: JobError | None = None, *,
                   detail: Any = None) -> None:
            with self._lock:
                record = self._jobs.get(name)
                if record is None or record.generation != generation or record.terminal:
                    return
                self._set_state(record, state, error, detail=detail)

        return report

    def _set_state(self, record: _Record, state: int | None, error: JobError | None,
                   *, forced: bool = False, detail: Any = None) -> None:
        pb = _copy(record.pb)  # the old message may be in a caller's hands
        now = self._clock()
        if detail is not None:
            pb.job_detail.CopyFrom(detail)
        if state is None:  # the detail alone changed
            state = pb.state
        elif state == RUNNING and not pb.HasField("start_time"):
            pb.start_time.FromNanoseconds(now)
        if state in TERMINAL:
            if forced and state == SUCCEEDED and not pb.HasField("start_time"):
                pb.start_time.FromNanoseconds(now)
            pb.end_time.FromNanoseconds(now)
        elif forced:
            pb.ClearField("end_time")
        if error is not None:
            pb.error.code, pb.error.message = error
        elif forced or state in TERMINAL:
            pb.ClearField("error")
        pb.state = state
        pb.update_time.FromNanoseconds(now)
        record.pb = pb
        self._save(record)

    # -- helpers ---------------------------------------------------------------------------

    def _record(self, name: str) -> _Record:
        record = self._jobs.get(name)
        if record is None:
            raise not_found(f"{self.kind.noun} {name} is not found.")
        return record

    def _mode_of(self, pb: Any) -> str:
        mode = pb.labels.get(LABEL_MODE, self.default_mode)
        if mode not in MODES:
            field = f"labels[{LABEL_MODE}]"
            raise bad_request(
                f"{field}: must be one of {', '.join(MODES)}, not {mode!r}",
                [(field, f"must be one of {', '.join(MODES)}")],
            )
        return mode

    def _runner(self, mode: str) -> Runner:
        runner = self._runners.get(mode)
        if runner is None:
            raise ApiError(
                "FAILED_PRECONDITION",
                f"this cjob-emu server cannot run jobs in {mode} mode",
            )
        return runner

    def _new_id(self) -> str:
        while True:
            # Vertex ids are 19-digit numbers.
            candidate = str(10**18 + secrets.randbelow(9 * 10**18))
            if candidate not in self._ids:
                self._ids.add(candidate)
                return candidate

    def _stored(self, record: _Record) -> StoredJob:
        snapshot = record.run.snapshot() if record.run is not None else None
        return StoredJob(record.seq, record.mode, record.pb, snapshot)

    # -- the state files -------------------------------------------------------------------

    def _save(self, record: _Record) -> None:
        if self._files is not None:
            self._files.save(self._stored(record))

    def _unsave(self, record: _Record) -> None:
        if self._files is not None:
            self._files.remove(record.pb.name)

    def _load(self, files: StateFiles) -> None:
        for stored in files.load():
            record = _Record(stored.seq, stored.job, stored.mode)
            self._jobs[stored.job.name] = record
            self._ids.add(stored.job.name.rsplit("/", 1)[-1])
            self._seq = max(self._seq, record.seq)
            self._restore_run(record, stored.run)

    def _restore_run(self, record: _Record, snapshot: Mapping[str, Any] | None) -> None:
        if record.terminal:
            return
        runner = self._runners.get(record.mode)
        report = self._reporter(record.pb.name, 0)
        run = None
        if runner is not None and snapshot is not None:
            try:
                run = runner.resume(self._view(record.pb), snapshot, report)
            except (KeyError, ValueError, TypeError) as exc:
                log.warning("cannot resume %s: %s", record.pb.name, exc)
        if run is None:
            self._set_state(record, FAILED, _LOST_ERROR)
        record.run = run

    def _view(self, pb: Any) -> Any:
        """A proto-plus copy of the job for a runner, so it cannot change the stored one."""
        return self.kind.message.wrap(_copy(pb))


def _now_ns() -> int:
    """Now, in whole microseconds as Vertex's timestamps are."""
    return time.time_ns() // 1000 * 1000


def _copy(pb: Any) -> Any:
    copy = type(pb)()
    copy.CopyFrom(pb)
    return copy


def _fingerprint(parent: str, filter_text: str) -> str:
    return hashlib.sha256(f"{parent}\n{filter_text}".encode()).hexdigest()[:12]


def _make_token(seq: int, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(f"{seq}:{fingerprint}".encode()).decode().rstrip("=")


def _read_token(token: str, fingerprint: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        seq_text, _, mark = base64.urlsafe_b64decode(padded).decode().partition(":")
        seq = int(seq_text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError("INVALID_ARGUMENT", f"Invalid page_token {token!r}.") from None
    if mark != fingerprint:
        raise ApiError(
            "INVALID_ARGUMENT",
            "page_token does not belong to this list request: parent and filter must be the "
            "same as in the request that returned it.",
        )
    return seq
