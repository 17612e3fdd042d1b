"""What a running job reports to those watching it.

Callbacks get every event, one at a time, from the executor's threads; iterators
(:meth:`RunningJob.events`) get them through a queue (:class:`EventFanout`).
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from dataclasses import field as _field
from typing import Any

from google.cloud.aiplatform_v1 import CustomJob, JobState

from cjob_emu.cluster import Replica

_END = object()


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class StateChanged:
    """The job entered ``state``; ``job`` is a copy of the job message at that moment."""

    state: JobState
    job: CustomJob
    time: float = _field(default_factory=_now)


@dataclass(frozen=True)
class Notice:
    """Something the user should know before or during the run (nothing is ignored
    silently): ``field`` is the job field it concerns, when there is one.

    ``kind``: ``"unemulated"`` (a job field accepted but not emulated), ``"warning"``
    (a validation warning), ``"backend"`` (how the backend differs from Vertex),
    ``"cleanup"`` (leftovers of a dead run removed) or ``"note"``.
    """

    message: str
    field: str | None = None
    kind: str = "note"
    time: float = _field(default_factory=_now)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(frozen=True)
class ReplicaStarted:
    """``replica`` started (``attempt`` counts job restarts from 0)."""

    replica: Replica
    attempt: int
    time: float = _field(default_factory=_now)


@dataclass(frozen=True)
class ReplicaExited:
    """``replica`` ended with ``exit_code``; ``stopped`` when the executor stopped it."""

    replica: Replica
    attempt: int
    exit_code: int
    stopped: bool = False
    time: float = _field(default_factory=_now)


@dataclass(frozen=True)
class LogLine:
    """One line of ``replica``'s stdout or stderr."""

    replica: Replica
    attempt: int
    line: str
    time: float = _field(default_factory=_now)


@dataclass(frozen=True)
class Restarting:
    """Every replica is restarted (``restart_job_on_worker_restart``) as ``attempt``."""

    attempt: int
    reason: str
    time: float = _field(default_factory=_now)


Event = StateChanged | Notice | ReplicaStarted | ReplicaExited | LogLine | Restarting
"""Any event a running job reports."""


class EventFanout:
    """Hands each event of a run to its callback and to every :meth:`events` iterator,
    one at a time and in order; keeps all but log lines for iterators that come late.

    ``lock`` is held while an event is handed out; a caller may hold it across a change
    and the event reporting it, so that events come in the order of the changes.
    """

    def __init__(self, on_event: Callable[[Event], None] | None = None) -> None:
        self.lock = threading.RLock()
        self._on_event = on_event
        self._subscribers: list[queue.Queue[Any]] = []
        self._history: list[Event] = []
        self._ended = False

    def emit(self, event: Event) -> None:
        """Hand ``event`` to the callback and every iterator."""
        with self.lock:
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

    def events(self) -> Iterator[Event]:
        """Every event but log lines so far, then every new event until :meth:`end`."""
        subscription: queue.Queue[Any] = queue.Queue()
        with self.lock:
            history = list(self._history)
            ended = self._ended
            if not ended:
                self._subscribers.append(subscription)
        yield from history
        if ended:
            return
        while (event := subscription.get()) is not _END:
            yield event

    def end(self) -> None:
        """End every iterator (after the events so far); later ones get the history only."""
        with self.lock:
            self._ended = True
            for subscription in self._subscribers:
                subscription.put(_END)
            self._subscribers.clear()
