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
:data:`~.docker_engine.ENGINE_RETURN_WAIT` seconds, by replica waits, stops and the
teardown alike. A replica the engine stopped then ends the job FAILED with a termination
reason saying so; an engine that does not come back fails the job (the replica cannot be
seen) and the run's leftovers are removed by this process's next run, or by ``cjob-emu
cleanup`` once it has ended. Containers get the run's stop grace as their stop timeout,
so an engine shutting down stops them as quickly as the run would.

Beside this module: :mod:`.docker_engine` (the client, waiting for the engine),
:mod:`.docker_config` (what a replica's container is made of), :mod:`.docker_replica`
(a running container), :mod:`.docker_images`, :mod:`.docker_limits` and
:mod:`.docker_resources` (removing what runs left).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from docker.errors import APIError

from cjob_emu.cluster import VERTEX_PORT, ClusterOptions, Replica, vertex_hostname
from cjob_emu.errors import CjobEmuError, EnvironmentProblem
from cjob_emu.executor.backend import Backend, ReplicaHandle, ReplicaLaunch, RunSpec, host_env
from cjob_emu.executor.docker_config import accelerator_notes, container_config, run_limits
from cjob_emu.executor.docker_engine import engine_back, engine_problem, shared_client
from cjob_emu.executor.docker_images import ensure_images
from cjob_emu.executor.docker_limits import Resources
from cjob_emu.executor.docker_replica import DockerReplica, StartFailure, is_start_failure
from cjob_emu.executor.docker_resources import (
    cleanup_dead,
    network_gateway,
    remove_containers,
    remove_networks,
    remove_run,
    run_selector,
)
from cjob_emu.executor.plan import image_uris

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
            self._client = shared_client()
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
        notes = ensure_images(client, _run_images(run), pull=run.options.pull, hint=run.image_hint)
        notes += accelerator_notes(run)
        state = _RunState(network=_resource_name(run.run_id))
        if run.options.resource_limits:
            state.limits, limit_notes = run_limits(client, run)
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
        config = container_config(
            client,
            launch,
            name=name,
            network=state.network,
            host_env=state.host_env,
            limit=state.limits.get(launch.replica),
        )
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
            message = str(exc.explanation or exc)
            if is_start_failure(message):
                # The replica's own failure (on Vertex too): the job fails with StartError.
                remove_containers(client, [container_id])
                self._forget(state)(container_id)
                return StartFailure(launch.replica, message)
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
            if isinstance(exc, APIError) or not engine_back():
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


def _hostname(run: RunSpec, replica: Replica) -> str:
    return vertex_hostname(run.job, replica, ClusterOptions(run_id=run.run_id))


def _resource_name(run_id: str) -> str:
    return f"cjob-emu-{run_id}"


def _run_images(run: RunSpec) -> dict[str, str]:
    """Job image URI -> image to run, for every pool with replicas."""
    return {uri: run.images.get(uri, uri) for uri in image_uris(run.job)}
