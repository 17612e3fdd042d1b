"""The docker backend: every replica a container, every run a network of its own.

A run gets one user-defined bridge network; each replica joins it under its Vertex
hostname (the container's hostname and network alias), so the addresses in
CLUSTER_SPEC and TF_CONFIG resolve and connect between replicas on port 2222. The
gs:// root is mounted read-write at ``/gcs`` in every replica, as Cloud Storage FUSE
is on Vertex, and nothing else of the host is (Python packages outside the root are
mounted read-only, one file each). Replicas never get the Docker socket nor
privileges, and run as the invoking user's uid/gid unless the run says otherwise.

Every container and network carries the run's labels, and :meth:`DockerBackend.teardown`
removes them whatever way the run ended; :meth:`DockerBackend.cleanup_dead` removes
what runs of dead processes left.

An engine that stops answering mid-run (restarted, crashed) is waited for, at most
:data:`ENGINE_RETURN_WAIT` seconds, by replica waits, stops and the teardown alike. A
replica the engine stopped then ends the job FAILED with a termination reason saying
so; an engine that does not come back fails the job (the replica cannot be seen) and
the run's leftovers are removed by this process's next run, or by ``cjob-emu cleanup``
once it has ended. Containers get the run's stop grace as their stop timeout, so an
engine shutting down stops them as quickly as the run would.
"""

from __future__ import annotations

import math
import os
import queue
import shlex
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import docker
import requests
from docker.errors import APIError, DockerException, NotFound
from docker.types import DeviceRequest, LogConfig
from google.cloud.aiplatform_v1 import AcceleratorType

from cjob_emu.cluster import VERTEX_PORT, ClusterOptions, Replica, vertex_hostname
from cjob_emu.errors import CjobEmuError, EnvironmentProblem
from cjob_emu.executor.backend import (
    LABEL_REPLICA,
    Backend,
    ReplicaHandle,
    ReplicaLaunch,
    RunSpec,
    host_env,
)
from cjob_emu.executor.docker_images import ensure_images
from cjob_emu.executor.docker_limits import Resources, machine_resources, scaled_limits
from cjob_emu.executor.docker_resources import (
    cleanup_dead,
    network_gateway,
    remove_containers,
    remove_networks,
    remove_run,
    run_selector,
)
from cjob_emu.executor.gcs import MOUNT_POINT
from cjob_emu.executor.plan import image_uris

PACKAGE_MOUNT = "/cjob-emu/packages"
"""Where Python packages from outside the gs:// root appear in a replica (read-only)."""

PACKAGE_TARGET = "/tmp/cjob-emu-site"
"""Where a Python package pool's packages are installed in the replica."""

WRITABLE_HOME = "/tmp"
"""HOME of replicas run as the host user, whose uid may have no home in the image."""

KILLED_EXIT_CODE = 137
"""Exit code of a replica removed before its end was seen (128 + SIGKILL)."""

ENGINE_RETURN_WAIT = 30.0
"""Seconds a run waits for an engine that stopped answering (restarted, crashed) to
answer again before it gives up on the run's replicas."""

# Long-lived log streams (stdout and stderr) and waits hold three connections per replica.
_MAX_CONNECTIONS = 200
_STDERR_KEPT = 100  # last stderr lines of a replica kept for its job's error
_ENGINE_TIMEOUT = 120

# Installs the packages offline (deps must be in the image, as on an offline Vertex
# executor image), then runs the module as Vertex's prebuilt containers do.
_PACKAGE_SCRIPT = """set -e
PY=$(command -v python3 || command -v python)
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_NO_INPUT=1
"$PY" -m pip install --no-index --no-deps --no-build-isolation --target {target} {packages}
export PYTHONPATH="{target}${{PYTHONPATH:+:$PYTHONPATH}}"
exec "$PY" -m {module} "$@"
"""


# Runs of this process whose teardown failed because the engine was gone: the next run
# (cleanup_dead) or `cjob-emu cleanup` removes what they left once the engine answers.
_UNFINISHED: set[str] = set()
_UNFINISHED_LOCK = threading.Lock()


@dataclass
class _RunState:
    """What one run has created on the engine."""

    network: str
    network_id: str | None = None
    containers: set[str] = field(default_factory=set)
    limits: dict[Replica, Resources | None] = field(default_factory=dict)
    host_env: dict[str, str] = field(default_factory=dict)
    closed: bool = False


def engine_problem() -> str | None:
    """Why no Docker engine answers, or ``None`` when one does."""
    try:
        client = docker.from_env(timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    except (DockerException, requests.RequestException) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


class DockerBackend(Backend):
    """Replicas as containers of a Docker engine (reached as ``docker.from_env`` does)."""

    name = "docker"

    def __init__(self) -> None:
        self._client: Any = None
        self._lock = threading.Lock()
        self._runs: dict[str, _RunState] = {}

    @classmethod
    def available(cls) -> bool:
        return engine_problem() is None

    @property
    def client(self) -> Any:
        """The engine client; :class:`EnvironmentProblem` when no engine answers."""
        if self._client is None:
            self._client = _shared_client()
        return self._client

    def address(self, run: RunSpec, replica: Replica) -> str:
        return f"{_hostname(run, replica)}:{VERTEX_PORT}"

    def prepare(self, run: RunSpec) -> list[str]:
        try:
            return self._prepare(run)
        except requests.RequestException as exc:
            if isinstance(exc, APIError):
                raise
            raise EnvironmentProblem(f"the Docker engine stopped answering: {exc}") from exc

    def _prepare(self, run: RunSpec) -> list[str]:
        client = self.client
        notes = ensure_images(client, _run_images(run), pull=run.options.pull)
        notes += _accelerator_notes(run)
        state = _RunState(network=_resource_name(run.run_id))
        if run.options.resource_limits:
            state.limits, limit_notes = _limits(client, run)
            notes += limit_notes
        with self._lock:
            if run.run_id in self._runs:
                raise CjobEmuError(f"run {run.run_id} was prepared already")
            self._runs[run.run_id] = state
        try:
            created = client.api.create_network(
                state.network, driver="bridge", labels=dict(run.labels), check_duplicate=True
            )
        except APIError as exc:
            raise EnvironmentProblem(
                f"could not create the run's network {state.network}: {exc.explanation or exc}"
            ) from exc
        with self._lock:
            state.network_id = created["Id"]
        if run.host_env is not None:
            state.host_env = host_env(run, network_gateway(client, created["Id"]))
        if run.options.run_as_host_user:
            notes.append(f"replicas run as uid:gid {os.getuid()}:{os.getgid()}")
        return notes

    def start(self, launch: ReplicaLaunch) -> ReplicaHandle:
        try:
            return self._start(launch)
        except requests.RequestException as exc:
            if isinstance(exc, APIError):
                raise
            raise EnvironmentProblem(
                f"the Docker engine stopped answering while starting {launch.replica}: {exc}"
            ) from exc

    def _start(self, launch: ReplicaLaunch) -> ReplicaHandle:
        run = launch.run
        state = self._state(run)
        client = self.client
        name = f"{state.network}-{launch.replica.name}-{launch.attempt}"
        config = _container_config(client, launch, state, name)
        try:
            container_id = client.api.create_container(**config)["Id"]
        except APIError as exc:
            raise EnvironmentProblem(
                f"could not create the container of {launch.replica.name}: {exc.explanation or exc}"
            ) from exc
        with self._lock:
            closed = state.closed
            if not closed:
                state.containers.add(container_id)
        if closed:
            # teardown ran while the engine was creating it: it must not outlive the run.
            remove_containers(client, [container_id])
            raise CjobEmuError(f"run {run.run_id} was torn down while starting replicas")
        try:
            client.api.start(container_id)
        except APIError as exc:
            hint = ""
            if config["host_config"].get("DeviceRequests"):
                hint = (
                    "; GPU passthrough needs GPUs and the NVIDIA container toolkit on the "
                    "engine's host: run without it to use the CPU"
                )
            raise EnvironmentProblem(
                f"could not start the container of {launch.replica.name} "
                f"(image {launch.image}): {exc.explanation or exc}{hint}"
            ) from exc
        return DockerReplica(client, container_id, launch.replica, self._forget(state))

    def teardown(self, run: RunSpec) -> None:
        with self._lock:
            state = self._runs.get(run.run_id)
            if state is not None:
                state.closed = True
                known = set(state.containers)
            else:
                known = set()
        if self._client is None and state is None:
            return  # this backend never reached the engine for the run
        try:
            self._remove_run(run, state, known)
        except requests.RequestException as exc:
            if isinstance(exc, APIError) or not _engine_back(ENGINE_RETURN_WAIT):
                with _UNFINISHED_LOCK:
                    _UNFINISHED.add(run.run_id)
                raise EnvironmentProblem(
                    f"could not remove the containers and network of run {run.run_id}: the "
                    f"Docker engine does not answer ({exc}); the next run of this process or, "
                    "once this process has ended, `cjob-emu cleanup` removes them"
                ) from exc
            self._remove_run(run, state, known)  # the engine is back (it restarted)

    def _remove_run(self, run: RunSpec, state: _RunState | None, known: set[str]) -> None:
        client = self.client
        selector = run_selector(run.run_id)
        # The label lookup also finds containers whose creation raced with this teardown.
        listed = {c["Id"] for c in client.api.containers(all=True, quiet=True, filters=selector)}
        remove_containers(client, known | listed)
        networks = {n["Id"] for n in client.api.networks(filters=selector)}
        if state is not None and state.network_id:
            networks.add(state.network_id)
        remove_networks(client, networks)
        with self._lock:
            self._runs.pop(run.run_id, None)

    def cleanup_dead(self) -> list[str]:
        removed = cleanup_dead(self.client)
        with _UNFINISHED_LOCK:
            unfinished = sorted(_UNFINISHED)
        for run_id in unfinished:
            # Runs of this process whose teardown met no engine: over, whatever their labels say.
            removed += [f"removed {what} (run {run_id}, torn down without an engine)"
                        for what in remove_run(self.client, run_id)]
            with _UNFINISHED_LOCK:
                _UNFINISHED.discard(run_id)
        return removed

    def _state(self, run: RunSpec) -> _RunState:
        with self._lock:
            state = self._runs.get(run.run_id)
        if state is None or state.network_id is None:
            raise CjobEmuError(f"run {run.run_id} was not prepared (or was torn down)")
        if state.closed:
            raise CjobEmuError(f"run {run.run_id} was torn down")
        return state

    def _forget(self, state: _RunState) -> Callable[[str], None]:
        def forget(container_id: str) -> None:
            with self._lock:
                state.containers.discard(container_id)

        return forget


class DockerReplica(ReplicaHandle):
    """A replica running as a container."""

    def __init__(
        self,
        client: Any,
        container_id: str,
        replica: Replica,
        forget: Callable[[str], None],
    ) -> None:
        self.replica = replica
        self.container_id = container_id
        self._client = client
        self._forget = forget
        self._lock = threading.Lock()
        self._exit_code: int | None = None
        self._reason: str | None = None
        self._stopping = False  # stopped by the run: why it ended is known
        self._closed = False
        self._stderr: deque[str] = deque(maxlen=_STDERR_KEPT)

    def lines(self) -> Iterator[str]:
        # stdout and stderr are followed apart: the engine keeps no order between them
        # anyway, and this way the last stderr lines (a traceback) are known for sure.
        merged: queue.Queue[str | None] = queue.Queue()
        for stream in ("stdout", "stderr"):
            threading.Thread(
                target=self._follow, args=(stream, merged), name=f"{stream}-{self.replica}",
                daemon=True,
            ).start()
        ended = 0
        while ended < 2:
            line = merged.get()
            if line is None:
                ended += 1
            else:
                yield line

    def stderr_tail(self, lines: int) -> list[str] | None:
        with self._lock:
            return list(self._stderr)[-lines:] if lines > 0 else []

    def _follow(self, stream: str, merged: queue.Queue[str | None]) -> None:
        """Put the lines of one output stream into ``merged``, then None once it ended."""
        try:
            for line in self._stream_lines(stream):
                if stream == "stderr":
                    with self._lock:
                        self._stderr.append(line)
                merged.put(line)
        finally:
            merged.put(None)

    def _stream_lines(self, stream: str) -> Iterator[str]:
        try:
            chunks = self._client.api.logs(
                self.container_id,
                stdout=stream == "stdout",
                stderr=stream == "stderr",
                stream=True,
                follow=True,
            )
            pending = b""
            for chunk in chunks:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    yield line.decode("utf-8", errors="replace").rstrip("\r")
            if pending:
                yield pending.decode("utf-8", errors="replace").rstrip("\r")
        except (NotFound, requests.RequestException):
            return  # removed while streaming: its output ends here

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code; with no timeout, also across an engine restart (bounded by
        :data:`ENGINE_RETURN_WAIT`, then :class:`EnvironmentProblem`)."""
        with self._lock:
            if self._exit_code is not None:
                return self._exit_code
        code: int | None = None
        while code is None:
            try:
                result = self._client.api.wait(self.container_id, timeout=timeout)
            except NotFound:
                code, reason = KILLED_EXIT_CODE, "Error (its container was removed)"
                self._set_reason(reason)
            except requests.RequestException as exc:
                if timeout is not None:
                    return None  # the engine did not answer within the timeout
                code = self._after_engine_loss(exc)  # None: it still runs (live restore)
            else:
                code = int(result["StatusCode"])
                if code != 0 and not self._stopping:
                    self._set_reason(self._exit_reason(code))
        with self._lock:
            if self._exit_code is None:
                self._exit_code = code
            return self._exit_code

    def termination_reason(self) -> str | None:
        with self._lock:
            return self._reason

    def stop(self, grace: float) -> None:
        self._stopping = True
        try:
            self._stop(grace)
        except requests.RequestException as exc:
            if isinstance(exc, APIError) or not _engine_back(ENGINE_RETURN_WAIT):
                raise
            self._stop(grace)  # the engine restarted: the container is stopped or gone
        self.wait()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            remove_containers(self._client, [self.container_id])
        except requests.RequestException:
            return  # the engine is gone: teardown removes the run's containers by label
        self._forget(self.container_id)

    def _stop(self, grace: float) -> None:
        try:
            if grace > 0:
                self._client.api.stop(self.container_id, timeout=math.ceil(grace))
            else:
                self._client.api.kill(self.container_id)
        except NotFound:
            return
        except APIError as exc:
            if exc.status_code != 409:  # 409: not running any more
                raise

    def _set_reason(self, reason: str | None) -> None:
        with self._lock:
            if self._reason is None:
                self._reason = reason

    def _exit_reason(self, code: int) -> str | None:
        """What the engine knows beyond a non-zero exit code: out of memory, or that
        the engine itself stopped the container as it shut down."""
        try:
            info = self._client.api.inspect_container(self.container_id)
        except requests.RequestException:
            info = {}
        state = info.get("State") or {}
        if state.get("OOMKilled"):
            limit = (info.get("HostConfig") or {}).get("Memory") or 0
            within = f": its container's limit is {limit / 2**20:.0f} MiB" if limit else ""
            return f"OOMKilled (the replica ran out of memory{within})"
        if code in (128 + 9, 128 + 15) and engine_problem() is not None:
            # A shutting-down engine stops its containers, then stops answering.
            return (
                f"Error (killed by signal {code - 128}: the Docker engine stopped it as the "
                "engine shut down or restarted)"
            )
        return None

    def _after_engine_loss(self, exc: Exception) -> int | None:
        """The exit code once an engine that dropped the wait answers again."""
        if not _engine_back(ENGINE_RETURN_WAIT):
            raise EnvironmentProblem(
                f"the Docker engine went away while {self.replica} ran ({exc}) and did not "
                f"answer again within {ENGINE_RETURN_WAIT:g}s"
            ) from exc
        try:
            state = self._client.api.inspect_container(self.container_id)["State"]
        except NotFound:
            self._set_reason("Error (the Docker engine restarted and its container is gone)")
            return KILLED_EXIT_CODE
        if state.get("Running"):
            return None
        self._set_reason(
            "Error (the Docker engine restarted while it ran and stopped its container)"
        )
        return int(state.get("ExitCode") or KILLED_EXIT_CODE)


_CLIENT_LOCK = threading.Lock()
_CLIENTS: dict[int, Any] = {}


def _shared_client() -> Any:
    """One engine client per process (a forked child makes its own): runs share its pool."""
    with _CLIENT_LOCK:
        client = _CLIENTS.get(os.getpid())
        if client is None:
            try:
                client = docker.from_env(timeout=_ENGINE_TIMEOUT, max_pool_size=_MAX_CONNECTIONS)
                client.ping()
            except (DockerException, requests.RequestException) as exc:
                raise EnvironmentProblem(f"no Docker engine answers: {exc}") from exc
            _CLIENTS.clear()
            _CLIENTS[os.getpid()] = client
        return client


def _engine_back(seconds: float) -> bool:
    """Whether the engine answers (again) within ``seconds``.

    Asks over a new connection each time: an engine shutting down still answers on
    connections it had open, so the run's pooled client could mistake it for back.
    """
    deadline = time.monotonic() + seconds
    while engine_problem() is not None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
    return True


def _hostname(run: RunSpec, replica: Replica) -> str:
    return vertex_hostname(run.job, replica, ClusterOptions(run_id=run.run_id))


def _resource_name(run_id: str) -> str:
    return f"cjob-emu-{run_id}"


def _run_images(run: RunSpec) -> dict[str, str]:
    """Job image URI -> image to run, for every pool with replicas."""
    return {uri: run.images.get(uri, uri) for uri in image_uris(run.job)}


def _is_tpu(accelerator: AcceleratorType) -> bool:
    return AcceleratorType(accelerator).name.startswith("TPU")


def _accelerator_notes(run: RunSpec) -> list[str]:
    """What happens to accelerators when passthrough is on (the core notes the off case)."""
    notes: list[str] = []
    if not run.options.gpus:
        return notes
    for index, pool in enumerate(run.job.job_spec.worker_pool_specs):
        spec = pool.machine_spec
        if pool.replica_count <= 0 or spec.accelerator_count <= 0:
            continue
        asked = f"workerpool{index} asks for {spec.accelerator_count} x "
        asked += AcceleratorType(spec.accelerator_type).name
        if _is_tpu(spec.accelerator_type):
            notes.append(f"{asked}: TPUs cannot be passed through; it runs on the CPU")
        else:
            notes.append(f"{asked}: passing {spec.accelerator_count} host GPU(s) through")
    return notes


def _limits(client: Any, run: RunSpec) -> tuple[dict[Replica, Resources | None], list[str]]:
    info = client.info()
    host = Resources(float(info["NCPU"]), int(info["MemTotal"]))
    pools = run.job.job_spec.worker_pool_specs
    wanted = [machine_resources(pools[r.pool].machine_spec.machine_type) for r in run.replicas]
    limits = dict(zip(run.replicas, scaled_limits(wanted, host), strict=True))
    notes = []
    unknown = sorted(
        {
            pools[r.pool].machine_spec.machine_type
            for r, w in zip(run.replicas, wanted, strict=True)
            if w is None
        }
    )
    if unknown:
        notes.append(f"no CPU/memory limits for unknown machine types: {', '.join(unknown)}")
    sized = [(r, limit) for r, limit in limits.items() if limit is not None]
    if sized:
        notes.append(
            "resource limits (machine types scaled to the host's "
            f"{host.cpus:g} CPUs, {host.memory_bytes / 2**30:.1f} GiB): "
            + ", ".join(
                f"{r.name} {lim.cpus:g} CPUs {lim.memory_bytes / 2**30:.2f} GiB" for r, lim in sized
            )
        )
    return limits, notes


def _container_config(
    client: Any, launch: ReplicaLaunch, state: _RunState, name: str
) -> dict[str, Any]:
    """Keyword arguments of ``APIClient.create_container`` for one replica."""
    run = launch.run
    binds = {str(run.gcs.path): {"bind": MOUNT_POINT, "mode": "rw"}}
    env = {**state.host_env, **launch.env}
    entrypoint: list[str] | None = list(launch.command) or None
    command: list[str] | None = list(launch.args) or None
    if launch.python_package is not None:
        in_container = []
        for i, package in enumerate(launch.python_package.packages):
            if run.gcs.holds(package):
                in_container.append(run.gcs.mount_path(package))
            else:
                target = f"{PACKAGE_MOUNT}/{i}/{package.name}"
                binds[str(package.resolve())] = {"bind": target, "mode": "ro"}
                in_container.append(target)
        script = _PACKAGE_SCRIPT.format(
            target=PACKAGE_TARGET,
            packages=" ".join(shlex.quote(p) for p in in_container),
            module=shlex.quote(launch.python_package.module),
        )
        entrypoint = ["/bin/sh", "-c", script, launch.python_package.module]
        command = list(launch.args)
    user = None
    if run.options.run_as_host_user:
        user = f"{os.getuid()}:{os.getgid()}"
        if os.getuid() != 0:
            env.setdefault("HOME", WRITABLE_HOME)
    host_config: dict[str, Any] = {
        "binds": binds,
        "network_mode": state.network,
        "log_config": LogConfig(type=LogConfig.types.JSON),
    }
    limit = state.limits.get(launch.replica)
    if limit is not None:
        host_config["nano_cpus"] = int(limit.cpus * 1e9)
        host_config["mem_limit"] = limit.memory_bytes
    accelerator = run.job.job_spec.worker_pool_specs[launch.replica.pool].machine_spec
    if run.options.gpus and launch.gpus > 0 and not _is_tpu(accelerator.accelerator_type):
        host_config["device_requests"] = [DeviceRequest(count=launch.gpus, capabilities=[["gpu"]])]
    host, _, _ = launch.address.rpartition(":")
    aliases = sorted({launch.hostname, host})
    return {
        "image": launch.image,
        "entrypoint": entrypoint,
        "command": command,
        "environment": env,
        "user": user,
        "hostname": launch.hostname,
        "name": name,
        # The engine's own stops (when it shuts down) give the run's grace, not 10 s.
        "stop_timeout": math.ceil(run.options.stop_grace),
        "labels": {**run.labels, LABEL_REPLICA: launch.replica.name},
        "host_config": client.api.create_host_config(**host_config),
        "networking_config": client.api.create_networking_config(
            {state.network: client.api.create_endpoint_config(aliases=aliases)}
        ),
    }
