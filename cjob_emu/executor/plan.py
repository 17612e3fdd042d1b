"""The plan of a run: what each replica runs (image, command, env), the job's name and
timeout, worked out without I/O.

The state machine gives it what needs the backend or the disk (the replicas'
addresses, the host paths of Python packages) and starts the launches it returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from google.cloud.aiplatform_v1 import CustomJob, WorkerPoolSpec

from cjob_emu import cluster
from cjob_emu.cluster import ClusterOptions, Replica
from cjob_emu.cluster.vertex_job import is_reduction_server_pool
from cjob_emu.executor.backend import PythonPackage, ReplicaLaunch, RunSpec

DEFAULT_TIMEOUT = 7 * 24 * 3600.0
"""``scheduling.timeout`` when the job sets none: 7 days, as on Vertex."""


def job_timeout(job: CustomJob) -> float:
    """Seconds the job may run from RUNNING: its ``scheduling.timeout``, else 7 days."""
    timeout = job.job_spec.scheduling.timeout
    seconds = timeout.total_seconds() if timeout else 0.0
    return seconds if seconds > 0 else DEFAULT_TIMEOUT


def job_name(run: RunSpec, options: ClusterOptions) -> str:
    """The resource name of a job submitted without one, matching its replicas'
    ``CLOUD_ML_*`` variables."""
    env = cluster.replica_env(run.job, run.replicas[0], options=options)
    project, region, job_id = (
        env["CLOUD_ML_PROJECT_ID"],
        env["CLOUD_ML_REGION"],
        env["CLOUD_ML_JOB_ID"],
    )
    return f"projects/{project}/locations/{region}/customJobs/{job_id}"


def pool_image_uri(pool: WorkerPoolSpec) -> str | None:
    """The image a pool names: its container's, or its Python package's executor image;
    None for a pool that runs neither."""
    task = WorkerPoolSpec.pb(pool).WhichOneof("task")
    if task == "container_spec":
        return pool.container_spec.image_uri
    if task == "python_package_spec":
        return pool.python_package_spec.executor_image_uri
    return None


def image_uris(job: CustomJob) -> list[str]:
    """The image URI of every pool whose replicas a run starts, in pool order (repeats
    kept): Reduction Server reducers are not started, so their image is left out."""
    pools = (
        p
        for index, p in enumerate(job.job_spec.worker_pool_specs)
        if p.replica_count > 0 and not is_reduction_server_pool(job, index)
    )
    return [uri for uri in map(pool_image_uri, pools) if uri is not None]


def package_uris(run: RunSpec) -> list[str]:
    """The Python package URIs the run's replicas install, in replica order."""
    pools = run.job.job_spec.worker_pool_specs
    uris: list[str] = []
    for replica in run.emulated:
        pool = pools[replica.pool]
        if WorkerPoolSpec.pb(pool).WhichOneof("task") == "python_package_spec":
            uris += pool.python_package_spec.package_uris
    return uris


def launches(
    run: RunSpec,
    attempt: int,
    *,
    options: ClusterOptions,
    addresses: Mapping[Replica, str],
    packages: Mapping[str, Path],
) -> dict[Replica, ReplicaLaunch]:
    """What every replica ``run`` starts (``run.emulated``) runs as ``attempt``.

    ``addresses``: every replica's ``host:port`` (from the backend), reducers included;
    ``packages``: the host path of every URI of :func:`package_uris`.
    """
    return {
        replica: _launch(run, replica, attempt, options, addresses, packages)
        for replica in run.emulated
    }


def _launch(
    run: RunSpec,
    replica: Replica,
    attempt: int,
    options: ClusterOptions,
    addresses: Mapping[Replica, str],
    packages: Mapping[str, Path],
) -> ReplicaLaunch:
    job = run.job
    env = cluster.replica_env(job, replica, options=options, address=addresses.__getitem__)
    env.setdefault("PYTHONUNBUFFERED", "1")
    pool = job.job_spec.worker_pool_specs[replica.pool]
    uri = pool_image_uri(pool) or ""
    command: tuple[str, ...] = ()
    package = None
    if WorkerPoolSpec.pb(pool).WhichOneof("task") == "python_package_spec":
        spec = pool.python_package_spec
        args = tuple(spec.args)
        package = PythonPackage(spec.python_module, tuple(packages[p] for p in spec.package_uris))
    else:
        command, args = tuple(pool.container_spec.command), tuple(pool.container_spec.args)
    return ReplicaLaunch(
        run=run,
        replica=replica,
        attempt=attempt,
        image=run.images.get(uri, uri),
        command=command,
        args=args,
        env=env,
        hostname=cluster.vertex_hostname(job, replica, options),
        address=addresses[replica],
        python_package=package,
        gpus=pool.machine_spec.accelerator_count,
        image_uri=uri,
    )
