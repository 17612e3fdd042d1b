"""The index of a runs directory: ``<runs_dir>/index.json``, one entry per run.

Every change is made under an exclusive lock on ``<runs_dir>/.index.lock`` (so runs
of several processes never lose each other's entries) and written to a temporary file
that then replaces the index (so a reader never sees half a file and needs no lock).
One entry per line keeps the file readable and a change quick.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from cjob_emu.errors import EnvironmentProblem, InputError
from cjob_emu.run_index.entry import RunEntry

DEFAULT_RUNS_DIR = Path(".cjob-emu") / "runs"
"""The runs directory when none is given: the executor's default (``DEFAULT_WORK_DIR /
"runs"``), relative to the working directory."""

INDEX_FILE = "index.json"
"""The index's name in its runs directory."""
LOCK_FILE = ".index.lock"
"""The file whose lock every writer of the index holds."""

_VERSION = 1
_EMPTY = f'{{"version":{_VERSION},"runs":[]}}\n'
_UNPARSABLE = (ValueError, KeyError, TypeError, AttributeError)
_NEWEST_NAMED = 5


class UnknownRunError(InputError):
    """No run (or more than one) answers to the id given; the message names the newest."""


class RunIndex:
    """The runs of one runs directory (default :data:`DEFAULT_RUNS_DIR`).

    Readers (:meth:`entries`, :meth:`find`) take no lock; writers (:meth:`put`,
    :meth:`update`, :meth:`remove`, :meth:`change`) hold the directory's lock for one
    read-change-replace each.
    """

    def __init__(self, runs_dir: str | os.PathLike[str] | None = None) -> None:
        self.runs_dir = Path(runs_dir) if runs_dir is not None else DEFAULT_RUNS_DIR

    @property
    def path(self) -> Path:
        """The index file."""
        return self.runs_dir / INDEX_FILE

    # ----- reading

    def entries(self) -> list[RunEntry]:
        """Every run, oldest first (none when there is no index yet).

        Raises :class:`EnvironmentProblem` when the index cannot be read.
        """
        text = self._read()
        try:
            return _parse(text)
        except _UNPARSABLE as exc:
            raise EnvironmentProblem(
                f"the run index {self.path} is not readable ({exc}); move it aside to start "
                "a new one"
            ) from None

    def get(self, run_id: str) -> RunEntry | None:
        """The run ``run_id``, or None."""
        return next((e for e in self.entries() if e.id == run_id), None)

    def children(self, run_id: str) -> list[RunEntry]:
        """The CustomJob runs of pipeline run ``run_id``, oldest first."""
        return [e for e in self.entries() if e.parent is not None and e.parent.run_id == run_id]

    def find(self, ref: str) -> RunEntry:
        """The run ``ref`` names: its id, a prefix of one id only, or ``last`` (the newest
        run that is no pipeline's task).

        Raises :class:`UnknownRunError` naming the newest runs when none (or several)
        answer.
        """
        entries = self.entries()
        if ref == "last":
            top = [e for e in entries if e.parent is None]
            if top:
                return top[-1]
            raise UnknownRunError(f"no run is recorded in {self.path} yet")
        exact = [e for e in entries if e.id == ref]
        found = exact or [e for e in entries if ref and e.id.startswith(ref)]
        if len(found) == 1:
            return found[0]
        if found:
            names = ", ".join(e.id for e in found[-_NEWEST_NAMED:])
            raise UnknownRunError(f"{ref!r} is the start of {len(found)} run ids ({names}); "
                                  "give more of it")
        if not entries:
            raise UnknownRunError(f"no run {ref!r}: no run is recorded in {self.path} yet")
        newest = [e for e in entries if e.parent is None][-_NEWEST_NAMED:] or entries[-1:]
        known = ", ".join(f"{e.id} ({e.kind} {e.name})" for e in reversed(newest))
        raise UnknownRunError(f"no run {ref!r} in {self.path}; the newest: {known}")

    # ----- writing

    def put(self, entry: RunEntry) -> None:
        """Add ``entry``, or replace the entry with its id."""

        def put_one(entries: dict[str, RunEntry]) -> None:
            entries[entry.id] = entry

        self.change(put_one)

    def update(self, run_id: str, **changes: Any) -> RunEntry | None:
        """Change fields of the run ``run_id``; the entry as changed (None: no such run)."""
        changed: list[RunEntry] = []

        def update_one(entries: dict[str, RunEntry]) -> None:
            if run_id in entries:
                entries[run_id] = entries[run_id].changed(**changes)
                changed.append(entries[run_id])

        self.change(update_one)
        return changed[0] if changed else None

    def remove(self, run_ids: Iterable[str]) -> list[RunEntry]:
        """Take the runs ``run_ids`` out of the index; those that were in it."""
        wanted = set(run_ids)
        removed: list[RunEntry] = []

        def remove_them(entries: dict[str, RunEntry]) -> None:
            for run_id in [i for i in entries if i in wanted]:
                removed.append(entries.pop(run_id))

        self.change(remove_them)
        return removed

    def change(self, change: Callable[[dict[str, RunEntry]], None]) -> None:
        """Apply ``change`` to every entry by id (in order, oldest first) and write the
        result, under the lock. An index that cannot be parsed is moved aside to
        ``index.json.unreadable`` and a new one begun: a run is never refused for it."""
        with self._locked():
            text = self._read()
            try:
                current = _parse(text)
            except _UNPARSABLE:
                os.replace(self.path, self.path.with_name(INDEX_FILE + ".unreadable"))
                current = []
            entries = {e.id: e for e in current}
            change(entries)
            self._write(entries.values())

    def _read(self) -> str:
        """The index file's text (an empty index when there is none)."""
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return _EMPTY
        except OSError as exc:
            raise EnvironmentProblem(f"cannot read the run index {self.path}: {exc}") from None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        # A lock per open file: threads of one process exclude each other too.
        with open(self.runs_dir / LOCK_FILE, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _write(self, entries: Iterable[RunEntry]) -> None:
        lines = [json.dumps(e.to_dict(), ensure_ascii=False, separators=(",", ":"))
                 for e in entries]
        text = _EMPTY if not lines else (
            f'{{"version":{_VERSION},"runs":[\n' + ",\n".join(lines) + "\n]}\n"
        )
        partial = self.runs_dir / f".{INDEX_FILE}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, self.path)  # readers never see half a file
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()


def _parse(text: str) -> list[RunEntry]:
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        raise ValueError('no "runs" list')
    return [RunEntry.from_dict(item) for item in data["runs"]]
