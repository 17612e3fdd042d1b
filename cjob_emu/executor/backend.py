"""The one interface every executor backend implements, and the values passed to it.

The job state machine (:mod:`cjob_emu.executor.job`) owns everything Vertex decides:
states, the primary-decides rule, timeouts, restarts, cancel, log files, events.
A backend only starts replicas and removes what it started. One run goes:

1. ``prepare(run)`` once: check and make ready everything shared (images, network,
   virtual environment), and call :func:`host_env` with the address at which this host
   is reachable from the run's replicas (docker: the run network's gateway; process:
   127.0.0.1), adding what it returns to every replica's environment; returns notes
   the run shows the user (what this backend does not emulate or does differently).
   Raises :class:`~cjob_emu.errors.EnvironmentProblem` before any replica starts when
   the run cannot go ahead (a missing image: name it).
   The core itself reports unemulated job fields, machine types without resource
   limits and accelerators without GPU passthrough (see ``unemulated.py``).
2. ``address(run, replica)`` for every replica (peers' addresses go into CLUSTER_SPEC,
   TF_CONFIG, MASTER_ADDR); it must answer the same for the same replica of a run,
   and answer for Reduction Server reducers too, which are never started.
3. ``start(launch)`` per replica of ``run.emulated`` per attempt, returning a
   :class:`ReplicaHandle`.
4. The core reads ``handle.lines()`` and ``handle.wait()`` from its own threads (then
   ``handle.ended_at()``), ``handle.poll()`` of the others when one replica's end
   would decide the job, ``handle.stop(grace)`` what is still running, then
   ``handle.close()`` once ``lines()`` has ended (or made no progress for a while):
   ``close`` may cut the output still to come.
5. ``teardown(run)`` always, after success, failure, timeout, cancel or Ctrl-C, and
   also when ``prepare`` or a ``start`` raised; it must be idempotent.

The core sets ``PYTHONUNBUFFERED=1`` in ``launch.env`` (unless the job sets it) so
Python replicas' logs stream live; backends pass ``launch.env`` as it is.

``cleanup_dead()`` removes what runs whose owning process is dead left behind and
marks their ``job.json`` FAILED (:func:`cjob_emu.executor.run_records.fail_dead_run`,
given the run's labels); it never touches a run whose owner (see :func:`owner_alive`)
still lives.

Backends are looked up by name (:func:`cjob_emu.executor.get_backend`): ``"process"``
is ``cjob_emu.executor.process.ProcessBackend``, ``"docker"`` is
``cjob_emu.executor.docker.DockerBackend``; both construct with no arguments.
"""

from __future__ import annotations

import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from google.cloud.aiplatform_v1 import CustomJob

from cjob_emu.cluster import Replica
from cjob_emu.cluster.vertex_job import is_reduction_server_pool
from cjob_emu.executor.gcs import GcsRoot
from cjob_emu.executor.image_map import CLI_HINT

LABEL_RUN = "cjob-emu.run-id"
"""Label (docker) / record key naming the run a resource belongs to."""
LABEL_HOST = "cjob-emu.host"
"""The host name of the machine whose process owns the run."""
LABEL_PID = "cjob-emu.owner-pid"
"""The pid of the process that owns the run."""
LABEL_PID_START = "cjob-emu.owner-start"
"""The owner's start time (clock ticks since boot, /proc/PID/stat field 22), so a
reused pid is not mistaken for the owner; empty where /proc is missing."""
LABEL_REPLICA = "cjob-emu.replica"
"""The replica name (``workerpool1-0``) a resource is for."""
LABEL_RUN_DIR = "cjob-emu.run-dir"
"""The run directory (absolute), so that cleanup can mark the ``job.json`` of a run
whose owner died FAILED."""


@dataclass(frozen=True)
class RunOptions:
    """Choices of the user that backends honour (those that do not apply are ignored).

    Attributes:
        gpus: Pass the host's GPUs through to replicas whose pool asks for
            accelerators (docker). Off: such replicas run on the CPU with a note.
        pull: Pull an image that is not present locally (docker). Off: a missing
            image stops the run before any replica starts.
        run_as_host_user: Run replicas as the invoking user's uid/gid (docker), so
            files under the gs:// root are not owned by root.
        resource_limits: Limit CPU and memory from the machine type, scaled down to
            the host (docker).
        stop_grace: Seconds between SIGTERM and SIGKILL when stopping a replica
            (short: a program running as PID 1 usually ignores SIGTERM).
    """

    gpus: bool = False
    pull: bool = False
    run_as_host_user: bool = True
    resource_limits: bool = False
    stop_grace: float = 2.0


@dataclass(frozen=True)
class RunSpec:
    """One run of one job, as the backends see it.

    Attributes:
        run_id: Unique id of this run (letters, digits, ``-``); in resource names.
        job: The CustomJob as submitted.
        replicas: Every replica of the job, in Vertex order.
        gcs: The gs:// root (mounted at ``/gcs`` / rewritten for host processes).
        run_dir: This run's directory (logs, scratch space a backend may use).
        labels: Labels every resource of the run carries (:data:`LABEL_RUN`, the
            owner labels and :data:`LABEL_RUN_DIR`); ``cleanup_dead`` finds dead runs
            by them.
        options: The user's backend choices.
        images: The image each of the job's image URIs runs as, after the image
            map (``{uri: local tag}``; an unmapped URI maps to itself), so that
            ``prepare`` can check them all before any replica starts.
        image_hint: How the user maps an image to a local one (``{uri}`` in it), for
            the error naming a missing image (see :attr:`ImageMap.hint`).
        host_env: Given the address at which this host is reachable from the
            replicas, the variables every replica gets besides the job's (e.g. the
            URL of a local API server listening there); see :func:`host_env`.
    """

    run_id: str
    job: CustomJob
    replicas: tuple[Replica, ...]
    gcs: GcsRoot
    run_dir: Path
    labels: Mapping[str, str]
    options: RunOptions = field(default_factory=RunOptions)
    images: Mapping[str, str] = field(default_factory=dict)
    image_hint: str = CLI_HINT
    host_env: Callable[[str], Mapping[str, str]] | None = None

    @property
    def emulated(self) -> tuple[Replica, ...]:
        """The replicas the run starts, in Vertex order: all but Reduction Server
        reducers, whose image exists only in Vertex's restricted registry (they keep
        their place, and an address, in CLUSTER_SPEC and TF_CONFIG)."""
        return tuple(r for r in self.replicas if not is_reduction_server_pool(self.job, r.pool))


def host_env(run: RunSpec, host: str) -> dict[str, str]:
    """The variables ``run.host_env`` gives for ``host`` (none without it).

    Backends call it once per run in ``prepare``, before any replica starts, and add the
    result to every replica's environment; a variable the job sets itself wins.
    """
    return dict(run.host_env(host)) if run.host_env is not None else {}


@dataclass(frozen=True)
class PythonPackage:
    """What a Python package pool runs: install ``packages`` then ``python -m module``.

    ``packages`` are host paths (gs:// URIs already mapped to the root; use
    ``run.gcs.holds`` / ``run.gcs.mount_path`` to see them at ``/gcs`` in a container).
    """

    module: str
    packages: tuple[Path, ...]


@dataclass(frozen=True)
class Termination:
    """Why a replica ended, beyond its exit code.

    ``reason`` is the container's termination reason as Vertex quotes it (Kubernetes'
    ``Error``, ``OOMKilled``, ``StartError``); ``detail`` what the backend knows more
    (the runtime's message for a start failure, the memory limit, a signal).
    """

    reason: str
    detail: str = ""


@dataclass(frozen=True)
class ReplicaLaunch:
    """Everything needed to start one replica (one attempt of it).

    Attributes:
        run: The run it belongs to.
        replica: Which replica.
        attempt: 0 for the first start, +1 for each restart of the whole job.
        image: The image after the image map (container image or executor image).
        command: Replaces the image's ENTRYPOINT when non-empty (as on Vertex).
        args: The arguments (the image's CMD is replaced when given).
        env: The complete environment Vertex sets (cluster.replica_env), with
            addresses from the backend's :meth:`Backend.address`.
        hostname: The replica's Vertex hostname (its network alias in docker).
        address: ``host:port`` of this replica, as its peers see it.
        python_package: Set for a Python package pool (then ``command`` is empty).
        gpus: Accelerators the pool asks for per replica (0: none).
        image_uri: The image as the job names it (before the image map).
    """

    run: RunSpec
    replica: Replica
    attempt: int
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: Mapping[str, str]
    hostname: str
    address: str
    python_package: PythonPackage | None = None
    gpus: int = 0
    image_uri: str = ""


class ReplicaHandle(ABC):
    """A started replica. Methods may be called from several threads."""

    replica: Replica

    @abstractmethod
    def lines(self) -> Iterator[str]:
        """Output lines (stdout and stderr together, no trailing newline) as they come.

        Ends once the replica is gone and its output is drained. Called once.
        """

    @abstractmethod
    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code once the replica ended, or None if ``timeout`` passed first.

        Killed by a signal N: ``128 + N`` (what docker and a shell report).
        """

    @abstractmethod
    def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns once it has ended.

        Stops everything the replica started (its process group / container).
        Idempotent; a no-op when it already ended.
        """

    @abstractmethod
    def close(self) -> None:
        """Release what the replica holds (e.g. remove its container). Idempotent."""

    def poll(self) -> int | None:
        """The exit code if the backend knows now that the replica has ended, else None;
        never blocks. The job asks it of the other replicas when one replica's end
        would decide the job, to order their ends by :meth:`ended_at`."""
        return self.wait(0)

    def ended_at(self) -> float | None:
        """When the replica ended, as the backend tells it (seconds since the epoch:
        docker's ``State.FinishedAt``, the process backend's time its wait returned);
        None while it runs, or where the backend cannot tell (the job then takes the
        time the end reached it)."""
        return None

    def termination_reason(self) -> Termination | None:
        """Why it ended, when the backend knows more than the exit code (e.g. out of
        memory, the engine went away); read after ``wait`` returned a non-zero code."""
        return None

    def stderr_tail(self, lines: int) -> list[str] | None:
        """The last ``lines`` lines the replica wrote to stderr, where :meth:`lines` does
        not keep its stdout and stderr lines in order (docker copies the two streams
        apart, so a traceback may come before the last stdout lines); None where it
        does. Read once ``lines()`` has ended."""
        return None


class Backend(ABC):
    """Where replicas run: ``docker`` containers or host ``process``es."""

    name: str

    @classmethod
    @abstractmethod
    def available(cls) -> bool:
        """Whether this backend can run here (docker: an engine answers). Quick."""

    @abstractmethod
    def address(self, run: RunSpec, replica: Replica) -> str:
        """``host:port`` peers reach ``replica`` at; stable for the whole run."""

    @abstractmethod
    def prepare(self, run: RunSpec) -> list[str]:
        """Make the run ready before any replica starts; return notes to show the user."""

    @abstractmethod
    def start(self, launch: ReplicaLaunch) -> ReplicaHandle:
        """Start one replica."""

    @abstractmethod
    def teardown(self, run: RunSpec) -> None:
        """Remove everything of ``run`` (stopping what still runs). Idempotent."""

    @abstractmethod
    def cleanup_dead(self) -> list[str]:
        """Remove what runs with a dead owner left and mark their ``job.json`` FAILED;
        describe each thing done."""


def owner_labels(run_id: str, run_dir: Path | None = None) -> dict[str, str]:
    """The labels naming ``run_id`` and this process as its owner (and the run's
    directory, when it has one)."""
    labels = {
        LABEL_RUN: run_id,
        LABEL_HOST: socket.gethostname(),
        LABEL_PID: str(os.getpid()),
        LABEL_PID_START: process_start_time(os.getpid()) or "",
    }
    if run_dir is not None:
        labels[LABEL_RUN_DIR] = str(run_dir.resolve())
    return labels


def owner_alive(labels: Mapping[str, str]) -> bool:
    """Whether the process named by owner labels still runs (True when unsure).

    A run owned on another host is treated as alive: its owner cannot be checked
    from here, and removing a live run of another machine would break it.
    """
    if labels.get(LABEL_HOST) != socket.gethostname():
        return True
    try:
        pid = int(labels.get(LABEL_PID, ""))
    except ValueError:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    recorded = labels.get(LABEL_PID_START)
    current = process_start_time(pid)
    return not (recorded and current and recorded != current)


def process_start_time(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot, or None without /proc."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its end.
    return text[text.rindex(")") + 2 :].split()[19]
