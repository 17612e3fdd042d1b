"""The process backend: replicas as local processes, where no container engine answers.

What differs from Vertex (and from the docker backend), all said to the user once
per run:

- Images are ignored: a container pool runs ``command + args`` on the host. A pool
  without ``command`` relies on its image's ENTRYPOINT and is refused.
- Every run gets a virtual environment (``<run_dir>/venv``, with the host's packages
  visible, as an image has its frameworks; see :mod:`.process_venv`), first on every
  replica's PATH, so ``pip install`` in a replica (``--user`` too) lands in the run,
  never in the host's Python. Python package pools install their packages there, then
  run ``<venv>/bin/python -m MODULE ARGS``.
- Every replica listens on 127.0.0.1 with a free port in CLUSTER_SPEC and TF_CONFIG.
- ``/gcs/...`` paths and ``gs://`` URIs in command, args and env values (but not in
  CLUSTER_SPEC, TF_CONFIG and CLOUD_ML_JOB, which show the job as submitted:
  :data:`~cjob_emu.cluster.vertex_job.JOB_TEXT_VARIABLES`) become paths under the
  gs:// root, so AIP_MODEL_DIR is a local directory and plain file I/O works.
- Reduction Server reducers get a free port like every replica (CLUSTER_SPEC lists
  them) but no process.
- Replicas are not isolated: they share the host's network, files and users and run
  in the current directory. Their environment is the job's plus an allow-list of the
  host's (:data:`HOST_ENV_NAMES`: PATH, HOME, locale, ...), so no host secret
  (cloud credentials, tokens) reaches a replica unless the job sets it.

Each replica runs in its own process group, which is killed as a whole when the
replica's main process exits (as a container's processes die with it) or is
stopped. Each process carries ``CJOB_EMU_RUN_ID`` in its environment so that
``teardown`` and ``cleanup_dead`` find strays; a run is recorded under
:func:`state_dir` while it lives (its labels, the run directory among them) so
``cleanup_dead`` can tell dead owners and mark their runs' ``job.json`` FAILED.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from google.cloud.aiplatform_v1 import WorkerPoolSpec

from cjob_emu.cluster import Replica
from cjob_emu.cluster.vertex_job import JOB_TEXT_VARIABLES
from cjob_emu.errors import EnvironmentProblem
from cjob_emu.executor.backend import (
    LABEL_RUN,
    Backend,
    ReplicaHandle,
    ReplicaLaunch,
    RunSpec,
    host_env,
    owner_alive,
)
from cjob_emu.executor.process_venv import RunVenv
from cjob_emu.executor.run_records import fail_dead_run

RUN_MARKER = "CJOB_EMU_RUN_ID"
"""Environment variable naming the run on every replica process (finds strays)."""

HOST_ENV_NAMES = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "TZ", "LANG", "LANGUAGE", "TMPDIR"}
)
"""Host variables a replica process gets (plus ``LC_*``): what programs need to run, as an
image's own environment would give them; nothing else, so no host secret leaks in."""


def state_dir() -> Path:
    """Where live process runs are recorded (``$XDG_RUNTIME_DIR`` or the temp dir)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"cjob-emu-{os.getuid()}" / "process-runs"


class ProcessHandle(ReplicaHandle):
    """A replica running as a host process group."""

    def __init__(self, replica: Replica, process: subprocess.Popen[bytes]) -> None:
        self.replica = replica
        self._process = process
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self._code: int | None = None
        self._ended_at: float | None = None
        threading.Thread(target=self._reap, name=f"reap-{replica}", daemon=True).start()

    def lines(self) -> Iterator[str]:
        stream = self._process.stdout
        assert stream is not None
        with stream:
            for raw in stream:
                yield raw.decode("utf-8", errors="replace").rstrip("\r\n")

    def wait(self, timeout: float | None = None) -> int | None:
        self._ended.wait(timeout)
        return self._code

    def poll(self) -> int | None:
        return self._code if self._ended.is_set() else None

    def ended_at(self) -> float | None:
        return self._ended_at if self._ended.is_set() else None

    def stop(self, grace: float) -> None:
        self._signal_group(signal.SIGTERM)
        if not self._ended.wait(grace):
            self._signal_group(signal.SIGKILL)
            self._ended.wait()

    def close(self) -> None:
        # The output pipe is closed by lines() once drained, not here: closing it under
        # a reading thread is unsafe.
        self.stop(0)

    def _signal_group(self, sig: int) -> None:
        # Under the lock the leader is not yet reaped, so its pid still names our group.
        with self._lock:
            if self._ended.is_set():
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, sig)

    def _reap(self) -> None:
        pid = self._process.pid
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        ended_at = time.time()  # the replica's end as this backend tells it
        with self._lock:
            # The leader is a zombie: the group id cannot be reused yet. The rest of the
            # group dies with it, as a container's processes do.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            code = self._process.wait()
            self._code = 128 - code if code < 0 else code
            self._ended_at = ended_at
            self._ended.set()


class ProcessBackend(Backend):
    """Replicas as local processes (see the module docstring for the differences)."""

    name = "process"

    def __init__(self) -> None:
        self._ports: dict[str, dict[Replica, int]] = {}
        self._host_env: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    @classmethod
    def available(cls) -> bool:
        return True

    def address(self, run: RunSpec, replica: Replica) -> str:
        with self._lock:
            ports = self._ports.get(run.run_id)
            if ports is None:
                ports = self._ports[run.run_id] = dict(
                    zip(run.replicas, free_ports(len(run.replicas)), strict=True)
                )
        return f"127.0.0.1:{ports[replica]}"

    def prepare(self, run: RunSpec) -> list[str]:
        pools = run.job.job_spec.worker_pool_specs
        used = sorted({r.pool for r in run.emulated})
        for pool in used:
            _check_runnable(pool, pools[pool])
        self._record(run)
        variables = host_env(run, "127.0.0.1")
        with self._lock:
            self._host_env[run.run_id] = variables
        environment = RunVenv(run.run_dir).create()
        notes = [
            "process backend: replicas run as processes on this host, not isolated from it "
            "or from each other (shared network, files and users); addresses are "
            "127.0.0.1 with free ports; /gcs/ paths and gs:// URIs in command, args and env "
            f"point into {run.gcs.path}"
        ]
        images = sorted(set(run.images))
        if images:
            notes.append("process backend: images are ignored: " + ", ".join(images))
        packages = [
            p
            for pool in used
            if WorkerPoolSpec.pb(pools[pool]).WhichOneof("task") == "python_package_spec"
            for p in pools[pool].python_package_spec.package_uris
        ]
        if packages:
            environment.install([str(run.gcs.package_path(uri)) for uri in packages])
            notes.append(f"process backend: Python packages installed into {environment.path}")
        return notes

    def start(self, launch: ReplicaLaunch) -> ReplicaHandle:
        run = launch.run
        environment = RunVenv(run.run_dir)
        if launch.python_package is not None:
            python = str(environment.python)
            argv = [python, "-m", launch.python_package.module, *launch.args]
        else:
            argv = [*launch.command, *launch.args]
        argv = [run.gcs.host_paths(a) for a in argv]
        env = {k: v for k, v in os.environ.items() if k in HOST_ENV_NAMES or k.startswith("LC_")}
        with self._lock:
            env.update(self._host_env.get(run.run_id, {}))
        env.update(
            {
                k: v if k in JOB_TEXT_VARIABLES else run.gcs.host_paths(v)
                for k, v in launch.env.items()
            }
        )
        env = environment.environment(env)
        env[RUN_MARKER] = run.run_id
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise EnvironmentProblem(
                f"{launch.replica}: cannot start {argv[0]!r}: {exc.strerror}"
            ) from exc
        return ProcessHandle(launch.replica, process)

    def teardown(self, run: RunSpec) -> None:
        with self._lock:
            self._ports.pop(run.run_id, None)
            self._host_env.pop(run.run_id, None)
        _kill_run(run.run_id)
        with contextlib.suppress(FileNotFoundError):
            (state_dir() / f"{run.run_id}.json").unlink()

    def cleanup_dead(self) -> list[str]:
        removed: list[str] = []
        directory = state_dir()
        if not directory.is_dir():
            return removed
        for record in sorted(directory.glob("*.json")):
            try:
                labels = json.loads(record.read_text())
            except (OSError, ValueError):
                continue
            if not isinstance(labels, dict) or owner_alive(labels):
                continue
            run_id = str(labels.get(LABEL_RUN, record.stem))
            killed = _kill_run(run_id)
            what = f"killed {len(killed)} process(es) ({', '.join(map(str, killed))})"
            removed.append(f"process run {run_id}: {what if killed else 'nothing left running'}")
            marked = fail_dead_run({str(k): str(v) for k, v in labels.items()})
            if marked:
                removed.append(marked)
            record.unlink(missing_ok=True)  # last: a cleanup cut short here is done again
        return removed

    def _record(self, run: RunSpec) -> None:
        directory = state_dir()
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{run.run_id}.json").write_text(json.dumps(dict(run.labels)))


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def run_processes(run_id: str) -> list[int]:
    """Pids of live processes carrying ``CJOB_EMU_RUN_ID=run_id`` (ours to see)."""
    marker = f"{RUN_MARKER}={run_id}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as environ:
                if marker in environ.read().split(b"\0"):
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def _kill_run(run_id: str) -> list[int]:
    pids = run_processes(run_id) if os.path.isdir("/proc") else []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return pids


def _check_runnable(index: int, pool: WorkerPoolSpec) -> None:
    if WorkerPoolSpec.pb(pool).WhichOneof("task") != "container_spec":
        return
    if not pool.container_spec.command:
        raise EnvironmentProblem(
            f"job_spec.worker_pool_specs[{index}] (workerpool{index}) has no "
            "container_spec.command: it relies on the ENTRYPOINT of "
            f"{pool.container_spec.image_uri}, and the process backend runs no images. "
            'Give the pool a command (e.g. command: ["python3", "-m", "trainer.task"]) '
            "or run with --backend docker."
        )
