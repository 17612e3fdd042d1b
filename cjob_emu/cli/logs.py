"""``cjob-emu logs RUN [REPLICA|TASK] [-f]``: a run's log files, as the run showed them.

A job run: every replica's log, each line prefixed ``workerpool1-0 | `` as ``cjob-emu
run`` prints it, or one replica's log as it is. A pipeline run: every task's log (a
custom-job task's replicas ``task/workerpool0-0 | ``, a kfp.local task ``task | ``), or
one task's. ``-f`` follows the files (and replicas or tasks that start later) until the
run ends. The files are found through the run index, never by scanning.
"""

from __future__ import annotations

import argparse
import codecs
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from cjob_emu.cli.exit_codes import EXIT_OK
from cjob_emu.cli.run_history import RUN_HELP, add_runs_dir_option, settled_index, task_job
from cjob_emu.cli.style import Style, paint
from cjob_emu.errors import EnvironmentProblem, InputError
from cjob_emu.run_index import JOB, RunEntry, RunIndex
from cjob_emu.run_index.files import read_replicas, read_tasks

# The colours of the run's own prefixes (cjob_emu.executor.logs), here because importing
# the executor loads the aiplatform types (~1 s) and reading logs needs none of them.
_COLOURS = ("36", "35", "33", "32", "34", "96", "95", "93", "92", "94")
_POLL = 0.25
_SETTLE_EVERY = 12  # polls between checks that the run's process still lives


def add_parser(commands: Any) -> None:
    """Add ``logs`` to the CLI's subcommands."""
    parser = commands.add_parser(
        "logs",
        help="print a run's logs (every replica, one replica, or a pipeline task's)",
        description="Print the log files of a run recorded in the runs directory's index: "
        "a job run's replicas (prefixed as the run printed them) or one replica; a "
        "pipeline run's tasks, or one task (its CustomJob's replicas, or the kfp.local "
        "task's log). -f follows them until the run ends.",
    )
    parser.add_argument("run_ref", metavar="RUN", help=RUN_HELP)
    parser.add_argument(
        "which",
        nargs="?",
        metavar="REPLICA|TASK",
        help="one replica of a job run (workerpool1-0), or one task of a pipeline run",
    )
    parser.add_argument(
        "-f", "--follow", action="store_true", help="follow the logs until the run ends"
    )
    add_runs_dir_option(parser)
    parser.set_defaults(handler=run)


@dataclass(frozen=True)
class _Source:
    label: str
    path: Path


def run(args: argparse.Namespace) -> int:
    """Print (and with ``-f`` follow) the logs."""
    index, _ = settled_index(args)
    entry = index.find(args.run_ref)
    if not Path(entry.run_dir).is_dir():
        raise EnvironmentProblem(
            f"the logs of run {entry.id} are gone: its directory {entry.run_dir} was removed"
        )
    _sources(index, entry, args.which)  # an unknown replica or task is refused at once
    tail = _Tail(sys.stdout)
    try:
        if args.follow:
            _follow(args, index, entry, tail)
        else:
            tail.pump(_sources(index, entry, args.which))
            tail.flush()
    except BrokenPipeError:
        # the reader went away (| head): that is not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


def _follow(args: argparse.Namespace, index: RunIndex, entry: RunEntry, tail: _Tail) -> None:
    polls = 0
    while True:
        polls += 1
        if polls % _SETTLE_EVERY == 0:
            settled_index(args)  # a run whose process died ends here too
        current = index.get(entry.id) or entry.changed(state="FAILED")
        tail.pump(_sources(index, current, args.which))
        if current.ended:
            break
        time.sleep(_POLL)
    tail.flush()


def _sources(index: RunIndex, entry: RunEntry, which: str | None) -> list[_Source]:
    if entry.kind == JOB:
        return _replicas(entry, which)
    tasks = [t for t in read_tasks(Path(entry.run_dir)) if t.get("kind") != "dag"]
    if which is not None:
        wanted = which.replace("/", ".")
        tasks = [t for t in tasks if str(t.get("name", "")).replace("/", ".") == wanted]
        if not tasks:
            known = ", ".join(str(t.get("name")) for t in read_tasks(Path(entry.run_dir))
                              if t.get("kind") != "dag") or "none has started"
            raise InputError(f"pipeline run {entry.id} has no task {which!r} ({known})")
    children = index.children(entry.id)
    sources: list[_Source] = []
    for task in tasks:
        name = str(task.get("name", ""))
        job = task_job(children, name) if task.get("kind") == "custom-job" else None
        if job is not None:
            sources += [_Source(f"{name}/{s.label}", s.path) for s in _replicas(job, None)]
        elif task.get("kind") == "container" and task.get("path"):
            sources.append(_Source(name, Path(str(task["path"]))))
    if which is not None and len(sources) > 1:  # one task's replicas: named as in its run
        sources = [_Source(s.label.rsplit("/", 1)[-1], s.path) for s in sources]
    return sources


def _replicas(entry: RunEntry, which: str | None) -> list[_Source]:
    rows = read_replicas(Path(entry.run_dir))
    sources = [_Source(str(r.get("replica")), Path(str(r.get("log")))) for r in rows]
    if which is None:
        return sources
    chosen = [s for s in sources if s.label == which]
    if not chosen:
        known = ", ".join(s.label for s in sources) or "none recorded"
        raise InputError(f"job run {entry.id} has no replica {which!r} ({known})")
    return chosen


@dataclass
class _Tail:
    """Prints what the files have that it has not printed yet, whole lines only."""

    out: TextIO
    offsets: dict[Path, int] = field(default_factory=dict)
    partial: dict[Path, str] = field(default_factory=dict)
    labels: dict[Path, str] = field(default_factory=dict)
    decoders: dict[Path, codecs.IncrementalDecoder] = field(default_factory=dict)

    def pump(self, sources: list[_Source]) -> None:
        colour = Style(self.out).enabled
        width = max((len(s.label) for s in sources), default=0)
        for number, source in enumerate(sources):
            if len(sources) == 1:
                self.labels[source.path] = ""
            else:
                text = f"{source.label.ljust(width)} | "
                self.labels[source.path] = paint(_COLOURS[number % len(_COLOURS)], text, colour)
            self._read(source.path)
        self.out.flush()

    def flush(self) -> None:
        """Print the last lines that had no newline yet."""
        for path, rest in self.partial.items():
            if rest:
                self.out.write(self.labels.get(path, "") + rest + "\n")
        self.partial.clear()
        self.out.flush()

    def _read(self, path: Path) -> None:
        try:
            with path.open("rb") as log:
                log.seek(self.offsets.get(path, 0))
                data = log.read()
        except FileNotFoundError:
            return  # not started yet
        except OSError as exc:
            raise EnvironmentProblem(f"cannot read the log {path}: {exc}") from None
        if not data:
            return
        self.offsets[path] = self.offsets.get(path, 0) + len(data)
        # a character cut in two by a read is decoded once its rest has come
        decoder = self.decoders.setdefault(path, codecs.getincrementaldecoder("utf-8")("replace"))
        text = self.partial.pop(path, "") + decoder.decode(data)
        *lines, rest = text.split("\n")
        self.partial[path] = rest
        label = self.labels.get(path, "")
        for line in lines:
            self.out.write(label + line + "\n")
