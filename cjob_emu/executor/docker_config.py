"""What each replica's container is made of, and the notes a run shows about it.

The gs:// root mounted read-write at ``/gcs``; Python packages from outside the root
mounted read-only, one file each, and installed offline before the module runs; the
invoking user's uid/gid unless the run says otherwise; CPU and memory limits scaled
from the machine types; host GPUs passed through when asked; the replica's Vertex
hostname as its network alias.
"""

from __future__ import annotations

import math
import os
import shlex
from typing import Any

from docker.types import DeviceRequest, LogConfig
from google.cloud.aiplatform_v1 import AcceleratorType

from cjob_emu.cluster import Replica
from cjob_emu.cluster.vertex_job import is_reduction_server_pool
from cjob_emu.executor.backend import LABEL_REPLICA, PythonPackage, ReplicaLaunch, RunSpec
from cjob_emu.executor.docker_limits import Resources, machine_resources, scaled_limits
from cjob_emu.executor.gcs import MOUNT_POINT

PACKAGE_MOUNT = "/cjob-emu/packages"
"""Where Python packages from outside the gs:// root appear in a replica (read-only)."""

PACKAGE_TARGET = "/tmp/cjob-emu-site"
"""Where a Python package pool's packages are installed in the replica."""

WRITABLE_HOME = "/tmp"
"""HOME of replicas run as the host user, whose uid may have no home in the image."""

# Installs the packages offline (deps must be in the image, as on an offline Vertex
# executor image), then runs the module as Vertex's prebuilt containers do.
_PACKAGE_SCRIPT = """set -e
PY=$(command -v python3 || command -v python)
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_NO_INPUT=1
"$PY" -m pip install --no-index --no-deps --no-build-isolation --target {target} {packages}
export PYTHONPATH="{target}${{PYTHONPATH:+:$PYTHONPATH}}"
exec "$PY" -m {module} "$@"
"""


def _is_tpu(accelerator: AcceleratorType) -> bool:
    return AcceleratorType(accelerator).name.startswith("TPU")


def accelerator_notes(run: RunSpec) -> list[str]:
    """What happens to accelerators when passthrough is on (the core notes the off case)."""
    notes: list[str] = []
    if not run.options.gpus:
        return notes
    for index, pool in enumerate(run.job.job_spec.worker_pool_specs):
        spec = pool.machine_spec
        if pool.replica_count <= 0 or spec.accelerator_count <= 0:
            continue
        if is_reduction_server_pool(run.job, index):
            continue  # never started
        asked = f"workerpool{index} asks for {spec.accelerator_count} x "
        asked += AcceleratorType(spec.accelerator_type).name
        if _is_tpu(spec.accelerator_type):
            notes.append(f"{asked}: TPUs cannot be passed through; it runs on the CPU")
        else:
            notes.append(f"{asked}: passing {spec.accelerator_count} host GPU(s) through")
    return notes


def run_limits(client: Any, run: RunSpec) -> tuple[dict[Replica, Resources | None], list[str]]:
    """Each replica's CPU and memory limit (None: unknown machine type), its machine type
    scaled to the engine's host, and notes saying so."""
    info = client.info()
    host = Resources(float(info["NCPU"]), int(info["MemTotal"]))
    pools = run.job.job_spec.worker_pool_specs
    started = run.emulated  # reducers are not started: they take no share of the host
    wanted = [machine_resources(pools[r.pool].machine_spec.machine_type) for r in started]
    limits = dict(zip(started, scaled_limits(wanted, host), strict=True))
    notes = []
    unknown = sorted(
        {
            pools[r.pool].machine_spec.machine_type
            for r, w in zip(started, wanted, strict=True)
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


def container_config(
    client: Any,
    launch: ReplicaLaunch,
    *,
    name: str,
    network: str,
    host_env: dict[str, str],
    limit: Resources | None,
) -> dict[str, Any]:
    """Keyword arguments of ``APIClient.create_container`` for one replica: the container
    ``name`` on the run's ``network``, with the variables the run's ``host_env`` gives
    (the job's own win) and the replica's CPU and memory ``limit``."""
    run = launch.run
    binds = {str(run.gcs.path): {"bind": MOUNT_POINT, "mode": "rw"}}
    env = {**host_env, **launch.env}
    entrypoint: list[str] | None = list(launch.command) or None
    command: list[str] | None = list(launch.args) or None
    if launch.python_package is not None:
        entrypoint = _package_entrypoint(run, launch.python_package, binds)
        command = list(launch.args)
    user = None
    if run.options.run_as_host_user:
        user = f"{os.getuid()}:{os.getgid()}"
        if os.getuid() != 0:
            env.setdefault("HOME", WRITABLE_HOME)
    host_config: dict[str, Any] = {
        "binds": binds,
        "network_mode": network,
        "log_config": LogConfig(type=LogConfig.types.JSON),
    }
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
            {network: client.api.create_endpoint_config(aliases=aliases)}
        ),
    }


def _package_entrypoint(run: RunSpec, python: PythonPackage, binds: dict[str, Any]) -> list[str]:
    """The entrypoint of a Python package pool's replica (its packages that lie outside
    the gs:// root added to ``binds``)."""
    in_container = []
    for i, package in enumerate(python.packages):
        if run.gcs.holds(package):
            in_container.append(run.gcs.mount_path(package))
        else:
            target = f"{PACKAGE_MOUNT}/{i}/{package.name}"
            binds[str(package.resolve())] = {"bind": target, "mode": "ro"}
            in_container.append(target)
    script = _PACKAGE_SCRIPT.format(
        target=PACKAGE_TARGET,
        packages=" ".join(shlex.quote(p) for p in in_container),
        module=shlex.quote(python.module),
    )
    return ["/bin/sh", "-c", script, python.module]
