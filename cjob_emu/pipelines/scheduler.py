"""Tasks of a DAG started as soon as what they depend on has ended, several at a time.

Vertex runs independent tasks at the same time (and ``dsl.ParallelFor`` iterations up
to ``parallelism``); so does the local runner, in threads. Only container tasks take
one of the run's :class:`Slots` (``max_parallel``, host-wide for the run): a group,
condition or loop waits for its inner tasks and holds none, so nesting never starves.

kfp.local changes process-wide state while a task runs (the root logger's handlers,
``builtins.print``, ``sys.stdout``), so :mod:`.kfp_local` runs its tasks one at a time
in the process; CustomJob tasks run beside them and beside each other.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

R = TypeVar("R")

DEFAULT_MAX_PARALLEL = max(2, os.cpu_count() or 2)
"""Container tasks at once when the caller sets no limit: the machine's cores (at least 2)."""

_POLL = 0.2  # seconds between looks at the cancel flag while waiting


@dataclass
class Slots:
    """The run's bound on container tasks at once, and its cancel flag (Ctrl-C)."""

    max_parallel: int = DEFAULT_MAX_PARALLEL
    cancelled: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        if self.max_parallel < 1:
            raise ValueError(f"max_parallel must be at least 1, got {self.max_parallel}")
        self._free = threading.BoundedSemaphore(self.max_parallel)

    @contextmanager
    def taken(self) -> Iterator[bool]:
        """Hold a slot while the block runs; yields False when the run was cancelled
        before one came free (the task must not start)."""
        while not self._free.acquire(timeout=_POLL):
            if self.cancelled.is_set():
                yield False
                return
        try:
            yield not self.cancelled.is_set()
        finally:
            self._free.release()


def run_ready(
    order: Sequence[str],
    depends_on: Mapping[str, set[str]],
    start: Callable[[str], Callable[[], R] | R],
    ended: Callable[[str, R], None],
    *,
    limit: int | None = None,
    cancel: Callable[[], None] = lambda: None,
) -> None:
    """Start every name of ``order`` once all its ``depends_on`` have ended, in that
    order among those ready, at most ``limit`` at once (None: no bound of its own).

    ``start(name)`` either answers at once (a result) or gives the work to run in a
    thread (a callable); ``ended(name, result)`` is called in this thread, one at a
    time, as each ends. On KeyboardInterrupt, ``cancel()`` is called (it must make the
    running work end soon), and the interrupt is re-raised once that work has ended.
    """
    done: set[str] = set()
    running: dict[Future[R], str] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(len(order), limit or len(order)))) as pool:
        try:
            while len(done) < len(order):
                before = len(done) + len(running)
                for name in order:
                    if limit is not None and len(running) >= limit:
                        break
                    if name in done or name in running.values():
                        continue
                    if not depends_on.get(name, set()) <= done:
                        continue
                    work = start(name)
                    if callable(work):
                        running[pool.submit(work)] = name
                    else:
                        done.add(name)
                        ended(name, work)
                if not running and len(done) == before:
                    waiting = sorted(set(order) - done)
                    raise RuntimeError(f"tasks {waiting} wait for tasks that never end")
                if running:
                    finished, _ = wait(list(running), timeout=_POLL, return_when=FIRST_COMPLETED)
                    for future in finished:
                        name = running.pop(future)
                        done.add(name)
                        ended(name, future.result())
        except KeyboardInterrupt:
            cancel()
            wait(list(running))
            raise
