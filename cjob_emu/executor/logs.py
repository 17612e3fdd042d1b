"""Replica logs: one file per replica on disk, and ``workerpool1-0 | `` prefixed lines.

Log files live in the run directory: ``<run_dir>/logs/<replica>.log`` (all attempts
of a restarted job in one file, each after a ``--- attempt N ---`` line).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from cjob_emu.cluster import Replica

TAIL_LINES = 20
"""How many last lines of a failed replica's log go into the job's error message."""

_COLOURS = ("36", "35", "33", "32", "34", "96", "95", "93", "92", "94")


def log_path(run_dir: Path, replica: Replica) -> Path:
    """Where ``replica``'s log is kept."""
    return run_dir / "logs" / f"{replica.name}.log"


class ReplicaLog:
    """Appends one replica's lines to its file and remembers the last few."""

    def __init__(self, path: Path, attempt: int, tail: int = TAIL_LINES) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._tail: deque[str] = deque(maxlen=tail)
        self._lock = threading.Lock()
        self._written = 0
        if attempt:
            self._file.write(f"--- attempt {attempt + 1} ---\n")

    def write(self, line: str) -> None:
        """Keep ``line`` (written through, so the file is current while the job runs)."""
        with self._lock:
            self._tail.append(line)
            self._written += 1
            if not self._file.closed:
                self._file.write(line + "\n")
                self._file.flush()

    @property
    def written(self) -> int:
        """How many lines were written so far (shows a reader still making progress)."""
        with self._lock:
            return self._written

    def tail(self) -> list[str]:
        """The last lines written (at most ``tail``)."""
        with self._lock:
            return list(self._tail)

    def close(self) -> None:
        """Close the file; later lines are only kept in the tail."""
        with self._lock:
            self._file.close()


class Prefixer:
    """Formats lines as ``workerpool1-0 | text``, names padded, a colour per replica."""

    def __init__(self, replicas: Iterable[Replica], *, colour: bool) -> None:
        ordered = sorted(replicas)
        self._width = max((len(r.name) for r in ordered), default=0)
        self._colour = {r: _COLOURS[i % len(_COLOURS)] for i, r in enumerate(ordered)}
        self.colour = colour

    def prefix(self, replica: Replica) -> str:
        """The padded, maybe coloured ``name | `` before a line of ``replica``."""
        text = f"{replica.name.ljust(self._width)} | "
        if not self.colour:
            return text
        return f"\033[{self._colour.get(replica, '0')}m{text}\033[0m"

    def format(self, replica: Replica, line: str) -> str:
        """``line`` with ``replica``'s prefix."""
        return self.prefix(replica) + line
